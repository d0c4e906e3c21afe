/* httpcheck.h - pure checks and rewrites of HTTP request bytes (RFC 9110,
 * RFC 9112) that libmicrohttpd 0.9.75 does not make, kept apart from the
 * connection code so that unit tests reach them. No I/O, no state. */
#ifndef LOSSD_HTTPCHECK_H
#define LOSSD_HTTPCHECK_H

#include <stddef.h>
#include <stdint.h>

/* src into dst (size bytes, at least 1), cut to fit, always terminated. */
void httpcheck_copy(char *dst, size_t size, const char *src);

/* The request path as messages, logs and metrics show it: control bytes
 * and bytes >= 0x80 percent-encoded again, so that every sink gets ASCII
 * (a raw 0xFF made the 404 body and the JSON access log invalid UTF-8, a
 * raw newline could forge a plain log line). Cut to fit size bytes (at
 * least 1), never in the middle of an escape. */
void httpcheck_safe_path(char *dst, size_t size, const char *src);

/* The path of a request target (RFC 9112 3.2): an absolute-form target
 * ("http://host:8080/healthz", which proxies send) without its scheme and
 * authority ("/" when it has no path); any other target as it is. */
const char *httpcheck_origin_path(const char *target);

/* Percent-decode url in place, as libmicrohttpd does, except that %00
 * stays as it is: decoded, it ended the path early ("/healthz%00x" was
 * answered as /healthz). A '%' without two hex digits stays too. Returns
 * the new length. */
size_t httpcheck_unescape(char *url);

/* 1 when a preflight's Access-Control-Request-Headers value can be
 * echoed as it is: header names (RFC 9110 tokens), commas and blanks, at
 * most 1024 bytes; 0 otherwise. */
int httpcheck_plain_header_list(const char *s);

/* A Content-Length value: *ok = 1 and the value when it is a plain
 * decimal that fits in 64 bits; *ok = 0 (and an unspecified value) for
 * NULL, empty, signs, blanks or overflow. */
uint64_t httpcheck_content_length(const char *s, int *ok);

/* A header that must not come twice with different values: how many
 * times it came, and whether the values differ. Start it zeroed. */
typedef struct header_count {
    int count, differ;
    const char *first;         /* the first value (not copied) */
} header_count;

/* Count one more value of the header. */
void httpcheck_count(header_count *h, const char *value);

/* Why the body's framing is ambiguous, or NULL (RFC 9112 6.1 and 6.3),
 * given the request's Transfer-Encodings and Content-Lengths:
 * libmicrohttpd 0.9.75 reads only chunked bodies, takes the first of
 * several Content-Lengths or Transfer-Encodings, and waits for the close
 * after any other Transfer-Encoding; a proxy in front may frame the same
 * bytes otherwise. */
const char *httpcheck_framing_error(const header_count *codings, const header_count *lengths);

/* 1 when name (len bytes) is a field name: a non-empty RFC 9110 token. */
int httpcheck_field_name_ok(const char *name, size_t len);

/* Why a header field (name and value as parsed) breaks RFC 9110 5.1/5.5,
 * or NULL: whitespace before the colon (libmicrohttpd 0.9.75 keeps it
 * in the name), a name that is not a token, a bare CR or another control
 * byte but HTAB in the value. */
const char *httpcheck_field_error(const char *name, size_t name_len, const char *value,
                                  size_t value_len);

/* The header section as libmicrohttpd 0.9.75 leaves it in its read
 * buffer, walked field by field to find what its parser hides: it
 * overwrites each line end (CR LF or a bare LF) and each field's colon
 * with NUL in place, and hands out names and values as C strings inside
 * that buffer, so a NUL in a value silently cuts it, a line starting
 * with NUL ends the section early, and an obs-fold line is glued to the
 * previous field. Every byte of the section must be accounted for by a
 * field, the NULs of its colon and line ends and the blanks before its
 * value. */
typedef struct httpcheck_section {
    const char *block, *end;   /* the section: request line to empty line */
    const char *at;            /* where the last line accounted for ends */
    int layout;                /* 0: not 0.9.75's layout, only fields are checked */
} httpcheck_section;

/* Start walking the section block (len bytes: from the first byte of the
 * request line, MHD's method pointer, to the end of the empty line,
 * MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE), whose request line ends at
 * line_end (the end of its version). With line_end outside the block,
 * only httpcheck_field_error runs. */
void httpcheck_section_start(httpcheck_section *s, const char *block, size_t len,
                             const char *line_end);

/* The next field in the order received: why the section is malformed up
 * to the end of this field, or NULL. */
const char *httpcheck_section_field(httpcheck_section *s, const char *name, size_t name_len,
                                    const char *value, size_t value_len);

/* After the last field: why the rest of the section is malformed, or
 * NULL. A NUL as the last byte of a value, just before a bare LF, reads
 * like a CR LF and goes unnoticed; the field is the same either way. */
const char *httpcheck_section_end(const httpcheck_section *s);

/* Why the request's Host headers are wrong, or NULL (RFC 9112 3.2): an
 * HTTP/1.1 request must have exactly one; HTTP/1.0 (version
 * "HTTP/1.0") may have none. */
const char *httpcheck_host_error(const char *version, const header_count *hosts);

#endif
