/* json_lex.c - an incremental JSON tokenizer: tokens may be cut anywhere by chunk boundaries. */
#include "json_lex.h"

#include <assert.h>
#include <math.h>
#include <string.h>

_Static_assert(NUM_MAX == 512, "JSON_LEX_ELONG's message names NUM_MAX");

/* What the lexer is in the middle of when a chunk ends. */
enum cut { CUT_NONE, CUT_STRING, CUT_NUMBER, CUT_LITERAL, CUT_HELD };
/* Where a string is inside an escape. */
enum esc { ESC_NONE, ESC_BS, ESC_HEX, ESC_LOW_BS, ESC_LOW_U };

#define JSON_LEX_NAME(name, msg) #name,
#define JSON_LEX_MSG(name, msg) msg,
static const char *const err_names[] = { "OK", JSON_LEX_ERRORS(JSON_LEX_NAME) };
static const char *const err_msgs[] = { "no error", JSON_LEX_ERRORS(JSON_LEX_MSG) };

const char *json_lex_err_name(int err)
{
    return err >= 0 && (size_t)err < sizeof err_names / sizeof err_names[0] ? err_names[err] : "?";
}

const char *json_lex_message(int err)
{
    return err >= 0 && (size_t)err < sizeof err_msgs / sizeof err_msgs[0] ? err_msgs[err] : "?";
}

void json_lex_init(json_lex *lx, unsigned flags, char *buf, size_t cap)
{
    memset(lx, 0, offsetof(json_lex, num));
    lx->chunk = lx->p = lx->end = "";         /* offset 0 before the first chunk */
    lx->flags = flags;
    lx->buf = buf;
    lx->cap = cap;
}

void json_lex_feed(json_lex *lx, const char *data, size_t len)
{
    assert(lx->p == lx->end && !lx->ended);
    lx->chunk_off += (uint64_t)(lx->end - lx->chunk);
    lx->chunk = lx->p = data;
    lx->end = data + len;
}

void json_lex_end(json_lex *lx)
{
    lx->ended = true;
}

static uint64_t off(const json_lex *lx, const char *p)
{
    return json_lex_offset(lx, p);
}

/* Latch an error: this and every later call return it. */
static int fail(json_lex *lx, json_tok *t, int err, uint64_t at)
{
    lx->held = (json_tok){ .kind = JSON_TOK_ERROR, .err = err, .start = lx->tok_start,
                           .end = at, .at = at };
    lx->cut = CUT_HELD;
    *t = lx->held;
    return t->kind;
}

/* ---- strings ------------------------------------------------------------- */

static void put(json_lex *lx, unsigned char c)
{
    if (lx->str_len < lx->cap)
        lx->buf[lx->str_len] = (char)c;
    lx->str_len++;
}

static void put_utf8(json_lex *lx, uint32_t cp)
{
    if (cp < 0x80) {
        put(lx, (unsigned char)cp);
    } else if (cp < 0x800) {
        put(lx, (unsigned char)(0xc0 | cp >> 6));
        put(lx, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put(lx, (unsigned char)(0xe0 | cp >> 12));
        put(lx, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(lx, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        put(lx, (unsigned char)(0xf0 | cp >> 18));
        put(lx, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        put(lx, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(lx, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Four hex digits of \uXXXX are in lx->unit: surrogates are paired (a
 * lone one is an error, as UTF-8 cannot hold it). 0 or an error code. */
static int escape_unit(json_lex *lx)
{
    uint32_t u = lx->unit;

    if (u == 0 && (lx->flags & JSON_LEX_NO_NUL))
        return JSON_LEX_ENUL;
    if (lx->high) {
        if (u < 0xdc00 || u > 0xdfff)
            return JSON_LEX_ESURROGATE;
        put_utf8(lx, 0x10000 + ((lx->high - 0xd800) << 10) + (u - 0xdc00));
        lx->high = 0;
    } else if (u >= 0xd800 && u <= 0xdbff) {
        lx->high = u;
        lx->esc = ESC_LOW_BS;
        return 0;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
        return JSON_LEX_ESURROGATE;
    } else {
        put_utf8(lx, u);
    }
    lx->esc = ESC_NONE;
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

/* One byte after a backslash or inside an escape. 0 or an error code. */
static int escape_byte(json_lex *lx, unsigned char c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    int h;

    switch (lx->esc) {
    case ESC_BS:
        if (c == 'u') {
            lx->esc = ESC_HEX, lx->hex_digits = 0, lx->unit = 0;
            return 0;
        }
        if (c == '\0' || (hit = strchr(from, c)) == NULL)
            return JSON_LEX_EESCAPE;
        put(lx, (unsigned char)to[hit - from]);
        lx->esc = ESC_NONE;
        return 0;
    case ESC_HEX:
        if ((h = hex_value(c)) < 0)
            return JSON_LEX_EHEX;
        lx->unit = lx->unit << 4 | (uint32_t)h;
        return ++lx->hex_digits == 4 ? escape_unit(lx) : 0;
    default:                                /* the \u of a low surrogate */
        if (c != (lx->esc == ESC_LOW_BS ? '\\' : 'u'))
            return JSON_LEX_ESURROGATE;
        lx->esc = lx->esc == ESC_LOW_BS ? ESC_LOW_U : ESC_HEX;
        lx->hex_digits = 0, lx->unit = 0;
        return 0;
    }
}

/* Continue a string at lx->p, its opening quote and lx->str_len bytes
 * behind. Raw bytes must be UTF-8 (a '"' inside a sequence too). */
static int string_more(json_lex *lx, json_tok *t)
{
    const char *p = lx->p, *end = lx->end;
    int err;

    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (lx->esc != ESC_NONE) {
            if ((err = escape_byte(lx, c)) != 0)    /* \u0000 is named at its backslash */
                return fail(lx, t, err, off(lx, p) - (err == JSON_LEX_ENUL ? 5 : 0));
        } else if (c >= 0x80 || lx->u8.need > 0) {
            if (utf8_byte(&lx->u8, c) < 0)
                return fail(lx, t, JSON_LEX_EUTF8, off(lx, p));
            put(lx, c);
        } else if (c == '"') {
            lx->cut = CUT_NONE;
            lx->p = p + 1;
            t->kind = JSON_TOK_STRING;
            t->start = lx->tok_start;
            t->end = off(lx, p + 1);
            t->str = lx->buf;
            t->len = lx->str_len;
            t->kept = lx->str_len < lx->cap ? lx->str_len : lx->cap;
            return t->kind;
        } else if (c == '\\') {
            lx->esc = ESC_BS;
        } else if (c < 0x20) {
            return fail(lx, t, JSON_LEX_ECONTROL, off(lx, p));
        } else {
            put(lx, c);
        }
    }
    lx->p = end;
    if (lx->ended)
        return fail(lx, t, JSON_LEX_EUNTERMINATED, off(lx, end));
    lx->cut = CUT_STRING;
    return t->kind = JSON_TOK_MORE;
}

/* A byte a string holds as it is: no quote, backslash, control or UTF-8. */
static bool plain_char(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* A string at lx->p (its quote). One that ends in the chunk without
 * escapes or UTF-8 is handed out where it lies; any other goes through
 * string_more() into the caller's buffer. */
static int string_start(json_lex *lx, json_tok *t)
{
    const char *s = lx->p + 1, *q = s;

    while (q < lx->end && plain_char((unsigned char)*q))
        q++;
    if (q < lx->end && *q == '"') {
        lx->p = q + 1;
        t->kind = JSON_TOK_STRING;
        t->end = off(lx, q + 1);
        t->str = s;
        t->len = t->kept = (size_t)(q - s);
        return t->kind;
    }
    lx->tok_start = t->start;
    lx->str_len = 0;
    lx->esc = ESC_NONE;
    lx->high = 0;
    lx->u8 = (utf8_state){ 0 };
    for (const char *c = s; c < q; c++)
        put(lx, (unsigned char)*c);
    lx->p = q;
    return string_more(lx, t);
}

/* ---- literals -------------------------------------------------------------- */

/* The literal lx->lit ends at p: its kind and value into *t. */
static int literal_done(json_lex *lx, json_tok *t, const char *p)
{
    static const struct { char c; int kind; double sign; } kinds[] = {
        { 't', JSON_TOK_TRUE, 0 }, { 'f', JSON_TOK_FALSE, 0 }, { 'n', JSON_TOK_NULL, 0 },
        { 'N', JSON_TOK_NONFINITE, 0 }, { 'I', JSON_TOK_NONFINITE, 1 },
        { '-', JSON_TOK_NONFINITE, -1 },
    };
    size_t k = 0;

    while (kinds[k].c != lx->lit[0])
        k++;
    lx->cut = CUT_NONE;
    lx->p = p;
    t->kind = kinds[k].kind;
    t->start = lx->tok_start;
    t->end = lx->tok_start + lx->lit_pos;
    t->value = kinds[k].sign == 0 ? NAN : kinds[k].sign * INFINITY;
    return t->kind;
}

/* The literal stops matching at p (or the input ends there). Infinity and
 * -Infinity that stop after their first three letters are Inf and -Inf,
 * which Triton reads too, followed by whatever is at the fourth: read
 * next when it is the byte at p, else the 'i' handed out as a byte. */
static int literal_short(json_lex *lx, json_tok *t, const char *p)
{
    size_t inf = lx->lit[0] == 'I' ? 3 : lx->lit[0] == '-' ? 4 : 0;
    size_t pos = lx->lit_pos;

    if (inf == 0 || pos < inf)
        return fail(lx, t, JSON_LEX_ELITERAL, off(lx, p));
    lx->lit_pos = inf;
    literal_done(lx, t, p);
    if (pos > inf) {
        lx->held = (json_tok){ .kind = JSON_TOK_BYTE, .c = 'i', .start = t->end,
                               .end = t->end + 1 };
        lx->cut = CUT_HELD;
    }
    return t->kind;
}

/* Continue the literal lx->lit at lx->p, lx->lit_pos letters matched. */
static int literal_more(json_lex *lx, json_tok *t)
{
    const char *p = lx->p, *end = lx->end;

    for (; p < end && lx->lit[lx->lit_pos] != '\0'; p++, lx->lit_pos++)
        if (*p != lx->lit[lx->lit_pos])
            return literal_short(lx, t, p);
    if (lx->lit[lx->lit_pos] == '\0')
        return literal_done(lx, t, p);
    lx->p = end;
    if (lx->ended)
        return literal_short(lx, t, end);
    lx->cut = CUT_LITERAL;
    return t->kind = JSON_TOK_MORE;
}

static int literal_start(json_lex *lx, const char *lit, json_tok *t)
{
    lx->tok_start = t->start;
    lx->lit = lit;
    lx->lit_pos = 0;
    return literal_more(lx, t);
}

/* ---- numbers (json_num.h) ----------------------------------------------------- */

/* Continue a number cut by a chunk boundary (its text so far in lx->num).
 * It ends as it would inside one chunk: at the first byte that cannot
 * continue it (left for the next token), or as too long once a full
 * window is a valid prefix. */
static int number_more(json_lex *lx, json_tok *t)
{
    const char *p = lx->p, *end = lx->end;
    size_t stop = 0;
    bool cut_short, final;
    int r;

    if ((lx->want & JSON_WANT_NONFINITE) && lx->num_len == 1 && lx->num[0] == '-' &&
        p < end && *p == 'I') {
        lx->lit = "-Infinity";
        lx->lit_pos = 1;
        return literal_more(lx, t);
    }
    while (lx->num_len < NUM_WINDOW && p < end && num_char((unsigned char)*p))
        lx->num[lx->num_len++] = *p++;
    cut_short = lx->num_len < NUM_WINDOW;
    final = cut_short && (p < end || lx->ended);
    r = num_scan(lx->num, lx->num_len, final, &t->num, &stop);
    if (r == NUM_MORE && cut_short) {
        lx->p = p;
        lx->cut = CUT_NUMBER;
        return t->kind = JSON_TOK_MORE;
    }
    lx->cut = CUT_NONE;
    if (r == NUM_OK) {
        /* What follows the token came with this chunk: the text before it
         * was a prefix that could go on. */
        size_t extra = lx->num_len - t->num.len;
        assert(extra <= (size_t)(p - lx->chunk));
        lx->p = p - extra;
        t->kind = JSON_TOK_NUMBER;
        t->start = lx->tok_start;
        t->end = lx->tok_start + t->num.len;
        return t->kind;
    }
    lx->p = p;
    if (r == NUM_MORE)
        return fail(lx, t, JSON_LEX_ELONG, lx->tok_start);
    return fail(lx, t, JSON_LEX_ENUMBER, lx->tok_start + stop);
}

/* A number at lx->p: scanned in place when it ends inside the chunk,
 * else copied to lx->num to be continued. */
static int number_start(json_lex *lx, unsigned want, json_tok *t)
{
    const char *p = lx->p;
    size_t avail = (size_t)(lx->end - p), stop = 0;
    size_t window = avail < NUM_WINDOW ? avail : NUM_WINDOW;
    int r;

    lx->tok_start = t->start;
    lx->want = (unsigned char)want;
    if ((want & JSON_WANT_NONFINITE) && *p == '-' && avail > 1 && p[1] == 'I')
        return literal_start(lx, "-Infinity", t);
    r = num_scan(p, window, false, &t->num, &stop);
    if (r == NUM_OK) {
        lx->p = p + t->num.len;
        t->kind = JSON_TOK_NUMBER;
        t->end = t->start + t->num.len;
        return t->kind;
    }
    if (r == NUM_MORE && window < NUM_WINDOW) {
        memcpy(lx->num, p, window);
        lx->num_len = window;
        lx->p = lx->end;
        return number_more(lx, t);
    }
    lx->p = lx->end;
    if (r == NUM_MORE)
        return fail(lx, t, JSON_LEX_ELONG, t->start);
    return fail(lx, t, JSON_LEX_ENUMBER, t->start + stop);
}

/* ---- tokens ------------------------------------------------------------------- */

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A token cut by the last chunk, or one held back: go on with it. */
static int resume(json_lex *lx, json_tok *t)
{
    switch (lx->cut) {
    case CUT_STRING:
        return string_more(lx, t);
    case CUT_NUMBER:
        return number_more(lx, t);
    case CUT_LITERAL:
        return literal_more(lx, t);
    default:
        assert(lx->cut == CUT_HELD);
        *t = lx->held;
        if (t->kind != JSON_TOK_ERROR)
            lx->cut = CUT_NONE;
        return t->kind;
    }
}

int json_lex_next(json_lex *lx, unsigned want, json_tok *t)
{
    const char *p = lx->p;
    unsigned char c;

    if (lx->cut != CUT_NONE)
        return resume(lx, t);
    while (p < lx->end && is_space((unsigned char)*p))
        p++;
    lx->p = p;
    t->start = off(lx, p);
    if (p == lx->end) {
        t->end = t->start;
        return t->kind = lx->ended ? JSON_TOK_END : JSON_TOK_MORE;
    }
    c = (unsigned char)*p;
    switch (c) {
    case '{': case '}': case '[': case ']': case ':': case ',':
        t->kind = JSON_TOK_PUNCT;
        goto one_byte;
    case '"':
        if (want & JSON_WANT_STRING)
            return string_start(lx, t);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (want & JSON_WANT_SCALAR)
            return number_start(lx, want, t);
        break;
    case 't': case 'f': case 'n':
        if (want & JSON_WANT_SCALAR)
            return literal_start(lx, c == 't' ? "true" : c == 'f' ? "false" : "null", t);
        break;
    case 'N': case 'I':
        if ((want & JSON_WANT_SCALAR) && (want & JSON_WANT_NONFINITE))
            return literal_start(lx, c == 'N' ? "NaN" : "Infinity", t);
        break;
    }
    t->kind = JSON_TOK_BYTE;
one_byte:
    t->c = c;
    t->end = t->start + 1;
    lx->p = p + 1;
    return t->kind;
}
