/* Unit tests for src/sim/lockstep.c: the step time of a wide-EP data-parallel group follows its
 * busiest rank, so a rank given more tokens slows every rank, and balancing tokens over the ranks
 * finishes the same work sooner.
 *
 * Hand-made profile: base 1 ms, 10 us per prefill token, 100 us per decoding sequence, no context
 * term; coupling terms set per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sim/engine.h"
#include "sim/lockstep.h"

#define MS 1000000ULL

static struct sy_sim_profile prof(void)
{
    struct sy_sim_profile p = {.name = "test",
                               .model = "m",
                               .num_gpu_blocks = 4000,
                               .block_size = 16,
                               .max_num_seqs = 64,
                               .max_num_batched_tokens = 4096,
                               .max_model_len = 4096,
                               .step_base_us = 1000,
                               .prefill_us_per_token = 10,
                               .decode_us_per_seq = 100,
                               .tp_size = 1,
                               .kv_bytes_per_token = 1,
                               .kv_xfer_gbps = 1,
                               .kv_lease_s = 1};
    return p;
}

static uint64_t last_finish;

static void on_finish(void *ud, struct sy_sim_req *q, enum sy_sim_finish why, uint64_t now)
{
    (void)why;
    if (now > last_finish)
        last_finish = now;
    if (q->ud)
        *(uint64_t *)q->ud = now;
}

/* Submits counts[i] requests (prompt 64 tokens, 32 output) to rank i at time 0, runs the group
 * (coupled) or each rank alone (independent) to the end; returns the makespan, and the finish
 * time of rank 1's first request in *probe. */
static uint64_t run(const struct sy_sim_profile *p, const uint32_t *counts, uint32_t n,
                    bool coupled, uint64_t *probe)
{
    struct sy_sim_engine_cbs cbs = {.on_finish = on_finish};
    struct sy_sim_engine *eng[8];
    uint32_t toks[64];
    last_finish = 0;
    *probe = 0;
    for (uint32_t i = 0; i < n; i++) {
        eng[i] = sy_sim_engine_new(p, i, &cbs);
        assert_non_null(eng[i]);
        for (uint32_t k = 0; k < counts[i]; k++) {
            for (uint32_t t = 0; t < 64; t++)
                toks[t] = 1000 * i + 97 * k + t; /* distinct prompts: no prefix sharing */
            assert_non_null(
                sy_sim_engine_submit(eng[i], toks, 64, 32, i == 1 && k == 0 ? probe : NULL, 0));
        }
    }
    struct sy_sim_lockstep g;
    sy_sim_lockstep_init(&g, eng, n, p);
    for (int guard = 0; guard < 100000; guard++) {
        uint64_t next = UINT64_MAX;
        if (coupled) {
            sy_sim_lockstep_advance(&g, guard == 0 ? 0 : sy_sim_lockstep_next_ns(&g));
            next = sy_sim_lockstep_next_ns(&g);
        } else {
            for (uint32_t i = 0; i < n; i++) {
                uint64_t x = sy_sim_engine_next_ns(eng[i]);
                sy_sim_engine_advance(eng[i], guard == 0 ? 0 : x == UINT64_MAX ? 0 : x);
            }
            for (uint32_t i = 0; i < n; i++) {
                uint64_t x = sy_sim_engine_next_ns(eng[i]);
                if (x < next)
                    next = x;
            }
        }
        if (next == UINT64_MAX)
            break;
    }
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(sy_sim_engine_stats(eng[i])->success[SY_SIM_FINISH_LENGTH], counts[i]);
        sy_sim_engine_free(eng[i]);
    }
    return last_finish;
}

static void test_formula(void **state)
{
    struct sy_sim_profile p = prof();
    p.moe_us_per_token = 1;
    p.a2a_base_us = 100;
    p.a2a_us_per_token = 2;
    uint64_t own[3] = {10 * MS, 2 * MS, 0}, tok[3] = {100, 10, 0};
    /* busiest own step 10 ms + experts 110 tokens / 3 ranks x 1 us + 100 us + 100 tokens x 2 us */
    assert_int_equal(sy_sim_lockstep_step_ns(&p, own, tok, 3), 10 * MS + 36666 + 100000 + 200000);
    uint64_t none[3] = {0, 0, 0};
    assert_int_equal(sy_sim_lockstep_step_ns(&p, none, none, 3), 0);
}

/* A lightly loaded rank in a group with a busy rank runs at the busy rank's pace. */
static void test_busiest_rank_sets_the_pace(void **state)
{
    struct sy_sim_profile p = prof();
    uint32_t counts[2] = {32, 1};
    uint64_t alone, together;
    uint64_t span_alone = run(&p, counts, 2, false, &alone);
    uint64_t span_together = run(&p, counts, 2, true, &together);
    /* alone: rank 1's single request: prefill step 1.64 ms + 31 decode steps of 1.1 ms */
    assert_int_equal(alone, 1640000 + 31 * 1100000ULL);
    /* coupled: every one of its steps lasts as long as rank 0's 32-sequence step (>= 4.2 ms) */
    assert_true(together >= 31 * 4200000ULL);
    assert_true(together > 3 * alone);
    assert_int_equal(span_together, together); /* both ranks finish on the same group step */
    assert_true(span_alone <= span_together);
}

/* The same 32 requests finish sooner spread 16/16 than 31/1: tokens balanced across ranks. */
static void test_balance_wins(void **state)
{
    struct sy_sim_profile p = prof();
    p.moe_us_per_token = 20;
    p.a2a_base_us = 50;
    p.a2a_us_per_token = 5;
    uint32_t skewed[2] = {31, 1}, even[2] = {16, 16};
    uint64_t probe;
    uint64_t t_skewed = run(&p, skewed, 2, true, &probe);
    uint64_t t_even = run(&p, even, 2, true, &probe);
    assert_true(t_even < t_skewed);
    /* decode steps: 31/1 pays 1000 + 3100 + 320 + 50 + 155 = 4625 us, 16/16 pays 3050 us */
    assert_true((double)t_skewed / (double)t_even > 1.4);
}

/* Calibration: DeepSeek-R1 decode ranks of a 16-rank group, 128 sequences each at the 1k/1k mean
 * context (1,536 tokens): output tokens/s per GPU against the wide-EP guide's ~3.1k. */
static void test_deepseek_calibration(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("deepseek-r1-wideep-decode-h200");
    assert_non_null(p);
    assert_int_equal(p->ep_size, 16);
    uint64_t own[16], tok[16];
    for (int i = 0; i < 16; i++) {
        own[i] = sy_sim_step_ns(p, 0, 128, 128 * 1536);
        tok[i] = 128;
    }
    uint64_t step = sy_sim_lockstep_step_ns(p, own, tok, 16);
    double per_gpu = 128.0 / ((double)step / 1e9);
    print_message("decode step %.2f ms, %.0f output tok/s per GPU (guide ~3,100)\n",
                  (double)step / 1e6, per_gpu);
    assert_true(per_gpu > 3100 * 0.9 && per_gpu < 3100 * 1.15);
    /* one rank at 128 and the rest at 64: everyone steps at the busy rank's pace */
    for (int i = 1; i < 16; i++) {
        own[i] = sy_sim_step_ns(p, 0, 64, 64 * 1536);
        tok[i] = 64;
    }
    uint64_t skew = sy_sim_lockstep_step_ns(p, own, tok, 16);
    assert_true(skew > step * 8 / 10); /* 47% fewer tokens, < 20% shorter step */
    const struct sy_sim_profile *pf = sy_sim_profile_find("deepseek-r1-wideep-prefill-h200");
    assert_non_null(pf);
    assert_int_equal(pf->kv_bytes_per_token, 70272);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula),
        cmocka_unit_test(test_busiest_rank_sets_the_pace),
        cmocka_unit_test(test_balance_wins),
        cmocka_unit_test(test_deepseek_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
