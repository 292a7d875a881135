/* Unit tests for src/extproc/pb.c and msg.c: the protobuf codec and the ext_proc messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extproc/msg.h"
#include "extproc/pb.h"

static void test_varint_and_nested_lengths(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    sy_pb_put_uint(&b, 1, 300); /* 08 ac 02 */
    size_t m = sy_pb_begin(&b, 2);
    char big[200];
    memset(big, 'x', sizeof big);
    sy_pb_put_bytes(&b, 1, big, sizeof big); /* 0a c8 01 + 200 = 203 bytes: two length bytes */
    sy_pb_end(&b, m);
    assert_int_equal(b.len, 3 + 1 + 2 + 203);
    const uint8_t want[] = {0x08, 0xac, 0x02, 0x12, 0xcb, 0x01, 0x0a, 0xc8, 0x01, 'x'};
    assert_memory_equal(b.data, want, sizeof want);
    struct sy_pb_reader r;
    struct sy_pb_field f;
    sy_pb_reader_init(&r, b.data, b.len);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 1);
    assert_int_equal(f.u, 300);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 2);
    assert_int_equal(f.len, 203);
    assert_int_equal(sy_pb_next(&r, &f), 0);
    sy_buf_fini(&b);
}

static void test_malformed_input_is_an_error(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x12\x05\x0a", 3},                                  /* length past the end */
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11}, /* varint over 10 bytes */
        {"\x0b", 1},                                          /* group */
        {"\x00\x01", 2},                                      /* field 0 */
        {"\x08", 1},                                          /* truncated varint */
        {"\x09\x01\x02", 3},                                  /* truncated fixed64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sy_pb_reader r;
        struct sy_pb_field f;
        sy_pb_reader_init(&r, bad[i].bytes, bad[i].len);
        int rc;
        while ((rc = sy_pb_next(&r, &f)) == 1)
            ;
        assert_int_equal(rc, -1);
    }
    struct sy_xp_req req;
    char err[160];
    assert_int_equal(sy_xp_decode("", 0, &req, err, sizeof err), -1);
    assert_non_null(strstr(err, "without a request/response phase"));
    assert_int_equal(sy_xp_decode("\x12\x05\x0a", 3, &req, err, sizeof err), -1);
}

/* ProcessingRequest{request_headers: {headers: {headers: [{key ":path", raw_value
 * "/v1/completions"}, {key "x-a", value "v"}]}, end_of_stream: false}, metadata_context:
 * {filter_metadata: {"envoy.lb.subset_hint": {fields: {"x-gateway-destination-endpoint-subset":
 * {list_value: {values: [{string_value "10.0.0.1:8000"}, {string_value "10.0.0.2:8000"}]}}}}}}} */
static void build_request(struct sy_buf *b)
{
    size_t rh = sy_pb_begin(b, 2);
    size_t hm = sy_pb_begin(b, 1);
    size_t h1 = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, ":path");
    sy_pb_put_str(b, 3, "/v1/completions");
    sy_pb_end(b, h1);
    size_t h2 = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, "x-a");
    sy_pb_put_str(b, 2, "v");
    sy_pb_end(b, h2);
    sy_pb_end(b, hm);
    sy_pb_end(b, rh);
    size_t md = sy_pb_begin(b, 8);
    size_t fe = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, "envoy.lb.subset_hint");
    size_t st = sy_pb_begin(b, 2);
    size_t e = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, "x-gateway-destination-endpoint-subset");
    size_t v = sy_pb_begin(b, 2);
    size_t lv = sy_pb_begin(b, 6);
    const char *eps[] = {"10.0.0.1:8000", "10.0.0.2:8000"};
    for (int i = 0; i < 2; i++) {
        size_t one = sy_pb_begin(b, 1);
        sy_pb_put_str(b, 3, eps[i]);
        sy_pb_end(b, one);
    }
    sy_pb_end(b, lv);
    sy_pb_end(b, v);
    sy_pb_end(b, e);
    sy_pb_end(b, st);
    sy_pb_end(b, fe);
    sy_pb_end(b, md);
}

static void test_decode_headers_and_subset_hint(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    build_request(&b);
    static struct sy_xp_req r;
    char err[160];
    assert_int_equal(sy_xp_decode(b.data, b.len, &r, err, sizeof err), 0);
    assert_int_equal(r.phase, SY_XP_REQUEST_HEADERS);
    assert_false(r.end_of_stream);
    assert_int_equal(r.nheaders, 2);
    struct sy_str v;
    assert_true(sy_xp_header(&r, ":PATH", &v));
    assert_true(sy_str_eq_c(v, "/v1/completions")); /* raw_value */
    assert_true(sy_xp_header(&r, "x-a", &v));
    assert_true(sy_str_eq_c(v, "v")); /* value when raw_value is absent */
    assert_true(r.has_subset);
    assert_int_equal(r.nsubset, 2);
    assert_true(sy_str_eq_c(r.subset[1], "10.0.0.2:8000"));
    /* every prefix of a valid message decodes or fails cleanly */
    for (size_t n = 0; n < b.len; n++)
        (void)sy_xp_decode(b.data, n, &r, err, sizeof err);
    sy_buf_fini(&b);
}

/* Walks the route answer by field numbers, as Envoy would read it. */
static void test_route_answer_layout(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    struct sy_xp_set set[1] = {{"x-gateway-destination-endpoint", SY_STR_LIT("10.0.0.1:8000")}};
    sy_xp_put_route(&b, set, 1, "10.0.0.1:8000");
    struct sy_pb_reader r, r2, r3;
    struct sy_pb_field f, f2, f3;
    sy_pb_reader_init(&r, b.data, b.len);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 1); /* request_headers */
    sy_pb_reader_init(&r2, f.ptr, f.len);
    assert_int_equal(sy_pb_next(&r2, &f2), 1);
    assert_int_equal(f2.num, 1); /* response (CommonResponse) */
    sy_pb_reader_init(&r3, f2.ptr, f2.len);
    bool clear = false, mutation = false;
    while (sy_pb_next(&r3, &f3) == 1) {
        if (f3.num == 5 && f3.u == 1)
            clear = true;
        if (f3.num == 2 && f3.wire == SY_PB_LEN &&
            memmem(f3.ptr, f3.len, "x-gateway-destination-endpoint", 30))
            mutation = true;
    }
    assert_true(clear);
    assert_true(mutation);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 8); /* dynamic_metadata */
    assert_non_null(memmem(f.ptr, f.len, "envoy.lb", 8));
    assert_int_equal(sy_pb_next(&r, &f), 0);
    sy_buf_fini(&b);
}

/* remove_headers sit in the header mutation; the scores are a Struct of numbers under envoy.lb. */
static void test_route_answer_remove_and_scores(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    struct sy_xp_set set[1] = {{"x-gateway-destination-endpoint", SY_STR_LIT("10.0.0.1:8000")}};
    static const char *const rm[] = {"x-prefiller-host-port"};
    struct sy_xp_score sc[2] = {{"10.0.0.1:8000", 2.5}, {"10.0.0.2:8000", 0.25}};
    struct sy_xp_route rt = {.set = set,
                             .nset = 1,
                             .remove = rm,
                             .nremove = 1,
                             .dest = "10.0.0.1:8000",
                             .scores = sc,
                             .nscores = 2};
    sy_xp_put_route_ex(&b, &rt);
    struct sy_pb_reader r, r2, r3, r4;
    struct sy_pb_field f, f2, f3, f4;
    sy_pb_reader_init(&r, b.data, b.len);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    sy_pb_reader_init(&r2, f.ptr, f.len);
    assert_int_equal(sy_pb_next(&r2, &f2), 1); /* CommonResponse */
    sy_pb_reader_init(&r3, f2.ptr, f2.len);
    bool removed = false;
    while (sy_pb_next(&r3, &f3) == 1) {
        if (f3.num != 2) /* header_mutation */
            continue;
        sy_pb_reader_init(&r4, f3.ptr, f3.len);
        while (sy_pb_next(&r4, &f4) == 1)
            if (f4.num == 2 && f4.len == 21 && memcmp(f4.ptr, "x-prefiller-host-port", 21) == 0)
                removed = true;
    }
    assert_true(removed);
    assert_int_equal(sy_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 8);
    assert_non_null(memmem(f.ptr, f.len, "x-gateway-destination-endpoint-scores", 37));
    assert_non_null(memmem(f.ptr, f.len, "10.0.0.2:8000", 13));
    double v = 0.25; /* Value.number_value (2, fixed64) follows the key's Value tag */
    uint8_t want[9] = {0x11};
    memcpy(want + 1, &v, 8);
    assert_non_null(memmem(f.ptr, f.len, want, 9));
    sy_buf_fini(&b);
}

static void test_body_chunk_and_health(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    sy_xp_put_body_chunk(&b, SY_XP_RESPONSE_BODY, "abc", 3, true);
    /* response_body(4){response(1){body_mutation(3){streamed_response(3){body "abc", eos}}}} */
    const uint8_t want[] = {0x22, 0x0d, 0x0a, 0x0b, 0x1a, 0x09, 0x1a, 0x07,
                            0x0a, 0x03, 'a',  'b',  'c',  0x10, 0x01};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    sy_buf_reset(&b);
    sy_health_put(&b, SY_HEALTH_NOT_SERVING);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\x08\x02", 2);
    struct sy_str svc;
    assert_int_equal(sy_health_decode("\x0a\x08liveness", 10, &svc), 0);
    assert_true(sy_str_eq_c(svc, "liveness"));
    assert_int_equal(sy_health_decode("\x0a\x09liveness", 10, &svc), -1);
    sy_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_and_nested_lengths),
        cmocka_unit_test(test_malformed_input_is_an_error),
        cmocka_unit_test(test_decode_headers_and_subset_hint),
        cmocka_unit_test(test_route_answer_layout),
        cmocka_unit_test(test_route_answer_remove_and_scores),
        cmocka_unit_test(test_body_chunk_and_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
