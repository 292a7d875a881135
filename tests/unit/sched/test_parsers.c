/* Unit tests for src/sched/parsers.c: llm-d's request parsers. Which parser (and API kind) reads a
 * POST to a path for the defaults (router list for llm-d.ai configs, openai-parser alone for the
 * legacy v0.8 apiVersion), for requestHandler.parsers lists (first claim wins, passthrough is the
 * fallback), v0.8's `parser`, and the config errors with FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

#define HEAD "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"

static struct sy_scheduler *load(const char *yaml)
{
    char err[512];
    struct sy_scheduler *s =
        yaml ? fx_sched(yaml, err, sizeof err) : sy_sched_new(NULL, NULL, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    return s;
}

static void expect(const struct sy_scheduler *s, const char *path, enum sy_parser want,
                   enum sy_api_kind want_kind)
{
    enum sy_api_kind k = (enum sy_api_kind) - 1;
    enum sy_parser p = sy_sched_parser_for(s, path, strlen(path), &k);
    if (p != want || k != want_kind)
        fail_msg("%s: parser %s kind %d, want %s kind %d", path, sy_parser_name(p), (int)k,
                 sy_parser_name(want), (int)want_kind);
}

static void expect_err(const char *yaml, const char *needle)
{
    char err[512] = "";
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (s || !strstr(err, needle))
        fail_msg("want error \"%s\", got %s \"%s\"", needle, s ? "a scheduler" : "", err);
}

static void test_router_defaults(void **state)
{
    (void)state;
    struct sy_scheduler *s = load(HEAD "plugins:\n- type: queue-scorer\n");
    expect(s, "/v1/chat/completions", SY_PARSER_OPENAI, SY_API_CHAT_COMPLETIONS);
    expect(s, "/v1/completions", SY_PARSER_OPENAI, SY_API_COMPLETIONS);
    expect(s, "/v1/responses", SY_PARSER_OPENAI, SY_API_RESPONSES);
    expect(s, "/v1/embeddings", SY_PARSER_OPENAI, SY_API_EMBEDDINGS);
    expect(s, "/v1/messages", SY_PARSER_ANTHROPIC, SY_API_MESSAGES);
    expect(s, "/inference/v1/generate", SY_PARSER_VLLMHTTP, SY_API_GENERATE);
    expect(s, "/v1/audio/transcriptions", SY_PARSER_PASSTHROUGH, SY_API_OTHER);
    /* claims are suffixes, as in llm-d */
    expect(s, "/openai/v1/chat/completions", SY_PARSER_OPENAI, SY_API_CHAT_COMPLETIONS);
    sy_sched_free(s);
    s = load(NULL); /* the built-in default is an llm-d.ai config */
    expect(s, "/v1/messages", SY_PARSER_ANTHROPIC, SY_API_MESSAGES);
    sy_sched_free(s);
}

static void test_legacy_default_is_openai_only(void **state)
{
    (void)state;
    struct sy_scheduler *s = load("apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                                  "kind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\n");
    expect(s, "/v1/chat/completions", SY_PARSER_OPENAI, SY_API_CHAT_COMPLETIONS);
    expect(s, "/v1/messages", SY_PARSER_NONE, SY_API_OTHER);
    expect(s, "/inference/v1/generate", SY_PARSER_NONE, SY_API_OTHER);
    expect(s, "/v1/other", SY_PARSER_NONE, SY_API_OTHER);
    sy_sched_free(s);
}

static void test_configured_lists(void **state)
{
    (void)state;
    /* openai alone: the Messages API and other paths are refused */
    struct sy_scheduler *s =
        load(HEAD "plugins:\n- type: openai-parser\n- type: queue-scorer\n"
                  "requestHandler:\n  parsers:\n  - pluginRef: openai-parser\n");
    expect(s, "/v1/chat/completions", SY_PARSER_OPENAI, SY_API_CHAT_COMPLETIONS);
    expect(s, "/v1/messages", SY_PARSER_NONE, SY_API_OTHER);
    expect(s, "/inference/v1/generate", SY_PARSER_NONE, SY_API_OTHER);
    sy_sched_free(s);
    /* llm-d's README example: openai + anthropic on one route, named instances */
    s = load(HEAD "plugins:\n- name: maxScore\n  type: max-score-picker\n"
                  "- name: openaiParser\n  type: openai-parser\n"
                  "- name: anthropicParser\n  type: anthropic-parser\n"
                  "schedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: maxScore\n"
                  "requestHandler:\n  parsers:\n  - pluginRef: openaiParser\n"
                  "  - pluginRef: anthropicParser\n");
    expect(s, "/v1/messages", SY_PARSER_ANTHROPIC, SY_API_MESSAGES);
    expect(s, "/v1/completions", SY_PARSER_OPENAI, SY_API_COMPLETIONS);
    expect(s, "/v1/other", SY_PARSER_NONE, SY_API_OTHER);
    sy_sched_free(s);
    /* passthrough first: it claims no path, so it only catches what the others leave */
    s = load(HEAD "plugins:\n- type: passthrough-parser\n- type: vllmhttp-parser\n"
                  "requestHandler:\n  parsers:\n  - pluginRef: passthrough-parser\n"
                  "  - pluginRef: vllmhttp-parser\n");
    expect(s, "/v1/chat/completions", SY_PARSER_VLLMHTTP, SY_API_CHAT_COMPLETIONS);
    expect(s, "/inference/v1/generate", SY_PARSER_VLLMHTTP, SY_API_GENERATE);
    expect(s, "/v1/messages", SY_PARSER_PASSTHROUGH, SY_API_OTHER);
    sy_sched_free(s);
    /* passthrough alone: every POST forwarded unread */
    s = load(HEAD "plugins:\n- type: passthrough-parser\n"
                  "requestHandler:\n  parsers:\n  - pluginRef: passthrough-parser\n"
                  "  propagatePriority: false\n");
    expect(s, "/v1/chat/completions", SY_PARSER_PASSTHROUGH, SY_API_OTHER);
    sy_sched_free(s);
    /* v0.8's single `parser` */
    s = load("apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
             "plugins:\n- type: anthropic-parser\nparser:\n  pluginRef: anthropic-parser\n");
    expect(s, "/v1/messages", SY_PARSER_ANTHROPIC, SY_API_MESSAGES);
    expect(s, "/v1/completions", SY_PARSER_NONE, SY_API_OTHER);
    sy_sched_free(s);
    /* an empty list keeps the defaults */
    s = load(HEAD "requestHandler:\n  parsers: []\n");
    expect(s, "/v1/messages", SY_PARSER_ANTHROPIC, SY_API_MESSAGES);
    sy_sched_free(s);
}

static void test_errors(void **state)
{
    (void)state;
    expect_err(HEAD "requestHandler:\n  parsers:\n  - pluginRef: nope\n",
               "epp.yaml:5: requestHandler.parsers[0].pluginRef: no plugin named 'nope'");
    expect_err(HEAD "plugins:\n- type: queue-scorer\nrequestHandler:\n  parsers:\n"
                    "  - pluginRef: queue-scorer\n",
               "'queue-scorer' is a queue-scorer, not a parser");
    expect_err(HEAD "plugins:\n- type: openai-parser\n- name: o2\n  type: openai-parser\n"
                    "requestHandler:\n  parsers:\n  - pluginRef: openai-parser\n"
                    "  - pluginRef: o2\n",
               "requestHandler.parsers[1].pluginRef: a second openai-parser");
    expect_err(HEAD "plugins:\n- type: openai-parser\nrequestHandler:\n  parsers:\n"
                    "  - pluginRef: openai-parser\n  propagatePriority: true\n",
               "requestHandler.propagatePriority: true is not supported");
    expect_err(HEAD "requestHandler:\n  parser: []\n", "requestHandler.parser: unknown key");
    expect_err(HEAD "requestHandler:\n  parsers: {pluginRef: x}\n", "must be a list");
    expect_err(HEAD "requestHandler:\n  parsers:\n  - plugin: x\n",
               "requestHandler.parsers[0].plugin: unknown key");
    expect_err(HEAD "plugins:\n- type: openai-parser\nparser: {pluginRef: openai-parser}\n"
                    "requestHandler: {parsers: [{pluginRef: openai-parser}]}\n",
               "not both");
    expect_err(HEAD "plugins:\n- type: openai-parser\n  parameters: {strict: true}\n", "strict");
    expect_err(HEAD "plugins:\n- type: vllmgrpc-parser\n", "vllmgrpc-parser");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_defaults),
        cmocka_unit_test(test_legacy_default_is_openai_only),
        cmocka_unit_test(test_configured_lists),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
