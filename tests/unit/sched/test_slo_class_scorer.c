/* Unit tests for slo-class-scorer (src/sched/slo_class_scorer.c): the tight/loose classification
 * (fixed thresholds and the auto rule against the recent objectives' p90), the speed classes from
 * the observed-TPOT fallback fit (evaluated at one common load) and from the learned model, the
 * tight rule (least-loaded eligible endpoint; the predicted-to-meet tier), the loose rule's
 * reserveFactor arithmetic, and parameter validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "sched/latency_info.h"
#include "sched/plugins.h"
#include "unit/sched/latency_helpers.h"
#include "unit/sched/sched_helpers.h"

#define N 3

struct fx {
    struct sy_pool *pool;
    struct sy_sched_candidate c[N];
    struct sy_request req;
    struct sy_sched_cycle cy;
};

/* Endpoints slow:1, fast:1, fast:2 with the given running counts (no queue). */
static void fx_init(struct fx *f, double r_slow, double r_fast1, double r_fast2, double slo_ttft_ms,
                    double slo_tpot_ms)
{
    struct sy_endpoint *eps[N] = {fx_ep("slow:1", NULL, 0, r_slow, 0.2),
                                  fx_ep("fast:1", NULL, 0, r_fast1, 0.2),
                                  fx_ep("fast:2", NULL, 0, r_fast2, 0.2)};
    f->pool = fx_pool(eps, N);
    fx_cands(f->pool, f->c);
    fx_req(&f->req, "m", 500);
    f->req.slo_ttft_ms = slo_ttft_ms;
    f->req.slo_tpot_ms = slo_tpot_ms;
    fx_cycle(&f->cy, &f->req, f->pool, 7);
}

static size_t argmax(const double *s)
{
    size_t b = 0;
    for (size_t i = 1; i < N; i++)
        b = s[i] > s[b] ? i : b;
    return b;
}

/* Scores one request with sc (no producer: cy->latency stays NULL) and returns the winner. */
static size_t place(struct fx_plugin *sc, double r_slow, double r_fast1, double r_fast2,
                    double slo_ttft_ms, double slo_tpot_ms, double *s)
{
    struct fx f;
    fx_init(&f, r_slow, r_fast1, r_fast2, slo_ttft_ms, slo_tpot_ms);
    sc->ops->score(sc->state, &f.cy, f.c, N, s);
    sy_pool_unref(f.pool);
    return argmax(s);
}

/* Feeds the fallback fit: endpoint i (pool order) served a streamed request at running count
 * `running` with TPOT tpot_s. */
static void observe(struct fx_plugin *sc, size_t i, double running, double tpot_s)
{
    struct fx f;
    fx_init(&f, running, running, running, 0, 0);
    f.cy.observed_ttft_s = 0.1;
    f.cy.observed_tpot_s = tpot_s;
    sc->ops->done(sc->state, &f.cy, &f.c[i], true);
    sy_pool_unref(f.pool);
}

/* The fast replicas are observed only at high load and the slow one only at low load, so their
 * raw mean TPOTs are close (fast 10 + 1 x load ms at load 20..40: ~40 ms; slow 30 + 3 x load ms
 * at 0..4: ~36 ms); the fit compares them at one load, where slow:1 is 2-3x slower. */
static void learn_speeds(struct fx_plugin *sc)
{
    for (int k = 0; k < 200; k++) {
        double lf = 20 + k % 21, ls = k % 5;
        observe(sc, 1, lf, 0.010 + 0.001 * lf);
        observe(sc, 2, lf, 0.010 + 0.001 * lf);
        observe(sc, 0, ls, 0.030 + 0.003 * ls);
    }
}

static void test_fallback_fit_and_rules(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin sc;
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", "tightTPOTMs: 50\n", err, sizeof err),
                     0);
    double s[N];
    /* nothing observed: every endpoint counts as fast; both classes go to the least loaded */
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 0);
    assert_int_equal(place(&sc, 4, 3, 2, 5000, 100, s), 2);
    /* a non-streamed response (no TPOT) or a failed one teaches nothing */
    struct fx f;
    fx_init(&f, 0, 0, 0, 0, 0);
    f.cy.observed_tpot_s = -1;
    sc.ops->done(sc.state, &f.cy, &f.c[0], true);
    f.cy.observed_tpot_s = 0.5;
    sc.ops->done(sc.state, &f.cy, &f.c[0], false);
    sy_pool_unref(f.pool);
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 0);

    learn_speeds(&sc);
    /* tight (50 ms <= tightTPOTMs): the least-loaded fast endpoint, although slow:1 is idle */
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 2);
    assert_true(s[2] > 0.5 && s[1] > 0.5 && s[0] < 0.5);
    assert_true(fabs(s[2] - 1.0) < 1e-9);                 /* 0.5 + 0.5 x 3/3 */
    assert_true(fabs(s[1] - (0.5 + 0.5 * 3 / 4)) < 1e-9); /* loads are running + 1 */
    assert_true(fabs(s[0] - 0.49 * 1 / 1) < 1e-9);
    /* loose (100 ms): slow:1 fills first (equal loads 2: fast ones weigh 2 x 1.5) ... */
    assert_int_equal(place(&sc, 1, 1, 1, 5000, 100, s), 0);
    assert_true(fabs(s[0] - 1.0) < 1e-9 && fabs(s[1] - 2.0 / 3) < 1e-9);
    /* ... until it carries reserveFactor (1.5) x a fast one's load: 3 vs 2 x 1.5 = 3 is a tie,
     * 4 vs 2 x 1.5 loses */
    place(&sc, 2, 1, 1, 5000, 100, s);
    assert_true(fabs(s[0] - 1.0) < 1e-9 && fabs(s[1] - 1.0) < 1e-9);
    assert_int_equal(place(&sc, 3, 1, 5, 5000, 100, s), 1);
    assert_true(fabs(s[0] - 3.0 / 4) < 1e-9 && fabs(s[2] - 3.0 / 9) < 1e-9);
    /* no objective at all is loose */
    assert_int_equal(place(&sc, 1, 1, 1, 0, 0, s), 0);
    fx_plugin_free(&sc);

    /* a wider speedClassRatio (4) puts slow:1 in the fast class: tight goes to the idle one */
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", "tightTPOTMs: 50\nspeedClassRatio: 4\n",
                                   err, sizeof err),
                     0);
    learn_speeds(&sc);
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 0);
    fx_plugin_free(&sc);
}

/* Speed classes are cut at the largest gap: fast:2 runs 40% slower than fast:1 but far faster
 * than slow:1, so it stays in the fast class (a "within 1.3x of the fastest" rule would drop it).
 */
static void test_classes_cut_at_largest_gap(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin sc;
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", "tightTPOTMs: 50\n", err, sizeof err),
                     0);
    for (int k = 0; k < 100; k++) {
        observe(&sc, 0, k % 9, 0.030 + 0.003 * (k % 9));
        observe(&sc, 1, k % 9, 0.010 + 0.001 * (k % 9));
        observe(&sc, 2, k % 9, 0.014 + 0.0014 * (k % 9));
    }
    double s[N];
    /* tight: fast:2 (less loaded) wins over fast:1; slow:1, idle, is not eligible */
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 2);
    assert_true(s[0] < 0.5);
    /* loose: fast:2 counts as fast too, so slow:1 fills first */
    assert_int_equal(place(&sc, 1, 1, 1, 5000, 100, s), 0);
    fx_plugin_free(&sc);
    /* with no gap as wide as speedClassRatio every endpoint is in one class */
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer",
                                   "tightTPOTMs: 50\nspeedClassRatio: 3.5\n", err, sizeof err),
                     0);
    for (int k = 0; k < 100; k++) {
        observe(&sc, 0, k % 9, 0.030 + 0.003 * (k % 9));
        observe(&sc, 1, k % 9, 0.010 + 0.001 * (k % 9));
        observe(&sc, 2, k % 9, 0.014 + 0.0014 * (k % 9));
    }
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 50, s), 0);
    fx_plugin_free(&sc);
}

static void test_auto_tightness(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin sc;
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", NULL, err, sizeof err), 0);
    learn_speeds(&sc);
    double s[N];
    /* before 16 objectives were seen nothing is tight: a 50 ms request fills slow:1 */
    assert_int_equal(place(&sc, 0, 3, 2, 0, 50, s), 0);
    /* half 50 ms, half 100 ms: p90 = 100 ms, 50 <= 0.6 x 100 is tight, 100 is not */
    for (int k = 0; k < 40; k++)
        place(&sc, 0, 3, 2, 0, k % 2 ? 100 : 50, s);
    assert_int_equal(place(&sc, 0, 3, 2, 0, 50, s), 2);
    assert_int_equal(place(&sc, 0, 3, 2, 0, 100, s), 0);
    /* 70 ms: above 60 ms, loose */
    assert_int_equal(place(&sc, 0, 3, 2, 0, 70, s), 0);
    /* the TTFT dimension on its own: 1 s among 5 s objectives is tight */
    for (int k = 0; k < 40; k++)
        place(&sc, 0, 3, 2, k % 2 ? 5000 : 1000, 0, s);
    assert_int_equal(place(&sc, 0, 3, 2, 1000, 0, s), 2);
    assert_int_equal(place(&sc, 0, 3, 2, 5000, 0, s), 0);
    fx_plugin_free(&sc);

    /* one class only: nobody is tight, so nothing is reserved */
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", NULL, err, sizeof err), 0);
    learn_speeds(&sc);
    for (int k = 0; k < 64; k++)
        place(&sc, 0, 3, 2, 0, 50, s);
    assert_int_equal(place(&sc, 0, 3, 2, 0, 50, s), 0);
    fx_plugin_free(&sc);
}

/* With the producer's predictions: speeds from the model (nothing observed by the scorer). */
static void test_model_speeds(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin prod, sc;
    assert_int_equal(fx_plugin_new(&prod, "predicted-latency-producer", NULL, err, sizeof err), 0);
    assert_int_equal(fx_plugin_new(&sc, "slo-class-scorer", "tightTPOTMs: 50\n", err, sizeof err),
                     0);
    fx_train_latency_model(sy_sched_latency_model());
    double s[N];
    struct fx f;
    /* tight, every fast endpoint predicted to meet 1 s / 50 ms: the least-loaded fast one */
    fx_init(&f, 0, 3, 2, 1000, 50);
    prod.ops->produce(prod.state, &f.cy, f.c, N);
    assert_true(f.cy.latency && f.cy.latency->ready);
    sc.ops->score(sc.state, &f.cy, f.c, N, s);
    assert_int_equal(argmax(s), 2);
    assert_true(s[0] < 0.5);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    /* loose: the slow one */
    fx_init(&f, 1, 1, 1, 5000, 100);
    prod.ops->produce(prod.state, &f.cy, f.c, N);
    sc.ops->score(sc.state, &f.cy, f.c, N, s);
    assert_int_equal(argmax(s), 0);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    /* tight with a TTFT objective only fast:1 is predicted to meet (fast:2 has a queue): fast:1,
     * although fast:2 runs less */
    struct sy_endpoint *eps[N] = {fx_ep("slow:1", NULL, 0, 0, 0.2),
                                  fx_ep("fast:1", NULL, 0, 3, 0.2),
                                  fx_ep("fast:2", NULL, 4, 0, 0.2)};
    f.pool = fx_pool(eps, N);
    fx_cands(f.pool, f.c);
    fx_req(&f.req, "m", 500);
    f.req.slo_ttft_ms = 150;
    f.req.slo_tpot_ms = 50;
    fx_cycle(&f.cy, &f.req, f.pool, 7);
    prod.ops->produce(prod.state, &f.cy, f.c, N);
    assert_true(sy_latency_pred_positive(sy_latency_pred_of(&f.cy, &f.c[1])));
    assert_false(sy_latency_pred_positive(sy_latency_pred_of(&f.cy, &f.c[2])));
    sc.ops->score(sc.state, &f.cy, f.c, N, s);
    assert_int_equal(argmax(s), 1);
    assert_true(s[2] < 0.5);
    prod.ops->done(prod.state, &f.cy, NULL, false);
    sy_pool_unref(f.pool);
    fx_plugin_free(&sc);
    fx_plugin_free(&prod);
}

static void test_params(void **state)
{
    (void)state;
    char err[256];
    struct fx_plugin fp;
    assert_int_equal(fx_plugin_new(&fp, "slo-class-scorer",
                                   "tightTPOTMs: 40\ntightTTFTMs: 800\ntightFraction: 0.5\n"
                                   "speedClassRatio: 2\nreserveFactor: 3\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    static const char *const bad[][2] = {
        {"tightFraction: 0\n", "tightFraction"},   {"speedClassRatio: 0.5\n", "speedClassRatio"},
        {"reserveFactor: 0.9\n", "reserveFactor"}, {"tightTPOTMs: -1\n", "tightTPOTMs"},
        {"tightTTFTMs: soon\n", "tightTTFTMs"},    {"tightness: 1\n", "tightness"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fx_plugin_new(&fp, "slo-class-scorer", bad[i][0], err, sizeof err),
                         SY_ECONFIG);
        assert_non_null(strstr(err, bad[i][1]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback_fit_and_rules),
        cmocka_unit_test(test_classes_cut_at_largest_gap),
        cmocka_unit_test(test_auto_tightness),
        cmocka_unit_test(test_model_speeds),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
