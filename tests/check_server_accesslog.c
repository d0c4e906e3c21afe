/* check_server_accesslog.c - Check suite for server/accesslog.c: plain and JSON lines. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "suite.h"

static const access_entry ENTRY = {"POST", "/v1/multi_margin_loss", 200, 1234, 56,
                                   0.000123, "abc-1"};

START_TEST(plain_line_is_one_line_with_every_field)
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

START_TEST(json_line_has_every_field)
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
START_TEST(hostile_path_cannot_break_a_line_or_a_json_string)
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

/* ---- several threads logging into one pipe ---- */

#define WRITERS 4
#define LINES 6000

typedef struct pipe_reader {
    int fd;
    char *buf;
    size_t len, cap;
} pipe_reader;

/* Reads the pipe in small, slow gulps, so writers find it full. */
static void *read_slowly(void *arg)
{
    pipe_reader *r = arg;
    for (;;) {
        if (r->cap - r->len < 4096) {
            r->cap *= 2;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t n = read(r->fd, r->buf + r->len, 4096);
        if (n <= 0)
            return NULL;
        r->len += (size_t)n;
        nanosleep(&(struct timespec){0, 50000}, NULL);
    }
}

static void *write_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    char rid[32];
    for (int i = 0; i < LINES; i++) {
        snprintf(rid, sizeof rid, "w%d-%d", id, i);
        access_entry e = {"POST", "/v1/multi_margin_loss", 200, 2559, 64, 0.000123, rid};
        accesslog_write(LOG_PLAIN, &e);         /* flushes by itself when 16 KiB are full */
    }
    accesslog_flush();
    return NULL;
}

/* Front-end threads flush their own buffers (up to 16 KiB) into the same
 * stderr; a pipe takes at most PIPE_BUF bytes atomically, so without the
 * write lock lines were cut and spliced into each other. */
START_TEST(threads_keep_lines_whole)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
#ifdef F_SETPIPE_SZ
    fcntl(fds[1], F_SETPIPE_SZ, 4096);      /* one page: long writes block midway */
#endif
    int saved = dup(STDERR_FILENO);
    ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    close(fds[1]);
    pipe_reader r = {fds[0], malloc(1 << 16), 0, 1 << 16};
    pthread_t reader, writer[WRITERS];
    pthread_create(&reader, NULL, read_slowly, &r);
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&writer[i], NULL, write_lines, (void *)(intptr_t)i);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writer[i], NULL);
    dup2(saved, STDERR_FILENO);             /* the pipe's last writer end: EOF */
    close(saved);
    pthread_join(reader, NULL);

    static char seen[WRITERS][LINES];
    int lines = 0;
    char *save = NULL;
    r.buf[r.len] = '\0';
    for (char *line = strtok_r(r.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int w, i, n = -1;
        const char *rest = strstr(line, " POST /v1/multi_margin_loss 200 in=2559 out=64 "
                                        "dur=0.000123 id=w");
        ck_assert_msg(rest != NULL && rest - line == 24, "cut line: %.200s", line);
        ck_assert_msg(sscanf(rest + 64, "%d-%d%n", &w, &i, &n) == 2 && rest[64 + n] == '\0' &&
                      w >= 0 && w < WRITERS && i >= 0 && i < LINES && !seen[w][i],
                      "bad line: %.200s", line);
        seen[w][i] = 1;
        lines++;
    }
    ck_assert_int_eq(lines, WRITERS * LINES);
    free(r.buf);
}
END_TEST

static Suite *accesslog_suite(void)
{
    Suite *s = suite_create("server_accesslog");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, plain_line_is_one_line_with_every_field);
    tcase_add_test(tc, json_line_has_every_field);
    tcase_add_test(tc, hostile_path_cannot_break_a_line_or_a_json_string);
    tcase_add_test(tc, long_fields_are_cut);
    tcase_add_test(tc, threads_keep_lines_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(accesslog_suite());
}
