/* reqid.c - X-Request-Id validation and generation. */
#include "reqid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t prefix_once = PTHREAD_ONCE_INIT;
static uint64_t prefix;
static atomic_uint_fast64_t counter;

/* Random prefix from the kernel; falls back to time and pid mixed by
 * splitmix64 if getrandom is unavailable. */
static void prefix_init(void)
{
    if (getrandom(&prefix, sizeof prefix, GRND_NONBLOCK) != (ssize_t)sizeof prefix) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        prefix = z ^ (z >> 31);
    }
}

int reqid_is_sane(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 0;
    size_t i = 0;
    for (; id[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (i >= REQID_MAX || ch < 0x21 || ch > 0x7e)
            return 0;
    }
    return 1;
}

/* The low `digits` hex digits of v, zero-padded, into out. */
static char *put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    return out + digits;
}

/* "%016llx-%012llx" of the prefix and the counter, formatted by hand:
 * snprintf was a visible part of a small request's cost. */
void reqid_generate(char *out)
{
    pthread_once(&prefix_once, prefix_init);
    uint64_t n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1;
    char *p = put_hex(out, prefix, 16);
    *p++ = '-';
    int digits = 16 - __builtin_clzll(n) / 4;       /* n >= 1 */
    p = put_hex(p, n, digits > 12 ? digits : 12);
    *p = '\0';
}

void reqid_assign(const char *client_id, char *out)
{
    if (reqid_is_sane(client_id))
        memcpy(out, client_id, strlen(client_id) + 1);
    else
        reqid_generate(out);
}
