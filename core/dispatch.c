/* dispatch.c - picks the row kernel once from CPU features or LOSSD_SIMD. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "mml.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MML_X86 1
#endif

static const char *const simd_names[MML_SIMD_COUNT] = {
    "scalar", "sse2", "avx2", "avx512", "neon"
};

/* Each path's row kernel and row-tree function; a path this build or
 * architecture lacks has no kernel. AVX-512 and AVX2 have their own
 * tree; the others use the scalar one. */
typedef struct simd_path { mml__rows_fn rows; mml__tree_fn subtree; } simd_path;

static const simd_path simd_paths[MML_SIMD_COUNT] = {
    [MML_SIMD_SCALAR] = { mml__rows_scalar, mml__subtree_scalar },
#ifdef MML_X86
    [MML_SIMD_SSE2] = { mml__rows_sse2, mml__subtree_scalar },
    [MML_SIMD_AVX2] = { mml__rows_avx2, mml__subtree_avx2 },
    [MML_SIMD_AVX512] = { mml__rows_avx512, mml__subtree_avx512 },
#endif
#ifdef __aarch64__
    [MML_SIMD_NEON] = { mml__rows_neon, mml__subtree_scalar },   /* every ARMv8-A CPU */
#endif
};

/* -1 until chosen; then an mml_simd value. */
static _Atomic int active = -1;

#ifdef MML_X86
static uint64_t xgetbv0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

/* Why this CPU and OS cannot run path, or NULL when they can. The CPU
 * must have the instructions and the OS must save the registers (XCR0):
 * YMM state for AVX2, opmask + ZMM state for AVX-512. */
static const char *x86_missing(mml_simd path)
{
    unsigned a, b, c, d;
    if (path == MML_SIMD_SSE2)
        return NULL;                                /* x86-64 baseline */
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return "this CPU has no CPUID leaf 1";
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!avx || !f16c)
        return "this CPU lacks AVX or F16C";
    if (!osxsave)
        return "the OS has not enabled XSAVE";
    uint64_t xcr0 = xgetbv0();
    if (__get_cpuid_max(0, NULL) < 7)
        return "this CPU has no CPUID leaf 7";
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (path != MML_SIMD_AVX2 && path != MML_SIMD_AVX512)
        return "not an x86 path";
    if (!avx2)
        return "this CPU lacks AVX2";
    if (path == MML_SIMD_AVX2)
        return (xcr0 & 0x6) == 0x6 ? NULL : "the OS does not save the YMM registers (XCR0)";
    if (!avx512f)
        return "this CPU lacks AVX-512F";
    return (xcr0 & 0xe6) == 0xe6 ? NULL : "the OS does not save the ZMM registers (XCR0)";
}
#endif

const char *mml__simd_missing(mml_simd path)
{
    if (path == MML_SIMD_SCALAR)
        return NULL;
    if ((unsigned)path >= MML_SIMD_COUNT)
        return "no such path";
    if (!simd_paths[path].rows)
        return "this build is for another architecture";
#ifdef MML_X86
    return x86_missing(path);
#else
    return NULL;                                /* in the table: the architecture has it */
#endif
}

int mml_simd_supported(mml_simd path)
{
    return mml__simd_missing(path) == NULL;
}

const char *mml_simd_name(mml_simd path)
{
    return (unsigned)path < MML_SIMD_COUNT ? simd_names[path] : "unknown";
}

static mml_simd best_path(void)
{
    for (int p = MML_SIMD_COUNT - 1; p > MML_SIMD_SCALAR; p--)
        if (mml_simd_supported((mml_simd)p))
            return (mml_simd)p;
    return MML_SIMD_SCALAR;
}

int mml_set_simd(mml_simd path)
{
    if (!mml_simd_supported(path))
        return MML_ESIMD;
    atomic_store(&active, (int)path);
    return 0;
}

int mml_init(mml_error *err)
{
    const char *want = getenv("LOSSD_SIMD");
    if (!want || !*want) {
        int expected = -1;
        atomic_compare_exchange_strong(&active, &expected, (int)best_path());
        return 0;
    }
    for (int p = 0; p < MML_SIMD_COUNT; p++) {
        if (strcmp(want, simd_names[p]) != 0)
            continue;
        if (mml_set_simd((mml_simd)p) < 0)
            return mml_error_set(err, MML_ESIMD, "LOSSD_SIMD",
                                 "LOSSD_SIMD=%s is not supported by this CPU or build", want);
        return 0;
    }
    return mml_error_set(err, MML_ESIMD, "LOSSD_SIMD",
                         "LOSSD_SIMD=%s is unknown (scalar, sse2, avx2, avx512, neon)", want);
}

mml_simd mml_simd_active(void)
{
    int p = atomic_load(&active);
    if (p < 0) {
        mml_init(NULL);      /* a bad LOSSD_SIMD falls back to the best path here */
        p = atomic_load(&active);
        if (p < 0) {
            int expected = -1;
            atomic_compare_exchange_strong(&active, &expected, (int)best_path());
            p = atomic_load(&active);
        }
    }
    return (mml_simd)p;
}

mml__rows_fn mml__rows_active(void)
{
    return simd_paths[mml_simd_active()].rows;
}

mml__tree_fn mml__subtree_active(void)
{
    return simd_paths[mml_simd_active()].subtree;
}
