/* payload.c - aligned tensor memory and the payload destructor. */
#include "payload.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Blocks at least this big are backed by transparent huge pages where the
 * kernel offers them (THP "madvise" mode, Debian's default): a 64 MiB
 * tensor then takes 32 page faults instead of 16384, which were a third
 * of the server's CPU time for big frames (bench/frame_bench.sh). */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

/* Advise huge pages for the 2 MiB-aligned interior of [p, p + size).
 * Best effort: without THP (or on other systems) nothing changes. */
static void advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + (uintptr_t)size) & ~(HUGE_PAGE - 1);
    if (size >= HUGE_MIN && b > a)
        (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
#endif
}

/* A few freed big blocks are kept for the next request. glibc gives
 * blocks over 32 MiB back to the kernel at free(), and the kernel zeroes
 * every page of a fresh one at first touch: for a 64 MiB frame that was
 * about a fifth of the request's time (bench/frame_bench.sh). A kept block
 * is handed out again only for a request of at least half its size. The
 * cache lives inside the memory budget: a block is kept only while the
 * blocks in use and the cache together fit in it, a request that needs
 * the room empties the cache first, and payload_mem_idle() empties it
 * when the server has nothing to do. Without a budget it holds CACHE_MAX
 * bytes at most. */
#define CACHE_SLOTS 4
#define CACHE_MAX ((size_t)256 << 20)

/* Each slot holds a block or NULL and is taken or filled with one
 * compare-and-swap, so the cache needs no lock; a block's size is its
 * malloc_usable_size(). cache_bytes may lag a slot's change by a moment,
 * which only makes the budget checks below a little early or late. */
static _Atomic(void *) cache[CACHE_SLOTS];
static _Atomic uint64_t cache_bytes;

/* Bytes charged: the blocks in use, each counted as its
 * malloc_usable_size() from allocation to free, and the other memory
 * requests hold (payload_mem_charge); and the budget (0: none). */
static _Atomic uint64_t mem_in_use;
static _Atomic uint64_t mem_budget;

/* Take the block of slot i if it is still p; 1 when taken. */
static int slot_take(int i, void *p)
{
    if (p == NULL || !atomic_compare_exchange_strong(&cache[i], &p, NULL))
        return 0;
    atomic_fetch_sub(&cache_bytes, malloc_usable_size(p));
    return 1;
}

/* The smallest kept block of at least bytes (and at most twice that). */
static void *cache_take(size_t bytes)
{
    for (int tries = 0; tries < CACHE_SLOTS; tries++) {
        int best = -1;
        void *bp = NULL;
        size_t bsize = 0;
        for (int i = 0; i < CACHE_SLOTS; i++) {
            void *p = atomic_load(&cache[i]);
            size_t size = p != NULL ? malloc_usable_size(p) : 0;
            if (p != NULL && size >= bytes && size / 2 <= bytes && (best < 0 || size < bsize)) {
                best = i;
                bp = p;
                bsize = size;
            }
        }
        if (best < 0)
            return NULL;
        if (slot_take(best, bp))
            return bp;
    }
    return NULL;                /* others kept taking the candidates: allocate */
}

/* Keep p (usable size bytes) if there is room in the cache and, under a
 * budget, in the budget's free part; 0 when kept. */
static int cache_put(void *p, size_t size)
{
    uint64_t budget = atomic_load(&mem_budget);
    uint64_t room = budget != 0 ? budget : UINT64_MAX;
    uint64_t held = atomic_load(&mem_in_use) + atomic_load(&cache_bytes);
    if (atomic_load(&cache_bytes) + size > CACHE_MAX || held > room || size > room - held)
        return -1;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        void *empty = NULL;
        if (atomic_compare_exchange_strong(&cache[i], &empty, p)) {
            atomic_fetch_add(&cache_bytes, size);
            return 0;
        }
    }
    return -1;
}

/* Free kept blocks until the cache holds at most keep bytes. */
static void cache_shrink(uint64_t keep)
{
    for (int i = 0; i < CACHE_SLOTS && atomic_load(&cache_bytes) > keep; i++) {
        void *p = atomic_load(&cache[i]);
        if (slot_take(i, p))
            free(p);
    }
}

/* Make room for the charge that took the bytes in use to used: the cache
 * gives back what the budget needs. */
static void cache_yield(uint64_t used, uint64_t budget)
{
    uint64_t cached = atomic_load(&cache_bytes);
    if (budget != 0 && cached > 0 && used + cached > budget)
        cache_shrink(used < budget ? budget - used : 0);
}

/* glibc raises its mmap threshold to the size of each mmapped block it
 * frees (up to 32 MiB), so after the first big request the next ones come
 * from the heap, and the heap keeps their memory when they are freed:
 * under --max-memory 128 MiB a mix of clients vanishing mid-body and
 * unread 8 MB answers held 266 MiB (tests/soak, vanishing). A fixed
 * threshold keeps every block of 1 MiB or more in its own mapping, given
 * back at free(): the same run peaked at 146 MiB, with the JSON and frame
 * benchmarks unchanged within noise (docs/design.md, "Memory"). */
#define MMAP_THRESHOLD ((int)1 << 20)

void payload_mem_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

void payload_mem_idle(void)
{
    cache_shrink(0);
    malloc_trim(0);
}

uint64_t payload_mem_cached(void)
{
    return atomic_load(&cache_bytes);
}

void payload_mem_set_budget(uint64_t bytes)
{
    atomic_store(&mem_budget, bytes);
}

uint64_t payload_mem_in_use(void)
{
    return atomic_load(&mem_in_use);
}

/* The size aligned_alloc() is asked for: a multiple of the alignment,
 * and a zero-byte request still gets a real (freeable, non-NULL) block. */
static uint64_t mem_rounded(uint64_t bytes)
{
    uint64_t rounded = (bytes + PAYLOAD_ALIGN - 1) / PAYLOAD_ALIGN * PAYLOAD_ALIGN;
    return rounded == 0 ? PAYLOAD_ALIGN : rounded;
}

static void set_too_big(const char *field, mml_error *err)
{
    mml_error_set(err, MML_ETOOBIG, field,
                  "the request needs more than the server's whole memory budget of %llu "
                  "bytes (--max-memory) to decode its tensors",
                  (unsigned long long)atomic_load(&mem_budget));
}

/* With within set, the block's size is reserved against the budget first:
 * over it, NULL with *busy = 1, or 2 when waiting for other requests
 * would not help: held (what the same request's blocks are charged) and
 * the block alone are over it. */
static void *mem_alloc(size_t bytes, int within, uint64_t held, int *busy)
{
    size_t rounded;
    void *p;

    *busy = 0;
    if (bytes > SIZE_MAX - PAYLOAD_ALIGN)
        return NULL;
    rounded = (size_t)mem_rounded(bytes);
    uint64_t budget = atomic_load(&mem_budget);
    uint64_t used = atomic_fetch_add(&mem_in_use, rounded) + rounded;
    if (within && budget != 0 && used > budget) {
        atomic_fetch_sub(&mem_in_use, rounded);
        *busy = rounded > budget || held > budget - rounded ? 2 : 1;
        return NULL;
    }
    if (rounded < HUGE_MIN || (p = cache_take(rounded)) == NULL) {
        cache_yield(used, budget);
        p = aligned_alloc(PAYLOAD_ALIGN, rounded);
        if (p != NULL)
            advise_huge(p, rounded);
    }
    if (p == NULL) {
        atomic_fetch_sub(&mem_in_use, rounded);
        return NULL;
    }
    atomic_fetch_add(&mem_in_use, malloc_usable_size(p) - rounded);   /* the exact count */
    return p;
}

/* The budget's errors for a charge that could not be made: busy 2 when
 * the request's own charges are the reason, else 1. */
static void set_busy(int busy, const char *field, mml_error *err)
{
    if (busy == 2)
        set_too_big(field, err);
    else
        mml_error_set(err, MML_EBUSY, field,
                      "the requests in progress hold the server's memory budget of %llu "
                      "bytes (--max-memory); retry later",
                      (unsigned long long)atomic_load(&mem_budget));
}

void *payload_mem_alloc(size_t bytes)
{
    int busy;
    return mem_alloc(bytes, 0, 0, &busy);
}

int payload_mem_need(const uint64_t *sizes, int n, const char *field, mml_error *err)
{
    uint64_t budget = atomic_load(&mem_budget), need = 0;
    for (int k = 0; k < n && budget != 0; k++) {
        if (sizes[k] == 0)
            continue;                                  /* an empty tensor takes no block */
        if (sizes[k] > budget || need > budget - mem_rounded(sizes[k])) {
            set_too_big(field, err);
            return MML_ETOOBIG;
        }
        need += mem_rounded(sizes[k]);
    }
    return 0;
}

void *payload_mem_take(payload_acct *a, size_t bytes, const char *field, mml_error *err)
{
    int busy;
    void *p = mem_alloc(bytes, 1, a->held, &busy);
    if (p != NULL)
        a->held += malloc_usable_size(p);
    else if (busy)
        set_busy(busy, field, err);
    else
        mml_error_set(err, MML_ENOMEM, field, "out of memory allocating %zu bytes for %s",
                      bytes, field);
    return p;
}

int payload_mem_charge(payload_acct *a, uint64_t bytes, const char *field, mml_error *err)
{
    uint64_t budget = atomic_load(&mem_budget);
    uint64_t used = atomic_fetch_add(&mem_in_use, bytes) + bytes;
    if (budget != 0 && used > budget) {
        atomic_fetch_sub(&mem_in_use, bytes);
        int busy = bytes > budget || a->held > budget - bytes ? 2 : 1;
        set_busy(busy, field, err);
        return busy == 2 ? MML_ETOOBIG : MML_EBUSY;
    }
    cache_yield(used, budget);
    a->held += bytes;
    return 0;
}

void payload_mem_uncharge(payload_acct *a, uint64_t bytes)
{
    a->held -= bytes;
    atomic_fetch_sub(&mem_in_use, bytes);
}

void payload_mem_count(uint64_t bytes)
{
    uint64_t used = atomic_fetch_add(&mem_in_use, bytes) + bytes;
    cache_yield(used, atomic_load(&mem_budget));
}

void payload_mem_uncount(uint64_t bytes)
{
    atomic_fetch_sub(&mem_in_use, bytes);
}

/* A filled block is charged in steps of this much, so that the budget's
 * counter is not touched for every small chunk. */
#define FILL_STEP ((uint64_t)1 << 20)

int payload_fill_open(payload_fill *f, size_t bytes, const char *field, mml_error *err)
{
    memset(f, 0, sizeof *f);
    if (bytes > SIZE_MAX - PAYLOAD_ALIGN)
        goto fail_alloc;
    size_t rounded = (size_t)mem_rounded(bytes);
    /* A fresh block, not a cached one: its pages are only resident once
     * written, and it is charged as they are. */
    f->p = aligned_alloc(PAYLOAD_ALIGN, rounded);
    if (f->p == NULL)
        goto fail_alloc;
    advise_huge(f->p, rounded);
    f->size = malloc_usable_size(f->p);
    return 0;

fail_alloc:
    return mml_error_set(err, MML_ENOMEM, field, "out of memory allocating %zu bytes for %s",
                         bytes, field);
}

int payload_fill_charge(payload_acct *a, payload_fill *f, uint64_t upto, const char *field,
                        mml_error *err)
{
    if (upto <= f->charged)
        return 0;
    uint64_t want = upto + FILL_STEP - 1 < upto ? f->size
                                                : (upto + FILL_STEP - 1) / FILL_STEP * FILL_STEP;
    if (want > f->size)
        want = f->size;
    int rc = payload_mem_charge(a, want - f->charged, field, err);
    if (rc == 0)
        f->charged = want;
    return rc;
}

void *payload_fill_close(payload_acct *a, payload_fill *f)
{
    void *p = f->p;
    uint64_t rest = f->size - f->charged;
    payload_mem_count(rest);
    a->held += rest;
    memset(f, 0, sizeof *f);
    return p;
}

void payload_fill_drop(payload_acct *a, payload_fill *f)
{
    if (f->charged > 0)
        payload_mem_uncharge(a, f->charged);
    free(f->p);
    memset(f, 0, sizeof *f);
}

void payload_mem_give(payload_acct *a, void *p)
{
    if (p != NULL)
        a->held -= malloc_usable_size(p);
    payload_mem_free(p);
}

/* Every block comes from mem_alloc(), which counted its usable size. */
void payload_mem_free(void *p)
{
    if (p == NULL)
        return;
    size_t size = malloc_usable_size(p);
    atomic_fetch_sub(&mem_in_use, size);
    if (size >= HUGE_MIN && cache_put(p, size) == 0)
        return;
    free(p);
}

void payload_free(payload *p)
{
    if (p == NULL)
        return;
    payload_mem_free(p->input);
    payload_mem_free(p->target);
    payload_mem_free(p->weight);
    memset(p, 0, sizeof(*p));
}

void payload_swap_elems(void *buf, uint64_t count, size_t elem)
{
    uint8_t *b = buf;
    for (uint64_t i = 0; i < count; i++, b += elem)
        for (size_t j = 0; j < elem / 2; j++) {
            uint8_t t = b[j];
            b[j] = b[elem - 1 - j];
            b[elem - 1 - j] = t;
        }
}
