/* kernel_neon.c - arm64 Advanced SIMD (NEON) row kernel: the sixteen lanes are
 * eight float64x2 registers (core/kernel_vec128.inc, shared with SSE2). Advanced
 * SIMD and the half-precision conversions are part of every ARMv8-A CPU,
 * so on arm64 this path is always there. */
#include "kernel.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* Half to single in hardware (exact; a NaN's payload may differ from the
 * scalar conversion, but a NaN element adds nothing on any path). */
static inline __attribute__((always_inline)) void load_half4(const char *x, mml__v4f *f)
{
    uint16_t h[4];
    memcpy(h, x, sizeof h);
    *f = (mml__v4f)vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

#define KERNEL_ENTRY mml__rows_neon
#include "kernel_vec128.inc"

#else
void mml__rows_neon(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml__rows_scalar(req, a, b, vals);
}
#endif
