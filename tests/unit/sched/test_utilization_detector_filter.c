/* Unit tests for src/sched/utilization_detector_filter.c: the filter role of llm-d's
 * utilization-detector (drop stale endpoints, queue >= queueDepthThreshold (1 + headroom),
 * KV >= kvCacheUtilThreshold (1 + headroom); fail open), its parameter errors, and that a
 * scheduler loaded from an EndpointPickerConfig declaring the detector runs it in the default
 * profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/time.h"
#include "unit/sched/sched_helpers.h"

struct row {
    double waiting, running, kv; /* scraped */
    int64_t inflight;            /* the gateway's in-flight count */
    bool stale;                  /* last scrape 10 s ago */
};

/* Scraped metrics as of now (fx_ep's scrape time is 1 ns after boot: stale). */
static void fresh(struct sy_endpoint *e, double waiting, double kv)
{
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.waiting = waiting;
    m.kv_usage = kv;
    m.block_size = m.num_blocks = m.max_lora = -1;
    sy_endpoint_set_metrics(e, &m, sy_now_ns());
}

/* Endpoints e0.. from rows. Returns the survivors as digits. */
static const char *run(const char *params, const struct row *rows, size_t n, char *out)
{
    struct sy_endpoint *eps[8];
    uint64_t now = sy_now_ns();
    for (size_t i = 0; i < n; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, rows[i].waiting, rows[i].running, rows[i].kv);
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.waiting = rows[i].waiting;
        m.running = rows[i].running;
        m.kv_usage = rows[i].kv;
        m.block_size = m.num_blocks = m.max_lora = -1;
        sy_endpoint_set_metrics(eps[i], &m, rows[i].stale ? now - 10000000000ull : now);
        atomic_store(&eps[i]->inflight_requests, rows[i].inflight);
    }
    struct sy_pool *p = fx_pool(eps, n);
    struct sy_sched_candidate c[8];
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    struct fx_plugin fp;
    char err[256];
    if (fx_plugin_new(&fp, "utilization-detector", params, err, sizeof err))
        fail_msg("%s", err);
    size_t m = fp.ops->filter(fp.state, &cy, c, n);
    for (size_t i = 0; i < m; i++)
        out[i] = (char)('0' + c[i].pool_index);
    out[m] = '\0';
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    return out;
}

static void test_thresholds(void **state)
{
    char o[9];
    (void)state;
    /* defaults Q 5, KV 0.8: queue 4 kept, 5 dropped; KV 0.79 kept, 0.8 dropped; stale dropped */
    static const struct row r[5] = {{4, 2, 0.1, 6, false},
                                    {5, 2, 0.1, 7, false},
                                    {0, 3, 0.79, 3, false},
                                    {0, 3, 0.8, 3, false},
                                    {0, 0, 0.0, 0, true}};
    assert_string_equal(run(NULL, r, 5, o), "02");
    /* headroom 0.25: limits 6.25 and 1.0 */
    assert_string_equal(run("headroom: 0.25\n", r, 5, o), "0123");
    /* queueDepthThreshold 4 drops e0 too */
    assert_string_equal(run("queueDepthThreshold: 4\n", r, 5, o), "2");
    /* a long staleness bound keeps e4 */
    assert_string_equal(run("metricsStalenessThreshold: 30s\n", r, 5, o), "024");
    /* requests the gateway sent that the scrape does not show yet count as queued: running 2,
     * waiting 2, in flight 8 -> queue 2 + 4 = 6 >= 5 */
    static const struct row lag[2] = {{2, 2, 0, 8, false}, {2, 2, 0, 4, false}};
    assert_string_equal(run(NULL, lag, 2, o), "1");
    /* every endpoint dropped: all kept (fail open) */
    static const struct row full[2] = {{9, 0, 0, 9, false}, {0, 0, 0, 0, true}};
    assert_string_equal(run(NULL, full, 2, o), "01");
}

/* llm-d-router pkg/epp/framework/plugins/flowcontrol/saturationdetector/utilization/
 * detector_test.go TestDetector_Filter, case by case: queueDepthThreshold 5, kvCacheUtilThreshold
 * 0.8, staleness 100ms, headroom 0.2 (limits queue 6.0, KV 0.96). */
static void test_llmd_filter_cases(void **state)
{
    char o[9];
    (void)state;
    static const char params[] = "{queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8, "
                                 "metricsStalenessThreshold: 100ms, headroom: 0.2}";
    /* "All pass - under thresholds" */
    static const struct row pass[2] = {{1, 0, 0.1, 0, false}, {4, 0, 0.7, 0, false}};
    assert_string_equal(run(params, pass, 2, o), "01");
    /* "Pass - at threshold but under burst" */
    static const struct row at[1] = {{5, 0, 0.8, 0, false}};
    assert_string_equal(run(params, at, 1, o), "0");
    /* "Pass - in headroom burst" */
    static const struct row burst[1] = {{5, 0, 0.9, 0, false}};
    assert_string_equal(run(params, burst, 1, o), "0");
    /* "Filtered - exceeds queue burst" */
    static const struct row overq[2] = {{7, 0, 0.1, 0, false}, {1, 0, 0.1, 0, false}};
    assert_string_equal(run(params, overq, 2, o), "1");
    /* "Filtered - exceeds KV burst" */
    static const struct row overkv[2] = {{1, 0, 0.97, 0, false}, {1, 0, 0.5, 0, false}};
    assert_string_equal(run(params, overkv, 2, o), "1");
    /* "Pass - all stale (Fail open at pool level)" */
    static const struct row stale[2] = {{1, 0, 0.1, 0, true}, {1, 0, 0.1, 0, true}};
    assert_string_equal(run(params, stale, 2, o), "01");
    /* "Pass - all saturated (Fail open at pool level)" */
    static const struct row sat[2] = {{10, 0, 0.1, 0, false}, {1, 0, 0.99, 0, false}};
    assert_string_equal(run(params, sat, 2, o), "01");
}

static void test_param_errors(void **state)
{
    (void)state;
    /* llm-d-router .../saturationdetector/utilization/detector_test.go
     * TestUtilizationDetectorFactory: "invalid schema" (queueDepthThreshold a string), "invalid
     * queue depth" (0), "invalid kv cache high" (1.5) / "low" (0.0), "invalid metrics staleness"
     * ("0s"), "invalid headroom"; queueDepthThreshold is a Go int there, so 2.5 does not decode
     * either. */
    static const char *const bad[] = {"queueDepthThreshold: 0\n",
                                      "kvCacheUtilThreshold: 1.5\n",
                                      "headroom: -1\n",
                                      "metricsStalenessThreshold: 200\n",
                                      "maxConcurrency: 5\n",
                                      "queueDepthThreshold: invalid_type\n",
                                      "queueDepthThreshold: 2.5\n",
                                      "kvCacheUtilThreshold: 0.0\n",
                                      "metricsStalenessThreshold: 0s\n"};
    static const char *const why[] = {
        "queueDepthThreshold", "kvCacheUtilThreshold", "headroom",
        "got \"200\"",         "maxConcurrency",       "queueDepthThreshold",
        "queueDepthThreshold", "kvCacheUtilThreshold", "metricsStalenessThreshold"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fx_plugin fp;
        char err[400];
        assert_int_not_equal(fx_plugin_new(&fp, "utilization-detector", bad[i], err, sizeof err),
                             0);
        if (!strstr(err, why[i]))
            fail_msg("case %zu: %s", i, err);
    }
}

/* Declared under plugins:, the detector is a filter of the default profile: the endpoint the
 * scorer prefers is skipped while its queue is at the threshold. */
static void test_default_profile_filters(void **state)
{
    (void)state;
    static const char yaml[] = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
                               "plugins:\n"
                               "- {type: utilization-detector, name: ud, parameters: "
                               "{queueDepthThreshold: 2, metricsStalenessThreshold: 1m}}\n"
                               "- {type: kv-cache-utilization-scorer}\n"
                               "- {type: max-score-picker}\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    /* a: KV 0.1 (the scorer's favourite) but queue 2; b: KV 0.5, queue 0 */
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 2, 0, 0.1), fx_ep("b:1", NULL, 0, 0, 0.5)};
    fresh(eps[0], 2, 0.1);
    fresh(eps[1], 0, 0.5);
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "b:1");
    sy_sched_done(s, &res, true);
    fresh(eps[0], 1, 0.1); /* below the threshold: the scorer's favourite again */
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "a:1");
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds), cmocka_unit_test(test_param_errors),
        cmocka_unit_test(test_llmd_filter_cases), cmocka_unit_test(test_default_profile_filters)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
