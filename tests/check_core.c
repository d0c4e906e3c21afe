/* check_core.c - Check suite for core/: golden cases, SIMD paths, blocks, validation.
 *
 * Every path this CPU runs is compared with the scalar one; a path it lacks
 * prints "SKIP <test> on <path>: <why>" instead of passing silently. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "kernel.h"
#include "mml.h"
#include "suite.h"

static golden_case *cases;
static size_t ncases;

static void golden_setup(void)
{
    cases = golden_load(GOLDEN_PATH, &ncases);
    ck_assert_msg(cases && ncases > 1000, "cannot read %s", GOLDEN_PATH);
}

static void golden_teardown(void)
{
    golden_free(cases, ncases);
}

/* A request over freshly converted buffers; free with req_free. */
static mml_request make_request(const golden_case *g)
{
    size_t es = mml_dtype_size(g->dtype);
    mml_request r = {
        .dtype = g->dtype, .p = g->p, .margin = g->margin, .reduction = g->reduction,
        .n = g->n, .c = g->c, .target = g->target,
    };
    void *in = malloc(g->n * g->c * es + 1);
    for (uint64_t i = 0; i < g->n * g->c; i++)
        mml_store(g->dtype, in, i, g->input[i]);
    r.input = in;
    if (g->weight) {
        void *w = malloc(g->c * es);
        for (uint64_t i = 0; i < g->c; i++)
            mml_store(g->dtype, w, i, g->weight[i]);
        r.weight = w;
    }
    return r;
}

static void req_free(mml_request *r)
{
    free((void *)r->input);
    free((void *)r->weight);
}

/* 1 when this CPU runs path; otherwise it prints that test (iteration
 * iter, as Check numbers them) skips the path and why, and returns 0
 * (libuv's RETURN_SKIP): a path that did not run must not look as if it
 * passed. test is the test's __func__, which Check names after the test
 * with "_fn" appended. */
static int path_runs(const char *test, int iter, mml_simd path)
{
    const char *why = mml__simd_missing(path);
    if (!why)
        return 1;
    int len = (int)strlen(test);
    if (len > 3 && strcmp(test + len - 3, "_fn") == 0)
        len -= 3;
    printf("SKIP %.*s:%d on %s: %s\n", len, test, iter, mml_simd_name(path), why);
    fflush(stdout);
    return 0;
}

/* The paths this CPU runs, as a set of 1 << path; each one it lacks is
 * reported as skipped (path_runs). */
static unsigned paths_here(const char *test, int iter)
{
    unsigned set = 0;
    for (int p = MML_SIMD_SCALAR; p < MML_SIMD_COUNT; p++)
        if (path_runs(test, iter, (mml_simd)p))
            set |= 1u << p;
    return set;
}

static double torch_tolerance(int dtype)
{
    /* PyTorch's own error: float32 up to 2e-5 relative, float16 computes
     * in half precision (~1e-3), float64 up to a few hundred ulp. */
    return dtype == MML_F16 ? 4e-3 : dtype == MML_F32 ? 5e-5 : 1e-12;
}

START_TEST(golden_cases_are_within_max_ulps_on_each_path)
{
    if (!path_runs(__func__, _i, (mml_simd)_i))
        return;
    ck_assert_int_eq(mml_set_simd((mml_simd)_i), 0);
    int checked = 0;
    for (size_t k = 0; k < ncases; k++) {
        const golden_case *g = &cases[k];
        mml_request r = make_request(g);
        uint64_t nout = mml_out_count(&r);
        ck_assert_uint_eq(nout, g->n_out);
        char out[8 * 4096];
        mml_compute(&r, out);
        for (uint64_t i = 0; i < nout; i++) {
            double got = mml_load(g->dtype, out, i);
            double ulps = golden_ulps(g->dtype, got, g->exact[i]);
            ck_assert_msg(ulps <= golden_max_ulps(g->dtype),
                          "%s [%llu]: got %.17g, exact %.17g (%g ulp) on %s", g->name,
                          (unsigned long long)i, got, g->exact[i], ulps,
                          mml_simd_name(mml_simd_active()));
            if (g->torch && isfinite(g->torch[i])) {
                double tol = torch_tolerance(g->dtype) * fmax(1.0, fabs(g->torch[i]));
                ck_assert_msg(fabs(got - g->torch[i]) <= tol, "%s [%llu]: got %.17g, torch %.17g",
                              g->name, (unsigned long long)i, got, g->torch[i]);
            } else if (g->torch) {
                ck_assert_msg(golden_ulps(g->dtype, got, g->torch[i]) == 0,
                              "%s: got %g, torch %g", g->name, got, g->torch[i]);
            }
            checked++;
        }
        req_free(&r);
    }
    ck_assert_int_gt(checked, 1400);
}
END_TEST

/* ---- hand-worked examples --------------------------------------------- */

START_TEST(ones_3x3_mean_is_two_thirds)
{
    /* ones(3,3), target [1,2,1], weight ones: every z = 1 - 1 + 1 = 1 for
     * the two non-target columns, so each row is 2/3 and the mean 2/3. */
    float in[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, w[3] = { 1, 1, 1 }, out;
    int64_t t[3] = { 1, 2, 1 };
    mml_request r = { MML_F32, 1, 1, MML_MEAN, 3, 3, in, t, w };
    mml_compute(&r, &out);
    ck_assert_float_eq(out, 2.0f / 3.0f);
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", out);
    ck_assert_str_eq(buf, "0.6666667");
}
END_TEST

START_TEST(p2_weighted_rows_match_hand_worked_values)
{
    /* row 0: x = [0.1, 0.2, 0.4, 0.8], y = 3: z = 1 - 0.8 + {0.1,0.2,0.4}
     * = {0.3, 0.4, 0.6}; p = 2: 0.09 + 0.16 + 0.36 = 0.61, * w[3] = 2,
     * / C = 4 -> 0.305. row 1: x = [0.3, 0.9, 0.1, 0.2], y = 1: z = {0.4,
     * 0.2, 0.3}: 0.16 + 0.04 + 0.09 = 0.29, * w[1] = 0.5, / 4 = 0.03625. */
    double in[8] = { 0.1, 0.2, 0.4, 0.8, 0.3, 0.9, 0.1, 0.2 }, w[4] = { 1, 0.5, 1, 2 }, out[2];
    int64_t t[2] = { 3, 1 };
    mml_request r = { MML_F64, 2, 1, MML_NONE, 2, 4, in, t, w };
    mml_compute(&r, out);
    ck_assert_double_eq_tol(out[0], 0.305, 1e-15);
    ck_assert_double_eq_tol(out[1], 0.03625, 1e-15);
    r.reduction = MML_SUM;
    mml_compute(&r, out);
    ck_assert_double_eq_tol(out[0], 0.34125, 1e-15);
}
END_TEST

START_TEST(float16_terms_are_computed_in_float32)
{
    /* float16 is computed in float32 (docs/wire.md, "Precision"). x = [-2^-24, -2], y = 0,
     * margin 2, w[0] = 1024: exactly, z = (2 + 2^-24) - 2 = 2^-24 > 0 and
     * the row is 2^-24 * 1024 / 2 = 2^-15 (float16 0x0200). In float32
     * 2 + 2^-24 rounds to 2 (half an ulp there is 2^-23), z = 0 is not
     * > 0, and the row is 0, as PyTorch computes it. */
    uint16_t in[2] = { 0x8001, 0xc000 }, w[2] = { 0x6400, 0x3c00 }, out;
    int64_t t[1] = { 0 };
    mml_request r = { MML_F16, 1, 2, MML_NONE, 1, 2, in, t, w };
    mml_compute(&r, &out);
    ck_assert_uint_eq(out, 0x0000);
    in[1] = 0xbff0;                                /* -1.984375: z = 2^-6 (+ 2^-24) */
    mml_compute(&r, &out);
    ck_assert_uint_eq(out, mml_double_to_half(0x1p-6 * 1024 / 2));
}
END_TEST

/* A float16 row of 2^21 + 3 columns: x[0] = 0 (the target), the others
 * t, margin 0. Exactly, the row is t * (C - 1) / C, which rounds to t.
 * Summed in float32 lanes of 2^16 terms each it drifted 2 ulps; in
 * segments (kernel.h) every path gives t. */
START_TEST(float16_long_row_is_summed_in_segments_on_each_path)
{
    const unsigned paths = paths_here(__func__, _i);
    const uint64_t c = ((uint64_t)1 << 21) + 3;
    const uint16_t t = mml_double_to_half(1.62109375);
    uint16_t *in = malloc(c * sizeof *in), out;
    int64_t y = 0;
    ck_assert_ptr_nonnull(in);
    in[0] = 0;
    for (uint64_t j = 1; j < c; j++)
        in[j] = t;
    mml_request r = { MML_F16, 1, 0, MML_NONE, 1, c, in, &y, NULL };
    for (int p = MML_SIMD_SCALAR; p < MML_SIMD_COUNT; p++) {
        if (!(paths & (1u << p)))
            continue;
        ck_assert_int_eq(mml_set_simd((mml_simd)p), 0);
        mml_compute(&r, &out);
        ck_assert_msg(out == t, "%s: 0x%04x, want 0x%04x", mml_simd_name((mml_simd)p), out, t);
    }
    mml_set_simd(MML_SIMD_SCALAR);
    free(in);
}
END_TEST

START_TEST(empty_batch_sums_to_0_and_means_nan)
{
    double out[3];
    int64_t t[3] = { 0, 0, 0 };
    mml_request r = { MML_F64, 1, 1, MML_SUM, 0, 4, NULL, t, NULL };
    mml_compute(&r, out);
    ck_assert_double_eq(out[0], 0.0);
    r.reduction = MML_MEAN;
    mml_compute(&r, out);
    ck_assert(isnan(out[0]));
}
END_TEST

/* Rows x = [0, NaN, 0.5], [0, inf, 0.25], [5, 1, 2], target 0; margin 0
 * (a margin <= 0 is legal). */
static const double edge_in[3 * 3] = { 0, NAN, 0.5, 0, INFINITY, 0.25, 5, 1, 2 };
static const int64_t edge_target[3] = { 0, 0, 0 };

START_TEST(nan_term_adds_nothing_and_inf_term_gives_inf)
{
    double out[3];
    mml_request r = { MML_F64, 1, 0, MML_NONE, 3, 3, edge_in, edge_target, NULL };
    mml_compute(&r, out);
    ck_assert_double_eq(out[0], 0.5 / 3);          /* z = 0 + NaN skipped, 0 + 0.5 */
    ck_assert(isinf(out[1]) && out[1] > 0);
    ck_assert_double_eq(out[2], 0.0);              /* z = -4, -3: nothing counts */
}
END_TEST

START_TEST(zero_weight_times_inf_term_is_nan)
{
    double out[3], w[3] = { 0, 1, 1 };
    mml_request r = { MML_F64, 1, 0, MML_NONE, 3, 3, edge_in, edge_target, w };
    mml_compute(&r, out);
    ck_assert(isnan(out[1]));
    ck_assert_double_eq(out[0], 0.0);              /* finite terms * 0 */
}
END_TEST

/* Even a value there that would overflow when added and subtracted. */
START_TEST(target_column_adds_nothing_even_if_huge)
{
    double out[1], big[2] = { 1e308, -1e308 };
    int64_t t1[1] = { 0 };
    mml_request r = { MML_F64, 1, -1, MML_NONE, 1, 2, big, t1, NULL };
    mml_compute(&r, out);
    ck_assert_double_eq(out[0], 0.0);
}
END_TEST

/* ---- half precision ----------------------------------------------------- */

START_TEST(float16_conversions_round_trip_and_round_to_even)
{
    /* Every half value survives half -> float -> half. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mml_half_to_float((uint16_t)h);
        if (isnan(f))
            continue;
        ck_assert_msg(mml_double_to_half(f) == h, "0x%04x -> %g -> 0x%04x", h, f,
                      mml_double_to_half(f));
    }
    ck_assert_uint_eq(mml_double_to_half(65504.0), 0x7bff);
    ck_assert_uint_eq(mml_double_to_half(65519.99), 0x7bff);
    ck_assert_uint_eq(mml_double_to_half(65520.0), 0x7c00);        /* ties to inf */
    ck_assert_uint_eq(mml_double_to_half(-INFINITY), 0xfc00);
    ck_assert_uint_eq(mml_double_to_half(0x1p-24), 0x0001);         /* smallest subnormal */
    ck_assert_uint_eq(mml_double_to_half(0x1p-25), 0x0000);         /* tie to even: 0 */
    ck_assert_uint_eq(mml_double_to_half(0x1.8p-24), 0x0002);       /* tie to even: 2 */
    ck_assert_uint_eq(mml_double_to_half(1.0 + 0x1p-11), 0x3c00);   /* tie to even */
    ck_assert_uint_eq(mml_double_to_half(1.0 + 0x1.8p-10), 0x3c02);
    ck_assert_uint_eq(mml_double_to_half(1.0 + 0x1p-11 + 0x1p-40), 0x3c01);  /* no double rounding */
    ck_assert_uint_eq(mml_double_to_half(-0.0), 0x8000);
    ck_assert(isnan(mml_half_to_float(mml_double_to_half(NAN))));
    ck_assert_float_eq(mml_half_to_float(0x3555), 0.333251953125f);
}
END_TEST

/* ---- SIMD paths and blocks ---------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Values over a wide range of magnitudes (when set): sums of their terms
 * round, so a path adding in any other order gives other bits. With the
 * values above most small sums are exact in float64 and hide the order. */
static int wide_values;            /* 0, or the largest binary exponent */

static double rnd_value(void)
{
    uint64_t k = rnd() % 100;
    if (wide_values && k >= 2) {
        double u = 1.0 + (double)(rnd() >> 11) * 0x1p-53;
        int e = (int)(rnd() % (uint64_t)(2 * wide_values)) - wide_values;
        return ldexp((rnd() & 1) ? u : -u, e);
    }
    if (k == 0)
        return NAN;
    if (k == 1)
        return (rnd() & 1) ? INFINITY : -INFINITY;
    double u = (double)(rnd() >> 11) * 0x1p-53;
    return k < 10 ? (u - 0.5) * 200 : (u - 0.5) * 4;  /* some large values */
}

/* A random request on a buffer offset by `skew` bytes (unaligned rows). */
static mml_request random_request(uint64_t n, uint64_t c, int dtype, char *buf, size_t skew,
                                  int64_t *target, char *weight)
{
    mml_request r = { dtype, 1 + (int)(rnd() & 1), (int)(rnd() % 5) - 2, (int)(rnd() % 3), n, c,
                      buf + skew, target, NULL };
    for (uint64_t i = 0; i < n * c; i++)
        mml_store(dtype, buf + skew, i, rnd_value());
    for (uint64_t i = 0; i < n; i++)
        target[i] = (int64_t)(rnd() % c);
    if (rnd() & 1) {
        for (uint64_t i = 0; i < c; i++)
            mml_store(dtype, weight, i, rnd() % 64 ? (double)(rnd() % 1000) / 250.0
                                        : (rnd() & 1) ? NAN : -NAN);   /* a NaN row */
        r.weight = weight;
    }
    return r;
}

static void run_split(const mml_request *r, void *out, uint64_t *cuts, int ncuts)
{
    mml_partial all, part;
    mml_partial_init(&all);
    uint64_t a = 0;
    for (int k = 0; k <= ncuts; k++) {
        uint64_t b = k < ncuts ? cuts[k] : r->n;
        mml_partial_init(&part);
        mml_rows(r, a, b, out, &part);
        mml_partial_merge(&all, &part);
        a = b;
    }
    if (r->reduction != MML_NONE)
        mml_finish(r, &all, out);
}

/* Every path in paths against scalar, and random splits into blocks
 * against one block, on a random request of n x c. */
static void check_paths_on(unsigned paths, uint64_t n, uint64_t c, int dtype)
{
    size_t es = mml_dtype_size(dtype);
    char *buf = malloc(n * c * es + 16), *w = malloc(c * es);
    int64_t *t = malloc((n + 1) * sizeof *t);
    char *ref = malloc(n * es + 8), *got = malloc(n * es + 8);
    mml_request r = random_request(n, c, dtype, buf, rnd() % 16, t, w);
    size_t bytes = mml_out_count(&r) * es;

    ck_assert_int_eq(mml_set_simd(MML_SIMD_SCALAR), 0);
    mml_compute(&r, ref);
    for (int p = MML_SIMD_SSE2; p < MML_SIMD_COUNT; p++) {
        if (!(paths & (1u << p)))
            continue;
        ck_assert_int_eq(mml_set_simd((mml_simd)p), 0);
        memset(got, 0xa5, n * es + 8);
        mml_compute(&r, got);
        ck_assert_msg(memcmp(ref, got, bytes) == 0, "%s differs from scalar: N=%llu C=%llu %s p=%d %s",
                      mml_simd_name((mml_simd)p), (unsigned long long)n, (unsigned long long)c,
                      mml_dtype_name(dtype), r.p, mml_reduction_name(r.reduction));
        /* Random splits into blocks give the same bits. */
        uint64_t cuts[6];
        int ncuts = n ? (int)(rnd() % 6) : 0;
        for (int k = 0; k < ncuts; k++)
            cuts[k] = rnd() % (n + 1);
        for (int k = 1; k < ncuts; k++)        /* sort: blocks in row order */
            for (int m = k; m > 0 && cuts[m - 1] > cuts[m]; m--) {
                uint64_t tmp = cuts[m];
                cuts[m] = cuts[m - 1];
                cuts[m - 1] = tmp;
            }
        memset(got, 0x5a, n * es + 8);
        run_split(&r, got, cuts, ncuts);
        ck_assert_msg(memcmp(ref, got, bytes) == 0, "split into %d blocks differs: N=%llu C=%llu",
                      ncuts + 1, (unsigned long long)n, (unsigned long long)c);
    }
    mml_set_simd(MML_SIMD_SCALAR);
    free(buf);
    free(w);
    free(t);
    free(ref);
    free(got);
}

START_TEST(each_path_gives_scalar_bits_for_small_shapes)
{
    const unsigned paths = paths_here(__func__, _i);
    int dtype = MML_F16 + _i;
    static const int wide[] = { 14, 60, 200 };   /* float16, float32, float64 */
    for (int pass = 0; pass < 2; pass++) {
        wide_values = pass ? wide[_i] : 0;
        for (uint64_t c = 1; c <= 70; c++)
            for (uint64_t n = 0; n <= 17; n++)
                check_paths_on(paths, n, c, dtype);
    }
    wide_values = 0;
}
END_TEST

START_TEST(each_path_gives_scalar_bits_for_large_shapes)
{
    const unsigned paths = paths_here(__func__, _i);
    int dtype = MML_F16 + _i;
    uint64_t shapes[][2] = { { 3, 1000 }, { 2, 4099 }, { 1, 32001 }, { 1000, 7 }, { 5000, 3 },
                             { 300, 100 }, { 3, 2 * MML__F16_SEGMENT + 37 } };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int rep = 0; rep < 4; rep++) {
            wide_values = (rep & 1) ? (int[]){ 14, 60, 200 }[_i] : 0;
            check_paths_on(paths, shapes[k][0], shapes[k][1], dtype);
        }
    wide_values = 0;
}
END_TEST

/* The row values themselves (float64, before the output is rounded to
 * the dtype, which hides most differences in the last bits) are the same
 * on every path: same additions, same order. Wide-range values so that
 * the sums round. */
START_TEST(each_path_gives_scalar_row_values)
{
    const unsigned paths = paths_here(__func__, _i);
    static const mml__rows_fn fn[MML_SIMD_COUNT] = { mml__rows_scalar, mml__rows_sse2,
                                                    mml__rows_avx2, mml__rows_avx512,
                                                    mml__rows_neon };
    static const int wide[] = { 14, 60, 200 };
    int dtype = MML_F16 + _i;
    size_t es = mml_dtype_size(dtype);

    wide_values = wide[_i];
    for (uint64_t c = 1; c <= 48; c++)
        for (uint64_t n = 0; n <= 33; n += 1 + n / 8) {
            char *buf = malloc(n * c * es + 16), *w = malloc(c * es);
            int64_t *t = malloc((n + 1) * sizeof *t);
            double ref[40], got[40];
            mml_request r = random_request(n, c, dtype, buf, rnd() % 16, t, w);
            mml__rows_scalar(&r, 0, n, ref);
            for (int p = MML_SIMD_SSE2; p < MML_SIMD_COUNT; p++) {
                if (!(paths & (1u << p)))
                    continue;
                uint64_t a = n ? rnd() % n : 0;
                fn[p](&r, a, n, got);
                for (uint64_t i = a; i < n; i++)
                    ck_assert_msg(memcmp(&ref[i], &got[i - a], 8) == 0,
                                  "%s row %llu of [%llu, %llu): %a, scalar %a (C=%llu %s p=%d)",
                                  mml_simd_name((mml_simd)p), (unsigned long long)i,
                                  (unsigned long long)a, (unsigned long long)n, got[i - a],
                                  ref[i], (unsigned long long)c, mml_dtype_name(dtype), r.p);
            }
            free(buf);
            free(w);
            free(t);
        }
    wide_values = 0;
}
END_TEST

/* A subtree's node against the scalar path's: hi and lo bit for bit. A
 * NaN result only has to be a NaN: which of two NaNs an addition keeps
 * depends on the order of its operands, which the compiler may swap, and
 * outputs store every NaN as the one quiet NaN (mml.c; check_paths_on's
 * NaN weights test that). */
static void check_subtree_node(const char *what, uint64_t n, double hi, double lo,
                               double ref_hi, double ref_lo)
{
    int same = isnan(ref_hi) ? isnan(hi) && lo == 0.0 && ref_lo == 0.0
                             : memcmp(&hi, &ref_hi, 8) == 0 && memcmp(&lo, &ref_lo, 8) == 0;
    ck_assert_msg(same, "%s subtree of %llu: (%a, %a), scalar (%a, %a)", what,
                  (unsigned long long)n, hi, lo, ref_hi, ref_lo);
}

/* The row tree's subtree on every path: the node over 1..256 nodes of
 * wide-range values (some NaN, some infinite), against the scalar one.
 * Nodes come with lo = 0, as row values are, and with small nonzero lo,
 * as inner nodes have; row values are also read as leaves (lo implied),
 * the way mml_rows() passes them, on the scalar path too, and must give
 * the same node as the copy with lo = 0. */
START_TEST(each_path_subtree_gives_scalar_node)
{
    enum { MAXN = 256 };
    const unsigned paths = paths_here(__func__, _i);
    wide_values = 60;
    for (int rep = 0; rep < 200; rep++) {
        uint64_t n = UINT64_C(1) << (rnd() % 9);
        double hi0[MAXN], lo0[MAXN], ref_hi[MAXN], ref_lo[MAXN], hi[MAXN], lo[MAXN];
        for (uint64_t k = 0; k < n; k++) {
            hi0[k] = rep % 3 ? fabs(rnd_value()) : rnd_value();
            lo0[k] = rep & 1 ? hi0[k] * 0x1p-60 * ((double)(rnd() % 100) / 50 - 1) : 0.0;
            if (!isfinite(lo0[k]))
                lo0[k] = 0.0;
        }
        memcpy(ref_hi, hi0, sizeof hi0);
        memcpy(ref_lo, lo0, sizeof lo0);
        mml__subtree_scalar(NULL, ref_hi, ref_lo, n);
        for (int p = MML_SIMD_SCALAR; p < MML_SIMD_COUNT; p++) {
            if (!(paths & (1u << p)))
                continue;
            ck_assert_int_eq(mml_set_simd((mml_simd)p), 0);
            const char *name = mml_simd_name((mml_simd)p);
            memcpy(hi, hi0, sizeof hi0);
            memcpy(lo, lo0, sizeof lo0);
            mml__subtree_active()(NULL, hi, lo, n);
            check_subtree_node(name, n, hi[0], lo[0], ref_hi[0], ref_lo[0]);
            if (rep & 1)
                continue;                                   /* lo0 not all 0 */
            /* Scratch of the size kernel.h promises, NaN: nothing to read. */
            size_t half = n > 1 ? n / 2 : 1;
            double *shi = malloc(half * sizeof *shi), *slo = malloc(half * sizeof *slo);
            for (size_t k = 0; k < half; k++)
                shi[k] = slo[k] = NAN;
            mml__subtree_active()(hi0, shi, slo, n);
            check_subtree_node(name, n, shi[0], slo[0], ref_hi[0], ref_lo[0]);
            free(shi);
            free(slo);
        }
    }
    mml_set_simd(MML_SIMD_SCALAR);
    wide_values = 0;
}
END_TEST

/* Random values seldom show a wrong pairing: a double-double sum of a few
 * values is exact. Leaves 2k and 2k + 1 are paired here with values whose
 * sum is not: in pairs P and Q of n zero leaves (n = 4 .. 256) go
 * (2^200, 1) and (2^-200, -2^200), or (-2^200, 2^-200). Paired as they
 * should be, P gives (2^200, 1) and Q (-2^200, 2^-200), and their sum is
 * (1, 0): 1 + 2^-200 rounds to 1 (worked by hand; the zeros add nothing).
 * Any one leaf of P swapped with one of Q pairs, in one of the two
 * arrangements, 2^200 with -2^200 and 1 with 2^-200, which keeps the
 * 2^-200: (1, 2^-200). */
START_TEST(each_path_subtree_pairs_neighbouring_nodes)
{
    const unsigned paths = paths_here(__func__, _i);
    static const double pq[2][4] = { { 0x1p200, 1, 0x1p-200, -0x1p200 },
                                     { 0x1p200, 1, -0x1p200, 0x1p-200 } };
    for (uint64_t n = 4; n <= 256; n *= 2) {
        double *leaf = calloc(n, sizeof *leaf);
        double *hi = malloc(n / 2 * sizeof *hi), *lo = malloc(n / 2 * sizeof *lo);
        for (int p = MML_SIMD_SCALAR; p < MML_SIMD_COUNT; p++) {
            if (!(paths & (1u << p)))
                continue;
            ck_assert_int_eq(mml_set_simd((mml_simd)p), 0);
            const mml__tree_fn subtree = mml__subtree_active();
            for (uint64_t a = 0; a < n / 2; a++)
                for (uint64_t b = 0; b < n / 2; b++)
                    for (int s = 0; s < 2 && a != b; s++) {
                        leaf[2 * a] = pq[s][0], leaf[2 * a + 1] = pq[s][1];
                        leaf[2 * b] = pq[s][2], leaf[2 * b + 1] = pq[s][3];
                        subtree(leaf, hi, lo, n);
                        ck_assert_msg(hi[0] == 1.0 && lo[0] == 0.0,
                                      "%s subtree of %llu, pairs %llu and %llu: (%a, %a)",
                                      mml_simd_name((mml_simd)p), (unsigned long long)n,
                                      (unsigned long long)a, (unsigned long long)b, hi[0],
                                      lo[0]);
                        leaf[2 * a] = leaf[2 * a + 1] = leaf[2 * b] = leaf[2 * b + 1] = 0.0;
                    }
        }
        free(leaf);
        free(hi);
        free(lo);
    }
    mml_set_simd(MML_SIMD_SCALAR);
}
END_TEST

/* Deep trees: splits of 70000 rows merge to the one-block result. */
START_TEST(splits_of_70000_rows_merge_to_one_block_bits)
{
    const unsigned paths = paths_here(__func__, _i);
    for (int rep = 0; rep < 4; rep++)
        check_paths_on(paths, 70000 + rnd() % 100, 2, MML_F64);
}
END_TEST

START_TEST(lossd_simd_forces_a_path_and_rejects_unknown)
{
    setenv("LOSSD_SIMD", "bogus", 1);
    mml_error err;
    ck_assert_int_eq(mml_init(&err), MML_ESIMD);
    ck_assert_ptr_nonnull(strstr(err.message, "bogus"));
    setenv("LOSSD_SIMD", "scalar", 1);
    ck_assert_int_eq(mml_init(&err), 0);
    ck_assert_int_eq(mml_simd_active(), MML_SIMD_SCALAR);
    ck_assert_int_eq(mml_set_simd(MML_SIMD_NEON), mml_simd_supported(MML_SIMD_NEON) ? 0 : MML_ESIMD);
    unsetenv("LOSSD_SIMD");
    ck_assert_str_eq(mml_simd_name(MML_SIMD_AVX2), "avx2");
}
END_TEST

/* ---- validation: one test per row of docs/wire.md's table ----------------- */

static mml_desc valid_desc(void)
{
    mml_desc d;
    mml_desc_init(&d);
    d.input_rank = 2;
    d.n = 3;
    d.c = 4;
    d.target_rank = 1;
    d.target_len = 3;
    return d;
}

static void expect_error(const mml_desc *d, int code, const char *field, const char *needle)
{
    mml_error err;
    memset(&err, 0, sizeof err);
    int rc = mml_validate(d, &err);
    ck_assert_msg(rc == code, "expected %s, got %s (%s)", mml_err_name(code), mml_err_name(rc),
                  err.message);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.field, field);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

START_TEST(valid_descs_pass_validation)
{
    mml_desc d = valid_desc();
    mml_error err;
    ck_assert_int_eq(mml_validate(&d, &err), 0);
    d.has_weight = 1;
    d.weight_dtype = MML_F32;
    d.weight_rank = 1;
    d.weight_len = 4;
    ck_assert_int_eq(mml_validate(&d, &err), 0);
    d.n = d.target_len = 0;                          /* empty batch */
    ck_assert_int_eq(mml_validate(&d, &err), 0);
}
END_TEST

START_TEST(each_invalid_field_gets_its_error_and_message)
{
    mml_desc d = valid_desc();
    d.p = 3;
    expect_error(&d, MML_EVALUE, "p", "p must be 1 or 2, got 3");
    d = valid_desc();
    d.margin = (int64_t)INT32_MAX + 1;
    expect_error(&d, MML_EVALUE, "margin", "32-bit");
    d = valid_desc();
    d.reduction = -1;
    expect_error(&d, MML_EVALUE, "reduction", "none, mean, sum");
    d = valid_desc();
    d.dtype = 0;
    expect_error(&d, MML_ETYPE, "dtype", "float16, float32 or float64");
    d = valid_desc();
    d.has_weight = 1;
    d.weight_dtype = MML_F64;
    d.weight_rank = 1;
    d.weight_len = 4;
    expect_error(&d, MML_ETYPE, "weight", "weight dtype float64");
    d = valid_desc();
    d.target_int64 = 0;
    expect_error(&d, MML_ETYPE, "target", "int64");
    d = valid_desc();
    d.input_rank = 3;
    expect_error(&d, MML_EVALUE, "input", "rank 3");
    d = valid_desc();
    d.target_rank = 2;
    expect_error(&d, MML_EVALUE, "target", "rank 2");
    d = valid_desc();
    d.has_weight = 1;
    d.weight_dtype = MML_F32;
    d.weight_rank = 0;
    expect_error(&d, MML_EVALUE, "weight", "rank 0");
    d = valid_desc();
    d.target_len = 2;
    expect_error(&d, MML_EVALUE, "target", "input.shape[0] = 3 does not match target.shape[0] = 2");
    d = valid_desc();
    d.has_weight = 1;
    d.weight_dtype = MML_F32;
    d.weight_rank = 1;
    d.weight_len = 5;
    expect_error(&d, MML_EVALUE, "weight", "input.shape[1] = 4 does not match weight.shape[0] = 5");
    d = valid_desc();
    d.c = 0;
    expect_error(&d, MML_EVALUE, "input", "C");
    d = valid_desc();
    d.n = d.target_len = UINT64_MAX / 2;
    expect_error(&d, MML_ETOOBIG, "input", "too large");
}
END_TEST

START_TEST(type_errors_come_before_value_errors)
{
    mml_desc d = valid_desc();
    d.p = 7;
    d.dtype = 0;
    expect_error(&d, MML_ETYPE, "dtype", "float16");
}
END_TEST

START_TEST(out_of_range_target_names_first_bad_index)
{
    int64_t t[4] = { 0, 3, 4, -1 };
    mml_error err;
    ck_assert_int_eq(mml_validate_targets(t, 2, 4, &err), 0);
    ck_assert_int_eq(mml_validate_targets(t, 4, 4, &err), MML_EVALUE);
    ck_assert_str_eq(err.field, "target");
    ck_assert_str_eq(err.message, "target[2] = 4 is out of range [0, 4)");
    t[2] = 1;
    ck_assert_int_eq(mml_validate_targets(t, 4, 4, &err), MML_EVALUE);
    ck_assert_str_eq(err.message, "target[3] = -1 is out of range [0, 4)");
}
END_TEST

START_TEST(request_bytes_that_overflow_are_too_big)
{
    uint64_t b;
    ck_assert_int_eq(mml_request_bytes(MML_F32, 3, 4, 1, &b), 0);
    ck_assert_uint_eq(b, 3 * 4 * 4 + 3 * 8 + 4 * 4);
    ck_assert_int_eq(mml_request_bytes(MML_F64, 1ull << 32, 1ull << 32, 0, &b), MML_ETOOBIG);
    ck_assert_int_eq(mml_request_bytes(MML_F16, 1ull << 62, 1, 0, &b), MML_ETOOBIG);
    ck_assert_int_eq(mml_request_bytes(MML_F16, 1, UINT64_MAX / 2, 1, &b), MML_ETOOBIG);
    ck_assert_int_eq(mml_request_bytes(0, 1, 1, 0, &b), MML_ETOOBIG);
}
END_TEST

START_TEST(error_codes_have_names_and_statuses)
{
    ck_assert_str_eq(mml_err_name(MML_ETYPE), "TypeError");
    ck_assert_int_eq(mml_err_status(MML_ETOOBIG), 413);
    ck_assert_int_eq(mml_err_status(MML_EBUSY), 503);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("golden");
    tcase_add_unchecked_fixture(tc, golden_setup, golden_teardown);
    tcase_add_loop_test(tc, golden_cases_are_within_max_ulps_on_each_path, 0, MML_SIMD_COUNT);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("hand");
    tcase_add_test(tc, ones_3x3_mean_is_two_thirds);
    tcase_add_test(tc, float16_terms_are_computed_in_float32);
    tcase_add_test(tc, float16_long_row_is_summed_in_segments_on_each_path);
    tcase_add_test(tc, p2_weighted_rows_match_hand_worked_values);
    tcase_add_test(tc, empty_batch_sums_to_0_and_means_nan);
    tcase_add_test(tc, nan_term_adds_nothing_and_inf_term_gives_inf);
    tcase_add_test(tc, zero_weight_times_inf_term_is_nan);
    tcase_add_test(tc, target_column_adds_nothing_even_if_huge);
    tcase_add_test(tc, float16_conversions_round_trip_and_round_to_even);
    suite_add_tcase(s, tc);

    tc = tcase_create("simd");
    tcase_add_loop_test(tc, each_path_gives_scalar_bits_for_small_shapes, 0, 3);
    tcase_add_loop_test(tc, each_path_gives_scalar_bits_for_large_shapes, 0, 3);
    tcase_add_loop_test(tc, each_path_gives_scalar_row_values, 0, 3);
    tcase_add_test(tc, each_path_subtree_gives_scalar_node);
    tcase_add_test(tc, each_path_subtree_pairs_neighbouring_nodes);
    tcase_add_test(tc, splits_of_70000_rows_merge_to_one_block_bits);
    tcase_add_test(tc, lossd_simd_forces_a_path_and_rejects_unknown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, valid_descs_pass_validation);
    tcase_add_test(tc, each_invalid_field_gets_its_error_and_message);
    tcase_add_test(tc, type_errors_come_before_value_errors);
    tcase_add_test(tc, out_of_range_target_names_first_bad_index);
    tcase_add_test(tc, request_bytes_that_overflow_are_too_big);
    tcase_add_test(tc, error_codes_have_names_and_statuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(core_suite());
}
