/* v2_text.c - the v2 JSON request read with the JSON lexer into a small tree; its tensor data read from the text. */
#include "v2_text.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json_lex.h"

#define BLOCK_BYTES (64 * 1024)

/* Where a value sits: the root, its "inputs" array, an element of that,
 * the element's "data" value, anything inside a data array, elsewhere. */
enum ctx { CTX_OTHER, CTX_ROOT, CTX_INPUTS, CTX_INPUT, CTX_DATA, CTX_ELEM };

struct v2_block {
    struct v2_block *next;
    size_t used, size;
    max_align_t data[];
};

typedef struct parser {
    json_lex lx;
    const char *s;
    size_t n;
    v2_tree tree;
    uint64_t max_tree;
    uint64_t span_bytes;      /* what the data arrays take beyond their "[]" */
    int in_data;              /* inside a data array: no nodes */
    bool build;               /* false once over max_tree: only the syntax is checked */
    mml_error *err;
    char buf[256];            /* the lexer's, for strings with escapes */
} parser;

/* ---- memory --------------------------------------------------------------- */

/* size bytes that live as long as the tree; NULL when out of memory. */
static void *tree_alloc(v2_tree *tree, size_t size)
{
    struct v2_block *b = tree->blocks;

    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (b == NULL || b->size - b->used < size) {
        size_t bytes = size > BLOCK_BYTES ? size : BLOCK_BYTES;
        if ((b = malloc(sizeof *b + bytes)) == NULL)
            return NULL;
        b->next = tree->blocks;
        b->used = 0;
        b->size = bytes;
        tree->blocks = b;
    }
    b->used += size;
    return (char *)b->data + b->used - size;
}

void v2_text_free(v2_tree *tree)
{
    if (tree == NULL)
        return;
    while (tree->blocks != NULL) {
        struct v2_block *next = tree->blocks->next;
        free(tree->blocks);
        tree->blocks = next;
    }
    tree->root = NULL;
}

/* ---- errors ---------------------------------------------------------------- */

static int oom(parser *ps)
{
    return mml_error_set(ps->err, MML_ENOMEM, "body", "out of memory");
}

static int malformed(parser *ps, uint64_t at)
{
    return mml_error_set(ps->err, MML_EBADREQ, "body",
                         "malformed JSON in the request header near byte %llu",
                         (unsigned long long)at);
}

/* A token the grammar does not take here, or a lexical error: strings
 * are named at the byte that is wrong, other tokens at their start. */
static int bad_token(parser *ps, const json_tok *t)
{
    numtok whole;
    size_t stop;

    if (t->kind != JSON_TOK_ERROR)
        return malformed(ps, t->start);
    switch (t->err) {
    case JSON_LEX_ENUL:
        return mml_error_set(ps->err, MML_EBADREQ, "body",
                             "\\u0000 in a string at byte %llu: no name, datatype, parameter "
                             "or id may hold a NUL", (unsigned long long)t->at);
    case JSON_LEX_ELONG:        /* a long number, or a long start of a bad one? */
        if (num_scan(ps->s + t->start, ps->n - t->start, true, &whole, &stop) == NUM_OK)
            return mml_error_set(ps->err, MML_EBADREQ, "body",
                                 "a number longer than %d characters at byte %llu", NUM_MAX,
                                 (unsigned long long)t->start);
        return malformed(ps, t->start);
    case JSON_LEX_ENUMBER:
    case JSON_LEX_ELITERAL:
        return malformed(ps, t->start);
    default:
        return malformed(ps, t->at);
    }
}

/* ---- nodes ------------------------------------------------------------------- */

/* Nodes are made outside data arrays until the text read so far, data
 * arrays counted as "[]", is over max_tree. */
static bool keeping(parser *ps, const json_tok *t)
{
    if (ps->in_data > 0)
        return false;
    if (ps->build && t->end - ps->span_bytes > ps->max_tree)
        ps->build = false;
    return ps->build;
}

/* A node of kind for token t into *out (NULL when no tree is kept). 0 or
 * MML_ENOMEM. */
static int make(parser *ps, const json_tok *t, int kind, const char *key, v2_node **out)
{
    v2_node *v;

    *out = NULL;
    if (!keeping(ps, t))
        return 0;
    if ((v = tree_alloc(&ps->tree, sizeof *v)) == NULL)
        return oom(ps);
    memset(v, 0, sizeof *v);
    v->key = key;
    v->kind = (unsigned char)kind;
    *out = v;
    return 0;
}

/* The string token t, whole and NUL-terminated, into *out (NULL when no
 * tree is kept). One longer than the lexer's buffer with escapes in it is
 * read again on its own into room for all of it. 0 or MML_ENOMEM. */
static int keep_string(parser *ps, const json_tok *t, const char **out)
{
    char *s;

    *out = NULL;
    if (!keeping(ps, t))
        return 0;
    if ((s = tree_alloc(&ps->tree, t->len + 1)) == NULL)
        return oom(ps);
    if (t->kept == t->len) {
        memcpy(s, t->str, t->len);
    } else {
        json_lex whole;
        json_tok u;
        json_lex_init(&whole, JSON_LEX_NO_NUL, s, t->len);
        json_lex_feed(&whole, ps->s + t->start, (size_t)(t->end - t->start));
        json_lex_end(&whole);
        json_lex_next(&whole, JSON_WANT_STRING, &u);
        assert(u.kind == JSON_TOK_STRING && u.len == t->len && u.str == s);
    }
    s[t->len] = '\0';
    *out = s;
    return 0;
}

/* ---- values -------------------------------------------------------------------- */

static int next(parser *ps, unsigned want, json_tok *t)
{
    return json_lex_next(&ps->lx, want, t);
}

static bool is_punct(const json_tok *t, char c)
{
    return t->kind == JSON_TOK_PUNCT && t->c == c;
}

/* What a value in ctx may be: inside data arrays, the bare non-finite
 * names too. */
static unsigned want_value(enum ctx ctx)
{
    return JSON_WANT_VALUE | (ctx == CTX_ELEM ? JSON_WANT_NONFINITE : 0);
}

/* The key token t is exactly "key" in the text, without escapes. */
static bool raw_key_is(const parser *ps, const json_tok *t, const char *key)
{
    size_t k = strlen(key);
    return t->end - t->start == k + 2 && memcmp(ps->s + t->start + 1, key, k) == 0;
}

static int value(parser *ps, json_tok *t, enum ctx ctx, int depth, const char *key,
                 v2_node **out);

static int object(parser *ps, json_tok *t, enum ctx ctx, int depth, const char *key,
                  v2_node **out)
{
    v2_node *obj, *v, **link;
    int rc;

    if ((rc = make(ps, t, V2_OBJECT, key, &obj)) < 0)
        return rc;
    link = obj ? &obj->child : NULL;
    *out = obj;
    if (next(ps, JSON_WANT_STRING, t) == JSON_TOK_PUNCT && t->c == '}')
        return 0;
    for (;;) {
        const char *name;
        if (t->kind != JSON_TOK_STRING)
            return bad_token(ps, t);
        enum ctx child = ctx == CTX_ROOT && raw_key_is(ps, t, "inputs") ? CTX_INPUTS
                       : ctx == CTX_INPUT && raw_key_is(ps, t, "data") ? CTX_DATA
                       : CTX_OTHER;
        if ((rc = keep_string(ps, t, &name)) < 0)
            return rc;
        next(ps, 0, t);
        if (!is_punct(t, ':'))
            return bad_token(ps, t);
        next(ps, want_value(child), t);
        if ((rc = value(ps, t, child, depth, name, &v)) < 0)
            return rc;
        if (v != NULL && link != NULL)
            *link = v, link = &v->next;
        next(ps, 0, t);
        if (is_punct(t, '}'))
            return 0;
        if (!is_punct(t, ','))
            return bad_token(ps, t);
        next(ps, JSON_WANT_STRING, t);
    }
}

static int array(parser *ps, json_tok *t, enum ctx ctx, int depth, const char *key,
                 v2_node **out)
{
    enum ctx child = ctx == CTX_INPUTS ? CTX_INPUT
                   : ctx == CTX_DATA || ctx == CTX_ELEM ? CTX_ELEM : CTX_OTHER;
    uint64_t open = t->start;
    v2_node *arr, *v, **link;
    int rc;

    if ((rc = make(ps, t, V2_ARRAY, key, &arr)) < 0)
        return rc;
    link = arr ? &arr->child : NULL;
    *out = arr;
    ps->in_data += ctx == CTX_DATA;
    if (next(ps, want_value(child), t) == JSON_TOK_PUNCT && t->c == ']')
        goto closed;
    for (;;) {
        if ((rc = value(ps, t, child, depth, NULL, &v)) < 0)
            return rc;
        if (v != NULL && link != NULL)
            *link = v, link = &v->next;
        next(ps, 0, t);
        if (is_punct(t, ']'))
            break;
        if (!is_punct(t, ','))
            return bad_token(ps, t);
        next(ps, want_value(child), t);
    }
closed:
    if (ctx == CTX_DATA) {
        v2_span span = { .off = (size_t)open, .len = (size_t)(t->end - open) };
        ps->in_data--;
        ps->span_bytes += span.len - 2;
        if (arr != NULL) {
            v2_span *kept = tree_alloc(&ps->tree, sizeof *kept);
            if (kept == NULL)
                return oom(ps);
            *kept = span;
            arr->span = kept;
            arr->in_text = true;
        }
    }
    return 0;
}

/* The value whose first token is *t, in ctx, inside depth arrays and
 * objects; *out its node (NULL when none is kept). 0, or a code with
 * ps->err set. */
static int value(parser *ps, json_tok *t, enum ctx ctx, int depth, const char *key,
                 v2_node **out)
{
    static const unsigned char kinds[] = {
        [JSON_TOK_NUMBER] = V2_NUMBER, [JSON_TOK_STRING] = V2_STRING,
        [JSON_TOK_TRUE] = V2_TRUE, [JSON_TOK_FALSE] = V2_FALSE, [JSON_TOK_NULL] = V2_NULL,
    };
    v2_node *v;
    int rc;

    *out = NULL;
    switch (t->kind) {
    case JSON_TOK_PUNCT:
        if (t->c != '{' && t->c != '[')
            break;
        if (depth == V2_TEXT_MAX_DEPTH)
            return mml_error_set(ps->err, MML_EBADREQ, "body",
                                 "JSON nested deeper than %d levels at byte %llu",
                                 V2_TEXT_MAX_DEPTH, (unsigned long long)t->start);
        return t->c == '{' ? object(ps, t, ctx, depth + 1, key, out)
                           : array(ps, t, ctx, depth + 1, key, out);
    case JSON_TOK_NONFINITE:
        assert(ctx == CTX_ELEM);
        return 0;
    case JSON_TOK_NUMBER: case JSON_TOK_STRING:
    case JSON_TOK_TRUE: case JSON_TOK_FALSE: case JSON_TOK_NULL:
        if ((rc = make(ps, t, kinds[t->kind], key, &v)) < 0 || v == NULL)
            return rc;
        if (t->kind == JSON_TOK_NUMBER)
            v->num = num_value(&t->num), v->is_int = t->num.is_int;
        else if (t->kind == JSON_TOK_STRING && (rc = keep_string(ps, t, &v->str)) < 0)
            return rc;
        *out = v;
        return 0;
    }
    return bad_token(ps, t);
}

int v2_text_parse(const char *s, size_t n, const char *trailing, uint64_t max_tree,
                  v2_tree *tree, mml_error *err)
{
    parser *ps = calloc(1, sizeof *ps);
    json_tok t;
    int rc;

    memset(tree, 0, sizeof *tree);
    if (ps == NULL)
        return mml_error_set(err, MML_ENOMEM, "body", "out of memory");
    *ps = (parser){ .s = s, .n = n, .max_tree = max_tree, .build = true, .err = err };
    json_lex_init(&ps->lx, JSON_LEX_NO_NUL, ps->buf, sizeof ps->buf);
    json_lex_feed(&ps->lx, s, n);
    json_lex_end(&ps->lx);
    next(ps, want_value(CTX_ROOT), &t);
    rc = value(ps, &t, CTX_ROOT, 0, NULL, &ps->tree.root);
    if (rc == 0 && next(ps, 0, &t) != JSON_TOK_END)
        rc = mml_error_set(err, MML_EBADREQ, "body",
                           "unexpected bytes after the JSON request at byte %llu%s%s",
                           (unsigned long long)t.start, trailing ? "; " : "",
                           trailing ? trailing : "");
    if (rc == 0 && n - ps->span_bytes > max_tree)
        rc = mml_error_set(err, MML_ETOOBIG, "body",
                           "the JSON request without its inputs' data is over the limit of %llu bytes",
                           (unsigned long long)max_tree);
    if (rc < 0)
        v2_text_free(&ps->tree);
    *tree = ps->tree;
    free(ps);
    return rc;
}

/* ---- data arrays ------------------------------------------------------------------ */

/* The JSON kind of an element that is no number, for messages. */
static const char *kind_of(const json_tok *t)
{
    return t->kind == JSON_TOK_PUNCT ? "an object" : t->kind == JSON_TOK_STRING ? "a string"
         : t->kind == JSON_TOK_NULL ? "null" : "a boolean";
}

/* The raw string token t of text is exactly the quoted word. */
static bool raw_is(const char *text, const json_tok *t, const char *word)
{
    size_t k = strlen(word);
    return t->end - t->start == k && memcmp(text + t->start, word, k) == 0;
}

/* One element t of text (a data array) into out, as element i. */
static int read_elem(const char *text, const json_tok *t, const v2_sink *out, uint64_t i,
                     mml_error *err)
{
    int64_t k;
    double x;

    if (t->kind == JSON_TOK_NONFINITE) {
        if (out->dtype == 0)
            return mml_error_set(err, MML_ETYPE, out->field,
                                 "%s data[%llu] must be an integer, got a non-finite number",
                                 out->name, (unsigned long long)i);
        x = t->value;
    } else if (t->kind == JSON_TOK_NUMBER && out->dtype == 0) {   /* an int64 target */
        if (!t->num.is_int)
            return mml_error_set(err, MML_ETYPE, out->field,
                                 "%s data[%llu] must be an integer, got a number with a "
                                 "fraction or an exponent", out->name, (unsigned long long)i);
        if (num_int(&t->num, &k) < 0)
            return mml_error_set(err, MML_ETYPE, out->field, "%s data[%llu] does not fit in int64",
                                 out->name, (unsigned long long)i);
        if (i < out->count)
            ((int64_t *)out->buf)[i] = k;
        return 0;
    } else if (t->kind == JSON_TOK_NUMBER) {
        x = num_value(&t->num);
    } else if (t->kind == JSON_TOK_STRING && out->dtype != 0 && raw_is(text, t, "\"NaN\"")) {
        x = NAN;
    } else if (t->kind == JSON_TOK_STRING && out->dtype != 0 &&
               (raw_is(text, t, "\"Infinity\"") || raw_is(text, t, "\"-Infinity\""))) {
        x = text[t->start + 1] == '-' ? -INFINITY : INFINITY;
    } else {
        return mml_error_set(err, MML_ETYPE, out->field, "%s data[%llu] must be %s, got %s",
                             out->name, (unsigned long long)i,
                             out->dtype == 0 ? "an integer" : "a number", kind_of(t));
    }
    if (i < out->count)
        mml_store(out->dtype, out->buf, i, x);
    return 0;
}

int v2_text_read(const char *s, const v2_span *sp, const v2_sink *out, uint64_t *seen,
                 mml_error *err)
{
    const char *text = s + sp->off;
    json_lex lx;
    json_tok t;
    uint64_t i = 0;
    int rc;

    json_lex_init(&lx, 0, NULL, 0);         /* strings: only their text is looked at */
    json_lex_feed(&lx, text, sp->len);
    json_lex_end(&lx);
    while (json_lex_next(&lx, JSON_WANT_VALUE | JSON_WANT_NONFINITE, &t) != JSON_TOK_END) {
        if (t.kind == JSON_TOK_PUNCT && t.c != '{')
            continue;
        if (t.kind == JSON_TOK_ERROR || t.kind == JSON_TOK_BYTE)   /* not from v2_text_parse() */
            return mml_error_set(err, MML_EBADREQ, out->field, "%s data is no JSON array",
                                 out->name);
        if ((rc = read_elem(text, &t, out, i, err)) < 0)
            return rc;
        i++;
    }
    *seen = i;
    return 0;
}
