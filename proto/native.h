/* native.h - the answer of the native scoring API (POST
 * /v1/multi_margin_loss), shared by its request formats (JSON, MML1
 * frame): a JSON object, or an MMR1 result frame when the request's
 * Accept header asks for application/octet-stream by name. */
#ifndef LOSSD_NATIVE_H
#define LOSSD_NATIVE_H

#include "decoder.h"

/* 1 when the request described by conf asks for an MMR1 frame back. */
int native_wants_frame(const decoder_conf *conf);

/* The answer for the loss of req in out: an MMR1 frame when frame, else
 * the JSON object of json_encode_result(). 0 or MML_ENOMEM. */
int native_answer(int frame, const mml_request *req, const void *out, decoder_answer *a);

/* Encode the result of req (mml_out_count(req) values of req->dtype in
 * out) as an MMR1 frame: rank 1 for reduction none, rank 0 otherwise.
 * Returns the frame length with *body a malloc'd buffer the caller frees,
 * or 0 (and *body NULL) when out of memory. */
size_t frame_encode_result(const mml_request *req, const void *out, void **body);

#endif
