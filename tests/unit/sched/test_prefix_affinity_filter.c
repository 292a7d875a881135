/* Unit tests for src/sched/prefix_affinity_filter.c through its ops table: threshold, order of
 * survivors, exploration, the prefill-throughput TTFT load gate, the v0.8 in-flight token gate
 * and parameter validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "unit/sched/sched_helpers.h"

struct fx {
    struct sy_pool *pool;
    struct sy_sched_candidate c[4];
    struct sy_prefix_match pm[4];
    struct sy_sched_cycle cy;
};

/* Four endpoints with prefix scores s[i] = match/10 and in-flight tokens tok[i]. */
static void fx_init(struct fx *f, const uint32_t match[4], const int64_t tok[4])
{
    struct sy_endpoint *eps[4] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                  fx_ep("c:1", NULL, 0, 0, 0), fx_ep("d:1", NULL, 0, 0, 0)};
    for (int i = 0; i < 4; i++)
        sy_endpoint_inflight_add(eps[i], tok[i]);
    f->pool = fx_pool(eps, 4);
    fx_cands(f->pool, f->c);
    fx_cycle(&f->cy, NULL, f->pool, 0x5DEECE66DULL);
    for (int i = 0; i < 4; i++)
        f->pm[i] = (struct sy_prefix_match){match[i], 10, 16, match[i]};
    f->cy.prefix = f->pm;
    f->cy.prefix_valid = true;
}

static struct fx_plugin mk(const char *yaml)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-affinity-filter", yaml, err, sizeof err), 0);
    return fp;
}

static void test_narrows_to_sticky_in_order(void **state)
{
    const uint32_t m[4] = {9, 2, 8, 10}; /* scores 0.9 0.2 0.8 1.0; threshold 0.8 */
    const int64_t t[4] = {0, 0, 0, 0};
    struct fx f;
    fx_init(&f, m, t);
    struct fx_plugin fp = mk(NULL);
    size_t n = fp.ops->filter(fp.state, &f.cy, f.c, 4);
    assert_int_equal(n, 3);
    assert_string_equal(f.c[0].ep->address, "a:1");
    assert_string_equal(f.c[1].ep->address, "c:1"); /* 0.8 >= 0.8 is sticky */
    assert_string_equal(f.c[2].ep->address, "d:1");
    assert_int_equal(f.c[1].pool_index, 2);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_keeps_all(void **state)
{
    const uint32_t none[4] = {1, 2, 3, 7};
    const int64_t t[4] = {0, 0, 0, 0};
    struct fx f;
    fx_init(&f, none, t);
    struct fx_plugin fp = mk(NULL);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4); /* nobody sticky */
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 1), 1); /* single candidate */
    f.cy.prefix_valid = false;                                    /* no prefix data */
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);

    /* affinityThreshold 0 disables the filter. */
    const uint32_t some[4] = {10, 0, 0, 0};
    fx_init(&f, some, t);
    fp = mk("affinityThreshold: 0\n");
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);
    /* explorationProbability 1 always skips the gate; 0 never does. */
    fp = mk("explorationProbability: 1\n");
    for (int i = 0; i < 20; i++)
        assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);
    fp = mk("explorationProbability: 0\n");
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 1);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_exploration_rate(void **state)
{
    const uint32_t m[4] = {10, 0, 0, 0};
    const int64_t t[4] = {0, 0, 0, 0};
    struct fx f;
    fx_init(&f, m, t);
    struct fx_plugin fp = mk("explorationProbability: 0.25\n");
    int kept_all = 0;
    for (int r = 0; r < 4000; r++) {
        struct sy_sched_candidate c[4];
        memcpy(c, f.c, sizeof c);
        f.cy.rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(r + 1);
        if (fp.ops->filter(fp.state, &f.cy, c, 4) == 4)
            kept_all++;
    }
    /* 1000 expected; 5 sigma is about 137. */
    assert_in_range(kept_all, 860, 1140);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_ttft_load_gate(void **state)
{
    /* Defaults: maxTTFTPenaltyMs 18000, peakPrefillThroughput 15928 tok/s.
     * Sticky a (400000 tokens -> 25113 ms) vs best non-sticky b (0 ms): 25113 > 18000 -> keep all.
     */
    const uint32_t m[4] = {10, 0, 0, 0};
    const int64_t heavy[4] = {400000, 0, 5000, 9000};
    struct fx f;
    fx_init(&f, m, heavy);
    struct fx_plugin fp = mk(NULL);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    sy_pool_unref(f.pool);

    /* 200000 tokens -> 12556.5 ms; non-sticky best 5000 -> 313.9 ms; penalty 12242 < 18000. */
    const int64_t light[4] = {200000, 9000, 5000, 9000};
    fx_init(&f, m, light);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 1);
    assert_string_equal(f.c[0].ep->address, "a:1");
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);

    /* Tighter gate: 10000 ms with peak 20000 tok/s: (200000-5000)/20000*1000 = 9750 ms -> stick;
     * with best non-sticky 0: 10000 ms is not > 10000 -> stick; 200001 tokens -> keep all. */
    fp = mk("maxTTFTPenaltyMs: 10000\npeakPrefillThroughput: 20000\n");
    fx_init(&f, m, light);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 1);
    sy_pool_unref(f.pool);
    const int64_t edge[4] = {200000, 0, 0, 0};
    fx_init(&f, m, edge);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 1);
    sy_pool_unref(f.pool);
    const int64_t over[4] = {200001, 0, 0, 0};
    fx_init(&f, m, over);
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);

    /* maxTTFTPenaltyMs 0: always stick, however loaded. */
    fp = mk("maxTTFTPenaltyMs: 0\n");
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 1);
    fx_plugin_free(&fp);

    /* v0.8's in-flight token gate: sticky best 200001 - non-sticky best 0 > 1000 -> keep all. */
    fp = mk("maxTTFTPenaltyMs: 0\nmaxTokensInFlightPenalty: 1000\n");
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    const char *type = "prefix-cache-affinity-filter";
    /* latencyPredictor is accepted (predicted-latency-producer; test_latency_plugins.c) */
    assert_int_equal(fx_plugin_new(&fp, type, "ttftSource: latencyPredictor\n", err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    assert_int_equal(fx_plugin_new(&fp, type, "ttftSource: guess\n", err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "ttftSource"));
    assert_int_equal(fx_plugin_new(&fp, type, "affinityThreshold: 1.2\n", err, sizeof err),
                     SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, type, "explorationProbability: -0.1\n", err, sizeof err),
                     SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, type, "maxTTFTPenaltyMs: -1\n", err, sizeof err),
                     SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, type, "peakPrefillThroughput: 0\n", err, sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "peakPrefillThroughput"));
    assert_int_equal(fx_plugin_new(&fp, type, "stickiness: 3\n", err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "stickiness"));
    /* Accepted: the Helm chart's strict instance, and peak 0 with the gate off. */
    assert_int_equal(fx_plugin_new(&fp, type,
                                   "affinityThreshold: 0.99\nexplorationProbability: 0.01\n"
                                   "maxTTFTPenaltyMs: 5000\nttftSource: prefillThroughput\n"
                                   "prefixMatchInfoProducerName: approx-prefix-cache-producer\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    assert_int_equal(fx_plugin_new(&fp, type, "maxTTFTPenaltyMs: 0\npeakPrefillThroughput: 0\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
}

/* llm-d's Config.validate cases: affinityThreshold is bounded above only (<= 0 disables the
 * filter), an empty ttftSource is refused, and peakPrefillThroughput 0 is allowed when the
 * latency predictor supplies TTFT. */
static void test_llmd_validate_cases(void **state)
{
    struct fx_plugin fp;
    char err[256];
    const char *type = "prefix-cache-affinity-filter";
    assert_int_equal(fx_plugin_new(&fp, type, "ttftSource: \"\"\n", err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "ttftSource"));
    assert_int_equal(fx_plugin_new(&fp, type,
                                   "ttftSource: latencyPredictor\npeakPrefillThroughput: 0\n", err,
                                   sizeof err),
                     0);
    fx_plugin_free(&fp);
    const uint32_t some[4] = {10, 0, 0, 0};
    const int64_t t[4] = {0, 0, 0, 0};
    struct fx f;
    fx_init(&f, some, t);
    fp = mk("affinityThreshold: -0.5\n");
    assert_int_equal(fp.ops->filter(fp.state, &f.cy, f.c, 4), 4);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_narrows_to_sticky_in_order),
        cmocka_unit_test(test_keeps_all),
        cmocka_unit_test(test_exploration_rate),
        cmocka_unit_test(test_ttft_load_gate),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_llmd_validate_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
