/* Unit tests for src/sim/engine.c: the step-level vLLM engine model.
 *
 * Small hand-made profiles make every step time computable by hand: base 1000 us, 100 us per
 * prefill token, no decode terms, so a decode step takes exactly 1 ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/err.h"
#include "sim/engine.h"

#define MS 1000000ULL

struct rec {
    uint64_t first_ns;  /* first token time */
    uint64_t finish_ns; /* finish time */
    uint32_t ntok;      /* tokens reported */
    int why;            /* finish reason or -1 */
    uint32_t cached;    /* n_cached at finish */
    uint64_t tok_sum;   /* checksum of output token ids */
    uint32_t preempted; /* times preempted */
};

struct world {
    size_t stored, removed, cleared; /* block counts from KV events */
    size_t store_events;             /* BlockStored events */
    uint64_t last_parent;            /* parent of the last BlockStored */
    bool last_has_parent;            /* has_parent of the last BlockStored */
    size_t last_nhashes;             /* nhashes of the last BlockStored */
    size_t steps_ended;              /* on_step_end calls */
    size_t finished;                 /* on_finish calls */
    struct sy_sim_engine *e;         /* for aborts from callbacks */
    struct sy_sim_req *abort_me;     /* abort this one from the next on_token */
    bool abort_self;                 /* abort the request being reported from its on_token */
};

static void on_token(void *ud, struct sy_sim_req *req, uint64_t now)
{
    struct world *w = ud;
    struct rec *r = req->ud;
    if (req->n_output == 1)
        r->first_ns = now;
    r->ntok++;
    r->tok_sum = r->tok_sum * 31 + req->tokens[req->n_prompt + req->n_output - 1];
    if (w->abort_self) {
        w->abort_self = false;
        sy_sim_engine_abort(w->e, req, now);
        return;
    }
    if (w->abort_me && w->abort_me != req) {
        sy_sim_engine_abort(w->e, w->abort_me, now);
        w->abort_me = NULL;
    }
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    struct world *w = ud;
    struct rec *r = req->ud;
    r->finish_ns = now;
    r->why = (int)why;
    r->cached = req->n_cached;
    r->preempted = req->n_preempted;
    w->finished++;
}

static void on_kv(void *ud, const struct sy_sim_kv_event *ev)
{
    struct world *w = ud;
    switch (ev->kind) {
    case SY_SIM_KV_STORED:
        assert_int_equal(ev->ntokens, ev->nhashes * ev->block_size);
        w->stored += ev->nhashes;
        w->store_events++;
        w->last_parent = ev->parent;
        w->last_has_parent = ev->has_parent;
        w->last_nhashes = ev->nhashes;
        break;
    case SY_SIM_KV_REMOVED: w->removed += ev->nhashes; break;
    case SY_SIM_KV_CLEARED: w->cleared++; break;
    }
}

static void on_step_end(void *ud, uint64_t now)
{
    ((struct world *)ud)->steps_ended++;
}

static struct sy_sim_profile small_profile(uint32_t blocks, uint32_t bs, uint32_t seqs,
                                           uint32_t budget)
{
    struct sy_sim_profile p = {
        .name = "test",
        .model = "test/model",
        .num_gpu_blocks = blocks,
        .block_size = bs,
        .max_num_seqs = seqs,
        .max_num_batched_tokens = budget,
        .max_model_len = 4096,
        .step_base_us = 1000.0,
        .prefill_us_per_token = 100.0,
        .decode_us_per_seq = 0.0,
        .decode_us_per_ctx_token = 0.0,
    };
    return p;
}

static struct sy_sim_engine *make(const struct sy_sim_profile *p, uint64_t seed, struct world *w)
{
    memset(w, 0, sizeof *w);
    struct sy_sim_engine_cbs cbs = {.on_token = on_token,
                                    .on_finish = on_finish,
                                    .on_kv = on_kv,
                                    .on_step_end = on_step_end,
                                    .ud = w};
    struct sy_sim_engine *e = sy_sim_engine_new(p, seed, &cbs);
    assert_non_null(e);
    w->e = e;
    return e;
}

/* Runs until idle, checking invariants after every step. Returns the final time. */
static uint64_t drain(struct sy_sim_engine *e, uint64_t now)
{
    sy_sim_engine_advance(e, now);
    for (int guard = 0; guard < 1000000; guard++) {
        assert_true(sy_sim_engine_check(e));
        uint64_t t = sy_sim_engine_next_ns(e);
        if (t == UINT64_MAX)
            return now;
        now = t;
        sy_sim_engine_advance(e, now);
    }
    fail_msg("engine did not drain");
    return now;
}

static void fill_tokens(uint32_t *t, size_t n, uint32_t base)
{
    for (size_t i = 0; i < n; i++)
        t[i] = base + (uint32_t)i;
}

static void test_tokenizer(void **state)
{
    uint32_t a[8], b[8];
    assert_int_equal(sy_sim_tokenize("abcdefgh", 8, a, 8), 2);
    assert_int_equal(a[0], XXH32("abcd", 4, 0) % 151643);
    assert_int_equal(a[1], XXH32("efgh", 4, 0) % 151643);
    /* a longer text with the same prefix gives the same leading tokens */
    assert_int_equal(sy_sim_tokenize("abcdefghij", 10, b, 8), 3);
    assert_int_equal(b[0], a[0]);
    assert_int_equal(b[1], a[1]);
    assert_int_equal(b[2], XXH32("ij", 2, 0) % 151643);
    /* count is returned even past cap; nothing is written past cap */
    b[1] = 7;
    assert_int_equal(sy_sim_tokenize("abcdefghij", 10, b, 1), 3);
    assert_int_equal(b[1], 7);
    assert_int_equal(sy_sim_tokenize("", 0, b, 8), 0);
}

static void test_step_time(void **state)
{
    struct sy_sim_profile p = {.step_base_us = 1000,
                               .prefill_us_per_token = 10,
                               .decode_us_per_seq = 2,
                               .decode_us_per_ctx_token = 0.5};
    /* 1000 + 100 x 10 + 3 x 2 + 40 x 0.5 = 2026 us */
    assert_int_equal(sy_sim_step_ns(&p, 100, 3, 40), 2026000);
    assert_int_equal(sy_sim_step_ns(&p, 0, 0, 0), 1000000);
}

static void test_rejects_bad_input(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(64, 4, 4, 8);
    p.max_model_len = 20;
    struct sy_sim_engine *e = make(&p, 1, &w);
    uint32_t t[32];
    fill_tokens(t, 32, 1);
    struct rec r = {0};
    assert_null(sy_sim_engine_submit(e, t, 0, 5, &r, 0));  /* empty prompt */
    assert_null(sy_sim_engine_submit(e, t, 20, 5, &r, 0)); /* no room for one output token */
    assert_null(sy_sim_engine_submit(e, t, 5, 0, &r, 0));  /* max_tokens 0 */
    struct sy_sim_req *q = sy_sim_engine_submit(e, t, 15, 100, &r, 0);
    assert_non_null(q);
    assert_int_equal(q->max_tokens, 5); /* capped by max_model_len */
    sy_sim_engine_free(e);

    struct sy_sim_profile bad = small_profile(0, 4, 4, 8);
    assert_null(sy_sim_engine_new(&bad, 0, NULL));
    bad = small_profile(4, 0, 4, 8);
    assert_null(sy_sim_engine_new(&bad, 0, NULL));
    bad = small_profile(4, 4, 0, 8);
    assert_null(sy_sim_engine_new(&bad, 0, NULL));
    bad = small_profile(4, 4, 4, 0);
    assert_null(sy_sim_engine_new(&bad, 0, NULL));
    /* max_model_len is clamped to what the pool holds */
    bad = small_profile(4, 4, 4, 8);
    e = sy_sim_engine_new(&bad, 0, NULL);
    assert_int_equal(sy_sim_engine_profile(e)->max_model_len, 16);
    sy_sim_engine_free(e);
}

/* One request, hand-computed timeline: prompt 10, budget 8, block 4, max_tokens 3.
 *   step 1 [0, 1.8 ms]:   8 prefill tokens -> 1000 + 800 us; 2 blocks full -> BlockStored x2
 *   step 2 [1.8, 3.0]:    2 prefill tokens -> 1200 us; first token at 3.0 ms
 *   step 3 [3.0, 4.0]:    decode -> token 2;  step 4 [4.0, 5.0]: decode -> token 3, finish
 *   At step 4's end 12 tokens are computed -> block 3 full -> BlockStored with parent. */
static void test_single_request_timeline(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(64, 4, 4, 8);
    struct sy_sim_engine *e = make(&p, 1, &w);
    uint32_t t[10];
    fill_tokens(t, 10, 100);
    struct rec r = {.why = -1};
    struct sy_sim_req *q = sy_sim_engine_submit(e, t, 10, 3, &r, 0);
    assert_non_null(q);
    assert_int_equal(sy_sim_engine_num_waiting(e), 1);
    sy_sim_engine_advance(e, 0);
    assert_int_equal(sy_sim_engine_num_running(e), 1);
    assert_int_equal(sy_sim_engine_num_waiting(e), 0);
    assert_int_equal(sy_sim_engine_next_ns(e), 1800000);
    assert_int_equal(sy_sim_engine_free_blocks(e), 62); /* 8 tokens -> 2 blocks */
    sy_sim_engine_advance(e, 1800000);
    assert_int_equal(w.stored, 2);
    assert_false(w.last_has_parent);
    assert_int_equal(sy_sim_engine_next_ns(e), 3000000);
    assert_int_equal(sy_sim_engine_free_blocks(e), 61); /* 10 tokens -> 3 blocks */
    uint64_t end = drain(e, 1800000);
    assert_int_equal(end, 5000000);
    assert_int_equal(r.first_ns, 3000000);
    assert_int_equal(r.finish_ns, 5000000);
    assert_int_equal(r.ntok, 3);
    assert_int_equal(r.why, SY_SIM_FINISH_LENGTH);
    assert_int_equal(w.stored, 3);
    assert_true(w.last_has_parent);
    assert_int_equal(w.last_nhashes, 1);
    assert_int_equal(w.steps_ended, 4);
    assert_int_equal(sy_sim_engine_free_blocks(e), 64); /* all back, 3 of them still cached */
    assert_int_equal(sy_sim_engine_cached_blocks(e), 3);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->prompt_tokens, 10);
    assert_int_equal(st->generation_tokens, 3);
    assert_int_equal(st->success[SY_SIM_FINISH_LENGTH], 1);
    assert_int_equal(st->ttft.count, 1);
    assert_true(st->ttft.sum > 0.0029 && st->ttft.sum < 0.0031);
    assert_int_equal(st->itl.count, 2);
    assert_int_equal(st->e2e.count, 1);
    assert_int_equal(st->steps, 4);
    sy_sim_engine_free(e);
}

/* The same prompt again: (10 - 1) / 4 = 2 blocks = 8 tokens hit; 2 left -> TTFT 1.2 ms < 3.0. */
static void test_cached_prefix_lowers_ttft(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(64, 4, 4, 8);
    struct sy_sim_engine *e = make(&p, 1, &w);
    uint32_t t[10];
    fill_tokens(t, 10, 100);
    struct rec a = {.why = -1}, b = {.why = -1};
    assert_non_null(sy_sim_engine_submit(e, t, 10, 3, &a, 0));
    uint64_t now = drain(e, 0);
    assert_int_equal(a.first_ns, 3000000);
    assert_int_equal(a.cached, 0);
    uint64_t t0 = now + 10 * MS;
    assert_non_null(sy_sim_engine_submit(e, t, 10, 3, &b, t0));
    drain(e, t0);
    assert_int_equal(b.first_ns - t0, 1200000);
    assert_int_equal(b.cached, 8);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->prefix_queries, 20);
    assert_int_equal(st->prefix_hits, 8);
    /* a different prompt sharing only the first block hits 4 tokens */
    uint32_t t2[10];
    fill_tokens(t2, 10, 100);
    t2[5] = 9999;
    struct rec c = {.why = -1};
    assert_non_null(sy_sim_engine_submit(e, t2, 10, 1, &c, 2 * t0));
    drain(e, 2 * t0);
    assert_int_equal(c.cached, 4);
    assert_int_equal(c.first_ns - 2 * t0, 1000000 + 6 * 100000);
    sy_sim_engine_free(e);
}

/* max_num_seqs 2: five requests at t=0 -> two run, three wait; all finish; later ones queue. */
static void test_queueing_past_max_num_seqs(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(256, 4, 2, 64);
    struct sy_sim_engine *e = make(&p, 1, &w);
    struct rec r[5];
    uint32_t t[8];
    for (int i = 0; i < 5; i++) {
        r[i] = (struct rec){.why = -1};
        fill_tokens(t, 8, 1000 * (uint32_t)i); /* distinct prompts: no cache hits */
        assert_non_null(sy_sim_engine_submit(e, t, 8, 4, &r[i], 0));
    }
    sy_sim_engine_advance(e, 0);
    assert_int_equal(sy_sim_engine_num_running(e), 2);
    assert_int_equal(sy_sim_engine_num_waiting(e), 3);
    drain(e, 0);
    assert_int_equal(w.finished, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].ntok, 4);
    /* FCFS: 0 and 1 run first (16 prefill tokens: 2.6 ms), 2 starts only when one finishes */
    assert_int_equal(r[0].first_ns, 2600000);
    assert_int_equal(r[1].first_ns, 2600000);
    assert_true(r[2].first_ns > r[0].finish_ns);
    assert_true(r[4].first_ns > r[2].first_ns);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->queue.count, 5);
    assert_true(st->queue.sum > 0.0);         /* three requests queued */
    assert_int_equal(st->queue.counts[0], 5); /* all under 0.3 s */
    sy_sim_engine_free(e);
}

/* 8 blocks of 4 tokens; two requests of 8 prompt + 12 output tokens need 5 blocks each: the
 * newer one is preempted, recomputed later, and both still produce every token. */
static void test_preemption_under_block_pressure(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(8, 4, 4, 64);
    struct sy_sim_engine *e = make(&p, 1, &w);
    struct rec a = {.why = -1}, b = {.why = -1};
    uint32_t t[8];
    fill_tokens(t, 8, 10);
    assert_non_null(sy_sim_engine_submit(e, t, 8, 12, &a, 0));
    fill_tokens(t, 8, 500);
    assert_non_null(sy_sim_engine_submit(e, t, 8, 12, &b, 0));
    drain(e, 0);
    assert_int_equal(w.finished, 2);
    assert_int_equal(a.ntok, 12);
    assert_int_equal(b.ntok, 12);
    assert_int_equal(a.preempted, 0);
    assert_true(b.preempted >= 1);
    assert_true(b.finish_ns > a.finish_ns);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_true(st->preemptions >= 1);
    /* recompute: more prefill tokens than the 16 prompt tokens */
    assert_true(st->prefill_tokens > 16);
    assert_int_equal(sy_sim_engine_free_blocks(e), 8);
    /* evictions happened (the pool is smaller than everything computed) and were reported */
    assert_true(w.removed > 0);
    assert_int_equal(w.stored - w.removed, sy_sim_engine_cached_blocks(e));
    sy_sim_engine_free(e);
}

/* A random workload with shared prefixes, staggered arrivals and aborts. Returns a checksum. */
static uint64_t random_workload(uint64_t seed, bool check_all)
{
    struct world w;
    struct sy_sim_profile p = small_profile(96, 4, 6, 24);
    p.decode_us_per_seq = 50;
    p.decode_us_per_ctx_token = 3;
    struct sy_sim_engine *e = make(&p, seed, &w);
    enum { N = 120 };
    struct rec *r = calloc(N, sizeof *r);
    struct sy_sim_req *handles[N];
    uint32_t t[64];
    uint64_t rng = 12345, now = 0;
    size_t aborted = 0;
    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t n = 4 + (uint32_t)((rng >> 33) % 40);
        uint32_t group = (uint32_t)((rng >> 20) % 4);
        fill_tokens(t, n, group * 100000); /* 4 shared prefixes */
        t[n - 1] = (uint32_t)i;            /* unique tail token */
        int64_t mt = (rng >> 40) % 3 == 0 ? -1 : (int64_t)(1 + (rng >> 45) % 20);
        r[i].why = -1;
        handles[i] = sy_sim_engine_submit(e, t, n, mt, &r[i], now);
        assert_non_null(handles[i]);
        now += (rng >> 50) % (3 * MS);
        sy_sim_engine_advance(e, now);
        if (check_all)
            assert_true(sy_sim_engine_check(e));
        /* abort an earlier request still in flight every so often */
        if (i % 17 == 16 && r[i - 3].why == -1) {
            sy_sim_engine_abort(e, handles[i - 3], now);
            r[i - 3].why = SY_SIM_FINISH_ABORT;
            aborted++;
            assert_true(sy_sim_engine_check(e));
        }
    }
    drain(e, now);
    /* no request lost: every one finished or was aborted */
    size_t done = 0;
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        assert_true(r[i].why >= 0);
        done++;
        sum = sum * 1000003 + r[i].finish_ns + r[i].tok_sum + r[i].ntok;
    }
    assert_int_equal(done, N);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->success[0] + st->success[1] + st->success[2], N);
    assert_int_equal(st->success[SY_SIM_FINISH_ABORT], aborted);
    assert_int_equal(w.finished, N - aborted);
    assert_true(st->success[SY_SIM_FINISH_STOP] > 0);
    assert_true(st->prefix_hits > 0);
    /* blocks conserved: all free again, and the KV events account for every cached block */
    assert_int_equal(sy_sim_engine_free_blocks(e), 96);
    assert_int_equal(sy_sim_engine_num_running(e) + sy_sim_engine_num_waiting(e), 0);
    assert_int_equal(w.stored - w.removed, sy_sim_engine_cached_blocks(e));
    assert_true(sy_sim_engine_check(e));
    sy_sim_engine_free(e);
    free(r);
    return sum;
}

static void test_invariants_random_workload(void **state)
{
    random_workload(42, true);
}

static void test_determinism_under_seed(void **state)
{
    uint64_t a = random_workload(7, false);
    uint64_t b = random_workload(7, false);
    uint64_t c = random_workload(8, false);
    assert_int_equal(a, b);
    assert_true(a != c); /* output tokens and drawn lengths depend on the seed */
}

static void test_abort_frees_blocks(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(64, 4, 4, 8);
    struct sy_sim_engine *e = make(&p, 1, &w);
    uint32_t t[20];
    fill_tokens(t, 20, 1);
    struct rec a = {.why = -1}, b = {.why = -1};
    struct sy_sim_req *qa = sy_sim_engine_submit(e, t, 20, 50, &a, 0);
    sy_sim_engine_advance(e, 0);
    assert_int_equal(sy_sim_engine_free_blocks(e), 62);
    sy_sim_engine_abort(e, qa, 100);
    assert_int_equal(sy_sim_engine_free_blocks(e), 64);
    assert_int_equal(sy_sim_engine_num_running(e), 0);
    assert_true(sy_sim_engine_check(e));
    drain(e, 100); /* the step in flight completes with nothing to report */
    assert_int_equal(a.ntok, 0);
    assert_int_equal(sy_sim_engine_stats(e)->success[SY_SIM_FINISH_ABORT], 1);

    /* abort from inside a callback is deferred to the end of the step */
    fill_tokens(t, 20, 5000);
    struct sy_sim_req *qb = sy_sim_engine_submit(e, t, 4, 50, &b, 10 * MS);
    struct rec c = {.why = -1};
    fill_tokens(t, 20, 9000);
    assert_non_null(sy_sim_engine_submit(e, t, 4, 3, &c, 10 * MS));
    sy_sim_engine_advance(e, 10 * MS);
    w.abort_me = qb;
    drain(e, 10 * MS);
    assert_int_equal(c.ntok, 3);
    assert_true(b.ntok >= 1 && b.ntok < 50);
    assert_int_equal(b.why, -1); /* no on_finish for aborts */
    assert_int_equal(sy_sim_engine_stats(e)->success[SY_SIM_FINISH_ABORT], 2);
    assert_int_equal(sy_sim_engine_free_blocks(e), 64);

    /* a request aborted from its own on_token (client gone while writing its last token):
     * no on_finish although it reached max_tokens, counted once as abort */
    struct rec d = {.why = -1};
    fill_tokens(t, 20, 7000);
    assert_non_null(sy_sim_engine_submit(e, t, 4, 1, &d, 20 * MS));
    w.abort_self = true;
    drain(e, 20 * MS);
    assert_int_equal(d.ntok, 1);
    assert_int_equal(d.why, -1);
    assert_int_equal(sy_sim_engine_stats(e)->success[SY_SIM_FINISH_ABORT], 3);
    assert_int_equal(sy_sim_engine_stats(e)->success[SY_SIM_FINISH_LENGTH], 1);
    assert_int_equal(sy_sim_engine_free_blocks(e), 64);
    assert_true(sy_sim_engine_check(e));
    sy_sim_engine_free(e);
}

static void test_reset_cache(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(64, 4, 4, 8);
    struct sy_sim_engine *e = make(&p, 1, &w);
    uint32_t t[10];
    fill_tokens(t, 10, 1);
    struct rec a = {.why = -1};
    assert_non_null(sy_sim_engine_submit(e, t, 10, 3, &a, 0));
    sy_sim_engine_advance(e, 0);
    assert_int_equal(sy_sim_engine_reset_cache(e), SY_EBUSY);
    drain(e, 0);
    assert_int_equal(sy_sim_engine_cached_blocks(e), 3);
    assert_int_equal(sy_sim_engine_reset_cache(e), 0);
    assert_int_equal(sy_sim_engine_cached_blocks(e), 0);
    assert_int_equal(w.cleared, 1);
    assert_true(sy_sim_engine_check(e));
    sy_sim_engine_free(e);
}

/* Without max_tokens the length is drawn (1..256) and the finish reason is "stop". */
static void test_default_length_stop(void **state)
{
    struct world w;
    struct sy_sim_profile p = small_profile(512, 16, 4, 512);
    struct sy_sim_engine *e = make(&p, 3, &w);
    uint32_t t[10];
    fill_tokens(t, 10, 1);
    struct rec a = {.why = -1};
    struct sy_sim_req *q = sy_sim_engine_submit(e, t, 10, -1, &a, 0);
    uint32_t want = q->max_tokens;
    assert_true(want >= 1 && want <= 256);
    drain(e, 0);
    assert_int_equal(a.ntok, want);
    assert_int_equal(a.why, SY_SIM_FINISH_STOP);
    sy_sim_engine_free(e);
}

/* ---- sy_sim_engine_clone ---------------------------------------------------------------- */

/* One engine's event log: every token (request seq, output index, token id, time), finish and
 * KV event, folded into a checksum and counted. */
struct elog {
    uint64_t sum;     /* order-sensitive checksum of every event */
    size_t tokens;    /* on_token calls */
    size_t finishes;  /* on_finish calls */
    size_t kv;        /* on_kv calls */
    uint64_t last_ns; /* time of the last event */
};

static void elog_mix(struct elog *l, uint64_t v)
{
    l->sum = (l->sum ^ v) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

static void clone_on_token(void *ud, struct sy_sim_req *r, uint64_t now)
{
    struct elog *l = ud;
    elog_mix(l, r->seq);
    elog_mix(l, r->n_output);
    elog_mix(l, r->tokens[r->n_prompt + r->n_output - 1]);
    elog_mix(l, now);
    l->tokens++;
    l->last_ns = now;
}

static void clone_on_finish(void *ud, struct sy_sim_req *r, enum sy_sim_finish why, uint64_t now)
{
    struct elog *l = ud;
    elog_mix(l, 1000000007ULL + r->seq);
    elog_mix(l, (uint64_t)why);
    elog_mix(l, r->n_cached);
    elog_mix(l, r->n_preempted);
    elog_mix(l, now);
    l->finishes++;
    l->last_ns = now;
}

static void clone_on_kv(void *ud, const struct sy_sim_kv_event *ev)
{
    struct elog *l = ud;
    elog_mix(l, 77 + (uint64_t)ev->kind);
    for (size_t i = 0; i < ev->nhashes; i++)
        elog_mix(l, ev->hashes[i]);
    l->kv++;
}

/* Request i of the clone workload: 4 shared prefixes, a unique tail, mixed lengths. */
static uint32_t clone_req(int i, uint32_t *t, int64_t *mt)
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 17;
    x ^= x >> 29;
    uint32_t n = 6 + (uint32_t)(x % 37);
    fill_tokens(t, n, (uint32_t)((x >> 12) % 4) * 100000);
    t[n - 1] = 5000000u + (uint32_t)i;
    *mt = (x >> 20) % 4 == 0 ? -1 : (int64_t)(1 + (x >> 24) % 24);
    return n;
}

static void clone_submit(struct sy_sim_engine *e, int i, uint64_t now)
{
    uint32_t t[64];
    int64_t mt;
    uint32_t n = clone_req(i, t, &mt);
    struct sy_sim_submit s = {.tokens = t, .n_prompt = n, .max_tokens = mt};
    if (i % 11 == 5) { /* a prefill for a remote decode: its blocks are held after it finishes */
        s.hold_kv = true;
        s.hold_key = (uint64_t)i;
        s.max_tokens = 1;
    }
    assert_non_null(sy_sim_engine_submit_ex(e, &s, now));
}

/* Drives engines e[0..n) (each on its own log) through requests from..to-1 at 0.7 ms spacing,
 * advancing them one at a time after each arrival (so they interleave) and claiming and
 * releasing held KV of earlier prefills; every engine gets the same calls. */
static uint64_t clone_drive(struct sy_sim_engine *const *e, size_t n, int from, int to,
                            uint64_t now)
{
    for (int i = from; i < to; i++) {
        for (size_t k = 0; k < n; k++)
            clone_submit(e[k], i, now);
        now += 700000;
        for (size_t k = 0; k < n; k++) {
            sy_sim_engine_advance(e[k], now);
            assert_true(sy_sim_engine_check(e[k]));
        }
        if (i % 11 == 9 && i >= 15) { /* claim and release the prefill submitted 4 ago */
            uint32_t t[64];
            int64_t mt;
            uint32_t np = clone_req(i - 4, t, &mt);
            enum sy_sim_pull first = SY_SIM_PULL_N_;
            for (size_t k = 0; k < n; k++) {
                enum sy_sim_pull pr = sy_sim_engine_pull(e[k], (uint64_t)(i - 4), t, np, now);
                if (k == 0)
                    first = pr;
                assert_int_equal(pr, first);
                if (pr == SY_SIM_PULL_OK)
                    assert_int_equal(sy_sim_engine_release(e[k], (uint64_t)(i - 4)), 0);
            }
        }
    }
    /* drain all together, step by step */
    for (int guard = 0; guard < 1000000; guard++) {
        uint64_t t = UINT64_MAX;
        for (size_t k = 0; k < n; k++) {
            uint64_t x = sy_sim_engine_next_ns(e[k]);
            t = x < t ? x : t;
        }
        if (t == UINT64_MAX)
            return now;
        now = t;
        for (size_t k = 0; k < n; k++) {
            sy_sim_engine_advance(e[k], now);
            assert_true(sy_sim_engine_check(e[k]));
        }
    }
    fail_msg("engines did not drain");
    return now;
}

static void test_clone_replays_identically(void **state)
{
    (void)state;
    /* 36 blocks of 4 tokens for up to 6 sequences: preemptions, evictions, a waiting queue */
    struct sy_sim_profile p = small_profile(36, 4, 6, 24);
    p.decode_us_per_seq = 50;
    p.decode_us_per_ctx_token = 3;
    p.kv_lease_s = 0.05; /* some held prefills are claimed, later ones expire */
    struct elog lref = {0}, lorig = {0}, lclone = {0};
    struct sy_sim_engine_cbs cref = {.on_token = clone_on_token,
                                     .on_finish = clone_on_finish,
                                     .on_kv = clone_on_kv,
                                     .ud = &lref};
    struct sy_sim_engine_cbs corig = cref, cclone = cref;
    corig.ud = &lorig;
    cclone.ud = &lclone;
    /* the reference runs the whole workload without ever being cloned */
    struct sy_sim_engine *ref = sy_sim_engine_new(&p, 99, &cref);
    struct sy_sim_engine *orig = sy_sim_engine_new(&p, 99, &corig);
    assert_non_null(ref);
    assert_non_null(orig);
    /* phase 1: both build up state; then the clone is taken mid-step with a queue */
    struct sy_sim_engine *both[2] = {ref, orig};
    uint64_t now = 0;
    for (int i = 0; i < 60; i++) {
        for (int k = 0; k < 2; k++)
            clone_submit(both[k], i, now);
        now += 700000;
        for (int k = 0; k < 2; k++)
            sy_sim_engine_advance(both[k], now);
    }
    assert_int_equal(lref.sum, lorig.sum);
    assert_true(sy_sim_engine_busy(orig));
    assert_true(sy_sim_engine_num_waiting(orig) > 0);
    assert_true(sy_sim_engine_num_held(orig) > 0);
    assert_true(sy_sim_engine_stats(orig)->preemptions > 0);
    struct sy_sim_engine *cl = sy_sim_engine_clone(orig, &cclone);
    assert_non_null(cl);
    assert_true(sy_sim_engine_check(cl));
    assert_int_equal(sy_sim_engine_num_running(cl), sy_sim_engine_num_running(orig));
    assert_int_equal(sy_sim_engine_num_waiting(cl), sy_sim_engine_num_waiting(orig));
    assert_int_equal(sy_sim_engine_num_held(cl), sy_sim_engine_num_held(orig));
    assert_int_equal(sy_sim_engine_next_ns(cl), sy_sim_engine_next_ns(orig));
    assert_int_equal(sy_sim_engine_free_blocks(cl), sy_sim_engine_free_blocks(orig));
    assert_int_equal(sy_sim_engine_cached_blocks(cl), sy_sim_engine_cached_blocks(orig));
    /* phase 2: the same further submissions, pulls and advances on all three, interleaved (a
     * clone sharing state with its original would diverge from the reference here) */
    lref = lorig = lclone = (struct elog){0};
    struct sy_sim_engine *all[3] = {ref, orig, cl};
    uint64_t end = clone_drive(all, 3, 60, 140, now);
    assert_true(lref.tokens > 300);
    assert_true(lref.finishes > 70);
    assert_true(lref.kv > 0);
    assert_int_equal(lorig.sum, lref.sum);
    assert_int_equal(lclone.sum, lref.sum);
    assert_int_equal(lclone.tokens, lref.tokens);
    assert_int_equal(lclone.finishes, lref.finishes);
    assert_int_equal(lclone.last_ns, lref.last_ns);
    const struct sy_sim_stats *a = sy_sim_engine_stats(ref), *b = sy_sim_engine_stats(cl);
    assert_int_equal(a->steps, b->steps);
    assert_int_equal(a->preemptions, b->preemptions);
    assert_int_equal(a->prefix_hits, b->prefix_hits);
    assert_int_equal(a->generation_tokens, b->generation_tokens);
    assert_int_equal(a->kv_held_total, b->kv_held_total);
    assert_true(a->preemptions > sy_sim_engine_stats(orig)->preemptions / 2);
    (void)end;
    sy_sim_engine_free(cl);
    sy_sim_engine_free(orig);
    sy_sim_engine_free(ref);
}

/* A clone advanced alone (the oracle's lookahead) leaves its original where it was, and a clone
 * with no callbacks given reports to the original's. */
static void test_clone_leaves_original(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile(64, 4, 4, 16);
    struct elog lo = {0};
    struct sy_sim_engine_cbs co = {
        .on_token = clone_on_token, .on_finish = clone_on_finish, .ud = &lo};
    struct sy_sim_engine *e = sy_sim_engine_new(&p, 3, &co);
    for (int i = 0; i < 12; i++)
        clone_submit(e, i * 11 % 11 == 5 ? i + 1 : i, 0); /* no held prefills */
    sy_sim_engine_advance(e, 0);
    uint64_t next = sy_sim_engine_next_ns(e);
    uint32_t run = sy_sim_engine_num_running(e), wait = sy_sim_engine_num_waiting(e);
    struct elog before = lo;
    struct sy_sim_engine *c = sy_sim_engine_clone(e, NULL);
    uint32_t t[8];
    fill_tokens(t, 8, 9000000);
    assert_non_null(sy_sim_engine_submit(c, t, 8, 4, NULL, 0));
    drain(c, 0);
    assert_true(lo.finishes > before.finishes); /* the clone reported to e's callbacks */
    assert_int_equal(sy_sim_engine_num_running(c) + sy_sim_engine_num_waiting(c), 0);
    sy_sim_engine_free(c);
    /* e is untouched: same queue, same step, and it still runs its own requests to the end */
    assert_int_equal(sy_sim_engine_next_ns(e), next);
    assert_int_equal(sy_sim_engine_num_running(e), run);
    assert_int_equal(sy_sim_engine_num_waiting(e), wait);
    assert_true(sy_sim_engine_check(e));
    lo = (struct elog){0};
    drain(e, 0);
    assert_int_equal(lo.finishes, 12);
    sy_sim_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_step_time),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_single_request_timeline),
        cmocka_unit_test(test_cached_prefix_lowers_ttft),
        cmocka_unit_test(test_queueing_past_max_num_seqs),
        cmocka_unit_test(test_preemption_under_block_pressure),
        cmocka_unit_test(test_invariants_random_workload),
        cmocka_unit_test(test_determinism_under_seed),
        cmocka_unit_test(test_abort_frees_blocks),
        cmocka_unit_test(test_reset_cache),
        cmocka_unit_test(test_default_length_stop),
        cmocka_unit_test(test_clone_replays_identically),
        cmocka_unit_test(test_clone_leaves_original),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
