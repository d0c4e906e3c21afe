/* check_v2.c - Check suite for the Open Inference Protocol v2 codec (proto/v2.c). */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "golden.h"
#include "v2.h"
#include "v2_text.h"
#include "suite.h"

/* Deeper than v2_text.c takes (V2_TEXT_MAX_DEPTH). */
#define V2_TEXT_DEPTH_PROBE (V2_TEXT_MAX_DEPTH + 8)

/* A request body under construction: JSON header then binary data. */
typedef struct body {
    char *data;
    size_t len;
    int64_t header_len;       /* -1: JSON only */
    size_t cap;
} body;

static void put(body *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
    }
    ck_assert_ptr_nonnull(b->data);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void putf(body *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(body *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    put(b, s, (size_t)n);
    free(s);
}

static body json_body(const char *json)
{
    body b = {.header_len = -1};
    put(&b, json, strlen(json));
    return b;
}

/* The request tritonclient sends for INPUT [2, 4] FP32 and TARGET [2]
 * with binary inputs and no outputs named. */
static const float tc_input[8] = {0.1f, 0.2f, 0.4f, 0.8f, 0.3f, 0.9f, 0.1f, 0.2f};
static const int64_t tc_target[2] = {3, 1};

static body tritonclient_body(const char *extra_params)
{
    body b = {0};
    putf(&b, "{\"inputs\":[{\"name\":\"INPUT\",\"shape\":[2,4],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":32}},"
             "{\"name\":\"TARGET\",\"shape\":[2],\"datatype\":\"INT64\","
             "\"parameters\":{\"binary_data_size\":16}}],"
             "\"parameters\":{%s\"binary_data_output\":true}}",
         extra_params);
    b.header_len = (int64_t)b.len;
    put(&b, tc_input, sizeof(tc_input));
    put(&b, tc_target, sizeof(tc_target));
    return b;
}

/* Decode len bytes of b with a v2 decoder, fed in pieces cut per cuts. */
static int decode(const body *b, size_t len, feed_cuts cuts, uint64_t max_body, v2_decoded *r,
                  mml_error *err)
{
    const feed_config cfg = { .ops = &v2_decoder_ops, .max_body = max_body,
                              .header_len = b->header_len };
    return feed_decode_v2(&cfg, b->data, len, cuts, r, err);
}

/* A v2 decoder for step-by-step tests, into *f. */
static void open_v2(feed_dec *f, uint64_t max_body, int64_t header_len)
{
    feed_open(f, &(feed_config){ .ops = &v2_decoder_ops, .max_body = max_body,
                                 .header_len = header_len });
}

static int decode_all(const body *b, v2_decoded *r, mml_error *err)
{
    return decode(b, b->len, FEED_WHOLE, 1 << 20, r, err);
}

/* Expect the JSON-only request json to fail with code and a message
 * containing want (the v2 error body is checked too); name says which
 * case it is. */
static void expect_error(const char *name, const char *json, int code, const char *want)
{
    body b = json_body(json);
    v2_decoded r;
    mml_error err = {0};
    int rc = decode_all(&b, &r, &err);
    ck_assert_msg(rc == code, "%s: rc %d, want %d (%s) for %s", name, rc, code, err.message,
                  json);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s: message \"%s\" lacks \"%s\"", name,
                  err.message, want);
    ck_assert_msg(r.pl.input == NULL, "%s: a payload after a failure", name);
    ck_assert_msg(r.id == NULL, "%s: an id after a failure", name);
    size_t len;
    char *e = v2_encode_mml_error(&err, &len);
    cJSON *o = cJSON_Parse(e);
    ck_assert_msg(o != NULL, "%s: error body %s is not JSON", name, e);
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
    ck_assert_msg(msg != NULL, "%s: error body %s has no \"error\" string", name, e);
    ck_assert_msg(strncmp(msg, mml_err_name(code), strlen(mml_err_name(code))) == 0,
                  "%s: error \"%s\" does not start with \"%s\"", name, msg, mml_err_name(code));
    ck_assert_msg(strstr(msg, want) != NULL, "%s: error \"%s\" lacks \"%s\"", name, msg, want);
    cJSON_Delete(o);
    free(e);
    free(b.data);
}

/* A JSON-only request with the given inputs array and parameters. */
static char *req_json(const char *inputs, const char *rest)
{
    char *s = NULL;
    ck_assert_int_ge(asprintf(&s, "{\"inputs\":[%s]%s}", inputs, rest), 0);
    return s;
}

#define IN_OK "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]}"
#define TG_OK "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,1]}"

/* A request that must fail with code and a message containing want: its
 * body is req_json(inputs, rest), or rest itself when inputs is NULL. */
typedef struct error_row {
    const char *name;
    const char *inputs, *rest;
    int code;
    const char *want;
} error_row;

static void expect_row(const error_row *row)
{
    char *json = row->inputs ? req_json(row->inputs, row->rest) : strdup(row->rest);
    ck_assert_ptr_nonnull(json);
    expect_error(row->name, json, row->code, row->want);
    free(json);
}

/* Parse a response, check the common fields, return the LOSS output. */
static const cJSON *check_response(cJSON *o, const char *id, const char *datatype,
                                   int rank, uint64_t n)
{
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "model_name")),
                     "multi_margin_loss");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "model_version")), "1");
    const cJSON *jid = cJSON_GetObjectItem(o, "id");
    if (id == NULL)
        ck_assert_ptr_null(jid);
    else
        ck_assert_str_eq(cJSON_GetStringValue(jid), id);
    const cJSON *outs = cJSON_GetObjectItem(o, "outputs");
    ck_assert_int_eq(cJSON_GetArraySize(outs), 1);
    const cJSON *loss = cJSON_GetArrayItem(outs, 0);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(loss, "name")), "LOSS");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(loss, "datatype")), datatype);
    const cJSON *shape = cJSON_GetObjectItem(loss, "shape");
    ck_assert_int_eq(cJSON_GetArraySize(shape), rank);
    if (rank == 1)
        ck_assert_double_eq(cJSON_GetArrayItem(shape, 0)->valuedouble, (double)n);
    return loss;
}

/* ---- tritonclient wire behaviour ------------------------------------- */

START_TEST(tritonclient_binary_request_decodes_at_every_split)
{
    body b = tritonclient_body("");
    for (size_t split = 0; split <= b.len; split++) {
        v2_decoded r;
        mml_error err = {0};
        int rc = decode(&b, b.len, FEED_AT(&split, 1), 1 << 20, &r, &err);
        ck_assert_msg(rc == 0, "split %zu: %s", split, err.message);
        ck_assert_int_eq(r.binary_output, 1);
        ck_assert_ptr_null(r.id);
        ck_assert_int_eq(r.pl.req.dtype, MML_F32);
        ck_assert_int_eq(r.pl.req.p, 1);
        ck_assert_int_eq(r.pl.req.margin, 1);
        ck_assert_int_eq(r.pl.req.reduction, MML_MEAN);
        ck_assert_uint_eq(r.pl.req.n, 2);
        ck_assert_uint_eq(r.pl.req.c, 4);
        ck_assert_ptr_null(r.pl.req.weight);
        ck_assert_int_eq(memcmp(r.pl.input, tc_input, sizeof(tc_input)), 0);
        ck_assert_int_eq(memcmp(r.pl.target, tc_target, sizeof(tc_target)), 0);
        ck_assert_uint_eq((uintptr_t)r.pl.input % PAYLOAD_ALIGN, 0);
        ck_assert_uint_eq((uintptr_t)r.pl.target % PAYLOAD_ALIGN, 0);
        v2_decoded_free(&r);
    }
    /* Byte by byte too. */
    v2_decoded r;
    ck_assert_int_eq(decode(&b, b.len, FEED_EVERY(1), 1 << 20, &r, NULL), 0);

    float loss;
    mml_compute(&r.pl.req, &loss);
    size_t len, hlen;
    char *resp = v2_decoded_encode(&r, &loss, &len, &hlen);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(len, hlen + 4);
    cJSON *o = cJSON_ParseWithLength(resp, hlen);
    const cJSON *out = check_response(o, NULL, "FP32", 0, 0);
    const cJSON *params = cJSON_GetObjectItem(out, "parameters");
    ck_assert_double_eq(cJSON_GetObjectItem(params, "binary_data_size")->valuedouble, 4);
    ck_assert_ptr_null(cJSON_GetObjectItem(out, "data"));
    ck_assert_int_eq(memcmp(resp + hlen, &loss, 4), 0);
    /* Rows: (0.3 + 0.4 + 0.6) / 4 and (0.4 + 0.2 + 0.3) / 4, mean 0.275. */
    ck_assert_float_eq_tol(loss, 0.275f, 1e-7f);
    cJSON_Delete(o);
    free(resp);
    v2_decoded_free(&r);
    free(b.data);
}
END_TEST

START_TEST(parameters_and_id_are_read_and_loss_returned_as_json)
{
    body b = {0};
    putf(&b, "{\"id\":\"req-\\\"7\\\"\",\"inputs\":[{\"name\":\"INPUT\",\"shape\":[2,4],"
             "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":32}},"
             "{\"name\":\"TARGET\",\"shape\":[2],\"datatype\":\"INT64\","
             "\"parameters\":{\"binary_data_size\":16}}],"
             "\"outputs\":[{\"name\":\"LOSS\",\"parameters\":{\"binary_data\":false}}],"
             "\"parameters\":{\"p\":2,\"margin\":-3,\"reduction\":\"none\",\"priority\":0}}");
    b.header_len = (int64_t)b.len;
    put(&b, tc_input, sizeof(tc_input));
    put(&b, tc_target, sizeof(tc_target));
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), 0);
    ck_assert_str_eq(r.id, "req-\"7\"");
    ck_assert_int_eq(r.binary_output, 0);
    ck_assert_int_eq(r.pl.req.p, 2);
    ck_assert_int_eq(r.pl.req.margin, -3);
    ck_assert_int_eq(r.pl.req.reduction, MML_NONE);
    float out[2] = {0.5f, 0.25f};
    size_t len, hlen = 99;
    char *resp = v2_decoded_encode(&r, out, &len, &hlen);
    ck_assert_uint_eq(hlen, 0);
    ck_assert_str_eq(resp, "{\"model_name\":\"multi_margin_loss\",\"model_version\":\"1\","
                           "\"id\":\"req-\\\"7\\\"\",\"outputs\":[{\"name\":\"LOSS\","
                           "\"datatype\":\"FP32\",\"shape\":[2],\"data\":[0.5,0.25]}]}");
    ck_assert_uint_eq(len, strlen(resp));
    cJSON *o = cJSON_Parse(resp);
    check_response(o, "req-\"7\"", "FP32", 1, 2);
    cJSON_Delete(o);
    free(resp);
    v2_decoded_free(&r);
    free(b.data);
}
END_TEST

/* binary_data on the output overrides binary_data_output. */
START_TEST(output_binary_data_overrides_binary_data_output)
{
    static const struct {
        const char *rest;
        int binary;
    } cases[] = {
        {"", 0},
        {",\"parameters\":{\"binary_data_output\":true}", 1},
        {",\"parameters\":{\"binary_data_output\":false}", 0},
        {",\"outputs\":[{\"name\":\"LOSS\"}]", 0},
        {",\"outputs\":[]", 0},
        {",\"outputs\":[{\"name\":\"LOSS\",\"parameters\":{\"binary_data\":true}}]", 1},
        {",\"outputs\":[{\"name\":\"LOSS\"}],\"parameters\":{\"binary_data_output\":true}", 1},
        {",\"outputs\":[{\"name\":\"LOSS\",\"parameters\":{\"binary_data\":false}}],"
         "\"parameters\":{\"binary_data_output\":true}", 0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *json = req_json(IN_OK "," TG_OK, cases[k].rest);
        body b = json_body(json);
        v2_decoded r;
        mml_error err = {0};
        ck_assert_msg(decode_all(&b, &r, &err) == 0, "%s: %s", json, err.message);
        ck_assert_msg(r.binary_output == cases[k].binary, "%s", json);
        v2_decoded_free(&r);
        free(b.data);
        free(json);
    }
}
END_TEST

START_TEST(json_data_may_be_flat_or_nested_in_row_major_order)
{
    static const char *const forms[] = {
        "[0.1,0.2,0.4,0.8,0.3,0.9,0.1,0.2]",
        "[[0.1,0.2,0.4,0.8],[0.3,0.9,0.1,0.2]]",
        "[[0.1,0.2],[0.4,0.8,0.3],[[0.9],0.1,0.2]]",   /* any nesting, row-major order */
    };
    for (size_t k = 0; k < 3; k++) {
        body b = {.header_len = -1};
        putf(&b, "{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,4],"
                 "\"data\":%s},{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],"
                 "\"data\":[[3],[1]]}]}", forms[k]);
        for (size_t split = 0; split <= b.len; split += 1) {
            v2_decoded r;
            mml_error err = {0};
            ck_assert_msg(decode(&b, b.len, FEED_AT(&split, 1), 1 << 20, &r, &err) == 0, "%s", err.message);
            ck_assert_int_eq(memcmp(r.pl.input, tc_input, sizeof(tc_input)), 0);
            ck_assert_int_eq(memcmp(r.pl.target, tc_target, sizeof(tc_target)), 0);
            ck_assert_int_eq(r.binary_output, 0);
            v2_decoded_free(&r);
        }
        free(b.data);
    }
}
END_TEST

/* A header length may also frame a JSON-only request, and JSON and
 * binary inputs mix; binary data follows in the order of "inputs". */
START_TEST(binary_data_follows_input_order_and_mixes_with_json)
{
    body b = {0};
    putf(&b, "{\"inputs\":[{\"name\":\"WEIGHT\",\"datatype\":\"FP64\",\"shape\":[3],"
             "\"parameters\":{\"binary_data_size\":24}},"
             "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[2]},"
             "{\"name\":\"INPUT\",\"datatype\":\"FP64\",\"shape\":[1,3],"
             "\"parameters\":{\"binary_data_size\":24}}]}   \n");
    b.header_len = (int64_t)b.len;
    double w[3] = {1, 2, 3}, x[3] = {0.5, -1, 4};
    put(&b, w, sizeof(w));
    put(&b, x, sizeof(x));
    for (size_t split = 0; split <= b.len; split++) {
        v2_decoded r;
        mml_error err = {0};
        ck_assert_msg(decode(&b, b.len, FEED_AT(&split, 1), 1 << 20, &r, &err) == 0, "%s", err.message);
        ck_assert_int_eq(memcmp(r.pl.weight, w, 24), 0);
        ck_assert_int_eq(memcmp(r.pl.input, x, 24), 0);
        ck_assert_int_eq(r.pl.target[0], 2);
        ck_assert_ptr_eq(r.pl.req.weight, r.pl.weight);
        v2_decoded_free(&r);
    }
    free(b.data);
    /* JSON only, but framed by the header length. */
    char *json = req_json(IN_OK "," TG_OK, "");
    b = json_body(json);
    b.header_len = (int64_t)b.len;
    v2_decoded r;
    ck_assert_int_eq(decode_all(&b, &r, NULL), 0);
    v2_decoded_free(&r);
    free(b.data);
    free(json);
}
END_TEST

START_TEST(empty_batch_returns_nan_mean_and_empty_binary_output)
{
    body b = {0};
    putf(&b, "{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP16\",\"shape\":[0,5],"
             "\"parameters\":{\"binary_data_size\":0}},"
             "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[0],"
             "\"parameters\":{\"binary_data_size\":0}}],\"id\":\"e\"}");
    b.header_len = (int64_t)b.len;
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), 0);
    ck_assert_uint_eq(r.pl.req.n, 0);
    ck_assert_uint_eq(r.pl.req.c, 5);
    uint16_t h;
    mml_compute(&r.pl.req, &h);
    size_t len, hlen;
    char *resp = v2_decoded_encode(&r, &h, &len, &hlen);
    ck_assert_str_eq(resp, "{\"model_name\":\"multi_margin_loss\",\"model_version\":\"1\","
                           "\"id\":\"e\",\"outputs\":[{\"name\":\"LOSS\",\"datatype\":\"FP16\","
                           "\"shape\":[],\"data\":[\"NaN\"]}]}");
    free(resp);
    /* reduction none of zero rows, binary: a zero-byte output. */
    r.pl.req.reduction = MML_NONE;
    r.binary_output = 1;
    resp = v2_decoded_encode(&r, NULL, &len, &hlen);
    ck_assert_uint_eq(len, hlen);
    cJSON *o = cJSON_ParseWithLength(resp, hlen);
    const cJSON *out = check_response(o, "e", "FP16", 1, 0);
    ck_assert_double_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "parameters"),
                                            "binary_data_size")->valuedouble, 0);
    cJSON_Delete(o);
    free(resp);
    v2_decoded_free(&r);
    free(b.data);
}
END_TEST

/* ---- golden cases through v2 ----------------------------------------- */

static void put_golden_values(body *b, int dtype, const double *v, uint64_t count)
{
    char one[8];
    for (uint64_t i = 0; i < count; i++) {
        mml_store(dtype, one, 0, v[i]);
        put(b, one, mml_dtype_size(dtype));
    }
}

static void put_json_values(body *b, const double *v, uint64_t count)
{
    put(b, "[", 1);
    for (uint64_t i = 0; i < count; i++) {
        if (i > 0)
            put(b, ",", 1);
        if (isnan(v[i]))
            putf(b, "\"NaN\"");
        else if (isinf(v[i]))
            putf(b, v[i] > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        else
            putf(b, "%.17g", v[i]);
    }
    put(b, "]", 1);
}

static const char *golden_dt(int dtype)
{
    return dtype == MML_F16 ? "FP16" : dtype == MML_F32 ? "FP32" : "FP64";
}

/* Binary inputs (every dtype) or JSON inputs (float32, float64). */
static body golden_body(const golden_case *g, int binary)
{
    body b = {0};
    const char *dt = golden_dt(g->dtype);
    size_t es = mml_dtype_size(g->dtype);
    putf(&b, "{\"id\":\"%s\",\"parameters\":{\"p\":%d,\"margin\":%d,\"reduction\":\"%s\","
             "\"binary_data_output\":true},\"inputs\":[",
         g->name, g->p, g->margin, mml_reduction_name(g->reduction));
    putf(&b, "{\"name\":\"INPUT\",\"datatype\":\"%s\",\"shape\":[%llu,%llu],", dt,
         (unsigned long long)g->n, (unsigned long long)g->c);
    if (binary) {
        putf(&b, "\"parameters\":{\"binary_data_size\":%llu}},",
             (unsigned long long)(g->n * g->c * es));
        putf(&b, "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[%llu],"
                 "\"parameters\":{\"binary_data_size\":%llu}}",
             (unsigned long long)g->n, (unsigned long long)g->n * 8);
        if (g->weight)
            putf(&b, ",{\"name\":\"WEIGHT\",\"datatype\":\"%s\",\"shape\":[%llu],"
                     "\"parameters\":{\"binary_data_size\":%llu}}",
                 dt, (unsigned long long)g->c, (unsigned long long)(g->c * es));
        put(&b, "]}", 2);
        b.header_len = (int64_t)b.len;
        put_golden_values(&b, g->dtype, g->input, g->n * g->c);
        put(&b, g->target, g->n * 8);
        if (g->weight)
            put_golden_values(&b, g->dtype, g->weight, g->c);
    } else {
        put(&b, "\"data\":", 7);
        put_json_values(&b, g->input, g->n * g->c);
        putf(&b, "},{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[%llu],\"data\":[",
             (unsigned long long)g->n);
        for (uint64_t i = 0; i < g->n; i++)
            putf(&b, "%s%lld", i ? "," : "", (long long)g->target[i]);
        put(&b, "]}", 2);
        if (g->weight) {
            putf(&b, ",{\"name\":\"WEIGHT\",\"datatype\":\"%s\",\"shape\":[%llu],\"data\":", dt,
                 (unsigned long long)g->c);
            put_json_values(&b, g->weight, g->c);
            put(&b, "}", 1);
        }
        put(&b, "]}", 2);
        b.header_len = -1;
    }
    return b;
}

START_TEST(golden_cases_within_tolerance_binary_and_json)
{
    size_t count;
    golden_case *cases = golden_load(GOLDEN_PATH, &count);
    ck_assert_ptr_nonnull(cases);
    ck_assert_uint_gt(count, 1000);
    static char out[8 * 4096];
    for (size_t k = 0; k < count; k++) {
        const golden_case *g = &cases[k];
        for (int binary = 1; binary >= (g->dtype == MML_F16 ? 1 : 0); binary--) {
            body b = golden_body(g, binary);
            v2_decoded r;
            mml_error err = {0};
            int rc = decode(&b, b.len, FEED_WHOLE, 64 << 20, &r, &err);
            ck_assert_msg(rc == 0, "%s (binary %d): %s", g->name, binary, err.message);
            ck_assert_str_eq(r.id, g->name);
            mml_compute(&r.pl.req, out);
            size_t len, hlen;
            char *resp = v2_decoded_encode(&r, out, &len, &hlen);
            cJSON *o = cJSON_ParseWithLength(resp, hlen);
            check_response(o, g->name, golden_dt(g->dtype),
                           g->reduction == MML_NONE ? 1 : 0, g->n);
            ck_assert_uint_eq(len - hlen, g->n_out * mml_dtype_size(g->dtype));
            for (size_t i = 0; i < g->n_out; i++) {
                double got = mml_load(g->dtype, resp + hlen, i);
                double ulps = golden_ulps(g->dtype, got, g->exact[i]);
                ck_assert_msg(ulps <= golden_max_ulps(g->dtype), "%s: out[%zu] = %.17g, exact %.17g",
                              g->name, i, got, g->exact[i]);
            }
            cJSON_Delete(o);
            free(resp);
            v2_decoded_free(&r);
            free(b.data);
        }
    }
    golden_free(cases, count);
}
END_TEST

/* JSON output of every golden dtype reads back to the same values. */
START_TEST(json_output_reads_back_to_the_same_values)
{
    static const double vals[] = {0.6666666865348816, -0.0, 1e-8, 65504, NAN, INFINITY,
                                  -INFINITY, 3.0};
    for (int dtype = MML_F16; dtype <= MML_F64; dtype++) {
        char out[8 * 8];
        for (int i = 0; i < 8; i++)
            mml_store(dtype, out, (uint64_t)i, vals[i]);
        v2_decoded r = {.pl.req = {.dtype = dtype, .reduction = MML_NONE, .n = 8, .c = 1}};
        size_t len, hlen;
        char *resp = v2_decoded_encode(&r, out, &len, &hlen);
        cJSON *o = cJSON_Parse(resp);
        const cJSON *loss = check_response(o, NULL, golden_dt(dtype), 1, 8);
        const cJSON *data = cJSON_GetObjectItem(loss, "data");
        ck_assert_int_eq(cJSON_GetArraySize(data), 8);
        for (int i = 0; i < 8; i++) {
            const cJSON *v = cJSON_GetArrayItem(data, i);
            double want = mml_load(dtype, out, (uint64_t)i), got;
            if (cJSON_IsString(v))
                got = strcmp(v->valuestring, "NaN") == 0 ? NAN
                    : strcmp(v->valuestring, "Infinity") == 0 ? INFINITY : -INFINITY;
            else
                got = v->valuedouble;
            char a[8], c[8];
            mml_store(dtype, a, 0, got);
            mml_store(dtype, c, 0, want);
            ck_assert_msg(memcmp(a, c, mml_dtype_size(dtype)) == 0, "dtype %d value %d: %s",
                          dtype, i, resp);
        }
        cJSON_Delete(o);
        free(resp);
    }
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

/* The integers that are fine. */
START_TEST(integer_parameters_at_their_limits_are_read)
{
    char *json = req_json(IN_OK "," TG_OK,
                          ",\"parameters\":{\"p\":2,\"margin\":-2147483648,\"reduction\":\"sum\","
                          "\"timeout\":5}");
    body b = json_body(json);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_msg(decode_all(&b, &r, &err) == 0, "%s", err.message);
    ck_assert_int_eq(r.pl.req.margin, INT32_MIN);
    ck_assert_int_eq(r.pl.req.reduction, MML_SUM);
    v2_decoded_free(&r);
    free(b.data);
    free(json);
}
END_TEST

static const error_row bad_parameter[] = {
    { "p_with_fraction_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":1.0}",
      MML_ETYPE, "p must be an integer" },
    { "p_with_exponent_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":1e0}",
      MML_ETYPE, "p must be an integer" },
    { "p_string_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":\"1\"}",
      MML_ETYPE, "got a string" },
    { "p_boolean_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":true}",
      MML_ETYPE, "got a boolean" },
    { "p_3_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":3}",
      MML_EVALUE, "p must be 1 or 2" },
    { "p_0_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":0}",
      MML_EVALUE, "p must be 1 or 2" },
    { "margin_with_fraction_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"margin\":1.5}",
      MML_ETYPE, "margin must be an integer" },
    { "margin_string_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"margin\":\"1\"}",
      MML_ETYPE, "margin must be an integer" },
    { "margin_past_int32_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"margin\":2147483648}",
      MML_EVALUE, "32-bit" },
    { "margin_far_below_int32_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"margin\":-99999999999999999999}",
      MML_EVALUE, "32-bit" },
    { "p_with_fraction_message_names_fraction_or_exponent",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":1.0}",
      MML_ETYPE, "fraction or an exponent" },
    { "p_past_int64_is_out_of_range",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":100000000000000000000}",
      MML_EVALUE, "out of range" },
    { "reduction_number_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"reduction\":1}",
      MML_ETYPE, "reduction must be a string" },
    { "reduction_unknown_name_is_value_error_listing_the_choices",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"reduction\":\"avg\"}",
      MML_EVALUE, "reduction must be one of none, mean, sum, got \"avg\"" },
    /* In document order, as /v1: the bad reduction before the bad p. */
    { "parameters_are_checked_in_document_order",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"reduction\":\"x\",\"p\":1.0}",
      MML_EVALUE, "got \"x\"" },
    { "binary_data_output_number_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"binary_data_output\":1}",
      MML_ETYPE, "boolean" },
    { "unknown_parameter_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"reduce\":\"sum\"}",
      MML_EVALUE, "unknown parameter \"reduce\"" },
    { "unknown_parameter_name_is_shown_printable",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"re\\u001bduce\":\"sum\"}",
      MML_EVALUE, "unknown parameter \"re?duce\"" },
    { "parameter_given_twice_is_value_error",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"p\":1,\"p\":2}",
      MML_EVALUE, "twice" },
    { "parameters_array_is_type_error",
      IN_OK "," TG_OK,
      ",\"parameters\":[]",
      MML_ETYPE, "parameters must be an object" },
};

static const error_row bad_tensor[] = {
    /* Names and keys. */
    { "unknown_input_name_is_value_error",
      IN_OK "," TG_OK ",{\"name\":\"LABELS\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,1]}",
      "",
      MML_EVALUE, "unknown input \"LABELS\"" },
    { "input_given_twice_is_value_error",
      IN_OK "," TG_OK "," IN_OK,
      "",
      MML_EVALUE, "INPUT appears twice" },
    { "missing_target_is_value_error",
      IN_OK,
      "",
      MML_EVALUE, "missing input TARGET" },
    { "missing_input_is_value_error",
      TG_OK,
      "",
      MML_EVALUE, "missing input INPUT" },
    { "unknown_key_in_a_tensor_is_value_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,1],\"extra\":1}",
      "",
      MML_EVALUE, "unknown key \"extra\"" },
    { "unknown_top_level_key_is_value_error",
      IN_OK "," TG_OK,
      ",\"inputz\":[]",
      MML_EVALUE, "unknown key \"inputz\"" },
    { "unknown_output_is_value_error",
      IN_OK "," TG_OK,
      ",\"outputs\":[{\"name\":\"PROB\"}]",
      MML_EVALUE, "unknown output \"PROB\"" },
    { "output_named_twice_is_value_error",
      IN_OK "," TG_OK,
      ",\"outputs\":[{\"name\":\"LOSS\"},{\"name\":\"LOSS\"}]",
      MML_EVALUE, "twice" },
    /* model_name and model_version, when given, are this endpoint's. */
    { "other_model_version_is_value_error",
      IN_OK "," TG_OK,
      ",\"model_version\":\"2\"",
      MML_EVALUE, "model_version \"2\" does not match this endpoint's \"1\"" },
    { "other_model_name_is_value_error",
      IN_OK "," TG_OK,
      ",\"model_name\":\"resnet\"",
      MML_EVALUE, "model_name \"resnet\" does not match this endpoint's \"multi_margin_loss\"" },
    { "model_version_number_is_type_error",
      IN_OK "," TG_OK,
      ",\"model_version\":1",
      MML_ETYPE, "model_version must be a string, got a number" },
    { "datatype_is_shown_without_control_bytes",
      "{\"name\":\"INPUT\",\"datatype\":\"FP\\n32\",\"shape\":[2,2],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_ETYPE, "FP16, FP32 or FP64, got FP?32" },
    { "output_classification_is_bad_request",
      IN_OK "," TG_OK,
      ",\"outputs\":[{\"name\":\"LOSS\",\"parameters\":{\"classification\":2}}]",
      MML_EBADREQ, "classification" },
    { "id_number_is_type_error",
      IN_OK "," TG_OK,
      ",\"id\":7",
      MML_ETYPE, "id must be a string" },
    /* Datatypes. */
    { "input_int32_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"INT32\",\"shape\":[2,2],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_ETYPE, "INPUT datatype must be FP16, FP32 or FP64, got INT32" },
    { "weight_datatype_unlike_input_is_type_error",
      IN_OK "," TG_OK ",{\"name\":\"WEIGHT\",\"datatype\":\"FP64\",\"shape\":[2],\"data\":[1,2]}",
      "",
      MML_ETYPE, "WEIGHT datatype FP64 must equal the INPUT datatype FP32" },
    { "target_int32_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT32\",\"shape\":[2],\"data\":[0,1]}",
      "",
      MML_ETYPE, "TARGET datatype must be INT64" },
    { "fp16_as_json_data_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP16\",\"shape\":[2,2],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_EBADREQ, "FP16" },
    /* Elements. */
    { "target_with_fraction_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,1.0]}",
      "",
      MML_ETYPE, "TARGET data[1] must be an integer, got a number with a fraction" },
    { "target_with_exponent_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,1e20]}",
      "",
      MML_ETYPE, "TARGET data[1]" },
    { "target_past_int64_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,100000000000000000000]}",
      "",
      MML_ETYPE, "TARGET data[1] does not fit in int64" },
    { "target_string_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[\"0\",1]}",
      "",
      MML_ETYPE, "TARGET data[0] must be an integer, got a string" },
    { "target_equal_to_c_is_value_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,2]}",
      "",
      MML_EVALUE, "target[1] = 2 is out of range [0, 2)" },
    { "target_negative_is_value_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[-1,0]}",
      "",
      MML_EVALUE, "target[0] = -1" },
    { "input_boolean_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,true,4]}," TG_OK,
      "",
      MML_ETYPE, "INPUT data[2] must be a number, got a boolean" },
    { "input_short_of_its_shape_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3]}," TG_OK,
      "",
      MML_EVALUE, "INPUT has 3 data elements but its shape needs 4" },
    { "input_nested_longer_than_its_shape_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[[1,2],[3,4],[5]]}," TG_OK,
      "",
      MML_EVALUE, "INPUT has 5 data elements" },
    { "input_data_number_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":7}," TG_OK,
      "",
      MML_ETYPE, "INPUT data must be an array" },
    /* Shapes. */
    { "input_rank_1_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[4],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_EVALUE, "rank 1" },
    { "input_negative_dimension_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[-1,2],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_EVALUE, "INPUT shape[0] must be a non-negative integer" },
    { "input_dimension_with_fraction_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2.0],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_EVALUE, "INPUT shape[1] must be a non-negative integer" },
    { "input_dimension_with_exponent_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2e0,2],\"data\":[1,2,3,4]}," TG_OK,
      "",
      MML_EVALUE, "INPUT shape[0] must be a non-negative integer" },
    { "target_length_unlike_n_is_value_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[3],\"data\":[0,1,1]}",
      "",
      MML_EVALUE, "does not match target.shape[0]" },
    { "weight_length_unlike_c_is_value_error",
      IN_OK "," TG_OK ",{\"name\":\"WEIGHT\",\"datatype\":\"FP32\",\"shape\":[3],\"data\":[1,2,3]}",
      "",
      MML_EVALUE, "weight.shape[0]" },
    { "c_zero_is_value_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,0],\"data\":[]}," TG_OK,
      "",
      MML_EVALUE, "at least 1" },
    { "shape_past_max_body_is_413",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[4294967296,4294967296],\"data\":[]}," "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[4294967296],\"data\":[]}",
      "",
      MML_ETOOBIG, "" },
    /* Data and binary together or neither; binary without the header. */
    { "data_and_binary_data_size_together_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]," "\"parameters\":{\"binary_data_size\":16}}," TG_OK,
      "",
      MML_EBADREQ, "both data and binary_data_size" },
    { "neither_data_nor_binary_data_size_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2]}," TG_OK,
      "",
      MML_EBADREQ, "neither data nor binary_data_size" },
    { "binary_data_without_header_length_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2]," "\"parameters\":{\"binary_data_size\":16}}," TG_OK,
      "",
      MML_EBADREQ, "Inference-Header-Content-Length is missing" },
    { "shared_memory_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]," "\"parameters\":{\"shared_memory_region\":\"r\"}}," TG_OK,
      "",
      MML_EBADREQ, "shared memory" },
};

static const error_row malformed[] = {
    { "empty_body_is_bad_request",
      NULL,
      "",
      MML_EBADREQ, "no JSON header (empty body)" },
    { "unterminated_json_is_bad_request",
      NULL,
      "{\"inputs\":[",
      MML_EBADREQ, "malformed JSON" },
    { "json_array_body_is_bad_request",
      NULL,
      "[1,2]",
      MML_EBADREQ, "JSON object" },
    { "bytes_after_the_json_need_header_length",
      NULL,
      "{\"inputs\":[]} x",
      MML_EBADREQ, "unexpected bytes after the JSON request at byte 14; a body with binary data " "needs Inference-Header-Content-Length" },
    /* cJSON would end the string at a NUL: "mean\u0000x" would read as mean. */
    { "escaped_nul_in_a_parameter_is_bad_request",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"reduction\":\"mean\\u0000x\"}",
      MML_EBADREQ, "\\u0000 in a string at byte" },
    { "escaped_nul_in_the_id_is_bad_request",
      IN_OK "," TG_OK,
      ",\"id\":\"a\\u0000b\"",
      MML_EBADREQ, "may hold a NUL" },
    { "bare_nan_outside_data_is_malformed",
      NULL,
      "{\"inputs\":[NaN]}",
      MML_EBADREQ, "malformed JSON" },
    { "empty_object_lacks_inputs",
      NULL,
      "{}",
      MML_EVALUE, "inputs" },
    { "inputs_object_is_type_error",
      NULL,
      "{\"inputs\":{}}",
      MML_ETYPE, "inputs" },
    /* The id is echoed into the response, so the header must be UTF-8. */
    { "id_invalid_utf8_byte_is_bad_request",
      IN_OK "," TG_OK,
      ",\"id\":\"a\xff\"",
      MML_EBADREQ, "not valid UTF-8 (byte" },
    { "id_utf8_surrogate_is_bad_request",
      IN_OK "," TG_OK,
      ",\"id\":\"\xed\xa0\x80\"",
      MML_EBADREQ, "not valid UTF-8" },
    { "id_truncated_utf8_is_bad_request",
      IN_OK "," TG_OK,
      ",\"id\":\"\xc3\"",
      MML_EBADREQ, "not valid UTF-8" },
};

static const error_row bad_nonfinite[] = {
    /* Python's json.dumps writes NaN and Infinity bare: numbers inside data
     * arrays, malformed anywhere else. */
    { "target_nan_is_type_error",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[0,NaN]}",
      "",
      MML_ETYPE, "TARGET data[1] must be an integer, got a non-finite number" },
    { "margin_nan_is_malformed",
      IN_OK "," TG_OK,
      ",\"parameters\":{\"margin\":NaN}",
      MML_EBADREQ, "malformed JSON" },
    { "data_bare_nan_is_malformed",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":NaN}," TG_OK,
      "",
      MML_EBADREQ, "malformed JSON" },
    { "data_nan_misspelt_is_malformed",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,Nan]}," TG_OK,
      "",
      MML_EBADREQ, "malformed JSON" },
};

static const error_row bad_json_data[] = {
    /* Elements of data arrays. */
    { "data_object_element_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,{\"a\":2},3,4]}," TG_OK,
      "",
      MML_ETYPE, "INPUT data[1] must be a number, got an object" },
    { "data_null_element_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,null,4]}," TG_OK,
      "",
      MML_ETYPE, "INPUT data[2] must be a number, got null" },
    { "data_string_element_is_type_error",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,\"3\",4]}," TG_OK,
      "",
      MML_ETYPE, "INPUT data[2] must be a number, got a string" },
    { "escaped_data_key_is_bad_request",
      "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"d\\u0061ta\":[1,2,3,4]}," TG_OK,
      "",
      MML_EBADREQ, "without escapes" },
    { "target_int64_max_is_out_of_range",
      IN_OK ",{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[2]," "\"data\":[0,9223372036854775807]}",
      "",
      MML_EVALUE, "target[1] = 9223372036854775807" },
};

START_TEST(bad_parameter_fails_with_its_error)
{
    expect_row(&bad_parameter[_i]);
}
END_TEST

START_TEST(bad_tensor_fails_with_its_error)
{
    expect_row(&bad_tensor[_i]);
}
END_TEST

START_TEST(malformed_request_fails_with_its_error)
{
    expect_row(&malformed[_i]);
}
END_TEST

START_TEST(bad_nonfinite_value_fails_with_its_error)
{
    expect_row(&bad_nonfinite[_i]);
}
END_TEST

START_TEST(bad_json_data_fails_with_its_error)
{
    expect_row(&bad_json_data[_i]);
}
END_TEST

/* A UTF-8 id comes back byte for byte. */
START_TEST(utf8_id_comes_back_byte_for_byte)
{
    char *json = req_json(IN_OK "," TG_OK, ",\"id\":\"caf\xc3\xa9-\xf0\x9f\x98\x80\"");
    body b = json_body(json);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), 0);
    ck_assert_str_eq(r.id, "caf\xc3\xa9-\xf0\x9f\x98\x80");
    v2_decoded_free(&r);
    free(b.data);
    free(json);
}
END_TEST

/* The JSON header of a binary request, INPUT FP32 [n, c] and TARGET [n],
 * their binary_data_size written as in_size and n * 8; header_len is its
 * length. */
static body binary_header(int n, int c, const char *in_size)
{
    body b = {0};
    putf(&b, "{\"inputs\":[{\"name\":\"INPUT\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":%s}},"
             "{\"name\":\"TARGET\",\"shape\":[%d],\"datatype\":\"INT64\","
             "\"parameters\":{\"binary_data_size\":%d}}]}", n, c, in_size, n, 8 * n);
    b.header_len = (int64_t)b.len;
    return b;
}

START_TEST(binary_sizes_must_match_shapes_and_body)
{
    /* binary_data_size that disagrees with the shape. */
    body b = binary_header(2, 4, "31");
    put(&b, tc_input, 31);
    put(&b, tc_target, 16);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "INPUT binary_data_size is 31 bytes but shape and FP32 need 32"));
    free(b.data);

    /* A size is an integer literal, as a shape's dimensions are: 32.0 is not. */
    b = binary_header(2, 4, "32.0");
    put(&b, tc_input, 32);
    put(&b, tc_target, 16);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "INPUT binary_data_size must be a non-negative integer"));
    free(b.data);

    /* One byte too many: refused by the feed that brings it. */
    b = tritonclient_body("");
    put(&b, "x", 1);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "longer"));
    feed_dec f;
    open_v2(&f, 1 << 20, b.header_len);
    ck_assert_int_eq(feed_step(&f, b.data, b.len - 1, &err), 0);
    ck_assert_int_eq(feed_step(&f, b.data + b.len - 1, 1, &err), MML_EBADREQ);
    ck_assert_int_eq(feed_finish_v2(&f, &r, &err), MML_EBADREQ);   /* sticky */
    feed_close(&f);
    free(b.data);

    /* Every truncation. */
    b = tritonclient_body("");
    for (size_t len = 0; len < b.len; len++) {
        int rc = decode(&b, len, FEED_WHOLE, 1 << 20, &r, &err);
        ck_assert_msg(rc == MML_EBADREQ, "len %zu: rc %d", len, rc);
        ck_assert_msg(strstr(err.message, "truncated") != NULL, "len %zu: %s", len, err.message);
    }
    /* A header length that cuts the JSON short, or runs into the data. */
    b.header_len -= 1;
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    b.header_len += 2;
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    free(b.data);

    /* A header length past the JSON into data that is valid UTF-8: the
     * message says which length is wrong. */
    b = binary_header(1, 2, "8");
    b.header_len += 2;
    put(&b, "\0\0\x80?\0\0\0@", 8);                /* 1.0f, 2.0f */
    put(&b, "\0\0\0\0\0\0\0\0", 8);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_msg(strstr(err.message, "Inference-Header-Content-Length is longer than the JSON"),
                  "%s", err.message);
    free(b.data);
}
END_TEST

START_TEST(max_body_and_memory_budget_are_enforced)
{
    body b = tritonclient_body("");
    v2_decoded r;
    mml_error err = {0};
    /* Exactly the limit passes, one byte less is 413 before the data. */
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, b.len, &r, &err), 0);
    v2_decoded_free(&r);
    feed_dec f;
    open_v2(&f, b.len - 1, b.header_len);
    ck_assert_int_eq(feed_step(&f, b.data, (size_t)b.header_len, &err), MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(err.code), 413);
    feed_close(&f);
    /* The header length alone over the limit. */
    open_v2(&f, 100, 101);
    ck_assert_int_eq(feed_step(&f, "{", 1, &err), MML_ETOOBIG);
    feed_close(&f);
    open_v2(&f, 100, 0);
    ck_assert_int_eq(feed_finish_v2(&f, &r, &err), MML_EBADREQ);
    feed_close(&f);
    free(b.data);

    /* Binary sizes that claim the earth. */
    b = (body){0};
    putf(&b, "{\"inputs\":[{\"name\":\"INPUT\",\"shape\":[1000000,1000],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":8000000000}},"
             "{\"name\":\"TARGET\",\"shape\":[1000000],\"datatype\":\"INT64\","
             "\"parameters\":{\"binary_data_size\":8000000}}]}");
    b.header_len = (int64_t)b.len;
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, 64 << 20, &r, &err), MML_ETOOBIG);
    free(b.data);

    /* Tensors past the memory budget (payload.h), nothing held after:
     * 413 when the request alone is over it (two blocks of at least
     * PAYLOAD_ALIGN bytes here), Overloaded when another request's
     * blocks are the reason. */
    b = tritonclient_body("");
    payload_mem_set_budget(PAYLOAD_ALIGN - 1);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_ETOOBIG);
    ck_assert_msg(strstr(err.message, "whole memory budget") != NULL, "%s", err.message);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    payload_mem_set_budget(2 * PAYLOAD_ALIGN - 1);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_ETOOBIG);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    mml_error other_err;
    payload_acct others = { 0 };                   /* still 413 while another request holds */
    void *other = payload_mem_take(&others, 1, "input", &other_err);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_ETOOBIG);
    payload_mem_free(other);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    payload_mem_set_budget(1 << 20);
    other = payload_mem_take(&others, (1 << 20) - 64, "input", &other_err);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBUSY);
    ck_assert_msg(strstr(err.message, "retry later") != NULL, "%s", err.message);
    payload_mem_free(other);
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    payload_mem_set_budget(0);
    ck_assert_int_eq(decode_all(&b, &r, &err), 0);
    v2_decoded_free(&r);
    free(b.data);

    /* JSON-only body over the limit. */
    char *json = req_json(IN_OK "," TG_OK, "");
    b = json_body(json);
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, b.len - 1, &r, &err), MML_ETOOBIG);
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, b.len, &r, &err), 0);
    v2_decoded_free(&r);
    free(b.data);
    free(json);
}
END_TEST

START_TEST(header_length_is_a_plain_decimal)
{
    int64_t len;
    mml_error err = {0};
    ck_assert_int_eq(v2_parse_header_length(NULL, &len, &err), 0);
    ck_assert_int_eq(len, -1);
    ck_assert_int_eq(v2_parse_header_length("123", &len, &err), 0);
    ck_assert_int_eq(len, 123);
    ck_assert_int_eq(v2_parse_header_length(" 7 ", &len, &err), 0);
    ck_assert_int_eq(len, 7);
    ck_assert_int_eq(v2_parse_header_length("", &len, &err), MML_EBADREQ);
    ck_assert_int_eq(v2_parse_header_length("-1", &len, &err), MML_EBADREQ);
    ck_assert_int_eq(v2_parse_header_length("12a", &len, &err), MML_EBADREQ);
    ck_assert_int_eq(v2_parse_header_length("None", &len, &err), MML_EBADREQ);
    ck_assert_int_eq(v2_parse_header_length("99999999999999999999999", &len, &err), MML_EBADREQ);
}
END_TEST

START_TEST(metadata_and_health_bodies_are_what_clients_read)
{
    size_t len;
    char *s = v2_encode_server_metadata("0.1.0", &len);
    cJSON *o = cJSON_Parse(s);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")), "lossd");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "version")), "0.1.0");
    const cJSON *ext = cJSON_GetObjectItem(o, "extensions");
    int found = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ext)
        found |= strcmp(cJSON_GetStringValue(e), "binary_tensor_data") == 0;
    ck_assert(found);
    ck_assert_uint_eq(len, strlen(s));
    cJSON_Delete(o);
    free(s);

    o = cJSON_Parse(v2_model_metadata());
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")), "multi_margin_loss");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "versions"), 0)), "1");
    ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(o, "platform")));
    const cJSON *inputs = cJSON_GetObjectItem(o, "inputs");
    ck_assert_int_eq(cJSON_GetArraySize(inputs), 3);
    static const char *const want[3][2] = {{"INPUT", "FP32"}, {"TARGET", "INT64"}, {"WEIGHT", "FP32"}};
    for (int i = 0; i < 3; i++) {
        const cJSON *t = cJSON_GetArrayItem(inputs, i);
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), want[i][0]);
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(t, "datatype")), want[i][1]);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "shape")), i == 0 ? 2 : 1);
    }
    const cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "outputs"), 0);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(out, "name")), "LOSS");
    cJSON_Delete(o);

    o = cJSON_Parse(v2_health_live());
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "live")));
    cJSON_Delete(o);
    o = cJSON_Parse(v2_health_ready());
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "ready")));
    cJSON_Delete(o);

    s = v2_encode_error("bad \"thing\"\n", &len);
    ck_assert_str_eq(s, "{\"error\":\"bad \\\"thing\\\"\\u000a\"}");
    free(s);
    mml_error err;
    mml_error_set(&err, MML_EVALUE, "p", "p must be 1 or 2, got 3");
    s = v2_encode_mml_error(&err, &len);
    ck_assert_str_eq(s, "{\"error\":\"ValueError: p must be 1 or 2, got 3\"}");
    free(s);
}
END_TEST

/* Tensors sent as JSON data are read from the text, not through a cJSON
 * tree: a body far over V2_MAX_JSON decodes to the very doubles printed. */
START_TEST(json_data_past_cjson_bound_decodes_exactly)
{
    const uint64_t n = 12000, c = 64;
    body b = json_body("{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP64\",\"shape\":[12000,64],\"data\":[");
    double *want = malloc(n * c * sizeof(double));
    ck_assert_ptr_nonnull(want);
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i < n * c; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        want[i] = ldexp((double)(x >> 11), -53) * 200.0 - 100.0;
        putf(&b, "%s%.17g", i % c ? "," : i ? "],[" : "[", want[i]);
    }
    putf(&b, "]]},{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[12000],\"data\":[");
    for (uint64_t i = 0; i < n; i++)
        putf(&b, "%s%llu", i ? "," : "", (unsigned long long)(i * 7 % c));
    put(&b, "]}]}", 4);
    ck_assert_uint_gt(b.len, V2_MAX_JSON);

    v2_decoded r;
    mml_error err = {0};
    int rc = decode(&b, b.len, FEED_EVERY(65536), 64 << 20, &r, &err);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err.message);
    ck_assert_uint_eq(r.pl.req.n, n);
    ck_assert_uint_eq(r.pl.req.c, c);
    for (uint64_t i = 0; i < n * c; i++)
        ck_assert_msg(mml_load(MML_F64, r.pl.input, i) == want[i], "element %llu: %.17g, want %.17g",
                      (unsigned long long)i, mml_load(MML_F64, r.pl.input, i), want[i]);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(r.pl.target[i], (int64_t)(i * 7 % c));
    v2_decoded_free(&r);

    /* The limit is on the body, as for every other request. */
    ck_assert_int_eq(decode(&b, b.len, FEED_EVERY(65536), b.len - 1, &r, &err), MML_ETOOBIG);
    free(b.data);
    free(want);

    /* What cJSON does parse, the request without its data, stays bounded. */
    b = json_body("{\"id\":\"");
    char *pad = malloc(V2_MAX_JSON);
    ck_assert_ptr_nonnull(pad);
    memset(pad, 'a', V2_MAX_JSON);
    put(&b, pad, V2_MAX_JSON);
    putf(&b, "\",\"inputs\":[%s,%s]}", IN_OK, TG_OK);
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, 64 << 20, &r, &err), MML_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.message, "without its inputs' data"));
    free(pad);
    free(b.data);
}
END_TEST

/* Python's json.dumps writes NaN and Infinity bare, and Triton reads
 * them (and Inf): numbers inside data arrays, malformed anywhere else. */
START_TEST(bare_nonfinite_numbers_in_data_are_read)
{
    char *json = req_json("{\"name\":\"INPUT\",\"datatype\":\"FP64\",\"shape\":[2,4],"
                          "\"data\":[[NaN,Infinity,-Infinity,Inf],[-Inf,\"NaN\",\"-Infinity\",-0]]}," TG_OK, "");
    body b = json_body(json);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), 0);
    const double *v = r.pl.input;
    ck_assert(isnan(v[0]) && isnan(v[5]));
    ck_assert(v[1] == INFINITY && v[2] == -INFINITY && v[3] == INFINITY && v[4] == -INFINITY);
    ck_assert(v[6] == -INFINITY && v[7] == 0.0 && signbit(v[7]));
    v2_decoded_free(&r);
    free(b.data);
    free(json);
}
END_TEST

START_TEST(data_syntax_long_numbers_and_deep_nesting_are_bad_request)
{
    /* Syntax errors inside a data array name their byte in the body. */
    char *json = req_json("{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,,3,4]}," TG_OK, "");
    char want[64];
    snprintf(want, sizeof want, "malformed JSON in the request header near byte %td",
             strstr(json, ",,") + 1 - json);
    expect_error("syntax error in data names its byte", json, MML_EBADREQ, want);
    free(json);

    /* Numbers are read as the /v1 decoder reads them (json_num.h), up to
     * 512 characters. */
    char digits[600];
    memset(digits, '1', sizeof digits - 1);
    digits[sizeof digits - 1] = '\0';
    char *big = NULL;
    ck_assert_int_ge(asprintf(&big, "{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP64\","
                                    "\"shape\":[1,1],\"data\":[%s]}," TG_OK "]}", digits), 0);
    expect_error("number over 512 characters", big, MML_EBADREQ,
                 "a number longer than 512 characters");
    free(big);

    body b = json_body("{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":");
    for (int i = 0; i < V2_TEXT_DEPTH_PROBE; i++)
        put(&b, "[", 1);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "nested deeper than"));
    free(b.data);

    /* Binary data sent without the header length reads as a bad header:
     * the message says which header is missing. */
    b = tritonclient_body("");
    b.header_len = -1;
    ck_assert_int_eq(decode_all(&b, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "Inference-Header-Content-Length"));
    free(b.data);
}
END_TEST

/* A shape of 200000 dimensions is a rank error, found in one pass: read
 * number by number, each a walk of the tree, it took minutes (and held
 * a front-end loop), which the test's timeout would catch. */
START_TEST(long_shape_is_rank_error_found_in_one_pass)
{
    body b = json_body("{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[1");
    for (int i = 1; i < 200000; i++)
        put(&b, ",1", 2);
    putf(&b, "],\"data\":[1]},%s]}", TG_OK);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(decode(&b, b.len, FEED_WHOLE, 64 << 20, &r, &err), MML_EVALUE);
    ck_assert_msg(strstr(err.message, "rank") != NULL, "%s", err.message);
    free(b.data);
}
END_TEST

START_TEST(failure_is_sticky_and_destroy_null_is_a_no_op)
{
    feed_destroy_null(&v2_decoder_ops);
    v2_decoded_free(NULL);
    feed_dec f;
    open_v2(&f, 1 << 20, -1);
    v2_decoded r;
    mml_error err = {0};
    ck_assert_int_eq(feed_step(&f, "[", 1, NULL), 0);
    ck_assert_int_eq(feed_finish_v2(&f, &r, NULL), MML_EBADREQ);
    ck_assert_int_eq(feed_finish_v2(&f, &r, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "JSON"));
    ck_assert_int_eq(feed_step(&f, "x", 1, &err), MML_EBADREQ);
    feed_close(&f);
}
END_TEST

static Suite *v2_suite(void)
{
    Suite *s = suite_create("v2");
    TCase *tc = tcase_create("tritonclient");
    tcase_add_test(tc, tritonclient_binary_request_decodes_at_every_split);
    tcase_add_test(tc, parameters_and_id_are_read_and_loss_returned_as_json);
    tcase_add_test(tc, output_binary_data_overrides_binary_data_output);
    tcase_add_test(tc, json_data_may_be_flat_or_nested_in_row_major_order);
    tcase_add_test(tc, binary_data_follows_input_order_and_mixes_with_json);
    tcase_add_test(tc, empty_batch_returns_nan_mean_and_empty_binary_output);
    suite_add_tcase(s, tc);

    tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, golden_cases_within_tolerance_binary_and_json);
    tcase_add_test(tc, json_output_reads_back_to_the_same_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, integer_parameters_at_their_limits_are_read);
    tcase_add_loop_test(tc, bad_parameter_fails_with_its_error, 0, SUITE_ROWS(bad_parameter));
    tcase_add_loop_test(tc, bad_tensor_fails_with_its_error, 0, SUITE_ROWS(bad_tensor));
    tcase_add_loop_test(tc, malformed_request_fails_with_its_error, 0, SUITE_ROWS(malformed));
    tcase_add_test(tc, utf8_id_comes_back_byte_for_byte);
    tcase_add_test(tc, binary_sizes_must_match_shapes_and_body);
    tcase_add_test(tc, max_body_and_memory_budget_are_enforced);
    tcase_add_test(tc, header_length_is_a_plain_decimal);
    tcase_add_test(tc, failure_is_sticky_and_destroy_null_is_a_no_op);
    tcase_add_test(tc, bare_nonfinite_numbers_in_data_are_read);
    tcase_add_loop_test(tc, bad_nonfinite_value_fails_with_its_error, 0,
                        SUITE_ROWS(bad_nonfinite));
    tcase_add_test(tc, long_shape_is_rank_error_found_in_one_pass);
    tcase_add_loop_test(tc, bad_json_data_fails_with_its_error, 0, SUITE_ROWS(bad_json_data));
    tcase_add_test(tc, data_syntax_long_numbers_and_deep_nesting_are_bad_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("json data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, json_data_past_cjson_bound_decodes_exactly);
    suite_add_tcase(s, tc);

    tc = tcase_create("bodies");
    tcase_add_test(tc, metadata_and_health_bodies_are_what_clients_read);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(v2_suite());
}
