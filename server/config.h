/* config.h - lossd start-up configuration: flags with environment twins (README.md, "Configuration"). */
#ifndef LOSSD_CONFIG_H
#define LOSSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#ifndef LOSSD_VERSION
#define LOSSD_VERSION "0.1.0"
#endif

/* Memory the process needs beside the --max-memory budget: the 48 MiB
 * the budget's bound allows over it, and the server's own baseline. The
 * default budget leaves at least this much of the memory available. */
#define CONFIG_MEMORY_HEADROOM ((uint64_t)96 << 20)

typedef enum config_log_format {
    LOG_PLAIN = 0,
    LOG_JSON = 1
} config_log_format;

/* What main() should do after parsing. */
typedef enum config_action {
    CONFIG_RUN = 0,
    CONFIG_HELP,
    CONFIG_VERSION
} config_action;

/* The longest origin --cors-origins takes: "https://", a 253-character
 * host name, ":65535". */
#define CONFIG_ORIGIN_MAX 267
#define CONFIG_CORS_MAX 16                /* origins --cors-origins may list */

typedef struct config {
    config_action action;
    char listen[128];                 /* as given, e.g. "0.0.0.0:8080" */
    struct sockaddr_storage addr;     /* parsed listen address, port included */
    socklen_t addr_len;
    unsigned port;
    unsigned threads;                 /* libuv pool size, 1..1024 */
    unsigned http_threads;            /* front-end event loops, 1..64 */
    uint64_t max_body;                /* bytes */
    uint64_t max_memory;              /* bytes of request tensors at once, 0: no limit */
    unsigned queue_depth;             /* queued + running jobs */
    unsigned timeout;                 /* idle connection timeout, seconds */
    unsigned drain_timeout;           /* seconds allowed for a graceful stop */
    unsigned max_connections;         /* open connections, all front ends together */
    unsigned max_connections_per_ip;  /* from one client address, 0: no limit */
    uint64_t min_body_rate;           /* body bytes per second, 0: no minimum */
    config_log_format log_format;
    unsigned n_cors;                  /* origins in cors_origin; 0: no CORS */
    int cors_any;                     /* --cors-origins '*' (cors_origin[0] is "*") */
    char cors_origin[CONFIG_CORS_MAX][CONFIG_ORIGIN_MAX + 1];
} config;

/* Sockets a front end keeps draining after a refusal (http.c, the
 * lingering close), each one file descriptor. */
#define CONFIG_LINGER_PER_FRONT 32

/* File descriptors lossd needs besides its connections with http_threads
 * front ends: standard streams, the listening socket, each loop's and
 * daemon's epoll and wake-up fds, lingering sockets, and some slack. */
unsigned config_fd_reserve(unsigned http_threads);

/* Raise the soft limit of open files to the hard one; returns the soft
 * limit in force afterwards. */
unsigned config_raise_fd_limit(void);

/* Fill *cfg from the defaults, then the LOSSD_* environment, then argv
 * (flags win over the environment). Returns 0, or -1 with a one-line
 * message for the user in err (errlen bytes) on a bad flag or value. */
int config_parse(config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Parse "ADDR:PORT" or "[V6ADDR]:PORT" (numeric addresses, "localhost",
 * or an empty ADDR for 0.0.0.0) into cfg->addr/addr_len/port. Returns 0
 * or -1 with err filled. */
int config_parse_listen(config *cfg, const char *value, char *err, size_t errlen);

/* CPUs a cgroup v2 cpu.max file at path grants ("QUOTA PERIOD",
 * rounded up), or 0 when it sets no quota ("max ...") or cannot be read. */
unsigned config_cpu_quota(const char *path);

/* The memory limit a cgroup file at path sets (v2 memory.max, v1
 * memory.limit_in_bytes), or 0 when it sets none ("max") or cannot be
 * read. */
uint64_t config_memory_limit(const char *path);

/* 1 when --cors-origins lets a browser page from origin (the Origin
 * header's value) read the answers: the list is "*" or names it
 * (compared case-insensitively). 0 without --cors-origins. */
int config_cors_allows(const config *cfg, const char *origin);

/* The --help text. */
void config_usage(FILE *out, const char *prog);

#endif
