/* feed.c - feeds request bodies to the decoders in pieces (see feed.h). */
#include "feed.h"

#include <check.h>
#include <stdio.h>
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

/* ---- one decoder, step by step -------------------------------------------- */

/* The request headers a decoder may ask for: Inference-Header-Content-Length
 * when cfg gives one. */
static const char *cfg_header(void *ctx, const char *name)
{
    feed_dec *f = ctx;
    if (strcmp(name, "Inference-Header-Content-Length") == 0 && f->cfg.header_len >= 0)
        return f->hlen;
    return NULL;
}

void feed_open(feed_dec *f, const feed_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    snprintf(f->hlen, sizeof f->hlen, "%lld", (long long)cfg->header_len);
    decoder_conf conf = {cfg->max_body, cfg->length ? cfg->length : -1, cfg_header, f};
    mml_error err = {0};
    f->d = decoder_create(cfg->ops, &conf, &err);
    ck_assert_msg(f->d != NULL, "%s: create(%llu) failed: %s", cfg->ops->name,
                  (unsigned long long)cfg->max_body, err.message);
}

int feed_step(feed_dec *f, const void *data, size_t len, mml_error *err)
{
    return decoder_feed(f->d, data, len, err);
}

int feed_finish(feed_dec *f, payload *out, mml_error *err)
{
    return decoder_finish(f->d, out, err);
}

int feed_finish_v2(feed_dec *f, v2_decoded *out, mml_error *err)
{
    ck_assert_msg(f->cfg.ops == &v2_decoder_ops, "feed_finish_v2 of a %s decoder",
                  f->cfg.ops->name);
    memset(out, 0, sizeof *out);
    int rc = feed_finish(f, &out->pl, err);
    if (rc == 0) {
        const char *id = v2_decoder_id(f->d);
        out->id = id != NULL ? strdup(id) : NULL;
        out->binary_output = v2_decoder_binary_output(f->d);
    }
    return rc;
}

decoder *feed_decoder(feed_dec *f)
{
    return f->d;
}

static int feed_sink_decoder(void *d, const char *data, size_t len, mml_error *err)
{
    return decoder_feed(d, data, len, err);
}

inflater *feed_inflater(feed_dec *f, content_coding coding, uint64_t max_out)
{
    inflater *z = inflater_create(coding, max_out, feed_sink_decoder, f->d);
    ck_assert_msg(z != NULL, "inflater_create(%d) failed", (int)coding);
    return z;
}

void feed_close(feed_dec *f)
{
    decoder_destroy(f->d);
    f->d = NULL;
}

void feed_destroy_null(const decoder_ops *ops)
{
    ops->destroy(NULL);
}

void v2_decoded_free(v2_decoded *r)
{
    if (r == NULL)
        return;
    payload_free(&r->pl);
    free(r->id);
    memset(r, 0, sizeof *r);
}

char *v2_decoded_encode(const v2_decoded *r, const void *out, size_t *len, size_t *hlen)
{
    return v2_encode_result(r->id, r->binary_output, &r->pl.req, out, len, hlen);
}

/* ---- one whole decode ------------------------------------------------------- */

static int step_sink(void *f, const char *data, size_t len, mml_error *err)
{
    return feed_step(f, data, len, err);
}

/* Feed the body cut per cuts and finish into *out (a payload or, for
 * v2, a v2_decoded): the first failure, finish() checked to repeat a
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
                   v2_decoded *out, mml_error *err)
{
    memset(out, 0, sizeof *out);
    return decode_into(cfg, data, len, cuts, out, 1, err);
}
