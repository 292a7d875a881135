/* Unit tests for src/tokenize/chat_context.c and chat.c: the template context vLLM builds for an
 * OpenAI chat request (messages rebuilt, content parts joined, tool_calls arguments parsed, tools
 * as pydantic's model_dump() gives them, documents, chat_template_kwargs merged last), the errors
 * vLLM answers 400 for, and rendering with continue_final_message. Expected contexts are written
 * by hand from vLLM's chat_utils.py / serving_chat.py rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "tokenize/chat.h"

/* Builds the context of body and compares it (compact JSON) with want. */
static void expect_ctx(const char *body, const char *want)
{
    cJSON *req = cJSON_Parse(body);
    if (!req)
        fail_msg("bad test body %s", body);
    cJSON *ctx = NULL;
    bool cfm = true;
    char err[256];
    int rc = sy_chat_context(req, NULL, NULL, &ctx, &cfm, err, sizeof err);
    if (rc)
        fail_msg("context of %s: %s", body, err);
    char *got = cJSON_PrintUnformatted(ctx);
    if (strcmp(got, want) != 0)
        fail_msg("body %s\n  want %s\n  got  %s", body, want, got);
    assert_false(cfm);
    free(got);
    cJSON_Delete(ctx);
    cJSON_Delete(req);
}

/* Expects SY_EPARSE with needle in the message. */
static void expect_ctx_error(const char *body, const char *needle)
{
    cJSON *req = cJSON_Parse(body);
    cJSON *ctx = (cJSON *)1;
    bool cfm;
    char err[256] = "";
    int rc = sy_chat_context(req, NULL, NULL, &ctx, &cfm, err, sizeof err);
    if (rc != SY_EPARSE || !strstr(err, needle))
        fail_msg("body %s: rc %d err \"%s\", want \"%s\"", body, rc, err, needle);
    assert_null(ctx);
    cJSON_Delete(req);
}

#define CTX_TAIL "\"documents\":null,\"add_generation_prompt\":true}"

static void test_plain_messages(void **state)
{
    (void)state;
    expect_ctx("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":null," CTX_TAIL);
    /* content null or absent -> ""; fields vLLM does not carry are dropped */
    expect_ctx("{\"messages\":[{\"role\":\"system\",\"content\":null,\"extra\":1},"
               "{\"role\":\"user\",\"name\":\"bob\"}]}",
               "{\"messages\":[{\"role\":\"system\",\"content\":\"\"},{\"role\":\"user\","
               "\"content\":\"\",\"name\":\"bob\"}],\"tools\":null," CTX_TAIL);
}

static void test_content_parts(void **state)
{
    (void)state;
    /* text parts joined with "\n"; bare strings, refusal and thinking parts count as text; a
     * text part without text is skipped */
    expect_ctx("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
               "\"b\",{\"type\":\"text\"},{\"type\":\"input_text\",\"text\":\"c\"},"
               "{\"type\":\"refusal\",\"refusal\":\"no\"},"
               "{\"type\":\"thinking\",\"thinking\":\"t\"}]}]}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\nb\\nc\\nno\\nt\"}],"
               "\"tools\":null," CTX_TAIL);
    expect_ctx("{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"x\",\"content\":[]}]}",
               "{\"messages\":[{\"role\":\"tool\",\"content\":\"\",\"tool_call_id\":\"x\"}],"
               "\"tools\":null," CTX_TAIL);
    expect_ctx_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                     "\"image_url\":{\"url\":\"http://x\"}}]}]}",
                     "messages[0].content[0]: part type 'image_url' is not text");
    expect_ctx_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                     "messages[0].content[0]: missing 'type'");
    expect_ctx_error("{\"messages\":[{\"role\":\"user\",\"content\":7}]}",
                     "messages[0].content: expected a string, a list of parts or null");
    expect_ctx_error("{\"messages\":[{\"content\":\"x\"}]}", "messages[0]: each message must be");
    expect_ctx_error("{\"messages\":{}}", "messages: expected a JSON array");
    expect_ctx_error("[1]", "request: expected a JSON object");
}

static void test_assistant_tool_calls(void **state)
{
    (void)state;
    /* arguments: a JSON string is parsed, invalid JSON and null become {}, objects stay;
     * reasoning_content is carried as both reasoning and reasoning_content */
    expect_ctx(
        "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"r\","
        "\"tool_calls\":[{\"id\":\"1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"b\\\": 2, \\\"a\\\": [1]}\"}},"
        "{\"id\":\"2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{oops\"}}"
        ","
        "{\"id\":\"3\",\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":null}},"
        "{\"id\":\"4\",\"type\":\"function\",\"function\":{\"name\":\"k\",\"arguments\":{\"z\":1}}}"
        "]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
        "{\"id\":\"1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"b\":2,"
        "\"a\":[1]}}},{\"id\":\"2\",\"type\":\"function\",\"function\":{\"name\":\"g\","
        "\"arguments\":{}}},{\"id\":\"3\",\"type\":\"function\",\"function\":{\"name\":\"h\","
        "\"arguments\":{}}},{\"id\":\"4\",\"type\":\"function\",\"function\":{\"name\":\"k\","
        "\"arguments\":{\"z\":1}}}],\"reasoning\":\"r\",\"reasoning_content\":\"r\"}],"
        "\"tools\":null," CTX_TAIL);
    /* an empty tool_calls list is dropped */
    expect_ctx(
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}],\"tools\":null," CTX_TAIL);
    expect_ctx_error("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"name\":\"f\"}]}]}",
                     "messages[0].tool_calls[0]: expected an object with a 'function' object");
    expect_ctx_error("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}",
                     "messages[0].tool_calls: expected a list");
}

static void test_tools(void **state)
{
    (void)state;
    /* model_dump(): type first, function's declared fields in declaration order with null for
     * the absent ones, then the client's extras in their order */
    expect_ctx("{\"messages\":[],\"tool_choice\":\"none\",\"tools\":[{\"function\":{\"strict\":"
               "true,\"parameters\":{\"type\":\"object\"},\"name\":\"f\"},\"x\":1},"
               "{\"type\":\"function\",\"function\":{\"name\":\"g\",\"description\":\"d\"}}]}",
               "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
               "\"description\":null,\"parameters\":{\"type\":\"object\"},\"strict\":true},"
               "\"x\":1},{\"type\":\"function\",\"function\":{\"name\":\"g\",\"description\":"
               "\"d\",\"parameters\":null}}]," CTX_TAIL);
    expect_ctx("{\"messages\":[],\"tools\":null}", "{\"messages\":[],\"tools\":null," CTX_TAIL);
    /* malformed tools: the error names the field (the gateway falls back to the estimate, the
     * simulator answers 400, as vLLM does) */
    expect_ctx_error("{\"messages\":[],\"tools\":{\"type\":\"function\"}}",
                     "tools: expected a list");
    expect_ctx_error("{\"messages\":[],\"tools\":[\"f\"]}", "tools[0]: expected an object");
    expect_ctx_error("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{}}]}",
                     "tools[0].function: expected an object with a string 'name'");
    expect_ctx_error("{\"messages\":[],\"tools\":[{\"type\":\"retrieval\",\"function\":"
                     "{\"name\":\"f\"}}]}",
                     "tools[0].type: expected \"function\"");
    expect_ctx_error("{\"messages\":[],\"tools\":[{\"function\":{\"name\":\"f\","
                     "\"parameters\":\"x\"}}]}",
                     "tools[0].function: 'parameters' must be an object");
}

static void test_kwargs_and_flags(void **state)
{
    (void)state;
    /* Qwen3's enable_thinking reaches the template; kwargs win over request fields;
     * chat_template and tokenize are dropped */
    expect_ctx("{\"messages\":[],\"add_generation_prompt\":false,\"chat_template_kwargs\":"
               "{\"enable_thinking\":false,\"add_generation_prompt\":true,\"chat_template\":\"x\","
               "\"tokenize\":true}}",
               "{\"messages\":[],\"tools\":null,\"documents\":null,\"add_generation_prompt\":true,"
               "\"enable_thinking\":false}");
    expect_ctx("{\"messages\":[],\"documents\":[{\"title\":\"t\",\"text\":\"x\"}]}",
               "{\"messages\":[],\"tools\":null,\"documents\":[{\"title\":\"t\",\"text\":\"x\"}],"
               "\"add_generation_prompt\":true}");
    expect_ctx_error("{\"messages\":[],\"documents\":[{\"n\":1}]}",
                     "documents[0].n: expected a string");
    expect_ctx_error("{\"messages\":[],\"chat_template_kwargs\":[1]}",
                     "chat_template_kwargs: expected a JSON object");
    expect_ctx_error("{\"messages\":[],\"add_generation_prompt\":\"yes\"}",
                     "add_generation_prompt: expected true or false");
    expect_ctx_error("{\"messages\":[],\"continue_final_message\":true}", "cannot both be true");
    expect_ctx_error("{\"messages\":[],\"chat_template_kwargs\":{\"messages\":[]}}",
                     "'messages' cannot be overridden");
}

/* A Qwen3-shaped template: tools, enable_thinking and a generation prompt. */
static const char CONFIG[] =
    "{\"eos_token\":\"<|im_end|>\",\"chat_template\":\""
    "{%- if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>\\n{% endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\\n{{ m.content }}"
    "{%- if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function.arguments | tojson "
    "}}"
    "</tool_call>{% endfor %}{% endif %}<|im_end|>\\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\\n\\n</think>\\n\\n"
    "{% endif %}{% endif %}\"}";

static void expect_render(const struct sy_chat *c, const char *body, const char *want)
{
    char *out = NULL, err[256];
    size_t n = 0;
    int rc = sy_chat_render_request(c, body, strlen(body), &out, &n, err, sizeof err);
    if (rc)
        fail_msg("render %s: %s", body, err);
    if (strcmp(out, want) != 0 || n != strlen(want))
        fail_msg("body %s\n  want \"%s\"\n  got  \"%s\"", body, want, out);
    free(out);
}

static void test_render(void **state)
{
    (void)state;
    char err[256];
    struct sy_chat *c = sy_chat_load("/nonexistent", CONFIG, strlen(CONFIG), err, sizeof err);
    if (!c)
        fail_msg("load: %s", err);
    expect_render(
        c,
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"tools\":[{\"type\":\"function\","
        "\"function\":{\"name\":\"f\"}}],\"chat_template_kwargs\":{\"enable_thinking\":"
        "false}}",
        "<tools>{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": "
        "null, \"parameters\": null}}</tools>\n<|im_start|>user\na\nb<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    /* string arguments are rendered as the parsed object (tojson of a dict) */
    expect_render(c,
                  "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{"
                  "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
                  "\"{\\\"x\\\":1}\"}}]}],\"add_generation_prompt\":false}",
                  "<|im_start|>assistant\n<tool_call>{\"x\": 1}</tool_call><|im_end|>\n");
    /* continue_final_message: the text stops right after the final message */
    expect_render(c,
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
                  "\"content\":\"The answer is\"}],\"add_generation_prompt\":false,"
                  "\"continue_final_message\":true}",
                  "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nThe answer is");
    /* messages + tools entry point: the same path */
    char *out = NULL;
    size_t n;
    const char *msgs = "[{\"role\":\"user\",\"content\":[\"x\",\"y\"]}]";
    const char *tools = "[{\"function\":{\"name\":\"g\",\"parameters\":{}}}]";
    assert_int_equal(sy_chat_render(c, msgs, strlen(msgs), tools, strlen(tools), true, &out, &n,
                                    err, sizeof err),
                     0);
    assert_string_equal(out, "<tools>{\"type\": \"function\", \"function\": {\"name\": \"g\", "
                             "\"description\": null, \"parameters\": {}}}</tools>\n"
                             "<|im_start|>user\nx\ny<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    const char *bad = "{\"messages\":[],\"tools\":[{\"type\":\"function\"}]}";
    assert_int_equal(sy_chat_render_request(c, bad, strlen(bad), &out, &n, err, sizeof err),
                     SY_EPARSE);
    assert_non_null(strstr(err, "tools[0].function"));
    sy_chat_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_messages),       cmocka_unit_test(test_content_parts),
        cmocka_unit_test(test_assistant_tool_calls), cmocka_unit_test(test_tools),
        cmocka_unit_test(test_kwargs_and_flags),     cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
