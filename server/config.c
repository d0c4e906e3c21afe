/* config.c - lossd start-up configuration: defaults, LOSSD_* environment, flags. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum opt_kind {
    OPT_LISTEN,
    OPT_UINT,      /* unsigned field */
    OPT_U64,       /* uint64_t field */
    OPT_LOGFMT,
    OPT_CORS
} opt_kind;

/* One row per setting: the flag, its environment twin, and where the
 * value goes. --help is generated from this table too. */
typedef struct opt_def {
    const char *flag;
    const char *env;
    const char *metavar;
    opt_kind kind;
    size_t offset;
    uint64_t lo, hi;
    const char *help;
} opt_def;

#define FIELD(f) offsetof(config, f)

static const opt_def OPTIONS[] = {
    {"--listen", "LOSSD_LISTEN", "ADDR:PORT", OPT_LISTEN, 0, 0, 0,
     "address to listen on; [::]:PORT for IPv6, port 0 picks a free one (default 0.0.0.0:8080)"},
    {"--threads", "LOSSD_THREADS", "N", OPT_UINT, FIELD(threads), 1, 1024,
     "worker threads of the loss pool, 1..1024 (default: CPUs available, cgroup quota included)"},
    {"--http-threads", "LOSSD_HTTP_THREADS", "N", OPT_UINT, FIELD(http_threads), 1, 64,
     "event-loop threads reading requests and decoding bodies, 1..64 (default: CPUs "
     "available, at most 8)"},
    {"--max-body", "LOSSD_MAX_BODY", "BYTES", OPT_U64, FIELD(max_body), 1, UINT64_C(1) << 40,
     "largest accepted request body in bytes (default 67108864)"},
    {"--max-memory", "LOSSD_MAX_MEMORY", "BYTES", OPT_U64, FIELD(max_memory), 0,
     UINT64_C(1) << 50,
     "memory for the requests in progress (tensors, buffered headers, answers not yet "
     "sent); a request that would go past it gets 503, or 413 if it alone is more than "
     "it (default: half the memory available, cgroup limit included, at least twice "
     "--max-body but leaving 96 MiB of it free; 0: no limit)"},
    {"--queue-depth", "LOSSD_QUEUE_DEPTH", "N", OPT_UINT, FIELD(queue_depth), 1, 1000000,
     "jobs queued or running before requests get 503 (default 1024)"},
    {"--timeout", "LOSSD_TIMEOUT", "SECONDS", OPT_UINT, FIELD(timeout), 1, 86400,
     "idle or slow connection timeout (default 30)"},
    {"--max-connections", "LOSSD_MAX_CONNECTIONS", "N", OPT_UINT, FIELD(max_connections), 1,
     10000000,
     "open connections at most; near it the oldest idle keep-alive connections are closed "
     "to make room (default: the open-file limit, raised to its hard limit, less what lossd "
     "needs besides)"},
    {"--max-connections-per-ip", "LOSSD_MAX_CONNECTIONS_PER_IP", "N", OPT_UINT,
     FIELD(max_connections_per_ip), 0, 10000000,
     "connections from one client address; near it that address's oldest idle ones are "
     "closed first, past it new ones are refused (default 0: no limit, as clients behind "
     "a proxy or NAT share one address)"},
    {"--min-body-rate", "LOSSD_MIN_BODY_RATE", "BYTES", OPT_U64, FIELD(min_body_rate), 0,
     UINT64_C(1) << 40,
     "request body bytes per second a client must keep up, over any 5 seconds, or its "
     "connection is closed (default 8192; 0: no minimum)"},
    {"--drain-timeout", "LOSSD_DRAIN_TIMEOUT", "SECONDS", OPT_UINT, FIELD(drain_timeout), 0, 86400,
     "time allowed for in-flight requests at SIGTERM/SIGINT (default 20)"},
    {"--log-format", "LOSSD_LOG_FORMAT", "plain|json", OPT_LOGFMT, 0, 0, 0,
     "access log format on stderr (default plain)"},
    {"--cors-origins", "LOSSD_CORS_ORIGINS", "ORIGINS", OPT_CORS, 0, 0, 0,
     "browser origins whose pages may call the API (CORS), comma-separated, e.g. "
     "https://dash.example.com, or * for any (default: none)"},
};

#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* quota / period CPUs, rounded up; 0 for no quota. */
static unsigned quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return 0;
    long long n = (quota + period - 1) / period;
    return n > 1024 ? 1024 : (unsigned)n;
}

/* The first numbers of a small file: how many were read (0 if none). */
static int read_numbers(const char *path, long long *a, long long *b)
{
    char text[64] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    int n = sscanf(text, "%lld %lld", a, b);
    return n > 0 ? n : 0;
}

unsigned config_cpu_quota(const char *path)
{
    long long quota, period;
    if (read_numbers(path, &quota, &period) != 2)
        return 0;                           /* "max PERIOD": no quota */
    return quota_cpus(quota, period);
}

/* cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. */
static unsigned cpu_quota_v1(void)
{
    long long quota, period, unused;
    if (read_numbers("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &quota, &unused) < 1 ||
        read_numbers("/sys/fs/cgroup/cpu/cpu.cfs_period_us", &period, &unused) < 1)
        return 0;
    return quota_cpus(quota, period);
}

/* CPUs this process may use, at least 1: those it may run on
 * (taskset/cpusets), and no more than a cgroup CPU quota grants (a
 * container limited to 2 CPUs on a 64-CPU node counts 2). */
static unsigned cpu_count(void)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    unsigned quota = config_cpu_quota("/sys/fs/cgroup/cpu.max");
    if (quota == 0)
        quota = cpu_quota_v1();
    if (quota > 0 && quota < n)
        n = quota;
    return n > 1024 ? 1024 : (unsigned)n;
}

uint64_t config_memory_limit(const char *path)
{
    long long v, unused;
    if (read_numbers(path, &v, &unused) < 1 || v <= 0)
        return 0;                           /* "max": no limit */
    return (uint64_t)v;
}

/* Memory this process may use: physical memory, or less when a cgroup
 * (v2, else v1) limits it; 0 when unknown. */
static uint64_t memory_available(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t phys = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
    uint64_t limit = config_memory_limit("/sys/fs/cgroup/memory.max");
    if (limit == 0)
        limit = config_memory_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    return limit > 0 && (phys == 0 || limit < phys) ? limit : phys;
}

/* Strict decimal: digits only, no sign, no blanks, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int set_number(config *cfg, const opt_def *o, const char *src,
                      const char *value, char *err, size_t errlen)
{
    uint64_t v;
    if (parse_u64(value, &v) < 0 || v < o->lo || v > o->hi)
        return fail(err, errlen, "%s: invalid value '%s' (expected an integer in %llu..%llu)",
                    src, value, (unsigned long long)o->lo, (unsigned long long)o->hi);
    if (o->kind == OPT_U64)
        *(uint64_t *)((char *)cfg + o->offset) = v;
    else
        *(unsigned *)((char *)cfg + o->offset) = (unsigned)v;
    return 0;
}

/* An origin as browsers send it: scheme "://" host [":" port], no path,
 * no blanks (RFC 6454 serialization). */
static int valid_origin(const char *s, size_t len)
{
    size_t scheme = len >= 7 && strncasecmp(s, "http://", 7) == 0    ? 7
                    : len >= 8 && strncasecmp(s, "https://", 8) == 0 ? 8
                                                                     : 0;
    if (scheme == 0 || scheme == len)
        return 0;
    for (size_t i = scheme; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("-.:[]", s[i]) == NULL)
            return 0;
    return 1;
}

/* --cors-origins: "*" alone, or up to CONFIG_CORS_MAX origins separated
 * by commas (blanks around them are dropped, and a trailing comma, blanks
 * or not; an empty origin between commas is an error). */
static int set_cors(config *cfg, const char *src, const char *value, char *err, size_t errlen)
{
    unsigned n = 0;
    int any = 0;
    for (const char *p = value; *p != '\0';) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        int star = end == 1 && p[0] == '*';
        if ((!star && !valid_origin(p, end)) || ((star || any) && n > 0))
            return fail(err, errlen, "%s: invalid origin '%.*s' (expected * alone, or "
                        "scheme://host[:port] separated by commas)", src, (int)end, p);
        if (end > CONFIG_ORIGIN_MAX)
            return fail(err, errlen, "%s: origin '%.32s...' is longer than %d characters", src,
                        p, CONFIG_ORIGIN_MAX);
        if (n == CONFIG_CORS_MAX)
            return fail(err, errlen, "%s: more than %d origins", src, CONFIG_CORS_MAX);
        memcpy(cfg->cors_origin[n], p, end);
        cfg->cors_origin[n++][end] = '\0';
        any = star;
        p += len + (p[len] == ',');
    }
    if (n == 0)
        return fail(err, errlen, "%s: no origin given", src);
    cfg->n_cors = n;
    cfg->cors_any = any;
    return 0;
}

int config_cors_allows(const config *cfg, const char *origin)
{
    if (origin == NULL)
        return 0;
    if (cfg->cors_any)
        return 1;
    for (unsigned i = 0; i < cfg->n_cors; i++)
        if (strcasecmp(cfg->cors_origin[i], origin) == 0)
            return 1;
    return 0;
}

static int set_option(config *cfg, const opt_def *o, const char *src,
                      const char *value, char *err, size_t errlen)
{
    char sub[160];
    switch (o->kind) {
    case OPT_LISTEN:
        if (config_parse_listen(cfg, value, sub, sizeof sub) < 0)
            return fail(err, errlen, "%s: %s", src, sub);
        return 0;
    case OPT_LOGFMT:
        if (strcmp(value, "plain") == 0)
            cfg->log_format = LOG_PLAIN;
        else if (strcmp(value, "json") == 0)
            cfg->log_format = LOG_JSON;
        else
            return fail(err, errlen, "%s: invalid value '%s' (expected plain or json)", src, value);
        return 0;
    case OPT_CORS:
        return set_cors(cfg, src, value, err, errlen);
    case OPT_UINT:
    case OPT_U64:
        return set_number(cfg, o, src, value, err, errlen);
    }
    return fail(err, errlen, "%s: unhandled option kind", src);
}

static int parse_port(const char *s, unsigned *port)
{
    uint64_t v;
    if (parse_u64(s, &v) < 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

int config_parse_listen(config *cfg, const char *value, char *err, size_t errlen)
{
    char host[64];
    const char *port_s;
    unsigned port;
    size_t hlen;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (close == NULL || close[1] != ':')
            return fail(err, errlen, "invalid address '%s' (expected [IPV6]:PORT)", value);
        hlen = (size_t)(close - value - 1);
        port_s = close + 2;
        if (hlen >= sizeof host)
            return fail(err, errlen, "invalid address '%s'", value);
        memcpy(host, value + 1, hlen);
    } else {
        const char *colon = strrchr(value, ':');
        if (colon == NULL)
            return fail(err, errlen, "invalid address '%s' (expected ADDR:PORT)", value);
        hlen = (size_t)(colon - value);
        port_s = colon + 1;
        if (hlen >= sizeof host || memchr(value, ':', hlen) != NULL)
            return fail(err, errlen, "invalid address '%s' (write IPv6 as [ADDR]:PORT)", value);
        memcpy(host, value, hlen);
    }
    host[hlen] = '\0';
    if (parse_port(port_s, &port) < 0)
        return fail(err, errlen, "invalid port in '%s' (expected 0..65535)", value);

    memset(&cfg->addr, 0, sizeof cfg->addr);
    if (value[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cfg->addr;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return fail(err, errlen, "invalid IPv6 address '%s'", host);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        cfg->addr_len = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&cfg->addr;
        const char *h = host;
        if (h[0] == '\0')
            h = "0.0.0.0";
        else if (strcmp(h, "localhost") == 0)
            h = "127.0.0.1";
        if (inet_pton(AF_INET, h, &a4->sin_addr) != 1)
            return fail(err, errlen, "invalid IPv4 address '%s'", host);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        cfg->addr_len = sizeof *a4;
    }
    cfg->port = port;
    snprintf(cfg->listen, sizeof cfg->listen, "%s", value);
    return 0;
}

static void set_defaults(config *cfg)
{
    char unused[8];
    memset(cfg, 0, sizeof *cfg);
    cfg->action = CONFIG_RUN;
    cfg->threads = cpu_count();
    cfg->http_threads = cfg->threads < 8 ? cfg->threads : 8;
    cfg->max_body = UINT64_C(67108864);
    cfg->max_memory = memory_available() / 2;   /* at least 2 x max_body: config_parse() */
    cfg->queue_depth = 1024;
    cfg->timeout = 30;
    cfg->drain_timeout = 20;
    cfg->min_body_rate = 8192;
    cfg->log_format = LOG_PLAIN;
    (void)config_parse_listen(cfg, "0.0.0.0:8080", unused, sizeof unused);
}

static const opt_def *find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(OPTIONS[i].flag) == len && strncmp(OPTIONS[i].flag, arg, len) == 0)
            return &OPTIONS[i];
    return NULL;
}

/* The environment twins of the settings no flag gave (given[i] != 0):
 * a flag wins, so a bad variable it overrides is not an error. An empty
 * variable counts as unset, as LOSSD_SIMD does: a Kubernetes ConfigMap
 * or a compose file easily sets LOSSD_THREADS= to nothing. */
static int parse_env(config *cfg, unsigned char *given, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = getenv(OPTIONS[i].env);
        if (v == NULL || *v == '\0' || given[i])
            continue;
        if (set_option(cfg, &OPTIONS[i], OPTIONS[i].env, v, err, errlen) < 0)
            return -1;
        given[i] = 1;
    }
    return 0;
}

/* Flags as "--flag value" or "--flag=value". */
static int parse_args(config *cfg, int argc, char **argv, unsigned char *given, char *err,
                      size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->action = CONFIG_HELP;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            cfg->action = CONFIG_VERSION;
            return 0;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const opt_def *o = find_flag(arg, len);
        if (o == NULL)
            return fail(err, errlen, "unknown argument '%s' (see --help)", arg);
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value (%s)", o->flag, o->metavar);
            value = argv[++i];
        }
        if (set_option(cfg, o, o->flag, value, err, errlen) < 0)
            return -1;
        given[o - OPTIONS] = 1;
    }
    return 0;
}

unsigned config_fd_reserve(unsigned http_threads)
{
    return 64 + http_threads * (8 + CONFIG_LINGER_PER_FRONT);
}

unsigned config_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    return rl.rlim_cur > 100000000 ? 100000000 : (unsigned)rl.rlim_cur;
}

/* The open-file limit in force (soft), capped to an unsigned. */
static unsigned fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    return rl.rlim_cur > 100000000 ? 100000000 : (unsigned)rl.rlim_cur;
}

/* --max-connections and --max-connections-per-ip: defaults from the
 * open-file limit, and no more connections than it leaves room for. */
static int set_connection_limits(config *cfg, const unsigned char *given, char *err,
                                 size_t errlen)
{
    unsigned files = fd_limit(), reserve = config_fd_reserve(cfg->http_threads);
    unsigned room = files > reserve + 16 ? files - reserve : 16;
    const opt_def *max = find_flag("--max-connections", strlen("--max-connections"));
    if (!given[max - OPTIONS])
        cfg->max_connections = room;
    else if (cfg->max_connections > room)
        return fail(err, errlen, "--max-connections %u: the open-file limit (ulimit -n) is %u, "
                    "room for %u connections besides the %u files lossd needs",
                    cfg->max_connections, files, room, reserve);
    return 0;
}

int config_parse(config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    unsigned char given[N_OPTIONS] = { 0 };
    set_defaults(cfg);
    if (parse_args(cfg, argc, argv, given, err, errlen) < 0)
        return -1;
    if (cfg->action != CONFIG_RUN)
        return 0;
    if (parse_env(cfg, given, err, errlen) < 0)
        return -1;
    /* The default budget holds at least one request of the largest size,
     * with room for the JSON decoder's final copy, but never more than the
     * memory there is less the headroom beside the budget (RSS stays
     * within --max-memory + 48 MiB, README "Reliability"): in a small pod
     * a big request gets 413 rather than the pod an OOM kill. */
    const opt_def *mem = find_flag("--max-memory", strlen("--max-memory"));
    if (!given[mem - OPTIONS] && cfg->max_memory != 0) {
        uint64_t avail = memory_available();
        if (cfg->max_memory / 2 < cfg->max_body)
            cfg->max_memory = cfg->max_body * 2;
        if (avail > CONFIG_MEMORY_HEADROOM && cfg->max_memory > avail - CONFIG_MEMORY_HEADROOM)
            cfg->max_memory = avail - CONFIG_MEMORY_HEADROOM;
    }
    return set_connection_limits(cfg, given, err, errlen);
}

void config_usage(FILE *out, const char *prog)
{
    fprintf(out, "Usage: %s [OPTION]...\n"
                 "lossd %s - HTTP service computing multi_margin_loss.\n\n"
                 "Options (each has an environment twin; flags override it):\n",
            prog, LOSSD_VERSION);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s %s", OPTIONS[i].flag, OPTIONS[i].metavar);
        fprintf(out, "  %-28s %s\n  %-28s [env %s]\n", left, OPTIONS[i].help, "",
                OPTIONS[i].env);
    }
    fprintf(out, "  %-28s %s\n  %-28s %s\n\n", "--help", "show this help and exit",
            "--version", "print the version and exit");
    fprintf(out, "Environment: LOSSD_SIMD=scalar|sse2|avx2|avx512 forces a kernel path.\n"
                 "Exit status: 0 after a clean stop, 1 if the drain timeout passed with\n"
                 "requests still running, 2 for a bad configuration.\n");
}
