/* Unit tests for src/pool/decode.c: an endpoint's decode work left (remaining tokens and the
 * decoded share of its in-flight requests), moved by each request's progress and released
 * exactly once on every end; the budget (max_tokens, else the mean output length); the SSE
 * token count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "pool/decode.h"
#include "pool/pool.h"

static int64_t left_of(struct sy_endpoint *e)
{
    return atomic_load(&e->decode_left);
}

static double done_of(struct sy_endpoint *e)
{
    return (double)atomic_load(&e->decode_done) / SY_DECODE_ONE;
}

static void test_progress_and_end(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    struct sy_decode d;
    sy_decode_begin(&d, &e, 10);
    assert_int_equal(left_of(&e), 10);
    assert_true(done_of(&e) == 0.0);
    sy_decode_progress(&d, 4);
    assert_int_equal(left_of(&e), 6);
    assert_float_equal(done_of(&e), 0.4, 1e-6);
    sy_decode_progress(&d, 3); /* smaller: ignored */
    assert_int_equal(left_of(&e), 6);
    sy_decode_progress(&d, 25); /* past the budget: one token left until the end */
    assert_int_equal(left_of(&e), 1);
    assert_float_equal(done_of(&e), 0.9, 1e-6);
    sy_decode_end(&d, 25);
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
    sy_decode_end(&d, 25); /* a second end releases nothing */
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
    sy_decode_progress(&d, 30); /* nor does progress after the end */
    assert_int_equal(left_of(&e), 0);
}

/* Requests interleaved on one endpoint, ending by different paths (success, an abort mid-stream,
 * a failure before any token, a retry moved to another endpoint): the counters are the sum of
 * what is live and return to exactly 0. */
static void test_every_exit_releases(void **state)
{
    (void)state;
    struct sy_endpoint a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    struct sy_decode ok, aborted, failed, retried;
    sy_decode_begin(&ok, &a, 300);
    sy_decode_begin(&aborted, &a, 100);
    sy_decode_begin(&failed, &a, 50);
    assert_int_equal(left_of(&a), 450);
    sy_decode_progress(&ok, 150);
    sy_decode_progress(&aborted, 99);
    assert_int_equal(left_of(&a), 150 + 1 + 50);
    assert_float_equal(done_of(&a), 0.5 + 0.99, 1e-6);
    sy_decode_end(&failed, -1); /* backend error before a token */
    assert_int_equal(left_of(&a), 151);
    sy_decode_end(&aborted, -1); /* client abort mid-stream */
    assert_int_equal(left_of(&a), 150);
    assert_float_equal(done_of(&a), 0.5, 1e-6);
    sy_decode_begin(&retried, &a, 80); /* first attempt on a fails, the retry goes to b */
    sy_decode_end(&retried, -1);
    sy_decode_begin(&retried, &b, 80);
    assert_int_equal(left_of(&b), 80);
    sy_decode_progress(&retried, 8);
    assert_float_equal(done_of(&b), 0.1, 1e-6);
    sy_decode_end(&ok, 300);
    sy_decode_end(&retried, 80);
    assert_int_equal(left_of(&a), 0);
    assert_int_equal(atomic_load(&a.decode_done), 0);
    assert_int_equal(left_of(&b), 0);
    assert_int_equal(atomic_load(&b.decode_done), 0);
}

/* No budget (no max_tokens, nothing completed yet): the request adds nothing and weighs whole. */
static void test_no_budget(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    assert_int_equal(sy_decode_budget(&e, -1), 0);
    struct sy_decode d;
    sy_decode_begin(&d, &e, sy_decode_budget(&e, -1));
    sy_decode_progress(&d, 40);
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
    sy_decode_end(&d, 40);
    assert_int_equal(left_of(&e), 0);
}

/* max_tokens wins when given (0 included); without it the mean of completed outputs (EWMA 1/8). */
static void test_budget(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    assert_int_equal(sy_decode_budget(&e, 128), 128);
    struct sy_decode d;
    sy_decode_begin(&d, &e, 128);
    sy_decode_end(&d, 100); /* first sample: the mean is 100 */
    assert_int_equal(sy_decode_budget(&e, -1), 100);
    assert_int_equal(sy_decode_budget(&e, 7), 7);
    sy_decode_begin(&d, &e, 100);
    sy_decode_end(&d, 180); /* 100 + (180 - 100) / 8 */
    assert_int_equal(sy_decode_budget(&e, -1), 110);
    sy_decode_begin(&d, &e, 100);
    sy_decode_end(&d, -1); /* a failed request is no sample */
    sy_decode_begin(&d, &e, 100);
    sy_decode_end(&d, 0); /* nor an empty answer */
    assert_int_equal(sy_decode_budget(&e, -1), 110);
    assert_int_equal(sy_decode_budget(&e, 0), 0);
}

static void test_sse_tokens(void **state)
{
    (void)state;
    static const char chat[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"
        "data:{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},"
        "\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\n"
        "data: [DONE]\n\n";
    assert_int_equal(sy_decode_sse_tokens(chat, strlen(chat), false), 3);
    static const char text[] = "data: {\"choices\":[{\"text\":\" x\"}]}\r\n\r\n"
                               ": keep-alive comment\n\n"
                               "data: {\"choices\":[{\"text\":\" y\"}]}\n\n";
    assert_int_equal(sy_decode_sse_tokens(text, strlen(text), false), 2);
    static const char anth[] =
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"b\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":"
        "{\"output_tokens\":2}}\n\n";
    assert_int_equal(sy_decode_sse_tokens(anth, strlen(anth), true), 2);
    assert_int_equal(sy_decode_sse_tokens("", 0, false), 0);
    assert_int_equal(sy_decode_sse_tokens("data:", 5, false), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_end), cmocka_unit_test(test_every_exit_releases),
        cmocka_unit_test(test_no_budget),        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_sse_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
