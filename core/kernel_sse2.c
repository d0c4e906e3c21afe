/* kernel_sse2.c - SSE2 row kernel: the sixteen lanes are eight xmm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>

/* Every small loop over the registers of one set of lanes is unrolled
 * (#pragma GCC unroll): left as loops, GCC kept the accumulators in memory. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML_LANES / 2)

typedef struct { __m128d v[NV]; } vec16;          /* lanes 2k, 2k+1 in v[k] */
typedef struct { __m128d s[NV], e[NV]; } acc16;   /* sums, TwoSum errors (float64) */
typedef struct { __m128d m[NV]; } mask16;         /* all-ones: count the lane */
typedef __m128d vbcast;

typedef long long v2i __attribute__((vector_size(16)));
MML_DD_ADD_VEC(dd_add2, __m128d, v2i)

ALWAYS_INLINE vbcast vset1(double d) { return _mm_set1_pd(d); }

ALWAYS_INLINE mask16 mask_load(const uint64_t bits[MML_LANES])
{
    mask16 m;
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        m.m[k] = _mm_castsi128_pd(_mm_loadu_si128((const __m128i *)(bits + 2 * k)));
    return m;
}

ALWAYS_INLINE mask16 mask_all(void) { return mask_load(mml_lane_valid[MML_LANES]); }
ALWAYS_INLINE mask16 mask_drop(int k) { return mask_load(mml_lane_keep[k]); }
ALWAYS_INLINE mask16 mask_valid(int r) { return mask_load(mml_lane_valid[r]); }

ALWAYS_INLINE mask16 mask_and(mask16 a, mask16 b)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a.m[k] = _mm_and_pd(a.m[k], b.m[k]);
    return a;
}

ALWAYS_INLINE void acc_zero(acc16 *a)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a->s[k] = a->e[k] = _mm_setzero_pd();
}

/* v[l] = (double)x[l] for l < 16, exact for every dtype. float16 has no
 * SSE2 conversion: it is widened by the exact scalar code. */
ALWAYS_INLINE void load16(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F64) {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k++)
            v->v[k] = _mm_loadu_pd((const double *)x + 2 * k);
    } else if (dtype == MML_F32) {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k++)
            v->v[k] = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(x + 8 * k))));
    } else {
        uint16_t h[MML_LANES];
        memcpy(h, x, sizeof h);
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k++)
            v->v[k] = _mm_set_pd(mml_h2f(h[2 * k + 1]), mml_h2f(h[2 * k]));
    }
}

ALWAYS_INLINE void add_terms(acc16 *a, const vec16 *v, vbcast vm, vbcast vw, const mask16 *keep,
                             int dtype, int p, int weighted)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++) {
        __m128d z = _mm_add_pd(vm, v->v[k]);                 /* z = (margin - x[y]) + x[j] */
        __m128d h = p == 2 ? _mm_mul_pd(z, z) : z;           /* h = z or z*z */
        if (weighted)
            h = _mm_mul_pd(h, vw);                           /* h *= w[y] */
        __m128d m = _mm_and_pd(_mm_cmpgt_pd(z, _mm_setzero_pd()), keep->m[k]);
        __m128d t = _mm_and_pd(h, m);                        /* term = z > 0 && kept ? h : 0 */
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

/* Lanes k + k+8, k + k+4, k + k+2, 0 + 1, in registers. */
ALWAYS_INLINE double acc_finish(acc16 *a, int dtype)
{
    #pragma GCC unroll 8
    for (int half = NV / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) {
            if (dtype != MML_F64)
                a->s[k] = _mm_add_pd(a->s[k], a->s[k + half]);
            else
                dd_add2(&a->s[k], &a->e[k], a->s[k + half], a->e[k + half]);
        }
    if (dtype != MML_F64)
        return a->s[0][0] + a->s[0][1];
    return mml_dd_last(a->s[0][0], a->e[0][0], a->s[0][1], a->e[0][1]);
}

#define KERNEL_ENTRY mml_rows_sse2
#include "kernel_simd.h"

#else
void mml_rows_sse2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml_rows_scalar(req, a, b, vals);
}
#endif
