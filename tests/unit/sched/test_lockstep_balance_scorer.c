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

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lockstep-balance-scorer", "bogus: 1\n", err, sizeof err),
                     SY_ECONFIG);
    fx_plugin_free(&fp);
    assert_non_null(strstr(err, "bogus: unknown parameter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_scores_by_pod),
                                       cmocka_unit_test(test_params)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
