/* main.c - lossd: configuration, the libuv loop, signals and graceful shutdown.
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT, every request in
 * flight answered), 1 when the drain timeout passes with requests still
 * running (they are abandoned: the process exits at once, since a
 * computing job cannot be cancelled) or on a second signal during the
 * drain, or when the listening socket cannot be opened; 2 for a bad
 * configuration (flags, environment, LOSSD_SIMD). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "accesslog.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "metrics.h"
#include "mml.h"
#include "route.h"

/* How often the drain checks whether the last request has completed. */
#define DRAIN_POLL_MS 20

#define MAX_FRONTS 64

/* Commands the main thread sends a front-end thread (bits of front.want). */
enum { FRONT_DRAIN = 1, FRONT_STOP = 2, FRONT_DRAINED = 4 };

typedef struct app app;

/* One front end: an event loop with its own libmicrohttpd daemon on the
 * shared listening socket and a job pool forked from the main one. Front
 * 0 runs on the main loop (with the signals); the others each on a thread
 * of their own, told to drain and stop through an async handle. */
typedef struct front {
    app *a;
    uv_loop_t own_loop;
    uv_loop_t *loop;
    job_pool *jobs;
    http_server *http;
    uv_thread_t tid;
    uv_async_t wake;
    atomic_int want;
    uv_sem_t started;
    char err[256];
} front;

struct app {
    uv_loop_t loop;
    config cfg;
    metrics *metrics;
    job_pool *jobs;
    int listen_fd;
    atomic_uint quiesced;           /* fronts no longer accepting, see front_quiesce() */
    atomic_int socket_closed;
    unsigned port;
    front fronts[MAX_FRONTS];
    unsigned nfronts;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_poll, drain_deadline;
    int draining;
};

static void log_event(const app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_event(const app *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    accesslog_event(a->cfg.log_format, msg);
}

/* ---- front-end threads ---- */

/* Close the listening socket, once (any thread). */
static void close_socket(app *a)
{
    if (atomic_exchange(&a->socket_closed, 1) == 0)
        close(a->listen_fd);
}

/* Stop accepting on front f's loop. The last front to stop closes the
 * socket, so new connections are refused at once rather than queued in
 * the backlog for nobody; before that a daemon may still poll it (and
 * closing a socket in its epoll set would make libmicrohttpd fail). */
static void front_quiesce(front *f)
{
    app *a = f->a;
    http_server_drain(f->http);
    if (atomic_fetch_add(&a->quiesced, 1) + 1 == a->nfronts)
        close_socket(a);
}

static void on_front_wake(uv_async_t *h)
{
    front *f = h->data;
    int want = atomic_load(&f->want);
    if ((want & FRONT_DRAIN) && !(atomic_fetch_or(&f->want, FRONT_DRAINED) & FRONT_DRAINED))
        front_quiesce(f);
    if (want & FRONT_STOP) {
        http_server_destroy(f->http);
        f->http = NULL;
        uv_close((uv_handle_t *)&f->wake, NULL);
    }
}

static void front_main(void *arg)
{
    front *f = arg;
    app *a = f->a;
    int ok = 0;
    if (uv_loop_init(&f->own_loop) == 0) {
        f->loop = &f->own_loop;
        f->jobs = job_pool_fork(a->jobs, f->loop);
        if (f->jobs == NULL)
            snprintf(f->err, sizeof f->err, "out of memory");
        else
            f->http = http_server_create(f->loop, &a->cfg, f->jobs, a->metrics, a->listen_fd,
                                         f->err, sizeof f->err);
        ok = f->http != NULL && uv_async_init(f->loop, &f->wake, on_front_wake) == 0;
    } else {
        snprintf(f->err, sizeof f->err, "cannot start an event loop");
    }
    if (!ok) {
        http_server_destroy(f->http);
        f->http = NULL;
    }
    f->wake.data = f;
    uv_sem_post(&f->started);
    if (ok)
        uv_run(f->loop, UV_RUN_DEFAULT);
    if (f->loop != NULL) {
        uv_run(f->loop, UV_RUN_NOWAIT);        /* close callbacks */
        uv_loop_close(f->loop);
    }
    job_pool_destroy(f->jobs);
}

/* Start fronts 1..n-1 (front 0 is the main loop's). 0, or -1 with the
 * message in err. */
static int start_fronts(app *a, char *err, size_t errlen)
{
    for (unsigned i = 1; i < a->cfg.http_threads; i++) {
        front *f = &a->fronts[i];
        f->a = a;
        atomic_init(&f->want, 0);
        if (uv_sem_init(&f->started, 0) != 0) {
            snprintf(err, errlen, "cannot start thread %u", i);
            return -1;
        }
        if (uv_thread_create(&f->tid, front_main, f) != 0) {
            uv_sem_destroy(&f->started);
            snprintf(err, errlen, "cannot start thread %u", i);
            return -1;
        }
        uv_sem_wait(&f->started);
        uv_sem_destroy(&f->started);
        a->nfronts = i + 1;
        if (f->http == NULL) {
            snprintf(err, errlen, "%s", f->err);
            return -1;
        }
    }
    return 0;
}

static void tell_fronts(app *a, int what)
{
    for (unsigned i = 1; i < a->nfronts; i++) {
        front *f = &a->fronts[i];
        if (f->http == NULL && what == FRONT_STOP) {
            uv_thread_join(&f->tid);             /* it never ran its loop */
            continue;
        }
        atomic_fetch_or(&f->want, what);
        uv_async_send(&f->wake);
        if (what == FRONT_STOP)
            uv_thread_join(&f->tid);
    }
}

/* ---- shutdown ---- */

static void stop_everything(app *a)
{
    tell_fronts(a, FRONT_STOP);
    http_server_destroy(a->fronts[0].http);
    a->fronts[0].http = NULL;
    close_socket(a);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->drain_poll, NULL);
    uv_close((uv_handle_t *)&a->drain_deadline, NULL);
}

static void on_drain_poll(uv_timer_t *t)
{
    app *a = t->data;
    if (atomic_load(&a->quiesced) != a->nfronts || http_inflight() != 0 ||
        job_pool_active(a->jobs) != 0)
        return;
    log_event(a, "drained: every request answered, exiting");
    stop_everything(a);
}

static void on_drain_deadline(uv_timer_t *t)
{
    app *a = t->data;
    log_event(a, "drain timeout (%us) passed with %u requests in flight, exiting with status 1",
              a->cfg.drain_timeout, http_inflight());
    /* Jobs may still be running on the pool: leave without waiting. The
     * other fronts' buffered log lines are at most one loop turn old. */
    accesslog_flush();
    _exit(1);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (a->draining) {
        log_event(a, "second %s during the drain, exiting with status 1", strsignal(signum));
        accesslog_flush();
        _exit(1);
    }
    a->draining = 1;
    log_event(a, "%s: draining %u requests in flight (up to %us)", strsignal(signum),
              http_inflight(), a->cfg.drain_timeout);
    front_quiesce(&a->fronts[0]);             /* every front answers as draining */
    tell_fronts(a, FRONT_DRAIN);
    uv_timer_start(&a->drain_poll, on_drain_poll, 0, DRAIN_POLL_MS);
    uv_timer_start(&a->drain_deadline, on_drain_deadline, a->cfg.drain_timeout * 1000ull, 0);
}

/* "127.0.0.1:8080" or "[::]:8080" for the bound address. */
static void bound_address(const app *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = a->port;
    if (a->cfg.addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->cfg.addr;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->cfg.addr;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, port);
    }
}

static void init_handles(app *a)
{
    uv_signal_init(&a->loop, &a->sigterm);
    uv_signal_init(&a->loop, &a->sigint);
    uv_timer_init(&a->loop, &a->drain_poll);
    uv_timer_init(&a->loop, &a->drain_deadline);
    a->sigterm.data = a->sigint.data = a;
    a->drain_poll.data = a->drain_deadline.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
}

/* The listening socket and every front; SIGTERM and SIGINT are handled
 * from here on. 0, or -1 with the message in err and nothing left open. */
static int start_http(app *a, char *err, size_t errlen)
{
    front *f0 = &a->fronts[0];
    a->listen_fd = http_listen(&a->cfg, &a->port, err, errlen);
    if (a->listen_fd < 0)
        return -1;
    f0->a = a;
    f0->loop = &a->loop;
    f0->jobs = a->jobs;
    f0->http = http_server_create(&a->loop, &a->cfg, a->jobs, a->metrics, a->listen_fd,
                                  err, errlen);
    a->nfronts = 1;
    /* SIGTERM and SIGINT wait (blocked) until their handlers are in place,
     * and stay blocked in the front threads, which inherit the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    int rc = f0->http != NULL && start_fronts(a, err, errlen) == 0 ? 0 : -1;
    if (rc == 0) {
        init_handles(a);
    } else {
        tell_fronts(a, FRONT_STOP);
        http_server_destroy(f0->http);
        f0->http = NULL;
        close_socket(a);
    }
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
    return rc;
}

/* Start up and run until drained. Returns the exit status. */
static int run(app *a)
{
    int status = 1;
    char err[256] = "", addr[80], threads[16];
    const char *route_names[METRICS_MAX_ROUTES];

    /* The pool reads this when the first job is queued. */
    snprintf(threads, sizeof threads, "%u", a->cfg.threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1);
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < route_count && i < METRICS_MAX_ROUTES; i++)
        route_names[i] = route_table[i].name;
    const char *simd = mml_simd_name(mml_simd_active());
    a->metrics = metrics_create(route_names, route_count, LOSSD_VERSION, simd);
    if (a->metrics == NULL)
        goto fail_metrics;
    if (uv_loop_init(&a->loop) != 0)
        goto fail_loop;
    a->jobs = job_pool_create(&a->loop, a->cfg.threads, a->cfg.queue_depth);
    if (a->jobs == NULL)
        goto fail_jobs;
    if (start_http(a, err, sizeof err) < 0) {
        fprintf(stderr, "lossd: %s\n", err);
        goto fail_http;
    }
    bound_address(a, addr, sizeof addr);
    log_event(a, "lossd %s listening on %s (threads %u, http-threads %u, simd %s, max-body "
                 "%llu, max-memory %llu, queue-depth %u, timeout %us, max-connections %u, "
                 "per ip %u)",
              LOSSD_VERSION, addr, a->cfg.threads, a->cfg.http_threads, simd,
              (unsigned long long)a->cfg.max_body, (unsigned long long)a->cfg.max_memory,
              a->cfg.queue_depth, a->cfg.timeout, a->cfg.max_connections,
              a->cfg.max_connections_per_ip);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    status = 0;

fail_http:
    job_pool_destroy(a->jobs);
fail_jobs:
    uv_run(&a->loop, UV_RUN_NOWAIT);
    uv_loop_close(&a->loop);
fail_loop:
    metrics_destroy(a->metrics);
fail_metrics:
    if (status != 0 && err[0] == '\0')
        fprintf(stderr, "lossd: out of memory at start-up\n");
    return status;
}

int main(int argc, char **argv)
{
    static app a;
    char err[256];
    mml_error merr;

    /* Before the defaults of --max-connections are derived from it. */
    config_raise_fd_limit();
    if (config_parse(&a.cfg, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "lossd: %s\n", err);
        return 2;
    }
    if (a.cfg.action == CONFIG_HELP) {
        config_usage(stdout, argv[0]);
        return 0;
    }
    if (a.cfg.action == CONFIG_VERSION) {
        printf("lossd %s\n", LOSSD_VERSION);
        return 0;
    }
    if (mml_init(&merr) < 0) {
        fprintf(stderr, "lossd: %s\n", merr.message);
        return 2;
    }
    payload_mem_setup();
    payload_mem_set_budget(a.cfg.max_memory);
    return run(&a);
}
