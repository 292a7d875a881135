/* Unit tests for src/sched/weighted_random_picker.c: P(i) = total_i / sum, random fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/pick_helpers.h"

static void test_proportional(void **state)
{
    double t[] = {1, 3};
    int cnt[2];
    fx_pick_counts("weighted-random-picker", t, 2, 40000, cnt);
    assert_in_range(cnt[0], 9570, 10430); /* 10000 +- 5 sigma (sigma = 86.6) */
    assert_in_range(cnt[1], 29570, 30430);
    double t3[] = {0.5, 1.0, 2.5}; /* 1/8, 2/8, 5/8 */
    int c3[3];
    fx_pick_counts("weighted-random-picker", t3, 3, 40000, c3);
    assert_in_range(c3[0], 4700, 5300);
    assert_in_range(c3[1], 9500, 10500);
    assert_in_range(c3[2], 24500, 25500);
}

static void test_nonpositive(void **state)
{
    double t[] = {0, 2, -1};
    int cnt[3];
    fx_pick_counts("weighted-random-picker", t, 3, 1000, cnt);
    assert_int_equal(cnt[1], 1000);
    double z[] = {0, 0, 0, 0}; /* all zero: uniform fallback */
    int cz[4];
    fx_pick_counts("weighted-random-picker", z, 4, 40000, cz);
    for (int i = 0; i < 4; i++)
        assert_in_range(cz[i], 9500, 10500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proportional),
        cmocka_unit_test(test_nonpositive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
