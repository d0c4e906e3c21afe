/* hlist.h - HTTP list headers (RFC 9110 5.6.1): their elements, and the
 * q of an element (12.4.2), for Accept and Accept-Encoding alike. */
#ifndef LOSSD_HLIST_H
#define LOSSD_HLIST_H

#include <stddef.h>

/* The next element of the comma-separated list at *s, which it moves
 * past: *tok (*tok_len bytes) without blanks or parameters, *params the
 * bytes after its first ';' (none: *params_len 0). 0 when no element is
 * left. */
int hlist_next(const char **s, const char **tok, size_t *tok_len, const char **params,
               size_t *params_len);

/* The q parameter among params in thousandths: 1000 without one, 0 when
 * it is not a qvalue ("0", "0.5", "1.000": 0 or 1, then at most three
 * decimals), so that a malformed preference chooses nothing. */
int hlist_q(const char *params, size_t len);

/* 1 when an Accept header value (NULL when absent) asks for media type
 * (lower case, no parameters) rather than other, the default: type is
 * named (case-insensitively) with q > 0, and other, by the most specific
 * range that covers it (other itself, then its major type with a
 * wildcard subtype, then the full wildcard), has no higher q.
 * Wildcards never name type: a client only gets a binary body it asked
 * for by name, and curl's default Accept keeps JSON. A tie goes to type. */
int hlist_accepts(const char *accept, const char *type, const char *other);

#endif
