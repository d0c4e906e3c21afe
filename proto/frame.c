/* frame.c - streaming decoder for MML1 request frames and MMR1 result encoder. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "native.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FRAME_HOST_BE 1
#else
#define FRAME_HOST_BE 0
#endif

enum { SEC_INPUT, SEC_TARGET, SEC_WEIGHT, SEC_COUNT };

typedef struct frame_decoder frame_decoder;

struct frame_decoder {
    decoder super;              /* first: the interface (decoder.h) */
    uint64_t max_body;
    uint64_t content_length;      /* valid when has_length */
    int has_length;
    uint8_t hdr[FRAME_HEADER_SIZE];
    size_t hdr_len;
    int have_header;
    frame_header h;
    uint64_t sec_size[SEC_COUNT]; /* bytes of each tensor section */
    payload_fill sec[SEC_COUNT];  /* where they go, charged as they arrive */
    payload_acct acct;            /* the sections' charge to the memory budget */
    uint64_t body_len;            /* tensor bytes received after the header */
    int failed;                   /* sticky: the first failure, replayed */
    mml_error error;
    int want_frame;               /* answer with an MMR1 frame (Accept) */
};

static uint32_t load_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static uint64_t load_le64(const uint8_t *b)
{
    return (uint64_t)load_le32(b) | (uint64_t)load_le32(b + 4) << 32;
}

/* Checks of the frame layout (docs/wire.md, "Binary frame") that only the frame has (magic, version, flags,
 * reserved) plus the codes, in byte order so the first bad byte is named. */
static int check_codes(const uint8_t *hdr, mml_error *err)
{
    if (memcmp(hdr, FRAME_MAGIC, 4) != 0)
        return mml_error_set(err, MML_EBADREQ, "magic",
                             "magic must be \"MML1\" (4d 4d 4c 31), got %02x %02x %02x %02x",
                             hdr[0], hdr[1], hdr[2], hdr[3]);
    if (hdr[4] != FRAME_VERSION)
        return mml_error_set(err, MML_EBADREQ, "version",
                             "frame version must be 1, got %u", hdr[4]);
    if (mml_dtype_size(hdr[5]) == 0)
        return mml_error_set(err, MML_ETYPE, "dtype",
                             "dtype code must be 1 (float16), 2 (float32) or 3 (float64), got %u",
                             hdr[5]);
    if (hdr[6] != 1 && hdr[6] != 2)
        return mml_error_set(err, MML_EVALUE, "p", "p must be 1 or 2, got %u", hdr[6]);
    if (mml_reduction_name(hdr[7]) == NULL)
        return mml_error_set(err, MML_EVALUE, "reduction",
                             "reduction code must be 0 (none), 1 (mean) or 2 (sum), got %u",
                             hdr[7]);
    if (hdr[8] & ~FRAME_FLAG_WEIGHT)
        return mml_error_set(err, MML_EBADREQ, "flags",
                             "flags 0x%02x set undefined bits (only bit 0, weight, exists)",
                             hdr[8]);
    if (hdr[9] | hdr[10] | hdr[11])
        return mml_error_set(err, MML_EBADREQ, "reserved",
                             "reserved bytes 9..11 must be 0, got %02x %02x %02x",
                             hdr[9], hdr[10], hdr[11]);
    return 0;
}

int frame_parse_header(const uint8_t hdr[FRAME_HEADER_SIZE], uint64_t max_body,
                       frame_header *h, mml_error *err)
{
    int rc = check_codes(hdr, err);
    if (rc < 0)
        return rc;
    frame_header f = {
        .dtype = hdr[5], .p = hdr[6], .reduction = hdr[7],
        .has_weight = hdr[8] & FRAME_FLAG_WEIGHT,
        .margin = (int32_t)load_le32(hdr + 12),
        .n = load_le64(hdr + 16), .c = load_le64(hdr + 24),
    };
    if (f.c == 0)
        return mml_error_set(err, MML_EVALUE, "C",
                             "C (number of classes) must be at least 1, got 0");

    /* The core's checks are the reference for the validation rules; everything the frame
     * can express has been checked above, so this only guards drift. */
    mml_desc desc;
    mml_desc_init(&desc);
    desc.dtype = f.dtype;
    desc.input_rank = 2;
    desc.n = f.n;
    desc.c = f.c;
    desc.target_rank = 1;
    desc.target_len = f.n;
    desc.target_int64 = 1;
    desc.has_weight = f.has_weight;
    desc.weight_dtype = f.dtype;
    desc.weight_rank = f.has_weight ? 1 : 0;
    desc.weight_len = f.has_weight ? f.c : 0;
    desc.p = f.p;
    desc.margin = f.margin;
    desc.reduction = f.reduction;
    rc = mml_validate(&desc, err);
    if (rc < 0)
        return rc;

    uint64_t tensors;
    if (mml_request_bytes(f.dtype, f.n, f.c, f.has_weight, &tensors) < 0 ||
        tensors > UINT64_MAX - FRAME_HEADER_SIZE)
        return mml_error_set(err, MML_ETOOBIG, "body",
                             "frame size overflows (N=%llu, C=%llu)",
                             (unsigned long long)f.n, (unsigned long long)f.c);
    f.total = tensors + FRAME_HEADER_SIZE;
    if (f.total > max_body || f.total - FRAME_HEADER_SIZE > SIZE_MAX)
        return mml_error_set(err, MML_ETOOBIG, "body",
                             "frame declares %llu bytes (N=%llu, C=%llu), over the limit of %llu bytes",
                             (unsigned long long)f.total, (unsigned long long)f.n,
                             (unsigned long long)f.c, (unsigned long long)max_body);
    *h = f;
    return 0;
}

static decoder *frame_create(const decoder_conf *conf, mml_error *err)
{
    frame_decoder *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        mml_error_set(err, MML_ENOMEM, "body", "out of memory");
        return NULL;
    }
    d->super.ops = &frame_decoder_ops;
    d->max_body = conf->max_body;
    d->has_length = conf->length >= 0;
    d->content_length = d->has_length ? (uint64_t)conf->length : 0;
    d->want_frame = native_wants_frame(conf);
    return &d->super;
}

static void frame_destroy(decoder *base)
{
    frame_decoder *d = (frame_decoder *)base;
    if (d == NULL)
        return;
    for (int s = 0; s < SEC_COUNT; s++)
        payload_fill_drop(&d->acct, &d->sec[s]);
    free(d);
}

/* Record the first failure so every later call reports it again. err is
 * never NULL here: the entry points substitute a local one. */
static int fail(frame_decoder *d, int rc, mml_error *err)
{
    d->failed = rc;
    d->error = *err;
    return rc;
}

static int replay(const frame_decoder *d, mml_error *err)
{
    *err = d->error;
    return d->failed;
}


/* The header is complete: check it, then take the tensor buffers. */
static int start_body(frame_decoder *d, mml_error *err)
{
    int rc = frame_parse_header(d->hdr, d->max_body, &d->h, err);
    if (rc < 0)
        return rc;
    if (d->has_length && d->content_length != d->h.total)
        return mml_error_set(err, MML_EBADREQ, "body",
                             "frame declares %llu bytes but Content-Length is %llu",
                             (unsigned long long)d->h.total,
                             (unsigned long long)d->content_length);
    size_t es = mml_dtype_size(d->h.dtype);
    d->sec_size[SEC_INPUT] = d->h.n * d->h.c * es;
    d->sec_size[SEC_TARGET] = d->h.n * sizeof(int64_t);
    d->sec_size[SEC_WEIGHT] = d->h.has_weight ? d->h.c * es : 0;
    /* The sections are charged to the budget as their bytes arrive
     * (copy_body), so a sender that stalls after its header holds
     * nothing; only a frame that alone is over the budget is refused now. */
    rc = payload_mem_need(d->sec_size, SEC_COUNT, "body", err);
    for (int s = 0; s < SEC_COUNT && rc == 0; s++)
        if (d->sec_size[s] > 0)                        /* an empty section stays NULL */
            rc = payload_fill_open(&d->sec[s], (size_t)d->sec_size[s], "body", err);
    if (rc < 0)
        return rc;             /* frame_destroy() frees what was opened */
    d->have_header = 1;
    return 0;
}

/* Copy tensor bytes to their place, charging them to the budget first;
 * len fits in what the frame declares. 0, or the budget's refusal. */
static int copy_body(frame_decoder *d, const uint8_t *data, size_t len, mml_error *err)
{
    uint64_t pos = d->body_len;
    for (int s = 0; s < SEC_COUNT && len > 0; s++) {
        if (pos >= d->sec_size[s]) {
            pos -= d->sec_size[s];
            continue;
        }
        uint64_t room = d->sec_size[s] - pos;
        size_t take = len < room ? len : (size_t)room;
        int rc = payload_fill_charge(&d->acct, &d->sec[s], pos + take, "body", err);
        if (rc < 0)
            return rc;
        memcpy((uint8_t *)d->sec[s].p + pos, data, take);
        data += take;
        len -= take;
        d->body_len += take;
        pos = 0;
    }
    return 0;
}

static int frame_feed(decoder *base, const char *data, size_t len, mml_error *err)
{
    frame_decoder *d = (frame_decoder *)base;
    const uint8_t *p = (const uint8_t *)data;
    mml_error local;
    if (err == NULL)
        err = &local;
    if (d->failed)
        return replay(d, err);
    if (len == 0)
        return 0;
    if (!d->have_header) {
        size_t take = FRAME_HEADER_SIZE - d->hdr_len;
        if (take > len)
            take = len;
        memcpy(d->hdr + d->hdr_len, p, take);
        d->hdr_len += take;
        p += take;
        len -= take;
        if (d->hdr_len < FRAME_HEADER_SIZE)
            return 0;
        int rc = start_body(d, err);
        if (rc < 0)
            return fail(d, rc, err);
    }
    uint64_t left = d->h.total - FRAME_HEADER_SIZE - d->body_len;
    if (len > left)
        return fail(d, mml_error_set(err, MML_EBADREQ, "body",
                                     "body is longer than the %llu bytes the frame declares",
                                     (unsigned long long)d->h.total), err);
    int rc = copy_body(d, p, len, err);
    return rc < 0 ? fail(d, rc, err) : 0;
}

static int frame_finish(decoder *base, payload *out, mml_error *err)
{
    frame_decoder *d = (frame_decoder *)base;
    mml_error local;
    if (err == NULL)
        err = &local;
    memset(out, 0, sizeof(*out));
    if (d->failed)
        return replay(d, err);
    if (!d->have_header)
        return fail(d, mml_error_set(err, MML_EBADREQ, "body",
                                     "truncated frame: the header needs %d bytes, got %zu",
                                     FRAME_HEADER_SIZE, d->hdr_len), err);
    uint64_t got = FRAME_HEADER_SIZE + d->body_len;
    if (got != d->h.total)
        return fail(d, mml_error_set(err, MML_EBADREQ, "body",
                                     "truncated frame: it declares %llu bytes, got %llu",
                                     (unsigned long long)d->h.total,
                                     (unsigned long long)got), err);
    if (FRAME_HOST_BE) {
        size_t es = mml_dtype_size(d->h.dtype);
        payload_swap_elems(d->sec[SEC_INPUT].p, d->h.n * d->h.c, es);
        payload_swap_elems(d->sec[SEC_TARGET].p, d->h.n, 8);
        if (d->sec[SEC_WEIGHT].p != NULL)
            payload_swap_elems(d->sec[SEC_WEIGHT].p, d->h.c, es);
    }
    int rc = mml_validate_targets(d->sec[SEC_TARGET].p, d->h.n, d->h.c, err);
    if (rc < 0)
        return fail(d, rc, err);

    out->input = payload_fill_close(&d->acct, &d->sec[SEC_INPUT]);
    out->target = payload_fill_close(&d->acct, &d->sec[SEC_TARGET]);
    out->weight = payload_fill_close(&d->acct, &d->sec[SEC_WEIGHT]);
    out->req = (mml_request){
        .dtype = (mml_dtype)d->h.dtype,
        .p = d->h.p,
        .margin = d->h.margin,
        .reduction = (mml_reduction)d->h.reduction,
        .n = d->h.n,
        .c = d->h.c,
        .input = out->input,
        .target = out->target,
        .weight = out->weight,
    };
    return 0;
}

uint64_t frame_decoder_expected_bytes(const decoder *base)
{
    const frame_decoder *d = (const frame_decoder *)base;
    return d->have_header ? d->h.total : 0;
}

static int frame_answer(const decoder *base, const mml_request *req, const void *out,
                        decoder_answer *a)
{
    const frame_decoder *d = (const frame_decoder *)base;
    return native_answer(d->want_frame, req, out, a);
}

const decoder_ops frame_decoder_ops = {
    .name = "frame",
    .create = frame_create,
    .feed = frame_feed,
    .finish = frame_finish,
    .answer = frame_answer,
    .destroy = frame_destroy,
};
