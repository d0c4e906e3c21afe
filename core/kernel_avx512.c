/* kernel_avx512.c - AVX-512F row kernel: the sixteen lanes are two zmm registers. */
#include "kernel.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

/* Every small loop over the registers of one set of lanes is unrolled
 * (#pragma GCC unroll): left as loops, GCC kept the accumulators in memory. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* float64 lanes 0-7 and 8-15 in v[0], v[1]; float16 rows' sixteen float32
 * values in f, their 32 float32 lane sums in f[0] (the lanes this vector
 * adds to) and f[1] (the next vector's), see add_terms_n(). */
typedef union { __m512d v[2]; __m512 f; } vec16;
typedef struct { __m512d s[2], e[2]; __m512 f[2]; } acc16;   /* sums, TwoSum errors; float32 */
typedef __mmask16 mask16;                                 /* bit l: count lane l */
typedef struct { __m512d d; __m512 f; } vbcast;

typedef long long v8i __attribute__((vector_size(64)));
typedef long long v4i __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
MML__DD_ADD_VEC(dd_add8, __m512d, v8i)          /* the row tree */
MML__LANE_ADD_VEC(lane_add8, __m512d)          /* the lane combine */
MML__LANE_ADD_VEC(lane_add4, __m256d)
MML__LANE_ADD_VEC(lane_add2, __m128d)

ALWAYS_INLINE vbcast vset1(double d)
{
    return (vbcast){ _mm512_set1_pd(d), _mm512_set1_ps((float)d) };   /* one is left unused */
}
ALWAYS_INLINE mask16 mask_valid(int r) { return (mask16)((1u << r) - 1); }

ALWAYS_INLINE void vm_set(vec16 *vm, vec16 *vmy, double d, int k, int dtype)
{
    if (dtype == MML_F16) {
        vm->f = _mm512_set1_ps((float)d);
        vmy->f = _mm512_mask_mov_ps(vm->f, (__mmask16)(1u << k), _mm512_set1_ps(-INFINITY));
        return;
    }
    __m512d b = _mm512_set1_pd(d), ninf = _mm512_set1_pd(-INFINITY);
    vm->v[0] = vm->v[1] = b;
    vmy->v[0] = _mm512_mask_mov_pd(b, (__mmask8)(1u << k), ninf);
    vmy->v[1] = _mm512_mask_mov_pd(b, (__mmask8)((1u << k) >> 8), ninf);
}

ALWAYS_INLINE void acc_zero(acc16 *a)
{
    a->s[0] = a->s[1] = a->e[0] = a->e[1] = _mm512_setzero_pd();
    a->f[0] = a->f[1] = _mm512_setzero_ps();
}

/* v[l] = (double)x[l] for l < 16, exact; float16 to float32 (exact). */
ALWAYS_INLINE void load16(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F16) {
        v->f = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
        return;
    }
    if (dtype == MML_F64) {
        v->v[0] = _mm512_loadu_pd(x);
        v->v[1] = _mm512_loadu_pd(x + 64);
        return;
    }
    /* Two half-width loads instead of one load and an extract: the
     * shuffle port is the one the conversions and compares need. */
    v->v[0] = _mm512_cvtps_pd(_mm256_loadu_ps((const float *)x));
    v->v[1] = _mm512_cvtps_pd(_mm256_loadu_ps((const float *)x + 8));
}

/* add_terms() on lanes 0-7, or on all sixteen (halves = 1 or 2): a tail
 * of at most eight columns leaves lanes 8-15 as they are, which is what
 * adding its +0.0 terms would do. float16 rows take all sixteen values in
 * one register, a tail's through its mask, and add them to f[0]; the two
 * sets of lanes then swap places, so that vectors 0, 2, 4 .. of a row add
 * to the lanes j % 32 < 16 and vectors 1, 3, 5 .. to the others: two
 * chains of additions, where one chain held the loop to 4 cycles a vector.
 * Which set ends in f[0] does not matter: the combine adds the two. */
ALWAYS_INLINE void add_terms_n(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                               const mask16 *keep, int dtype, int p, int weighted, int halves,
                               int first)
{
    if (dtype == MML_F16) {
        __m512 z = _mm512_add_ps(vm->f, v->f);              /* z = (margin - x[y]) + x[j] */
        __m512 h = p == 2 ? _mm512_mul_ps(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = _mm512_mul_ps(h, vw.f);                      /* h *= w[y] */
        __mmask16 m = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);   /* z > 0 */
        if (keep)
            m &= *keep;                                      /* and the lane kept */
        __m512 sum = _mm512_mask_add_ps(a->f[0], m, a->f[0], h);   /* s += m ? h : 0 */
        a->f[0] = a->f[1];
        a->f[1] = sum;
        return;
    }
    #pragma GCC unroll 8
    for (int k = 0; k < halves; k++) {
        __m512d z = _mm512_add_pd(vm->v[k], v->v[k]);        /* z = (margin - x[y]) + x[j] */
        __m512d h = p == 2 ? _mm512_mul_pd(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = _mm512_mul_pd(h, vw.d);                      /* h *= w[y] */
        __mmask8 m = _mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_GT_OQ);   /* z > 0 */
        if (keep)
            m &= (__mmask8)(*keep >> (8 * k));               /* and the lane kept */
        if (dtype != MML_F64) {
            a->s[k] = _mm512_mask_add_pd(a->s[k], m, a->s[k], h);   /* s += m ? h : 0 */
            continue;
        }
        if (first) {                                         /* s = +0 + term, exact: e stays 0 */
            a->s[k] = _mm512_maskz_add_pd(m, h, _mm512_setzero_pd());
            continue;
        }
        /* TwoSum(s, term), term = m ? h : +0.0, with the masking folded
         * into two operations: in an unmasked lane sum = s, bp = +0 and
         * err = +0, the bits s + 0.0 would give (s is never -0.0). */
        __m512d sum = _mm512_mask_add_pd(a->s[k], m, a->s[k], h);
        __m512d bp = _mm512_sub_pd(sum, a->s[k]);
        __m512d err = _mm512_add_pd(_mm512_sub_pd(a->s[k], _mm512_sub_pd(sum, bp)),
                                    _mm512_maskz_sub_pd(m, h, bp));
        a->e[k] = _mm512_add_pd(a->e[k], err);
        a->s[k] = sum;
    }
}

ALWAYS_INLINE void add_terms(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                             const mask16 *keep, int dtype, int p, int weighted)
{
    add_terms_n(a, v, vm, vw, keep, dtype, p, weighted, 2, 0);
}

#define KERNEL_FIRST
ALWAYS_INLINE void add_terms_first(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                                   const mask16 *keep, int dtype, int p, int weighted)
{
    add_terms_n(a, v, vm, vw, keep, dtype, p, weighted, 2, 1);
}

#define KERNEL_HALF_TAIL
ALWAYS_INLINE void load8(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F64)
        v->v[0] = _mm512_loadu_pd(x);
    else if (dtype == MML_F32)
        v->v[0] = _mm512_cvtps_pd(_mm256_loadu_ps((const float *)x));
    else                                     /* lanes 8-15: masked off by the tail's keep */
        v->f = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x)));
}

ALWAYS_INLINE void add_terms8(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                              const mask16 *keep, int dtype, int p, int weighted)
{
    add_terms_n(a, v, vm, vw, keep, dtype, p, weighted, 1, 0);
}

ALWAYS_INLINE void add_terms8_first(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                                    const mask16 *keep, int dtype, int p, int weighted)
{
    add_terms_n(a, v, vm, vw, keep, dtype, p, weighted, 1, 1);
}

ALWAYS_INLINE __m256 hi256(__m512 f)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
}

/* Lanes k + k+8, k + k+4, k + k+2, 0 + 1, in registers (a float16 row's
 * float32 lanes k + k+16 first, mml__lanes_combine_f32()). */
ALWAYS_INLINE double acc_finish(acc16 *a, int dtype)
{
    if (dtype == MML_F16) {
        __m512 f = _mm512_add_ps(a->f[0], a->f[1]);                          /* k + k+16 */
        __m256 l8 = _mm256_add_ps(_mm512_castps512_ps256(f), hi256(f));      /* k + k+8 */
        __m128 l4 = _mm_add_ps(_mm256_castps256_ps128(l8), _mm256_extractf128_ps(l8, 1));
        __m128 l2 = _mm_add_ps(l4, _mm_movehl_ps(l4, l4));                   /* k + k+2 */
        return (double)(l2[0] + l2[1]);                                      /* 0 + 1 */
    }
    if (dtype != MML_F64) {
        __m512d l8 = _mm512_add_pd(a->s[0], a->s[1]);
        __m256d l4 = _mm256_add_pd(_mm512_castpd512_pd256(l8), _mm512_extractf64x4_pd(l8, 1));
        __m128d l2 = _mm_add_pd(_mm256_castpd256_pd128(l4), _mm256_extractf128_pd(l4, 1));
        return l2[0] + l2[1];
    }
    __m512d h8 = a->s[0], l8 = a->e[0];
    lane_add8(&h8, &l8, a->s[1], a->e[1]);
    __m256d h4 = _mm512_castpd512_pd256(h8), l4 = _mm512_castpd512_pd256(l8);
    lane_add4(&h4, &l4, _mm512_extractf64x4_pd(h8, 1), _mm512_extractf64x4_pd(l8, 1));
    __m128d h2 = _mm256_castpd256_pd128(h4), l2 = _mm256_castpd256_pd128(l4);
    lane_add2(&h2, &l2, _mm256_extractf128_pd(h4, 1), _mm256_extractf128_pd(l4, 1));
    return mml__lane_last(h2[0], l2[0], h2[1], l2[1]);
}

/* ---- eight rows at once ---- */

#define KERNEL_BATCH 8
/* Row i: float64 lanes 0-7 after k + k+8; float16, float32 lanes 0-15
 * after k + k+16. */
typedef struct { __m512d h[8], l[8]; __m512 f[8]; } batch_stage;

ALWAYS_INLINE void acc_stage(acc16 *a, int dtype, batch_stage *st, int i)
{
    if (dtype == MML_F16) {
        st->f[i] = _mm512_add_ps(a->f[0], a->f[1]);
        return;
    }
    if (dtype != MML_F64) {
        st->h[i] = _mm512_add_pd(a->s[0], a->s[1]);
        return;
    }
    __m512d h8 = a->s[0], l8 = a->e[0];
    lane_add8(&h8, &l8, a->s[1], a->e[1]);
    st->h[i] = h8;
    st->l[i] = l8;
}

/* One combine step on eight lanes: plain for float16/32, mml__lane_add()
 * for float64. */
ALWAYS_INLINE void step8(__m512d *h, __m512d *l, __m512d bh, __m512d bl, int dtype)
{
    if (dtype == MML_F64)
        lane_add8(h, l, bh, bl);
    else
        *h = _mm512_add_pd(*h, bh);
}

/* Lanes k + k+4, k + k+2, 0 + 1 of eight rows, then the row values:
 * mml__lane_last()'s rounding, the division by c. Each step moves only
 * the 128-bit blocks it adds next to each other (14 shuffles for eight
 * rows where a full transpose took 24), and pairs the rows so that the
 * last step leaves row i in lane i:
 *   k + k+4: rows (0,2) (4,6) (1,3) (5,7), a row's lanes 0-3 and 4-7
 *   k + k+2: rows 0,2,4,6 and 1,3,5,7, a row's lanes 0-1 and 2-3
 *   0 + 1:   the rows' lane 0 and lane 1, interleaved into row order.
 * Each row's additions and their operands are those of acc_finish(). */
/* The same for float16 rows, in float32, then widened: sixteen lanes of
 * eight rows, k + k+8 with rows paired (0,1) (2,3) (4,5) (6,7), k + k+4
 * leaving row i's four lanes in a 128-bit block, k + k+2 and 0 + 1 within
 * the blocks; one permutation puts the rows in order. */
ALWAYS_INLINE void finish_batch_f16(const batch_stage *st, double c, double *vals)
{
    __m512 pr[4], q[2];
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++)                   /* [row 2k lanes 0-7, row 2k+1 lanes 0-7] */
        pr[k] = _mm512_add_ps(_mm512_shuffle_f32x4(st->f[2 * k], st->f[2 * k + 1], 0x44),
                              _mm512_shuffle_f32x4(st->f[2 * k], st->f[2 * k + 1], 0xee));
    #pragma GCC unroll 2
    for (int k = 0; k < 2; k++)                   /* block b: row 4k + b, lanes 0-3 */
        q[k] = _mm512_add_ps(_mm512_shuffle_f32x4(pr[2 * k], pr[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(pr[2 * k], pr[2 * k + 1], 0xdd));
    /* block b: rows b and 4 + b, lanes 0-1 each */
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(q[0], q[1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(q[0], q[1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* element 4b: row b, element 4b + 2: row 4 + b */
    r = _mm512_add_ps(r, _mm512_permute_ps(r, _MM_SHUFFLE(3, 3, 1, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512d v = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(order, r)));
    _mm512_storeu_pd(vals, _mm512_div_pd(v, _mm512_set1_pd(c)));
}

ALWAYS_INLINE void finish_batch(batch_stage *st, int dtype, double c, double *vals)
{
    if (dtype == MML_F16) {
        finish_batch_f16(st, c, vals);
        return;
    }
    static const int pair[4][2] = { { 0, 2 }, { 4, 6 }, { 1, 3 }, { 5, 7 } };
    const __m512d zero = _mm512_setzero_pd();
    __m512d ah[4], al[4] = { zero, zero, zero, zero }, bh[2], bl[2] = { zero, zero };

    #pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
        const int i = pair[p][0], j = pair[p][1];
        __m512d h4 = _mm512_shuffle_f64x2(st->h[i], st->h[j], 0xee), l4 = zero;   /* lanes 4-7 */
        ah[p] = _mm512_shuffle_f64x2(st->h[i], st->h[j], 0x44);                   /* lanes 0-3 */
        if (dtype == MML_F64) {
            l4 = _mm512_shuffle_f64x2(st->l[i], st->l[j], 0xee);
            al[p] = _mm512_shuffle_f64x2(st->l[i], st->l[j], 0x44);
        }
        step8(&ah[p], &al[p], h4, l4, dtype);
    }
    #pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
        __m512d h2 = _mm512_shuffle_f64x2(ah[2 * q], ah[2 * q + 1], 0xdd), l2 = zero;  /* 2-3 */
        bh[q] = _mm512_shuffle_f64x2(ah[2 * q], ah[2 * q + 1], 0x88);                /* 0-1 */
        if (dtype == MML_F64) {
            l2 = _mm512_shuffle_f64x2(al[2 * q], al[2 * q + 1], 0xdd);
            bl[q] = _mm512_shuffle_f64x2(al[2 * q], al[2 * q + 1], 0x88);
        }
        step8(&bh[q], &bl[q], h2, l2, dtype);
    }
    __m512d h = _mm512_unpacklo_pd(bh[0], bh[1]), l = _mm512_unpacklo_pd(bl[0], bl[1]);
    step8(&h, &l, _mm512_unpackhi_pd(bh[0], bh[1]), _mm512_unpackhi_pd(bl[0], bl[1]), dtype);
    if (dtype == MML_F64) {                       /* mml__lane_round(): h alone where not finite */
        __mmask8 fin = _mm512_cmp_pd_mask(_mm512_sub_pd(h, h), zero, _CMP_EQ_OQ);
        h = _mm512_mask_add_pd(h, fin, h, l);
    }
    _mm512_storeu_pd(vals, _mm512_div_pd(h, _mm512_set1_pd(c)));
}

#define KERNEL_ENTRY mml__rows_avx512
#include "kernel_loop.inc"

/* kernel.h's subtree, eight nodes of a level at a time: the even and the
 * odd nodes gathered into two vectors, added as dd_add8 (mml__dd_add lane
 * by lane). Leaves are read where they are, their lo +0.0 (no load); the
 * last three levels are the scalar code's. */
void mml__subtree_avx512(const double *leaf, double *hi, double *lo, uint64_t n)
{
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    const __m512d zero = _mm512_setzero_pd();

    for (; n >= 16; n /= 2, leaf = NULL)
        for (uint64_t k = 0; k < n / 2; k += 8) {    /* writes k.. only after reading 2k.. */
            const double *src = leaf ? leaf : hi;
            __m512d h0 = _mm512_loadu_pd(src + 2 * k), h1 = _mm512_loadu_pd(src + 2 * k + 8);
            __m512d h = _mm512_permutex2var_pd(h0, even, h1), l = zero, bl = zero;
            if (!leaf) {
                __m512d l0 = _mm512_loadu_pd(lo + 2 * k), l1 = _mm512_loadu_pd(lo + 2 * k + 8);
                l = _mm512_permutex2var_pd(l0, even, l1);
                bl = _mm512_permutex2var_pd(l0, odd, l1);
            }
            dd_add8(&h, &l, _mm512_permutex2var_pd(h0, odd, h1), bl);
            _mm512_storeu_pd(hi + k, h);
            _mm512_storeu_pd(lo + k, l);
        }
    mml__subtree_scalar(leaf, hi, lo, n);
}

#else
void mml__rows_avx512(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml__rows_scalar(req, a, b, vals);
}

void mml__subtree_avx512(const double *leaf, double *hi, double *lo, uint64_t n)
{
    mml__subtree_scalar(leaf, hi, lo, n);
}
#endif
