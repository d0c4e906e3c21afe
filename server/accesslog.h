/* accesslog.h - one access-log line per request on stderr, plain or JSON. */
#ifndef LOSSD_ACCESSLOG_H
#define LOSSD_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct access_entry {
    const char *method;
    const char *path;
    int status;              /* 0 when no response was sent */
    uint64_t bytes_in;       /* request body */
    uint64_t bytes_out;      /* response body */
    double seconds;
    const char *request_id;
} access_entry;

/* Format e as one line ending in '\n' into buf (size bytes, at least 64);
 * fields too long are cut, never the line's shape. Returns its length. */
size_t accesslog_format(config_log_format fmt, const access_entry *e, char *buf,
                        size_t size);

/* Queue the line of e for stderr. Lines are buffered and written by
 * accesslog_flush() (or when the buffer fills), so a loop turn that
 * completes many requests costs one write(). Each thread has its own
 * buffer: call accesslog_flush() on the thread that wrote. */
void accesslog_write(config_log_format fmt, const access_entry *e);

/* Write the calling thread's buffered lines to fd 2. */
void accesslog_flush(void);

/* A start-up or shutdown message, or one of libmicrohttpd's, in the same
 * format ("event" line), written at once after the calling thread's
 * buffered lines. Control bytes and invalid UTF-8 in message are escaped
 * (\xXX; JSON lines stay valid UTF-8). */
void accesslog_event(config_log_format fmt, const char *message);

#endif
