/* check_json_decode.c - Check suite for the streaming JSON request decoder. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "json.h"
#include "utf8.h"
#include "suite.h"

#define BIG_BODY (64u << 20)

/* What one decode produced: an error or a payload. */
typedef struct outcome {
    int rc;
    mml_error err;
    payload pl;
} outcome;

/* Decode doc[0..len) fed in pieces cut per cuts (feed.h checks that a
 * failed feed's failure is finish()'s too). The payload must be released
 * with outcome_free(). */
static void decode_cuts(const char *doc, size_t len, feed_cuts cuts, uint64_t max_body,
                        outcome *o)
{
    const feed_config cfg = { .ops = &json_decoder_ops, .max_body = max_body };

    memset(o, 0, sizeof *o);
    o->rc = feed_decode(&cfg, doc, len, cuts, &o->pl, &o->err);
}

static void decode_len(const char *doc, size_t len, uint64_t max_body, outcome *o)
{
    decode_cuts(doc, len, FEED_WHOLE, max_body, o);
}

static void decode(const char *doc, outcome *o)
{
    decode_len(doc, strlen(doc), BIG_BODY, o);
}

static void outcome_free(outcome *o)
{
    payload_free(&o->pl);
}

/* Same error, or same request with bit-identical tensors. */
static bool outcome_equal(const outcome *a, const outcome *b)
{
    const mml_request *x = &a->pl.req, *y = &b->pl.req;
    size_t es = mml_dtype_size(x->dtype);

    if (a->rc != b->rc)
        return false;
    if (a->rc != 0)
        return a->err.code == b->err.code && strcmp(a->err.field, b->err.field) == 0 &&
               strcmp(a->err.message, b->err.message) == 0;
    if (x->dtype != y->dtype || x->p != y->p || x->margin != y->margin ||
        x->reduction != y->reduction || x->n != y->n || x->c != y->c ||
        (x->weight == NULL) != (y->weight == NULL))
        return false;
    return (x->n * x->c == 0 || memcmp(x->input, y->input, x->n * x->c * es) == 0) &&
           (x->n == 0 || memcmp(x->target, y->target, x->n * 8) == 0) &&
           (x->weight == NULL || memcmp(x->weight, y->weight, x->c * es) == 0);
}

/* Decode doc[0..len) whole into *whole, and check that feeding it one byte
 * at a time (which never takes the fast paths: they need a token's end
 * inside the chunk) gives the same outcome. what names the document. */
static void decode_bytewise_too(const char *doc, size_t len, const char *what, outcome *whole)
{
    outcome bytes;

    decode_len(doc, len, BIG_BODY, whole);
    decode_cuts(doc, len, FEED_EVERY(1), BIG_BODY, &bytes);
    ck_assert_msg(outcome_equal(whole, &bytes), "%s: whole \"%s\", byte by byte \"%s\"",
                  what, whole->err.message, bytes.err.message);
    outcome_free(&bytes);
}

/* decode_bytewise_too() for round `round` of a random test. A round that
 * is meant to decode (targets not NULL) must, with these n targets. */
static void decode_round(const char *doc, size_t len, int round, const int64_t *targets,
                         size_t n, outcome *whole)
{
    char what[32];

    snprintf(what, sizeof what, "round %d", round);
    decode_bytewise_too(doc, len, what, whole);
    if (targets) {
        ck_assert_msg(whole->rc == 0, "round %d: %s", round, whole->err.message);
        ck_assert_int_eq(memcmp(whole->pl.req.target, targets, n * sizeof *targets), 0);
    }
}

static void expect_ok(const char *doc, outcome *o)
{
    decode(doc, o);
    ck_assert_msg(o->rc == 0, "%s: rc %d %s [%s] %s", doc, o->rc, mml_err_name(o->rc),
                  o->err.field, o->err.message);
}

/* The document fails with code, field and a message containing needle;
 * name says which case it is. */
static void expect_error(const char *name, const char *doc, int code, const char *field,
                         const char *needle)
{
    outcome o;

    decode(doc, &o);
    ck_assert_msg(o.rc == code && o.err.code == code,
                  "%s: expected %s, got rc %d (%s) [%s] %s for %s", name, mml_err_name(code),
                  o.rc, mml_err_name(o.rc), o.err.field, o.err.message, doc);
    ck_assert_msg(strcmp(o.err.field, field) == 0, "%s: field \"%s\", expected \"%s\" (%s)",
                  name, o.err.field, field, o.err.message);
    ck_assert_msg(strstr(o.err.message, needle) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", name, o.err.message, needle);
    outcome_free(&o);
}

/* A document that must fail with code, naming field, its message
 * containing needle. */
typedef struct error_row {
    const char *name;
    const char *doc;
    int code;
    const char *field, *needle;
} error_row;

static double in_at(const outcome *o, uint64_t i)
{
    return mml_load(o->pl.req.dtype, o->pl.req.input, i);
}

/* ---- valid documents ------------------------------------------------------ */

START_TEST(all_fields_are_read)
{
    outcome o;

    expect_ok("{\"input\": [[0.1, 0.2, 0.4, 0.8], [0.3, 0.9, 0.1, 0.2]],\n"
              " \"target\": [3, 1], \"p\": 2, \"margin\": -7, \"weight\": [1, 2, 3, 4.5],"
              " \"reduction\": \"sum\", \"dtype\": \"float64\"}", &o);
    ck_assert_int_eq(o.pl.req.dtype, MML_F64);
    ck_assert_int_eq(o.pl.req.p, 2);
    ck_assert_int_eq(o.pl.req.margin, -7);
    ck_assert_int_eq(o.pl.req.reduction, MML_SUM);
    ck_assert_uint_eq(o.pl.req.n, 2);
    ck_assert_uint_eq(o.pl.req.c, 4);
    ck_assert_double_eq(in_at(&o, 0), 0.1);
    ck_assert_double_eq(in_at(&o, 5), 0.9);
    ck_assert_int_eq(o.pl.req.target[0], 3);
    ck_assert_int_eq(o.pl.req.target[1], 1);
    ck_assert_double_eq(((const double *)o.pl.req.weight)[3], 4.5);
    ck_assert_ptr_eq(o.pl.req.input, o.pl.input);
    ck_assert_uint_eq((uintptr_t)o.pl.input % PAYLOAD_ALIGN, 0);
    outcome_free(&o);
}
END_TEST

START_TEST(omitted_fields_take_their_defaults)
{
    outcome o;

    expect_ok("{\"target\":[0],\"input\":[[1.5,-2]]}", &o);
    ck_assert_int_eq(o.pl.req.dtype, MML_F32);
    ck_assert_int_eq(o.pl.req.p, 1);
    ck_assert_int_eq(o.pl.req.margin, 1);
    ck_assert_int_eq(o.pl.req.reduction, MML_MEAN);
    ck_assert_ptr_null(o.pl.req.weight);
    ck_assert_ptr_null(o.pl.weight);
    ck_assert_float_eq(((const float *)o.pl.req.input)[1], -2.0f);
    outcome_free(&o);
    expect_ok("{\"input\":[[1]],\"target\":[0],\"weight\":null}", &o);
    ck_assert_ptr_null(o.pl.req.weight);
    outcome_free(&o);
}
END_TEST

/* dtype before the input (stored in place) and after it (stored as
 * doubles, converted at the end) give the same bits. */
START_TEST(dtype_before_or_after_the_tensors_gives_the_same_bits)
{
    static const char *dtypes[] = { "float16", "float32", "float64" };
    char before[256], after[256];
    outcome a, b;

    for (int i = 0; i < 3; i++) {
        snprintf(before, sizeof before, "{\"dtype\":\"%s\",\"weight\":[0.1,1e-9,70000],"
                 "\"input\":[[0.1,0.3333333333333333,1e-7],[65519.99,-0.0,2.5e-8]],"
                 "\"target\":[0,2]}", dtypes[i]);
        snprintf(after, sizeof after, "{\"weight\":[0.1,1e-9,70000],"
                 "\"input\":[[0.1,0.3333333333333333,1e-7],[65519.99,-0.0,2.5e-8]],"
                 "\"target\":[0,2],\"dtype\":\"%s\"}", dtypes[i]);
        expect_ok(before, &a);
        expect_ok(after, &b);
        ck_assert_int_eq(a.pl.req.dtype, i + 1);
        ck_assert_msg(outcome_equal(&a, &b), "dtype %s: order changes the tensors", dtypes[i]);
        for (uint64_t k = 0; k < 6; k++) {
            static const double src[] = { 0.1, 0.3333333333333333, 1e-7, 65519.99, -0.0, 2.5e-8 };
            double want;
            unsigned char buf[8];
            mml_store(i + 1, buf, 0, src[k]);
            want = mml_load(i + 1, buf, 0);
            ck_assert_msg(memcmp(&want, &(double){ in_at(&a, k) }, 8) == 0,
                          "%s element %d: %a, expected %a", dtypes[i], (int)k, in_at(&a, k), want);
        }
        outcome_free(&a);
        outcome_free(&b);
    }
}
END_TEST

START_TEST(nan_and_infinity_strings_are_numbers)
{
    outcome o;

    expect_ok("{\"input\":[[\"NaN\",\"Infinity\",\"-Infinity\"]],\"target\":[1],"
              "\"weight\":[\"Infinity\",1,\"NaN\"],\"dtype\":\"float64\"}", &o);
    ck_assert(isnan(in_at(&o, 0)));
    ck_assert(isinf(in_at(&o, 1)) && in_at(&o, 1) > 0);
    ck_assert(isinf(in_at(&o, 2)) && in_at(&o, 2) < 0);
    ck_assert(isinf(((const double *)o.pl.req.weight)[0]));
    ck_assert(isnan(((const double *)o.pl.req.weight)[2]));
    outcome_free(&o);
}
END_TEST

START_TEST(empty_batch_decodes_with_c_from_the_weight)
{
    outcome o;

    expect_ok("{\"input\": [], \"target\": [], \"reduction\": \"none\"}", &o);
    ck_assert_uint_eq(o.pl.req.n, 0);
    ck_assert_uint_eq(o.pl.req.c, 1);      /* C unknown: documented choice */
    ck_assert_ptr_null(o.pl.req.input);
    outcome_free(&o);
    expect_ok("{\"input\": [], \"target\": [], \"weight\": [1, 2, 3]}", &o);
    ck_assert_uint_eq(o.pl.req.c, 3);
    outcome_free(&o);
}
END_TEST

START_TEST(escapes_and_every_json_blank_are_read)
{
    outcome o;

    /* Escaped key names, every JSON whitespace byte, unicode escapes. */
    expect_ok(" \t\r\n{\"\\u0069nput\" :\n[ [ 1 , 2 ] ] , \"target\"\t:[1],"
              "\"reduction\":\"\\u0073um\", \"dtype\": \"float\\u00332\"} \n", &o);
    ck_assert_int_eq(o.pl.req.reduction, MML_SUM);
    outcome_free(&o);
}
END_TEST

/* Raw bytes in strings must be UTF-8 (RFC 3629), whole or split anywhere:
 * valid text reaches the field check, anything else is a BadRequest at
 * the byte that breaks it. */
START_TEST(raw_string_bytes_must_be_utf8_whole_or_split)
{
    static const struct { const char *s; int at; } cases[] = {
        { "caf\xc3\xa9", -1 },              /* U+00E9 */
        { "\xe2\x82\xac", -1 },            /* U+20AC */
        { "\xef\xbf\xbf", -1 },            /* U+FFFF */
        { "\xf0\x90\x80\x80", -1 },        /* U+10000 */
        { "\xf4\x8f\xbf\xbf", -1 },        /* U+10FFFF */
        { "a\xff", 1 },                    /* never in UTF-8 */
        { "\x80", 0 },                     /* a lone continuation */
        { "\xc0\xaf", 0 },                 /* overlong '/' */
        { "\xc1\xbf", 0 },                 /* overlong */
        { "\xe0\x9f\xbf", 1 },             /* overlong three-byte form */
        { "\xed\xa0\x80", 1 },             /* a surrogate, U+D800 */
        { "\xf0\x8f\xbf\xbf", 1 },         /* overlong four-byte form */
        { "\xf4\x90\x80\x80", 1 },         /* U+110000 */
        { "\xf5\x80\x80\x80", 0 },
        { "\xc3", 1 },                     /* cut off by the closing quote */
        { "\xe2\x82", 2 },
        { "\xe2\x82" "a", 2 },                /* an ASCII byte inside a sequence */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char doc[128], want[64];
        int pre = snprintf(doc, sizeof doc, "{\"input\":[[1]],\"target\":[0],\"dtype\":\"");
        snprintf(doc + pre, sizeof doc - (size_t)pre, "%s\"}", cases[k].s);
        outcome whole;
        decode_bytewise_too(doc, strlen(doc), cases[k].s, &whole);
        if (cases[k].at < 0) {
            ck_assert_msg(whole.rc == MML_ETYPE && strcmp(whole.err.field, "dtype") == 0,
                          "case %zu: %s", k, whole.err.message);
        } else {
            snprintf(want, sizeof want, "invalid UTF-8 in string at byte %d", pre + cases[k].at);
            ck_assert_msg(whole.rc == MML_EBADREQ && strstr(whole.err.message, want) != NULL,
                          "case %zu: \"%s\", want \"%s\"", k, whole.err.message, want);
        }
        /* The same verdict from the whole-buffer check v2 uses. */
        int64_t at = utf8_invalid_at(cases[k].s, strlen(cases[k].s));
        ck_assert_msg(at == cases[k].at,
                      "case %zu: utf8_invalid_at %lld", k, (long long)at);
        outcome_free(&whole);
    }
}
END_TEST

/* Decoded numbers are the nearest double (strtod), then the dtype. */
START_TEST(numbers_are_the_nearest_double_then_the_dtype)
{
    static const char *tokens[] = {
        "0", "-0", "1", "-1", "0.1", "0.3", "1e22", "1e23", "123456789012345678",
        "9007199254740993", "9007199254740992", "0.000001", "1E-7", "1e+2", "4.9e-324",
        "2.4703282292062327e-324", "2.2250738585072011e-308", "1.7976931348623157e308",
        "1.7976931348623159e308", "1e400", "-1e400", "1e-400", "0.1000000000000000055511151231257827",
        "3.14159265358979323846264338327950288419716939937510", "100000000000000000000000",
        "0.00000000000000000000000000000000000000000000001", "65504", "65520", "5.960464477539063e-8",
        "3.4028235677973366e38", "1.401298464324817e-45", "0.6666666666666666", "12345678901234567890e-10",
    };
    static const int dtypes[] = { MML_F16, MML_F32, MML_F64 };
    char doc[256];

    for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
        for (int k = 0; k < 3; k++) {
            outcome o;
            unsigned char want[8], got[8];
            snprintf(doc, sizeof doc, "{\"input\":[[%s]],\"target\":[0],\"dtype\":\"%s\"}",
                     tokens[t], mml_dtype_name(dtypes[k]));
            expect_ok(doc, &o);
            mml_store(dtypes[k], want, 0, strtod(tokens[t], NULL));
            memcpy(got, o.pl.req.input, mml_dtype_size(dtypes[k]));
            ck_assert_msg(memcmp(want, got, mml_dtype_size(dtypes[k])) == 0,
                          "%s as %s: got %a, expected %a", tokens[t],
                          mml_dtype_name(dtypes[k]), in_at(&o, 0),
                          mml_load(dtypes[k], want, 0));
            outcome_free(&o);
        }
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

/* Random finite doubles over all exponents, printed several ways: the
 * fast path and the strtod path must both give strtod's bits. */
START_TEST(random_doubles_read_as_strtod_reads_them)
{
    static const char *formats[] = { "%.17g", "%.9g", "%.15g", "%.3e", "%.20g", "%.1f", "%.25e" };
    uint64_t seed = 42;
    char *doc = malloc(1 << 20);
    double want[400];

    for (int round = 0; round < 50; round++) {
        size_t len = (size_t)sprintf(doc, "{\"dtype\":\"float64\",\"target\":[0],\"input\":[[");
        for (int i = 0; i < 400; i++) {
            uint64_t bits = rng_next(&seed);
            double v;
            memcpy(&v, &bits, 8);
            if (!isfinite(v) || i % 3 == 0)
                v = (rng_unit(&seed) - 0.5) * pow(10, (int)(rng_next(&seed) % 40) - 20);
            len += (size_t)sprintf(doc + len, formats[i % 7], v);
            want[i] = strtod(strrchr(doc, i ? ',' : '[') + 1, NULL);
            doc[len++] = i < 399 ? ',' : ']';
        }
        strcpy(doc + len, "]}");
        outcome o;
        expect_ok(doc, &o);
        for (int i = 0; i < 400; i++)
            ck_assert_msg(memcmp(&want[i], &(double){ in_at(&o, (uint64_t)i) }, 8) == 0,
                          "element %d: got %a, expected %a", i, in_at(&o, (uint64_t)i), want[i]);
        outcome_free(&o);
    }
    free(doc);
}
END_TEST

/* Random digit strings of the shape the row fast path reads (up to 19
 * digits, 22 decimals), around its limits: still strtod's bits. */
START_TEST(plain_decimals_near_fast_path_limits_read_as_strtod)
{
    uint64_t seed = 99;
    char *doc = malloc(1 << 20), tok[64];
    static double want[2000];

    for (int round = 0; round < 20; round++) {
        size_t len = (size_t)sprintf(doc, "{\"dtype\":\"float64\",\"target\":[0],\"input\":[[");
        for (int i = 0; i < 2000; i++) {
            int ints = 1 + (int)(rng_next(&seed) % 12), fracs = (int)(rng_next(&seed) % 24), n = 0;
            if (rng_next(&seed) % 2)
                tok[n++] = '-';
            for (int k = 0; k < ints; k++)
                tok[n++] = (char)('0' + (k == 0 && ints > 1 ? 1 + rng_next(&seed) % 9
                                                         : rng_next(&seed) % 10));
            if (fracs)
                tok[n++] = '.';
            for (int k = 0; k < fracs; k++)
                tok[n++] = (char)('0' + (rng_next(&seed) % 3 ? rng_next(&seed) % 10 : 9));
            tok[n] = '\0';
            want[i] = strtod(tok, NULL);
            len += (size_t)sprintf(doc + len, "%s%s", tok, i < 1999 ? (i % 3 ? "," : ", ") : "]");
        }
        strcpy(doc + len, "]}");
        outcome o;
        expect_ok(doc, &o);
        for (int i = 0; i < 2000; i++)
            ck_assert_msg(memcmp(&want[i], &(double){ in_at(&o, (uint64_t)i) }, 8) == 0,
                          "element %d: got %a, expected %a", i, in_at(&o, (uint64_t)i), want[i]);
        outcome_free(&o);
    }
    free(doc);
}
END_TEST

/* A random token for test_number_rows: mostly the short decimals the
 * block path reads (1-10 integer digits, 0-17 decimals, a sign), sometimes
 * around its edges, sometimes broken (leading zeros, a lone dot, an
 * exponent, spaces). Returns its length. */
static int rows_token(uint64_t *seed, char *tok, bool broken)
{
    static const char *edge[] = { "-0", "0", "-0.0", "0.5", "123456789", "12345678",
                                  "12345678.1234567", "1234567.12345678", "9.9999999",
                                  "0.00000001", "99999999.9999999", "1e5", "2E-3", "-1.5e+2",
                                  "1.23456789e-05", "-0.000123456789", "9007199254740993",
                                  "0.9007199254740993", "12345678.12345678901", "1.0000000000000002" };
    static const char *bad[] = { "01", "1.", ".5", "-", "1.2.3", "00.5", "1 ", "+1",
                                 "1..2", "--1", "1-", "0x10", "1.5e", "-01.5", "1.5 5" };
    int ints = 1 + (int)(rng_next(seed) % 10), fracs = (int)(rng_next(seed) % 18), n = 0;

    if (rng_next(seed) % 12 == 0)
        return sprintf(tok, "%s", edge[rng_next(seed) % (sizeof edge / sizeof edge[0])]);
    if (broken && rng_next(seed) % 40 == 0)
        return sprintf(tok, "%s", bad[rng_next(seed) % (sizeof bad / sizeof bad[0])]);
    if (rng_next(seed) % 2)
        tok[n++] = '-';
    for (int k = 0; k < ints; k++)
        tok[n++] = (char)('0' + (k == 0 && ints > 1 ? 1 + rng_next(seed) % 9 : rng_next(seed) % 10));
    if (fracs)
        tok[n++] = '.';
    for (int k = 0; k < fracs; k++)
        tok[n++] = (char)('0' + rng_next(seed) % 10);
    tok[n] = '\0';
    return n;
}

/* Input rows as dashboards write them (",", ", ", "],[", "], [") through
 * the many-numbers-at-once path: every element is strtod's double rounded
 * to the dtype, and the same document fed byte by byte (which never takes
 * that path) gives the same bits, or the same error at the same byte. */
START_TEST(input_rows_fast_path_agrees_with_bytewise_feeding)
{
    static const char *dtypes[] = { "float64", "float32", "float16" };
    static const int dt_code[] = { MML_F64, MML_F32, MML_F16 };
    static double want[4000];
    static int64_t targets[64];
    uint64_t seed = 7;
    char *doc = malloc(1 << 20), tok[64];

    for (int round = 0; round < 60; round++) {
        bool broken = round % 3 == 2;
        int dt = round % 3, rows = 1 + (int)(rng_next(&seed) % 40), cols = 1 + (int)(rng_next(&seed) % 30);
        size_t len = (size_t)sprintf(doc, "{\"dtype\":\"%s\",\"input\":[[", dtypes[dt]);
        int i = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++, i++) {
                char buf[8];
                rows_token(&seed, tok, broken);
                mml_store(dt_code[dt], buf, 0, strtod(tok, NULL));
                want[i] = mml_load(dt_code[dt], buf, 0);
                len += (size_t)sprintf(doc + len, "%s%s", tok,
                                       c + 1 < cols ? (rng_next(&seed) % 4 ? "," : ", ") : "");
            }
            if (broken && rng_next(&seed) % 50 == 0)
                len += (size_t)sprintf(doc + len, ",7");           /* a ragged row */
            len += (size_t)sprintf(doc + len, "%s", r + 1 < rows ? (rng_next(&seed) % 3 ? "],[" : "], [") : "]");
        }
        len += (size_t)sprintf(doc + len, "],\"target\":[");
        for (int r = 0; r < rows; r++) {
            targets[r] = (int64_t)(rng_next(&seed) % (uint64_t)cols);
            len += (size_t)sprintf(doc + len, "%s%lld", r ? "," : "", (long long)targets[r]);
        }
        len += (size_t)sprintf(doc + len, "]}");

        outcome whole;
        decode_round(doc, len, round, broken ? NULL : targets, (size_t)rows, &whole);
        if (!broken) {
            ck_assert_uint_eq(whole.pl.req.n, (uint64_t)rows);
            ck_assert_uint_eq(whole.pl.req.c, (uint64_t)cols);
            for (int k = 0; k < rows * cols; k++)
                ck_assert_msg(memcmp(&want[k], &(double){ in_at(&whole, (uint64_t)k) }, 8) == 0,
                              "round %d element %d: got %a, expected %a", round, k,
                              in_at(&whole, (uint64_t)k), want[k]);
        }
        outcome_free(&whole);
    }
    free(doc);
}
END_TEST

/* Target arrays through their fast path: plain indices as they are, and
 * near-misses (leading zeros, signs, fractions, exponents, blanks, huge
 * values) with the same outcome as byte-by-byte feeding, which never
 * takes that path. */
START_TEST(target_fast_path_agrees_with_bytewise_feeding)
{
    static const char *odd[] = { "01", "1.0", "-1", " 2", "2 ", "1e0", "-0", "00",
                                 "123456789012345678", "1234567890123456789",
                                 "99999999999999999999", "+1", "1,", "0x1" };
    uint64_t seed = 11;
    char *doc = malloc(1 << 16);
    int64_t want[300];

    for (int round = 0; round < 300; round++) {
        int n = 1 + (int)(rng_next(&seed) % 300), bad = round % 2;
        size_t len = (size_t)sprintf(doc, "{\"input\":[");
        for (int r = 0; r < n; r++)
            len += (size_t)sprintf(doc + len, "%s[1,2,3]", r ? "," : "");
        len += (size_t)sprintf(doc + len, "],\"target\":[");
        for (int r = 0; r < n; r++) {
            want[r] = (int64_t)(rng_next(&seed) % 3);
            if (bad && rng_next(&seed) % 30 == 0)
                len += (size_t)sprintf(doc + len, "%s%s", r ? "," : "",
                                       odd[rng_next(&seed) % (sizeof odd / sizeof odd[0])]);
            else
                len += (size_t)sprintf(doc + len, "%s%lld", r ? "," : "", (long long)want[r]);
        }
        len += (size_t)sprintf(doc + len, "]}");
        outcome whole;
        decode_round(doc, len, round, bad ? NULL : want, (size_t)n, &whole);
        outcome_free(&whole);
    }
    free(doc);
}
END_TEST

/* ---- validation (docs/wire.md): one row per condition -------------------------------------- */

#define DOC(rest) "{\"input\":[[0.5,1,2],[3,4,5]],\"target\":[0,2]" rest "}"

START_TEST(margin_int32_limits_are_kept)
{
    outcome o;

    expect_ok(DOC(",\"margin\":-2147483648"), &o);
    ck_assert_int_eq(o.pl.req.margin, INT32_MIN);
    outcome_free(&o);
    expect_ok(DOC(",\"margin\":2147483647"), &o);
    ck_assert_int_eq(o.pl.req.margin, INT32_MAX);
    outcome_free(&o);
}
END_TEST

/* ---- malformed documents --------------------------------------------------- */

static const error_row scalar_errors[] = {
    { "p_with_fraction_is_type_error",
      DOC(",\"p\":1.0"),
      MML_ETYPE, "p", "p must be an integer, got 1.0" },
    { "p_with_exponent_is_type_error",
      DOC(",\"p\":1e0"),
      MML_ETYPE, "p", "got 1e0" },
    { "p_string_is_type_error",
      DOC(",\"p\":\"1\""),
      MML_ETYPE, "p", "got a string" },
    { "p_true_is_type_error",
      DOC(",\"p\":true"),
      MML_ETYPE, "p", "got true" },
    { "p_null_is_type_error",
      DOC(",\"p\":null"),
      MML_ETYPE, "p", "got null" },
    { "p_array_is_type_error",
      DOC(",\"p\":[1]"),
      MML_ETYPE, "p", "got an array" },
    { "p_object_is_type_error",
      DOC(",\"p\":{}"),
      MML_ETYPE, "p", "got an object" },
    { "p_3_is_value_error",
      DOC(",\"p\":3"),
      MML_EVALUE, "p", "p must be 1 or 2, got 3" },
    { "p_0_is_value_error",
      DOC(",\"p\":0"),
      MML_EVALUE, "p", "got 0" },
    { "p_negative_is_value_error",
      DOC(",\"p\":-1"),
      MML_EVALUE, "p", "got -1" },
    { "p_past_int64_is_out_of_range",
      DOC(",\"p\":99999999999999999999"),
      MML_EVALUE, "p", "out of range" },
    { "margin_with_fraction_is_type_error",
      DOC(",\"margin\":1.5"),
      MML_ETYPE, "margin", "margin must be an integer, got 1.5" },
    { "margin_string_is_type_error",
      DOC(",\"margin\":\"1\""),
      MML_ETYPE, "margin", "got a string" },
    { "margin_false_is_type_error",
      DOC(",\"margin\":false"),
      MML_ETYPE, "margin", "got false" },
    { "margin_past_int32_max_is_value_error",
      DOC(",\"margin\":2147483648"),
      MML_EVALUE, "margin", "32-bit" },
    { "margin_below_int32_min_is_value_error",
      DOC(",\"margin\":-2147483649"),
      MML_EVALUE, "margin", "32-bit" },
    { "margin_below_int64_min_is_out_of_range",
      DOC(",\"margin\":-9223372036854775809"),
      MML_EVALUE, "margin", "out of range" },
    { "reduction_number_is_type_error",
      DOC(",\"reduction\":1"),
      MML_ETYPE, "reduction", "must be a string, got a number" },
    { "reduction_null_is_type_error",
      DOC(",\"reduction\":null"),
      MML_ETYPE, "reduction", "got null" },
    { "reduction_unknown_name_is_value_error_listing_choices",
      DOC(",\"reduction\":\"avg\""),
      MML_EVALUE, "reduction", "one of none, mean, sum, got \"avg\"" },
    { "reduction_is_case_sensitive",
      DOC(",\"reduction\":\"Mean\""),
      MML_EVALUE, "reduction", "\"Mean\"" },
    { "dtype_int64_is_type_error",
      DOC(",\"dtype\":\"int64\""),
      MML_ETYPE, "dtype", "got \"int64\"" },
    { "dtype_bfloat16_is_type_error_listing_choices",
      DOC(",\"dtype\":\"bfloat16\""),
      MML_ETYPE, "dtype", "float16, float32 or float64" },
    { "dtype_number_is_type_error",
      DOC(",\"dtype\":32"),
      MML_ETYPE, "dtype", "must be a string" },
    { "dtype_float8_is_type_error",
      "{\"dtype\":\"float8\",\"input\":[[1]],\"target\":[0]}",
      MML_ETYPE, "dtype", "float8" },
    /* An escaped NUL must not cut a name short ("mean\0" is not "mean"). */
    { "reduction_with_escaped_nul_is_value_error",
      DOC(",\"reduction\":\"mean\\u0000\""),
      MML_EVALUE, "reduction", "none, mean, sum" },
    { "dtype_with_escaped_nul_is_type_error",
      DOC(",\"dtype\":\"float64\\u0000x\""),
      MML_ETYPE, "dtype", "float16, float32" },
};

static const error_row tensor_errors[] = {
    { "lowercase_nan_string_is_type_error",
      "{\"input\":[[\"nan\"]],\"target\":[0]}",
      MML_ETYPE, "input", "input[0][0] must be a number, got a string" },
    { "lowercase_inf_string_is_type_error",
      "{\"input\":[[1,\"inf\"]],\"target\":[0]}",
      MML_ETYPE, "input", "input[0][1]" },
    { "bare_nan_is_malformed",
      "{\"input\":[[NaN]],\"target\":[0]}",
      MML_EBADREQ, "body", "at byte 11" },
    { "empty_weight_with_empty_batch_is_value_error",
      "{\"input\": [], \"target\": [], \"weight\": []}",
      MML_EVALUE, "input", "must be at least 1" },
    { "empty_input_with_a_target_is_shape_mismatch",
      "{\"input\": [], \"target\": [0]}",
      MML_EVALUE, "target", "does not match" },
    { "empty_row_is_value_error",
      "{\"input\": [[]], \"target\": [0]}",
      MML_EVALUE, "input", "at least 1" },
    { "target_with_fraction_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":[1.5]}",
      MML_ETYPE, "target", "target[0] must be an integer, got 1.5" },
    { "target_float_literal_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":[1.0]}",
      MML_ETYPE, "target", "got 1.0" },
    { "target_string_element_is_type_error",
      "{\"input\":[[1,2,3],[1,2,3],[1,2,3]],\"target\":[0,1,\"1\"]}",
      MML_ETYPE, "target", "target[2] must be an integer, got a string" },
    { "target_true_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":[true]}",
      MML_ETYPE, "target", "got true" },
    { "target_null_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":[null]}",
      MML_ETYPE, "target", "got null" },
    { "target_object_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":[{}]}",
      MML_ETYPE, "target", "got an object" },
    { "target_2d_is_value_error",
      "{\"input\":[[1,2,3]],\"target\":[[0]]}",
      MML_EVALUE, "target", "1-D" },
    { "target_scalar_is_rank_0_value_error",
      "{\"input\":[[1,2,3]],\"target\":0}",
      MML_EVALUE, "target", "rank 0" },
    { "target_string_is_type_error",
      "{\"input\":[[1,2,3]],\"target\":\"0\"}",
      MML_ETYPE, "target", "got a string" },
    { "target_past_c_is_out_of_range",
      "{\"input\":[[1,2,3],[1,2,3],[1,2,3],[1,2,3]],\"target\":[0,1,2,5]}",
      MML_EVALUE, "target", "target[3] = 5 is out of range [0, 3)" },
    { "target_negative_is_out_of_range",
      "{\"input\":[[1,2,3]],\"target\":[-1]}",
      MML_EVALUE, "target", "target[0] = -1 is out of range" },
    { "target_past_int64_is_out_of_range",
      "{\"input\":[[1,2,3]],\"target\":[9223372036854775808]}",
      MML_EVALUE, "target", "target[0] = 9223372036854775808 is out of range" },
    { "target_length_unlike_n_is_value_error",
      "{\"input\":[[1,2,3]],\"target\":[0,1]}",
      MML_EVALUE, "target", "input.shape[0] = 1 does not match target.shape[0] = 2" },
    { "input_1d_is_value_error",
      "{\"input\":[1,2,3],\"target\":[0]}",
      MML_EVALUE, "input", "input[0] is a number, not a row" },
    { "input_3d_is_value_error",
      "{\"input\":[[[1]]],\"target\":[0]}",
      MML_EVALUE, "input", "input[0][0] is an array" },
    { "input_scalar_is_rank_0_value_error",
      "{\"input\":5,\"target\":[0]}",
      MML_EVALUE, "input", "rank 0" },
    { "input_string_is_type_error",
      "{\"input\":\"x\",\"target\":[0]}",
      MML_ETYPE, "input", "got a string" },
    { "input_object_is_type_error",
      "{\"input\":{},\"target\":[0]}",
      MML_ETYPE, "input", "got an object" },
    { "input_row_string_is_type_error",
      "{\"input\":[[1,2],\"x\"],\"target\":[0]}",
      MML_ETYPE, "input", "input[1] must be an array of numbers, got a string" },
    { "input_short_row_is_value_error",
      "{\"input\":[[1,2],[3]],\"target\":[0,1]}",
      MML_EVALUE, "input", "input[1] has 1 elements, input[0] has 2" },
    { "input_long_row_is_value_error",
      "{\"input\":[[1,2],[3,4],[5,6,7]],\"target\":[0,1,1]}",
      MML_EVALUE, "input", "input[2] has more elements than the 2 of input[0]" },
    { "input_true_element_is_type_error",
      "{\"input\":[[1,2],[3,true]],\"target\":[0,1]}",
      MML_ETYPE, "input", "input[1][1] must be a number, got true" },
    { "input_object_element_is_type_error",
      "{\"input\":[[1,2],[3,{}]],\"target\":[0,1]}",
      MML_ETYPE, "input", "input[1][1] must be a number, got an object" },
    { "input_null_element_is_type_error",
      "{\"input\":[[1,null]],\"target\":[0]}",
      MML_ETYPE, "input", "got null" },
    { "weight_2d_is_value_error",
      DOC(",\"weight\":[[1,2,3]]"),
      MML_EVALUE, "weight", "weight[0] is an array" },
    { "weight_scalar_is_rank_0_value_error",
      DOC(",\"weight\":1"),
      MML_EVALUE, "weight", "rank 0" },
    { "weight_string_is_type_error",
      DOC(",\"weight\":\"1\""),
      MML_ETYPE, "weight", "got a string" },
    { "weight_string_element_is_type_error",
      DOC(",\"weight\":[1,\"a\",3]"),
      MML_ETYPE, "weight", "weight[1] must be a number, got a string" },
    { "weight_length_unlike_c_is_value_error",
      DOC(",\"weight\":[1,2]"),
      MML_EVALUE, "weight", "input.shape[1] = 3 does not match weight.shape[0] = 2" },
};

static const error_row field_errors[] = {
    { "unknown_field_is_value_error",
      DOC(",\"foo\":1"),
      MML_EVALUE, "foo", "unknown field \"foo\"" },
    { "duplicate_field_is_value_error",
      DOC(",\"p\":1,\"p\":2"),
      MML_EVALUE, "p", "duplicate field \"p\"" },
    { "duplicate_input_is_value_error",
      "{\"input\":[[1]],\"input\":[[1]],\"target\":[0]}",
      MML_EVALUE, "input", "duplicate field \"input\"" },
    { "missing_input_is_value_error",
      "{\"target\":[0]}",
      MML_EVALUE, "input", "input is required" },
    { "missing_target_is_value_error",
      "{\"input\":[[1]]}",
      MML_EVALUE, "target", "target is required" },
    { "empty_object_lacks_input",
      "{}",
      MML_EVALUE, "input", "input is required" },
    { "field_names_are_case_sensitive",
      "{\"Input\":[[1]],\"target\":[0]}",
      MML_EVALUE, "Input", "unknown field" },
    { "unknown_field_name_is_shown_printable",
      "{\"\\u0000\":1}",
      MML_EVALUE, "?", "unknown field \"?\"" },
    { "deeply_nested_target_is_not_1d",
      "{\"target\":[[[[[[[[[[[[[[0]]]]]]]]]]]]]]}",
      MML_EVALUE, "target", "1-D" },
    { "deeply_nested_weight_is_not_1d",
      "{\"weight\":[[[[[[[[[[[[[[0]]]]]]]]]]]]]]}",
      MML_EVALUE, "weight", "1-D" },
    { "deeply_nested_p_is_type_error",
      "{\"p\":[[[[[[[[[[[[[[0]]]]]]]]]]]]]]}",
      MML_ETYPE, "p", "got an array" },
    { "nested_unknown_object_is_value_error",
      "{\"x\":{\"y\":{\"z\":{}}}}",
      MML_EVALUE, "x", "unknown field" },
};

static const error_row string_errors[] = {
    { "escaped_emoji_dtype_is_type_error_shown_printable",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\ud83d\\ude00\"}",
      MML_ETYPE, "dtype", "got \"????\"" },
    { "lone_high_surrogate_is_bad_request",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\ud83d\"}",
      MML_EBADREQ, "body", "surrogate" },
    { "lone_low_surrogate_is_bad_request",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\udc00\"}",
      MML_EBADREQ, "body", "surrogate" },
    { "invalid_escape_is_bad_request_at_its_byte",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\x\"}",
      MML_EBADREQ, "body", "invalid escape in string at byte 38" },
    { "invalid_unicode_escape_is_bad_request",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\u12g4\"}",
      MML_EBADREQ, "body", "invalid \\u escape" },
    { "raw_tab_in_string_is_bad_request_at_its_byte",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"a\tb\"}",
      MML_EBADREQ, "body", "control character in string at byte 38" },
};

static const error_row malformed[] = {
    { "empty_body",
      "",
      MML_EBADREQ, "body", "request body is empty" },
    { "blank_body",
      "  \n",
      MML_EBADREQ, "body", "request body is empty" },
    { "array_body",
      "[]",
      MML_EBADREQ, "body", "the body must be a JSON object: unexpected '[' at byte 0" },
    { "number_body",
      "1",
      MML_EBADREQ, "body", "at byte 0" },
    { "unterminated_object",
      "{",
      MML_EBADREQ, "body", "unexpected end of body at byte 1" },
    { "body_ending_after_target",
      "{\"input\":[[1]],\"target\":[0]",
      MML_EBADREQ, "body", "unexpected end of body at byte 27" },
    { "second_object_after_the_first",
      "{\"input\":[[1]],\"target\":[0]} {}",
      MML_EBADREQ, "body", "unexpected data after the JSON object: '{' at byte 29" },
    { "letter_after_the_object",
      "{\"input\":[[1]],\"target\":[0]}x",
      MML_EBADREQ, "body", "'x' at byte 28" },
    { "trailing_comma_in_row",
      "{\"input\":[[1,]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character ']' at byte 13" },
    { "doubled_comma",
      "{\"input\":[[1]],,\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character ',' at byte 15" },
    { "missing_comma",
      "{\"input\":[[1]] \"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '\"' at byte 15" },
    { "space_between_numbers",
      "{\"input\":[[1 2]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '2' at byte 13" },
    { "leading_zero",
      "{\"input\":[[01]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '1' at byte 12" },
    { "number_ending_in_a_dot",
      "{\"input\":[[1.]],\"target\":[0]}",
      MML_EBADREQ, "body", "invalid number at byte 13" },
    { "number_starting_with_a_dot",
      "{\"input\":[[.5]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '.' at byte 11" },
    { "lone_minus",
      "{\"input\":[[-]],\"target\":[0]}",
      MML_EBADREQ, "body", "invalid number at byte 12" },
    { "exponent_without_digits",
      "{\"input\":[[1e]],\"target\":[0]}",
      MML_EBADREQ, "body", "invalid number at byte 13" },
    { "exponent_sign_without_digits",
      "{\"input\":[[1e+]],\"target\":[0]}",
      MML_EBADREQ, "body", "invalid number at byte 14" },
    { "two_dots",
      "{\"input\":[[1.5.3]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '.' at byte 14" },
    { "leading_plus",
      "{\"input\":[[+1]],\"target\":[0]}",
      MML_EBADREQ, "body", "unexpected character '+' at byte 11" },
    { "truncated_null",
      "{\"input\":[[1]],\"target\":[0],\"weight\":nul}",
      MML_EBADREQ, "body", "invalid literal at byte 40" },
    { "misspelt_null",
      "{\"input\":[[1]],\"target\":[0],\"weight\":nulL}",
      MML_EBADREQ, "body", "invalid literal at byte 40" },
    { "body_ending_after_null",
      "{\"input\":[[1]],\"target\":[0],\"weight\":null",
      MML_EBADREQ, "body", "unexpected end of body at byte 41" },
    { "body_ending_inside_a_string",
      "{\"input\":[[1]],\"target\":[0],\"dtype\":\"float32",
      MML_EBADREQ, "body", "unexpected end of body at byte 44" },
    { "missing_colon",
      "{\"input\" [[1]]}",
      MML_EBADREQ, "body", "unexpected character '[' at byte 9" },
    { "unquoted_key",
      "{input:[[1]]}",
      MML_EBADREQ, "body", "unexpected character 'i' at byte 1" },
    { "single_quoted_key",
      "{'input':[[1]]}",
      MML_EBADREQ, "body", "unexpected character ''' at byte 1" },
    { "trailing_comma_in_object",
      "{\"input\":[[1]],}",
      MML_EBADREQ, "body", "unexpected character '}' at byte 15" },
    { "control_byte_after_the_object",
      "{\"input\":[[1]],\"target\":[0]}\x01",
      MML_EBADREQ, "body", "after the JSON object: byte 0x01 at byte 28" },
    { "utf8_bom_before_the_object",
      "\xef\xbb\xbf{}",
      MML_EBADREQ, "body", "JSON object: unexpected byte 0xef at byte 0" },
};

START_TEST(bad_scalar_field_is_refused_naming_it)
{
    const error_row *row = &scalar_errors[_i];
    expect_error(row->name, row->doc, row->code, row->field, row->needle);
}
END_TEST

START_TEST(bad_tensor_is_refused_naming_it)
{
    const error_row *row = &tensor_errors[_i];
    expect_error(row->name, row->doc, row->code, row->field, row->needle);
}
END_TEST

START_TEST(bad_field_set_is_refused_naming_the_field)
{
    const error_row *row = &field_errors[_i];
    expect_error(row->name, row->doc, row->code, row->field, row->needle);
}
END_TEST

START_TEST(bad_string_is_refused_at_its_byte)
{
    const error_row *row = &string_errors[_i];
    expect_error(row->name, row->doc, row->code, row->field, row->needle);
}
END_TEST

START_TEST(malformed_body_is_bad_request_at_its_byte)
{
    const error_row *row = &malformed[_i];
    expect_error(row->name, row->doc, row->code, row->field, row->needle);
}
END_TEST

/* ---- chunking ---------------------------------------------------------------- */

static const char *const split_docs[] = {
    "{\"input\": [[0.1, -2.5e-3, 1E+2], [\"NaN\", 4, -0]], \"target\": [2, 0], \"p\": 2,"
    " \"margin\": -3, \"weight\": [1.25, \"Infinity\", 3], \"reduction\": \"none\","
    " \"dtype\": \"float16\"}",
    "{\"dtype\":\"float64\",\"input\":[[123456789012345678901234567890,"
    "0.1000000000000000055511151231257827,5e-324]],\"target\":[1],\"weight\":null}",
    "{\"\\u0069nput\":[[1]],\"target\":[0],\"reduction\":\"\\u0073\\u0075m\","
    "\"dtype\":\"\\ud83d\\ude00\"}",
    "{\"input\":[[1,2],[3]],\"target\":[0,1]}",
    "{\"input\":[[1.5.3]],\"target\":[0]}",
    "{\"input\":[[1e+]],\"target\":[0]}",
    "{\"input\":[[01]],\"target\":[0]}",
    "{\"input\":[[1]],\"target\":[0],\"weight\":nulL}",
    "{\"input\":[[1]],\"target\":[0],\"p\":1.0}",
    "{\"input\":[[1]],\"target\":[0]} x",
    "{\"input\":[[1]],\"target\":[0]",
    "{\"input\":[[-]],\"target\":[0]}",
    "{\"input\":[[1]],\"target\":[0],\"dtype\":\"\\ud83d\\u0041\"}",
};

/* Every cut into two pieces, and one byte at a time, gives the outcome of
 * the whole document. */
START_TEST(every_two_piece_cut_gives_the_whole_outcome)
{
    for (size_t k = 0; k < sizeof split_docs / sizeof split_docs[0]; k++) {
        const char *doc = split_docs[k];
        size_t len = strlen(doc);
        char what[32];
        outcome whole, part;

        snprintf(what, sizeof what, "doc %d", (int)k);
        decode_bytewise_too(doc, len, what, &whole);
        for (size_t cut = 0; cut <= len; cut++) {
            decode_cuts(doc, len, FEED_AT(&cut, 1), BIG_BODY, &part);
            ck_assert_msg(outcome_equal(&whole, &part), "doc %d cut at %d: \"%s\" vs \"%s\"",
                          (int)k, (int)cut, whole.err.message, part.err.message);
            outcome_free(&part);
        }
        outcome_free(&whole);
    }
}
END_TEST

/* Numbers near the length bound, cut everywhere: the in-chunk scanner
 * and the cut-token path agree on where a number ends and why it fails. */
START_TEST(long_numbers_cut_anywhere_give_the_whole_outcome)
{
    static const char *tails[] = { "", ".5", ".", "e5", "+", "x", "0.5.5", "e" };
    char doc[1200];

    for (int digits = 505; digits <= 514; digits++)
        for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
            size_t len = (size_t)sprintf(doc, "{\"input\":[[1");
            memset(doc + len, '0', (size_t)digits - 1);
            len += (size_t)digits - 1;
            len += (size_t)sprintf(doc + len, "%s]],\"target\":[0]}", tails[t]);
            outcome whole, part;
            decode_len(doc, len, BIG_BODY, &whole);
            for (size_t cut = 11; cut < 11 + (size_t)digits + 8; cut++) {
                size_t cuts[2] = { cut, cut + 3 };
                decode_cuts(doc, len, FEED_AT(cuts, 2), BIG_BODY, &part);
                ck_assert_msg(outcome_equal(&whole, &part), "%d digits + \"%s\" cut at %d: "
                              "\"%s\" vs \"%s\"", digits, tails[t], (int)cut,
                              whole.err.message, part.err.message);
                outcome_free(&part);
            }
            outcome_free(&whole);
        }
}
END_TEST

/* ---- bounds ------------------------------------------------------------------ */

START_TEST(deep_nesting_is_a_shape_error)
{
    char doc[20100];
    size_t len = (size_t)sprintf(doc, "{\"input\":");

    memset(doc + len, '[', 20000);
    strcpy(doc + len + 20000, "}");
    expect_error("20000 brackets", doc, MML_EVALUE, "input", "input[0][0] is an array");
}
END_TEST

START_TEST(numbers_past_512_characters_are_bad_request)
{
    char doc[1200];
    outcome o;
    size_t len = (size_t)sprintf(doc, "{\"target\":[0],\"dtype\":\"float64\",\"input\":[[0.");

    memset(doc + len, '1', 510);                  /* a 512-character token */
    strcpy(doc + len + 510, "]]}");
    expect_ok(doc, &o);
    ck_assert_double_eq(in_at(&o, 0), 1.0 / 9 * 1.0);
    outcome_free(&o);
    strcpy(doc + len + 510, "1]]}");               /* 513 */
    expect_error("513-character number", doc, MML_EBADREQ, "body",
                 "number longer than 512 characters at byte 42");
}
END_TEST

START_TEST(tensors_past_max_body_are_413)
{
    const char *f64 = "{\"dtype\":\"float64\",\"input\":[[1,2,3,4],[1,2,3,4]],\"target\":[0,1]}";
    const char *f16 = "{\"dtype\":\"float16\",\"input\":[[1,2,3,4],[1,2,3,4]],\"target\":[0,1]}";
    const char *last = "{\"input\":[[1,2,3,4],[1,2,3,4]],\"target\":[0,1],\"dtype\":\"float64\"}";
    outcome o;

    /* float64: 64 input + 16 target bytes */
    decode_len(f64, strlen(f64), 80, &o);
    ck_assert_int_eq(o.rc, 0);
    outcome_free(&o);
    decode_len(f64, strlen(f64), 79, &o);
    ck_assert_int_eq(o.rc, MML_ETOOBIG);
    ck_assert_int_eq(o.err.code, MML_ETOOBIG);
    decode_len(f64, strlen(f64), 40, &o);
    ck_assert_msg(o.rc == MML_ETOOBIG && strstr(o.err.message, "input has too many elements"),
                  "%s", o.err.message);
    decode_len(f16, strlen(f16), 32, &o);
    ck_assert_int_eq(o.rc, 0);
    outcome_free(&o);
    /* dtype last: counted as 2-byte elements while streaming, checked
     * exactly at the end */
    decode_len(last, strlen(last), 79, &o);
    ck_assert_int_eq(o.rc, MML_ETOOBIG);
    ck_assert_str_eq(o.err.field, "input");
    decode_len(last, strlen(last), 80, &o);
    ck_assert_int_eq(o.rc, 0);
    outcome_free(&o);
}
END_TEST

/* A large request crosses many chunks and keeps every value. */
START_TEST(large_request_keeps_every_value)
{
    const int rows = 300, cols = 1000;
    char *doc = malloc((size_t)rows * (size_t)cols * 8 + 4096);
    size_t len = (size_t)sprintf(doc, "{\"input\":[");
    outcome o;

    for (int r = 0; r < rows; r++) {
        doc[len++] = '[';
        for (int c = 0; c < cols; c++)
            len += (size_t)sprintf(doc + len, "%d%s", (r * cols + c) % 100000, c + 1 < cols ? "," : "");
        len += (size_t)sprintf(doc + len, "]%s", r + 1 < rows ? "," : "],\"target\":[");
    }
    for (int r = 0; r < rows; r++)
        len += (size_t)sprintf(doc + len, "%d%s", r % cols, r + 1 < rows ? "," : "]");
    strcpy(doc + len, ",\"dtype\":\"float32\"}");
    expect_ok(doc, &o);
    ck_assert_uint_eq(o.pl.req.n, (uint64_t)rows);
    for (int i = 0; i < rows * cols; i += 997)
        ck_assert_float_eq(((const float *)o.pl.req.input)[i], (float)(i % 100000));
    ck_assert_int_eq(o.pl.req.target[rows - 1], (rows - 1) % cols);
    outcome_free(&o);
    free(doc);
}
END_TEST

/* ---- life cycle ---------------------------------------------------------------- */

START_TEST(failure_is_sticky_and_finish_comes_once)
{
    const feed_config cfg = { .ops = &json_decoder_ops, .max_body = BIG_BODY };
    feed_dec f;
    mml_error err, again;
    payload pl;

    feed_open(&f, &cfg);
    feed_destroy_null(&json_decoder_ops);
    ck_assert_str_eq(json_decoder_ops.name, "json");
    ck_assert_int_eq(feed_step(&f, "{\"x", 3, &err), 0);
    ck_assert_int_eq(feed_step(&f, "\":", 2, &err), MML_EVALUE);
    ck_assert_int_eq(feed_step(&f, "1}", 2, &again), MML_EVALUE);
    ck_assert_str_eq(err.message, again.message);
    ck_assert_int_eq(feed_finish(&f, &pl, &again), MML_EVALUE);
    ck_assert_ptr_null(pl.input);
    feed_close(&f);

    feed_open(&f, &cfg);
    ck_assert_int_eq(feed_step(&f, "{\"input\":[[1]],\"target\":[0]}", 28, NULL), 0);
    ck_assert_int_eq(feed_step(&f, "", 0, NULL), 0);
    ck_assert_int_eq(feed_finish(&f, &pl, &err), 0);
    ck_assert_int_eq(feed_finish(&f, &(payload){ 0 }, &err), MML_EBADREQ);
    ck_assert_int_eq(feed_step(&f, " ", 1, &err), MML_EBADREQ);
    feed_close(&f);
    payload_free(&pl);
    payload_free(&pl);
    payload_free(NULL);

    /* destroy with tensors still owned by the decoder */
    feed_open(&f, &cfg);
    ck_assert_int_eq(feed_step(&f, "{\"input\":[[1,2]],\"weight\":[1,2", 30, NULL), 0);
    feed_close(&f);
}
END_TEST

/* ---- golden cases: the decoding path end to end ------------------------------- */

/* Position of v on the dtype's number line, for ulp distances. */
static int64_t ordinal(int dtype, double v)
{
    int64_t mag, neg;

    if (dtype == MML_F16) {
        uint16_t h = mml_double_to_half(v);
        mag = h & 0x7fff, neg = h >> 15;
    } else if (dtype == MML_F32) {
        float f = (float)v;
        uint32_t b;
        memcpy(&b, &f, 4);
        mag = b & 0x7fffffff, neg = b >> 31;
    } else {
        uint64_t b;
        memcpy(&b, &v, 8);
        mag = (int64_t)(b & 0x7fffffffffffffffull), neg = (int64_t)(b >> 63);
    }
    return neg ? -mag : mag;
}

static double json_number(const cJSON *x)
{
    if (cJSON_IsNumber(x))
        return x->valuedouble;
    if (cJSON_IsString(x) && strcmp(x->valuestring, "NaN") == 0)
        return NAN;
    if (cJSON_IsString(x) && strcmp(x->valuestring, "-Infinity") == 0)
        return -INFINITY;
    ck_assert_msg(cJSON_IsString(x) && strcmp(x->valuestring, "Infinity") == 0,
                  "golden: bad number");
    return INFINITY;
}

static size_t put_number(char *out, const cJSON *x)
{
    double v = json_number(x);

    if (isnan(v))
        return (size_t)sprintf(out, "\"NaN\"");
    if (isinf(v))
        return (size_t)sprintf(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return (size_t)sprintf(out, "%.17g", v);
}

/* The native request for one golden case; dtype goes last on odd lines
 * so both storage paths are taken. Returns the malloc'd document. */
static char *golden_doc(const cJSON *g, int line, size_t *len)
{
    const cJSON *shape = cJSON_GetObjectItem(g, "shape"), *x;
    int cols = cJSON_GetArrayItem(shape, 1)->valueint, i = 0;
    const cJSON *input = cJSON_GetObjectItem(g, "input");
    const cJSON *weight = cJSON_GetObjectItem(g, "weight");
    char *doc = malloc(32 * (size_t)(cJSON_GetArraySize(input) + cJSON_GetArraySize(weight) +
                                     cJSON_GetArraySize(cJSON_GetObjectItem(g, "target")))
                       + 4096);
    const char *dtype = cJSON_GetObjectItem(g, "dtype")->valuestring;
    size_t n = 0;

    if (line % 2 == 0)
        n += (size_t)sprintf(doc + n, "{\"dtype\":\"%s\",\"input\":[", dtype);
    else
        n += (size_t)sprintf(doc + n, "{\"input\":[");
    cJSON_ArrayForEach(x, input) {
        n += (size_t)sprintf(doc + n, "%s", i % cols == 0 ? (i ? "],[" : "[") : ",");
        n += put_number(doc + n, x);
        i++;
    }
    n += (size_t)sprintf(doc + n, "%s],\"target\":[", i ? "]" : "");
    i = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(g, "target"))
        n += (size_t)sprintf(doc + n, "%s%lld", i++ ? "," : "", (long long)x->valuedouble);
    n += (size_t)sprintf(doc + n, "],\"p\":%d,\"margin\":%d,\"reduction\":\"%s\",\"weight\":",
                         cJSON_GetObjectItem(g, "p")->valueint,
                         cJSON_GetObjectItem(g, "margin")->valueint,
                         cJSON_GetObjectItem(g, "reduction")->valuestring);
    if (cJSON_IsNull(weight)) {
        n += (size_t)sprintf(doc + n, "null");
    } else {
        i = 0;
        doc[n++] = '[';
        cJSON_ArrayForEach(x, weight) {
            n += (size_t)sprintf(doc + n, "%s", i++ ? "," : "");
            n += put_number(doc + n, x);
        }
        doc[n++] = ']';
    }
    if (line % 2 == 1)
        n += (size_t)sprintf(doc + n, ",\"dtype\":\"%s\"", dtype);
    n += (size_t)sprintf(doc + n, "}");
    *len = n;
    return doc;
}

/* The decoded input is bit-exact and the loss matches "exact". */
static void golden_check(const cJSON *g, const outcome *o)
{
    const char *name = cJSON_GetObjectItem(g, "name")->valuestring;
    const mml_request *req = &o->pl.req;
    const cJSON *x;
    uint64_t i = 0;
    int64_t tol = req->dtype == MML_F16 ? 1 : req->dtype == MML_F32 ? 2 : 4;
    double out[2048];

    cJSON_ArrayForEach(x, cJSON_GetObjectItem(g, "input")) {
        double want = json_number(x), got = mml_load(req->dtype, req->input, i++);
        ck_assert_msg((isnan(want) && isnan(got)) || memcmp(&want, &got, 8) == 0,
                      "%s: input[%d] decoded as %a, expected %a", name, (int)i - 1, got, want);
    }
    ck_assert_uint_le(mml_out_count(req), 2048);
    mml_compute(req, out);
    i = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(g, "exact")) {
        double want = json_number(x), got = mml_load(req->dtype, out, i++);
        int64_t ulps = llabs(ordinal(req->dtype, want) - ordinal(req->dtype, got));
        ck_assert_msg((isnan(want) && isnan(got)) || (!isnan(got) && ulps <= tol),
                      "%s: loss[%d] = %.17g, exact %.17g (%lld ulp)", name, (int)i - 1,
                      got, want, (long long)ulps);
    }
    ck_assert_uint_eq(i, mml_out_count(req));
}

START_TEST(golden_cases_decode_to_their_values)
{
    const char *path = getenv("GOLDEN") ? getenv("GOLDEN") : "tests/data/golden.jsonl";
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int count = 0;

    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
    while (getline(&line, &cap, f) > 0) {
        cJSON *g = cJSON_Parse(line);
        size_t len, cuts[3];
        char *doc;
        outcome o;
        ck_assert_ptr_nonnull(g);
        doc = golden_doc(g, count, &len);
        cuts[0] = len / 3, cuts[1] = len / 2, cuts[2] = len - 1;   /* odd pieces */
        decode_cuts(doc, len, FEED_AT(cuts, 3), BIG_BODY, &o);
        ck_assert_msg(o.rc == 0, "%s: %s", cJSON_GetObjectItem(g, "name")->valuestring,
                      o.err.message);
        golden_check(g, &o);
        outcome_free(&o);
        free(doc);
        cJSON_Delete(g);
        count++;
    }
    ck_assert_int_gt(count, 1000);
    free(line);
    fclose(f);
}
END_TEST

/* ---- differential test against cJSON ------------------------------------------- */

static const char *const field_names_test[] = {
    "input", "target", "p", "margin", "weight", "reduction", "dtype"
};

typedef struct gen {
    uint64_t seed;
    char *doc;
    size_t len;
    bool reject;     /* a change only the token text shows (1.0 for an integer) */
    bool fragile;    /* an integer field has a fraction: no byte mutations */
} gen;

__attribute__((format(printf, 2, 3)))
static void gen_put(gen *g, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g->len += (size_t)vsprintf(g->doc + g->len, fmt, ap);
    va_end(ap);
}

static unsigned gen_below(gen *g, unsigned n)
{
    return (unsigned)(rng_next(&g->seed) % n);
}

static void gen_float(gen *g)
{
    static const char *fixed[] = { "0", "-0", "1", "0.5", "-2.25", "1e-3", "2E+2", "\"NaN\"",
                                   "\"Infinity\"", "\"-Infinity\"", "65504", "1e-8", "3.4e38" };
    static const char *formats[] = { "%.17g", "%.9g", "%.3g", "%g", "%.6e" };
    double v = (rng_unit(&g->seed) - 0.5) * pow(10, (int)gen_below(g, 12) - 6);

    if (gen_below(g, 5) == 0)
        gen_put(g, "%s", fixed[gen_below(g, sizeof fixed / sizeof fixed[0])]);
    else
        gen_put(g, formats[gen_below(g, 5)], v);
}

/* An integer field value, sometimes in a form that must be refused. */
static void gen_int(gen *g, long long v)
{
    switch (gen_below(g, 40)) {
    case 0: gen_put(g, "%lld.0", v), g->reject = g->fragile = true; break;
    case 1: gen_put(g, "%llde0", v), g->reject = g->fragile = true; break;
    case 2: gen_put(g, "\"%lld\"", v); break;
    case 3: gen_put(g, "true"); break;
    case 4: gen_put(g, "%lld.5", v), g->fragile = true; break;
    default: gen_put(g, "%lld", v);
    }
}

static void gen_field(gen *g, int field, int n, int c)
{
    static const char *reductions[] = { "none", "mean", "sum", "avg" };
    static const char *dtypes[] = { "float16", "float32", "float64", "int8" };

    gen_put(g, "\"%s\":%s", field_names_test[field], gen_below(g, 3) ? "" : " ");
    switch (field) {
    case 0:                                           /* input */
        gen_put(g, "[");
        for (int r = 0; r < n; r++) {
            int cc = gen_below(g, 60) ? c : c + 1;    /* rarely ragged */
            gen_put(g, "%s[", r ? "," : "");
            for (int j = 0; j < cc; j++) {
                gen_put(g, j ? ", " : "");
                gen_float(g);
            }
            gen_put(g, "]");
        }
        gen_put(g, "]");
        break;
    case 1:                                           /* target */
        gen_put(g, "[");
        for (int r = 0; r < n + (gen_below(g, 80) == 0); r++) {
            gen_put(g, r ? "," : "");
            gen_int(g, gen_below(g, 50) ? (long long)gen_below(g, (unsigned)c) : c);
        }
        gen_put(g, "]");
        break;
    case 2: gen_int(g, gen_below(g, 20) ? 1 + gen_below(g, 2) : 3); break;
    case 3: gen_int(g, (long long)gen_below(g, 7) - 3); break;
    case 4:                                           /* weight */
        if (gen_below(g, 3) == 0) {
            gen_put(g, "null");
            break;
        }
        gen_put(g, "[");
        for (int j = 0; j < c + (gen_below(g, 60) == 0); j++) {
            gen_put(g, j ? "," : "");
            gen_float(g);
        }
        gen_put(g, "]");
        break;
    case 5: gen_put(g, "\"%s\"", reductions[gen_below(g, 40) ? gen_below(g, 3) : 3]); break;
    default: gen_put(g, "\"%s\"", dtypes[gen_below(g, 40) ? gen_below(g, 3) : 3]); break;
    }
}

/* A plausible request: fields in random order, some left out. */
static void gen_request(gen *g)
{
    int order[7] = { 0, 1, 2, 3, 4, 5, 6 }, n = (int)gen_below(g, 4), c = 1 + (int)gen_below(g, 4);
    bool first = true;

    g->len = 0;
    g->reject = g->fragile = false;
    for (int i = 6; i > 0; i--) {
        int j = (int)gen_below(g, (unsigned)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    gen_put(g, "{");
    for (int i = 0; i < 7; i++) {
        if (order[i] > 1 ? gen_below(g, 2) == 0 : gen_below(g, 50) == 0)
            continue;
        gen_put(g, first ? "" : gen_below(g, 2) ? ", " : ",");
        gen_field(g, order[i], n, c);
        first = false;
    }
    if (gen_below(g, 60) == 0)
        gen_put(g, ",\"p\":2");                       /* maybe a duplicate */
    if (gen_below(g, 60) == 0)
        gen_put(g, ",\"extra\":1");
    gen_put(g, "}");
}

/* One byte-level mutation. Inserted bytes never include '.', 'e', 'E'
 * (cJSON cannot tell 1.0 from 1) nor control characters. */
static void gen_mutate(gen *g)
{
    static const char bytes[] = "[]{},:\"0123456789- tnrualsf\\/xNI+";
    size_t at;

    if (g->len == 0)
        return;
    at = gen_below(g, (unsigned)g->len);
    switch (gen_below(g, 4)) {
    case 0:
        g->len = at;
        break;
    case 1:
        memmove(g->doc + at, g->doc + at + 1, g->len - at - 1);
        g->len--;
        break;
    case 2:
        g->doc[at] = bytes[gen_below(g, sizeof bytes - 1)];
        break;
    default:
        memmove(g->doc + at + 1, g->doc + at, g->len - at);
        g->doc[at] = bytes[gen_below(g, sizeof bytes - 1)];
        g->len++;
    }
    g->doc[g->len] = '\0';
}

/* s[0..n) is exactly one RFC 8259 number. */
static bool rfc_number(const char *s, size_t n)
{
    size_t i = 0, d;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if ((d = strspn(s + i, "0123456789")) > 0)
        i += d;
    else
        return false;
    if (i < n && s[i] == '.') {
        if ((d = strspn(s + i + 1, "0123456789")) == 0)
            return false;
        i += 1 + d;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if ((d = strspn(s + i, "0123456789")) == 0)
            return false;
        i += d;
    }
    return i == n;
}

/* What strict JSON refuses but cJSON takes: numbers such as 01, 1., -.5
 * and raw control bytes in strings. True when doc has none of them. */
static bool strict_lexically(const char *doc)
{
    for (const char *p = doc; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if ((unsigned char)*p < 0x20)
                    return false;
                if (*p == '\\' && p[1])
                    p++;
            }
            if (!*p)
                return true;                  /* unterminated: cJSON refuses too */
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t run = strspn(p, "0123456789+-.eE");
            if (!rfc_number(p, run))
                return false;
            p += run - 1;
        }
    }
    return true;
}

/* A float element as the reference reads it; false if not a number. */
static bool ref_float(const cJSON *x, double *v)
{
    if (cJSON_IsNumber(x)) {
        *v = x->valuedouble;
        return true;
    }
    if (!cJSON_IsString(x))
        return false;
    if (strcmp(x->valuestring, "NaN") == 0)
        *v = NAN;
    else if (strcmp(x->valuestring, "Infinity") == 0)
        *v = INFINITY;
    else if (strcmp(x->valuestring, "-Infinity") == 0)
        *v = -INFINITY;
    else
        return false;
    return true;
}

static bool ref_int(const cJSON *x, double lo, double hi)
{
    return cJSON_IsNumber(x) && x->valuedouble == floor(x->valuedouble) &&
           x->valuedouble >= lo && x->valuedouble <= hi;
}

/* The request as the reference reads it from a cJSON tree. */
typedef struct ref {
    const cJSON *input, *target, *weight;
    int dtype, p, margin, reduction;
    uint64_t n, c;
} ref;

/* Known fields, each once, with values of the right kind. */
static bool ref_fields(const cJSON *root, ref *r)
{
    const cJSON *x;
    unsigned seen = 0;

    memset(r, 0, sizeof *r);
    r->dtype = MML_F32, r->p = 1, r->margin = 1, r->reduction = MML_MEAN;
    cJSON_ArrayForEach(x, root) {
        int f = 0;
        while (f < 7 && strcmp(x->string, field_names_test[f]) != 0)
            f++;
        if (f == 7 || (seen & 1u << f))
            return false;
        seen |= 1u << f;
        if ((f <= 1 && !cJSON_IsArray(x)) || (f == 2 && !ref_int(x, 1, 2)) ||
            (f == 3 && !ref_int(x, INT32_MIN, INT32_MAX)) ||
            (f == 4 && !cJSON_IsNull(x) && !cJSON_IsArray(x)) ||
            (f == 5 && (!cJSON_IsString(x) || mml_reduction_from_name(x->valuestring) < 0)) ||
            (f == 6 && (!cJSON_IsString(x) || !mml_dtype_from_name(x->valuestring))))
            return false;
        switch (f) {
        case 0: r->input = x; break;
        case 1: r->target = x; break;
        case 2: r->p = (int)x->valuedouble; break;
        case 3: r->margin = (int)x->valuedouble; break;
        case 4: r->weight = cJSON_IsArray(x) ? x : NULL; break;
        case 5: r->reduction = mml_reduction_from_name(x->valuestring); break;
        default: r->dtype = mml_dtype_from_name(x->valuestring);
        }
    }
    return r->input && r->target;
}

/* True when the reference accepts the request in root. */
static bool ref_request(const cJSON *root, ref *r)
{
    const cJSON *row, *x;
    double v;

    if (!cJSON_IsObject(root) || !ref_fields(root, r))
        return false;
    r->n = (uint64_t)cJSON_GetArraySize(r->input);
    r->c = r->n ? (uint64_t)cJSON_GetArraySize(r->input->child)
                : r->weight ? (uint64_t)cJSON_GetArraySize(r->weight) : 1;
    if (r->c == 0 || (uint64_t)cJSON_GetArraySize(r->target) != r->n ||
        (r->weight && (uint64_t)cJSON_GetArraySize(r->weight) != r->c))
        return false;
    cJSON_ArrayForEach(row, r->input) {
        if (!cJSON_IsArray(row) || (uint64_t)cJSON_GetArraySize(row) != r->c)
            return false;
        cJSON_ArrayForEach(x, row)
            if (!ref_float(x, &v))
                return false;
    }
    cJSON_ArrayForEach(x, r->target)
        if (!ref_int(x, 0, (double)r->c - 1))
            return false;
    if (r->weight)
        cJSON_ArrayForEach(x, r->weight)
            if (!ref_float(x, &v))
                return false;
    return true;
}

/* The element as the reference rounds it equals the decoded one. */
static void ref_same_float(const cJSON *x, int dtype, const void *buf, uint64_t i,
                           const char *doc)
{
    unsigned char want[8];
    double v = 0;

    ref_float(x, &v);
    mml_store(dtype, want, 0, v);
    ck_assert_msg(memcmp(want, (const unsigned char *)buf + i * mml_dtype_size(dtype),
                         mml_dtype_size(dtype)) == 0 ||
                  (isnan(v) && isnan(mml_load(dtype, buf, i))),
                  "%s: element %d is %a, cJSON reads %a", doc, (int)i,
                  mml_load(dtype, buf, i), mml_load(dtype, want, 0));
}

static void ref_compare(const ref *r, const outcome *o, const char *doc)
{
    const mml_request *q = &o->pl.req;
    const cJSON *row, *x;
    uint64_t i = 0;

    ck_assert_msg(q->dtype == (mml_dtype)r->dtype && q->p == r->p && q->margin == r->margin &&
                  q->reduction == (mml_reduction)r->reduction && q->n == r->n && q->c == r->c &&
                  (q->weight != NULL) == (r->weight != NULL), "%s: scalars differ", doc);
    cJSON_ArrayForEach(row, r->input)
        cJSON_ArrayForEach(x, row)
            ref_same_float(x, r->dtype, q->input, i++, doc);
    i = 0;
    cJSON_ArrayForEach(x, r->target)
        ck_assert_int_eq(q->target[i++], (int64_t)x->valuedouble);
    i = 0;
    if (r->weight)
        cJSON_ArrayForEach(x, r->weight)
            ref_same_float(x, r->dtype, q->weight, i++, doc);
}

/* Accepted exactly when cJSON parses the document strictly and the
 * reference validator takes the request; then the numbers agree. Every
 * document is also decoded in three random pieces. */
START_TEST(random_documents_agree_with_a_cjson_reference)
{
    /* DIFF_SEED and DIFF_ITERATIONS allow longer runs by hand. */
    gen g = { .seed = getenv("DIFF_SEED") ? strtoull(getenv("DIFF_SEED"), NULL, 0) : 20240611,
              .doc = malloc(1 << 16) };
    int accepted = 0, total = getenv("DIFF_ITERATIONS") ? atoi(getenv("DIFF_ITERATIONS")) : 30000;

    for (int k = 0; k < total; k++) {
        gen_request(&g);
        /* a mutation could turn 2.5 into 2.0, or erase what made a
         * flagged document wrong */
        for (int m = g.fragile ? 0 : (int)gen_below(&g, 4) - 1; m > 0; m--)
            gen_mutate(&g);
        cJSON *root = cJSON_ParseWithOpts(g.doc, NULL, 1);
        ref r;
        bool want = root && !g.reject && strict_lexically(g.doc) && ref_request(root, &r);
        outcome o, split;
        size_t cuts[2] = { gen_below(&g, (unsigned)g.len + 1), 0 };
        cuts[1] = cuts[0] + gen_below(&g, (unsigned)(g.len - cuts[0]) + 1);
        decode_len(g.doc, g.len, BIG_BODY, &o);
        ck_assert_msg((o.rc == 0) == want, "%s: decoder %s (%s), reference %s", g.doc,
                      o.rc ? "refuses" : "accepts", o.err.message, want ? "accepts" : "refuses");
        decode_cuts(g.doc, g.len, FEED_AT(cuts, 2), BIG_BODY, &split);
        ck_assert_msg(outcome_equal(&o, &split), "%s: split at %d,%d: \"%s\" vs \"%s\"",
                      g.doc, (int)cuts[0], (int)cuts[1], o.err.message, split.err.message);
        if (want) {
            ref_compare(&r, &o, g.doc);
            accepted++;
        }
        outcome_free(&o);
        outcome_free(&split);
        cJSON_Delete(root);
    }
    /* Both outcomes must be well represented for the test to mean much. */
    ck_assert_int_gt(accepted, total / 10);
    ck_assert_int_lt(accepted, total * 9 / 10);
    free(g.doc);
}
END_TEST

/* Tensors read from JSON are held to the memory budget too (payload.h):
 * a request that could never fit it gets 413, one that only has to wait
 * for the others 503. */
START_TEST(tensors_are_held_to_the_memory_budget)
{
    outcome o;
    mml_error err;
    payload_mem_set_budget(4096);
    char *doc = malloc(200000);
    ck_assert_ptr_nonnull(doc);
    size_t n = (size_t)sprintf(doc, "{\"input\":[[");
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(doc + n, "%s0.5", i ? "," : "");
    sprintf(doc + n, "]],\"target\":[0]}");
    decode(doc, &o);                              /* 10000 floats need over 40000 bytes */
    ck_assert_int_eq(o.rc, MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(o.err.code), 413);
    ck_assert_msg(strstr(o.err.message, "whole memory budget of 4096 bytes (--max-memory)") != NULL,
                  "%s", o.err.message);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    payload_mem_set_budget(4 << 20);              /* enough alone, but another request holds */
    payload_acct others = { 0 };
    void *other = payload_mem_take(&others, (4 << 20) - 16384, "input", &err);
    ck_assert_ptr_nonnull(other);
    decode(doc, &o);
    ck_assert_int_eq(o.rc, MML_EBUSY);
    ck_assert_int_eq(mml_err_status(o.err.code), 503);
    ck_assert_msg(strstr(o.err.message, "retry later") != NULL, "%s", o.err.message);
    payload_mem_free(other);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    decode(doc, &o);
    ck_assert_int_eq(o.rc, 0);
    outcome_free(&o);
    payload_mem_set_budget(0);
    decode(doc, &o);
    ck_assert_int_eq(o.rc, 0);
    ck_assert_uint_eq(o.pl.req.c, 10000);
    outcome_free(&o);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    free(doc);
}
END_TEST

/* The decoder's own chunks count as the request's: values read before
 * the dtype are kept as float64, and gathering them into float32 needs
 * the chunks and the result at once. With a budget over the chunks but
 * under both, nothing else held, waiting cannot help: 413, not 503. */
START_TEST(decoders_own_chunks_count_against_the_budget)
{
    enum { COUNT = 100000 };
    char *doc = malloc(8 * COUNT + 64);
    ck_assert_ptr_nonnull(doc);
    size_t n = (size_t)sprintf(doc, "{\"input\":[[");
    for (int i = 0; i < COUNT; i++)
        n += (size_t)sprintf(doc + n, "%s0.5", i ? "," : "");
    n += (size_t)sprintf(doc + n, "]],\"target\":[0]}");

    mml_error err;
    payload pl;
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    feed_dec f;
    feed_open(&f, &(feed_config){ .ops = &json_decoder_ops, .max_body = BIG_BODY });
    ck_assert_int_eq(feed_step(&f, doc, n, &err), 0);
    uint64_t chunks = payload_mem_in_use();
    ck_assert_uint_ge(chunks, 8 * COUNT);                  /* float64 until the dtype */
    payload_mem_set_budget(chunks + 4 * COUNT / 2);        /* the float32 copy does not fit */
    ck_assert_int_eq(feed_finish(&f, &pl, &err), MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(err.code), 413);
    feed_close(&f);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    payload_mem_set_budget(0);
    free(doc);
}
END_TEST

static Suite *json_decode_suite(void)
{
    Suite *s = suite_create("json_decode");
    const suite_case cases[] = {
        { "all_fields", all_fields_are_read, 0, 0 },
        { "defaults", omitted_fields_take_their_defaults, 0, 0 },
        { "dtype_order", dtype_before_or_after_the_tensors_gives_the_same_bits, 0, 0 },
        { "special_strings", nan_and_infinity_strings_are_numbers, 0, 0 },
        { "empty_batch", empty_batch_decodes_with_c_from_the_weight, 0, 0 },
        { "strings_and_space", escapes_and_every_json_blank_are_read, 0, 0 },
        { "strings_utf8", raw_string_bytes_must_be_utf8_whole_or_split, 0, 0 },
        { "number_rounding", numbers_are_the_nearest_double_then_the_dtype, 0, 0 },
        { "number_random", random_doubles_read_as_strtod_reads_them, 60, 0 },
        { "number_plain_decimal", plain_decimals_near_fast_path_limits_read_as_strtod, 60, 0 },
        { "margin_limits", margin_int32_limits_are_kept, 0, 0 },
        { "scalar_errors", bad_scalar_field_is_refused_naming_it, 0,
          SUITE_ROWS(scalar_errors) },
        { "tensor_errors", bad_tensor_is_refused_naming_it, 0, SUITE_ROWS(tensor_errors) },
        { "field_errors", bad_field_set_is_refused_naming_the_field, 0,
          SUITE_ROWS(field_errors) },
        { "string_errors", bad_string_is_refused_at_its_byte, 0, SUITE_ROWS(string_errors) },
        { "malformed", malformed_body_is_bad_request_at_its_byte, 0, SUITE_ROWS(malformed) },
        { "number_rows", input_rows_fast_path_agrees_with_bytewise_feeding, 120, 0 },
        { "target_runs", target_fast_path_agrees_with_bytewise_feeding, 120, 0 },
        { "split_pairs", every_two_piece_cut_gives_the_whole_outcome, 120, 0 },
        { "split_long_numbers", long_numbers_cut_anywhere_give_the_whole_outcome, 120, 0 },
        { "bounds_nesting", deep_nesting_is_a_shape_error, 0, 0 },
        { "bounds_number_length", numbers_past_512_characters_are_bad_request, 0, 0 },
        { "bounds_too_big", tensors_past_max_body_are_413, 0, 0 },
        { "bounds_many_chunks", large_request_keeps_every_value, 60, 0 },
        { "memory_budget", tensors_are_held_to_the_memory_budget, 0, 0 },
        { "memory_budget_own_chunks", decoders_own_chunks_count_against_the_budget, 0, 0 },
        { "lifecycle", failure_is_sticky_and_finish_comes_once, 0, 0 },
        { "golden", golden_cases_decode_to_their_values, 600, 0 },
        { "differential", random_documents_agree_with_a_cjson_reference, 600, 0 },
    };

    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return s;
}

int main(void)
{
    return suite_run(json_decode_suite());
}
