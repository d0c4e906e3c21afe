/* allocfail.h - an allocator whose n-th call fails, for allocation-failure tests.
 *
 * A program linked with ALLOCFAIL_WRAP (the Makefile's -Wl,--wrap=malloc,
 * calloc, realloc, aligned_alloc, posix_memalign, strdup and free) sends
 * every such call of its own objects and static libraries (core/, proto/,
 * server/, the tests, and zlib, linked statically for this) through here.
 * What shared libraries allocate themselves is not seen: libmicrohttpd,
 * libuv, glibc's internals (stdio, open_memstream). cJSON, a shared
 * library too, is seen once allocfail_hook_cjson() gives it these
 * functions as its hooks.
 *
 *     allocfail_arm(3);               the third allocation from now fails
 *     ... code under test ...
 *     if (!allocfail_fired()) ...     it made fewer than 3: the last n to try
 *     allocfail_arm(0);
 */
#ifndef LOSSD_ALLOCFAIL_H
#define LOSSD_ALLOCFAIL_H

#include <stdint.h>

/* From now, the n-th allocation call fails (NULL, or ENOMEM from
 * posix_memalign) and only that one; 0 disarms. Counts restart at 0.
 * Thread-safe and async-signal-safe. */
void allocfail_arm(uint64_t n);

/* Allocation calls since the last allocfail_arm(n > 0). */
uint64_t allocfail_calls(void);

/* Whether the armed failure happened. */
int allocfail_fired(void);

/* Blocks allocated through here and not yet freed through here: equal
 * before and after a piece of code that must not leak, when nothing it
 * allocates is freed by a shared library (libmicrohttpd frees response
 * bodies itself, so this is for the decoders, not the server). */
int64_t allocfail_live(void);

/* Make cJSON allocate through here (cJSON_InitHooks). */
void allocfail_hook_cjson(void);

#endif
