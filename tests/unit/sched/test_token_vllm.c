/* Unit tests for src/sched/token_vllm.c (token-producer backend vllm): the request it builds
 * (endpoint per API and kind, body spliced with modelName, timeouts), the three answer shapes,
 * the cache (hit after a success, bounded by cacheMaxTokens), and the fallback accounting. The
 * exchange itself runs in tests/integration/test_token_vllm.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "sched/token_vllm.h"
#include "unit/sched/sched_helpers.h"

static struct sy_token_vllm *mk(const char *yaml, const char *model)
{
    char err[256];
    struct sy_yaml_node *root = sy_yaml_load_string(yaml, strlen(yaml), "t.yaml", err, sizeof err);
    assert_non_null(root);
    struct sy_plugin_env env = {.file = "t.yaml", .line = 1, .name = "tp", .path = "plugins[0]"};
    struct sy_token_vllm *tv = sy_token_vllm_new(root, model, &env, err, sizeof err);
    sy_yaml_free(root);
    return tv;
}

static void parse(struct sy_request *r, enum sy_api_kind kind, const char *body)
{
    char err[128];
    assert_int_equal(sy_request_parse(kind, body, strlen(body), r, err, sizeof err), 0);
}

static char *joined(const struct sy_token_vllm_call *c)
{
    struct sy_buf b;
    sy_buf_init(&b);
    for (int i = 0; i < 3; i++)
        sy_buf_append(&b, c->piece[i], c->len[i]);
    sy_buf_append(&b, "", 1);
    return sy_buf_steal(&b, NULL);
}

static void test_request_and_shapes(void **state)
{
    struct sy_token_vllm *tv = mk("url: http://127.0.0.1:8000/base/\ntimeout: 250ms\n", "base/m");
    assert_non_null(tv);
    assert_string_equal(sy_token_vllm_hostport(tv), "127.0.0.1:8000");
    struct sy_request r;
    static const char chat[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":"
                               "\"lora-a\",\"max_tokens\":3}";
    parse(&r, SY_API_CHAT_COMPLETIONS, chat);
    struct sy_token_vllm_call call;
    struct sy_token_vllm_result res;
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), 0);
    /* llm-d: the whole payload with model = modelName, to the chat render endpoint */
    char *body = joined(&call);
    assert_string_equal(body, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":"
                              "\"base/m\",\"max_tokens\":3}");
    assert_non_null(strstr(call.head.data, "POST /base/v1/chat/completions/render HTTP/1.1\r\n"));
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", strlen(body));
    assert_non_null(strstr(call.head.data, cl));
    assert_int_equal(call.timeout_ns, 250 * 1000000ull);
    free(body);
    /* render chat answer -> ids, cached: the same request is now a hit */
    sy_token_vllm_finish(tv, &call, 0, 200, "{\"token_ids\":[5,6,7]}", 21, &res);
    assert_true(res.ok);
    assert_int_equal(res.n, 3);
    assert_int_equal(res.ids[2], 7);
    free(res.ids);
    sy_token_vllm_call_fini(&call);
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), 1);
    assert_true(res.ok && res.n == 3 && res.ids[0] == 5);
    free(res.ids);

    /* media content lists get mmTimeout (30 s default) */
    static const char mm[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\": "
                             "[{\"type\":\"text\",\"text\":\"x\"}]}]}";
    parse(&r, SY_API_CHAT_COMPLETIONS, mm);
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), 0);
    assert_int_equal(call.timeout_ns, 30ull * 1000000000ull);
    /* failures: counted, never ok */
    sy_token_vllm_finish(tv, &call, SY_ETIMEDOUT, 0, "", 0, &res);
    assert_false(res.ok);
    sy_token_vllm_finish(tv, &call, 0, 500, "{\"error\":\"boom\"}", 16, &res);
    assert_false(res.ok);
    sy_token_vllm_finish(tv, &call, 0, 200, "{\"nope\":1}", 10, &res);
    assert_false(res.ok);
    sy_token_vllm_call_fini(&call);
    struct sy_buf m;
    sy_buf_init(&m);
    sy_token_vllm_metrics_collect(NULL, &m);
    sy_buf_append(&m, "", 1);
    assert_non_null(strstr(m.data, "reason=\"timeout\"} 1\n"));
    assert_non_null(strstr(m.data, "reason=\"status\"} 1\n"));
    assert_non_null(strstr(m.data, "reason=\"bad_response\"} 1\n"));
    assert_non_null(strstr(m.data, "result=\"cache_hit\"} 1\n"));
    sy_buf_fini(&m);

    /* completions: render's list shape; token-id prompts are not sent */
    parse(&r, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"hello\"}");
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), 0);
    assert_non_null(strstr(call.head.data, "POST /base/v1/completions/render "));
    sy_token_vllm_finish(tv, &call, 0, 200, "[{\"token_ids\":[9]}]", 19, &res);
    assert_true(res.ok && res.n == 1 && res.ids[0] == 9);
    free(res.ids);
    sy_token_vllm_call_fini(&call);
    parse(&r, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,2,3]}");
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), -1);
    sy_token_vllm_free(tv);
}

static void test_tokenize_api_and_cache_bound(void **state)
{
    struct sy_token_vllm *tv =
        mk("url: http://localhost:9\napi: tokenize\ncacheSize: 4\ncacheMaxTokens: 5\n", "m");
    assert_non_null(tv);
    struct sy_request r;
    struct sy_token_vllm_call call;
    struct sy_token_vllm_result res;
    parse(&r, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"a\"}");
    assert_int_equal(sy_token_vllm_prepare(tv, &r, &call, &res), 0);
    assert_non_null(strstr(call.head.data, "POST /tokenize HTTP/1.1\r\nHost: localhost:9\r\n"));
    /* vLLM's /tokenize answer */
    const char *ans = "{\"count\":3,\"max_model_len\":8192,\"tokens\":[1,2,3],\"token_strs\":null}";
    sy_token_vllm_finish(tv, &call, 0, 200, ans, strlen(ans), &res);
    assert_true(res.ok && res.n == 3);
    free(res.ids);
    sy_token_vllm_call_fini(&call);
    /* a second prompt of 3 ids: 6 > cacheMaxTokens 5, the first is evicted */
    struct sy_request r2;
    parse(&r2, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"b\"}");
    assert_int_equal(sy_token_vllm_prepare(tv, &r2, &call, &res), 0);
    sy_token_vllm_finish(tv, &call, 0, 200, ans, strlen(ans), &res);
    free(res.ids);
    sy_token_vllm_call_fini(&call);
    int hits = 0;
    for (int k = 0; k < 2; k++) {
        int rc = sy_token_vllm_prepare(tv, k ? &r2 : &r, &call, &res);
        hits += rc == 1;
        if (rc == 1)
            free(res.ids);
        else
            sy_token_vllm_call_fini(&call);
    }
    assert_int_equal(hits, 1);
    sy_token_vllm_free(tv);
}

/* llm-d's backend selection (tokenizer.go): `vllm` or `modelName` selects the vLLM backend when no
 * backend is named; Switchyard applies the modelName rule to llm-d.ai configs only (v0.8's
 * `tokenizer` plugin with modelName tokenized locally, which here is the estimate). */
static void test_backend_selection(void **state)
{
    char err[512];
    static const char *const cfgs[][2] = {
        {"llm-d.ai/v1alpha1", "  parameters:\n    modelName: m\n"},
        {"llm-d.ai/v1alpha1", "  parameters:\n    vllm:\n      url: http://127.0.0.1:9\n"
                              "    modelName: m\n"},
        {"inference.networking.x-k8s.io/v1alpha1", "  parameters:\n    modelName: m\n"},
        {"llm-d.ai/v1alpha1", "  parameters:\n    backend: estimate\n    modelName: m\n"},
    };
    const bool want[] = {true, true, false, false};
    for (size_t i = 0; i < 4; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "apiVersion: %s\nkind: EndpointPickerConfig\nplugins:\n- type: token-producer\n%s"
                 "- type: max-score-picker\n",
                 cfgs[i][0], cfgs[i][1]);
        struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
        if (!s)
            fail_msg("%s", err);
        assert_int_equal(sy_sched_token_vllm(s) != NULL, want[i]);
        sy_sched_free(s);
    }
}

/* Token producers run before the producers that consume their ids, whatever the config order. */
static void test_token_producers_run_first(void **state)
{
    char err[512];
    struct sy_scheduler *s = fx_sched("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
                                      "plugins:\n- type: approx-prefix-cache-producer\n"
                                      "- type: burst-prefix-cache-producer\n"
                                      "- type: token-producer\n- type: prefix-cache-scorer\n"
                                      "- type: max-score-picker\n",
                                      err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(s->nproducers, 3);
    assert_string_equal(s->producers[0]->ops->type, "token-producer");
    assert_string_equal(s->producers[1]->ops->type, "approx-prefix-cache-producer");
    assert_string_equal(s->producers[2]->ops->type, "burst-prefix-cache-producer");
    sy_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_and_shapes),
        cmocka_unit_test(test_tokenize_api_and_cache_bound),
        cmocka_unit_test(test_backend_selection),
        cmocka_unit_test(test_token_producers_run_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
