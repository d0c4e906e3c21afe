/* metrics.c - Prometheus counters, gauges and the request histogram of lossd. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Upper bounds of the duration histogram, in seconds. */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

/* Statuses lossd answers, those libmicrohttpd answers by itself (414,
 * 431, 505), and 0 for a response never delivered (the client went away,
 * a timeout); anything else is counted under "other". */
static const int STATUSES[] = {0, 200, 204, 400, 404, 405, 413, 414, 415, 431, 500, 503, 505};
#define N_STATUSES (sizeof STATUSES / sizeof STATUSES[0])

typedef struct route_stats {
    atomic_uint_fast64_t status[N_STATUSES + 1];
    atomic_uint_fast64_t bucket[N_BUCKETS];    /* not cumulative */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} route_stats;

struct metrics {
    const char *route_name[METRICS_MAX_ROUTES + 1];
    size_t n_routes;                            /* including "unknown" */
    const char *version;
    const char *simd;
    atomic_uint_fast64_t received_bytes;
    atomic_uint_fast64_t scored_elements;
    route_stats route[METRICS_MAX_ROUTES + 1];
};

metrics *metrics_create(const char *const *route_names, size_t n_routes,
                        const char *version, const char *simd)
{
    if (n_routes > METRICS_MAX_ROUTES)
        return NULL;
    metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < n_routes; i++)
        m->route_name[i] = route_names[i];
    m->route_name[n_routes] = "unknown";
    m->n_routes = n_routes + 1;
    m->version = version;
    m->simd = simd;
    return m;
}

void metrics_destroy(metrics *m)
{
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < N_STATUSES; i++)
        if (STATUSES[i] == status)
            return i;
    return N_STATUSES;
}

void metrics_request(metrics *m, size_t route, int status, double seconds)
{
    if (route >= m->n_routes)
        route = m->n_routes - 1;
    route_stats *r = &m->route[route];
    size_t b = 0;
    while (b < N_BUCKETS && seconds > BUCKETS[b])
        b++;
    atomic_fetch_add_explicit(&r->status[status_slot(status)], 1, memory_order_relaxed);
    if (b < N_BUCKETS)
        atomic_fetch_add_explicit(&r->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_ns, (uint_fast64_t)(seconds * 1e9), memory_order_relaxed);
}

void metrics_add_received(metrics *m, uint64_t bytes)
{
    atomic_fetch_add_explicit(&m->received_bytes, bytes, memory_order_relaxed);
}

void metrics_add_scored(metrics *m, uint64_t elements)
{
    atomic_fetch_add_explicit(&m->scored_elements, elements, memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void render_requests(metrics *m, FILE *f)
{
    fputs("# HELP lossd_requests_total HTTP requests answered, by route and status.\n"
          "# TYPE lossd_requests_total counter\n", f);
    for (size_t r = 0; r < m->n_routes; r++) {
        for (size_t s = 0; s <= N_STATUSES; s++) {
            uint64_t v = load(&m->route[r].status[s]);
            if (v == 0)
                continue;
            if (s < N_STATUSES)
                fprintf(f, "lossd_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        m->route_name[r], STATUSES[s], (unsigned long long)v);
            else
                fprintf(f, "lossd_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                        m->route_name[r], (unsigned long long)v);
        }
    }
}

/* Buckets are read one by one while requests may be counted, so the
 * count and +Inf are taken as the cumulative total: the series stays
 * monotonic, which is what promtool and Prometheus check. */
static void render_histogram(metrics *m, FILE *f)
{
    fputs("# HELP lossd_request_duration_seconds Time from the first byte of a request to "
          "its completion.\n"
          "# TYPE lossd_request_duration_seconds histogram\n", f);
    for (size_t r = 0; r < m->n_routes; r++) {
        route_stats *st = &m->route[r];
        uint64_t count = load(&st->count);
        if (count == 0)
            continue;
        uint64_t sum_ns = load(&st->sum_ns);
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += load(&st->bucket[b]);
            fprintf(f, "lossd_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    m->route_name[r], BUCKETS[b], (unsigned long long)cum);
        }
        if (count < cum)
            count = cum;
        fprintf(f, "lossd_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                   "lossd_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                   "lossd_request_duration_seconds_count{route=\"%s\"} %llu\n",
                m->route_name[r], (unsigned long long)count, m->route_name[r],
                (double)sum_ns / 1e9, m->route_name[r], (unsigned long long)count);
    }
}

char *metrics_render(metrics *m, const metrics_gauges *g, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
    render_requests(m, f);
    render_histogram(m, f);
    fprintf(f, "# HELP lossd_queue_depth Loss jobs queued or running.\n"
               "# TYPE lossd_queue_depth gauge\n"
               "lossd_queue_depth %llu\n"
               "# HELP lossd_inflight_requests HTTP requests begun and not yet completed.\n"
               "# TYPE lossd_inflight_requests gauge\n"
               "lossd_inflight_requests %llu\n"
               "# HELP lossd_request_memory_bytes Bytes of request tensors and results held.\n"
               "# TYPE lossd_request_memory_bytes gauge\n"
               "lossd_request_memory_bytes %llu\n"
               "# HELP lossd_request_memory_limit_bytes The memory budget (--max-memory), 0 if none.\n"
               "# TYPE lossd_request_memory_limit_bytes gauge\n"
               "lossd_request_memory_limit_bytes %llu\n",
            (unsigned long long)g->queue_depth, (unsigned long long)g->inflight,
            (unsigned long long)g->memory, (unsigned long long)g->memory_limit);
    fprintf(f, "# HELP lossd_received_bytes_total Request body bytes received.\n"
               "# TYPE lossd_received_bytes_total counter\n"
               "lossd_received_bytes_total %llu\n"
               "# HELP lossd_scored_elements_total Input elements scored (N*C per request).\n"
               "# TYPE lossd_scored_elements_total counter\n"
               "lossd_scored_elements_total %llu\n",
            (unsigned long long)load(&m->received_bytes),
            (unsigned long long)load(&m->scored_elements));
    fprintf(f, "# HELP lossd_build_info Version and SIMD path of this lossd.\n"
               "# TYPE lossd_build_info gauge\n"
               "lossd_build_info{version=\"%s\",simd=\"%s\"} 1\n",
            m->version, m->simd);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
