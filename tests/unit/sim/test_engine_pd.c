/* Unit tests for the P/D parts of src/sim/engine.c: a prefill's blocks held for a remote decode
 * (pull, reuse, lease expiry, prompt mismatch), a decode that pulls instead of prefilling
 * (transfer time, no prefill compute, local prefix hits shrink the pull), fallbacks counted, and
 * the step model's reason for P/D: a prefill chunk stalls every running stream of its replica.
 *
 * The small profile makes times computable by hand: base 1000 us, 100 us per prefill token, no
 * decode terms; a pull costs 500 us + 1 us per token (1000 bytes/token over 1 GB/s, TP1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/engine.h"

#define MS 1000000ULL
#define US 1000ULL

struct rec {
    uint64_t first_ns;  /* first token time */
    uint64_t last_ns;   /* latest token time */
    uint64_t max_gap;   /* largest inter-token gap */
    uint32_t ntok;      /* tokens reported */
    int why;            /* finish reason or -1 */
    uint32_t held;      /* held_nblocks seen in on_finish */
    uint32_t cached;    /* n_cached at finish */
    uint32_t pulled;    /* n_pulled at finish */
    uint64_t finish_ns; /* finish time */
    uint64_t loaded_ns; /* on_loaded time */
};

static void on_token(void *ud, struct sy_sim_req *req, uint64_t now)
{
    (void)ud;
    struct rec *r = req->ud;
    if (!r)
        return;
    if (req->n_output == 1)
        r->first_ns = now;
    else if (now - r->last_ns > r->max_gap)
        r->max_gap = now - r->last_ns;
    r->last_ns = now;
    r->ntok++;
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    (void)ud;
    struct rec *r = req->ud;
    if (!r)
        return;
    r->why = (int)why;
    r->held = req->held_blocks ? req->held_nblocks : 0;
    r->cached = req->n_cached;
    r->pulled = req->n_pulled;
    r->finish_ns = now;
}

static void on_loaded(void *ud, struct sy_sim_req *req, uint64_t now)
{
    (void)ud;
    struct rec *r = req->ud;
    if (r)
        r->loaded_ns = now;
}

static struct sy_sim_profile small_profile(void)
{
    struct sy_sim_profile p = {
        .name = "test",
        .model = "test/model",
        .num_gpu_blocks = 256,
        .block_size = 16,
        .max_num_seqs = 64,
        .max_num_batched_tokens = 2048,
        .max_model_len = 4096,
        .step_base_us = 1000.0,
        .prefill_us_per_token = 100.0,
        .tp_size = 1,
        .kv_bytes_per_token = 1000,
        .kv_xfer_gbps = 1.0, /* 1000 bytes per us: 1 us per token */
        .kv_xfer_base_us = 500.0,
        .kv_lease_s = 2.0,
    };
    return p;
}

static struct sy_sim_engine *make(const struct sy_sim_profile *p)
{
    struct sy_sim_engine_cbs cbs = {
        .on_token = on_token, .on_finish = on_finish, .on_loaded = on_loaded};
    struct sy_sim_engine *e = sy_sim_engine_new(p, 7, &cbs);
    assert_non_null(e);
    return e;
}

/* Runs until idle (or until stop_ns), checking invariants after every event. */
static uint64_t drain_until(struct sy_sim_engine *e, uint64_t now, uint64_t stop_ns)
{
    sy_sim_engine_advance(e, now);
    for (int guard = 0; guard < 1000000; guard++) {
        assert_true(sy_sim_engine_check(e));
        uint64_t t = sy_sim_engine_next_ns(e);
        if (t == UINT64_MAX || t > stop_ns)
            return now;
        now = t;
        sy_sim_engine_advance(e, now);
    }
    fail_msg("engine did not drain");
    return now;
}

static void fill(uint32_t *t, size_t n, uint32_t base)
{
    for (size_t i = 0; i < n; i++)
        t[i] = base + (uint32_t)i;
}

static struct sy_sim_req *submit(struct sy_sim_engine *e, const uint32_t *t, uint32_t n,
                                 int64_t max_tokens, struct rec *r, bool hold, uint64_t key,
                                 enum sy_sim_pull pull, uint64_t now)
{
    memset(r, 0, sizeof *r);
    r->why = -1;
    struct sy_sim_submit s = {.tokens = t,
                              .n_prompt = n,
                              .max_tokens = max_tokens,
                              .ud = r,
                              .hold_kv = hold,
                              .hold_key = key,
                              .pull = pull};
    struct sy_sim_req *q = sy_sim_engine_submit_ex(e, &s, now);
    assert_non_null(q);
    return q;
}

static void test_xfer_time_from_calibration(void **state)
{
    (void)state;
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    assert_non_null(p);
    /* 8192 tokens x 256 KiB / 2 ranks = 1 GiB per rank over 22.96 GB/s + 0.6 ms = 47.4 ms */
    double ms = (double)sy_sim_xfer_ns(p, 8192) / 1e6;
    assert_true(ms > 47.0 && ms < 47.8);
    /* a pull is ~10x cheaper than the prefill it replaces (514 ms for an 8192-token chunk) */
    assert_true((double)sy_sim_step_ns(p, 8192, 0, 0) / 1e6 > 10 * ms);
    assert_int_equal(sy_sim_profile_find("qwen3-8b-h100")->kv_lease_s, 480);
    struct sy_sim_profile s = small_profile();
    assert_int_equal(sy_sim_xfer_ns(&s, 1000), 1500 * US);
}

static void test_prefill_holds_blocks_until_pulled(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    struct sy_sim_engine *e = make(&p);
    uint32_t t[40], other[40];
    fill(t, 40, 100);
    fill(other, 40, 9000);
    struct rec r;
    submit(e, t, 40, 1, &r, true, 42, SY_SIM_PULL_NONE, 0);
    drain_until(e, 0, 1000 * MS); /* well before the 2 s lease */
    assert_int_equal(r.why, SY_SIM_FINISH_LENGTH);
    assert_int_equal(r.ntok, 1);
    assert_int_equal(r.held, 3); /* 40 prompt tokens in blocks of 16 */
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    assert_int_equal(sy_sim_engine_free_blocks(e), 256 - 3);
    assert_int_equal(sy_sim_engine_stats(e)->kv_held_total, 1);
    /* the lease is the next event */
    assert_int_equal(sy_sim_engine_next_ns(e), r.finish_ns + 2000 * MS);
    /* a different prompt under the same key is refused and leaves the blocks held */
    assert_int_equal(sy_sim_engine_pull(e, 42, other, 40, r.finish_ns), SY_SIM_PULL_MISMATCH);
    assert_int_equal(sy_sim_engine_pull(e, 42, t, 39, r.finish_ns), SY_SIM_PULL_MISMATCH);
    assert_int_equal(sy_sim_engine_pull(e, 43, t, 40, r.finish_ns), SY_SIM_PULL_UNKNOWN);
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    assert_int_equal(sy_sim_engine_pull(e, 42, t, 40, r.finish_ns + MS), SY_SIM_PULL_OK);
    /* claimed: the blocks stay held while the decode reads them, with no lease */
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    assert_int_equal(sy_sim_engine_free_blocks(e), 256 - 3);
    assert_int_equal(sy_sim_engine_next_ns(e), UINT64_MAX);
    sy_sim_engine_advance(e, r.finish_ns + 5000 * MS); /* past the lease: not expired */
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    assert_int_equal(sy_sim_engine_stats(e)->kv_expired, 0);
    assert_int_equal(sy_sim_engine_pull(e, 42, t, 40, r.finish_ns + MS), SY_SIM_PULL_REUSED);
    /* the read is done: released */
    assert_int_equal(sy_sim_engine_release(e, 42), 0);
    assert_int_equal(sy_sim_engine_release(e, 42), SY_ENOTFOUND);
    assert_int_equal(sy_sim_engine_num_held(e), 0);
    assert_int_equal(sy_sim_engine_free_blocks(e), 256);
    assert_true(sy_sim_engine_check(e));
    /* the freed blocks stay cached: the same prompt hits them */
    assert_int_equal(sy_sim_engine_cached_blocks(e), 2);
    assert_int_equal(sy_sim_engine_pull(e, 42, t, 40, r.finish_ns + MS), SY_SIM_PULL_REUSED);
    assert_int_equal(sy_sim_engine_next_ns(e), UINT64_MAX);
    assert_int_equal(sy_sim_engine_stats(e)->kv_expired, 0);
    sy_sim_engine_free(e);
}

static void test_lease_expiry_frees_blocks(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    struct sy_sim_engine *e = make(&p);
    uint32_t t[40];
    fill(t, 40, 100);
    struct rec r, r2;
    submit(e, t, 40, 1, &r, true, 1, SY_SIM_PULL_NONE, 0);
    drain_until(e, 0, 100 * MS);
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    /* an aborted or unheld request holds nothing: only finished prefills are held */
    struct sy_sim_req *q = submit(e, t, 40, 1, &r2, true, 2, SY_SIM_PULL_NONE, 200 * MS);
    sy_sim_engine_abort(e, q, 200 * MS);
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    uint64_t end = drain_until(e, 200 * MS, UINT64_MAX - 1);
    assert_int_equal(end, r.finish_ns + 2000 * MS); /* the timer fires at the lease end */
    assert_int_equal(sy_sim_engine_num_held(e), 0);
    assert_int_equal(sy_sim_engine_free_blocks(e), 256);
    assert_int_equal(sy_sim_engine_stats(e)->kv_expired, 1);
    assert_int_equal(sy_sim_engine_pull(e, 1, t, 40, end), SY_SIM_PULL_EXPIRED);
    assert_int_equal(sy_sim_engine_pull(e, 2, t, 40, end), SY_SIM_PULL_UNKNOWN);
    assert_true(sy_sim_engine_check(e));
    sy_sim_engine_free(e);
}

static void test_decode_pulls_instead_of_prefilling(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    struct sy_sim_engine *d = make(&p);
    uint32_t t[1000];
    fill(t, 1000, 5);
    struct rec r;
    submit(d, t, 1000, 5, &r, false, 0, SY_SIM_PULL_OK, 0);
    sy_sim_engine_advance(d, 0);
    /* loading: counted as waiting (vLLM WAITING_FOR_REMOTE_KVS), blocks already allocated */
    assert_int_equal(sy_sim_engine_num_waiting(d), 1);
    assert_int_equal(sy_sim_engine_num_running(d), 0);
    assert_int_equal(sy_sim_engine_free_blocks(d), 256 - 63);
    assert_int_equal(sy_sim_engine_next_ns(d), 1500 * US);
    drain_until(d, 0, UINT64_MAX - 1);
    /* pull 1.5 ms, then one step computing the last prompt token: 1000 + 100 us */
    assert_int_equal(r.loaded_ns, 1500 * US); /* the read completes: the prefill may free */
    assert_int_equal(r.first_ns, 2600 * US);
    assert_int_equal(r.ntok, 5);
    assert_int_equal(r.why, SY_SIM_FINISH_LENGTH);
    assert_int_equal(r.pulled, 1000);
    assert_int_equal(r.cached, 1000);
    const struct sy_sim_stats *st = sy_sim_engine_stats(d);
    assert_int_equal(st->prefill_tokens, 1); /* no prefill recomputed */
    assert_int_equal(st->kv_pulls, 1);
    assert_int_equal(st->kv_pulled_tokens, 1000);
    assert_int_equal(st->xfer.count, 1);
    assert_int_equal(st->xfer_bytes.count, 1);
    assert_true(st->xfer_bytes.sum == 1000.0 * 1000);

    /* the same prompt prefilled cold on an aggregated engine: 1000 tokens in one chunk */
    struct sy_sim_engine *a = make(&p);
    struct rec c;
    submit(a, t, 1000, 5, &c, false, 0, SY_SIM_PULL_NONE, 0);
    drain_until(a, 0, UINT64_MAX - 1);
    assert_int_equal(c.first_ns, 101 * MS);
    assert_true(c.first_ns > 30 * r.first_ns);

    /* the pulled blocks are cached on the decode engine: a repeat pulls only the last block */
    struct rec r2;
    submit(d, t, 1000, 2, &r2, false, 0, SY_SIM_PULL_OK, 200 * MS);
    drain_until(d, 200 * MS, UINT64_MAX - 1);
    assert_int_equal(r2.pulled, 1000 - 992); /* 62 full blocks hit, at most n-1 tokens */
    assert_int_equal(r2.first_ns, 200 * MS + (500 + 8) * US + 1100 * US);
    assert_int_equal(st->kv_pulled_tokens, 1008);
    sy_sim_engine_free(a);
    sy_sim_engine_free(d);
}

static void test_fallbacks_prefill_locally_and_are_counted(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    struct sy_sim_engine *d = make(&p);
    uint32_t t[1000];
    fill(t, 1000, 5);
    struct rec r[3];
    enum sy_sim_pull why[3] = {SY_SIM_PULL_EXPIRED, SY_SIM_PULL_UNKNOWN, SY_SIM_PULL_REUSED};
    uint64_t now = 0;
    for (int i = 0; i < 3; i++) {
        t[0] = 77 + (uint32_t)i; /* distinct prompts: no prefix hits */
        submit(d, t, 1000, 2, &r[i], false, 0, why[i], now);
        now = drain_until(d, now, UINT64_MAX - 1) + MS;
        assert_int_equal(r[i].pulled, 0);
        assert_int_equal(r[i].ntok, 2);
    }
    const struct sy_sim_stats *st = sy_sim_engine_stats(d);
    assert_int_equal(st->pd_fallbacks[SY_SIM_PULL_EXPIRED], 1);
    assert_int_equal(st->pd_fallbacks[SY_SIM_PULL_UNKNOWN], 1);
    assert_int_equal(st->pd_fallbacks[SY_SIM_PULL_REUSED], 1);
    assert_int_equal(st->kv_pulls, 0);
    assert_int_equal(st->prefill_tokens, 3000); /* every prompt computed here */
    assert_int_equal(r[0].first_ns, 101 * MS);
    sy_sim_engine_free(d);
}

/* The reason P/D exists, on the calibrated Qwen3-32B TP2 profile: 16 streams decode; an 8k-token
 * prompt arrives. Aggregated, it is prefilled in the streams' steps and every stream's ITL jumps
 * to ~0.5 s; on a decode replica it arrives by pull and the streams keep their ~16 ms ITL. */
static void run_streams(bool pd, uint64_t *max_gap, uint64_t *new_ttft, uint64_t *big_itl)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    struct sy_sim_engine *e = make(p);
    static uint32_t t[8192];
    struct rec streams[16], big;
    uint64_t now = 0;
    for (int i = 0; i < 16; i++) {
        fill(t, 200, 1000u * (uint32_t)i + 1);
        submit(e, t, 200, 100, &streams[i], false, 0, SY_SIM_PULL_NONE, now);
    }
    now = drain_until(e, 0, 500 * MS); /* all 16 are decoding by now */
    for (int i = 0; i < 16; i++)
        assert_true(streams[i].ntok > 5 && streams[i].ntok < 100);
    fill(t, 8192, 500000);
    submit(e, t, 8191, 4, &big, false, 0, pd ? SY_SIM_PULL_OK : SY_SIM_PULL_NONE, now);
    uint64_t arrive = now;
    drain_until(e, now, UINT64_MAX - 1);
    *max_gap = 0;
    for (int i = 0; i < 16; i++) {
        assert_int_equal(streams[i].ntok, 100);
        if (streams[i].max_gap > *max_gap)
            *max_gap = streams[i].max_gap;
    }
    *new_ttft = big.first_ns - arrive;
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    *big_itl = 0;
    for (size_t i = 0; i <= st->itl.n; i++)
        if (i == st->itl.n || st->itl.bounds[i] > 0.3)
            *big_itl += st->itl.counts[i];
    sy_sim_engine_free(e);
}

static void test_prefill_chunk_stalls_streams_only_when_aggregated(void **state)
{
    (void)state;
    uint64_t gap_agg, ttft_agg, big_agg, gap_pd, ttft_pd, big_pd;
    run_streams(false, &gap_agg, &ttft_agg, &big_agg);
    run_streams(true, &gap_pd, &ttft_pd, &big_pd);
    /* aggregated: one step carries the 8191-token chunk (~0.5 s) and all 16 streams wait */
    assert_true(gap_agg > 450 * MS && gap_agg < 600 * MS);
    assert_true(big_agg >= 16);
    assert_true(ttft_agg > 450 * MS);
    /* decode-only: the pull (~47 ms) runs beside the batch; no step is longer than ~20 ms */
    assert_true(gap_pd < 25 * MS);
    assert_int_equal(big_pd, 0);
    assert_true(ttft_pd > 47 * MS && ttft_pd < 100 * MS);
}

/* Held blocks are not evictable: a prefill replica full of KV waiting for decodes queues new
 * prefills until a lease ends (the pressure a slow decode pool puts on the prefill pool). */
static void test_held_blocks_fill_the_prefill_replica(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    p.num_gpu_blocks = 8; /* 128 tokens */
    struct sy_sim_engine *e = make(&p);
    uint32_t a[64], b[64], c[64];
    fill(a, 64, 1);
    fill(b, 64, 1000);
    fill(c, 64, 2000);
    struct rec ra, rb, rc;
    submit(e, a, 64, 1, &ra, true, 1, SY_SIM_PULL_NONE, 0); /* 4 blocks each */
    submit(e, b, 64, 1, &rb, true, 2, SY_SIM_PULL_NONE, 0);
    drain_until(e, 0, 100 * MS);
    assert_int_equal(sy_sim_engine_num_held(e), 2);
    assert_int_equal(sy_sim_engine_free_blocks(e), 0);
    submit(e, c, 64, 1, &rc, true, 3, SY_SIM_PULL_NONE, 100 * MS);
    drain_until(e, 100 * MS, 1000 * MS);
    assert_int_equal(rc.ntok, 0); /* no block for it */
    assert_int_equal(sy_sim_engine_num_waiting(e), 1);
    /* a's decode claims it; b's lease runs out at ~2 s and lets c in */
    assert_int_equal(sy_sim_engine_pull(e, 1, a, 64, 1000 * MS), SY_SIM_PULL_OK);
    drain_until(e, 1000 * MS, 3000 * MS);
    assert_int_equal(rc.ntok, 1);
    assert_true(rc.first_ns > 2000 * MS);
    assert_int_equal(sy_sim_engine_stats(e)->kv_expired, 1);
    assert_int_equal(sy_sim_engine_num_held(e), 2); /* a (claimed) and c */
    assert_int_equal(sy_sim_engine_release(e, 1), 0);
    assert_int_equal(sy_sim_engine_num_held(e), 1);
    assert_true(sy_sim_engine_check(e));
    sy_sim_engine_free(e);
}

/* A decode replica short of blocks keeps pulls waiting until blocks free up; a decode aborted
 * while its KV is in flight frees its blocks at once. */
static void test_decode_pulls_wait_for_blocks_and_abort_cleanly(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    p.num_gpu_blocks = 10; /* 160 tokens */
    struct sy_sim_engine *d = make(&p);
    uint32_t a[100], b[100];
    fill(a, 100, 1);
    fill(b, 100, 5000);
    struct rec ra, rb;
    submit(d, a, 100, 20, &ra, false, 0, SY_SIM_PULL_OK, 0); /* 7 blocks */
    submit(d, b, 100, 20, &rb, false, 0, SY_SIM_PULL_OK, 0); /* does not fit next to a */
    sy_sim_engine_advance(d, 0);
    assert_int_equal(sy_sim_engine_free_blocks(d), 3);
    assert_int_equal(sy_sim_engine_num_waiting(d), 2); /* one loading, one waiting */
    drain_until(d, 0, UINT64_MAX - 1);
    assert_int_equal(ra.ntok, 20);
    assert_int_equal(rb.ntok, 20);
    assert_true(rb.first_ns > ra.finish_ns); /* admitted after a freed its blocks */
    assert_int_equal(rb.pulled, 100);
    /* abort during the pull */
    struct rec rc;
    fill(a, 100, 9000);
    struct sy_sim_req *q = submit(d, a, 100, 5, &rc, false, 0, SY_SIM_PULL_OK, 10000 * MS);
    sy_sim_engine_advance(d, 10000 * MS);
    assert_int_equal(q->state, SY_SIM_LOADING);
    sy_sim_engine_abort(d, q, 10000 * MS + 100 * US);
    assert_int_equal(sy_sim_engine_free_blocks(d), 10);
    assert_int_equal(sy_sim_engine_num_waiting(d), 0);
    assert_int_equal(sy_sim_engine_next_ns(d), UINT64_MAX);
    assert_true(sy_sim_engine_check(d));
    assert_int_equal(sy_sim_engine_stats(d)->success[SY_SIM_FINISH_ABORT], 1);
    sy_sim_engine_free(d);
}

/* Pulls in flight share the link: alone a 1000-token pull moves its bytes in 1 ms (+0.5 ms);
 * a second one starting 0.5 ms later halves both shares until the first is done. */
static void test_concurrent_pulls_share_the_link(void **state)
{
    (void)state;
    struct sy_sim_profile p = small_profile();
    struct sy_sim_engine *d = make(&p);
    uint32_t a[1000], b[1000], c[1000], x[1000];
    fill(a, 1000, 1);
    fill(b, 1000, 10000);
    fill(c, 1000, 20000);
    fill(x, 1000, 30000);
    struct rec ra, rb, rc, rx;
    submit(d, a, 1000, 2, &ra, false, 0, SY_SIM_PULL_OK, 0);
    sy_sim_engine_advance(d, 0);
    submit(d, b, 1000, 2, &rb, false, 0, SY_SIM_PULL_OK, 500 * US);
    drain_until(d, 500 * US, UINT64_MAX - 1);
    /* a: 500 us alone + its other 500 KB at half rate (1000 us) = bytes at 1500, ready 2000;
     * b: 500 KB shared by 1500, the rest alone by 2000, ready 2500 */
    assert_int_equal(ra.loaded_ns, 2000 * US);
    /* b's KV is ready at 2500 while a's first step (1.1 ms) runs: it joins at that step's end */
    assert_int_equal(rb.loaded_ns, 3100 * US);
    const struct sy_sim_stats *st = sy_sim_engine_stats(d);
    assert_int_equal(st->xfer.count, 2);
    assert_true(st->xfer.sum > 0.0039999 && st->xfer.sum < 0.0040001); /* 2.0 + 2.0 ms */
    /* an abort mid-pull gives its share back: c alone again from the abort on */
    uint64_t t0 = 100 * MS;
    submit(d, c, 1000, 2, &rc, false, 0, SY_SIM_PULL_OK, t0);
    struct sy_sim_req *qx = submit(d, x, 1000, 2, &rx, false, 0, SY_SIM_PULL_OK, t0);
    sy_sim_engine_advance(d, t0);
    sy_sim_engine_advance(d, t0 + 400 * US); /* 200 KB each so far */
    sy_sim_engine_abort(d, qx, t0 + 400 * US);
    drain_until(d, t0 + 400 * US, UINT64_MAX - 1);
    assert_int_equal(rc.loaded_ns, t0 + (400 + 800 + 500) * US);
    assert_int_equal(rx.ntok, 0);
    assert_true(sy_sim_engine_check(d));
    sy_sim_engine_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xfer_time_from_calibration),
        cmocka_unit_test(test_prefill_holds_blocks_until_pulled),
        cmocka_unit_test(test_lease_expiry_frees_blocks),
        cmocka_unit_test(test_decode_pulls_instead_of_prefilling),
        cmocka_unit_test(test_fallbacks_prefill_locally_and_are_counted),
        cmocka_unit_test(test_prefill_chunk_stalls_streams_only_when_aggregated),
        cmocka_unit_test(test_held_blocks_fill_the_prefill_replica),
        cmocka_unit_test(test_decode_pulls_wait_for_blocks_and_abort_cleanly),
        cmocka_unit_test(test_concurrent_pulls_share_the_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
