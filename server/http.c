/* http.c - the libmicrohttpd front end of lossd, driven by the libuv loop.
 *
 * Threading: libmicrohttpd runs in "external polling" mode with epoll,
 * driven by a libuv loop (uv_poll_t on MHD's epoll fd, a uv_timer_t for
 * MHD_get_timeout). One thread, the loop thread, runs every MHD callback
 * and every libuv callback of its server. We chose this over MHD's
 * internal polling thread because uv_queue_work() and the after-work
 * callbacks belong to the loop thread: with an internal MHD thread each
 * request would need a locked hand-off queue and a uv_async_t in both
 * directions. Here the handler queues the job directly, the job comes back
 * on the same thread, and MHD_resume_connection() wakes MHD through its
 * ITC, which sits in the epoll set we poll. The loss itself runs on the
 * libuv pool.
 *
 * lossd runs one such server per front-end thread (--http-threads, see
 * main.c), every one with its own daemon on the same listening socket
 * (http_listen()): whichever loop accepts a connection serves it. Reading
 * and decoding bodies is most of a small request's cost, and one loop
 * thread capped lossd at one core: N=32 x C=10 JSON requests went from
 * 47-55k to 80k+ req/s on 2 cores with two loops (bench/http_bench.sh).
 *
 * This file is the connection lifecycle: the first handler call of each
 * request (its state, request id, route and the header checks of
 * httpcheck.h), the dispatch of later calls to score.c or get.c (see
 * request.h for the phases), NOTIFY_COMPLETED (log, count, free) and the
 * glue between libmicrohttpd and the loop. */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "accesslog.h"
#include "httpcheck.h"
#include "request.h"

/* Per-connection memory: request line, headers and read buffer.
 * libmicrohttpd clears the pool between requests, so a big pool costs
 * every request (a 256 KiB pool was 26% of the CPU profile of small
 * requests); 32 KiB is MHD's default and the same in bench/bare_mhd.c. */
#define CONN_MEMORY_LIMIT ((size_t)32 * 1024)

/* Pending connections the kernel queues for accept() (SOMAXCONN caps it). */
#define LISTEN_BACKLOG 1024
/* libmicrohttpd's unescape callback: httpcheck_unescape(). */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *url)
{
    (void)cls;
    (void)conn;
    return httpcheck_unescape(url);
}

/* The headers httpcheck_framing_error() and httpcheck_host_error() look
 * at, in one walk over the request's headers. */
typedef struct checked_headers {
    header_count length, host;
} checked_headers;

static enum MHD_Result count_headers(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    checked_headers *h = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        httpcheck_count(&h->length, value);
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        httpcheck_count(&h->host, value);
    return MHD_YES;
}

/* First handler call: state, request id, route. A response queued now
 * (before the body) makes libmicrohttpd close the connection after it,
 * so answers that do not depend on a body wait for the final call when
 * there is none, and keep-alive works for probes and scrapes. */
static enum MHD_Result begin(http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, void **req_cls)
{
    http_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MHD_NO;
    *req_cls = r;
    http_request_begins();
    r->srv = s;
    r->conn = conn;
    r->start_ns = uv_hrtime();
    r->body_cap = s->cfg->max_body + DISCARD_SLACK;
    httpcheck_copy(r->method, sizeof r->method, method);
    url = httpcheck_origin_path(url);
    httpcheck_safe_path(r->path, sizeof r->path, url);
    /* CORS: "*" on every answer (the same for every Origin, so a cache
     * may keep it); else only a listed origin, echoed. */
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    r->cors_origin = s->cfg->cors_any ? "*" : config_cors_allows(s->cfg, origin) ? origin : NULL;
    reqid_assign(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"), r->id);
    r->route = route_match(method, url, &r->route_status, r->allow, sizeof r->allow);
    r->v2 = route_is_v2(url);

    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    checked_headers h = {{0, 0, NULL}, {0, 0, NULL}};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_headers, &h);
    const char *cl = h.length.first;               /* the first Content-Length, or NULL */
    const char *bad = httpcheck_framing_error(te, &h.length);
    if (bad == NULL)
        bad = httpcheck_host_error(version, &h.host);
    if (bad != NULL)
        return respond_error(r, 400, "BadRequest", NULL, "%s", bad);
    if (r->route_status == 200 && (route_table[r->route].methods & ROUTE_POST))
        return score_begin(r, &route_table[r->route], cl);
    if (te != NULL || (cl != NULL && strcmp(cl, "0") != 0))   /* a body follows */
        return get_answer(r);
    r->phase = PHASE_DEFERRED;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    http_req *r = *req_cls;
    if (r == NULL)
        return begin(cls, conn, url, method, version, req_cls);
    if (*upload_data_size != 0) {
        if (r->bytes_in == 0)   /* the sweep watches for clients that give up */
            deadline_receiving(http_conn_deadline(conn), 1);
        int rc = score_feed(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    switch (r->phase) {
    case PHASE_BODY:
        deadline_receiving(http_conn_deadline(conn), 0);
        return score_finish(r);
    case PHASE_DEFERRED:
        return get_answer(r);
    case PHASE_READY:
        return score_answer(r);
    case PHASE_QUEUED:
    case PHASE_ANSWERED:
        break;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server *s = cls;
    http_req *r = *req_cls;
    conn_deadline *dl = http_conn_deadline(conn);
    deadline_busy(&s->deadlines, dl, 0, uv_hrtime());   /* next request */
    deadline_receiving(dl, 0);
    if (r == NULL)
        return;
    *req_cls = NULL;
    double seconds = (double)(uv_hrtime() - r->start_ns) / 1e9;
    access_entry e = {r->method, r->path, r->status, r->bytes_in, r->bytes_out,
                      seconds, r->id};
    accesslog_write(s->cfg->log_format, &e);
    if (r->status != 0)
        metrics_request(s->metrics, r->route < 0 ? route_count : (size_t)r->route,
                        r->status, seconds);
    score_free(r);
    free(r);
    http_request_ends();
}

/* Connections opened and closed: their deadlines (deadline.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        deadline_close(*socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = ci ? deadline_open(&s->deadlines, ci->connect_fd, uv_hrtime()) : NULL;
}

/* ---- the loop glue ---- */

static void on_timer(uv_timer_t *t);

static void run_mhd(http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    MHD_run(s->daemon);
    accesslog_flush();
    if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_sweep(uv_timer_t *t)
{
    http_server *s = t->data;
    if (deadline_sweep(&s->deadlines, uv_hrtime()) > 0)
        run_mhd(s);                          /* let MHD see the shut-down sockets */
    http_idle_sweep();
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    char line[420];
    snprintf(line, sizeof line, "libmicrohttpd: %s", msg);
    accesslog_event(s->cfg->log_format, line);
}

int http_listen(const config *cfg, unsigned *port, char *err, size_t errlen)
{
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    int one = 1;
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (cfg->addr.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static struct MHD_Daemon *start_daemon(http_server *s, int listen_fd)
{
    const config *cfg = s->cfg;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (cfg->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
                            MHD_OPTION_END);
}

http_server *http_server_create(uv_loop_t *loop, const config *cfg, job_pool *jobs,
                                metrics *m, int listen_fd, char *err, size_t errlen)
{
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = cfg;
    s->jobs = jobs;
    s->metrics = m;
    deadline_list_init(&s->deadlines, (uint64_t)cfg->timeout * 1000000000u);
    errno = 0;
    s->daemon = start_daemon(s, listen_fd);
    if (s->daemon == NULL) {
        snprintf(err, errlen, "cannot serve on %s: %s", cfg->listen,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        goto fail_daemon;
    }
    const union MHD_DaemonInfo *efd = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (efd == NULL) {
        snprintf(err, errlen, "libmicrohttpd gives no epoll fd");
        goto fail_info;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    if (uv_poll_init(loop, &s->poll, efd->epoll_fd) != 0) {
        snprintf(err, errlen, "cannot poll the libmicrohttpd epoll fd");
        goto fail_info;
    }
    uv_timer_init(loop, &s->timer);
    s->on_timer = on_timer;
    uv_timer_init(loop, &s->sweep);
    s->poll.data = s;
    s->timer.data = s;
    s->sweep.data = s;
    s->handles_open = 3;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_timer_start(&s->timer, on_timer, 0, 0);
    uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
    return s;

fail_info:
    MHD_quiesce_daemon(s->daemon);          /* the socket is the caller's */
    MHD_stop_daemon(s->daemon);
fail_daemon:
    free(s);
    return NULL;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_drain(http_server *s)
{
    http_drain_all();
    if (s->quiesced)
        return;
    s->quiesced = 1;
    /* MHD stops polling the listening socket; it stays open (the other
     * fronts share it) until the caller closes it. */
    MHD_quiesce_daemon(s->daemon);
}

static void on_handle_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    if (--s->handles_open == 0)
        free(s);
}

void http_server_destroy(http_server *s)
{
    if (s == NULL)
        return;
    /* Stop polling the epoll fd before MHD closes it. */
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    MHD_quiesce_daemon(s->daemon);          /* MHD must not close the shared socket */
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    accesslog_flush();
}
