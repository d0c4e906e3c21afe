/* payload.h - a decoded request that owns its tensors, and the memory
 * they live in: aligned blocks held to the budget of --max-memory.
 * Decoders (decoder.h) fill payloads; the job pool computes them. */
#ifndef LOSSD_PAYLOAD_H
#define LOSSD_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"

#define PAYLOAD_ALIGN 64

typedef struct payload {
    mml_request req;     /* points into the buffers below */
    void *input;         /* owned, PAYLOAD_ALIGN-aligned, NULL when empty */
    int64_t *target;     /* owned */
    void *weight;        /* owned, or NULL */
} payload;

/* Aligned allocation of at least bytes (0 allowed); NULL on failure.
 * Blocks of 4 MiB or more are advised to use transparent huge pages, and
 * a few freed ones are kept for reuse, inside the budget's free part, so
 * their memory is not zeroed again by the kernel. Free with
 * payload_mem_free(). */
void *payload_mem_alloc(size_t bytes);
void payload_mem_free(void *p);

/* A budget for the memory of the requests in progress (the server's
 * --max-memory): the decoders take their tensors with
 * payload_mem_take(), which refuses a block that would take the
 * blocks in use past it, so that many big requests at once get a 503
 * instead of the process being killed for want of memory. Blocks from
 * payload_mem_alloc() (results) count but are never refused. 0: no
 * budget (the default). */
void payload_mem_set_budget(uint64_t bytes);

/* Bytes charged: the blocks in use (allocated and not yet freed; blocks
 * kept for reuse are not counted) and the other memory of requests
 * (payload_mem_charge, payload_mem_count). */
uint64_t payload_mem_in_use(void);

/* One request's blocks under the budget: what they count for (each its
 * usable size). Start it at zero. */
typedef struct payload_acct { uint64_t held; } payload_acct;

/* A request that knows it will hold the blocks of sizes[0..n) at once:
 * MML_ETOOBIG (413) with *err filled if they alone are over the budget,
 * so that it is told so before it takes any, whatever other requests
 * hold; else 0. */
int payload_mem_need(const uint64_t *sizes, int n, const char *field, mml_error *err);

/* payload_mem_alloc() held to the budget and charged to *a. NULL with
 * *err filled: MML_ETOOBIG (413) when the request's blocks and this one
 * alone are over the budget (waiting would not help), MML_EBUSY
 * (Overloaded, 503) when other requests' blocks are the reason,
 * MML_ENOMEM otherwise; field names what the block was for. */
void *payload_mem_take(payload_acct *a, size_t bytes, const char *field, mml_error *err);

/* Free a block from payload_mem_take() and take it off *a. */
void payload_mem_give(payload_acct *a, void *p);

/* Memory a request holds that is not a payload block (a buffered JSON
 * header, an inflater's window), charged to *a against the budget as it
 * is taken: 0, or MML_ETOOBIG / MML_EBUSY as payload_mem_take() decides,
 * with *err filled. Take it off again with payload_mem_uncharge(). */
int payload_mem_charge(payload_acct *a, uint64_t bytes, const char *field, mml_error *err);
void payload_mem_uncharge(payload_acct *a, uint64_t bytes);

/* A block for a tensor whose bytes arrive over time (a length-prefixed
 * body): charged to the budget as it is written, not when it is opened,
 * so that a sender that stalls holds only what it sent. */
typedef struct payload_fill {
    void *p;                  /* the block (PAYLOAD_ALIGN-aligned), NULL when closed */
    uint64_t size;            /* its usable bytes */
    uint64_t charged;         /* how many of them are charged */
} payload_fill;

/* Open *f for bytes (0 allowed): 0, or MML_ENOMEM with *err filled.
 * Nothing is charged yet. */
int payload_fill_open(payload_fill *f, size_t bytes, const char *field, mml_error *err);

/* The first upto bytes of *f are about to be written: charge them to *a
 * (in 1 MiB steps). 0, or MML_EBUSY / MML_ETOOBIG with *err filled as
 * payload_mem_take() decides. */
int payload_fill_charge(payload_acct *a, payload_fill *f, uint64_t upto, const char *field,
                        mml_error *err);

/* The block is written: charge the rest and return it as a block of
 * payload_mem_take() (free it with payload_mem_free); *f is closed. */
void *payload_fill_close(payload_acct *a, payload_fill *f);

/* Free an open block and take its charge off *a; *f is closed. */
void payload_fill_drop(payload_acct *a, payload_fill *f);

/* Memory counted in the budget but never refused, as results are: the
 * response bodies waiting to be sent. */
void payload_mem_count(uint64_t bytes);
void payload_mem_uncount(uint64_t bytes);

/* Set up the process's allocator for the budget (a fixed mmap threshold,
 * so that big freed blocks go back to the system): once, at start-up,
 * before any thread allocates. */
void payload_mem_setup(void);

/* Give back what is kept for reuse: the cached blocks, and glibc's free
 * heap (malloc_trim). For a server with nothing to do. Any thread. */
void payload_mem_idle(void);

/* Bytes of the blocks kept for reuse. */
uint64_t payload_mem_cached(void);

/* Reverse the bytes of each of the count elem-byte elements of buf: the
 * wire formats are little-endian, this converts on big-endian hosts. */
void payload_swap_elems(void *buf, uint64_t count, size_t elem);

/* Free the buffers and zero *p. payload_free(NULL) is a no-op. */
void payload_free(payload *p);

#endif
