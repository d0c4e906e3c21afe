/* frame.h - the binary frame (docs/wire.md, "Binary frame"): streaming
 * MML1 request decoder and MMR1 result encoder.
 *
 * Request (Content-Type: application/octet-stream), little-endian:
 *
 *     0  magic "MML1"   4  version 1   5  dtype   6  p   7  reduction
 *     8  flags (bit 0 = weight)   9  reserved[3] = 0   12  margin int32
 *     16 N uint64   24 C uint64   32 input N*C, target 8*N, weight C
 *
 * A decoder (decoder.h) for one request body. When the transport announced
 * the body's length (decoder_conf.length: the Content-Length of an
 * identity-encoded body), a declared frame length different from it fails
 * feed() with BadRequest once the header is in, so a short or long body is
 * refused before its bytes are read. The answer is an MMR1 frame or JSON,
 * as the request's Accept header asks (native.h).
 *
 * Every rc < 0 maps to mml_err_status(rc): 400 for a bad header, a body
 * whose length differs from the declared one, or a bad target value; 413
 * (MML_ETOOBIG) when the declared frame exceeds max_body, reported as soon
 * as the 32-byte header is in, before any tensor memory is taken. */
#ifndef LOSSD_FRAME_H
#define LOSSD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"
#include "decoder.h"

#define FRAME_MAGIC "MML1"
#define FRAME_RESULT_MAGIC "MMR1"
#define FRAME_VERSION 1
#define FRAME_HEADER_SIZE 32
#define FRAME_RESULT_HEADER_SIZE 16
#define FRAME_FLAG_WEIGHT 0x01u

/* Streaming decoder for application/octet-stream request bodies. create()
 * takes max_body, the limit on the whole frame (header included). Tensor
 * bytes are copied once, from the fed chunk into PAYLOAD_ALIGN buffers. */
extern const decoder_ops frame_decoder_ops;

/* A request header as parsed and checked by frame_parse_header(). */
typedef struct frame_header {
    int dtype;                /* MML_F16, MML_F32, MML_F64 */
    int p;                    /* 1 or 2 */
    int reduction;            /* MML_NONE, MML_MEAN, MML_SUM */
    int has_weight;
    int32_t margin;
    uint64_t n, c;
    uint64_t total;           /* whole frame: 32 + input + target + weight */
} frame_header;

/* Parse and check the first FRAME_HEADER_SIZE bytes of a frame against
 * the validation rules: BadRequest for magic, version, flags, reserved; TypeError
 * for dtype; ValueError for p, reduction, C = 0; ETOOBIG when the frame
 * size overflows or exceeds max_body. Returns 0 with *h filled, or a
 * negative code with *err filled (err may be NULL). */
int frame_parse_header(const uint8_t hdr[FRAME_HEADER_SIZE], uint64_t max_body,
                       frame_header *h, mml_error *err);

/* Total frame length the header declares, or 0 while fewer than 32 bytes
 * have arrived (or the header was refused). d must come from
 * frame_decoder_ops.create(). */
uint64_t frame_decoder_expected_bytes(const decoder *d);

#endif
