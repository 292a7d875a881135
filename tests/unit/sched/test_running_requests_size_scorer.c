/* Unit tests for src/sched/running_requests_size_scorer.c (min-max over running requests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_min_max_running(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 9, 2, 0), fx_ep("b:1", NULL, 0, 4, 0),
                                 fx_ep("c:1", NULL, 0, 6, 0), fx_ep("d:1", NULL, 0, -1, 0)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "running-requests-size-scorer", NULL, err, sizeof err), 0);
    double s[4];
    fp.ops->score(fp.state, &cy, c, 3, s); /* running 2,4,6 (queue is ignored) */
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
    fp.ops->score(fp.state, &cy, c + 2, 2, s); /* 6 and unreported (0) */
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    fp.ops->score(fp.state, &cy, c + 1, 1, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_min_max_running)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
