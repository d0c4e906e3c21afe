/* suite.h - runs a Check suite as a test program's main does. */
#ifndef LOSSD_SUITE_H
#define LOSSD_SUITE_H

#include <check.h>
#include <stddef.h>

/* One test in its own test case, with a timeout in seconds (0: Check's).
 * A table-driven test sets rows: it is run once per row of its table,
 * with Check's _i from 0 to rows - 1, each run counted as a test. */
typedef struct suite_case {
    const char *name;
    const TTest *test;
    int timeout;
    int rows;
} suite_case;

/* The number of rows of a table (an array), for suite_case.rows. */
#define SUITE_ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* Add n cases to s, each as its own test case. */
void suite_add_cases(Suite *s, const suite_case *cases, size_t n);

/* Run every test of s (forking per CK_FORK), free it, and return the
 * process exit status: EXIT_SUCCESS when nothing failed. */
int suite_run(Suite *s);

#endif
