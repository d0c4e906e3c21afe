/* request.h - internal to the HTTP front end (http.c, conn.c, respond.c,
 * get.c, score.c): the server and per-request state, and the functions
 * the phases of a request call across those files. Calls go one way:
 * http.c -> score.c, get.c -> respond.c -> conn.c.
 *
 * A request goes through three handler phases: the first call
 * routes it and allocates its state (http.c, rejecting 404/405/413/415/
 * 503 before any body is read), body calls feed the decoder (score.c),
 * and the final call answers a GET (get.c) or computes the loss inline or
 * suspends the connection until its job is done (score.c). Responses, with
 * the headers every answer carries, are built in respond.c. */
#ifndef LOSSD_REQUEST_H
#define LOSSD_REQUEST_H

#include <microhttpd.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "deadline.h"
#include "http.h"
#include "decoder.h"
#include "inflate.h"
#include "job.h"
#include "metrics.h"
#include "payload.h"
#include "reqid.h"
#include "route.h"

/* A body that failed (decode error, over --max-body) is still read and
 * dropped so the client gets its 4xx; past this much over the limit the
 * connection is closed instead. A request refused from its headers alone
 * (415, 503) has its body read and dropped up to this size, the same way
 * (score.c, early_error). */
#define DISCARD_SLACK (UINT64_C(1) << 20)

struct http_server {
    uv_loop_t *loop;
    const config *cfg;
    job_pool *jobs;
    metrics *metrics;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_timer_cb on_timer;           /* runs libmicrohttpd (http_server_kick) */
    uv_timer_t sweep;               /* once a second: deadline_sweep() */
    deadline_list deadlines;        /* one per connection, see deadline.h */
    int handles_open;
    unsigned port;
    int quiesced;                   /* no longer accepting (http_server_drain) */
    struct lingering *lingering;    /* sockets drained after a refusal (http.c) */
    unsigned n_lingering;
    int stopping;                   /* http_server_destroy has begun */
    struct {                        /* errors libmicrohttpd answered itself (http.c) */
        int status;
        unsigned fresh, old;        /* logged this second, and the one before */
    } mhd_errors[8];
    const char *mhd_last_fmt;       /* libmicrohttpd's last message, and how often */
    unsigned mhd_repeats;           /* it came again since (http.c, mhd_log) */
    unsigned closed;                /* connections closed during this MHD_run */
    unsigned opened;                /* and opened */
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
    int v2;                         /* errors in the v2 shape {"error": "..."} */
    decoder *dec;                   /* the body's decoder (decoder.h), or NULL */
    char accept_encoding[128];      /* for the response coding */
    content_coding body_coding;     /* of body */
    int err_code;                   /* first failure, 0 while all is well */
    mml_error err;
    uint64_t body_cap;              /* close the connection past this many body bytes */
    int has_length;                 /* a Content-Length, declared, came with the headers */
    uint64_t declared;
    uint64_t elements;
    decoder_answer ans;             /* the answer, from the decoder's format */
    payload_acct answer_acct;       /* its memory, reserved before computing */
    int job_status;
    const char *cors_origin;   /* Access-Control-Allow-Origin: "*", the request's Origin
                                  (libmicrohttpd keeps it to the request's end), or NULL */
    int preflight;                  /* an OPTIONS preflight: the CORS request headers */
    int begun;                      /* the first handler call ran (else only the URI
                                       was seen: libmicrohttpd may answer by itself) */
    int expects_body;               /* Transfer-Encoding, or a Content-Length but 0 */
} http_req;

extern const char JSON_TYPE[];
extern const char BINARY_TYPE[];

/* ---- conn.c ---- */

/* 1 once a drain has begun on any server of the process. */
int http_draining(void);

/* Begin the drain of every server of the process (http_server_drain). */
void http_drain_all(void);

/* A request begins (its first handler call) or ends (its completion). */
void http_request_begins(void);
void http_request_ends(void);

/* Once a second: after a whole second with no request begun and none in
 * flight, give the memory kept for reuse back (payload_mem_idle), once
 * per idle spell: the cached blocks and glibc's free heap would otherwise
 * hold the peak of the last burst for good. */
void http_idle_sweep(void);

/* Run libmicrohttpd on the next loop turn (after a resume). */
void http_server_kick(http_server *s);

/* The deadline entry of a connection (NULL when untracked). */
conn_deadline *http_conn_deadline(struct MHD_Connection *conn);

/* A request header's value, NULL when absent. */
const char *http_header(const http_req *r, const char *name);

/* ---- respond.c: every response goes through these ---- */

/* Queue status with body: malloc'd and taken over when mode is
 * MHD_RESPMEM_MUST_FREE, a constant for MHD_RESPMEM_PERSISTENT; NULL for
 * empty. type and allow (the Allow header) may be NULL. Adds the headers
 * every response carries (X-Request-Id, CORS, Vary, Retry-After, ...). */
enum MHD_Result respond_mem(http_req *r, unsigned status, const char *body, size_t len,
                            enum MHD_ResponseMemoryMode mode, const char *type,
                            const char *allow);

/* respond_mem() for a malloc'd body (taken over). */
enum MHD_Result respond(http_req *r, unsigned status, char *body, size_t len,
                        const char *type, const char *allow);

/* A JSON body from a constant string (not copied). */
enum MHD_Result respond_const(http_req *r, unsigned status, const char *text);

/* An error: {"error": {"type", "message", "field"}}, or {"error":
 * "<type>: <message>"} on v2 paths; allow for 405, else NULL. */
enum MHD_Result respond_error_text(http_req *r, unsigned status, const char *type,
                                   const char *field, const char *message,
                                   const char *allow);

/* respond_error_text() with a printf-style message. */
enum MHD_Result respond_error(http_req *r, unsigned status, const char *type,
                              const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The error of a failed decode or job, with its type and status. */
enum MHD_Result respond_mml_error(http_req *r, int code, const mml_error *err);

/* ---- linger.c ---- */

/* NOTIFY_CONNECTION CLOSED of a connection whose response went out with
 * its request unread: keep the socket fd (its write side is shut) and
 * drain it from s's loop, unless the client is done or too many linger
 * already. Call while libmicrohttpd's fd is still open. */
void linger_start(http_server *s, int fd);

/* Close s's lingering sockets past their time at now_ns, or every one
 * when all is set (the server stops). */
void linger_expire(http_server *s, uint64_t now_ns, int all);

/* ---- get.c ---- */

/* 404, 405, an OPTIONS preflight or a GET route: everything but scoring. */
enum MHD_Result get_answer(http_req *r);

/* ---- score.c ---- */

/* First call of a scoring request: everything decidable from the headers
 * (cl: its first Content-Length, NULL for none). */
enum MHD_Result score_begin(http_req *r, const route *rt, const char *cl);

/* Body bytes: 0 to go on, -1 to close the connection. */
int score_feed(http_req *r, const char *data, size_t len);

/* The whole body is read: compute, or suspend until the job is done. */
enum MHD_Result score_finish(http_req *r);

/* The job is done and the connection resumed: queue its answer. */
enum MHD_Result score_answer(http_req *r);

/* Free what the request still holds for scoring (at its completion). */
void score_free(http_req *r);

#endif
