/* check_server_metrics.c - Check suite for server/metrics.c: counting and the text format. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "suite.h"

static const char *const ROUTES[] = {"score", "healthz"};
static metrics *m;

static void setup(void)
{
    m = metrics_create(ROUTES, 2, "1.2.3", "avx2");
    ck_assert_ptr_nonnull(m);
}

static void teardown(void)
{
    metrics_destroy(m);
    m = NULL;
}

static char *render(uint64_t queue, uint64_t inflight)
{
    metrics_gauges g = {queue, inflight, inflight * 1000, 1 << 20};
    size_t len = 0;
    char *text = metrics_render(m, &g, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

/* The value of the sample whose name and labels are exactly series. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        if (strchr(line, '\n') == NULL)
            break;
    }
    ck_abort_msg("no sample %s in:\n%s", series, text);
    return -1;
}

START_TEST(fresh_metrics_render_zeros_and_build_info)
{
    char *t = render(0, 0);
    ck_assert_double_eq(sample(t, "lossd_queue_depth"), 0);
    ck_assert_double_eq(sample(t, "lossd_inflight_requests"), 0);
    ck_assert_double_eq(sample(t, "lossd_received_bytes_total"), 0);
    ck_assert_double_eq(sample(t, "lossd_scored_elements_total"), 0);
    ck_assert_double_eq(sample(t, "lossd_build_info{version=\"1.2.3\",simd=\"avx2\"}"), 1);
    ck_assert_ptr_null(strstr(t, "lossd_requests_total{"));
    free(t);
}
END_TEST

START_TEST(counts_and_gauges)
{
    metrics_request(m, 0, 200, 0.0001);
    metrics_request(m, 0, 200, 0.003);
    metrics_request(m, 0, 400, 0.2);
    metrics_request(m, 1, 200, 0.0001);
    metrics_request(m, 7, 404, 0.0001);       /* out of range: "unknown" */
    metrics_request(m, 0, 418, 100.0);        /* status "other", past the last bucket */
    metrics_add_received(m, 1000);
    metrics_add_received(m, 24);
    metrics_add_scored(m, 320);
    char *t = render(3, 4);
    ck_assert_double_eq(sample(t, "lossd_requests_total{route=\"score\",status=\"200\"}"), 2);
    ck_assert_double_eq(sample(t, "lossd_requests_total{route=\"score\",status=\"400\"}"), 1);
    ck_assert_double_eq(sample(t, "lossd_requests_total{route=\"score\",status=\"other\"}"), 1);
    ck_assert_double_eq(sample(t, "lossd_requests_total{route=\"healthz\",status=\"200\"}"), 1);
    ck_assert_double_eq(sample(t, "lossd_requests_total{route=\"unknown\",status=\"404\"}"), 1);
    ck_assert_double_eq(sample(t, "lossd_queue_depth"), 3);
    ck_assert_double_eq(sample(t, "lossd_inflight_requests"), 4);
    ck_assert_double_eq(sample(t, "lossd_request_memory_bytes"), 4000);
    ck_assert_double_eq(sample(t, "lossd_request_memory_limit_bytes"), 1 << 20);
    ck_assert_double_eq(sample(t, "lossd_received_bytes_total"), 1024);
    ck_assert_double_eq(sample(t, "lossd_scored_elements_total"), 320);
    free(t);
}
END_TEST

START_TEST(histogram_is_cumulative)
{
    metrics_request(m, 0, 200, 0.0001);
    metrics_request(m, 0, 200, 0.0007);
    metrics_request(m, 0, 200, 0.04);
    metrics_request(m, 0, 200, 99);
    char *t = render(0, 0);
    const char *b = "lossd_request_duration_seconds_bucket{route=\"score\",le=";
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_bucket{route=\"score\",le=\"0.0005\"}"), 1);
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_bucket{route=\"score\",le=\"0.001\"}"), 2);
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_bucket{route=\"score\",le=\"0.05\"}"), 3);
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_bucket{route=\"score\",le=\"30\"}"), 3);
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_bucket{route=\"score\",le=\"+Inf\"}"), 4);
    ck_assert_double_eq(sample(t, "lossd_request_duration_seconds_count{route=\"score\"}"), 4);
    double sum = sample(t, "lossd_request_duration_seconds_sum{route=\"score\"}");
    ck_assert_msg(sum > 99.04 && sum < 99.05, "sum %g", sum);
    /* Buckets never decrease. */
    double prev = 0;
    for (const char *p = strstr(t, b); p != NULL; p = strstr(p + 1, b)) {
        double v = strtod(strchr(p, '}') + 2, NULL);
        ck_assert_msg(v >= prev, "bucket %g after %g", v, prev);
        prev = v;
    }
    free(t);
}
END_TEST

/* Every line is a comment (# HELP/# TYPE name ...) or "name{labels} value"
 * for a declared family: what promtool checks first. */
START_TEST(every_line_is_a_comment_or_a_sample)
{
    metrics_request(m, 0, 200, 0.001);
    metrics_request(m, 2, 404, 0.001);
    char *t = render(1, 1);
    char types[16][64];
    int ntypes = 0;
    ck_assert_int_eq(t[strlen(t) - 1], '\n');
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_lt(ntypes, 16);
            ck_assert_int_eq(sscanf(line + 7, "%63s", types[ntypes]), 1);
            ntypes++;
            continue;
        }
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        ck_assert_msg(line[0] != '#', "stray comment: %s", line);
        int declared = 0;
        for (int i = 0; i < ntypes; i++)
            if (strncmp(line, types[i], strlen(types[i])) == 0)
                declared = 1;
        ck_assert_msg(declared, "sample before its TYPE: %s", line);
        const char *sp = strrchr(line, ' ');
        ck_assert_ptr_nonnull(sp);
        char *end;
        strtod(sp + 1, &end);
        ck_assert_msg(*end == '\0' && end != sp + 1, "bad value: %s", line);
    }
    ck_assert_int_eq(ntypes, 9);   /* every family the render writes */
    free(t);
}
END_TEST

START_TEST(too_many_routes_are_refused_and_destroy_null_is_a_no_op)
{
    const char *many[METRICS_MAX_ROUTES + 1] = {0};
    ck_assert_ptr_null(metrics_create(many, METRICS_MAX_ROUTES + 1, "v", "s"));
    metrics_destroy(NULL);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("server_metrics");
    TCase *tc = tcase_create("render");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fresh_metrics_render_zeros_and_build_info);
    tcase_add_test(tc, counts_and_gauges);
    tcase_add_test(tc, histogram_is_cumulative);
    tcase_add_test(tc, every_line_is_a_comment_or_a_sample);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_add_test(tc, too_many_routes_are_refused_and_destroy_null_is_a_no_op);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(metrics_suite());
}
