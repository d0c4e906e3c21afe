/* feed.c - feeds request bodies to the decoders in pieces (see feed.h). */
#include "feed.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

int feed_pieces(const void *data, size_t len, feed_cuts cuts, feed_sink *sink, void *ctx,
                mml_error *err)
{
    const char *p = data;
    size_t pos = 0, k = 0;
    int rc, at_cut;

    do {
        size_t end = len;
        at_cut = 0;
        if (k < cuts.nat) {
            ck_assert_msg(cuts.at[k] >= pos && cuts.at[k] <= len,
                          "cut %zu at %zu: outside [%zu, %zu]", k, cuts.at[k], pos, len);
            end = cuts.at[k];
            at_cut = 1;
        }
        if (cuts.every && cuts.every < end - pos) {
            end = pos + cuts.every;
            at_cut = 0;
        }
        k += (size_t)at_cut;
        rc = sink(ctx, p + pos, end - pos, err);
        pos = end;
    } while (rc == 0 && (pos < len || at_cut));
    return rc;
}

/* ---- v2 behind decoder_ops ------------------------------------------------ */

/* The v2 decoder and what its finish() gives besides the payload. */
typedef struct v2_adapter {
    uint64_t max_body;
    v2_decoder *dec;          /* NULL until v2_adapter_begin() */
    char *id;                 /* the finished request's, until feed_finish_v2() */
    int binary_output;
} v2_adapter;

static decoder *v2_adapter_create(uint64_t max_body)
{
    v2_adapter *a = calloc(1, sizeof *a);
    if (a != NULL)
        a->max_body = max_body;
    return (decoder *)a;
}

/* The part of create() that needs the header length: -1 when out of memory. */
static int v2_adapter_begin(decoder *d, int64_t header_len)
{
    v2_adapter *a = (v2_adapter *)d;
    a->dec = v2_decoder_create(a->max_body, header_len);
    return a->dec != NULL ? 0 : -1;
}

static int v2_adapter_feed(decoder *d, const char *data, size_t len, mml_error *err)
{
    return v2_decoder_feed(((v2_adapter *)d)->dec, data, len, err);
}

static int v2_adapter_finish(decoder *d, payload *out, mml_error *err)
{
    v2_adapter *a = (v2_adapter *)d;
    v2_request r;
    int rc = v2_decoder_finish(a->dec, &r, err);

    *out = r.pl;
    free(a->id);
    a->id = r.id;
    a->binary_output = r.binary_output;
    return rc;
}

static void v2_adapter_destroy(decoder *d)
{
    v2_adapter *a = (v2_adapter *)d;

    v2_decoder_destroy(a != NULL ? a->dec : NULL);
    if (a != NULL) {
        free(a->id);
        free(a);
    }
}

const decoder_ops feed_v2_ops = {
    .name = "v2",
    .create = v2_adapter_create,
    .feed = v2_adapter_feed,
    .finish = v2_adapter_finish,
    .destroy = v2_adapter_destroy,
};

/* ---- one decoder, step by step -------------------------------------------- */

void feed_open(feed_dec *f, const feed_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->d = cfg->ops->create(cfg->max_body);
    ck_assert_msg(f->d != NULL, "%s: create(%llu) failed", cfg->ops->name,
                  (unsigned long long)cfg->max_body);
    if (cfg->ops == &feed_v2_ops)
        ck_assert_msg(v2_adapter_begin(f->d, cfg->header_len) == 0,
                      "v2: create(%llu, %lld) failed", (unsigned long long)cfg->max_body,
                      (long long)cfg->header_len);
}

int feed_step(feed_dec *f, const void *data, size_t len, mml_error *err)
{
    return f->cfg.ops->feed(f->d, data, len, err);
}

int feed_finish(feed_dec *f, payload *out, mml_error *err)
{
    return f->cfg.ops->finish(f->d, out, err);
}

int feed_finish_v2(feed_dec *f, v2_request *out, mml_error *err)
{
    ck_assert_msg(f->cfg.ops == &feed_v2_ops, "feed_finish_v2 of a %s decoder",
                  f->cfg.ops->name);
    v2_adapter *a = (v2_adapter *)f->d;
    memset(out, 0, sizeof *out);
    int rc = feed_finish(f, &out->pl, err);
    out->id = a->id;
    a->id = NULL;
    out->binary_output = a->binary_output;
    return rc;
}

decoder *feed_decoder(feed_dec *f)
{
    return f->cfg.ops == &feed_v2_ops ? NULL : f->d;
}

inflater *feed_inflater(feed_dec *f, content_coding coding, uint64_t max_out)
{
    inflater *z;

    if (f->cfg.ops == &feed_v2_ops) {
        z = inflater_create(coding, max_out, v2_decoder_sink, ((v2_adapter *)f->d)->dec);
    } else {
        f->sink = (inflate_decoder_sink){ f->cfg.ops, f->d };
        z = inflater_create(coding, max_out, inflate_sink_decoder, &f->sink);
    }
    ck_assert_msg(z != NULL, "inflater_create(%d) failed", (int)coding);
    return z;
}

void feed_close(feed_dec *f)
{
    f->cfg.ops->destroy(f->d);
    f->d = NULL;
}

void feed_destroy_null(const decoder_ops *ops)
{
    ops->destroy(NULL);
}

/* ---- one whole decode ------------------------------------------------------- */

static int step_sink(void *f, const char *data, size_t len, mml_error *err)
{
    return feed_step(f, data, len, err);
}

/* Feed the body cut per cuts and finish into *out (a payload or, for
 * v2, a v2_request): the first failure, finish() checked to repeat a
 * failed feed's. */
static int decode_into(const feed_config *cfg, const void *data, size_t len, feed_cuts cuts,
                       void *out, int v2, mml_error *err)
{
    feed_dec f;
    feed_open(&f, cfg);
    int rc = feed_pieces(data, len, cuts, step_sink, &f, err);
    int end = v2 ? feed_finish_v2(&f, out, err) : feed_finish(&f, out, err);

    if (rc == 0)
        rc = end;
    else
        ck_assert_msg(end == rc, "%s: finish() after a feed failed with %d returned %d",
                      cfg->ops->name, rc, end);
    feed_close(&f);
    return rc;
}

int feed_decode(const feed_config *cfg, const void *data, size_t len, feed_cuts cuts,
                payload *out, mml_error *err)
{
    memset(out, 0, sizeof *out);
    return decode_into(cfg, data, len, cuts, out, 0, err);
}

int feed_decode_v2(const feed_config *cfg, const void *data, size_t len, feed_cuts cuts,
                   v2_request *out, mml_error *err)
{
    memset(out, 0, sizeof *out);
    return decode_into(cfg, data, len, cuts, out, 1, err);
}
