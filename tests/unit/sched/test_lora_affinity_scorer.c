/* Unit tests for src/sched/lora_affinity_scorer.c: 1.0 active, 0.8 capacity, 0.6 waiting, 0; and
 * the pipeline handing the scorer the endpoints' LoRA lists (needs_loras). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "unit/sched/sched_helpers.h"

static struct sy_endpoint *lora_ep(const char *addr, const char *running, const char *waiting,
                                   int64_t max)
{
    struct sy_endpoint *e = fx_ep(addr, NULL, 0, 0, 0);
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.block_size = m.num_blocks = -1;
    snprintf(m.running_loras, sizeof m.running_loras, "%s", running);
    snprintf(m.waiting_loras, sizeof m.waiting_loras, "%s", waiting);
    m.max_lora = max;
    sy_endpoint_set_metrics(e, &m, 2);
    return e;
}

static void test_tiers(void **state)
{
    struct sy_endpoint *eps[] = {lora_ep("a:1", "adapterB, adapterA", "", 4),
                                 lora_ep("b:1", "x", "", 4),
                                 lora_ep("c:1", "x,y", "adapterA", 2),
                                 lora_ep("d:1", "x,y", "", 2),
                                 lora_ep("e:1", "", "", -1),
                                 lora_ep("f:1", "adapterAA", "", 1)};
    struct sy_pool *p = fx_pool(eps, 6);
    struct sy_sched_candidate c[6];
    struct sy_endpoint_loras l[6];
    fx_cands(p, c);
    for (size_t i = 0; i < 6; i++) {
        sy_endpoint_snapshot_loras(p->eps[i], &c[i].st, &l[i]);
        c[i].loras = &l[i];
    }
    struct sy_request r;
    fx_req(&r, "adapterA", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lora-affinity-scorer", NULL, err, sizeof err), 0);
    assert_true(fp.ops->needs_loras);
    double s[6];
    fp.ops->score(fp.state, &cy, c, 6, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.8, FX_EPS);
    assert_float_equal(s[2], 0.6, FX_EPS);
    assert_float_equal(s[3], 0.0, FX_EPS);
    assert_float_equal(s[4], 0.0, FX_EPS); /* capacity unknown */
    assert_float_equal(s[5], 0.0, FX_EPS); /* a different adapter with a common prefix, full */

    /* without lists a candidate runs and queues nothing: only capacity counts */
    for (size_t i = 0; i < 6; i++)
        c[i].loras = NULL;
    fp.ops->score(fp.state, &cy, c, 6, s);
    assert_float_equal(s[0], 0.8, FX_EPS);
    assert_float_equal(s[2], 0.8, FX_EPS);
    assert_float_equal(s[4], 0.0, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

/* llm-d's lora_affinity_test.go cases "Endpoints have no space for new model" and "Multiple
 * endpoints with mixed active and waiting models": capacity counts running + waiting adapters. */
static void test_llmd_cases_waiting_takes_a_slot(void **state)
{
    struct sy_endpoint *eps[] = {
        lora_ep("nospace1:1", "active-model-2", "active-model-3", 2),
        lora_ep("nospace2:1", "", "", 0),
        lora_ep("pod1:1", "active-model-1", "", 5),
        lora_ep("pod2:1", "active-model-2", "active-model-1", 5),
        lora_ep("pod3:1", "active-model-2", "", 2),
        lora_ep("pod4:1", "active-model-3", "active-model-1", 2),
        lora_ep("pod5:1", "active-model-4,active-model-5", "", 2),
    };
    struct sy_pool *p = fx_pool(eps, 7);
    struct sy_sched_candidate c[7];
    struct sy_endpoint_loras l[7];
    fx_cands(p, c);
    for (size_t i = 0; i < 7; i++) {
        sy_endpoint_snapshot_loras(p->eps[i], &c[i].st, &l[i]);
        c[i].loras = &l[i];
    }
    struct sy_request r;
    fx_req(&r, "active-model-1", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lora-affinity-scorer", NULL, err, sizeof err), 0);
    double s[7];
    fp.ops->score(fp.state, &cy, c, 7, s);
    static const double want[7] = {0.0, 0.0, 1.0, 0.8, 0.8, 0.6, 0.0};
    for (size_t i = 0; i < 7; i++)
        assert_float_equal(s[i], want[i], FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

/* Through sy_sched_pick: the pipeline copies the lists for a scheduler with the scorer, so the
 * endpoint running the adapter wins; a scheduler without a LoRA-aware plugin carries none. */
static void test_pipeline_gets_lists(void **state)
{
    static const char yaml[] = "plugins:\n"
                               "- type: lora-affinity-scorer\n"
                               "- type: max-score-picker\n"
                               "schedulingProfiles:\n"
                               "- name: default\n"
                               "  plugins:\n"
                               "  - pluginRef: lora-affinity-scorer\n"
                               "  - pluginRef: max-score-picker\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    assert_true(s->wants_loras);
    /* a and b full (max 1) and not running it; c runs it; d queues it */
    struct sy_endpoint *eps[] = {lora_ep("a:1", "x", "", 1), lora_ep("b:1", "y", "", 1),
                                 lora_ep("c:1", "z, sql-lora", "", 2),
                                 lora_ep("d:1", "w", "sql-lora", 1)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_request r;
    fx_req(&r, "sql-lora", 10);
    struct sy_sched_result res;
    for (int k = 0; k < 20; k++) {
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        assert_string_equal(res.ep->address, "c:1");
        struct sy_buf b;
        sy_buf_init(&b);
        sy_sched_explain(&res, &b);
        assert_non_null(strstr(b.data, "c:1=1.00("));
        assert_non_null(strstr(b.data, "d:1=0.60("));
        sy_buf_fini(&b);
        sy_sched_done(s, &res, true);
    }
    /* the lists follow a new scrape: c stops running it, d's queue becomes the best */
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.block_size = m.num_blocks = -1;
    m.max_lora = 1;
    snprintf(m.running_loras, sizeof m.running_loras, "z");
    sy_endpoint_set_metrics(p->eps[2], &m, 3);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "d:1");
    sy_sched_done(s, &res, true);
    sy_sched_free(s);

    /* no LoRA-aware plugin: the pipeline does not copy the lists */
    static const char rr[] = "plugins:\n- type: round-robin-picker\n";
    s = fx_sched(rr, err, sizeof err);
    assert_non_null(s);
    assert_false(s->wants_loras);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiers),
                                       cmocka_unit_test(test_llmd_cases_waiting_takes_a_slot),
                                       cmocka_unit_test(test_pipeline_gets_lists)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
