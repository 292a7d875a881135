/* Unit tests for src/api/usage.c: sy_usage_scan on whole bodies (chat, Responses, null usage,
 * the last usage object wins) and sy_usage_sse, the streamed-response accounting the proxy and
 * the EPP share: usage figures and token events of a stream are the same at every cut position,
 * the decode work moves once per piece, an over-long event is not counted and the stream goes
 * on, a last event without its blank line counts at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/usage.h"
#include "pool/pool.h"

static void test_scan_bodies(void **state)
{
    (void)state;
    int64_t p = -1, c = -1, k = -1;
    static const char chat[] = "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
                               "\"completion_tokens\":3,\"prompt_tokens_details\":"
                               "{\"cached_tokens\":4}}}";
    sy_usage_scan(SY_API_CHAT_COMPLETIONS, chat, strlen(chat), &p, &c, &k);
    assert_int_equal(p, 7);
    assert_int_equal(c, 3);
    assert_int_equal(k, 4);
    /* "usage": null changes nothing */
    static const char null[] = "{\"usage\": null, \"x\":{\"prompt_tokens\":99}}";
    sy_usage_scan(SY_API_COMPLETIONS, null, strlen(null), &p, &c, &k);
    assert_int_equal(p, 7);
    /* the last usage object is the one read */
    static const char two[] =
        "{\"usage\":{\"completion_tokens\":1}}{\"usage\":{\"completion_tokens\":"
        "2}}";
    sy_usage_scan(SY_API_COMPLETIONS, two, strlen(two), &p, &c, &k);
    assert_int_equal(c, 2);
    static const char resp[] =
        "{\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":9}}}";
    p = c = -1;
    sy_usage_scan(SY_API_RESPONSES, resp, strlen(resp), &p, &c, &k);
    assert_int_equal(p, 5);
    assert_int_equal(c, 9);
}

/* A vLLM chat stream with n = 1: role chunk, 4 tokens (one split across lines as the SSE spec
 * allows), an empty-delta final chunk, usage (with continuous usage on one token before). */
static const char STREAM[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}],\"usage\":{\"prompt_tokens\":"
    "5,\"completion_tokens\":2}}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\r"
    "data: \"delta\":{\"content\":\"c\"}}]}\r\r"
    "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"d\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,"
    "\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n"
    "data: [DONE]\n\n";

struct acct {
    struct sy_endpoint e;
    struct sy_decode d;
    int64_t prompt, completion, cached;
    struct sy_usage_sse u;
};

static void acct_start(struct acct *a)
{
    memset(a, 0, sizeof *a);
    a->prompt = a->completion = a->cached = -1;
    sy_decode_begin(&a->d, &a->e, 100, 1);
    sy_usage_sse_init(&a->u, &a->d, &a->prompt, &a->completion, &a->cached);
}

static void acct_check(struct acct *a)
{
    assert_int_equal(a->prompt, 5);
    assert_int_equal(a->completion, 4);
    assert_int_equal(a->cached, 2);
    assert_int_equal(a->d.generated, 4);
    assert_int_equal(atomic_load(&a->e.decode_left), 96);
    sy_decode_end(&a->d, a->completion);
    sy_usage_sse_fini(&a->u);
}

static void test_stream_every_cut(void **state)
{
    (void)state;
    size_t n = strlen(STREAM);
    for (size_t i = 0; i <= n; i++) {
        struct acct a;
        acct_start(&a);
        sy_usage_sse_feed(&a.u, SY_API_CHAT_COMPLETIONS, STREAM, i);
        sy_usage_sse_feed(&a.u, SY_API_CHAT_COMPLETIONS, STREAM + i, n - i);
        sy_usage_sse_end(&a.u);
        acct_check(&a);
    }
    struct acct a; /* byte by byte */
    acct_start(&a);
    for (size_t i = 0; i < n; i++)
        sy_usage_sse_feed(&a.u, SY_API_CHAT_COMPLETIONS, STREAM + i, 1);
    sy_usage_sse_end(&a.u);
    acct_check(&a);
}

/* The work moves with each piece's token events; a mid-stream usage count that is ahead wins. */
static void test_progress_per_piece(void **state)
{
    (void)state;
    struct acct a;
    acct_start(&a);
    static const char t1[] = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"
                             "data: {\"choices\":[{\"text\":\"b\"}]}\n\ndata: {\"cho";
    sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, t1, strlen(t1));
    assert_int_equal(a.d.generated, 2);
    static const char t2[] = "ices\":[{\"text\":\"c\"}],\"usage\":{\"completion_tokens\":9}}\n\n";
    sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, t2, strlen(t2));
    assert_int_equal(a.completion, 9);
    assert_int_equal(a.d.generated, 9);
    assert_int_equal(atomic_load(&a.e.decode_left), 91);
    sy_decode_end(&a.d, -1);
    assert_int_equal(atomic_load(&a.e.decode_left), 0);
    sy_usage_sse_fini(&a.u);
    /* the last event without its blank line counts when the stream ends */
    acct_start(&a);
    static const char t3[] = "data: {\"choices\":[{\"text\":\"d\"}]}\n";
    sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, t3, strlen(t3));
    assert_int_equal(a.d.generated, 0);
    sy_usage_sse_end(&a.u);
    assert_int_equal(a.d.generated, 1);
    assert_int_equal(atomic_load(&a.e.decode_left), 99);
    sy_decode_end(&a.d, -1);
    sy_usage_sse_fini(&a.u);
}

/* An event over the cap is no token, but its usage (at its end, in the tail kept) is read. */
static void test_over_long_event(void **state)
{
    (void)state;
    uint64_t before = sy_usage_sse_truncated_total();
    struct acct a;
    acct_start(&a);
    static const char head[] = "data: {\"choices\":[{\"text\":\"";
    sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, head, strlen(head));
    char x[8192];
    memset(x, 'x', sizeof x);
    for (int i = 0; i < 10; i++)
        sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, x, sizeof x);
    static const char tail[] = "\"}],\"usage\":{\"completion_tokens\":50}}\n\n"
                               "data: {\"choices\":[{\"text\":\"a\"}]}\n\n";
    sy_usage_sse_feed(&a.u, SY_API_COMPLETIONS, tail, strlen(tail));
    assert_int_equal(a.completion, 50);  /* from the truncated event's tail */
    assert_int_equal(a.d.generated, 50); /* usage's count; the truncated event is no token */
    assert_int_equal(a.u.lines.truncated, 1);
    assert_int_equal(sy_usage_sse_truncated_total(), before + 1); /* the metric */
    sy_decode_end(&a.d, -1);
    sy_usage_sse_fini(&a.u);
}

/* Without an endpoint nothing is counted, but usage is still read (the proxy's metrics). */
static void test_not_counting(void **state)
{
    (void)state;
    struct sy_decode d;
    memset(&d, 0, sizeof d);
    int64_t p = -1, c = -1, k = -1;
    struct sy_usage_sse u;
    sy_usage_sse_init(&u, &d, &p, &c, &k);
    static const char t[] = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"
                            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                            "\"completion_tokens\":1}}\n\n";
    sy_usage_sse_feed(&u, SY_API_COMPLETIONS, t, strlen(t));
    assert_int_equal(d.generated, 0);
    assert_int_equal(p, 3);
    assert_int_equal(c, 1);
    sy_usage_sse_fini(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_bodies),        cmocka_unit_test(test_stream_every_cut),
        cmocka_unit_test(test_progress_per_piece), cmocka_unit_test(test_over_long_event),
        cmocka_unit_test(test_not_counting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
