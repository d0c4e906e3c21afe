/* kernel_v2.h - the row kernel on two-lane float64 vectors, shared by the
 * SSE2 (x86-64) and NEON (arm64) paths: the sixteen lanes are eight
 * vectors, written with GCC's generic vector types so that each target
 * compiles them to its own instructions. A kernel file includes it with
 * KERNEL_ENTRY set, and defines first
 *
 *   load_half4(x, &f)         four float16 values at x widened to float32
 *                             (mml_v4f, exactly)
 */
#ifndef KERNEL_ENTRY
#error "define KERNEL_ENTRY before including kernel_v2.h"
#endif

/* Every small loop over the registers of one set of lanes is unrolled
 * (#pragma GCC unroll): left as loops, GCC kept the accumulators in memory. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML_LANES / 2)

#define NF (MML_LANES / 4)

typedef mml_v2d v2d;
typedef mml_v4f v4f;
typedef float v2f __attribute__((vector_size(8)));
typedef long long v2i __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

/* float64 lanes 2k, 2k+1 in v[k]; float16 rows' values 4k .. 4k+3 in
 * f[k], their 32 float32 lane sums in f[0..3] (the lanes this vector adds
 * to) and f[4..7] (the next vector's), as kernel_avx512.c does. */
typedef union { v2d v[NV]; v4f f[NF]; } vec16;
typedef struct { v2d s[NV], e[NV]; v4f f[2 * NF]; } acc16;   /* sums, TwoSum errors; float32 */
typedef struct { v2i m[NV]; v4i f[NF]; } mask16;          /* all-ones: count the lane */
typedef struct { v2d d; v4f f; } vbcast;

MML_LANE_ADD_VEC(lane_add2, v2d)

ALWAYS_INLINE vbcast vset1(double d)
{
    const float f = (float)d;
    return (vbcast){ { d, d }, { f, f, f, f } };
}

/* The float64 and the float32 form of a lane mask (one of them unused). */
ALWAYS_INLINE mask16 mask_load(const uint64_t bits[MML_LANES], const uint32_t bits32[MML_LANES])
{
    mask16 m;
    memcpy(m.m, bits, sizeof m.m);
    memcpy(m.f, bits32, sizeof m.f);
    return m;
}

ALWAYS_INLINE mask16 mask_valid(int r)
{
    return mask_load(mml_lane_valid[r], mml_lane_valid32[r]);
}

ALWAYS_INLINE void vm_set(vec16 *vm, vec16 *vmy, double d, int k, int dtype)
{
    const mask16 keep = mask_load(mml_lane_keep[k], mml_lane_keep32[k]);
    if (dtype == MML_F16) {
        const v4i ninf = (v4i)vset1(-INFINITY).f;
        #pragma GCC unroll 4
        for (int i = 0; i < NF; i++) {
            vm->f[i] = vset1(d).f;
            vmy->f[i] = (v4f)(((v4i)vm->f[i] & keep.f[i]) | (ninf & ~keep.f[i]));
        }
        return;
    }
    const v2i ninf = (v2i)vset1(-INFINITY).d;
    #pragma GCC unroll 8
    for (int i = 0; i < NV; i++) {
        vm->v[i] = vset1(d).d;
        vmy->v[i] = (v2d)(((v2i)vm->v[i] & keep.m[i]) | (ninf & ~keep.m[i]));
    }
}

ALWAYS_INLINE void acc_zero(acc16 *a)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a->s[k] = a->e[k] = (v2d){ 0.0, 0.0 };
    #pragma GCC unroll 4
    for (int k = 0; k < 2 * NF; k++)
        a->f[k] = (v4f){ 0.0f, 0.0f, 0.0f, 0.0f };
}

/* v[l] = (double)x[l] for l < 16, exact; float16 to float32 (exact). */
ALWAYS_INLINE void load16(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F64) {
        memcpy(v->v, x, sizeof v->v);
    } else if (dtype == MML_F32) {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k++) {
            v2f f;
            memcpy(&f, x + 8 * k, sizeof f);
            v->v[k] = __builtin_convertvector(f, v2d);
        }
    } else {
        #pragma GCC unroll 4
        for (int k = 0; k < NF; k++)
            load_half4(x + 8 * k, &v->f[k]);
    }
}

ALWAYS_INLINE void add_terms(acc16 *a, const vec16 *v, const vec16 *vm, vbcast vw,
                             const mask16 *keep, int dtype, int p, int weighted)
{
    if (dtype == MML_F16) {                                  /* the same, in float32 */
        #pragma GCC unroll 4
        for (int k = 0; k < NF; k++) {
            v4f z = vm->f[k] + v->f[k];
            v4f h = p == 2 ? z * z : z;
            if (weighted)
                h = h * vw.f;
            v4i m = z > (v4f){ 0.0f, 0.0f, 0.0f, 0.0f };
            if (keep)
                m &= keep->f[k];
            v4f sum = a->f[k] + (v4f)((v4i)h & m);
            a->f[k] = a->f[k + NF];                          /* the next vector's lanes */
            a->f[k + NF] = sum;
        }
        return;
    }
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++) {
        v2d z = vm->v[k] + v->v[k];                          /* z = (margin - x[y]) + x[j] */
        v2d h = p == 2 ? z * z : z;                          /* h = z or z*z */
        if (weighted)
            h = h * vw.d;                                    /* h *= w[y] */
        v2i m = z > (v2d){ 0.0, 0.0 };                       /* z > 0 */
        if (keep)
            m &= keep->m[k];                                 /* and the lane kept */
        v2d t = (v2d)((v2i)h & m);                           /* term = m ? h : 0 */
        if (dtype != MML_F64) {
            a->s[k] = a->s[k] + t;
            continue;
        }
        v2d sum = a->s[k] + t;                               /* TwoSum(s, term) */
        v2d bp = sum - a->s[k];
        a->e[k] = a->e[k] + ((a->s[k] - (sum - bp)) + (t - bp));
        a->s[k] = sum;
    }
}

/* Lanes k + k+8, k + k+4, k + k+2, 0 + 1, in registers; a float16 row's
 * in float32 after its lanes k + k+16 (mml_lanes_combine_f32()). */
ALWAYS_INLINE double acc_finish(acc16 *a, int dtype)
{
    if (dtype == MML_F16) {
        /* f[k]: lanes 4k .. 4k+3, f[NF + k] the same lanes + 16 */
        v4f l0 = (a->f[0] + a->f[NF]) + (a->f[2] + a->f[NF + 2]);   /* k + k+16, k + k+8: 0-3 */
        v4f l1 = (a->f[1] + a->f[NF + 1]) + (a->f[3] + a->f[NF + 3]);   /* the same: 4-7 */
        v4f l4 = l0 + l1;                                            /* k + k+4 */
        return (double)((l4[0] + l4[2]) + (l4[1] + l4[3]));         /* k + k+2, 0 + 1 */
    }
    #pragma GCC unroll 8
    for (int half = NV / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) {
            if (dtype != MML_F64)
                a->s[k] = a->s[k] + a->s[k + half];
            else
                lane_add2(&a->s[k], &a->e[k], a->s[k + half], a->e[k + half]);
        }
    if (dtype != MML_F64)
        return a->s[0][0] + a->s[0][1];
    return mml_lane_last(a->s[0][0], a->e[0][0], a->s[0][1], a->e[0][1]);
}

#include "kernel_simd.h"
