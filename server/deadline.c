/* deadline.c - per-connection state of one front end (see deadline.h). */
#include "deadline.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

void deadline_list_init(deadline_list *l, uint64_t limit_ns)
{
    memset(l, 0, sizeof *l);
    l->head.prev = l->head.next = &l->head;
    l->idle.idle_prev = l->idle.idle_next = &l->idle;
    l->limit_ns = limit_ns;
    l->rate_window_ns = DEADLINE_RATE_WINDOW_NS;
}

int deadline_list_limits(deadline_list *l, unsigned max_open, unsigned max_per_addr,
                         uint64_t min_rate)
{
    l->max_open = max_open;
    l->min_rate = min_rate;
    if (max_per_addr == 0)
        return 0;
    /* Every open connection may have its own address: at most half full,
     * with the ones shed and not yet closed on top. */
    size_t cap = 64;
    while (cap < 2 * ((size_t)max_open + 64))
        cap *= 2;
    l->addrs = calloc(cap, sizeof *l->addrs);
    if (l->addrs == NULL)
        return -1;
    l->addr_cap = cap;
    l->max_per_addr = max_per_addr;
    return 0;
}

void deadline_list_free(deadline_list *l)
{
    if (l == NULL)
        return;
    free(l->addrs);
    l->addrs = NULL;
    l->addr_cap = 0;
}

unsigned deadline_high_water(unsigned limit)
{
    if (limit == 0)
        return 0;
    /* libmicrohttpd accepts up to 11 connections per run, and sees the
     * ones shed in a run only in the next: two runs' worth, and more for
     * big limits. */
    unsigned margin = 24 + limit / 64;
    if (margin > limit / 2)
        margin = limit / 2;
    return limit - margin;
}

/* ---- the idle list ---- */

static void idle_unlink(conn_deadline *c)
{
    if (!c->idle)
        return;
    c->idle_prev->idle_next = c->idle_next;
    c->idle_next->idle_prev = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->idle = 0;
}

static void idle_append(conn_deadline *c, uint64_t now_ns)
{
    conn_deadline *s = &c->list->idle;
    if (c->idle || c->shed)
        return;
    c->idle_ns = now_ns;
    c->idle_prev = s->idle_prev;
    c->idle_next = s;
    s->idle_prev->idle_next = c;
    s->idle_prev = c;
    c->idle = 1;
}

void deadline_idle(conn_deadline *c, int idle, uint64_t now_ns)
{
    if (c == NULL)
        return;
    if (idle)
        idle_append(c, now_ns);
    else
        idle_unlink(c);
}

/* ---- counts per client address: linear probing ---- */

static size_t addr_hash(const unsigned char *key, size_t cap)
{
    uint64_t h = 1469598103934665603u;          /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211u;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* The slot of key, or the free slot where it would go. */
static deadline_addr *addr_slot(const deadline_list *l, const unsigned char *key)
{
    size_t i = addr_hash(key, l->addr_cap);
    while (l->addrs[i].count != 0 && memcmp(l->addrs[i].key, key, 16) != 0)
        i = (i + 1) & (l->addr_cap - 1);
    return &l->addrs[i];
}

static unsigned addr_count(const deadline_list *l, const unsigned char *key)
{
    return l->addrs != NULL ? addr_slot(l, key)->count : 0;
}

/* Remove slot i and move later entries of its run back into the hole, so
 * that lookups never stop early at a free slot. */
static void addr_remove(deadline_list *l, size_t i)
{
    size_t mask = l->addr_cap - 1;
    for (size_t j = (i + 1) & mask; l->addrs[j].count != 0; j = (j + 1) & mask) {
        size_t home = addr_hash(l->addrs[j].key, l->addr_cap);
        /* j may move to i when its home is not in (i, j] (cyclically). */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            l->addrs[i] = l->addrs[j];
            i = j;
        }
    }
    l->addrs[i].count = 0;
}

/* c no longer counts: shed, or closed without having been shed. */
static void uncount(conn_deadline *c)
{
    deadline_list *l = c->list;
    l->open--;
    if (!c->has_addr)
        return;
    c->has_addr = 0;
    deadline_addr *a = addr_slot(l, c->addr);
    if (a->count > 1)
        a->count--;
    else if (a->count == 1)
        addr_remove(l, (size_t)(a - l->addrs));
}

void deadline_set_addr(conn_deadline *c, const struct sockaddr *sa)
{
    if (c == NULL || c->list->addrs == NULL || c->has_addr || c->shed || sa == NULL)
        return;
    deadline_list *l = c->list;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        memset(c->addr, 0, 10);
        c->addr[10] = c->addr[11] = 0xff;
        memcpy(c->addr + 12, &a4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return;
    }
    deadline_addr *a = addr_slot(l, c->addr);
    if (a->count == 0) {
        if (2 * (l->open + 1) > l->addr_cap)
            return;                      /* cannot happen within max_open; stay uncounted */
        memcpy(a->key, c->addr, 16);
    }
    a->count++;
    c->has_addr = 1;
}

/* ---- connections ---- */

conn_deadline *deadline_open(deadline_list *l, int fd, uint64_t now_ns)
{
    conn_deadline *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->list = l;
    c->deadline_ns = now_ns + l->limit_ns;
    c->next = l->head.next;
    c->prev = &l->head;
    l->head.next->prev = c;
    l->head.next = c;
    l->open++;
    idle_append(c, now_ns);
    return c;
}

void deadline_close(conn_deadline *c)
{
    if (c == NULL)
        return;
    idle_unlink(c);
    if (!c->shed)
        uncount(c);
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

void deadline_body(conn_deadline *c, int on, uint64_t now_ns)
{
    if (c == NULL)
        return;
    c->body = on;
    c->body_bytes = c->mark_bytes = 0;
    c->mark_ns = now_ns;
}

void deadline_body_bytes(conn_deadline *c, uint64_t len)
{
    if (c != NULL)
        c->body_bytes += len;
}

/* Shut c down from here, once: libmicrohttpd sees the hang-up and closes
 * it (never close() a socket it owns). */
static void shut(conn_deadline *c)
{
    c->deadline_ns = 0;
    if (c->shed)
        return;
    idle_unlink(c);
    uncount(c);
    c->shed = 1;
    shutdown(c->fd, SHUT_RDWR);
}

/* 1 when bytes wait unread on fd: a request has arrived and
 * libmicrohttpd has not read it yet. */
static int has_input(int fd)
{
    int unread;
    return ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

/* The oldest idle connection other than fresh, idle since before
 * now_ns - DEADLINE_SHED_GRACE_NS, from fresh's address when same_addr;
 * NULL when there is none. One whose request is waiting to be read is
 * passed over (an attacker gains nothing: libmicrohttpd reads the bytes
 * at its next run, and then it is idle again). */
static conn_deadline *oldest_idle(deadline_list *l, const conn_deadline *fresh, int same_addr,
                                  uint64_t now_ns)
{
    for (conn_deadline *c = l->idle.idle_next; c != &l->idle; c = c->idle_next) {
        if (c->idle_ns + DEADLINE_SHED_GRACE_NS > now_ns)
            return NULL;                /* the rest are younger still */
        if (c != fresh && (!same_addr || (c->has_addr && memcmp(c->addr, fresh->addr, 16) == 0)) &&
            !has_input(c->fd))
            return c;
    }
    return NULL;
}

int deadline_crowded(const deadline_list *l)
{
    unsigned high = deadline_high_water(l->max_open);
    return high > 0 && l->open > high;
}

unsigned deadline_shed(deadline_list *l, const conn_deadline *fresh, uint64_t now_ns)
{
    unsigned n = 0, high_addr = deadline_high_water(l->max_per_addr);
    conn_deadline *c;
    while (deadline_crowded(l) && (c = oldest_idle(l, fresh, 0, now_ns)) != NULL) {
        shut(c);
        n++;
    }
    while (fresh != NULL && fresh->has_addr && high_addr > 0 &&
           addr_count(l, fresh->addr) > high_addr &&
           (c = oldest_idle(l, fresh, 1, now_ns)) != NULL) {
        shut(c);
        n++;
    }
    return n;
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

/* 1 when c's body fell behind the minimum rate over a whole window;
 * else starts a new window when the last one is over. */
static int too_slow(const deadline_list *l, conn_deadline *c, uint64_t now_ns)
{
    if (l->min_rate == 0 || !c->body || c->busy || now_ns - c->mark_ns < l->rate_window_ns)
        return 0;
    uint64_t want = l->min_rate * (l->rate_window_ns / 1000000000u);
    if (c->body_bytes - c->mark_bytes < want)
        return 1;
    c->mark_bytes = c->body_bytes;
    c->mark_ns = now_ns;
    return 0;
}

unsigned deadline_sweep(deadline_list *l, uint64_t now_ns)
{
    unsigned n = 0;
    for (conn_deadline *c = l->head.next; c != &l->head; c = c->next) {
        if (c->busy || c->deadline_ns == 0)
            continue;
        /* A client gone while idle between requests counts as gone too:
         * libmicrohttpd (epoll, edge-triggered) misses the close that
         * arrives with the end of a request, and the socket sat in
         * CLOSE-WAIT until the timeout (tests/soak, slowloris). */
        if (now_ns < c->deadline_ns && !((c->receiving || c->idle) && peer_gone(c->fd)) &&
            !too_slow(l, c, now_ns))
            continue;
        shut(c);
        n++;
    }
    return n;
}
