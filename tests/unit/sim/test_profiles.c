/* Unit tests for src/sim/profiles.c: the profiles reproduce the figures they were calibrated on
 * (engine-calibration.md): peak prefill throughput, single-chunk TTFT, the decode step's sourced
 * formula (weights once, per-sequence overhead, KV read at the measured HBM stream rate) and KV
 * capacity. The engine runs are full simulations, not formula checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"

struct obs {
    uint64_t last_finish; /* latest finish time */
    uint64_t first_token; /* first token of the first request */
    double itl_sum;       /* sum of ITLs observed (s) */
    uint64_t itl_n;       /* their count */
    uint64_t prev_tok;    /* previous token time of the single tracked request */
};

static void on_token(void *ud, struct sy_sim_req *req, uint64_t now)
{
    struct obs *o = ud;
    if (req->seq == 0 && req->n_output == 1)
        o->first_token = now;
    if (req->seq == 0 && req->n_output > 1) {
        o->itl_sum += (double)(now - o->prev_tok) / 1e9;
        o->itl_n++;
    }
    if (req->seq == 0)
        o->prev_tok = now;
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    struct obs *o = ud;
    if (now > o->last_finish)
        o->last_finish = now;
}

static struct sy_sim_engine *make(const char *name, struct obs *o)
{
    memset(o, 0, sizeof *o);
    const struct sy_sim_profile *p = sy_sim_profile_find(name);
    assert_non_null(p);
    struct sy_sim_engine_cbs cbs = {.on_token = on_token, .on_finish = on_finish, .ud = o};
    struct sy_sim_engine *e = sy_sim_engine_new(p, 1, &cbs);
    assert_non_null(e);
    return e;
}

static void drain(struct sy_sim_engine *e)
{
    sy_sim_engine_advance(e, 0);
    uint64_t t;
    while ((t = sy_sim_engine_next_ns(e)) != UINT64_MAX)
        sy_sim_engine_advance(e, t);
}

/* Unique prompts (no cache hits) of n tokens. */
static void submit_unique(struct sy_sim_engine *e, int count, uint32_t n, int64_t max_tokens)
{
    uint32_t *t = malloc(n * sizeof *t);
    for (int i = 0; i < count; i++) {
        for (uint32_t k = 0; k < n; k++)
            t[k] = (uint32_t)((i * 7919 + k * 104729 + 13) % 151643);
        t[0] = (uint32_t)i;
        assert_non_null(sy_sim_engine_submit(e, t, n, max_tokens, NULL, 0));
    }
    free(t);
}

static void test_lookup(void **state)
{
    assert_non_null(sy_sim_profile_find("qwen3-32b-tp2-h100"));
    assert_non_null(sy_sim_profile_find("qwen3-8b-h100"));
    assert_null(sy_sim_profile_find("nope"));
    assert_null(sy_sim_profile_find(NULL));
    size_t n = 0;
    while (sy_sim_profiles[n])
        n++;
    assert_true(n >= 2);
}

/* KV capacity 275,760 tokens (LMCache) = 17,235 blocks of 16; vLLM H100 defaults. */
static void test_32b_capacity_and_defaults(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    assert_int_equal((uint64_t)p->num_gpu_blocks * p->block_size, 275760);
    assert_int_equal(p->block_size, 16);
    assert_int_equal(p->max_num_batched_tokens, 8192);
    assert_int_equal(p->max_num_seqs, 1024);
    const struct sy_sim_profile *q = sy_sim_profile_find("qwen3-8b-h100");
    assert_int_equal((uint64_t)q->num_gpu_blocks * q->block_size, 366400);
}

/* A prefill-saturated run (40 x 8192-token uncached prompts, one output token each) reaches the
 * measured 15,928 prompt tok/s within 1%, and one chunk's TTFT is 8192/15928 = 0.514 s. */
static void test_32b_peak_prefill(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", &o);
    submit_unique(e, 40, 8192, 1);
    drain(e);
    double secs = (double)o.last_finish / 1e9;
    double tput = 40.0 * 8192.0 / secs;
    assert_true(fabs(tput - 15928.0) / 15928.0 < 0.01);
    double ttft = (double)o.first_token / 1e9;
    assert_true(fabs(ttft - 0.5143) < 0.005);
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->prompt_tokens, 40 * 8192);
    assert_int_equal(st->steps, 40); /* one full-budget chunk per step */
    sy_sim_engine_free(e);
}

/* Prefill throughput with 3,000-token prompts packs ~2.7 prompts per 8192 budget and still runs
 * near the peak (chunked prefill fills the budget). */
static void test_32b_chunked_prefill_fills_budget(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", &o);
    submit_unique(e, 60, 3000, 1);
    drain(e);
    double tput = 60.0 * 3000.0 / ((double)o.last_finish / 1e9);
    assert_true(tput > 15000.0 && tput < 16000.0);
    sy_sim_engine_free(e);
}

/* Decode ITL at batch 1, ~1k context: 15.6 ms (derived table, engine-calibration.md 4.3). */
static void test_32b_decode_itl_batch1(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", &o);
    submit_unique(e, 1, 1000, 50);
    drain(e);
    double itl = o.itl_sum / (double)o.itl_n;
    assert_int_equal(o.itl_n, 49);
    assert_true(fabs(itl - 0.0156) < 0.0002);
    sy_sim_engine_free(e);
}

/* The decode step at known shapes equals the sourced formula (profiles.c), with every constant
 * recomputed here from its published inputs rather than read from the profile:
 *   step = base + 4.42 us x B + B x ctx x KV bytes per token / TP / achieved HBM bandwidth,
 *   achieved bandwidth = CodeLlama-34B TP2 layer weights per GPU / Vidur's 12.9 ms (H100). */
static void test_decode_step_formula(void **state)
{
    /* 48 layers x (q 8192x8192 + k,v 2 x 8192x1024 + o 8192x8192 + MLP 3 x 8192x22016) */
    double params = 48.0 * (8192.0 * 8192 + 2 * 8192.0 * 1024 + 8192.0 * 8192 + 3 * 8192.0 * 22016);
    double bytes_per_us = params * 2 / 2 / 12900.0; /* BF16, TP2, 12.9 ms */
    assert_true(fabs(bytes_per_us / 3.35e6 - 0.7687) < 0.0005);
    static const struct {
        const char *prof;
        double base_us;
        uint32_t kv_bytes, tp;
    } prof[] = {
        {"qwen3-32b-tp2-h100", 15517.0, 2 * 64 * 8 * 128 * 2, 2},
        {"qwen3-8b-h100", 7907.6, 2 * 36 * 8 * 128 * 2, 1},
    };
    static const uint32_t batch[] = {1, 8, 32, 64, 100, 256};
    static const uint32_t ctx[] = {1024, 4096, 7700, 16384};
    for (size_t i = 0; i < sizeof prof / sizeof prof[0]; i++) {
        const struct sy_sim_profile *p = sy_sim_profile_find(prof[i].prof);
        assert_int_equal(p->kv_bytes_per_token, prof[i].kv_bytes);
        assert_int_equal(p->tp_size, prof[i].tp);
        for (size_t b = 0; b < sizeof batch / sizeof batch[0]; b++) {
            for (size_t c = 0; c < sizeof ctx / sizeof ctx[0]; c++) {
                double tokens = (double)batch[b] * ctx[c];
                double us = prof[i].base_us + 4.42 * batch[b] +
                            tokens * prof[i].kv_bytes / prof[i].tp / (3.35e6 * 0.7687);
                double got = (double)sy_sim_step_ns(p, 0, batch[b], (uint64_t)tokens) / 1e3;
                assert_true(fabs(got - us) < 0.01); /* ns rounding only */
            }
        }
    }
}

/* The derived table [4.3] (BLIS's coefficients) is matched where the KV term is small: batch 1
 * within 1% (that cell fixes base), batch <= 8 within 5%. Larger batches are deliberately below
 * it (the KV read now runs at the measured stream rate, not BLIS's fitted 51%); the calibration
 * report lists those rows with their errors. */
static void test_decode_step_table_small_batches(void **state)
{
    static const struct {
        const char *prof;
        uint32_t b, ctx;
        double ms, tol;
    } cells[] = {
        {"qwen3-32b-tp2-h100", 1, 1024, 15.6, 0.01}, {"qwen3-32b-tp2-h100", 8, 1024, 16.2, 0.05},
        {"qwen3-32b-tp2-h100", 1, 4096, 15.8, 0.01}, {"qwen3-32b-tp2-h100", 8, 4096, 18.0, 0.05},
        {"qwen3-8b-h100", 1, 1024, 8.0, 0.01},       {"qwen3-8b-h100", 8, 1024, 8.7, 0.05},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        const struct sy_sim_profile *p = sy_sim_profile_find(cells[i].prof);
        double ms =
            (double)sy_sim_step_ns(p, 0, cells[i].b, (uint64_t)cells[i].b * cells[i].ctx) / 1e6;
        assert_true(fabs(ms - cells[i].ms) / cells[i].ms < cells[i].tol);
    }
}

/* Decode at batch 64, ~1k context through the engine: once all 64 are decoding, ITL ~20.8 ms. */
static void test_32b_decode_itl_batch64(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", &o);
    submit_unique(e, 64, 1000, 120);
    drain(e);
    /* request 0's mean ITL includes the prefill steps of the other 63 (8 steps of ~0.5 s over
     * 119 gaps) so check the engine's ITL histogram median bucket instead: most samples are
     * pure 64-way decode steps in (0.01, 0.025]. */
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    assert_int_equal(st->generation_tokens, 64 * 120);
    uint64_t in_bucket = st->itl.counts[1]; /* (0.01, 0.025] */
    assert_true(in_bucket > st->itl.count * 8 / 10);
    sy_sim_engine_free(e);
}

/* Qwen3-8B peak prefill prior: 32,000 tok/s. */
static void test_8b_peak_prefill(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-8b-h100", &o);
    submit_unique(e, 20, 8192, 1);
    drain(e);
    double tput = 20.0 * 8192.0 / ((double)o.last_finish / 1e9);
    assert_true(fabs(tput - 32000.0) / 32000.0 < 0.01);
    sy_sim_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_32b_capacity_and_defaults),
        cmocka_unit_test(test_32b_peak_prefill),
        cmocka_unit_test(test_32b_chunked_prefill_fills_budget),
        cmocka_unit_test(test_32b_decode_itl_batch1),
        cmocka_unit_test(test_decode_step_formula),
        cmocka_unit_test(test_decode_step_table_small_batches),
        cmocka_unit_test(test_32b_decode_itl_batch64),
        cmocka_unit_test(test_8b_peak_prefill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
