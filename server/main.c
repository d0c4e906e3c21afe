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
#include <signal.h>
#include <stdarg.h>
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

typedef struct app {
    uv_loop_t loop;
    config cfg;
    metrics *metrics;
    job_pool *jobs;
    http_server *http;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_poll, drain_deadline;
    int draining;
} app;

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

static void stop_everything(app *a)
{
    http_server_destroy(a->http);
    a->http = NULL;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->drain_poll, NULL);
    uv_close((uv_handle_t *)&a->drain_deadline, NULL);
}

static void on_drain_poll(uv_timer_t *t)
{
    app *a = t->data;
    if (http_server_inflight(a->http) != 0 || job_pool_active(a->jobs) != 0)
        return;
    log_event(a, "drained: every request answered, exiting");
    stop_everything(a);
}

static void on_drain_deadline(uv_timer_t *t)
{
    app *a = t->data;
    log_event(a, "drain timeout (%us) passed with %u requests in flight, exiting with status 1",
              a->cfg.drain_timeout, http_server_inflight(a->http));
    /* Jobs may still be running on the pool: leave without waiting. */
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
              http_server_inflight(a->http), a->cfg.drain_timeout);
    http_server_drain(a->http);
    uv_timer_start(&a->drain_poll, on_drain_poll, 0, DRAIN_POLL_MS);
    uv_timer_start(&a->drain_deadline, on_drain_deadline, a->cfg.drain_timeout * 1000ull, 0);
}

/* "127.0.0.1:8080" or "[::]:8080" for the bound address. */
static void bound_address(const app *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = http_server_port(a->http);
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
    a->http = http_server_create(&a->loop, &a->cfg, a->jobs, a->metrics, err, sizeof err);
    if (a->http == NULL) {
        fprintf(stderr, "lossd: %s\n", err);
        goto fail_http;
    }
    init_handles(a);
    bound_address(a, addr, sizeof addr);
    log_event(a, "lossd %s listening on %s (threads %u, simd %s, max-body %llu, "
                 "queue-depth %u, timeout %us)",
              LOSSD_VERSION, addr, a->cfg.threads, simd,
              (unsigned long long)a->cfg.max_body, a->cfg.queue_depth, a->cfg.timeout);
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
    if (status != 0 && a->http == NULL && err[0] == '\0')
        fprintf(stderr, "lossd: out of memory at start-up\n");
    return status;
}

int main(int argc, char **argv)
{
    static app a;
    char err[256];
    mml_error merr;

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
    return run(&a);
}
