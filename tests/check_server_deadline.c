/* check_server_deadline.c - Check suite for server/deadline.c. */
#include <check.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "suite.h"

#define SEC UINT64_C(1000000000)

/* 1 when the peer of sv[0] sees end of stream, i.e. sv[0] was shut down. */
static int peer_closed(int peer)
{
    char c;
    return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

START_TEST(idle_connection_is_shut_after_the_limit)
{
    deadline_list l;
    int a[2], b[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    deadline_list_init(&l, 30 * SEC);
    conn_deadline *ca = deadline_open(&l, a[0], 100 * SEC);
    conn_deadline *cb = deadline_open(&l, b[0], 110 * SEC);
    ck_assert_uint_eq(deadline_sweep(&l, 129 * SEC), 0);
    ck_assert_uint_eq(deadline_sweep(&l, 130 * SEC), 1);     /* a only */
    ck_assert(peer_closed(a[1]));
    ck_assert(!peer_closed(b[1]));
    ck_assert_uint_eq(deadline_sweep(&l, 135 * SEC), 0);     /* a reported once */
    ck_assert_uint_eq(deadline_sweep(&l, 140 * SEC), 1);     /* then b */
    ck_assert(peer_closed(b[1]));
    deadline_close(ca);
    deadline_close(cb);
    deadline_close(NULL);
    ck_assert_ptr_eq(l.head.next, &l.head);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}
END_TEST

START_TEST(busy_connection_is_spared_and_its_clock_restarts)
{
    deadline_list l;
    int a[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    deadline_list_init(&l, 10 * SEC);
    conn_deadline *c = deadline_open(&l, a[0], 0);
    deadline_busy(&l, c, 1, 5 * SEC);                        /* a job runs */
    ck_assert_uint_eq(deadline_sweep(&l, 60 * SEC), 0);
    deadline_busy(&l, c, 0, 60 * SEC);                       /* request done: clock restarts */
    ck_assert_uint_eq(deadline_sweep(&l, 69 * SEC), 0);
    ck_assert(!peer_closed(a[1]));
    ck_assert_uint_eq(deadline_sweep(&l, 70 * SEC), 1);
    ck_assert(peer_closed(a[1]));
    deadline_busy(&l, NULL, 0, 0);
    deadline_close(c);
    close(a[0]), close(a[1]);
}
END_TEST

/* A client that closes its side in the middle of a body is shut down at
 * once, but only while a body is being read and nothing it sent is left
 * unread (it may have sent the whole request, then closed its side). */
START_TEST(client_gone_mid_body_is_shut_once_read)
{
    deadline_list l;
    int a[2];
    char buf[8];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    deadline_list_init(&l, 30 * SEC);
    conn_deadline *c = deadline_open(&l, a[0], 0);
    ck_assert_int_eq(send(a[1], "body", 4, 0), 4);
    ck_assert_int_eq(shutdown(a[1], SHUT_WR), 0);
    ck_assert_uint_eq(deadline_sweep(&l, 1 * SEC), 0);       /* not receiving */
    deadline_receiving(c, 1);
    ck_assert_uint_eq(deadline_sweep(&l, 1 * SEC), 0);       /* "body" is unread */
    ck_assert_int_eq(recv(a[0], buf, sizeof buf, 0), 4);
    ck_assert_uint_eq(deadline_sweep(&l, 1 * SEC), 1);
    ck_assert(peer_closed(a[1]));
    ck_assert_uint_eq(deadline_sweep(&l, 2 * SEC), 0);       /* reported once */
    deadline_receiving(NULL, 1);
    deadline_close(c);
    close(a[0]), close(a[1]);
}
END_TEST

/* A client that closed while idle between requests is shut down at the
 * next sweep, not left until the limit. */
START_TEST(client_gone_while_idle_is_shut_at_the_next_sweep)
{
    deadline_list l;
    int a[2], b[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    deadline_list_init(&l, 30 * SEC);
    conn_deadline *gone = deadline_open(&l, a[0], 0);
    conn_deadline *stays = deadline_open(&l, b[0], 0);
    deadline_idle(gone, 1, 0);
    deadline_idle(stays, 1, 0);
    ck_assert_int_eq(shutdown(a[1], SHUT_WR), 0);
    ck_assert_uint_eq(deadline_sweep(&l, 1 * SEC), 1);
    ck_assert(peer_closed(a[1]));
    ck_assert(!peer_closed(b[1]));
    deadline_close(gone);
    deadline_close(stays);
    deadline_list_free(&l);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_deadline");
    TCase *tc = tcase_create("deadline");
    tcase_add_test(tc, idle_connection_is_shut_after_the_limit);
    tcase_add_test(tc, busy_connection_is_spared_and_its_clock_restarts);
    tcase_add_test(tc, client_gone_mid_body_is_shut_once_read);
    tcase_add_test(tc, client_gone_while_idle_is_shut_at_the_next_sweep);
    suite_add_tcase(s, tc);
    return suite_run(s);
}
