/* Unit tests for src/pool/decode.c: an endpoint's decode work left (remaining tokens and the
 * decoded share of its in-flight requests), moved by each request's progress and released
 * exactly once on every end; the budget (max_tokens, else the mean output length); the SSE
 * token count (per event, as api/sse_lines.c cuts a stream into events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/sse_lines.h"
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
    sy_decode_begin(&d, &e, 10, 1);
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
    sy_decode_begin(&ok, &a, 300, 1);
    sy_decode_begin(&aborted, &a, 100, 1);
    sy_decode_begin(&failed, &a, 50, 1);
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
    sy_decode_begin(&retried, &a, 80, 1); /* first attempt on a fails, the retry goes to b */
    sy_decode_end(&retried, -1);
    sy_decode_begin(&retried, &b, 80, 1);
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
    assert_int_equal(sy_decode_budget(&e, -1, 1), 0);
    struct sy_decode d;
    sy_decode_begin(&d, &e, -1, 1);
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
    assert_int_equal(sy_decode_budget(&e, 128, 1), 128);
    struct sy_decode d;
    sy_decode_begin(&d, &e, 128, 1);
    sy_decode_end(&d, 100); /* first sample: the mean is 100 */
    assert_int_equal(sy_decode_budget(&e, -1, 1), 100);
    assert_int_equal(sy_decode_budget(&e, 7, 1), 7);
    sy_decode_begin(&d, &e, 100, 1);
    sy_decode_end(&d, 180); /* 100 + (180 - 100) / 8 */
    assert_int_equal(sy_decode_budget(&e, -1, 1), 110);
    sy_decode_begin(&d, &e, 100, 1);
    sy_decode_end(&d, -1); /* a failed request is no sample */
    sy_decode_begin(&d, &e, 100, 1);
    sy_decode_end(&d, 0); /* nor an empty answer */
    assert_int_equal(sy_decode_budget(&e, -1, 1), 110);
    assert_int_equal(sy_decode_budget(&e, 0, 1), 0);
}

/* sy_decode_mean_out: the mean in tokens (fractional), 0 until min_samples completions fed it;
 * failed and empty responses are no samples. */
static void test_mean_out(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    assert_true(sy_decode_mean_out(&e, 0) == 0); /* nothing completed: no mean */
    struct sy_decode d;
    for (int i = 0; i < 3; i++) {
        sy_decode_begin(&d, &e, 4096, 1);
        sy_decode_end(&d, 100);
    }
    sy_decode_begin(&d, &e, 4096, 1);
    sy_decode_end(&d, -1); /* failed */
    sy_decode_begin(&d, &e, 4096, 1);
    sy_decode_end(&d, 0); /* empty */
    assert_int_equal(atomic_load(&e.decode_samples), 3);
    assert_true(sy_decode_mean_out(&e, 4) == 0);
    assert_true(sy_decode_mean_out(&e, 3) == 100);
    sy_decode_begin(&d, &e, 4096, 2);
    sy_decode_end(&d, 2 * 105); /* per sequence 105: 100 + 5/8 */
    assert_true(sy_decode_mean_out(&e, 4) == 100.625);
}

struct count {
    enum sy_decode_format fmt;
    bool has_usage;
    int64_t role_left, n;
};

static void count_event(void *ud, const char *data, size_t len, bool truncated)
{
    struct count *c = ud;
    if (truncated) /* an over-cap event's tail: usage only, never a token (api/usage.c) */
        return;
    c->n += sy_decode_sse_token(data, len, c->fmt, c->has_usage, c->role_left - c->n);
}

/* The token events of a whole stream, cut into events as the gateway does (api/usage.c). */
static size_t sse_tokens(const char *text, size_t len, enum sy_decode_format fmt, bool has_usage,
                         int64_t role_left)
{
    struct count c = {fmt, has_usage, role_left, 0};
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, count_event, &c);
    sy_sse_lines_feed(&s, text, len);
    sy_sse_lines_finish(&s);
    sy_sse_lines_fini(&s);
    return (size_t)c.n;
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
    assert_int_equal(sse_tokens(chat, strlen(chat), SY_DECODE_OPENAI, true, 1), 3);
    static const char text[] = "data: {\"choices\":[{\"text\":\" x\"}]}\r\n\r\n"
                               ": keep-alive comment\n\n"
                               "data: {\"choices\":[{\"text\":\" y\"}]}\n\n";
    assert_int_equal(sse_tokens(text, strlen(text), SY_DECODE_TEXT, false, 1), 2);
    static const char anth[] =
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"b\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":"
        "{\"output_tokens\":2}}\n\n";
    assert_int_equal(sse_tokens(anth, strlen(anth), SY_DECODE_ANTHROPIC, true, 1), 2);
    assert_int_equal(sse_tokens("", 0, SY_DECODE_OPENAI, false, 1), 0);
    assert_int_equal(sse_tokens("data:", 5, SY_DECODE_OPENAI, false, 1), 0);
    /* one event over two data lines (joined with a newline, as the SSE spec says) is one token */
    static const char two_lines[] = "data: {\"choices\":[{\"index\":0,\n"
                                    "data: \"delta\":{\"content\":\"a\"}}]}\n\n";
    assert_int_equal(sse_tokens(two_lines, strlen(two_lines), SY_DECODE_OPENAI, false, 1), 1);
    /* CR-only line ends */
    static const char cr[] = "data: {\"choices\":[{\"text\":\" x\"}]}\r\r"
                             "data: {\"choices\":[{\"text\":\" y\"}]}\r\r";
    assert_int_equal(sse_tokens(cr, strlen(cr), SY_DECODE_TEXT, false, 1), 2);
}

/* Events that carry no token, as real servers write them (issue 19 review M2). */
static size_t openai(const char *s, bool usage, int64_t role_left)
{
    return sse_tokens(s, strlen(s), SY_DECODE_OPENAI, usage, role_left);
}

static void test_sse_not_tokens(void **state)
{
    (void)state;
    /* Python json.dumps style (spaces after ':' and ','): role chunk, usage-only chunk */
    assert_int_equal(openai("data: {\"choices\": [{\"index\": 0, \"delta\": {\"role\": "
                            "\"assistant\", \"content\": \"\"}, \"finish_reason\": null}]}\n",
                            false, 1),
                     0);
    assert_int_equal(openai("data: {\"id\": \"c\", \"choices\": [], \"usage\": "
                            "{\"completion_tokens\": 3}}\n",
                            true, 1),
                     0);
    assert_int_equal(openai("data: {\"id\": \"c\", \"choices\": [ ], \"usage\": null}\n", true, 0),
                     0);
    /* SGLang's role chunk */
    assert_int_equal(openai("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                            "\"content\":\"\",\"reasoning_content\":null}}]}\n",
                            false, 1),
                     0);
    /* vLLM's final chunk: an empty delta and the finish reason */
    assert_int_equal(openai("data: {\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                            "\"finish_reason\":\"stop\"}]}\n",
                            false, 0),
                     0);
    assert_int_equal(
        openai("data: {\"choices\":[{\"delta\": { },\"finish_reason\":\"stop\"}]}\n", false, 0), 0);
    /* [DONE] with or without the space */
    assert_int_equal(openai("data: [DONE]\n\ndata:[DONE]\n\n", false, 0), 0);
    /* a role chunk once tokens were counted is looked at no more: a later chunk that names a
     * role (it carries a token) counts */
    assert_int_equal(openai("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\","
                            "\"content\":\"\"}}]}\n",
                            false, 0),
                     1);
    /* a role chunk that carries content is a token */
    assert_int_equal(openai("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\","
                            "\"content\":\"Hi\"}}]}\n",
                            false, 1),
                     1);
    /* n = 2: both choices' role chunks, then tokens of each */
    static const char two[] =
        "data: "
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        "data: "
        "{\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    assert_int_equal(openai(two, false, 2), 2);
    /* "usage" text in a token's content does not make it a usage-only chunk */
    assert_int_equal(openai("data: {\"choices\":[{\"text\":\"\\\"choices\\\":[]\"}]}\n", true, 0),
                     1);
}

/* /v1/responses (vLLM's event stream): only the response.*.delta events are tokens. */
static void test_sse_responses(void **state)
{
    (void)state;
    static const char ev[] =
        "event: response.created\n"
        "data: {\"response\":{\"id\":\"r\",\"object\":\"response\",\"output\":[],\"text\":"
        "{\"format\":{\"type\":\"text\"}},\"status\":\"in_progress\"},\"sequence_number\":0,"
        "\"type\":\"response.created\"}\n\n"
        "event: response.in_progress\n"
        "data: "
        "{\"response\":{\"id\":\"r\"},\"sequence_number\":1,\"type\":\"response.in_progress\"}"
        "\n\n"
        "event: response.output_item.added\n"
        "data: {\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[]},"
        "\"output_index\":0,\"sequence_number\":2,\"type\":\"response.output_item.added\"}\n\n"
        "event: response.content_part.added\n"
        "data: {\"part\":{\"type\":\"output_text\",\"text\":\"\"},\"sequence_number\":3,"
        "\"type\":\"response.content_part.added\"}\n\n"
        "event: response.reasoning_text.delta\n"
        "data: {\"delta\":\"hm\",\"sequence_number\":4,\"type\":\"response.reasoning_text.delta\"}"
        "\n\n"
        "event: response.output_text.delta\n"
        "data: {\"content_index\":0,\"delta\":\"Hi\",\"item_id\":\"m\",\"sequence_number\":5,"
        "\"type\":\"response.output_text.delta\"}\n\n"
        "event: response.output_text.delta\n"
        "data: {\"type\": \"response.output_text.delta\", \"delta\": \" there\"}\n\n"
        "event: response.output_text.done\n"
        "data: {\"text\":\"Hi there response.x.delta\",\"sequence_number\":7,"
        "\"type\":\"response.output_text.done\"}\n\n"
        "event: response.completed\n"
        "data: {\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":5,\"output_tokens\":3}},"
        "\"sequence_number\":8,\"type\":\"response.completed\"}\n\n";
    assert_int_equal(sse_tokens(ev, strlen(ev), SY_DECODE_RESPONSES, true, 1), 3);
}

/* n sequences: the budget is n times max_tokens (or the mean); the mean is fed per sequence. */
static void test_choices(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    assert_int_equal(sy_decode_budget(&e, 100, 3), 300);
    assert_int_equal(sy_decode_budget(&e, 100, 0), 100);
    struct sy_decode d;
    sy_decode_begin(&d, &e, 100, 3); /* max_tokens per choice */
    assert_int_equal(left_of(&e), 300);
    sy_decode_progress(&d, 150); /* every choice's events */
    assert_int_equal(left_of(&e), 150);
    assert_float_equal(done_of(&e), 0.5, 1e-6);
    sy_decode_end(&d, 240); /* usage.completion_tokens sums the choices: 80 each */
    assert_int_equal(sy_decode_budget(&e, -1, 1), 80);
    assert_int_equal(sy_decode_budget(&e, -1, 2), 160);
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
}

/* decode_done moves in steps of at least 1/64 of a request (fewer writes to the endpoint's shared
 * line), decode_left every token; the end releases exactly what was added. */
static void test_done_steps(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    struct sy_decode d;
    sy_decode_begin(&d, &e, 1000, 1);
    sy_decode_progress(&d, 5); /* 0.005 < 1/64 */
    assert_int_equal(left_of(&e), 995);
    assert_int_equal(atomic_load(&e.decode_done), 0);
    sy_decode_progress(&d, 15); /* 0.015 < 1/64 */
    assert_int_equal(atomic_load(&e.decode_done), 0);
    sy_decode_progress(&d, 16); /* 0.016 >= 1/64 */
    assert_float_equal(done_of(&e), 0.016, 1e-6);
    sy_decode_progress(&d, 20);
    assert_float_equal(done_of(&e), 0.016, 1e-6);
    sy_decode_progress(&d, 5000); /* past the budget: the last token's share at once */
    assert_int_equal(left_of(&e), 1);
    assert_float_equal(done_of(&e), 0.999, 1e-6);
    sy_decode_end(&d, 5000);
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
}

/* Huge numbers from a client (max_tokens, n) or a backend (usage): clamped, no overflow (UBSan). */
static void test_huge(void **state)
{
    (void)state;
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    int64_t big = (int64_t)1 << 62;
    assert_int_equal(sy_decode_budget(&e, big, 1), SY_DECODE_MAX);
    assert_int_equal(sy_decode_budget(&e, big, big), SY_DECODE_MAX);
    struct sy_decode d1, d2;
    sy_decode_begin(&d1, &e, big, 1);
    sy_decode_begin(&d2, &e, big, big);
    assert_int_equal(left_of(&e), 2 * SY_DECODE_MAX);
    sy_decode_progress(&d1, INT64_MAX);
    assert_int_equal(left_of(&e), SY_DECODE_MAX + 1);
    sy_decode_end(&d1, INT64_MAX);
    sy_decode_end(&d2, -1); /* failed: no sample (a sample of 2^62 / 4096 would move the mean) */
    assert_int_equal(left_of(&e), 0);
    assert_int_equal(atomic_load(&e.decode_done), 0);
    assert_int_equal(sy_decode_budget(&e, -1, 1), SY_DECODE_MAX);
    sy_decode_begin(&d1, &e, -1, 1);
    sy_decode_end(&d1, INT64_MAX); /* the mean stays at the clamp */
    assert_int_equal(sy_decode_budget(&e, -1, 1), SY_DECODE_MAX);
    assert_int_equal(left_of(&e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_end), cmocka_unit_test(test_every_exit_releases),
        cmocka_unit_test(test_no_budget),        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_mean_out),         cmocka_unit_test(test_sse_tokens),
        cmocka_unit_test(test_sse_not_tokens),   cmocka_unit_test(test_sse_responses),
        cmocka_unit_test(test_choices),          cmocka_unit_test(test_huge),
        cmocka_unit_test(test_done_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
