/* job.c - loss jobs on the libuv thread pool: bounded queue, row blocks, ordered merge. */
#include "job.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Below this many input elements a request is computed on the loop
 * thread: the hop to the pool costs more than the work. Measured on the
 * 2-core x86-64 (AVX-512) dev box, libuv 1.44:
 *   - uv_queue_work round trip, empty work: 17-18 us;
 *   - mml_compute float32, C = 10: 320 elements 0.4 us, 1280 3.4 us,
 *     5120 10-12 us, 20480 40-54 us;
 *   - wrk -t2 -c32, POST N=32 C=10 JSON, 4 alternating 5 s runs:
 *     inline 12.8k/11.2k/14.0k/22.4k req/s, always via the pool
 *     10.2k/9.2k/8.2k/11.5k req/s.
 * At 4096 elements the work is still about half a hop; past it the pool
 * wins by keeping the loop free for other connections. Override with
 * -DJOB_INLINE_ELEMS=n to measure again (0 sends everything to the pool). */
#ifndef JOB_INLINE_ELEMS
#define JOB_INLINE_ELEMS 4096u
#endif

typedef struct job job;

typedef struct job_block {
    uv_work_t work;                 /* container_of gets back to the block */
    job *owner;
    uint64_t a, b;                  /* rows [a, b) */
    mml_partial part;
} job_block;

struct job {
    job_pool *pool;
    payload p;
    void *out;
    const job_ops *ops;
    void *ctx;
    int status;
    unsigned nblocks;
    unsigned pending;               /* blocks not yet back on the loop */
    uv_work_t finish;               /* merge + encode after a split */
    job_block block[];
};

/* The jobs of every pool forked from one, counted against its depth. */
typedef struct job_budget {
    atomic_uint active;
    unsigned depth;
} job_budget;

struct job_pool {
    uv_loop_t *loop;
    unsigned threads;
    job_budget *budget;             /* own_budget, or the parent's */
    job_budget own_budget;
};

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

job_pool *job_pool_create(uv_loop_t *loop, unsigned threads, unsigned depth)
{
    assert(threads >= 1 && depth >= 1);
    job_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->loop = loop;
    pool->threads = threads;
    pool->budget = &pool->own_budget;
    atomic_init(&pool->own_budget.active, 0);
    pool->own_budget.depth = depth;
    return pool;
}

job_pool *job_pool_fork(job_pool *parent, uv_loop_t *loop)
{
    job_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->loop = loop;
    pool->threads = parent->threads;
    pool->budget = parent->budget;
    return pool;
}

void job_pool_destroy(job_pool *pool)
{
    if (pool == NULL)
        return;
    assert(pool->budget != &pool->own_budget || job_pool_active(pool) == 0);
    free(pool);
}

unsigned job_pool_active(const job_pool *pool)
{
    return atomic_load_explicit(&pool->budget->active, memory_order_relaxed);
}

int job_pool_full(const job_pool *pool)
{
    return job_pool_active(pool) >= pool->budget->depth;
}

/* Take a place in the budget; 0, or -1 when depth jobs are active. */
static int budget_take(job_budget *b)
{
    unsigned n = atomic_load_explicit(&b->active, memory_order_relaxed);
    do {
        if (n >= b->depth)
            return -1;
    } while (!atomic_compare_exchange_weak_explicit(&b->active, &n, n + 1,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    return 0;
}

static void budget_give(job_budget *b)
{
    atomic_fetch_sub_explicit(&b->active, 1, memory_order_relaxed);
}

static uint64_t elements(const mml_request *req)
{
    /* Saturating n * c: the decoder bounded both by the body size. */
    if (req->c != 0 && req->n > UINT64_MAX / req->c)
        return UINT64_MAX;
    return req->n * req->c;
}

int job_wants_pool(const mml_request *req)
{
    return elements(req) + 1 > JOB_INLINE_ELEMS;
}

static size_t out_bytes(const mml_request *req)
{
    size_t bytes = (size_t)mml_out_count(req) * mml_dtype_size(req->dtype);
    return bytes ? bytes : 8;
}

/* Reduce the block partials in row order and encode. Runs on one
 * thread; the blocks are complete. */
static int finish(const mml_request *req, job_block *block, unsigned nblocks,
                  void *out, const job_ops *ops, void *ctx)
{
    if (req->reduction != MML_NONE) {
        for (unsigned i = 1; i < nblocks; i++)
            mml_partial_merge(&block[0].part, &block[i].part);
        mml_finish(req, &block[0].part, out);
    }
    return ops->encode(ctx, req, out);
}

int job_run_inline(const payload *p, const job_ops *ops, void *ctx)
{
    job_block block;                /* on the stack: a partial is ~4 KiB */
    void *out = payload_mem_alloc(out_bytes(&p->req));
    if (out == NULL)
        return MML_ENOMEM;
    mml_partial_init(&block.part);
    mml_rows(&p->req, 0, p->req.n, out, &block.part);
    int status = finish(&p->req, &block, 1, out, ops, ctx);
    payload_mem_free(out);
    return status;
}

static void block_work(uv_work_t *w)
{
    job_block *blk = container_of(w, job_block, work);
    job *j = blk->owner;
    mml_rows(&j->p.req, blk->a, blk->b, j->out, &blk->part);
    if (j->nblocks == 1)
        j->status = finish(&j->p.req, j->block, 1, j->out, j->ops, j->ctx);
}

static void finish_work(uv_work_t *w)
{
    job *j = container_of(w, job, finish);
    j->status = finish(&j->p.req, j->block, j->nblocks, j->out, j->ops, j->ctx);
}

static void job_free(job *j)
{
    payload_free(&j->p);
    payload_mem_free(j->out);
    free(j);
}

static void job_done(job *j)
{
    budget_give(j->pool->budget);
    j->ops->done(j->ctx, j->status);
    job_free(j);
}

static void finish_after(uv_work_t *w, int status)
{
    job *j = container_of(w, job, finish);
    if (status != 0)
        j->status = MML_ENOMEM;
    job_done(j);
}

static void block_after(uv_work_t *w, int status)
{
    job_block *blk = container_of(w, job_block, work);
    job *j = blk->owner;
    if (status != 0)
        j->status = MML_ENOMEM;
    if (--j->pending > 0)
        return;
    if (j->nblocks == 1 || j->status != 0 ||
        uv_queue_work(j->pool->loop, &j->finish, finish_work, finish_after) != 0) {
        if (j->nblocks > 1 && j->status == 0)
            j->status = MML_ENOMEM;
        job_done(j);
    }
}

/* Rows per block: the rows split evenly over the pool threads when the
 * request is big, one block otherwise. Any split gives the same bits. */
static unsigned block_count(const job_pool *pool, const mml_request *req)
{
    if (elements(req) <= JOB_SPLIT_ELEMS || req->n < 2)
        return 1;
    return req->n < pool->threads ? (unsigned)req->n : pool->threads;
}

int job_submit(job_pool *pool, payload *p, const job_ops *ops, void *ctx)
{
    if (budget_take(pool->budget) < 0)
        return MML_EBUSY;
    unsigned nblocks = block_count(pool, &p->req);
    job *j = calloc(1, sizeof *j + nblocks * sizeof j->block[0]);
    if (j != NULL && (j->out = payload_mem_alloc(out_bytes(&p->req))) == NULL) {
        free(j);
        j = NULL;
    }
    if (j == NULL) {
        budget_give(pool->budget);
        return MML_ENOMEM;
    }
    j->pool = pool;
    j->p = *p;
    memset(p, 0, sizeof *p);
    j->ops = ops;
    j->ctx = ctx;
    j->nblocks = nblocks;
    uint64_t n = j->p.req.n;
    for (unsigned i = 0; i < nblocks; i++) {
        job_block *blk = &j->block[i];
        blk->owner = j;
        blk->a = n * i / nblocks;
        blk->b = n * (i + 1) / nblocks;
        mml_partial_init(&blk->part);
    }
    j->pending = nblocks;
    for (unsigned i = 0; i < nblocks; i++) {
        if (uv_queue_work(pool->loop, &j->block[i].work, block_work, block_after) == 0)
            continue;
        /* Only fails while the loop is closing. */
        if (i == 0) {
            budget_give(pool->budget);
            *p = j->p;
            payload_mem_free(j->out);
            free(j);
            return MML_ENOMEM;
        }
        j->status = MML_ENOMEM;         /* the queued blocks still report back */
        j->pending -= nblocks - i;
        break;
    }
    return 0;
}
