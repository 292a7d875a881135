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

static void test_soft_reflective(void **state)
{
    struct sy_flow_usage_params u = {.kind = SY_FLOW_USAGE_SOFT};
    int32_t p[3] = {2, 1, 0};
    uint64_t ticks[3] = {0, 0, 0};
    double c[3];
    /* sat 0.3: r = {1, 0.85, 0.7}: every band open */
    sy_flow_ceilings(&u, 0.3, p, 3, ticks, c);
    assert_float_equal(c[0], 1.0, EPS);
    assert_float_equal(c[1], 1.0, EPS);
    assert_float_equal(c[2], 1.0, EPS);
    /* sat 1.0: band 0 never gated, the others closed */
    sy_flow_ceilings(&u, 1.0, p, 3, ticks, c);
    assert_float_equal(c[0], 1.0, EPS);
    assert_float_equal(c[1], 0.0, EPS);
    assert_float_equal(c[2], 0.0, EPS);
    /* sat 0.75: r = {1, 0.625, 0.25}: bands 1 and 2 past their ceilings; period
     * round(0.75 / 0.25) = 3: open once every 3 calls */
    uint64_t t2[3] = {0, 0, 0};
    int open1 = 0, open2 = 0;
    for (int call = 0; call < 9; call++) {
        sy_flow_ceilings(&u, 0.75, p, 3, t2, c);
        assert_float_equal(c[0], 1.0, EPS);
        open1 += c[1] == 1.0;
        open2 += c[2] == 1.0;
        if (call == 0)
            assert_float_equal(c[1], 1.0, EPS); /* tick 0 opens */
        if (call == 1)
            assert_float_equal(c[1], 0.0, EPS);
    }
    assert_int_equal(open1, 3);
    assert_int_equal(open2, 3);
    /* one band: always open */
    sy_flow_ceilings(&u, 0.99, p, 1, ticks, c);
    assert_float_equal(c[0], 1.0, EPS);
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
