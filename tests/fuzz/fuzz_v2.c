/* fuzz_v2.c - libFuzzer harness for the Open Inference Protocol v2 decoder (proto/v2.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input layout: byte 0 = mode (bit 0: an Inference-Header-Content-Length
 * follows in bytes 1-2, little-endian; bits 1-7: feed chunk size - 1),
 * then the body. Decoded requests are computed and encoded both ways. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    int64_t header_len = -1;
    size_t skip = 1;
    if (mode & 1) {
        if (size < 3)
            return 0;
        header_len = (int64_t)(data[1] | data[2] << 8);
        skip = 3;
    }
    const char *body = (const char *)data + skip;
    size_t len = size - skip, step = (size_t)(mode >> 1) + 1;
    v2_decoder *d = v2_decoder_create(1 << 20, header_len);
    if (d == NULL)
        return 0;
    mml_error err;
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < len; pos += step)
        rc = v2_decoder_feed(d, body + pos, len - pos < step ? len - pos : step, &err);
    v2_request r;
    if (rc == 0)
        rc = v2_decoder_finish(d, &r, &err);
    v2_decoder_destroy(d);
    size_t out_len, hlen;
    char *resp;
    if (rc < 0) {
        resp = v2_encode_mml_error(&err, &out_len);
        free(resp);
        return 0;
    }
    void *out = malloc(mml_out_count(&r.pl.req) * 8 + 8);
    if (out != NULL) {
        mml_compute(&r.pl.req, out);
        for (int binary = 0; binary < 2; binary++) {
            r.binary_output = binary;
            resp = v2_encode_result(&r, out, &out_len, &hlen);
            if (resp != NULL && hlen > out_len)
                abort();
            free(resp);
        }
        free(out);
    }
    v2_request_free(&r);
    return 0;
}
