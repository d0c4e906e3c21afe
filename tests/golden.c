/* golden.c - loads tests/data/golden.jsonl for the test suites (see golden.h). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

static double num(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "NaN") == 0)
            return NAN;
        if (strcmp(v->valuestring, "Infinity") == 0)
            return INFINITY;
        if (strcmp(v->valuestring, "-Infinity") == 0)
            return -INFINITY;
    }
    abort();
}

static double *num_array(const cJSON *arr, size_t *len)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    double *out = calloc(n ? n : 1, sizeof *out);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
        out[i++] = num(v);
    *len = n;
    return out;
}

static int parse_case(const char *line, golden_case *g)
{
    cJSON *o = cJSON_Parse(line);
    if (!o)
        return -1;
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", cJSON_GetObjectItem(o, "name")->valuestring);
    g->dtype = mml_dtype_from_name(cJSON_GetObjectItem(o, "dtype")->valuestring);
    g->n = (uint64_t)cJSON_GetArrayItem(cJSON_GetObjectItem(o, "shape"), 0)->valuedouble;
    g->c = (uint64_t)cJSON_GetArrayItem(cJSON_GetObjectItem(o, "shape"), 1)->valuedouble;
    g->p = cJSON_GetObjectItem(o, "p")->valueint;
    g->margin = cJSON_GetObjectItem(o, "margin")->valueint;
    g->reduction = mml_reduction_from_name(cJSON_GetObjectItem(o, "reduction")->valuestring);
    size_t len;
    g->input = num_array(cJSON_GetObjectItem(o, "input"), &len);
    double *t = num_array(cJSON_GetObjectItem(o, "target"), &len);
    g->target = calloc(len ? len : 1, sizeof *g->target);
    for (size_t i = 0; i < len; i++)
        g->target[i] = (int64_t)t[i];
    free(t);
    const cJSON *w = cJSON_GetObjectItem(o, "weight");
    if (cJSON_IsArray(w))
        g->weight = num_array(w, &len);
    g->exact = num_array(cJSON_GetObjectItem(o, "exact"), &g->n_out);
    const cJSON *torch = cJSON_GetObjectItem(o, "torch");
    if (torch)
        g->torch = num_array(torch, &len);
    cJSON_Delete(o);
    return 0;
}

golden_case *golden_load(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 0, n = 0, linecap = 0;
    golden_case *cases = NULL;
    char *line = NULL;
    while (getline(&line, &linecap, f) > 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            cases = realloc(cases, cap * sizeof *cases);
        }
        if (parse_case(line, &cases[n]) == 0)
            n++;
    }
    free(line);
    fclose(f);
    *count = n;
    return cases;
}

void golden_free(golden_case *cases, size_t count)
{
    for (size_t i = 0; cases && i < count; i++) {
        free(cases[i].input);
        free(cases[i].target);
        free(cases[i].weight);
        free(cases[i].exact);
        free(cases[i].torch);
    }
    free(cases);
}

/* Ordered integer image of a dtype value, so that adjacent values differ
 * by one. */
static int64_t ordered(int dtype, double v)
{
    uint64_t bits = 0;
    int64_t sign_mask;
    char buf[8];
    mml_store(dtype, buf, 0, v);
    memcpy(&bits, buf, mml_dtype_size(dtype));
    int width = 8 * (int)mml_dtype_size(dtype);
    sign_mask = (int64_t)((uint64_t)1 << (width - 1));
    int64_t i = (int64_t)bits;
    return (i & sign_mask) ? -(i & ~sign_mask) : i;
}

double golden_ulps(int dtype, double got, double want)
{
    if (isnan(got) || isnan(want))
        return isnan(got) && isnan(want) ? 0 : INFINITY;
    if (isinf(got) || isinf(want))
        return got == want ? 0 : INFINITY;
    return fabs((double)(ordered(dtype, got) - ordered(dtype, want)));
}

double golden_max_ulps(int dtype)
{
    return dtype == MML_F16 ? 1 : dtype == MML_F32 ? 2 : 4;
}
