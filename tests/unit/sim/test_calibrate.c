/* Unit tests for src/sim/calibrate.c: the calibration report's arithmetic (each static row is the
 * model evaluated at the figure's shape, error and flag follow from the documented tolerance),
 * the KV-read formula, and the load runs (validation, determinism, light-load sanity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/calibrate.h"

static const struct sy_sim_calib_row *find_row(const struct sy_sim_calib_report *r,
                                               const char *prefix)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (strncmp(r->rows[i].figure, prefix, strlen(prefix)) == 0)
            return &r->rows[i];
    return NULL;
}

/* 256 KiB per token (Qwen3-32B), TP2, 3.35 TB/s per GPU: 131,072 B / 3.35e6 B/us at 100%. */
static void test_kv_formula(void **state)
{
    double us = sy_sim_calib_kv_us_per_token(262144, 2, 3.35e6, 1.0);
    assert_true(fabs(us - 131072.0 / 3.35e6) < 1e-12);
    assert_true(fabs(us - 0.039126) < 1e-6);
    /* TP2 doubles the bandwidth: same as whole-model bytes over 6.7 TB/s */
    assert_true(fabs(us - 262144.0 / 6.7e6) < 1e-12);
    /* tp 0 is treated as 1 */
    assert_true(fabs(sy_sim_calib_kv_us_per_token(147456, 0, 3.35e6, 0.5) - 147456.0 / 1.675e6) <
                1e-12);
    /* the profile's term is that formula at the measured stream efficiency */
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    assert_true(fabs(p->decode_us_per_ctx_token -
                     sy_sim_calib_kv_us_per_token(p->kv_bytes_per_token, p->tp_size, 3.35e6,
                                                  0.7687)) < 1e-9);
}

/* Static rows: the model value is the step formula at the row's shape and err/flag follow. */
static void test_static_rows(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    struct sy_sim_calib_report *r = calloc(1, sizeof *r);
    sy_sim_calib_report(p, true, r);
    assert_int_equal(r->nrows, 13);
    assert_int_equal(r->nscen, 0);
    size_t flagged = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const struct sy_sim_calib_row *w = &r->rows[i];
        assert_false(w->load);
        assert_true(w->source_value > 0);
        double err = 100.0 * (w->model_value - w->source_value) / w->source_value;
        assert_true(fabs(err - w->err_pct) < 1e-9);
        assert_int_equal(w->flagged, fabs(err) > w->tol_pct);
        flagged += w->flagged;
    }
    assert_int_equal(flagged, r->nflagged);

    const struct sy_sim_calib_row *pk = find_row(r, "peak prefill");
    assert_non_null(pk);
    assert_string_equal(pk->kind, "measured");
    assert_true(fabs(pk->source_value - 15928) < 1e-9);
    /* 8192 tokens over one full-budget step: base + 8192 x prefill coefficient */
    double step_s = (p->step_base_us + 8192 * p->prefill_us_per_token) / 1e6;
    assert_true(fabs(pk->model_value - 8192 / step_s) < 0.5);
    assert_false(pk->flagged);

    const struct sy_sim_calib_row *cap = find_row(r, "KV capacity, gpu");
    assert_non_null(cap);
    assert_true(cap->model_value == 275760.0 && cap->err_pct == 0.0);

    const struct sy_sim_calib_row *d = find_row(r, "decode step, batch 64, 4k");
    assert_non_null(d);
    double ms =
        (p->step_base_us + 64 * p->decode_us_per_seq + 64.0 * 4096 * p->decode_us_per_ctx_token) /
        1e3;
    assert_true(fabs(d->model_value - ms) < 1e-3);
    assert_true(fabs(d->source_value - 35.8) < 1e-9);
    free(r);
}

/* A profile the reference has no figures for gets an empty report. */
static void test_no_figures(void **state)
{
    struct sy_sim_calib_report *r = calloc(1, sizeof *r);
    sy_sim_calib_report(sy_sim_profile_find("deepseek-r1-wideep-decode-h200"), false, r);
    assert_int_equal(r->nrows, 0);
    assert_int_equal(r->nscen, 0);
    free(r);
}

static void test_load_rejects(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    struct sy_sim_calib_result res;
    struct sy_sim_calib_load ok = {2, 512, 64, 32, 1.0, 100, 50, 1};
    struct sy_sim_calib_load w = ok;
    w.groups = 0;
    assert_int_equal(sy_sim_calib_run_load(p, &w, &res), SY_EINVAL);
    w = ok;
    w.rate = 0;
    assert_int_equal(sy_sim_calib_run_load(p, &w, &res), SY_EINVAL);
    w = ok;
    w.window_s = 200;
    assert_int_equal(sy_sim_calib_run_load(p, &w, &res), SY_EINVAL);
    w = ok;
    w.system_tokens = 40900; /* + 64 question + 32 output > max_model_len 40960 */
    assert_int_equal(sy_sim_calib_run_load(p, &w, &res), SY_EINVAL);
    assert_int_equal(sy_sim_calib_run_load(NULL, &ok, &res), SY_EINVAL);
}

/* Light load: the replica keeps up, so it finishes what arrives (~1 req/s), the batch is small,
 * the shared prompts hit the cache, TPOT is close to a small-batch decode step and nothing is
 * preempted. The same seed gives the same numbers. */
static void test_load_light(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    struct sy_sim_calib_load w = {2, 512, 64, 32, 1.0, 400, 200, 7};
    struct sy_sim_calib_result a, b;
    assert_int_equal(sy_sim_calib_run_load(p, &w, &a), 0);
    assert_int_equal(sy_sim_calib_run_load(p, &w, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(a.finished > 150 && a.finished < 250); /* Poisson(200) */
    assert_true(fabs(a.req_s - (double)a.finished / 200.0) < 1e-9);
    assert_true(fabs(a.out_tok_s - 32.0 * a.req_s) < 0.5 * 32.0); /* window edges */
    assert_true(a.batch < 2.0);
    assert_true(a.hit_rate > 0.7); /* 512 of 576 prompt tokens shared by 2 groups */
    assert_int_equal(a.preempted, 0);
    double b1 = (double)sy_sim_step_ns(p, 0, 1, 576) / 1e6;
    assert_true(a.tpot_ms > b1 * 0.99 && a.tpot_ms < b1 * 1.5);
    assert_true(a.ttft_s > 0 && a.ttft_s < 0.2);
}

/* Overload: arrivals far above what one replica decodes. The batch is KV-bound (the capacity
 * divided by the unshared tokens per request), output is below the offered 1,000 tok/s per req/s,
 * and requests queue (TTFT grows). */
static void test_load_saturated(void **state)
{
    const struct sy_sim_profile *p = sy_sim_profile_find("qwen3-32b-tp2-h100");
    struct sy_sim_calib_load w = {19, 6000, 1200, 1000, 5.0, 200, 80, 1};
    struct sy_sim_calib_result a;
    assert_int_equal(sy_sim_calib_run_load(p, &w, &a), 0);
    assert_true(a.req_s < 2.5);
    assert_true(a.out_tok_s < 2500);
    assert_true(a.ttft_s > 10);
    double cap = (double)p->num_gpu_blocks * p->block_size;
    assert_true(a.batch > 40 && a.batch < cap / 1200.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_formula), cmocka_unit_test(test_static_rows),
        cmocka_unit_test(test_no_figures), cmocka_unit_test(test_load_rejects),
        cmocka_unit_test(test_load_light), cmocka_unit_test(test_load_saturated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
