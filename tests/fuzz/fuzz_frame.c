/* fuzz_frame.c - libFuzzer harness for the binary frame decoder (proto/frame.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "native.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed the input in chunks whose sizes follow the input's first byte, so
 * header and section boundaries fall at every place across runs. Decoded
 * requests are computed and encoded, as the server would. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step = size > 0 ? (size_t)data[0] % 41 + 1 : 1;
    int64_t length = size > 1 && (data[0] & 0x80) ? (int64_t)size : -1;
    decoder_conf conf = {1 << 20, length, NULL, NULL};
    mml_error err;
    decoder *d = decoder_create(&frame_decoder_ops, &conf, &err);
    if (d == NULL)
        return 0;
    int rc = 0;
    for (size_t pos = 0; rc == 0 && pos < size; pos += step) {
        size_t len = size - pos < step ? size - pos : step;
        rc = decoder_feed(d, (const char *)data + pos, len, &err);
    }
    payload pl;
    if (rc == 0 && decoder_finish(d, &pl, &err) == 0) {
        uint64_t count = mml_out_count(&pl.req);
        void *out = malloc(count * 8 + 8);
        if (out != NULL) {
            mml_compute(&pl.req, out);
            void *body;
            size_t len = frame_encode_result(&pl.req, out, &body);
            if (len < FRAME_RESULT_HEADER_SIZE || memcmp(body, "MMR1", 4) != 0)
                abort();
            free(body);
            free(out);
        }
        payload_free(&pl);
    }
    decoder_destroy(d);
    if (size >= FRAME_HEADER_SIZE) {
        frame_header h;
        (void)frame_parse_header(data, UINT64_MAX, &h, NULL);
    }
    return 0;
}
