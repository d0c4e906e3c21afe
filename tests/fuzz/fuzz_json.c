/* fuzz_json.c - libFuzzer harness for the streaming JSON request decoder.
 *
 * Each input is decoded whole, then again in pieces whose sizes derive
 * from the data; both must agree. A success must be a consistent request
 * that the kernels and the encoder accept; a failure must encode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "json.h"

#define MAX_BODY (1u << 20)

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_json: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

typedef struct result {
    int rc;
    mml_error err;
    payload pl;
} result;

/* Decode, cutting a piece each time step() of the running hash says so. */
static void decode(const uint8_t *data, size_t size, uint32_t seed, result *r)
{
    decoder_conf conf = decoder_conf_plain(MAX_BODY);
    decoder *d = decoder_create(&json_decoder_ops, &conf, NULL);
    size_t at = 0;

    CHECK(d != NULL);
    memset(r, 0, sizeof *r);
    while (r->rc == 0 && at < size) {
        size_t piece = size - at;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % (piece < 64 ? piece : 64);
        }
        r->rc = decoder_feed(d, (const char *)data + at, piece, &r->err);
        at += piece;
    }
    if (r->rc == 0)
        r->rc = decoder_finish(d, &r->pl, &r->err);
    decoder_destroy(d);
}

static void check_same(const result *a, const result *b)
{
    const mml_request *x = &a->pl.req, *y = &b->pl.req;
    size_t es = mml_dtype_size(x->dtype);

    CHECK(a->rc == b->rc);
    if (a->rc) {
        CHECK(a->err.code == b->err.code);
        CHECK(strcmp(a->err.field, b->err.field) == 0);
        CHECK(strcmp(a->err.message, b->err.message) == 0);
        return;
    }
    CHECK(x->dtype == y->dtype && x->n == y->n && x->c == y->c && x->p == y->p);
    CHECK(x->margin == y->margin && x->reduction == y->reduction);
    CHECK(x->n * x->c == 0 || memcmp(x->input, y->input, x->n * x->c * es) == 0);
    CHECK(x->n == 0 || memcmp(x->target, y->target, x->n * 8) == 0);
    CHECK((x->weight == NULL) == (y->weight == NULL));
    CHECK(x->weight == NULL || memcmp(x->weight, y->weight, x->c * es) == 0);
}

/* A success is a request the rest of the service can use as is. */
static void check_request(const payload *pl)
{
    const mml_request *q = &pl->req;
    size_t len;
    char *body;
    void *out;

    CHECK(mml_dtype_size(q->dtype) != 0 && (q->p == 1 || q->p == 2) && q->c >= 1);
    CHECK(mml_reduction_name(q->reduction) != NULL);
    CHECK(q->input == pl->input && q->target == pl->target && q->weight == pl->weight);
    CHECK((q->n == 0) == (q->input == NULL));
    CHECK(((uintptr_t)q->input % PAYLOAD_ALIGN) == 0);
    for (uint64_t i = 0; i < q->n; i++)
        CHECK(q->target[i] >= 0 && (uint64_t)q->target[i] < q->c);
    out = malloc((q->n + 1) * 8);
    CHECK(out != NULL);
    mml_compute(q, out);
    body = json_encode_result(q, out, &len);
    CHECK(body != NULL && len == strlen(body));
    cJSON *doc = cJSON_Parse(body);
    CHECK(doc != NULL);
    cJSON_Delete(doc);
    free(body);
    free(out);
}

static void check_error(const result *r)
{
    size_t len;
    char *body;

    CHECK(r->rc < 0 && r->err.code == r->rc);
    CHECK(r->err.message[0] != '\0');      /* field is "" for an unknown key "" */
    body = json_encode_error(mml_err_name(r->rc), r->err.message, r->err.field, &len);
    CHECK(body != NULL);
    cJSON *doc = cJSON_Parse(body);
    CHECK(doc != NULL);
    cJSON_Delete(doc);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = 2166136261u;
    result whole, pieces;

    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    decode(data, size, 0, &whole);
    decode(data, size, seed | 1, &pieces);
    check_same(&whole, &pieces);
    if (whole.rc == 0)
        check_request(&whole.pl);
    else
        check_error(&whole);
    payload_free(&whole.pl);
    payload_free(&pieces.pl);
    return 0;
}
