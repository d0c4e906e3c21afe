/* check_json_encode.c - Check suite for JSON responses and shortest numbers. */
#include <check.h>
#include <float.h>
#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "suite.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* s is exactly one RFC 8259 number. */
static bool json_number_text(const char *s)
{
    size_t i = 0, d;

    if (s[i] == '-')
        i++;
    if (s[i] == '0')
        i++;
    else if ((d = strspn(s + i, "0123456789")) > 0)
        i += d;
    else
        return false;
    if (s[i] == '.') {
        if ((d = strspn(s + i + 1, "0123456789")) == 0)
            return false;
        i += 1 + d;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if ((d = strspn(s + i, "0123456789")) == 0)
            return false;
        i += d;
    }
    return s[i] == '\0';
}

/* Text reads back as v in dtype, through the double (and for float32
 * also through strtof). */
static bool reads_back(const char *text, double v, int dtype)
{
    unsigned char a[8], b[8];
    size_t size = mml_dtype_size(dtype);

    mml_store(dtype, a, 0, strtod(text, NULL));
    mml_store(dtype, b, 0, v);
    if (dtype == MML_F32 && strtof(text, NULL) != (float)v)
        return false;
    return memcmp(a, b, size) == 0;
}

/* Significant digits of a decimal: no leading or trailing zeros. */
static int significant_digits(const char *s)
{
    char digits[64];
    int n = 0, first = 0;

    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9' && n < 63)
            digits[n++] = *s;
    while (first < n && digits[first] == '0')
        first++;
    while (n > first && digits[n - 1] == '0')
        n--;
    return n - first;
}

/* The contract of json_fmt_shortest for one finite value of dtype. */
static void check_shortest(double v, int dtype)
{
    char buf[32], shorter[512];
    int len = json_fmt_shortest(v, dtype, buf), k;

    ck_assert_int_eq(len, (int)strlen(buf));
    ck_assert_msg(json_number_text(buf), "%a (%s): \"%s\" is no JSON number",
                  v, mml_dtype_name(dtype), buf);
    ck_assert_msg(reads_back(buf, v, dtype), "%a (%s): \"%s\" does not read back",
                  v, mml_dtype_name(dtype), buf);
    k = significant_digits(buf);
    if (k > 1) {
        snprintf(shorter, sizeof shorter, "%.*g", k - 1, v);
        ck_assert_msg(!reads_back(shorter, v, dtype), "%a (%s): \"%s\" but \"%s\" reads back",
                      v, mml_dtype_name(dtype), buf, shorter);
    }
}

/* ---- shortest numbers ------------------------------------------------------ */

START_TEST(every_float16_prints_shortest_and_reads_back)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        double v = mml_half_to_float((uint16_t)h);
        if (isfinite(v) && v != 0)
            check_shortest(v, MML_F16);
    }
}
END_TEST

START_TEST(random_float32_print_shortest_and_read_back)
{
    uint64_t seed = 7;

    for (int i = 0; i < 200000; i++) {
        uint32_t bits = (uint32_t)rng_next(&seed);
        float f;
        if (i % 4 == 0)
            bits &= 0x807fffffu;                      /* subnormals */
        memcpy(&f, &bits, 4);
        if (isfinite(f) && f != 0)
            check_shortest(f, MML_F32);
    }
}
END_TEST

START_TEST(random_float64_print_shortest_and_read_back)
{
    uint64_t seed = 11;

    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rng_next(&seed);
        double v;
        if (i % 4 == 0)
            bits &= 0x800fffffffffffffull;            /* subnormals */
        else if (i % 4 == 1)
            bits = (bits & 0x800fffffffffffffull) | (uint64_t)(1013 + i % 20) << 52;
        memcpy(&v, &bits, 8);
        if (isfinite(v) && v != 0)
            check_shortest(v, MML_F64);
    }
}
END_TEST

/* Every decade a float32 spans, and the floats next to each power of
 * ten, where the digit count changes. */
START_TEST(float32_decades_and_neighbours_print_shortest)
{
    uint64_t seed = 5;

    for (int e = -45; e <= 38; e++) {
        float ten = (float)pow(10, e), f = ten;
        for (int i = 0; i < 8; i++, f = nextafterf(f, 0))
            if (f != 0 && isfinite(f))
                check_shortest(f, MML_F32);
        f = ten;
        for (int i = 0; i < 8; i++, f = nextafterf(f, INFINITY))
            if (isfinite(f))
                check_shortest(f, MML_F32);
        for (int i = 0; i < 5000; i++) {
            double v = (1 + (double)(rng_next(&seed) >> 11) * 0x1p-53 * 9) * pow(10, e);
            if ((float)v != 0 && isfinite((float)v))
                check_shortest((float)v, MML_F32);
        }
    }
}
END_TEST

/* Powers of two have a narrower gap below them: the case where a longer
 * correctly rounded string can fail while a shorter one reads back. */
START_TEST(powers_of_two_print_shortest_despite_the_narrow_gap)
{
    for (int e = -1074; e <= 1023; e++)
        check_shortest(ldexp(1, e), MML_F64);
    for (int e = -149; e <= 127; e++)
        check_shortest(ldexp(1, e), MML_F32);
    for (int e = -24; e <= 15; e++)
        check_shortest(ldexp(1, e), MML_F16);
}
END_TEST

static void expect_text(double v, int dtype, const char *want)
{
    char buf[32];
    int len = json_fmt_shortest(v, dtype, buf);

    ck_assert_msg(strcmp(buf, want) == 0, "%a as %s: \"%s\", expected \"%s\"", v,
                  mml_dtype_name(dtype), buf, want);
    ck_assert_int_eq(len, (int)strlen(want));
}

START_TEST(known_values_print_as_expected)
{
    expect_text((float)(2.0 / 3), MML_F32, "0.6666667");
    expect_text(2.0 / 3, MML_F64, "0.6666666666666666");
    expect_text(mml_half_to_float(mml_double_to_half(2.0 / 3)), MML_F16, "0.6665");
    expect_text(0.1, MML_F64, "0.1");
    expect_text(0.1f, MML_F32, "0.1");
    expect_text(-0.0, MML_F32, "-0");
    expect_text(0.0, MML_F64, "0");
    expect_text(1.5, MML_F16, "1.5");
    expect_text(100, MML_F64, "100");
    expect_text(1e21, MML_F64, "1e21");
    expect_text(1e20, MML_F64, "100000000000000000000");
    expect_text(1e-7, MML_F64, "1e-7");
    expect_text(0.000001, MML_F64, "0.000001");
    expect_text(123.456, MML_F64, "123.456");
    expect_text(FLT_MAX, MML_F32, "3.4028235e38");
    expect_text(0x1p-149, MML_F32, "1e-45");
    expect_text(0x1p-126, MML_F32, "1.1754944e-38");
    expect_text(65504, MML_F16, "65500");     /* 65500 reads back as 65504 */
    expect_text(0x1p-24, MML_F16, "6e-8");
    expect_text(0x1p-14, MML_F16, "0.00006104");
    expect_text(1.7976931348623157e308, MML_F64, "1.7976931348623157e308");
    expect_text(4.9406564584124654e-324, MML_F64, "5e-324");
    expect_text(2.2250738585072014e-308, MML_F64, "2.2250738585072014e-308");
    expect_text(-1.25e-300, MML_F64, "-1.25e-300");
    expect_text(NAN, MML_F32, "NaN");
    expect_text(INFINITY, MML_F64, "Infinity");
    expect_text(-INFINITY, MML_F16, "-Infinity");
}
END_TEST

/* ---- responses ----------------------------------------------------------------- */

static cJSON *encode_result(const mml_request *req, const void *out)
{
    size_t len = 0;
    char *body = json_encode_result(req, out, &len);
    cJSON *doc;

    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(len, strlen(body));
    ck_assert_msg(strchr(body, ' ') == NULL && strchr(body, '\n') == NULL,
                  "not compact: %s", body);
    doc = cJSON_Parse(body);
    ck_assert_msg(doc != NULL, "not JSON: %s", body);
    free(body);
    return doc;
}

START_TEST(scalar_result_body_has_loss_shape_dtype_reduction)
{
    float loss = (float)(2.0 / 3);
    mml_request req = { .dtype = MML_F32, .p = 1, .margin = 1, .reduction = MML_MEAN,
                        .n = 2, .c = 4 };
    size_t len;
    char *body = json_encode_result(&req, &loss, &len);

    ck_assert_str_eq(body, "{\"loss\":0.6666667,\"shape\":[],\"dtype\":\"float32\","
                           "\"reduction\":\"mean\"}");
    free(body);
    req.reduction = MML_SUM;
    req.dtype = MML_F64;
    body = json_encode_result(&req, &(double){ NAN }, &len);
    ck_assert_str_eq(body, "{\"loss\":\"NaN\",\"shape\":[],\"dtype\":\"float64\","
                           "\"reduction\":\"sum\"}");
    free(body);
}
END_TEST

START_TEST(vector_result_body_lists_every_loss)
{
    uint16_t out[4] = { mml_double_to_half(0.5), mml_double_to_half(0.25),
                        mml_double_to_half(INFINITY), mml_double_to_half(-INFINITY) };
    mml_request req = { .dtype = MML_F16, .p = 2, .margin = 0, .reduction = MML_NONE,
                        .n = 4, .c = 3 };
    size_t len;
    char *body = json_encode_result(&req, out, &len);

    ck_assert_str_eq(body, "{\"loss\":[0.5,0.25,\"Infinity\",\"-Infinity\"],\"shape\":[4],"
                           "\"dtype\":\"float16\",\"reduction\":\"none\"}");
    free(body);
    req.n = 0;
    body = json_encode_result(&req, out, &len);
    ck_assert_str_eq(body, "{\"loss\":[],\"shape\":[0],\"dtype\":\"float16\","
                           "\"reduction\":\"none\"}");
    free(body);
}
END_TEST

/* A long output: every element reads back, in order. */
START_TEST(long_result_reads_back_in_order)
{
    enum { N = 5000 };
    double *out = malloc(N * sizeof *out);
    mml_request req = { .dtype = MML_F64, .p = 1, .margin = 1, .reduction = MML_NONE,
                        .n = N, .c = 2 };
    uint64_t seed = 3;
    cJSON *doc, *x;
    int i = 0;

    for (int k = 0; k < N; k++) {
        uint64_t bits = rng_next(&seed);
        memcpy(&out[k], &bits, 8);
        if (k % 100 == 0)
            out[k] = NAN;
    }
    doc = encode_result(&req, out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "loss")), N);
    ck_assert_int_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "shape"), 0)->valueint, N);
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(doc, "loss")) {
        if (isnan(out[i]))
            ck_assert_str_eq(x->valuestring, "NaN");
        else if (isinf(out[i]))
            ck_assert_str_eq(x->valuestring, out[i] > 0 ? "Infinity" : "-Infinity");
        else
            ck_assert_msg(x->valuedouble == out[i], "loss[%d] = %a, sent %a", i,
                          x->valuedouble, out[i]);
        i++;
    }
    cJSON_Delete(doc);
    free(out);
}
END_TEST

START_TEST(error_body_has_type_message_and_field)
{
    size_t len;
    char *body = json_encode_error("ValueError", "target[3] = 5 is out of range [0, 4)",
                                   "target", &len);

    ck_assert_str_eq(body, "{\"error\":{\"type\":\"ValueError\",\"message\":\"target[3] = 5 "
                           "is out of range [0, 4)\",\"field\":\"target\"}}");
    ck_assert_uint_eq(len, strlen(body));
    free(body);
    body = json_encode_error("BadRequest", "unexpected character '\"' at byte 3\n", "", &len);
    ck_assert_str_eq(body, "{\"error\":{\"type\":\"BadRequest\",\"message\":\"unexpected "
                           "character '\\\"' at byte 3\\n\"}}");
    free(body);
    body = json_encode_error("NotFound", "no such path", NULL, NULL);
    ck_assert_str_eq(body, "{\"error\":{\"type\":\"NotFound\",\"message\":\"no such path\"}}");
    free(body);
}
END_TEST

static Suite *json_encode_suite(void)
{
    Suite *s = suite_create("json_encode");
    const suite_case cases[] = {
        { "shortest_float16_all", every_float16_prints_shortest_and_reads_back, 60, 0 },
        { "shortest_float32_random", random_float32_print_shortest_and_read_back, 120, 0 },
        { "shortest_float64_random", random_float64_print_shortest_and_read_back, 120, 0 },
        { "shortest_float32_decades", float32_decades_and_neighbours_print_shortest, 120, 0 },
        { "shortest_powers_of_two", powers_of_two_print_shortest_despite_the_narrow_gap, 60, 0 },
        { "shortest_known", known_values_print_as_expected, 0, 0 },
        { "result_scalar", scalar_result_body_has_loss_shape_dtype_reduction, 0, 0 },
        { "result_vector", vector_result_body_lists_every_loss, 0, 0 },
        { "result_long", long_result_reads_back_in_order, 60, 0 },
        { "error_body", error_body_has_type_message_and_field, 0, 0 },
    };

    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return s;
}

int main(void)
{
    return suite_run(json_encode_suite());
}
