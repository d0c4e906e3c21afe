/* check_server_route.c - Check suite for server/route.c: routing table and decoder choice. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "route.h"

static int match(const char *method, const char *path, int *status, char *allow)
{
    allow[0] = '\0';
    return route_match(method, path, status, allow, 32);
}

START_TEST(known_routes)
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
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int status = 0;
        char allow[32];
        int idx = match(rows[i].method, rows[i].path, &status, allow);
        ck_assert_msg(idx >= 0 && status == 200, "%s %s: idx %d status %d", rows[i].method,
                      rows[i].path, idx, status);
        ck_assert_int_eq(route_table[idx].id, rows[i].id);
    }
}
END_TEST

START_TEST(unknown_path_is_404)
{
    static const char *const paths[] = {"/", "/v1", "/v1/multi_margin_loss/", "/healthz/x",
                                        "/HEALTHZ", "", "/v1/multi_margin_lossx"};
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
    int status = 0;
    char allow[32];
    ck_assert_int_eq(match("GET", "/v1/multi_margin_loss", &status, allow), -1);
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "POST");
    ck_assert_int_eq(match("POST", "/healthz", &status, allow), -1);
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET, HEAD");
    ck_assert_int_eq(match("DELETE", "/metrics", &status, allow), -1);
    ck_assert_int_eq(status, 405);
    ck_assert_int_eq(match("get", "/metrics", &status, allow), -1);  /* methods are case-sensitive */
    ck_assert_int_eq(status, 405);
}
END_TEST

START_TEST(table_is_sane)
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

static const route *score(void)
{
    for (size_t i = 0; i < route_count; i++)
        if (route_table[i].id == ROUTE_SCORE)
            return &route_table[i];
    ck_abort_msg("no scoring route");
    return NULL;
}

START_TEST(content_types)
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

START_TEST(method_bits)
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
    tcase_add_test(tc, known_routes);
    tcase_add_test(tc, unknown_path_is_404);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, table_is_sane);
    tcase_add_test(tc, method_bits);
    suite_add_tcase(s, tc);
    tc = tcase_create("decoder");
    tcase_add_test(tc, content_types);
    tcase_add_test(tc, get_routes_have_no_decoder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
