/* Unit tests for src/sched/queue_scorer.c (queue-scorer: min-max normalised waiting queue). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void run(const double *waiting, size_t n, double *out)
{
    struct sy_endpoint *eps[8];
    char addr[48];
    for (size_t i = 0; i < n; i++) {
        snprintf(addr, sizeof addr, "10.0.0.%zu:8000", i);
        eps[i] = fx_ep(addr, NULL, waiting[i], 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, n);
    struct sy_sched_candidate c[8];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "queue-scorer", NULL, err, sizeof err), 0);
    fp.ops->score(fp.state, &cy, c, n, out);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void test_min_max(void **state)
{
    double w[] = {0, 5, 10}, s[3];
    run(w, 3, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
    double w2[] = {4, 12, 6, 8}, s2[4]; /* min 4, max 12 */
    run(w2, 4, s2);
    assert_float_equal(s2[0], 1.0, FX_EPS);
    assert_float_equal(s2[1], 0.0, FX_EPS);
    assert_float_equal(s2[2], 0.75, FX_EPS);
    assert_float_equal(s2[3], 0.5, FX_EPS);
}

static void test_equal_queues_all_one(void **state)
{
    double w[] = {3, 3, 3}, s[3];
    run(w, 3, s);
    for (int i = 0; i < 3; i++)
        assert_float_equal(s[i], 1.0, FX_EPS);
    double w1[] = {7}, s1[1];
    run(w1, 1, s1);
    assert_float_equal(s1[0], 1.0, FX_EPS);
}

static void test_unreported_counts_as_zero(void **state)
{
    double w[] = {-1, 4}, s[2];
    run(w, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_max),
        cmocka_unit_test(test_equal_queues_all_one),
        cmocka_unit_test(test_unreported_counts_as_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
