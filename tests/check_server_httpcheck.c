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

START_TEST(second_transfer_encoding_is_refused)
{
    header_count te = {0, 0, NULL}, none = {0, 0, NULL};
    httpcheck_count(&te, "chunked");
    httpcheck_count(&te, "chunked");
    const char *got = httpcheck_framing_error(&te, &none);
    ck_assert_msg(got != NULL && strcmp(got, "the request has more than one Transfer-Encoding "
                                             "header") == 0, "\"%s\"", got ? got : "(null)");
}
END_TEST

START_TEST(field_names_are_tokens_and_values_have_no_controls)
{
    static const struct {
        const char *name, *value;
        size_t value_len;         /* 0: strlen */
        const char *want;         /* a prefix of the message, NULL: fine */
    } rows[] = {
        {"Host", "x", 0, NULL},
        {"X-Odd!#$%&'*+-.^_`|~9", "a b\tc", 0, NULL},
        {"X-Utf8", "caf\xc3\xa9 \xff", 0, NULL},          /* obs-text is allowed */
        {"X-Empty", "", 0, NULL},
        {"Host ", "x", 0, "whitespace between a header field name"},
        {"Host\t", "x", 0, "whitespace between a header field name"},
        {" Host", "x", 0, "a header field name must be a token"},
        {"", "x", 0, "a header field name must be a token"},
        {"X(y)", "x", 0, "a header field name must be a token"},
        {"X-\xc3\xa9", "x", 0, "a header field name must be a token"},
        {"X-A", "a\rb", 0, "a header field value contains a bare CR"},
        {"X-A", "a\x1b[31m", 0, "a header field value contains a control"},
        {"X-A", "a\x7f", 0, "a header field value contains a control"},
        {"X-A", "a\0b", 3, "a header field value contains a control"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t vlen = rows[i].value_len ? rows[i].value_len : strlen(rows[i].value);
        const char *got = httpcheck_field_error(rows[i].name, strlen(rows[i].name),
                                                rows[i].value, vlen);
        ck_assert_msg(got == NULL ? rows[i].want == NULL
                                  : rows[i].want != NULL &&
                                        strncmp(got, rows[i].want, strlen(rows[i].want)) == 0,
                      "row %zu: \"%s\", want \"%s\"", i, got ? got : "(null)",
                      rows[i].want ? rows[i].want : "(null)");
    }
}
END_TEST

/* A raw header section as libmicrohttpd 0.9.75 parses it in place: each
 * line end (CR LF or LF) becomes NULs; a line starting with NUL ends the
 * section; in a field line the colon becomes a NUL, the blanks after it
 * are skipped, and the name and value are C strings (a NUL in the value
 * cuts it); a line starting with a blank is glued to the field before,
 * which then moves out of the block (into moved). Returns the section's
 * length; fields and *n get the fields, *line_end the request line's end. */
typedef struct field {
    const char *name, *value;
    size_t name_len, value_len;
} field;

static size_t mhd_parse(char *b, size_t len, char *moved, field *f, size_t *n,
                        const char **line_end)
{
    size_t pos = 0, count = 0;
    *line_end = NULL;
    while (pos < len) {
        char *line = b + pos;
        char *lf = memchr(line, '\n', len - pos);
        ck_assert_ptr_nonnull(lf);
        size_t end = (size_t)(lf - b);
        if (end > pos && b[end - 1] == '\r')
            b[end - 1] = '\0';
        *lf = '\0';
        pos = end + 1;
        if (*line_end == NULL) {                      /* the request line */
            *line_end = line + strlen(line);
            continue;
        }
        if (line[0] == '\0')
            break;                                    /* the empty line, or a NUL */
        if ((line[0] == ' ' || line[0] == '\t') && count > 0) {
            field *last = &f[count - 1];              /* glued on, elsewhere */
            memcpy(moved, last->name, last->name_len);
            last->name = moved;
            continue;
        }
        char *colon = strchr(line, ':');
        ck_assert_ptr_nonnull(colon);
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        f[count++] = (field){line, value, (size_t)(colon - line), strlen(value)};
    }
    *n = count;
    return pos;
}

static const char *walk(const char *raw, size_t raw_len)
{
    char block[512], moved[64];
    field f[16];
    size_t n = 0;
    const char *line_end;
    ck_assert_uint_lt(raw_len, sizeof block);
    memcpy(block, raw, raw_len);
    size_t len = mhd_parse(block, raw_len, moved, f, &n, &line_end);
    httpcheck_section s;
    httpcheck_section_start(&s, block, len, line_end);
    for (size_t i = 0; i < n; i++) {
        const char *bad = httpcheck_section_field(&s, f[i].name, f[i].name_len, f[i].value,
                                                  f[i].value_len);
        if (bad != NULL)
            return bad;
    }
    return httpcheck_section_end(&s);
}

#define RAW(s) s, sizeof(s) - 1

START_TEST(section_accounts_for_every_byte)
{
    static const struct {
        const char *raw;
        size_t len;
        const char *want;          /* a prefix of the message, NULL: fine */
    } rows[] = {
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n"), NULL},
        {RAW("GET / HTTP/1.1\nHost: x\nX-A: b\n\n"), NULL},
        {RAW("GET / HTTP/1.1\r\nHost: x\nX-A:\r\nX-B: \t v \r\n\n"), NULL},
        {RAW("GET / HTTP/1.0\r\n\r\n"), NULL},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nX-B: c\r\n\r\n"), "a header line contains a NUL"},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"), "a header line contains a NUL"},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0\0\r\n\r\n"), "a header line contains a NUL"},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\n\0junk\r\n\r\n"), "a header line contains a NUL"},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\nX-B: c\r\n\r\n"), "obsolete line folding"},
        {RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"), "obsolete line folding"},
        {RAW("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), "whitespace between"},
        {RAW("GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n"), "a header field value contains a bare CR"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *got = walk(rows[i].raw, rows[i].len);
        ck_assert_msg(got == NULL ? rows[i].want == NULL
                                  : rows[i].want != NULL &&
                                        strncmp(got, rows[i].want, strlen(rows[i].want)) == 0,
                      "row %zu: \"%s\", want \"%s\"", i, got ? got : "(null)",
                      rows[i].want ? rows[i].want : "(null)");
    }
}
END_TEST

START_TEST(section_outside_the_layout_checks_fields_only)
{
    httpcheck_section s;
    char other[] = "HTTP/1.1";
    httpcheck_section_start(&s, "GET", 3, other + 8);   /* line end not in the block */
    ck_assert_ptr_null(httpcheck_section_field(&s, "Host", 4, "x", 1));
    ck_assert_ptr_nonnull(httpcheck_section_field(&s, "Host ", 5, "x", 1));
    ck_assert_ptr_null(httpcheck_section_end(&s));
    httpcheck_section_start(&s, NULL, 0, other);
    ck_assert_ptr_null(httpcheck_section_end(&s));
}
END_TEST

int main(void)
{
    const suite_case cases[] = {
        {"content_length", content_length_takes_plain_decimals_only, 0, 0},
        {"unescape", unescape_decodes_all_but_nul, 0, 0},
        {"unescape_high_bytes", unescape_keeps_high_bytes_for_safe_path, 0, 0},
        {"safe_path", safe_path_escapes_control_and_high_bytes, 0, 0},
        {"origin_path", origin_path_strips_absolute_form, 0, 0},
        {"copy", copy_cuts_and_terminates, 0, 0},
        {"header_list", header_list_is_plain_tokens_only, 0, 0},
        {"count", count_notes_differing_values, 0, 0},
        {"framing", framing_refuses_ambiguous_bodies, 0, 0},
        {"host", host_exactly_once_on_http_1_1, 0, 0},
        {"second_te", second_transfer_encoding_is_refused, 0, 0},
        {"fields", field_names_are_tokens_and_values_have_no_controls, 0, 0},
        {"section", section_accounts_for_every_byte, 0, 0},
        {"section_layout", section_outside_the_layout_checks_fields_only, 0, 0},
    };
    Suite *s = suite_create("server_httpcheck");
    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return suite_run(s);
}
