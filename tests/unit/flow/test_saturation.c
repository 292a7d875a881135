/* Unit tests for src/flow/saturation.c: utilization-detector (roofline per endpoint, mean over
 * the pool, scrape-lag credit, stale = saturated) and concurrency-detector (requests, tokens,
 * hybrid) against llm-d's documented arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flow/flow.h"
#include "sched/label_selector.h"
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

/* A selector from YAML (matchLabels / matchExpressions). */
static struct sy_label_selector *selector(const char *text)
{
    char err[256];
    struct sy_yaml_node *n = sy_yaml_load_string(text, strlen(text), "t.yaml", err, sizeof err);
    assert_non_null(n);
    struct sy_plugin_env env = {.file = "t.yaml", .line = 1, .name = "r", .path = "plugins[0]"};
    struct sy_label_selector *ls = NULL;
    assert_int_equal(sy_label_selector_parse(n, &env, "", &ls, err, sizeof err), 0);
    sy_yaml_free(n);
    return ls;
}

/* view.exclude (a reservation): the same formulas over the other endpoints; the concurrency
 * detector counts the gateway's in-flight requests on them plus unpicked. */
static void test_exclude(void **state)
{
    (void)state;
    /* r reserved (waiting 10), s1 with 1 in flight (scrape shows nothing: credit 1), s2 idle */
    struct sy_endpoint *eps[3] = {fx_ep("r:1", "pool=fast", 10, 0, 0), fx_ep("s1:1", NULL, 0, 0, 0),
                                  fx_ep("s2:1", NULL, 0, 0, 0)};
    sy_endpoint_inflight_add(eps[0], 10);
    sy_endpoint_inflight_add(eps[0], 10);
    sy_endpoint_inflight_add(eps[1], 10);
    struct sy_pool *pool = fx_pool(eps, 3);
    struct sy_label_selector *ls = selector("matchLabels: {pool: fast}\n");
    struct sy_flow_detector_params d = util();
    d.kind = 1;
    d.max_concurrency = 2;
    d.max_token_concurrency = 100;
    struct sy_flow_pool_view v = {
        .pool = pool, .now_ns = NOW, .outstanding = 4, .outstanding_tokens = 40, .unpicked = 1};
    struct sy_flow_saturation s;
    sy_flow_saturation(&d, &v, &s); /* whole pool: 4 / (2 * 3) */
    assert_float_equal(s.value, 4.0 / 6, EPS);
    assert_int_equal(s.ready, 3);
    v.exclude = ls; /* shared: (1 in flight on s1 + 1 unpicked) / (2 * 2) */
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 0.5, EPS);
    assert_int_equal(s.ready, 2);
    d.mode = 1; /* tokens: (10 on s1 + 1 unpicked x 40/4) / (100 * 2) */
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 0.1, EPS);
    /* utilization: mean over s1 (credit 1: 1/5) and s2 (0), + unpicked / (5 * 2) */
    struct sy_flow_detector_params u = util();
    sy_flow_saturation(&u, &v, &s);
    assert_float_equal(s.value, 0.1 + 0.1, EPS);
    v.exclude = NULL; /* the reserved one's queue (10/5 = 2, + credit 0) counts without exclude */
    sy_flow_saturation(&u, &v, &s);
    assert_float_equal(s.value, (2.0 + 0.2 + 0) / 3 + 1.0 / 15, EPS);
    /* no shared endpoint ready: 1.0 */
    v.exclude = ls;
    sy_endpoint_set_failed(eps[1], 5);
    sy_endpoint_set_failed(eps[2], 5);
    sy_flow_saturation(&d, &v, &s);
    assert_float_equal(s.value, 1.0, EPS);
    assert_int_equal(s.ready, 0);
    sy_label_selector_free(ls);
    sy_pool_unref(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utilization),
        cmocka_unit_test(test_no_ready_endpoint),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_exclude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
