/* kernel_avx2.c - AVX2 (+F16C) row kernel: the sixteen lanes are four ymm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML_LANES / 4)

/* Sixteen elements as float64 in four registers: lanes 4k .. 4k+3 in v[k]. */
ALWAYS_INLINE void load16(const char *x, int dtype, __m256d v[NV])
{
    for (int k = 0; k < NV; k += 2) {
        if (dtype == MML_F64) {
            v[k] = _mm256_loadu_pd((const double *)x + 4 * k);
            v[k + 1] = _mm256_loadu_pd((const double *)x + 4 * k + 4);
        } else if (dtype == MML_F32) {
            v[k] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)x + 4 * k));
            v[k + 1] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)x + 4 * k + 4));
        } else {
            __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * k)));   /* F16C */
            v[k] = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
            v[k + 1] = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
        }
    }
}

typedef long long v4i __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
MML_DD_ADD_VEC(dd_add4, __m256d, v4i)
MML_DD_ADD_VEC(dd_add2, __m128d, v2i)

typedef struct { __m256d s[NV], e[NV]; } acc16;

/* keep: per-lane all-ones to count the lane, zero to skip it. */
ALWAYS_INLINE void add_terms(acc16 *a, const __m256d v[NV], __m256d vm, __m256d vw,
                             const __m256d keep[NV], int dtype, int p, int weighted)
{
    for (int k = 0; k < NV; k++) {
        __m256d z = _mm256_add_pd(vm, v[k]);                 /* z = (margin - x[y]) + x[j] */
        __m256d h = p == 2 ? _mm256_mul_pd(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = _mm256_mul_pd(h, vw);                        /* h *= w[y] */
        __m256d m = _mm256_and_pd(_mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_GT_OQ), keep[k]);
        __m256d t = _mm256_and_pd(h, m);                     /* term = z > 0 ? h : 0 */
        if (dtype != MML_F64) {
            a->s[k] = _mm256_add_pd(a->s[k], t);
            continue;
        }
        __m256d sum = _mm256_add_pd(a->s[k], t);             /* TwoSum(s, term) */
        __m256d bp = _mm256_sub_pd(sum, a->s[k]);
        __m256d err = _mm256_add_pd(_mm256_sub_pd(a->s[k], _mm256_sub_pd(sum, bp)),
                                    _mm256_sub_pd(t, bp));
        a->e[k] = _mm256_add_pd(a->e[k], err);
        a->s[k] = sum;
    }
}

ALWAYS_INLINE void load_mask(const uint64_t bits[MML_LANES], __m256d m[NV])
{
    for (int k = 0; k < NV; k++)
        m[k] = _mm256_castsi256_pd(_mm256_loadu_si256((const __m256i *)(bits + 4 * k)));
}

ALWAYS_INLINE double row_value(const mml_request *req, uint64_t r, const char *end,
                               int dtype, int p, int weighted)
{
    const size_t es = mml_es(dtype);
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * es;
    const double w = weighted ? mml_get(dtype, req->weight, y) : 1.0;
    const __m256d vm = _mm256_set1_pd((double)req->margin - mml_get(dtype, x, y));
    const __m256d vw = _mm256_set1_pd(w);
    const uint64_t jy = y & ~(uint64_t)(MML_LANES - 1);
    __m256d all[NV], ky[NV], v[NV];
    acc16 a;
    uint64_t j = 0;

    load_mask(mml_lane_valid[MML_LANES], all);
    load_mask(mml_lane_keep[y % MML_LANES], ky);
    for (int k = 0; k < NV; k++)
        a.s[k] = a.e[k] = _mm256_setzero_pd();
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
        __m256d keep[NV];
        load_mask(mml_lane_valid[c - j], keep);
        if (j == jy)
            for (int k = 0; k < NV; k++)
                keep[k] = _mm256_and_pd(keep[k], ky[k]);
        load16(src, dtype, v);
        add_terms(&a, v, vm, vw, keep, dtype, p, weighted);
    }
    if (dtype != MML_F64) {
        /* mml_lanes_combine's order in registers: k + k+8, k + k+4, k + k+2, 0 + 1. */
        __m256d l4 = _mm256_add_pd(_mm256_add_pd(a.s[0], a.s[2]), _mm256_add_pd(a.s[1], a.s[3]));
        __m128d l2 = _mm_add_pd(_mm256_castpd256_pd128(l4), _mm256_extractf128_pd(l4, 1));
        return _mm_cvtsd_f64(_mm_add_sd(l2, _mm_unpackhi_pd(l2, l2))) / (double)c;
    }
    /* mml_lanes_combine's order on (s, e) pairs: k + k+8, k + k+4, k + k+2, 0 + 1. */
    for (int k = 0; k < 2; k++)
        dd_add4(&a.s[k], &a.e[k], a.s[k + 2], a.e[k + 2]);
    dd_add4(&a.s[0], &a.e[0], a.s[1], a.e[1]);
    __m128d h2 = _mm256_castpd256_pd128(a.s[0]), l2 = _mm256_castpd256_pd128(a.e[0]);
    dd_add2(&h2, &l2, _mm256_extractf128_pd(a.s[0], 1), _mm256_extractf128_pd(a.e[0], 1));
    return mml_dd_last(h2[0], l2[0], h2[1], l2[1]) / (double)c;
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

void mml_rows_avx2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    table[req->dtype - 1][req->p - 1][req->weight != NULL](req, a, b, vals);
}

#else
void mml_rows_avx2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml_rows_scalar(req, a, b, vals);
}
#endif
