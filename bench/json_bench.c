/* json_bench.c - streaming JSON decoder against cJSON on a 4096 x 1000 float32 request.
 *
 * Builds the document in memory, then in the same process times
 *   (a) json_decoder_ops fed in 64 KiB chunks, finish() included;
 *   (b) cJSON_Parse plus a walk that copies every number into a float
 *       array (cJSON_Delete is not timed, in cJSON's favour);
 *   (c) the JSON lexer alone (json_lex.h) fed the same chunks, every
 *       number read as a double: what (a) costs without its row fast
 *       path and its tensors.
 * Each runs REPEATS times; medians of CPU time are reported with the
 * ratio a/b, and the decoder's peak resident memory above the baseline
 * (Linux VmHWM, reset through /proc/self/clear_refs) against the tensor
 * bytes.
 * Usage: json_bench [--json]   (--json: one JSON object per line instead) */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "json.h"
#include "json_lex.h"

#define ROWS    4096
#define COLS    1000
#define CHUNK   (64 * 1024)
#define REPEATS 5

/* CPU time of the process (single-threaded here): other jobs sharing
 * the machine slow both sides less unevenly than wall time would. */
static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The request document, NUL-terminated; NULL when out of memory. */
static char *make_document(size_t *len)
{
    size_t cap = (size_t)ROWS * COLS * 18 + (size_t)ROWS * 8 + 256, n = 0;
    char *doc = malloc(cap);
    uint64_t seed = 1;

    if (doc == NULL)
        return NULL;
    n += (size_t)sprintf(doc + n, "{\"dtype\":\"float32\",\"reduction\":\"mean\",\"input\":[");
    for (int r = 0; r < ROWS; r++) {
        doc[n++] = '[';
        for (int c = 0; c < COLS; c++) {
            float v = (float)(((double)(rng_next(&seed) >> 11) * 0x1p-53 - 0.5) * 8);
            n += (size_t)sprintf(doc + n, c ? ",%.9g" : "%.9g", v);
        }
        doc[n++] = ']';
        doc[n++] = r + 1 < ROWS ? ',' : ']';
    }
    n += (size_t)sprintf(doc + n, ",\"target\":[");
    for (int r = 0; r < ROWS; r++)
        n += (size_t)sprintf(doc + n, r ? ",%d" : "%d", (int)(rng_next(&seed) % COLS));
    n += (size_t)sprintf(doc + n, "]}");
    *len = n;
    return doc;
}

/* (a): seconds, or -1 on a decoding error. */
static double run_decoder(const char *doc, size_t len)
{
    double t0 = now();
    decoder_conf conf = decoder_conf_plain((uint64_t)len * 4);
    decoder *d = decoder_create(&json_decoder_ops, &conf, NULL);
    mml_error err;
    payload pl;
    int rc = d ? 0 : MML_ENOMEM;

    for (size_t at = 0; rc == 0 && at < len; at += CHUNK)
        rc = decoder_feed(d, doc + at, len - at < CHUNK ? len - at : CHUNK, &err);
    if (rc == 0)
        rc = decoder_finish(d, &pl, &err);
    decoder_destroy(d);
    if (rc < 0) {
        fprintf(stderr, "json_bench: decoder: %s\n", err.message);
        return -1;
    }
    t0 = now() - t0;
    payload_free(&pl);
    return t0;
}

/* (c): seconds, or -1 on a lexical error or a wrong count of numbers. */
static double run_lexer(const char *doc, size_t len)
{
    double t0 = now(), sum = 0;
    uint64_t numbers = 0;
    char buf[64];
    json_lex lx;
    json_tok t;

    json_lex_init(&lx, 0, buf, sizeof buf);
    for (size_t at = 0; at < len; at += CHUNK) {
        json_lex_feed(&lx, doc + at, len - at < CHUNK ? len - at : CHUNK);
        while (json_lex_next(&lx, JSON_WANT_VALUE, &t) != JSON_TOK_MORE) {
            if (t.kind == JSON_TOK_ERROR)
                return -1;
            if (t.kind == JSON_TOK_NUMBER)
                sum += json_tok_double(&t), numbers++;
        }
    }
    t0 = now() - t0;
    if (numbers != (uint64_t)ROWS * COLS + ROWS || sum != sum)
        return -1;
    return t0;
}

/* (b): seconds, or -1 on a parse error. */
static double run_cjson(const char *doc)
{
    double t0 = now(), t;
    cJSON *root = cJSON_Parse(doc), *row, *x;
    float *input = malloc((size_t)ROWS * COLS * sizeof *input);
    size_t i = 0;

    if (root == NULL || input == NULL) {
        fprintf(stderr, "json_bench: cJSON failed\n");
        cJSON_Delete(root);
        free(input);
        return -1;
    }
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(root, "input"))
        cJSON_ArrayForEach(x, row)
            input[i++] = (float)x->valuedouble;
    t = now() - t0;
    if (i != (size_t)ROWS * COLS)
        t = -1;
    cJSON_Delete(root);
    free(input);
    return t;
}

/* A "VmXXX:  123 kB" line of /proc/self/status in bytes; 0 if absent. */
static long long vm_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            kb = atoll(line + strlen(key) + 1);
    fclose(f);
    return kb * 1024;
}

/* Peak resident bytes one decode adds above the current resident set;
 * -1 when the kernel cannot reset the high-water mark. */
static long long decoder_peak_extra(const char *doc, size_t len)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    long long base;

    if (f == NULL || fputs("5", f) < 0 || fclose(f) != 0)
        return -1;
    base = vm_bytes("VmRSS:");
    if (run_decoder(doc, len) < 0)
        return -1;
    return vm_bytes("VmHWM:") - base;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    double dec[REPEATS], cjs[REPEATS], lex[REPEATS], mb, dec_mbs, cjs_mbs, lex_mbs;
    size_t len;
    char *doc = make_document(&len);
    long long peak;
    const double tensor = (double)ROWS * COLS * 4 + ROWS * 8;

    if (doc == NULL)
        return EXIT_FAILURE;
    mb = (double)len / 1e6;
    peak = decoder_peak_extra(doc, len);        /* first, on a fresh heap */
    for (int i = 0; i < REPEATS; i++)
        if ((dec[i] = run_decoder(doc, len)) < 0 || (cjs[i] = run_cjson(doc)) < 0 ||
            (lex[i] = run_lexer(doc, len)) < 0)
            return EXIT_FAILURE;
    dec_mbs = mb / median(dec, REPEATS);
    cjs_mbs = mb / median(cjs, REPEATS);
    lex_mbs = mb / median(lex, REPEATS);
    if (!json) {
        printf("json_bench: %dx%d float32, %.1f MB: decoder %.0f MB/s, cJSON+walk %.0f MB/s, "
               "ratio %.1fx; decoder peak extra RSS %.1f MB for %.1f MB of tensors (%.2fx); "
               "lexer alone %.0f MB/s\n",
               ROWS, COLS, mb, dec_mbs, cjs_mbs, dec_mbs / cjs_mbs, (double)peak / 1e6,
               tensor / 1e6, (double)peak / tensor, lex_mbs);
    } else {
        printf("{\"bench\":\"json_decode\",\"rows\":%d,\"cols\":%d,\"bytes\":%zu,"
               "\"decoder_mb_per_s\":%.1f,\"cjson_mb_per_s\":%.1f,\"ratio\":%.2f}\n",
               ROWS, COLS, len, dec_mbs, cjs_mbs, dec_mbs / cjs_mbs);
        printf("{\"bench\":\"json_decode_memory\",\"peak_extra_bytes\":%lld,"
               "\"tensor_bytes\":%.0f,\"ratio\":%.3f}\n", peak, tensor, (double)peak / tensor);
        printf("{\"bench\":\"json_lex\",\"bytes\":%zu,\"mb_per_s\":%.1f}\n", len, lex_mbs);
    }
    free(doc);
    return EXIT_SUCCESS;
}
