/* check_server_httpcheck.c - Check suite for server/httpcheck.c: the
 * RFC 9110/9112 checks and rewrites of request bytes, case by case. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "httpcheck.h"
#include "suite.h"

START_TEST(content_length_takes_plain_decimals_only)
{
    static const struct {
        const char *text;
        int ok;
        uint64_t value;
    } rows[] = {
        {"0", 1, 0},
        {"42", 1, 42},
        {"007", 1, 7},
        {"18446744073709551615", 1, UINT64_MAX},
        {"18446744073709551616", 0, 0},     /* 2^64: overflow */
        {"99999999999999999999", 0, 0},
        {"", 0, 0},
        {"-1", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"1,1", 0, 0},
        {"0x10", 0, 0},
        {"1e3", 0, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int ok = -1;
        uint64_t v = httpcheck_content_length(rows[i].text, &ok);
        ck_assert_msg(ok == rows[i].ok, "\"%s\": ok %d, want %d", rows[i].text, ok, rows[i].ok);
        if (ok)
            ck_assert_msg(v == rows[i].value, "\"%s\": %llu, want %llu", rows[i].text,
                          (unsigned long long)v, (unsigned long long)rows[i].value);
    }
    int ok = -1;
    httpcheck_content_length(NULL, &ok);
    ck_assert_int_eq(ok, 0);
}
END_TEST

START_TEST(unescape_decodes_all_but_nul)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"/healthz", "/healthz"},
        {"/a%20b", "/a b"},
        {"/%41%62%7e", "/Ab~"},
        {"/healthz%00x", "/healthz%00x"},     /* %00 would cut the path */
        {"/%", "/%"},
        {"/%4", "/%4"},
        {"/%zz", "/%zz"},
        {"/%4g", "/%4g"},
        {"/%25", "/%"},
        {"/%2541", "/%41"},                   /* decoded once, not twice */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char buf[64];
        strcpy(buf, rows[i].in);
        size_t n = httpcheck_unescape(buf);
        ck_assert_msg(strcmp(buf, rows[i].out) == 0, "\"%s\" -> \"%s\", want \"%s\"",
                      rows[i].in, buf, rows[i].out);
        ck_assert_uint_eq(n, strlen(rows[i].out));
    }
}
END_TEST

START_TEST(unescape_keeps_high_bytes_for_safe_path)
{
    char buf[32] = "/%ff%0a%7f";
    httpcheck_unescape(buf);
    ck_assert_mem_eq(buf, "/\xff\n\x7f", 5);
    char shown[32];
    httpcheck_safe_path(shown, sizeof shown, buf);
    ck_assert_str_eq(shown, "/%FF%0A%7F");
}
END_TEST

START_TEST(safe_path_escapes_control_and_high_bytes)
{
    static const struct {
        const char *in, *out;
        size_t size;
    } rows[] = {
        {"/healthz", "/healthz", 200},
        {"/a b", "/a b", 200},
        {"/x\r\ny", "/x%0D%0Ay", 200},
        {"/\x1b[31m", "/%1B[31m", 200},
        {"/\xc3\xa9", "/%C3%A9", 200},
        {"/abcdef", "/abc", 5},               /* cut to fit with its NUL */
        {"/a\xff", "/a", 5},                  /* never half an escape */
        {"/a\xff", "/a%FF", 6},
        {"/", "", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[256];
        memset(out, 'Z', sizeof out);
        httpcheck_safe_path(out, rows[i].size, rows[i].in);
        ck_assert_msg(strcmp(out, rows[i].out) == 0, "row %zu: \"%s\", want \"%s\"", i, out,
                      rows[i].out);
        ck_assert_msg(out[rows[i].size] == 'Z', "row %zu: wrote past size", i);
    }
}
END_TEST

START_TEST(origin_path_strips_absolute_form)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"/healthz", "/healthz"},
        {"http://host:8080/healthz", "/healthz"},
        {"HTTPS://host/v2/health/live", "/v2/health/live"},
        {"http://host:8080", "/"},
        {"http://host/a?b=1", "/a?b=1"},
        {"*", "*"},
        {"ftp://host/x", "ftp://host/x"},     /* not an http target: as it is */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(strcmp(httpcheck_origin_path(rows[i].in), rows[i].out) == 0,
                      "\"%s\" -> \"%s\", want \"%s\"", rows[i].in,
                      httpcheck_origin_path(rows[i].in), rows[i].out);
}
END_TEST

START_TEST(copy_cuts_and_terminates)
{
    char small[4];
    httpcheck_copy(small, sizeof small, "POSTX");
    ck_assert_str_eq(small, "POS");
    httpcheck_copy(small, sizeof small, "");
    ck_assert_str_eq(small, "");
    char one[1];
    httpcheck_copy(one, sizeof one, "GET");
    ck_assert_str_eq(one, "");
}
END_TEST

START_TEST(header_list_is_plain_tokens_only)
{
    static const struct {
        const char *in;
        int plain;
    } rows[] = {
        {"content-type", 1},
        {"Content-Type, X-Request-Id", 1},
        {"a,b,,c", 1},
        {"", 1},
        {"x-a\r\nSet-Cookie: y", 0},
        {"x\"y", 0},
        {"x;y", 0},
        {"x\ty", 0},          /* only spaces count as blanks here */
        {"caf\xc3\xa9", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(httpcheck_plain_header_list(rows[i].in) == rows[i].plain,
                      "\"%s\": want %d", rows[i].in, rows[i].plain);
    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(httpcheck_plain_header_list(big), 0);
    big[1024] = '\0';
    ck_assert_int_eq(httpcheck_plain_header_list(big), 1);
}
END_TEST

/* A header_count from n values. */
static header_count counted(const char *const *values, int n)
{
    header_count h = {0, 0, NULL};
    for (int i = 0; i < n; i++)
        httpcheck_count(&h, values[i]);
    return h;
}

START_TEST(count_notes_differing_values)
{
    static const char *const same[] = {"10", "10", "10"};
    static const char *const differ[] = {"10", "10", "11"};
    header_count h = counted(same, 3);
    ck_assert_int_eq(h.count, 3);
    ck_assert_int_eq(h.differ, 0);
    ck_assert_str_eq(h.first, "10");
    h = counted(differ, 3);
    ck_assert_int_eq(h.count, 3);
    ck_assert_int_eq(h.differ, 1);
}
END_TEST

START_TEST(framing_refuses_ambiguous_bodies)
{
    static const char *const one[] = {"5"};
    static const char *const same[] = {"5", "5"};
    static const char *const differ[] = {"5", "6"};
    static const struct {
        const char *te;
        const char *const *lengths;
        int n;
        const char *want;       /* NULL: acceptable */
    } rows[] = {
        {NULL, NULL, 0, NULL},
        {NULL, one, 1, NULL},
        {NULL, same, 2, NULL},
        {"chunked", NULL, 0, NULL},
        {"Chunked", NULL, 0, NULL},
        {NULL, differ, 2, "the request has Content-Length headers that differ"},
        {"chunked", one, 1, "Content-Length and Transfer-Encoding must not both be sent"},
        {"gzip", NULL, 0, "only Transfer-Encoding: chunked is supported"},
        {"gzip, chunked", NULL, 0, "only Transfer-Encoding: chunked is supported"},
        {"identity", one, 1, "only Transfer-Encoding: chunked is supported"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        header_count h = counted(rows[i].lengths, rows[i].n);
        header_count te = {0, 0, NULL};
        if (rows[i].te != NULL)
            httpcheck_count(&te, rows[i].te);
        const char *got = httpcheck_framing_error(&te, &h);
        ck_assert_msg(got == NULL ? rows[i].want == NULL
                                  : rows[i].want != NULL && strcmp(got, rows[i].want) == 0,
                      "row %zu: \"%s\", want \"%s\"", i, got ? got : "(null)",
                      rows[i].want ? rows[i].want : "(null)");
    }
}
END_TEST

START_TEST(host_exactly_once_on_http_1_1)
{
    static const char *const one[] = {"a"};
    static const char *const two[] = {"a", "a"};
    static const struct {
        const char *version;
        const char *const *hosts;
        int n;
        const char *want;
    } rows[] = {
        {"HTTP/1.1", one, 1, NULL},
        {"HTTP/1.0", one, 1, NULL},
        {"HTTP/1.0", NULL, 0, NULL},
        {"HTTP/1.1", NULL, 0, "an HTTP/1.1 request must have a Host header"},
        {"HTTP/1.1", two, 2, "the request has more than one Host header"},
        {"HTTP/1.0", two, 2, "the request has more than one Host header"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        header_count h = counted(rows[i].hosts, rows[i].n);
        const char *got = httpcheck_host_error(rows[i].version, &h);
        ck_assert_msg(got == NULL ? rows[i].want == NULL
                                  : rows[i].want != NULL && strcmp(got, rows[i].want) == 0,
                      "row %zu: \"%s\", want \"%s\"", i, got ? got : "(null)",
                      rows[i].want ? rows[i].want : "(null)");
    }
}
END_TEST

int main(void)
{
    const suite_case cases[] = {
        {"content_length", content_length_takes_plain_decimals_only, 0},
        {"unescape", unescape_decodes_all_but_nul, 0},
        {"unescape_high_bytes", unescape_keeps_high_bytes_for_safe_path, 0},
        {"safe_path", safe_path_escapes_control_and_high_bytes, 0},
        {"origin_path", origin_path_strips_absolute_form, 0},
        {"copy", copy_cuts_and_terminates, 0},
        {"header_list", header_list_is_plain_tokens_only, 0},
        {"count", count_notes_differing_values, 0},
        {"framing", framing_refuses_ambiguous_bodies, 0},
        {"host", host_exactly_once_on_http_1_1, 0},
    };
    Suite *s = suite_create("server_httpcheck");
    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return suite_run(s);
}
