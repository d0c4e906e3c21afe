/* json_decode.c - streaming decoder for native JSON requests (docs/wire.md).
 *
 * The incremental JSON lexer (json_lex.h) drives a flat state machine;
 * bytes may arrive split anywhere, even inside a number, string or
 * literal. The body is never copied: a token cut by a chunk boundary is
 * kept in the lexer's small bounded buffers, and numbers go straight into
 * chunked tensor buffers.
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
 * beside the lexer (separators found 64 bytes at a time, SWAR digits,
 * Clinger's exact fast path: row_block()), with the lexer's own number
 * readers (json_num.h); other tokens come from the lexer, whose numbers
 * fall back to strtod on a copy of at most 513 bytes. Either way the
 * value is the correctly rounded double, then rounded to dtype.
 *
 * Errors are raised at the first token that makes the document invalid,
 * so one document gives the same error whatever the chunking. Semantic
 * errors follow docs/wire.md, "Validation"; syntax errors are BadRequest
 * "at byte <offset>". */
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
#include "json_lex.h"
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
    uint64_t tensor_bytes;      /* charged so far */
    payload_acct acct;          /* the chunks and gathered tensors in the memory budget */
    int rc;                     /* latched failure */
    mml_error err;
    bool finished;
    int want_frame;             /* answer with an MMR1 frame (Accept) */

    enum state state;
    enum field field;           /* whose value is being read */
    unsigned seen;              /* bit per field */

    json_lex lx;                /* the tokens, however the body is cut */
    char lx_buf[STR_MAX + 1];   /* its buffer for cut or escaped strings */
    char str[STR_MAX + 1];      /* the last string, NUL-terminated */
    size_t str_len;             /* its full length: over STR_MAX, truncated */

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

/* ---- tokens (json_lex.h) ----------------------------------------------------- */

static int on_string(json_decoder *d, const json_tok *t)
{
    size_t n = t->kept < STR_MAX ? t->kept : STR_MAX;

    memcpy(d->str, t->str, n);
    d->str[n] = '\0';
    d->str_len = t->len;
    if (d->state == ST_KEY_FIRST || d->state == ST_KEY)
        return on_key(d);
    return on_value(d, K_STRING, NULL);
}

/* What the grammar takes at each state: a value, a key, or neither (then
 * a '"', number or literal is unexpected at its first byte, before any
 * error inside it). */
static unsigned want_of(enum state s)
{
    return accepts_value(s) ? JSON_WANT_VALUE
         : s == ST_KEY_FIRST || s == ST_KEY ? JSON_WANT_STRING : 0;
}

/* One token from the lexer. Lexical errors are BadRequest at their byte. */
static int on_token(json_decoder *d, const json_tok *t)
{
    switch (t->kind) {
    case JSON_TOK_PUNCT:
        return punct(d, (char)t->c, t->start);
    case JSON_TOK_STRING:
        return on_string(d, t);
    case JSON_TOK_NUMBER:
        return on_value(d, K_NUMBER, &t->num);
    case JSON_TOK_TRUE:
        return on_value(d, K_TRUE, NULL);
    case JSON_TOK_FALSE:
        return on_value(d, K_FALSE, NULL);
    case JSON_TOK_NULL:
        return on_value(d, K_NULL, NULL);
    case JSON_TOK_ERROR:
        return fail(d, MML_EBADREQ, "body", "%s at byte %llu", json_lex_message(t->err),
                    (unsigned long long)t->at);
    default:
        assert(t->kind == JSON_TOK_BYTE);
        return fail_unexpected(d, t->c, t->start);
    }
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- the hot loops: input rows and target indices ------------------------------ */

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
    /* num_short() reads up to 10 bytes from a token start < base + 64,
     * num_plain() eight past the end of its digits */
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
            if (num_short(p, (size_t)(q - p), &v) < 0 &&
                (num_plain(p, q + 1, &v, &len) < 0 || len != (size_t)(q - p))) {
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
 * as soon as it is read (json_num.h, as the lexer reads them). It only
 * takes what the lexer and row_value() would accept; anything else (a
 * cut or bad number, a ragged row, a bracket) is left at the returned
 * position for the lexer. p must be at a number. */
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
        if (p == end || !starts_number(p) || (d->rows > 0 && d->col >= d->cols))
            return p;
        avail = (size_t)(end - p);
        if (num_plain(p, end, &v, &len) < 0) {
            if (num_scan(p, avail < NUM_WINDOW ? avail : NUM_WINDOW, false, &t, &stop) != NUM_OK)
                return p;
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
 * digits (num_uint()), each ended by ',' or ']' inside the chunk, stored
 * as soon as they are read, as target_value() would. Anything else (a
 * sign, a fraction, an exponent, a blank, a cut token, a full buffer
 * chunk, the body limit) is left at the returned position for the lexer. */
static const char *target_run(json_decoder *d, const char *p, const char *end)
{
    tbuf *b = &d->target;

    for (;;) {
        uint64_t v;
        size_t len = num_uint(p, end, &v);
        if (len == 0 || (p[len] != ',' && p[len] != ']') ||
            b->cur == b->end || d->tensor_bytes + b->charge > d->max_body)
            return p;
        int64_t x = (int64_t)v;
        memcpy(b->cur, &x, sizeof x);
        b->cur += sizeof x;
        b->count++;
        d->tensor_bytes += b->charge;
        p += len;
        if (*p == ']') {
            d->state = ST_VEC_NEXT;                 /* the lexer closes the array */
            return p;
        }
        d->state = ST_VEC_VALUE;
        if (++p == end)
            return p;
    }
}

/* Between tokens, in an input row or the target: numbers are taken by
 * row_run() or target_run() straight from the chunk. */
static bool in_run(const json_decoder *d)
{
    return d->state == ST_ROW_FIRST || d->state == ST_ROW_VALUE ||
           ((d->state == ST_VEC_FIRST || d->state == ST_VEC_VALUE) && d->field == F_TARGET);
}

static void fast_path(json_decoder *d)
{
    const char *p = d->lx.p, *end = d->lx.end;

    while (p < end && is_space((unsigned char)*p))
        p++;
    if (p < end && starts_number(p))
        p = d->state == ST_ROW_FIRST || d->state == ST_ROW_VALUE ? row_run(d, p, end)
                                                                 : target_run(d, p, end);
    json_lex_skip(&d->lx, p);
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
    json_lex_init(&d->lx, 0, d->lx_buf, sizeof d->lx_buf);
    d->state = ST_BEGIN;
    d->reduction = MML_MEAN;
    d->p = 1;
    d->margin = 1;
    return &d->super;
}

static int json_feed(decoder *base, const char *data, size_t len, mml_error *err)
{
    json_decoder *d = (json_decoder *)base;
    json_tok t;

    if (d->rc == 0 && d->finished)
        fail(d, MML_EBADREQ, "body", "feed after finish");
    if (d->rc == 0 && len > 0) {
        json_lex_feed(&d->lx, data, len);
        for (;;) {
            if (in_run(d) && !json_lex_busy(&d->lx))
                fast_path(d);
            if (d->rc || json_lex_next(&d->lx, want_of(d->state), &t) == JSON_TOK_MORE)
                break;
            if (on_token(d, &t) < 0)
                break;
        }
    }
    if (d->rc && err)
        *err = d->err;
    return d->rc;
}

/* The shape checks of the validation rules in the order core applies them. An empty
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
    bool busy = json_lex_busy(&d->lx);

    if (d->state == ST_BEGIN && !busy)
        return fail(d, MML_EBADREQ, "body", "request body is empty (expected a JSON object)");
    if (d->state != ST_END || busy)
        return fail(d, MML_EBADREQ, "body", "unexpected end of body at byte %llu "
                    "(truncated JSON document)",
                    (unsigned long long)json_lex_offset(&d->lx, d->lx.end));
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
