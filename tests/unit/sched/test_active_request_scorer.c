/* Unit tests for src/sched/active_request_scorer.c: idle -> 1, else (max-c)/max * maxBusyScore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static int score3(const char *params, int64_t a, int64_t b, int64_t c3, double *s)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0)};
    atomic_store(&eps[0]->inflight_requests, a);
    atomic_store(&eps[1]->inflight_requests, b);
    atomic_store(&eps[2]->inflight_requests, c3);
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    int rc = fx_plugin_new(&fp, "active-request-scorer", params, err, sizeof err);
    if (rc == 0)
        fp.ops->score(fp.state, &cy, c, 3, s);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    return rc;
}

static void test_defaults(void **state)
{
    double s[3];
    assert_int_equal(score3(NULL, 0, 2, 4, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS); /* 0 <= idleThreshold 0 */
    assert_float_equal(s[1], 0.5, FX_EPS); /* (4-2)/4 */
    assert_float_equal(s[2], 0.0, FX_EPS);
    assert_int_equal(score3(NULL, 0, 0, 0, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
}

static void test_params(void **state)
{
    double s[3];
    assert_int_equal(
        score3("idleThreshold: 2\nmaxBusyScore: 0.5\nrequestTimeout: 2m\n", 0, 3, 4, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.125, FX_EPS); /* (4-3)/4 * 0.5 */
    assert_float_equal(s[2], 0.0, FX_EPS);
    assert_int_equal(score3("idleThreshold: 2\n", 1, 2, 8, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
}

static void test_bad_params(void **state)
{
    double s[3];
    assert_int_not_equal(score3("maxBusyScore: high\n", 0, 0, 0, s), 0);
    assert_int_not_equal(score3("idleThreshold: [1]\n", 0, 0, 0, s), 0);
    assert_int_not_equal(score3("window: 3\n", 0, 0, 0, s), 0);
}

/* llm-d's own cases (active_request_test.go): NewActiveRequest logs and replaces out-of-range
 * values instead of failing, and ignores requestTimeout whatever it says. */
static void test_llmd_param_cases(void **state)
{
    double s[3];
    /* TestNewActiveRequestScorer_DeprecatedRequestTimeoutIgnored: "invalid" still creates it */
    assert_int_equal(score3("requestTimeout: invalid\n", 0, 2, 4, s), 0);
    assert_float_equal(s[1], 0.5, FX_EPS);
    /* maxBusyScore outside [0,1] -> 1.0; negative idleThreshold -> 0 */
    assert_int_equal(score3("maxBusyScore: 2\n", 0, 2, 4, s), 0);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_int_equal(score3("maxBusyScore: -0.5\n", 0, 2, 4, s), 0);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_int_equal(score3("idleThreshold: -1\n", 0, 2, 4, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    /* binary mode: idleThreshold 0, maxBusyScore 0 */
    assert_int_equal(score3("idleThreshold: 0\nmaxBusyScore: 0\n", 1, 0, 0, s), 0);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    /* hybrid mode: idleThreshold 1, maxBusyScore 0.5, loads 1, 2, 0 */
    assert_int_equal(score3("idleThreshold: 1\nmaxBusyScore: 0.5\n", 1, 2, 0, s), 0);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    /* TestActiveRequest_DefaultParamsProduceContinuousScores: loads 3 and 11 */
    assert_int_equal(score3("{}\n", 3, 11, 0, s), 0);
    assert_float_equal(s[0], 8.0 / 11.0, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_llmd_param_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
