/* inflate.h - HTTP content codings: streaming gzip/deflate request
 * decompression with a bound on the decompressed size, Content-Encoding
 * and Accept-Encoding parsing, and gzip/deflate response compression.
 *
 * Server use for a request body:
 *
 *     int coding = inflate_parse_content_encoding(header or NULL);
 *     if (coding == CODING_UNKNOWN) -> 415 UnsupportedMediaType
 *     if (coding != CODING_IDENTITY)
 *         dec = inflate_decoder_wrap(coding, max_body, dec, &err);
 *
 * and dec, a decoder like any other (decoder.h), decompresses what it is
 * fed into the format's decoder. inflater_create() is the same without a
 * decoder: decompressed bytes go to any sink.
 *
 * The compressed body (Content-Length) is bounded by the server as usual;
 * the inflater bounds the decompressed bytes to max_out, so a zip bomb
 * fails with MML_ETOOBIG (413) after at most max_out bytes of output and
 * a fixed 64 KiB of scratch memory. Corrupt or truncated streams and data
 * after the end of a deflate stream are MML_EBADREQ (400).
 *
 * For a response: coding = inflate_pick_response_coding(Accept-Encoding,
 * body_len); if it is not CODING_IDENTITY, inflate_compress() the body and
 * send it with "Content-Encoding: gzip" (or "deflate") and
 * "Vary: Accept-Encoding". Headers describing the uncompressed body, such
 * as Inference-Header-Content-Length, keep their uncompressed values. */
#ifndef LOSSD_INFLATE_H
#define LOSSD_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"
#include "decoder.h"

typedef enum content_coding {
    CODING_UNKNOWN = -1,
    CODING_IDENTITY = 0,
    CODING_GZIP = 1,      /* RFC 1952 gzip, members may be concatenated */
    CODING_DEFLATE = 2    /* RFC 1950 zlib stream; raw RFC 1951 accepted too */
} content_coding;

/* Responses shorter than this are not worth compressing. */
#define INFLATE_MIN_COMPRESS 1024

/* A Content-Encoding header value: NULL, empty or "identity" is
 * CODING_IDENTITY; "gzip" or "x-gzip" CODING_GZIP; "deflate"
 * CODING_DEFLATE (case-insensitive, spaces ignored, "identity" entries in
 * a list skipped). Anything else, including two codings stacked, is
 * CODING_UNKNOWN: answer 415. */
content_coding inflate_parse_content_encoding(const char *value);

/* Receives decompressed bytes; returns 0 or a negative MML code with
 * *err filled, which stops the inflater (sticky). */
typedef int (*inflate_sink)(void *ctx, const char *data, size_t len, mml_error *err);

typedef struct inflater inflater;

/* An inflater for coding (CODING_GZIP or CODING_DEFLATE) that passes at
 * most max_out decompressed bytes to sink(ctx, ...). NULL when out of
 * memory or coding is not a compressed one. sink and ctx stay the
 * caller's and must outlive the inflater. */
inflater *inflater_create(content_coding coding, uint64_t max_out,
                          inflate_sink sink, void *ctx);

/* Decompress len bytes of body and feed the output to the sink. 0, or a
 * negative code with *err filled: MML_EBADREQ for corrupt data,
 * MML_ETOOBIG past max_out, MML_ENOMEM, or the sink's own code. After a
 * failure every later call returns the same failure. */
int inflater_feed(inflater *z, const char *data, size_t len, mml_error *err);

/* End of body: 0 when the compressed stream ended cleanly, else
 * MML_EBADREQ ("truncated") or the earlier failure. Does not finish the
 * sink's decoder; the caller does that next. */
int inflater_finish(inflater *z, mml_error *err);

/* Decompressed bytes passed to the sink so far. */
uint64_t inflater_total_out(const inflater *z);

/* Free the inflater (not the sink). NULL is a no-op. */
void inflater_destroy(inflater *z);

/* The coding to answer with, given the request's Accept-Encoding (NULL
 * when absent) and the body length: CODING_GZIP or CODING_DEFLATE when
 * the client accepts it with q > 0 (gzip preferred at equal q, "*"
 * counts for both) and body_len >= INFLATE_MIN_COMPRESS, otherwise
 * CODING_IDENTITY. */
content_coding inflate_pick_response_coding(const char *accept_encoding,
                                            size_t body_len);

/* The header value for coding: "gzip", "deflate", or NULL for identity. */
const char *inflate_coding_name(content_coding coding);

/* Compress len bytes of in with coding (gzip, or deflate as a zlib stream,
 * which is what clients expect of "deflate"). 0 with *out a malloc'd
 * buffer of *out_len bytes the caller frees, or MML_ENOMEM (also for a
 * coding that is not a compressed one) with *out NULL. */
int inflate_compress(content_coding coding, const void *in, size_t len,
                     void **out, size_t *out_len);

/* A decoder that inflates its body (coding: CODING_GZIP or
 * CODING_DEFLATE) into inner, at most max_out decompressed bytes, and
 * answers as inner does; it owns inner from now on (destroying it frees
 * both, and so does a failure here). The inflater counts in the memory
 * budget (payload.h) while it lives, and is freed when the body ends
 * (finish). NULL with *err set on failure: MML_EBUSY when the budget has
 * no room for it, MML_ENOMEM. */
decoder *inflate_decoder_wrap(content_coding coding, uint64_t max_out, decoder *inner,
                              mml_error *err);

#endif
