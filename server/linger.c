/* linger.c - the lingering close of the HTTP front end: a socket whose
 * response went out before its request's body was read is kept open and
 * read to the void for a while, so the client reads the response.
 *
 * libmicrohttpd shuts down the write side after such a response and then
 * closes the socket with the body unread, and Linux then sends a reset
 * that can destroy the response before the client reads it (a 413 or 503
 * with Retry-After arrived as "connection reset"). So the socket is kept
 * (a dup, taken while libmicrohttpd's descriptor is still open) and
 * drained from the loop, as nginx does, for LINGER_NS and LINGER_BYTES at
 * most, then closed. At most CONFIG_LINGER_PER_FRONT per front. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "request.h"

#define LINGER_NS (UINT64_C(5) * 1000000000u)
#define LINGER_BYTES ((uint64_t)64 << 20)

typedef struct lingering {
    uv_poll_t poll;
    http_server *srv;
    int fd;
    uint64_t until_ns;
    uint64_t bytes;
    struct lingering *prev, *next;
} lingering;

static void linger_closed(uv_handle_t *h)
{
    lingering *l = h->data;
    close(l->fd);
    free(l);
}

static void linger_end(lingering *l)
{
    http_server *s = l->srv;
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        s->lingering = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    s->n_lingering--;
    uv_close((uv_handle_t *)&l->poll, linger_closed);
}

/* Read and drop what fd has: 1 when more may come, 0 when the client is
 * done (end of stream, an error such as a reset) or over max bytes. */
static int drain(int fd, uint64_t *bytes, uint64_t max)
{
    static _Thread_local char sink[65536];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (n == 0)
            return 0;
        *bytes += (uint64_t)n;
        if (*bytes > max)
            return 0;
    }
    return 1;
}

static void on_linger(uv_poll_t *p, int status, int events)
{
    lingering *l = p->data;
    (void)events;
    if (status < 0 || !drain(l->fd, &l->bytes, LINGER_BYTES))
        linger_end(l);
}

/* NOTIFY_CONNECTION CLOSED of a connection whose response went out with
 * its request unread: keep the socket (its write side is shut already)
 * and drain it from the loop, unless the client is done or too many
 * linger already. The fd is still open here; libmicrohttpd closes its
 * own copy right after. */
void linger_start(http_server *s, int fd)
{
    uint64_t bytes = 0;
    if (s->stopping || s->n_lingering >= CONFIG_LINGER_PER_FRONT ||
        !drain(fd, &bytes, LINGER_BYTES))
        return;
    lingering *l = calloc(1, sizeof *l);
    if (l == NULL)
        return;
    l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (l->fd < 0 || uv_poll_init(s->loop, &l->poll, l->fd) != 0) {
        if (l->fd >= 0)
            close(l->fd);
        free(l);
        return;
    }
    l->srv = s;
    l->bytes = bytes;
    l->until_ns = uv_hrtime() + LINGER_NS;
    l->poll.data = l;
    l->next = s->lingering;
    if (l->next != NULL)
        l->next->prev = l;
    s->lingering = l;
    s->n_lingering++;
    uv_poll_start(&l->poll, UV_READABLE | UV_DISCONNECT, on_linger);
}

/* Close the lingering sockets past their time at now_ns, or
 * every one when all is set. */
void linger_expire(http_server *s, uint64_t now_ns, int all)
{
    lingering *next;
    for (lingering *l = s->lingering; l != NULL; l = next) {
        next = l->next;
        if (all || now_ns >= l->until_ns)
            linger_end(l);
    }
}
