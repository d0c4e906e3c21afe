/* check_server_job.c - Check suite for server/job.c: pool jobs, row blocks, bounded queue. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "job.h"
#include "suite.h"

static uv_loop_t loop;

static void setup(void)
{
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* A job's result as the callbacks saw it. */
typedef struct result {
    unsigned char bytes[64];
    size_t len;
    int encoded, done, status;
    unsigned char *all;       /* whole output for reduction none */
} result;

static int encode_copy(void *ctx, const mml_request *req, const void *out)
{
    result *r = ctx;
    size_t len = (size_t)mml_out_count(req) * mml_dtype_size(req->dtype);
    r->len = len;
    if (len <= sizeof r->bytes)
        memcpy(r->bytes, out, len);
    r->all = malloc(len ? len : 1);
    memcpy(r->all, out, len);
    r->encoded++;
    return 0;
}

static void done_note(void *ctx, int status)
{
    result *r = ctx;
    r->done++;
    r->status = status;
}

static const job_ops copy_ops = {encode_copy, done_note};

/* A float32 payload n x c with a fixed pseudo-random pattern. */
static void make_payload(payload *p, uint64_t n, uint64_t c, mml_reduction red, int weight)
{
    memset(p, 0, sizeof *p);
    p->input = payload_mem_alloc(n * c * sizeof(float));
    p->target = payload_mem_alloc(n * sizeof(int64_t));
    ck_assert_ptr_nonnull(p->input);
    ck_assert_ptr_nonnull(p->target);
    float *x = p->input;
    uint32_t s = 12345;
    for (uint64_t i = 0; i < n * c; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(s >> 8) % 2000) / 997.0f;
    }
    for (uint64_t i = 0; i < n; i++)
        p->target[i] = (int64_t)((i * 7) % c);
    if (weight) {
        p->weight = payload_mem_alloc(c * sizeof(float));
        for (uint64_t j = 0; j < c; j++)
            ((float *)p->weight)[j] = 0.5f + (float)j / (float)c;
    }
    p->req = (mml_request){MML_F32, 2, 1, red, n, c, p->input, p->target, p->weight};
}

static void check_against_compute(const payload *p, const result *r)
{
    size_t len = (size_t)mml_out_count(&p->req) * sizeof(float);
    unsigned char *want = malloc(len ? len : 1);
    mml_compute(&p->req, want);
    ck_assert_uint_eq(r->len, len);
    ck_assert_msg(memcmp(want, r->all, len) == 0, "output differs from mml_compute");
    free(want);
}

/* Rows split over the pool threads give the same bits as one block. */
START_TEST(split_is_deterministic)
{
    static const mml_reduction reds[] = {MML_MEAN, MML_SUM, MML_NONE};
    mml_reduction red = reds[_i];
    job_pool *pool = job_pool_create(&loop, 4, 8);
    payload p, keep;
    uint64_t n = 40001, c = 9;            /* above JOB_SPLIT_ELEMS, odd rows */
    ck_assert_uint_gt(n * c, JOB_SPLIT_ELEMS);
    make_payload(&p, n, c, red, 1);
    make_payload(&keep, n, c, red, 1);
    result r = {0};
    ck_assert_int_eq(job_submit(pool, &p, &copy_ops, &r), 0);
    ck_assert_ptr_null(p.input);         /* taken over */
    ck_assert_uint_eq(job_pool_active(pool), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.encoded, 1);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(job_pool_active(pool), 0);
    check_against_compute(&keep, &r);
    free(r.all);
    payload_free(&keep);
    job_pool_destroy(pool);
}
END_TEST

START_TEST(small_jobs_run_inline)
{
    job_pool *pool = job_pool_create(&loop, 2, 2);
    payload p, keep;
    make_payload(&p, 32, 10, MML_MEAN, 0);
    make_payload(&keep, 32, 10, MML_MEAN, 0);
    ck_assert_int_eq(job_wants_pool(&p.req), 0);
    result inl = {0};
    ck_assert_int_eq(job_run_inline(&p, &copy_ops, &inl), 0);
    ck_assert_int_eq(inl.encoded, 1);
    ck_assert_int_eq(inl.done, 0);
    ck_assert_ptr_nonnull(p.input);      /* still the caller's */
    check_against_compute(&keep, &inl);
    result pooled = {0};
    ck_assert_int_eq(job_submit(pool, &p, &copy_ops, &pooled), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(pooled.done, 1);
    ck_assert_int_eq(memcmp(inl.bytes, pooled.bytes, sizeof(float)), 0);
    free(inl.all);
    free(pooled.all);
    payload_free(&keep);
    job_pool_destroy(pool);
}
END_TEST

START_TEST(queue_is_bounded)
{
    job_pool *pool = job_pool_create(&loop, 2, 2);
    payload p[3];
    result r[3];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++)
        make_payload(&p[i], 100, 100, MML_SUM, 0);
    ck_assert_int_eq(job_pool_full(pool), 0);
    ck_assert_int_eq(job_submit(pool, &p[0], &copy_ops, &r[0]), 0);
    ck_assert_int_eq(job_submit(pool, &p[1], &copy_ops, &r[1]), 0);
    ck_assert_int_eq(job_pool_full(pool), 1);
    ck_assert_int_eq(job_submit(pool, &p[2], &copy_ops, &r[2]), MML_EBUSY);
    ck_assert_ptr_nonnull(p[2].input);   /* refused: still the caller's */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r[0].done + r[1].done + r[2].done, 2);
    ck_assert_int_eq(job_pool_full(pool), 0);
    ck_assert_int_eq(job_submit(pool, &p[2], &copy_ops, &r[2]), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r[2].done, 1);
    ck_assert_int_eq(memcmp(r[0].bytes, r[2].bytes, sizeof(float)), 0);
    for (int i = 0; i < 3; i++)
        free(r[i].all);
    job_pool_destroy(pool);
}
END_TEST

/* A pool forked onto a second loop (another front-end thread) counts its
 * jobs against the parent's depth, and its jobs come back on its loop. */
START_TEST(fork_shares_depth)
{
    uv_loop_t other;
    ck_assert_int_eq(uv_loop_init(&other), 0);
    job_pool *pool = job_pool_create(&loop, 2, 2);
    job_pool *fork = job_pool_fork(pool, &other);
    ck_assert_ptr_nonnull(fork);
    payload p[3];
    result r[3];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++)
        make_payload(&p[i], 100, 100, MML_SUM, 0);
    ck_assert_int_eq(job_submit(pool, &p[0], &copy_ops, &r[0]), 0);
    ck_assert_int_eq(job_pool_full(fork), 0);
    ck_assert_int_eq(job_submit(fork, &p[1], &copy_ops, &r[1]), 0);
    ck_assert_uint_eq(job_pool_active(fork), 2);
    ck_assert_int_eq(job_pool_full(pool), 1);
    ck_assert_int_eq(job_submit(fork, &p[2], &copy_ops, &r[2]), MML_EBUSY);
    uv_run(&other, UV_RUN_DEFAULT);            /* only the fork's job reports here */
    ck_assert_int_eq(r[1].done, 1);
    ck_assert_int_eq(r[0].done, 0);
    ck_assert_uint_eq(job_pool_active(pool), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r[0].done, 1);
    ck_assert_uint_eq(job_pool_active(fork), 0);
    ck_assert_int_eq(memcmp(r[0].bytes, r[1].bytes, sizeof(float)), 0);
    payload_free(&p[2]);
    for (int i = 0; i < 3; i++)
        free(r[i].all);
    job_pool_destroy(fork);
    job_pool_destroy(pool);
    ck_assert_int_eq(uv_loop_close(&other), 0);
}
END_TEST

START_TEST(empty_batch_job_returns_one_value)
{
    job_pool *pool = job_pool_create(&loop, 2, 2);
    payload p;
    make_payload(&p, 0, 3, MML_SUM, 0);
    result r = {0};
    ck_assert_int_eq(job_submit(pool, &p, &copy_ops, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.done, 1);
    ck_assert_uint_eq(r.len, sizeof(float));
    float v;
    memcpy(&v, r.bytes, sizeof v);
    ck_assert_float_eq(v, 0.0f);
    free(r.all);
    job_pool_destroy(pool);
    job_pool_destroy(NULL);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("server_job");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, split_is_deterministic, 0, 3);
    tcase_add_test(tc, small_jobs_run_inline);
    tcase_add_test(tc, queue_is_bounded);
    tcase_add_test(tc, fork_shares_depth);
    tcase_add_test(tc, empty_batch_job_returns_one_value);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(job_suite());
}
