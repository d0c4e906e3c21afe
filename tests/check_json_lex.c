/* check_json_lex.c - Check suite for the incremental JSON lexer (proto/json_lex.c). */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "json.h"
#include "json_lex.h"
#include "golden.h"
#include "suite.h"

/* ---- transcripts: every token of a text, one line each ------------------------ */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* One line for token k: what a caller can see of it. */
static void describe(text *out, const json_tok *k)
{
    put(out, "%d %llu-%llu", k->kind, (unsigned long long)k->start, (unsigned long long)k->end);
    switch (k->kind) {
    case JSON_TOK_PUNCT:
    case JSON_TOK_BYTE:
        put(out, " c=%02x", k->c);
        break;
    case JSON_TOK_STRING:
        put(out, " len=%zu kept=%zu s=", k->len, k->kept);
        for (size_t i = 0; i < k->kept; i++)
            put(out, "%02x", (unsigned char)k->str[i]);
        break;
    case JSON_TOK_NUMBER:
        put(out, " num=%.*s int=%d v=%a", (int)k->num.len, k->num.s, k->num.is_int,
            json_tok_double(k));
        break;
    case JSON_TOK_NONFINITE:
        put(out, " v=%a", k->value);
        break;
    case JSON_TOK_ERROR:
        put(out, " err=%s at=%llu", json_lex_err_name(k->err), (unsigned long long)k->at);
        break;
    }
    put(out, "\n");
}

/* Every token of doc[0..n) fed in pieces cut at cuts[0..ncuts) (ascending),
 * up to the end or the first error. Malloc'd. */
static char *lex_cuts(const char *doc, size_t n, const size_t *cuts, int ncuts,
                      unsigned want, unsigned flags)
{
    char buf[1024];
    json_lex lx;
    json_tok k;
    text out = { 0 };
    size_t at = 0;

    json_lex_init(&lx, flags, buf, sizeof buf);
    put(&out, "%s", "");
    for (int i = 0; i <= ncuts; i++) {
        size_t next = i < ncuts ? cuts[i] : n;
        json_lex_feed(&lx, doc + at, next - at);
        at = next;
        while (json_lex_next(&lx, want, &k) != JSON_TOK_MORE) {
            describe(&out, &k);
            if (k.kind == JSON_TOK_ERROR)
                return out.s;
        }
    }
    json_lex_end(&lx);
    do {
        json_lex_next(&lx, want, &k);
        describe(&out, &k);
    } while (k.kind != JSON_TOK_END && k.kind != JSON_TOK_ERROR);
    return out.s;
}

static char *lex_whole(const char *doc, size_t n, unsigned want, unsigned flags)
{
    return lex_cuts(doc, n, NULL, 0, want, flags);
}

/* The same tokens however doc is cut: at every offset, at every pair of
 * offsets (short texts), and byte by byte. */
static void check_split_invariant(const char *doc, size_t n, unsigned want, unsigned flags)
{
    char *whole = lex_whole(doc, n, want, flags), *got;
    size_t cuts[2], *bytes = malloc((n + 1) * sizeof *bytes);

    for (size_t i = 0; i <= n; i++) {
        cuts[0] = i;
        got = lex_cuts(doc, n, cuts, 1, want, flags);
        ck_assert_msg(strcmp(got, whole) == 0, "cut at %zu of %.60s:\n%s\nwhole:\n%s", i, doc,
                      got, whole);
        free(got);
        for (size_t j = i; n <= 80 && j <= n; j++) {
            cuts[1] = j;
            got = lex_cuts(doc, n, cuts, 2, want, flags);
            ck_assert_msg(strcmp(got, whole) == 0, "cuts at %zu, %zu of %.60s", i, j, doc);
            free(got);
        }
    }
    for (size_t i = 0; i < n; i++)
        bytes[i] = i + 1;
    got = lex_cuts(doc, n, bytes, n > 0 ? (int)n - 1 : 0, want, flags);
    ck_assert_msg(strcmp(got, whole) == 0, "byte by byte, %.60s:\n%s\nwhole:\n%s", doc, got, whole);
    free(got);
    free(bytes);
    free(whole);
}

/* All tokens of a whole text, for tests that look at them. At most max.
 * A token may point into the lexer (a number at the very end) or into
 * buf (the last string with escapes): the lexer lives on until the next
 * call, buf as long as the caller keeps it. */
static int tokens_of(const char *doc, unsigned want, unsigned flags, char *buf, size_t cap,
                     json_tok *out, int max)
{
    static json_lex lx;
    int n = 0;

    json_lex_init(&lx, flags, buf, cap);
    json_lex_feed(&lx, doc, strlen(doc));
    json_lex_end(&lx);
    while (n < max && json_lex_next(&lx, want, &out[n]) != JSON_TOK_END)
        if (out[n++].kind == JSON_TOK_ERROR)
            break;
    return n;
}

/* ---- token kinds ----------------------------------------------------------------- */

START_TEST(every_token_kind_with_its_offsets)
{
    const char *doc = " {\"a\" : [1, -2.5e3, true, false, null, \"s\\u00e9\\n\"], \"b\":{}}\n";
    static const struct { int kind; unsigned start, end; } want[] = {
        { JSON_TOK_PUNCT, 1, 2 }, { JSON_TOK_STRING, 2, 5 }, { JSON_TOK_PUNCT, 6, 7 },
        { JSON_TOK_PUNCT, 8, 9 }, { JSON_TOK_NUMBER, 9, 10 }, { JSON_TOK_PUNCT, 10, 11 },
        { JSON_TOK_NUMBER, 12, 18 }, { JSON_TOK_PUNCT, 18, 19 }, { JSON_TOK_TRUE, 20, 24 },
        { JSON_TOK_PUNCT, 24, 25 }, { JSON_TOK_FALSE, 26, 31 }, { JSON_TOK_PUNCT, 31, 32 },
        { JSON_TOK_NULL, 33, 37 }, { JSON_TOK_PUNCT, 37, 38 }, { JSON_TOK_STRING, 39, 50 },
        { JSON_TOK_PUNCT, 50, 51 }, { JSON_TOK_PUNCT, 51, 52 }, { JSON_TOK_STRING, 53, 56 },
        { JSON_TOK_PUNCT, 56, 57 }, { JSON_TOK_PUNCT, 57, 58 }, { JSON_TOK_PUNCT, 58, 59 },
        { JSON_TOK_PUNCT, 59, 60 },
    };
    json_tok t[32];
    char buf[64];
    int n = tokens_of(doc, JSON_WANT_VALUE, 0, buf, sizeof buf, t, 32);

    ck_assert_int_eq(n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < n; i++) {
        ck_assert_msg(t[i].kind == want[i].kind && t[i].start == want[i].start &&
                      t[i].end == want[i].end, "token %d: kind %d at %llu-%llu, want %d at %u-%u",
                      i, t[i].kind, (unsigned long long)t[i].start, (unsigned long long)t[i].end,
                      want[i].kind, want[i].start, want[i].end);
    }
    ck_assert_int_eq(t[0].c, '{');
    ck_assert_int_eq(t[1].len, 1);
    ck_assert_mem_eq(t[1].str, "a", 1);
    ck_assert_int_eq(t[14].len, 4);
    ck_assert_mem_eq(t[14].str, "s\xc3\xa9\n", 4);
    ck_assert(json_tok_double(&t[6]) == -2500.0);
    check_split_invariant(doc, strlen(doc), JSON_WANT_VALUE, 0);
}
END_TEST

START_TEST(strings_unescape_and_keep_their_full_length)
{
    static const struct { const char *json, *want; size_t len; } cases[] = {
        { "\"\"", "", 0 },
        { "\"plain\"", "plain", 5 },
        { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8 },
        { "\"\\u0041\\u00e9\\u20ac\"", "A\xc3\xa9\xe2\x82\xac", 6 },
        { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4 },
        { "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12 },
        { "\"a\\u0000b\"", "a\0b", 3 },
        { "\"\x7f\"", "\x7f", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_tok t[2];
        char buf[64];
        ck_assert_int_eq(tokens_of(cases[i].json, JSON_WANT_STRING, 0, buf, sizeof buf, t, 2), 1);
        ck_assert_int_eq(t[0].kind, JSON_TOK_STRING);
        ck_assert_uint_eq(t[0].len, cases[i].len);
        ck_assert_uint_eq(t[0].kept, cases[i].len);
        ck_assert_mem_eq(t[0].str, cases[i].want, cases[i].len);
        check_split_invariant(cases[i].json, strlen(cases[i].json), JSON_WANT_STRING, 0);
    }
    /* A buffer too small for an escaped string keeps its start, and says so. */
    json_tok t[2];
    char small[4];
    ck_assert_int_eq(tokens_of("\"abc\\ndefgh\"", JSON_WANT_STRING, 0, small, sizeof small, t, 2), 1);
    ck_assert_uint_eq(t[0].len, 9);
    ck_assert_uint_eq(t[0].kept, 4);
    ck_assert_mem_eq(t[0].str, "abc\n", 4);
    /* One without escapes inside the chunk is handed out where it lies. */
    const char *doc = "[\"in place\"]";
    ck_assert_int_eq(tokens_of(doc, JSON_WANT_STRING, 0, small, sizeof small, t, 2), 2);
    ck_assert_ptr_eq(t[1].str, doc + 2);
    ck_assert_uint_eq(t[1].kept, 8);
}
END_TEST

/* ---- numbers ----------------------------------------------------------------------- */

START_TEST(integer_literals_differ_from_fractions_and_exponents)
{
    static const struct { const char *json; int is_int; double v; } cases[] = {
        { "1", 1, 1 }, { "-0", 1, -0.0 }, { "0", 1, 0 }, { "123456789012345678901", 1, 123456789012345678901.0 },
        { "1.0", 0, 1 }, { "1e0", 0, 1 }, { "1E+2", 0, 100 }, { "-0.0", 0, -0.0 },
        { "2.5e-3", 0, 2.5e-3 }, { "1e400", 0, INFINITY }, { "-1e-400", 0, -0.0 },
        { "0.1", 0, 0.1 }, { "9007199254740993", 1, 9007199254740992.0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_tok t[2];
        char buf[8];
        ck_assert_int_eq(tokens_of(cases[i].json, JSON_WANT_SCALAR, 0, buf, sizeof buf, t, 2), 1);
        ck_assert_int_eq(t[0].kind, JSON_TOK_NUMBER);
        ck_assert_msg(t[0].num.is_int == cases[i].is_int, "%s: is_int %d", cases[i].json,
                      t[0].num.is_int);
        double v = json_tok_double(&t[0]);
        ck_assert_msg(memcmp(&v, &cases[i].v, sizeof v) == 0, "%s: %a, want %a", cases[i].json,
                      v, cases[i].v);
        ck_assert_uint_eq(t[0].num.len, strlen(cases[i].json));
    }
    int64_t k;
    json_tok t[2];
    char buf[8];
    tokens_of("-9223372036854775808", JSON_WANT_SCALAR, 0, buf, sizeof buf, t, 2);
    ck_assert_int_eq(num_int(&t[0].num, &k), 0);
    ck_assert(k == INT64_MIN);
    tokens_of("9223372036854775808", JSON_WANT_SCALAR, 0, buf, sizeof buf, t, 2);
    ck_assert_int_eq(num_int(&t[0].num, &k), -1);
}
END_TEST

/* A number ends at the first byte that cannot continue it, which starts
 * the next token, wherever the text is cut. */
START_TEST(numbers_end_where_they_cannot_go_on)
{
    static const char *docs[] = {
        "[1.5.3]", "[01]", "[1e5e]", "[1-2]", "[-0.0e-0,0]", "[12345678901234567890.5e+3]",
        "1", "-", "1.", "1e", "1e+", "[0x1]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        check_split_invariant(docs[i], strlen(docs[i]), JSON_WANT_VALUE, 0);

    json_tok t[8];
    char buf[8];
    ck_assert_int_eq(tokens_of("1.5.3", JSON_WANT_SCALAR, 0, buf, sizeof buf, t, 8), 3);
    ck_assert_int_eq(t[0].kind, JSON_TOK_NUMBER);
    ck_assert_uint_eq(t[0].end, 3);
    ck_assert_int_eq(t[1].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[1].c, '.');
    ck_assert_uint_eq(t[1].start, 3);
}
END_TEST

/* Numbers up to 512 characters, cut anywhere; longer ones are an error at
 * their first byte. */
START_TEST(long_numbers_split_anywhere)
{
    char doc[700];
    for (size_t len = 510; len <= 514; len++) {
        memset(doc, '7', sizeof doc);
        doc[0] = '[', doc[1] = '-', doc[3] = '.';
        doc[len + 1] = ']';
        doc[len + 2] = '\0';
        check_split_invariant(doc, len + 2, JSON_WANT_VALUE, 0);
        json_tok t[4];
        char buf[8];
        tokens_of(doc, JSON_WANT_VALUE, 0, buf, sizeof buf, t, 4);
        if (len <= NUM_MAX) {
            ck_assert_int_eq(t[1].kind, JSON_TOK_NUMBER);
            ck_assert_uint_eq(t[1].num.len, len);
            ck_assert(json_tok_double(&t[1]) == strtod(doc + 1, NULL));
        } else {
            ck_assert_int_eq(t[1].kind, JSON_TOK_ERROR);
            ck_assert_int_eq(t[1].err, JSON_LEX_ELONG);
            ck_assert_uint_eq(t[1].at, 1);
        }
    }
}
END_TEST

/* The hot loops' readers (json_num.h: num_short, num_plain, num_uint)
 * give what the lexer gives whenever they take a number at all. */
START_TEST(fast_readers_agree_with_the_lexer)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull, taken[3] = { 0, 0, 0 };
    char text[96];

    for (int round = 0; round < 300000; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = seed >> 11;
        size_t n = 0;
        if (r & 1)
            text[n++] = '-';
        int digits = 1 + (int)((r >> 1) % 21), frac = (r >> 6) % 3 ? 0 : 1 + (int)((r >> 8) % 24);
        for (int i = 0; i < digits; i++)
            text[n++] = (char)('0' + (i == 0 && digits > 1 ? 1 + (r >> (13 + i)) % 9 : (r >> (3 * i)) % 10));
        if (frac)
            text[n++] = '.';
        for (int i = 0; i < frac; i++)
            text[n++] = (char)('0' + (seed >> (2 * i)) % 10);
        size_t len = n;
        memcpy(text + n, ",         ", 10);     /* readers look past the end */

        numtok t;
        size_t stop, got_len;
        uint64_t u;
        int64_t k;
        double want, got;
        ck_assert_msg(num_scan(text, len + 1, false, &t, &stop) == NUM_OK, "%.*s", (int)len, text);
        ck_assert_uint_eq(t.len, len);
        want = num_value(&t);
        if (num_short(text, len, &got) == 0) {
            ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "num_short %.*s: %a, want %a",
                          (int)len, text, got, want);
            taken[0]++;
        }
        if (num_plain(text, text + len + 1, &got, &got_len) == 0) {
            ck_assert_msg(got_len == len && memcmp(&got, &want, sizeof got) == 0,
                          "num_plain %.*s: %a, want %a", (int)len, text, got, want);
            taken[1]++;
        }
        if ((got_len = num_uint(text, text + len + 1, &u)) > 0) {
            ck_assert(got_len == len && t.is_int && num_int(&t, &k) == 0 && (uint64_t)k == u);
            taken[2]++;
        }
    }
    for (int i = 0; i < 3; i++)
        ck_assert_uint_gt(taken[i], 10000);
}
END_TEST

/* ---- literals and the non-finite names ---------------------------------------------- */

START_TEST(nonfinite_names_only_when_asked_for)
{
    const char *doc = "[NaN,Infinity,-Infinity,Inf,-Inf]";
    const unsigned nf = JSON_WANT_VALUE | JSON_WANT_NONFINITE;
    const double want[] = { NAN, INFINITY, -INFINITY, INFINITY, -INFINITY };
    json_tok t[16];
    char buf[8];
    int n = tokens_of(doc, nf, 0, buf, sizeof buf, t, 16);

    ck_assert_int_eq(n, 11);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(t[1 + 2 * i].kind, JSON_TOK_NONFINITE);
        double v = json_tok_double(&t[1 + 2 * i]);
        ck_assert_msg(isnan(want[i]) ? isnan(v) : v == want[i], "name %d: %a", i, v);
    }
    ck_assert_uint_eq(t[5].start, 14);
    ck_assert_uint_eq(t[5].end, 23);
    check_split_invariant(doc, strlen(doc), nf, 0);

    /* Without JSON_WANT_NONFINITE: N and I start no token; -I is a bad number. */
    ck_assert_int_eq(tokens_of("NaN", JSON_WANT_VALUE, 0, buf, sizeof buf, t, 16), 3);
    ck_assert_int_eq(t[0].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[0].c, 'N');
    tokens_of("Infinity", JSON_WANT_VALUE, 0, buf, sizeof buf, t, 16);
    ck_assert_int_eq(t[0].kind, JSON_TOK_BYTE);
    tokens_of("-Infinity", JSON_WANT_VALUE, 0, buf, sizeof buf, t, 16);
    ck_assert_int_eq(t[0].kind, JSON_TOK_ERROR);
    ck_assert_int_eq(t[0].err, JSON_LEX_ENUMBER);
    ck_assert_uint_eq(t[0].at, 1);
}
END_TEST

/* Infinity cut short after "Inf" is Inf followed by what comes next, as
 * Triton reads it: the fourth byte if that broke the match, else the 'i'. */
START_TEST(infinity_cut_short_is_inf_then_the_rest)
{
    const unsigned nf = JSON_WANT_VALUE | JSON_WANT_NONFINITE;
    static const char *docs[] = { "[Inf]", "[Infx]", "[Infinit]", "[-Infini", "[-In]", "[In",
                                  "[Infinityy]", "[NaNa]", "[Na]", "[-I", "[-" };
    json_tok t[8];
    char buf[8];

    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        check_split_invariant(docs[i], strlen(docs[i]), nf, 0);
    ck_assert_int_eq(tokens_of("[Infinit]", nf, 0, buf, sizeof buf, t, 8), 4);
    ck_assert_int_eq(t[1].kind, JSON_TOK_NONFINITE);
    ck_assert_uint_eq(t[1].end, 4);
    ck_assert_int_eq(t[2].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[2].c, 'i');
    ck_assert_uint_eq(t[2].start, 4);
    ck_assert_int_eq(t[3].kind, JSON_TOK_PUNCT);
    ck_assert_uint_eq(t[3].start, 8);
    ck_assert_int_eq(tokens_of("[Infx]", nf, 0, buf, sizeof buf, t, 8), 4);
    ck_assert_int_eq(t[2].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[2].c, 'x');
    ck_assert_uint_eq(t[2].start, 4);
    ck_assert_int_eq(tokens_of("[In", nf, 0, buf, sizeof buf, t, 8), 2);
    ck_assert_int_eq(t[1].err, JSON_LEX_ELITERAL);
    ck_assert_uint_eq(t[1].start, 1);
    ck_assert_uint_eq(t[1].at, 3);
}
END_TEST

/* A value the caller does not take is its first byte, unread. */
START_TEST(unwanted_tokens_are_their_first_byte)
{
    json_tok t[8];
    char buf[8];

    ck_assert_int_eq(tokens_of("\"\x01\" 1 tru", 0, 0, buf, sizeof buf, t, 8), 7);
    ck_assert_int_eq(t[0].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[0].c, '"');
    ck_assert_int_eq(t[1].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[1].c, 0x01);
    ck_assert_int_eq(t[3].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[3].c, '1');
    ck_assert_uint_eq(t[3].start, 4);
    ck_assert_int_eq(t[4].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[4].c, 't');
    ck_assert_int_eq(tokens_of("1", JSON_WANT_STRING, 0, buf, sizeof buf, t, 8), 1);
    ck_assert_int_eq(t[0].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(tokens_of("\xc3\xa9", JSON_WANT_VALUE, 0, buf, sizeof buf, t, 8), 2);
    ck_assert_int_eq(t[0].kind, JSON_TOK_BYTE);
    ck_assert_int_eq(t[0].c, 0xc3);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

START_TEST(errors_name_their_byte_however_the_text_is_cut)
{
    static const struct {
        const char *json;
        unsigned want, flags;
        int err;
        unsigned start, at;
    } cases[] = {
        { "[\"ab\x01\"]", JSON_WANT_VALUE, 0, JSON_LEX_ECONTROL, 1, 4 },
        { "[\"a\\x\"]", JSON_WANT_VALUE, 0, JSON_LEX_EESCAPE, 1, 4 },
        { "[\"a\\u12G4\"]", JSON_WANT_VALUE, 0, JSON_LEX_EHEX, 1, 7 },
        { "[\"\\ud800x\"]", JSON_WANT_VALUE, 0, JSON_LEX_ESURROGATE, 1, 8 },
        { "[\"\\ud800\\u0041\"]", JSON_WANT_VALUE, 0, JSON_LEX_ESURROGATE, 1, 13 },
        { "[\"\\udc00\"]", JSON_WANT_VALUE, 0, JSON_LEX_ESURROGATE, 1, 7 },
        { "[\"a\xff\"]", JSON_WANT_VALUE, 0, JSON_LEX_EUTF8, 1, 3 },
        { "[\"\xc3\"]", JSON_WANT_VALUE, 0, JSON_LEX_EUTF8, 1, 3 },
        { "[\"\xed\xa0\x80\"]", JSON_WANT_VALUE, 0, JSON_LEX_EUTF8, 1, 3 },
        { "[\"abc", JSON_WANT_VALUE, 0, JSON_LEX_EUNTERMINATED, 1, 5 },
        { "[\"a\\", JSON_WANT_VALUE, 0, JSON_LEX_EUNTERMINATED, 1, 4 },
        { "[\"a\\u0000\"]", JSON_WANT_VALUE, JSON_LEX_NO_NUL, JSON_LEX_ENUL, 1, 3 },
        { "[\"\\ud800\\u0000\"]", JSON_WANT_VALUE, JSON_LEX_NO_NUL, JSON_LEX_ENUL, 1, 8 },
        { "[tru]", JSON_WANT_VALUE, 0, JSON_LEX_ELITERAL, 1, 4 },
        { "[nul", JSON_WANT_VALUE, 0, JSON_LEX_ELITERAL, 1, 4 },
        { "[fals3]", JSON_WANT_VALUE, 0, JSON_LEX_ELITERAL, 1, 5 },
        { "[NaX]", JSON_WANT_VALUE | JSON_WANT_NONFINITE, 0, JSON_LEX_ELITERAL, 1, 3 },
        { "[1.x]", JSON_WANT_VALUE, 0, JSON_LEX_ENUMBER, 1, 3 },
        { "[-]", JSON_WANT_VALUE, 0, JSON_LEX_ENUMBER, 1, 2 },
        { "[-", JSON_WANT_VALUE, 0, JSON_LEX_ENUMBER, 1, 2 },
        { "[1e+", JSON_WANT_VALUE, 0, JSON_LEX_ENUMBER, 1, 4 },
        { "[1.e5]", JSON_WANT_VALUE, 0, JSON_LEX_ENUMBER, 1, 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *doc = cases[i].json;
        json_tok t[8];
        char buf[64];
        int n = tokens_of(doc, cases[i].want, cases[i].flags, buf, sizeof buf, t, 8);
        ck_assert_int_ge(n, 1);
        const json_tok *e = &t[n - 1];
        ck_assert_msg(e->kind == JSON_TOK_ERROR && e->err == cases[i].err &&
                      e->start == cases[i].start && e->at == cases[i].at,
                      "case %zu: kind %d %s start %llu at %llu, want %s start %u at %u", i,
                      e->kind, json_lex_err_name(e->err), (unsigned long long)e->start,
                      (unsigned long long)e->at, json_lex_err_name(cases[i].err),
                      cases[i].start, cases[i].at);
        check_split_invariant(doc, strlen(doc), cases[i].want, cases[i].flags);
    }
    ck_assert_str_eq(json_lex_message(JSON_LEX_ELONG), "number longer than 512 characters");
    ck_assert_str_eq(json_lex_err_name(JSON_LEX_EUTF8), "EUTF8");
    ck_assert_str_eq(json_lex_message(99), "?");
}
END_TEST

/* An error is latched: every later call returns it again. */
START_TEST(errors_are_latched)
{
    json_lex lx;
    json_tok a, b;

    json_lex_init(&lx, 0, NULL, 0);
    json_lex_feed(&lx, "[\x01, 1]", 6);
    ck_assert_int_eq(json_lex_next(&lx, JSON_WANT_VALUE, &a), JSON_TOK_PUNCT);
    ck_assert_int_eq(json_lex_next(&lx, JSON_WANT_VALUE, &a), JSON_TOK_BYTE);
    json_lex_init(&lx, 0, NULL, 0);
    json_lex_feed(&lx, "[1x, 2]", 7);
    json_lex_next(&lx, JSON_WANT_VALUE, &a);
    json_lex_next(&lx, JSON_WANT_VALUE, &a);
    ck_assert_int_eq(json_lex_next(&lx, JSON_WANT_VALUE, &a), JSON_TOK_BYTE);
    json_lex_init(&lx, 0, NULL, 0);
    json_lex_feed(&lx, "\"\\q\" 1", 6);
    ck_assert_int_eq(json_lex_next(&lx, JSON_WANT_VALUE, &a), JSON_TOK_ERROR);
    ck_assert_int_eq(json_lex_next(&lx, JSON_WANT_VALUE, &b), JSON_TOK_ERROR);
    ck_assert_int_eq(a.err, b.err);
    ck_assert_uint_eq(a.at, b.at);
    ck_assert(json_lex_busy(&lx));
}
END_TEST

/* Offsets count from the first chunk, across chunks and cut tokens. */
START_TEST(split_documents_give_the_same_tokens)
{
    static const char *docs[] = {
        "{\"input\": [[1.5, -2, 3e1], [0.25, 1E-3, -0]], \"target\": [0, 2], \"dtype\": \"float32\"}",
        "  [ \"\\u00e9\\ud83d\\ude00\\\"\" , \"h\xc3\xa9llo\" , true , false , null ]  ",
        "{\"k\\u0065y\":\"v\xe2\x82\xac\",\"n\":[123456789012345678901234567890,1e-9999]}",
        "[1,2,3] trailing",
        "",
        "   ",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        check_split_invariant(docs[i], strlen(docs[i]), JSON_WANT_VALUE, 0);
}
END_TEST

/* ---- differential: the lexer's numbers against strtod and the decoder --------------------- */

/* A whole file into *len bytes; NULL when it cannot be read. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (s = malloc((size_t)n + 1)) != NULL) {
        *len = fread(s, 1, (size_t)n, f);
        s[*len] = '\0';
    }
    fclose(f);
    return s;
}

/* Every number token of doc[0..n) read as strtod reads its text (the
 * lexer stops at the first lexical error). Returns how many. */
static uint64_t check_numbers_against_strtod(const char *doc, size_t n, const char *name)
{
    json_lex lx;
    json_tok t;
    uint64_t count = 0;

    json_lex_init(&lx, 0, NULL, 0);
    json_lex_feed(&lx, doc, n);
    json_lex_end(&lx);
    while (json_lex_next(&lx, JSON_WANT_VALUE | JSON_WANT_NONFINITE, &t) != JSON_TOK_END &&
           t.kind != JSON_TOK_ERROR) {
        if (t.kind != JSON_TOK_NUMBER)
            continue;
        char text[NUM_WINDOW + 1];
        memcpy(text, t.num.s, t.num.len);
        text[t.num.len] = '\0';
        double want = strtod(text, NULL), got = json_tok_double(&t);
        ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "%s byte %llu: %s read as %a, strtod %a",
                      name, (unsigned long long)t.start, text, got, want);
        count++;
    }
    return count;
}

START_TEST(numbers_match_strtod_on_the_corpus)
{
    static const char *dirs[] = { "tests/fuzz/corpus/json", "tests/fuzz/corpus/v2",
                                  "tests/fuzz/corpus/json_lex" };
    uint64_t count = 0;
    size_t len;
    char *doc;

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        ck_assert_msg(d != NULL, "%s: run from the repository root", dirs[i]);
        while ((e = readdir(d)) != NULL) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
            if (e->d_name[0] == '.' || (doc = read_all(path, &len)) == NULL)
                continue;
            count += check_numbers_against_strtod(doc, len, path);
            free(doc);
        }
        closedir(d);
    }
    doc = read_all(GOLDEN_PATH, &len);
    ck_assert_msg(doc != NULL, "%s: run from the repository root", GOLDEN_PATH);
    count += check_numbers_against_strtod(doc, len, GOLDEN_PATH);
    free(doc);
    ck_assert_uint_gt(count, 100000);
}
END_TEST

/* The values of the top-level "input" of a request document, in order, as
 * the lexer reads them (numbers, and the strings "NaN", "Infinity",
 * "-Infinity"). Returns how many, at most max. */
static size_t input_values(const char *doc, size_t n, double *out, size_t max)
{
    json_lex lx;
    json_tok t;
    char buf[64];
    int depth = 0;
    bool want_key = false, key_is_input = false, in_input = false;
    size_t count = 0;

    json_lex_init(&lx, 0, buf, sizeof buf);
    json_lex_feed(&lx, doc, n);
    json_lex_end(&lx);
    while (json_lex_next(&lx, JSON_WANT_VALUE, &t) != JSON_TOK_END && t.kind != JSON_TOK_ERROR) {
        if (t.kind == JSON_TOK_PUNCT) {
            depth += (t.c == '[' || t.c == '{') - (t.c == ']' || t.c == '}');
            in_input = depth >= 2 && (in_input || (t.c == '[' && key_is_input));
            want_key = depth == 1 && (t.c == '{' || t.c == ',');
        } else if (want_key) {
            key_is_input = t.kind == JSON_TOK_STRING && t.len == 5 && memcmp(t.str, "input", 5) == 0;
            want_key = false;
        } else if (in_input && count < max) {
            out[count++] = t.kind == JSON_TOK_NUMBER ? json_tok_double(&t)
                         : t.len == 3 ? NAN : t.str[0] == '-' ? -INFINITY : INFINITY;
        }
    }
    return count;
}

/* doc decoded by the JSON request decoder, fed in pieces of chunk bytes,
 * stores in its input exactly the lexer's values rounded to its dtype.
 * Returns how many values were compared. */
static uint64_t check_decoder_against_lexer(const char *doc, size_t n, size_t chunk, const char *name)
{
    const feed_config cfg = {.ops = &json_decoder_ops, .max_body = 1u << 30};
    mml_error err = {0};
    payload pl;
    int rc = feed_decode(&cfg, doc, n, FEED_EVERY(chunk), &pl, &err);
    ck_assert_msg(rc == 0, "%s: %s", name, err.message);
    uint64_t count = pl.req.n * pl.req.c;
    double *want = malloc((count + 1) * sizeof *want);
    ck_assert_uint_eq(input_values(doc, n, want, count + 1), count);
    for (uint64_t i = 0; i < count; i++) {
        double rounded, got = mml_load(pl.req.dtype, pl.input, i);
        unsigned char tmp[8];
        mml_store(pl.req.dtype, tmp, 0, want[i]);
        rounded = mml_load(pl.req.dtype, tmp, 0);
        ck_assert_msg(isnan(got) ? isnan(rounded) : memcmp(&got, &rounded, sizeof got) == 0,
                      "%s input[%llu]: decoder %a, lexer %a rounded to %a", name,
                      (unsigned long long)i, got, want[i], rounded);
    }
    free(want);
    payload_free(&pl);
    return count;
}

/* A golden case's line as a request: the texts of its input numbers as
 * written, in rows of its shape. Malloc'd, NULL for a line that is none. */
static char *golden_request(const char *line, size_t n, size_t *len)
{
    json_lex lx;
    json_tok t;
    char key[16] = "", dtype[16] = "";
    uint64_t shape[2] = { 0, 0 }, dims = 0, k = 0;
    text in = { 0 }, tg = { 0 }, out = { 0 };
    int depth = 0;

    json_lex_init(&lx, 0, NULL, 0);
    json_lex_feed(&lx, line, n);
    json_lex_end(&lx);
    put(&in, "%s", "");
    put(&tg, "%s", "");
    while (json_lex_next(&lx, JSON_WANT_VALUE, &t) != JSON_TOK_END && t.kind != JSON_TOK_ERROR) {
        const char *raw = line + t.start;
        int rawlen = (int)(t.end - t.start);
        if (t.kind == JSON_TOK_PUNCT) {
            depth += (t.c == '[' || t.c == '{') - (t.c == ']' || t.c == '}');
            if (depth == 1 && (t.c == '{' || t.c == ','))
                key[0] = '\0';
        } else if (depth == 1 && t.kind == JSON_TOK_STRING && key[0] == '\0') {
            snprintf(key, sizeof key, "%.*s", (int)t.kept, t.str);
        } else if (strcmp(key, "dtype") == 0) {
            snprintf(dtype, sizeof dtype, "%.*s", rawlen, raw);
        } else if (strcmp(key, "shape") == 0 && dims < 2) {
            shape[dims++] = (uint64_t)json_tok_double(&t);
        } else if (strcmp(key, "input") == 0) {
            put(&in, "%s%s%.*s", k == 0 ? "[" : k % shape[1] ? "," : "],[", "", rawlen, raw);
            k++;
        } else if (strcmp(key, "target") == 0) {
            put(&tg, "%s%.*s", tg.len ? "," : "", rawlen, raw);
        }
    }
    if (dtype[0] == '\0' || dims != 2 || k != shape[0] * shape[1]) {
        free(in.s), free(tg.s);
        return NULL;
    }
    put(&out, "{\"dtype\":%s,\"input\":[%s%s],\"target\":[%s]}", dtype, in.s, k ? "]" : "", tg.s);
    free(in.s), free(tg.s);
    *len = out.len;
    return out.s;
}

START_TEST(decoder_stores_the_lexers_values)
{
    size_t len, cases = 0;
    uint64_t values = 0;
    char *all = read_all(GOLDEN_PATH, &len);

    ck_assert_msg(all != NULL, "%s: run from the repository root", GOLDEN_PATH);
    for (char *line = all, *nl; *line != '\0'; line = nl + 1) {
        size_t req_len;
        if ((nl = strchr(line, '\n')) == NULL)
            nl = line + strlen(line) - 1;
        char *req = golden_request(line, (size_t)(nl - line), &req_len);
        ck_assert_msg(req != NULL, "golden line %zu has no dtype, shape and input", cases + 1);
        values += check_decoder_against_lexer(req, req_len, req_len, "golden");
        check_decoder_against_lexer(req, req_len, 7, "golden in 7-byte pieces");
        free(req);
        cases++;
    }
    free(all);
    ck_assert_uint_gt(cases, 1000);
    ck_assert_uint_gt(values, 100000);

    DIR *d = opendir("tests/fuzz/corpus/json");
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[512];
        char *doc;
        if (strncmp(e->d_name, "valid_", 6) != 0)
            continue;
        snprintf(path, sizeof path, "tests/fuzz/corpus/json/%s", e->d_name);
        ck_assert_ptr_nonnull(doc = read_all(path, &len));
        check_decoder_against_lexer(doc, len, len, path);
        check_decoder_against_lexer(doc, len, 3, path);
        free(doc);
    }
    closedir(d);
}
END_TEST

static Suite *json_lex_suite(void)
{
    Suite *s = suite_create("json_lex");
    const suite_case cases[] = {
        { "every_token_kind_with_its_offsets", every_token_kind_with_its_offsets, 0, 0 },
        { "strings_unescape_and_keep_their_full_length",
          strings_unescape_and_keep_their_full_length, 0, 0 },
        { "integer_literals_differ_from_fractions_and_exponents",
          integer_literals_differ_from_fractions_and_exponents, 0, 0 },
        { "numbers_end_where_they_cannot_go_on", numbers_end_where_they_cannot_go_on, 0, 0 },
        { "long_numbers_split_anywhere", long_numbers_split_anywhere, 60, 0 },
        { "fast_readers_agree_with_the_lexer", fast_readers_agree_with_the_lexer, 60, 0 },
        { "nonfinite_names_only_when_asked_for", nonfinite_names_only_when_asked_for, 0, 0 },
        { "infinity_cut_short_is_inf_then_the_rest", infinity_cut_short_is_inf_then_the_rest, 0, 0 },
        { "unwanted_tokens_are_their_first_byte", unwanted_tokens_are_their_first_byte, 0, 0 },
        { "errors_name_their_byte_however_the_text_is_cut",
          errors_name_their_byte_however_the_text_is_cut, 60, 0 },
        { "errors_are_latched", errors_are_latched, 0, 0 },
        { "split_documents_give_the_same_tokens", split_documents_give_the_same_tokens, 120, 0 },
        { "numbers_match_strtod_on_the_corpus", numbers_match_strtod_on_the_corpus, 120, 0 },
        { "decoder_stores_the_lexers_values", decoder_stores_the_lexers_values, 300, 0 },
    };

    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return s;
}

int main(void)
{
    return suite_run(json_lex_suite());
}
