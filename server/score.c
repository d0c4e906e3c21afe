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
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpcheck.h"
#include "request.h"

/* Compress the answer when the client accepts gzip or deflate and it is
 * big enough to gain (a none reduction over many rows). Any thread. */
static void compress_answer(http_req *r)
{
    const char *accept = r->accept_encoding[0] ? r->accept_encoding : NULL;
    content_coding coding = inflate_pick_response_coding(accept, r->ans.len);
    if (coding == CODING_IDENTITY)
        return;
    void *packed;
    size_t packed_len;
    if (inflate_compress(coding, r->ans.body, r->ans.len, &packed, &packed_len) < 0)
        return;                     /* send it uncompressed */
    free(r->ans.body);
    r->ans.body = packed;
    r->ans.len = packed_len;
    r->body_coding = coding;
}

/* Pool thread (or the loop's, inline): the answer in the request's
 * format, compressed when the client accepts it. */
static int encode_answer(void *ctx, const mml_request *req, const void *out)
{
    http_req *r = ctx;
    int rc = decoder_answer_for(r->dec, req, out, &r->ans);
    if (rc == 0) {
        compress_answer(r);
        payload_mem_count(malloc_usable_size(r->ans.body));   /* until it is sent */
    }
    return rc;
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

static const job_ops answer_ops = {encode_answer, job_finished};

/* The most memory the answer of req can take until it is sent: the job's
 * output and the encoded body (at most 32 bytes a value as JSON). A
 * reduction none over many rows can answer with many times the size of
 * its tensors, and a client that does not read keeps it. */
static uint64_t answer_bound(const mml_request *req)
{
    return mml_out_count(req) * (mml_dtype_size(req->dtype) + 32) + 4096;
}

/* Take the answer's reservation off the budget (respond() counts the
 * body itself from now on). */
static void release_answer(http_req *r)
{
    if (r->answer_acct.held > 0)
        payload_mem_uncharge(&r->answer_acct, r->answer_acct.held);
}

enum MHD_Result score_answer(http_req *r)
{
    if (r->job_status != 0) {
        mml_error err;
        mml_error_set(&err, r->job_status, "", "the loss could not be computed: %s",
                      mml_err_name(r->job_status));
        return respond_mml_error(r, r->job_status, &err);
    }
    char *body = r->ans.body;
    r->ans.body = NULL;
    payload_mem_uncount(malloc_usable_size(body));            /* respond() counts it */
    release_answer(r);
    metrics_add_scored(r->srv->metrics, r->elements);
    return respond(r, 200, body, r->ans.len, r->ans.type, NULL);
}

/* Free the decoder: its tensors go back as soon as a request has failed. */
static void drop_decoder(http_req *r)
{
    decoder_destroy(r->dec);
    r->dec = NULL;
}

/* Last handler call of a scoring request with the whole body read. */
enum MHD_Result score_finish(http_req *r)
{
    http_server *s = r->srv;
    payload pl;
    if (r->err_code == 0)
        r->err_code = decoder_finish(r->dec, &pl, &r->err);
    if (r->err_code != 0) {
        drop_decoder(r);
        return respond_mml_error(r, r->err_code, &r->err);
    }
    const mml_request *req = &pl.req;
    r->elements = req->n * req->c;
    int rc = payload_mem_charge(&r->answer_acct, answer_bound(req), "body", &r->err);
    if (rc < 0) {
        payload_free(&pl);
        drop_decoder(r);
        return respond_mml_error(r, rc, &r->err);
    }
    if (!job_wants_pool(req)) {
        r->job_status = job_run_inline(&pl, &answer_ops, r);
        payload_free(&pl);
        return score_answer(r);
    }
    rc = job_submit(s->jobs, &pl, &answer_ops, r);
    if (rc < 0)
        payload_free(&pl);
    if (rc == MML_EBUSY)
        return respond_error(r, 503, "Overloaded", NULL,
                             "the job queue is full (%u jobs); retry later",
                             s->cfg->queue_depth);
    if (rc < 0)
        return respond_error(r, 503, "Overloaded", NULL, "out of memory; retry later");
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
    if (r->err_code == 0 && r->bytes_in > cfg->max_body)
        r->err_code = mml_error_set(&r->err, MML_ETOOBIG, "",
                                    "request body exceeds the limit of %" PRIu64 " bytes",
                                    cfg->max_body);
    else if (r->err_code == 0)
        r->err_code = decoder_feed(r->dec, data, len, &r->err);
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

static const char *conf_header(void *ctx, const char *name)
{
    return http_header(ctx, name);
}

/* The decoder for the body: the route's format for its Content-Type,
 * behind an inflater when the body is compressed (the body limit then
 * applies to the bytes received and, through the inflater, to the bytes
 * they expand to). */
static enum MHD_Result begin_decoder(http_req *r, const route *rt, content_coding coding)
{
    const char *type = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    const decoder_ops *ops = route_decoder(rt, type);
    if (ops == NULL) {
        mml_error_set(&r->err, MML_EMEDIA, "",
                      "Content-Type '%.64s' is not supported (send %s or %s)", type,
                      rt->media[0].type, rt->media[1].type ? rt->media[1].type : "");
        return early_error(r, MML_EMEDIA, DISCARD_SLACK);
    }
    uint64_t max_body = r->srv->cfg->max_body;
    int known = r->has_length && coding == CODING_IDENTITY;
    decoder_conf conf = {max_body, known ? (int64_t)r->declared : -1, conf_header, r};
    r->dec = decoder_create(ops, &conf, &r->err);
    if (r->dec != NULL && coding != CODING_IDENTITY)
        r->dec = inflate_decoder_wrap(coding, max_body, r->dec, &r->err);
    if (r->dec == NULL)
        return respond_mml_error(r, r->err.code, &r->err);
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
    return begin_decoder(r, rt, coding);
}

void score_free(http_req *r)
{
    drop_decoder(r);
    release_answer(r);
    if (r->ans.body != NULL) {
        payload_mem_uncount(malloc_usable_size(r->ans.body));
        free(r->ans.body);
        r->ans.body = NULL;
    }
}
