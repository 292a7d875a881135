/* The llm-d wide-EP guide's scheduler config (guides/wide-ep-lws/router/wide-ep-lws.values.yaml,
 * llm-d/llm-d@d0030a30) loads unchanged and routes onto data-parallel ranks: every request gets a
 * prefill rank and a decode rank (always-disagg-pd-decider), and active-request-scorer spreads
 * concurrent requests over the decode ranks of the pods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static const char *const guide = "apiVersion: llm-d.ai/v1alpha1\n"
                                 "kind: EndpointPickerConfig\n"
                                 "plugins:\n"
                                 "- type: disagg-headers-handler\n"
                                 "- type: always-disagg-pd-decider\n"
                                 "- type: disagg-profile-handler\n"
                                 "  parameters:\n"
                                 "    deciderPluginName: always-disagg-pd-decider\n"
                                 "- type: prefill-filter\n"
                                 "- type: decode-filter\n"
                                 "- type: prefix-cache-scorer\n"
                                 "- type: queue-scorer\n"
                                 "- type: kv-cache-utilization-scorer\n"
                                 "- type: active-request-scorer\n"
                                 "schedulingProfiles:\n"
                                 "- name: prefill\n"
                                 "  plugins:\n"
                                 "  - pluginRef: prefill-filter\n"
                                 "  - pluginRef: prefix-cache-scorer\n"
                                 "    weight: 3\n"
                                 "  - pluginRef: queue-scorer\n"
                                 "    weight: 2\n"
                                 "  - pluginRef: kv-cache-utilization-scorer\n"
                                 "    weight: 2\n"
                                 "- name: decode\n"
                                 "  plugins:\n"
                                 "  - pluginRef: decode-filter\n"
                                 "  - pluginRef: active-request-scorer\n"
                                 "    weight: 2\n"
                                 "  - pluginRef: prefix-cache-scorer\n"
                                 "    weight: 3\n";

static void test_guide_config_routes_ranks(void **state)
{
    char err[512] = "";
    struct sy_scheduler *s = fx_sched(guide, err, sizeof err);
    if (!s)
        fail_msg("the wide-EP guide config should load: %s", err);
    assert_string_equal(s->handler->ops->type, "disagg-profile-handler");
    assert_true(sy_sched_has_plugin(s, "always-disagg-pd-decider"));
    /* one prefill pod and one decode pod, 4 ranks each (ports 8000.. and 8200..) */
    struct sy_endpoint *eps[8];
    for (int i = 0; i < 4; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.0.0.1:%d", 8000 + i);
        eps[i] = fx_ep(a, "llm-d.ai/role=prefill", i == 1 ? 3 : 0, 0, 0.1 * i);
        snprintf(a, sizeof a, "10.0.0.2:%d", 8200 + i);
        eps[4 + i] = fx_ep(a, "llm-d.ai/role=decode", 0, 0, 0);
    }
    struct sy_pool *pool = fx_pool(eps, 8);
    static char bodies[8][200];
    struct sy_request r[8];
    struct sy_sched_result res[8];
    int per_rank[4] = {0};
    for (int k = 0; k < 8; k++) {
        int n = snprintf(bodies[k], sizeof bodies[k], "{\"prompt\":\"question %d about %s\"}", k,
                         k % 2 ? "ranks" : "experts");
        fx_req(&r[k], "m", 200);
        r[k].body = bodies[k];
        r[k].body_len = (size_t)n;
        r[k].prompt = (struct sy_str){bodies[k] + 10, (size_t)n - 12};
        assert_int_equal(sy_sched_pick(s, pool, &r[k], NULL, 0, &res[k]), 0);
        assert_non_null(res[k].prefill_ep); /* always disaggregated */
        assert_string_equal(sy_endpoint_label(res[k].prefill_ep, "llm-d.ai/role"), "prefill");
        /* the prefill pick avoids the queued rank 8001 (queue-scorer x2) */
        assert_string_not_equal(res[k].prefill_ep->address, "10.0.0.1:8001");
        assert_string_equal(sy_endpoint_label(res[k].ep, "llm-d.ai/role"), "decode");
        per_rank[atoi(strrchr(res[k].ep->address, ':') + 1) - 8200]++;
        sy_endpoint_inflight_add(res[k].ep, 200); /* forwarded: the proxy counts it */
    }
    /* 8 concurrent requests over 4 decode ranks: active-request-scorer gives each rank 2 */
    print_message("decode picks per rank: %d %d %d %d\n", per_rank[0], per_rank[1], per_rank[2],
                  per_rank[3]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(per_rank[i], 2);
    for (int k = 0; k < 8; k++) {
        sy_endpoint_inflight_sub(res[k].ep, 200);
        sy_sched_done(s, &res[k], true);
    }
    sy_pool_unref(pool);
    sy_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_guide_config_routes_ranks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
