/* kernel_avx2.c - AVX2 (+F16C) row kernel: the sixteen lanes are four ymm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

/* Every small loop over the registers of one set of lanes is unrolled
 * (#pragma GCC unroll): left as loops, GCC kept the accumulators in memory. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML__LANES / 4)

/* float64 lanes 4k .. 4k+3 in v[k]; float16 rows' values 8k .. 8k+7 in
 * f[k], their 32 float32 lane sums in f[0..1] (the lanes this vector adds
 * to) and f[2..3] (the next vector's), as kernel_avx512.c does. */
typedef union { __m256d v[NV]; __m256 f[2]; } vec16;
typedef struct { __m256d s[NV], e[NV]; __m256 f[4]; } acc16;  /* sums, TwoSum errors; float32 */
typedef struct { __m256d m[NV]; __m256 f[2]; } mask16;        /* all-ones: count the lane */
typedef struct { __m256d d; __m256 f; } vbcast;

typedef long long v4i __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
MML__DD_ADD_VEC(dd_add4, __m256d, v4i)          /* the row tree */
MML__LANE_ADD_VEC(lane_add4, __m256d)
MML__LANE_ADD_VEC(lane_add2, __m128d)

ALWAYS_INLINE vbcast vset1(double d)
{
    return (vbcast){ _mm256_set1_pd(d), _mm256_set1_ps((float)d) };   /* one is left unused */
}

/* The float64 and the float32 form of a lane mask (one of them unused). */
ALWAYS_INLINE mask16 mask_load(const uint64_t bits[MML__LANES], const uint32_t bits32[MML__LANES])
{
    mask16 m;
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        m.m[k] = _mm256_castsi256_pd(_mm256_loadu_si256((const __m256i *)(bits + 4 * k)));
    #pragma GCC unroll 2
    for (int k = 0; k < 2; k++)
        m.f[k] = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(bits32 + 8 * k)));
    return m;
}

ALWAYS_INLINE mask16 mask_valid(int r)
{
    return mask_load(mml__lane_valid[r], mml__lane_valid32[r]);
}

ALWAYS_INLINE void vm_set(vec16 *vm, vec16 *vmy, double d, int k, int dtype)
{
    const mask16 keep = mask_load(mml__lane_keep[k], mml__lane_keep32[k]);
    if (dtype == MML_F16) {
        #pragma GCC unroll 2
        for (int i = 0; i < 2; i++) {
            vm->f[i] = _mm256_set1_ps((float)d);
            vmy->f[i] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), vm->f[i], keep.f[i]);
        }
        return;
    }
    #pragma GCC unroll 8
    for (int i = 0; i < NV; i++) {
        vm->v[i] = _mm256_set1_pd(d);
        vmy->v[i] = _mm256_blendv_pd(_mm256_set1_pd(-INFINITY), vm->v[i], keep.m[i]);
    }
}

ALWAYS_INLINE void acc_zero(acc16 *a)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a->s[k] = a->e[k] = _mm256_setzero_pd();
    a->f[0] = a->f[1] = a->f[2] = a->f[3] = _mm256_setzero_ps();
}

/* v[l] = (double)x[l] for l < 16, exact; float16 to float32 (exact, F16C). */
ALWAYS_INLINE void load16(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F16) {
        v->f[0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
        v->f[1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x + 1));
        return;
    }
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k += 2) {
        if (dtype == MML_F64) {
            v->v[k] = _mm256_loadu_pd((const double *)x + 4 * k);
            v->v[k + 1] = _mm256_loadu_pd((const double *)x + 4 * k + 4);
        } else {
            v->v[k] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)x + 4 * k));
            v->v[k + 1] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)x + 4 * k + 4));
        }
    }
}

ALWAYS_INLINE void add_terms(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                             const mask16 *keep, int dtype, int p, int weighted)
{
    if (dtype == MML_F16) {                                  /* the same, in float32 */
        #pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            __m256 z = _mm256_add_ps(vm->f[k], v->f[k]);    /* z = (margin - x[y]) + x[j] */
            __m256 h = p == 2 ? _mm256_mul_ps(z, z) : z;    /* h = z or z*z */
            if (weighted)
                h = _mm256_mul_ps(h, vw.f);                  /* h *= w[y] */
            __m256 m = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GT_OQ);   /* z > 0 */
            if (keep)
                m = _mm256_and_ps(m, keep->f[k]);            /* and the lane kept */
            __m256 sum = _mm256_add_ps(a->f[k], _mm256_and_ps(h, m));   /* s + (m ? h : 0) */
            a->f[k] = a->f[k + 2];                           /* the next vector's lanes */
            a->f[k + 2] = sum;
        }
        return;
    }
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++) {
        __m256d z = _mm256_add_pd(vm->v[k], v->v[k]);        /* z = (margin - x[y]) + x[j] */
        __m256d h = p == 2 ? _mm256_mul_pd(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = _mm256_mul_pd(h, vw.d);                      /* h *= w[y] */
        __m256d m = _mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_GT_OQ);   /* z > 0 */
        if (keep)
            m = _mm256_and_pd(m, keep->m[k]);                /* and the lane kept */
        __m256d t = _mm256_and_pd(h, m);                     /* term = m ? h : 0 */
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

/* A float16 row's float32 sum, as mml__lanes_combine_f32() adds its lanes. */
ALWAYS_INLINE float sum_f16(const acc16 *a)
{
    __m256 l8 = _mm256_add_ps(_mm256_add_ps(a->f[0], a->f[2]), _mm256_add_ps(a->f[1], a->f[3]));
    __m128 l4 = _mm_add_ps(_mm256_castps256_ps128(l8), _mm256_extractf128_ps(l8, 1));
    __m128 l2 = _mm_add_ps(l4, _mm_movehl_ps(l4, l4));
    return l2[0] + l2[1];
}

/* Lanes k + k+8, k + k+4, k + k+2, 0 + 1, in registers. */
ALWAYS_INLINE double acc_finish(acc16 *a, int dtype)
{
    if (dtype == MML_F16)
        return (double)sum_f16(a);
    if (dtype != MML_F64) {
        __m256d l4 = _mm256_add_pd(_mm256_add_pd(a->s[0], a->s[2]),
                                   _mm256_add_pd(a->s[1], a->s[3]));
        __m128d l2 = _mm_add_pd(_mm256_castpd256_pd128(l4), _mm256_extractf128_pd(l4, 1));
        return l2[0] + l2[1];
    }
    #pragma GCC unroll 8
    for (int k = 0; k < 2; k++)
        lane_add4(&a->s[k], &a->e[k], a->s[k + 2], a->e[k + 2]);
    lane_add4(&a->s[0], &a->e[0], a->s[1], a->e[1]);
    __m128d h2 = _mm256_castpd256_pd128(a->s[0]), l2 = _mm256_castpd256_pd128(a->e[0]);
    lane_add2(&h2, &l2, _mm256_extractf128_pd(a->s[0], 1), _mm256_extractf128_pd(a->e[0], 1));
    return mml__lane_last(h2[0], l2[0], h2[1], l2[1]);
}

/* ---- four rows at once ---- */

#define KERNEL_BATCH 4
/* Row i: lanes 0-3 after k + k+8, k+4; a float16 row's sum in f[i]. */
typedef struct { __m256d h[4], l[4]; float f[4]; } batch_stage;

ALWAYS_INLINE void acc_stage(acc16 *a, int dtype, batch_stage *st, int i)
{
    if (dtype == MML_F16) {
        st->f[i] = sum_f16(a);
        return;
    }
    if (dtype != MML_F64) {
        st->h[i] = _mm256_add_pd(_mm256_add_pd(a->s[0], a->s[2]), _mm256_add_pd(a->s[1], a->s[3]));
        return;
    }
    #pragma GCC unroll 8
    for (int k = 0; k < 2; k++)
        lane_add4(&a->s[k], &a->e[k], a->s[k + 2], a->e[k + 2]);
    lane_add4(&a->s[0], &a->e[0], a->s[1], a->e[1]);
    st->h[i] = a->s[0];
    st->l[i] = a->e[0];
}

/* r[i] (row i, lanes 0-3) to r[k] (lane k, rows 0-3). */
ALWAYS_INLINE void transpose4(__m256d r[4])
{
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* Lanes k + k+2, 0 + 1 of four rows, one row per vector lane, then the
 * row values: mml__lane_last()'s rounding, the division by c. */
ALWAYS_INLINE void finish_batch(batch_stage *st, int dtype, double c, double *vals)
{
    __m256d *h = st->h, *l = st->l;
    if (dtype == MML_F16) {
        __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(st->f));
        _mm256_storeu_pd(vals, _mm256_div_pd(v, _mm256_set1_pd(c)));
        return;
    }
    transpose4(h);
    if (dtype != MML_F64) {
        h[0] = _mm256_add_pd(h[0], h[2]);
        h[1] = _mm256_add_pd(h[1], h[3]);
        _mm256_storeu_pd(vals, _mm256_div_pd(_mm256_add_pd(h[0], h[1]), _mm256_set1_pd(c)));
        return;
    }
    transpose4(l);
    lane_add4(&h[0], &l[0], h[2], l[2]);
    lane_add4(&h[1], &l[1], h[3], l[3]);
    lane_add4(&h[0], &l[0], h[1], l[1]);
    /* mml__lane_round(): h alone where it is not finite */
    __m256d fin = _mm256_cmp_pd(_mm256_sub_pd(h[0], h[0]), _mm256_setzero_pd(), _CMP_EQ_OQ);
    __m256d v = _mm256_blendv_pd(h[0], _mm256_add_pd(h[0], l[0]), fin);
    _mm256_storeu_pd(vals, _mm256_div_pd(v, _mm256_set1_pd(c)));
}

#define KERNEL_ENTRY mml__rows_avx2
#include "kernel_loop.inc"

/* kernel.h's subtree, four nodes of a level at a time, as the AVX-512 one
 * does with eight: nodes 2k .. 2k+7 unpacked into even and odd, in the
 * order 0, 2, 1, 3 of the pairs; added as dd_add4 (mml__dd_add lane by
 * lane); only the two sums put back in order. Leaves are read where they
 * are, their lo +0.0 (no load); the last two levels are the scalar code's. */
void mml__subtree_avx2(const double *leaf, double *hi, double *lo, uint64_t n)
{
    const __m256d zero = _mm256_setzero_pd();

    for (; n >= 8; n /= 2, leaf = NULL)
        for (uint64_t k = 0; k < n / 2; k += 4) {    /* writes k.. only after reading 2k.. */
            const double *src = leaf ? leaf : hi;
            __m256d h0 = _mm256_loadu_pd(src + 2 * k), h1 = _mm256_loadu_pd(src + 2 * k + 4);
            __m256d h = _mm256_unpacklo_pd(h0, h1), l = zero, bl = zero;
            if (!leaf) {
                __m256d l0 = _mm256_loadu_pd(lo + 2 * k), l1 = _mm256_loadu_pd(lo + 2 * k + 4);
                l = _mm256_unpacklo_pd(l0, l1);
                bl = _mm256_unpackhi_pd(l0, l1);
            }
            dd_add4(&h, &l, _mm256_unpackhi_pd(h0, h1), bl);
            _mm256_storeu_pd(hi + k, _mm256_permute4x64_pd(h, _MM_SHUFFLE(3, 1, 2, 0)));
            _mm256_storeu_pd(lo + k, _mm256_permute4x64_pd(l, _MM_SHUFFLE(3, 1, 2, 0)));
        }
    mml__subtree_scalar(leaf, hi, lo, n);
}

#else
void mml__rows_avx2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml__rows_scalar(req, a, b, vals);
}

void mml__subtree_avx2(const double *leaf, double *hi, double *lo, uint64_t n)
{
    mml__subtree_scalar(leaf, hi, lo, n);
}
#endif
