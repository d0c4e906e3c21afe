/* accesslog.c - one access-log line per request on stderr, plain or JSON. */
#include "accesslog.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024
#define BUFFER_BYTES (16 * 1024)

/* Lines not yet written, per thread: each front-end loop logs its own
 * requests and writes them out under write_lock. */
static _Thread_local char pending[BUFFER_BYTES];
static _Thread_local size_t pending_len;

/* The formatted second of the last timestamp, reused within a second. */
static _Thread_local time_t cached_sec = -1;
static _Thread_local char cached_prefix[32];

/* How escape() writes: a JSON string's contents, a plain-log field
 * (split on spaces, so spaces are escaped too), or plain free text. */
typedef enum escape_mode { ESC_JSON, ESC_FIELD, ESC_TEXT } escape_mode;

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), 0 when there is none. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* Copy s into out (size bytes) escaped for mode: control bytes and bytes
 * that are not valid UTF-8 become \u00XX (JSON; also '"' and '\\') or
 * \xXX (in JSON as the text "\\xXX"), so a
 * line holds no terminal escapes or forged line breaks, and JSON lines
 * are valid UTF-8. Cut to fit, never in the middle of an escape. */
static void escape(const char *s, escape_mode mode, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p != '\0' && o + 8 < size) {
        unsigned char ch = *p;
        size_t seq = ch >= 0x80 ? utf8_len(p) : 1;
        if (ch >= 0x80 && seq > 0) {
            if (o + seq + 8 >= size)
                break;
            memcpy(out + o, p, seq);
            o += seq;
            p += seq;
            continue;
        }
        if (mode == ESC_JSON && (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\'))
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
        else if (ch < 0x20 || ch == 0x7f || ch >= 0x80 || (mode == ESC_FIELD && ch == ' '))
            o += (size_t)snprintf(out + o, size - o, mode == ESC_JSON ? "\\\\x%02x" : "\\x%02x",
                                  ch);
        else
            out[o++] = (char)ch;
        p++;
    }
    out[o] = '\0';
}

/* "2026-01-31T12:00:00.123Z"; the date part is formatted once a second. */
static void timestamp(char *buf, size_t size)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(cached_prefix, sizeof cached_prefix, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    snprintf(buf, size, "%s.%03dZ", cached_prefix, (int)(tv.tv_usec / 1000));
}

/* A bounded append cursor: formatting a line by hand keeps printf (and
 * its floating-point path) out of the per-request cost. */
typedef struct cursor {
    char *p, *end;                  /* end leaves room for "\n\0" */
} cursor;

static void put(cursor *c, const char *s)
{
    while (*s != '\0' && c->p < c->end)
        *c->p++ = *s++;
}

static void put_u64(cursor *c, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do
        tmp[i++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (i > 0 && c->p < c->end)
        *c->p++ = tmp[--i];
}

/* Seconds with 6 decimals, as "%.6f" would print a non-negative value. */
static void put_seconds(cursor *c, double seconds)
{
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;
    char frac[8];
    uint64_t f = us % 1000000;
    for (int i = 5; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    frac[6] = '\0';
    put_u64(c, us / 1000000);
    put(c, ".");
    put(c, frac);
}

size_t accesslog_format(config_log_format fmt, const access_entry *e, char *buf,
                        size_t size)
{
    char ts[40], method[24], path[256], id[80];
    int json = fmt == LOG_JSON;
    cursor c = {buf, buf + size - 2};
    timestamp(ts, sizeof ts);
    escape_mode mode = json ? ESC_JSON : ESC_FIELD;
    escape(e->method ? e->method : "-", mode, method, sizeof method);
    escape(e->path ? e->path : "-", mode, path, sizeof path);
    escape(e->request_id ? e->request_id : "-", mode, id, sizeof id);
    uint64_t status = e->status > 0 ? (uint64_t)e->status : 0;
    if (json) {
        put(&c, "{\"ts\":\"");
        put(&c, ts);
        put(&c, "\",\"method\":\"");
        put(&c, method);
        put(&c, "\",\"path\":\"");
        put(&c, path);
        put(&c, "\",\"status\":");
        put_u64(&c, status);
        put(&c, ",\"bytes_in\":");
        put_u64(&c, e->bytes_in);
        put(&c, ",\"bytes_out\":");
        put_u64(&c, e->bytes_out);
        put(&c, ",\"duration_s\":");
        put_seconds(&c, e->seconds);
        put(&c, ",\"request_id\":\"");
        put(&c, id);
        put(&c, "\"}");
    } else {
        put(&c, ts);
        put(&c, " ");
        put(&c, method);
        put(&c, " ");
        put(&c, path);
        put(&c, " ");
        put_u64(&c, status);
        put(&c, " in=");
        put_u64(&c, e->bytes_in);
        put(&c, " out=");
        put_u64(&c, e->bytes_out);
        put(&c, " dur=");
        put_seconds(&c, e->seconds);
        put(&c, " id=");
        put(&c, id);
    }
    *c.p++ = '\n';
    *c.p = '\0';
    return (size_t)(c.p - buf);
}

/* One writer at a time: a write of more than PIPE_BUF bytes to a pipe
 * (stderr under docker, Kubernetes, systemd) is not atomic, nor is the
 * loop that finishes a short write, so the front-end threads' buffers
 * would interleave mid-line. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_all(const char *buf, size_t len)
{
    pthread_mutex_lock(&write_lock);
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0)
            break;
        buf += w;
        len -= (size_t)w;
    }
    pthread_mutex_unlock(&write_lock);
}

void accesslog_flush(void)
{
    write_all(pending, pending_len);
    pending_len = 0;
}

void accesslog_write(config_log_format fmt, const access_entry *e)
{
    char line[LINE_MAX_BYTES];
    size_t n = accesslog_format(fmt, e, line, sizeof line);
    if (pending_len + n > sizeof pending)
        accesslog_flush();
    memcpy(pending + pending_len, line, n);
    pending_len += n;
}

void accesslog_event(config_log_format fmt, const char *message)
{
    char ts[40], msg[512], line[LINE_MAX_BYTES];
    int json = fmt == LOG_JSON;
    timestamp(ts, sizeof ts);
    escape(message, json ? ESC_JSON : ESC_TEXT, msg, sizeof msg);
    int n = json ? snprintf(line, sizeof line, "{\"ts\":\"%s\",\"event\":\"%s\"}\n", ts, msg)
                 : snprintf(line, sizeof line, "%s lossd: %s\n", ts, msg);
    accesslog_flush();
    if (n > 0)
        write_all(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
