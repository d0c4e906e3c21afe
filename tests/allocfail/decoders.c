/* decoders.c - allocation failure in every decoder: each body decoded with
 * its n-th allocation failing, for n = 1, 2, ... until a decode makes
 * fewer than n.
 *
 * A decode here is what the server does with a body: create the decoder
 * (wrapped in the gzip inflater for the compressed bodies), feed the
 * body, finish, compute, answer(), and on a failure encode the error
 * body. Each stage must either come out exactly as without the failure,
 * or fail cleanly: create, feed and finish with MML_ENOMEM or MML_EBUSY
 * and a message, answer() with MML_ENOMEM, the error encoders with NULL.
 * Nothing may leak: the blocks allocated and not freed are counted
 * (allocfail_live) around each decode, and ASan's leak check runs at exit
 * in `make alloc-fail`. Exit status 0 when every decode passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocfail.h"
#include "decoder.h"
#include "frame.h"
#include "inflate.h"
#include "json.h"
#include "v2.h"

#define MAX_BODY (8u << 20)
#define MAX_N 64             /* rows of the bodies below, at most */

/* A body as the server receives it. */
typedef struct body {
    const char *name;
    const decoder_ops *ops;
    content_coding coding;
    char *data;              /* malloc'd */
    size_t len;
    int64_t header_len;      /* v2 Inference-Header-Content-Length, -1: absent */
} body;

/* What a decode came to, stage by stage. */
typedef struct outcome {
    int rc;                  /* create, feed or finish */
    mml_error err;
    int sticky;              /* after a failed feed, finish() failed the same way */
    int answer_rc;           /* after rc == 0 */
    uint64_t answer_hash;
    int errbody_ok;          /* after rc < 0: the error body could be made */
    uint64_t errbody_hash;
} outcome;

static uint64_t fnv(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

static const char *header(void *ctx, const char *name)
{
    return strcmp(name, "Inference-Header-Content-Length") == 0 ? ctx : NULL;
}

/* Create the decoder for b, as the server does: NULL with *err filled. */
static decoder *open_decoder(const body *b, char *hlen, size_t hlen_size, mml_error *err)
{
    snprintf(hlen, hlen_size, "%lld", (long long)b->header_len);
    decoder_conf conf = {MAX_BODY, b->coding == CODING_IDENTITY ? (int64_t)b->len : -1,
                         header, b->header_len >= 0 ? hlen : NULL};
    decoder *d = decoder_create(b->ops, &conf, err);
    if (d != NULL && b->coding != CODING_IDENTITY)
        d = inflate_decoder_wrap(b->coding, MAX_BODY, d, err);
    return d;
}

/* Feed b in pieces of step bytes (0: whole) and finish into *pl. */
static void feed_finish(decoder *d, const body *b, size_t step, payload *pl, outcome *o)
{
    size_t at = 0;
    do {
        size_t piece = step == 0 || b->len - at < step ? b->len - at : step;
        o->rc = decoder_feed(d, b->data + at, piece, &o->err);
        at += piece;
    } while (o->rc == 0 && at < b->len);
    mml_error again;
    int end = decoder_finish(d, pl, &again);
    o->sticky = o->rc == 0 || (end == o->rc && again.code == o->err.code &&
                               strcmp(again.message, o->err.message) == 0);
    if (o->rc == 0 && (o->rc = end) != 0)
        o->err = again;
}

static void answer(const decoder *d, const payload *pl, outcome *o)
{
    static double out[MAX_N + 1];
    decoder_answer a;

    mml_compute(&pl->req, out);
    o->answer_rc = decoder_answer_for(d, &pl->req, out, &a);
    if (o->answer_rc == 0) {
        o->answer_hash = fnv(a.body, a.len) ^ fnv(a.type, strlen(a.type));
        free(a.body);
    }
}

static void error_body(const body *b, outcome *o)
{
    size_t len = 0;
    char *text = b->ops == &v2_decoder_ops
                     ? v2_encode_mml_error(&o->err, &len)
                     : json_encode_error(mml_err_name(o->rc), o->err.message, o->err.field, &len);
    o->errbody_ok = text != NULL;
    o->errbody_hash = text != NULL ? fnv(text, len) : 0;
    free(text);
}

static void decode(const body *b, size_t step, outcome *o)
{
    char hlen[24];
    payload pl;
    memset(o, 0, sizeof *o);
    memset(&pl, 0, sizeof pl);
    decoder *d = open_decoder(b, hlen, sizeof hlen, &o->err);
    if (d == NULL) {
        o->rc = o->err.code;
        o->sticky = 1;
    } else {
        feed_finish(d, b, step, &pl, o);
    }
    if (o->rc == 0)
        answer(d, &pl, o);
    else
        error_body(b, o);
    payload_free(&pl);
    decoder_destroy(d);
}

/* A failure of the decode stages that is an answer the server can give. */
static int clean_failure(const outcome *o)
{
    return (o->rc == MML_ENOMEM || o->rc == MML_EBUSY) && o->err.code == o->rc &&
           o->err.message[0] != '\0' && o->sticky;
}

/* Whether o is acceptable against ref: the same, stage by stage, or (when
 * an allocation failed) failing cleanly where it differs. NULL if so,
 * else what is wrong. */
static const char *judge(const outcome *o, const outcome *ref, int fired)
{
    int same_decode = o->rc == ref->rc && o->err.code == ref->err.code &&
                      strcmp(o->err.message, ref->err.message) == 0 && o->sticky;
    if (!same_decode && !(fired && clean_failure(o)))
        return "decode failed otherwise than with MML_ENOMEM/MML_EBUSY";
    if (o->rc == 0 && !(fired && o->answer_rc == MML_ENOMEM) &&
        (o->answer_rc != ref->answer_rc || o->answer_hash != ref->answer_hash))
        return "answer() differs and is not MML_ENOMEM";
    if (o->rc < 0 && same_decode && !(fired && !o->errbody_ok) &&
        (o->errbody_ok != ref->errbody_ok || o->errbody_hash != ref->errbody_hash))
        return "error body differs and is not NULL";
    return NULL;
}

/* Where the failing allocations of one body ended up. */
typedef struct tally {
    int decode;              /* create, feed or finish failed with ENOMEM/EBUSY */
    int answer;              /* answer() failed with ENOMEM */
    int errbody;             /* the error body could not be made */
    int absorbed;            /* nothing changed */
} tally;

static void count(tally *t, const outcome *o, const outcome *ref)
{
    if (o->rc != ref->rc || strcmp(o->err.message, ref->err.message) != 0)
        t->decode++;
    else if (o->rc == 0 && o->answer_rc != 0)
        t->answer++;
    else if (o->rc < 0 && !o->errbody_ok)
        t->errbody++;
    else
        t->absorbed++;
}

/* Decode b cut every step bytes with failure at n = 1, 2, ...: the number
 * of failed checks. */
static int run_body(const body *b, size_t step)
{
    outcome ref, o;
    tally t = {0};
    int failures = 0;

    allocfail_arm(UINT64_MAX);                   /* counts, never fails */
    decode(b, step, &ref);
    uint64_t total = allocfail_calls();
    allocfail_arm(0);
    for (uint64_t n = 1;; n++) {
        int64_t live = allocfail_live();
        allocfail_arm(n);
        decode(b, step, &o);
        int fired = allocfail_fired();
        allocfail_arm(0);
        const char *bad = judge(&o, &ref, fired);
        if (allocfail_live() != live)
            bad = "leaked";
        if (bad != NULL) {
            printf("FAIL %s (feeds of %zu): allocation %llu of %llu failing: %s "
                   "(rc %d %s: %s; answer %d; reference rc %d)\n",
                   b->name, step, (unsigned long long)n, (unsigned long long)total, bad,
                   o.rc, o.err.field, o.err.message, o.answer_rc, ref.rc);
            failures++;
        }
        if (!fired)
            break;
        count(&t, &o, &ref);
    }
    printf("  %-24s feeds of %-2zu %3llu allocations failed in turn: %3d decode, %2d answer, "
           "%2d error body ENOMEM, %2d absorbed: %s\n", b->name, step,
           (unsigned long long)total, t.decode, t.answer, t.errbody, t.absorbed,
           failures ? "FAILED" : "ok");
    return failures;
}

/* ---- the bodies ------------------------------------------------------------ */

static body text_body(const char *name, const decoder_ops *ops, const char *text)
{
    body b = {name, ops, CODING_IDENTITY, strdup(text), strlen(text), -1};
    return b;
}

/* A JSON request of dtype with n rows of c classes, named name: enough
 * rows make the decoder take several chunks (json_decode.c tbuf_grow). */
static body big_json(const char *name, const char *dtype, int n, int c)
{
    size_t cap = (size_t)n * c * 24 + (size_t)n * 8 + 128, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len, "{\"dtype\":\"%s\",\"input\":[", dtype);
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(t + len, cap - len, "%s[", i ? "," : "");
        for (int j = 0; j < c; j++)
            len += (size_t)snprintf(t + len, cap - len, "%s%.17g", j ? "," : "",
                                    (i * 31 + j * 7) % 13 / 4.0 - 1.5);
        len += (size_t)snprintf(t + len, cap - len, "]");
    }
    len += (size_t)snprintf(t + len, cap - len, "],\"target\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%s%d", i ? "," : "", i % c);
    len += (size_t)snprintf(t + len, cap - len, "],\"reduction\":\"none\"}");
    body b = {name, &json_decoder_ops, CODING_IDENTITY, t, len, -1};
    return b;
}

/* An MML1 frame of float32 (n rows of c classes, a weight when asked),
 * with target[0] = bad_target when it is not 0. */
static body frame(const char *name, uint64_t n, uint64_t c, int weight, int64_t bad_target)
{
    size_t len = 32 + n * c * 4 + n * 8 + (weight ? c * 4 : 0);
    unsigned char *p = calloc(1, len), *q = p + 32;
    memcpy(p, "MML1", 4);
    p[4] = 1;
    p[5] = MML_F32;
    p[6] = 2;
    p[7] = MML_SUM;
    p[8] = weight ? FRAME_FLAG_WEIGHT : 0;
    p[12] = 1;                                    /* margin 1 */
    memcpy(p + 16, &n, 8);                        /* little-endian hosts only */
    memcpy(p + 24, &c, 8);
    for (uint64_t i = 0; i < n * c; i++, q += 4) {
        float v = (float)(i % 5) * 0.25f;
        memcpy(q, &v, 4);
    }
    for (uint64_t i = 0; i < n; i++, q += 8) {
        int64_t t = i == 0 && bad_target ? bad_target : (int64_t)(i % c);
        memcpy(q, &t, 8);
    }
    for (uint64_t i = 0; weight && i < c; i++, q += 4) {
        float v = 1.0f + (float)i;
        memcpy(q, &v, 4);
    }
    body b = {name, &frame_decoder_ops, CODING_IDENTITY, (char *)p, len, -1};
    return b;
}

/* A v2 request with binary INPUT [2, 4] FP32 and TARGET [2]. */
static body v2_binary(void)
{
    static const char json[] =
        "{\"id\":\"req-1\",\"inputs\":[{\"name\":\"INPUT\",\"shape\":[2,4],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":32}},{\"name\":\"TARGET\",\"shape\":[2],"
        "\"datatype\":\"INT64\",\"parameters\":{\"binary_data_size\":16}}],"
        "\"parameters\":{\"p\":2,\"reduction\":\"none\"},"
        "\"outputs\":[{\"name\":\"LOSS\",\"parameters\":{\"binary_data\":true}}]}";
    size_t hlen = sizeof json - 1;
    char *p = malloc(hlen + 48);
    float x[8] = {0.1f, 0.2f, 0.4f, 0.8f, 0.5f, 0.1f, 0.2f, 0.3f};
    int64_t t[2] = {3, 0};
    memcpy(p, json, hlen);
    memcpy(p + hlen, x, 32);
    memcpy(p + hlen + 32, t, 16);
    body b = {"v2 binary", &v2_decoder_ops, CODING_IDENTITY, p, hlen + 48, (int64_t)hlen};
    return b;
}

/* b gzip-compressed, named name; b is freed. */
static body gzipped(const char *name, body b)
{
    void *z;
    size_t zlen;
    if (inflate_compress(CODING_GZIP, b.data, b.len, &z, &zlen) != 0) {
        fprintf(stderr, "decoders: cannot compress %s\n", b.name);
        exit(2);
    }
    free(b.data);
    b.name = name;
    b.coding = CODING_GZIP;
    b.data = z;
    b.len = zlen;
    return b;
}

static const char V2_JSON[] =
    "{\"inputs\":[{\"name\":\"INPUT\",\"datatype\":\"FP64\",\"shape\":[2,3],"
    "\"data\":[[0.5,-1,2],[NaN,1e-3,4]]},{\"name\":\"TARGET\",\"datatype\":\"INT64\","
    "\"shape\":[2],\"data\":[0,2]},{\"name\":\"WEIGHT\",\"datatype\":\"FP64\",\"shape\":[3],"
    "\"data\":[1,2,3]}],\"parameters\":{\"margin\":2,\"reduction\":\"sum\"},\"id\":\"x\"}";

/* Every body, valid ones and refused ones, into bodies[]; their count. */
static int make_bodies(body *bodies)
{
    int k = 0;
    bodies[k++] = text_body("json float64 weight", &json_decoder_ops,
                            "{\"input\":[[0.1,0.2,0.4,0.8],[0.5,0.1,0.2,0.3]],\"target\":[3,0],"
                            "\"weight\":[1,2,3,4],\"p\":2,\"margin\":1,\"reduction\":\"none\","
                            "\"dtype\":\"float64\"}");
    bodies[k++] = text_body("json float16 mean", &json_decoder_ops,
                            "{\"dtype\":\"float16\",\"input\":[[1,2],[3,4],[5,6]],\"target\":[1,0,1]}");
    bodies[k++] = big_json("json 64x16 none", "float32", MAX_N, 16);
    bodies[k++] = big_json("json 48x4096 9 chunks", "float64", 48, 4096);
    bodies[k++] = text_body("json ragged (400)", &json_decoder_ops,
                            "{\"input\":[[1,2],[3]],\"target\":[0,1]}");
    bodies[k++] = text_body("json unknown key (400)", &json_decoder_ops,
                            "{\"input\":[[1,2]],\"target\":[0],\"\\u00e9t\\u00e9\":1}");
    bodies[k++] = text_body("json truncated (400)", &json_decoder_ops, "{\"input\":[[1,");
    bodies[k++] = frame("frame 3x4 weight", 3, 4, 1, 0);
    bodies[k++] = frame("frame bad target (400)", 2, 3, 0, 7);
    bodies[k++] = text_body("v2 json data", &v2_decoder_ops, V2_JSON);
    bodies[k++] = v2_binary();
    bodies[k++] = text_body("v2 unknown input (400)", &v2_decoder_ops,
                            "{\"inputs\":[{\"name\":\"X\",\"datatype\":\"FP32\",\"shape\":[1],"
                            "\"data\":[1]}]}");
    bodies[k++] = text_body("v2 bad json (400)", &v2_decoder_ops, "{\"inputs\":[{\"name\":");
    bodies[k++] = gzipped("gzip json", text_body("", &json_decoder_ops,
                                                 "{\"input\":[[1,2,3]],\"target\":[2]}"));
    bodies[k++] = gzipped("gzip frame", frame("", 4, 2, 0, 0));
    bodies[k++] = gzipped("gzip v2 binary", v2_binary());
    body bad = gzipped("gzip truncated (400)", text_body("", &json_decoder_ops, V2_JSON));
    bad.len /= 2;
    bodies[k++] = bad;
    return k;
}

int main(void)
{
    static const size_t steps[] = {0, 7};
    body bodies[32];
    int failures = 0, runs = 0;

    allocfail_hook_cjson();
    int nbodies = make_bodies(bodies);
    printf("allocation failure in the decoders: %d bodies, whole and in feeds of 7 bytes\n",
           nbodies);
    for (int i = 0; i < nbodies; i++) {
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++, runs++)
            failures += run_body(&bodies[i], steps[s]);
        free(bodies[i].data);
    }
    payload_mem_idle();
    printf("allocfail decoders: %d decodes checked, %d failures\n", runs, failures);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
