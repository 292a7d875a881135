/* Unit tests for src/sched/models_responder.c: llm-d's models-responder answer for GET /v1/models
 * (union over the pool, the lowest endpoint's copy of a duplicate, sorted by id, the server's own
 * public fields, 503 before any list was collected), and its configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "unit/sched/sched_helpers.h"

static void test_aggregate(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("10.0.0.2:8000", NULL, 0, 0, 0),
                                 fx_ep("10.0.0.1:8000", NULL, 0, 0, 0),
                                 fx_ep("10.0.0.3:8000", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_buf b;
    sy_buf_init(&b);
    /* nothing collected yet: 503, not an empty list */
    assert_int_equal(sy_sched_models_list(p, &b), 503);
    assert_int_equal(b.len, 0);

    const char *ids2[] = {"llama-3-8b", "legal"};
    const char *js2[] = {
        "{\"id\":\"llama-3-8b\",\"object\":\"model\",\"created\":2,"
        "\"owned_by\":\"vllm\"}",
        "{\"id\":\"legal\",\"object\":\"model\",\"created\":2,\"owned_by\":\"b\"}"};
    sy_endpoint_set_models_meta(eps[0], ids2, js2, 2u, 2);
    const char *ids1[] = {"llama-3-8b"};
    const char *js1[] = {"{\"id\":\"llama-3-8b\",\"object\":\"model\",\"created\":1,"
                         "\"owned_by\":\"vllm\"}"};
    sy_endpoint_set_models_meta(eps[1], ids1, js1, 0, 1);
    /* eps[2] never reported: skipped */
    assert_int_equal(sy_sched_models_list(p, &b), 200);
    assert_string_equal(b.data,
                        "{\"object\":\"list\",\"data\":["
                        "{\"id\":\"legal\",\"object\":\"model\",\"created\":2,\"owned_by\":\"b\"},"
                        "{\"id\":\"llama-3-8b\",\"object\":\"model\",\"created\":1,"
                        "\"owned_by\":\"vllm\"}]}");
    /* a list without per-entry fields (set_models) answers the ids */
    sy_buf_reset(&b);
    const char *ids3[] = {"a\"b"};
    sy_endpoint_set_models(eps[2], ids3, 1);
    assert_int_equal(sy_sched_models_list(p, &b), 200);
    assert_non_null(strstr(b.data, "{\"id\":\"a\\\"b\"}"));
    assert_true(strstr(b.data, "a\\\"b") < strstr(b.data, "legal"));
    sy_buf_fini(&b);
    sy_pool_unref(p);
}

static void test_config(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "models-responder", NULL, err, sizeof err), 0);
    assert_true(fp.ops->screener);
    assert_null(fp.ops->score);
    fx_plugin_free(&fp);
    assert_int_not_equal(fx_plugin_new(&fp, "models-responder", "foo: 1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "foo: unknown parameter"));
    /* declared beside a profile, it loads and is visible to the gateway */
    struct sy_scheduler *s =
        fx_sched("plugins:\n- type: queue-scorer\n- type: models-responder\n", err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_true(sy_sched_has_plugin(s, "models-responder"));
    sy_sched_free(s);
    /* it is not a scheduling plugin */
    s = fx_sched("plugins:\n- type: models-responder\nschedulingProfiles:\n- name: a\n  plugins:\n"
                 "  - pluginRef: models-responder\n",
                 err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "screens every request before the profiles run"));
}

/* llm-d's Screen: for a LoRA adapter some endpoint lists, only the listing endpoints remain (one
 * that has not reported is unlikely to have it); for a base model, listing and unreported ones.
 * Through a scheduler, where the loader puts the screen first in every profile. */
static void test_screen(void **state)
{
    char err[512];
    struct sy_scheduler *s = fx_sched("plugins:\n- type: models-responder\n"
                                      "- type: round-robin-picker\n"
                                      "schedulingProfiles:\n- name: a\n  plugins:\n"
                                      "  - pluginRef: round-robin-picker\n",
                                      err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(s->profiles[0].nfilters, 1);
    assert_string_equal(s->profiles[0].filters[0]->ops->type, "models-responder");
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0)};
    const char *ids_a[] = {"base", "sql-lora"};
    const char *js[] = {NULL, NULL};
    sy_endpoint_set_models_meta(eps[0], ids_a, js, 2u, 2); /* sql-lora is an adapter on a */
    const char *ids_b[] = {"base"};
    sy_endpoint_set_models_meta(eps[1], ids_b, NULL, 0, 1);
    /* c never reported */
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_request r;
    struct sy_sched_result res;
    fx_req(&r, "sql-lora", 10);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        assert_string_equal(res.ep->address, "a:1");
        sy_sched_done(s, &res, true);
    }
    fx_req(&r, "base", 10);
    bool seen[3] = {false, false, false};
    for (int k = 0; k < 6; k++) {
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        seen[res.pool_index] = true;
        sy_sched_done(s, &res, true);
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* models-data-source / -extractor (what models-responder auto-creates in llm-d): accepted when
 * they ask for the pool scraper's http /v1/models, refused otherwise. */
static void test_models_data_source(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "models-data-source",
                                   "scheme: http\npath: /v1/models\ninsecureSkipVerify: true\n"
                                   "interval: 5s\n",
                                   err, sizeof err),
                     0);
    assert_int_equal(fx_plugin_new(&fp, "models-data-extractor", NULL, err, sizeof err), 0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "models-data-source", "scheme: https\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "'https' is not supported"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "models-data-source", "caCertPath: /ca.crt\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "TLS to the model servers is not supported"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "models-data-source", "path: /models\n", err, sizeof err), 0);
    assert_int_not_equal(fx_plugin_new(&fp, "models-data-extractor", "x: 1\n", err, sizeof err), 0);
    /* the models-responder README's override: declared beside the responder */
    struct sy_scheduler *s = fx_sched("plugins:\n- type: models-responder\n"
                                      "- type: models-data-source\n  parameters:\n"
                                      "    scheme: http\n- type: max-score-picker\n",
                                      err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    sy_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_aggregate),
                                       cmocka_unit_test(test_config), cmocka_unit_test(test_screen),
                                       cmocka_unit_test(test_models_data_source)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
