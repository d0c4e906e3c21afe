/* deadline.h - a time limit per request on every connection, against
 * clients that trickle bytes to hold connections open (slowloris).
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
 * a SIGTERM then waited out the whole drain timeout. */
#ifndef LOSSD_DEADLINE_H
#define LOSSD_DEADLINE_H

#include <stdint.h>

typedef struct conn_deadline {
    int fd;
    int busy;                      /* a job runs for it: no deadline */
    int receiving;                 /* a request body is being read */
    uint64_t deadline_ns;
    struct conn_deadline *prev, *next;
} conn_deadline;

typedef struct deadline_list {
    conn_deadline head;            /* sentinel of a circular list */
    uint64_t limit_ns;
} deadline_list;

void deadline_list_init(deadline_list *l, uint64_t limit_ns);

/* Track socket fd from now; NULL when out of memory (then untracked). */
conn_deadline *deadline_open(deadline_list *l, int fd, uint64_t now_ns);

/* Stop tracking and free c; NULL is a no-op. */
void deadline_close(conn_deadline *c);

/* Mark c busy (a job runs) or done: done restarts its clock at now_ns for
 * the connection's next request. NULL is a no-op. */
void deadline_busy(deadline_list *l, conn_deadline *c, int busy, uint64_t now_ns);

/* Mark c as reading a request body or not. NULL is a no-op. */
void deadline_receiving(conn_deadline *c, int receiving);

/* Shut down every connection past its deadline and not busy, and every
 * one receiving a body whose client has closed its side with nothing
 * left unread (the body can never be completed); returns how many. Each
 * is reported once (its deadline is then cleared). */
unsigned deadline_sweep(deadline_list *l, uint64_t now_ns);

#endif
