/* http.h - the libmicrohttpd front end of lossd, driven by the libuv loop. */
#ifndef LOSSD_HTTP_H
#define LOSSD_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "job.h"
#include "metrics.h"

typedef struct http_server http_server;

/* A non-blocking socket listening on cfg->addr, with the bound port in
 * *port (the real one when cfg asked for port 0), for every server of the
 * process to share; the caller closes it after the last server is
 * destroyed. -1 with a message in err (port in use, ...). */
int http_listen(const config *cfg, unsigned *port, char *err, size_t errlen);

/* Serve connections of listen_fd on loop (the loop thread runs every
 * handler). Several servers, each on its own loop thread, may share one
 * socket. jobs, metrics and cfg must outlive the server. Returns NULL
 * with a message in err when the daemon cannot start. */
http_server *http_server_create(uv_loop_t *loop, const config *cfg, job_pool *jobs,
                                metrics *m, int listen_fd, char *err, size_t errlen);

/* The bound port (the real one when cfg asked for port 0). */
unsigned http_server_port(const http_server *s);

/* Requests begun (first handler call) and not yet completed. Any thread. */
unsigned http_server_inflight(const http_server *s);

/* Start a graceful stop: /readyz and new scoring requests answer 503,
 * every response closes its connection, no new connection is accepted
 * (the caller closes the socket once every server sharing it drained).
 * Requests in flight go on. Loop thread; idempotent. */
void http_server_drain(http_server *s);

/* Every server of the process answers as draining (the first part of
 * http_server_drain()) from now on, at once. Any thread. */
void http_drain_all(void);

/* Stop the daemon and close the loop handles; memory is freed once the
 * loop has run the close callbacks. Only call with no request in flight
 * (libmicrohttpd must not be stopped with suspended connections).
 * NULL is a no-op. */
void http_server_destroy(http_server *s);

#endif
