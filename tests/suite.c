/* suite.c - runs a Check suite as a test program's main does (see suite.h). */
#include "suite.h"

#include <stdlib.h>

int suite_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void suite_add_cases(Suite *s, const suite_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(cases[i].name);
        if (cases[i].timeout)
            tcase_set_timeout(tc, cases[i].timeout);
        if (cases[i].rows > 0)
            tcase_add_loop_test(tc, cases[i].test, 0, cases[i].rows);
        else
            tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
}
