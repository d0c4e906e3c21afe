/* deadline.c - per-request time limits on connections (see deadline.h). */
#include "deadline.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

void deadline_list_init(deadline_list *l, uint64_t limit_ns)
{
    l->head.prev = l->head.next = &l->head;
    l->limit_ns = limit_ns;
}

conn_deadline *deadline_open(deadline_list *l, int fd, uint64_t now_ns)
{
    conn_deadline *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->deadline_ns = now_ns + l->limit_ns;
    c->next = l->head.next;
    c->prev = &l->head;
    l->head.next->prev = c;
    l->head.next = c;
    return c;
}

void deadline_close(conn_deadline *c)
{
    if (c == NULL)
        return;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
}

void deadline_busy(deadline_list *l, conn_deadline *c, int busy, uint64_t now_ns)
{
    if (c == NULL)
        return;
    c->busy = busy;
    if (!busy)
        c->deadline_ns = now_ns + l->limit_ns;
}

void deadline_receiving(conn_deadline *c, int receiving)
{
    if (c != NULL)
        c->receiving = receiving;
}

/* 1 when the client has shut down its side and every byte it sent has
 * been read: nothing more can come. */
static int peer_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int unread;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 &&
           ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

unsigned deadline_sweep(deadline_list *l, uint64_t now_ns)
{
    unsigned n = 0;
    for (conn_deadline *c = l->head.next; c != &l->head; c = c->next) {
        if (c->busy || c->deadline_ns == 0)
            continue;
        if (now_ns < c->deadline_ns && !(c->receiving && peer_gone(c->fd)))
            continue;
        c->deadline_ns = 0;                 /* once: the close follows */
        shutdown(c->fd, SHUT_RDWR);
        n++;
    }
    return n;
}
