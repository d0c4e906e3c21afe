/* suite.h - runs a Check suite as a test program's main does. */
#ifndef LOSSD_SUITE_H
#define LOSSD_SUITE_H

#include <check.h>
#include <stddef.h>

/* One test in its own test case, with a timeout in seconds (0: Check's). */
typedef struct suite_case {
    const char *name;
    const TTest *test;
    int timeout;
} suite_case;

/* Add n cases to s, each as its own test case. */
void suite_add_cases(Suite *s, const suite_case *cases, size_t n);

/* Run every test of s (forking per CK_FORK), free it, and return the
 * process exit status: EXIT_SUCCESS when nothing failed. */
int suite_run(Suite *s);

#endif
