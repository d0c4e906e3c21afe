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

/* Requests begun (first handler call) and not yet completed, in every
 * server of the process. Any thread. */
unsigned http_inflight(void);

/* Start a graceful stop: from now on every server of the process answers
 * /readyz and new scoring requests with 503 and closes each connection
 * after its response; s accepts no new connection (the caller closes the
 * socket once every server sharing it has drained). Requests in flight
 * go on. On s's loop thread; idempotent. */
void http_server_drain(http_server *s);

/* Stop the daemon and close the loop handles; memory is freed once the
 * loop has run the close callbacks. Only call with no request in flight
 * (libmicrohttpd must not be stopped with suspended connections).
 * NULL is a no-op. */
void http_server_destroy(http_server *s);

#endif
