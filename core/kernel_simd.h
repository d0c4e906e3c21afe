/* kernel_simd.h - the row loop shared by the SIMD kernels, included once by each.
 *
 * A kernel file defines its vector primitives, then includes this file
 * with KERNEL_ENTRY set to its entry point's name:
 *
 *   vec16, acc16, mask16, vbcast   sixteen lanes of values, sums, lane mask,
 *                                  one value broadcast to every lane (float64
 *                                  lanes, and float32 ones for float16 rows)
 *   vset1(d)                       broadcast
 *   vm_set(&vm, &vmy, d, k, dtype) d in every lane of vm; vmy the same but
 *                                  with -inf in lane k
 *   load16(x, dtype, &v)           sixteen elements of dtype widened to float64
 *                                  (float16 to float32)
 *   mask_valid(r)                  lanes below r
 *   acc_zero(&a)                   every lane sum +0.0
 *   add_terms(&a, &v, &vm, vw, keep, dtype, p, weighted)
 *                                  lane l += term of v[l], with vm[l] as
 *                                  margin - x[y], in the lanes keep has
 *                                  (keep NULL: every lane)
 *   acc_finish(&a, dtype)          the lanes combined in mml_lanes_combine's order
 *
 * The target column is dropped through its margin, not a mask: in the one
 * vector that holds it, vmy gives z = -inf + x[y] (-inf or NaN), never > 0,
 * so the column adds nothing, as the order requires. The loop then needs
 * no mask, only a choice between two margin vectors, where a mask cost a
 * move into a mask register on the vector port (margin_for()).
 *
 * when it defines KERNEL_FIRST, for a row's first sixteen columns (the
 * lanes are still +0.0):
 *
 *   add_terms_first(...), add_terms8_first(...)
 *                                  add_terms, add_terms8 that set each lane to
 *                                  0 + term (exact) and leave its error at 0
 *
 * when it defines KERNEL_HALF_TAIL, for a row's last columns when there are
 * at most eight of them (the other lanes are left alone, which is what
 * adding +0.0 to them would do):
 *
 *   load8(x, dtype, &v), add_terms8(...)   load16, add_terms on lanes 0-7
 *
 * and, when it defines KERNEL_BATCH (a row count), the same combine for that
 * many rows at once:
 *
 *   batch_stage                    the rows' lanes after the first steps
 *   acc_stage(&a, dtype, &st, i)   row i: the steps done one vector per row
 *   finish_batch(&st, dtype, c, vals)
 *                                  the other steps with one row per vector
 *                                  lane, each value divided by c
 *
 * The loop itself (target lane, tail, row value) is written once, here.
 */
#ifndef KERNEL_ENTRY
#error "define KERNEL_ENTRY before including kernel_simd.h"
#endif

#include <string.h>

/* add_terms() into lanes that hold nothing yet (acc_zero): a kernel may
 * define a cheaper one (0 + term is exact, the TwoSum error is zero). */
#ifndef KERNEL_FIRST
#define add_terms_first add_terms
#define add_terms8_first add_terms8
#endif

/* Bytes ahead of the loads to prefetch; 4 KiB measured best of 0.5-8 KiB. */
#define PREFETCH_AHEAD 4096

/* A prefetch of every cache line of the n bytes PREFETCH_AHEAD past p.
 * The loop does enough work per cache line that the out-of-order window
 * alone keeps too few lines in flight from DRAM: measured 8 GB/s without
 * it, 15-20 with it (float32, 1024 x 32000). */
ALWAYS_INLINE void prefetch(const char *p, size_t n)
{
    #pragma GCC unroll 8
    for (size_t o = 0; o < n; o += 64)
        __builtin_prefetch(p + PREFETCH_AHEAD + o);
}

/* The margins of a vector of the row: vm[1] if it holds column y, else
 * vm[0]. GCC makes this a branch, mispredicted about once a row, at the
 * vector holding column y, and keeps both margins in registers. Indexing
 * vm[holds_y] has no branch, but costs five scalar instructions a vector
 * and keeps both margins in memory. A float16 row of 100 columns takes
 * 10.5 ns with the branch against 12.1 with the index (AVX-512, best of
 * 15 runs); float32, float64 and the AVX2 and SSE2 paths show no
 * difference that outlasts the noise. */
ALWAYS_INLINE vec16 margin_for(const vec16 vm[2], int holds_y)
{
    vec16 m = vm[0];
    if (holds_y)
        m = vm[1];
    return m;
}

/* Columns j .. j+15 of the row at x, a full vector: its terms added to *a. */
ALWAYS_INLINE void step(const char *x, uint64_t j, uint64_t jy, const vec16 vm[2], vbcast vw,
                        int dtype, int p, int weighted, acc16 *a)
{
    vec16 v;
    const vec16 m = margin_for(vm, j == jy);
    load16(x + j * mml_es(dtype), dtype, &v);
    add_terms(a, &v, &m, vw, NULL, dtype, p, weighted);
}

/* The lanes of the c columns at x, accumulated into *a: a row, or a
 * segment of a long float16 row (kernel.h). y: the target column among
 * them, or UINT64_MAX for none; mxy: the row's margin - x[y]; keep: the
 * lanes of the tail (C % 16 of them, the same for every row and the
 * last segment). */
ALWAYS_INLINE void cols_acc(const char *x, uint64_t c, uint64_t y, double mxy, vbcast vw,
                            const char *end, const mask16 *keep, int dtype, int p, int weighted,
                            acc16 *a)
{
    const size_t es = mml_es(dtype);
    const uint64_t jy = y & ~(uint64_t)(MML_LANES - 1);   /* the vector holding column y */
    vec16 vm[2], v;                      /* margin - x[y]; [1]: column y's lane dropped */
    uint64_t j = 0;

    vm_set(&vm[0], &vm[1], mxy, (int)(y % MML_LANES), dtype);
    acc_zero(a);
    if (c >= MML_LANES) {                       /* each lane's first term */
        const vec16 m = margin_for(vm, jy == 0);
        load16(x, dtype, &v);
        add_terms_first(a, &v, &m, vw, NULL, dtype, p, weighted);
        j = MML_LANES;
    }
    /* Two vectors a step, written out: the float16 kernels alternate
     * between two sets of lanes (add_terms), which then stay each in its
     * own registers instead of being moved at every vector. */
    for (; j + 2 * MML_LANES <= c; j += 2 * MML_LANES) {
        prefetch(x + j * es, 2 * MML_LANES * es);
        step(x, j, jy, vm, vw, dtype, p, weighted, a);
        step(x, j + MML_LANES, jy, vm, vw, dtype, p, weighted, a);
    }
    if (j + MML_LANES <= c) {
        prefetch(x + j * es, MML_LANES * es);
        step(x, j, jy, vm, vw, dtype, p, weighted, a);
        j += MML_LANES;
    }
    if (j < c) {
        /* Tail: lanes past C are masked off. Read through a zeroed copy
         * only when the vector would run past the end of the input. */
        const char *src = x + j * es;
        char tmp[8 * MML_LANES];
        if (src + MML_LANES * es > end) {      /* the last row only */
            memset(tmp, 0, sizeof tmp);
            memcpy(tmp, src, (c - j) * es);
            src = tmp;
        }
        const vec16 m = margin_for(vm, j == jy);
#ifdef KERNEL_HALF_TAIL
        if (c - j <= MML_LANES / 2) {
            load8(src, dtype, &v);
            if (j == 0)
                add_terms8_first(a, &v, &m, vw, keep, dtype, p, weighted);
            else
                add_terms8(a, &v, &m, vw, keep, dtype, p, weighted);
            return;
        }
#endif
        load16(src, dtype, &v);
        if (j == 0)
            add_terms_first(a, &v, &m, vw, keep, dtype, p, weighted);
        else
            add_terms(a, &v, &m, vw, keep, dtype, p, weighted);
    }
}

/* What the columns of row r share: where it starts, its target column,
 * w[y] and margin - x[y]. */
typedef struct { const char *x; uint64_t y; vbcast vw; double mxy; } row_info;

ALWAYS_INLINE row_info row_of(const mml_request *req, uint64_t r, int dtype, int weighted)
{
    row_info ri;
    ri.y = (uint64_t)req->target[r];
    ri.x = (const char *)req->input + r * req->c * mml_es(dtype);
    ri.vw = vset1(weighted ? mml_get(dtype, req->weight, ri.y) : 1.0);
    ri.mxy = mml_row_margin(dtype, req->margin, ri.x, ri.y);
    return ri;
}

/* The lanes of row r, accumulated into *a. */
ALWAYS_INLINE void row_acc(const mml_request *req, uint64_t r, const char *end,
                           const mask16 *keep, int dtype, int p, int weighted, acc16 *a)
{
    const row_info ri = row_of(req, r, dtype, weighted);
    cols_acc(ri.x, req->c, ri.y, ri.mxy, ri.vw, end, keep, dtype, p, weighted, a);
}

/* A float16 row of more than MML_F16_SEGMENT columns: the segments'
 * sums added in float64 (kernel.h), divided by C. */
ALWAYS_INLINE double long_row_f16(const mml_request *req, uint64_t r, const char *end,
                                  const mask16 *keep, int p, int weighted)
{
    const row_info ri = row_of(req, r, MML_F16, weighted);
    double sum = 0.0;
    acc16 acc;
    for (uint64_t j0 = 0; j0 < req->c; j0 += MML_F16_SEGMENT) {
        const uint64_t n = req->c - j0 > MML_F16_SEGMENT ? MML_F16_SEGMENT : req->c - j0;
        const uint64_t y = ri.y - j0 < n ? ri.y - j0 : UINT64_MAX;     /* in it, or none */
        cols_acc(ri.x + j0 * mml_es(MML_F16), n, y, ri.mxy, ri.vw, end, keep, MML_F16, p,
                 weighted, &acc);
        sum += acc_finish(&acc, MML_F16);
    }
    return sum / (double)req->c;
}

ALWAYS_INLINE void rows(const mml_request *request, uint64_t a, uint64_t b, double *vals,
                        int dtype, int p, int weighted)
{
    /* A copy the vector stores to vals cannot alias: its fields stay in
     * registers instead of being read again after every batch. */
    const mml_request copy = *request, *req = &copy;
    const char *end = (const char *)req->input + req->n * req->c * mml_es(dtype);
    const mask16 keep = mask_valid((int)(req->c % MML_LANES));
    uint64_t r = a;
    acc16 acc;

    if (dtype == MML_F16 && req->c > MML_F16_SEGMENT) {
        for (; r < b; r++)
            vals[r - a] = long_row_f16(req, r, end, &keep, p, weighted);
        return;
    }

#ifdef KERNEL_BATCH
    /* KERNEL_BATCH rows' lanes are combined together (finish_batch): the
     * same additions as acc_finish(), but the rows' chains side by side
     * instead of one row's long chain after the other. */
    for (; r + KERNEL_BATCH <= b; r += KERNEL_BATCH) {
        batch_stage st;
        for (int i = 0; i < KERNEL_BATCH; i++) {
            row_acc(req, r + (uint64_t)i, end, &keep, dtype, p, weighted, &acc);
            acc_stage(&acc, dtype, &st, i);
        }
        finish_batch(&st, dtype, (double)req->c, vals + (r - a));
    }
#endif
    for (; r < b; r++) {
        row_acc(req, r, end, &keep, dtype, p, weighted, &acc);
        vals[r - a] = acc_finish(&acc, dtype) / (double)req->c;
    }
}

/* One function per (dtype, p, weighted), each with the loop specialised. */
#define ROWS(dt, pp, wt)                                                              \
    static void rows_##dt##_##pp##_##wt(const mml_request *q, uint64_t a, uint64_t b, \
                                        double *v)                                    \
    {                                                                                 \
        rows(q, a, b, v, MML_##dt, pp, wt);                                           \
    }
#define ROWS_P(dt) ROWS(dt, 1, 0) ROWS(dt, 1, 1) ROWS(dt, 2, 0) ROWS(dt, 2, 1)
ROWS_P(F16)
ROWS_P(F32)
ROWS_P(F64)

static const mml_rows_fn table[3][2][2] = {
    { { rows_F16_1_0, rows_F16_1_1 }, { rows_F16_2_0, rows_F16_2_1 } },
    { { rows_F32_1_0, rows_F32_1_1 }, { rows_F32_2_0, rows_F32_2_1 } },
    { { rows_F64_1_0, rows_F64_1_1 }, { rows_F64_2_0, rows_F64_2_1 } },
};

void KERNEL_ENTRY(const mml_request *req, uint64_t a, uint64_t b, double *vals)
{
    table[req->dtype - 1][req->p - 1][req->weight != NULL](req, a, b, vals);
}
