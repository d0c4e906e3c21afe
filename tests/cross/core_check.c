/* core_check.c - the loss engine on any architecture, without Check or cJSON.
 *
 * For a fixed series of random requests (every dtype, p, weight and
 * reduction; wide-range values, NaN and infinities; unaligned rows) it
 * checks that every SIMD path this CPU runs gives the scalar path's bits,
 * for the outputs and for the float64 row values, and prints one digest
 * line per request of the scalar outputs (NaNs counted alike: each
 * ISA has its own default NaN). `make cross-check` runs it
 * natively and as an arm64 program under qemu and compares the digests:
 * the same bits on x86-64 and arm64, so arm64 inherits the golden-case
 * precision the native suites check. Exit status 1 on any difference;
 * each path this CPU lacks is named, with the reason, as skipped. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "mml.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double value(int wide)
{
    uint64_t k = rnd() % 100;
    if (k == 0)
        return NAN;
    if (k == 1)
        return (rnd() & 1) ? INFINITY : -INFINITY;
    /* One draw per statement: the order in which a call's arguments or an
     * initializer's members are evaluated differs between compilers and
     * targets, and both sides must draw the same numbers. */
    double u = (double)(rnd() >> 11) * 0x1p-53;
    if (wide) {
        double sign = (rnd() & 1) ? 1 : -1;
        int e = (int)(rnd() % (2u * (unsigned)wide)) - wide;
        return ldexp(sign * (1 + u), e);
    }
    return k < 10 ? (u - 0.5) * 200 : (u - 0.5) * 4;
}

/* FNV-1a over the bits of n values of dtype, every NaN counted as one:
 * a NaN made by the arithmetic (inf - inf) is -NaN on x86-64 and +NaN on
 * arm64 (each ISA's default NaN). Anything else must match bit for bit. */
static uint64_t digest(int dtype, const void *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t es = mml_dtype_size(dtype);
    for (size_t i = 0; i < n; i++) {
        unsigned char b[8] = { 0 };
        if (isnan(mml_load(dtype, p, i)))
            memcpy(b, "NaN", 3);
        else
            memcpy(b, (const char *)p + i * es, es);
        for (size_t k = 0; k < es; k++)
            h = (h ^ b[k]) * 0x100000001b3ull;
    }
    return h;
}

static const mml__rows_fn row_fns[MML_SIMD_COUNT] = {
    mml__rows_scalar, mml__rows_sse2, mml__rows_avx2, mml__rows_avx512, mml__rows_neon
};

int main(void)
{
    static const int wide[] = { 14, 60, 200 };
    int failures = 0, cases = 0;
    mml_error err;

    if (mml_init(&err) < 0) {
        fprintf(stderr, "core_check: %s\n", err.message);
        return 2;
    }
    for (int round = 0; round < 600; round++) {
        int dtype = MML_F16 + round % 3;
        size_t es = mml_dtype_size(dtype);
        uint64_t c = 1 + rnd() % (round % 10 == 0 ? 3000 : 70), n = rnd() % 40;
        int w = round % 2 ? wide[dtype - MML_F16] : 0;
        size_t skew = rnd() % 16;
        char *buf = malloc(n * c * es + 16), *weight = malloc(c * es);
        int64_t *target = malloc((n + 1) * sizeof *target);
        double *ref_rows = malloc((n + 1) * sizeof(double)), *rows = malloc((n + 1) * sizeof(double));
        char *ref = malloc(n * es + 8), *got = malloc(n * es + 8);
        int p = 1 + (int)(rnd() & 1);
        int margin = (int)(rnd() % 5) - 2;
        int reduction = (int)(rnd() % 3);
        mml_request r = { dtype, p, margin, reduction, n, c, buf + skew, target, NULL };
        for (uint64_t i = 0; i < n * c; i++)
            mml_store(dtype, buf + skew, i, value(w));
        for (uint64_t i = 0; i < n; i++)
            target[i] = (int64_t)(rnd() % c);
        if (rnd() & 1) {
            for (uint64_t i = 0; i < c; i++)
                mml_store(dtype, weight, i, (double)(rnd() % 1000) / 250.0 - 1.0);
            r.weight = weight;
        }
        size_t bytes = mml_out_count(&r) * es;

        mml_set_simd(MML_SIMD_SCALAR);
        mml_compute(&r, ref);
        mml__rows_scalar(&r, 0, n, ref_rows);
        for (int path = MML_SIMD_SCALAR + 1; path < MML_SIMD_COUNT; path++) {
            if (!mml_simd_supported((mml_simd)path))
                continue;
            mml_set_simd((mml_simd)path);
            memset(got, 0x5a, n * es + 8);
            mml_compute(&r, got);
            row_fns[path](&r, 0, n, rows);
            if (memcmp(ref, got, bytes) != 0 || memcmp(ref_rows, rows, n * sizeof(double)) != 0) {
                fprintf(stderr, "core_check: %s differs from scalar: round %d N=%llu C=%llu %s "
                        "p=%d %s\n", mml_simd_name((mml_simd)path), round, (unsigned long long)n,
                        (unsigned long long)c, mml_dtype_name(dtype), r.p,
                        mml_reduction_name(r.reduction));
                failures++;
            }
        }
        printf("%d %s N=%llu C=%llu p=%d %s %016llx %016llx\n", round, mml_dtype_name(dtype),
               (unsigned long long)n, (unsigned long long)c, r.p, mml_reduction_name(r.reduction),
               (unsigned long long)digest(dtype, ref, mml_out_count(&r)),
               (unsigned long long)digest(MML_F64, ref_rows, n));
        cases++;
        free(buf);
        free(weight);
        free(target);
        free(ref_rows);
        free(rows);
        free(ref);
        free(got);
    }
    fprintf(stderr, "core_check: %d requests, paths:", cases);
    for (int p = 0; p < MML_SIMD_COUNT; p++)
        if (mml_simd_supported((mml_simd)p))
            fprintf(stderr, " %s", mml_simd_name((mml_simd)p));
    fprintf(stderr, "; %d differences\n", failures);
    for (int p = 0; p < MML_SIMD_COUNT; p++)            /* not a silent pass */
        if (mml__simd_missing((mml_simd)p))
            fprintf(stderr, "core_check: SKIP %s: %s\n", mml_simd_name((mml_simd)p),
                    mml__simd_missing((mml_simd)p));
    return failures ? 1 : 0;
}
