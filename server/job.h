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
 * into up to threads blocks. Call a pool's functions from its loop's
 * thread; the count of active jobs is shared, atomically, with the pools
 * forked from it. NULL when out of memory. */
job_pool *job_pool_create(uv_loop_t *loop, unsigned threads, unsigned depth);
/* A pool on another loop (thread) with parent's threads, sharing its
 * depth: the jobs of both count against it. Call from the new loop's
 * thread; parent must outlive it. NULL when out of memory. */
job_pool *job_pool_fork(job_pool *parent, uv_loop_t *loop);

/* Free an idle pool (no active job); NULL is a no-op. */
void job_pool_destroy(job_pool *pool);

/* Jobs queued or running. */
unsigned job_pool_active(const job_pool *pool);
/* 1 when job_submit would refuse with MML_EBUSY. */
int job_pool_full(const job_pool *pool);

/* 1 when req is worth the hop to the pool, 0 when computing it on the
 * calling thread is cheaper (see the measurements in job.c). */
int job_wants_pool(const mml_request *req);

/* Queue the loss of *p. On success takes the buffers of *p (it is left
 * zeroed), returns 0 and calls ops->done later; MML_EBUSY when depth
 * jobs are active, MML_ENOMEM; on failure *p is untouched and done not
 * called. */
int job_submit(job_pool *pool, payload *p, const job_ops *ops, void *ctx);

/* Compute *p on the calling thread and call ops->encode (not done).
 * Returns encode's status or MML_ENOMEM. *p stays the caller's. */
int job_run_inline(const payload *p, const job_ops *ops, void *ctx);

#endif
