/* suite.h - runs a Check suite as a test program's main does. */
#ifndef LOSSD_SUITE_H
#define LOSSD_SUITE_H

#include <check.h>

/* Run every test of s (forking per CK_FORK), free it, and return the
 * process exit status: EXIT_SUCCESS when nothing failed. */
int suite_run(Suite *s);

#endif
