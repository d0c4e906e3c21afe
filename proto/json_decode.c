/* json_decode.c - streaming decoder for native JSON requests (SPEC 3.1).
 *
 * A hand-written incremental tokenizer drives a flat state machine; bytes
 * may arrive split anywhere, even inside a number, string or literal. The
 * body is never copied: a token cut by a chunk boundary is kept in a small
 * bounded buffer, and numbers go straight into chunked tensor buffers.
 *
 * Tensor storage: when "dtype" came before a tensor, its elements are
 * stored in that dtype at once; otherwise as doubles, converted when
 * finish() gathers the chunks into the final aligned buffer. Chunks are
 * freed as they are copied, so the resident peak is about the tensor
 * bytes plus one chunk; sent before "dtype", float32 tensors take twice
 * their size and float16 ones four times until finish(). Elements are
 * counted against max_body as they arrive (as 2-byte ones while the
 * dtype is unknown), so a body cannot make the decoder hold much more.
 *
 * Numbers: the common plain decimals of input rows are read in a hot loop
 * (separators found 64 bytes at a time, SWAR digits, Clinger's exact fast
 * path: row_block()); other tokens take a general
 * scanner, falling back to strtod on a copy of at most 513 bytes. Either
 * way the value is the correctly rounded double, then rounded to dtype.
 *
 * Errors are raised at the first token that makes the document invalid,
 * so one document gives the same error whatever the chunking. Semantic
 * errors follow SPEC 2; syntax errors are BadRequest "at byte <offset>". */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "json.h"
#include "json_num.h"
#include "native.h"
#include "utf8.h"

#define STR_MAX     63           /* string bytes kept; longer ones match nothing */
#define CHUNK_FIRST 4096
#define CHUNK_LAST  (1u << 20)

enum field { F_INPUT, F_TARGET, F_P, F_MARGIN, F_WEIGHT, F_REDUCTION, F_DTYPE, F_COUNT };
static const char *const field_names[F_COUNT] = {
    "input", "target", "p", "margin", "weight", "reduction", "dtype"
};

enum state {
    ST_BEGIN,                                   /* before '{' */
    ST_KEY_FIRST, ST_KEY, ST_COLON, ST_VALUE,   /* inside the object */
    ST_AFTER_VALUE,                             /* ',' or '}' */
    ST_END,                                     /* only whitespace may follow */
    ST_OUTER_FIRST, ST_OUTER_NEXT, ST_OUTER_VALUE,  /* input: the list of rows */
    ST_ROW_FIRST, ST_ROW_NEXT, ST_ROW_VALUE,        /* input: one row */
    ST_VEC_FIRST, ST_VEC_NEXT, ST_VEC_VALUE         /* target or weight */
};

enum lex { LEX_NONE, LEX_NUMBER, LEX_STRING, LEX_LITERAL };
enum esc { ESC_NONE, ESC_BS, ESC_HEX, ESC_LOW_BS, ESC_LOW_U };
enum kind { K_NUMBER, K_STRING, K_TRUE, K_FALSE, K_NULL, K_ARRAY, K_OBJECT };
static const char *const kind_names[] = {
    "a number", "a string", "true", "false", "null", "an array", "an object"
};


/* A tensor under construction: a list of chunks, all full but the last. */
typedef struct tbuf {
    unsigned char *cur, *end;   /* free space of the last chunk */
    unsigned char **chunk;
    size_t *cap;                /* bytes of each chunk */
    size_t nchunk, slots;
    int dtype;                  /* stored as: MML_F16/F32/F64, or 0 = int64 */
    size_t esize;               /* bytes per stored element */
    size_t charge;              /* bytes per element counted against max_body */
    uint64_t count;
} tbuf;

typedef struct json_decoder json_decoder;

struct json_decoder {
    decoder super;              /* first: the interface (decoder.h) */
    uint64_t max_body;
    uint64_t offset;            /* body bytes before the current chunk */
    const char *chunk;          /* the current chunk, for offsets */
    uint64_t tensor_bytes;      /* charged so far */
    payload_acct acct;          /* the chunks and gathered tensors in the memory budget */
    int rc;                     /* latched failure */
    mml_error err;
    bool finished;
    int want_frame;             /* answer with an MMR1 frame (Accept) */

    enum state state;
    enum field field;           /* whose value is being read */
    unsigned seen;              /* bit per field */

    enum lex lex;               /* token cut by a chunk boundary */
    uint64_t tok_start;
    char num[NUM_WINDOW + 1];
    size_t num_len;
    char str[STR_MAX + 1];
    size_t str_len;             /* may exceed STR_MAX: then truncated */
    enum esc esc;
    int hex_digits;
    uint32_t unit, high;
    utf8_state u8;              /* raw bytes of the string must be UTF-8 */
    const char *lit;
    size_t lit_pos;

    int dtype;                  /* 0 until "dtype" is seen */
    int64_t p, margin;
    int reduction;
    bool has_weight;
    uint64_t rows, cols, col;   /* input shape so far */
    tbuf input, target, weight;
};


/* ---- errors ----------------------------------------------------------- */

/* Latch a failure; every later call reports it. Returns the code. */
__attribute__((format(printf, 4, 5)))
static int fail(json_decoder *d, int code, const char *field, const char *fmt, ...)
{
    char msg[sizeof d->err.message];
    va_list ap;

    if (d->rc)
        return d->rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->rc = mml_error_set(&d->err, code, field, "%s", msg);
    return d->rc;
}

static uint64_t off_of(const json_decoder *d, const char *p)
{
    return d->offset + (uint64_t)(p - d->chunk);
}

/* A byte no token may start with here: BadRequest naming it. */
static int fail_unexpected(json_decoder *d, unsigned char c, uint64_t off)
{
    const char *what = d->state == ST_END ? "unexpected data after the JSON object:"
                     : d->state == ST_BEGIN ? "the body must be a JSON object: unexpected"
                     : "unexpected character";
    char shown[16];

    if (c >= 0x20 && c < 0x7f)
        snprintf(shown, sizeof shown, "'%c'", c);
    else
        snprintf(shown, sizeof shown, "byte 0x%02x", c);
    return fail(d, MML_EBADREQ, "body", "%s %s at byte %llu", what, shown,
                (unsigned long long)off);
}

/* ---- tensor buffers ----------------------------------------------------- */

static void tbuf_init(tbuf *b, int dtype, size_t charge)
{
    memset(b, 0, sizeof *b);
    b->dtype = dtype;
    b->esize = dtype ? mml_dtype_size(dtype) : sizeof(int64_t);
    b->charge = charge;
}

static void tbuf_release(tbuf *b, payload_acct *a)
{
    for (size_t i = 0; i < b->nchunk; i++)
        payload_mem_give(a, b->chunk[i]);
    free(b->chunk);
    free(b->cap);
    memset(b, 0, sizeof *b);
}

/* Add a chunk, doubling up to CHUNK_LAST bytes, charged to *a. 0, or
 * MML_ENOMEM, MML_EBUSY or MML_ETOOBIG (the memory budget, payload.h)
 * with *err filled. */
static int tbuf_grow(tbuf *b, payload_acct *a, const char *field, mml_error *err)
{
    size_t bytes = b->nchunk ? b->cap[b->nchunk - 1] * 2 : CHUNK_FIRST;

    if (bytes > CHUNK_LAST)
        bytes = CHUNK_LAST;
    if (b->nchunk == b->slots) {
        size_t slots = b->slots ? b->slots * 2 : 8;
        unsigned char **chunk = realloc(b->chunk, slots * sizeof *chunk);
        if (chunk == NULL)
            return mml_error_set(err, MML_ENOMEM, field, "out of memory while reading %s", field);
        b->chunk = chunk;
        size_t *cap = realloc(b->cap, slots * sizeof *cap);
        if (cap == NULL)
            return mml_error_set(err, MML_ENOMEM, field, "out of memory while reading %s", field);
        b->cap = cap;
        b->slots = slots;
    }
    b->chunk[b->nchunk] = payload_mem_take(a, bytes, field, err);
    if (b->chunk[b->nchunk] == NULL)
        return err->code;
    b->cap[b->nchunk] = bytes;
    b->cur = b->chunk[b->nchunk++];
    b->end = b->cur + bytes;
    return 0;
}

/* Room for one element, charged against max_body. 0 or a latched code. */
__attribute__((always_inline)) static inline int tbuf_room(json_decoder *d, tbuf *b, const char *field)
{
    d->tensor_bytes += b->charge;
    if (d->tensor_bytes > d->max_body)
        return fail(d, MML_ETOOBIG, field,
                    "%s has too many elements: the tensors would exceed the "
                    "body limit of %llu bytes", field,
                    (unsigned long long)d->max_body);
    mml_error e;
    if (b->cur == b->end && tbuf_grow(b, &d->acct, field, &e) < 0)
        return fail(d, e.code, field, "%s", e.message);
    return 0;
}

__attribute__((always_inline)) static inline int tbuf_push_value(json_decoder *d, tbuf *b, double v, const char *field)
{
    if (tbuf_room(d, b, field) < 0)
        return d->rc;
    if (b->dtype == MML_F32) {
        float f = (float)v;
        memcpy(b->cur, &f, sizeof f);
    } else if (b->dtype == MML_F64) {
        memcpy(b->cur, &v, sizeof v);
    } else {
        mml_store(b->dtype, b->cur, 0, v);
    }
    b->cur += b->esize;
    b->count++;
    return 0;
}

static int tbuf_push_int(json_decoder *d, tbuf *b, int64_t v, const char *field)
{
    if (tbuf_room(d, b, field) < 0)
        return d->rc;
    memcpy(b->cur, &v, sizeof v);
    b->cur += sizeof v;
    b->count++;
    return 0;
}

/* Move the elements into one PAYLOAD_ALIGN buffer of dtype (0 = int64),
 * converting if they were stored as doubles. *out is NULL when empty.
 * A lone chunk already in the right type is handed over as is; other
 * chunks are freed as soon as they are copied. Blocks are charged to *a
 * as tbuf_grow's. 0, or MML_ENOMEM, MML_EBUSY or MML_ETOOBIG with *err
 * filled. */
static int tbuf_take(tbuf *b, int dtype, payload_acct *a, void **out, mml_error *err)
{
    size_t out_size = dtype ? mml_dtype_size(dtype) : sizeof(int64_t);
    uint64_t i = 0;

    *out = NULL;
    if (b->count == 0)
        goto done;
    if (b->nchunk == 1 && b->dtype == dtype) {
        *out = b->chunk[0];
        b->nchunk = 0;
        goto done;
    }
    *out = payload_mem_take(a, b->count * out_size, "body", err);
    if (*out == NULL)
        return err->code;
    for (size_t k = 0; k < b->nchunk; k++) {
        size_t bytes = k + 1 < b->nchunk ? b->cap[k] : (size_t)(b->cur - b->chunk[k]);
        if (b->dtype == dtype) {
            memcpy((unsigned char *)*out + i * out_size, b->chunk[k], bytes);
            i += bytes / out_size;
        } else if (b->dtype == MML_F64 && dtype == MML_F32) {
            const double *src = (const double *)b->chunk[k];   /* the common case, inlined */
            float *dst = (float *)*out + i;
            for (size_t j = 0; j < bytes / sizeof(double); j++)
                dst[j] = (float)src[j];
            i += bytes / sizeof(double);
        } else {
            for (size_t j = 0; j < bytes / b->esize; j++, i++)
                mml_store(dtype, *out, i, mml_load(b->dtype, b->chunk[k], j));
        }
        payload_mem_give(a, b->chunk[k]);
        b->chunk[k] = NULL;
    }
    b->nchunk = 0;
done:
    tbuf_release(b, a);
    return 0;
}

/* ---- numbers (json_num.h) ----------------------------------------------- */

static bool is_numchar(int c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* ---- values --------------------------------------------------------------- */

static bool accepts_value(enum state s)
{
    return s == ST_VALUE || s == ST_OUTER_FIRST || s == ST_OUTER_VALUE ||
           s == ST_ROW_FIRST || s == ST_ROW_VALUE ||
           s == ST_VEC_FIRST || s == ST_VEC_VALUE;
}

static const char *numtok_text(const numtok *t, char *out, size_t size)
{
    return text_printable(t->s, t->len, out, size);
}

/* "NaN", "Infinity", "-Infinity" read as numbers; 0 or -1. */
static int special_number(const json_decoder *d, double *v)
{
    if (d->str_len == 3 && memcmp(d->str, "NaN", 3) == 0)
        *v = __builtin_nan("");
    else if (d->str_len == 8 && memcmp(d->str, "Infinity", 8) == 0)
        *v = __builtin_inf();
    else if (d->str_len == 9 && memcmp(d->str, "-Infinity", 9) == 0)
        *v = -__builtin_inf();
    else
        return -1;
    return 0;
}

/* A float element (input or weight) from a number or special string. */
static int element_value(json_decoder *d, enum kind k, const numtok *t, double *v)
{
    if (k == K_NUMBER) {
        *v = num_value(t);
        return 0;
    }
    return k == K_STRING ? special_number(d, v) : -1;
}

/* An integer-only field (p, margin): 0 with *out, or a latched error. */
static int int_field(json_decoder *d, enum kind k, const numtok *t, int64_t *out)
{
    const char *name = field_names[d->field];
    char text[48];

    if (k != K_NUMBER)
        return fail(d, MML_ETYPE, name, "%s must be an integer, got %s", name, kind_names[k]);
    if (!t->is_int)
        return fail(d, MML_ETYPE, name, "%s must be an integer, got %s", name,
                    numtok_text(t, text, sizeof text));
    if (num_int(t, out) < 0)
        return fail(d, MML_EVALUE, name, "%s = %s is out of range", name,
                    numtok_text(t, text, sizeof text));
    return 0;
}

/* reduction or dtype: a string naming a known value. */
static int name_field(json_decoder *d, enum kind k)
{
    const char *name = field_names[d->field];
    char text[40];

    if (k != K_STRING)
        return fail(d, MML_ETYPE, name, "%s must be a string, got %s", name, kind_names[k]);
    text_printable(d->str, d->str_len, text, sizeof text);
    if (d->field == F_REDUCTION) {
        d->reduction = d->str_len <= STR_MAX && strlen(d->str) == d->str_len   /* no \u0000 */
                           ? mml_reduction_from_name(d->str) : -1;
        if (d->reduction < 0)
            return fail(d, MML_EVALUE, name,
                        "reduction must be one of none, mean, sum, got \"%s\"", text);
    } else {
        d->dtype = d->str_len <= STR_MAX && strlen(d->str) == d->str_len
                       ? mml_dtype_from_name(d->str) : 0;
        if (d->dtype == 0)
            return fail(d, MML_ETYPE, name,
                        "dtype must be float16, float32 or float64, got \"%s\"", text);
    }
    return 0;
}

/* A scalar (not '[') where a field value is expected. */
static int field_value(json_decoder *d, enum kind k, const numtok *t)
{
    const char *name = field_names[d->field];
    int rc = 0;

    switch (d->field) {
    case F_P: rc = int_field(d, k, t, &d->p); break;
    case F_MARGIN: rc = int_field(d, k, t, &d->margin); break;
    case F_REDUCTION:
    case F_DTYPE: rc = name_field(d, k); break;
    case F_WEIGHT:
        if (k == K_NULL)
            break;
        /* fall through */
    default:
        if (k == K_NUMBER)
            return fail(d, MML_EVALUE, name, "%s must be a %s array, got a number (rank 0)",
                        name, d->field == F_INPUT ? "2-D" : "1-D");
        return fail(d, MML_ETYPE, name, "%s must be an array of %s, got %s", name,
                    d->field == F_TARGET ? "integers" : "numbers", kind_names[k]);
    }
    if (rc == 0)
        d->state = ST_AFTER_VALUE;
    return rc;
}

static int row_value(json_decoder *d, enum kind k, const numtok *t)
{
    double v;

    if (k == K_ARRAY)
        return fail(d, MML_EVALUE, "input",
                    "input must be 2-D (N, C): input[%llu][%llu] is an array",
                    (unsigned long long)d->rows, (unsigned long long)d->col);
    if (d->rows > 0 && d->col >= d->cols)
        return fail(d, MML_EVALUE, "input",
                    "input rows must have the same length: input[%llu] has more "
                    "elements than the %llu of input[0]",
                    (unsigned long long)d->rows, (unsigned long long)d->cols);
    if (element_value(d, k, t, &v) < 0)
        return fail(d, MML_ETYPE, "input", "input[%llu][%llu] must be a number, got %s",
                    (unsigned long long)d->rows, (unsigned long long)d->col,
                    kind_names[k]);
    if (tbuf_push_value(d, &d->input, v, "input") < 0)
        return d->rc;
    d->col++;
    d->state = ST_ROW_NEXT;
    return 0;
}

static int target_value(json_decoder *d, enum kind k, const numtok *t)
{
    unsigned long long i = d->target.count;
    char text[48];
    int64_t v;

    if (k == K_ARRAY)
        return fail(d, MML_EVALUE, "target", "target must be 1-D (N,): target[%llu] is an array", i);
    if (k != K_NUMBER)
        return fail(d, MML_ETYPE, "target", "target[%llu] must be an integer, got %s",
                    i, kind_names[k]);
    if (!t->is_int)
        return fail(d, MML_ETYPE, "target", "target[%llu] must be an integer, got %s",
                    i, numtok_text(t, text, sizeof text));
    if (num_int(t, &v) < 0)
        return fail(d, MML_EVALUE, "target", "target[%llu] = %s is out of range",
                    i, numtok_text(t, text, sizeof text));
    if (tbuf_push_int(d, &d->target, v, "target") < 0)
        return d->rc;
    d->state = ST_VEC_NEXT;
    return 0;
}

static int weight_value(json_decoder *d, enum kind k, const numtok *t)
{
    unsigned long long i = d->weight.count;
    double v;

    if (k == K_ARRAY)
        return fail(d, MML_EVALUE, "weight", "weight must be 1-D (C,): weight[%llu] is an array", i);
    if (element_value(d, k, t, &v) < 0)
        return fail(d, MML_ETYPE, "weight", "weight[%llu] must be a number, got %s",
                    i, kind_names[k]);
    if (tbuf_push_value(d, &d->weight, v, "weight") < 0)
        return d->rc;
    d->state = ST_VEC_NEXT;
    return 0;
}

/* A complete value token (or '[' / '{') in a state that accepts values. */
static int on_value(json_decoder *d, enum kind k, const numtok *t)
{
    switch (d->state) {
    case ST_VALUE:
        return field_value(d, k, t);
    case ST_OUTER_FIRST:
    case ST_OUTER_VALUE:
        if (k == K_NUMBER)
            return fail(d, MML_EVALUE, "input", "input must be 2-D (N, C): "
                        "input[%llu] is a number, not a row", (unsigned long long)d->rows);
        return fail(d, MML_ETYPE, "input", "input[%llu] must be an array of numbers, got %s",
                    (unsigned long long)d->rows, kind_names[k]);
    case ST_ROW_FIRST:
    case ST_ROW_VALUE:
        return row_value(d, k, t);
    default:
        assert(d->state == ST_VEC_FIRST || d->state == ST_VEC_VALUE);
        return d->field == F_TARGET ? target_value(d, k, t) : weight_value(d, k, t);
    }
}

/* ---- structure ----------------------------------------------------------- */

/* The tensor of a float field starts: store in the final dtype when it is
 * already known, as doubles otherwise (2 bytes charged: the smallest). */
static void start_float_tensor(json_decoder *d, tbuf *b)
{
    if (d->dtype)
        tbuf_init(b, d->dtype, mml_dtype_size(d->dtype));
    else
        tbuf_init(b, MML_F64, mml_dtype_size(MML_F16));
}

static int open_array(json_decoder *d, uint64_t off)
{
    switch (d->state) {
    case ST_VALUE:
        if (d->field == F_INPUT) {
            start_float_tensor(d, &d->input);
            d->state = ST_OUTER_FIRST;
        } else if (d->field == F_TARGET || d->field == F_WEIGHT) {
            if (d->field == F_TARGET)
                tbuf_init(&d->target, 0, sizeof(int64_t));
            else
                start_float_tensor(d, &d->weight), d->has_weight = true;
            d->state = ST_VEC_FIRST;
        } else {
            return field_value(d, K_ARRAY, NULL);
        }
        return 0;
    case ST_OUTER_FIRST:
    case ST_OUTER_VALUE:
        d->col = 0;
        d->state = ST_ROW_FIRST;
        return 0;
    default:
        if (accepts_value(d->state))
            return on_value(d, K_ARRAY, NULL);
        return fail_unexpected(d, '[', off);
    }
}

static int end_row(json_decoder *d)
{
    if (d->rows == 0)
        d->cols = d->col;
    else if (d->col != d->cols)
        return fail(d, MML_EVALUE, "input",
                    "input rows must have the same length: input[%llu] has %llu "
                    "elements, input[0] has %llu", (unsigned long long)d->rows,
                    (unsigned long long)d->col, (unsigned long long)d->cols);
    d->rows++;
    d->state = ST_OUTER_NEXT;
    return 0;
}

static int close_array(json_decoder *d, uint64_t off)
{
    switch (d->state) {
    case ST_OUTER_FIRST:
    case ST_OUTER_NEXT:
    case ST_VEC_FIRST:
    case ST_VEC_NEXT:
        d->state = ST_AFTER_VALUE;
        return 0;
    case ST_ROW_FIRST:
    case ST_ROW_NEXT:
        return end_row(d);
    default:
        return fail_unexpected(d, ']', off);
    }
}

static int punct(json_decoder *d, char c, uint64_t off)
{
    static const struct { char c; enum state from, to; } moves[] = {
        { '{', ST_BEGIN, ST_KEY_FIRST },     { '}', ST_KEY_FIRST, ST_END },
        { '}', ST_AFTER_VALUE, ST_END },     { ':', ST_COLON, ST_VALUE },
        { ',', ST_AFTER_VALUE, ST_KEY },     { ',', ST_OUTER_NEXT, ST_OUTER_VALUE },
        { ',', ST_ROW_NEXT, ST_ROW_VALUE },  { ',', ST_VEC_NEXT, ST_VEC_VALUE },
    };

    if (c == '[')
        return open_array(d, off);
    if (c == ']')
        return close_array(d, off);
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        if (moves[i].c == c && moves[i].from == d->state) {
            d->state = moves[i].to;
            return 0;
        }
    if (c == '{' && accepts_value(d->state))
        return on_value(d, K_OBJECT, NULL);
    return fail_unexpected(d, (unsigned char)c, off);
}

static int on_key(json_decoder *d)
{
    char text[32];
    int f;

    for (f = 0; f < F_COUNT; f++)
        if (d->str_len == strlen(field_names[f]) &&
            memcmp(d->str, field_names[f], d->str_len) == 0)
            break;
    text_printable(d->str, d->str_len, text, sizeof text);
    if (f == F_COUNT)
        return fail(d, MML_EVALUE, text, "unknown field \"%s\" (expected input, target, "
                    "p, margin, weight, reduction, dtype)", text);
    if (d->seen & (1u << f))
        return fail(d, MML_EVALUE, text, "duplicate field \"%s\"", text);
    d->seen |= 1u << f;
    d->field = (enum field)f;
    d->state = ST_COLON;
    return 0;
}

/* ---- tokens ----------------------------------------------------------------- */

static int on_number(json_decoder *d, const numtok *t)
{
    return on_value(d, K_NUMBER, t);
}

static int on_string(json_decoder *d)
{
    d->str[d->str_len <= STR_MAX ? d->str_len : STR_MAX] = '\0';
    if (d->state == ST_KEY_FIRST || d->state == ST_KEY)
        return on_key(d);
    return on_value(d, K_STRING, NULL);
}

static void str_put(json_decoder *d, unsigned char c)
{
    if (d->str_len < STR_MAX)
        d->str[d->str_len] = (char)c;
    if (d->str_len <= STR_MAX)
        d->str_len++;
}

static void str_put_utf8(json_decoder *d, uint32_t cp)
{
    if (cp < 0x80) {
        str_put(d, (unsigned char)cp);
    } else if (cp < 0x800) {
        str_put(d, (unsigned char)(0xc0 | cp >> 6));
        str_put(d, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        str_put(d, (unsigned char)(0xe0 | cp >> 12));
        str_put(d, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        str_put(d, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        str_put(d, (unsigned char)(0xf0 | cp >> 18));
        str_put(d, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        str_put(d, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        str_put(d, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Four hex digits of \uXXXX are in d->unit; pair surrogates like
 * cJSON does (a lone surrogate is an error). */
static int str_unit(json_decoder *d, uint64_t off)
{
    uint32_t u = d->unit;

    if (d->high) {
        if (u < 0xdc00 || u > 0xdfff)
            return fail(d, MML_EBADREQ, "body", "unpaired UTF-16 surrogate in string at byte %llu",
                        (unsigned long long)off);
        str_put_utf8(d, 0x10000 + ((d->high - 0xd800) << 10) + (u - 0xdc00));
        d->high = 0;
    } else if (u >= 0xd800 && u <= 0xdbff) {
        d->high = u;
        d->esc = ESC_LOW_BS;
        return 0;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
        return fail(d, MML_EBADREQ, "body", "unpaired UTF-16 surrogate in string at byte %llu",
                    (unsigned long long)off);
    } else {
        str_put_utf8(d, u);
    }
    d->esc = ESC_NONE;
    return 0;
}

static int hex_value(int c)
{
    if (is_digit(c))
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* One byte after a backslash or inside an escape. 0 or a latched code. */
static int str_escape(json_decoder *d, unsigned char c, uint64_t off)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    int h;

    switch (d->esc) {
    case ESC_BS:
        if (c == 'u') {
            d->esc = ESC_HEX, d->hex_digits = 0, d->unit = 0;
            return 0;
        }
        if (c == '\0' || (hit = strchr(from, c)) == NULL)
            return fail(d, MML_EBADREQ, "body", "invalid escape in string at byte %llu",
                        (unsigned long long)off);
        str_put(d, (unsigned char)to[hit - from]);
        d->esc = ESC_NONE;
        return 0;
    case ESC_HEX:
        if ((h = hex_value(c)) < 0)
            return fail(d, MML_EBADREQ, "body", "invalid \\u escape in string at byte %llu",
                        (unsigned long long)off);
        d->unit = d->unit << 4 | (uint32_t)h;
        return ++d->hex_digits == 4 ? str_unit(d, off) : 0;
    default:
        if (c != (d->esc == ESC_LOW_BS ? '\\' : 'u'))
            return fail(d, MML_EBADREQ, "body", "unpaired UTF-16 surrogate in string at byte %llu",
                        (unsigned long long)off);
        d->esc = d->esc == ESC_LOW_BS ? ESC_LOW_U : ESC_HEX;
        d->hex_digits = 0, d->unit = 0;
        return 0;
    }
}

/* Continue a string token; returns where reading stopped. */
static const char *lex_string(json_decoder *d, const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (d->esc != ESC_NONE) {
            if (str_escape(d, c, off_of(d, p)) < 0)
                return end;
        } else if (c >= 0x80 || d->u8.need > 0) {   /* a '"' inside a sequence too */
            if (utf8_byte(&d->u8, c) < 0) {
                fail(d, MML_EBADREQ, "body", "invalid UTF-8 in string at byte %llu",
                     (unsigned long long)off_of(d, p));
                return end;
            }
            str_put(d, c);
        } else if (c == '"') {
            d->lex = LEX_NONE;
            on_string(d);
            return p + 1;
        } else if (c == '\\') {
            d->esc = ESC_BS;
        } else if (c < 0x20) {
            fail(d, MML_EBADREQ, "body", "control character in string at byte %llu",
                 (unsigned long long)off_of(d, p));
            return end;
        } else {
            str_put(d, c);
        }
    }
    return p;
}

/* Continue true, false or null. */
static const char *lex_literal(json_decoder *d, const char *p, const char *end)
{
    for (; p < end && d->lit[d->lit_pos]; p++, d->lit_pos++)
        if (*p != d->lit[d->lit_pos]) {
            fail(d, MML_EBADREQ, "body", "invalid literal at byte %llu",
                 (unsigned long long)off_of(d, p));
            return end;
        }
    if (d->lit[d->lit_pos] == '\0') {
        d->lex = LEX_NONE;
        on_value(d, d->lit[0] == 't' ? K_TRUE : d->lit[0] == 'f' ? K_FALSE : K_NULL, NULL);
    }
    return p;
}

/* A scanned number: NUM_OK is a complete token, possibly followed by a
 * byte that cannot follow a value; the others fail. start is the token's
 * offset. Both the in-chunk and the cut-token paths end here, so a
 * document gives the same outcome however it is split. */
static void number_done(json_decoder *d, int r, const numtok *t, size_t stop, uint64_t start)
{
    if (r == NUM_MORE)
        fail(d, MML_EBADREQ, "body", "number longer than %d characters at byte %llu",
             NUM_MAX, (unsigned long long)start);
    else if (r == NUM_BAD)
        fail(d, MML_EBADREQ, "body", "invalid number at byte %llu",
             (unsigned long long)(start + stop));
    else
        on_number(d, t);
}

/* Continue a number cut by a chunk boundary (text so far in d->num). It
 * ends like the in-chunk path would: at the first byte that cannot
 * continue it, or as too long once a full window is a valid prefix. */
static const char *lex_number(json_decoder *d, const char *p, const char *end)
{
    numtok t;
    size_t stop = 0;
    bool cut_short, final;
    int r;

    while (d->num_len < NUM_WINDOW && p < end && is_numchar((unsigned char)*p))
        d->num[d->num_len++] = *p++;
    cut_short = d->num_len < NUM_WINDOW;
    final = cut_short && p < end;           /* a byte that is no number char */
    r = num_scan(d->num, d->num_len, final, &t, &stop);
    if (r == NUM_MORE && cut_short)
        return p;                           /* may go on in the next chunk */
    d->lex = LEX_NONE;
    number_done(d, r, &t, stop, d->tok_start);
    if (r == NUM_OK && d->rc == 0 && t.len < d->num_len)
        fail_unexpected(d, (unsigned char)d->num[t.len], d->tok_start + t.len);
    return p;
}

/* A number starting at p: scanned in place when it ends inside the
 * chunk, else copied to d->num to be continued by the next feed. */
static const char *start_number(json_decoder *d, const char *p, const char *end)
{
    size_t avail = (size_t)(end - p), stop = 0;
    size_t window = avail < NUM_WINDOW ? avail : NUM_WINDOW;
    numtok t;
    int r = num_scan(p, window, false, &t, &stop);

    if (r == NUM_MORE && window < NUM_WINDOW) {
        memcpy(d->num, p, window);
        d->num_len = window;
        d->tok_start = off_of(d, p);
        d->lex = LEX_NUMBER;
        return end;
    }
    number_done(d, r, &t, stop, off_of(d, p));
    return r == NUM_OK ? p + t.len : end;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The common number shape, [-]int[.frac] with at most SIG_DIGITS digits
 * and a terminating byte inside the chunk, read without the general
 * scanner: 0 with *v and the length, or -1 to take the general path (which
 * would give the same double: both round correctly). */
__attribute__((always_inline))
static inline int plain_decimal(const char *p, const char *end, double *v, size_t *len)
{
    const char *s = p + (*p == '-'), *int_start = s, *frac_start;
    uint64_t m = 0;
    int64_t eight;
    int frac = 0;

    if (s < end && *s == '0')
        s++;
    else
        for (; s < end && is_digit(*s) && s - int_start < SIG_DIGITS; s++)
            m = m * 10 + (uint64_t)(*s - '0');
    if (s == int_start)
        return -1;
    if (s < end && *s == '.') {
        frac_start = ++s;
        for (; end - s >= 8 && m < 10000000000ull && (eight = eight_digits(s)) >= 0; s += 8)
            m = m * 100000000u + (uint64_t)eight;
        for (; s < end && is_digit(*s) && m < 1000000000000000000ull; s++)
            m = m * 10 + (uint64_t)(*s - '0');
        frac = (int)(s - frac_start);
        if (frac == 0 || frac > 22)
            return -1;
    }
    if (s == end || is_numchar((unsigned char)*s) || m > (1ull << 53))
        return -1;
    *v = frac ? (double)m / pow10_exact[frac] : (double)m;
    *v = *p == '-' ? -*v : *v;
    *len = (size_t)(s - p);
    return 0;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* How many of the eight bytes of w (first byte lowest) lead as ASCII
 * digits. A byte >= 0xfa carries into the next one in w + 0x06..., but it
 * is itself no digit, so only bytes after the first non-digit change. */
__attribute__((always_inline)) static inline int swar_digits(uint64_t w)
{
    uint64_t nd = ((w & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull) |
                  (((w + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull);
    return nd ? __builtin_ctzll(nd) / 8 : 8;
}

/* The value of the first k (1..8) bytes of w, all digits: they are moved
 * to the top of the word (zeros before them) and folded as eight_digits()
 * does. Borrows of w - 0x30... run upwards, so they never reach them. */
__attribute__((always_inline)) static inline uint64_t swar_value(uint64_t w, int k)
{
    uint64_t v = (w - 0x3030303030303030ull) << (8 * (8 - k));
    v = v * 10 + (v >> 8);
    return ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
            ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >> 32;
}

/* Bit 7 of each byte of w set when that byte is no ASCII digit, exact up
 * to and including the first byte >= 0xfa (which carries in w + 0x06...;
 * the bytes after it are no concern: such a token is rejected anyway). */
__attribute__((always_inline)) static inline uint64_t swar_nondigits(uint64_t w)
{
    uint64_t x = ((w & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull) |
                 (((w + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull);
    return (((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x) & 0x8080808080808080ull;
}

/* The token [s, s + n), known to end at a separator, as [-]d+[.d+] of at
 * most 8 bytes after the sign: 0 with *v, or -1 to leave it to the longer
 * paths. One word: the dot (if any) is squeezed out and the digits folded
 * at once. At most 8 digits, so m < 2^53 and Clinger's one division rounds
 * correctly, as in plain_decimal(). 9 bytes at s must be readable. */
__attribute__((always_inline)) static inline int token_decimal(const char *s, size_t n, double *v)
{
    const bool neg = *s == '-';
    uint64_t w, m, nd;
    int k, f = 0;

    s += neg, n -= neg;
    if (n - 1 >= 8)                         /* n == 0 wraps too */
        return -1;
    memcpy(&w, s, 8);
    nd = swar_nondigits(w) & (n == 8 ? ~0ull : (1ull << (8 * n)) - 1);
    k = (int)n;
    if (nd != 0) {                          /* the dot, and nothing else */
        k = __builtin_ctzll(nd) / 8;
        f = (int)n - k - 1;
        if ((nd & (nd - 1)) != 0 || s[k] != '.' || k == 0 || f == 0)
            return -1;
        uint64_t low = (1ull << (8 * k)) - 1;
        w = (w & low) | ((w >> 8) & ~low);
    }
    if (k > 1 && *s == '0')
        return -1;
    m = swar_value(w, k + f);
    *v = f ? (double)m / pow10_exact[f] : (double)m;
    *v = neg ? -*v : *v;
    return 0;
}
#else
static int token_decimal(const char *s, size_t n, double *v)
{
    (void)s, (void)n, (void)v;
    return -1;
}
#endif

/* Bit i set when p[i] is ',' or ']', for i < 64. */
static inline uint64_t separators(const char *p)
{
#if defined(__SSE2__)
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8(',')),
                                   _mm_cmpeq_epi8(b, _mm_set1_epi8(']')));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << (16 * i);
    }
    return m;
#else
    uint64_t m = 0;
    for (int i = 0; i < 64; i++)
        m |= (uint64_t)(p[i] == ',' || p[i] == ']') << i;
    return m;
#endif
}

static bool starts_number(const char *p)
{
    return is_digit(*p) || *p == '-';
}

/* The numbers of the input rows, 64 bytes of text at a time: a bitmask of
 * the separators gives every token's end at once, so the tokens are read
 * independently of each other and the CPU overlaps them (reading each
 * number's length off its own digits chains every number to the one
 * before). A row's end followed by the next row's start ("],[", one space
 * allowed after each comma) is taken here too, as end_row() and
 * open_array() would. Counters live in locals until the loop ends.
 *
 * Whatever the loop does not take (a token that is not a short plain
 * decimal, other whitespace, a ragged row, the end of the chunk's room)
 * is left at p, in the state the tokens before it lead to, for row_run();
 * p must be at a number. */
static const char *row_block(json_decoder *d, const char *p, const char *end)
{
    tbuf *b = &d->input;
    const size_t es = b->esize;
    const int dtype = b->dtype;
    enum state state = d->state;
    uint64_t left = (uint64_t)(b->end - b->cur) / es;
    uint64_t budget = d->max_body > d->tensor_bytes
                    ? (d->max_body - d->tensor_bytes) / b->charge : 0;
    uint64_t col = d->col, rows = d->rows, cols = d->cols, taken = 0;
    unsigned char *cur = b->cur;

    if (budget < left)
        left = budget;
    /* token_decimal() reads up to 10 bytes from a token start < base + 64,
     * plain_decimal() eight past the end of its digits */
    while (taken < left && end - p >= 64 + 32) {
        const char *base = p;
        uint64_t sep = separators(base);
        for (; sep != 0; sep &= sep - 1) {
            const char *q = base + __builtin_ctzll(sep);
            double v;
            if (q < p)                      /* the ',' of a "],[" taken below */
                continue;
            if (taken == left || (rows > 0 && col >= cols))
                goto out;
            size_t len;
            if (token_decimal(p, (size_t)(q - p), &v) < 0 &&
                (plain_decimal(p, q + 1, &v, &len) < 0 || len != (size_t)(q - p))) {
                /* Exponents, very long mantissas: the general scanner, on
                 * the token alone (it must be all number). */
                numtok t;
                size_t stop;
                if (num_scan(p, (size_t)(q - p), true, &t, &stop) != NUM_OK ||
                    t.len != (size_t)(q - p))
                    goto out;
                v = num_value(&t);
            }
            if (dtype == MML_F32) {
                float x = (float)v;
                memcpy(cur, &x, 4);
            } else if (dtype == MML_F16) {
                mml_store(MML_F16, cur, 0, v);
            } else {
                memcpy(cur, &v, 8);
            }
            cur += es;
            taken++;
            col++;
            if (*q == ',') {
                p = q + 1 + (q[1] == ' ');
                state = ST_ROW_VALUE;
            } else {
                const char *r = q + 2 + (q[2] == ' ');
                p = q;
                state = ST_ROW_NEXT;
                if (q[1] != ',' || *r != '[' || !starts_number(r + 1) ||
                    (rows > 0 && col != cols))
                    goto out;
                if (rows == 0)              /* end_row(), open_array() */
                    cols = col;
                rows++;
                col = 0;
                p = r + 1;
                state = ST_ROW_FIRST;
            }
            if (!starts_number(p))
                goto out;
        }
        if (p == base)                      /* a token longer than the block */
            break;
    }
out:
    d->state = state;
    b->cur = cur;
    b->count += taken;
    d->tensor_bytes += taken * b->charge;
    d->col = col;
    d->rows = rows;
    d->cols = cols;
    return p;
}

/* The hot loop: the numbers of an input row ("1.5,-2, 3e1"), each stored
 * as soon as it is scanned. It only takes what start_number() and
 * row_value() would accept; anything else (a cut or bad number, a ragged
 * row, a bracket) is left to the general path at that token. */
static const char *row_run(json_decoder *d, const char *p, const char *end)
{
    for (;;) {
        size_t avail, stop, len;
        numtok t;
        double v;
        p = row_block(d, p, end);
        if (d->state == ST_ROW_NEXT)
            return p;
        for (; p < end && is_space((unsigned char)*p); p++)
            ;
        if (p == end || !(is_digit(*p) || *p == '-'))
            return p;
        avail = (size_t)(end - p);
        if (d->rows > 0 && d->col >= d->cols)
            return start_number(d, p, end);
        if (plain_decimal(p, end, &v, &len) < 0) {
            if (num_scan(p, avail < NUM_WINDOW ? avail : NUM_WINDOW, false, &t, &stop) != NUM_OK)
                return start_number(d, p, end);
            v = num_value(&t);
            len = t.len;
        }
        if (tbuf_push_value(d, &d->input, v, "input") < 0)
            return end;
        d->col++;
        p += len;
        if (p == end || *p != ',') {
            d->state = ST_ROW_NEXT;
            return p;
        }
        d->state = ST_ROW_VALUE;
        p++;
    }
}

/* Target indices ("3,0,17]"): plain non-negative integers of at most 18
 * digits, each ended by ',' or ']' inside the chunk, stored as they are
 * scanned, as target_value() would. Anything else (a sign, a fraction, an
 * exponent, a blank, a cut token, a full buffer chunk, the body limit) is
 * left at the returned position for the general path. */
static const char *target_run(json_decoder *d, const char *p, const char *end)
{
    tbuf *b = &d->target;

    for (;;) {
        const char *s = p;
        uint64_t v = 0;
        if (s < end && *s == '0')
            s++;
        else
            for (; s < end && is_digit(*s) && s - p < 18; s++)
                v = v * 10 + (uint64_t)(*s - '0');
        if (s == p || s == end || (*s != ',' && *s != ']') ||
            b->cur == b->end || d->tensor_bytes + b->charge > d->max_body)
            return p;
        int64_t x = (int64_t)v;
        memcpy(b->cur, &x, sizeof x);
        b->cur += sizeof x;
        b->count++;
        d->tensor_bytes += b->charge;
        if (*s == ']') {
            d->state = ST_VEC_NEXT;                 /* step() closes the array */
            return s;
        }
        d->state = ST_VEC_VALUE;
        p = s + 1;
        if (p == end || !is_digit(*p))
            return p;
    }
}

/* One token (or whitespace byte) at p < end; returns the next position. */
static const char *step(json_decoder *d, const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;

    switch (c) {
    case ' ': case '\t': case '\n': case '\r':
        return p + 1;
    case '{': case '}': case '[': case ']': case ':': case ',':
        punct(d, (char)c, off_of(d, p));
        return p + 1;
    case '"':
        if (!accepts_value(d->state) && d->state != ST_KEY_FIRST && d->state != ST_KEY)
            break;
        d->lex = LEX_STRING, d->str_len = 0, d->esc = ESC_NONE, d->high = 0;
        d->u8 = (utf8_state){ 0 };
        return lex_string(d, p + 1, end);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (d->state == ST_ROW_FIRST || d->state == ST_ROW_VALUE)
            return row_run(d, p, end);
        if ((d->state == ST_VEC_FIRST || d->state == ST_VEC_VALUE) && d->field == F_TARGET &&
            c != '-') {
            const char *q = target_run(d, p, end);
            if (q != p)
                return q;
        }
        if (!accepts_value(d->state))
            break;
        return start_number(d, p, end);
    case 't': case 'f': case 'n':
        if (!accepts_value(d->state))
            break;
        d->lex = LEX_LITERAL, d->lit_pos = 1;
        d->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        return lex_literal(d, p + 1, end);
    }
    fail_unexpected(d, c, off_of(d, p));
    return end;
}

/* ---- decoder_ops -------------------------------------------------------------- */

static decoder *json_create(const decoder_conf *conf, mml_error *err)
{
    json_decoder *d = calloc(1, sizeof *d);
    if (d == NULL) {
        mml_error_set(err, MML_ENOMEM, "body", "out of memory");
        return NULL;
    }
    d->super.ops = &json_decoder_ops;
    d->max_body = conf->max_body;
    d->want_frame = native_wants_frame(conf);
    d->state = ST_BEGIN;
    d->reduction = MML_MEAN;
    d->p = 1;
    d->margin = 1;
    return &d->super;
}

static int json_feed(decoder *base, const char *data, size_t len, mml_error *err)
{
    json_decoder *d = (json_decoder *)base;
    const char *p = data, *end = data + len;

    if (d->rc == 0 && d->finished)
        fail(d, MML_EBADREQ, "body", "feed after finish");
    d->chunk = data;
    if (d->rc == 0 && len > 0) {
        if (d->lex == LEX_NUMBER)
            p = lex_number(d, p, end);
        else if (d->lex == LEX_STRING)
            p = lex_string(d, p, end);
        else if (d->lex == LEX_LITERAL)
            p = lex_literal(d, p, end);
        while (d->rc == 0 && p < end)
            p = step(d, p, end);
        d->offset += len;
    }
    if (d->rc && err)
        *err = d->err;
    return d->rc;
}

/* The shape checks of SPEC 2 in the order core applies them. An empty
 * batch (input: []) has no row to give C: C is then the weight length when
 * a weight is sent (so its length is still checked against C >= 1), else
 * 1 -- the kernels never read C when N = 0. */
static void describe(const json_decoder *d, mml_desc *desc)
{
    mml_desc_init(desc);
    if (d->dtype)
        desc->dtype = d->dtype;
    desc->input_rank = 2;
    desc->n = d->rows;
    desc->c = d->rows ? d->cols : d->has_weight ? d->weight.count : 1;
    desc->target_rank = 1;
    desc->target_len = d->target.count;
    desc->has_weight = d->has_weight;
    desc->weight_dtype = desc->dtype;
    desc->weight_rank = 1;
    desc->weight_len = d->weight.count;
    desc->p = d->p;
    desc->margin = d->margin;
    desc->reduction = d->reduction;
}

/* The body ended: a complete object with input and target? */
static int check_complete(json_decoder *d)
{
    if (d->state == ST_BEGIN && d->lex == LEX_NONE)
        return fail(d, MML_EBADREQ, "body", "request body is empty (expected a JSON object)");
    if (d->state != ST_END || d->lex != LEX_NONE)
        return fail(d, MML_EBADREQ, "body", "unexpected end of body at byte %llu "
                    "(truncated JSON document)", (unsigned long long)d->offset);
    if (!(d->seen & 1u << F_INPUT))
        return fail(d, MML_EVALUE, "input", "input is required");
    if (!(d->seen & 1u << F_TARGET))
        return fail(d, MML_EVALUE, "target", "target is required");
    return 0;
}

/* Gather the tensors into *out (left empty on failure). Each is copied
 * while the others' chunks are still held: d->acct counts them all. */
static int take_tensors(json_decoder *d, const mml_desc *desc, payload *out)
{
    tbuf *const from[3] = { &d->target, &d->input, &d->weight };
    void *target = NULL;
    void **const to[3] = { &target, &out->input, &out->weight };
    const int dtype[3] = { 0, desc->dtype, desc->dtype };
    mml_error e;

    for (int k = 0; k < (d->has_weight ? 3 : 2); k++)
        if (tbuf_take(from[k], dtype[k], &d->acct, to[k], &e) < 0) {
            out->target = target;
            payload_free(out);
            return fail(d, e.code, e.field, "%s", e.message);
        }
    out->target = target;
    return 0;
}

static int json_finish(decoder *base, payload *out, mml_error *err)
{
    json_decoder *d = (json_decoder *)base;
    mml_desc desc;
    uint64_t bytes;

    memset(out, 0, sizeof *out);
    if (d->rc == 0 && d->finished)
        fail(d, MML_EBADREQ, "body", "finish called twice");
    if (d->rc)
        goto failed;
    d->finished = true;
    if (check_complete(d) < 0)
        goto failed;
    describe(d, &desc);
    if (mml_validate(&desc, &d->err) < 0) {
        d->rc = d->err.code;
        goto failed;
    }
    if (mml_request_bytes(desc.dtype, desc.n, desc.c, desc.has_weight, &bytes) < 0 ||
        bytes > d->max_body) {
        fail(d, MML_ETOOBIG, "input", "the request tensors exceed the body limit of %llu bytes",
             (unsigned long long)d->max_body);
        goto failed;
    }
    if (take_tensors(d, &desc, out) < 0)
        goto failed;
    if (mml_validate_targets(out->target, desc.n, desc.c, &d->err) < 0) {
        d->rc = d->err.code;
        goto failed_payload;
    }
    out->req = (mml_request){
        .dtype = (mml_dtype)desc.dtype, .p = (int)desc.p, .margin = (int32_t)desc.margin,
        .reduction = (mml_reduction)desc.reduction, .n = desc.n, .c = desc.c,
        .input = out->input, .target = out->target, .weight = out->weight,
    };
    return 0;
failed_payload:
    payload_free(out);
failed:
    if (err)
        *err = d->err;
    return d->rc;
}

static void json_destroy(decoder *base)
{
    json_decoder *d = (json_decoder *)base;
    if (d == NULL)
        return;
    tbuf_release(&d->input, &d->acct);
    tbuf_release(&d->target, &d->acct);
    tbuf_release(&d->weight, &d->acct);
    free(d);
}

static int json_answer(const decoder *base, const mml_request *req, const void *out,
                       decoder_answer *a)
{
    const json_decoder *d = (const json_decoder *)base;
    return native_answer(d->want_frame, req, out, a);
}

const decoder_ops json_decoder_ops = {
    .name = "json",
    .create = json_create,
    .feed = json_feed,
    .finish = json_finish,
    .answer = json_answer,
    .destroy = json_destroy,
};
