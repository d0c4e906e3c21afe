/* lossd_arm.c - arms allocfail (allocfail.h) in the lossd built for allocation-failure tests.
 *
 * Linked into build/lossd-allocfail only. With LOSSD_TEST_FAIL_ALLOC=n in
 * the environment, the server starts as usual with nothing armed, so that
 * only allocations made while serving requests count; then:
 *
 *   SIGUSR2                      the n-th allocation from now fails
 *   SIGUSR2 with sigqueue value v  v > 0: the v-th from now fails instead;
 *                                v = 0: disarm
 *
 * and each signal appends one line to the file named by
 * LOSSD_TEST_FAIL_ALLOC_REPORT (when set) saying how the previous arming
 * ended: "calls C fired F", so that tests/allocfail/request_path.py knows
 * whether a request reached the n-th allocation. cJSON allocates through
 * allocfail too. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocfail.h"

static uint64_t default_n;
static int report_fd = -1;

/* "calls C fired F\n" without stdio, which is not async-signal-safe. */
static void report(void)
{
    char line[64], digits[24];
    size_t len = 0, k = 0;
    uint64_t c = allocfail_calls();

    if (report_fd < 0)
        return;
    memcpy(line, "calls ", 6);
    len = 6;
    do
        digits[k++] = (char)('0' + c % 10);
    while ((c /= 10) != 0);
    while (k > 0)
        line[len++] = digits[--k];
    memcpy(line + len, allocfail_fired() ? " fired 1\n" : " fired 0\n", 9);
    len += 9;
    (void)!write(report_fd, line, len);
}

static void on_arm(int signum, siginfo_t *info, void *uctx)
{
    (void)signum;
    (void)uctx;
    report();
    if (info->si_code == SI_QUEUE)
        allocfail_arm((uint64_t)(uintptr_t)info->si_value.sival_ptr);
    else
        allocfail_arm(default_n);
}

__attribute__((constructor)) static void lossd_arm_init(void)
{
    const char *n = getenv("LOSSD_TEST_FAIL_ALLOC");
    const char *path = getenv("LOSSD_TEST_FAIL_ALLOC_REPORT");
    struct sigaction sa;

    if (n == NULL)
        return;
    default_n = strtoull(n, NULL, 10);
    if (path != NULL)
        report_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    allocfail_hook_cjson();
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_arm;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}
