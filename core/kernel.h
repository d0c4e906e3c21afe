/* kernel.h - core/'s internal header: the row kernel every SIMD path
 * implements, the summation order they all share, and the dispatch between
 * them. Nothing here is API (that is mml.h): its names are mml__* and
 * MML__*, as libuv keeps uv__* in src/unix/internal.h.
 *
 * Who calls whom, so that no two files call each other: rows.c (the row
 * blocks of mml.h) -> dispatch.c (the path in use) -> kernel_<isa>.c ->
 * kernel_scalar.c (its subtree, its fallback, the lane masks). rows.c and
 * dispatch.c also use mml.c (errors, conversions), which calls none of
 * them. The kernels and rows.c read and write elements through the inline
 * accessors below (mml__get, mml__put), not through mml.c's out-of-line
 * mml_load() and mml_store(). `make layers` checks that no file calls
 * back.
 *
 * The order, fixed once for every path (docs/wire.md, "Precision and determinism"):
 *
 *   - float32 and float64 rows: the terms are computed in float64
 *     (float32 widens exactly), as
 *         z = ((double)margin - x[y]) + x[j],  h = z or z*z,  h *= w[y],
 *     with no fused multiply-add (-ffp-contract=off everywhere).
 *   - float16 rows: the same terms in float32, as docs/wire.md says (and PyTorch
 *     does): z = ((float)margin - x[y]) + x[j] and so on, float16 widening
 *     exactly to float32.
 *   - Term j goes to lane j % 16 (float16: j % 32). A term that is skipped
 *     (j == y, z > 0 false, NaN) adds +0.0 to its lane, which changes no
 *     bit: a lane sum starts at +0.0 and round-to-nearest never makes it
 *     -0.0.
 *   - float16 lanes are plain float32 sums, combined in float32: lane k
 *     plus lane k + 16, then as below (k + k+8 .. 0 + 1) without error
 *     terms; the row's float32 sum is widened (exactly) to float64 for
 *     the division. Thirty-two lanes because a float32 lane set fills one
 *     AVX-512 register: two sets make two chains of additions. A row of
 *     more than MML__F16_SEGMENT columns is summed one segment of that
 *     many columns (the last one shorter) at a time, each as a row of its
 *     own (column j of the segment in lane j % 32), and the segments'
 *     float32 sums are added in float64, in order, from +0.0.
 *   - float32 lanes are plain float64 sums. float64 lanes keep a TwoSum
 *     error term (Knuth), so each lane is an unevaluated double-double.
 *     A float64 lane's first term (column j < 16) is added plainly:
 *     +0.0 + term is exact, its TwoSum error zero for every finite term
 *     (for an infinite one TwoSum gives a NaN error, but a non-finite
 *     lane discards its error term in the combine below, so the result
 *     is the same).
 *   - Lanes are combined by mml__lanes_combine() below: k with k+8, then
 *     k with k+4, k+2, k+1. float64 lanes are (hi, lo) pairs added as
 *     mml__lane_add() does: hi + hi' with its exact TwoSum error, and
 *     lo + lo' + that error, not renormalized; the row's sum is hi + lo of
 *     the last pair, rounded once (hi alone if it is not finite,
 *     mml__lane_round()). SIMD code does the same additions.
 *   - Sixteen lanes because each lane's additions form a chain the CPU
 *     cannot overlap (4 cycles each): sixteen lanes are two independent
 *     AVX-512 chains, four AVX2 ones, enough to keep up with memory.
 *   - The row value is that sum divided by C, in float64.
 *
 * Why this is accurate: a float16 result needs 11 bits, and float16 rows
 * are computed in float32 arithmetic, as PyTorch's are. A term errs by at most about
 * 2^-23 relative (two or three float32 roundings) unless x[j] cancels most
 * of margin - x[y]; a row's terms share one sign (that of w[y]), so a lane
 * of m terms errs by at most about m * 2^-24 relative, and the combine
 * adds five roundings: for a segment of up to 2^16 columns (m = 2^11)
 * about 2^-13, at most a quarter of a float16 ulp, before the rounding to
 * float16. Segments keep it so for any C: their float64 sum adds no error
 * that shows. Without them a row of 2^21 equal terms came out 2 ulps off,
 * one of 2^24 terms 9 ulps. Float32 takes one
 * conversion per element where float64 took two, and fits sixteen lanes
 * in a 512-bit register. For float32 inputs every term is exact or within
 * 2^-53 of the float64 formula (the float32 cancellation in
 * (margin - x[y]) + x[j] disappears in float64), and a float64 sum of up
 * to 2^20 terms errs by at most ~2^-33 relative for non-negative terms,
 * far below a float32 ulp (2^-24). For float64 inputs the terms equal the
 * reference formula's exactly, and compensated lanes make the row sum as
 * accurate as if computed in twice the precision and rounded once, so the
 * result is within about 1 ulp before the final division. The combine is
 * Ogita, Rump and Oishi's Sum2 over the lanes: every rounding error of the
 * hi additions is kept exactly and added, with the lanes' own error terms,
 * in plain float64. Those are at most C ulps of hi together, so that plain
 * sum's own error (some 2^-49 of it) stays far below an ulp of the result.
 * Renormalizing each pair, as a full double-double addition does, costs
 * three more operations a step and buys nothing here: without it a short
 * float64 row (C = 10) costs a quarter less (measured). Rows are then added
 * in the fixed tree of rows.c, with full double-double nodes.
 */
#ifndef LOSSD_KERNEL_H
#define LOSSD_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#include "mml.h"

#define MML__LANES 16
#define MML__F16_SEGMENT ((uint64_t)1 << 16)   /* float16 columns summed in float32 */
_Static_assert(MML__F16_SEGMENT % (2 * MML__LANES) == 0, "segments start at lane 0");

/* Row values (loss of row r, before reduction, as float64) for rows
 * [a, b) of req, written to vals[0 .. b - a). The paths this build or
 * architecture lacks are the scalar kernel under another name. */
typedef void (*mml__rows_fn)(const mml_request *req, uint64_t a, uint64_t b, double *vals);

void mml__rows_scalar(const mml_request *req, uint64_t a, uint64_t b, double *vals);
void mml__rows_sse2(const mml_request *req, uint64_t a, uint64_t b, double *vals);
void mml__rows_avx2(const mml_request *req, uint64_t a, uint64_t b, double *vals);
void mml__rows_avx512(const mml_request *req, uint64_t a, uint64_t b, double *vals);
void mml__rows_neon(const mml_request *req, uint64_t a, uint64_t b, double *vals);

/* The node over n nodes of rows.c's row tree (n a power of two), into
 * hi[0], lo[0]: level by level, node k of the next level is
 * mml__dd_add(node 2k, node 2k+1). The nodes are hi[0..n), lo[0..n), or,
 * where leaf is not NULL, the row values leaf[0..n) with lo 0, read
 * without a copy (hi and lo then only need room for n / 2 and at least
 * one). The scalar one is in kernel_scalar.c; the paths that have no
 * vector version use it. */
typedef void (*mml__tree_fn)(const double *leaf, double *hi, double *lo, uint64_t n);

void mml__subtree_scalar(const double *leaf, double *hi, double *lo, uint64_t n);
void mml__subtree_avx2(const double *leaf, double *hi, double *lo, uint64_t n);
void mml__subtree_avx512(const double *leaf, double *hi, double *lo, uint64_t n);

/* The row kernel and the tree function of the path in use (dispatch.c),
 * chosen on first use if mml_init() was not called. */
mml__rows_fn mml__rows_active(void);
mml__tree_fn mml__subtree_active(void);

/* Why path cannot run here ("this CPU lacks AVX2", ...), or NULL when it
 * can (dispatch.c): what mml_simd_supported() answers, with a reason, for
 * tests that skip a path to say why. */
const char *mml__simd_missing(mml_simd path);

/* Two float64 lanes, four float32 ones, as GCC generic vectors: the SSE2
 * and NEON kernels share their code on them (kernel_vec128.inc). */
typedef double mml__v2d __attribute__((vector_size(16)));
typedef float mml__v4f __attribute__((vector_size(16)));

/* IEEE binary16 to binary32, exact (mml_half_to_float, inlined). Files
 * built with F16C (the AVX2 and AVX-512 kernels) convert in hardware: the
 * same value, a signalling NaN quieted, which no result can tell apart
 * (a NaN x[y] or weight makes every term NaN either way). */
static inline float mml__h2f(uint16_t h)
{
#ifdef __F16C__
    return _cvtsh_ss(h);
#endif
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (man << 13);            /* inf, NaN (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);   /* normal: rebias 15 -> 127 */
    } else {
        float f = (float)man * 0x1p-24f;                   /* zero, subnormal: exact */
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Element size, element i as float64 and v stored rounded once into
 * element i, inlined into the kernels and rows.c (the public
 * mml_dtype_size(), mml_load() and mml_store() are the same, out of
 * line). */
static inline size_t mml__es(int dtype)
{
    return dtype == MML_F16 ? 2 : dtype == MML_F32 ? 4 : 8;
}

static inline double mml__get(int dtype, const void *buf, uint64_t i)
{
    const char *p = (const char *)buf + i * mml__es(dtype);   /* any alignment */
    if (dtype == MML_F64) {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    if (dtype == MML_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return mml__h2f(h);
}

static inline void mml__put(int dtype, void *buf, uint64_t i, double v)
{
    char *p = (char *)buf + i * mml__es(dtype);
    if (dtype == MML_F16) {
        uint16_t h = mml_double_to_half(v);
        memcpy(p, &h, 2);
    } else if (dtype == MML_F32) {
        float f = (float)v;
        memcpy(p, &f, 4);
    } else {
        memcpy(p, &v, 8);
    }
}

/* A row's margin - x[y], with x[y] element y of the row at x: in float64,
 * or for float16 in float32 as its terms are (then exact as a double). */
static inline double mml__row_margin(int dtype, int32_t margin, const void *x, uint64_t y)
{
    if (dtype == MML_F16)
        return (float)margin - (float)mml__get(dtype, x, y);
    return (double)margin - mml__get(dtype, x, y);
}

/* One step of the lane combine: (hi, lo) += (bhi, blo) as a TwoSum of the
 * his and a plain sum of the los and its error, without renormalizing.
 * Where hi is not finite lo means nothing (it may be NaN): a sum that
 * is not finite never becomes finite again, so the last step's
 * mml__lane_round() gives hi alone then. */
static inline void mml__lane_add(double *hi, double *lo, double bhi, double blo)
{
    double t = *hi + bhi;
    double bp = t - *hi;
    double e = (*hi - (t - bp)) + (bhi - bp);   /* TwoSum: t + e == hi + bhi */
    *lo = (*lo + blo) + e;
    *hi = t;
}

/* A combined pair rounded to one float64: hi + lo, or hi if not finite. */
static inline double mml__lane_round(double hi, double lo)
{
    return isfinite(hi) ? hi + lo : hi;
}

/* Double-double addition (the row tree's nodes): mml__lane_add, then the
 * pair renormalized (Fast2Sum, |hi| >= |lo|). A non-finite hi is carried
 * as is, with lo = 0. */
static inline void mml__dd_add(double *hi, double *lo, double bhi, double blo)
{
    mml__lane_add(hi, lo, bhi, blo);
    if (isfinite(*hi)) {
        double s = *hi + *lo;
        *lo = *lo - (s - *hi);
        *hi = s;
    } else {
        *lo = 0.0;
    }
}

/* The vector forms, lane by lane on a GCC vector type VT (__m512d,
 * __m256d, __m128d) whose comparisons give the integer vector MT: the
 * same operations in the same order, so the same bits. Both start with
 * MML__VEC_TWO_SUM: t = hi + bhi, l = lo + blo + t's TwoSum error. */
#define MML__VEC_TWO_SUM(VT)                                                   \
    VT t = *hi + bhi;                                                         \
    VT bp = t - *hi;                                                          \
    VT l = (*lo + blo) + ((*hi - (t - bp)) + (bhi - bp))

#define MML__LANE_ADD_VEC(name, VT)                                            \
    static inline __attribute__((always_inline)) void name(                  \
        VT *hi, VT *lo, VT bhi, VT blo)                                       \
    {                                                                         \
        MML__VEC_TWO_SUM(VT);                                                  \
        *hi = t;                                                              \
        *lo = l;                                                              \
    }

/* fin: all-ones in the lanes where t is finite (t - t is 0 exactly then). */
#define MML__DD_ADD_VEC(name, VT, MT)                                          \
    static inline __attribute__((always_inline)) void name(                  \
        VT *hi, VT *lo, VT bhi, VT blo)                                       \
    {                                                                         \
        MML__VEC_TWO_SUM(VT);                                                  \
        MT fin = (MT)((t - t) == (t - t));                                    \
        VT s = t + l;                                                         \
        VT nlo = l - (s - t);                                                 \
        *hi = (VT)((fin & (MT)s) | (~fin & (MT)t));                           \
        *lo = (VT)(fin & (MT)nlo);                                            \
    }

/* The last step of mml__lanes_combine: lane 0 + lane 1 of a pair, rounded. */
static inline double mml__lane_last(double hi0, double lo0, double hi1, double lo1)
{
    mml__lane_add(&hi0, &lo0, hi1, lo1);
    return mml__lane_round(hi0, lo0);
}

/* Sum of the lanes (s[k] + c[k]) in the fixed order above. c may be NULL
 * for plain lanes. */
static inline double mml__lanes_combine(const double s[MML__LANES],
                                        const double c[MML__LANES])
{
    double hi[MML__LANES], lo[MML__LANES];
    for (int k = 0; k < MML__LANES; k++) {
        hi[k] = s[k];
        lo[k] = c ? c[k] : 0.0;
    }
    if (!c) {
        for (int half = MML__LANES / 2; half >= 1; half /= 2)
            for (int k = 0; k < half; k++)
                hi[k] = hi[k] + hi[k + half];
        return hi[0];
    }
    for (int half = MML__LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            mml__lane_add(&hi[k], &lo[k], hi[k + half], lo[k + half]);
    return mml__lane_round(hi[0], lo[0]);
}

/* A float16 row's 32 float32 lanes s[0..32) combined: k + k+16, then
 * k + k+8, k+4, k+2, k+1, in float32. */
static inline float mml__lanes_combine_f32(const float s[2 * MML__LANES])
{
    float t[MML__LANES];
    for (int k = 0; k < MML__LANES; k++)
        t[k] = s[k] + s[k + MML__LANES];
    for (int half = MML__LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            t[k] = t[k] + t[k + half];
    return t[0];
}

/* Lane masks shared by the SIMD paths: keep[k] drops lane k (the target
 * column), valid[r] keeps lanes below r (a row's tail); for float64 lanes,
 * and (32) for float32 ones. */
extern const uint64_t mml__lane_keep[MML__LANES][MML__LANES];
extern const uint64_t mml__lane_valid[MML__LANES + 1][MML__LANES];
extern const uint32_t mml__lane_keep32[MML__LANES][MML__LANES];
extern const uint32_t mml__lane_valid32[MML__LANES + 1][MML__LANES];

#endif
