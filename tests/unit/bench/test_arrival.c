/* Unit tests for src/bench/arrival.c: PRNG, Poisson and constant arrivals, rate stages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "core/err.h"

static void test_rng(void **state)
{
    struct sy_rng a, b, c;
    sy_rng_seed(&a, 7);
    sy_rng_seed(&b, 7);
    sy_rng_seed(&c, 8);
    bool differs = false;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sy_rng_next(&a), y = sy_rng_next(&b), z = sy_rng_next(&c);
        assert_true(x == y);
        differs |= x != z;
    }
    assert_true(differs);
    /* splitmix64 reference value for seed 0 (Vigna's test vector) */
    sy_rng_seed(&a, 0);
    assert_true(sy_rng_next(&a) == 0xe220a8397b1dcdafULL);
    for (int i = 0; i < 10000; i++) {
        double u = sy_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(sy_rng_below(&a, 3) < 3);
        assert_true(sy_rng_exp(&a, 5) >= 0);
    }
}

static void test_poisson_rate(void **state)
{
    struct sy_arrival a;
    sy_arrival_init_rate(&a, 10, true, 42);
    const int n = 20000;
    double prev = 0, sum = 0, sumsq = 0;
    for (int i = 0; i < n; i++) {
        double t = sy_arrival_next(&a);
        assert_true(t >= prev);
        double gap = t - prev;
        sum += gap;
        sumsq += gap * gap;
        prev = t;
    }
    double rate = n / prev;
    assert_true(fabs(rate - 10) / 10 < 0.03); /* mean rate within 3% */
    double mean = sum / n, sd = sqrt(sumsq / n - mean * mean);
    assert_true(fabs(sd / mean - 1) < 0.05); /* exponential gaps: CV = 1 */
    /* the same seed reproduces the schedule, another seed does not */
    struct sy_arrival b, c;
    sy_arrival_init_rate(&b, 10, true, 42);
    sy_arrival_init_rate(&c, 10, true, 43);
    sy_arrival_init_rate(&a, 10, true, 42);
    for (int i = 0; i < 10; i++) {
        double x = sy_arrival_next(&a);
        assert_true(x == sy_arrival_next(&b));
        assert_true(x != sy_arrival_next(&c));
    }
}

static void test_constant_and_burst(void **state)
{
    struct sy_arrival a;
    sy_arrival_init_rate(&a, 4, false, 1);
    assert_true(fabs(sy_arrival_next(&a) - 0.25) < 1e-12);
    assert_true(fabs(sy_arrival_next(&a) - 0.50) < 1e-12);
    assert_true(fabs(sy_arrival_next(&a) - 0.75) < 1e-12);
    assert_true(sy_arrival_span_s(&a) == 0);
    sy_arrival_init_burst(&a);
    for (int i = 0; i < 5; i++)
        assert_true(sy_arrival_next(&a) == 0);
    sy_arrival_init_concurrency(&a, 8);
    assert_int_equal(a.concurrency, 8);
    assert_true(sy_arrival_next(&a) == 0);
    sy_arrival_init_concurrency(&a, 0);
    assert_int_equal(a.concurrency, 1);
}

static void test_stages_parse(void **state)
{
    struct sy_stage st[SY_ARR_MAX_STAGES];
    size_t n;
    char err[200];
    assert_int_equal(sy_stages_parse("3:30s,10:30s", st, SY_ARR_MAX_STAGES, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 2);
    assert_true(st[0].rate == 3 && st[0].duration_s == 30);
    assert_true(st[1].rate == 10 && st[1].duration_s == 30);
    assert_int_equal(
        sy_stages_parse("0.5:500ms, 2:2m,1:30", st, SY_ARR_MAX_STAGES, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_true(st[0].rate == 0.5 && fabs(st[0].duration_s - 0.5) < 1e-12);
    assert_true(st[1].duration_s == 120 && st[2].duration_s == 30);
    const char *bad[] = {"",     "3",     "x:30s", "3:abc",   "0:10s", "-1:5s",
                         "3:0s", "3:10y", ",",     "3:30s,,", "1e9:1s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = sy_stages_parse(bad[i], st, SY_ARR_MAX_STAGES, &n, err, sizeof err);
        if (strcmp(bad[i], "3:30s,,") == 0) { /* empty items are skipped by design */
            assert_int_equal(rc, 0);
            assert_int_equal(n, 1);
            continue;
        }
        assert_int_equal(rc, SY_EINVAL);
        assert_true(strstr(err, "--stages") != NULL);
    }
    assert_int_equal(sy_stages_parse("1:1s,1:1s,1:1s", st, 2, &n, err, sizeof err), SY_EINVAL);
    assert_non_null(strstr(err, "more than 2"));
}

static void test_stages_constant(void **state)
{
    struct sy_stage st[2] = {{2, 1}, {4, 1}};
    struct sy_arrival a;
    sy_arrival_init_stages(&a, st, 2, false, 0);
    assert_true(sy_arrival_span_s(&a) == 2);
    /* where each stage starts in the schedule (the runner's stage barrier shifts from there) */
    assert_true(sy_arrival_stage_start_s(&a, 0) == 0);
    assert_true(sy_arrival_stage_start_s(&a, 1) == 1);
    assert_true(sy_arrival_stage_start_s(&a, 2) == 2);
    assert_true(sy_arrival_stage_start_s(&a, 99) == 2);
    /* stage 1: 0.5 (1.0 is the stage's end, not inside); stage 2 from 1.0: 1.25 1.5 1.75 */
    const double want[] = {0.5, 1.25, 1.5, 1.75};
    for (size_t i = 0; i < 4; i++)
        assert_true(fabs(sy_arrival_next(&a) - want[i]) < 1e-12);
    assert_true(sy_arrival_next(&a) < 0);
    assert_true(sy_arrival_next(&a) < 0); /* stays over */
}

static void test_stages_poisson(void **state)
{
    struct sy_stage st[2] = {{50, 100}, {200, 100}};
    struct sy_arrival a;
    sy_arrival_init_stages(&a, st, 2, true, 3);
    size_t c1 = 0, c2 = 0, total = 0;
    double prev = 0, t;
    while ((t = sy_arrival_next(&a)) >= 0) {
        assert_true(t >= prev && t < 200);
        prev = t;
        if (t < 100)
            c1++;
        else
            c2++;
        assert_true(++total < 100000); /* bounded */
    }
    assert_true(fabs((double)c1 - 5000) / 5000 < 0.05);
    assert_true(fabs((double)c2 - 20000) / 20000 < 0.05);
}

static void test_describe(void **state)
{
    struct sy_buf b;
    sy_buf_init(&b);
    struct sy_arrival a;
    sy_arrival_init_rate(&a, 2.5, true, 1);
    sy_arrival_describe(&a, &b);
    assert_string_equal(b.data, "poisson 2.5 req/s");
    sy_buf_reset(&b);
    struct sy_stage st[2] = {{3, 30}, {10, 30}};
    sy_arrival_init_stages(&a, st, 2, true, 1);
    sy_arrival_describe(&a, &b);
    assert_string_equal(b.data, "poisson stages 3 req/s x 30s, 10 req/s x 30s");
    sy_buf_reset(&b);
    sy_arrival_init_concurrency(&a, 4);
    sy_arrival_describe(&a, &b);
    assert_string_equal(b.data, "concurrency 4");
    sy_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_poisson_rate),
        cmocka_unit_test(test_constant_and_burst),
        cmocka_unit_test(test_stages_parse),
        cmocka_unit_test(test_stages_constant),
        cmocka_unit_test(test_stages_poisson),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
