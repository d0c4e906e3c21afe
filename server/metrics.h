/* metrics.h - Prometheus counters, gauges and the request histogram of lossd. */
#ifndef LOSSD_METRICS_H
#define LOSSD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ROUTES 32

typedef struct metrics metrics;

/* Values sampled at render time rather than counted. */
typedef struct metrics_gauges {
    uint64_t queue_depth;   /* jobs queued or running */
    uint64_t inflight;      /* requests begun and not yet completed */
    uint64_t memory;        /* bytes of request tensors and results held */
    uint64_t memory_limit;  /* --max-memory, 0: none */
} metrics_gauges;

/* route_names[0..n_routes) label requests_total and the histogram; index
 * n_routes is the label "unknown" for paths no route matched. The strings
 * must outlive the metrics and need no escaping (plain identifiers, as
 * must version and simd). NULL when out of memory or n_routes too big. */
metrics *metrics_create(const char *const *route_names, size_t n_routes,
                        const char *version, const char *simd);
/* metrics_destroy(NULL) is a no-op. */
void metrics_destroy(metrics *m);

/* Count one request with the status answered, 0 when its response was
 * never delivered. route is an index given to create (an out-of-range
 * index counts as "unknown"). Thread-safe. */
void metrics_request(metrics *m, size_t route, int status, double seconds);
void metrics_add_received(metrics *m, uint64_t bytes);
void metrics_add_scored(metrics *m, uint64_t elements);

/* The text exposition format 0.0.4. Returns a malloc'd body with *len
 * set, or NULL when out of memory. Thread-safe. */
char *metrics_render(metrics *m, const metrics_gauges *g, size_t *len);

#endif
