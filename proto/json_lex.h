/* json_lex.h - an incremental JSON tokenizer (RFC 8259) shared by the native
 * request decoder (json_decode.c) and the v2 header parser (v2_text.c).
 *
 * Text arrives in chunks that may be split anywhere, even inside a number,
 * string, escape, UTF-8 sequence or literal: a cut token is kept in the
 * lexer (numbers in a 513-byte window, strings in the caller's buffer)
 * and finished by the next chunk, so a text gives the same tokens however
 * it is split. The lexer holds no global state and takes no lock.
 *
 *     char buf[64];
 *     json_lex lx;
 *     json_lex_init(&lx, 0, buf, sizeof buf);
 *     per chunk:
 *         json_lex_feed(&lx, data, len);
 *         while ((kind = json_lex_next(&lx, want, &tok)) != JSON_TOK_MORE)
 *             ... one token; stop at JSON_TOK_ERROR ...
 *     at the end (when the caller needs the last token finished):
 *         json_lex_end(&lx); json_lex_next(...) until JSON_TOK_END
 *
 * want says which values the caller's grammar takes at this point
 * (JSON_WANT_*): a '"', a number or a literal that it does not take is
 * returned as JSON_TOK_BYTE at its first byte without being read, so a
 * caller reports "unexpected" there before any error inside that token,
 * as a grammar check on the first byte would. Punctuation is always
 * returned. Offsets count bytes from the first byte of the first chunk. */
#ifndef LOSSD_JSON_LEX_H
#define LOSSD_JSON_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_num.h"
#include "utf8.h"

/* Lexical errors: name, message. A message reads "<message> at byte N". */
#define JSON_LEX_ERRORS(X)                                                  \
    X(EUTF8, "invalid UTF-8 in string")                                     \
    X(ECONTROL, "control character in string")                              \
    X(EESCAPE, "invalid escape in string")                                  \
    X(EHEX, "invalid \\u escape in string")                                 \
    X(ESURROGATE, "unpaired UTF-16 surrogate in string")                    \
    X(ENUL, "\\u0000 in string")                                            \
    X(EUNTERMINATED, "unterminated string")                                 \
    X(ELITERAL, "invalid literal")                                          \
    X(ENUMBER, "invalid number")                                            \
    X(ELONG, "number longer than 512 characters")

enum json_lex_err {
    JSON_LEX_OK,
#define JSON_LEX_ENUM(name, msg) JSON_LEX_##name,
    JSON_LEX_ERRORS(JSON_LEX_ENUM)
#undef JSON_LEX_ENUM
};

/* "EUTF8", ...; "?" for a code that is none. */
const char *json_lex_err_name(int err);
/* "invalid UTF-8 in string", ...; "?" for a code that is none. */
const char *json_lex_message(int err);

enum json_tok_kind {
    JSON_TOK_MORE,          /* the chunk is used up: feed the next one */
    JSON_TOK_END,           /* the input ended (after json_lex_end) */
    JSON_TOK_ERROR,         /* err, start, at; every later call returns it again */
    JSON_TOK_PUNCT,         /* c is one of { } [ ] : , */
    JSON_TOK_BYTE,          /* c starts no token the caller wants (or none at all) */
    JSON_TOK_STRING,        /* str, len, kept */
    JSON_TOK_NUMBER,        /* num: text and is_int; json_tok_double() */
    JSON_TOK_NONFINITE,     /* NaN, Infinity, -Infinity, Inf, -Inf: value */
    JSON_TOK_TRUE,
    JSON_TOK_FALSE,
    JSON_TOK_NULL,
};

/* What the caller's grammar takes as the next token (punctuation always). */
enum {
    JSON_WANT_STRING = 1,       /* a string */
    JSON_WANT_SCALAR = 2,       /* a number, true, false, null */
    JSON_WANT_NONFINITE = 4,    /* with JSON_WANT_SCALAR: the bare NaN, Infinity,
                                   -Infinity, Inf, -Inf that Python's json module
                                   and Triton write */
    JSON_WANT_VALUE = JSON_WANT_STRING | JSON_WANT_SCALAR,
};

/* json_lex_init() flags. */
enum {
    JSON_LEX_NO_NUL = 1,        /* \u0000 is ENUL at its backslash: for text
                                   whose strings become C strings */
};

/* One token. Pointers stay valid until the next call on the lexer. */
typedef struct json_tok {
    int kind;                   /* JSON_TOK_* */
    unsigned char c;            /* PUNCT, BYTE: the byte */
    int err;                    /* ERROR: JSON_LEX_E* */
    uint64_t start, end;        /* the token's first byte, the byte after it */
    uint64_t at;                /* ERROR: the byte that is wrong (the token's
                                   first for ELONG; the end of input when the
                                   input ends inside the token) */
    const char *str;            /* STRING: the first kept bytes, unescaped, UTF-8
                                   (not NUL-terminated) */
    size_t len, kept;           /* STRING: the full length; kept < len when the
                                   buffer was too small */
    numtok num;                 /* NUMBER: the text (num.s, num.len), num.is_int */
    double value;               /* NONFINITE */
} json_tok;

/* The lexer; embed it and leave the fields alone, except p and end (see
 * json_lex_skip). */
typedef struct json_lex {
    const char *p, *end;        /* the unread part of the current chunk */
    const char *chunk;
    uint64_t chunk_off;         /* offset of chunk[0] */
    unsigned flags;
    bool ended;
    /* a token cut by the end of a chunk, or one to hand out next */
    unsigned char cut, esc, hex_digits, want;
    uint64_t tok_start;
    uint32_t unit, high;        /* \uXXXX being read; pending high surrogate */
    utf8_state u8;
    char *buf;                  /* the caller's string buffer */
    size_t cap, str_len;
    const char *lit;
    size_t lit_pos;
    size_t num_len;
    json_tok held;              /* an error to repeat, or a byte to hand out */
    char num[NUM_WINDOW + 1];
} json_lex;

/* Start a text. buf (cap bytes, cap may be 0) keeps strings that are cut
 * by a chunk boundary or hold escapes; other strings are handed out where
 * they lie in the chunk. flags: JSON_LEX_*. */
void json_lex_init(json_lex *lx, unsigned flags, char *buf, size_t cap);

/* The next chunk, once json_lex_next() returned JSON_TOK_MORE for the
 * previous one. The bytes must stay put until then. */
void json_lex_feed(json_lex *lx, const char *data, size_t len);

/* No chunk follows: a token cut at the end is finished (or is an error),
 * then JSON_TOK_END. */
void json_lex_end(json_lex *lx);

/* The next token after whitespace into *t; returns t->kind. */
int json_lex_next(json_lex *lx, unsigned want, json_tok *t);

/* True while a token is cut by the end of the chunk. */
static inline bool json_lex_busy(const json_lex *lx)
{
    return lx->cut != 0;
}

/* Offset of the byte at p, inside the current chunk. */
static inline uint64_t json_lex_offset(const json_lex *lx, const char *p)
{
    return lx->chunk_off + (uint64_t)(p - lx->chunk);
}

/* For a caller's fast path: between tokens (!json_lex_busy()), the caller
 * may read the unread bytes [lx->p, lx->end) itself, then go on after
 * what it took. p must lie in [lx->p, lx->end]. */
static inline void json_lex_skip(json_lex *lx, const char *p)
{
    lx->p = p;
}

/* The double nearest to a NUMBER or NONFINITE token. */
static inline double json_tok_double(const json_tok *t)
{
    return t->kind == JSON_TOK_NUMBER ? num_value(&t->num) : t->value;
}

#endif
