/* inflate.c - gzip/deflate request decompression and response compression with zlib. */
#include "inflate.h"
#include "hlist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define SCRATCH_SIZE (64 * 1024)
/* zlib counts in uInt: feed it at most this much at a time. */
#define ZLIB_CHUNK ((size_t)1 << 30)

struct inflater {
    z_stream strm;
    int coding;
    int initialized;           /* inflateInit2 done */
    int ended;                 /* the current stream (member) is complete */
    uint8_t head[2];           /* deflate: first bytes, to tell zlib from raw */
    size_t head_len;
    uint64_t max_out, total_out;
    inflate_sink sink;
    void *ctx;
    int failed;                /* sticky failure code */
    mml_error error;
    unsigned char scratch[SCRATCH_SIZE];
};

/* ---- Content-Encoding ------------------------------------------------ */

static int token_is(const char *tok, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(tok, name, len) == 0;
}

content_coding inflate_parse_content_encoding(const char *value)
{
    content_coding found = CODING_IDENTITY;
    const char *tok, *params;
    size_t len, plen;
    if (value == NULL)
        return CODING_IDENTITY;
    while (hlist_next(&value, &tok, &len, &params, &plen)) {
        content_coding c;
        if (token_is(tok, len, "identity"))
            continue;
        if (token_is(tok, len, "gzip") || token_is(tok, len, "x-gzip"))
            c = CODING_GZIP;
        else if (token_is(tok, len, "deflate"))
            c = CODING_DEFLATE;
        else
            return CODING_UNKNOWN;
        if (found != CODING_IDENTITY)
            return CODING_UNKNOWN;   /* stacked codings: not supported */
        found = c;
    }
    return found;
}

const char *inflate_coding_name(content_coding coding)
{
    return coding == CODING_GZIP ? "gzip" : coding == CODING_DEFLATE ? "deflate" : NULL;
}

/* ---- decompression --------------------------------------------------- */

inflater *inflater_create(content_coding coding, uint64_t max_out,
                          inflate_sink sink, void *ctx)
{
    if (coding != CODING_GZIP && coding != CODING_DEFLATE)
        return NULL;
    inflater *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return NULL;
    z->coding = coding;
    z->max_out = max_out;
    z->sink = sink;
    z->ctx = ctx;
    if (coding == CODING_GZIP) {
        if (inflateInit2(&z->strm, 16 + MAX_WBITS) != Z_OK) {
            free(z);
            return NULL;
        }
        z->initialized = 1;
    }
    return z;
}

void inflater_destroy(inflater *z)
{
    if (z == NULL)
        return;
    if (z->initialized)
        inflateEnd(&z->strm);
    free(z);
}

uint64_t inflater_total_out(const inflater *z)
{
    return z->total_out;
}

static int fail(inflater *z, int rc, mml_error *err)
{
    z->failed = rc;
    z->error = *err;
    return rc;
}

static const char *stream_name(const inflater *z)
{
    return z->coding == CODING_GZIP ? "gzip" : "deflate";
}

/* Hand decompressed bytes to the sink, refusing output past max_out. */
static int emit(inflater *z, size_t produced, mml_error *err)
{
    if (produced == 0)
        return 0;
    if (produced > z->max_out - z->total_out)
        return mml_error_set(err, MML_ETOOBIG, "body",
                             "decompressed body exceeds the limit of %llu bytes",
                             (unsigned long long)z->max_out);
    z->total_out += produced;
    return z->sink(z->ctx, (const char *)z->scratch, produced, err);
}

/* Inflate in[0..len) (len <= ZLIB_CHUNK) into the sink. */
static int pump(inflater *z, const uint8_t *in, size_t len, mml_error *err)
{
    z->strm.next_in = (Bytef *)(uintptr_t)in;
    z->strm.avail_in = (uInt)len;
    for (;;) {
        if (z->ended) {
            if (z->strm.avail_in == 0)
                return 0;
            if (z->coding != CODING_GZIP)
                return mml_error_set(err, MML_EBADREQ, "body",
                                     "data after the end of the deflate stream");
            inflateReset(&z->strm);  /* next gzip member */
            z->ended = 0;
        }
        z->strm.next_out = z->scratch;
        z->strm.avail_out = SCRATCH_SIZE;
        int ret = inflate(&z->strm, Z_NO_FLUSH);
        int rc = emit(z, SCRATCH_SIZE - z->strm.avail_out, err);
        if (rc < 0)
            return rc;
        if (ret == Z_STREAM_END) {
            z->ended = 1;
            continue;
        }
        if (ret == Z_MEM_ERROR)
            return mml_error_set(err, MML_ENOMEM, "body", "out of memory inflating the body");
        if (ret != Z_OK && ret != Z_BUF_ERROR)
            return mml_error_set(err, MML_EBADREQ, "body", "corrupt %s body: %s",
                                 stream_name(z),
                                 z->strm.msg != NULL ? z->strm.msg : "invalid data");
        if (z->strm.avail_in == 0 && z->strm.avail_out != 0)
            return 0;
    }
}

/* "deflate" is meant to be a zlib stream, but some clients send raw
 * deflate: decide from the first two bytes, which form a zlib header
 * (method 8, window <= 32K, check bits) only for zlib streams. */
static int start_deflate(inflater *z, mml_error *err)
{
    const uint8_t *h = z->head;
    int zlib = (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
    if (inflateInit2(&z->strm, zlib ? MAX_WBITS : -MAX_WBITS) != Z_OK)
        return mml_error_set(err, MML_ENOMEM, "body", "out of memory inflating the body");
    z->initialized = 1;
    return pump(z, z->head, z->head_len, err);
}

int inflater_feed(inflater *z, const char *data, size_t len, mml_error *err)
{
    const uint8_t *p = (const uint8_t *)data;
    mml_error local;
    int rc;
    if (err == NULL)
        err = &local;
    if (z->failed)
        goto replay;
    if (len == 0)
        return 0;
    if (!z->initialized) {
        while (z->head_len < 2 && len > 0) {
            z->head[z->head_len++] = *p++;
            len--;
        }
        if (z->head_len < 2)
            return 0;
        rc = start_deflate(z, err);
        if (rc < 0)
            return fail(z, rc, err);
    }
    while (len > 0) {
        size_t take = len < ZLIB_CHUNK ? len : ZLIB_CHUNK;
        rc = pump(z, p, take, err);
        if (rc < 0)
            return fail(z, rc, err);
        p += take;
        len -= take;
    }
    return 0;
replay:
    *err = z->error;
    return z->failed;
}

int inflater_finish(inflater *z, mml_error *err)
{
    mml_error local;
    if (err == NULL)
        err = &local;
    if (z->failed) {
        *err = z->error;
        return z->failed;
    }
    if (!z->ended)
        return fail(z, mml_error_set(err, MML_EBADREQ, "body",
                                     "truncated %s body: the compressed stream does not end",
                                     stream_name(z)), err);
    return 0;
}

/* ---- the decoder wrapper --------------------------------------------- */

/* What an inflater holds, charged to the memory budget while it lives:
 * itself (its 64 KiB scratch included) and zlib's state and 32 KiB
 * window (inflate's allocations, about 7 KiB besides the window). */
#define INFLATER_BYTES (sizeof(inflater) + ((uint64_t)40 << 10))

typedef struct inflate_decoder {
    decoder super;            /* first: the interface (decoder.h) */
    inflater *z;              /* NULL once the body has ended */
    decoder *inner;
    payload_acct acct;        /* the inflater in the memory budget */
} inflate_decoder;

/* Free the inflater and take it off the budget. */
static void drop_inflater(inflate_decoder *d)
{
    if (d->z == NULL)
        return;
    inflater_destroy(d->z);
    d->z = NULL;
    payload_mem_uncharge(&d->acct, d->acct.held);
}

static int feed_inner(void *inner, const char *data, size_t len, mml_error *err)
{
    return decoder_feed(inner, data, len, err);
}

static int inflate_dec_feed(decoder *base, const char *data, size_t len, mml_error *err)
{
    inflate_decoder *d = (inflate_decoder *)base;
    mml_error local;
    if (d->z == NULL)
        return mml_error_set(err ? err : &local, MML_EBADREQ, "body", "feed after finish");
    return inflater_feed(d->z, data, len, err);
}

/* The end of the compressed stream, then the inner decoder's finish. */
static int inflate_dec_finish(decoder *base, payload *out, mml_error *err)
{
    inflate_decoder *d = (inflate_decoder *)base;
    memset(out, 0, sizeof *out);
    if (d->z != NULL) {
        int rc = inflater_finish(d->z, err);
        if (rc < 0)
            return rc;
        drop_inflater(d);
    }
    return decoder_finish(d->inner, out, err);
}

static int inflate_dec_answer(const decoder *base, const mml_request *req, const void *out,
                              decoder_answer *a)
{
    const inflate_decoder *d = (const inflate_decoder *)base;
    return decoder_answer_for(d->inner, req, out, a);
}

static void inflate_dec_destroy(decoder *base)
{
    inflate_decoder *d = (inflate_decoder *)base;
    if (d == NULL)
        return;
    drop_inflater(d);
    decoder_destroy(d->inner);
    free(d);
}

static const decoder_ops inflate_decoder_ops = {
    .name = "inflate",
    .create = NULL,           /* made by inflate_decoder_wrap() around another */
    .feed = inflate_dec_feed,
    .finish = inflate_dec_finish,
    .answer = inflate_dec_answer,
    .destroy = inflate_dec_destroy,
};

decoder *inflate_decoder_wrap(content_coding coding, uint64_t max_out, decoder *inner,
                              mml_error *err)
{
    inflate_decoder *d = calloc(1, sizeof *d);
    if (d == NULL)
        goto fail_alloc;
    d->super.ops = &inflate_decoder_ops;
    d->inner = inner;
    if (payload_mem_charge(&d->acct, INFLATER_BYTES, "body", err) < 0)
        goto fail_budget;
    d->z = inflater_create(coding, max_out, feed_inner, inner);
    if (d->z == NULL)
        goto fail_inflater;
    return &d->super;

fail_inflater:
    payload_mem_uncharge(&d->acct, d->acct.held);
    mml_error_set(err, MML_ENOMEM, "body", "out of memory");
fail_budget:
    free(d);
    decoder_destroy(inner);
    return NULL;

fail_alloc:
    decoder_destroy(inner);
    mml_error_set(err, MML_ENOMEM, "body", "out of memory");
    return NULL;
}

/* ---- response compression -------------------------------------------- */

content_coding inflate_pick_response_coding(const char *accept_encoding,
                                            size_t body_len)
{
    int gzip = -1, deflate = -1, any = -1;
    const char *tok, *params;
    size_t len, plen;
    if (accept_encoding == NULL || body_len < INFLATE_MIN_COMPRESS)
        return CODING_IDENTITY;
    while (hlist_next(&accept_encoding, &tok, &len, &params, &plen)) {
        int q = hlist_q(params, plen);
        if (token_is(tok, len, "gzip") || token_is(tok, len, "x-gzip"))
            gzip = q;
        else if (token_is(tok, len, "deflate"))
            deflate = q;
        else if (token_is(tok, len, "*"))
            any = q;
    }
    if (gzip < 0)
        gzip = any < 0 ? 0 : any;
    if (deflate < 0)
        deflate = any < 0 ? 0 : any;
    if (gzip > 0 && gzip >= deflate)
        return CODING_GZIP;
    return deflate > 0 ? CODING_DEFLATE : CODING_IDENTITY;
}

int inflate_compress(content_coding coding, const void *in, size_t len,
                     void **out, size_t *out_len)
{
    z_stream s;
    memset(&s, 0, sizeof(s));
    *out = NULL;
    *out_len = 0;
    if ((coding != CODING_GZIP && coding != CODING_DEFLATE) || len > UINT_MAX)
        return MML_ENOMEM;
    /* Level 1: responses are compressed on the request path, speed wins. */
    int bits = coding == CODING_GZIP ? 16 + MAX_WBITS : MAX_WBITS;
    if (deflateInit2(&s, 1, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return MML_ENOMEM;
    uLong bound = deflateBound(&s, (uLong)len);
    unsigned char *buf = malloc(bound);
    if (buf == NULL)
        goto fail_alloc;
    s.next_in = (Bytef *)(uintptr_t)in;
    s.avail_in = (uInt)len;
    s.next_out = buf;
    s.avail_out = (uInt)bound;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END)
        goto fail_deflate;
    *out = buf;
    *out_len = (size_t)s.total_out;
    deflateEnd(&s);
    return 0;
fail_deflate:
    free(buf);
fail_alloc:
    deflateEnd(&s);
    return MML_ENOMEM;
}
