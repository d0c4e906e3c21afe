/* v2.h - the Open Inference Protocol v2 (KServe, Triton) for model
 * multi_margin_loss, with Triton's binary tensor data extension: infer
 * request decoder, infer response encoder, metadata and error bodies.
 *
 * Model: inputs INPUT (FP16, FP32 or FP64, shape [N, C]), TARGET (INT64,
 * [N]), optional WEIGHT (INPUT's datatype, [C]); output LOSS (INPUT's
 * datatype, shape [] for reduction mean/sum, [N] for none). Request-level
 * parameters p, margin (integers), reduction (string) default to 1, 1,
 * "mean"; binary_data_output (bool) and the per-output binary_data (bool)
 * choose how LOSS comes back. priority and timeout are accepted and
 * ignored; any other request parameter, top-level key or input name is a
 * ValueError.
 *
 * A decoder (decoder.h) of the body of POST
 * /v2/models/multi_margin_loss/infer (also .../versions/1/infer), for any
 * Content-Type (tritonclient sends none, curl users send
 * application/json). Its create() reads Inference-Header-Content-Length
 * (the JSON header's length in decompressed bytes, as tritonclient counts
 * them: a value that is not a decimal number is a BadRequest before the
 * body); without it the whole body is the JSON request. Its answer() is
 * the infer response: JSON, or a JSON header and the raw LOSS bytes with
 * Inference-Header-Content-Length when the request asked for binary
 * output, echoing the request's "id".
 *
 * Failures: rc < 0 is answered with status mml_err_status(rc) (400, 413,
 * 500) and the body of v2_encode_mml_error(&err), {"error": "<Type>:
 * <message>"}, which is what tritonclient and KServe clients read. A body
 * over max_body (Inference-Header-Content-Length, the binary sizes the
 * header declares, or the JSON itself) fails with MML_ETOOBIG as soon as
 * it is known, before tensor memory is taken.
 *
 * The JSON header is parsed once it is complete (the whole body when
 * Inference-Header-Content-Length is absent); tensors sent as binary
 * data are then copied once, straight into PAYLOAD_ALIGN buffers, in input
 * order. */
#ifndef LOSSD_V2_H
#define LOSSD_V2_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "mml.h"

#define V2_MODEL_NAME "multi_margin_loss"
#define V2_MODEL_VERSION "1"

/* The JSON part of a request (the header, or the whole body without
 * Inference-Header-Content-Length) is bounded by max_body and charged to
 * the memory budget as it arrives. Its inputs' data arrays are read from
 * the text straight into the tensors; the rest is read into a small tree
 * (v2_text.h) of up to ~16 times its text, held only while the header is
 * parsed, on the loop thread: that rest is bounded separately, so at most
 * 16 MiB of tree per front-end loop exists at once. MML_ETOOBIG past it. */
#define V2_MAX_JSON ((uint64_t)1 << 20)

/* The decoder of infer request bodies. */
extern const decoder_ops v2_decoder_ops;

/* What the answer of a finished v2 decoder will say: the request's "id"
 * (NULL when it had none; valid while d lives) and whether LOSS comes back
 * as binary data. For tools and tests; the server only calls answer(). */
const char *v2_decoder_id(const decoder *d);
int v2_decoder_binary_output(const decoder *d);

/* Parse an Inference-Header-Content-Length value (NULL when the header is
 * absent: *len = -1). 0 with *len set, or MML_EBADREQ when it is not a
 * plain decimal number. */
int v2_parse_header_length(const char *value, int64_t *len, mml_error *err);

/* The infer response with the computed loss in out (mml_out_count(req)
 * values of req->dtype): {"model_name", "model_version", "id" (when id is
 * not NULL), "outputs": [{"name": "LOSS", "datatype", "shape", "data" |
 * "parameters": {"binary_data_size"}}]}, followed by the raw
 * little-endian values when binary_output. Returns a malloc'd body of
 * *len bytes; *header_len is the JSON part's length when binary data
 * follows (send it as Inference-Header-Content-Length), 0 for a pure JSON
 * body. NULL when out of memory. */
char *v2_encode_result(const char *id, int binary_output, const mml_request *req,
                       const void *out, size_t *len, size_t *header_len);

/* {"error": "<message>"}, the message JSON-escaped. Malloc'd, *len set;
 * NULL when out of memory. */
char *v2_encode_error(const char *message, size_t *len);

/* {"error": "<Type>: <message>"} for a failure of the decoder or core. */
char *v2_encode_mml_error(const mml_error *err, size_t *len);

/* GET /v2: {"name": "lossd", "version": version, "extensions":
 * ["binary_tensor_data"]}. Malloc'd, *len set; NULL when out of memory. */
char *v2_encode_server_metadata(const char *version, size_t *len);

/* Constant bodies (do not free):
 * GET /v2/models/multi_margin_loss[/versions/1]: model metadata, with
 * INPUT and WEIGHT listed as FP32 (FP16 and FP64 are accepted too);
 * GET /v2/health/live: {"live":true}; GET /v2/health/ready and
 * GET /v2/models/multi_margin_loss/ready: {"ready":true} (Triton sends an
 * empty 200; clients only read the status, KServe's read the body). When
 * not ready (draining) answer 503 with v2_encode_error(). */
const char *v2_model_metadata(void);

/* GET /v2/models/multi_margin_loss[/versions/1]/config: the model's
 * configuration as Triton writes it (its ModelConfig in JSON), which
 * tritonclient's get_model_config() and perf_analyzer read: no batching
 * of requests (max_batch_size 0), inputs and output as in the metadata.
 * Constant, do not free. */
const char *v2_model_config(void);
const char *v2_health_live(void);
const char *v2_health_ready(void);

#endif
