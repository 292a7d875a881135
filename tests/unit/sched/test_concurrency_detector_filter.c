/* Unit tests for src/sched/concurrency_detector_filter.c: the filter role of llm-d's
 * concurrency-detector (limit = maxConcurrency * (1 + headroom), in-flight < limit kept, no
 * fail open when every endpoint is full), its parameter errors, that a scheduler loaded from
 * an EndpointPickerConfig with the detector (and flow control) runs it in the default profile, and
 * the strict bound: the decision carries the limit and sy_sched_pick_charge reserves the slot
 * (sy_pool_charge_within), so threads deciding at once never push an endpoint past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "core/err.h"
#include "prefix/approx_index.h"
#include "prefix/prefix_sched.h"
#include "sched/plugins.h"
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

/* Tokens mode counts the request's own tokens (what the charge adds on each endpoint): an endpoint
 * where they would pass the limit is dropped, and a request larger than the whole limit goes onto
 * any endpoint below the limit (llm-d's rule: one request's overshoot); the charge's reservation
 * makes the same test. */
static void test_tokens_own_size(void **state)
{
    (void)state;
    struct sy_endpoint *eps[3];
    static const int64_t tok[3] = {900, 600, 0};
    for (size_t i = 0; i < 3; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, 0, 0, 0);
        atomic_store(&eps[i]->inflight_tokens, tok[i]);
    }
    struct sy_pool *p = fx_pool(eps, 3);
    struct fx_plugin fp;
    char err[256];
    if (fx_plugin_new(&fp, "concurrency-detector",
                      "concurrencyMode: tokens\nmaxTokenConcurrency: 1000\n", err, sizeof err))
        fail_msg("%s", err);
    static const struct {
        uint32_t tokens;
        const char *kept;
    } cases[] = {
        {100, "012"},  /* 900 + 100 = 1000: within */
        {101, "12"},   /* 900 + 101 > 1000 */
        {400, "12"},   /* 600 + 400 = 1000 */
        {401, "2"},    /* only the idle one */
        {5000, "012"}, /* larger than the limit: any below it (not starved under load) */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct sy_request r;
        fx_req(&r, "m", cases[k].tokens);
        struct sy_sched_candidate c[3];
        fx_cands(p, c);
        struct sy_sched_cycle cy;
        fx_cycle(&cy, &r, p, 1);
        size_t m = fp.ops->filter(fp.state, &cy, c, 3);
        char out[4];
        for (size_t i = 0; i < m; i++)
            out[i] = (char)('0' + c[i].pool_index);
        out[m] = '\0';
        assert_string_equal(out, cases[k].kept);
        assert_int_equal(cy.cap_tokens, 1000);
    }
    fx_plugin_free(&fp);
    /* the large request taken by a busy endpoint below the limit (strict reservation, as the
     * P/D prefill leg and a retry make it): the next request of 5000 finds no room there */
    struct sy_charge big = {0}, late = {0};
    assert_true(sy_pool_charge_within(&big, eps[0], 5000, -1, 1, 0, 1000));
    assert_false(sy_pool_charge_within(&late, eps[0], 5000, -1, 1, 0, 1000));
    assert_false(sy_pool_charge_within(&late, eps[0], 1, -1, 1, 0, 1000));
    assert_int_equal(atomic_load(&eps[0]->inflight_tokens), 5900);
    sy_pool_discharge(&big, -1);
    sy_pool_unref(p);
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

static const char cd_yaml[] = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
                              "featureGates: [flowControl]\n"
                              "plugins:\n"
                              "- {type: concurrency-detector, name: cd, parameters: %s}\n"
                              "- {type: queue-scorer}\n"
                              "- {type: max-score-picker}\n"
                              "flowControl:\n  saturationDetector: {pluginRef: cd}\n";

static struct sy_scheduler *cd_sched(const char *params)
{
    char yaml[1024], err[512];
    snprintf(yaml, sizeof yaml, cd_yaml, params);
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    return s;
}

/* The filter leaves its limits in the decision (the charge reserves against them); a fail-open
 * decision leaves none; sy_sched_pick_charge charges a slot below the limit and refuses to charge
 * one that is full. */
static void test_reservation(void **state)
{
    (void)state;
    struct sy_scheduler *s = cd_sched("{maxConcurrency: 2}");
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 3, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_result res;
    struct sy_charge c1 = {0}, c2 = {0}, c3 = {0};
    assert_int_equal(sy_sched_pick_charge(s, p, &r, NULL, 0, &res, &c1, false), 0);
    assert_ptr_equal(c1.ep, eps[0]);
    assert_int_equal(res.cap_requests, 2);
    assert_int_equal(res.cap_tokens, 0); /* requests mode */
    sy_sched_done(s, &res, true);
    assert_int_equal(sy_sched_pick_charge(s, p, &r, NULL, 0, &res, &c2, false), 0);
    assert_ptr_equal(c2.ep, eps[0]);
    sy_sched_done(s, &res, true);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 2);
    /* a is full: b, still under the bound */
    assert_int_equal(sy_sched_pick_charge(s, p, &r, NULL, 0, &res, &c3, false), 0);
    assert_ptr_equal(c3.ep, eps[1]);
    assert_int_equal(res.cap_requests, 2);
    sy_sched_done(s, &res, true);
    /* a decision made while a had a free slot, charged after another took it: refused */
    struct sy_charge late = {0};
    int64_t tokens = atomic_load(&eps[0]->inflight_tokens);
    assert_false(sy_pool_charge_within(&late, eps[0], 5, -1, 1, 2, 0));
    assert_null(late.ep);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 2);
    assert_int_equal(atomic_load(&eps[0]->inflight_tokens), tokens);
    /* every endpoint full: the decision fails open and carries no bound */
    struct sy_charge c4 = {0};
    sy_pool_charge(&c4, eps[1], 0, -1, 1);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_int_equal(res.cap_requests, 0);
    assert_int_equal(res.cap_tokens, 0);
    sy_sched_done(s, &res, true);
    sy_pool_discharge(&c1, -1);
    sy_pool_discharge(&c2, -1);
    sy_pool_discharge(&c3, -1);
    sy_pool_discharge(&c4, -1);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 0);
    assert_int_equal(atomic_load(&eps[1]->inflight_requests), 0);
    assert_int_equal(atomic_load(&eps[0]->inflight_tokens), 0);
    sy_sched_free(s);
    /* hybrid: both limits travel; the lower of two detectors' limits wins */
    s = cd_sched("{concurrencyMode: hybrid, maxConcurrency: 4, maxTokenConcurrency: 500}");
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_int_equal(res.cap_requests, 4);
    assert_int_equal(res.cap_tokens, 500);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* The bound holds across threads deciding at once (the workers): THREADS threads take and give
 * back slots on a pool of two endpoints with limit 2 each; at most 4 requests are held at once (the
 * pool-wide gate's job), so every decision finds a free slot, and no endpoint's in-flight count is
 * ever seen above 2. Before the reservation, two decisions could both see a slot free. */
#define RACE_THREADS 4
#define RACE_ITERS   20000

struct race {
    struct sy_scheduler *s;
    struct sy_pool *p;
    _Atomic int64_t max_seen;
    _Atomic int64_t picks, refused;
};

static void *race_worker(void *arg)
{
    struct race *rc = arg;
    struct sy_request r;
    fx_req(&r, "m", 10);
    for (int i = 0; i < RACE_ITERS; i++) {
        struct sy_sched_result res;
        struct sy_charge c = {0};
        int e = sy_sched_pick_charge(rc->s, rc->p, &r, NULL, 0, &res, &c, false);
        if (e != 0) {
            atomic_fetch_add(&rc->refused, 1);
            continue;
        }
        int64_t n = atomic_load(&c.ep->inflight_requests);
        int64_t m = atomic_load(&rc->max_seen);
        while (n > m && !atomic_compare_exchange_weak(&rc->max_seen, &m, n)) {
        }
        atomic_fetch_add(&rc->picks, 1);
        for (volatile int k = 0; k < 3000; k++) /* hold the slot a while: endpoints run full */
            ;
        sy_pool_discharge(&c, -1);
        sy_sched_done(rc->s, &res, true);
    }
    return NULL;
}

static void test_reservation_race(void **state)
{
    (void)state;
    struct race rc = {.s = cd_sched("{maxConcurrency: 2}")};
    /* equal queues: the scorer ties, max-score-picker breaks ties at random */
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    rc.p = fx_pool(eps, 2);
    pthread_t th[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_create(&th[i], NULL, race_worker, &rc);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&rc.max_seen) <= 2);
    assert_int_equal(atomic_load(&rc.picks) + atomic_load(&rc.refused), RACE_THREADS * RACE_ITERS);
    /* at most 4 held on 4 slots: a decision finds a free slot but for a rare exhaustion */
    assert_true(atomic_load(&rc.picks) > RACE_THREADS * RACE_ITERS * 9 / 10);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 0);
    assert_int_equal(atomic_load(&eps[1]->inflight_requests), 0);
    sy_sched_free(rc.s);
    sy_pool_unref(rc.p);
}

/* A decision whose reservation fails leaves no trace: the reservation hook runs before the
 * pre_request hooks, so the loser's decision records nothing (approximate prefix index, debug
 * ring, slot metrics) and the re-decision alone does. The hook plays the other worker: on the
 * first decision it takes the chosen endpoint's last slot and refuses. */
struct steal {
    int calls;
    struct sy_endpoint *loser;
    struct sy_charge other, mine;
    const struct sy_request *req;
};

static bool steal_first(void *ud, const struct sy_sched_result *res)
{
    struct steal *st = ud;
    if (st->calls++ == 0) {
        st->loser = res->ep;
        sy_pool_charge(&st->other, res->ep, 0, -1, 1); /* another worker took the slot */
    }
    return sy_pool_charge_within(&st->mine, res->ep, res->inflight_tokens, st->req->max_tokens,
                                 st->req->choices, res->cap_requests, res->cap_tokens);
}

static bool refuse(void *ud, const struct sy_sched_result *res)
{
    (void)res;
    ((struct steal *)ud)->calls++;
    return false;
}

static void test_lost_reservation_leaves_no_trace(void **state)
{
    (void)state;
    static const char yaml[] =
        "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
        "featureGates: [flowControl]\n"
        "plugins:\n"
        "- {type: concurrency-detector, name: cd, parameters: {maxConcurrency: 1}}\n"
        "- {type: approx-prefix-cache-producer, parameters: {blockSizeTokens: 1, autoTune: "
        "false}}\n"
        "- {type: prefix-cache-scorer}\n"
        "- {type: max-score-picker}\n"
        "flowControl:\n  saturationDetector: {pluginRef: cd}\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    struct sy_approx_index *idx = NULL;
    for (size_t i = 0; i < s->nproducers; i++)
        if (s->producers[i]->ops == &sy_plugin_approx_prefix_cache_producer)
            idx = sy_approx_prefix_producer_index(s->producers[i]->state);
    assert_non_null(idx);
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    const char *body = "{\"prompt\":\"the same long prompt, block after block\"}";
    struct sy_request r;
    fx_req(&r, "m", 10);
    r.body = body;
    r.body_len = strlen(body);
    r.prompt = (struct sy_str){body + 11, strlen(body) - 13};
    uint64_t seq0 = s->ring_seq;

    struct steal st = {.req = &r};
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick_reserve(s, p, &r, NULL, 0, &res, steal_first, &st), 0);
    assert_int_equal(st.calls, 2); /* lost once, decided again */
    assert_non_null(st.loser);
    assert_ptr_not_equal(res.ep, st.loser); /* the loser is full now: the filter removed it */
    assert_ptr_equal(st.mine.ep, res.ep);
    assert_int_equal(s->ring_seq, seq0 + 1); /* one decision recorded, the winner's */
    sy_sched_done(s, &res, true);
    assert_int_equal(sy_approx_index_count(idx, st.loser), 0); /* no prompt on the loser */
    assert_true(sy_approx_index_count(idx, res.ep) > 0);
    struct sy_approx_index_stats as;
    sy_approx_index_stats(idx, &as);
    sy_pool_discharge(&st.mine, -1);
    sy_pool_discharge(&st.other, -1);

    /* every decision refused: SY_ESATURATED after SY_SCHED_CHARGE_TRIES, nothing recorded */
    struct steal none = {.req = &r};
    uint64_t seq1 = s->ring_seq;
    size_t na = sy_approx_index_count(idx, eps[0]), nb = sy_approx_index_count(idx, eps[1]);
    assert_int_equal(sy_sched_pick_reserve(s, p, &r, NULL, 0, &res, refuse, &none), SY_ESATURATED);
    assert_int_equal(none.calls, SY_SCHED_CHARGE_TRIES);
    assert_null(res.ep);
    assert_null(res.cycle);
    assert_int_equal(s->ring_seq, seq1);
    assert_int_equal(sy_approx_index_count(idx, eps[0]), na);
    assert_int_equal(sy_approx_index_count(idx, eps[1]), nb);
    struct sy_approx_index_stats as2;
    sy_approx_index_stats(idx, &as2);
    /* no hit ratio recorded for the losers (lookups do count: the producers ran) */
    assert_int_equal(as2.entries, as.entries);
    assert_int_equal(as2.hit_blocks, as.hit_blocks);
    assert_int_equal(as2.total_blocks, as.total_blocks);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 0);
    assert_int_equal(atomic_load(&eps[1]->inflight_requests), 0);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* A strict charge (a retry) holds the pick to the filter's limits also where the filter failed
 * open: with every endpoint full it charges nothing and answers SY_ESATURATED after one decision
 * (a new one would find them full as well), where a plain charge goes over; once a slot frees it
 * takes it. The limits travel in the result either way, and the fail-open is said (failed_open),
 * not inferred. Such a refusal lost no slot to another worker: slot_lost_total does not count it
 * (it counted it before failed_open), a refused decision that had a bound does. */
static void test_strict_charge(void **state)
{
    (void)state;
    struct sy_scheduler *s = cd_sched("{maxConcurrency: 1}");
    struct sy_metrics *m = sy_metrics_new();
    sy_sched_attach_metrics(s, m);
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_charge ca = {0}, cb = {0}, c = {0};
    sy_pool_charge(&ca, eps[0], 0, -1, 1);
    sy_pool_charge(&cb, eps[1], 0, -1, 1);
    struct sy_sched_result res;
    /* every endpoint full: the decision fails open; its limits are still known */
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_int_equal(res.cap_requests, 0);
    assert_int_equal(res.limit_requests, 1);
    assert_true(res.failed_open);
    sy_sched_done(s, &res, true);
    assert_int_equal(sy_sched_pick_charge(s, p, &r, NULL, 0, &res, &c, true), SY_ESATURATED);
    assert_null(c.ep);
    assert_true(fx_metrics_has(m, "switchyard_scheduler_slot_lost_total 0\n"));
    assert_true(
        fx_metrics_has(m, "inference_extension_scheduler_attempts_total{status=\"failure\"} 1\n"));
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 1);
    assert_int_equal(atomic_load(&eps[1]->inflight_requests), 1);
    struct steal none = {.req = &r};
    assert_int_equal(sy_sched_pick_reserve(s, p, &r, NULL, 0, &res, refuse, &none), SY_ESATURATED);
    assert_int_equal(none.calls, 1); /* a fail-open decision that lost is not made again */
    assert_true(fx_metrics_has(m, "switchyard_scheduler_slot_lost_total 0\n"));
    /* a plain charge (first attempt) fails open and goes over */
    assert_int_equal(sy_sched_pick_charge(s, p, &r, NULL, 0, &res, &c, false), 0);
    assert_non_null(c.ep);
    sy_sched_done(s, &res, true);
    sy_pool_discharge(&c, -1);
    /* b frees its slot: the strict charge takes it, a excluded or not */
    sy_pool_discharge(&cb, -1);
    assert_int_equal(sy_sched_pick_charge(s, p, &r, eps, 1, &res, &c, true), 0);
    assert_ptr_equal(c.ep, eps[1]);
    assert_int_equal(res.cap_requests, 1);
    assert_false(res.failed_open);
    sy_sched_done(s, &res, true);
    sy_pool_discharge(&c, -1);
    /* a decision with a bound (b has room) refused: a slot lost, made again, counted each time */
    none.calls = 0;
    assert_int_equal(sy_sched_pick_reserve(s, p, &r, NULL, 0, &res, refuse, &none), SY_ESATURATED);
    assert_int_equal(none.calls, SY_SCHED_CHARGE_TRIES);
    assert_true(fx_metrics_has(m, "switchyard_scheduler_slot_lost_total 8\n"));
    sy_pool_discharge(&ca, -1);
    assert_int_equal(atomic_load(&eps[0]->inflight_requests), 0);
    assert_int_equal(atomic_load(&eps[1]->inflight_requests), 0);
    sy_sched_free(s);
    sy_metrics_free(m);
    sy_pool_unref(p);
}

/* P/D: the prefill profile's concurrency limits travel in the result (prefill_limit_*, what
 * src/disagg reserves the prefill leg's slot against), also when its filter failed open, and a
 * prefill repick refreshes them; a decode profile without the detector carries none. */
static void test_prefill_limits(void **state)
{
    (void)state;
    struct sy_scheduler *s = fx_pd_sched("{maxConcurrency: 1}");
    struct sy_endpoint *eps[] = {fx_ep("p1:1", "llm-d.ai/role=prefill", 0, 0, 0),
                                 fx_ep("p2:1", "llm-d.ai/role=prefill", 0, 0, 0),
                                 fx_ep("d1:1", "llm-d.ai/role=decode", 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_result res;
    atomic_store(&eps[0]->inflight_requests, 1); /* p1 full: p2 */
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_ptr_equal(res.ep, eps[2]);
    assert_ptr_equal(res.prefill_ep, eps[1]);
    assert_int_equal(res.prefill_limit_requests, 1);
    assert_int_equal(res.limit_requests, 0); /* the decode profile has no detector */
    /* p2 failed: the repick on the snapshot fails open onto p1 (full) and keeps the limit */
    assert_int_equal(sy_sched_repick_prefill(s, &res, &eps[1], 1), 0);
    assert_ptr_equal(res.prefill_ep, eps[0]);
    assert_int_equal(res.prefill_limit_requests, 1);
    assert_false(sy_endpoint_inflight_add_within(res.prefill_ep, res.prefill_inflight_tokens,
                                                 res.prefill_limit_requests,
                                                 res.prefill_limit_tokens));
    sy_sched_done(s, &res, true);
    /* both full: the prefill run fails open, the limit still travels */
    atomic_store(&eps[1]->inflight_requests, 1);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_non_null(res.prefill_ep);
    assert_int_equal(res.prefill_limit_requests, 1);
    sy_sched_done(s, &res, true);
    atomic_store(&eps[0]->inflight_requests, 0);
    atomic_store(&eps[1]->inflight_requests, 0);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* P/D in tokens mode: the prefill leg's reservation charges the figure the prefill run's filter
 * checked (prefill_inflight_tokens from sy_inflight_account), so a pick the filter kept at the
 * boundary (400 + 600 = 1000) gets its slot; the run's caps travel as well (the flow-control
 * gate's first leg reserves against them: none where the filter failed open). */
static void test_prefill_tokens(void **state)
{
    (void)state;
    struct sy_scheduler *s = fx_pd_sched("{concurrencyMode: tokens, maxTokenConcurrency: 1000}");
    struct sy_endpoint *eps[] = {fx_ep("p1:1", "llm-d.ai/role=prefill", 0, 0, 0),
                                 fx_ep("d1:1", "llm-d.ai/role=decode", 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    atomic_store(&eps[0]->inflight_requests, 1);
    atomic_store(&eps[0]->inflight_tokens, 400);
    struct sy_request r;
    fx_req(&r, "m", 600);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_ptr_equal(res.prefill_ep, eps[0]);
    assert_int_equal(res.prefill_inflight_tokens, 600);
    assert_int_equal(res.prefill_cap_tokens, 1000);
    assert_int_equal(res.prefill_limit_tokens, 1000);
    assert_true(sy_endpoint_inflight_add_within(res.prefill_ep, res.prefill_inflight_tokens,
                                                res.prefill_limit_requests,
                                                res.prefill_limit_tokens));
    assert_int_equal(atomic_load(&eps[0]->inflight_tokens), 1000);
    sy_sched_done(s, &res, true);
    /* full now: the filter fails open, no cap, the limit still travels */
    fx_req(&r, "m", 1);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_ptr_equal(res.prefill_ep, eps[0]);
    assert_int_equal(res.prefill_cap_tokens, 0);
    assert_int_equal(res.prefill_limit_tokens, 1000);
    sy_sched_done(s, &res, true);
    atomic_store(&eps[0]->inflight_requests, 0);
    atomic_store(&eps[0]->inflight_tokens, 0);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_limits),
                                       cmocka_unit_test(test_prefill_tokens),
                                       cmocka_unit_test(test_tokens_own_size),
                                       cmocka_unit_test(test_param_errors),
                                       cmocka_unit_test(test_default_profile_filters),
                                       cmocka_unit_test(test_reservation),
                                       cmocka_unit_test(test_reservation_race),
                                       cmocka_unit_test(test_lost_reservation_leaves_no_trace),
                                       cmocka_unit_test(test_strict_charge),
                                       cmocka_unit_test(test_prefill_limits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
