/* http.c - the libmicrohttpd front end of lossd, driven by the libuv loop.
 *
 * Threading: libmicrohttpd runs in "external polling" mode with epoll,
 * driven by a libuv loop (uv_poll_t on MHD's epoll fd, a uv_timer_t for
 * MHD_get_timeout). One thread, the loop thread, runs every MHD callback
 * and every libuv callback of its server. We chose this over MHD's
 * internal polling thread because uv_queue_work() and the after-work
 * callbacks belong to the loop thread: with an internal MHD thread each
 * request would need a locked hand-off queue and a uv_async_t in both
 * directions. Here the handler queues the job directly, the job comes back
 * on the same thread, and MHD_resume_connection() wakes MHD through its
 * ITC, which sits in the epoll set we poll. The loss itself runs on the
 * libuv pool.
 *
 * lossd runs one such server per front-end thread (--http-threads, see
 * main.c), every one with its own daemon on the same listening socket
 * (http_listen()): whichever loop accepts a connection serves it. Reading
 * and decoding bodies is most of a small request's cost, and one loop
 * thread capped lossd at one core: N=32 x C=10 JSON requests went from
 * 47-55k to 80k+ req/s on 2 cores with two loops (bench/http_bench.sh).
 *
 * A request goes through three handler phases (STYLE 8): the first call
 * routes it and allocates its state (rejecting 404/405/413/415/503 before
 * any body is read), body calls feed the decoder chosen from the
 * Content-Type (JSON or binary frame on /v1, the v2 decoder on infer),
 * and the final call computes it inline (small requests) or suspends the
 * connection until its job is done. NOTIFY_COMPLETED logs, counts and
 * frees the state.
 *
 * Body bytes are never buffered here: each chunk libmicrohttpd hands over
 * (a slice of its connection read buffer) goes to the decoder, or through
 * the inflater to it, and the decoder copies tensor bytes once into their
 * aligned buffers. Errors on /v2 paths take the v2 shape {"error": "..."};
 * everywhere else the SPEC 3.3 shape. */
#include "http.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "accesslog.h"
#include "deadline.h"
#include "frame.h"
#include "inflate.h"
#include "json.h"
#include "mml.h"
#include "openapi.h"
#include "reqid.h"
#include "route.h"
#include "v2.h"

/* A body that failed (decode error, over --max-body) is still read and
 * dropped so the client gets its 4xx; past this much over the limit the
 * connection is closed instead. A request refused from its headers alone
 * (415, 503) has its body read and dropped up to this size, the same way
 * (early_error). */
#define DISCARD_SLACK (UINT64_C(1) << 20)

/* Per-connection memory: request line, headers and read buffer.
 * libmicrohttpd clears the pool between requests, so a big pool costs
 * every request (a 256 KiB pool was 26% of the CPU profile of small
 * requests); 32 KiB is MHD's default and the same in bench/bare_mhd.c. */
#define CONN_MEMORY_LIMIT ((size_t)32 * 1024)

/* Pending connections the kernel queues for accept() (SOMAXCONN caps it). */
#define LISTEN_BACKLOG 1024

struct http_server {
    uv_loop_t *loop;
    const config *cfg;
    job_pool *jobs;
    metrics *metrics;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_timer_t sweep;               /* once a second: deadline_sweep() */
    deadline_list deadlines;        /* one per connection, see deadline.h */
    int handles_open;
    unsigned port;
    int quiesced;                   /* no longer accepting (http_server_drain) */
};

typedef enum req_phase {
    PHASE_BODY = 0,     /* reading the body of a scoring request */
    PHASE_DEFERRED,     /* no body, answered at the final call */
    PHASE_QUEUED,       /* suspended, its job on the pool */
    PHASE_READY,        /* job done, resumed, response not queued yet */
    PHASE_ANSWERED      /* response queued */
} req_phase;

typedef struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    int route;                      /* index in route_table, -1 for none */
    int route_status;               /* 200, 404 or 405 from route_match */
    char allow[32];                 /* Allow header for 405 */
    char method[16];
    char path[200];
    char id[REQID_MAX + 1];
    uint64_t start_ns;
    uint64_t bytes_in;
    uint64_t bytes_out;
    int status;                     /* queued response status, 0 before */
    req_phase phase;
    int v2;                         /* errors in the v2 shape (SPEC 6) */
    const decoder_ops *ops;         /* /v1 body decoder, or NULL */
    decoder *dec;
    v2_decoder *v2dec;              /* infer body decoder, or NULL */
    inflater *z;                    /* gzip/deflate body, or NULL */
    inflate_decoder_sink sink;      /* z feeds dec through this */
    char accept_encoding[128];      /* for the response coding */
    int want_frame;                 /* Accept: application/octet-stream on /v1 */
    content_coding body_coding;     /* of body */
    int err_code;                   /* first failure, 0 while all is well */
    mml_error err;
    uint64_t body_cap;              /* close the connection past this many body bytes */
    int has_length;                 /* a Content-Length, declared, came with the headers */
    uint64_t declared;
    payload p;                      /* decoded /v1 request */
    v2_request v2req;               /* decoded infer request (id, output form) */
    uint64_t elements;
    char *body;                     /* encoded result, malloc'd */
    size_t body_len;
    const char *body_type;          /* its Content-Type */
    size_t infer_hlen;              /* Inference-Header-Content-Length, 0: none */
    int job_status;
    const char *cors_origin;   /* Access-Control-Allow-Origin: "*", the request's Origin
                                  (libmicrohttpd keeps it to the request's end), or NULL */
    int preflight;                  /* an OPTIONS preflight: the CORS request headers */
} http_req;

/* Process-wide, shared by every server (front-end loop): the requests in
 * flight, and whether a drain has begun (http_server_drain on any server
 * makes them all answer as draining at once). */
static atomic_uint inflight;
static atomic_int draining;

static int is_draining(void)
{
    return atomic_load_explicit(&draining, memory_order_relaxed);
}

static const char JSON_TYPE[] = "application/json";
static const char BINARY_TYPE[] = "application/octet-stream";
static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";

/* src into dst (size bytes), cut to fit, always terminated. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The request path as messages, logs and metrics show it: libmicrohttpd's
 * decoded path with control bytes and bytes >= 0x80 percent-encoded
 * again, so that every sink gets ASCII (a raw 0xFF made the 404 body and
 * the JSON access log invalid UTF-8, a raw newline could forge a plain
 * log line). Truncated to fit. */
static void copy_path(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *src != '\0'; src++) {
        unsigned char c = (unsigned char)*src;
        int plain = c >= 0x20 && c < 0x7f;
        if (n + (plain ? 1 : 3) >= size)
            break;
        if (plain) {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = '\0';
}

/* The path of a request target (RFC 9112 3.2): an absolute-form target
 * ("http://host:8080/healthz", which proxies send) without its scheme and
 * authority; any other target as it is. */
static const char *origin_path(const char *url)
{
    const char *rest = strncasecmp(url, "http://", 7) == 0    ? url + 7
                       : strncasecmp(url, "https://", 8) == 0 ? url + 8
                                                              : NULL;
    if (rest == NULL)
        return url;
    rest += strcspn(rest, "/");
    return *rest != '\0' ? rest : "/";
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* libmicrohttpd's percent-decoding of the path and query, in place,
 * except that %00 stays as it is: decoded, it ended the path early
 * ("/healthz%00x" answered as /healthz). Returns the new length. */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *url)
{
    (void)cls;
    (void)conn;
    char *w = url;
    for (const char *p = url; *p != '\0';) {
        int hi = p[0] == '%' ? hex_digit(p[1]) : -1;
        int lo = hi >= 0 ? hex_digit(p[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - url);
}

/* The deadline entry of a connection (NULL when untracked). */
static conn_deadline *conn_deadline_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- responses ---- */

/* Request headers a page may send (Access-Control-Allow-Headers) when
 * the preflight's list is not plain tokens, and response headers it may
 * read. */
#define CORS_ALLOW_HEADERS \
    "Content-Type, Content-Encoding, Accept, X-Request-Id, Inference-Header-Content-Length"
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, Inference-Header-Content-Length"

/* 1 when a preflight's Access-Control-Request-Headers can be echoed as
 * it is: header names (RFC 9110 tokens), commas and blanks. */
static int plain_header_list(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                         "!#$%&'*+-.^_`|~, ");
    return s[n] == '\0' && n <= 1024;
}

/* CORS (--cors-origins): a page's answers name its origin; a preflight
 * also gets the methods, the headers it asked for and a cache time. */
static void add_cors_headers(const http_req *r, struct MHD_Response *resp)
{
    if (r->cors_origin == NULL)
        return;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, r->cors_origin);
    if (!r->preflight) {
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
        return;
    }
    const char *want = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   "Access-Control-Request-Headers");
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", r->allow);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            want != NULL && plain_header_list(want) ? want : CORS_ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
}

/* Queue status with body: malloc'd and taken over when mode is
 * MHD_RESPMEM_MUST_FREE, a constant for MHD_RESPMEM_PERSISTENT; NULL for
 * empty. The headers every response carries are added here. */
static enum MHD_Result respond_mem(http_req *r, unsigned status, const char *body,
                                   size_t len, enum MHD_ResponseMemoryMode mode,
                                   const char *type, const char *allow)
{
    if (body == NULL) {
        body = "";
        len = 0;
        mode = MHD_RESPMEM_PERSISTENT;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)body);
        return MHD_NO;
    }
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    add_cors_headers(r, resp);
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (is_draining())
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 200 && r->body_coding != CODING_IDENTITY)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
                                inflate_coding_name(r->body_coding));
    /* A scoring answer may be compressed for another Accept-Encoding, and
     * /v1's is a frame or JSON by Accept; with a list of CORS origins,
     * every answer depends on Origin: caches must key on them. */
    const char *vary = NULL;
    int by_origin = r->srv->cfg->n_cors > 0 && !r->srv->cfg->cors_any;
    if (status == 200 && r->route >= 0 && (route_table[r->route].methods & ROUTE_POST))
        vary = route_table[r->route].id == ROUTE_SCORE
                   ? (by_origin ? "Accept, Accept-Encoding, Origin" : "Accept, Accept-Encoding")
                   : (by_origin ? "Accept-Encoding, Origin" : "Accept-Encoding");
    else if (by_origin)
        vary = "Origin";
    if (vary != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, vary);
    if (status == 200 && r->infer_hlen > 0) {
        char hlen[24];
        snprintf(hlen, sizeof hlen, "%zu", r->infer_hlen);
        MHD_add_response_header(resp, "Inference-Header-Content-Length", hlen);
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        r->status = (int)status;
        r->bytes_out = len;
        r->phase = PHASE_ANSWERED;
    }
    return ret;
}

/* respond_mem() for a malloc'd body (taken over). */
static enum MHD_Result respond(http_req *r, unsigned status, char *body, size_t len,
                               const char *type, const char *allow)
{
    return respond_mem(r, status, body, len, MHD_RESPMEM_MUST_FREE, type, allow);
}

/* An error with allow for 405 (else NULL): {"error": {"type", "message",
 * "field"}} (SPEC 3.3), or {"error": "<type>: <message>"} on v2 paths. */
static enum MHD_Result respond_error_text(http_req *r, unsigned status, const char *type,
                                          const char *field, const char *message,
                                          const char *allow)
{
    size_t len = 0;
    char *body;
    if (r->v2) {
        char text[sizeof(mml_error){0}.message + 64];
        snprintf(text, sizeof text, "%s: %s", type, message);
        body = v2_encode_error(text, &len);
    } else {
        body = json_encode_error(type, message, field, &len);
    }
    return respond(r, status, body, body ? len : 0, JSON_TYPE, allow);
}

static enum MHD_Result respond_error(http_req *r, unsigned status, const char *type,
                                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* respond_error_text() with a printf-style message. */
static enum MHD_Result respond_error(http_req *r, unsigned status, const char *type,
                                     const char *field, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return respond_error_text(r, status, type, field, message, NULL);
}

/* The error of a failed decode or job, with its type and status. */
static enum MHD_Result respond_mml_error(http_req *r, int code, const mml_error *err)
{
    return respond_error_text(r, (unsigned)mml_err_status(code), mml_err_name(code),
                              err->field[0] ? err->field : NULL, err->message, NULL);
}

/* A JSON body from a constant string (not copied). */
static enum MHD_Result respond_copy(http_req *r, unsigned status, const char *text)
{
    return respond_mem(r, status, text, strlen(text), MHD_RESPMEM_PERSISTENT, JSON_TYPE,
                       NULL);
}

static enum MHD_Result respond_json(http_req *r, unsigned status, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL)
        return respond_error(r, 500, "InternalError", NULL, "out of memory");
    return respond(r, status, text, strlen(text), JSON_TYPE, NULL);
}

/* ---- GET routes ---- */

static cJSON *info_object(const http_server *s)
{
    const config *cfg = s->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON *limits = cJSON_CreateObject();
    if (o == NULL || limits == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(limits);
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", "lossd");
    cJSON_AddStringToObject(o, "version", LOSSD_VERSION);
    cJSON_AddStringToObject(o, "simd", mml_simd_name(mml_simd_active()));
    cJSON_AddNumberToObject(o, "threads", cfg->threads);
    cJSON_AddNumberToObject(o, "http_threads", cfg->http_threads);
    cJSON_AddNumberToObject(limits, "max_body", (double)cfg->max_body);
    cJSON_AddNumberToObject(limits, "max_memory", (double)cfg->max_memory);
    cJSON_AddNumberToObject(limits, "queue_depth", cfg->queue_depth);
    cJSON_AddNumberToObject(limits, "timeout", cfg->timeout);
    cJSON_AddNumberToObject(limits, "drain_timeout", cfg->drain_timeout);
    cJSON_AddNumberToObject(limits, "split_elements", JOB_SPLIT_ELEMS);
    cJSON_AddItemToObject(o, "limits", limits);
    cJSON *cors = cJSON_AddArrayToObject(o, "cors_origins");     /* [] without CORS */
    for (unsigned i = 0; cors != NULL && i < cfg->n_cors; i++)
        cJSON_AddItemToArray(cors, cJSON_CreateString(cfg->cors_origin[i]));
    return o;
}

/* GET routes of the Open Inference Protocol v2 (SPEC 6). */
static enum MHD_Result serve_v2_get(http_req *r, route_id id)
{
    switch (id) {
    case ROUTE_V2_SERVER: {
        size_t len = 0;
        char *body = v2_encode_server_metadata(LOSSD_VERSION, &len);
        if (body == NULL)
            return respond_error(r, 500, "InternalError", NULL, "out of memory");
        return respond(r, 200, body, len, JSON_TYPE, NULL);
    }
    case ROUTE_V2_LIVE:
        return respond_copy(r, 200, v2_health_live());
    case ROUTE_V2_READY:
        if (is_draining())
            return respond_error(r, 503, "Overloaded", NULL, "the server is draining");
        return respond_copy(r, 200, v2_health_ready());
    case ROUTE_V2_MODEL:
        return respond_copy(r, 200, v2_model_metadata());
    case ROUTE_V2_CONFIG:
        return respond_copy(r, 200, v2_model_config());
    default:
        return respond_error(r, 500, "InternalError", NULL, "route %d has no GET handler",
                             (int)id);
    }
}

static enum MHD_Result serve_get(http_req *r, route_id id)
{
    http_server *s = r->srv;
    switch (id) {
    case ROUTE_HEALTHZ:
        return respond_copy(r, 200, "{\"status\":\"ok\"}");
    case ROUTE_READYZ:
        if (is_draining())
            return respond_copy(r, 503, "{\"status\":\"draining\"}");
        return respond_copy(r, 200, "{\"status\":\"ready\"}");
    case ROUTE_METRICS: {
        metrics_gauges g = {job_pool_active(s->jobs), atomic_load(&inflight),
                            payload_mem_in_use(), s->cfg->max_memory};
        size_t len = 0;
        char *text = metrics_render(s->metrics, &g, &len);
        if (text == NULL)
            return respond_error(r, 500, "InternalError", NULL, "out of memory");
        return respond(r, 200, text, len, METRICS_TYPE, NULL);
    }
    case ROUTE_INFO:
        return respond_json(r, 200, info_object(s));
    case ROUTE_OPENAPI: {
        size_t len;
        const char *doc = openapi_json(&len);
        return respond_mem(r, 200, doc, len, MHD_RESPMEM_PERSISTENT, JSON_TYPE, NULL);
    }
    default:
        return serve_v2_get(r, id);
    }
}

/* ---- scoring ---- */

static void on_timer(uv_timer_t *t);

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
    /* Run MHD on the next loop turn rather than waiting for the ITC. */
    uv_timer_start(&r->srv->timer, on_timer, 0, 0);
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

static enum MHD_Result answer_result(http_req *r)
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
static enum MHD_Result finish_score(http_req *r)
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
        return answer_result(r);
    }
    rc = job_submit(s->jobs, pl, ops, r);
    if (rc == -EBUSY)
        return respond_error(r, 503, "Overloaded", NULL,
                             "the job queue is full (%u jobs); retry later",
                             s->cfg->queue_depth);
    if (rc < 0)
        return respond_error(r, 500, "InternalError", NULL, "out of memory");
    r->phase = PHASE_QUEUED;
    deadline_busy(&s->deadlines, conn_deadline_of(r->conn), 1, 0);
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

/* Body bytes of a scoring request: feed the decoder until something
 * fails, then only count and drop them. 0 to go on, -1 to close (past
 * body_cap: libmicrohttpd 0.9.75 cannot queue a response in mid-body). */
static int feed_body(http_req *r, const char *data, size_t len)
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

/* A Content-Length value: *ok = 0 when it is not a plain decimal that
 * fits in 64 bits. */
static uint64_t parse_content_length(const char *s, int *ok)
{
    uint64_t v = 0;
    *ok = s != NULL && *s != '\0';
    for (; *ok && *s; s++)
        *ok = *s >= '0' && *s <= '9' && !__builtin_mul_overflow(v, 10, &v) &&
              !__builtin_add_overflow(v, (uint64_t)(*s - '0'), &v);
    return v;
}

/* Header value of the request, NULL when absent. */
static const char *header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* A scoring request refused from its headers alone, with r->err set to
 * code. A client that sent Expect: 100-continue (curl does for big
 * bodies) reads the answer before it sends the body, and gets it now.
 * Others are sending it, and many read nothing until they are done
 * (Python's http.client gets a broken pipe when the connection closes
 * under it): a body whose Content-Length is at most cap is read and
 * dropped first (feed_body), and the error comes at its end
 * (finish_score). Any other is answered now, and the connection closed
 * after it: a body of unknown length could outgrow cap, and then only a
 * close would be left (libmicrohttpd cannot answer in mid-body). */
static enum MHD_Result early_error(http_req *r, int code, uint64_t cap)
{
    const char *expect = header(r, MHD_HTTP_HEADER_EXPECT);
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
    const char *type = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->ops = route_decoder(rt, type);
    if (r->ops == NULL) {
        mml_error_set(&r->err, MML_EMEDIA, "",
                      "Content-Type '%.64s' is not supported (send %s or %s)", type,
                      rt->media[0].type, rt->media[1].type ? rt->media[1].type : "");
        return early_error(r, MML_EMEDIA, DISCARD_SLACK);
    }
    r->want_frame = route_accepts(header(r, MHD_HTTP_HEADER_ACCEPT), BINARY_TYPE, JSON_TYPE);
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
    int rc = v2_parse_header_length(header(r, "Inference-Header-Content-Length"), &hlen,
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
static enum MHD_Result begin_score(http_req *r, const route *rt, const char *cl)
{
    http_server *s = r->srv;
    r->declared = parse_content_length(cl, &r->has_length);
    if (is_draining()) {
        mml_error_set(&r->err, MML_EBUSY, "", "the server is shutting down");
        return early_error(r, MML_EBUSY, DISCARD_SLACK);
    }
    if (job_pool_full(s->jobs)) {
        mml_error_set(&r->err, MML_EBUSY, "", "the job queue is full (%u jobs); retry later",
                      s->cfg->queue_depth);
        return early_error(r, MML_EBUSY, DISCARD_SLACK);
    }
    const char *enc = header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
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
    const char *accept = header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (accept != NULL)
        copy_str(r->accept_encoding, sizeof r->accept_encoding, accept);
    if (rt->id == ROUTE_V2_INFER)
        return begin_infer(r, coding);
    return begin_native(r, rt, coding);
}

/* ---- the handler ---- */

/* 404, 405 or a GET route: everything but scoring. */
static enum MHD_Result answer_route(http_req *r)
{
    static const char model[] = "/v2/models/" V2_MODEL_NAME "/";
    static const char version[] = "/v2/models/" V2_MODEL_NAME "/versions/" V2_MODEL_VERSION "/";
    if (r->route_status == 404 &&
        (strncmp(r->path, version, sizeof version - 1) == 0 ||
         (strncmp(r->path, model, sizeof model - 1) == 0 &&
          strncmp(r->path + sizeof model - 1, "versions/", 9) != 0)))
        return respond_error(r, 404, "NotFound", NULL,
                             "no route for %s %s: the model has GET (metadata), GET "
                             ".../ready, GET .../config and POST .../infer", r->method, r->path);
    if (r->route_status == 404 && strncmp(r->path, "/v2/models/", 11) == 0)
        return respond_error(r, 404, "NotFound",
                             NULL, "unknown model or version in %s %s: this server has "
                             "model " V2_MODEL_NAME " version " V2_MODEL_VERSION,
                             r->method, r->path);
    if (r->route_status == 404)
        return respond_error(r, 404, "NotFound", NULL, "no route for %s %s", r->method,
                             r->path);
    if (r->route_status == 405 && strcmp(r->method, "OPTIONS") == 0 &&
        r->srv->cfg->n_cors > 0) {
        /* A CORS preflight (or a plain OPTIONS): what the path allows. */
        char allow[sizeof r->allow + 16];
        snprintf(allow, sizeof allow, "%s, OPTIONS", r->allow);
        r->preflight = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   "Access-Control-Request-Method") != NULL;
        return respond_mem(r, 204, NULL, 0, MHD_RESPMEM_PERSISTENT, NULL, allow);
    }
    if (r->route_status == 405) {
        char msg[320];
        if (r->srv->cfg->n_cors > 0)                     /* OPTIONS answers preflights */
            strncat(r->allow, ", OPTIONS", sizeof r->allow - strlen(r->allow) - 1);
        snprintf(msg, sizeof msg, "%s is not allowed on %s (allowed: %s)", r->method,
                 r->path, r->allow);
        return respond_error_text(r, 405, "MethodNotAllowed", NULL, msg, r->allow);
    }
    return serve_get(r, route_table[r->route].id);
}

/* A header that must not come twice with different values: how many
 * times it came, and whether the values differ. */
typedef struct header_count {
    int count, differ;
    const char *first;
} header_count;

/* The headers framing_error() and host_error() look at, in one walk over
 * the request's headers. */
typedef struct checked_headers {
    header_count length, host;
} checked_headers;

static void count_value(header_count *h, const char *value)
{
    if (h->count++ == 0)
        h->first = value;
    else if (strcmp(value, h->first) != 0)
        h->differ = 1;
}

static enum MHD_Result count_headers(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    checked_headers *h = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        count_value(&h->length, value);
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        count_value(&h->host, value);
    return MHD_YES;
}

/* Why the body's framing is ambiguous, or NULL (RFC 9112 6.1 and 6.3),
 * given the request's Transfer-Encoding te, (first) Content-Length cl and
 * all its Content-Lengths: libmicrohttpd 0.9.75 reads only chunked
 * bodies, takes the first of several Content-Lengths, and waits for the
 * close after any other Transfer-Encoding; a proxy in front may frame the
 * same bytes otherwise. */
static const char *framing_error(const char *te, const char *cl, const header_count *lengths)
{
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return "only Transfer-Encoding: chunked is supported";
    if (te != NULL && cl != NULL)
        return "Content-Length and Transfer-Encoding must not both be sent";
    if (lengths->differ)
        return "the request has Content-Length headers that differ";
    return NULL;
}

/* Why the request's Host is wrong, or NULL (RFC 9112 3.2): an HTTP/1.1
 * request must have exactly one Host header; libmicrohttpd 0.9.75 does
 * not check. HTTP/1.0 may leave it out. */
static const char *host_error(const char *version, const header_count *hosts)
{
    if (hosts->count > 1)
        return "the request has more than one Host header";
    if (hosts->count == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return "an HTTP/1.1 request must have a Host header";
    return NULL;
}

/* First handler call: state, request id, route. A response queued now
 * (before the body) makes libmicrohttpd close the connection after it,
 * so answers that do not depend on a body wait for the final call when
 * there is none, and keep-alive works for probes and scrapes. */
static enum MHD_Result begin(http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, void **req_cls)
{
    http_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MHD_NO;
    *req_cls = r;
    atomic_fetch_add(&inflight, 1);
    r->srv = s;
    r->conn = conn;
    r->start_ns = uv_hrtime();
    r->body_cap = s->cfg->max_body + DISCARD_SLACK;
    copy_str(r->method, sizeof r->method, method);
    url = origin_path(url);
    copy_path(r->path, sizeof r->path, url);
    /* CORS: "*" on every answer (the same for every Origin, so a cache
     * may keep it); else only a listed origin, echoed. */
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    r->cors_origin = s->cfg->cors_any ? "*" : config_cors_allows(s->cfg, origin) ? origin : NULL;
    reqid_assign(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"), r->id);
    r->route = route_match(method, url, &r->route_status, r->allow, sizeof r->allow);
    r->v2 = route_is_v2(url);

    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    checked_headers h = { { 0, 0, NULL }, { 0, 0, NULL } };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_headers, &h);
    const char *cl = h.length.first;               /* the first Content-Length, or NULL */
    const char *bad = framing_error(te, cl, &h.length);
    if (bad == NULL)
        bad = host_error(version, &h.host);
    if (bad != NULL)
        return respond_error(r, 400, "BadRequest", NULL, "%s", bad);
    if (r->route_status == 200 && (route_table[r->route].methods & ROUTE_POST))
        return begin_score(r, &route_table[r->route], cl);
    if (te != NULL || (cl != NULL && strcmp(cl, "0") != 0))   /* a body follows */
        return answer_route(r);
    r->phase = PHASE_DEFERRED;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    http_req *r = *req_cls;
    if (r == NULL)
        return begin(cls, conn, url, method, version, req_cls);
    if (*upload_data_size != 0) {
        if (r->bytes_in == 0)   /* the sweep watches for clients that give up */
            deadline_receiving(conn_deadline_of(conn), 1);
        int rc = feed_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    switch (r->phase) {
    case PHASE_BODY:
        deadline_receiving(conn_deadline_of(conn), 0);
        return finish_score(r);
    case PHASE_DEFERRED:
        return answer_route(r);
    case PHASE_READY:
        return answer_result(r);
    case PHASE_QUEUED:
    case PHASE_ANSWERED:
        break;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server *s = cls;
    http_req *r = *req_cls;
    conn_deadline *dl = conn_deadline_of(conn);
    deadline_busy(&s->deadlines, dl, 0, uv_hrtime());   /* next request */
    deadline_receiving(dl, 0);
    if (r == NULL)
        return;
    *req_cls = NULL;
    double seconds = (double)(uv_hrtime() - r->start_ns) / 1e9;
    access_entry e = {r->method, r->path, r->status, r->bytes_in, r->bytes_out,
                      seconds, r->id};
    accesslog_write(s->cfg->log_format, &e);
    if (r->status != 0)
        metrics_request(s->metrics, r->route < 0 ? route_count : (size_t)r->route,
                        r->status, seconds);
    drop_decoder(r);
    payload_free(&r->p);
    v2_request_free(&r->v2req);
    free(r->body);
    free(r);
    atomic_fetch_sub(&inflight, 1);
}

/* Connections opened and closed: their deadlines (deadline.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        deadline_close(*socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = ci ? deadline_open(&s->deadlines, ci->connect_fd, uv_hrtime()) : NULL;
}

/* ---- the loop glue ---- */

static void run_mhd(http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    MHD_run(s->daemon);
    accesslog_flush();
    if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_sweep(uv_timer_t *t)
{
    http_server *s = t->data;
    if (deadline_sweep(&s->deadlines, uv_hrtime()) > 0)
        run_mhd(s);                          /* let MHD see the shut-down sockets */
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    char line[420];
    snprintf(line, sizeof line, "libmicrohttpd: %s", msg);
    accesslog_event(s->cfg->log_format, line);
}

int http_listen(const config *cfg, unsigned *port, char *err, size_t errlen)
{
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    int one = 1;
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (cfg->addr.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static struct MHD_Daemon *start_daemon(http_server *s, int listen_fd)
{
    const config *cfg = s->cfg;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (cfg->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
                            MHD_OPTION_END);
}

http_server *http_server_create(uv_loop_t *loop, const config *cfg, job_pool *jobs,
                                metrics *m, int listen_fd, char *err, size_t errlen)
{
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = cfg;
    s->jobs = jobs;
    s->metrics = m;
    deadline_list_init(&s->deadlines, (uint64_t)cfg->timeout * 1000000000u);
    errno = 0;
    s->daemon = start_daemon(s, listen_fd);
    if (s->daemon == NULL) {
        snprintf(err, errlen, "cannot serve on %s: %s", cfg->listen,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        goto fail_daemon;
    }
    const union MHD_DaemonInfo *efd = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (efd == NULL) {
        snprintf(err, errlen, "libmicrohttpd gives no epoll fd");
        goto fail_info;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    if (uv_poll_init(loop, &s->poll, efd->epoll_fd) != 0) {
        snprintf(err, errlen, "cannot poll the libmicrohttpd epoll fd");
        goto fail_info;
    }
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->sweep);
    s->poll.data = s;
    s->timer.data = s;
    s->sweep.data = s;
    s->handles_open = 3;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_timer_start(&s->timer, on_timer, 0, 0);
    uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
    return s;

fail_info:
    MHD_quiesce_daemon(s->daemon);          /* the socket is the caller's */
    MHD_stop_daemon(s->daemon);
fail_daemon:
    free(s);
    return NULL;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}

unsigned http_inflight(void)
{
    return atomic_load(&inflight);
}

void http_server_drain(http_server *s)
{
    atomic_store(&draining, 1);
    if (s->quiesced)
        return;
    s->quiesced = 1;
    /* MHD stops polling the listening socket; it stays open (the other
     * fronts share it) until the caller closes it. */
    MHD_quiesce_daemon(s->daemon);
}

static void on_handle_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    if (--s->handles_open == 0)
        free(s);
}

void http_server_destroy(http_server *s)
{
    if (s == NULL)
        return;
    /* Stop polling the epoll fd before MHD closes it. */
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    MHD_quiesce_daemon(s->daemon);          /* MHD must not close the shared socket */
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    accesslog_flush();
}
