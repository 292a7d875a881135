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

/* The picks of n full scheduling cycles (sy_sched_pick + sy_sched_done) with random-picker. */
static void picks(struct sy_scheduler *s, struct sy_pool *p, size_t *out, size_t n)
{
    struct sy_request r;
    fx_req(&r, "m", 100);
    for (size_t i = 0; i < n; i++) {
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        out[i] = res.pool_index;
        sy_sched_done(s, &res, true);
    }
}

/* sy_sched_seed (benchmarks in simulated time): after it the cycles' random seeds follow the seed
 * and the cycle count, not the clock, so the same seed repeats the same picks and another seed
 * does not. */
static void test_fixed_seed_repeats(void **state)
{
    (void)state;
    char err[256];
    struct sy_scheduler *s = fx_sched("plugins:\n- type: random-picker\n", err, sizeof err);
    assert_non_null(s);
    struct sy_endpoint *eps[8];
    for (size_t i = 0; i < 8; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "e%zu:1", i);
        eps[i] = fx_ep(addr, NULL, 0, 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, 8);
    enum { N = 64 };
    size_t a[N], b[N], c[N];
    sy_sched_seed(42);
    picks(s, p, a, N);
    sy_sched_seed(42);
    picks(s, p, b, N);
    sy_sched_seed(43);
    picks(s, p, c, N);
    size_t same = 0, used[8] = {0};
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(a[i], b[i]);
        same += a[i] == c[i];
        used[a[i]]++;
    }
    assert_true(same < N / 2); /* about N/8 expected */
    for (size_t k = 0; k < 8; k++)
        assert_true(used[k] > 0); /* still spread over every endpoint */
    sy_pool_unref(p);
    sy_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_uniform),
                                       cmocka_unit_test(test_fixed_seed_repeats)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
