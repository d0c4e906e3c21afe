/* mml.c - multi_margin_loss: errors, validation, conversions, row blocks. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "mml.h"

/* ---- errors ---------------------------------------------------------- */

const char *mml_err_name(int code)
{
    switch (code) {
#define XX(c, val, name, status) case MML_##c: return name;
    MML_ERRNO_MAP(XX)
#undef XX
    default: return "InternalError";
    }
}

int mml_err_status(int code)
{
    switch (code) {
#define XX(c, val, name, status) case MML_##c: return status;
    MML_ERRNO_MAP(XX)
#undef XX
    default: return 500;
    }
}

int mml_error_set(mml_error *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- names ----------------------------------------------------------- */

static const char *const dtype_names[] = { NULL, "float16", "float32", "float64" };
static const char *const reduction_names[] = { "none", "mean", "sum" };

size_t mml_dtype_size(int dtype)
{
    switch (dtype) {
    case MML_F16: return 2;
    case MML_F32: return 4;
    case MML_F64: return 8;
    default: return 0;
    }
}

const char *mml_dtype_name(int dtype)
{
    return dtype >= MML_F16 && dtype <= MML_F64 ? dtype_names[dtype] : NULL;
}

int mml_dtype_from_name(const char *name)
{
    for (int d = MML_F16; d <= MML_F64; d++)
        if (name && strcmp(name, dtype_names[d]) == 0)
            return d;
    return 0;
}

const char *mml_reduction_name(int reduction)
{
    return reduction >= MML_NONE && reduction <= MML_SUM ? reduction_names[reduction] : NULL;
}

int mml_reduction_from_name(const char *name)
{
    for (int r = MML_NONE; r <= MML_SUM; r++)
        if (name && strcmp(name, reduction_names[r]) == 0)
            return r;
    return -1;
}

/* ---- validation (SPEC 2) --------------------------------------------- */

void mml_desc_init(mml_desc *d)
{
    memset(d, 0, sizeof *d);
    d->dtype = MML_F32;
    d->target_int64 = 1;
    d->p = 1;
    d->margin = 1;
    d->reduction = MML_MEAN;
}

static int check_types(const mml_desc *d, mml_error *err)
{
    if (!mml_dtype_name(d->dtype))
        return mml_error_set(err, MML_ETYPE, "dtype",
                             "input dtype must be float16, float32 or float64");
    if (d->has_weight && d->weight_dtype != d->dtype)
        return mml_error_set(err, MML_ETYPE, "weight",
                             "weight dtype %s must equal the input dtype %s",
                             mml_dtype_name(d->weight_dtype) ? mml_dtype_name(d->weight_dtype)
                                                             : "(unsupported)",
                             mml_dtype_name(d->dtype));
    if (!d->target_int64)
        return mml_error_set(err, MML_ETYPE, "target", "target dtype must be int64");
    return 0;
}

static int check_shapes(const mml_desc *d, mml_error *err)
{
    if (d->input_rank != 2)
        return mml_error_set(err, MML_EVALUE, "input",
                             "input must be 2-D (N, C), got rank %d", d->input_rank);
    if (d->target_rank != 1)
        return mml_error_set(err, MML_EVALUE, "target",
                             "target must be 1-D (N,), got rank %d", d->target_rank);
    if (d->has_weight && d->weight_rank != 1)
        return mml_error_set(err, MML_EVALUE, "weight",
                             "weight must be 1-D (C,), got rank %d", d->weight_rank);
    if (d->c == 0)
        return mml_error_set(err, MML_EVALUE, "input",
                             "input.shape[1] (C) must be at least 1, got 0");
    if (d->n != d->target_len)
        return mml_error_set(err, MML_EVALUE, "target",
                             "input.shape[0] = %llu does not match target.shape[0] = %llu",
                             (unsigned long long)d->n, (unsigned long long)d->target_len);
    if (d->has_weight && d->weight_len != d->c)
        return mml_error_set(err, MML_EVALUE, "weight",
                             "input.shape[1] = %llu does not match weight.shape[0] = %llu",
                             (unsigned long long)d->c, (unsigned long long)d->weight_len);
    return 0;
}

int mml_validate(const mml_desc *d, mml_error *err)
{
    int rc = check_types(d, err);
    if (rc < 0)
        return rc;
    if (d->p != 1 && d->p != 2)
        return mml_error_set(err, MML_EVALUE, "p", "p must be 1 or 2, got %lld",
                             (long long)d->p);
    if (d->margin < INT32_MIN || d->margin > INT32_MAX)
        return mml_error_set(err, MML_EVALUE, "margin",
                             "margin must fit in a signed 32-bit integer, got %lld",
                             (long long)d->margin);
    if (!mml_reduction_name(d->reduction))
        return mml_error_set(err, MML_EVALUE, "reduction",
                             "reduction must be one of none, mean, sum");
    rc = check_shapes(d, err);
    if (rc < 0)
        return rc;
    uint64_t bytes;
    if (mml_request_bytes(d->dtype, d->n, d->c, d->has_weight, &bytes) < 0)
        return mml_error_set(err, MML_ETOOBIG, "input",
                             "input of shape (%llu, %llu) is too large",
                             (unsigned long long)d->n, (unsigned long long)d->c);
    return 0;
}

int mml_validate_targets(const int64_t *target, uint64_t n, uint64_t c, mml_error *err)
{
    for (uint64_t i = 0; i < n; i++)
        if (target[i] < 0 || (uint64_t)target[i] >= c)
            return mml_error_set(err, MML_EVALUE, "target",
                                 "target[%llu] = %lld is out of range [0, %llu)",
                                 (unsigned long long)i, (long long)target[i],
                                 (unsigned long long)c);
    return 0;
}

int mml_request_bytes(int dtype, uint64_t n, uint64_t c, int has_weight, uint64_t *bytes)
{
    uint64_t size = mml_dtype_size(dtype), elems, in, tg, total;
    if (size == 0 ||
        __builtin_mul_overflow(n, c, &elems) ||
        __builtin_mul_overflow(elems, size, &in) ||
        __builtin_mul_overflow(n, (uint64_t)8, &tg) ||
        __builtin_add_overflow(in, tg, &total))
        return MML_ETOOBIG;
    if (has_weight) {
        uint64_t wb;
        if (__builtin_mul_overflow(c, size, &wb) || __builtin_add_overflow(total, wb, &total))
            return MML_ETOOBIG;
    }
    *bytes = total;
    return 0;
}

/* ---- binary16 -------------------------------------------------------- */

float mml_half_to_float(uint16_t h)
{
    return mml_h2f(h);
}

uint16_t mml_double_to_half(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    uint16_t sign = (uint16_t)((bits >> 48) & 0x8000);
    double a = fabs(v);
    if (isnan(v))
        return sign | 0x7e00;
    if (a >= 65520.0)                       /* rounds to inf: max half + half ulp */
        return sign | 0x7c00;
    if (a < 0x1p-14) {
        /* Subnormal range: the value in units of 2^-24, rounded to
         * nearest even by the FPU's own rounding (exact scaling). */
        double q = nearbyint(a * 0x1p24);
        return sign | (uint16_t)q;          /* q == 1024 yields the smallest normal */
    }
    int e;
    double m = frexp(a, &e);                /* a = m * 2^e, m in [0.5, 1) */
    double q = nearbyint(ldexp(m, 11));     /* 11 significant bits, RNE */
    if (q == 2048.0) {
        q = 1024.0;
        e++;
    }
    uint16_t exp = (uint16_t)(e - 1 + 15);
    return sign | (uint16_t)(exp << 10) | (uint16_t)((uint64_t)q - 1024);
}

double mml_load(int dtype, const void *buf, uint64_t i)
{
    return mml_get(dtype, buf, i);
}

void mml_store(int dtype, void *buf, uint64_t i, double v)
{
    switch (dtype) {
    case MML_F16: {
        uint16_t h = mml_double_to_half(v);
        memcpy((char *)buf + 2 * i, &h, 2);
        break;
    }
    case MML_F32: {
        float f = (float)v;
        memcpy((char *)buf + 4 * i, &f, 4);
        break;
    }
    default:
        memcpy((char *)buf + 8 * i, &v, 8);
        break;
    }
}

/* ---- row blocks ------------------------------------------------------ */

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
        mml_dd_add(&top->hi, &top->lo, hi, lo);   /* left sibling + right sibling */
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
    mml_store(req->dtype, out, i, isnan(v) ? NAN : v);
}

/* kernel.h's subtree: the same additions partial_push() would make, level
 * by level. They are independent of each other, where pushing leaf by leaf
 * chains every row through the top of the stack (about 40 cycles a row). */
void mml_subtree_scalar(const double *leaf, double *hi, double *lo, uint64_t n)
{
    if (leaf && n == 1) {
        hi[0] = leaf[0];
        lo[0] = 0.0;
    }
    for (; n > 1; n /= 2, leaf = NULL)
        for (uint64_t k = 0; k < n / 2; k++) {
            const double *src = leaf ? leaf : hi;
            double h = src[2 * k], l = leaf ? 0.0 : lo[2 * k];
            mml_dd_add(&h, &l, src[2 * k + 1], leaf ? 0.0 : lo[2 * k + 1]);
            hi[k] = h;
            lo[k] = l;
        }
}

/* Add rows [r, end) with values vals[0..) to *part as whole aligned
 * subtrees: the largest node starting at each row that fits. */
static void push_rows(mml_partial *part, const double *vals, uint64_t r, uint64_t end)
{
    const mml_tree_fn subtree = mml_subtree_active();
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
    mml_rows_fn rows = mml_rows_active();
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
        mml_dd_add(&hi, &lo, all->node[k].hi, all->node[k].lo);
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
