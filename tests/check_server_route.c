/* check_server_route.c - Check suite for server/route.c: routing table and decoder choice. */
#include <cJSON.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hlist.h"
#include "json.h"
#include "openapi.h"
#include "route.h"
#include "v2.h"
#include "suite.h"

static int match(const char *method, const char *path, int *status, char *allow)
{
    allow[0] = '\0';
    return route_match(method, path, status, allow, 32);
}

/* method path matches route id with status (200 or 405); allow gets the
 * Allow value. */
static void expect_route(const char *method, const char *path, int want, route_id id,
                         char *allow)
{
    int status = 0;
    int idx = match(method, path, &status, allow);
    ck_assert_msg(idx >= 0 && status == want, "%s %s: idx %d status %d", method, path, idx,
                  status);
    ck_assert_int_eq(route_table[idx].id, id);
}

START_TEST(every_route_matches_its_path_and_method)
{
    static const struct {
        const char *method, *path;
        route_id id;
    } rows[] = {
        {"POST", "/v1/multi_margin_loss", ROUTE_SCORE},
        {"GET", "/healthz", ROUTE_HEALTHZ},
        {"HEAD", "/healthz", ROUTE_HEALTHZ},
        {"GET", "/readyz", ROUTE_READYZ},
        {"GET", "/metrics", ROUTE_METRICS},
        {"GET", "/v1/info", ROUTE_INFO},
        {"HEAD", "/v1/info", ROUTE_INFO},
        {"GET", "/openapi.json", ROUTE_OPENAPI},
        {"GET", "/v2", ROUTE_V2_SERVER},
        {"GET", "/v2/health/live", ROUTE_V2_LIVE},
        {"GET", "/v2/health/ready", ROUTE_V2_READY},
        {"GET", "/v2/models/multi_margin_loss", ROUTE_V2_MODEL},
        {"GET", "/v2/models/multi_margin_loss/versions/1", ROUTE_V2_MODEL},
        {"GET", "/v2/models/multi_margin_loss/config", ROUTE_V2_CONFIG},
        {"GET", "/v2/models/multi_margin_loss/versions/1/config", ROUTE_V2_CONFIG},
        {"GET", "/v2/models/multi_margin_loss/ready", ROUTE_V2_READY},
        {"GET", "/v2/models/multi_margin_loss/versions/1/ready", ROUTE_V2_READY},
        {"POST", "/v2/models/multi_margin_loss/infer", ROUTE_V2_INFER},
        {"POST", "/v2/models/multi_margin_loss/versions/1/infer", ROUTE_V2_INFER},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char allow[32];
        expect_route(rows[i].method, rows[i].path, 200, rows[i].id, allow);
    }
}
END_TEST

START_TEST(unknown_path_is_404)
{
    static const char *const paths[] = {"/", "/v1", "/v1/multi_margin_loss/", "/healthz/x",
                                        "/HEALTHZ", "", "/v1/multi_margin_lossx",
                                        "/v2/", "/v2/models/other", "/v2/models/other/infer",
                                        "/v2/models/multi_margin_loss/versions/2",
                                        "/v2/models/multi_margin_loss/versions/1/",
                                        "/v2/models/multi_margin_loss/versions/2/infer"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int status = 0;
        char allow[32];
        ck_assert_int_eq(match("GET", paths[i], &status, allow), -1);
        ck_assert_msg(status == 404, "'%s': status %d", paths[i], status);
    }
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
    /* The index is the path's route, so that metrics count the 405 under it. */
    static const struct { const char *method, *path, *allow; route_id id; } rows[] = {
        { "GET", "/v1/multi_margin_loss", "POST", ROUTE_SCORE },
        { "POST", "/healthz", "GET, HEAD", ROUTE_HEALTHZ },
        { "DELETE", "/metrics", "GET, HEAD", ROUTE_METRICS },
        { "get", "/metrics", "GET, HEAD", ROUTE_METRICS },    /* methods are case-sensitive */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char allow[32];
        expect_route(rows[i].method, rows[i].path, 405, rows[i].id, allow);
        ck_assert_str_eq(allow, rows[i].allow);
    }
}
END_TEST

START_TEST(route_table_is_consistent)
{
    for (size_t i = 0; i < route_count; i++) {
        const route *r = &route_table[i];
        ck_assert_msg(r->path[0] == '/', "route %zu path %s", i, r->path);
        ck_assert_msg(r->methods != 0 && r->name != NULL, "route %zu", i);
        ck_assert_msg((r->media != NULL) == ((r->methods & ROUTE_POST) != 0),
                      "route %s: POST routes and only they have media types", r->path);
        for (size_t j = i + 1; j < route_count; j++)
            ck_assert_msg(strcmp(r->path, route_table[j].path) != 0, "duplicate %s", r->path);
    }
}
END_TEST

START_TEST(infer_takes_any_content_type_to_the_v2_decoder)
{
    const route *infer = NULL;
    for (size_t i = 0; i < route_count; i++)
        if (route_table[i].id == ROUTE_V2_INFER)
            infer = &route_table[i];
    ck_assert_ptr_nonnull(infer);
    static const char *const types[] = {NULL, "", "application/json", "text/plain",
                                        "application/octet-stream; x=1"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        ck_assert_msg(route_decoder(infer, types[i]) == &v2_decoder_ops,
                      "Content-Type %s: not the v2 decoder", types[i] ? types[i] : "(none)");
}
END_TEST

static const route *score(void)
{
    for (size_t i = 0; i < route_count; i++)
        if (route_table[i].id == ROUTE_SCORE)
            return &route_table[i];
    ck_abort_msg("no scoring route");
    return NULL;
}

START_TEST(content_type_chooses_the_decoder)
{
    const route *r = score();
    ck_assert_ptr_eq(route_decoder(r, "application/json"), &json_decoder_ops);
    ck_assert_ptr_eq(route_decoder(r, "Application/JSON"), &json_decoder_ops);
    ck_assert_ptr_eq(route_decoder(r, "application/json; charset=utf-8"), &json_decoder_ops);
    ck_assert_ptr_eq(route_decoder(r, " application/json ;charset=UTF-8"), &json_decoder_ops);
    ck_assert_ptr_eq(route_decoder(r, NULL), &json_decoder_ops);     /* curl-friendly default */
    ck_assert_ptr_eq(route_decoder(r, ""), &json_decoder_ops);
    ck_assert_ptr_null(route_decoder(r, "text/plain"));
    ck_assert_ptr_null(route_decoder(r, "application/jsonx"));
    ck_assert_ptr_null(route_decoder(r, "application/x-www-form-urlencoded"));
    ck_assert_ptr_null(route_decoder(r, "json"));
    ck_assert_ptr_eq(route_decoder(r, "application/octet-stream"), &frame_decoder_ops);
    ck_assert_ptr_eq(route_decoder(r, "Application/Octet-Stream; x=1"), &frame_decoder_ops);
    ck_assert_ptr_null(route_decoder(r, "application/octet"));
}
END_TEST

START_TEST(accept_q_values_choose_frame_or_json)
{
    static const char BIN[] = "application/octet-stream", JSON[] = "application/json";
    static const struct {
        const char *accept;
        int want;
    } rows[] = {
        {NULL, 0},
        {"", 0},
        {"*/*", 0},
        {"application/*", 0},
        {"application/json", 0},
        {"application/octet-stream", 1},
        {"Application/Octet-Stream", 1},
        {"application/json, application/octet-stream;q=0.5", 0},   /* JSON preferred */
        {"application/json;q=0.4, application/octet-stream;q=0.5", 1},
        {"application/octet-stream;q=0.5, application/*;q=0.6", 0},
        {"application/octet-stream;q=0.5, */*;q=0.6", 0},
        {"application/octet-stream;q=0.5, */*;q=0.6, application/json;q=0.1", 1},
        {"application/octet-stream, application/json", 1},          /* a tie: the frame */
        {"application/octet-stream;q=1, application/json;q=1.000", 1},
        {"application/octet-stream;q=0.75, application/json;q=0.7", 1},
        {"application/octet-stream;q=0.7, application/json;q=0.75", 0},
        {"application/json;q=0, application/octet-stream;q=0.01", 1},
        {"application/octet-stream;q=0", 0},
        {"application/octet-stream; q=0.000", 0},
        {"application/octet-stream;q=0.001", 1},
        {"application/octet-stream ; q=1.0 , */*", 1},
        {"application/octet-streamx", 0},
        {"text/html,application/octet-stream;level=1", 1},
        {"application/octet-stream;level=1;q=0", 0},            /* q after another parameter */
        {"application/octet-stream;q=abc", 0},                  /* not a qvalue: chooses nothing */
        {"application/octet-stream;q=.5", 0},
        {"application/octet-stream;q=0.5x", 0},
        {"application/octet-stream;q=1.5", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(hlist_accepts(rows[i].accept, BIN, JSON) == rows[i].want,
                      "Accept '%s': got %d, want %d", rows[i].accept ? rows[i].accept : "(null)",
                      hlist_accepts(rows[i].accept, BIN, JSON), rows[i].want);
}
END_TEST

START_TEST(v2_paths_get_the_v2_error_shape)
{
    ck_assert_int_eq(route_is_v2("/v2"), 1);
    ck_assert_int_eq(route_is_v2("/v2/"), 1);
    ck_assert_int_eq(route_is_v2("/v2/models/x/infer"), 1);
    ck_assert_int_eq(route_is_v2("/v2x"), 0);
    ck_assert_int_eq(route_is_v2("/v1/multi_margin_loss"), 0);
    ck_assert_int_eq(route_is_v2("/"), 0);
}
END_TEST

/* The methods of an OpenAPI path item as ROUTE_* bits; GET implies HEAD
 * (libmicrohttpd answers HEAD for every GET route, OpenAPI lists get). */
static unsigned openapi_methods(const cJSON *item)
{
    unsigned bits = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, item) {
        if (strcmp(op->string, "get") == 0)
            bits |= ROUTE_GET | ROUTE_HEAD;
        else if (strcmp(op->string, "post") == 0)
            bits |= ROUTE_POST;
        else if (strcmp(op->string, "parameters") != 0 && strcmp(op->string, "summary") != 0 &&
                 strcmp(op->string, "description") != 0)
            ck_abort_msg("openapi.json: unexpected key '%s' in a path item", op->string);
    }
    return bits;
}

START_TEST(openapi_matches_route_table)
{
    size_t len = 0;
    const char *doc = openapi_json(&len);
    ck_assert_uint_gt(len, 100);
    cJSON *root = cJSON_ParseWithLength(doc, len);
    ck_assert_msg(root != NULL, "embedded openapi.json does not parse");
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(root, "paths");
    ck_assert_ptr_nonnull(paths);
    for (size_t i = 0; i < route_count; i++) {
        const route *r = &route_table[i];
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, r->path);
        ck_assert_msg(item != NULL, "route %s is not in openapi.json", r->path);
        unsigned bits = openapi_methods(item);
        ck_assert_msg(bits == r->methods, "%s: openapi.json methods %#x, route table %#x",
                      r->path, bits, r->methods);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, paths) {
        int status;
        char allow[32];
        int idx = -1;
        if (openapi_methods(item) & ROUTE_POST)
            idx = route_match("POST", item->string, &status, allow, sizeof allow);
        else
            idx = route_match("GET", item->string, &status, allow, sizeof allow);
        ck_assert_msg(idx >= 0 && status == 200,
                      "openapi.json path %s is not in the route table (%d)",
                      item->string, status);
    }
    cJSON_Delete(root);
}
END_TEST

START_TEST(get_routes_have_no_decoder)
{
    int status;
    char allow[32];
    int idx = match("GET", "/healthz", &status, allow);
    ck_assert_int_ge(idx, 0);
    ck_assert_ptr_null(route_decoder(&route_table[idx], "application/json"));
}
END_TEST

START_TEST(method_names_map_to_their_bits)
{
    ck_assert_uint_eq(route_method_bit("GET"), ROUTE_GET);
    ck_assert_uint_eq(route_method_bit("HEAD"), ROUTE_HEAD);
    ck_assert_uint_eq(route_method_bit("POST"), ROUTE_POST);
    ck_assert_uint_eq(route_method_bit("PUT"), 0);
    ck_assert_uint_eq(route_method_bit(""), 0);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("server_route");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, every_route_matches_its_path_and_method);
    tcase_add_test(tc, unknown_path_is_404);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, route_table_is_consistent);
    tcase_add_test(tc, infer_takes_any_content_type_to_the_v2_decoder);
    tcase_add_test(tc, method_names_map_to_their_bits);
    suite_add_tcase(s, tc);
    tc = tcase_create("decoder");
    tcase_add_test(tc, content_type_chooses_the_decoder);
    tcase_add_test(tc, get_routes_have_no_decoder);
    tcase_add_test(tc, accept_q_values_choose_frame_or_json);
    suite_add_tcase(s, tc);
    tc = tcase_create("v2_and_openapi");
    tcase_add_test(tc, v2_paths_get_the_v2_error_shape);
    tcase_add_test(tc, openapi_matches_route_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(route_suite());
}
