/* Unit tests for src/api/anthropic.c: the Messages request parse (prefix span, shape errors),
 * usage from responses and streams (message_start / message_delta), the error shape, and the
 * conversion to the OpenAI chat request vLLM renders (expected JSON written by hand from
 * vllm/entrypoints/anthropic/serving_messages.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/request.h"
#include "core/buf.h"
#include "core/err.h"

static void parse_ok(const char *body, struct sy_request *r)
{
    char err[256];
    int rc = sy_request_parse(SY_API_MESSAGES, body, strlen(body), r, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", body, err);
}

static void parse_err(const char *body, const char *needle)
{
    struct sy_request r;
    char err[256] = "";
    int rc = sy_request_parse(SY_API_MESSAGES, body, strlen(body), &r, err, sizeof err);
    if (rc == 0 || !strstr(err, needle))
        fail_msg("%s: rc %d err \"%s\", want \"%s\"", body, rc, err, needle);
}

static void test_route(void **state)
{
    (void)state;
    assert_int_equal(sy_api_kind_from_path("/v1/messages", 12), SY_API_MESSAGES);
    assert_int_equal(sy_api_kind_from_path("/v1/messages/count_tokens", 25), SY_API_OTHER);
}

static void test_parse_and_prefix_span(void **state)
{
    (void)state;
    struct sy_request r;
    const char *b = "{\"model\":\"claude-x\",\"max_tokens\":64,\"stream\":true,\"system\":\"You are"
                    " helpful.\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    parse_ok(b, &r);
    assert_string_equal(r.model, "claude-x");
    assert_true(r.stream);
    assert_int_equal(r.max_tokens, 64);
    const char *sys = strstr(b, "\"You are");
    const char *end = strstr(b, "}]}") + 2;
    assert_ptr_equal(r.prompt.p, sys);
    assert_int_equal(r.prompt.len, (size_t)(end - sys));
    assert_int_equal(r.prompt_tokens_est, (r.prompt.len + 3) / 4);
    /* no system: the messages array; system as text blocks; messages before system */
    b = "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"a\"},{\"type\":\"image\",\"source\":{}}]}]}";
    parse_ok(b, &r);
    assert_ptr_equal(r.prompt.p, strstr(b, "[{\"role\""));
    b = "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}],\"system\":[{\"type\":\"text\","
        "\"text\":\"S\"}],\"model\":\"m\",\"max_tokens\":2}";
    parse_ok(b, &r);
    assert_ptr_equal(r.prompt.p, strstr(b, "[{\"role\""));
    assert_ptr_equal(r.prompt.p + r.prompt.len, strstr(b, ",\"model\""));
    /* system: null is no system */
    b = "{\"model\":\"m\",\"max_tokens\":2,\"system\":null,\"messages\":[{\"role\":\"user\","
        "\"content\":\"x\"}]}";
    parse_ok(b, &r);
    assert_ptr_equal(r.prompt.p, strstr(b, "[{\"role\""));
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *ok = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char b[512];
    snprintf(b, sizeof b, "{\"model\":\"m\",%s}", ok);
    parse_err(b, "max_tokens: Field required");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":0,%s}", ok);
    parse_err(b, "greater than or equal to 1");
    snprintf(b, sizeof b, "{\"max_tokens\":3,%s}", ok);
    parse_err(b, "model");
    parse_err("{\"model\":\"m\",\"max_tokens\":3}", "messages: Field required");
    parse_err("{\"model\":\"m\",\"max_tokens\":3,\"messages\":\"x\"}", "must be an array");
    parse_err("{\"model\":\"m\",\"max_tokens\":3,\"messages\":[ ]}", "at least one item");
    parse_err(
        "{\"model\":\"m\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"tool\",\"content\":\"a\"}]}",
        "messages.1.role: Input should be 'user' or 'assistant'");
    parse_err("{\"model\":\"m\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":"
              "[{\"type\":\"text\"},{\"type\":5}]}]}",
              "messages.0.content.1.type");
    parse_err(
        "{\"model\":\"m\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":[1]}]}",
        "messages.0.content.0: Input should be a valid dictionary");
    parse_err(
        "{\"model\":\"m\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":[]}]}",
        "must not be empty");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":3,\"system\":{\"a\":1},%s}", ok);
    parse_err(b, "system: Input should be a string or a list of text blocks");
    snprintf(b, sizeof b,
             "{\"model\":\"m\",\"max_tokens\":3,\"system\":[{\"type\":\"text\",\"text\":1}],%s}",
             ok);
    parse_err(b, "system.0.text");
    parse_err("{\"model\":\"m\",\"max_tokens\":3,\"messages\":[", "malformed JSON");
}

static void test_usage(void **state)
{
    (void)state;
    int64_t in = -1, out = -1, cached = -1;
    const char *stream =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1,"
        "\"cache_read_input_tokens\":16,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0}}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"\\\"usage\\\": {\\\"output_tokens\\\": "
        "9}\"}}\n\n";
    sy_anthropic_usage(stream, strlen(stream), &in, &out, &cached);
    assert_int_equal(in, 25);
    assert_int_equal(out, 1);
    assert_int_equal(cached, 16);
    const char *delta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                        "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n";
    sy_anthropic_usage(delta, strlen(delta), &in, &out, &cached);
    assert_int_equal(in, 25); /* not in message_delta: unchanged */
    assert_int_equal(out, 15);
    assert_int_equal(cached, 16);
    /* vLLM's converter puts message_start's usage beside the message, and repeats input_tokens
     * in message_delta */
    in = out = cached = -1;
    const char *vllm =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"c\","
        "\"content\":[],\"model\":\"m\"},\"usage\":{\"input_tokens\":12,\"output_tokens\":0}}"
        "\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"input_tokens\":12,\"output_tokens\":7}}\n\n";
    sy_anthropic_usage(vllm, strlen(vllm), &in, &out, &cached);
    assert_int_equal(in, 12);
    assert_int_equal(out, 7);
    assert_int_equal(cached, -1);
    in = out = cached = -1;
    const char *full = "{\"id\":\"msg\",\"type\":\"message\",\"content\":[{\"type\":\"text\","
                       "\"text\":\"x\"}],\"usage\": {\"input_tokens\": 7, \"output_tokens\": 3}}";
    sy_anthropic_usage(full, strlen(full), &in, &out, &cached);
    assert_int_equal(in, 7);
    assert_int_equal(out, 3);
    assert_int_equal(cached, -1);
}

static void test_errors(void **state)
{
    (void)state;
    struct sy_buf b;
    sy_buf_init(&b);
    sy_anthropic_error_json(&b, 404, "The model `x` does not exist.");
    assert_string_equal(b.data, "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
                                "\"message\":\"The model `x` does not exist.\"}}");
    sy_buf_fini(&b);
    assert_string_equal(sy_anthropic_error_type(400), "invalid_request_error");
    assert_string_equal(sy_anthropic_error_type(429), "rate_limit_error");
    assert_string_equal(sy_anthropic_error_type(413), "request_too_large");
    assert_string_equal(sy_anthropic_error_type(502), "api_error");
    assert_string_equal(sy_anthropic_error_type(503), "overloaded_error");
    assert_non_null(
        strstr(sy_anthropic_stream_error_event, "event: error\ndata: {\"type\":\"error\""));
}

static void expect_chat(const char *body, const char *want)
{
    char *out = NULL, err[256];
    size_t len = 0;
    int rc = sy_anthropic_to_chat(body, strlen(body), &out, &len, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", body, err);
    if (strcmp(out, want) != 0)
        fail_msg("body %s\n  want %s\n  got  %s", body, want, out);
    assert_int_equal(len, strlen(out));
    free(out);
}

static void test_to_chat(void **state)
{
    (void)state;
    /* system string first; a string content stays a string */
    expect_chat(
        "{\"model\":\"m\",\"max_tokens\":5,\"system\":\"S\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"hi\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":"
        "\"user\",\"content\":\"hi\"}],\"max_tokens\":5}");
    /* system blocks joined; empty system dropped; one text part collapses; two stay parts;
     * empty text blocks dropped */
    expect_chat(
        "{\"model\":\"m\",\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\","
        "\"text\":\"B\"}],\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"\"},{\"type\":\"text\",\"text\":\"x\"}]},{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"p\"},{\"type\":\"text\",\"text\":\"q\"}]}],"
        "\"stream\":true}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"AB\"},{\"role\":"
        "\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"p\"},{\"type\":\"text\",\"text\":\"q\"}]}],\"stream\":true}");
    expect_chat("{\"model\":\"m\",\"system\":\"\",\"messages\":[{\"role\":\"user\",\"content\":"
                "\"x\"}]}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    /* tool_use -> tool_calls with json.dumps arguments; no text -> no content key; tool_result
     * (user) -> a tool message placed before the user message, tool_call_id from the block's
     * `id` as vLLM reads it, list content as Python's str() */
    expect_chat(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"tool_use\",\"id\":\"tu1\",\"name\":\"get\",\"input\":{\"city\":\"Par\\u00eds\","
        "\"n\":2,\"ok\":true}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
        "\"tool_use_id\":\"tu1\",\"content\":[{\"type\":\"text\",\"text\":\"it's 20\"}]},"
        "{\"type\":\"text\",\"text\":\"thanks\"}]}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"tu1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"city\\\": "
        "\\\"Par\\\\u00eds\\\", \\\"n\\\": 2, \\\"ok\\\": true}\"}}]},{\"role\":\"tool\","
        "\"tool_call_id\":\"\",\"content\":\"[{'type': 'text', 'text': \\\"it's 20\\\"}]\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}]}");
    /* assistant tool_result -> "Tool result: ..." text; a message left empty gets "" */
    expect_chat("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"tool_result\",\"content\":\"42\"}]},{\"role\":\"user\",\"content\":[{\"type\":"
                "\"text\",\"text\":\"\"}]}]}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"Tool result: "
                "42\"},{\"role\":\"user\",\"content\":\"\"}]}");
    /* tools as functions */
    expect_chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
                "[{\"name\":\"f\",\"description\":\"d\",\"input_schema\":{\"type\":\"object\"}}]}",
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
                "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
                "\"parameters\":{\"type\":\"object\"}}}]}");
    char *out = NULL, err[128];
    size_t len;
    assert_int_equal(sy_anthropic_to_chat("[1]", 3, &out, &len, err, sizeof err), SY_EPARSE);
    assert_int_equal(sy_anthropic_to_chat("{\"messages\":[]}", 15, &out, &len, err, sizeof err),
                     SY_EINVAL);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),        cmocka_unit_test(test_parse_and_prefix_span),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_usage),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_to_chat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
