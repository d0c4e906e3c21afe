/* bare_mhd.c - baseline for bench/http_bench.sh: libmicrohttpd answering a fixed body.
 *
 * Same threading as lossd (server/http.c): MHD in external polling mode
 * with epoll, driven by a libuv loop through a uv_poll_t on MHD's epoll
 * fd and a uv_timer_t for MHD_get_timeout. Every request, whatever its
 * method and path, gets the same small JSON body; POST bodies are read
 * and dropped. No routing, decoding, loss, logging or metrics: the ratio
 * lossd/bare is what all of that costs.
 *
 *   bare_mhd [PORT]        (0 or nothing: a free port)
 *
 * Prints "listening on 127.0.0.1:PORT" on stderr, stops on SIGTERM/SIGINT. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char BODY[] = "{\"loss\":0.6666667,\"shape\":[],\"dtype\":\"float32\","
                           "\"reduction\":\"mean\"}";

typedef struct bare {
    struct MHD_Daemon *daemon;
    struct MHD_Response *response;      /* shared, never changes */
    uv_poll_t poll;
    uv_timer_t timer;
    uv_signal_t sigterm, sigint;
} bare;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    bare *b = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {             /* first call: headers only */
        *req_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {       /* body: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, b->response);
}

static void on_timer(uv_timer_t *t);

static void run_mhd(bare *b)
{
    MHD_UNSIGNED_LONG_LONG ms;
    MHD_run(b->daemon);
    if (MHD_get_timeout(b->daemon, &ms) == MHD_YES)
        uv_timer_start(&b->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&b->timer);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    bare *b = s->data;
    (void)signum;
    uv_close((uv_handle_t *)&b->poll, NULL);
    uv_close((uv_handle_t *)&b->timer, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
}

int main(int argc, char **argv)
{
    static bare b;
    int status = 1;
    unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 0;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uv_loop_t *loop = uv_default_loop();

    signal(SIGPIPE, SIG_IGN);
    b.response = MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY,
                                                 MHD_RESPMEM_PERSISTENT);
    if (b.response == NULL)
        goto fail_response;
    MHD_add_response_header(b.response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    b.daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                                (uint16_t)port, NULL, NULL, on_request, &b,
                                MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
                                MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                                MHD_OPTION_END);
    if (b.daemon == NULL) {
        fprintf(stderr, "bare_mhd: cannot listen on port %u\n", port);
        goto fail_daemon;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(b.daemon, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(b.daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (pi == NULL || ei == NULL)
        goto fail_info;
    uv_poll_init(loop, &b.poll, ei->epoll_fd);
    uv_timer_init(loop, &b.timer);
    uv_signal_init(loop, &b.sigterm);
    uv_signal_init(loop, &b.sigint);
    b.poll.data = b.timer.data = b.sigterm.data = b.sigint.data = &b;
    uv_poll_start(&b.poll, UV_READABLE, on_poll);
    uv_timer_start(&b.timer, on_timer, 0, 0);
    uv_signal_start(&b.sigterm, on_signal, SIGTERM);
    uv_signal_start(&b.sigint, on_signal, SIGINT);
    fprintf(stderr, "bare_mhd: listening on 127.0.0.1:%u\n", (unsigned)pi->port);
    uv_run(loop, UV_RUN_DEFAULT);
    status = 0;

fail_info:
    MHD_stop_daemon(b.daemon);
fail_daemon:
    MHD_destroy_response(b.response);
fail_response:
    uv_loop_close(loop);
    return status;
}
