/* Unit tests for src/bench/sse.c: the streamed-response parser, whatever the byte splits, with
 * CRLF and CR line ends, multi-line data, comments, malformed and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static void count_cb(void *ud)
{
    (*(int *)ud)++;
}

/* A vLLM-like completions stream: 3 tokens, an empty-text event, usage, [DONE]. */
static const char STREAM[] =
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"Hello\"}]}\n\n"
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"\"}]}\n\n"
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\" wor\"}]}\n\n"
    "data: "
    "{\"id\":\"c\",\"choices\":[{\"index\":0,\"text\":\"ld\",\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
    "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n"
    "data: [DONE]\n\n";

static void check_stream(const struct sy_sse *s, int calls)
{
    assert_null(s->err);
    assert_int_equal(s->content_events, 3);
    assert_int_equal(calls, 3);
    assert_int_equal(s->data_events, 6);
    assert_true(s->usage && s->done);
    assert_int_equal(s->completion_tokens, 3);
    assert_int_equal(s->prompt_tokens, 10);
    assert_int_equal(s->cached_tokens, 4);
    assert_int_equal(s->lines.line.len, 0);
    assert_int_equal(s->lines.ndata, 0);
}

/* STREAM with its line ends "\n" replaced by eol. */
static char *with_eol(const char *eol)
{
    static char out[2048];
    size_t o = 0;
    for (const char *p = STREAM; *p; p++) {
        if (*p == '\n') {
            memcpy(out + o, eol, strlen(eol));
            o += strlen(eol);
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}

static void test_whole_and_every_split(void **state)
{
    const char *eols[] = {"\n", "\r\n", "\r"};
    for (size_t k = 0; k < 3; k++) {
        const char *t = with_eol(eols[k]);
        size_t n = strlen(t);
        for (size_t cut = 0; cut <= n; cut++) {
            struct sy_sse s;
            int calls = 0;
            sy_sse_init(&s, count_cb, &calls);
            sy_sse_feed(&s, t, cut);
            sy_sse_feed(&s, t + cut, n - cut);
            sy_sse_finish(&s);
            check_stream(&s, calls);
            assert_int_equal(s.bytes, n);
            sy_sse_fini(&s);
        }
        for (size_t i = 1; i < n; i++) { /* two cuts, every pair */
            for (size_t j = i; j < n; j++) {
                struct sy_sse s;
                int calls = 0;
                sy_sse_init(&s, count_cb, &calls);
                sy_sse_feed(&s, t, i);
                sy_sse_feed(&s, t + i, j - i);
                sy_sse_feed(&s, t + j, n - j);
                check_stream(&s, calls); /* (all events end with a blank line: no finish) */
                sy_sse_fini(&s);
            }
        }
        struct sy_sse s; /* byte by byte */
        int calls = 0;
        sy_sse_init(&s, count_cb, &calls);
        for (size_t i = 0; i < n; i++)
            sy_sse_feed(&s, t + i, 1);
        check_stream(&s, calls);
        sy_sse_fini(&s);
    }
}

static void test_crlf_and_variants(void **state)
{
    /* CRLF everywhere, "data:" without a space, comments and other fields, a multi-line data
     * payload (its second line's value starts with a space: one starting '[' or '{' would
     * start a new event, sse_lines.h), and the last event without its line end */
    const char *t = ": keep-alive\r\n\r\n"
                    "event: message\r\nid: 1\r\ndata:{\"choices\":[{\"text\":\"a\"}]}\r\n\r\n"
                    "data: {\"choices\":\r\ndata:  [{\"text\":\"b\"}]}\r\n\r\n"
                    "retry: 10\r\n\r\n"
                    "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\r\n\r\n"
                    "data:[DONE]";
    struct sy_sse s;
    int calls = 0;
    sy_sse_init(&s, count_cb, &calls);
    sy_sse_feed(&s, t, strlen(t));
    assert_false(s.done); /* not yet: no blank line */
    sy_sse_finish(&s);
    assert_null(s.err);
    assert_int_equal(s.content_events, 2);
    assert_int_equal(s.data_events, 4);
    assert_true(s.done && s.usage);
    assert_int_equal(s.completion_tokens, 2);
    assert_int_equal(s.cached_tokens, 0);
    sy_sse_finish(&s); /* idempotent on an empty buffer */
    assert_int_equal(s.data_events, 4);
    sy_sse_fini(&s);
}

static void test_chat_deltas(void **state)
{
    const char *t =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":null}}]}\n\n"
        "data: {\"choices\":[\"notanobject\"]}\n\n"
        "data: {\"choices\":{}}\n\n"
        "data: {\"choices\":[]}\n\n";
    struct sy_sse s;
    int calls = 0;
    sy_sse_init(&s, count_cb, &calls);
    sy_sse_feed(&s, t, strlen(t));
    assert_null(s.err);
    assert_int_equal(s.content_events, 2); /* reasoning + content; the role chunk is not one */
    assert_int_equal(calls, 2);
    assert_false(s.usage);
    sy_sse_fini(&s);
}

static void test_errors(void **state)
{
    struct sy_sse s;
    sy_sse_init(&s, NULL, NULL);
    const char *t = "data: {not json}\n\n"
                    "data: {\"choices\":[{\"text\":\"x\"}]}\n\n"; /* parsing goes on */
    sy_sse_feed(&s, t, strlen(t));
    assert_non_null(s.err);
    assert_string_equal(s.err, "malformed JSON in an SSE data event");
    assert_int_equal(s.content_events, 1);
    const char *t2 = "data: {\"error\":{\"message\":\"later\"}}\n\n";
    sy_sse_feed(&s, t2, strlen(t2));
    assert_string_equal(s.err, "malformed JSON in an SSE data event"); /* the first is kept */
    sy_sse_fini(&s);

    const char *cases[][2] = {
        {"data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n",
         "error event: overloaded"},
        {"data: {\"error\":\"plain\"}\n\n", "error event: plain"},
        {"data: {\"error\":{}}\n\n", "error event: (no message)"},
        {"data: [1,2]\n\n", "malformed JSON in an SSE data event"},
        {"data: 42\n\n", "malformed JSON in an SSE data event"},
        {"data: \n\n", "malformed JSON in an SSE data event"},
        {"data: [DONE] \n\n", "malformed JSON in an SSE data event"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_sse_init(&s, NULL, NULL);
        sy_sse_feed(&s, cases[i][0], strlen(cases[i][0]));
        assert_non_null(s.err);
        assert_string_equal(s.err, cases[i][1]);
        sy_sse_fini(&s);
    }
    sy_sse_init(&s, NULL, NULL); /* "error": null is no error */
    const char *ok = "data: {\"error\":null,\"choices\":[{\"text\":\"x\"}]}\n\n";
    sy_sse_feed(&s, ok, strlen(ok));
    assert_null(s.err);
    assert_int_equal(s.content_events, 1);
    sy_sse_fini(&s);
}

static void test_usage_types(void **state)
{
    const char *cases[] = {
        "data: {\"usage\":{\"completion_tokens\":\"5\",\"prompt_tokens\":-3}}\n\n",
        "data: {\"usage\":{\"completion_tokens\":1e12,\"prompt_tokens\":null}}\n\n",
        "data: {\"usage\":{\"prompt_tokens_details\":[1]}}\n\n",
    };
    for (size_t i = 0; i < 3; i++) {
        struct sy_sse s;
        sy_sse_init(&s, NULL, NULL);
        sy_sse_feed(&s, cases[i], strlen(cases[i]));
        assert_null(s.err);
        assert_true(s.usage);
        assert_int_equal(s.completion_tokens, 0);
        assert_int_equal(s.prompt_tokens, 0);
        assert_int_equal(s.cached_tokens, 0);
        sy_sse_fini(&s);
    }
    struct sy_sse s; /* "usage": null (vLLM's chunks before the last) is not usage */
    sy_sse_init(&s, NULL, NULL);
    const char *t = "data: {\"choices\":[{\"text\":\"a\"}],\"usage\":null}\n\n";
    sy_sse_feed(&s, t, strlen(t));
    assert_false(s.usage);
    sy_sse_fini(&s);
}

/* One 70 KB content event (a server that sends the output in one chunk), usage, [DONE]: measured
 * like any other stream (the gateway's 64 KiB cap is not the bench's), however it is cut. */
static void test_long_event(void **state)
{
    (void)state;
    size_t n = 70000;
    char *big = malloc(n + 200);
    int len = snprintf(big, 200, "data: {\"choices\":[{\"index\":0,\"text\":\"");
    memset(big + len, 'x', n);
    len += (int)n;
    len += snprintf(big + len, 200,
                    "\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                    "\"completion_tokens\":700}}\n\ndata: [DONE]\n\n");
    static const size_t pieces[] = {(size_t)1 << 30, 4096, 1000, 7};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        struct sy_sse s;
        int calls = 0;
        sy_sse_init(&s, count_cb, &calls);
        for (size_t off = 0; off < (size_t)len; off += pieces[k]) {
            size_t m = (size_t)len - off < pieces[k] ? (size_t)len - off : pieces[k];
            sy_sse_feed(&s, big + off, m);
        }
        sy_sse_finish(&s);
        assert_null(s.err);
        assert_int_equal(s.content_events, 1);
        assert_int_equal(calls, 1);
        assert_int_equal(s.data_events, 3);
        assert_true(s.usage && s.done);
        assert_int_equal(s.completion_tokens, 700);
        assert_int_equal(s.prompt_tokens, 5);
        assert_int_equal(s.lines.truncated, 0);
        sy_sse_fini(&s);
    }
    free(big);
}

static void test_oversized_event(void **state)
{
    struct sy_sse s;
    sy_sse_init(&s, NULL, NULL);
    size_t n = 1 << 20;
    char *junk = malloc(n);
    memset(junk, 'x', n);
    for (int i = 0; i < 17; i++) /* a 17 MiB line that is not a data line: skipped */
        sy_sse_feed(&s, junk, n);
    assert_null(s.err);
    const char *t = "\n\ndata: {\"choices\":[{\"text\":\"a\"}]}\n\n"; /* goes on */
    sy_sse_feed(&s, t, strlen(t));
    assert_int_equal(s.content_events, 1);
    sy_sse_feed(&s, "data: ", 6); /* a 17 MiB data line: an error, memory stays bounded */
    for (int i = 0; i < 17; i++) {
        sy_sse_feed(&s, junk, n);
        assert_true(s.lines.line.cap <= SY_BENCH_SSE_CAP && s.lines.data.cap <= SY_BENCH_SSE_CAP);
    }
    free(junk);
    assert_null(s.err); /* (not before its event ends) */
    sy_sse_feed(&s, t, strlen(t));
    assert_non_null(s.err);
    assert_string_equal(s.err, "an SSE event's data exceeded 16 MiB");
    assert_int_equal(s.data_events, 3);
    assert_int_equal(s.content_events, 2); /* recovers */
    sy_sse_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_every_split),
        cmocka_unit_test(test_crlf_and_variants),
        cmocka_unit_test(test_chat_deltas),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_usage_types),
        cmocka_unit_test(test_oversized_event),
        cmocka_unit_test(test_long_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
