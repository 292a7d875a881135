/* Unit tests for src/flow/policy.c: usage-limit ceilings against llm-d's documented arithmetic
 * (static, priority-holdback rank/value, soft-reflective-ceiling with its alternation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flow/flow.h"

#define EPS 1e-9

static void test_static(void **state)
{
    struct sy_flow_usage_params u = {.kind = SY_FLOW_USAGE_STATIC, .threshold = 0.9};
    int32_t p[3] = {10, 0, -1};
    double c[3];
    sy_flow_ceilings(&u, 0.5, p, 3, NULL, c);
    for (int i = 0; i < 3; i++)
        assert_float_equal(c[i], 0.9, EPS);
}

static void test_holdback_rank(void **state)
{
    /* c_i = max - i * (max - min) / (N - 1) */
    struct sy_flow_usage_params u = {
        .kind = SY_FLOW_USAGE_HOLDBACK, .min_ceiling = 0.4, .max_ceiling = 0.9};
    int32_t p[3] = {100, 50, 10};
    double c[3];
    sy_flow_ceilings(&u, 0.0, p, 3, NULL, c);
    assert_float_equal(c[0], 0.9, EPS);
    assert_float_equal(c[1], 0.65, EPS);
    assert_float_equal(c[2], 0.4, EPS);
    sy_flow_ceilings(&u, 0.0, p, 1, NULL, c); /* one band: the max */
    assert_float_equal(c[0], 0.9, EPS);
}

static void test_holdback_value(void **state)
{
    /* r_i = (p_i - pMin) / (pMax - pMin); c_i = min + r_i * (max - min) */
    struct sy_flow_usage_params u = {
        .kind = SY_FLOW_USAGE_HOLDBACK, .min_ceiling = 0.2, .max_ceiling = 1.0, .by_value = true};
    int32_t p[3] = {100, 90, 0};
    double c[3];
    sy_flow_ceilings(&u, 0.0, p, 3, NULL, c);
    assert_float_equal(c[0], 1.0, EPS);
    assert_float_equal(c[1], 0.2 + 0.9 * 0.8, EPS);
    assert_float_equal(c[2], 0.2, EPS);
}

/* soft-reflective-ceiling-policy against llm-d-router
 * pkg/epp/framework/plugins/flowcontrol/usagelimits/softreflectiveceiling/policy_test.go. */
static void test_soft_reflective(void **state)
{
    struct sy_flow_usage_params u = {.kind = SY_FLOW_USAGE_SOFT};
    int32_t p[4] = {100, 50, 0, -50};
    uint64_t tick = 0;
    double c[4];
    /* TestComputeLimit_SingleBand */
    static const double sats[] = {0.0, 0.5, 0.99, 1.0};
    for (size_t i = 0; i < 4; i++) {
        sy_flow_ceilings(&u, sats[i], p, 1, &tick, c);
        assert_float_equal(c[0], 1.0, EPS);
    }
    /* TestComputeLimit_CriticalBandNeverGated */
    static const double sats2[] = {0.0, 0.3, 0.5, 0.7, 0.99, 1.0, 1.5};
    for (size_t i = 0; i < 7; i++) {
        sy_flow_ceilings(&u, sats2[i], p, 3, &tick, c);
        assert_float_equal(c[0], 1.0, EPS);
    }
    /* TestComputeLimit_BelowCeilingAllOpen: sat 0.3, N 3 */
    sy_flow_ceilings(&u, 0.3, p, 3, &tick, c);
    for (int i = 0; i < 3; i++)
        assert_float_equal(c[i], 1.0, EPS);
    /* TestComputeLimit_FullySaturated */
    sy_flow_ceilings(&u, 1.0, p, 3, &tick, c);
    assert_float_equal(c[0], 1.0, EPS);
    assert_float_equal(c[1], 0.0, EPS);
    assert_float_equal(c[2], 0.0, EPS);
    /* TestComputeLimit_ReflectiveFormula: N 4, sat 0.7: band 1 open, bands 2 and 3 gated */
    sy_flow_ceilings(&u, 0.7, p, 4, &tick, c);
    assert_float_equal(c[0], 1.0, EPS);
    assert_float_equal(c[1], 1.0, EPS);
    assert_true(c[2] == 0.0 || c[2] == 1.0);
    assert_true(c[3] == 0.0 || c[3] == 1.0);
    /* TestComputeLimit_Alternation: a fresh policy, N 2, sat 0.7, period 2: the shared tick
     * counts 1, 2, 3, ... and opens on the even ones: closed, open, closed, ... */
    int32_t p2[2] = {100, -50};
    static const double alt[6] = {0, 1, 0, 1, 0, 1};
    tick = 0;
    for (int i = 0; i < 6; i++) {
        sy_flow_ceilings(&u, 0.7, p2, 2, &tick, c);
        assert_float_equal(c[0], 1.0, EPS);
        assert_float_equal(c[1], alt[i], EPS);
    }
    /* TestComputeLimit_AlternationLongerPeriod: sat 0.75, period 3: closed, closed, open */
    static const double alt3[6] = {0, 0, 1, 0, 0, 1};
    tick = 0;
    for (int i = 0; i < 6; i++) {
        sy_flow_ceilings(&u, 0.75, p2, 2, &tick, c);
        assert_float_equal(c[1], alt3[i], EPS);
    }
    /* sat 0.6: llm-d's period is round(0.6 / (0.4 + 1e-9)) = 1 (always open), not
     * round(1.5) = 2 */
    tick = 0;
    for (int i = 0; i < 4; i++) {
        sy_flow_ceilings(&u, 0.6, p2, 2, &tick, c);
        assert_float_equal(c[1], 1.0, EPS);
    }
    /* TestComputeLimit_NoStarvationUnderRisingSaturation: warm up at 0.6 (only band 2 gated),
     * then 0.7 (bands 1 and 2 gated): every call's ceilings are monotone across ranks, and both
     * gated bands open on the same calls, half of them */
    int32_t p3[3] = {100, 0, -50};
    tick = 0;
    for (int i = 0; i < 3; i++)
        sy_flow_ceilings(&u, 0.6, p3, 3, &tick, c);
    int open1 = 0, open2 = 0;
    for (int i = 0; i < 100; i++) {
        sy_flow_ceilings(&u, 0.7, p3, 3, &tick, c);
        open1 += c[1] == 1.0;
        open2 += c[2] == 1.0;
        if (c[2] == 1.0)
            assert_float_equal(c[1], 1.0, EPS);
    }
    assert_int_equal(open1, 50);
    assert_int_equal(open2, 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_holdback_rank),
        cmocka_unit_test(test_holdback_value),
        cmocka_unit_test(test_soft_reflective),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
