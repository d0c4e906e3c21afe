/* deadline.h - per-connection state of one front end: a time limit per
 * request, a minimum body rate, and room kept for new connections by
 * shedding idle ones.
 *
 * libmicrohttpd's connection timeout restarts at every byte received, so
 * a client sending one byte a second keeps a connection forever. Here each
 * connection must complete a request within the limit of its opening or of
 * its previous request's end; a connection past that is shut down (the
 * event loop then sees it close). Time spent while the connection's job
 * runs on the pool does not count. Everything runs on the loop thread.
 *
 * A connection whose client closed in the middle of a body is shut down
 * too. libmicrohttpd 0.9.75 (epoll) stops reading after a read shorter
 * than asked, so when the rest of a body and the close arrive together it
 * never sees the close: the request stayed in flight until the limit, and
 * a SIGTERM then waited out the whole drain timeout.
 *
 * Connections: libmicrohttpd only refuses connections over its limit (it
 * stops accepting, and new clients wait in the backlog), and it has no
 * API that lists connections. So the list knows which connections are
 * idle (no request begun: just opened, or between keep-alive requests),
 * oldest first, and how many each client address holds; near the limits
 * (deadline_shed) the oldest idle ones are shut down to make room, so
 * that thousands of idle sockets cannot keep honest requests out. */
#ifndef LOSSD_DEADLINE_H
#define LOSSD_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct deadline_list deadline_list;

typedef struct conn_deadline {
    int fd;
    int busy;                      /* a job runs for it: no deadline */
    int receiving;                 /* a request body is being read */
    uint64_t deadline_ns;
    struct conn_deadline *prev, *next;
    deadline_list *list;
    struct conn_deadline *idle_prev, *idle_next;   /* in list->idle while idle */
    int idle;                      /* no request begun */
    uint64_t idle_ns;              /* since when */
    int shed;                      /* shut down from here: its close is pending */
    int has_addr;                  /* counted under addr (deadline_set_addr) */
    unsigned char addr[16];        /* client address, IPv4 as ::ffff:a.b.c.d */
    int body;                      /* a body is expected: its rate is watched */
    uint64_t body_bytes;           /* received so far */
    uint64_t mark_bytes, mark_ns;  /* at the start of the current rate window */
    int linger;                    /* for http.c: drain the socket at its close */
} conn_deadline;

/* Connections of one client address on one list. */
typedef struct deadline_addr {
    unsigned char key[16];
    unsigned count;                /* 0: free slot */
} deadline_addr;

struct deadline_list {
    conn_deadline head;            /* sentinel of a circular list */
    uint64_t limit_ns;
    conn_deadline idle;            /* sentinel: idle connections, oldest first */
    unsigned open;                 /* connections tracked and not shed */
    unsigned max_open;             /* shed idle ones past this (0: never) */
    unsigned max_per_addr;         /* per client address (0: no limit) */
    uint64_t min_rate;             /* body bytes per second (0: no minimum) */
    uint64_t rate_window_ns;
    deadline_addr *addrs;          /* open addressing, addr_cap slots */
    size_t addr_cap;
};

/* An idle connection younger than this is never shed: a client's request
 * may come some time after its connection is accepted, and a flood of new
 * connections from elsewhere must not shed it in between. */
#define DEADLINE_SHED_GRACE_NS (UINT64_C(20) * 1000000u)

/* How long a body may fall behind the minimum rate before it is cut. */
#define DEADLINE_RATE_WINDOW_NS (UINT64_C(5) * 1000000000u)

void deadline_list_init(deadline_list *l, uint64_t limit_ns);

/* Shed idle connections when more than max_open are open, or more than
 * max_per_addr from one client address (0: no such limit); a body slower
 * than min_rate bytes per second over DEADLINE_RATE_WINDOW_NS is cut (0:
 * no minimum). Call once, before the first deadline_open. 0, or -1 when
 * out of memory (then no per-address limit). */
int deadline_list_limits(deadline_list *l, unsigned max_open, unsigned max_per_addr,
                         uint64_t min_rate);

/* Free what deadline_list_limits allocated; every connection must be
 * closed. NULL is a no-op. */
void deadline_list_free(deadline_list *l);

/* Track socket fd from now, idle; NULL when out of memory (then untracked). */
conn_deadline *deadline_open(deadline_list *l, int fd, uint64_t now_ns);

/* Count c under its client address sa (IPv4 or IPv6; others are not
 * counted). NULL c is a no-op. */
void deadline_set_addr(conn_deadline *c, const struct sockaddr *sa);

/* Stop tracking and free c; NULL is a no-op. */
void deadline_close(conn_deadline *c);

/* Mark c busy (a job runs) or done: done restarts its clock at now_ns for
 * the connection's next request. NULL is a no-op. */
void deadline_busy(deadline_list *l, conn_deadline *c, int busy, uint64_t now_ns);

/* Mark c as reading a request body or not. NULL is a no-op. */
void deadline_receiving(conn_deadline *c, int receiving);

/* A request began on c (idle = 0) or ended at now_ns (idle = 1: c waits
 * for the next one and may be shed). NULL is a no-op. */
void deadline_idle(conn_deadline *c, int idle, uint64_t now_ns);

/* A body is expected on c from now_ns (on = 1), or no longer (on = 0).
 * NULL is a no-op. */
void deadline_body(conn_deadline *c, int on, uint64_t now_ns);

/* len more body bytes arrived on c. NULL is a no-op. */
void deadline_body_bytes(conn_deadline *c, uint64_t len);

/* Make room: shut down the oldest idle connections, idle for at least
 * DEADLINE_SHED_GRACE_NS and with no request waiting unread, while more
 * than the high-water mark of max_open are open; and when fresh (a
 * connection just opened, never shed itself; may be NULL) was counted,
 * while more than that of max_per_addr are open from its address.
 * Returns how many were shut down. */
unsigned deadline_shed(deadline_list *l, const conn_deadline *fresh, uint64_t now_ns);

/* 1 when more connections are open than the high-water mark of
 * max_open: deadline_shed should run again soon. */
int deadline_crowded(const deadline_list *l);

/* Shut down every connection past its deadline and not busy, every one
 * receiving a body whose client has closed its side with nothing left
 * unread (the body can never be completed), and every one whose body
 * fell behind the minimum rate for a whole window; returns how many.
 * Each is reported once (its deadline is then cleared). */
unsigned deadline_sweep(deadline_list *l, uint64_t now_ns);

/* Where shedding starts for a limit: a margin below it, for the
 * connections libmicrohttpd accepts in one run before their shutdown is
 * seen. 0 for no limit. */
unsigned deadline_high_water(unsigned limit);

#endif
