/* native.c - the answer of the native scoring API: JSON or an MMR1 frame. */
#include "native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hlist.h"
#include "json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FRAME_HOST_BE 1
#else
#define FRAME_HOST_BE 0
#endif

static const char JSON_TYPE[] = "application/json";
static const char BINARY_TYPE[] = "application/octet-stream";

/* Little-endian, as the frame is. */
static void store_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

size_t frame_encode_result(const mml_request *req, const void *out, void **body)
{
    uint64_t count = mml_out_count(req);
    size_t es = mml_dtype_size(req->dtype);
    size_t bytes = (size_t)count * es;
    uint8_t *b = malloc(FRAME_RESULT_HEADER_SIZE + bytes);
    *body = NULL;
    if (b == NULL)
        return 0;
    memcpy(b, FRAME_RESULT_MAGIC, 4);
    b[4] = FRAME_VERSION;
    b[5] = (uint8_t)req->dtype;
    b[6] = req->reduction == MML_NONE ? 1 : 0;
    b[7] = 0;
    store_le64(b + 8, count);
    if (bytes > 0)
        memcpy(b + FRAME_RESULT_HEADER_SIZE, out, bytes);
    if (FRAME_HOST_BE)
        payload_swap_elems(b + FRAME_RESULT_HEADER_SIZE, count, es);
    *body = b;
    return FRAME_RESULT_HEADER_SIZE + bytes;
}

int native_wants_frame(const decoder_conf *conf)
{
    return hlist_accepts(decoder_conf_header(conf, "Accept"), BINARY_TYPE, JSON_TYPE);
}

int native_answer(int frame, const mml_request *req, const void *out, decoder_answer *a)
{
    memset(a, 0, sizeof *a);
    if (frame) {
        void *body = NULL;
        a->len = frame_encode_result(req, out, &body);
        a->body = body;
        a->type = BINARY_TYPE;
    } else {
        a->body = json_encode_result(req, out, &a->len);
        a->type = JSON_TYPE;
    }
    return a->body != NULL ? 0 : MML_ENOMEM;
}
