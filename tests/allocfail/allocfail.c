/* allocfail.c - an allocator whose n-th call fails (see allocfail.h). */
#include "allocfail.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

/* The functions of the C library, as ld --wrap names them. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static _Atomic uint64_t fail_at;     /* 0: disarmed */
static _Atomic uint64_t calls;
static atomic_int fired;
static _Atomic int64_t live;

void allocfail_arm(uint64_t n)
{
    atomic_store(&fail_at, 0);
    atomic_store(&calls, 0);
    atomic_store(&fired, 0);
    atomic_store(&fail_at, n);
}

uint64_t allocfail_calls(void)
{
    return atomic_load(&calls);
}

int allocfail_fired(void)
{
    return atomic_load(&fired);
}

int64_t allocfail_live(void)
{
    return atomic_load(&live);
}

/* Whether this allocation call is the one that fails; errno set if so. */
static int failing(void)
{
    uint64_t n = atomic_load(&fail_at);
    if (n == 0 || atomic_fetch_add(&calls, 1) + 1 != n)
        return 0;
    atomic_store(&fired, 1);
    errno = ENOMEM;
    return 1;
}

/* Count a block made (p not NULL) and return it. */
static void *made(void *p)
{
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_malloc(size_t size)
{
    return failing() ? NULL : made(__real_malloc(size));
}

void *__wrap_calloc(size_t count, size_t size)
{
    return failing() ? NULL : made(__real_calloc(count, size));
}

/* A failed realloc leaves p as it was, as the C library's does. */
void *__wrap_realloc(void *p, size_t size)
{
    if (failing())
        return NULL;
    void *q = __real_realloc(p, size);
    if (p == NULL && q != NULL)
        atomic_fetch_add(&live, 1);
    else if (p != NULL && q == NULL && size == 0)
        atomic_fetch_sub(&live, 1);           /* glibc's realloc(p, 0) frees p */
    return q;
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    return failing() ? NULL : made(__real_aligned_alloc(align, size));
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
    if (failing())
        return ENOMEM;
    int rc = __real_posix_memalign(p, align, size);
    if (rc == 0)
        made(*p);
    return rc;
}

char *__wrap_strdup(const char *s)
{
    return failing() ? NULL : made(__real_strdup(s));
}

void __wrap_free(void *p)
{
    if (p != NULL)
        atomic_fetch_sub(&live, 1);
    __real_free(p);
}

void allocfail_hook_cjson(void)
{
    cJSON_Hooks hooks = {__wrap_malloc, __wrap_free};
    cJSON_InitHooks(&hooks);
}
