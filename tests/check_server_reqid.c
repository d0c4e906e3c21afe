/* check_server_reqid.c - Check suite for server/reqid.c: validation and generation of ids. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reqid.h"
#include "suite.h"

START_TEST(printable_ascii_ids_up_to_the_limit_are_sane)
{
    ck_assert_int_eq(reqid_is_sane("abc"), 1);
    ck_assert_int_eq(reqid_is_sane("0af7651916cd43dd8448eb211c80319c"), 1);
    ck_assert_int_eq(reqid_is_sane("trace:a/b+c=d_e-f.g~!"), 1);
    char max[REQID_MAX + 1];
    memset(max, 'x', REQID_MAX);
    max[REQID_MAX] = '\0';
    ck_assert_int_eq(reqid_is_sane(max), 1);
}
END_TEST

START_TEST(long_empty_blank_control_and_non_ascii_ids_are_refused)
{
    char longer[REQID_MAX + 2];
    memset(longer, 'x', REQID_MAX + 1);
    longer[REQID_MAX + 1] = '\0';
    ck_assert_int_eq(reqid_is_sane(longer), 0);
    ck_assert_int_eq(reqid_is_sane(NULL), 0);
    ck_assert_int_eq(reqid_is_sane(""), 0);
    ck_assert_int_eq(reqid_is_sane("a b"), 0);
    ck_assert_int_eq(reqid_is_sane("a\tb"), 0);
    ck_assert_int_eq(reqid_is_sane("a\r\nX-Evil: 1"), 0);
    ck_assert_int_eq(reqid_is_sane("caf\xc3\xa9"), 0);
    ck_assert_int_eq(reqid_is_sane("del\x7f"), 0);
}
END_TEST

START_TEST(generated_ids_are_sane_and_distinct)
{
    char a[REQID_MAX + 1], b[REQID_MAX + 1];
    reqid_generate(a);
    reqid_generate(b);
    ck_assert_int_eq(reqid_is_sane(a), 1);
    ck_assert_int_eq(reqid_is_sane(b), 1);
    ck_assert_str_ne(a, b);
    /* Same process prefix, different counter. */
    ck_assert_int_eq(strncmp(a, b, 16), 0);
    /* 16 hex digits, '-', 12 hex digits; the counter counts up by one. */
    ck_assert_uint_eq(strlen(a), 29);
    ck_assert_int_eq(a[16], '-');
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 16);
    ck_assert_uint_eq(strspn(a + 17, "0123456789abcdef"), 12);
    ck_assert_uint_eq(strtoull(b + 17, NULL, 16), strtoull(a + 17, NULL, 16) + 1);
}
END_TEST

START_TEST(assign_echoes_or_generates)
{
    char out[REQID_MAX + 1];
    reqid_assign("client-7", out);
    ck_assert_str_eq(out, "client-7");
    reqid_assign("bad id", out);
    ck_assert_str_ne(out, "bad id");
    ck_assert_int_eq(reqid_is_sane(out), 1);
    reqid_assign(NULL, out);
    ck_assert_int_eq(reqid_is_sane(out), 1);
}
END_TEST

#define THREADS 4
#define PER_THREAD 1000
static char ids[THREADS][PER_THREAD][REQID_MAX + 1];

static void *make_ids(void *arg)
{
    char (*mine)[REQID_MAX + 1] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        reqid_generate(mine[i]);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(unique_across_threads)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, make_ids, ids[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(ids, THREADS * PER_THREAD, REQID_MAX + 1, cmp);
    char (*flat)[REQID_MAX + 1] = ids[0];
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        ck_assert_msg(strcmp(flat[i - 1], flat[i]) != 0, "duplicate id %s", flat[i]);
}
END_TEST

static Suite *reqid_suite(void)
{
    Suite *s = suite_create("server_reqid");
    TCase *tc = tcase_create("validate");
    tcase_add_test(tc, printable_ascii_ids_up_to_the_limit_are_sane);
    tcase_add_test(tc, long_empty_blank_control_and_non_ascii_ids_are_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("generate");
    tcase_add_test(tc, generated_ids_are_sane_and_distinct);
    tcase_add_test(tc, assign_echoes_or_generates);
    tcase_add_test(tc, unique_across_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(reqid_suite());
}
