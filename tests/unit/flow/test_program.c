/* Unit tests for src/flow/program.c: program-aware-fairness (llm-d's programaware plugin,
 * strategy las) against its documented arithmetic: cost = 1 x prompt + 2 x completion tokens,
 * service halves every lasHalfLifeSeconds, score = wS (1 - norm(service)) + wW norm(headWait)
 * with norm = (v - min) / (max - min), 0.5 when all equal; and the eviction sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "flow/flow_internal.h"

#define S 1000000000ull

static struct sy_flow_las_params defaults(void)
{
    struct sy_flow_las_params p;
    sy_flow__las_defaults(&p);
    return p;
}

static void test_defaults_and_cost(void **state)
{
    struct sy_flow_las_params p = defaults();
    assert_true(p.w_service == 0.8 && p.w_wait == 0.2);
    assert_true(p.half_life_s == 60); /* llm-d-2026-updates.md 1.1 (#2120) */
    assert_true(p.evict_ttl_s == 3600 && p.evict_sweep_s == 300);
    assert_true(sy_flow_las_cost(100, 50) == 200.0); /* output tokens weigh 2x */
    assert_true(sy_flow_las_cost(-1, -1) == 0.0);    /* unknown usage adds nothing */
    assert_true(sy_flow_las_cost(7, -1) == 7.0);
}

static void test_decay(void **state)
{
    assert_true(fabs(sy_flow_las_decay(100, 60, 60) - 50) < 1e-9);
    assert_true(fabs(sy_flow_las_decay(100, 120, 60) - 25) < 1e-9);
    assert_true(fabs(sy_flow_las_decay(100, 30, 60) - 100 / sqrt(2)) < 1e-9);
    assert_true(sy_flow_las_decay(100, 1e6, 0) == 100); /* half-life 0: no decay */
    assert_true(sy_flow_las_decay(100, 0, 60) == 100);
}

static void test_pick(void **state)
{
    struct sy_flow_las_params p = defaults();
    /* the less served program wins when waits are equal: scores 0.1 and 0.9 */
    double s1[] = {1000, 0}, w1[] = {0, 0};
    assert_int_equal(sy_flow_las_pick(&p, s1, w1, 2), 1);
    /* equal service (norm 0.5): the older head wins: 0.4 + 0 vs 0.4 + 0.2 */
    double s2[] = {5, 5}, w2[] = {100, 300};
    assert_int_equal(sy_flow_las_pick(&p, s2, w2, 2), 1);
    /* service outweighs wait at 0.8/0.2: a scores 0.8, b 0.2 */
    double s3[] = {100, 200}, w3[] = {0, 1000};
    assert_int_equal(sy_flow_las_pick(&p, s3, w3, 2), 0);
    /* ... and loses at 0.1/0.9: a 0.1, b 0.9 */
    struct sy_flow_las_params q = p;
    q.w_service = 0.1;
    q.w_wait = 0.9;
    assert_int_equal(sy_flow_las_pick(&q, s3, w3, 2), 1);
    /* three programs: 0.8, 0.5, 0.2 */
    double s4[] = {0, 50, 100}, w4[] = {10, 20, 30};
    assert_int_equal(sy_flow_las_pick(&p, s4, w4, 3), 0);
    /* all equal: the first (smallest fairness id) */
    double s5[] = {3, 3, 3}, w5[] = {7, 7, 7};
    assert_int_equal(sy_flow_las_pick(&p, s5, w5, 3), 0);
    /* one flow */
    assert_int_equal(sy_flow_las_pick(&p, s1, w1, 1), 0);
}

static void test_table_and_sweep(void **state)
{
    struct sy_flow_progs t = {0};
    assert_null(sy_flow__prog_get(&t, "b", false, 0));
    struct sy_flow_prog *b = sy_flow__prog_get(&t, "b", true, 0);
    struct sy_flow_prog *a = sy_flow__prog_get(&t, "a", true, 0);
    assert_ptr_equal(sy_flow__prog_get(&t, "b", false, 0), b);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.v[0]->id, "a"); /* sorted */
    sy_flow__prog_add(a, 100, 0, 60);
    assert_true(fabs(sy_flow__prog_service(a, 60 * S, 60) - 50) < 1e-9);
    sy_flow__prog_add(a, 10, 120 * S, 60); /* 25 + 10 */
    assert_true(fabs(sy_flow__prog_service(a, 120 * S, 60) - 35) < 1e-9);
    a->last_done_ns = 120 * S;
    b->inflight = 1; /* in flight: never evicted */
    assert_int_equal(sy_flow__prog_sweep(&t, 3600 * S + 119 * S, 3600 * S), 0);
    assert_int_equal(sy_flow__prog_sweep(&t, 3600 * S + 120 * S, 3600 * S), 1); /* a */
    assert_int_equal(t.n, 1);
    assert_null(sy_flow__prog_get(&t, "a", false, 0));
    b->inflight = 0;
    assert_int_equal(sy_flow__prog_sweep(&t, 10000 * S, 0), 0); /* TTL 0: never */
    assert_int_equal(sy_flow__prog_sweep(&t, 10000 * S, 3600 * S), 1);
    assert_int_equal(t.n, 0);
    sy_flow__progs_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_cost),
        cmocka_unit_test(test_decay),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_table_and_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
