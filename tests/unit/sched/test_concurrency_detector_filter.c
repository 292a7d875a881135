/* Unit tests for src/sched/concurrency_detector_filter.c: the filter role of llm-d's
 * concurrency-detector (limit = maxConcurrency * (1 + headroom), in-flight < limit kept, no
 * fail open when every endpoint is full), its parameter errors, and that a scheduler loaded from
 * an EndpointPickerConfig with the detector (and flow control) runs it in the default profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

/* Endpoints e0..: in-flight requests and tokens per row. Returns survivors as digits. */
static const char *run(const char *params, const int64_t (*rows)[2], size_t n, char *out)
{
    struct sy_endpoint *eps[8];
    for (size_t i = 0; i < n; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, 0, 0, 0);
        atomic_store(&eps[i]->inflight_requests, rows[i][0]);
        atomic_store(&eps[i]->inflight_tokens, rows[i][1]);
    }
    struct sy_pool *p = fx_pool(eps, n);
    struct sy_sched_candidate c[8];
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    struct fx_plugin fp;
    char err[256];
    if (fx_plugin_new(&fp, "concurrency-detector", params, err, sizeof err))
        fail_msg("%s", err);
    size_t m = fp.ops->filter(fp.state, &cy, c, n);
    for (size_t i = 0; i < m; i++)
        out[i] = (char)('0' + c[i].pool_index);
    out[m] = '\0';
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    return out;
}

static void test_limits(void **state)
{
    char o[9];
    (void)state;
    /* requests, tokens */
    static const int64_t r[4][2] = {{7, 0}, {8, 0}, {9, 0}, {0, 0}};
    /* limit 8: at the limit is full (llm-d keeps inflight < limit) */
    assert_string_equal(run("maxConcurrency: 8\n", r, 4, o), "03");
    /* headroom widens it: 8 * 1.25 = 10 */
    assert_string_equal(run("maxConcurrency: 8\nheadroom: 0.25\n", r, 4, o), "0123");
    /* 8 * 1.1 = 8.8 -> 8 (truncated, as llm-d's int64 conversion) */
    assert_string_equal(run("maxConcurrency: 8\nheadroom: 0.1\n", r, 4, o), "03");
    /* default maxConcurrency 100 */
    static const int64_t big[2][2] = {{99, 0}, {100, 0}};
    assert_string_equal(run(NULL, big, 2, o), "0");
    /* every endpoint full: all kept (fail open; the gate already released the request) */
    static const int64_t full[2][2] = {{8, 0}, {12, 0}};
    assert_string_equal(run("maxConcurrency: 8\n", full, 2, o), "01");
    /* tokens mode reads in-flight tokens only; hybrid needs both under their limits */
    static const int64_t tok[3][2] = {{50, 100}, {0, 1000}, {10, 0}};
    assert_string_equal(
        run("concurrencyMode: tokens\nmaxTokenConcurrency: 1000\nmaxConcurrency: 8\n", tok, 3, o),
        "02");
    assert_string_equal(
        run("concurrencyMode: hybrid\nmaxTokenConcurrency: 1000\nmaxConcurrency: 60\n", tok, 3, o),
        "02");
    assert_string_equal(
        run("concurrencyMode: hybrid\nmaxTokenConcurrency: 1000\nmaxConcurrency: 30\n", tok, 3, o),
        "2");
}

static void test_param_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"maxConcurrency: 0\n", "headroom: -1\n",
                                      "concurrencyMode: bytes\n", "queueDepthThreshold: 5\n"};
    static const char *const why[] = {"maxConcurrency", "headroom", "got \"bytes\"",
                                      "queueDepthThreshold"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fx_plugin fp;
        char err[400];
        assert_int_not_equal(fx_plugin_new(&fp, "concurrency-detector", bad[i], err, sizeof err),
                             0);
        if (!strstr(err, why[i]))
            fail_msg("case %zu: %s", i, err);
    }
}

/* The default profile (no schedulingProfiles) holds the detector as a filter: the endpoint the
 * scorer prefers is skipped while it holds maxConcurrency requests. */
static void test_default_profile_filters(void **state)
{
    (void)state;
    static const char yaml[] =
        "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
        "featureGates: [flowControl]\n"
        "plugins:\n"
        "- {type: concurrency-detector, name: cd, parameters: {maxConcurrency: 2}}\n"
        "- {type: queue-scorer}\n"
        "- {type: max-score-picker}\n"
        "flowControl:\n  saturationDetector: {pluginRef: cd}\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    /* a: empty queue (the scorer's favourite); b: waiting 3 */
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 3, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "a:1");
    sy_sched_done(s, &res, true);
    atomic_store(&eps[0]->inflight_requests, 2);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "b:1");
    sy_sched_done(s, &res, true);
    /* both full (only after a reload with queued requests): fail open, the scorer decides */
    atomic_store(&eps[1]->inflight_requests, 2);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "a:1");
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_limits),
                                       cmocka_unit_test(test_param_errors),
                                       cmocka_unit_test(test_default_profile_filters)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
