/* Unit tests for src/sched/max_score_picker.c: highest total, ties uniformly at random. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/pick_helpers.h"

static void test_highest_wins(void **state)
{
    double t[] = {1, 3, 2};
    int cnt[3];
    fx_pick_counts("max-score-picker", t, 3, 200, cnt);
    assert_int_equal(cnt[1], 200);
    double t1[] = {0.5};
    fx_pick_counts("max-score-picker", t1, 1, 10, cnt);
    assert_int_equal(cnt[0], 10);
}

static void test_ties_uniform(void **state)
{
    double t[] = {2, 2, 1, 2};
    int cnt[4];
    fx_pick_counts("max-score-picker", t, 4, 30000, cnt);
    assert_int_equal(cnt[2], 0);
    for (int i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        /* expected 10000 each; 5 sigma of a binomial(30000, 1/3) is ~410 */
        assert_in_range(cnt[i], 9500, 10500);
    }
}

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(
        fx_plugin_new(&fp, "max-score-picker", "maxNumOfEndpoints: 2\n", err, sizeof err), 0);
    /* llm-d's pickers: maxNumOfEndpoints <= 0 falls back to the default 1 */
    const char *const types[] = {"max-score-picker", "random-picker", "weighted-random-picker"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fx_plugin_new(&fp, types[i], "maxNumOfEndpoints: 0\n", err, sizeof err),
                         0);
        fx_plugin_free(&fp);
        assert_int_equal(fx_plugin_new(&fp, types[i], "maxNumOfEndpoints: -3\n", err, sizeof err),
                         0);
        fx_plugin_free(&fp);
    }
    assert_int_not_equal(
        fx_plugin_new(&fp, "max-score-picker", "maxNumOfEndpoints: 1.5\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "maxNumOfEndpoints"));
    assert_int_not_equal(fx_plugin_new(&fp, "max-score-picker", "top: 1\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_highest_wins),
        cmocka_unit_test(test_ties_uniform),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
