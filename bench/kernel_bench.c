/* kernel_bench.c - loss kernel throughput against a streaming-read baseline, same run.
 *
 * For each dtype, p and shape it prints the GB/s of input read by the loss
 * (mean reduction, one thread and all cores) next to the GB/s of a plain
 * sum over the same buffer with the widest SIMD the CPU has, and the ratio.
 * Baseline and loss are timed in alternation; each figure is a median of
 * the repetitions, the ratio the median of the per-pair ratios.
 *
 * The last column, "1 row", is the ratio of the same kernel reading the
 * same bytes as one long row per thread (N = threads, C = the rest): the
 * per-element work alone, without any cost per row. No row length can do
 * better than that, so it is the ceiling of the ratio for this dtype and p.
 *
 * The buffer is read again and again, so where it fits in the cache both
 * figures are of reads from the cache. --copies K makes K copies of the
 * input and reads the next one at every run: with more copies than the
 * cache holds, both read DRAM, as a request whose input is no longer
 * cached would.
 *
 *     build/lossd-bench [--json] [--reps N] [--dtype float32] [--shape N C] [--copies K]
 *     build/lossd-bench --list-simd      the paths this CPU runs, one a line
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mml.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MAX_THREADS 64

/* ---- streaming-read baseline ---------------------------------------- */

typedef uint64_t (*sum_fn)(const uint64_t *p, size_t words);

static uint64_t sum_scalar(const uint64_t *p, size_t words)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= words; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < words; i++)
        s0 += p[i];
    return s0 + s1 + s2 + s3;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t words)
{
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 16 <= words; i += 16) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        c = _mm256_add_epi64(c, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        d = _mm256_add_epi64(d, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_scalar(p + i, words - i);
}

__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint64_t *p, size_t words)
{
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 32 <= words; i += 32) {
        a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
        b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 8));
        c = _mm512_add_epi64(c, _mm512_loadu_si512(p + i + 16));
        d = _mm512_add_epi64(d, _mm512_loadu_si512(p + i + 24));
    }
    uint64_t lanes[8];          /* not _mm512_reduce_add_epi64: its signed sums overflow */
    _mm512_storeu_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
    return sum_scalar(lanes, 8) + sum_scalar(p + i, words - i);
}
#endif

static sum_fn best_sum(void)
{
#if defined(__x86_64__)
    if (mml_simd_supported(MML_SIMD_AVX512))
        return sum_avx512;
    if (mml_simd_supported(MML_SIMD_AVX2))
        return sum_avx2;
#endif
    return sum_scalar;
}

/* ---- a tiny fixed thread team ---------------------------------------- */

typedef struct team {
    int threads;
    pthread_t tid[MAX_THREADS];
    pthread_barrier_t start, done;
    int quit;
    int baseline;                  /* 1: run the sum, 0: run the loss */
    const mml_request *req;
    const uint64_t *words;
    size_t nwords;
    int copies, copy;              /* the input's copies, the one this run reads */
    size_t copy_bytes;             /* from one copy to the next */
    mml_partial part[MAX_THREADS];
    volatile uint64_t sink[MAX_THREADS];
} team;

typedef struct worker_arg { team *t; int id; } worker_arg;

static sum_fn summer;

static void team_work(team *t, int id)
{
    const size_t off = (size_t)t->copy * t->copy_bytes;
    if (t->baseline) {
        size_t a = t->nwords * id / t->threads, b = t->nwords * (id + 1) / t->threads;
        t->sink[id] = summer(t->words + off / 8 + a, b - a);
        return;
    }
    mml_request req = *t->req;
    req.input = (const char *)req.input + off;
    uint64_t a = req.n * id / t->threads, b = req.n * (id + 1) / t->threads;
    mml_partial_init(&t->part[id]);
    mml_rows(&req, a, b, NULL, &t->part[id]);
}

static void *worker(void *p)
{
    worker_arg *w = p;
    for (;;) {
        pthread_barrier_wait(&w->t->start);
        if (w->t->quit)
            break;
        team_work(w->t, w->id);
        pthread_barrier_wait(&w->t->done);
    }
    free(w);
    return NULL;
}

static void team_start(team *t, int threads)
{
    memset(t, 0, sizeof *t);
    t->threads = threads;
    pthread_barrier_init(&t->start, NULL, (unsigned)threads);
    pthread_barrier_init(&t->done, NULL, (unsigned)threads);
    for (int i = 1; i < threads; i++) {
        worker_arg *w = malloc(sizeof *w);
        *w = (worker_arg){ t, i };
        pthread_create(&t->tid[i], NULL, worker, w);
    }
}

/* One parallel run, on the next copy; thread 0 is the caller. */
static void team_run(team *t)
{
    t->copy = (t->copy + 1) % t->copies;
    if (t->threads > 1)
        pthread_barrier_wait(&t->start);
    team_work(t, 0);
    if (t->threads > 1)
        pthread_barrier_wait(&t->done);
    if (!t->baseline) {
        char out[8];
        for (int i = 1; i < t->threads; i++)
            mml_partial_merge(&t->part[0], &t->part[i]);
        mml_finish(t->req, &t->part[0], out);
    }
}

static void team_stop(team *t)
{
    t->quit = 1;
    if (t->threads > 1)
        pthread_barrier_wait(&t->start);
    for (int i = 1; i < t->threads; i++)
        pthread_join(t->tid[i], NULL);
    pthread_barrier_destroy(&t->start);
    pthread_barrier_destroy(&t->done);
}

/* ---- timing ----------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GB/s of one timing: team_run() repeated for at least 20 ms. */
static double rate_once(team *t, double bytes)
{
    long iters = 0;
    double t0 = now(), t1;
    do {
        team_run(t);
        iters++;
        t1 = now();
    } while (t1 - t0 < 0.02);
    return bytes * (double)iters / (t1 - t0) / 1e9;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

/* Baseline, loss and the loss over long rows (req1) timed in alternation,
 * reps times each, so that all three see the same machine (it is shared
 * and its speed drifts): medians of the baseline, the loss, and the
 * per-round ratios. */
typedef struct figures { double base, gbps, ratio, ratio1; } figures;

static figures measure(team *t, const mml_request *req, const mml_request *req1, double bytes,
                       int reps)
{
    double base[64], gbps[64], ratio[64], ratio1[64];
    t->baseline = 1;
    team_run(t);                                  /* warm caches and pages */
    t->baseline = 0;
    t->req = req;
    team_run(t);
    for (int r = 0; r < reps; r++) {
        t->baseline = 1;
        base[r] = rate_once(t, (double)(t->nwords * 8));
        t->baseline = 0;
        t->req = req;
        gbps[r] = rate_once(t, bytes);
        t->req = req1;
        ratio1[r] = rate_once(t, bytes) / base[r];
        ratio[r] = gbps[r] / base[r];
    }
    return (figures){ median(base, reps), median(gbps, reps), median(ratio, reps),
                      median(ratio1, reps) };
}

static void fill(mml_request *r, void *in, int64_t *tg)
{
    uint64_t s = 88172645463325252ull;
    for (uint64_t i = 0; i < r->n * r->c; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        mml_store(r->dtype, in, i, (double)(s >> 11) * 0x1p-53 * 4 - 2);
    }
    for (uint64_t i = 0; i < r->n; i++)
        tg[i] = (int64_t)(i * 7919 % r->c);
}

int main(int argc, char **argv)
{
    int json = 0, reps = 9, only_dtype = 0, nshapes = 4, copies = 1;
    uint64_t shapes[4][2] = { { 64, 10 }, { 4096, 1000 }, { 65536, 100 }, { 1024, 32000 } };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list-simd") == 0) {        /* for .ci/run */
            for (int p = 0; p < MML_SIMD_COUNT; p++)
                if (mml_simd_supported((mml_simd)p))
                    printf("%s\n", mml_simd_name((mml_simd)p));
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc)
            copies = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc)
            only_dtype = mml_dtype_from_name(argv[++i]);
        else if (strcmp(argv[i], "--shape") == 0 && i + 2 < argc) {
            shapes[0][0] = strtoull(argv[++i], NULL, 10);
            shapes[0][1] = strtoull(argv[++i], NULL, 10);
            nshapes = 1;
        }
    }
    if (reps < 1 || reps > 64)
        reps = 9;
    if (copies < 1 || copies > 1024)
        copies = 1;
    mml_error err;
    if (mml_init(&err) < 0) {
        fprintf(stderr, "lossd-bench: %s\n", err.message);
        return 2;
    }
    summer = best_sum();
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cores = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : cores;
    if (!json)
        printf("lossd-bench: kernel %s, %d cores, median of %d; GB/s of input read, "
               "baseline = SIMD sum of the same buffer%s\n%-8s %-13s %2s %7s %8s %9s %6s %6s\n",
               mml_simd_name(mml_simd_active()), cores, reps,
               copies > 1 ? " (of each copy in turn)" : "", "dtype", "N x C", "p", "threads",
               "GB/s", "baseline", "ratio", "1 row");
    for (int dt = MML_F16; dt <= MML_F64; dt++) {
        if (only_dtype && dt != only_dtype)
            continue;
        for (int s = 0; s < nshapes; s++) {
            mml_request r = { dt, 1, 1, MML_MEAN, shapes[s][0], shapes[s][1], NULL, NULL, NULL };
            size_t bytes = r.n * r.c * mml_dtype_size(dt);
            size_t stride = (bytes + 4095) / 4096 * 4096;
            char *in = aligned_alloc(4096, stride * (size_t)copies);
            int64_t *tg = malloc(r.n * sizeof *tg);
            if (!in || !tg) {
                fprintf(stderr, "lossd-bench: no memory for %d cop%s of %zu bytes\n", copies,
                        copies == 1 ? "y" : "ies", bytes);
                return 2;
            }
            fill(&r, in, tg);
            for (int k = 1; k < copies; k++)
                memcpy(in + (size_t)k * stride, in, bytes);
            r.input = in;
            r.target = tg;
            for (int p = 1; p <= 2; p++) {
                r.p = p;
                for (int th = 1; th <= cores; th = th == cores ? cores + 1 : cores) {
                    /* The same bytes as th long rows (an odd N x C loses one element). */
                    mml_request r1 = r;
                    r1.n = (uint64_t)th;
                    r1.c = r.n * r.c / (uint64_t)th;
                    team t;
                    team_start(&t, th);
                    t.words = (const uint64_t *)in;
                    t.nwords = bytes / 8;
                    t.copies = copies;
                    t.copy_bytes = stride;
                    figures f = measure(&t, &r, &r1, (double)bytes, reps);
                    team_stop(&t);
                    if (json)
                        printf("{\"bench\":\"kernel\",\"simd\":\"%s\",\"dtype\":\"%s\",\"N\":%llu,"
                               "\"C\":%llu,\"p\":%d,\"threads\":%d,\"gbps\":%.3f,"
                               "\"baseline_gbps\":%.3f,\"ratio\":%.3f,\"one_row_ratio\":%.3f,"
                               "\"copies\":%d}\n",
                               mml_simd_name(mml_simd_active()), mml_dtype_name(dt),
                               (unsigned long long)r.n, (unsigned long long)r.c, p, th, f.gbps,
                               f.base, f.ratio, f.ratio1, copies);
                    else
                        printf("%-8s %5llux%-7llu %2d %7d %8.2f %9.2f %6.2f %6.2f\n",
                               mml_dtype_name(dt), (unsigned long long)r.n,
                               (unsigned long long)r.c, p, th, f.gbps, f.base, f.ratio, f.ratio1);
                    fflush(stdout);
                }
            }
            free(in);
            free(tg);
        }
    }
    return 0;
}
