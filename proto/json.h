/* json.h - the native JSON API (docs/wire.md, "JSON request" and "JSON
 * response"): streaming request decoder and cJSON-built responses with
 * shortest round-trip numbers. */
#ifndef LOSSD_JSON_H
#define LOSSD_JSON_H

#include <stddef.h>

#include "mml.h"
#include "decoder.h"

/* Streaming decoder (decoder.h) for application/json request bodies; the
 * answer is JSON, or an MMR1 frame when Accept asks for one (native.h). */
extern const decoder_ops json_decoder_ops;

/* Shortest decimal that reads back as the same dtype value (v must already
 * be a value of dtype). Writes a NUL-terminated string into buf (at least
 * 32 bytes) and returns its length. Non-finite values are written as
 * NaN, Infinity, -Infinity (no quotes). */
int json_fmt_shortest(double v, int dtype, char *buf);

/* {"loss": ..., "shape": [...], "dtype": ..., "reduction": ...} for the
 * output of req (mml_out_count(req) elements of req->dtype). Returns a
 * malloc'd body with *len set, or NULL when out of memory. */
char *json_encode_result(const mml_request *req, const void *out, size_t *len);

/* {"error": {"type": ..., "message": ..., "field": ...}}; field omitted
 * when NULL or empty. Malloc'd, NULL when out of memory. */
char *json_encode_error(const char *type, const char *message,
                        const char *field, size_t *len);

#endif
