/* golden.h - the reference cases of tests/data/golden.jsonl, for every suite. */
#ifndef LOSSD_GOLDEN_H
#define LOSSD_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"

#define GOLDEN_PATH "tests/data/golden.jsonl"

typedef struct golden_case {
    char name[96];
    int dtype, p, margin, reduction;
    uint64_t n, c;
    double *input;        /* n * c values, already of dtype */
    int64_t *target;      /* n */
    double *weight;       /* c, or NULL */
    double *exact;        /* n_out values: float64 formula, fsum */
    double *torch;        /* n_out values from PyTorch, or NULL */
    size_t n_out;
} golden_case;

/* All cases of the file; NULL when it cannot be read. Free with golden_free. */
golden_case *golden_load(const char *path, size_t *count);
void golden_free(golden_case *cases, size_t count);

/* Distance between got and want in units in the last place of dtype
 * (want rounded to dtype first); 0 when both are NaN or the same
 * infinity, INFINITY when only one is. */
double golden_ulps(int dtype, double got, double want);
/* The tolerance of the issue: float16 1, float32 2, float64 4 ulp. */
double golden_max_ulps(int dtype);

#endif
