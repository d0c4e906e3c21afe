/* v2_text.c - the v2 JSON request checked as text; its tensor data read from the text. */
#include "v2_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_num.h"

#define FAIL SIZE_MAX

/* Where a value sits: the root, its "inputs" array, an element of that,
 * the element's "data" value, anything inside a data array, elsewhere. */
enum ctx { CTX_OTHER, CTX_ROOT, CTX_INPUTS, CTX_INPUT, CTX_DATA, CTX_ELEM };

typedef struct scanner {
    const char *s;
    size_t n;
    size_t bad;               /* the first byte that is wrong */
    int deep, oom, long_number, nul;
    int pos;                  /* index of the current element of "inputs" */
    v2_span *spans;
    int nspans, cap;
} scanner;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* The number at s[i..n) into *t (json_num.h): its length, 0 when there
 * is none. */
static size_t number_at(const char *s, size_t i, size_t n, numtok *t)
{
    size_t stop;
    return (s[i] == '-' || is_digit(s[i])) && num_scan(s + i, n - i, true, t, &stop) == NUM_OK
               ? t->len : 0;
}

static size_t word_len(const char *s, size_t i, size_t n, const char *w)
{
    size_t k = strlen(w);
    return n - i >= k && memcmp(s + i, w, k) == 0 ? k : 0;
}

/* Length of a bare non-finite number name at s[i..n) (Python's json
 * module writes NaN, Infinity, -Infinity; Triton's parser also takes Inf
 * and -Inf), its value in *v; 0 when there is none. */
static size_t nonfinite_len(const char *s, size_t i, size_t n, double *v)
{
    static const struct { const char *name; int sign; } names[] = {
        {"NaN", 0}, {"Infinity", 1}, {"-Infinity", -1}, {"Inf", 1}, {"-Inf", -1},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t len = word_len(s, i, n, names[k].name);
        if (len > 0) {
            *v = names[k].sign == 0 ? NAN : names[k].sign * INFINITY;
            return len;
        }
    }
    return 0;
}

static size_t fail_at(scanner *sc, size_t i)
{
    sc->bad = i;
    return FAIL;
}

/* The byte after the string that starts at s[i] (a quote), or FAIL. */
static size_t skip_string(scanner *sc, size_t i)
{
    const char *s = sc->s;
    for (i++; i < sc->n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return fail_at(sc, i);
        if (c != '\\')
            continue;
        if (++i >= sc->n)
            break;
        if (s[i] == 'u') {
            for (int k = 0; k < 4; k++)
                if (++i >= sc->n || strchr("0123456789abcdefABCDEF", s[i]) == NULL ||
                    s[i] == '\0')
                    return fail_at(sc, i);
            if (memcmp(s + i - 3, "0000", 4) == 0) {   /* cJSON's strings end at a NUL */
                sc->nul = 1;
                return fail_at(sc, i - 5);
            }
        } else if (strchr("\"\\/bfnrt", s[i]) == NULL || s[i] == '\0') {
            return fail_at(sc, i);
        }
    }
    return fail_at(sc, i);
}

static int add_span(scanner *sc, size_t start, size_t end)
{
    if (sc->nspans == sc->cap) {
        int cap = sc->cap ? sc->cap * 2 : 4;
        v2_span *p = realloc(sc->spans, (size_t)cap * sizeof *p);
        if (p == NULL) {
            sc->oom = 1;
            return -1;
        }
        sc->spans = p;
        sc->cap = cap;
    }
    sc->spans[sc->nspans++] = (v2_span){.off = start, .len = end - start, .pos = sc->pos};
    return 0;
}

static size_t walk(scanner *sc, size_t i, enum ctx ctx, int depth);

static int key_is(const scanner *sc, size_t quote, size_t end, const char *key)
{
    size_t k = strlen(key);
    return end - quote == k + 2 && memcmp(sc->s + quote + 1, key, k) == 0;
}

/* After a member or an element ending before s[i]: the start of the next
 * one, past ',' and blanks (*closed 0), or the byte after close (*closed
 * 1), or FAIL with sc->bad set. */
static size_t next_item(scanner *sc, size_t i, char close, int *closed)
{
    const char *s = sc->s;
    i = skip_ws(s, i, sc->n);
    *closed = i < sc->n && s[i] == close;
    if (*closed)
        return i + 1;
    if (i < sc->n && s[i] == ',')
        return skip_ws(s, i + 1, sc->n);
    return fail_at(sc, i);
}

static size_t walk_object(scanner *sc, size_t i, enum ctx ctx, int depth)
{
    const char *s = sc->s;
    i = skip_ws(s, i + 1, sc->n);
    if (i < sc->n && s[i] == '}')
        return i + 1;
    for (;;) {
        if (i >= sc->n || s[i] != '"')
            return fail_at(sc, i);
        size_t key = i, end = skip_string(sc, i);
        if (end == FAIL)
            return FAIL;
        enum ctx child = ctx == CTX_ROOT && key_is(sc, key, end, "inputs") ? CTX_INPUTS
                       : ctx == CTX_INPUT && key_is(sc, key, end, "data") ? CTX_DATA
                       : CTX_OTHER;
        i = skip_ws(s, end, sc->n);
        if (i >= sc->n || s[i] != ':')
            return fail_at(sc, i);
        size_t start = skip_ws(s, i + 1, sc->n);
        if ((i = walk(sc, start, child, depth)) == FAIL)
            return FAIL;
        if (child == CTX_DATA && s[start] == '[' && add_span(sc, start, i) < 0)
            return FAIL;
        int closed;
        if ((i = next_item(sc, i, '}', &closed)) == FAIL || closed)
            return i;
    }
}

static size_t walk_array(scanner *sc, size_t i, enum ctx ctx, int depth)
{
    const char *s = sc->s;
    enum ctx child = ctx == CTX_INPUTS ? CTX_INPUT
                   : ctx == CTX_DATA || ctx == CTX_ELEM ? CTX_ELEM : CTX_OTHER;
    i = skip_ws(s, i + 1, sc->n);
    if (i < sc->n && s[i] == ']')
        return i + 1;
    for (int k = 0;; k++) {
        if (ctx == CTX_INPUTS)
            sc->pos = k;
        if ((i = walk(sc, i, child, depth)) == FAIL)
            return FAIL;
        int closed;
        if ((i = next_item(sc, i, ']', &closed)) == FAIL || closed)
            return i;
    }
}

/* The byte after the value at s[i], or FAIL with sc->bad set. */
static size_t walk(scanner *sc, size_t i, enum ctx ctx, int depth)
{
    const char *s = sc->s;
    size_t len;
    double v;
    numtok t;
    if (i >= sc->n)
        return fail_at(sc, i);
    if (s[i] == '{' || s[i] == '[') {
        if (depth == V2_TEXT_MAX_DEPTH) {
            sc->deep = 1;
            return fail_at(sc, i);
        }
        return s[i] == '{' ? walk_object(sc, i, ctx, depth + 1) : walk_array(sc, i, ctx, depth + 1);
    }
    if (s[i] == '"')
        return skip_string(sc, i);
    if ((len = number_at(s, i, sc->n, &t)) > NUM_MAX) {   /* as the /v1 decoder */
        sc->long_number = 1;
        return fail_at(sc, i);
    }
    if (len > 0 || (len = word_len(s, i, sc->n, "true")) > 0 ||
        (len = word_len(s, i, sc->n, "false")) > 0 || (len = word_len(s, i, sc->n, "null")) > 0 ||
        (ctx == CTX_ELEM && (len = nonfinite_len(s, i, sc->n, &v)) > 0))
        return i + len;
    return fail_at(sc, i);
}

int v2_text_scan(const char *s, size_t n, const char *trailing, v2_span **spans, int *nspans,
                 mml_error *err)
{
    scanner sc = {.s = s, .n = n};
    size_t end = walk(&sc, skip_ws(s, 0, n), CTX_ROOT, 0);
    int rc = 0;
    if (end != FAIL && (end = skip_ws(s, end, n)) < n)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "unexpected bytes after the JSON request at byte %zu%s%s", end,
                           trailing ? "; " : "", trailing ? trailing : "");
    else if (end == FAIL && sc.oom)
        rc = mml_error_set(err, MML_ENOMEM, "body", "out of memory");
    else if (end == FAIL && sc.nul)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "\\u0000 in a string at byte %zu: no name, datatype, parameter or id may hold a NUL",
                           sc.bad);
    else if (end == FAIL && sc.long_number)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "a number longer than %d characters at byte %zu", NUM_MAX, sc.bad);
    else if (end == FAIL && sc.deep)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "JSON nested deeper than %d levels at byte %zu", V2_TEXT_MAX_DEPTH,
                           sc.bad);
    else if (end == FAIL)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "malformed JSON in the request header near byte %zu", sc.bad);
    if (rc < 0) {
        free(sc.spans);
        sc.spans = NULL;
        sc.nspans = 0;
    }
    *spans = sc.spans;
    *nspans = sc.nspans;
    return rc;
}

char *v2_text_compact(const char *s, size_t n, const v2_span *spans, int nspans, size_t *len)
{
    size_t total = n, at = 0;
    for (int k = 0; k < nspans; k++)
        total = total - spans[k].len + 2;
    char *out = malloc(total + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (int k = 0; k < nspans; k++) {
        memcpy(p, s + at, spans[k].off - at);
        p += spans[k].off - at;
        memcpy(p, "[]", 2);
        p += 2;
        at = spans[k].off + spans[k].len;
    }
    memcpy(p, s + at, n - at);
    p[n - at] = '\0';
    *len = total;
    return out;
}

/* The JSON kind of a value that is not a number, for messages. */
static const char *kind_at(char c)
{
    return c == '{' ? "an object" : c == '"' ? "a string" : c == 'n' ? "null" : "a boolean";
}

/* One element at s[0..n) (text checked by v2_text_scan) into out, as
 * element i; *len its length. */
static int read_elem(const char *s, size_t n, const v2_sink *out, uint64_t i, size_t *len,
                     mml_error *err)
{
    numtok t;
    double x;
    int64_t k;
    if ((*len = nonfinite_len(s, 0, n, &x)) > 0) {
        if (out->dtype == 0)
            return mml_error_set(err, MML_ETYPE, out->field,
                                 "%s data[%llu] must be an integer, got a non-finite number",
                                 out->name, (unsigned long long)i);
    } else if ((*len = number_at(s, 0, n, &t)) > 0 && out->dtype == 0) {   /* an int64 target */
        if (!t.is_int)
            return mml_error_set(err, MML_ETYPE, out->field,
                                 "%s data[%llu] must be an integer, got a number with a "
                                 "fraction or an exponent", out->name, (unsigned long long)i);
        if (num_int(&t, &k) < 0)
            return mml_error_set(err, MML_ETYPE, out->field, "%s data[%llu] does not fit in int64",
                                 out->name, (unsigned long long)i);
        if (i < out->count)
            ((int64_t *)out->buf)[i] = k;
        return 0;
    } else if (*len > 0) {
        x = num_value(&t);
    } else if (out->dtype != 0 && (*len = word_len(s, 0, n, "\"NaN\"")) > 0) {
        x = NAN;
    } else if (out->dtype != 0 && ((*len = word_len(s, 0, n, "\"Infinity\"")) > 0 ||
                                   (*len = word_len(s, 0, n, "\"-Infinity\"")) > 0)) {
        x = s[1] == '-' ? -INFINITY : INFINITY;
    } else {
        return mml_error_set(err, MML_ETYPE, out->field, "%s data[%llu] must be %s, got %s",
                             out->name, (unsigned long long)i,
                             out->dtype == 0 ? "an integer" : "a number", kind_at(*s));
    }
    if (i < out->count)
        mml_store(out->dtype, out->buf, i, x);
    return 0;
}

int v2_text_read(const char *s, const v2_span *sp, const v2_sink *out, uint64_t *seen,
                 mml_error *err)
{
    const char *p = s + sp->off, *end = p + sp->len;
    uint64_t i = 0;
    while (p < end) {
        size_t len;
        if (*p == '[' || *p == ']' || *p == ',' || is_ws(*p)) {
            p++;
            continue;
        }
        int rc = read_elem(p, (size_t)(end - p), out, i, &len, err);
        if (rc < 0)
            return rc;
        p += len;
        i++;
    }
    *seen = i;
    return 0;
}
