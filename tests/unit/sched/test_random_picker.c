/* Unit tests for src/sched/random_picker.c: uniform, scores ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/pick_helpers.h"

static void test_uniform(void **state)
{
    double t[] = {100, 0, 0, 0};
    int cnt[4];
    fx_pick_counts("random-picker", t, 4, 40000, cnt);
    for (int i = 0; i < 4; i++)
        assert_in_range(cnt[i], 9500, 10500); /* 10000 +- 5.8 sigma */
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(
        fx_plugin_new(&fp, "random-picker", "maxNumOfEndpoints: x\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_uniform)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
