/* check_server_accesslog.c - Check suite for server/accesslog.c: plain and JSON lines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "suite.h"

static const access_entry ENTRY = {"POST", "/v1/multi_margin_loss", 200, 1234, 56,
                                   0.000123, "abc-1"};

START_TEST(plain_line)
{
    char buf[1024];
    size_t n = accesslog_format(LOG_PLAIN, &ENTRY, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
    ck_assert_msg(strstr(buf, " POST /v1/multi_margin_loss 200 in=1234 out=56 dur=0.000123 "
                              "id=abc-1\n") != NULL, "line: %s", buf);
}
END_TEST

START_TEST(json_line)
{
    char buf[1024];
    accesslog_format(LOG_JSON, &ENTRY, buf, sizeof buf);
    ck_assert_msg(buf[0] == '{' && strstr(buf, "\"method\":\"POST\"") &&
                      strstr(buf, "\"path\":\"/v1/multi_margin_loss\"") &&
                      strstr(buf, "\"status\":200") && strstr(buf, "\"bytes_in\":1234") &&
                      strstr(buf, "\"bytes_out\":56") && strstr(buf, "\"duration_s\":0.000123") &&
                      strstr(buf, "\"request_id\":\"abc-1\"}\n"),
                  "line: %s", buf);
}
END_TEST

/* A hostile path cannot break a line or a JSON string. */
START_TEST(escaping)
{
    access_entry e = ENTRY;
    e.path = "/a b\"c\\d\ne";
    char buf[1024];
    accesslog_format(LOG_JSON, &e, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "\"path\":\"/a b\\u0022c\\u005cd\\u000ae\"") != NULL, "json: %s", buf);
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
    accesslog_format(LOG_PLAIN, &e, buf, sizeof buf);
    ck_assert_msg(strstr(buf, " /a\\x20b\"c\\d\\x0ae ") != NULL, "plain: %s", buf);
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

START_TEST(long_fields_are_cut)
{
    char path[4000];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    access_entry e = ENTRY;
    e.path = path;
    e.method = NULL;
    char buf[1024];
    size_t n = accesslog_format(LOG_JSON, &e, buf, sizeof buf);
    ck_assert_uint_lt(n, sizeof buf);
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_msg(strstr(buf, "\"request_id\":\"abc-1\"}") != NULL, "line: %s", buf);
}
END_TEST

static Suite *accesslog_suite(void)
{
    Suite *s = suite_create("server_accesslog");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, plain_line);
    tcase_add_test(tc, json_line);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, long_fields_are_cut);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(accesslog_suite());
}
