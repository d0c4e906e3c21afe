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
 * This file is the connection lifecycle: the URI log callback (a request
 * begins: its state, so that errors libmicrohttpd answers by itself are
 * logged and counted too), the first handler call of each request (its
 * request id, route and the header checks of httpcheck.h), the dispatch
 * of later calls to score.c or get.c (see request.h for the phases),
 * NOTIFY_COMPLETED (log, count, free), connections opened and closed
 * (deadline.h: limits and idle shedding; the lingering close) and the
 * glue between libmicrohttpd and the loop.
 *
 * Errors libmicrohttpd answers itself (400 for a header line without a
 * colon, 413 for a Content-Length or chunk size that overflows, 414, 431,
 * 505) keep its HTML body: 0.9.75 has no hook to replace them or add a
 * header (X-Request-Id). They are logged and counted with the status it
 * queued, under the method "-" (it is not exposed before the headers). */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "httpcheck.h"
#include "request.h"

/* Per-connection memory: request line, headers and read buffer.
 * libmicrohttpd clears the pool between requests, so a big pool costs
 * every request (a 256 KiB pool was 26% of the CPU profile of small
 * requests); 32 KiB is MHD's default and the same in bench/bare_mhd.c. */
#define CONN_MEMORY_LIMIT ((size_t)32 * 1024)

/* Pending connections the kernel queues for accept() (SOMAXCONN caps it,
 * 4096 on Linux 5.4 and later). When it is full the kernel drops SYNs and
 * a client waits a second for its retry, so it is deep enough for bursts
 * of connections from an attacker while idle ones are being shed. */
#define LISTEN_BACKLOG 4096

/* libmicrohttpd's unescape callback: httpcheck_unescape(). */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *url)
{
    (void)cls;
    (void)conn;
    return httpcheck_unescape(url);
}

/* The headers httpcheck_framing_error() and httpcheck_host_error() look
 * at, and the section walk of httpcheck.h, in one pass over the request's
 * headers; bad is the first fault found. */
typedef struct checked_headers {
    header_count length, coding, host;
    httpcheck_section section;
    const char *bad;
} checked_headers;

static enum MHD_Result check_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    checked_headers *h = cls;
    (void)kind;
    if (value == NULL) {
        value = "";
        value_size = 0;
    }
    h->bad = httpcheck_section_field(&h->section, key, key_size, value, value_size);
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        httpcheck_count(&h->length, value);
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        httpcheck_count(&h->coding, value);
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        httpcheck_count(&h->host, value);
    return h->bad == NULL ? MHD_YES : MHD_NO;
}

/* Why the request's header section is not one lossd accepts (RFC 9112),
 * or NULL; h gets its framing headers. method and version are
 * libmicrohttpd's pointers into its read buffer, where the section
 * starts and the request line ends. */
static const char *check_headers(struct MHD_Connection *conn, const char *method,
                                 const char *version, checked_headers *h)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    httpcheck_section_start(&h->section, method, ci ? ci->header_size : 0,
                            version + strlen(version));
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, check_header, h);
    if (h->bad == NULL)
        h->bad = httpcheck_section_end(&h->section);
    if (h->bad == NULL)
        h->bad = httpcheck_framing_error(&h->coding, &h->length);
    return h->bad;
}

/* The path of a request target as logs and metrics show it. */
static void show_path(char *dst, size_t size, const char *url)
{
    httpcheck_safe_path(dst, size, httpcheck_origin_path(url));
}

/* URI log callback: a request line has been read. Its state starts here
 * (the first handler call fills it in), so that a request libmicrohttpd
 * refuses by itself still completes with state to log and count. Its
 * connection is no longer idle. NULL when out of memory. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server *s = cls;
    deadline_idle(http_conn_deadline(conn), 0, 0);
    http_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->srv = s;
    r->conn = conn;
    r->route = -1;
    r->start_ns = uv_hrtime();
    httpcheck_copy(r->method, sizeof r->method, "-");
    char target[sizeof r->path];
    httpcheck_copy(target, sizeof target, uri ? uri : "");
    target[strcspn(target, "?")] = '\0';
    httpcheck_unescape(target);
    show_path(r->path, sizeof r->path, target);
    reqid_generate(r->id);
    return r;
}

/* First handler call: state, request id, route. A response queued now
 * (before the body) makes libmicrohttpd close the connection after it,
 * so answers that do not depend on a body wait for the final call when
 * there is none, and keep-alive works for probes and scrapes. */
static enum MHD_Result begin(http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, void **req_cls)
{
    http_req *r = *req_cls;
    if (r == NULL && (r = on_uri(s, url, conn)) == NULL)
        return MHD_NO;
    *req_cls = r;
    r->begun = 1;
    http_request_begins();
    r->body_cap = s->cfg->max_body + DISCARD_SLACK;
    httpcheck_copy(r->method, sizeof r->method, method);
    show_path(r->path, sizeof r->path, url);
    url = httpcheck_origin_path(url);
    /* CORS: "*" on every answer (the same for every Origin, so a cache
     * may keep it); else only a listed origin, echoed. */
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    r->cors_origin = s->cfg->cors_any ? "*" : config_cors_allows(s->cfg, origin) ? origin : NULL;
    const char *client_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (reqid_is_sane(client_id))
        reqid_assign(client_id, r->id);
    r->route = route_match(method, url, &r->route_status, r->allow, sizeof r->allow);
    r->v2 = route_is_v2(url);

    checked_headers h;
    memset(&h, 0, sizeof h);
    const char *bad = check_headers(conn, method, version, &h);
    const char *cl = h.length.first;               /* the first Content-Length, or NULL */
    r->expects_body = h.coding.count > 0 || (cl != NULL && strcmp(cl, "0") != 0);
    if (bad == NULL)
        bad = httpcheck_host_error(version, &h.host);
    if (bad != NULL)
        return respond_error(r, 400, "BadRequest", NULL, "%s", bad);
    if (r->route_status == 200 && (route_table[r->route].methods & ROUTE_POST))
        return score_begin(r, &route_table[r->route], cl);
    if (r->expects_body)
        return get_answer(r);
    r->phase = PHASE_DEFERRED;
    return MHD_YES;
}

/* The first handler call, and what it means for the connection: a
 * response queued before a body was read closes the connection with the
 * body unread (the lingering close drains it); otherwise the body's rate
 * is watched from now on. */
static enum MHD_Result first_call(http_server *s, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, void **req_cls)
{
    enum MHD_Result rc = begin(s, conn, url, method, version, req_cls);
    http_req *r = *req_cls;
    conn_deadline *dl = http_conn_deadline(conn);
    if (r == NULL || !r->expects_body || dl == NULL)
        return rc;
    if (r->status != 0)
        dl->linger = 1;
    else
        deadline_body(dl, 1, uv_hrtime());
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    http_req *r = *req_cls;
    if (r == NULL || !r->begun)
        return first_call(cls, conn, url, method, version, req_cls);
    if (*upload_data_size != 0) {
        conn_deadline *dl = http_conn_deadline(conn);
        if (r->bytes_in == 0)   /* the sweep watches for clients that give up */
            deadline_receiving(dl, 1);
        deadline_body_bytes(dl, *upload_data_size);
        int rc = score_feed(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    switch (r->phase) {
    case PHASE_BODY:
        deadline_receiving(http_conn_deadline(conn), 0);
        deadline_body(http_conn_deadline(conn), 0, 0);
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

/* ---- errors libmicrohttpd answers itself ----
 *
 * Each one is announced by its log message with the status. When the URI
 * log callback had run for the request, NOTIFY_COMPLETED follows (once the
 * answer is sent) with its state, path and id: it takes the error over
 * (mhd_error_taken) and logs it. When not (414, 505, a bad version: the
 * request line was not finished), nothing else ever comes, so the sweep
 * logs and counts what no completion took within a second or two. */

#define MHD_ERROR_PREFIX "Error processing request (HTTP response code is %u"

static void mhd_error_seen(http_server *s, int status)
{
    size_t n = sizeof s->mhd_errors / sizeof s->mhd_errors[0];
    for (size_t i = 0; i < n; i++) {
        if (s->mhd_errors[i].status == status ||
            (s->mhd_errors[i].fresh == 0 && s->mhd_errors[i].old == 0)) {
            s->mhd_errors[i].status = status;
            s->mhd_errors[i].fresh++;
            return;
        }
    }
}

/* 1 when an announced error of this status was waiting (now taken). */
static int mhd_error_taken(http_server *s, int status)
{
    size_t n = sizeof s->mhd_errors / sizeof s->mhd_errors[0];
    for (size_t i = 0; i < n; i++) {
        if (s->mhd_errors[i].status != status)
            continue;
        if (s->mhd_errors[i].old > 0) {
            s->mhd_errors[i].old--;
            return 1;
        }
        if (s->mhd_errors[i].fresh > 0) {
            s->mhd_errors[i].fresh--;
            return 1;
        }
    }
    return 0;
}

/* Once a second: log and count the errors announced a second ago or
 * more that no completion took. */
static void mhd_errors_flush(http_server *s)
{
    size_t n = sizeof s->mhd_errors / sizeof s->mhd_errors[0];
    for (size_t i = 0; i < n; i++) {
        for (; s->mhd_errors[i].old > 0; s->mhd_errors[i].old--) {
            access_entry e = {"-", "-", s->mhd_errors[i].status, 0, 0, 0, "-"};
            accesslog_write(s->cfg->log_format, &e);
            metrics_request(s->metrics, route_count, s->mhd_errors[i].status, 0);
        }
        s->mhd_errors[i].old = s->mhd_errors[i].fresh;
        s->mhd_errors[i].fresh = 0;
    }
    accesslog_flush();
}

/* ---- requests completed ---- */

/* The status to log and count for r: the one queued, 0 when its
 * response was not delivered (the client went away, a timeout, the
 * connection closed in mid-body); for a request libmicrohttpd refused
 * before the first handler call, the status it queued. */
static int final_status(const http_req *r, struct MHD_Connection *conn,
                        enum MHD_RequestTerminationCode toe)
{
    if (r->begun)
        return toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
    return ci != NULL ? (int)ci->http_status : 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *req_cls;
    conn_deadline *dl = http_conn_deadline(conn);
    deadline_busy(&s->deadlines, dl, 0, uv_hrtime());   /* next request */
    deadline_receiving(dl, 0);
    deadline_body(dl, 0, 0);
    deadline_idle(dl, 1, uv_hrtime());
    if (r == NULL)
        return;
    *req_cls = NULL;
    int status = final_status(r, conn, toe);
    if (!r->begun && status != 0) {
        if (dl != NULL)
            dl->linger = 1;                 /* it closes, maybe with a body unread */
        if (!mhd_error_taken(s, status))
            goto done;                      /* the sweep logged it already */
    }
    double seconds = (double)(uv_hrtime() - r->start_ns) / 1e9;
    access_entry e = {r->method, r->path, status, r->bytes_in, r->bytes_out, seconds, r->id};
    accesslog_write(s->cfg->log_format, &e);
    metrics_request(s->metrics, r->route < 0 ? route_count : (size_t)r->route, status, seconds);
done:
    if (r->begun) {
        score_free(r);
        http_request_ends();
    }
    free(r);
}

/* Connections opened and closed: their state (deadline.h). A new one may
 * make the oldest idle ones give way. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    conn_deadline *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c != NULL && c->linger && !c->shed)
            linger_start(s, c->fd);
        deadline_close(c);
        s->closed++;
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->opened++;
    c = ci ? deadline_open(&s->deadlines, ci->connect_fd, uv_hrtime()) : NULL;
    *socket_context = c;
    if (c == NULL)
        return;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    deadline_set_addr(c, ci ? ci->client_addr : NULL);
    deadline_shed(&s->deadlines, c, uv_hrtime());
}

/* Once a second: how often libmicrohttpd's last message came again. */
static void mhd_repeats_flush(http_server *s)
{
    char line[128];
    if (s->mhd_repeats > 0) {
        snprintf(line, sizeof line, "libmicrohttpd: the message before came %u more times",
                 s->mhd_repeats);
        accesslog_event(s->cfg->log_format, line);
    }
    s->mhd_repeats = 0;
    s->mhd_last_fmt = NULL;
}

/* ---- the loop glue ---- */

static void on_timer(uv_timer_t *t);

/* While more connections are open than the high-water mark, idle ones
 * are shed as they pass the grace time: libmicrohttpd, at its limit,
 * accepts nothing, so no new connection would trigger it. */
#define CROWDED_CHECK_MS 20

/* MHD_run calls in a row while each accepts all it may. */
#define ACCEPT_RUNS 16

/* One MHD_run, then the next is scheduled: at once when connections
 * were closed in this one (libmicrohttpd at its limit listens again only
 * at the start of a run, and nothing else would wake it) or shed now,
 * else at MHD's timeout, or sooner while crowded. */
static void run_mhd(http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    s->closed = 0;
    /* libmicrohttpd accepts at most 11 connections per run: while a run
     * takes that many, run again at once rather than after a loop turn,
     * so that a flood of connections does not fill the listen backlog. */
    for (int i = 0; i < ACCEPT_RUNS; i++) {
        s->opened = 0;
        MHD_run(s->daemon);
        if (s->opened < 11)
            break;
    }
    accesslog_flush();
    int crowded = deadline_crowded(&s->deadlines);
    if ((crowded && deadline_shed(&s->deadlines, NULL, uv_hrtime()) > 0) || s->closed > 0) {
        uv_timer_start(&s->timer, on_timer, 0, 0);
        return;
    }
    int have = MHD_get_timeout(s->daemon, &ms) == MHD_YES;
    if (crowded && (!have || ms > CROWDED_CHECK_MS)) {
        ms = CROWDED_CHECK_MS;
        have = 1;
    }
    if (have)
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
    uint64_t now = uv_hrtime();
    if (deadline_sweep(&s->deadlines, now) > 0)
        run_mhd(s);                          /* let MHD see the shut-down sockets */
    linger_expire(s, now, 0);
    mhd_errors_flush(s);
    mhd_repeats_flush(s);
    http_idle_sweep();
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* libmicrohttpd's messages, as events: accesslog_event escapes what
 * they quote from requests (control bytes, invalid UTF-8). A message
 * that comes again within the second (an attack makes thousands of
 * "Server reached connection limit") is only counted. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    if (strncmp(fmt, MHD_ERROR_PREFIX, sizeof MHD_ERROR_PREFIX - 1) == 0) {
        va_list status_ap;
        va_copy(status_ap, ap);
        mhd_error_seen(s, (int)va_arg(status_ap, unsigned int));
        va_end(status_ap);
    }
    if (fmt == s->mhd_last_fmt) {
        s->mhd_repeats++;
        return;
    }
    mhd_repeats_flush(s);
    s->mhd_last_fmt = fmt;
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n')
        msg[--len] = '\0';
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

/* limit / fronts, rounded up (0 stays 0: no limit). */
static unsigned share(unsigned limit, unsigned fronts)
{
    return fronts > 1 ? (limit + fronts - 1) / fronts : limit;
}

/* MHD_OPTION_STRICT_FOR_CLIENT stays at 0: in 0.9.75 level 1 closes the
 * connection without an answer for a space in the target and answers a
 * missing Host with its own HTML 400, and only level -1 (sic) refuses
 * whitespace before a colon, with its HTML too. check_headers() makes
 * those checks and more, answered in JSON with X-Request-Id. */
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
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)share(cfg->max_connections, cfg->http_threads),
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned int)share(cfg->max_connections_per_ip, cfg->http_threads),
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
    if (deadline_list_limits(&s->deadlines, share(cfg->max_connections, cfg->http_threads),
                             share(cfg->max_connections_per_ip, cfg->http_threads),
                             cfg->min_body_rate) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail_daemon;
    }
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
    deadline_list_free(&s->deadlines);
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
    s->stopping = 1;
    MHD_quiesce_daemon(s->daemon);          /* MHD must not close the shared socket */
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    linger_expire(s, 0, 1);
    deadline_list_free(&s->deadlines);
    accesslog_flush();
}
