/* Unit tests for src/flow/saturation.c: utilization-detector (roofline per endpoint, mean over
 * the pool, scrape-lag credit, stale = saturated) and concurrency-detector (requests, tokens,
 * hybrid) against llm-d's documented arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flow/flow.h"
#include "unit/sched/sched_helpers.h"

#define EPS  1e-9
#define T0   1ull                /* fx_ep scrapes at t = 1 ns */
#define NOW  (T0 + 100000000ull) /* 100ms later: fresh under the 200ms default */
#define LATE (T0 + 300000000ull) /* 300ms later: stale */

static struct sy_flow_detector_params util(void)
{
    struct sy_flow_detector_params d = {.kind = 0,
                                        .queue_depth = 5,
                                        .kv_util = 0.8,
                                        .staleness_ns = 200000000ull,
                                        .max_concurrency = 100,
                                        .max_token_concurrency = 1000000};
    return d;
}

static void test_utilization(void **state)
{
    /* a: max(2/5, 0.4/0.8) = 0.5; b: max(10/5, 0) = 2.0; mean 1.25 */
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 2, 1, 0.4), fx_ep("b:1", NULL, 10, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 2);
    struct sy_flow_detector_params d = util();
    struct sy_flow_pool_view v = {.pool = pool, .now_ns = NOW};
    struct sy_flow_saturation s;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.25, EPS);
    assert_int_equal(s.ready, 2);
    assert_int_equal(s.stale, 0);
    /* scrape-lag credit: a has 6 in flight but the scrape shows 2 waiting + 1 running: +3 */
    sy_endpoint_inflight_add(eps[0], 0);
    for (int i = 0; i < 5; i++)
        sy_endpoint_inflight_add(eps[0], 0);
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, (5.0 / 5 + 2.0) / 2, EPS);
    /* unpicked requests (released, not yet counted by an endpoint) spread over the pool */
    v.unpicked = 4;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, (5.0 / 5 + 2.0) / 2 + 4.0 / (5 * 2), EPS);
    /* stale: both endpoints count as 1.0 and are reported */
    v.unpicked = 0;
    v.now_ns = LATE;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.0, EPS);
    assert_int_equal(s.stale, 2);
    sy_pool_unref(pool);
}

static void test_no_ready_endpoint(void **state)
{
    struct sy_endpoint *eps[1] = {fx_ep("a:1", NULL, 0, 0, 0)};
    sy_endpoint_set_failed(eps[0], 5);
    struct sy_pool *pool = fx_pool(eps, 1);
    struct sy_flow_detector_params d = util();
    struct sy_flow_pool_view v = {.pool = pool, .now_ns = NOW};
    struct sy_flow_saturation s;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.0, EPS);
    assert_int_equal(s.ready, 0);
    d.kind = 1;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.0, EPS);
    sy_pool_unref(pool);
}

static void test_concurrency(void **state)
{
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 50, 0, 0.99), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 2);
    struct sy_flow_detector_params d = util();
    d.kind = 1;
    d.max_concurrency = 4;
    d.max_token_concurrency = 1000;
    /* requests: 6 / (4 * 2); scraped metrics and staleness do not matter */
    struct sy_flow_pool_view v = {
        .pool = pool, .now_ns = LATE, .outstanding = 6, .outstanding_tokens = 1500};
    struct sy_flow_saturation s;
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 0.75, EPS);
    assert_int_equal(s.stale, 0);
    d.mode = 1; /* tokens: 1500 / (1000 * 2) */
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 0.75, EPS);
    v.outstanding_tokens = 3000;
    d.mode = 2; /* hybrid: the larger */
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.5, EPS);
    sy_pool_unref(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utilization),
        cmocka_unit_test(test_no_ready_endpoint),
        cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
