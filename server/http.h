/* http.h - the libmicrohttpd front end of lossd, driven by the libuv loop. */
#ifndef LOSSD_HTTP_H
#define LOSSD_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "job.h"
#include "metrics.h"

typedef struct http_server http_server;

/* Listen on cfg->addr and serve on loop (the loop thread runs every
 * handler). jobs, metrics and cfg must outlive the server. Returns NULL
 * with a message in err when the daemon cannot start (port in use, ...). */
http_server *http_server_create(uv_loop_t *loop, const config *cfg, job_pool *jobs,
                                metrics *m, char *err, size_t errlen);

/* The bound port (the real one when cfg asked for port 0). */
unsigned http_server_port(const http_server *s);

/* Requests begun (first handler call) and not yet completed. */
unsigned http_server_inflight(const http_server *s);

/* Start a graceful stop: /readyz and new scoring requests answer 503,
 * every response closes its connection, the listening socket is closed.
 * Requests in flight go on. Idempotent. */
void http_server_drain(http_server *s);

/* Stop the daemon and close the loop handles; memory is freed once the
 * loop has run the close callbacks. Only call with no request in flight
 * (libmicrohttpd must not be stopped with suspended connections).
 * NULL is a no-op. */
void http_server_destroy(http_server *s);

#endif
