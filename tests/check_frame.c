/* check_frame.c - Check suite for the binary frame decoder and encoder (proto/frame.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "frame.h"
#include "native.h"
#include "golden.h"
#include "suite.h"

/* A frame under construction. */
typedef struct buf {
    uint8_t *data;
    size_t len;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    b->data = realloc(b->data, b->len + n + 1);
    ck_assert_ptr_nonnull(b->data);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t x = (uint8_t)(v >> (8 * i));
        put(b, &x, 1);
    }
}

static void put_values(buf *b, int dtype, const double *v, uint64_t count)
{
    char one[8];
    for (uint64_t i = 0; i < count; i++) {
        mml_store(dtype, one, 0, v[i]);
        put(b, one, mml_dtype_size(dtype));
    }
}

static void put_header(buf *b, int dtype, int p, int reduction, int flags,
                       int32_t margin, uint64_t n, uint64_t c)
{
    put(b, "MML1", 4);
    uint8_t h[8] = {1, (uint8_t)dtype, (uint8_t)p, (uint8_t)reduction,
                    (uint8_t)flags, 0, 0, 0};
    put(b, h, 8);
    put_le(b, (uint32_t)margin, 4);
    put_le(b, n, 8);
    put_le(b, c, 8);
}

static buf golden_frame(const golden_case *g)
{
    buf b = {0};
    put_header(&b, g->dtype, g->p, g->reduction, g->weight ? 1 : 0, g->margin,
               g->n, g->c);
    put_values(&b, g->dtype, g->input, g->n * g->c);
    for (uint64_t i = 0; i < g->n; i++)
        put_le(&b, (uint64_t)g->target[i], 8);
    if (g->weight)
        put_values(&b, g->dtype, g->weight, g->c);
    return b;
}

/* A small valid frame: float32, N=2, C=4, optional weight. */
static buf small_frame(int weight)
{
    static const double in[] = {0.1, 0.2, 0.4, 0.8, 0.3, 0.9, 0.1, 0.2};
    static const double w[] = {1, 2, 3, 4};
    buf b = {0};
    put_header(&b, MML_F32, 1, MML_MEAN, weight, 1, 2, 4);
    put_values(&b, MML_F32, in, 8);
    put_le(&b, 3, 8);
    put_le(&b, 1, 8);
    if (weight)
        put_values(&b, MML_F32, w, 4);
    return b;
}

/* Decode len bytes of data with a frame decoder, fed in pieces cut per cuts. */
static int decode(const uint8_t *data, size_t len, feed_cuts cuts, uint64_t max_body,
                  payload *pl, mml_error *err)
{
    const feed_config cfg = { .ops = &frame_decoder_ops, .max_body = max_body };
    return feed_decode(&cfg, data, len, cuts, pl, err);
}

/* A frame decoder for step-by-step tests, into *f. */
static void open_frame(feed_dec *f, uint64_t max_body)
{
    feed_open(f, &(feed_config){ .ops = &frame_decoder_ops, .max_body = max_body });
}

static void check_result(const golden_case *g, const payload *pl)
{
    char out[8 * 2048];
    ck_assert_uint_le(mml_out_count(&pl->req) * 8, sizeof(out));
    ck_assert_uint_eq(mml_out_count(&pl->req), g->n_out);
    mml_compute(&pl->req, out);
    for (size_t i = 0; i < g->n_out; i++) {
        double got = mml_load(g->dtype, out, i);
        double ulps = golden_ulps(g->dtype, got, g->exact[i]);
        ck_assert_msg(ulps <= golden_max_ulps(g->dtype),
                      "%s: out[%zu] = %.17g, exact %.17g (%g ulp)", g->name, i,
                      got, g->exact[i], ulps);
    }
}

START_TEST(golden_cases_decode_within_tolerance)
{
    size_t count;
    golden_case *cases = golden_load(GOLDEN_PATH, &count);
    ck_assert_ptr_nonnull(cases);
    ck_assert_uint_gt(count, 1000);
    for (size_t k = 0; k < count; k++) {
        const golden_case *g = &cases[k];
        buf b = golden_frame(g);
        payload pl;
        mml_error err = {0};
        int rc = decode(b.data, b.len, FEED_WHOLE, UINT64_MAX, &pl, &err);
        ck_assert_msg(rc == 0, "%s: rc %d %s", g->name, rc, err.message);
        ck_assert_int_eq(pl.req.dtype, g->dtype);
        ck_assert_int_eq(pl.req.p, g->p);
        ck_assert_int_eq(pl.req.margin, g->margin);
        ck_assert_int_eq(pl.req.reduction, g->reduction);
        ck_assert_uint_eq(pl.req.n, g->n);
        ck_assert_uint_eq(pl.req.c, g->c);
        ck_assert(g->weight ? pl.req.weight != NULL : pl.req.weight == NULL);
        if (pl.input)
            ck_assert_uint_eq((uintptr_t)pl.input % PAYLOAD_ALIGN, 0);
        check_result(g, &pl);
        payload_free(&pl);
        free(b.data);
    }
    golden_free(cases, count);
}
END_TEST

/* Every split of a small frame into two feeds, and byte by byte. */
START_TEST(golden_frames_decode_alike_at_every_split_and_bytewise)
{
    size_t count, tried = 0;
    golden_case *cases = golden_load(GOLDEN_PATH, &count);
    ck_assert_ptr_nonnull(cases);
    for (size_t k = 0; k < count; k += 7) {
        const golden_case *g = &cases[k];
        buf b = golden_frame(g);
        if (b.len > 400) {
            free(b.data);
            continue;
        }
        tried++;
        for (size_t split = 0; split <= b.len; split++) {
            payload pl;
            mml_error err = {0};
            int rc = decode(b.data, b.len, FEED_AT(&split, 1), b.len, &pl, &err);
            ck_assert_msg(rc == 0, "%s split %zu: %s", g->name, split, err.message);
            check_result(g, &pl);
            payload_free(&pl);
        }
        payload pl;
        mml_error err = {0};
        ck_assert_int_eq(decode(b.data, b.len, FEED_EVERY(1), b.len, &pl, &err), 0);
        check_result(g, &pl);
        payload_free(&pl);
        free(b.data);
    }
    ck_assert_uint_gt(tried, 20);
    golden_free(cases, count);
}
END_TEST

START_TEST(values_arrive_exact_and_aligned)
{
    buf b = small_frame(1);
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), 0);
    ck_assert_float_eq(((float *)pl.input)[3], 0.8f);
    ck_assert_int_eq(pl.target[0], 3);
    ck_assert_int_eq(pl.target[1], 1);
    ck_assert_float_eq(((float *)pl.weight)[2], 3.0f);
    ck_assert_ptr_eq(pl.req.input, pl.input);
    ck_assert_ptr_eq(pl.req.target, pl.target);
    ck_assert_ptr_eq(pl.req.weight, pl.weight);
    ck_assert_uint_eq((uintptr_t)pl.target % PAYLOAD_ALIGN, 0);
    ck_assert_uint_eq((uintptr_t)pl.weight % PAYLOAD_ALIGN, 0);
    payload_free(&pl);
    free(b.data);
}
END_TEST

START_TEST(empty_batch_decodes_to_zero_loss)
{
    buf b = {0};
    put_header(&b, MML_F64, 2, MML_SUM, 0, -3, 0, 5);
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 32, &pl, &err), 0);
    ck_assert_uint_eq(pl.req.n, 0);
    ck_assert_uint_eq(pl.req.c, 5);
    ck_assert_int_eq(pl.req.margin, -3);
    ck_assert_ptr_null(pl.input);
    double out;
    mml_compute(&pl.req, &out);
    ck_assert_double_eq(out, 0.0);
    payload_free(&pl);
    free(b.data);
}
END_TEST

/* One byte of a valid frame's header patched: each row's failure and the
 * field its error names. */
typedef struct header_row {
    const char *name;
    size_t off;
    uint8_t v;
    int code;
    const char *field;
} header_row;

static const header_row bad_header[] = {
    { "magic_first_byte_wrong_is_bad_request", 0, 'X', MML_EBADREQ, "magic" },
    { "magic_last_byte_wrong_is_bad_request", 3, '2', MML_EBADREQ, "magic" },
    { "version_2_is_bad_request", 4, 2, MML_EBADREQ, "version" },
    { "version_0_is_bad_request", 4, 0, MML_EBADREQ, "version" },
    { "dtype_0_is_type_error", 5, 0, MML_ETYPE, "dtype" },
    { "dtype_4_is_type_error", 5, 4, MML_ETYPE, "dtype" },
    { "p_0_is_value_error", 6, 0, MML_EVALUE, "p" },
    { "p_3_is_value_error", 6, 3, MML_EVALUE, "p" },
    { "reduction_3_is_value_error", 7, 3, MML_EVALUE, "reduction" },
    { "unknown_flag_bit_is_bad_request", 8, 2, MML_EBADREQ, "flags" },
    { "high_flag_bit_with_weight_is_bad_request", 8, 0x81, MML_EBADREQ, "flags" },
    { "reserved_first_byte_set_is_bad_request", 9, 1, MML_EBADREQ, "reserved" },
    { "reserved_last_byte_set_is_bad_request", 11, 0x80, MML_EBADREQ, "reserved" },
};

START_TEST(bad_header_byte_is_refused_naming_its_field)
{
    const header_row *row = &bad_header[_i];
    buf b = small_frame(0);
    b.data[row->off] = row->v;
    payload pl;
    mml_error err = {0};
    int rc = decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err);
    ck_assert_msg(rc == row->code, "%s: byte %zu = %#x: rc %d, want %d (%s)", row->name,
                  row->off, row->v, rc, row->code, err.message);
    ck_assert_msg(strcmp(err.field, row->field) == 0, "%s: field \"%s\", want \"%s\"",
                  row->name, err.field, row->field);
    ck_assert_msg(pl.input == NULL, "%s: a payload after a failure", row->name);
    free(b.data);
}
END_TEST

START_TEST(c_zero_is_value_error_on_c)
{
    buf b = {0};
    put_header(&b, MML_F32, 1, MML_MEAN, 0, 1, 0, 0);
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_EVALUE);
    ck_assert_str_eq(err.field, "C");
    free(b.data);
}
END_TEST

START_TEST(int32_min_margin_is_kept)
{
    buf b = {0};
    put_header(&b, MML_F32, 1, MML_NONE, 0, INT32_MIN, 0, 1);
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), 0);
    ck_assert_int_eq(pl.req.margin, INT32_MIN);
    payload_free(&pl);
    free(b.data);
}
END_TEST

START_TEST(every_truncation_is_bad_request_saying_truncated)
{
    buf b = small_frame(1);
    for (size_t len = 0; len < b.len; len++) {
        payload pl;
        mml_error err = {0};
        int rc = decode(b.data, len, FEED_WHOLE, 1 << 20, &pl, &err);
        ck_assert_msg(rc == MML_EBADREQ, "len %zu: rc %d", len, rc);
        ck_assert_msg(strstr(err.message, "truncated") != NULL, "%s", err.message);
    }
    free(b.data);
}
END_TEST

START_TEST(byte_past_the_frame_is_bad_request_even_fed_alone)
{
    buf b = small_frame(0);
    put(&b, "\0", 1);
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "longer"));
    /* The extra byte in its own feed is refused too. */
    size_t last = b.len - 1;
    ck_assert_int_eq(decode(b.data, b.len, FEED_AT(&last, 1), 1 << 20, &pl, &err),
                     MML_EBADREQ);
    free(b.data);
}
END_TEST

/* Weight flag without weight bytes: truncated; weight bytes without the
 * flag: too long. */
START_TEST(weight_flag_must_match_weight_bytes)
{
    buf b = small_frame(1);
    b.data[8] = 0;
    payload pl;
    mml_error err = {0};
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_EBADREQ);
    free(b.data);
    b = small_frame(0);
    b.data[8] = 1;
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "truncated"));
    free(b.data);
}
END_TEST

/* A header declaring N x C of dtype (with weight) fails with 413 in the
 * feed that brings it, before any data, and finish() repeats it. name
 * says which case it is. */
static void expect_too_big(const char *name, uint64_t n, uint64_t c, int dtype,
                           uint64_t max_body)
{
    buf b = {0};
    put_header(&b, dtype, 1, MML_MEAN, 1, 1, n, c);
    payload pl;
    mml_error err = {0};
    feed_dec f;
    open_frame(&f, max_body);
    int rc = feed_step(&f, b.data, b.len, &err);
    ck_assert_msg(rc == MML_ETOOBIG, "%s: N=%llu C=%llu: rc %d, want %d (%s)", name,
                  (unsigned long long)n, (unsigned long long)c, rc, MML_ETOOBIG, err.message);
    ck_assert_int_eq(mml_err_status(rc), 413);
    ck_assert_uint_eq(frame_decoder_expected_bytes(feed_decoder(&f)), 0);
    /* Sticky: finish reports the same failure. */
    rc = feed_finish(&f, &pl, &err);
    ck_assert_msg(rc == MML_ETOOBIG, "%s: finish rc %d, want %d", name, rc, MML_ETOOBIG);
    feed_close(&f);
    free(b.data);
}

static const struct {
    const char *name;
    uint64_t n, c;
    int dtype;
    uint64_t max_body;
} too_big[] = {
    { "n_2_pow_63_overflows_the_byte_count", (uint64_t)1 << 63, 1, MML_F32, UINT64_MAX },
    { "n_2_pow_62_times_c_4_overflows", (uint64_t)1 << 62, 4, MML_F64, UINT64_MAX },
    { "c_uint64_max_overflows", 1, UINT64_MAX, MML_F16, UINT64_MAX },
    { "n_uint64_max_over_16_of_float64_overflows", UINT64_MAX / 16, 1, MML_F64, UINT64_MAX },
    { "million_float32_over_1_mib_max_body", 1000, 1000, MML_F32, 1 << 20 },
};

START_TEST(oversized_header_is_413_before_any_data)
{
    expect_too_big(too_big[_i].name, too_big[_i].n, too_big[_i].c, too_big[_i].dtype,
                   too_big[_i].max_body);
}
END_TEST

START_TEST(frame_of_exactly_max_body_passes_one_byte_less_is_413)
{
    buf b = small_frame(0);
    feed_dec f;
    open_frame(&f, b.len);
    mml_error err = {0};
    ck_assert_int_eq(feed_step(&f, b.data, 32, &err), 0);
    ck_assert_uint_eq(frame_decoder_expected_bytes(feed_decoder(&f)), b.len);
    feed_close(&f);
    expect_too_big("max_body one byte short", 2, 4, MML_F32, b.len - 1);
    free(b.data);
}
END_TEST

START_TEST(content_length_must_match_the_frame)
{
    buf b = small_frame(1);
    mml_error err = {0};
    payload pl;
    feed_dec f;
    feed_open(&f, &(feed_config){.ops = &frame_decoder_ops, .max_body = 1 << 20,
                                 .length = (int64_t)b.len + 1});
    ck_assert_int_eq(feed_step(&f, b.data, 31, &err), 0);
    ck_assert_uint_eq(frame_decoder_expected_bytes(feed_decoder(&f)), 0);
    ck_assert_int_eq(feed_step(&f, b.data + 31, 1, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "Content-Length"));
    feed_close(&f);

    feed_open(&f, &(feed_config){.ops = &frame_decoder_ops, .max_body = 1 << 20,
                                 .length = (int64_t)b.len});
    ck_assert_int_eq(feed_step(&f, b.data, b.len, &err), 0);
    ck_assert_int_eq(feed_finish(&f, &pl, &err), 0);
    feed_close(&f);
    payload_free(&pl);
    free(b.data);
}
END_TEST

/* N = C = 4, all targets 0 but target[at] = value. */
typedef struct target_row {
    const char *name;
    int64_t at, value;
} target_row;

static const target_row bad_target[] = {
    { "target_equal_to_c", 0, 4 },
    { "target_minus_one", 1, -1 },
    { "target_int64_min", 3, INT64_MIN },
};

START_TEST(target_out_of_range_is_value_error_naming_index_and_value)
{
    static const double in[16] = {0};
    const target_row *row = &bad_target[_i];
    buf b = {0};
    put_header(&b, MML_F32, 1, MML_NONE, 0, 1, 4, 4);
    put_values(&b, MML_F32, in, 16);
    for (int64_t i = 0; i < 4; i++)
        put_le(&b, (uint64_t)(i == row->at ? row->value : 0), 8);
    payload pl;
    mml_error err = {0};
    int rc = decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err);
    ck_assert_msg(rc == MML_EVALUE, "%s: rc %d, want %d", row->name, rc, MML_EVALUE);
    ck_assert_msg(strcmp(err.field, "target") == 0, "%s: field \"%s\", want \"target\"",
                  row->name, err.field);
    char want[48];
    snprintf(want, sizeof(want), "target[%lld] = %lld", (long long)row->at,
             (long long)row->value);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  row->name, err.message, want);
    free(b.data);
}
END_TEST

START_TEST(failure_is_sticky_and_destroy_null_is_a_no_op)
{
    feed_destroy_null(&frame_decoder_ops);
    buf b = small_frame(0);
    b.data[0] = 'X';
    feed_dec f;
    open_frame(&f, 1 << 20);
    ck_assert_int_eq(feed_step(&f, b.data, 32, NULL), MML_EBADREQ);
    mml_error err = {0};
    ck_assert_int_eq(feed_step(&f, b.data + 32, 4, &err), MML_EBADREQ);
    ck_assert_str_eq(err.field, "magic");
    ck_assert_int_eq(feed_step(&f, NULL, 0, &err), MML_EBADREQ);
    feed_close(&f);
    free(b.data);
}
END_TEST

/* The decoders take their tensors within the memory budget: past it a
 * frame fails with 413 when it alone is over the budget, Overloaded (503)
 * when another request's blocks are the reason, and every block is given
 * back. ("Exactly enough" comes first: the usable sizes malloc gives
 * depend on what was allocated before.) */
START_TEST(tensors_are_held_to_the_memory_budget)
{
    buf b = small_frame(1);
    payload pl;
    mml_error err = {0};
    ck_assert_uint_eq(payload_mem_in_use(), 0);
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), 0);
    uint64_t held = payload_mem_in_use();          /* three tensors of 16-32 bytes */
    ck_assert_uint_ge(held, 3 * PAYLOAD_ALIGN);
    payload_free(&pl);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    /* It alone could never fit: 413. The budget is one byte under its
     * blocks' rounded sizes, which is what the budget checks a block
     * against; held - 1 was that only when malloc gave no block more
     * than it was asked for, so it passed or failed with the heap's
     * state before the test. */
    payload_mem_set_budget(3 * PAYLOAD_ALIGN - 1);
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(err.code), 413);
    ck_assert_msg(strstr(err.message, "--max-memory") != NULL, "%s", err.message);
    ck_assert_ptr_null(pl.input);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    payload_mem_set_budget(held);                  /* exactly enough */
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), 0);
    ck_assert_uint_eq(payload_mem_in_use(), held);
    void *result = payload_mem_alloc(64);          /* results count, never refused */
    ck_assert_ptr_nonnull(result);
    ck_assert_uint_gt(payload_mem_in_use(), held);
    payload_mem_free(result);
    payload_free(&pl);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    /* Its three blocks of at least PAYLOAD_ALIGN bytes are over this
     * budget: 413 still while another request holds a block, before it
     * takes any of its own. */
    payload_mem_set_budget(3 * PAYLOAD_ALIGN - 1);
    payload_acct others = { 0 };
    void *other = payload_mem_take(&others, 1, "input", &err);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_ETOOBIG);
    ck_assert_ptr_null(pl.input);
    payload_mem_give(&others, other);
    ck_assert_uint_eq(others.held, 0);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    payload_mem_set_budget(1 << 20);               /* another request holds the rest: 503 */
    other = payload_mem_take(&others, (1 << 20) - 64, "input", &err);
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_EBUSY);
    ck_assert_int_eq(mml_err_status(err.code), 503);
    ck_assert_str_eq(mml_err_name(err.code), "Overloaded");
    ck_assert_msg(strstr(err.message, "--max-memory") != NULL, "%s", err.message);
    ck_assert_ptr_null(pl.input);
    payload_mem_free(other);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    payload_mem_set_budget(PAYLOAD_ALIGN - 1);     /* less than its first block */
    ck_assert_int_eq(decode(b.data, b.len, FEED_WHOLE, 1 << 20, &pl, &err), MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(err.code), 413);
    ck_assert_msg(strstr(err.message, "whole memory budget") != NULL, "%s", err.message);
    ck_assert_ptr_null(pl.input);
    ck_assert_uint_eq(payload_mem_in_use(), 0);

    payload_mem_set_budget(0);
    free(b.data);
}
END_TEST

START_TEST(result_frame_has_the_spec_layout)
{
    float out[3] = {0.5f, -1.0f, INFINITY};
    mml_request req = {.dtype = MML_F32, .reduction = MML_NONE, .n = 3, .c = 2};
    void *body;
    size_t len = frame_encode_result(&req, out, &body);
    ck_assert_uint_eq(len, 16 + 12);
    const uint8_t *p = body;
    ck_assert_int_eq(memcmp(p, "MMR1", 4), 0);
    ck_assert_int_eq(p[4], 1);
    ck_assert_int_eq(p[5], MML_F32);
    ck_assert_int_eq(p[6], 1);
    ck_assert_int_eq(p[7], 0);
    ck_assert_int_eq(p[8], 3);
    for (int i = 9; i < 16; i++)
        ck_assert_int_eq(p[i], 0);
    ck_assert_int_eq(memcmp(p + 16, out, 12), 0);
    free(body);

    uint16_t h = 0x3c00;
    req = (mml_request){.dtype = MML_F16, .reduction = MML_MEAN, .n = 7, .c = 2};
    len = frame_encode_result(&req, &h, &body);
    ck_assert_uint_eq(len, 18);
    p = body;
    ck_assert_int_eq(p[5], MML_F16);
    ck_assert_int_eq(p[6], 0);
    ck_assert_int_eq(p[8], 1);
    ck_assert_int_eq(p[16], 0x00);
    ck_assert_int_eq(p[17], 0x3c);
    free(body);

    req = (mml_request){.dtype = MML_F64, .reduction = MML_NONE, .n = 0, .c = 2};
    len = frame_encode_result(&req, NULL, &body);
    ck_assert_uint_eq(len, 16);
    free(body);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, golden_cases_decode_within_tolerance);
    tcase_add_test(tc, golden_frames_decode_alike_at_every_split_and_bytewise);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_add_test(tc, values_arrive_exact_and_aligned);
    tcase_add_test(tc, empty_batch_decodes_to_zero_loss);
    tcase_add_test(tc, int32_min_margin_is_kept);
    tcase_add_test(tc, content_length_must_match_the_frame);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_loop_test(tc, bad_header_byte_is_refused_naming_its_field, 0,
                        SUITE_ROWS(bad_header));
    tcase_add_test(tc, c_zero_is_value_error_on_c);
    tcase_add_test(tc, every_truncation_is_bad_request_saying_truncated);
    tcase_add_test(tc, byte_past_the_frame_is_bad_request_even_fed_alone);
    tcase_add_test(tc, weight_flag_must_match_weight_bytes);
    tcase_add_loop_test(tc, oversized_header_is_413_before_any_data, 0, SUITE_ROWS(too_big));
    tcase_add_test(tc, frame_of_exactly_max_body_passes_one_byte_less_is_413);
    tcase_add_loop_test(tc, target_out_of_range_is_value_error_naming_index_and_value, 0,
                        SUITE_ROWS(bad_target));
    tcase_add_test(tc, failure_is_sticky_and_destroy_null_is_a_no_op);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, tensors_are_held_to_the_memory_budget);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_test(tc, result_frame_has_the_spec_layout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(frame_suite());
}
