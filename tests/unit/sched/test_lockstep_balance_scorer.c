/* Unit tests for lockstep-balance-scorer (Switchyard's own, src/sched/lockstep_balance_scorer.c):
 * hand-computed scores for two wide-EP pods, grouping by host and by label, and parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "unit/sched/sched_helpers.h"

static void test_scores_by_pod(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lockstep-balance-scorer", NULL, err, sizeof err), 0);
    /* pod A (10.0.0.1): ranks with 4, 1, 4 in flight; pod B (10.0.0.2): 2 and 2 (1 waiting) */
    struct sy_endpoint *eps[] = {
        fx_ep("10.0.0.1:8000", "", 0, 0, 0), fx_ep("10.0.0.1:8001", "", 0, 0, 0),
        fx_ep("10.0.0.1:8002", "", 0, 0, 0), fx_ep("10.0.0.2:8000", "", 1, 0, 0),
        fx_ep("10.0.0.2:8001", "", 0, 0, 0)};
    int inflight[] = {4, 1, 4, 2, 2};
    for (int i = 0; i < 5; i++) {
        snprintf(eps[i]->host, sizeof eps[i]->host, "%.*s", 8, eps[i]->address);
        for (int k = 0; k < inflight[i]; k++)
            sy_endpoint_inflight_add(eps[i], 10);
    }
    struct sy_pool *pool = fx_pool(eps, 5);
    struct sy_sched_candidate c[5];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    double s[5];
    fp.ops->score(fp.state, &cy, c, 5, s);
    /* loads 4, 1, 4, 3 (2 + 1 waiting), 2; M = 4; group maxima A 4, B 3 */
    assert_float_equal(s[0], 0.0, FX_EPS);                   /* the busiest: lengthens A */
    assert_float_equal(s[1], 0.5 + 0.5 * 3.0 / 4.0, FX_EPS); /* free slot in A */
    assert_float_equal(s[2], 0.0, FX_EPS);
    assert_float_equal(s[3], 0.5 * 1.0 / 4.0, FX_EPS);       /* B's busiest */
    assert_float_equal(s[4], 0.5 + 0.5 * 2.0 / 4.0, FX_EPS); /* free slot in B */
    fx_plugin_free(&fp);

    /* grouped by a label instead: all five in one group "x" (max 4) */
    assert_int_equal(
        fx_plugin_new(&fp, "lockstep-balance-scorer", "groupLabel: missing\n", err, sizeof err), 0);
    fp.ops->score(fp.state, &cy, c, 5, s);
    assert_float_equal(s[3], 0.5 + 0.5 * 1.0 / 4.0, FX_EPS); /* below the one group's max */
    fx_plugin_free(&fp);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < inflight[i]; k++)
            sy_endpoint_inflight_sub(eps[i], 10);
    fp.ops->score(NULL, &cy, c, 0, s); /* no candidates: nothing to do */
    sy_pool_unref(pool);
}

/* balanceBy: tokens: load = requestTokens x requests + in-flight tokens + KV tokens held. */
static void test_tokens(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lockstep-balance-scorer",
                                   "balanceBy: tokens\nrequestTokens: 100\n", err, sizeof err),
                     0);
    /* one pod, three ranks: a long prompt in flight (1 x 5000 tokens); two short ones (2 x 50);
     * an idle rank holding 25% of 1000 blocks x 16 tokens = 4000 tokens of context */
    struct sy_endpoint *eps[] = {fx_ep("10.0.0.1:8000", "", 0, 0, 0),
                                 fx_ep("10.0.0.1:8001", "", 0, 0, 0),
                                 fx_ep("10.0.0.1:8002", "", 0, 1, 0.25)};
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.running = 1;
    m.kv_usage = 0.25;
    m.block_size = 16;
    m.num_blocks = 1000;
    m.max_lora = -1;
    sy_endpoint_set_metrics(eps[2], &m, 2);
    for (int i = 0; i < 3; i++)
        snprintf(eps[i]->host, sizeof eps[i]->host, "%.*s", 8, eps[i]->address);
    sy_endpoint_inflight_add(eps[0], 5000);
    sy_endpoint_inflight_add(eps[1], 50);
    sy_endpoint_inflight_add(eps[1], 50);
    struct sy_pool *pool = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    double s[3];
    fp.ops->score(fp.state, &cy, c, 3, s);
    /* loads: 100 + 5000 = 5100; 200 + 100 = 300; 0 + 0 + 4000 = 4000; M = 5100 */
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 0.5 + 0.5 * 4800.0 / 5100.0, FX_EPS);
    assert_float_equal(s[2], 0.5 + 0.5 * 1100.0 / 5100.0, FX_EPS);
    fx_plugin_free(&fp);

    /* requests mode on the same state: loads 1, 2, 0 -> the long prompt's rank looks idlest */
    assert_int_equal(fx_plugin_new(&fp, "lockstep-balance-scorer", NULL, err, sizeof err), 0);
    fp.ops->score(fp.state, &cy, c, 3, s);
    assert_true(s[0] > s[1]);
    fx_plugin_free(&fp);
    sy_endpoint_inflight_sub(eps[0], 5000);
    sy_endpoint_inflight_sub(eps[1], 50);
    sy_endpoint_inflight_sub(eps[1], 50);
    sy_pool_unref(pool);
}

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lockstep-balance-scorer", "bogus: 1\n", err, sizeof err),
                     SY_ECONFIG);
    fx_plugin_free(&fp);
    assert_non_null(strstr(err, "bogus: unknown parameter"));
    assert_int_equal(
        fx_plugin_new(&fp, "lockstep-balance-scorer", "balanceBy: bytes\n", err, sizeof err),
        SY_ECONFIG);
    fx_plugin_free(&fp);
    assert_non_null(strstr(err, "balanceBy"));
    assert_non_null(strstr(err, "expected requests or tokens"));
    assert_int_equal(
        fx_plugin_new(&fp, "lockstep-balance-scorer", "requestTokens: -1\n", err, sizeof err),
        SY_ECONFIG);
    fx_plugin_free(&fp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_scores_by_pod),
                                       cmocka_unit_test(test_tokens),
                                       cmocka_unit_test(test_params)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
