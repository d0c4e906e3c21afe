/* reqid.h - X-Request-Id: validate a client's id or generate a unique one. */
#ifndef LOSSD_REQID_H
#define LOSSD_REQID_H

#include <stddef.h>

/* Longest id echoed or generated, without the NUL. */
#define REQID_MAX 64

/* 1 when id (may be NULL) is safe to echo: 1..REQID_MAX bytes of visible
 * ASCII (0x21..0x7e), so it can go into a header and a log line as is. */
int reqid_is_sane(const char *id);

/* Write a new id into out (REQID_MAX + 1 bytes): a per-process random
 * prefix and a counter, "5f3a9c0e12d4b7a1-000000000000002a". Unique within
 * the process and, with overwhelming probability, across processes.
 * Thread-safe. */
void reqid_generate(char *out);

/* Copy the client's id into out when sane, else generate one. */
void reqid_assign(const char *client_id, char *out);

#endif
