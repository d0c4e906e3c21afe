/* kernel_sse2.c - SSE2 row kernel: the sixteen lanes are eight xmm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML_LANES / 2)

/* Sixteen elements as float64 in eight registers (lanes 2k, 2k+1). float16
 * has no SSE2 conversion: it is widened by the exact scalar code. */
ALWAYS_INLINE void load16(const char *x, int dtype, __m128d v[NV])
{
    if (dtype == MML_F64) {
        for (int k = 0; k < NV; k++)
            v[k] = _mm_loadu_pd((const double *)x + 2 * k);
    } else if (dtype == MML_F32) {
        for (int k = 0; k < NV; k++)
            v[k] = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(x + 8 * k))));
    } else {
        uint16_t h[MML_LANES];
        memcpy(h, x, sizeof h);
        for (int k = 0; k < NV; k++)
            v[k] = _mm_set_pd(mml_half_to_float(h[2 * k + 1]), mml_half_to_float(h[2 * k]));
    }
}

typedef long long v2i __attribute__((vector_size(16)));
MML_DD_ADD_VEC(dd_add2, __m128d, v2i)

typedef struct { __m128d s[NV], e[NV]; } acc16;

ALWAYS_INLINE void add_terms(acc16 *a, const __m128d v[NV], __m128d vm, __m128d vw,
                             const __m128d keep[NV], int dtype, int p, int weighted)
{
    for (int k = 0; k < NV; k++) {
        __m128d z = _mm_add_pd(vm, v[k]);                    /* z = (margin - x[y]) + x[j] */
        __m128d h = p == 2 ? _mm_mul_pd(z, z) : z;           /* h = z or z*z */
        if (weighted)
            h = _mm_mul_pd(h, vw);                           /* h *= w[y] */
        __m128d m = _mm_and_pd(_mm_cmpgt_pd(z, _mm_setzero_pd()), keep[k]);
        __m128d t = _mm_and_pd(h, m);                        /* term = z > 0 ? h : 0 */
        if (dtype != MML_F64) {
            a->s[k] = _mm_add_pd(a->s[k], t);
            continue;
        }
        __m128d sum = _mm_add_pd(a->s[k], t);                /* TwoSum(s, term) */
        __m128d bp = _mm_sub_pd(sum, a->s[k]);
        __m128d err = _mm_add_pd(_mm_sub_pd(a->s[k], _mm_sub_pd(sum, bp)), _mm_sub_pd(t, bp));
        a->e[k] = _mm_add_pd(a->e[k], err);
        a->s[k] = sum;
    }
}

ALWAYS_INLINE void load_mask(const uint64_t bits[MML_LANES], __m128d m[NV])
{
    for (int k = 0; k < NV; k++)
        m[k] = _mm_castsi128_pd(_mm_loadu_si128((const __m128i *)(bits + 2 * k)));
}

ALWAYS_INLINE double row_value(const mml_request *req, uint64_t r, const char *end,
                               int dtype, int p, int weighted)
{
    const size_t es = mml_es(dtype);
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * es;
    const double w = weighted ? mml_get(dtype, req->weight, y) : 1.0;
    const __m128d vm = _mm_set1_pd((double)req->margin - mml_get(dtype, x, y));
    const __m128d vw = _mm_set1_pd(w);
    const uint64_t jy = y & ~(uint64_t)(MML_LANES - 1);
    __m128d all[NV], ky[NV], v[NV];
    acc16 a;
    uint64_t j = 0;

    load_mask(mml_lane_valid[MML_LANES], all);
    load_mask(mml_lane_keep[y % MML_LANES], ky);
    for (int k = 0; k < NV; k++)
        a.s[k] = a.e[k] = _mm_setzero_pd();
    for (; j + MML_LANES <= c; j += MML_LANES) {
        load16(x + j * es, dtype, v);
        add_terms(&a, v, vm, vw, j == jy ? ky : all, dtype, p, weighted);
    }
    if (j < c) {
        const char *src = x + j * es;                 /* tail, as in kernel_avx512.c */
        char tmp[8 * MML_LANES] = { 0 };
        if (src + MML_LANES * es > end) {
            memcpy(tmp, src, (c - j) * es);
            src = tmp;
        }
        __m128d keep[NV];
        load_mask(mml_lane_valid[c - j], keep);
        if (j == jy)
            for (int k = 0; k < NV; k++)
                keep[k] = _mm_and_pd(keep[k], ky[k]);
        load16(src, dtype, v);
        add_terms(&a, v, vm, vw, keep, dtype, p, weighted);
    }
    if (dtype != MML_F64) {
        /* mml_lanes_combine's order in registers: k + k+8, k + k+4, k + k+2, 0 + 1. */
        __m128d l8[4], l4[2], l2;
        for (int k = 0; k < 4; k++)
            l8[k] = _mm_add_pd(a.s[k], a.s[k + 4]);
        for (int k = 0; k < 2; k++)
            l4[k] = _mm_add_pd(l8[k], l8[k + 2]);
        l2 = _mm_add_pd(l4[0], l4[1]);
        return _mm_cvtsd_f64(_mm_add_sd(l2, _mm_unpackhi_pd(l2, l2))) / (double)c;
    }
    /* mml_lanes_combine's order on (s, e) pairs: k + k+8, k + k+4, k + k+2, 0 + 1. */
    for (int half = NV / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            dd_add2(&a.s[k], &a.e[k], a.s[k + half], a.e[k + half]);
    return mml_dd_last(a.s[0][0], a.e[0][0], a.s[0][1], a.e[0][1]) / (double)c;
}

ALWAYS_INLINE void rows(const mml_request *req, uint64_t a, uint64_t b, double *vals,
                        int dtype, int p, int weighted)
{
    const char *end = (const char *)req->input + req->n * req->c * mml_es(dtype);
    for (uint64_t r = a; r < b; r++)
        vals[r - a] = row_value(req, r, end, dtype, p, weighted);
}

#define ROWS(dt, pp, wt) \
    static void rows_##dt##_##pp##_##wt(const mml_request *q, uint64_t a, uint64_t b, double *v) \
    { rows(q, a, b, v, MML_##dt, pp, wt); }
#define ROWS_P(dt) ROWS(dt, 1, 0) ROWS(dt, 1, 1) ROWS(dt, 2, 0) ROWS(dt, 2, 1)
ROWS_P(F16)
ROWS_P(F32)
ROWS_P(F64)

static const mml_rows_fn table[3][2][2] = {
    { { rows_F16_1_0, rows_F16_1_1 }, { rows_F16_2_0, rows_F16_2_1 } },
    { { rows_F32_1_0, rows_F32_1_1 }, { rows_F32_2_0, rows_F32_2_1 } },
    { { rows_F64_1_0, rows_F64_1_1 }, { rows_F64_2_0, rows_F64_2_1 } },
};

void mml_rows_sse2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    table[req->dtype - 1][req->p - 1][req->weight != NULL](req, a, b, vals);
}

#else
void mml_rows_sse2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml_rows_scalar(req, a, b, vals);
}
#endif
