/* Unit tests for the predicted-latency plugins: predicted-latency-producer (predictions,
 * headroom, training from sy_sched_observe), latency-scorer (headroom tiers, composite fallback),
 * slo-headroom-tier-filter, latency-slo-admitter, prefix-cache-affinity-filter with ttftSource
 * latencyPredictor, the producer's queueAwareTTFT, and the SLO header parser (latency/slo.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "latency/slo.h"
#include "sched/internal.h"
#include "sched/latency_info.h"
#include "sched/plugins.h"
#include "unit/sched/latency_helpers.h"
#include "unit/sched/sched_helpers.h"

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

    fx_train_latency_model(m);
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

/* queueAwareTTFT: the producer learns fast:2's own wait per queued request from the streamed
 * requests served there behind a queue, and its TTFT prediction for a queued fast:2 is at least
 * that line; without the parameter the shared model's prediction stands. Buffered responses
 * (no TPOT) teach the line nothing. */
static void test_producer_queue_aware(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin qa, plain;
    assert_int_equal(
        fx_plugin_new(&qa, "predicted-latency-producer", "queueAwareTTFT: true\n", err, sizeof err),
        0);
    assert_int_equal(fx_plugin_new(&plain, "predicted-latency-producer", NULL, err, sizeof err), 0);
    fx_train_latency_model(sy_sched_latency_model());
    struct fx f;
    /* buffered responses behind 4 queued requests: no line yet */
    for (int k = 0; k < 8; k++) {
        fx_init(&f, 0, 0, 4);
        qa.ops->produce(qa.state, &f.cy, f.c, 3);
        f.cy.observed_ttft_s = 5.0;
        f.cy.observed_tpot_s = -1;
        qa.ops->done(qa.state, &f.cy, &f.c[2], true);
        sy_pool_unref(f.pool);
    }
    fx_init(&f, 0, 0, 4);
    qa.ops->produce(qa.state, &f.cy, f.c, 3);
    double before = sy_latency_pred_of(&f.cy, &f.c[2])->ttft_s;
    assert_true(before < 4.0);
    qa.ops->done(qa.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    /* streamed ones: 5 s behind 4 queued requests, 1 s behind 0 */
    for (int k = 0; k < 16; k++) {
        fx_init(&f, 0, 0, k % 2 ? 4 : 0);
        qa.ops->produce(qa.state, &f.cy, f.c, 3);
        f.cy.observed_ttft_s = k % 2 ? 5.0 : 1.0;
        f.cy.observed_tpot_s = 0.02;
        qa.ops->done(qa.state, &f.cy, &f.c[2], true);
        sy_pool_unref(f.pool);
    }
    fx_init(&f, 0, 0, 4);
    qa.ops->produce(qa.state, &f.cy, f.c, 3);
    const struct sy_latency_pred *p2 = sy_latency_pred_of(&f.cy, &f.c[2]);
    assert_true(fabs(p2->ttft_s - 5.0) < 1e-6);
    assert_true(fabs(p2->headroom_ttft_s + 5.0) < 1e-6); /* -predicted without an SLO */
    /* fast:1 has no queue: the model's prediction, untouched */
    double fast1 = sy_latency_pred_of(&f.cy, &f.c[1])->ttft_s;
    qa.ops->done(qa.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_init(&f, 0, 0, 4);
    plain.ops->produce(plain.state, &f.cy, f.c, 3);
    assert_true(sy_latency_pred_of(&f.cy, &f.c[2])->ttft_s < 4.0);
    assert_true(fabs(sy_latency_pred_of(&f.cy, &f.c[1])->ttft_s - fast1) < 1e-3);
    plain.ops->done(plain.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_plugin_free(&plain);
    fx_plugin_free(&qa);
}

/* capAwareTTFT: fast:2 queues at 8 running in four scrapes (its learned cap), its streamed
 * requests (most without usage) hold a slot 4 s; one slot short of the cap nothing changes, at the
 * cap the prediction grows by the wait for one completion (4 / 8 s), and requests sent since the
 * scrape count before the next one. */
static void cap_cycle(struct fx *f, uint64_t stamp, double running, double waiting,
                      int64_t inflight)
{
    fx_init(f, 0, 0, 0);
    f->c[2].st.update_ns = stamp;
    f->c[2].st.m.running = running;
    f->c[2].st.m.waiting = waiting;
    f->c[2].st.inflight_requests = inflight;
}

static double cap_pred(struct fx_plugin *pl, uint64_t stamp, double running, double waiting,
                       int64_t inflight)
{
    struct fx f;
    cap_cycle(&f, stamp, running, waiting, inflight);
    pl->ops->produce(pl->state, &f.cy, f.c, 3);
    double t = sy_latency_pred_of(&f.cy, &f.c[2])->ttft_s;
    pl->ops->done(pl->state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    return t;
}

static void test_producer_cap_aware(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin ca, plain;
    assert_int_equal(
        fx_plugin_new(&ca, "predicted-latency-producer", "capAwareTTFT: true\n", err, sizeof err),
        0);
    assert_int_equal(fx_plugin_new(&plain, "predicted-latency-producer", NULL, err, sizeof err), 0);
    fx_train_latency_model(sy_sched_latency_model());
    struct fx f;
    uint64_t stamp = 100;
    for (int k = 0; k < 4; k++) { /* the plateau: 8 running, the queue growing from 2 */
        cap_cycle(&f, ++stamp, 8, 2 + k, 0);
        ca.ops->produce(ca.state, &f.cy, f.c, 3);
        ca.ops->done(ca.state, &f.cy, NULL, false);
        sy_pool_unref(f.pool);
    }
    /* no slot time learned yet: unchanged */
    double p0 = cap_pred(&plain, ++stamp, 8, 0, 0);
    assert_true(fabs(cap_pred(&ca, stamp, 8, 0, 0) - p0) < 1e-3);
    for (int k = 0; k < 8; k++) { /* streamed requests holding a slot 4 s, without a usage
                                     object (no TPOT): the slot time needs no token count */
        cap_cycle(&f, ++stamp, 4, 0, 0);
        ca.ops->produce(ca.state, &f.cy, f.c, 3);
        f.cy.observed_ttft_s = 0.1;
        f.cy.observed_tpot_s = k < 6 ? -1 : 0.02;
        f.cy.observed_e2e_s = 4.1;
        ca.ops->done(ca.state, &f.cy, &f.c[2], true);
        sy_pool_unref(f.pool);
    }
    /* a buffered response teaches no slot time (and nothing breaks without e2e) */
    cap_cycle(&f, ++stamp, 4, 0, 0);
    ca.ops->produce(ca.state, &f.cy, f.c, 3);
    f.cy.observed_ttft_s = 9.0;
    f.cy.observed_tpot_s = -1;
    f.cy.observed_e2e_s = 9.0;
    ca.ops->done(ca.state, &f.cy, &f.c[2], true);
    sy_pool_unref(f.pool);
    /* 7 running: a free slot, the model's prediction */
    double p7 = cap_pred(&plain, ++stamp, 7, 0, 0);
    assert_true(fabs(cap_pred(&ca, stamp, 7, 0, 0) - p7) < 1e-3);
    /* 8 running: the request waits for one of 8 slots held 4 s: + 0.5 s */
    double p8 = cap_pred(&plain, ++stamp, 8, 0, 0);
    assert_true(fabs(cap_pred(&ca, stamp, 8, 0, 0) - (p8 + 0.5)) < 1e-3);
    /* the scrape said 6 running with 1 in flight from the gateway; 3 more sent since (in-flight 4)
     * make 9: two completions to wait for */
    double p6 = cap_pred(&plain, ++stamp, 6, 0, 1);
    assert_true(fabs(cap_pred(&ca, stamp, 6, 0, 1) - p6) < 1e-3);
    double p6b = cap_pred(&plain, stamp, 6, 0, 4);
    assert_true(fabs(cap_pred(&ca, stamp, 6, 0, 4) - (p6b + 1.0)) < 1e-3);
    /* other endpoints learned nothing: untouched */
    cap_cycle(&f, ++stamp, 8, 0, 0);
    ca.ops->produce(ca.state, &f.cy, f.c, 3);
    double c1 = sy_latency_pred_of(&f.cy, &f.c[1])->ttft_s;
    ca.ops->done(ca.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    cap_cycle(&f, stamp, 8, 0, 0);
    plain.ops->produce(plain.state, &f.cy, f.c, 3);
    assert_true(fabs(sy_latency_pred_of(&f.cy, &f.c[1])->ttft_s - c1) < 1e-3);
    plain.ops->done(plain.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_plugin_free(&plain);
    fx_plugin_free(&ca);
    /* a non-boolean value is refused with the key named */
    assert_int_not_equal(
        fx_plugin_new(&ca, "predicted-latency-producer", "capAwareTTFT: maybe\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "capAwareTTFT"));
}

static void test_admitter_and_affinity(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod, adm, aff;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer", NULL, err, sizeof err), 0);
    fx_train_latency_model(sy_sched_latency_model());
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
    assert_int_equal(fx_plugin_new(&fp, "predicted-latency-producer", "queueAwareTTFT: maybe\n",
                                   err, sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "queueAwareTTFT"));
    /* tpotQuantile: 0.05..0.95, a number */
    static const char *const bad_q[] = {"tpotQuantile: 1\n", "tpotQuantile: 0\n",
                                        "tpotQuantile: 0.99\n", "tpotQuantile: half\n"};
    for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++) {
        assert_int_equal(
            fx_plugin_new(&fp, "predicted-latency-producer", bad_q[i], err, sizeof err),
            SY_ECONFIG);
        assert_non_null(strstr(err, "tpotQuantile"));
    }
    /* objective e2e-plus-delay and its parameters */
    static const char *const bad_d[][2] = {{"objective: fastest\n", "objective"},
                                           {"delayHorizonTokens: 0\n", "delayHorizonTokens"},
                                           {"delayWeight: -1\n", "delayWeight"},
                                           {"delayWeight: lots\n", "delayWeight"},
                                           {"outputTokens: 0\n", "outputTokens"},
                                           {"outputTokens: 12.5\n", "outputTokens"},
                                           {"delayHorizonTokens: 12.5\n", "delayHorizonTokens"},
                                           {"outputTokensSource: learned\n", "outputTokensSource"},
                                           {"outputTokensSource: 1\n", "outputTokensSource"},
                                           {"outputTokensSource: [fleet]\n", "outputTokensSource"}};
    for (size_t i = 0; i < sizeof bad_d / sizeof bad_d[0]; i++) {
        assert_int_equal(fx_plugin_new(&fp, "latency-scorer", bad_d[i][0], err, sizeof err),
                         SY_ECONFIG);
        assert_non_null(strstr(err, bad_d[i][1]));
    }
    assert_int_equal(fx_plugin_new(&fp, "latency-scorer",
                                   "objective: e2e-plus-delay\ndelayHorizonTokens: 32\n"
                                   "delayWeight: 0.5\noutputTokens: 128\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    static const char *const good_src[] = {"fixed", "endpoint", "fleet"};
    for (size_t i = 0; i < sizeof good_src / sizeof good_src[0]; i++) {
        char y[128];
        snprintf(y, sizeof y, "objective: e2e-plus-delay\noutputTokensSource: %s\n", good_src[i]);
        assert_int_equal(fx_plugin_new(&fp, "latency-scorer", y, err, sizeof err), 0);
        fx_plugin_free(&fp);
    }
}

#define NEAR9(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* The delay term's arithmetic (sy_latency_e2e_plus_delay). */
static void test_scorer_delay_arithmetic(void **state)
{
    (void)state;
    struct sy_latency_delay_in d = {.ttft_s = 0.1,
                                    .tpot_s = 0.02,
                                    .prefill_s = 0.05,
                                    .dtpot_s = 0.001,
                                    .running = 10,
                                    .out_tokens = 100,
                                    .horizon = 64,
                                    .weight = 1};
    /* own 0.1 + 0.02 x 99 = 2.08; caused 10 x (0.05 + 0.001 x 64) = 1.14 */
    NEAR9(sy_latency_e2e_plus_delay(&d), 3.22);
    d.out_tokens = 16; /* the slowdown lasts its 16 tokens: 0.4 + 10 x (0.05 + 0.016) */
    NEAR9(sy_latency_e2e_plus_delay(&d), 1.06);
    d.weight = 0.5;
    NEAR9(sy_latency_e2e_plus_delay(&d), 0.73);
    d.weight = 1;
    d.dtpot_s = -0.01; /* a TPOT that falls with load is read as no slowdown */
    NEAR9(sy_latency_e2e_plus_delay(&d), 0.4 + 0.5);
    d.running = 0; /* nobody there to delay */
    NEAR9(sy_latency_e2e_plus_delay(&d), 0.4);
    d.out_tokens = 0; /* at least one token */
    NEAR9(sy_latency_e2e_plus_delay(&d), 0.1);
    /* the output length: the expected one, max_tokens only lowering it (a cap, not a length) */
    NEAR9(sy_latency_delay_out(4096, 256), 256);
    NEAR9(sy_latency_delay_out(16, 256), 16);
    NEAR9(sy_latency_delay_out(256, 256), 256);
    NEAR9(sy_latency_delay_out(0, 256), 256); /* none given */
    NEAR9(sy_latency_delay_out(-1, 100), 100);
}

/* One cycle of a request for model "m" (500 prompt tokens, max_tokens) over candidates c[0..n) of
 * pool, in a run of profile prof (NULL: none, as outside a scheduler): prod produces, sc scores
 * into s[0..n). */
static void score_cycle_in(struct fx_plugin *prod, struct fx_plugin *sc, struct sy_pool *pool,
                           struct sy_sched_candidate *c, size_t n, int64_t max_tokens,
                           const struct sy_sched_profile *prof, double *s)
{
    struct sy_request r;
    fx_req(&r, "m", 500);
    r.max_tokens = max_tokens;
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    cy.run_profile = prof;
    prod->ops->produce(prod->state, &cy, c, n);
    sc->ops->score(sc->state, &cy, c, n, s);
    prod->ops->done(prod->state, &cy, NULL, false);
}

static void score_cycle(struct fx_plugin *prod, struct fx_plugin *sc, struct sy_pool *pool,
                        struct sy_sched_candidate *c, size_t n, int64_t max_tokens, double *s)
{
    score_cycle_in(prod, sc, pool, c, n, max_tokens, NULL, s);
}

/* objective e2e-plus-delay on the trained model (slow:1 3x slower; TPOT grows with running): a
 * short request prefers the slow idle replica to a fast one with 12 running (the prefill stall
 * and slowdown it would cause them outweigh its own gain); a long one still goes to the fast
 * replica; the headroom objective and delayWeight 0 take the fast one for both. Before the
 * model is ready the composite fallback scores. */
static void delay_scores_fed(struct fx_plugin *prod, const char *params, int64_t max_tokens,
                             const int *fed, int64_t out, double *s)
{
    char err[256];
    struct fx_plugin sc;
    assert_int_equal(fx_plugin_new(&sc, "latency-scorer", params, err, sizeof err), 0);
    struct sy_endpoint *eps[2] = {fx_ep("slow:1", NULL, 0, 0, 0.1),
                                  fx_ep("fast:1", NULL, 0, 12, 0.3)};
    struct sy_pool *pool = fx_pool(eps, 2);
    /* fed[k] requests of `out` tokens completed on endpoint k, charged and discharged as the
     * proxy does (the learned mean output length: outputTokensSource) */
    for (int k = 0; fed && k < 2; k++)
        for (int i = 0; i < fed[k]; i++) {
            struct sy_charge ch = {0};
            sy_pool_charge(&ch, pool->eps[k], 100, 4096, 1);
            sy_pool_discharge(&ch, out);
        }
    struct sy_sched_candidate c[2];
    fx_cands(pool, c);
    score_cycle(prod, &sc, pool, c, 2, max_tokens, s);
    sy_pool_unref(pool);
    fx_plugin_free(&sc);
}

static void delay_scores(struct fx_plugin *prod, const char *params, int64_t max_tokens, double *s)
{
    delay_scores_fed(prod, params, max_tokens, NULL, 0, s);
}

static void test_scorer_delay_ordering(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer", NULL, err, sizeof err), 0);
    static const char delay[] = "objective: e2e-plus-delay\n";
    double s[2];
    delay_scores(&prod, delay, 16, s); /* not ready: composite (kv 0.1 beats 0.3) */
    assert_true(s[0] > s[1] && s[1] > 0);
    fx_train_latency_model(sy_sched_latency_model());
    delay_scores(&prod, delay, 16, s);
    NEAR9(s[0], 1); /* slow idle: min-max normalised cost, best 1, worst 0 */
    NEAR9(s[1], 0);
    delay_scores(&prod, "objective: e2e-plus-delay\noutputTokens: 1000\n", 512, s);
    assert_true(s[1] > s[0]); /* a long one (512 expected, max_tokens 512): the fast replica */
    /* max_tokens is a cap: 4096 with 16 expected is scored as 16 tokens (taken as the length it
     * would send the request to the busy fast replica, as the long one above) */
    delay_scores(&prod, "objective: e2e-plus-delay\noutputTokens: 16\n", 4096, s);
    NEAR9(s[0], 1);
    NEAR9(s[1], 0);
    delay_scores(&prod, "objective: e2e-plus-delay\noutputTokens: 4096\n", 4096, s);
    assert_true(s[1] > s[0]);
    delay_scores(&prod, "objective: e2e-plus-delay\ndelayWeight: 0\n", 16, s);
    assert_true(s[1] > s[0]);
    delay_scores(&prod, NULL, 16, s); /* headroom (no SLO): the least predicted latency */
    assert_true(s[1] > s[0]);
    fx_plugin_free(&prod);
}

/* the delay objective with outputTokens 16 and each learned outputTokensSource */
static const char learned_ep_params[] =
    "objective: e2e-plus-delay\noutputTokens: 16\noutputTokensSource: endpoint\n";
static const char learned_fleet_params[] =
    "objective: e2e-plus-delay\noutputTokens: 16\noutputTokensSource: fleet\n";

/* A predicted-latency-producer instance over the trained shared model (fx_plugin_free it). */
static void trained_producer(struct fx_plugin *prod)
{
    char err[256];
    assert_int_equal(fx_plugin_new(prod, "predicted-latency-producer", NULL, err, sizeof err), 0);
    fx_train_latency_model(sy_sched_latency_model());
}

/* outputTokensSource endpoint / fleet: the expected output length is the mean output of the
 * requests completed there (endpoint) or over the pool (fleet) once SY_LATENCY_OUT_MIN_SAMPLES
 * completed, outputTokens before; max_tokens still caps it. On the ordering above: 16 tokens
 * send a request to the slow idle replica, 1000 to the busy fast one. */
static void test_scorer_delay_learned_out(void **state)
{
    (void)state;
    struct fx_plugin prod;
    trained_producer(&prod);
    const char *ep = learned_ep_params, *fleet = learned_fleet_params;
    static const char fixed[] = "objective: e2e-plus-delay\noutputTokens: 16\n";
    const int n = SY_LATENCY_OUT_MIN_SAMPLES;
    const int none[2] = {0, 0}, both[2] = {n, n}, short_of[2] = {n - 1, n - 1},
              slow_only[2] = {n, 0}, fast_only[2] = {0, n};
    /* slow: the slow idle replica scores 1 (16 tokens assumed); else the fast one scores more */
    const struct {
        const char *params;
        int64_t max_tokens;
        const int *fed;
        bool slow;
    } cases[] = {
        /* nothing completed, or one short of the minimum: outputTokens (16) */
        {ep, 4096, none, true},
        {ep, 4096, short_of, true},
        {fleet, 4096, short_of, true},
        /* the minimum reached: the learned 1000 tokens */
        {ep, 4096, both, false},
        {fleet, 4096, both, false},
        /* max_tokens caps the learned length: 16 of 1000 */
        {ep, 16, both, true},
        {fleet, 16, both, true},
        /* fixed (the default) ignores what completed */
        {fixed, 4096, both, true},
        /* fleet: one endpoint's mean is the pool's, whichever it is */
        {fleet, 4096, slow_only, false},
        {fleet, 4096, fast_only, false},
        /* endpoint: a candidate with no mean of its own takes the fleet's (1000), not
         * outputTokens' 16, which made the fast replica's 1000 tokens cost more than the slow
         * one's 16 (a replica with no completions was preferred, one with a longer fixed guess
         * than its peers' means starved): both 1000, the fast one wins */
        {ep, 4096, fast_only, false},
        {ep, 4096, slow_only, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s[2];
        delay_scores_fed(&prod, cases[i].params, cases[i].max_tokens, cases[i].fed, 1000, s);
        if (cases[i].slow)
            NEAR9(s[0], 1);
        else
            assert_true(s[1] > s[0]);
    }
    fx_plugin_free(&prod);
}

/* fleet_scores' pool: three candidates of model "m" (slow:1 idle, fast:1 with 12 running, fast:2
 * with 4: with three, a score strictly between 0 and 1 moves with the expected length), each
 * labelled role (NULL: none), and after them the endpoints in extra (not candidates). peer[k]
 * and extra[k]: fed requests of out tokens completed there (the learned means). The run is a
 * decode profile's (decode-filter, the label filter the fleet mean reads) when role is "decode",
 * else outside a scheduler (no profile). */
struct fleet_ep {
    const char *addr, *labels, *model; /* model: the one id it serves */
    int fed;                           /* completions fed */
    int64_t out;                       /* their output tokens */
};

static void fleet_scores(struct fx_plugin *prod, const char *params, const char *role,
                         const struct fleet_ep *peer, const struct fleet_ep *extra, size_t nextra,
                         double *s)
{
    char err[256], labels[64];
    struct fx_plugin sc;
    assert_int_equal(fx_plugin_new(&sc, "latency-scorer", params, err, sizeof err), 0);
    snprintf(labels, sizeof labels, "llm-d.ai/role=%s", role ? role : "");
    struct sy_endpoint *eps[8] = {fx_ep("slow:1", role ? labels : NULL, 0, 0, 0.1),
                                  fx_ep("fast:1", role ? labels : NULL, 0, 12, 0.3),
                                  fx_ep("fast:2", role ? labels : NULL, 0, 4, 0.3)};
    assert_true(nextra <= 5);
    for (size_t k = 0; k < nextra; k++)
        eps[3 + k] = fx_ep(extra[k].addr, extra[k].labels, 0, 0, 0.1);
    struct sy_pool *pool = fx_pool(eps, 3 + nextra);
    for (size_t k = 0; k < 3 + nextra; k++) {
        const struct fleet_ep *d = k < 3 ? &peer[k] : &extra[k - 3];
        const char *id = k < 3 ? "m" : d->model;
        sy_endpoint_set_models(pool->eps[k], &id, 1);
        for (int i = 0; i < d->fed; i++) {
            struct sy_charge ch = {0};
            sy_pool_charge(&ch, pool->eps[k], 100, 4096, 1);
            sy_pool_discharge(&ch, d->out);
        }
    }
    struct sy_sched_candidate c[8];
    fx_cands(pool, c); /* every pool endpoint; the first three are the candidates */
    struct sy_sched_plugin df = {.ops = &sy_plugin_decode_filter};
    struct sy_sched_plugin *filters[] = {&df};
    struct sy_sched_profile decode = {.name = "decode", .filters = filters, .nfilters = 1};
    bool in_decode = role && !strcmp(role, "decode");
    score_cycle_in(prod, &sc, pool, c, 3, 4096, in_decode ? &decode : NULL, s);
    sy_pool_unref(pool);
    fx_plugin_free(&sc);
}

static bool scores_equal(const double *a, const double *b)
{
    return fabs(a[0] - b[0]) < 1e-9 && fabs(a[1] - b[1]) < 1e-9 && fabs(a[2] - b[2]) < 1e-9;
}

/* outputTokensSource fleet averages the learned means of the endpoints that could serve the
 * request: the endpoints of its model that the run's label filters keep (each mean once),
 * candidates or not, not another model's endpoints nor, in a decode run, P/D prefill endpoints
 * (1-token legs), nor an endpoint short of samples. fleet with
 * peer means 100 and 300 scores as fixed outputTokens 200; the endpoint source's fallback (fast:2
 * has no mean of its own) takes the same mean. */
static void test_scorer_delay_fleet_peers(void **state)
{
    (void)state;
    struct fx_plugin prod;
    trained_producer(&prod);
    const char *ep = learned_ep_params, *fleet = learned_fleet_params;
    const int n = SY_LATENCY_OUT_MIN_SAMPLES;
    const struct fleet_ep peers[3] = {{.fed = n, .out = 100}, {.fed = n, .out = 300}, {0}};
    double want[3], s[3], other[3];
    char fixed[96];
    /* the expected length moves the middle score: 200 differs from 100, 300 and 138.67 */
    snprintf(fixed, sizeof fixed, "objective: e2e-plus-delay\noutputTokens: %d\n", 200);
    fleet_scores(&prod, fixed, NULL, peers, NULL, 0, want);
    assert_true(want[1] > 1e-3 && want[1] < 1 - 1e-3); /* fast:1 is neither best nor worst */
    for (int o = 100; o <= 300; o += 200) {
        snprintf(fixed, sizeof fixed, "objective: e2e-plus-delay\noutputTokens: %d\n", o);
        fleet_scores(&prod, fixed, NULL, peers, NULL, 0, other);
        assert_false(scores_equal(other, want));
    }
    /* two peers' means 100 and 300: their mean, 200 (fast:2 has none: not counted as 0) */
    fleet_scores(&prod, fleet, NULL, peers, NULL, 0, s);
    assert_true(scores_equal(s, want));
    /* another model's endpoint (16 tokens learned) does not count: still 200, not 138.67 */
    const struct fleet_ep x = {.addr = "x:1", .model = "x", .fed = n, .out = 16};
    fleet_scores(&prod, fleet, NULL, peers, &x, 1, s);
    assert_true(scores_equal(s, want));
    /* nor, for decode candidates, a prefill endpoint of the same model (1-token legs) */
    const struct fleet_ep pre = {
        .addr = "pre:1", .labels = "llm-d.ai/role=prefill", .model = "m", .fed = n, .out = 1};
    fleet_scores(&prod, fleet, "decode", peers, NULL, 0, want);
    fleet_scores(&prod, fleet, "decode", peers, &pre, 1, s);
    assert_true(scores_equal(s, want));
    /* a same-model, same-role endpoint that is not a candidate (filtered, excluded) counts:
     * 100, 300 and 500 average 300 */
    const struct fleet_ep peer4 = {.addr = "fast:4", .model = "m", .fed = n, .out = 500};
    snprintf(fixed, sizeof fixed, "objective: e2e-plus-delay\noutputTokens: %d\n", 300);
    fleet_scores(&prod, fixed, NULL, peers, NULL, 0, want);
    fleet_scores(&prod, fleet, NULL, peers, &peer4, 1, s);
    assert_true(scores_equal(s, want));
    /* the run's roles, not the candidates': an unlabeled endpoint of the model is one a decode
     * run serves (decode-filter keeps it), whether or not a load filter left one among the
     * candidates (all labelled decode here). 100, 300 and 500 average 300; the roles taken from
     * the candidates left it out (200), so the mean moved with which candidates a filter kept */
    const struct fleet_ep agg = {.addr = "agg:1", .model = "m", .fed = n, .out = 500};
    fleet_scores(&prod, fixed, "decode", peers, NULL, 0, want); /* outputTokens 300 */
    fleet_scores(&prod, fleet, "decode", peers, &agg, 1, s);
    assert_true(scores_equal(s, want));
    /* endpoint: fast:2's fallback mean ignores the other model's and the prefill endpoint */
    const struct fleet_ep both[2] = {x, pre};
    fleet_scores(&prod, ep, "decode", peers, NULL, 0, want);
    fleet_scores(&prod, ep, "decode", peers, both, 2, s);
    assert_true(scores_equal(s, want));
    fx_plugin_free(&prod);
}

/* One produce of instance fp (a cycle over a 3-endpoint pool). */
static void produce_once(struct fx_plugin *fp)
{
    struct fx f;
    fx_init(&f, 0, 0, 0);
    fp->ops->produce(fp->state, &f.cy, f.c, 3);
    fp->ops->done(fp->state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
}

/* tpotQuantile reaches the process-wide model at the instance's first produce, not at create (a
 * reload refused after the producer was created must not change the running quantile); the
 * instance that routes sets it (a reload that drops the parameter goes back to the model's 0.9),
 * and TTFT keeps its quantile. */
static void test_producer_tpot_quantile(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin a, b;
    assert_int_equal(fx_plugin_new(&a, "predicted-latency-producer", NULL, err, sizeof err), 0);
    struct sy_latency_model *m = sy_sched_latency_model();
    assert_non_null(m);
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.9) < 1e-12);
    assert_int_equal(
        fx_plugin_new(&b, "predicted-latency-producer", "tpotQuantile: 0.5\n", err, sizeof err), 0);
    assert_ptr_equal(sy_sched_latency_model(), m);                /* one model */
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.9) < 1e-12); /* created, not routing */
    produce_once(&b);
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.5) < 1e-12);
    produce_once(&b); /* holds */
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.5) < 1e-12);
    produce_once(&a); /* absent: the model's own */
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.9) < 1e-12);
    fx_plugin_free(&b);
    fx_plugin_free(&a);
}

/* A reload refused after the producer was created (an unknown plugin later in the config) keeps
 * the running configuration's quantile (review probe test_rev_reload.c). */
static void test_producer_tpot_quantile_refused_reload(void **state)
{
    (void)state;
    char err[512];
    struct sy_scheduler *live =
        fx_sched("plugins:\n- type: predicted-latency-producer\n- type: latency-scorer\n"
                 "- type: max-score-picker\n",
                 err, sizeof err);
    assert_non_null(live);
    struct sy_latency_model *m = sy_sched_latency_model();
    assert_non_null(m);
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.9) < 1e-12);
    struct sy_scheduler *bad =
        fx_sched("plugins:\n- type: predicted-latency-producer\n  parameters: {tpotQuantile: 0.5}\n"
                 "- type: latency-scorer\n- type: no-such-plugin\n",
                 err, sizeof err);
    assert_null(bad);
    assert_non_null(strstr(err, "no-such-plugin"));
    assert_true(fabs(sy_latency_tpot_quantile(m) - 0.9) < 1e-12);
    sy_sched_free(live);
}

/* Producer instances in one config share the process-wide model: a config where their
 * tpotQuantile disagrees (absent = 0.9) is refused naming both; agreeing ones load (review probe
 * test_rev_two.c: a with 0.5 and b without silently ran at 0.9). */
static void test_producer_tpot_quantile_instances_agree(void **state)
{
    (void)state;
    char err[512];
    struct sy_scheduler *s = fx_sched("plugins:\n- type: predicted-latency-producer\n  name: a\n  "
                                      "parameters: {tpotQuantile: 0.5}\n"
                                      "- type: predicted-latency-producer\n  name: b\n"
                                      "- type: latency-scorer\n- type: max-score-picker\n",
                                      err, sizeof err);
    assert_null(s);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "'a'"));
    assert_non_null(strstr(err, "'b'"));
    assert_non_null(strstr(err, "tpotQuantile 0.5"));
    assert_non_null(strstr(err, "tpotQuantile 0.9"));
    s = fx_sched(
        "plugins:\n- type: predicted-latency-producer\n  name: a\n"
        "- type: predicted-latency-producer\n  name: b\n  parameters: {tpotQuantile: 0.9}\n"
        "- type: latency-scorer\n- type: max-score-picker\n",
        err, sizeof err);
    assert_non_null(s); /* absent = 0.9: they agree */
    sy_sched_free(s);
    s = fx_sched(
        "plugins:\n- type: predicted-latency-producer\n  name: a\n  parameters: {tpotQuantile: "
        "0.5}\n"
        "- type: predicted-latency-producer\n  name: b\n  parameters: {tpotQuantile: 0.5}\n"
        "- type: latency-scorer\n- type: max-score-picker\n",
        err, sizeof err);
    assert_non_null(s);
    sy_sched_free(s);
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

/* predicted-latency-producer reads the prefix match: listed first, as in llm-d's Helm pipeline
 * (the approx-prefix producer is auto-created after it for the affinity filter), it still runs
 * after the prefix producer, so a repeated prompt's features carry the chosen endpoint's prefix
 * score (it was 0 for every prediction and training sample before the producers were ordered). */
static void test_producer_sees_prefix_score(void **state)
{
    (void)state;
    char err[256];
    struct sy_scheduler *s = fx_sched("plugins:\n- type: predicted-latency-producer\n"
                                      "- type: prefix-cache-affinity-filter\n- type: queue-scorer\n"
                                      "- type: max-score-picker\n",
                                      err, sizeof err);
    assert_non_null(s);
    assert_true(s->nproducers >= 2);
    assert_string_equal(s->producers[s->nproducers - 1]->ops->type, "predicted-latency-producer");
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 2);
    static char text[4097];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = (char)('a' + (i * 7 + i / 26) % 26);
    struct sy_request r;
    fx_req(&r, "m", 1024);
    r.prompt.p = r.body = text;
    r.prompt.len = r.body_len = sizeof text - 1;
    struct sy_sched_result res;
    double score[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
        const struct sy_sched_cycle *cy = res.cycle;
        assert_non_null(cy->latency);
        assert_true(res.pool_index < cy->latency->n);
        score[k] = cy->latency->pred[res.pool_index].f.prefix_score;
        sy_sched_done(s, &res, true);
    }
    assert_true(score[0] == 0);  /* nothing recorded yet */
    assert_true(score[1] > 0.9); /* the whole prompt is cached on the endpoint picked first */
    sy_pool_unref(pool);
    sy_sched_free(s);
}

/* The producer consumes the prefix match (llm-d's Consumes()): without a prefix producer in the
 * config the loader creates approx-prefix-cache-producer, also when the latency producer is
 * itself auto-created (for slo-class-scorer), and runs it first. */
static void test_producer_gets_prefix_producer(void **state)
{
    (void)state;
    static const char *const cfgs[] = {
        "plugins:\n- type: predicted-latency-producer\n- type: latency-scorer\n"
        "- type: max-score-picker\n",
        "plugins:\n- type: slo-class-scorer\n- type: max-score-picker\n",
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        char err[256];
        struct sy_scheduler *s = fx_sched(cfgs[k], err, sizeof err);
        if (!s)
            fail_msg("%s", err);
        assert_int_equal(s->nproducers, 2);
        assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
        assert_true(s->producers[0]->injected);
        assert_string_equal(s->producers[1]->ops->type, "predicted-latency-producer");
        assert_true(s->wants_prefix);
        sy_sched_free(s);
    }
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
        fx_train_latency_model(sy_sched_latency_model());
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

/* latency-scorer's arithmetic on hand-set predictions. Cases from llm-d-router
 * pkg/epp/framework/plugins/scheduling/scorer/latency/plugin_test.go (TestScorePositiveHeadroom,
 * TestScoreNegativeOnly, TestScoreTierSplit, TestScoreIdlePodPreference,
 * TestScoreHierarchicalBuckets, TestScoreCompositeFallback), with the exact scores llm-d's
 * plugin.go computes: |headroom| min-max normalised, 0.5 on a zero range, (int((1 - c) 100) + 1)
 * / 100 for least and every violated bucket, (int(c 100) + 1) / 100 for most. */
struct hr {
    bool valid, idle;
    double ttft, tpot; /* headrooms */
};

static void score_preds(const char *params, const struct hr *h, size_t n, double *out)
{
    struct sy_endpoint *eps[4];
    for (size_t i = 0; i < n; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, 0, 0, 0);
    }
    struct sy_pool *pool = fx_pool(eps, n);
    struct sy_sched_candidate c[4];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 100);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    struct sy_latency_pred pred[4];
    memset(pred, 0, sizeof pred);
    for (size_t i = 0; i < n; i++) {
        pred[i].valid = h[i].valid;
        pred[i].idle = h[i].idle;
        pred[i].headroom_ttft_s = h[i].ttft;
        pred[i].headroom_tpot_s = h[i].tpot;
    }
    struct sy_latency_info info = {.ready = true, .pred = pred, .n = n};
    cy.latency = &info;
    struct fx_plugin sc;
    char err[256];
    if (fx_plugin_new(&sc, "latency-scorer", params, err, sizeof err))
        fail_msg("%s", err);
    sc.ops->score(sc.state, &cy, c, n, out);
    cy.latency = NULL;
    fx_plugin_free(&sc);
    sy_pool_unref(pool);
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static void test_scorer_llmd_arithmetic(void **state)
{
    (void)state;
    double s[4];
    /* TestScoreTierSplit: both positive, least: the tighter fit (10, 2) scores 1.01, (50, 10)
     * 0.01 */
    const struct hr split[2] = {{true, false, 10, 2}, {true, false, 50, 10}};
    score_preds(NULL, split, 2, s);
    NEAR(s[0], 1.01);
    NEAR(s[1], 0.01);
    /* most: reversed */
    score_preds("headroomSelectionStrategy: most\n", split, 2, s);
    NEAR(s[0], 0.01);
    NEAR(s[1], 1.01);
    /* TestScorePositiveHeadroom: (100, 20) vs (30, 5) */
    const struct hr pos[2] = {{true, false, 100, 20}, {true, false, 30, 5}};
    score_preds(NULL, pos, 2, s);
    NEAR(s[0], 0.01);
    NEAR(s[1], 1.01);
    /* TestScoreNegativeOnly: the smaller violation (-10, -5) wins over (-100, -30); "most" does
     * not apply to violated buckets */
    const struct hr neg[2] = {{true, false, -10, -5}, {true, false, -100, -30}};
    score_preds("headroomSelectionStrategy: most\n", neg, 2, s);
    NEAR(s[0], 1.01);
    NEAR(s[1], 0.01);
    /* TestScoreIdlePodPreference: same deficit, only the idle one is scored; its ranges are zero:
     * n = 0.5 in both dimensions -> int(0.5 x 100) + 1 = 51 */
    const struct hr idle[2] = {{true, false, -50, -10}, {true, true, -50, -10}};
    score_preds(NULL, idle, 2, s);
    NEAR(s[0], 0);
    NEAR(s[1], 0.51);
    /* TestScoreHierarchicalBuckets: only-TPOT-violated comes first */
    const struct hr hier[3] = {
        {true, false, -50, -10}, {true, false, -30, 5}, {true, false, 10, -8}};
    score_preds(NULL, hier, 3, s);
    NEAR(s[0], 0);
    NEAR(s[1], 0);
    NEAR(s[2], 0.51);
    /* Within the only-TPOT bucket the positive TTFT headroom is ranked by |h| too, least first:
     * (10, -8) n = (0, 1), c = 0.2; (30, -2) n = (1, 0), c = 0.8. (Switchyard used to rank the
     * larger TTFT headroom first here.) Bounds allow for llm-d's float truncation. */
    const struct hr tpot[2] = {{true, false, 10, -8}, {true, false, 30, -2}};
    score_preds(NULL, tpot, 2, s);
    assert_true(s[0] >= 0.80 - 1e-12 && s[0] <= 0.81 + 1e-12);
    assert_true(s[1] >= 0.20 - 1e-12 && s[1] <= 0.21 + 1e-12);
    /* One dimension of zero range hands its weight to the other: TPOT alone decides. */
    const struct hr flat[2] = {{true, false, 20, 1}, {true, false, 20, 3}};
    score_preds(NULL, flat, 2, s);
    NEAR(s[0], 1.01);
    NEAR(s[1], 0.01);
    /* An endpoint without a prediction is in the positive bucket (headroom 0, 0), so it is the
     * only one scored while the other violates. */
    const struct hr nopred[2] = {{false, false, 0, 0}, {true, false, -10, -5}};
    score_preds(NULL, nopred, 2, s);
    NEAR(s[0], 0.51);
    NEAR(s[1], 0);
}

/* TestScoreCompositeFallback's shape (no predictions): kv 0.2 / queue 0 vs kv 0.8 / queue 5,
 * weights 1: (0.8 + 1 + 0) / 3 = 0.60 and (0.2 + 0 + 0) / 3 -> round(6.67) / 100 = 0.07. */
static void test_scorer_composite_quantised(void **state)
{
    (void)state;
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 0, 0, 0.2), fx_ep("b:1", NULL, 5, 0, 0.8)};
    struct sy_pool *pool = fx_pool(eps, 2);
    struct sy_sched_candidate c[2];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 100);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    struct fx_plugin sc;
    char err[256];
    assert_int_equal(fx_plugin_new(&sc, "latency-scorer", NULL, err, sizeof err), 0);
    double s[2];
    sc.ops->score(sc.state, &cy, c, 2, s);
    NEAR(s[0], 0.60);
    NEAR(s[1], 0.07);
    fx_plugin_free(&sc);
    /* every composite weight 0: llm-d scores by free KV alone */
    assert_int_equal(fx_plugin_new(&sc, "latency-scorer",
                                   "{compositeKVWeight: 0, compositeQueueWeight: 0, "
                                   "compositePrefixWeight: 0}",
                                   err, sizeof err),
                     0);
    sc.ops->score(sc.state, &cy, c, 2, s);
    NEAR(s[0], 0.80);
    NEAR(s[1], 0.20);
    fx_plugin_free(&sc);
    sy_pool_unref(pool);
}

/* sy_sched_latency_override: given latencies replace the model's, from the first request (no
 * model trained), with the headroom computed from them; a candidate the hook declines has no
 * prediction; cleared, the untrained model is not ready again. queueAwareTTFT does not touch
 * given values. */
struct ovr_seen {
    int calls;
};

static bool ovr_fn(void *ud, const struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                   double *ttft_s, double *tpot_s)
{
    struct ovr_seen *seen = ud;
    assert_non_null(cy->req);
    seen->calls++;
    if (c->pool_index == 2)
        return false; /* no prediction for fast:2 */
    *ttft_s = 0.1 + (double)c->pool_index;
    *tpot_s = 0.02 * (double)(c->pool_index + 1);
    return true;
}

static void test_producer_override(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod, tier;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer", "queueAwareTTFT: true\n",
                                   err, sizeof err),
                     0);
    assert_int_equal(
        fx_plugin_new(&tier, "slo-headroom-tier-filter", "epsilonExploreNeg: 0\n", err, sizeof err),
        0);
    struct ovr_seen seen = {0};
    sy_sched_latency_override(ovr_fn, &seen);
    struct fx f;
    fx_init(&f, 500, 50, 4); /* fast:2 has 4 waiting */
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    assert_int_equal(seen.calls, 3);
    assert_true(f.cy.latency->ready); /* the model has no samples, the hook makes it ready */
    const struct sy_latency_pred *p0 = sy_latency_pred_of(&f.cy, &f.c[0]);
    const struct sy_latency_pred *p1 = sy_latency_pred_of(&f.cy, &f.c[1]);
    assert_non_null(p0);
    assert_non_null(p1);
    assert_null(sy_latency_pred_of(&f.cy, &f.c[2]));
    assert_true(fabs(p0->ttft_s - 0.1) < 1e-12 && fabs(p0->tpot_s - 0.02) < 1e-12);
    assert_true(fabs(p1->ttft_s - 1.1) < 1e-12 && fabs(p1->tpot_s - 0.04) < 1e-12);
    assert_true(fabs(p0->headroom_ttft_s - 0.4) < 1e-9 && fabs(p0->headroom_tpot_s - 0.03) < 1e-9);
    assert_true(p1->headroom_ttft_s < 0 && p1->headroom_tpot_s > 0);
    struct sy_sched_candidate c[3];
    memcpy(c, f.c, sizeof c);
    assert_int_equal(tier.ops->filter(tier.state, &f.cy, c, 3), 1);
    assert_string_equal(c[0].ep->address, "slow:1"); /* the given latencies decide */
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    sy_sched_latency_override(NULL, NULL);
    fx_init(&f, 500, 50, 4);
    prod.ops->produce(prod.state, &f.cy, f.c, 3);
    assert_int_equal(seen.calls, 3);
    assert_false(f.cy.latency->ready);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_plugin_free(&tier);
    fx_plugin_free(&prod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer_scorer_filter),
        cmocka_unit_test(test_producer_queue_aware),
        cmocka_unit_test(test_producer_cap_aware),
        cmocka_unit_test(test_admitter_and_affinity),
        cmocka_unit_test(test_admitter_admission_stage),
        cmocka_unit_test(test_producer_sees_prefix_score),
        cmocka_unit_test(test_producer_gets_prefix_producer),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_producer_tpot_quantile),
        cmocka_unit_test(test_producer_tpot_quantile_refused_reload),
        cmocka_unit_test(test_producer_tpot_quantile_instances_agree),
        cmocka_unit_test(test_slo_headers),
        cmocka_unit_test(test_scorer_llmd_arithmetic),
        cmocka_unit_test(test_scorer_composite_quantised),
        cmocka_unit_test(test_producer_override),
        cmocka_unit_test(test_scorer_delay_arithmetic),
        cmocka_unit_test(test_scorer_delay_ordering),
        cmocka_unit_test(test_scorer_delay_learned_out),
        cmocka_unit_test(test_scorer_delay_fleet_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
