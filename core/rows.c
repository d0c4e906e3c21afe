/* rows.c - the row blocks of mml.h: rows through the kernel in use, their
 * values added in a fixed tree, partials merged and finished.
 *
 * Above the kernels: it calls dispatch.c for the kernel and the subtree of
 * the path in use, and mml.c to round float16 outputs; nothing in core/
 * calls back into it (kernel.h). */
#include <assert.h>
#include <math.h>

#include "kernel.h"
#include "mml.h"

/* Rows are added in a fixed binary tree over their index: node (level L,
 * index i) is the sum of rows [i << L, (i + 1) << L), computed as node
 * (L-1, 2i) + node (L-1, 2i+1). A block only ever completes nodes, and a
 * node's value depends on nothing but the rows under it, so any split of
 * [0, n) into blocks, merged in order, reaches the same nodes with the
 * same bits. Pairwise addition with double-double nodes also bounds the
 * error of a sum of n rows by O(log n) units of 2^-106. The root is the
 * canonical decomposition of [0, n), folded left to right. */

void mml_partial_init(mml_partial *part)
{
    part->count = 0;
}

static void partial_push(mml_partial *part, double hi, double lo, uint64_t index, int level)
{
    while (part->count > 0) {
        struct mml_node *top = &part->node[part->count - 1];
        if (top->level != level || (top->index & 1) || top->index + 1 != index)
            break;
        mml__dd_add(&top->hi, &top->lo, hi, lo);   /* left sibling + right sibling */
        hi = top->hi;
        lo = top->lo;
        index = top->index >> 1;
        level++;
        part->count--;
    }
    assert(part->count < MML_PARTIAL_MAX);
    part->node[part->count++] = (struct mml_node){ hi, lo, index, level };
}

void mml_partial_merge(mml_partial *acc, const mml_partial *next)
{
    for (int k = 0; k < next->count; k++)
        partial_push(acc, next->node[k].hi, next->node[k].lo, next->node[k].index,
                     next->node[k].level);
}

#define ROW_CHUNK 256

/* An output element. Which of two NaNs an addition keeps depends on the
 * order of its operands, which the compiler may swap, and on how the rows
 * were split into blocks; a NaN result is therefore always stored as the
 * one quiet NaN, so that every path and split gives the same bytes. */
static void store_out(const mml_request *req, void *out, uint64_t i, double v)
{
    mml__put(req->dtype, out, i, isnan(v) ? NAN : v);
}

/* Add rows [r, end) with values vals[0..) to *part as whole aligned
 * subtrees: the largest node starting at each row that fits. */
static void push_rows(mml_partial *part, const double *vals, uint64_t r, uint64_t end)
{
    const mml__tree_fn subtree = mml__subtree_active();
    double hi[ROW_CHUNK / 2], lo[ROW_CHUNK / 2];

    for (uint64_t i = r; i < end;) {
        int level = 0;
        while (level < 8 && (i & ((UINT64_C(2) << level) - 1)) == 0 &&
               end - i >= (UINT64_C(2) << level))
            level++;
        uint64_t n = UINT64_C(1) << level;
        subtree(vals + (i - r), hi, lo, n);
        partial_push(part, hi[0], lo[0], i >> level, level);
        i += n;
    }
}

void mml_rows(const mml_request *req, uint64_t a, uint64_t b, void *out, mml_partial *part)
{
    mml__rows_fn rows = mml__rows_active();
    double vals[ROW_CHUNK];

    for (uint64_t r = a; r < b;) {
        uint64_t end = b - r > ROW_CHUNK ? r + ROW_CHUNK : b;
        rows(req, r, end, vals);
        if (req->reduction == MML_NONE)
            for (uint64_t i = r; i < end; i++)
                store_out(req, out, i, vals[i - r]);
        else
            push_rows(part, vals, r, end);
        r = end;
    }
}

void mml_finish(const mml_request *req, const mml_partial *all, void *out)
{
    double hi = 0.0, lo = 0.0;
    for (int k = 0; k < all->count; k++)
        mml__dd_add(&hi, &lo, all->node[k].hi, all->node[k].lo);
    double sum = isfinite(hi) ? hi + lo : hi;
    double v = req->reduction == MML_MEAN ? sum / (double)req->n : sum;   /* 0/0 = NaN */
    store_out(req, out, 0, v);
}

uint64_t mml_out_count(const mml_request *req)
{
    return req->reduction == MML_NONE ? req->n : 1;
}

void mml_compute(const mml_request *req, void *out)
{
    mml_partial part;
    mml_partial_init(&part);
    mml_rows(req, 0, req->n, out, &part);
    if (req->reduction != MML_NONE)
        mml_finish(req, &part, out);
}
