/* Unit tests for src/flow/saturation.c: utilization-detector (roofline per endpoint, mean over
 * the pool, scrape-lag credit, stale = saturated) and concurrency-detector (requests, tokens,
 * hybrid) against llm-d's documented arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdatomic.h>

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

/* llm-d-router pkg/epp/framework/plugins/flowcontrol/saturationdetector/utilization/
 * detector_test.go TestDetector_Saturation, every case: queueDepthThreshold 5,
 * kvCacheUtilThreshold 0.9, staleness 100ms; rows are {waiting, kv, age ms}. (Nil metrics: an
 * endpoint never scraped, counted as stale. No candidates: test_no_ready_endpoint.) */
static void test_llmd_saturation_cases(void **state)
{
    static const struct {
        const char *name;
        int n;
        double rows[3][3];
        double want;
    } cases[] = {
        {"Single pod with good capacity", 1, {{2, 0.5, 0}}, 0.5 / 0.9},
        {"Single pod with stale metrics", 1, {{1, 0.1, 200}}, 1.0},
        {"Single pod with high queue depth", 1, {{10, 0.1, 0}}, 2.0},
        {"Single pod with high KV cache utilization", 1, {{1, 0.95, 0}}, 0.95 / 0.90},
        {"Single pod with nil metrics", 1, {{0, 0, -1}}, 1.0},
        {"Multiple pods, all good capacity", 2, {{1, 0.1, 0}, {0, 0.2, 0}}, (0.2 + 0.2 / 0.9) / 2},
        {"Multiple pods, one good, one stale", 2, {{1, 0.1, 0}, {0, 0.2, 300}}, 0.6},
        {"Multiple pods, one good, one bad (high queue)", 2, {{1, 0.1, 0}, {15, 0.2, 0}}, 1.6},
        {"Multiple pods, all bad capacity",
         3,
         {{1, 0.1, 200}, {20, 0.2, 0}, {1, 0.99, 0}},
         (1.0 + 4.0 + 0.99 / 0.9) / 3},
        {"Queue depth exactly at threshold", 1, {{5, 0.1, 0}}, 1.0},
        {"Metrics age just over staleness threshold", 1, {{1, 0.1, 101}}, 1.0},
    };
    struct sy_flow_detector_params d = util();
    d.kv_util = 0.9;
    d.staleness_ns = 100000000ull;
    const uint64_t now = 10000000000ull; /* 10 s */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct sy_endpoint *eps[3];
        for (int i = 0; i < cases[c].n; i++) {
            char a[16];
            snprintf(a, sizeof a, "e%d:1", i);
            eps[i] = fx_ep(a, NULL, 0, 0, 0); /* scraped at 1 ns: stale at `now` */
            double age = cases[c].rows[i][2];
            if (age >= 0) {
                struct sy_engine_metrics m;
                memset(&m, 0, sizeof m);
                m.waiting = cases[c].rows[i][0];
                m.kv_usage = cases[c].rows[i][1];
                m.block_size = m.num_blocks = m.max_lora = -1;
                sy_endpoint_set_metrics(eps[i], &m, now - (uint64_t)(age * 1e6));
            }
        }
        struct sy_pool *pool = fx_pool(eps, (size_t)cases[c].n);
        struct sy_flow_pool_view v = {.pool = pool, .now_ns = now};
        struct sy_flow_saturation s;
        sy_flow_saturation(&d, &v, &s);
        if (s.value < cases[c].want - 1e-4 || s.value > cases[c].want + 1e-4)
            fail_msg("%s: saturation %f, want %f", cases[c].name, s.value, cases[c].want);
        sy_pool_unref(pool);
    }
    (void)state;
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

/* llm-d-router .../saturationdetector/concurrency/detector_test.go TestDetector_HybridSaturation:
 * maxConcurrency 10, maxTokenConcurrency 100, per-endpoint in-flight {requests, tokens}; each
 * endpoint is its fuller dimension, the pool the mean. (Switchyard used max(total requests /
 * capacity, total tokens / capacity): 0.5 for two endpoints full on different dimensions.) */
static void test_concurrency_hybrid(void **state)
{
    static const struct {
        const char *name;
        int n;
        int64_t load[2][2];
        double want;
    } cases[] = {
        {"empty", 1, {{0, 0}}, 0.0},
        {"tokens_dominate", 1, {{2, 80}}, 0.8},
        {"requests_dominate", 1, {{9, 10}}, 0.9},
        {"request_dimension_saturates_first", 1, {{10, 5}}, 1.0},
        {"token_dimension_saturates_first", 1, {{1, 100}}, 1.0},
        {"endpoints_saturated_on_different_dimensions", 2, {{10, 0}, {0, 100}}, 1.0},
        {"per_endpoint_average", 2, {{10, 0}, {0, 0}}, 0.5},
    };
    struct sy_flow_detector_params d = util();
    d.kind = 1;
    d.mode = 2;
    d.max_concurrency = 10;
    d.max_token_concurrency = 100;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct sy_endpoint *eps[2];
        for (int i = 0; i < cases[c].n; i++) {
            eps[i] = fx_ep(i ? "b:1" : "a:1", NULL, 0, 0, 0);
            atomic_store(&eps[i]->inflight_requests, cases[c].load[i][0]);
            atomic_store(&eps[i]->inflight_tokens, cases[c].load[i][1]);
        }
        struct sy_pool *pool = fx_pool(eps, (size_t)cases[c].n);
        /* the controller's totals do not matter in hybrid mode */
        struct sy_flow_pool_view v = {
            .pool = pool, .now_ns = LATE, .outstanding = 1000, .outstanding_tokens = 1};
        struct sy_flow_saturation s;
        sy_flow_saturation(&d, &v, &s);
        if (fabs(s.value - cases[c].want) > 1e-9)
            fail_msg("%s: saturation %f, want %f", cases[c].name, s.value, cases[c].want);
        /* released requests not yet forwarded count against the pool */
        v.unpicked = 5;
        sy_flow_saturation(&d, &v, &s);
        assert_float_equal(s.value, cases[c].want + 5.0 / (10.0 * cases[c].n), EPS);
        sy_pool_unref(pool);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utilization),           cmocka_unit_test(test_no_ready_endpoint),
        cmocka_unit_test(test_llmd_saturation_cases), cmocka_unit_test(test_concurrency_hybrid),
        cmocka_unit_test(test_concurrency),           cmocka_unit_test(test_exclude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
