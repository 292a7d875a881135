/* Unit tests for the simulator's step models (sy_sim_step_shape_ns, src/sim/engine.c; constants in
 * src/sim/profiles.c): the overlap formula at known shapes on a synthetic profile, the max()
 * crossover between the weight read and the linear layers' FLOPs, the additive model unchanged,
 * the overlap constants recomputed from their published inputs, the pure prefill and decode
 * figures both models share, and the engine under overlap (peak prefill, and a decode stream's
 * step shorter when it carries a prefill chunk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"

/* A profile with round numbers: base 1,000 us of which 800 us weight read, 10 us per token of
 * linear FLOPs (crossover at 80 tokens), 0.01 us per attention pair, 2 us per decode sequence,
 * 0.1 us per context token, 20 us per prefill token for the additive model. */
static struct sy_sim_profile synthetic(enum sy_sim_step_model m)
{
    struct sy_sim_profile p = {.name = "synthetic",
                               .step_base_us = 1000,
                               .prefill_us_per_token = 20,
                               .decode_us_per_seq = 2,
                               .decode_us_per_ctx_token = 0.1,
                               .weight_read_us = 800,
                               .linear_us_per_token = 10,
                               .attn_us_per_pair = 0.01,
                               .step_model = m};
    return p;
}

static uint64_t shape_ns(const struct sy_sim_profile *p, uint64_t pf, uint64_t pairs, uint64_t seqs,
                         uint64_t ctx)
{
    struct sy_sim_step_shape s = {pf, pairs, seqs, ctx};
    return sy_sim_step_shape_ns(p, &s);
}

static void test_names(void **state)
{
    enum sy_sim_step_model m = SY_SIM_STEP_N_;
    assert_int_equal(sy_sim_step_model_parse("additive", &m), 0);
    assert_int_equal(m, SY_SIM_STEP_ADDITIVE);
    assert_int_equal(sy_sim_step_model_parse("overlap", &m), 0);
    assert_int_equal(m, SY_SIM_STEP_OVERLAP);
    assert_int_equal(sy_sim_step_model_parse("Overlap", &m), -1);
    assert_int_equal(sy_sim_step_model_parse("", &m), -1);
    assert_int_equal(sy_sim_step_model_parse(NULL, &m), -1);
    assert_string_equal(sy_sim_step_model_name(SY_SIM_STEP_ADDITIVE), "additive");
    assert_string_equal(sy_sim_step_model_name(SY_SIM_STEP_OVERLAP), "overlap");
    /* the default (zeroed) field is the additive model */
    struct sy_sim_profile z = {0};
    assert_int_equal(z.step_model, SY_SIM_STEP_ADDITIVE);
    for (size_t i = 0; sy_sim_profiles[i]; i++) {
        const struct sy_sim_profile *p = sy_sim_profiles[i];
        assert_int_equal(p->step_model, SY_SIM_STEP_ADDITIVE);
        assert_true(sy_sim_step_model_supported(p, SY_SIM_STEP_ADDITIVE));
        bool dense = strncmp(p->name, "qwen3-", 6) == 0;
        assert_int_equal(sy_sim_step_model_supported(p, SY_SIM_STEP_OVERLAP), dense);
    }
}

/* overlap = (base - W) + max(W, lin x tokens) + attn x pairs + seq x seqs + kv x ctx */
static void test_overlap_formula(void **state)
{
    struct sy_sim_profile p = synthetic(SY_SIM_STEP_OVERLAP);
    /* idle-ish step: one decode, weight-bound: 200 + 800 + 2 + 0.1 x 1000 */
    assert_int_equal(shape_ns(&p, 0, 0, 1, 1000), 1102000);
    /* mixed: 100-token chunk after 0 computed (5,050 pairs) + 20 decodes over 1,000 tokens:
     * 120 tokens x 10 = 1,200 us > 800 -> 200 + 1,200 + 50.5 + 40 + 100 */
    assert_int_equal(shape_ns(&p, 100, 5050, 20, 1000), 1590500);
    /* the same chunk after 6,000 cached tokens: 100 x 6,000 more pairs, 6 ms more attention */
    assert_int_equal(shape_ns(&p, 100, 5050 + 600000, 20, 1000), 7590500);
    /* pure prefill of 500 tokens: 200 + 5,000 + 1,252.5 */
    assert_int_equal(shape_ns(&p, 500, 125250, 0, 0), 6452500);
    /* sy_sim_step_ns takes the chunk as fresh: n(n+1)/2 pairs */
    assert_int_equal(sy_sim_step_ns(&p, 500, 0, 0), 6452500);
    assert_int_equal(sy_sim_step_ns(&p, 100, 20, 1000), 1590500);
    /* never below 1 ns */
    struct sy_sim_profile zero = p;
    zero.step_base_us = zero.weight_read_us = 0;
    zero.linear_us_per_token = 1e-12;
    assert_int_equal(shape_ns(&zero, 0, 0, 0, 0), 1);
}

/* The max(): below the crossover (80 tokens) extra tokens are free in the linear layers, above it
 * each costs 10 us; at it both sides agree. Prefill and decode tokens count alike. */
static void test_crossover(void **state)
{
    struct sy_sim_profile p = synthetic(SY_SIM_STEP_OVERLAP);
    uint64_t at = shape_ns(&p, 0, 0, 80, 0) - 80 * 2000; /* minus the per-seq terms */
    assert_int_equal(at, 1000000);                       /* 200 + max(800, 800) */
    assert_int_equal(shape_ns(&p, 0, 0, 79, 0) - 79 * 2000, 1000000);
    assert_int_equal(shape_ns(&p, 0, 0, 81, 0) - 81 * 2000, 1010000);
    assert_int_equal(shape_ns(&p, 0, 0, 200, 0) - 200 * 2000, 2200000);
    /* 40 prefill tokens (no pairs) + 40 decodes: exactly at the crossover */
    assert_int_equal(shape_ns(&p, 40, 0, 40, 0) - 40 * 2000, 1000000);
    assert_int_equal(shape_ns(&p, 41, 0, 40, 0) - 40 * 2000, 1010000);
    /* a profile whose weight read is the whole base: no fixed part left */
    struct sy_sim_profile w = p;
    w.weight_read_us = 1000;
    assert_int_equal(shape_ns(&w, 0, 0, 0, 0), 1000000);
    assert_int_equal(shape_ns(&w, 150, 0, 0, 0), 1500000);
    /* an inconsistent split (weight read above the base) falls back to additive */
    w.weight_read_us = 1001;
    assert_false(sy_sim_step_model_supported(&w, SY_SIM_STEP_OVERLAP));
    assert_int_equal(shape_ns(&w, 150, 0, 0, 0), 1000000 + 150 * 20000);
}

/* additive is what it always was: base + prefill + per-seq + context; attention pairs and the
 * overlap fields are ignored (tests/unit/sim/test_engine.c checks the same numbers). */
static void test_additive_unchanged(void **state)
{
    struct sy_sim_profile p = synthetic(SY_SIM_STEP_ADDITIVE);
    assert_int_equal(shape_ns(&p, 100, 5050, 20, 1000), 1000000 + 2000000 + 40000 + 100000);
    assert_int_equal(shape_ns(&p, 100, 999999999, 20, 1000), 3140000);
    assert_int_equal(sy_sim_step_ns(&p, 100, 20, 1000), 3140000);
    assert_int_equal(shape_ns(&p, 0, 0, 0, 0), 1000000);
    struct sy_sim_profile q = {
        .step_base_us = 1000, .prefill_us_per_token = 10, .decode_us_per_seq = 2};
    assert_int_equal(sy_sim_step_ns(&q, 100, 3, 40), 2006000);
    /* the built-in profiles' additive numbers */
    const struct sy_sim_profile *b = sy_sim_profile_find("qwen3-32b-tp2-h100");
    double us = (double)sy_sim_step_ns(b, 0, 64, 64 * 4096) / 1e3;
    assert_true(fabs(us - (15517.0 + 64 * 4.42 + 64 * 4096 * b->decode_us_per_ctx_token)) < 0.01);
    us = (double)sy_sim_step_ns(b, 1200, 96, 96 * 7700) / 1e3;
    assert_true(fabs(us - (15517.0 + 1200 * 60.888 + 96 * 4.42 +
                           96 * 7700 * b->decode_us_per_ctx_token)) < 0.01);
}

/* The overlap constants of qwen3-32b-tp2-h100 recomputed from their published inputs
 * (profiles.c): Qwen3-32B config.json, BLIS's weight-stream factor, the H100's 3.35 TB/s and
 * llm-d's measured 15,928 tok/s for one fresh 8192-token chunk. */
static void test_32b_constants_from_sources(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    double layer = 5120.0 * 8192 * 2 + 5120.0 * 1024 * 2 + 3.0 * 5120 * 25600;
    double linear = 64 * layer, params = linear + 2.0 * 151936 * 5120;
    assert_true(fabs(params / 1e9 - 32.76) < 0.01); /* Qwen3-32B: 32.8B parameters */
    double w = 1.3625 * params * 2 / 2 / 3.35e6;    /* us, BF16 over 2 ranks */
    assert_true(fabs(p->weight_read_us - w) < 0.01);
    assert_true(p->weight_read_us > 13000 && p->weight_read_us < 13500);
    double fixed = p->step_base_us - p->weight_read_us;
    assert_true(fabs(fixed - (32.1 * 64 + 126)) < 20); /* BLIS beta5 x layers + beta7 */
    double chunk_us = 8192.0 / 15928.0 * 1e6;          /* measured */
    double flops = 8192.0 * 2 * linear + 8192.0 * 8193 / 2 * 4.0 * 64 * 128 * 64; /* all ranks */
    double rate = flops / 2 / (chunk_us - fixed);                                 /* per GPU, /us */
    assert_true(fabs(p->linear_us_per_token - linear / rate) / p->linear_us_per_token < 0.001);
    assert_true(fabs(p->attn_us_per_pair - 4.0 * 64 * 128 * 64 / 2 / rate) / p->attn_us_per_pair <
                0.001);
    double mfu = rate * 1e6 / 989.5e12; /* H100 SXM dense BF16 peak */
    assert_true(mfu > 0.55 && mfu < 0.60);
    double cross = p->weight_read_us / p->linear_us_per_token;
    assert_true(cross > 240 && cross < 245);
}

/* The figures both models are built from agree: a fresh 8192-token chunk, decode steps below the
 * crossover at 1k and 4k contexts; above it overlap adds the compute the weight read no longer
 * hides. */
static void test_pure_steps_match(void **state)
{
    const char *names[] = {"qwen3-32b-tp2-h100", "qwen3-8b-h100"};
    for (size_t n = 0; n < 2; n++) {
        struct sy_sim_profile a = *sy_sim_profile_find(names[n]), o = a;
        o.step_model = SY_SIM_STEP_OVERLAP;
        int64_t d =
            (int64_t)sy_sim_step_ns(&a, 8192, 0, 0) - (int64_t)sy_sim_step_ns(&o, 8192, 0, 0);
        assert_true(llabs(d) <= 1000); /* within 1 us of 0.26-0.51 s */
        uint32_t cross = (uint32_t)(o.weight_read_us / o.linear_us_per_token);
        uint32_t batches[] = {1, 8, 32, 64, 128, cross};
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            for (uint64_t ctx = 1024; ctx <= 4096; ctx *= 4) {
                uint64_t x = batches[b];
                assert_int_equal(sy_sim_step_ns(&a, 0, x, x * ctx),
                                 sy_sim_step_ns(&o, 0, x, x * ctx));
            }
        }
        double extra = ((double)sy_sim_step_ns(&o, 0, 256, 256 * 1024) -
                        (double)sy_sim_step_ns(&a, 0, 256, 256 * 1024)) /
                       1e3;
        assert_true(fabs(extra - (256 * o.linear_us_per_token - o.weight_read_us)) < 0.01);
    }
}

/* ---- engine under overlap ---------------------------------------------------------------- */

struct obs {
    uint64_t last_finish, first_token; /* latest finish, first token of request 0 */
    uint64_t prev[2];                  /* previous token time of requests 0 and 1 */
    uint64_t max_itl;                  /* request 0's largest ITL */
};

static void on_token(void *ud, struct sy_sim_req *req, uint64_t now)
{
    struct obs *o = ud;
    if (req->seq == 0 && req->n_output == 1)
        o->first_token = now;
    if (req->seq == 0 && req->n_output > 1 && now - o->prev[0] > o->max_itl)
        o->max_itl = now - o->prev[0];
    if (req->seq < 2)
        o->prev[req->seq] = now;
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    struct obs *o = ud;
    (void)req, (void)why;
    if (now > o->last_finish)
        o->last_finish = now;
}

static struct sy_sim_engine *make(const char *name, enum sy_sim_step_model m, uint32_t budget,
                                  struct obs *o)
{
    memset(o, 0, sizeof *o);
    struct sy_sim_profile p = *sy_sim_profile_find(name);
    p.step_model = m;
    if (budget)
        p.max_num_batched_tokens = budget;
    struct sy_sim_engine_cbs cbs = {.on_token = on_token, .on_finish = on_finish, .ud = o};
    struct sy_sim_engine *e = sy_sim_engine_new(&p, 1, &cbs);
    assert_non_null(e);
    return e;
}

static void submit(struct sy_sim_engine *e, int salt, uint32_t n, int64_t max_tokens, uint64_t at)
{
    uint32_t *t = malloc(n * sizeof *t);
    for (uint32_t k = 0; k < n; k++)
        t[k] = (uint32_t)((salt * 7919 + k * 104729 + 13) % 151643);
    assert_non_null(sy_sim_engine_submit(e, t, n, max_tokens, NULL, at));
    free(t);
}

static void run_to(struct sy_sim_engine *e, uint64_t t)
{
    uint64_t n;
    while ((n = sy_sim_engine_next_ns(e)) <= t)
        sy_sim_engine_advance(e, n);
    sy_sim_engine_advance(e, t);
}

/* llm-d's calibration under overlap: 40 fresh 8192-token prompts, one at a time per step, reach
 * the measured 15,928 tok/s and TTFT 0.514 s, as under additive (test_profiles.c). */
static void test_engine_peak_prefill_overlap(void **state)
{
    struct obs o;
    struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", SY_SIM_STEP_OVERLAP, 0, &o);
    for (int i = 0; i < 40; i++)
        submit(e, i, 8192, 1, 0);
    run_to(e, UINT64_MAX - 1);
    double tput = 40.0 * 8192.0 / ((double)o.last_finish / 1e9);
    assert_true(fabs(tput - 15928.0) / 15928.0 < 0.01);
    assert_true(fabs((double)o.first_token / 1e9 - 0.5143) < 0.005);
    assert_int_equal(sy_sim_engine_stats(e)->steps, 40);
    sy_sim_engine_free(e);
}

/* A decode stream (request 0) whose steps carry another request's 2,000-token prefill chunk:
 * its worst ITL is that mixed step, shorter under overlap (the chunk's GEMMs hide the weight read
 * the decode pays anyway; the decode token rides on the chunk's FLOPs), and exactly the formula:
 * additive 15,517 + 2,000 x 60.888 + decode terms; overlap 2,192 + 2,001 x 54.95 + 2,001,000
 * pairs x 0.001846 + decode terms. */
static void test_engine_mixed_step_itl(void **state)
{
    uint64_t worst[2];
    for (int m = 0; m < 2; m++) {
        struct obs o;
        struct sy_sim_engine *e = make("qwen3-32b-tp2-h100", (enum sy_sim_step_model)m, 0, &o);
        submit(e, 1, 500, 40, 0);
        run_to(e, 100000000); /* 100 ms: request 0 is decoding */
        submit(e, 2, 2000, 1, 100000000);
        run_to(e, UINT64_MAX - 1);
        worst[m] = o.max_itl;
        const struct sy_sim_profile *p = sy_sim_engine_profile(e);
        /* request 0's context at the mixed step: 500 prompt + the tokens it had by then */
        double ctx_lo = 500, ctx_hi = 540, lo, hi;
        double dec_lo = 4.42 + ctx_lo * p->decode_us_per_ctx_token;
        double dec_hi = 4.42 + ctx_hi * p->decode_us_per_ctx_token;
        if (m == SY_SIM_STEP_ADDITIVE) {
            lo = p->step_base_us + 2000 * p->prefill_us_per_token + dec_lo;
            hi = p->step_base_us + 2000 * p->prefill_us_per_token + dec_hi;
        } else {
            double f = p->step_base_us - p->weight_read_us;
            double rest = 2001 * p->linear_us_per_token + 2001000.0 * p->attn_us_per_pair;
            lo = f + rest + dec_lo;
            hi = f + rest + dec_hi;
        }
        double got = (double)worst[m] / 1e3;
        assert_true(got >= lo - 0.01 && got <= hi + 0.01);
        sy_sim_engine_free(e);
    }
    assert_true(worst[SY_SIM_STEP_OVERLAP] < worst[SY_SIM_STEP_ADDITIVE]);
    /* ~134 ms against ~137.3 ms: the weight read (13.3 ms) saved, 2,001 tokens of linear FLOPs at
     * 54.95 instead of 60.888 us each (the fresh chunk has few attention pairs per token) */
    assert_true(worst[SY_SIM_STEP_ADDITIVE] - worst[SY_SIM_STEP_OVERLAP] > 15000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_overlap_formula),
        cmocka_unit_test(test_crossover),
        cmocka_unit_test(test_additive_unchanged),
        cmocka_unit_test(test_32b_constants_from_sources),
        cmocka_unit_test(test_pure_steps_match),
        cmocka_unit_test(test_engine_peak_prefill_overlap),
        cmocka_unit_test(test_engine_mixed_step_itl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
