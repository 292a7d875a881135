/* Unit tests for src/sched/sched.c: candidates, filters, weighted scores, clamping, picking,
 * hooks, in-flight estimate, explanation header, decision ring and metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>

#include "core/buf.h"
#include "core/err.h"
#include "metrics/metrics.h"
#include "unit/sched/sched_helpers.h"

static const char qkv_yaml[] = "apiVersion: llm-d.ai/v1alpha1\n"
                               "kind: EndpointPickerConfig\n"
                               "plugins:\n"
                               "- type: queue-scorer\n"
                               "- type: kv-cache-utilization-scorer\n"
                               "- type: max-score-picker\n"
                               "schedulingProfiles:\n"
                               "- name: default\n"
                               "  plugins:\n"
                               "  - pluginRef: queue-scorer\n"
                               "    weight: 2\n"
                               "  - pluginRef: kv-cache-utilization-scorer\n"
                               "  - pluginRef: max-score-picker\n";

/* a: q 0 kv .5 -> 2*1 + .5 = 2.5; b: q 10 kv 0 -> 0 + 1 = 1; c: q 5 kv 0 -> 2*.5 + 1 = 2 */
static struct sy_pool *abc_pool(void)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0.5), fx_ep("b:1", NULL, 10, 0, 0),
                                 fx_ep("c:1", NULL, 5, 0, 0)};
    return fx_pool(eps, 3);
}

static struct sy_scheduler *must_sched(const char *yaml)
{
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    return s;
}

static void test_weighted_sum_and_explain(void **state)
{
    struct sy_scheduler *s = must_sched(qkv_yaml);
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "m", 100);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "a:1");
    assert_int_equal(res.pool_index, 0);
    /* llm-d's inflight-load-producer defaults: the uncached prompt only, released at the first
     * response byte (no prefix data here: the whole prompt) */
    assert_int_equal(res.inflight_tokens, 100);
    assert_int_equal(res.inflight_early, 100);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_explain(&res, &b);
    assert_string_equal(b.data, "a:1=2.50(queue-scorer:1.00,kv-cache-utilization-scorer:0.50);"
                                "c:1=2.00(queue-scorer:0.50,kv-cache-utilization-scorer:1.00);"
                                "b:1=1.00(queue-scorer:0.00,kv-cache-utilization-scorer:1.00)");
    sy_buf_fini(&b);
    sy_sched_done(s, &res, true);
    assert_null(res.cycle);
    r.max_tokens = 50; /* output is not counted by default */
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_int_equal(res.inflight_tokens, 100);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_exclude_not_ready_and_model(void **state)
{
    struct sy_scheduler *s = must_sched(qkv_yaml);
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "m", 100);
    struct sy_sched_result res;
    struct sy_endpoint *ex[] = {p->eps[0]};
    assert_int_equal(sy_sched_pick(s, p, &r, ex, 1, &res), 0);
    assert_string_equal(res.ep->address, "c:1"); /* next best once a is excluded */
    sy_sched_done(s, &res, false);

    sy_endpoint_set_failed(p->eps[2], 5); /* c not ready */
    assert_int_equal(sy_sched_pick(s, p, &r, ex, 1, &res), 0);
    assert_string_equal(res.ep->address, "b:1");
    sy_sched_done(s, &res, true);

    const char *models[] = {"other-model"};
    sy_endpoint_set_models(p->eps[1], models, 1); /* b no longer serves "m" */
    assert_int_equal(sy_sched_pick(s, p, &r, ex, 1, &res), SY_ENOENDPOINT);
    assert_null(res.cycle);
    fx_req(&r, "other-model", 1);
    assert_int_equal(sy_sched_pick(s, p, &r, ex, 1, &res), 0);
    assert_string_equal(res.ep->address, "b:1");
    sy_sched_done(s, &res, true);

    struct sy_endpoint *all[] = {p->eps[0], p->eps[1], p->eps[2]};
    assert_int_equal(sy_sched_pick(s, p, &r, all, 3, &res), SY_ENOENDPOINT);
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_filter_empties(void **state)
{
    struct sy_scheduler *s = must_sched("plugins:\n"
                                        "- type: label-selector-filter\n"
                                        "  parameters: {matchLabels: {zone: nowhere}}\n"
                                        "- type: queue-scorer\n");
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "m", 1);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), SY_ENOENDPOINT);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_debug_json(s, &b);
    assert_non_null(strstr(b.data, "\"chosen\":null"));
    assert_non_null(strstr(b.data, "\"candidates_scored\":0"));
    sy_buf_fini(&b);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* A test scorer with out-of-range values and a counting observer. */
static int g_pre, g_done_ok, g_done_fail, g_done_null;
static void bad_score(void *st, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                      size_t n, double *s)
{
    const double v[] = {1.7, -3, NAN};
    for (size_t i = 0; i < n; i++)
        s[i] = v[c[i].pool_index % 3];
}
static void count_pre(void *st, struct sy_sched_cycle *cy, const struct sy_sched_candidate *ch)
{
    g_pre++;
}
static void count_done(void *st, struct sy_sched_cycle *cy, const struct sy_sched_candidate *ch,
                       bool ok)
{
    if (!ch)
        g_done_null++;
    else if (ok)
        g_done_ok++;
    else
        g_done_fail++;
}
static const struct sy_plugin_ops bad_ops = {
    .type = "queue-scorer", .score = bad_score, .pre_request = count_pre, .done = count_done};

static void test_clamp_and_hooks(void **state)
{
    struct sy_scheduler *s = must_sched(qkv_yaml);
    s->profiles[0].scorers[0].p->ops = &bad_ops; /* queue-scorer (weight 2) replaced */
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "m", 1);
    struct sy_sched_result res;
    g_pre = g_done_ok = g_done_fail = g_done_null = 0;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    /* a: 2*1 (1.7 clamped) + .5 = 2.5; b: 2*0 + 1 = 1; c: 2*0 (NaN) + 1 = 1 */
    assert_string_equal(res.ep->address, "a:1");
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_explain(&res, &b);
    assert_string_equal(b.data, "a:1=2.50(queue-scorer:1.00,kv-cache-utilization-scorer:0.50);"
                                "b:1=1.00(queue-scorer:0.00,kv-cache-utilization-scorer:1.00);"
                                "c:1=1.00(queue-scorer:0.00,kv-cache-utilization-scorer:1.00)");
    sy_buf_fini(&b);
    assert_int_equal(g_pre, 1);
    assert_int_equal(g_done_ok + g_done_fail, 0);
    sy_sched_done(s, &res, true);
    assert_int_equal(g_done_ok, 1);
    struct sy_endpoint *all[] = {p->eps[0], p->eps[1], p->eps[2]};
    assert_int_equal(sy_sched_pick(s, p, &r, all, 3, &res), SY_ENOENDPOINT);
    assert_int_equal(g_done_null, 1); /* done runs once for a failed cycle too */
    assert_int_equal(g_pre, 1);
    s->profiles[0].scorers[0].p->ops = sy_sched__registry_find("queue-scorer");
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_ties_spread(void **state)
{
    struct sy_scheduler *s = must_sched("plugins:\n- type: queue-scorer\n");
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 1, 0, 0), fx_ep("b:1", NULL, 1, 0, 0),
                                 fx_ep("c:1", NULL, 1, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_request r;
    fx_req(&r, "m", 1);
    int cnt[3] = {0};
    for (int i = 0; i < 3000; i++) {
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        cnt[res.pool_index]++;
        sy_sched_done(s, &res, true);
    }
    for (int i = 0; i < 3; i++)
        assert_in_range(cnt[i], 850, 1150); /* 1000 +- 5.8 sigma */
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_round_robin_pipeline(void **state)
{
    struct sy_scheduler *s = must_sched("plugins:\n- type: round-robin-picker\n");
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 1, 0, 0), fx_ep("b:1", NULL, 1, 0, 0),
                                 fx_ep("c:1", NULL, 1, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_request r;
    fx_req(&r, "m", 1);
    const char *want = "abcabc";
    for (int i = 0; i < 6; i++) {
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        assert_int_equal(res.ep->address[0], want[i]);
        sy_sched_done(s, &res, true);
    }
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_decision_ring(void **state)
{
    struct sy_scheduler *s = must_sched(qkv_yaml);
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "llama", 1);
    r.request_id = sy_str_c("req-\"x\"");
    for (int i = 0; i < 70; i++) {
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        sy_sched_done(s, &res, true);
    }
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_debug_json(s, &b);
    int n = 0;
    for (const char *q = b.data; (q = strstr(q, "\"seq\":")); q++)
        n++;
    assert_int_equal(n, 64);
    assert_non_null(strstr(b.data, "{\"decisions\":[{\"seq\":70,"));
    assert_non_null(strstr(b.data, "\"seq\":7,"));
    assert_null(strstr(b.data, "\"seq\":6,"));
    assert_non_null(strstr(b.data, "\"request_id\":\"req-\\\"x\\\"\""));
    assert_non_null(
        strstr(b.data, "\"model\":\"llama\",\"profile\":\"default\",\"chosen\":\"a:1\""));
    assert_non_null(strstr(b.data,
                           "{\"endpoint\":\"a:1\",\"total\":2.5,\"scores\":{\"queue-scorer\""
                           ":1,\"kv-cache-utilization-scorer\":0.5}}"));
    sy_buf_fini(&b);
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_metrics(void **state)
{
    struct sy_scheduler *s = must_sched(qkv_yaml);
    struct sy_metrics *m = sy_metrics_new();
    sy_sched_attach_metrics(s, m);
    struct sy_pool *p = abc_pool();
    struct sy_request r;
    fx_req(&r, "m", 1);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    sy_sched_done(s, &res, true);
    struct sy_endpoint *all[] = {p->eps[0], p->eps[1], p->eps[2]};
    assert_int_equal(sy_sched_pick(s, p, &r, all, 3, &res), SY_ENOENDPOINT);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_metrics_render(m, &b);
    assert_non_null(
        strstr(b.data, "inference_extension_scheduler_attempts_total{status=\"success\"} 1\n"));
    assert_non_null(
        strstr(b.data, "inference_extension_scheduler_attempts_total{status=\"failure\"} 1\n"));
    assert_non_null(strstr(b.data, "inference_extension_scheduler_e2e_duration_seconds_count 2\n"));
    assert_non_null(strstr(b.data, "inference_extension_plugin_duration_seconds_count{extension_"
                                   "point=\"Scorer\",plugin_type=\"queue-scorer\",plugin_name="
                                   "\"queue-scorer\"} 1\n"));
    assert_non_null(strstr(b.data, "extension_point=\"Picker\",plugin_type=\"max-score-picker\""));
    sy_buf_fini(&b);
    sy_sched_free(s);
    sy_metrics_free(m);
    sy_pool_unref(p);
}

struct worker_arg {
    struct sy_scheduler *s;
    struct sy_pool *p;
    int picks[4];
};

static void *pick_worker(void *arg)
{
    struct worker_arg *w = arg;
    static const char body[] =
        "{\"prompt\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    for (int i = 0; i < 500; i++) {
        struct sy_request r;
        fx_req(&r, "m", 32);
        r.body = body;
        r.body_len = sizeof body - 1;
        r.prompt.p = body + 11;
        r.prompt.len = sizeof body - 14;
        struct sy_sched_result res;
        if (sy_sched_pick(w->s, w->p, &r, NULL, 0, &res) != 0)
            continue;
        w->picks[res.pool_index]++;
        sy_endpoint_inflight_add(res.ep, res.inflight_tokens);
        struct sy_buf b;
        sy_buf_init(&b);
        sy_sched_explain(&res, &b);
        sy_buf_fini(&b);
        sy_sched_done(w->s, &res, true);
        sy_endpoint_inflight_sub(res.ep, res.inflight_tokens);
    }
    return NULL;
}

/* Four workers share one scheduler (default config + stateful plugins): every pick succeeds and
 * in-flight accounting returns to zero; run under ASan/TSan to check the shared state. */
static void test_concurrent_picks(void **state)
{
    struct sy_scheduler *s = must_sched("plugins:\n"
                                        "- type: prefix-cache-scorer\n"
                                        "- type: no-hit-lru-scorer\n"
                                        "- type: token-load-scorer\n"
                                        "- type: queue-scorer\n"
                                        "- type: weighted-random-picker\n");
    struct sy_metrics *m = sy_metrics_new();
    sy_sched_attach_metrics(s, m);
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 1, 0, 0), fx_ep("b:1", NULL, 2, 0, 0),
                                 fx_ep("c:1", NULL, 3, 0, 0), fx_ep("d:1", NULL, 4, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 4);
    pthread_t th[4];
    struct worker_arg w[4];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 4; i++) {
        w[i].s = s;
        w[i].p = p;
        pthread_create(&th[i], NULL, pick_worker, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < 4; k++)
            total += w[i].picks[k];
    }
    assert_int_equal(total, 2000);
    for (int k = 0; k < 4; k++) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(p->eps[k], &st);
        assert_int_equal(st.inflight_requests, 0);
        assert_int_equal(st.inflight_tokens, 0);
    }
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sched_debug_json(s, &b);
    assert_non_null(strstr(b.data, "\"seq\":2000,"));
    sy_buf_fini(&b);
    sy_sched_free(s);
    sy_metrics_free(m);
    sy_pool_unref(p);
}

/* sy_sched_run_keeps: the endpoints the run's filters with a keeps hook (decode-filter, by-label,
 * priority-reservation-filter here) keep for the request, whatever the load filters
 * (concurrency-detector) left among the candidates; true outside a scheduler. The decode
 * profile's run: its decode-filter keeps decode and unlabeled endpoints, by-label only zone a, and
 * the reservation keeps the reserved (tier gold) endpoint for a request of priority 1, not 0. */
static void check_run_keeps(int prio)
{
    static const char yaml[] =
        "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
        "plugins:\n"
        "- {type: decode-filter}\n"
        "- {type: by-label, name: zone, parameters: {label: zone, validValues: [a]}}\n"
        "- {type: priority-reservation-filter, name: rsv, parameters: {reserved: {matchLabels: "
        "{tier: gold}}}}\n"
        "- {type: concurrency-detector, name: cd, parameters: {maxConcurrency: 1}}\n"
        "- {type: queue-scorer}\n- {type: max-score-picker}\n"
        "schedulingProfiles:\n"
        "- {name: decode, plugins: [{pluginRef: decode-filter}, {pluginRef: zone}, "
        "{pluginRef: rsv}, {pluginRef: cd}, {pluginRef: queue-scorer}, "
        "{pluginRef: max-score-picker}]}\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    struct sy_endpoint *eps[] = {fx_ep("d:1", "llm-d.ai/role=decode,zone=a", 0, 0, 0),
                                 fx_ep("u:1", "zone=a", 0, 0, 0),
                                 fx_ep("p:1", "llm-d.ai/role=prefill,zone=a", 0, 0, 0),
                                 fx_ep("b:1", "llm-d.ai/role=decode,zone=b", 0, 0, 0),
                                 fx_ep("g:1", "zone=a,tier=gold", 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 5);
    atomic_store(&eps[1]->inflight_requests, 1); /* u:1 busy: the concurrency filter drops it */
    struct sy_request r;
    fx_req(&r, "m", 10);
    r.priority = prio;
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    /* the reservation's scorer prefers the reserved endpoint it keeps */
    assert_ptr_equal(res.ep, prio >= 1 ? eps[4] : eps[0]);
    struct sy_sched_cycle *cy = res.cycle; /* the public part comes first */
    assert_true(sy_sched_run_keeps(cy, eps[0]));
    assert_true(sy_sched_run_keeps(cy, eps[1])); /* dropped by load, not by a label */
    assert_false(sy_sched_run_keeps(cy, eps[2]));
    assert_false(sy_sched_run_keeps(cy, eps[3]));
    assert_int_equal(sy_sched_run_keeps(cy, eps[4]), prio >= 1); /* reserved */
    sy_sched_done(s, &res, true);
    struct sy_sched_cycle none;
    fx_cycle(&none, &r, p, 1);
    for (int i = 0; i < 5; i++)
        assert_true(sy_sched_run_keeps(&none, eps[i]));
    atomic_store(&eps[1]->inflight_requests, 0);
    sy_sched_free(s);
    sy_pool_unref(p);
}

static void test_run_keeps_label_filters(void **state)
{
    (void)state;
    check_run_keeps(0);
    check_run_keeps(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted_sum_and_explain),
        cmocka_unit_test(test_exclude_not_ready_and_model),
        cmocka_unit_test(test_filter_empties),
        cmocka_unit_test(test_clamp_and_hooks),
        cmocka_unit_test(test_ties_spread),
        cmocka_unit_test(test_round_robin_pipeline),
        cmocka_unit_test(test_decision_ring),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_concurrent_picks),
        cmocka_unit_test(test_run_keeps_label_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
