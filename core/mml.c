/* mml.c - multi_margin_loss: errors, names, validation, element conversions.
 *
 * The bottom of core/: it calls no other file of it (kernel.h lends it the
 * inline accessors). The row blocks are in rows.c. */
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

/* ---- validation (docs/wire.md, "Validation") --------------------------------------------- */

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
    return mml__h2f(h);
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
    return mml__get(dtype, buf, i);
}

void mml_store(int dtype, void *buf, uint64_t i, double v)
{
    mml__put(dtype, buf, i, v);
}
