/* mml.h - multi_margin_loss: request validation, SIMD kernels, row blocks.
 *
 * The public interface of core/. Pure computation: no I/O, no allocation
 * in the kernels, no dependency on libmicrohttpd, libuv or cJSON. What
 * core/'s files share beyond this is internal: kernel.h, names mml__*.
 *
 * Typical use:
 *
 *     mml_error err;
 *     if (mml_validate(&desc, &err) < 0) ... report err ...
 *     if (mml_validate_targets(target, n, c, &err) < 0) ... report err ...
 *     mml_compute(&req, out);            // or mml_rows() per block + merge
 */
#ifndef LOSSD_MML_H
#define LOSSD_MML_H

#include <stddef.h>
#include <stdint.h>

/* Dtype codes are the binary frame's codes (docs/wire.md). */
typedef enum mml_dtype {
    MML_F16 = 1,
    MML_F32 = 2,
    MML_F64 = 3
} mml_dtype;

/* Reduction codes are the binary frame's codes (docs/wire.md). */
typedef enum mml_reduction {
    MML_NONE = 0,
    MML_MEAN = 1,
    MML_SUM = 2
} mml_reduction;

/* Error codes: 0 is success, every failure is negative. The name is the
 * error type clients see ("TypeError"), the status the HTTP status. */
#define MML_ERRNO_MAP(XX)                              \
    XX(ETYPE,    -1, "TypeError",            400)      \
    XX(EVALUE,   -2, "ValueError",           400)      \
    XX(EBADREQ,  -3, "BadRequest",           400)      \
    XX(ETOOBIG,  -4, "PayloadTooLarge",      413)      \
    XX(EMEDIA,   -5, "UnsupportedMediaType", 415)      \
    XX(ENOMEM,   -6, "InternalError",        500)      \
    XX(ESIMD,    -7, "SimdUnsupported",      500)      \
    XX(EBUSY,    -8, "Overloaded",           503)

typedef enum mml_errno {
    MML_OK = 0,
#define XX(code, val, name, status) MML_##code = (val),
    MML_ERRNO_MAP(XX)
#undef XX
} mml_errno;

/* "TypeError" etc.; "InternalError" for an unknown code. */
const char *mml_err_name(int code);
/* HTTP status for a code: 400, 413, 415, 500 or 503. */
int mml_err_status(int code);

/* A failure as clients see it: type (from code), the field at fault
 * ("input", "target", "p", ...) and a message a user can act on. */
typedef struct mml_error {
    int code;
    char field[32];
    char message[224];
} mml_error;

/* Fill *err (which may be NULL) and return code, so callers can write
 * `return mml_error_set(err, MML_EVALUE, "p", "p must be 1 or 2, got %d", p);` */
int mml_error_set(mml_error *err, int code, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Element size of a dtype in bytes; 0 for an invalid code. */
size_t mml_dtype_size(int dtype);
/* "float16", "float32", "float64"; NULL for an invalid code. */
const char *mml_dtype_name(int dtype);
/* Dtype code from its name, or 0 when unknown. */
int mml_dtype_from_name(const char *name);
/* "none", "mean", "sum"; NULL for an invalid code. */
const char *mml_reduction_name(int reduction);
/* Reduction code from its name, or -1 when unknown. */
int mml_reduction_from_name(const char *name);

/* A request as decoded from any wire format, before it is trusted.
 * Fields a format does not carry keep the value mml_desc_init() gave. */
typedef struct mml_desc {
    int dtype;                /* input dtype code; 0 = not a supported dtype */
    int input_rank;
    uint64_t n, c;            /* input shape when input_rank == 2 */
    int target_rank;
    uint64_t target_len;      /* target shape[0] when target_rank == 1 */
    int target_int64;         /* 1 when target is int64 */
    int has_weight;
    int weight_dtype;
    int weight_rank;
    uint64_t weight_len;
    int64_t p;
    int64_t margin;
    int reduction;            /* -1 = not a known name */
} mml_desc;

/* Defaults of the JSON request (docs/wire.md): float32, p = 1, margin = 1, mean, no weight,
 * target int64. Shapes are left unset (rank 0). */
void mml_desc_init(mml_desc *d);

/* Check everything but the target values against the validation rules (docs/wire.md), TypeErrors
 * before ValueErrors. Returns 0 or a negative code with *err filled. */
int mml_validate(const mml_desc *d, mml_error *err);

/* Check 0 <= target[i] < c for every i; the message names the first bad
 * index and value. Returns 0 or MML_EVALUE. */
int mml_validate_targets(const int64_t *target, uint64_t n, uint64_t c,
                         mml_error *err);

/* Bytes of input + target + weight without wrapping: 0 and *bytes set, or
 * MML_ETOOBIG when the total does not fit in uint64_t. */
int mml_request_bytes(int dtype, uint64_t n, uint64_t c, int has_weight,
                      uint64_t *bytes);

/* A validated request. Buffers may have any alignment; the kernels only
 * read them. */
typedef struct mml_request {
    mml_dtype dtype;
    int p;                    /* 1 or 2 */
    int32_t margin;
    mml_reduction reduction;
    uint64_t n, c;            /* c >= 1 */
    const void *input;        /* n * c elements of dtype, row-major */
    const int64_t *target;    /* n values in [0, c) */
    const void *weight;       /* c elements of dtype, or NULL */
} mml_request;

/* Partial sum of a run of rows, for mean and sum. Row values are added in
 * a fixed binary tree over the row index (see rows.c), so a partial only
 * needs the nodes that its rows complete: at most two per tree level. */
#define MML_PARTIAL_MAX 130
typedef struct mml_partial {
    int count;
    struct mml_node {
        double hi, lo;        /* value as an unevaluated sum hi + lo */
        uint64_t index;       /* node covers rows [index << level, (index + 1) << level) */
        int level;
    } node[MML_PARTIAL_MAX];
} mml_partial;

void mml_partial_init(mml_partial *part);

/* Compute rows [a, b) of req. With reduction none the row losses are
 * written to out[a..b) in the request dtype (out has n elements);
 * otherwise they are added to *part, which must hold rows [x, a) for
 * some x (or be empty with a the first row of the block). Thread-safe. */
void mml_rows(const mml_request *req, uint64_t a, uint64_t b, void *out,
              mml_partial *part);

/* Append *next (rows [b, c)) to *acc (rows [a, b)). The result has the
 * same bits however the rows were split. */
void mml_partial_merge(mml_partial *acc, const mml_partial *next);

/* Write the reduced loss (one element of req->dtype) from a partial that
 * holds rows [0, n). Mean of zero rows is NaN, sum of zero rows 0. */
void mml_finish(const mml_request *req, const mml_partial *all, void *out);

/* Whole request in one block on the calling thread. out holds n elements
 * (none) or one (mean, sum) of req->dtype. Every output (here and from
 * mml_rows, mml_finish) that is NaN is the positive quiet NaN, so that it
 * has the same bytes on every path and for every split. */
void mml_compute(const mml_request *req, void *out);

/* Number of output elements: n for none, else 1. */
uint64_t mml_out_count(const mml_request *req);

/* SIMD paths, in order of preference. */
typedef enum mml_simd {
    MML_SIMD_SCALAR = 0,
    MML_SIMD_SSE2,
    MML_SIMD_AVX2,
    MML_SIMD_AVX512,
    MML_SIMD_NEON,
    MML_SIMD_COUNT
} mml_simd;

/* Pick the kernel table once: the best path the CPU and OS support, or
 * the one LOSSD_SIMD names. Returns 0, or MML_ESIMD with *err naming the
 * problem when LOSSD_SIMD is unknown or unsupported here. Calling it
 * again is harmless; mml_rows() calls it with defaults if nobody did. */
int mml_init(mml_error *err);
/* Force a path (tests, benchmarks). 0 or MML_ESIMD when unsupported. */
int mml_set_simd(mml_simd path);
/* Path in use and its name ("avx2"). */
mml_simd mml_simd_active(void);
const char *mml_simd_name(mml_simd path);
/* 1 when this CPU and build can run path. */
int mml_simd_supported(mml_simd path);

/* IEEE binary16 conversions, round to nearest even, subnormals, inf and
 * NaN handled exactly. */
float mml_half_to_float(uint16_t h);
uint16_t mml_double_to_half(double v);
/* Element i of a buffer of dtype, as a double (exact). */
double mml_load(int dtype, const void *buf, uint64_t i);
/* Store v rounded once to dtype into element i of buf. */
void mml_store(int dtype, void *buf, uint64_t i, double v);

#endif
