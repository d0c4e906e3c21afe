/* check_server_conn.c - Check suite for the connection side of the server:
 * idle shedding, per-address counts and the body rate (deadline.c), the
 * connection flags (config.c), escaped event lines (accesslog.c) and the
 * undelivered status (metrics.c). */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "config.h"
#include "deadline.h"
#include "metrics.h"
#include "suite.h"

#define SEC UINT64_C(1000000000)
#define CONNS 48

/* n socket pairs: our ends in mine[], the client ends in peer[]. */
static void pairs(int *mine, int *peer, int n)
{
    for (int i = 0; i < n; i++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        mine[i] = sv[0];
        peer[i] = sv[1];
    }
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* 1 when the peer of a shut-down socket sees end of stream. */
static int peer_closed(int peer)
{
    char c;
    return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static struct sockaddr_in ipv4(const char *text)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, text, &a.sin_addr), 1);
    return a;
}

START_TEST(high_water_leaves_a_margin)
{
    ck_assert_uint_eq(deadline_high_water(0), 0);
    ck_assert_uint_eq(deadline_high_water(1), 1);
    ck_assert_uint_eq(deadline_high_water(10), 5);
    ck_assert_uint_eq(deadline_high_water(40), 20);
    ck_assert_uint_eq(deadline_high_water(100), 75);
    ck_assert_uint_eq(deadline_high_water(6400), 6400 - 124);
}
END_TEST

/* Past the high-water mark each new connection sheds the oldest idle
 * one; busy ones (a request begun) and the newcomer are never shed. */
START_TEST(oldest_idle_connections_give_way)
{
    int mine[CONNS], peer[CONNS];
    conn_deadline *c[CONNS];
    deadline_list l;
    pairs(mine, peer, CONNS);
    deadline_list_init(&l, 30 * SEC);
    ck_assert_int_eq(deadline_list_limits(&l, 40, 0, 0), 0);  /* high water 20 */
    for (int i = 0; i < 20; i++) {
        c[i] = deadline_open(&l, mine[i], (uint64_t)i * SEC);
        ck_assert_uint_eq(deadline_shed(&l, c[i], (uint64_t)i * SEC), 0);
    }
    deadline_idle(c[0], 0, 0);                  /* a request began on the oldest */
    c[20] = deadline_open(&l, mine[20], 20 * SEC);
    ck_assert(deadline_crowded(&l));
    ck_assert_uint_eq(deadline_shed(&l, c[20], 20 * SEC), 1);
    ck_assert(!peer_closed(peer[0]));
    ck_assert(peer_closed(peer[1]));            /* the oldest idle one */
    ck_assert_uint_eq(l.open, 20);
    deadline_idle(c[0], 1, 21 * SEC);           /* its request ended: idle, youngest */
    c[21] = deadline_open(&l, mine[21], 21 * SEC);
    ck_assert_uint_eq(deadline_shed(&l, c[21], 21 * SEC), 1);
    ck_assert(peer_closed(peer[2]));
    ck_assert(!peer_closed(peer[0]));
    /* Within the grace time nothing is shed, then the oldest is. */
    ck_assert_int_eq(send(peer[3], "G", 1, 0), 1);      /* a request waits unread */
    c[22] = deadline_open(&l, mine[22], 22 * SEC);
    c[23] = deadline_open(&l, mine[23], 22 * SEC);
    ck_assert_uint_eq(deadline_shed(&l, c[23], 22 * SEC), 2);   /* 4, 5: 3 has input */
    ck_assert(!peer_closed(peer[3]));
    ck_assert(peer_closed(peer[5]));
    deadline_close(c[4]), deadline_close(c[5]);
    for (int i = 6; i < 22; i++)
        deadline_idle(c[i], 1, 0);              /* idle already: unchanged */
    deadline_close(c[1]);                       /* shed: not counted twice */
    deadline_close(c[2]);
    ck_assert_uint_eq(l.open, 20);
    for (int i = 0; i < 24; i++)
        if (i != 1 && i != 2 && i != 4 && i != 5)
            deadline_close(c[i]);
    ck_assert_uint_eq(l.open, 0);
    ck_assert_ptr_eq(l.idle.idle_next, &l.idle);
    deadline_list_free(&l);
    deadline_list_free(NULL);
    close_all(mine, CONNS), close_all(peer, CONNS);
}
END_TEST

/* One address over its share sheds its own oldest idle connection, not
 * another address's, and its newcomer still gets in. */
START_TEST(one_address_sheds_its_own)
{
    int mine[CONNS], peer[CONNS];
    conn_deadline *c[CONNS];
    deadline_list l;
    struct sockaddr_in honest = ipv4("10.0.0.1"), busy = ipv4("10.0.0.2");
    pairs(mine, peer, CONNS);
    deadline_list_init(&l, 30 * SEC);
    ck_assert_int_eq(deadline_list_limits(&l, 1000, 40, 0), 0);   /* 20 per address */
    c[0] = deadline_open(&l, mine[0], 0);
    deadline_set_addr(c[0], (struct sockaddr *)&honest);
    for (int i = 1; i <= 21; i++) {
        c[i] = deadline_open(&l, mine[i], (uint64_t)i * SEC);
        deadline_set_addr(c[i], (struct sockaddr *)&busy);
        ck_assert_uint_eq(deadline_shed(&l, c[i], (uint64_t)i * SEC), (i == 21 ? 1u : 0u));
    }
    ck_assert(!peer_closed(peer[0]));           /* older, but another address */
    ck_assert(peer_closed(peer[1]));
    ck_assert(!peer_closed(peer[21]));
    c[22] = deadline_open(&l, mine[22], 22 * SEC);   /* and the honest one comes back */
    deadline_set_addr(c[22], (struct sockaddr *)&honest);
    ck_assert_uint_eq(deadline_shed(&l, c[22], 22 * SEC), 0);
    for (int i = 0; i <= 22; i++)
        deadline_close(c[i]);
    ck_assert_uint_eq(l.open, 0);
    for (size_t i = 0; i < l.addr_cap; i++)
        ck_assert_uint_eq(l.addrs[i].count, 0);
    deadline_list_free(&l);
    close_all(mine, CONNS), close_all(peer, CONNS);
}
END_TEST

/* Many addresses come and go: the counts stay right (the table's
 * deletion moves entries back, and lookups never stop short). */
START_TEST(address_counts_survive_churn)
{
    deadline_list l;
    int fds[64];
    conn_deadline *c[64];
    deadline_list_init(&l, 30 * SEC);
    ck_assert_int_eq(deadline_list_limits(&l, 64, 1000, 0), 0);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 64; i++) {
            char text[32];
            snprintf(text, sizeof text, "10.1.%d.%d", (i * 7 + round) % 5, (i * 13) % 11);
            struct sockaddr_in a = ipv4(text);
            fds[i] = -1;
            c[i] = deadline_open(&l, fds[i], 0);
            deadline_set_addr(c[i], (struct sockaddr *)&a);
        }
        unsigned total = 0;
        for (size_t i = 0; i < l.addr_cap; i++)
            total += l.addrs[i].count;
        ck_assert_uint_eq(total, 64);
        for (int i = 0; i < 64; i += 2)
            deadline_close(c[i]);
        for (int i = 1; i < 64; i += 2)
            deadline_close(c[i]);
        for (size_t i = 0; i < l.addr_cap; i++)
            ck_assert_uint_eq(l.addrs[i].count, 0);
    }
    deadline_list_free(&l);
}
END_TEST

/* A body must keep up min_rate over each window; a busy connection (its
 * job runs) is not held to it. */
START_TEST(slow_bodies_are_cut)
{
    int mine[3], peer[3];
    deadline_list l;
    pairs(mine, peer, 3);
    deadline_list_init(&l, 60 * SEC);
    ck_assert_int_eq(deadline_list_limits(&l, 100, 0, 1000), 0);
    conn_deadline *fast = deadline_open(&l, mine[0], 0);
    conn_deadline *slow = deadline_open(&l, mine[1], 0);
    conn_deadline *none = deadline_open(&l, mine[2], 0);
    deadline_body(fast, 1, 0);
    deadline_body(slow, 1, 0);
    deadline_body_bytes(fast, 5000);
    deadline_body_bytes(slow, 4999);
    ck_assert_uint_eq(deadline_sweep(&l, 4 * SEC), 0);          /* window not over */
    ck_assert_uint_eq(deadline_sweep(&l, 5 * SEC), 1);
    ck_assert(peer_closed(peer[1]));
    ck_assert(!peer_closed(peer[0]));
    ck_assert_uint_eq(deadline_sweep(&l, 9 * SEC), 0);          /* a new window */
    deadline_busy(&l, fast, 1, 9 * SEC);
    ck_assert_uint_eq(deadline_sweep(&l, 20 * SEC), 0);         /* busy */
    deadline_busy(&l, fast, 0, 20 * SEC);
    ck_assert_uint_eq(deadline_sweep(&l, 20 * SEC), 1);         /* nothing came since 5 s */
    ck_assert(!peer_closed(peer[2]));                           /* no body: not watched */
    deadline_body(NULL, 1, 0);
    deadline_body_bytes(NULL, 1);
    deadline_close(fast), deadline_close(slow), deadline_close(none);
    deadline_list_free(&l);
    close_all(mine, 3), close_all(peer, 3);
}
END_TEST

/* ---- config ---- */

static int parse(config *cfg, char *err, size_t errlen, ...)
{
    char *argv[16] = {"lossd"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return config_parse(cfg, argc, argv, err, errlen);
}

static void clear_env(void)
{
    unsetenv("LOSSD_MAX_CONNECTIONS");
    unsetenv("LOSSD_MAX_CONNECTIONS_PER_IP");
    unsetenv("LOSSD_MIN_BODY_RATE");
    unsetenv("LOSSD_HTTP_THREADS");
}

START_TEST(connection_limits_come_from_the_fd_limit)
{
    config cfg;
    char err[256];
    struct rlimit rl = {1000, 1000};
    clear_env();
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);        /* forked: this test only */
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--http-threads", "2", NULL), 0);
    unsigned room = 1000 - config_fd_reserve(2);
    ck_assert_uint_eq(cfg.max_connections, room);
    ck_assert_uint_eq(cfg.max_connections_per_ip, 0);
    ck_assert_uint_eq(cfg.min_body_rate, 8192);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--max-connections", "100",
                           "--max-connections-per-ip=0", "--min-body-rate", "0", NULL), 0);
    ck_assert_uint_eq(cfg.max_connections, 100);
    ck_assert_uint_eq(cfg.max_connections_per_ip, 0);
    ck_assert_uint_eq(cfg.min_body_rate, 0);
    setenv("LOSSD_MAX_CONNECTIONS", "200", 1);
    setenv("LOSSD_MAX_CONNECTIONS_PER_IP", "7", 1);
    setenv("LOSSD_MIN_BODY_RATE", "100", 1);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, NULL), 0);
    ck_assert_uint_eq(cfg.max_connections, 200);
    ck_assert_uint_eq(cfg.max_connections_per_ip, 7);
    ck_assert_uint_eq(cfg.min_body_rate, 100);
    clear_env();
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--max-connections", "5000", NULL), -1);
    ck_assert_msg(strstr(err, "open-file limit") != NULL, "%s", err);
    ck_assert_int_eq(parse(&cfg, err, sizeof err, "--max-connections", "0", NULL), -1);
    ck_assert_uint_ge(config_raise_fd_limit(), 1000);
}
END_TEST

START_TEST(help_lists_the_connection_flags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_usage(f, "lossd");
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "--max-connections N"));
    ck_assert_ptr_nonnull(strstr(text, "LOSSD_MAX_CONNECTIONS_PER_IP"));
    ck_assert_ptr_nonnull(strstr(text, "--min-body-rate BYTES"));
    free(text);
}
END_TEST

/* ---- log lines ---- */

/* What accesslog_event writes for message, read back through a pipe on
 * fd 2 (into out). */
static void event_line(config_log_format fmt, const char *message, char *out, size_t size)
{
    int p[2], saved = dup(2);
    ck_assert_int_eq(pipe(p), 0);
    dup2(p[1], 2);
    accesslog_event(fmt, message);
    dup2(saved, 2);
    close(saved), close(p[1]);
    ssize_t n = read(p[0], out, size - 1);
    close(p[0]);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
}

START_TEST(event_lines_escape_controls_and_bad_utf8)
{
    char line[1024];
    const char *msg = "libmicrohttpd: GET /a\r\nX\x1b[31m caf\xc3\xa9 \xff\xc0\xafz\"\\";
    event_line(LOG_PLAIN, msg, line, sizeof line);
    ck_assert_msg(strstr(line, "lossd: libmicrohttpd: GET /a\\x0d\\x0aX\\x1b[31m caf\xc3\xa9 "
                               "\\xff\\xc0\\xafz\"\\\n") != NULL, "%s", line);
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
    event_line(LOG_JSON, msg, line, sizeof line);
    ck_assert_msg(strstr(line, "\"event\":\"libmicrohttpd: GET /a\\u000d\\u000aX\\u001b[31m "
                               "caf\xc3\xa9 \\\\xff\\\\xc0\\\\xafz\\u0022\\u005c\"}\n") != NULL,
                  "%s", line);
}
END_TEST

START_TEST(access_fields_stay_valid_utf8)
{
    char line[512];
    access_entry e = {"G\xe9T", "/\xed\xa0\x80", 0, 0, 0, 0.5, "id"};
    accesslog_format(LOG_JSON, &e, line, sizeof line);
    ck_assert_msg(strstr(line, "\"method\":\"G\\\\xe9T\",\"path\":\"/\\\\xed\\\\xa0\\\\x80\","
                               "\"status\":0,") != NULL, "%s", line);
    accesslog_format(LOG_PLAIN, &e, line, sizeof line);
    ck_assert_msg(strstr(line, " G\\xe9T /\\xed\\xa0\\x80 0 in=0") != NULL, "%s", line);
}
END_TEST

START_TEST(undelivered_counts_as_status_0)
{
    const char *names[] = {"score"};
    metrics *m = metrics_create(names, 1, "v", "scalar");
    metrics_gauges g = {0, 0, 0, 0};
    size_t len;
    metrics_request(m, 0, 0, 0.1);
    metrics_request(m, 1, 431, 0);
    metrics_request(m, 1, 414, 0);
    metrics_request(m, 1, 505, 0);
    char *text = metrics_render(m, &g, &len);
    ck_assert_ptr_nonnull(strstr(text, "lossd_requests_total{route=\"score\",status=\"0\"} 1\n"));
    ck_assert_ptr_null(strstr(text, "route=\"score\",status=\"200\""));
    ck_assert_ptr_nonnull(strstr(text, "{route=\"unknown\",status=\"431\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "{route=\"unknown\",status=\"414\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "{route=\"unknown\",status=\"505\"} 1\n"));
    free(text);
    metrics_destroy(m);
}
END_TEST

int main(void)
{
    const suite_case cases[] = {
        {"high_water", high_water_leaves_a_margin, 0, 0},
        {"shed_oldest_idle", oldest_idle_connections_give_way, 0, 0},
        {"shed_per_address", one_address_sheds_its_own, 0, 0},
        {"address_churn", address_counts_survive_churn, 0, 0},
        {"slow_bodies", slow_bodies_are_cut, 0, 0},
        {"config_limits", connection_limits_come_from_the_fd_limit, 0, 0},
        {"config_help", help_lists_the_connection_flags, 0, 0},
        {"event_escaping", event_lines_escape_controls_and_bad_utf8, 0, 0},
        {"access_utf8", access_fields_stay_valid_utf8, 0, 0},
        {"status_0", undelivered_counts_as_status_0, 0, 0},
    };
    Suite *s = suite_create("server_conn");
    suite_add_cases(s, cases, sizeof cases / sizeof cases[0]);
    return suite_run(s);
}
