/* native.c - the answer of the native scoring API: JSON or an MMR1 frame. */
#include "native.h"

#include <string.h>

#include "frame.h"
#include "hlist.h"
#include "json.h"

static const char JSON_TYPE[] = "application/json";
static const char BINARY_TYPE[] = "application/octet-stream";

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
