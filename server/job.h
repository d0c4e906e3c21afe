/* job.h - loss jobs on the libuv thread pool: bounded queue, row blocks, ordered merge.
 *
 * Independent of HTTP: a responder (JSON, binary frame, v2) hands over a
 * decoded payload with two callbacks, encode() on a pool thread to turn
 * the loss into its response bytes and done() back on the loop thread. */
#ifndef LOSSD_JOB_H
#define LOSSD_JOB_H

#include <uv.h>

#include "mml.h"
#include "payload.h"

/* Requests with more input elements than this are split into row blocks
 * that run on every pool thread at once. */
#define JOB_SPLIT_ELEMS (256u * 1024u)

typedef struct job_pool job_pool;

typedef struct job_ops {
    /* Pool thread (or the caller's thread for job_run_inline): out holds
     * the loss of req, mml_out_count(req) elements of req->dtype, valid
     * only during the call. Build the response; return 0 or a negative
     * MML code. */
    int (*encode)(void *ctx, const mml_request *req, const void *out);
    /* Loop thread, once per submitted job: status is encode's result, or
     * MML_ENOMEM when the job could not run. */
    void (*done)(void *ctx, int status);
} job_ops;

/* A pool that runs at most depth jobs (queued + running) on loop, split
 * into up to threads blocks. Call from the loop thread, like every
 * function here. NULL when out of memory. */
job_pool *job_pool_create(uv_loop_t *loop, unsigned threads, unsigned depth);
/* Free an idle pool (no active job); NULL is a no-op. */
void job_pool_destroy(job_pool *pool);

/* Jobs queued or running. */
unsigned job_pool_active(const job_pool *pool);
/* 1 when job_submit would refuse with -EBUSY. */
int job_pool_full(const job_pool *pool);

/* 1 when req is worth the hop to the pool, 0 when computing it on the
 * calling thread is cheaper (see the measurements in job.c). */
int job_wants_pool(const mml_request *req);

/* Queue the loss of *p. On success takes the buffers of *p (it is left
 * zeroed), returns 0 and calls ops->done later; -EBUSY when depth jobs
 * are active, -ENOMEM; on failure *p is untouched and done not called. */
int job_submit(job_pool *pool, payload *p, const job_ops *ops, void *ctx);

/* Compute *p on the calling thread and call ops->encode (not done).
 * Returns encode's status or MML_ENOMEM. *p stays the caller's. */
int job_run_inline(const payload *p, const job_ops *ops, void *ctx);

#endif
