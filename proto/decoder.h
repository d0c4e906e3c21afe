/* decoder.h - the one interface every request body format implements.
 *
 * A decoder is fed the body chunk by chunk as libmicrohttpd hands it over
 * and writes numbers straight into the payload's typed buffers. When
 * finish() succeeds the payload is fully validated (mml_validate) and
 * ready to compute; ownership of its buffers passes to the caller, and
 * the decoder then writes the response for the computed loss in its own
 * format (answer()). The server holds one decoder per request and never
 * asks which format it is: everything format-specific (the v2 request id,
 * binary or JSON output, a frame's declared length) stays behind this
 * interface.
 *
 * Every decoder embeds `decoder super;` as its first member, so that a
 * decoder * and the format's own struct convert both ways (h2o's handler
 * model). A decoder may wrap another: the inflater for Content-Encoding
 * gzip/deflate is one (inflate.h). Adding a format is one file in proto/
 * implementing decoder_ops, and one line in the server's route table. */
#ifndef LOSSD_DECODER_H
#define LOSSD_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "mml.h"
#include "payload.h"

typedef struct decoder decoder;
typedef struct decoder_ops decoder_ops;

/* The first member of every decoder. */
struct decoder {
    const decoder_ops *ops;
};

/* What a decoder is told of its request when it is created. */
typedef struct decoder_conf {
    uint64_t max_body;        /* body bytes (decompressed) at most */
    int64_t length;           /* the body's length when the transport announced it
                                 and no Content-Encoding changes it, else -1 */
    /* A request header's value, NULL when absent; valid during create(). */
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
} decoder_conf;

/* A response body as the decoder's format writes it. */
typedef struct decoder_answer {
    char *body;               /* malloc'd, the caller frees it */
    size_t len;
    const char *type;         /* Content-Type (static) */
    const char *header;       /* one more response header (static name), or NULL */
    char value[24];           /* its value */
} decoder_answer;

struct decoder_ops {
    const char *name;         /* the format, for logs and metrics */
    /* A decoder for one body. NULL with *err filled: a request header the
     * format cannot take (MML_EBADREQ, answered before the body), or
     * MML_ENOMEM. */
    decoder *(*create)(const decoder_conf *conf, mml_error *err);
    /* Consume len bytes. 0, or a negative MML code with *err filled (err
     * may be NULL); after a failure every later call returns it again. */
    int (*feed)(decoder *d, const char *data, size_t len, mml_error *err);
    /* End of body: validate and move the tensors into *out. 0, or a
     * negative code with *err filled and *out left empty. */
    int (*finish)(decoder *d, payload *out, mml_error *err);
    /* After a successful finish(), on any thread: the response for the
     * loss of req in out (mml_out_count(req) values of req->dtype) into
     * *a. 0 or MML_ENOMEM. */
    int (*answer)(const decoder *d, const mml_request *req, const void *out,
                  decoder_answer *a);
    /* Free everything the decoder still owns. */
    void (*destroy)(decoder *d);
};

/* ops->create(conf, err). */
static inline decoder *decoder_create(const decoder_ops *ops, const decoder_conf *conf,
                                      mml_error *err)
{
    return ops->create(conf, err);
}

static inline int decoder_feed(decoder *d, const char *data, size_t len, mml_error *err)
{
    return d->ops->feed(d, data, len, err);
}

static inline int decoder_finish(decoder *d, payload *out, mml_error *err)
{
    return d->ops->finish(d, out, err);
}

static inline int decoder_answer_for(const decoder *d, const mml_request *req,
                                     const void *out, decoder_answer *a)
{
    return d->ops->answer(d, req, out, a);
}

/* d->ops->destroy(d); NULL is a no-op. */
static inline void decoder_destroy(decoder *d)
{
    if (d != NULL)
        d->ops->destroy(d);
}

/* A decoder_conf with no announced length and no headers, for max_body
 * (tools and tests). */
static inline decoder_conf decoder_conf_plain(uint64_t max_body)
{
    return (decoder_conf){max_body, -1, NULL, NULL};
}

/* The value of header name in conf, NULL when absent or no lookup. */
static inline const char *decoder_conf_header(const decoder_conf *conf, const char *name)
{
    return conf->header != NULL ? conf->header(conf->ctx, name) : NULL;
}

#endif
