/* kernel_neon.c - arm64 Advanced SIMD (NEON) row kernel: the sixteen lanes are
 * eight float64x2 registers, as in the SSE2 kernel. Advanced SIMD and the
 * half-precision conversions are part of every ARMv8-A CPU, so on arm64
 * this path is always there. */
#include "kernel.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* Every small loop over the registers of one set of lanes is unrolled
 * (#pragma GCC unroll), as in the x86 kernels. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NV (MML_LANES / 2)

typedef struct { float64x2_t v[NV]; } vec16;        /* lanes 2k, 2k+1 in v[k] */
typedef struct { float64x2_t s[NV], e[NV]; } acc16; /* sums, TwoSum errors (float64) */
typedef struct { uint64x2_t m[NV]; } mask16;        /* all-ones: count the lane */
typedef float64x2_t vbcast;

typedef long long v2i __attribute__((vector_size(16)));
MML_DD_ADD_VEC(dd_add2, float64x2_t, v2i)

ALWAYS_INLINE vbcast vset1(double d) { return vdupq_n_f64(d); }

ALWAYS_INLINE mask16 mask_load(const uint64_t bits[MML_LANES])
{
    mask16 m;
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        m.m[k] = vld1q_u64(bits + 2 * k);
    return m;
}

ALWAYS_INLINE mask16 mask_all(void) { return mask_load(mml_lane_valid[MML_LANES]); }
ALWAYS_INLINE mask16 mask_drop(int k) { return mask_load(mml_lane_keep[k]); }
ALWAYS_INLINE mask16 mask_valid(int r) { return mask_load(mml_lane_valid[r]); }

ALWAYS_INLINE mask16 mask_and(mask16 a, mask16 b)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a.m[k] = vandq_u64(a.m[k], b.m[k]);
    return a;
}

ALWAYS_INLINE void acc_zero(acc16 *a)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++)
        a->s[k] = a->e[k] = vdupq_n_f64(0.0);
}

/* v[l] = (double)x[l] for l < 16, exact for every dtype (half to single
 * to double widen exactly; a NaN's payload may differ from the scalar
 * conversion, but a NaN element adds nothing on any path). */
ALWAYS_INLINE void load16(const char *x, int dtype, vec16 *v)
{
    if (dtype == MML_F64) {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k++)
            v->v[k] = vld1q_f64((const double *)x + 2 * k);
    } else if (dtype == MML_F32) {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k += 2) {
            float32x4_t f = vld1q_f32((const float *)x + 2 * k);
            v->v[k] = vcvt_f64_f32(vget_low_f32(f));
            v->v[k + 1] = vcvt_high_f64_f32(f);
        }
    } else {
        #pragma GCC unroll 8
        for (int k = 0; k < NV; k += 2) {
            float16x4_t h = vreinterpret_f16_u16(vld1_u16((const uint16_t *)x + 2 * k));
            float32x4_t f = vcvt_f32_f16(h);
            v->v[k] = vcvt_f64_f32(vget_low_f32(f));
            v->v[k + 1] = vcvt_high_f64_f32(f);
        }
    }
}

ALWAYS_INLINE void add_terms(acc16 *a, const vec16 *v, vbcast vm, vbcast vw, const mask16 *keep,
                             int dtype, int p, int weighted)
{
    #pragma GCC unroll 8
    for (int k = 0; k < NV; k++) {
        float64x2_t z = vaddq_f64(vm, v->v[k]);              /* z = (margin - x[y]) + x[j] */
        float64x2_t h = p == 2 ? vmulq_f64(z, z) : z;        /* h = z or z*z */
        if (weighted)
            h = vmulq_f64(h, vw);                            /* h *= w[y] */
        uint64x2_t m = vandq_u64(vcgtq_f64(z, vdupq_n_f64(0.0)), keep->m[k]);
        float64x2_t t = vreinterpretq_f64_u64(vandq_u64(vreinterpretq_u64_f64(h), m));
        if (dtype != MML_F64) {                              /* term = z > 0 && kept ? h : 0 */
            a->s[k] = vaddq_f64(a->s[k], t);
            continue;
        }
        float64x2_t sum = vaddq_f64(a->s[k], t);             /* TwoSum(s, term) */
        float64x2_t bp = vsubq_f64(sum, a->s[k]);
        float64x2_t err = vaddq_f64(vsubq_f64(a->s[k], vsubq_f64(sum, bp)), vsubq_f64(t, bp));
        a->e[k] = vaddq_f64(a->e[k], err);
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
                a->s[k] = vaddq_f64(a->s[k], a->s[k + half]);
            else
                dd_add2(&a->s[k], &a->e[k], a->s[k + half], a->e[k + half]);
        }
    if (dtype != MML_F64)
        return vgetq_lane_f64(a->s[0], 0) + vgetq_lane_f64(a->s[0], 1);
    return mml_dd_last(vgetq_lane_f64(a->s[0], 0), vgetq_lane_f64(a->e[0], 0),
                       vgetq_lane_f64(a->s[0], 1), vgetq_lane_f64(a->e[0], 1));
}

#define KERNEL_ENTRY mml_rows_neon
#include "kernel_simd.h"

#else
void mml_rows_neon(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml_rows_scalar(req, a, b, vals);
}
#endif
