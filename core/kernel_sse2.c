/* kernel_sse2.c - SSE2 row kernel: the sixteen lanes are eight xmm registers
 * (core/kernel_vec128.inc, shared with NEON). */
#include "kernel.h"

#if defined(__x86_64__) && defined(__SSE2__)

/* SSE2 has no float16 conversion: the exact scalar code widens them. */
static inline __attribute__((always_inline)) void load_half4(const char *x, mml__v4f *f)
{
    uint16_t h[4];
    memcpy(h, x, sizeof h);
    *f = (mml__v4f){ mml__h2f(h[0]), mml__h2f(h[1]), mml__h2f(h[2]), mml__h2f(h[3]) };
}

#define KERNEL_ENTRY mml__rows_sse2
#include "kernel_vec128.inc"

#else
void mml__rows_sse2(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    mml__rows_scalar(req, a, b, vals);
}
#endif
