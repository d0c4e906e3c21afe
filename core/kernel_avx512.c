/* kernel_avx512.c - AVX-512F row kernel: the sixteen lanes are two zmm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Sixteen elements as float64: lanes 0-7 in v[0], 8-15 in v[1]. */
ALWAYS_INLINE void load16(const char *x, int dtype, __m512d v[2])
{
    if (dtype == MML_F64) {
        v[0] = _mm512_loadu_pd(x);
        v[1] = _mm512_loadu_pd(x + 64);
        return;
    }
    __m512 f = dtype == MML_F32 ? _mm512_loadu_ps(x)
                                : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
    v[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
    v[1] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
}

typedef long long v8i __attribute__((vector_size(64)));
typedef long long v4i __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
MML_DD_ADD_VEC(dd_add8, __m512d, v8i)
MML_DD_ADD_VEC(dd_add4, __m256d, v4i)
MML_DD_ADD_VEC(dd_add2, __m128d, v2i)

/* Lane sums s (+ compensation e for float64) of one row's terms. */
typedef struct { __m512d s[2], e[2]; } acc16;

/* keep: bit l set to count lane l. */
ALWAYS_INLINE void add_terms(acc16 *a, const __m512d v[2], __m512d vm, __m512d vw,
                             __mmask16 keep, int dtype, int p, int weighted)
{
    for (int k = 0; k < 2; k++) {
        __m512d z = _mm512_add_pd(vm, v[k]);                 /* z = (margin - x[y]) + x[j] */
        __m512d h = p == 2 ? _mm512_mul_pd(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = _mm512_mul_pd(h, vw);                        /* h *= w[y] */
        __mmask8 m = _mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_GT_OQ) &
                     (__mmask8)(keep >> (8 * k));
        if (dtype != MML_F64) {
            a->s[k] = _mm512_mask_add_pd(a->s[k], m, a->s[k], h);   /* s += z > 0 ? h : 0 */
            continue;
        }
        __m512d t = _mm512_maskz_mov_pd(m, h);               /* term = z > 0 ? h : 0 */
        __m512d sum = _mm512_add_pd(a->s[k], t);             /* TwoSum(s, term) */
        __m512d bp = _mm512_sub_pd(sum, a->s[k]);
        __m512d err = _mm512_add_pd(_mm512_sub_pd(a->s[k], _mm512_sub_pd(sum, bp)),
                                    _mm512_sub_pd(t, bp));
        a->e[k] = _mm512_add_pd(a->e[k], err);
        a->s[k] = sum;
    }
}

ALWAYS_INLINE double row_value(const mml_request *req, uint64_t r, const char *end,
                               int dtype, int p, int weighted)
{
    const size_t es = mml_es(dtype);
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * es;
    const double w = weighted ? mml_get(dtype, req->weight, y) : 1.0;
    const __m512d vm = _mm512_set1_pd((double)req->margin - mml_get(dtype, x, y));
    const __m512d vw = _mm512_set1_pd(w);
    const uint64_t jy = y & ~(uint64_t)(MML_LANES - 1);
    const __mmask16 ky = (__mmask16)~(1u << (y % MML_LANES));
    acc16 a;
    __m512d v[2];
    uint64_t j = 0;

    a.s[0] = a.s[1] = a.e[0] = a.e[1] = _mm512_setzero_pd();
    for (; j + MML_LANES <= c; j += MML_LANES) {
        load16(x + j * es, dtype, v);
        add_terms(&a, v, vm, vw, j == jy ? ky : 0xffff, dtype, p, weighted);
    }
    if (j < c) {
        /* Tail: lanes past C are masked off; read through a zeroed copy
         * when the vector would run past the end of the input. */
        const char *src = x + j * es;
        char tmp[8 * MML_LANES] = { 0 };
        if (src + MML_LANES * es > end) {
            memcpy(tmp, src, (c - j) * es);
            src = tmp;
        }
        __mmask16 keep = (__mmask16)((1u << (c - j)) - 1) & (j == jy ? ky : 0xffff);
        load16(src, dtype, v);
        add_terms(&a, v, vm, vw, keep, dtype, p, weighted);
    }
    if (dtype != MML_F64) {
        /* mml_lanes_combine's order in registers: k + k+8, k + k+4, k + k+2, 0 + 1. */
        __m512d l8 = _mm512_add_pd(a.s[0], a.s[1]);
        __m256d l4 = _mm256_add_pd(_mm512_castpd512_pd256(l8), _mm512_extractf64x4_pd(l8, 1));
        __m128d l2 = _mm_add_pd(_mm256_castpd256_pd128(l4), _mm256_extractf128_pd(l4, 1));
        return _mm_cvtsd_f64(_mm_add_sd(l2, _mm_unpackhi_pd(l2, l2))) / (double)c;
    }
    /* mml_lanes_combine's order on (s, e) pairs: k + k+8, k + k+4, k + k+2, 0 + 1. */
    __m512d h8 = a.s[0], l8 = a.e[0];
    dd_add8(&h8, &l8, a.s[1], a.e[1]);
    __m256d h4 = _mm512_castpd512_pd256(h8), l4 = _mm512_castpd512_pd256(l8);
    dd_add4(&h4, &l4, _mm512_extractf64x4_pd(h8, 1), _mm512_extractf64x4_pd(l8, 1));
    __m128d h2 = _mm256_castpd256_pd128(h4), l2 = _mm256_castpd256_pd128(l4);
    dd_add2(&h2, &l2, _mm256_extractf128_pd(h4, 1), _mm256_extractf128_pd(l4, 1));
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

void mml_rows_avx512(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    table[req->dtype - 1][req->p - 1][req->weight != NULL](req, a, b, vals);
}

#else
void mml_rows_avx512(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml_rows_scalar(req, a, b, vals);
}
#endif
