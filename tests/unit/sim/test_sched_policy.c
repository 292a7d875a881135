/* Unit tests for src/sim/sched_policy.c: vLLM's --scheduling-policy fcfs|priority and
 * --long-prefill-token-threshold, driven through the engine.
 *
 * Hand-made profile: step base 1000 us, 100 us per prefill token, no decode terms (a decode step
 * takes exactly 1 ms), so every order below is computable by hand.
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
#include "sim/sched_policy.h"

#define MS 1000000ULL

struct rec {
    uint64_t first_ns;  /* first token time */
    uint64_t finish_ns; /* finish time */
    uint32_t ntok;      /* tokens reported */
    uint32_t preempted; /* times preempted */
};

static void on_token(void *ud, struct sy_sim_req *req, uint64_t now)
{
    struct rec *r = req->ud;
    if (req->n_output == 1)
        r->first_ns = now;
    r->ntok++;
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    struct rec *r = req->ud;
    r->finish_ns = now;
    r->preempted = req->n_preempted;
}

static struct sy_sim_profile prof(uint32_t blocks, uint32_t bs, uint32_t seqs, uint32_t budget)
{
    struct sy_sim_profile p = {.name = "test",
                               .model = "test/model",
                               .num_gpu_blocks = blocks,
                               .block_size = bs,
                               .max_num_seqs = seqs,
                               .max_num_batched_tokens = budget,
                               .max_model_len = 4096,
                               .step_base_us = 1000.0,
                               .prefill_us_per_token = 100.0};
    return p;
}

static struct sy_sim_engine *make(const struct sy_sim_profile *p, enum sy_sim_policy pol,
                                  uint32_t cap)
{
    struct sy_sim_engine_cbs cbs = {.on_token = on_token, .on_finish = on_finish};
    struct sy_sim_engine *e = sy_sim_engine_new(p, 1, &cbs);
    assert_non_null(e);
    struct sy_sim_sched s = {.policy = pol, .long_prefill_threshold = cap};
    sy_sim_engine_set_sched(e, &s);
    return e;
}

static struct sy_sim_req *submit(struct sy_sim_engine *e, uint32_t base, uint32_t n,
                                 int64_t max_tokens, int32_t prio, struct rec *r, uint64_t now)
{
    uint32_t t[512];
    assert_true(n <= 512);
    for (uint32_t i = 0; i < n; i++)
        t[i] = base + i;
    struct sy_sim_submit s = {
        .tokens = t, .n_prompt = n, .max_tokens = max_tokens, .ud = r, .priority = prio};
    struct sy_sim_req *q = sy_sim_engine_submit_ex(e, &s, now);
    assert_non_null(q);
    return q;
}

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

static void test_parse(void **state)
{
    enum sy_sim_policy p;
    assert_int_equal(sy_sim_policy_parse("fcfs", &p), 0);
    assert_int_equal(p, SY_SIM_POLICY_FCFS);
    assert_int_equal(sy_sim_policy_parse("priority", &p), 0);
    assert_int_equal(p, SY_SIM_POLICY_PRIORITY);
    assert_int_equal(sy_sim_policy_parse("lifo", &p), SY_EINVAL);
    assert_int_equal(sy_sim_policy_parse(NULL, &p), SY_EINVAL);
    assert_string_equal(sy_sim_policy_name(SY_SIM_POLICY_PRIORITY), "priority");
    assert_string_equal(sy_sim_policy_name(SY_SIM_POLICY_FCFS), "fcfs");
}

/* One sequence at a time (max-num-seqs 1): a busy request runs, then three wait. fcfs serves
 * them in arrival order whatever their priority; priority serves the lowest value first, ties
 * by arrival. */
static void order_case(enum sy_sim_policy pol, const int *want)
{
    struct sy_sim_profile p = prof(256, 4, 1, 64);
    struct sy_sim_engine *e = make(&p, pol, 0);
    struct rec busy = {0}, r[3] = {{0}};
    submit(e, 1, 4, 3, 0, &busy, 0);
    sy_sim_engine_advance(e, 0);        /* busy is running */
    submit(e, 100, 4, 2, 5, &r[0], 1);  /* arrives first, lowest priority (5) */
    submit(e, 200, 4, 2, -3, &r[1], 2); /* highest priority (-3) */
    submit(e, 300, 4, 2, 5, &r[2], 3);  /* priority 5, after r[0] */
    drain(e, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].ntok, 2);
    /* finish order */
    assert_true(r[want[0]].finish_ns < r[want[1]].finish_ns);
    assert_true(r[want[1]].finish_ns < r[want[2]].finish_ns);
    assert_true(busy.finish_ns < r[want[0]].first_ns);
    sy_sim_engine_free(e);
}

static void test_waiting_order(void **state)
{
    static const int fcfs[] = {0, 1, 2}, prio[] = {1, 0, 2};
    order_case(SY_SIM_POLICY_FCFS, fcfs);
    order_case(SY_SIM_POLICY_PRIORITY, prio);
}

/* KV pressure: 8 blocks of 4 tokens; two requests of 8 prompt + 12 output need 5 blocks each.
 * fcfs preempts the newest (b); priority preempts the lowest priority even when it is the
 * older one (a, priority 1 against b's 0), and b then finishes first. */
static void test_preemption_victim(void **state)
{
    for (int k = 0; k < 2; k++) {
        enum sy_sim_policy pol = k ? SY_SIM_POLICY_PRIORITY : SY_SIM_POLICY_FCFS;
        struct sy_sim_profile p = prof(8, 4, 4, 64);
        struct sy_sim_engine *e = make(&p, pol, 0);
        struct rec a = {0}, b = {0};
        submit(e, 10, 8, 12, 1, &a, 0);
        submit(e, 500, 8, 12, 0, &b, 0);
        drain(e, 0);
        assert_int_equal(a.ntok, 12);
        assert_int_equal(b.ntok, 12);
        if (pol == SY_SIM_POLICY_FCFS) {
            assert_int_equal(a.preempted, 0);
            assert_true(b.preempted >= 1);
            assert_true(a.finish_ns < b.finish_ns);
        } else {
            assert_true(a.preempted >= 1);
            assert_int_equal(b.preempted, 0);
            assert_true(b.finish_ns < a.finish_ns);
        }
        assert_int_equal(sy_sim_engine_free_blocks(e), 8);
        sy_sim_engine_free(e);
    }
}

/* A victim served earlier in the same step gives its tokens back: with priority, the running
 * list is [low (admitted first), high]; when high cannot grow, low (before it in the list) is
 * preempted and everything still completes with consistent accounting (engine_check). */
static void test_victim_before_current(void **state)
{
    struct sy_sim_profile p = prof(6, 4, 4, 64);
    struct sy_sim_engine *e = make(&p, SY_SIM_POLICY_PRIORITY, 0);
    struct rec lo = {0}, hi = {0};
    submit(e, 10, 4, 16, 9, &lo, 0);
    sy_sim_engine_advance(e, 0); /* lo admitted alone */
    submit(e, 900, 4, 16, 0, &hi, 1);
    drain(e, 1);
    assert_int_equal(lo.ntok, 16);
    assert_int_equal(hi.ntok, 16);
    assert_true(lo.preempted >= 1);
    assert_int_equal(hi.preempted, 0);
    assert_true(hi.finish_ns < lo.finish_ns);
    sy_sim_engine_free(e);
}

/* --long-prefill-token-threshold: a 400-token prompt with a 100-token cap is prefilled over 4
 * steps of 1 + 100 x 0.1 = 11 ms instead of one step of 41 ms; a short prompt arriving meanwhile
 * is admitted into the second step (12 ms with its 10 tokens), not after a 41 ms one. */
static void test_long_prefill_cap(void **state)
{
    struct sy_sim_profile p = prof(1024, 16, 8, 8192);
    struct sy_sim_engine *e = make(&p, SY_SIM_POLICY_FCFS, 100);
    struct rec lng = {0}, sh = {0};
    submit(e, 1, 400, 1, 0, &lng, 0);
    sy_sim_engine_advance(e, 0);
    submit(e, 5000, 10, 1, 0, &sh, 1 * MS);
    drain(e, 1 * MS);
    assert_int_equal(lng.first_ns, 45 * MS); /* 11 + 12 + 11 + 11 */
    /* step 2 (11..23 ms) carries 100 + 10 tokens: 1 + 110 x 0.1 = 12 ms */
    assert_int_equal(sh.first_ns, 23 * MS);
    sy_sim_engine_free(e);

    e = make(&p, SY_SIM_POLICY_FCFS, 0); /* no cap: one 41 ms step, the short one after it */
    memset(&lng, 0, sizeof lng);
    memset(&sh, 0, sizeof sh);
    submit(e, 1, 400, 1, 0, &lng, 0);
    sy_sim_engine_advance(e, 0);
    submit(e, 5000, 10, 1, 0, &sh, 1 * MS);
    drain(e, 1 * MS);
    assert_int_equal(lng.first_ns, 41 * MS);
    assert_int_equal(sh.first_ns, 43 * MS);
    sy_sim_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_waiting_order),
        cmocka_unit_test(test_preemption_victim),
        cmocka_unit_test(test_victim_before_current),
        cmocka_unit_test(test_long_prefill_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
