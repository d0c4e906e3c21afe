/* respond.c - the responses of the HTTP front end: every answer's common
 * headers (X-Request-Id, CORS, Vary, Retry-After, Connection on drain),
 * and error bodies in the native or the v2 shape. */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"
#include "json.h"
#include "request.h"
#include "v2.h"

const char JSON_TYPE[] = "application/json";
const char BINARY_TYPE[] = "application/octet-stream";


/* Request headers a page may send (Access-Control-Allow-Headers) when
 * the preflight's list is not plain tokens, and response headers it may
 * read. */
#define CORS_ALLOW_HEADERS \
    "Content-Type, Content-Encoding, Accept, X-Request-Id, Inference-Header-Content-Length"
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, Inference-Header-Content-Length"


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
                            want != NULL && httpcheck_plain_header_list(want) ? want : CORS_ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
}

/* libmicrohttpd is done with a malloc'd body (the last connection using
 * it has completed): it leaves the memory budget, where respond_mem()
 * counted it, and is freed. */
static void free_counted(void *body)
{
    payload_mem_uncount(malloc_usable_size(body));
    free(body);
}

enum MHD_Result respond_mem(http_req *r, unsigned status, const char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *type, const char *allow)
{
    if (body == NULL) {
        body = "";
        len = 0;
        mode = MHD_RESPMEM_PERSISTENT;
    }
    /* A body waiting to be sent holds memory like a request's tensors:
     * it counts in --max-memory until libmicrohttpd frees it. */
    struct MHD_Response *resp;
    if (mode == MHD_RESPMEM_MUST_FREE) {
        payload_mem_count(malloc_usable_size((void *)body));
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            len, (void *)body, free_counted, (void *)body);
        if (resp == NULL)
            free_counted((void *)body);
    } else {
        resp = MHD_create_response_from_buffer(len, (void *)body, mode);
    }
    if (resp == NULL)
        return MHD_NO;
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    add_cors_headers(r, resp);
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (http_draining())
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
    if (status == 200 && r->ans.header != NULL)
        MHD_add_response_header(resp, r->ans.header, r->ans.value);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        r->status = (int)status;
        r->bytes_out = len;
        r->phase = PHASE_ANSWERED;
    }
    return ret;
}

enum MHD_Result respond(http_req *r, unsigned status, char *body, size_t len,
                         const char *type, const char *allow)
{
    return respond_mem(r, status, body, len, MHD_RESPMEM_MUST_FREE, type, allow);
}

enum MHD_Result respond_error_text(http_req *r, unsigned status, const char *type,
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
    if (body == NULL) {      /* out of memory: no body for the error it was */
        static const char oom[] =
            "{\"error\":{\"type\":\"Overloaded\",\"message\":\"out of memory; retry later\"}}";
        static const char oom_v2[] = "{\"error\":\"Overloaded: out of memory; retry later\"}";
        const char *text = r->v2 ? oom_v2 : oom;
        return respond_mem(r, 503, text, strlen(text), MHD_RESPMEM_PERSISTENT, JSON_TYPE, NULL);
    }
    return respond(r, status, body, len, JSON_TYPE, allow);
}

enum MHD_Result respond_error(http_req *r, unsigned status, const char *type,
                               const char *field, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return respond_error_text(r, status, type, field, message, NULL);
}

enum MHD_Result respond_mml_error(http_req *r, int code, const mml_error *err)
{
    /* Out of memory passes like a full budget: 503 with Retry-After. */
    if (code == MML_ENOMEM)
        return respond_error_text(r, 503, mml_err_name(MML_EBUSY),
                                  err->field[0] ? err->field : NULL, err->message, NULL);
    return respond_error_text(r, (unsigned)mml_err_status(code), mml_err_name(code),
                              err->field[0] ? err->field : NULL, err->message, NULL);
}

enum MHD_Result respond_const(http_req *r, unsigned status, const char *text)
{
    return respond_mem(r, status, text, strlen(text), MHD_RESPMEM_PERSISTENT, JSON_TYPE,
                       NULL);
}
