/* payload.c - aligned tensor memory and the payload destructor. */
#include "payload.h"

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

/* aligned_alloc() wants a size that is a multiple of the alignment, and a
 * zero-byte request still gets a real (freeable, non-NULL) block. */
void *payload_mem_alloc(size_t bytes)
{
    size_t rounded;

    if (bytes > SIZE_MAX - PAYLOAD_ALIGN)
        return NULL;
    rounded = (bytes + PAYLOAD_ALIGN - 1) / PAYLOAD_ALIGN * PAYLOAD_ALIGN;
    if (rounded == 0)
        rounded = PAYLOAD_ALIGN;
    void *p = aligned_alloc(PAYLOAD_ALIGN, rounded);
    if (p != NULL)
        advise_huge(p, rounded);
    return p;
}

/* Blocks come from aligned_alloc(), so free() releases them: a decoder may
 * hand over malloc()'d buffers too and payload_free() stays correct. */
void payload_mem_free(void *p)
{
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
