/* Unit tests for src/sched/kv_cache_utilization_scorer.c (score = 1 - KV usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_one_minus_usage(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0.25), fx_ep("b:1", NULL, 0, 0, 0.9),
                                 fx_ep("c:1", NULL, 0, 0, -1), fx_ep("d:1", NULL, 0, 0, 1.5)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "kv-cache-utilization-scorer", NULL, err, sizeof err), 0);
    double s[4];
    fp.ops->score(fp.state, &cy, c, 4, s);
    assert_float_equal(s[0], 0.75, FX_EPS);
    assert_float_equal(s[1], 0.1, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);  /* unreported usage counts as empty */
    assert_float_equal(s[3], -0.5, FX_EPS); /* raw; the pipeline clamps to 0 */
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_minus_usage)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
