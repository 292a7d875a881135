/* Unit tests for src/sched/load_aware_scorer.c: 0.5 when idle, 0.5*(1-min(q,T)/T) otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void scores(const char *params, double *s)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 64, 0, 0),
                                 fx_ep("c:1", NULL, 200, 0, 0), fx_ep("d:1", NULL, 5, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "load-aware-scorer", params, err, sizeof err), 0);
    fp.ops->score(fp.state, &cy, c, 4, s);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void test_default_threshold_128(void **state)
{
    double s[4];
    scores(NULL, s);
    assert_float_equal(s[0], 0.5, FX_EPS);
    assert_float_equal(s[1], 0.25, FX_EPS); /* 0.5 * (1 - 64/128) */
    assert_float_equal(s[2], 0.0, FX_EPS);  /* capped at T */
    assert_float_equal(s[3], 0.5 * (1 - 5.0 / 128), FX_EPS);
}

static void test_threshold_param(void **state)
{
    double s[4];
    scores("threshold: 10\n", s);
    assert_float_equal(s[0], 0.5, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[3], 0.25, FX_EPS); /* 0.5 * (1 - 5/10) */
}

/* llm-d's load_aware_test.go (queues 2, 0, 15 with threshold 10 -> 0.4, 0.5, 0), and its
 * NewLoadAware rule: a threshold <= 0 is logged and replaced by 128, not refused. */
static void test_llmd_case_and_nonpositive_threshold(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("pod-a:1", NULL, 2, 0, 0), fx_ep("pod-b:1", NULL, 0, 0, 0),
                                 fx_ep("pod-c:1", NULL, 15, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "critical", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    static const char *const params[] = {"threshold: 10\n", "threshold: 0\n", "threshold: -5\n"};
    static const double want[3][3] = {{0.4, 0.5, 0.0},
                                      {0.5 * (1 - 2.0 / 128), 0.5, 0.5 * (1 - 15.0 / 128)},
                                      {0.5 * (1 - 2.0 / 128), 0.5, 0.5 * (1 - 15.0 / 128)}};
    for (size_t k = 0; k < 3; k++) {
        struct fx_plugin fp;
        char err[256];
        assert_int_equal(fx_plugin_new(&fp, "load-aware-scorer", params[k], err, sizeof err), 0);
        double s[3];
        fp.ops->score(fp.state, &cy, c, 3, s);
        for (size_t i = 0; i < 3; i++)
            assert_float_equal(s[i], want[k][i], FX_EPS);
        fx_plugin_free(&fp);
    }
    sy_pool_unref(p);
}

static void test_bad_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(
        fx_plugin_new(&fp, "load-aware-scorer", "threshold: lots\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "expected an integer, got 'lots'"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "load-aware-scorer", "threshold: 5\nfoo: 1\n", err, sizeof err), 0);
    assert_string_equal(err, "t.yaml:2: plugins[0].parameters.foo: unknown parameter (plugin "
                             "'load-aware-scorer')");
    assert_int_not_equal(fx_plugin_new(&fp, "load-aware-scorer", "- 1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "must be a mapping"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_threshold_128),
        cmocka_unit_test(test_threshold_param),
        cmocka_unit_test(test_llmd_case_and_nonpositive_threshold),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
