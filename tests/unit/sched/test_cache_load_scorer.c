/* Unit tests for src/sched/cache_load_scorer.c: load(ep) = n(ep) + (pending(ep) + w(ep) x uncached
 * prompt tokens of this request on ep) / tokensPerRequest, w = min(n + 1, maxBatchWeight),
 * n = max(gateway in-flight requests, scraped running + waiting) with scrapedLoad, score =
 * 1 / (1 + load - min load). The first two tests pin the unweighted arithmetic (maxBatchWeight 1),
 * test_batch_weight the weight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/log.h"
#include "pool/decode.h"
#include "unit/sched/sched_helpers.h"

struct fixture {
    struct sy_pool *p;              /* endpoints a, b, c (setup) */
    struct sy_sched_candidate c[3]; /* their candidates, refreshed by score() */
    struct sy_request r;            /* the request scored (request()) */
    struct sy_sched_cycle cy;       /* its cycle */
    struct fx_plugin fp;            /* the scorer under test (scorer()) */
};

/* a: 10 in flight, no pending tokens; b: 10 in flight, 512 pending prompt tokens; c: 12 in
 * flight, but its engine reports 20 running + 2 waiting (traffic from elsewhere). */
static void setup(struct fixture *f)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 2, 20, 0)};
    atomic_store(&eps[0]->inflight_requests, 10);
    atomic_store(&eps[1]->inflight_requests, 10);
    atomic_store(&eps[1]->inflight_tokens, 512);
    atomic_store(&eps[2]->inflight_requests, 12);
    f->p = fx_pool(eps, 3);
    f->fp = (struct fx_plugin){0};
}

static void teardown(struct fixture *f)
{
    fx_plugin_free(&f->fp);
    sy_pool_unref(f->p);
}

/* Replaces the scorer under test with a new cache-load-scorer of params (YAML, NULL: defaults). */
static void scorer(struct fixture *f, const char *params)
{
    char err[256];
    fx_plugin_free(&f->fp);
    assert_int_equal(fx_plugin_new(&f->fp, "cache-load-scorer", params, err, sizeof err), 0);
}

/* The request scored next: prompt_tokens tokens of model "m"; pm (by pool index, borrowed) is
 * the prefix producer's output, NULL for none. */
static void request(struct fixture *f, uint32_t prompt_tokens, struct sy_prefix_match *pm)
{
    fx_req(&f->r, "m", prompt_tokens);
    fx_cycle(&f->cy, &f->r, f->p, 1);
    if (pm) {
        f->cy.prefix = pm;
        f->cy.prefix_valid = true;
    }
}

/* Scores the first n candidates, snapshotted from the endpoints' counters now, into s. */
static void score(struct fixture *f, size_t n, double *s)
{
    fx_cands(f->p, f->c);
    f->fp.ops->score(f->fp.state, &f->cy, f->c, n, s);
}

/* Scores a and b (the first two candidates, score()) and checks that winner (0: a, 1: b) scores 1
 * and the other 1 / (1 + gap): its load is gap request-equivalents more; tol: the tolerance. */
static void expect_pick(struct fixture *f, int winner, double gap, double tol)
{
    double s[2];
    score(f, 2, s);
    assert_float_equal(s[winner], 1.0, tol);
    assert_float_equal(s[1 - winner], 1.0 / (1.0 + gap), tol);
}

/* Endpoint i (0: a, 1: b) has n requests in flight, pending prompt tokens not yet prefilled, and
 * done requests' worth of their output decoded (pool/decode.c's decode_done). */
static void load(struct fixture *f, int i, int64_t n, int64_t pending, double done)
{
    atomic_store(&f->p->eps[i]->inflight_requests, n);
    atomic_store(&f->p->eps[i]->inflight_tokens, pending);
    atomic_store(&f->p->eps[i]->decode_done, (int64_t)(done * SY_DECODE_ONE));
}

static void test_load_without_prefix_data(void **state)
{
    struct fixture f;
    setup(&f);
    request(&f, 1024, NULL);
    scorer(&f, "scrapedLoad: true\nmaxBatchWeight: 1\n");
    double s[3];
    score(&f, 3, s);
    assert_float_equal(s[0], 1.0, FX_EPS);        /* 10 + 1024/512 = 12, the minimum */
    assert_float_equal(s[1], 0.5, FX_EPS);        /* 10 + (512 + 1024)/512 = 13 */
    assert_float_equal(s[2], 1.0 / 13.0, FX_EPS); /* max(12, 22) + 2 = 24 */

    /* scrapedLoad false (the default) counts only the gateway's own count: 12 + 2 = 14 */
    scorer(&f, "maxBatchWeight: 1\n");
    score(&f, 3, s);
    assert_float_equal(s[2], 1.0 / 3.0, FX_EPS);
    teardown(&f);
}

static void test_hit_saves_against_load(void **state)
{
    struct fixture f;
    setup(&f);
    scorer(&f, "maxBatchWeight: 1\n");
    /* b caches the whole prompt (64 blocks of 16): its cost drops by 1024 tokens = 2 requests */
    struct sy_prefix_match pm[3] = {{0, 64, 16, 0}, {64, 64, 16, 64}, {32, 64, 16, 32}};
    request(&f, 1024, pm);
    double s[3];
    score(&f, 3, s);
    assert_float_equal(s[1], 1.0, FX_EPS);       /* 10 + (512 + 0)/512 = 11 */
    assert_float_equal(s[0], 0.5, FX_EPS);       /* 10 + 1024/512 = 12 */
    assert_float_equal(s[2], 1.0 / 3.0, FX_EPS); /* 12 + 512/512 = 13 */

    /* A short prompt (64 tokens) cached on a does not outweigh one more request there. */
    struct sy_prefix_match pm2[3] = {{4, 4, 16, 4}, {0, 4, 16, 0}, {0, 4, 16, 0}};
    request(&f, 64, pm2);
    atomic_store(&f.p->eps[0]->inflight_requests, 11);
    atomic_store(&f.p->eps[1]->inflight_tokens, 0);
    expect_pick(&f, 1, 0.875, FX_EPS); /* b 10 + 64/512 = 10.125, a 11 + 0 */
    /* ... but breaks the tie between equally loaded endpoints */
    atomic_store(&f.p->eps[0]->inflight_requests, 10);
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 1.0 / 1.125, FX_EPS);

    /* tokensPerRequest 2048: the 1024-token hit is worth half a request */
    scorer(&f, "tokensPerRequest: 2048\nmaxBatchWeight: 1\n");
    request(&f, 1024, pm);
    atomic_store(&f.p->eps[1]->inflight_requests, 11);
    expect_pick(&f, 0, 0.5, FX_EPS); /* a 10 + 1024/2048 = 10.5, b 11 + 0 */
    teardown(&f);
}

/* The default weighs a miss by the requests its prefill stalls, n + 1, capped at 8. */
static void test_batch_weight(void **state)
{
    struct fixture f;
    setup(&f);
    scorer(&f, NULL);
    request(&f, 1024, NULL);
    double s[3];
    /* no prefix data: every candidate misses the whole prompt, w = min(n + 1, 8) = 8 */
    score(&f, 3, s);
    assert_float_equal(s[0], 1.0, FX_EPS);       /* 10 + 8 x 1024/512 = 26 */
    assert_float_equal(s[1], 0.5, FX_EPS);       /* 10 + (512 + 8 x 1024)/512 = 27 */
    assert_float_equal(s[2], 1.0 / 3.0, FX_EPS); /* 12 + 8 x 2 = 28 */

    /* b caches the prompt: 10 + 512/512 = 11; a 26, c half cached 12 + 8 x 512/512 = 20. The
     * hit is worth 16 requests of imbalance here, 2 on an idle endpoint (w = 1). */
    struct sy_prefix_match pm[3] = {{0, 64, 16, 0}, {64, 64, 16, 64}, {32, 64, 16, 32}};
    request(&f, 1024, pm);
    score(&f, 3, s);
    assert_float_equal(s[1], 1.0, FX_EPS);
    assert_float_equal(s[0], 1.0 / 16.0, FX_EPS);
    assert_float_equal(s[2], 1.0 / 10.0, FX_EPS);

    /* below the cap w = n + 1: a with 2 in flight misses a 128-token prompt (2 + 3 x 128/512 =
     * 2.75: the miss costs 0.75 request, 0.25 unweighted), b holds it; b wins while it is less
     * than 0.75 request busier: with 3 in flight (3 + 0) it loses, with 2 it wins */
    struct sy_prefix_match pm2[3] = {{0, 8, 16, 0}, {8, 8, 16, 8}, {0, 8, 16, 0}};
    request(&f, 128, pm2); /* 8 blocks of 16 */
    atomic_store(&f.p->eps[0]->inflight_requests, 2);
    atomic_store(&f.p->eps[1]->inflight_requests, 3);
    atomic_store(&f.p->eps[1]->inflight_tokens, 0);
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 1.0 / 1.25, FX_EPS);
    atomic_store(&f.p->eps[1]->inflight_requests, 2); /* equally busy: b, by 3 x 128/512 */
    score(&f, 2, s);
    assert_float_equal(s[1], 1.0, FX_EPS);
    assert_float_equal(s[0], 1.0 / 1.75, FX_EPS);

    /* an idle endpoint (n = 0): w = 1 whatever the cap, the unweighted arithmetic */
    scorer(&f, "maxBatchWeight: 100\n");
    atomic_store(&f.p->eps[0]->inflight_requests, 0);
    atomic_store(&f.p->eps[1]->inflight_requests, 1);
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS);        /* 0 + 1 x 128/512 = 0.25 */
    assert_float_equal(s[1], 1.0 / 1.75, FX_EPS); /* 1 + 0 */
    teardown(&f);
}

/* decodedWeight (the default): the load term counts each request in flight by the share of its
 * output still to come (pool/decode.c's decode_done), the batch weight w still by the count. The
 * wave-boundary case: a holds this request's 1,152-token history with 31 requests at 95% of their
 * output, b has 12 fresh ones. Counted whole, b wins (a: 31 + 0 = 31, b: 12 + 8 x 1152/512 = 30);
 * by their work left, a (31 - 29.45 = 1.55) is far lighter than b (30). */
static void test_remaining_decode(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    struct sy_prefix_match pm[2] = {{72, 72, 16, 72}, {0, 72, 16, 0}}; /* 1152 tokens, a holds it */
    request(&f, 1152, pm);
    load(&f, 0, 31, 0, 31 * 0.95);
    atomic_store(&f.p->eps[0]->decode_left, 31 * 15);
    load(&f, 1, 12, 0, 0);
    scorer(&f, "decodedWeight: 0\n");
    expect_pick(&f, 1, 31 - 30, FX_EPS); /* counted whole: a 31, b 30 */
    scorer(&f, NULL);
    expect_pick(&f, 0, 30.0 - 31.0 * 0.05, 1e-6);
    scorer(&f, "decodedWeight: 0.5\n"); /* half the decoded share: a 31 - 14.725 = 16.275 */
    expect_pick(&f, 0, 30.0 - 16.275, 1e-6);
    scorer(&f, NULL);

    /* w stays by the count: the same 31 requests (31 x 0.95 decoded) with a miss of 512 tokens
     * load 1.55 + 8 x 1 = 9.55, not 1.55 + 2.55 x 1 */
    struct sy_prefix_match pm2[2] = {{0, 32, 16, 0}, {0, 32, 16, 0}};
    request(&f, 512, pm2);
    atomic_store(&f.p->eps[1]->inflight_requests, 9);
    expect_pick(&f, 0, 17.0 - 9.55, 1e-6); /* b: 9 + 8 */

    /* decoded share beyond the count (counters read at different moments) clamps at 0 */
    atomic_store(&f.p->eps[0]->inflight_requests, 1);
    atomic_store(&f.p->eps[0]->decode_done, 2 * SY_DECODE_ONE);
    atomic_store(&f.p->eps[1]->inflight_requests, 0);
    double s[2];
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0 / (1.0 + 2.0 - 1.0), 1e-6); /* 0 + 2 x 1 = 2 against 0 + 1 */
    teardown(&f);
}

/* The prefix-repetition burst of test_pending_weight and test_decoded_floor: a 512-token request
 * whose 256-token prefix a caches (b nothing). */
static void prefix_burst(struct fixture *f)
{
    static struct sy_prefix_match pm[2] = {{16, 32, 16, 16}, {0, 32, 16, 0}}; /* borrowed */
    request(f, 512, pm);
}

/* The wave boundary of test_decoded_floor and test_pending_batch_weight: prefix_burst with a's
 * 32 requests and b's 24 at 99% of their output; the default scorer puts the request on a (4.82
 * against 8.24), and the scorer is left replaced by the caller's next scorer(). */
static void wave_boundary(struct fixture *f)
{
    prefix_burst(f);
    load(f, 0, 32, 256, 32 * 0.99);
    load(f, 1, 24, 0, 24 * 0.99);
    scorer(f, NULL);
    expect_pick(f, 0, 8.24 - 4.82, 1e-4);
}

/* pendingWeight / pendingByBatch (variants, off by default): the pending prompt tokens times
 * pendingWeight, and times w too with pendingByBatch, the requests their prefill steps stall. A
 * burst of requests sharing a 256-token prefix cached on a, both endpoints with 32 in flight
 * (w = 8): a already has two of them waiting for their prefill (2 x 256 pending tokens), b none
 * and no cache. By default the hit (8 x 256 / 512 = 4 requests) outweighs the pending tokens
 * (512 / 512 = 1): a 32 + (512 + 8 x 256) / 512 = 37, b 32 + 8 x 512 / 512 = 40, and the burst's
 * prefills pile into a's next step; weighed by the batch they stall a loads 32 + (8 x 512 +
 * 8 x 256) / 512 = 44 and b takes the request; pendingWeight 2 gives a 38. */
static void test_pending_weight(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    prefix_burst(&f);
    load(&f, 0, 32, 512, 0);
    load(&f, 1, 32, 0, 0);
    scorer(&f, NULL);
    expect_pick(&f, 0, 40 - 37, FX_EPS);
    scorer(&f, "pendingByBatch: true\n");
    expect_pick(&f, 1, 44 - 40, FX_EPS);
    scorer(&f, "pendingWeight: 2\n");
    expect_pick(&f, 0, 40 - 38, FX_EPS);
    /* both: 2 x 8 x 512 / 512 = 16 pending requests on a (52 against 40) */
    scorer(&f, "pendingWeight: 2\npendingByBatch: true\n");
    expect_pick(&f, 1, 52 - 40, FX_EPS);
    /* pendingWeight 0 drops the term: a 32 + 4 = 36 */
    scorer(&f, "pendingWeight: 0\n");
    expect_pick(&f, 0, 40 - 36, FX_EPS);
    /* an idle endpoint (w = 1) weighs its pending tokens once either way */
    atomic_store(&f.p->eps[0]->inflight_requests, 0);
    atomic_store(&f.p->eps[1]->inflight_requests, 0);
    scorer(&f, "pendingByBatch: true\n");
    /* a 0 + (512 + 256) / 512 = 1.5, b 0 + 512 / 512 = 1 */
    expect_pick(&f, 1, 1.5 - 1, FX_EPS);
    teardown(&f);
}

/* decodedFloor (a variant, 0 by default): while an endpoint has prompt tokens pending (a prefill
 * queued), its requests in flight weigh at least decodedFloor each. The wave boundary on
 * prefixrep: a holds this request's 256-token prefix and already one pending 256-token prefill,
 * its 32 requests at 99% of their output; b has 24 at 99% and nothing pending. By default a
 * loads 32 x 0.01 + (256 + 8 x 256) / 512 = 4.82, b 24 x 0.01 + 8 x 512 / 512 = 8.24: a takes a
 * second prefill beside 32 streams still decoding. With decodedFloor 0.25 a weighs at least
 * 0.25 x 32 = 8 while its prefill is pending: 8 + 4.5 = 12.5, and b takes the request; b's floor
 * does not apply (nothing pending there). */
static void test_decoded_floor(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    wave_boundary(&f);
    double s[2];
    scorer(&f, "decodedFloor: 0.25\n");
    expect_pick(&f, 1, 12.5 - 8.24, 1e-4);
    /* decodedFloor 1 counts every request whole while a prefill is pending: a 32 + 4.5 */
    scorer(&f, "decodedFloor: 1\n");
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0 / (1.0 + 36.5 - 8.24), 1e-4);
    /* nothing pending on a: the floor is off and the hit wins again (0.32 + 4 against 8.24) */
    atomic_store(&f.p->eps[0]->inflight_tokens, 0);
    expect_pick(&f, 0, 8.24 - 4.32, 1e-4);
    /* a floor below the work left changes nothing: fresh requests (no decoded share) */
    atomic_store(&f.p->eps[0]->inflight_tokens, 256);
    atomic_store(&f.p->eps[0]->decode_done, 0);
    scorer(&f, "decodedFloor: 0.5\n");
    expect_pick(&f, 1, 36.5 - 8.24, 1e-4);
    teardown(&f);
}

/* floorEveryCandidate (a variant, off by default): decodedFloor applies to every candidate of a
 * decision once any of them has a prefill pending, so no replica steps from its work left to its
 * count alone. repeated:128 mid-output: a holds this 64-token prompt whole (no uncached token) and
 * has another one pending, b has nothing pending, both 32 requests half through their output.
 * decodedFloor 1 on a alone: a 32 + 64 / 512 = 32.125 against b 16 + 8 x 64 / 512 = 17, and the
 * prompt leaves its cached replica; on both: b 32 + 1 = 33 and a keeps it, as the default does
 * (16.125 against 17). With nothing pending anywhere no floor applies. */
static void test_floor_every_candidate(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    static struct sy_prefix_match pm[2] = {{4, 4, 16, 4}, {0, 4, 16, 0}};
    request(&f, 64, pm);
    load(&f, 0, 32, 64, 16);
    load(&f, 1, 32, 0, 16);
    scorer(&f, NULL);
    expect_pick(&f, 0, 17 - 16.125, 1e-6);
    scorer(&f, "decodedFloor: 1\n");
    expect_pick(&f, 1, 32.125 - 17, 1e-6);
    scorer(&f, "decodedFloor: 1\nfloorEveryCandidate: true\n");
    expect_pick(&f, 0, 33 - 32.125, 1e-6);
    /* nothing pending anywhere: the default's arithmetic, a 16 against b 17 */
    atomic_store(&f.p->eps[0]->inflight_tokens, 0);
    expect_pick(&f, 0, 17 - 16, 1e-6);
    teardown(&f);
}

/* pendingBatchWeight (a variant, 0: off): while an endpoint has a prefill pending, this request's
 * uncached tokens weigh min(n + 1, pendingBatchWeight) instead of min(n + 1, maxBatchWeight): its
 * prefill joins the queued one in the steps of a whole batch. test_decoded_floor's wave boundary:
 * by default a takes a second prefill (4.82 against 8.24); with pendingBatchWeight 64 a's w is 33,
 * 0.32 + (256 + 33 x 256) / 512 = 17.32, and b (nothing pending, w 8) takes it; 16 gives a
 * 0.32 + 8.5 = 8.82. A request a holds whole (no uncached token) costs nothing either way. */
static void test_pending_batch_weight(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    wave_boundary(&f);
    double s[2];
    scorer(&f, "pendingBatchWeight: 64\n");
    expect_pick(&f, 1, 17.32 - 8.24, 1e-4);
    scorer(&f, "pendingBatchWeight: 16\n");
    expect_pick(&f, 1, 8.82 - 8.24, 1e-4);
    /* nothing pending on a: maxBatchWeight's w again (0.32 + 4 against 8.24) */
    atomic_store(&f.p->eps[0]->inflight_tokens, 0);
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0, 1e-4);
    /* a holds the whole prompt: no uncached token, w does not matter (0.32 + 0.5) */
    static struct sy_prefix_match whole[2] = {{32, 32, 16, 32}, {0, 32, 16, 0}};
    request(&f, 512, whole);
    atomic_store(&f.p->eps[0]->inflight_tokens, 256);
    scorer(&f, "pendingBatchWeight: 64\n");
    expect_pick(&f, 0, 8.24 - 0.82, 1e-4);
    teardown(&f);
}

/* The 512-token prompt whose 256-token prefix a caches (b nothing), 256 prompt tokens pending on
 * both, a_n and b_n requests in flight, nothing decoded yet. */
static void half_prefix(struct fixture *f, int64_t a_n, int64_t b_n)
{
    static struct sy_prefix_match half[2] = {{16, 32, 16, 16}, {0, 32, 16, 0}}; /* borrowed */
    request(f, 512, half);
    atomic_store(&f->p->eps[0]->inflight_requests, a_n);
    atomic_store(&f->p->eps[0]->inflight_tokens, 256);
    atomic_store(&f->p->eps[0]->decode_done, 0);
    atomic_store(&f->p->eps[1]->inflight_requests, b_n);
    atomic_store(&f->p->eps[1]->inflight_tokens, 256);
    atomic_store(&f->p->eps[1]->decode_done, 0);
}

/* pendingBatchScope (with pendingBatchWeight; all by default): the tokens the pending cap's w
 * weighs. blocks: only the uncached tokens of the prompt's indexed blocks, the prompt beyond them
 * (a partial block) at min(n + 1, maxBatchWeight); common: only as many of those as every
 * candidate has uncached, so what a hit saves weighs as without the cap. */
static void test_pending_batch_scope(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    double s[2];
    /* A 72-token prompt (4 indexed blocks of 16, 8 tokens beyond) that a holds whole; a has 40 in
     * flight and a prefill pending (64 tokens), b 40 at half a request decoded (busy 39.5),
     * nothing pending: b 39.5 + 8 x 72 / 512 = 40.625. With scope all a's 8-token tail weighs
     * w 41: 40 + (64 + 41 x 8) / 512 = 40.766, and the cached prompt leaves; blocks and common
     * keep the tail at w 8: 40 + (64 + 8 x 8) / 512 = 40.25. */
    static struct sy_prefix_match held[2] = {{4, 4, 16, 4}, {0, 4, 16, 0}};
    request(&f, 72, held);
    atomic_store(&f.p->eps[0]->inflight_requests, 40);
    atomic_store(&f.p->eps[0]->inflight_tokens, 64);
    atomic_store(&f.p->eps[1]->inflight_requests, 40);
    atomic_store(&f.p->eps[1]->inflight_tokens, 0);
    atomic_store(&f.p->eps[1]->decode_done, SY_DECODE_ONE / 2);
    scorer(&f, "pendingBatchWeight: 64\n");
    score(&f, 2, s);
    assert_float_equal(s[1], 1.0, 1e-6);
    assert_float_equal(s[0], 1.0 / (1.0 + 40.765625 - 40.625), 1e-6);
    scorer(&f, "pendingBatchWeight: 64\npendingBatchScope: all\n");
    score(&f, 2, s);
    assert_float_equal(s[1], 1.0, 1e-6);
    const char *keep[] = {"pendingBatchWeight: 64\npendingBatchScope: blocks\n",
                          "pendingBatchWeight: 64\npendingBatchScope: common\n"};
    for (int i = 0; i < 2; i++) {
        scorer(&f, keep[i]);
        score(&f, 2, s);
        assert_float_equal(s[0], 1.0, 1e-6);
        assert_float_equal(s[1], 1.0 / (1.0 + 40.625 - 40.25), 1e-6);
    }

    /* A 512-token prompt whose 256-token prefix a caches, 40 in flight and 256 tokens pending on
     * both (w 41): all and blocks price the hit at w 41, a 40 + (256 + 41 x 256) / 512 = 61
     * against b 40 + (256 + 41 x 512) / 512 = 81.5; common weighs only the 256 tokens both miss
     * by 41, b's other 256 by 8: 65, the hit's 4 requests of the default (44.5 against 48.5). */
    half_prefix(&f, 40, 40);
    const char *all[] = {"pendingBatchWeight: 64\n",
                         "pendingBatchWeight: 64\npendingBatchScope: blocks\n"};
    for (int i = 0; i < 2; i++) {
        scorer(&f, all[i]);
        score(&f, 2, s);
        assert_float_equal(s[0], 1.0, 1e-6);
        assert_float_equal(s[1], 1.0 / (1.0 + 81.5 - 61.0), 1e-6);
    }
    scorer(&f, "pendingBatchWeight: 64\npendingBatchScope: common\n");
    score(&f, 2, s);
    assert_float_equal(s[0], 1.0, 1e-6);
    assert_float_equal(s[1], 1.0 / (1.0 + 65.0 - 61.0), 1e-6);
    scorer(&f, NULL);
    score(&f, 2, s);
    assert_float_equal(s[1], 1.0 / (1.0 + 48.5 - 44.5), 1e-6);

    /* Without prefix-match data no block is known cached: every scope weighs the whole prompt
     * by the pending cap, a 40 + (256 + 41 x 512) / 512 = 81.5 against b's 40 + 8 = 48 with
     * nothing pending there. */
    request(&f, 512, NULL);
    atomic_store(&f.p->eps[1]->inflight_tokens, 0);
    const char *scopes[] = {"all", "blocks", "common"};
    for (int i = 0; i < 3; i++) {
        char params[96];
        snprintf(params, sizeof params, "pendingBatchWeight: 64\npendingBatchScope: %s\n",
                 scopes[i]);
        scorer(&f, params);
        score(&f, 2, s);
        assert_float_equal(s[1], 1.0, 1e-6);
        assert_float_equal(s[0], 1.0 / (1.0 + 81.5 - 48.0), 1e-6);
    }
    teardown(&f);
}

/* pendingBatchAboveMean (with pendingBatchWeight; false by default): the pending cap applies only
 * where more prompt tokens are pending than the candidates' mean. At the wave boundary only a has
 * a prefill pending (256 against a mean of 128): as pendingBatchWeight 64 alone, b takes it. With
 * the 512-token prompt whose prefix a caches and 256 tokens pending on both, neither is above the
 * mean: the default's 44.5 against 48.5, not 61 against 81.5; with 768 pending on b (mean 512) b
 * alone is capped: 40 + (768 + 41 x 512) / 512 = 82.5. */
static void test_pending_batch_above_mean(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    wave_boundary(&f);
    double s[2];
    scorer(&f, "pendingBatchWeight: 64\npendingBatchAboveMean: true\n");
    expect_pick(&f, 1, 17.32 - 8.24, 1e-4);

    half_prefix(&f, 40, 40);
    expect_pick(&f, 0, 48.5 - 44.5, 1e-6);
    scorer(&f, "pendingBatchWeight: 64\n");
    score(&f, 2, s);
    assert_float_equal(s[1], 1.0 / (1.0 + 81.5 - 61.0), 1e-6);
    scorer(&f, "pendingBatchWeight: 64\npendingBatchAboveMean: true\n");
    atomic_store(&f.p->eps[1]->inflight_tokens, 768);
    expect_pick(&f, 0, 82.5 - 44.5, 1e-6);
    teardown(&f);
}

/* pendingBatchIdlePeer (with pendingBatchWeight; false by default): the pending cap applies only
 * while some candidate has nothing pending. At the wave boundary b has none: as
 * pendingBatchWeight 64 alone, b takes it. With the 512-token prompt whose prefix a caches and
 * 256 tokens pending on both, none is idle: the default's 44.5 against 48.5, not 61 against 81.5;
 * with b idle a alone is capped: 40 + (256 + 41 x 256) / 512 = 61 against b's 40 + 8 = 48. */
static void test_pending_batch_idle_peer(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    wave_boundary(&f);
    scorer(&f, "pendingBatchWeight: 64\npendingBatchIdlePeer: true\n");
    expect_pick(&f, 1, 17.32 - 8.24, 1e-4);

    half_prefix(&f, 40, 40);
    expect_pick(&f, 0, 48.5 - 44.5, 1e-6);
    atomic_store(&f.p->eps[1]->inflight_tokens, 0);
    expect_pick(&f, 1, 61.0 - 48.0, 1e-6);
    teardown(&f);
}

/* pendingBatchAboveShare (with pendingBatchWeight; false by default): the pending cap applies only
 * where n + 1 reaches the fair share (the candidates' requests plus this one over their number).
 * At the wave boundary a has 32 (33 against a share of 28.5): as pendingBatchWeight 64 alone, b
 * takes it. The 512-token prompt whose prefix a caches, 256 tokens pending on both, a 40 in
 * flight and b 30 (share 35.5): only a is capped, 40 + (256 + 41 x 256) / 512 = 61 against b's
 * 30 + (256 + 8 x 512) / 512 = 38.5 (pendingBatchWeight alone: 30 + (256 + 31 x 512) / 512 =
 * 61.5, and a keeps the prefix's burst). */
static void test_pending_batch_above_share(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    wave_boundary(&f);
    scorer(&f, "pendingBatchWeight: 64\npendingBatchAboveShare: true\n");
    expect_pick(&f, 1, 17.32 - 8.24, 1e-4);

    half_prefix(&f, 40, 30);
    expect_pick(&f, 1, 61.0 - 38.5, 1e-6);
    scorer(&f, "pendingBatchWeight: 64\n");
    expect_pick(&f, 0, 61.5 - 61.0, 1e-6);
    teardown(&f);
}

/* shareSlack / shareWeight (a variant, off by default): each request in flight on an endpoint
 * beyond the candidates' fair share (their requests plus this one, over the candidates) plus
 * shareSlack counts shareWeight more. The wave boundary: a has 40 requests at 99% of their output
 * (busy 0.4), b 24 fresh ones; a 512-token prompt cached nowhere (w 8 on both: + 8). By default a
 * (8.4) takes it against b (32), an eighth prefill beside a batch still decoding; the fair share
 * is 65 / 2 = 32.5, so with shareSlack 4 and shareWeight 8 a's 3.5 requests above 36.5 add 28:
 * 36.4, and b takes it. With shareSlack 8 nothing is above the share. */
static void test_share_slack(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    request(&f, 512, NULL);
    load(&f, 0, 40, 0, 40 * 0.99);
    load(&f, 1, 24, 0, 0);
    scorer(&f, NULL);
    expect_pick(&f, 0, 32 - 8.4, 1e-4);
    scorer(&f, "shareSlack: 4\nshareWeight: 8\n");
    expect_pick(&f, 1, 36.4 - 32, 1e-4);
    /* shareWeight 1 (its default): a 8.4 + 3.5 = 11.9, still a */
    scorer(&f, "shareSlack: 4\n");
    expect_pick(&f, 0, 32 - 11.9, 1e-4);
    scorer(&f, "shareSlack: 8\nshareWeight: 8\n");
    expect_pick(&f, 0, 32 - 8.4, 1e-4);
    teardown(&f);
}

static void test_parameters(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "tokensPerRequest: 0\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "tokensPerRequest"));
    assert_int_not_equal(fx_plugin_new(&fp, "cache-load-scorer", "bogus: 1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "bogus"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "maxBatchWeight: 0.5\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "maxBatchWeight"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "scrapedLoad: maybe\n", err, sizeof err), 0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "decodedWeight: 1.5\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "decodedWeight"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingWeight: -1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingWeight"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingByBatch: 2\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingByBatch"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "decodedFloor: 1.5\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "decodedFloor"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "decodedFloor: -0.1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "decodedFloor"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "floorEveryCandidate: maybe\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "floorEveryCandidate"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchWeight: 0.5\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingBatchWeight"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchWeight: -1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingBatchWeight"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchScope: some\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingBatchScope"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchScope: [all]\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "pendingBatchScope"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchAboveMean: maybe\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "pendingBatchAboveMean"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchIdlePeer: maybe\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "pendingBatchIdlePeer"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "pendingBatchAboveShare: maybe\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "pendingBatchAboveShare"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "shareSlack: -1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "shareSlack"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "cache-load-scorer", "shareWeight: -1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "shareWeight"));
    assert_int_equal(fx_plugin_new(&fp, "cache-load-scorer",
                                   "inFlightLoadProducerName: x\nprefixMatchInfoProducerName: y\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
}

/* Combinations that are accepted but do (next to) nothing are each logged once at load, naming the
 * instance; the combinations that work are not. */
static void test_inert_combinations_warn(void **state)
{
    (void)state;
    static const struct {
        const char *params; /* YAML */
        const char *warned; /* a line of the log holds this; NULL: nothing logged */
    } cases[] = {
        {"floorEveryCandidate: true\n",
         "t.yaml:7: plugins[0].parameters.floorEveryCandidate: has no effect without a "
         "decodedFloor above 0 (plugin 'cache-load-scorer')"},
        {"decodedFloor: 0\nfloorEveryCandidate: true\n", "floorEveryCandidate: has no effect"},
        {"shareWeight: 8\n", "t.yaml:7: plugins[0].parameters.shareWeight: has no effect without "
                             "shareSlack (plugin 'cache-load-scorer')"},
        {"pendingBatchWeight: 4\n",
         "t.yaml:7: plugins[0].parameters.pendingBatchWeight: 4 is below maxBatchWeight 8: a miss "
         "where a prefill is pending weighs less, not more (plugin 'cache-load-scorer')"},
        {"maxBatchWeight: 16\npendingBatchWeight: 16\n",
         "pendingBatchWeight: 16 equals maxBatchWeight 16: it has no effect"},
        {"pendingBatchScope: blocks\n",
         "t.yaml:7: plugins[0].parameters.pendingBatchScope: has no effect without "
         "pendingBatchWeight (plugin 'cache-load-scorer')"},
        {"pendingBatchAboveShare: true\n",
         "pendingBatchAboveShare: has no effect without pendingBatchWeight"},
        {"pendingBatchWeight: 0\npendingBatchIdlePeer: true\n",
         "pendingBatchIdlePeer: has no effect without pendingBatchWeight"},
        {"pendingBatchAboveMean: true\n",
         "pendingBatchAboveMean: has no effect without pendingBatchWeight"},
        {NULL, NULL},
        {"decodedFloor: 0.5\nfloorEveryCandidate: true\n", NULL},
        {"floorEveryCandidate: false\n", NULL},
        {"pendingBatchScope: all\npendingBatchAboveMean: false\n", NULL},
        {"shareSlack: 0\nshareWeight: 8\n", NULL},
        {"pendingBatchWeight: 64\n", NULL},
        {"pendingBatchWeight: 64\npendingBatchScope: blocks\npendingBatchAboveShare: true\n", NULL},
        {"pendingBatchWeight: 0\n", NULL},
        {"maxBatchWeight: 2\npendingBatchWeight: 4\n", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char log[1024], err[256];
        assert_int_equal(
            fx_plugin_log("cache-load-scorer", cases[i].params, log, sizeof log, err, sizeof err),
            0);
        if (!cases[i].warned) {
            assert_string_equal(log, "");
            continue;
        }
        const char *at = strstr(log, cases[i].warned);
        if (!at)
            fail_msg("%s: no '%s' in the log '%s'", cases[i].params, cases[i].warned, log);
        assert_non_null(strchr(at, '\n'));
        assert_null(strchr(strchr(log, '\n') + 1, '\n')); /* one line */
    }
}

/* logLevel debug traces every candidate of a decision, however many: 24 endpoints with 200-byte
 * names do not fit the logger's 1 KiB line, so the trace continues on further lines. */
static void test_trace_every_candidate(void **state)
{
    enum { N = 24 };
    struct sy_endpoint *eps[N];
    char addr[N][256];
    for (int i = 0; i < N; i++) {
        snprintf(addr[i], sizeof addr[i], "%0200d.pod:%d", i, 8000 + i);
        eps[i] = fx_ep(addr[i], NULL, 0, 0, 0);
    }
    struct fixture f = {.p = fx_pool(eps, N)};
    request(&f, 256, NULL);
    scorer(&f, NULL);
    struct sy_sched_candidate c[N];
    fx_cands(f.p, c);
    double s[N];
    struct fx_capture cap;
    fx_capture_begin(&cap);
    sy_log_set_level(SY_LOG_DEBUG);
    f.fp.ops->score(f.fp.state, &f.cy, c, N, s);
    sy_log_set_level(SY_LOG_INFO);
    FILE *tmp = fx_capture_end(&cap);
    char line[2048];
    int lines = 0, seen[N] = {0};
    while (fgets(line, sizeof line, tmp)) {
        if (!strstr(line, "cache-load-scorer: "))
            continue;
        lines++;
        assert_true(strlen(line) < 1024);
        for (int i = 0; i < N; i++)
            if (strstr(line, addr[i]))
                seen[i]++;
    }
    fclose(tmp);
    assert_true(lines > 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_without_prefix_data),
        cmocka_unit_test(test_hit_saves_against_load),
        cmocka_unit_test(test_batch_weight),
        cmocka_unit_test(test_remaining_decode),
        cmocka_unit_test(test_pending_weight),
        cmocka_unit_test(test_decoded_floor),
        cmocka_unit_test(test_floor_every_candidate),
        cmocka_unit_test(test_pending_batch_weight),
        cmocka_unit_test(test_pending_batch_scope),
        cmocka_unit_test(test_pending_batch_above_mean),
        cmocka_unit_test(test_pending_batch_idle_peer),
        cmocka_unit_test(test_pending_batch_above_share),
        cmocka_unit_test(test_share_slack),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_inert_combinations_warn),
        cmocka_unit_test(test_trace_every_candidate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
