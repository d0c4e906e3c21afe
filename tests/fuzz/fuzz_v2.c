/* fuzz_v2.c - libFuzzer harness for the Open Inference Protocol v2 decoder (proto/v2.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The request's Inference-Header-Content-Length, as a header lookup. */
static const char *header(void *ctx, const char *name)
{
    return strcmp(name, "Inference-Header-Content-Length") == 0 ? ctx : NULL;
}

/* Input layout: byte 0 = mode (bit 0: an Inference-Header-Content-Length
 * follows in bytes 1-2, little-endian; bits 1-7: feed chunk size - 1),
 * then the body. Decoded requests are computed and answered both ways. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    char hlen_text[8];
    size_t skip = 1;
    if (mode & 1) {
        if (size < 3)
            return 0;
        snprintf(hlen_text, sizeof hlen_text, "%d", data[1] | data[2] << 8);
        skip = 3;
    }
    const char *body = (const char *)data + skip;
    size_t len = size - skip, step = (size_t)(mode >> 1) + 1;
    decoder_conf conf = {1 << 20, -1, header, (mode & 1) ? hlen_text : NULL};
    mml_error err;
    decoder *d = decoder_create(&v2_decoder_ops, &conf, &err);
    if (d == NULL)
        return 0;
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < len; pos += step)
        rc = decoder_feed(d, body + pos, len - pos < step ? len - pos : step, &err);
    payload pl;
    if (rc == 0)
        rc = decoder_finish(d, &pl, &err);
    size_t out_len, hlen;
    char *resp;
    if (rc < 0) {
        decoder_destroy(d);
        resp = v2_encode_mml_error(&err, &out_len);
        free(resp);
        return 0;
    }
    void *out = malloc(mml_out_count(&pl.req) * 8 + 8);
    if (out != NULL) {
        mml_compute(&pl.req, out);
        decoder_answer a;
        if (decoder_answer_for(d, &pl.req, out, &a) == 0)
            free(a.body);
        for (int binary = 0; binary < 2; binary++) {
            resp = v2_encode_result("id", binary, &pl.req, out, &out_len, &hlen);
            if (resp != NULL && hlen > out_len)
                abort();
            free(resp);
        }
        free(out);
    }
    decoder_destroy(d);
    payload_free(&pl);
    return 0;
}
