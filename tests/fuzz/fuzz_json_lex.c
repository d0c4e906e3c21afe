/* fuzz_json_lex.c - libFuzzer harness for the incremental JSON lexer (proto/json_lex.c).
 *
 * Input: byte 0 chooses what the caller takes (bit 0: strings, bit 1:
 * scalars, bit 2: the non-finite names, bit 3: JSON_LEX_NO_NUL, bit 4: a
 * 5-byte string buffer instead of a large one), the rest is the text. It
 * is lexed whole, then in pieces whose sizes derive from the data: both
 * must give the same tokens. Every token must lie inside the text, after
 * the one before, and every number must read as strtod reads its text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_lex.h"

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_json_lex: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define MAX_TOKENS 4096

/* What a caller sees of a token; strings by a hash of their kept bytes. */
typedef struct seen {
    int kind, err, c;
    uint64_t start, end, at, len, hash;
    double v;
} seen;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void check_token(const json_tok *t, uint64_t size, uint64_t after)
{
    CHECK(t->start >= after && t->start <= t->end && t->end <= size);
    if (t->kind == JSON_TOK_ERROR)
        CHECK(t->at >= t->start && t->at <= size);
    if (t->kind == JSON_TOK_NUMBER) {
        char text[NUM_WINDOW + 1];
        CHECK(t->num.len > 0 && t->num.len <= NUM_MAX && t->end - t->start == t->num.len);
        memcpy(text, t->num.s, t->num.len);
        text[t->num.len] = '\0';
        double want = strtod(text, NULL), got = json_tok_double(t);
        CHECK(memcmp(&want, &got, sizeof got) == 0);
    }
    if (t->kind == JSON_TOK_STRING)
        CHECK(t->kept <= t->len && t->len <= t->end - t->start);
}

/* Lex text[0..n), cutting a piece each time the running hash says so
 * (seed 0: whole). Returns how many tokens went into out. */
static int lex(const char *text, size_t n, unsigned mode, uint32_t seed, seen *out)
{
    unsigned want = mode & 7, flags = mode & 8 ? JSON_LEX_NO_NUL : 0;
    char buf[256];
    size_t cap = mode & 16 ? 5 : sizeof buf, at = 0;
    uint64_t after = 0;
    json_lex lx;
    json_tok t;
    int count = 0;

    json_lex_init(&lx, flags, buf, cap);
    for (;;) {
        int kind = json_lex_next(&lx, want, &t);
        if (kind == JSON_TOK_MORE) {
            size_t piece = n - at;
            if (seed && piece > 0) {
                seed = seed * 1103515245u + 12345u;
                piece = 1 + (seed >> 16) % (piece < 16 ? piece : 16);
            }
            if (piece == 0)
                json_lex_end(&lx);
            else
                json_lex_feed(&lx, text + at, piece);
            at += piece;
            continue;
        }
        CHECK(kind != JSON_TOK_MORE);
        check_token(&t, n, after);
        after = t.end;
        if (count < MAX_TOKENS) {
            seen *s = &out[count++];
            memset(s, 0, sizeof *s);
            s->kind = t.kind, s->start = t.start, s->end = t.end;
            if (kind == JSON_TOK_PUNCT || kind == JSON_TOK_BYTE)
                s->c = t.c;
            if (kind == JSON_TOK_ERROR)
                s->err = t.err, s->at = t.at;
            if (kind == JSON_TOK_STRING)      /* kept differs: in place or in the buffer */
                s->len = t.len, s->hash = fnv(t.str, t.kept < 5 ? t.kept : 5);
            if (kind == JSON_TOK_NUMBER || kind == JSON_TOK_NONFINITE)
                s->v = json_tok_double(&t);
        }
        if (kind == JSON_TOK_END || kind == JSON_TOK_ERROR)
            return count;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seen whole[MAX_TOKENS], pieces[MAX_TOKENS];
    uint32_t seed = 2166136261u;

    if (size < 1)
        return 0;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    int a = lex((const char *)data + 1, size - 1, data[0], 0, whole);
    int b = lex((const char *)data + 1, size - 1, data[0], seed | 1, pieces);
    CHECK(a == b);
    for (int i = 0; i < a; i++)
        CHECK(memcmp(&whole[i], &pieces[i], sizeof whole[i]) == 0);
    return 0;
}
