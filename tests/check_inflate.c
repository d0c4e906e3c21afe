/* check_inflate.c - Check suite for content codings (proto/inflate.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "feed.h"
#include "frame.h"
#include "inflate.h"
#include "v2.h"
#include "suite.h"

/* Sink that collects what it is given, up to a cap; fails on demand. */
typedef struct collect {
    char *data;
    size_t len, cap;
    int fail_at;              /* fail when called this many times, 0 = never */
    int calls;
} collect;

static int collect_sink(void *ctx, const char *data, size_t len, mml_error *err)
{
    collect *c = ctx;
    if (++c->calls == c->fail_at)
        return mml_error_set(err, MML_EVALUE, "input", "sink refused");
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->data = realloc(c->data, c->cap);
        ck_assert_ptr_nonnull(c->data);
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    return 0;
}

/* Counts bytes without keeping them (bomb test). */
static int count_sink(void *ctx, const char *data, size_t len, mml_error *err)
{
    (void)data;
    (void)err;
    *(uint64_t *)ctx += len;
    return 0;
}

/* Compress with zlib directly: windowBits 31 gzip, 15 zlib, -15 raw. */
static unsigned char *zcompress(const void *in, size_t len, int bits, size_t *out_len)
{
    z_stream s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(deflateInit2(&s, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong bound = deflateBound(&s, len) + 64;
    unsigned char *out = malloc(bound);
    s.next_in = (Bytef *)(uintptr_t)in;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)bound;
    ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    *out_len = s.total_out;
    deflateEnd(&s);
    return out;
}

static char *sample(size_t len)
{
    char *p = malloc(len + 1);
    unsigned x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)("0123456789.,[] "[(x >> 16) % 15]);
    }
    return p;
}

/* inflater_feed() as a feed_sink. */
static int inflate_piece(void *in, const char *data, size_t len, mml_error *err)
{
    return inflater_feed(in, data, len, err);
}

/* Inflate z[0..len) fed in pieces cut per cuts into c. */
static int run(content_coding coding, const unsigned char *z, size_t len, feed_cuts cuts,
               uint64_t max_out, collect *c, mml_error *err)
{
    inflater *in = inflater_create(coding, max_out, collect_sink, c);
    ck_assert_ptr_nonnull(in);
    int rc = feed_pieces(z, len, cuts, inflate_piece, in, err);
    if (rc == 0)
        rc = inflater_finish(in, err);
    if (rc == 0)
        ck_assert_uint_eq(inflater_total_out(in), c->len);
    inflater_destroy(in);
    return rc;
}

START_TEST(content_encoding_values_parse_to_codings)
{
    ck_assert_int_eq(inflate_parse_content_encoding(NULL), CODING_IDENTITY);
    ck_assert_int_eq(inflate_parse_content_encoding(""), CODING_IDENTITY);
    ck_assert_int_eq(inflate_parse_content_encoding("identity"), CODING_IDENTITY);
    ck_assert_int_eq(inflate_parse_content_encoding("gzip"), CODING_GZIP);
    ck_assert_int_eq(inflate_parse_content_encoding(" GZip "), CODING_GZIP);
    ck_assert_int_eq(inflate_parse_content_encoding("x-gzip"), CODING_GZIP);
    ck_assert_int_eq(inflate_parse_content_encoding("deflate"), CODING_DEFLATE);
    ck_assert_int_eq(inflate_parse_content_encoding("identity, deflate"), CODING_DEFLATE);
    ck_assert_int_eq(inflate_parse_content_encoding("br"), CODING_UNKNOWN);
    ck_assert_int_eq(inflate_parse_content_encoding("zstd"), CODING_UNKNOWN);
    ck_assert_int_eq(inflate_parse_content_encoding("gzipx"), CODING_UNKNOWN);
    ck_assert_int_eq(inflate_parse_content_encoding("gzip, gzip"), CODING_UNKNOWN);
    ck_assert_int_eq(inflate_parse_content_encoding("deflate, gzip"), CODING_UNKNOWN);
    ck_assert_str_eq(inflate_coding_name(CODING_GZIP), "gzip");
    ck_assert_str_eq(inflate_coding_name(CODING_DEFLATE), "deflate");
    ck_assert_ptr_null(inflate_coding_name(CODING_IDENTITY));
}
END_TEST

START_TEST(response_coding_follows_accept_encoding_q_values)
{
    const size_t big = INFLATE_MIN_COMPRESS;
    ck_assert_int_eq(inflate_pick_response_coding(NULL, big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("gzip", big - 1), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("gzip", big), CODING_GZIP);
    ck_assert_int_eq(inflate_pick_response_coding("gzip, deflate, br", big), CODING_GZIP);
    ck_assert_int_eq(inflate_pick_response_coding("deflate", big), CODING_DEFLATE);
    ck_assert_int_eq(inflate_pick_response_coding("gzip;q=0", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("gzip; q=0.000, deflate", big),
                     CODING_DEFLATE);
    ck_assert_int_eq(inflate_pick_response_coding("gzip;q=0.5, deflate;q=0.8", big),
                     CODING_DEFLATE);
    ck_assert_int_eq(inflate_pick_response_coding("deflate;q=0.5, gzip;q=0.5", big),
                     CODING_GZIP);
    /* The q wherever it is among the parameters; one that is not a qvalue
     * chooses nothing (proto/hlist.c, shared with Accept). */
    ck_assert_int_eq(inflate_pick_response_coding("gzip;level=1;q=0", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("gzip;q=abc", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("gzip;q=.5, deflate;q=0.1", big),
                     CODING_DEFLATE);
    ck_assert_int_eq(inflate_pick_response_coding("*", big), CODING_GZIP);
    ck_assert_int_eq(inflate_pick_response_coding("*;q=0", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("*, gzip;q=0", big), CODING_DEFLATE);
    ck_assert_int_eq(inflate_pick_response_coding("identity", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("br", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("", big), CODING_IDENTITY);
    ck_assert_int_eq(inflate_pick_response_coding("GZIP;Q=1.0", big), CODING_GZIP);
}
END_TEST

/* Round trip through inflate_compress() and the inflater, every split. */
START_TEST(round_trip_survives_every_split)
{
    static const content_coding codings[] = {CODING_GZIP, CODING_DEFLATE};
    char *text = sample(3000);
    for (int k = 0; k < 2; k++) {
        void *z;
        size_t zlen;
        ck_assert_int_eq(inflate_compress(codings[k], text, 3000, &z, &zlen), 0);
        ck_assert_uint_lt(zlen, 3000);
        for (size_t split = 0; split <= zlen; split++) {
            collect c = {0};
            mml_error err = {0};
            int rc = run(codings[k], z, zlen, FEED_AT(&split, 1), 3000, &c, &err);
            ck_assert_msg(rc == 0, "coding %d split %zu: %s", codings[k], split, err.message);
            ck_assert_uint_eq(c.len, 3000);
            ck_assert_int_eq(memcmp(c.data, text, 3000), 0);
            free(c.data);
        }
        collect c = {0};
        ck_assert_int_eq(run(codings[k], z, zlen, FEED_EVERY(1), 3000, &c, NULL), 0);
        ck_assert_int_eq(memcmp(c.data, text, 3000), 0);
        free(c.data);
        free(z);
    }
    free(text);
}
END_TEST

/* Large body: output crosses the scratch buffer many times. */
START_TEST(large_body_round_trips_and_stops_at_max_out)
{
    size_t n = 5 << 20;
    char *text = sample(n);
    size_t zlen;
    unsigned char *z = zcompress(text, n, 31, &zlen);
    collect c = {0};
    ck_assert_int_eq(run(CODING_GZIP, z, zlen, FEED_EVERY(1000), n, &c, NULL), 0);
    ck_assert_uint_eq(c.len, n);
    ck_assert_int_eq(memcmp(c.data, text, n), 0);
    free(c.data);
    /* One byte over the limit. */
    c = (collect){0};
    mml_error err = {0};
    ck_assert_int_eq(run(CODING_GZIP, z, zlen, FEED_WHOLE, n - 1, &c, &err), MML_ETOOBIG);
    ck_assert_uint_le(c.len, n - 1);
    free(c.data);
    free(z);
    free(text);
}
END_TEST

START_TEST(deflate_takes_raw_deflate_and_gzip_does_not)
{
    char *text = sample(2000);
    size_t zlen;
    unsigned char *z = zcompress(text, 2000, -15, &zlen);
    for (size_t split = 0; split <= 3; split++) {
        const feed_cuts cuts = { .at = &split, .nat = 1, .every = split ? 1 : 0 };
        collect c = {0};
        mml_error err = {0};
        int rc = run(CODING_DEFLATE, z, zlen, cuts, 2000, &c, &err);
        ck_assert_msg(rc == 0, "split %zu: %s", split, err.message);
        ck_assert_uint_eq(c.len, 2000);
        ck_assert_int_eq(memcmp(c.data, text, 2000), 0);
        free(c.data);
    }
    free(z);
    /* Raw deflate is no gzip. */
    z = zcompress(text, 2000, -15, &zlen);
    collect c = {0};
    mml_error err = {0};
    ck_assert_int_eq(run(CODING_GZIP, z, zlen, FEED_WHOLE, 2000, &c, &err), MML_EBADREQ);
    free(c.data);
    free(z);
    free(text);
}
END_TEST

START_TEST(concatenated_gzip_members_are_one_body)
{
    size_t l1, l2;
    unsigned char *a = zcompress("hello, ", 7, 31, &l1);
    unsigned char *b = zcompress("world", 5, 31, &l2);
    unsigned char *both = malloc(l1 + l2);
    memcpy(both, a, l1);
    memcpy(both + l1, b, l2);
    for (size_t split = 0; split <= l1 + l2; split++) {
        collect c = {0};
        ck_assert_int_eq(run(CODING_GZIP, both, l1 + l2, FEED_AT(&split, 1), 100, &c, NULL), 0);
        ck_assert_uint_eq(c.len, 12);
        ck_assert_int_eq(memcmp(c.data, "hello, world", 12), 0);
        free(c.data);
    }
    free(a);
    free(b);
    free(both);
}
END_TEST

START_TEST(truncated_or_corrupt_streams_are_bad_request)
{
    char *text = sample(4000);
    size_t zlen;
    unsigned char *z = zcompress(text, 4000, 31, &zlen);
    mml_error err = {0};
    collect c = {0};
    /* Every truncation is refused, at the latest by finish(). */
    for (size_t len = 0; len < zlen; len++) {
        c.len = 0;
        int rc = run(CODING_GZIP, z, len, FEED_WHOLE, 4000, &c, &err);
        ck_assert_msg(rc == MML_EBADREQ, "len %zu: rc %d", len, rc);
    }
    /* A flipped bit in the CRC or the data. */
    for (size_t at = 10; at < zlen; at += 7) {
        z[at] ^= 0x10;
        c.len = 0;
        int rc = run(CODING_GZIP, z, zlen, FEED_WHOLE, 4000, &c, &err);
        z[at] ^= 0x10;
        ck_assert_msg(rc == MML_EBADREQ || rc == MML_ETOOBIG, "byte %zu: rc %d", at, rc);
    }
    c.len = 0;
    ck_assert_int_eq(run(CODING_GZIP, (const unsigned char *)"not gzip at all", 15,
                         FEED_WHOLE, 4000, &c, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "gzip"));
    c.len = 0;
    ck_assert_int_eq(run(CODING_DEFLATE, (const unsigned char *)"\xff\xff\xff\xff", 4,
                         FEED_WHOLE, 4000, &c, &err), MML_EBADREQ);
    free(z);

    /* Data after the end of a zlib stream. */
    unsigned char *zz = zcompress(text, 100, 15, &zlen);
    zz = realloc(zz, zlen + 1);
    zz[zlen] = 'x';
    c.len = 0;
    ck_assert_int_eq(run(CODING_DEFLATE, zz, zlen + 1, FEED_WHOLE, 4000, &c, &err), MML_EBADREQ);
    ck_assert_ptr_nonnull(strstr(err.message, "after the end"));
    free(zz);
    free(c.data);
    free(text);
}
END_TEST

/* 100 MB of zeros in ~100 KB must stop at the limit, fast, and in
 * bounded memory (ASan would see an allocation of the full size). */
START_TEST(bomb_stops_at_max_out_fast_in_bounded_memory)
{
    z_stream s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(deflateInit2(&s, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char zeros[1 << 20];
    size_t cap = 1 << 20, zlen = 0;
    unsigned char *z = malloc(cap);
    for (int i = 0; i < 100; i++) {
        s.next_in = zeros;
        s.avail_in = sizeof(zeros);
        do {
            s.next_out = z + zlen;
            s.avail_out = (uInt)(cap - zlen);
            deflate(&s, i == 99 ? Z_FINISH : Z_NO_FLUSH);
            zlen = cap - s.avail_out;
        } while (s.avail_out == 0);
    }
    deflateEnd(&s);
    ck_assert_uint_lt(zlen, 200 * 1024);

    clock_t t0 = clock();
    uint64_t got = 0;
    inflater *in = inflater_create(CODING_GZIP, 1 << 20, count_sink, &got);
    mml_error err = {0};
    int rc = feed_pieces(z, zlen, FEED_EVERY(8192), inflate_piece, in, &err);
    ck_assert_int_eq(rc, MML_ETOOBIG);
    ck_assert_int_eq(mml_err_status(rc), 413);
    ck_assert_uint_le(got, 1 << 20);
    ck_assert_int_eq(inflater_finish(in, &err), MML_ETOOBIG);
    inflater_destroy(in);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ck_assert_msg(secs < 1.0, "bomb took %.3f s", secs);
    free(z);
}
END_TEST

START_TEST(sink_failure_is_sticky)
{
    char *text = sample(300000);
    size_t zlen;
    unsigned char *z = zcompress(text, 300000, 31, &zlen);
    collect c = {.fail_at = 2};
    mml_error err = {0};
    inflater *in = inflater_create(CODING_GZIP, 1 << 20, collect_sink, &c);
    ck_assert_int_eq(inflater_feed(in, (const char *)z, zlen, &err), MML_EVALUE);
    ck_assert_str_eq(err.message, "sink refused");
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(inflater_feed(in, (const char *)z, 1, &err), MML_EVALUE);
    ck_assert_str_eq(err.field, "input");
    ck_assert_int_eq(inflater_finish(in, &err), MML_EVALUE);
    inflater_destroy(in);
    inflater_destroy(NULL);
    ck_assert_ptr_null(inflater_create(CODING_IDENTITY, 10, collect_sink, &c));
    ck_assert_ptr_null(inflater_create(CODING_UNKNOWN, 10, collect_sink, &c));
    free(c.data);
    free(z);
    free(text);
}
END_TEST

/* A gzip'd binary frame through inflate_sink_decoder into the frame decoder. */
START_TEST(gzip_frame_feeds_the_frame_decoder)
{
    unsigned char f[32 + 8 * 4 + 8] = "MML1\x01\x03\x01\x02\x00";
    f[12] = 1;   /* margin 1 */
    f[16] = 1;   /* N = 1 */
    f[24] = 4;   /* C = 4 */
    double x[4] = {0.5, 1.0, 0.25, 0.0};
    memcpy(f + 32, x, sizeof(x));
    f[64] = 1;   /* target[0] = 1 */
    void *z;
    size_t zlen;
    ck_assert_int_eq(inflate_compress(CODING_GZIP, f, sizeof(f), &z, &zlen), 0);
    for (size_t split = 0; split <= zlen; split++) {
        feed_dec f;
        feed_open(&f, &(feed_config){ .ops = &frame_decoder_ops, .max_body = 1 << 20 });
        inflater *in = feed_inflater(&f, CODING_GZIP, 1 << 20);
        mml_error err = {0};
        ck_assert_int_eq(feed_pieces(z, zlen, FEED_AT(&split, 1), inflate_piece, in, &err), 0);
        ck_assert_int_eq(inflater_finish(in, &err), 0);
        payload pl;
        ck_assert_int_eq(feed_finish(&f, &pl, &err), 0);
        double out;
        mml_compute(&pl.req, &out);
        /* sum over i != 1 of max(0, 1 - 1 + x_i) / 4 = (0.5 + 0.25) / 4 */
        ck_assert_double_eq(out, 0.1875);
        payload_free(&pl);
        inflater_destroy(in);
        feed_close(&f);
    }
    free(z);
}
END_TEST

/* A deflate'd v2 request through v2_decoder_sink, as tritonclient sends
 * with request_compression_algorithm="deflate". */
START_TEST(deflate_v2_request_feeds_the_v2_decoder)
{
    static const char json[] =
        "{\"inputs\":[{\"name\":\"INPUT\",\"shape\":[1,2],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":8}},{\"name\":\"TARGET\",\"shape\":[1],"
        "\"datatype\":\"INT64\",\"parameters\":{\"binary_data_size\":8}}]}";
    unsigned char body[sizeof(json) - 1 + 16];
    float x[2] = {2.0f, 0.5f};
    int64_t t = 0;
    memcpy(body, json, sizeof(json) - 1);
    memcpy(body + sizeof(json) - 1, x, 8);
    memcpy(body + sizeof(json) - 1 + 8, &t, 8);
    void *z;
    size_t zlen;
    ck_assert_int_eq(inflate_compress(CODING_DEFLATE, body, sizeof(body), &z, &zlen), 0);
    feed_dec f;
    feed_open(&f, &(feed_config){ .ops = &v2_decoder_ops, .max_body = 1 << 20,
                                  .header_len = (int64_t)sizeof(json) - 1 });
    inflater *in = feed_inflater(&f, CODING_DEFLATE, 1 << 20);
    mml_error err = {0};
    ck_assert_int_eq(feed_pieces(z, zlen, FEED_EVERY(5), inflate_piece, in, &err), 0);
    ck_assert_int_eq(inflater_finish(in, &err), 0);
    v2_decoded r;
    ck_assert_msg(feed_finish_v2(&f, &r, &err) == 0, "%s", err.message);
    float out;
    mml_compute(&r.pl.req, &out);
    ck_assert_float_eq(out, 0.0f);   /* 1 - 2 + 0.5 < 0 */
    v2_decoded_free(&r);
    inflater_destroy(in);
    feed_close(&f);
    free(z);
}
END_TEST

START_TEST(empty_body_compresses_and_identity_does_not)
{
    void *z;
    size_t zlen;
    ck_assert_int_eq(inflate_compress(CODING_DEFLATE, "", 0, &z, &zlen), 0);
    collect c = {0};
    ck_assert_int_eq(run(CODING_DEFLATE, z, zlen, FEED_WHOLE, 0, &c, NULL), 0);
    ck_assert_uint_eq(c.len, 0);
    free(z);
    ck_assert_int_eq(inflate_compress(CODING_IDENTITY, "x", 1, &z, &zlen), MML_ENOMEM);
    ck_assert_ptr_null(z);
}
END_TEST

static Suite *inflate_suite(void)
{
    Suite *s = suite_create("inflate");
    TCase *tc = tcase_create("headers");
    tcase_add_test(tc, content_encoding_values_parse_to_codings);
    tcase_add_test(tc, response_coding_follows_accept_encoding_q_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_survives_every_split);
    tcase_add_test(tc, large_body_round_trips_and_stops_at_max_out);
    tcase_add_test(tc, deflate_takes_raw_deflate_and_gzip_does_not);
    tcase_add_test(tc, concatenated_gzip_members_are_one_body);
    tcase_add_test(tc, empty_body_compresses_and_identity_does_not);
    tcase_add_test(tc, gzip_frame_feeds_the_frame_decoder);
    tcase_add_test(tc, deflate_v2_request_feeds_the_v2_decoder);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, truncated_or_corrupt_streams_are_bad_request);
    tcase_add_test(tc, bomb_stops_at_max_out_fast_in_bounded_memory);
    tcase_add_test(tc, sink_failure_is_sticky);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_run(inflate_suite());
}
