/* payload.c - aligned tensor memory and the payload destructor. */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

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
    return aligned_alloc(PAYLOAD_ALIGN, rounded);
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
