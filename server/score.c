/* score.c - the scoring request's phases, POST /v1/multi_margin_loss and
 * the v2 infer routes: headers checked before any body is read, the body
 * fed to its decoder chunk by chunk as libmicrohttpd hands it over, and
 * the loss computed inline (small requests) or on the job pool with the
 * connection suspended until it is done.
 *
 * Body bytes are never buffered here: each chunk (a slice of the
 * connection's read buffer) goes to the decoder, or through the inflater
 * to it, and the decoder copies tensor bytes once into their aligned
 * buffers. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frame.h"
#include "httpcheck.h"
#include "json.h"
#include "request.h"

/* Compress r->body when the client accepts gzip or deflate and the body
 * is big enough to gain (a none reduction over many rows). Any thread. */
static int compress_body(http_req *r)
{
    const char *accept = r->accept_encoding[0] ? r->accept_encoding : NULL;
    content_coding coding = inflate_pick_response_coding(accept, r->body_len);
    if (coding == CODING_IDENTITY)
        return 0;
    void *packed;
    size_t packed_len;
    if (inflate_compress(coding, r->body, r->body_len, &packed, &packed_len) < 0)
        return 0;                   /* send it uncompressed */
    free(r->body);
    r->body = packed;
    r->body_len = packed_len;
    r->body_coding = coding;
    return 0;
}

/* Pool thread: the JSON result body (SPEC 3.2). */
static int encode_json(void *ctx, const mml_request *req, const void *out)
{
    http_req *r = ctx;
    r->body = json_encode_result(req, out, &r->body_len);
    if (r->body == NULL)
        return MML_ENOMEM;
    r->body_type = JSON_TYPE;
    return compress_body(r);
}

/* Pool thread: the MMR1 result frame (SPEC 4). */
static int encode_frame(void *ctx, const mml_request *req, const void *out)
{
    http_req *r = ctx;
    void *body = NULL;
    r->body_len = frame_encode_result(req, out, &body);
    r->body = body;
    if (r->body == NULL)
        return MML_ENOMEM;
    r->body_type = BINARY_TYPE;
    return compress_body(r);
}

/* Pool thread: the v2 infer response, JSON or JSON header + raw LOSS. */
static int encode_v2(void *ctx, const mml_request *req, const void *out)
{
    http_req *r = ctx;
    /* The job owns the tensors now; r->v2req keeps the id and the output
     * form, req describes what was computed. */
    v2_request vr = r->v2req;
    vr.pl.req = *req;
    size_t hlen = 0;
    r->body = v2_encode_result(&vr, out, &r->body_len, &hlen);
    if (r->body == NULL)
        return MML_ENOMEM;
    r->infer_hlen = hlen;
    r->body_type = hlen > 0 ? BINARY_TYPE : JSON_TYPE;
    return compress_body(r);
}

/* Loop thread: the job is over; wake the connection up so the handler
 * runs its final phase again and queues the response. */
static void job_finished(void *ctx, int status)
{
    http_req *r = ctx;
    r->job_status = status;
    r->phase = PHASE_READY;
    MHD_resume_connection(r->conn);
    http_server_kick(r->srv);
}

static const job_ops json_result_ops = {encode_json, job_finished};
static const job_ops frame_result_ops = {encode_frame, job_finished};
static const job_ops v2_result_ops = {encode_v2, job_finished};

/* How the result is written back: v2 on infer, an MMR1 frame when a /v1
 * client asked for application/octet-stream, JSON otherwise. */
static const job_ops *select_responder(const http_req *r)
{
    if (r->v2)
        return &v2_result_ops;
    return r->want_frame ? &frame_result_ops : &json_result_ops;
}

enum MHD_Result score_answer(http_req *r)
{
    if (r->job_status != 0) {
        mml_error err;
        mml_error_set(&err, r->job_status, "", "the loss could not be computed: %s",
                      mml_err_name(r->job_status));
        return respond_mml_error(r, r->job_status, &err);
    }
    char *body = r->body;
    r->body = NULL;
    metrics_add_scored(r->srv->metrics, r->elements);
    return respond(r, 200, body, r->body_len, r->body_type, NULL);
}

/* Free the decoder (and the inflater feeding it); the tensors go back
 * to the system as soon as a request has failed. */
static void drop_decoder(http_req *r)
{
    inflater_destroy(r->z);
    r->z = NULL;
    if (r->ops != NULL)
        r->ops->destroy(r->dec);
    r->dec = NULL;
    v2_decoder_destroy(r->v2dec);
    r->v2dec = NULL;
}

/* End of body: run the decoder's finish into the payload to compute,
 * r->p for /v1, r->v2req.pl for infer. 0 or a negative MML code. */
static int finish_decoder(http_req *r, payload **pl)
{
    if (r->err_code == 0 && r->z != NULL)
        r->err_code = inflater_finish(r->z, &r->err);
    if (r->err_code == 0 && r->v2dec != NULL) {
        r->err_code = v2_decoder_finish(r->v2dec, &r->v2req, &r->err);
        *pl = &r->v2req.pl;
    } else if (r->err_code == 0) {
        r->err_code = r->ops->finish(r->dec, &r->p, &r->err);
        *pl = &r->p;
    }
    return r->err_code;
}

/* Last handler call of a scoring request with the whole body read. */
enum MHD_Result score_finish(http_req *r)
{
    http_server *s = r->srv;
    payload *pl = NULL;
    const job_ops *ops = select_responder(r);
    int rc = finish_decoder(r, &pl);
    drop_decoder(r);
    if (rc != 0)
        return respond_mml_error(r, rc, &r->err);

    const mml_request *req = &pl->req;
    r->elements = req->n * req->c;
    if (!job_wants_pool(req)) {
        r->job_status = job_run_inline(pl, ops, r);
        payload_free(pl);
        return score_answer(r);
    }
    rc = job_submit(s->jobs, pl, ops, r);
    if (rc == -EBUSY)
        return respond_error(r, 503, "Overloaded", NULL,
                             "the job queue is full (%u jobs); retry later",
                             s->cfg->queue_depth);
    if (rc < 0)
        return respond_error(r, 500, "InternalError", NULL, "out of memory");
    r->phase = PHASE_QUEUED;
    deadline_busy(&s->deadlines, http_conn_deadline(r->conn), 1, 0);
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

/* Body bytes of a scoring request: feed the decoder until something
 * fails, then only count and drop them. 0 to go on, -1 to close (past
 * body_cap: libmicrohttpd 0.9.75 cannot queue a response in mid-body). */
int score_feed(http_req *r, const char *data, size_t len)
{
    const config *cfg = r->srv->cfg;
    r->bytes_in += len;
    metrics_add_received(r->srv->metrics, len);
    if (r->err_code == 0 && r->bytes_in > cfg->max_body) {
        r->err_code = mml_error_set(&r->err, MML_ETOOBIG, "",
                                    "request body exceeds the limit of %" PRIu64 " bytes",
                                    cfg->max_body);
    } else if (r->err_code == 0 && r->z != NULL) {
        r->err_code = inflater_feed(r->z, data, len, &r->err);
    } else if (r->err_code == 0 && r->dec != NULL) {
        r->err_code = r->ops->feed(r->dec, data, len, &r->err);
    } else if (r->err_code == 0 && r->v2dec != NULL) {
        r->err_code = v2_decoder_feed(r->v2dec, data, len, &r->err);
    }
    if (r->err_code != 0)
        drop_decoder(r);
    return r->bytes_in > r->body_cap ? -1 : 0;
}

/* A scoring request refused from its headers alone, with r->err set to
 * code. A client that sent Expect: 100-continue (curl does for big
 * bodies) reads the answer before it sends the body, and gets it now.
 * Others are sending it, and many read nothing until they are done
 * (Python's http.client gets a broken pipe when the connection closes
 * under it): a body whose Content-Length is at most cap is read and
 * dropped first (score_feed), and the error comes at its end
 * (score_finish). Any other is answered now, and the connection closed
 * after it: a body of unknown length could outgrow cap, and then only a
 * close would be left (libmicrohttpd cannot answer in mid-body). */
static enum MHD_Result early_error(http_req *r, int code, uint64_t cap)
{
    const char *expect = http_header(r, MHD_HTTP_HEADER_EXPECT);
    if ((expect != NULL && strcasecmp(expect, "100-continue") == 0) || !r->has_length ||
        r->declared > cap)
        return respond_mml_error(r, code, &r->err);
    r->err_code = code;
    r->body_cap = cap;
    return MHD_YES;
}

/* The decoder of a /v1 body from its Content-Type (SPEC 3.1, 4). A frame
 * with a known identity-encoded length is held to it from its header on,
 * so a short or long body is refused before its tensor bytes are read. */
static enum MHD_Result begin_native(http_req *r, const route *rt, content_coding coding)
{
    const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->ops = route_decoder(rt, type);
    if (r->ops == NULL) {
        mml_error_set(&r->err, MML_EMEDIA, "",
                      "Content-Type '%.64s' is not supported (send %s or %s)", type,
                      rt->media[0].type, rt->media[1].type ? rt->media[1].type : "");
        return early_error(r, MML_EMEDIA, DISCARD_SLACK);
    }
    r->want_frame = route_accepts(http_header(r, MHD_HTTP_HEADER_ACCEPT), BINARY_TYPE, JSON_TYPE);
    r->dec = r->ops->create(r->srv->cfg->max_body);
    if (r->dec == NULL)
        return respond_error(r, 500, "InternalError", NULL, "out of memory");
    if (r->ops == &frame_decoder_ops && r->has_length && coding == CODING_IDENTITY)
        frame_decoder_set_length(r->dec, r->declared);
    if (coding != CODING_IDENTITY) {
        /* The body limit applies to the bytes received and, through the
         * inflater, to the bytes they expand to. */
        r->sink = (inflate_decoder_sink){r->ops, r->dec};
        r->z = inflater_create(coding, r->srv->cfg->max_body, inflate_sink_decoder, &r->sink);
        if (r->z == NULL)
            return respond_error(r, 500, "InternalError", NULL, "out of memory");
    }
    return MHD_YES;
}

/* The v2 decoder of an infer body (SPEC 6): any Content-Type, the JSON
 * header length from Inference-Header-Content-Length (decompressed
 * bytes, as tritonclient counts them). */
static enum MHD_Result begin_infer(http_req *r, content_coding coding)
{
    int64_t hlen;
    int rc = v2_parse_header_length(http_header(r, "Inference-Header-Content-Length"), &hlen,
                                    &r->err);
    if (rc < 0)
        return respond_mml_error(r, rc, &r->err);
    uint64_t max_body = r->srv->cfg->max_body;
    r->v2dec = v2_decoder_create(max_body, hlen);
    if (r->v2dec == NULL)
        return respond_error(r, 500, "InternalError", NULL, "out of memory");
    if (coding != CODING_IDENTITY) {
        r->z = inflater_create(coding, max_body, v2_decoder_sink, r->v2dec);
        if (r->z == NULL)
            return respond_error(r, 500, "InternalError", NULL, "out of memory");
    }
    return MHD_YES;
}

/* First call of a scoring request: everything decidable from the headers
 * (cl: its Content-Length, NULL for none). */
enum MHD_Result score_begin(http_req *r, const route *rt, const char *cl)
{
    http_server *s = r->srv;
    r->declared = httpcheck_content_length(cl, &r->has_length);
    if (http_draining()) {
        mml_error_set(&r->err, MML_EBUSY, "", "the server is shutting down");
        return early_error(r, MML_EBUSY, DISCARD_SLACK);
    }
    if (job_pool_full(s->jobs)) {
        mml_error_set(&r->err, MML_EBUSY, "", "the job queue is full (%u jobs); retry later",
                      s->cfg->queue_depth);
        return early_error(r, MML_EBUSY, DISCARD_SLACK);
    }
    const char *enc = http_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    content_coding coding = inflate_parse_content_encoding(enc);
    if (coding == CODING_UNKNOWN) {
        mml_error_set(&r->err, MML_EMEDIA, "",
                      "Content-Encoding '%.64s' is not supported (send gzip, deflate or "
                      "identity)", enc);
        return early_error(r, MML_EMEDIA, DISCARD_SLACK);
    }
    if (r->has_length && r->declared > s->cfg->max_body) {
        mml_error_set(&r->err, MML_ETOOBIG, "",
                      "Content-Length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes",
                      r->declared, s->cfg->max_body);
        return early_error(r, MML_ETOOBIG, s->cfg->max_body + DISCARD_SLACK);
    }
    const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (accept != NULL)
        httpcheck_copy(r->accept_encoding, sizeof r->accept_encoding, accept);
    if (rt->id == ROUTE_V2_INFER)
        return begin_infer(r, coding);
    return begin_native(r, rt, coding);
}

void score_free(http_req *r)
{
    drop_decoder(r);
    payload_free(&r->p);
    v2_request_free(&r->v2req);
    free(r->body);
    r->body = NULL;
}
