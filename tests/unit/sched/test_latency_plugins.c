/* Unit tests for the predicted-latency plugins: predicted-latency-producer (predictions,
 * headroom, training from sy_sched_observe), latency-scorer (headroom tiers, composite fallback),
 * slo-headroom-tier-filter, latency-slo-admitter, prefix-cache-affinity-filter with ttftSource
 * latencyPredictor, and the SLO header parser (latency/slo.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "latency/slo.h"
#include "sched/latency_info.h"
#include "sched/plugins.h"
#include "unit/sched/sched_helpers.h"

/* Trains the shared model: endpoint "slow:1" is 3x slower than the others at equal load; TTFT
 * grows with waiting. */
static void train(struct sy_latency_model *m)
{
    for (int i = 0; i < 3000; i++) {
        const char *ep = i % 3 == 0 ? "slow:1" : i % 3 == 1 ? "fast:1" : "fast:2";
        double speed = i % 3 == 0 ? 3.0 : 1.0;
        struct sy_latency_features f = {.waiting = (uint32_t)(i % 5),
                                        .running = (uint32_t)(i % 7),
                                        .input_tokens = 200 + (uint32_t)(i % 13) * 100};
        f.queued = f.waiting > 0;
        double ttft =
            speed * (0.05 + 0.1 * f.waiting + f.input_tokens * 1e-5) * (1 + (i % 10) / 50.0);
        double tpot = speed * (0.01 + 0.001 * f.running) * (1 + (i % 10) / 50.0);
        sy_latency_observe(m, ep, &f, ttft, tpot);
    }
    assert_int_equal(sy_latency_retrain(m), 0);
}

struct fx {
    struct sy_pool *pool;
    struct sy_sched_candidate c[3];
    struct sy_request req;
    struct sy_sched_cycle cy;
};

static void fx_init(struct fx *f, double slo_ttft_ms, double slo_tpot_ms, double fast2_waiting)
{
    struct sy_endpoint *eps[3] = {fx_ep("slow:1", NULL, 0, 0, 0.3),
                                  fx_ep("fast:1", NULL, 0, 0, 0.3),
                                  fx_ep("fast:2", NULL, fast2_waiting, 0, 0.3)};
    f->pool = fx_pool(eps, 3);
    fx_cands(f->pool, f->c);
    fx_req(&f->req, "m", 500);
    f->req.slo_ttft_ms = slo_ttft_ms;
    f->req.slo_tpot_ms = slo_tpot_ms;
    fx_cycle(&f->cy, &f->req, f->pool, 42);
}

static void test_producer_scorer_filter(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod, sc, tier;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer",
                                   "sloBufferFactor: 1.0\ncontextTTL: 5m\nsamplingMean: 100\n", err,
                                   sizeof err),
                     0);
    struct sy_latency_model *m = sy_sched_latency_model();
    assert_non_null(m);
    struct fx f;
    /* not ready yet: no valid predictions, the scorer falls back to the composite score */
    fx_init(&f, 0, 0, 4);
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    assert_non_null(f.cy.latency);
    assert_false(f.cy.latency->ready);
    assert_null(sy_latency_pred_of(&f.cy, &f.c[0]));
    assert_int_equal(fx_plugin_new(&sc, "latency-scorer", NULL, err, sizeof err), 0);
    double s[3];
    sc.ops->score(sc.state, &f.cy, f.c, 3, s);
    assert_true(s[2] < s[0] && s[0] == s[1]); /* composite: fast:2 has a queue */
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);

    train(m);
    /* no SLO: the least predicted TTFT wins: fast:1 (idle, fast) */
    fx_init(&f, 0, 0, 4);
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    assert_true(f.cy.latency->ready);
    const struct sy_latency_pred *p0 = sy_latency_pred_of(&f.cy, &f.c[0]);
    const struct sy_latency_pred *p1 = sy_latency_pred_of(&f.cy, &f.c[1]);
    const struct sy_latency_pred *p2 = sy_latency_pred_of(&f.cy, &f.c[2]);
    assert_non_null(p0);
    assert_true(p0->ttft_s > 2 * p1->ttft_s); /* slow replica learned */
    assert_true(p2->ttft_s > p1->ttft_s);     /* queue learned */
    assert_true(p1->headroom_ttft_s < 0);     /* -predicted without an SLO */
    sc.ops->score(sc.state, &f.cy, f.c, 3, s);
    assert_true(s[1] > s[0] && s[1] > s[2]);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);

    /* SLO 150 ms: slow:1 (~0.2 s p90) violates, fast:1 meets it, fast:2 (4 waiting) violates */
    fx_init(&f, 150, 0, 4);
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    assert_true(sy_latency_pred_positive(sy_latency_pred_of(&f.cy, &f.c[1])));
    assert_false(sy_latency_pred_positive(sy_latency_pred_of(&f.cy, &f.c[0])));
    assert_int_equal(
        fx_plugin_new(&tier, "slo-headroom-tier-filter", "epsilonExploreNeg: 0\n", err, sizeof err),
        0);
    struct sy_sched_candidate c[3];
    memcpy(c, f.c, sizeof c);
    assert_int_equal(tier.ops->filter(tier.state, &f.cy, c, 3), 1);
    assert_string_equal(c[0].ep->address, "fast:1");
    sc.ops->score(sc.state, &f.cy, f.c, 3, s);
    assert_true(s[1] > 0 && s[0] == 0 && s[2] == 0); /* only the positive tier is scored */
    /* the served request trains the model through done() */
    struct sy_latency_stats before, after;
    sy_latency_stats(m, &before);
    f.cy.observed_ttft_s = 0.07;
    f.cy.observed_tpot_s = 0.012;
    prod.ops->done(prod.state, &f.cy, &f.c[1], true);
    assert_null(f.cy.latency);
    sy_latency_stats(m, &after);
    assert_int_equal(after.observed, before.observed + 1);
    sy_pool_unref(f.pool);

    fx_plugin_free(&tier);
    fx_plugin_free(&sc);
    fx_plugin_free(&prod);
    assert_null(sy_sched_latency_model()); /* last reference gone */
}

static void test_admitter_and_affinity(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod, adm, aff;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer", NULL, err, sizeof err), 0);
    train(sy_sched_latency_model());
    assert_int_equal(fx_plugin_new(&adm, "latency-slo-admitter", NULL, err, sizeof err), 0);
    struct fx f;
    struct sy_sched_candidate c[3];
    /* an impossible SLO (1 ms), every endpoint busy: sheddable is shed, critical is not */
    struct sy_endpoint *eps[2] = {fx_ep("slow:1", NULL, 3, 5, 0.5),
                                  fx_ep("fast:1", NULL, 3, 5, 0.5)};
    f.pool = fx_pool(eps, 2);
    fx_cands(f.pool, f.c);
    fx_req(&f.req, "m", 500);
    f.req.slo_ttft_ms = 1;
    f.req.priority = -1;
    fx_cycle(&f.cy, &f.req, f.pool, 7);
    prod.ops->produce(prod.state, &f.cy, f.c, 2);
    memcpy(c, f.c, sizeof f.c[0] * 2);
    assert_int_equal(adm.ops->filter(adm.state, &f.cy, c, 2), 0);
    f.req.priority = 0;
    assert_int_equal(adm.ops->filter(adm.state, &f.cy, c, 2), 2);
    f.req.priority = -1;
    f.req.slo_ttft_ms = 60000; /* a loose SLO is met */
    prod.ops->done(prod.state, &f.cy, NULL, false);
    prod.ops->produce(prod.state, &f.cy, f.c, 2);
    assert_int_equal(adm.ops->filter(adm.state, &f.cy, c, 2), 2);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);

    /* affinity gate on predicted TTFT: the sticky slow:1 is predicted far slower than fast:1 */
    assert_int_equal(fx_plugin_new(&aff, "prefix-cache-affinity-filter",
                                   "affinityThreshold: 0.5\nmaxTTFTPenaltyMs: 50\n"
                                   "ttftSource: latencyPredictor\n",
                                   err, sizeof err),
                     0);
    fx_init(&f, 0, 0, 0);
    struct sy_prefix_match pm[3] = {{.match_blocks = 8, .total_blocks = 8, .block_size_tokens = 16},
                                    {.total_blocks = 8, .block_size_tokens = 16},
                                    {.total_blocks = 8, .block_size_tokens = 16}};
    f.cy.prefix = pm;
    f.cy.prefix_valid = true;
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    memcpy(c, f.c, sizeof c);
    assert_int_equal(aff.ops->filter(aff.state, &f.cy, c, 3), 3); /* penalty > 50 ms: keep all */
    fx_plugin_free(&aff);
    assert_int_equal(fx_plugin_new(&aff, "prefix-cache-affinity-filter",
                                   "affinityThreshold: 0.5\nmaxTTFTPenaltyMs: 5000\n"
                                   "ttftSource: latencyPredictor\n",
                                   err, sizeof err),
                     0);
    memcpy(c, f.c, sizeof c);
    assert_int_equal(aff.ops->filter(aff.state, &f.cy, c, 3), 1); /* within 5 s: stick */
    assert_string_equal(c[0].ep->address, "slow:1");
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_plugin_free(&aff);
    fx_plugin_free(&adm);
    fx_plugin_free(&prod);
}

static void test_params(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin fp;
    assert_int_equal(
        fx_plugin_new(&fp, "latency-scorer", "headroomSelectionStrategy: best\n", err, sizeof err),
        SY_ECONFIG);
    assert_non_null(strstr(err, "headroomSelectionStrategy"));
    assert_int_equal(fx_plugin_new(&fp, "latency-scorer", "ttftWeight: -1\n", err, sizeof err),
                     SY_ECONFIG);
    assert_int_equal(
        fx_plugin_new(&fp, "predicted-latency-producer", "bogus: 1\n", err, sizeof err),
        SY_ECONFIG);
    assert_int_equal(
        fx_plugin_new(&fp, "slo-headroom-tier-filter", "epsilonExploreNeg: 2\n", err, sizeof err),
        SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, "latency-slo-admitter", "x: 1\n", err, sizeof err),
                     SY_ECONFIG);
}

static int slo(const char *name, const char *value, struct sy_request *r)
{
    static struct sy_str n[1], v[1];
    fx_req(r, "m", 10);
    n[0] = sy_str_c(name);
    v[0] = sy_str_c(value);
    r->header_names = n;
    r->header_values = v;
    r->nheaders = 1;
    char err[128];
    return sy_slo_parse(r, err, sizeof err);
}

static void test_slo_headers(void **state)
{
    (void)state;
    struct sy_request r;
    assert_int_equal(slo("x-slo-ttft-ms", "250", &r), 0);
    assert_true(r.slo_ttft_ms == 250 && r.slo_tpot_ms == 0);
    assert_int_equal(slo("X-LLM-D-SLO-TPOT-MS", " 12.5 ", &r), 0);
    assert_true(r.slo_tpot_ms == 12.5);
    assert_int_equal(slo("x-slo-ttft-ms", "-1", &r), SY_EINVAL);
    assert_int_equal(slo("x-slo-ttft-ms", "fast", &r), SY_EINVAL);
    assert_int_equal(slo("x-slo-ttft-ms", "nan", &r), SY_EINVAL);
    assert_int_equal(slo("x-slo-tpot-ms", "", &r), SY_EINVAL);
    assert_int_equal(slo("x-slo-tpot-ms", "0x10", &r), SY_EINVAL);
    uint64_t c0 = sy_slo_clamped_total();
    assert_int_equal(slo("x-slo-ttft-ms", "1e30", &r), 0);
    assert_true(r.slo_ttft_ms == SY_SLO_MAX_MS);
    assert_int_equal(sy_slo_clamped_total(), c0 + 1);
}

/* latency-slo-admitter is an admission plugin: configured under plugins only (llm-d), it runs
 * before the profiles and a denial is SY_EADMISSION (the gateway's 500), not an empty profile
 * (SY_ENOENDPOINT, 429); listed in a profile (older configs) it is accepted and does the same. */
static void test_admitter_admission_stage(void **state)
{
    (void)state;
    static const char *const cfgs[] = {
        "plugins:\n- type: predicted-latency-producer\n- type: latency-slo-admitter\n"
        "- type: max-score-picker\n",
        "plugins:\n- type: predicted-latency-producer\n- type: latency-slo-admitter\n"
        "- type: queue-scorer\n- type: max-score-picker\n"
        "schedulingProfiles:\n- name: default\n  plugins:\n"
        "  - pluginRef: latency-slo-admitter\n  - pluginRef: queue-scorer\n"
        "  - pluginRef: max-score-picker\n",
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        char err[256];
        struct sy_scheduler *s = fx_sched(cfgs[k], err, sizeof err);
        assert_non_null(s);
        train(sy_sched_latency_model());
        assert_int_equal(sy_latency_retrain(sy_sched_latency_model()), 0);
        struct sy_endpoint *eps[2] = {fx_ep("slow:1", NULL, 3, 5, 0.5),
                                      fx_ep("fast:1", NULL, 3, 5, 0.5)};
        struct sy_pool *pool = fx_pool(eps, 2);
        struct sy_request r;
        fx_req(&r, "m", 500);
        r.slo_ttft_ms = 1; /* nobody meets 1 ms */
        r.priority = -1;
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), SY_EADMISSION);
        r.priority = 0; /* never shed */
        assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
        sy_sched_done(s, &res, false);
        r.priority = -1;
        r.slo_ttft_ms = 60000; /* met */
        assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
        sy_sched_done(s, &res, false);
        sy_pool_unref(pool);
        sy_sched_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer_scorer_filter),
        cmocka_unit_test(test_admitter_and_affinity),
        cmocka_unit_test(test_admitter_admission_stage),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_slo_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
