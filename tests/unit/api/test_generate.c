/* Unit tests for src/api/request.c on vLLM's /inference/v1/generate (llm-d's vllmhttp-parser) and
 * on passthrough requests (passthrough-parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/request.h"
#include "core/err.h"

static void test_generate(void **state)
{
    (void)state;
    struct sy_request r;
    char err[256];
    const char *b = "{\"token_ids\":[1, 2,3,40000],\"sampling_params\":{\"temperature\":0,"
                    "\"max_tokens\":12},\"stream\":true}";
    assert_int_equal(sy_request_parse(SY_API_GENERATE, b, strlen(b), &r, err, sizeof err), 0);
    assert_string_equal(r.model, ""); /* optional on generate */
    assert_true(r.stream);
    assert_int_equal(r.max_tokens, 12);
    assert_int_equal(r.prompt_tokens_est, 4); /* the token count, not bytes / 4 */
    assert_ptr_equal(r.prompt.p, strstr(b, "[1,"));
    assert_int_equal(r.prompt.len, strlen("[1, 2,3,40000]"));
    b = "{\"model\":\"m\",\"token_ids\":[7]}";
    assert_int_equal(sy_request_parse(SY_API_GENERATE, b, strlen(b), &r, err, sizeof err), 0);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.max_tokens, -1);
    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"model\":\"m\"}", "non-empty token_ids"},
        {"{\"token_ids\":[]}", "non-empty token_ids"},
        {"{\"token_ids\":\"1 2\"}", "token_ids"},
        {"{\"token_ids\":[1,\"2\"]}", "non-empty token_ids"},
        {"{\"token_ids\":[-1]}", "non-empty token_ids"},
        {"{\"token_ids\":[1],\"sampling_params\":[1]}", "sampling_params"},
        {"{\"token_ids\":[1],\"sampling_params\":{\"max_tokens\":\"x\"}}", "max_tokens"},
        {"{\"token_ids\":[1]", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = sy_request_parse(SY_API_GENERATE, bad[i].body, strlen(bad[i].body), &r, err,
                                  sizeof err);
        if (rc == 0 || !strstr(err, bad[i].needle))
            fail_msg("%s: rc %d err \"%s\", want \"%s\"", bad[i].body, rc, err, bad[i].needle);
    }
    assert_int_equal(sy_api_kind_from_path("/inference/v1/generate", 22), SY_API_GENERATE);
}

static void test_passthrough(void **state)
{
    (void)state;
    struct sy_request r;
    const char *b = "not even json";
    assert_int_equal(sy_request_passthrough(b, strlen(b), &r), 0);
    assert_int_equal(r.kind, SY_API_OTHER);
    assert_ptr_equal(r.body, b);
    assert_string_equal(r.model, "");
    assert_int_equal(r.prompt.len, 0);
    assert_int_equal(r.prompt_tokens_est, 0);
    assert_int_equal(r.max_tokens, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_generate),
                                       cmocka_unit_test(test_passthrough)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
