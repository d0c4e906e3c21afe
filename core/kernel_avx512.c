/* kernel_avx512.c - AVX-512F row kernel: the eight lanes are one zmm register. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Eight elements as float64: x[0..7] widened exactly. */
ALWAYS_INLINE __m512d load8(const char *x, int dtype)
{
    if (dtype == MML_F64)
        return _mm512_loadu_pd(x);
    if (dtype == MML_F32)
        return _mm512_cvtps_pd(_mm256_loadu_ps((const float *)x));
    return _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x)));
}

/* Lane sums s (+ compensation e for float64) of one row's terms. */
typedef struct { __m512d s, e; } acc8;

ALWAYS_INLINE void add_terms(acc8 *a, __m512d v, __m512d vm, __m512d vw, __mmask8 keep,
                             int dtype, int p, int weighted)
{
    __m512d z = _mm512_add_pd(vm, v);                   /* z = (margin - x[y]) + x[j] */
    __m512d h = p == 2 ? _mm512_mul_pd(z, z) : z;       /* h = z or z*z */
    if (weighted)
        h = _mm512_mul_pd(h, vw);                       /* h *= w[y] */
    __mmask8 m = _mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_GT_OQ) & keep;
    if (dtype != MML_F64) {
        a->s = _mm512_mask_add_pd(a->s, m, a->s, h);    /* s[k] += z > 0 ? h : 0 */
        return;
    }
    __m512d t = _mm512_maskz_mov_pd(m, h);              /* term = z > 0 ? h : 0 */
    __m512d sum = _mm512_add_pd(a->s, t);               /* TwoSum(s, term) */
    __m512d bp = _mm512_sub_pd(sum, a->s);
    __m512d err = _mm512_add_pd(_mm512_sub_pd(a->s, _mm512_sub_pd(sum, bp)),
                                _mm512_sub_pd(t, bp));
    a->e = _mm512_add_pd(a->e, err);
    a->s = sum;
}

ALWAYS_INLINE double row_value(const mml_request *req, uint64_t r, const char *end,
                               int dtype, int p, int weighted)
{
    const size_t es = mml_dtype_size(dtype);
    const uint64_t c = req->c, y = (uint64_t)req->target[r];
    const char *x = (const char *)req->input + r * c * es;
    const double w = weighted ? mml_load(dtype, req->weight, y) : 1.0;
    const __m512d vm = _mm512_set1_pd((double)req->margin - mml_load(dtype, x, y));
    const __m512d vw = _mm512_set1_pd(w);
    const uint64_t jy = y & ~(uint64_t)7;
    const __mmask8 ky = (__mmask8)~(1u << (y & 7));
    acc8 a = { _mm512_setzero_pd(), _mm512_setzero_pd() };
    uint64_t j = 0;

    for (; j + 8 <= c; j += 8)
        add_terms(&a, load8(x + j * es, dtype), vm, vw, j == jy ? ky : 0xff, dtype, p, weighted);
    if (j < c) {
        /* Tail: lanes past C are masked off; read through a zeroed copy
         * when the vector would run past the end of the input. */
        const char *src = x + j * es;
        char tmp[64] = { 0 };
        if (src + 8 * es > end) {
            memcpy(tmp, src, (c - j) * es);
            src = tmp;
        }
        __mmask8 keep = (__mmask8)((1u << (c - j)) - 1) & (j == jy ? ky : 0xff);
        add_terms(&a, load8(src, dtype), vm, vw, keep, dtype, p, weighted);
    }
    double s[MML_LANES], e[MML_LANES];
    _mm512_storeu_pd(s, a.s);
    _mm512_storeu_pd(e, a.e);
    return mml_lanes_combine(s, dtype == MML_F64 ? e : NULL) / (double)c;
}

ALWAYS_INLINE void rows(const mml_request *req, uint64_t a, uint64_t b, double *vals,
                        int dtype, int p, int weighted)
{
    const char *end = (const char *)req->input + req->n * req->c * mml_dtype_size(dtype);
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
