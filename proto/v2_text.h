/* v2_text.h - internal to v2.c: the v2 JSON request checked as text, and
 * its tensor "data" arrays read from the text instead of through cJSON.
 *
 * A cJSON tree takes up to ~30 times its text (64 bytes a number), so a
 * request whose tensors travel as JSON would cost gigabytes at the body
 * limit. v2.c therefore checks the text here first, gives cJSON a copy
 * with every data array of the "inputs" replaced by [] (a few hundred
 * bytes), and reads the arrays from the text into the tensor buffers. */
#ifndef LOSSD_V2_TEXT_H
#define LOSSD_V2_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"

/* Nesting deeper than this is refused (a tensor's data needs its rank). */
#define V2_TEXT_MAX_DEPTH 64

/* The value of "data" in element pos of the root's "inputs" array, an
 * array at text[off, off + len). */
typedef struct v2_span {
    size_t off, len;
    int pos;
} v2_span;

/* Check that s[0..n) is one JSON value (RFC 8259) and whitespace. Inside
 * the inputs' data arrays the bare NaN, Infinity, -Infinity, Inf and -Inf
 * that Python's json module and Triton write are numbers too. 0 with
 * *spans (malloc'd, free() it; NULL when *nspans is 0) and *nspans set,
 * in text order; MML_EBADREQ naming the byte, or MML_ENOMEM. The text
 * must be valid UTF-8 (utf8.h): only the JSON grammar is checked.
 * trailing, when not NULL, is added to the message for bytes after the
 * JSON value: what the caller knows of why they may be there. */
int v2_text_scan(const char *s, size_t n, const char *trailing, v2_span **spans, int *nspans,
                 mml_error *err);

/* A malloc'd copy of s[0..n) with every span replaced by "[]", NUL
 * terminated, its length in *len; NULL when out of memory. */
char *v2_text_compact(const char *s, size_t n, const v2_span *spans, int nspans, size_t *len);

/* Where the elements of one data array go: count values of dtype (an
 * MML dtype, or 0 for int64 targets) in buf; name and field name the
 * tensor in messages. */
typedef struct v2_sink {
    const char *name, *field;
    int dtype;
    void *buf;
    uint64_t count;
} v2_sink;

/* Store the elements of the data array at s[sp->off ..] (nested arrays
 * are read in order, as one flat list) into out->buf, at most
 * out->count of them, and set *seen to how many there are. A float
 * element is a number, one of the bare non-finite names above, or the
 * string "NaN", "Infinity" or "-Infinity"; a target element an integer
 * literal in int64 range. 0, or MML_ETYPE naming the element. The span
 * must come from v2_text_scan() on the same text. */
int v2_text_read(const char *s, const v2_span *sp, const v2_sink *out, uint64_t *seen,
                 mml_error *err);

#endif
