/* feed.h - feeds request bodies to the decoders in pieces, for every decoder suite.
 *
 * Every call the suites make of the decoder interface (proto/decoder.h)
 * goes through here, so that a change of that interface is made in
 * feed.c alone.
 *
 *     feed_config cfg = { .ops = &frame_decoder_ops, .max_body = 1 << 20 };
 *     rc = feed_decode(&cfg, body, len, FEED_EVERY(1), &pl, &err);
 */
#ifndef LOSSD_FEED_H
#define LOSSD_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "inflate.h"
#include "v2.h"

/* Where a body is cut into feeds. Pieces end at each offset at[0..nat)
 * (ascending, none past the body's length; a cut at 0 or at the length
 * makes an empty piece) and are at most every bytes long (0: no limit).
 * A body is always fed at least once, an empty one as one empty piece. */
typedef struct feed_cuts {
    const size_t *at;
    size_t nat;
    size_t every;
} feed_cuts;

#define FEED_WHOLE ((feed_cuts){ .nat = 0 })
#define FEED_EVERY(k) ((feed_cuts){ .every = (k) })
#define FEED_AT(offsets, n) ((feed_cuts){ .at = (offsets), .nat = (n) })

/* Takes one piece: 0, or a negative MML code with *err filled (err may
 * be NULL). The inflaters' sinks (inflate.h) have this type. */
typedef int feed_sink(void *ctx, const char *data, size_t len, mml_error *err);

/* Pass data[0..len) to sink in consecutive pieces cut per cuts, stopping
 * at the first failure. 0 when every piece was taken, else that failure. */
int feed_pieces(const void *data, size_t len, feed_cuts cuts, feed_sink *sink, void *ctx,
                mml_error *err);

/* A decoded v2 request as the suites look at it: the payload, and the id
 * and output form its answer will have (v2_decoder_id and friends). */
typedef struct v2_decoded {
    payload pl;
    char *id;                 /* malloc'd, NULL when the request had none */
    int binary_output;
} v2_decoded;

/* Free what *r owns and zero it; NULL is a no-op. */
void v2_decoded_free(v2_decoded *r);

/* v2_encode_result() for *r with the loss in out. */
char *v2_decoded_encode(const v2_decoded *r, const void *out, size_t *len, size_t *hlen);

/* What a decoder is made for: its format and the request's facts. */
typedef struct feed_config {
    const decoder_ops *ops;   /* &json_decoder_ops, &frame_decoder_ops, &v2_decoder_ops */
    uint64_t max_body;
    int64_t header_len;       /* v2: Inference-Header-Content-Length, -1 absent */
    int64_t length;           /* the body length the transport announced; 0: none */
} feed_config;

/* One decoder in use, fed step by step: the caller's, its fields feed.c's
 * (held by the caller so that feeding allocates no more than the decoder
 * does, which the memory budget tests count). */
typedef struct feed_dec {
    feed_config cfg;
    decoder *d;
    char hlen[24];                /* header_len as the header's text */
} feed_dec;

/* Make a decoder for cfg into *f; the test fails if it cannot be made.
 * Destroy it with feed_close(). */
void feed_open(feed_dec *f, const feed_config *cfg);

/* One feed of len bytes: the decoder's answer (0 or a negative code with
 * *err filled; err may be NULL). */
int feed_step(feed_dec *f, const void *data, size_t len, mml_error *err);

/* End of body: 0 with *out filled (the caller frees it with
 * payload_free), or the decoder's failure with *out empty. */
int feed_finish(feed_dec *f, payload *out, mml_error *err);

/* feed_finish() for a v2 decoder, into a whole request: free it with
 * v2_decoded_free. */
int feed_finish_v2(feed_dec *f, v2_decoded *out, mml_error *err);

/* The decoder itself, for calls of its own format's API
 * (frame_decoder_expected_bytes). */
decoder *feed_decoder(feed_dec *f);

/* An inflater (coding gzip or deflate, at most max_out bytes out) that
 * feeds f's decoder. Free it with inflater_destroy() before closing f. */
inflater *feed_inflater(feed_dec *f, content_coding coding, uint64_t max_out);

/* Destroy the decoder and what it still owns. */
void feed_close(feed_dec *f);

/* Call ops->destroy(NULL), which every decoder must take as a no-op. */
void feed_destroy_null(const decoder_ops *ops);

/* One whole decode: open a decoder for cfg, feed it data[0..len) cut per
 * cuts, finish, close. The decoder's answer: 0 with *out filled, or the
 * first failure with *err filled and *out empty. After a failed feed it
 * checks that finish() fails the same way (failures are sticky). */
int feed_decode(const feed_config *cfg, const void *data, size_t len, feed_cuts cuts,
                payload *out, mml_error *err);

/* feed_decode() of a v2 body (cfg->ops is &v2_decoder_ops) into a whole
 * request, *out zeroed on failure. */
int feed_decode_v2(const feed_config *cfg, const void *data, size_t len, feed_cuts cuts,
                   v2_decoded *out, mml_error *err);

#endif
