/* Unit tests for src/disagg/disagg.c: the prefill leg's slot reservation (reserve_leg) and what a
 * first leg that finds no prefill endpoint with room ends in, driven through sy_disagg_start with a
 * real P/D scheduler over hand-built endpoints (a leg is sent only to a closed port, and
 * cancelled), and a leg whose body the connector cannot build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/buf.h"
#include "disagg/disagg.h"
#include "disagg/internal.h"
#include "http/client.h"
#include "metrics/metrics.h"
#include "prefix/approx_index.h"
#include "prefix/prefix_sched.h"
#include "sched/plugins.h"
#include "unit/sched/sched_helpers.h"

#define NPREFILL     9  /* more prefill endpoints than SY_SCHED_CHARGE_TRIES picks */
#define NPREFILL_MAX 48 /* more than reserve_leg keeps on its stack (32 failed + 8 picks) */

/* What the exchange called back. */
struct seen {
    int decodes;   /* host.decode calls */
    int status;    /* host.fail status, 0 = none */
    char code[64]; /* host.fail code */
    char msg[200]; /* host.fail message */
};

static void on_decode(void *ud)
{
    ((struct seen *)ud)->decodes++;
}

static void on_respond(void *ud, int status, const char *head_lines, const char *body, size_t len)
{
    (void)head_lines;
    (void)body;
    (void)len;
    ((struct seen *)ud)->status = status;
}

static void on_fail(void *ud, int status, const char *code, const char *msg)
{
    struct seen *s = ud;
    s->status = status;
    snprintf(s->code, sizeof s->code, "%s", code);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
}

/* The fixture: np (NPREFILL unless set) prefill endpoints p0.. (queue-scorer ranks p0 first:
 * waiting = index), every one at its concurrency-detector limit (1 in flight) when the exchange
 * starts, and one decode endpoint. full_at_pick: they were full already when the decision read them
 * (its prefill filter failed open), else they had room then and other requests took their slots
 * since. */
struct fx {
    struct sy_scheduler *s;                    /* fx_pd_sched, metrics attached */
    struct sy_metrics *m;                      /* scheduler and P/D metric families */
    struct sy_disagg_metrics *dm;              /* the exchange's counters on m */
    int np;                                    /* prefill endpoints: eps[0..np) */
    struct sy_endpoint *eps[NPREFILL_MAX + 1]; /* p0.., then the decode endpoint (eps[np]) */
    struct sy_pool *p;                         /* owns eps */
    struct sy_request r;                       /* a completions request */
    struct sy_config cfg;                      /* pool.disaggregation */
    struct sy_sched_result res;                /* the decision the exchange runs on */
    struct seen seen;                          /* the host callbacks' record */
    const struct sy_disagg_connector *conn;    /* replaces the config's connector; NULL: none */
};

static void fx_init_np(struct fx *f, enum sy_disagg_fallback fallback, bool full_at_pick, int np)
{
    memset(f, 0, sizeof *f);
    f->np = np;
    f->s = fx_pd_sched("{maxConcurrency: 1}");
    f->m = sy_metrics_new();
    sy_sched_attach_metrics(f->s, f->m);
    f->dm = sy_disagg_metrics_new(f->m);
    for (int i = 0; i < np; i++) {
        char a[16];
        snprintf(a, sizeof a, "p%d:1", i);
        f->eps[i] = fx_ep(a, "llm-d.ai/role=prefill", i, 0, 0);
        atomic_store(&f->eps[i]->inflight_requests, full_at_pick ? 1 : 0);
    }
    f->eps[np] = fx_ep("d:1", "llm-d.ai/role=decode", 0, 0, 0);
    f->p = fx_pool(f->eps, (size_t)np + 1);
    fx_req(&f->r, "m", 10);
    f->r.body = "{\"model\":\"m\",\"prompt\":\"hello\"}";
    f->r.body_len = strlen(f->r.body);
    sy_disagg_config_defaults(&f->cfg.disagg);
    f->cfg.disagg.fallback = fallback;
    assert_int_equal(sy_sched_pick(f->s, f->p, &f->r, NULL, 0, &f->res), 0);
    assert_ptr_equal(f->res.ep, f->eps[np]);
    assert_ptr_equal(f->res.prefill_ep, f->eps[0]);
    assert_int_equal(f->res.prefill_failed_open, full_at_pick); /* every one full: fails open */
    for (int i = 0; i < np; i++)
        atomic_store(&f->eps[i]->inflight_requests, 1);
}

static void fx_init_at(struct fx *f, enum sy_disagg_fallback fallback, bool full_at_pick)
{
    fx_init_np(f, fallback, full_at_pick, NPREFILL);
}

static void fx_init(struct fx *f, enum sy_disagg_fallback fallback)
{
    fx_init_at(f, fallback, true);
}

/* Starts an exchange on the fixture's decision, its legs sent through up (NULL: none may be
 * sent); returns it (free with sy_disagg_free). */
static struct sy_disagg *start_up(struct fx *f, unsigned flags, struct sy_upstream_pool *up)
{
    struct sy_disagg_host h = {
        .upstreams = up,
        .cfg = &f->cfg,
        .sched = f->s,
        .metrics = f->dm,
        .req = &f->r,
        .method = sy_str_c("POST"),
        .url = sy_str_c("/v1/completions"),
        .fwd_headers = "",
        .request_id = "rid-1",
        .decode = on_decode,
        .respond = on_respond,
        .fail = on_fail,
        .ud = &f->seen,
    };
    struct sy_disagg *dx = sy_disagg_new(&h);
    if (f->conn)
        dx->conn = f->conn;
    sy_disagg_start(dx, &f->res, flags);
    return dx;
}

static struct sy_disagg *start(struct fx *f, unsigned flags)
{
    return start_up(f, flags, NULL);
}

static void fx_fini(struct fx *f)
{
    for (int i = 0; i < f->np; i++)
        assert_int_equal(atomic_load(&f->eps[i]->inflight_requests), 1); /* nothing held */
    sy_sched_done(f->s, &f->res, false);
    for (int i = 0; i < f->np; i++)
        atomic_store(&f->eps[i]->inflight_requests, 0);
    sy_sched_free(f->s);
    sy_disagg_metrics_free(f->dm);
    sy_metrics_free(f->m);
    sy_pool_unref(f->p);
}

/* A first leg without a fallback that finds no prefill slot, the endpoints full at the decision
 * (full_at_pick) or since: it ends in 429 rejected-saturated with res->prefill_ep on pick last
 * (-1: none, the last re-pick found no endpoint left), the prefill profile run runs times and
 * lost slots counted. */
static void check_no_slot(bool full_at_pick, int last, int runs, int lost)
{
    struct fx f;
    fx_init_at(&f, SY_DISAGG_FALLBACK_NONE, full_at_pick);
    struct sy_disagg *dx = start(&f, 0);
    assert_int_equal(f.seen.status, 429);
    assert_string_equal(f.seen.code, "rejected-saturated");
    assert_int_equal(f.seen.decodes, 0);
    assert_ptr_equal(f.res.prefill_ep, last >= 0 ? f.eps[last] : NULL);
    char want[256];
    snprintf(want, sizeof want,
             "inference_extension_plugin_duration_seconds_count{extension_point=\"Filter\","
             "plugin_type=\"prefill-filter\",plugin_name=\"prefill-filter\"} %d\n",
             runs);
    assert_true(fx_metrics_has(f.m, want));
    snprintf(want, sizeof want, "switchyard_scheduler_slot_lost_total %d\n", lost);
    assert_true(fx_metrics_has(f.m, want));
    assert_true(fx_metrics_has(f.m, "switchyard_pd_prefill_fail_open_total 0\n"));
    assert_true(fx_metrics_has(f.m, "switchyard_pd_exchanges_total{connector=\"nixlv2\",outcome="
                                    "\"error\"} 1\n"));
    sy_disagg_free(dx);
    fx_fini(&f);
}

/* Every prefill endpoint full already when the decision read them (its prefill filter failed
 * open): reserve_leg tries that pick's reservation and re-runs nothing (a re-pick would find them
 * all full as well: the profile ran 8 times per request here, when the gateway is saturated), and
 * counts no slot lost. */
static void test_reserve_failed_open_no_repick(void **state)
{
    (void)state;
    check_no_slot(true, 0, 1, 0);
}

/* Every prefill endpoint had room when the decision read them and is full when the leg reserves
 * (other requests took the slots: real lost slots): reserve_leg tries every one (p0..p8, the
 * prefill profile run once per pick and once more to find none left), each counted lost, and
 * leaves res->prefill_ep on none (it names no endpoint never reserved). It stopped after
 * SY_SCHED_CHARGE_TRIES picks (p0..p7) with 9 prefill endpoints and never tried p8, which may
 * have had room (test_leg_tries_every_prefill_endpoint). */
static void test_reserve_tries_every_pick(void **state)
{
    (void)state;
    check_no_slot(false, -1, NPREFILL + 1, NPREFILL);
}

/* fallback: decode-only and no prefill endpoint with room for the first leg: the request goes to
 * its decode pick (which holds its slot already), marked and counted as prefill_saturated, where
 * it got 429 before; a decode retry's first leg falls back the same way. */
static void test_first_leg_no_room_falls_back(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, SY_DISAGG_FALLBACK_DECODE_ONLY);
    struct sy_disagg *dx = start(&f, 0);
    assert_int_equal(f.seen.status, 0);
    assert_int_equal(f.seen.decodes, 1);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_disagg_response_headers(dx, &b);
    assert_string_equal(b.data, "x-switchyard-pd-fallback: prefill_saturated\r\n");
    sy_buf_fini(&b);
    assert_true(
        fx_metrics_has(f.m, "switchyard_pd_fallback_total{reason=\"prefill_saturated\"} 1\n"));
    assert_true(fx_metrics_has(f.m, "switchyard_pd_exchanges_total{connector=\"nixlv2\",outcome="
                                    "\"fallback\"} 1\n"));
    /* the decode leg failed and is retried: its new first leg falls back as well */
    sy_sched_done(f.s, &f.res, false);
    assert_int_equal(sy_sched_pick(f.s, f.p, &f.r, NULL, 0, &f.res), 0);
    sy_disagg_start(dx, &f.res, SY_DISAGG_RETRY);
    assert_int_equal(f.seen.status, 0);
    assert_int_equal(f.seen.decodes, 2);
    assert_true(
        fx_metrics_has(f.m, "switchyard_pd_fallback_total{reason=\"prefill_saturated\"} 2\n"));
    sy_disagg_free(dx);
    fx_fini(&f);
}

/* Without a fallback a decode retry whose first leg finds no room keeps the decode failure's
 * 502 upstream_unavailable (never 429). */
static void test_retry_no_room_keeps_502(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, SY_DISAGG_FALLBACK_NONE);
    struct sy_disagg *dx = start(&f, SY_DISAGG_RETRY);
    assert_int_equal(f.seen.status, 502);
    assert_string_equal(f.seen.code, "upstream_unavailable");
    assert_int_equal(f.seen.decodes, 0);
    sy_disagg_free(dx);
    fx_fini(&f);
}

/* A leg started with flags (SY_DISAGG_GATED: the flow-control gate on). With the gate on, a first
 * leg whose every pick was found full since the decision (other requests took the slots, on
 * another worker) takes a pick with no cap, as if its filter had failed open (the gate is the
 * bound), where it got 429 rejected-saturated: once every prefill endpoint was tried (the re-pick
 * then finds none left and a run over them all picks p0 again), each pick counted lost and the
 * uncapped one in switchyard_pd_prefill_fail_open_total. room >= 0 leaves that endpoint with room:
 * the leg reserves it under its limit after picks p0..room-1 were found full, and nothing fails
 * open (room < 0 only with the gate: without it the leg gets 429). The leg is sent (to a closed
 * port, never reached: the exchange is freed first, which gives the slot back). */
static void check_leg(unsigned flags, int np, int room, bool others_full_at_pick)
{
    struct fx f;
    fx_init_np(&f, SY_DISAGG_FALLBACK_NONE, false, np);
    if (others_full_at_pick) { /* decide again: only p0 had room, so every re-pick fails open */
        sy_sched_done(f.s, &f.res, false);
        for (int i = 1; i < np; i++)
            atomic_store(&f.eps[i]->inflight_requests, 1);
        atomic_store(&f.eps[0]->inflight_requests, 0);
        assert_int_equal(sy_sched_pick(f.s, f.p, &f.r, NULL, 0, &f.res), 0);
        assert_ptr_equal(f.res.prefill_ep, f.eps[0]);
        assert_false(f.res.prefill_failed_open);
        atomic_store(&f.eps[0]->inflight_requests, 1);
    }
    for (int i = 0; i < np; i++) {
        struct sockaddr_in *a = (struct sockaddr_in *)&f.eps[i]->addr;
        assert_int_equal(uv_ip4_addr("127.0.0.1", 9, a), 0);
    }
    if (room >= 0)
        atomic_store(&f.eps[room]->inflight_requests, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sy_upstream_pool *up = sy_upstream_pool_new(&loop, 1000000000, 4);
    struct sy_disagg *dx = start_up(&f, flags, up);
    assert_int_equal(f.seen.status, 0);
    assert_int_equal(f.seen.decodes, 0);
    int last = room >= 0 ? room : 0;
    assert_ptr_equal(f.res.prefill_ep, f.eps[last]);
    /* under its limit of 1, or over it */
    assert_int_equal(atomic_load(&f.eps[last]->inflight_requests), room >= 0 ? 1 : 2);
    char want[80];
    snprintf(want, sizeof want, "switchyard_scheduler_slot_lost_total %d\n", room >= 0 ? room : np);
    assert_true(fx_metrics_has(f.m, want));
    snprintf(want, sizeof want, "switchyard_pd_prefill_fail_open_total %d\n", room >= 0 ? 0 : 1);
    assert_true(fx_metrics_has(f.m, want));
    sy_disagg_free(dx);
    sy_upstream_pool_free(up);
    for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&loop), 0);
    if (room >= 0) {
        assert_int_equal(atomic_load(&f.eps[room]->inflight_requests), 0); /* given back */
        atomic_store(&f.eps[room]->inflight_requests, 1);
    }
    fx_fini(&f); /* every slot back at 1 */
}

static void check_gated_leg(int np, int room, bool others_full_at_pick)
{
    check_leg(SY_DISAGG_GATED, np, room, others_full_at_pick);
}

/* Every prefill endpoint tried before the leg fails open: with more of them than
 * SY_SCHED_CHARGE_TRIES it took the 8th pick (p7) with no cap and never tried p8, which may have
 * had room, and its uncapped pick was told apart from the lost slots by nothing. */
static void test_gated_first_leg_all_found_full_fails_open(void **state)
{
    (void)state;
    check_gated_leg(NPREFILL, -1, false); /* p0..p8 found full; a run over them all picks p0 */
    check_gated_leg(2, -1, false);        /* p0, p1 found full; a run over both picks p0 again */
    check_gated_leg(NPREFILL, NPREFILL - 1, false); /* the 9th pick has room: under its cap */
    check_gated_leg(NPREFILL_MAX, NPREFILL_MAX - 3, false); /* more picks than the stack holds */
    check_gated_leg(NPREFILL_MAX, -1, false);
}

/* A leg without the gate (a first leg, a decode retry's first leg) re-picks the same way: with 9
 * or more prefill endpoints it stopped after SY_SCHED_CHARGE_TRIES picks (p0..p7) and answered
 * 429 (or fell back to decode-only) while p8, never tried, had room. Now the ninth pick is
 * reserved under its limit, and past the stack's picks as well. */
static void test_leg_tries_every_prefill_endpoint(void **state)
{
    (void)state;
    check_leg(0, NPREFILL, NPREFILL - 1, false);
    check_leg(SY_DISAGG_RETRY, NPREFILL, NPREFILL - 1, false);
    check_leg(0, NPREFILL_MAX, NPREFILL_MAX - 3, false);
    /* only p0 had room at the decision, so every re-pick's run fails open: the leg stopped after
     * the first re-pick with 429 and never tried p7, freed since */
    check_leg(0, NPREFILL, NPREFILL - 2, true);
}

/* Only p0 had room at the decision, so every re-pick's run fails open (no caps): the leg took
 * the first re-pick, p1, over its limit, never tried p2..p8 and counted nothing as failed open.
 * Held to the limits, it tries them all; one freed since the decision is taken under its cap. */
static void test_gated_leg_repick_failed_open_held_to_limits(void **state)
{
    (void)state;
    check_gated_leg(NPREFILL, -1, true);
    check_gated_leg(NPREFILL, NPREFILL - 2, true);
    check_gated_leg(NPREFILL_MAX, -1, true);
}

/* SGLang: the prefill and the decode leg both name the prefill endpoint (bootstrap_host). With
 * p0 (the decision's pick) and p1 found full since the decision and p2 with room, the leg goes to
 * p2 and the decode body must bootstrap from p2: the body was built for p0 before the re-pick, so
 * the decode leg waited on a room p0 never got. */
static void test_sglang_repick_names_the_endpoint_that_got_the_slot(void **state)
{
    (void)state;
    struct fx f;
    fx_init_np(&f, SY_DISAGG_FALLBACK_NONE, false, 3);
    f.cfg.disagg.connector = SY_DISAGG_SGLANG;
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in *a = (struct sockaddr_in *)&f.eps[i]->addr;
        assert_int_equal(uv_ip4_addr("127.0.0.1", 9, a), 0);
    }
    atomic_store(&f.eps[2]->inflight_requests, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sy_upstream_pool *up = sy_upstream_pool_new(&loop, 1000000000, 4);
    struct sy_disagg *dx = start_up(&f, 0, up);
    assert_int_equal(f.seen.status, 0);
    assert_int_equal(f.seen.decodes, 1); /* SGLang: decode starts beside the prefill leg */
    assert_ptr_equal(f.res.prefill_ep, f.eps[2]);
    uv_buf_t bufs[8];
    size_t len = 0, nb = sy_disagg_decode_body(dx, bufs, 8, &len);
    struct sy_buf body;
    sy_buf_init(&body);
    for (size_t i = 0; i < nb; i++)
        sy_buf_append(&body, bufs[i].base, bufs[i].len);
    sy_buf_append(&body, "", 1);
    assert_non_null(strstr(body.data, "\"bootstrap_host\":\"p2\""));
    assert_null(strstr(body.data, "\"p0\""));
    sy_buf_fini(&body);
    sy_disagg_free(dx);
    sy_upstream_pool_free(up);
    for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&loop), 0);
    atomic_store(&f.eps[2]->inflight_requests, 1);
    fx_fini(&f);
}

/* A prefill leg whose body the connector cannot build (nixlv2's splice refuses a body that is no
 * JSON object; the front end's parser refuses it first, so only this test reaches the path) ends
 * the exchange with 400 invalid_json, counted as an error exchange, and leaves no trace of the leg
 * that never went out: its slot is given back, no attempt, retry or fail-open is counted and the
 * prompt is not recorded on the prefill pick in the approximate prefix index. It was recorded and
 * counted before the body was built. full: with the gate on (SY_DISAGG_GATED), the one prefill
 * endpoint was found full since the decision, so the leg takes it with no cap (fail-open, counted
 * before the body was built on the old code). The same request with a good body, its leg sent (to
 * a closed port, cancelled), records and counts: the control that shows the index and the counts
 * would see a leg; freeing the exchange gives its slot back. A retry cannot reach the path (the
 * first leg's body would have failed the same way): its count is checked to stay 0 all the same. */
static void check_body(bool good, bool full)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    f.s =
        fx_pd_sched_with("{maxConcurrency: 1}",
                         "- {type: approx-prefix-cache-producer, parameters: {autoTune: false}}\n");
    f.m = sy_metrics_new();
    sy_sched_attach_metrics(f.s, f.m);
    f.dm = sy_disagg_metrics_new(f.m);
    struct sy_approx_index *idx = NULL;
    for (size_t i = 0; i < f.s->nproducers; i++)
        if (f.s->producers[i]->ops == &sy_plugin_approx_prefix_cache_producer)
            idx = sy_approx_prefix_producer_index(f.s->producers[i]->state);
    assert_non_null(idx);
    f.np = 1;
    f.eps[0] = fx_ep("p0:1", "llm-d.ai/role=prefill", 0, 0, 0);
    f.eps[1] = fx_ep("d:1", "llm-d.ai/role=decode", 0, 0, 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 9, (struct sockaddr_in *)&f.eps[0]->addr), 0);
    f.p = fx_pool(f.eps, 2);
    /* the bad body is the good one without its closing brace; the prompt view is the same */
    static const char body[] = "{\"model\":\"m\",\"prompt\":\"one prompt, hashed for the index\"}";
    fx_req(&f.r, "m", 10);
    f.r.body = body;
    f.r.body_len = strlen(body) - (good ? 0 : 1);
    f.r.prompt = (struct sy_str){body + 23, strlen(body) - 25};
    sy_disagg_config_defaults(&f.cfg.disagg);
    assert_int_equal(sy_sched_pick(f.s, f.p, &f.r, NULL, 0, &f.res), 0);
    assert_ptr_equal(f.res.prefill_ep, f.eps[0]);
    assert_false(f.res.prefill_failed_open);
    assert_int_equal(sy_approx_index_count(idx, f.eps[0]), 0);
    int base = full ? 1 : 0; /* in flight on p0 that is not this leg's */
    atomic_store(&f.eps[0]->inflight_requests, base);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sy_upstream_pool *up = sy_upstream_pool_new(&loop, 1000000000, 4);
    struct sy_disagg *dx = start_up(&f, full ? SY_DISAGG_GATED : 0, up);
    assert_int_equal(f.seen.decodes, 0);
    assert_true(fx_metrics_has(f.m, "switchyard_pd_prefill_retries_total 0\n"));
    static const char error[] =
        "switchyard_pd_exchanges_total{connector=\"nixlv2\",outcome=\"error\"} 1\n";
    if (good) {
        assert_int_equal(f.seen.status, 0);
        assert_int_equal(dx->attempts, 1);
        assert_int_equal(atomic_load(&f.eps[0]->inflight_requests), base + 1); /* the leg's */
        assert_true(sy_approx_index_count(idx, f.eps[0]) > 0);
        assert_true(fx_metrics_has(f.m, full ? "switchyard_pd_prefill_fail_open_total 1\n"
                                             : "switchyard_pd_prefill_fail_open_total 0\n"));
        assert_false(fx_metrics_has(f.m, error));
    } else {
        assert_int_equal(f.seen.status, 400);
        assert_string_equal(f.seen.code, "invalid_json");
        assert_int_equal(sy_approx_index_count(idx, f.eps[0]), 0);
        assert_int_equal(dx->attempts, 0);
        assert_int_equal(atomic_load(&f.eps[0]->inflight_requests), base); /* given back */
        assert_true(fx_metrics_has(f.m, "switchyard_pd_prefill_fail_open_total 0\n"));
        assert_true(fx_metrics_has(f.m, error));
    }
    sy_disagg_free(dx);
    assert_int_equal(atomic_load(&f.eps[0]->inflight_requests), base); /* the slot is back */
    sy_upstream_pool_free(up);
    for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++)
        ;
    assert_int_equal(uv_loop_close(&loop), 0);
    atomic_store(&f.eps[0]->inflight_requests, 1); /* what fx_fini checks: nothing held */
    fx_fini(&f);
}

static void test_unbuildable_prefill_body_leaves_no_trace(void **state)
{
    (void)state;
    check_body(false, false);
    check_body(true, false);
    check_body(false, true);
    check_body(true, true);
}

static int failing_decode_body(struct sy_disagg *dx, struct sy_json_splice *out, char *err,
                               size_t errcap)
{
    (void)dx;
    (void)out;
    snprintf(err, errcap, "refused by the test");
    return -1;
}

/* A decode body the connector cannot build (a connector without a prefill leg, as sidecar, whose
 * decode_body refuses: the shipped ones only refuse a body the front end's parser refuses first)
 * ends the exchange with 500 internal_error, counted as an error exchange, no decode leg sent. */
static void test_unbuildable_decode_body_counts_an_error(void **state)
{
    (void)state;
    static const struct sy_disagg_connector refusing = {
        .name = "refusing",
        .decode_body = failing_decode_body,
    };
    struct fx f;
    fx_init(&f, SY_DISAGG_FALLBACK_NONE);
    f.conn = &refusing;
    struct sy_disagg *dx = start(&f, 0);
    assert_int_equal(f.seen.status, 500);
    assert_string_equal(f.seen.code, "internal_error");
    assert_int_equal(f.seen.decodes, 0);
    assert_true(fx_metrics_has(f.m, "switchyard_pd_exchanges_total{connector=\"refusing\","
                                    "outcome=\"error\"} 1\n"));
    sy_disagg_free(dx);
    fx_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_failed_open_no_repick),
        cmocka_unit_test(test_reserve_tries_every_pick),
        cmocka_unit_test(test_leg_tries_every_prefill_endpoint),
        cmocka_unit_test(test_first_leg_no_room_falls_back),
        cmocka_unit_test(test_retry_no_room_keeps_502),
        cmocka_unit_test(test_gated_first_leg_all_found_full_fails_open),
        cmocka_unit_test(test_gated_leg_repick_failed_open_held_to_limits),
        cmocka_unit_test(test_sglang_repick_names_the_endpoint_that_got_the_slot),
        cmocka_unit_test(test_unbuildable_prefill_body_leaves_no_trace),
        cmocka_unit_test(test_unbuildable_decode_body_counts_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
