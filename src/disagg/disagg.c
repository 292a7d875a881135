/* disagg.c - one P/D exchange: the prefill leg, its retries and fallback, and what the decode leg
 * carries (see disagg.h for the flow, internal.h for the state).
 *
 *   start --conn->prefill_leg?--no--> decode (sidecar: extra header only)
 *            | yes
 *            v
 *   reserve a slot on the prefill pick (its profile's concurrency limits; full: repick, then
 *            fallback decode-only (prefill_saturated) or 429 rejected-saturated, or on a retried
 *            leg the retry's failure)
 *   send prefill leg (own head + body, in-flight +1 on the prefill endpoint)
 *            |-- concurrent (sglang): decode now; the answer is read and dropped
 *            v
 *   answer: error / 5xx  -> failed[] += endpoint; repick (exclude failed[]) while attempts <
 *                           prefillMaxAttempts; then fallback decode-only or 502/504
 *           4xx          -> respond (the prefill's own status and body)
 *           2xx          -> take_answer ok -> decode; else fallback or 502
 *
 * Every prefill leg is released (in-flight -1) exactly once: when its answer completes, when it
 * fails, or when it is cancelled (client gone: sy_disagg_free). An sglang leg outlives the client
 * (orphan) and frees the exchange when it ends.
 *
 * Logging: every fallback and every prefill failure is a warning naming the request id and the
 * endpoint; counters in disagg_metrics.c. Nothing falls back silently.
 */
#include "disagg/disagg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "disagg/internal.h"
#include "pool/pool.h"

struct sy_disagg_metrics {
    struct sy_metric *prefill_s;        /* switchyard_pd_prefill_duration_seconds */
    struct sy_metric *handover_s;       /* switchyard_pd_kv_handover_seconds */
    struct sy_metric *decode_s;         /* switchyard_pd_decode_duration_seconds */
    struct sy_metric *retries;          /* switchyard_pd_prefill_retries_total */
    struct sy_metric *fail_open;        /* switchyard_pd_prefill_fail_open_total */
    struct sy_metric_family *fallbacks; /* switchyard_pd_fallback_total{reason} */
    struct sy_metric_family *failures;  /* switchyard_pd_prefill_failures_total{reason} */
    struct sy_metric_family *exchanges; /* switchyard_pd_exchanges_total{connector,outcome} */
};

struct sy_disagg_metrics *sy_disagg_metrics_new(struct sy_metrics *reg)
{
    if (!reg)
        return NULL;
    struct sy_disagg_metrics *m = SY_NEW(struct sy_disagg_metrics);
    struct sy_metric_family *f;
    f = sy_metrics_family(reg, "switchyard_pd_prefill_duration_seconds",
                          "P/D prefill leg: request sent to answer complete, in seconds.",
                          SY_METRIC_HISTOGRAM, NULL, sy_buckets_latency, sy_buckets_latency_n);
    m->prefill_s = f ? sy_metric_get(f, NULL) : NULL;
    f = sy_metrics_family(reg, "switchyard_pd_kv_handover_seconds",
                          "P/D KV hand-over: prefill answer to the decode leg's first byte "
                          "(KV pull plus the first decode step), in seconds.",
                          SY_METRIC_HISTOGRAM, NULL, sy_buckets_latency, sy_buckets_latency_n);
    m->handover_s = f ? sy_metric_get(f, NULL) : NULL;
    f = sy_metrics_family(reg, "switchyard_pd_decode_duration_seconds",
                          "P/D decode leg: request sent to answer complete, in seconds.",
                          SY_METRIC_HISTOGRAM, NULL, sy_buckets_latency, sy_buckets_latency_n);
    m->decode_s = f ? sy_metric_get(f, NULL) : NULL;
    f = sy_metrics_family(reg, "switchyard_pd_prefill_retries_total",
                          "P/D prefill legs retried on another prefill endpoint.",
                          SY_METRIC_COUNTER, NULL, NULL, 0);
    m->retries = f ? sy_metric_get(f, NULL) : NULL;
    f = sy_metrics_family(reg, "switchyard_pd_prefill_fail_open_total",
                          "P/D first prefill legs (flow-control gate on) sent over their "
                          "endpoint's concurrency limit because every prefill pick was found "
                          "full since the decision.",
                          SY_METRIC_COUNTER, NULL, NULL, 0);
    m->fail_open = f ? sy_metric_get(f, NULL) : NULL;
    static const char *const reason[] = {"reason", NULL};
    m->fallbacks = sy_metrics_family(reg, "switchyard_pd_fallback_total",
                                     "P/D exchanges that fell back to decode-only, by reason.",
                                     SY_METRIC_COUNTER, reason, NULL, 0);
    m->failures = sy_metrics_family(reg, "switchyard_pd_prefill_failures_total",
                                    "P/D prefill legs that failed, by reason.", SY_METRIC_COUNTER,
                                    reason, NULL, 0);
    static const char *const co[] = {"connector", "outcome", NULL};
    m->exchanges = sy_metrics_family(reg, "switchyard_pd_exchanges_total",
                                     "P/D exchanges by connector and outcome (pd, fallback, "
                                     "prefill_error, error).",
                                     SY_METRIC_COUNTER, co, NULL, 0);
    return m;
}

void sy_disagg_metrics_free(struct sy_disagg_metrics *m)
{
    free(m);
}

static void inc1(struct sy_metric_family *f, const char *a, const char *b)
{
    if (!f)
        return;
    const char *lv[] = {a, b};
    sy_metric_inc(sy_metric_get(f, lv));
}

static void observe(struct sy_metric *h, uint64_t t0, uint64_t t1)
{
    if (h && t0 && t1 >= t0)
        sy_metric_observe(h, (double)(t1 - t0) / 1e9);
}

static void outcome(struct sy_disagg *dx, const char *what)
{
    if (dx->h.metrics)
        inc1(dx->h.metrics->exchanges, dx->conn->name, what);
}

static const struct sy_disagg_connector *connector_for(enum sy_disagg_connector_kind k)
{
    switch (k) {
    case SY_DISAGG_SGLANG: return &sy_disagg_sglang;
    case SY_DISAGG_SIDECAR: return &sy_disagg_sidecar;
    default: return &sy_disagg_nixlv2;
    }
}

struct sy_disagg *sy_disagg_new(const struct sy_disagg_host *h)
{
    struct sy_disagg *dx = SY_NEW(struct sy_disagg);
    dx->h = *h;
    snprintf(dx->reqid, sizeof dx->reqid, "%s", h->request_id ? h->request_id : "");
    dx->h.request_id = dx->reqid;
    dx->conn = connector_for(h->cfg->disagg.connector);
    dx->cached = -1;
    sy_buf_init(&dx->phead);
    sy_buf_init(&dx->pbody);
    sy_buf_init(&dx->pans);
    sy_buf_init(&dx->pheaders);
    sy_json_splice_init(&dx->dsplice);
    sy_buf_init(&dx->dflat);
    sy_buf_init(&dx->dheaders);
    sy_buf_init(&dx->fbuf);
    return dx;
}

/* Releases the prefill leg's in-flight count and endpoint reference (idempotent). */
static void leg_release(struct sy_disagg *dx)
{
    if (dx->p_inflight) {
        sy_endpoint_inflight_sub(dx->pep, dx->p_tokens);
        dx->p_inflight = false;
    }
    if (dx->pep) {
        sy_endpoint_unref(dx->pep);
        dx->pep = NULL;
    }
}

static void destroy(struct sy_disagg *dx)
{
    leg_release(dx);
    for (size_t i = 0; i < dx->nfailed; i++)
        sy_endpoint_unref(dx->failed[i]);
    sy_buf_fini(&dx->phead);
    sy_buf_fini(&dx->pbody);
    sy_buf_fini(&dx->pans);
    sy_buf_fini(&dx->pheaders);
    sy_json_splice_fini(&dx->dsplice);
    sy_buf_fini(&dx->dflat);
    sy_buf_fini(&dx->dheaders);
    sy_buf_fini(&dx->fbuf);
    free(dx);
}

void sy_disagg_free(struct sy_disagg *dx)
{
    if (!dx)
        return;
    if (dx->up && dx->conn->concurrent) {
        dx->orphan = true; /* the sglang leg finishes on its own and frees us */
        return;
    }
    if (dx->up) {
        sy_upstream_cancel(dx->up); /* closes the connection: the engine aborts the prefill */
        dx->up = NULL;
        sy_info("request %s: P/D prefill leg on %s cancelled (client gone)", dx->h.request_id,
                dx->pep ? dx->pep->address : "?");
    }
    destroy(dx);
}

static void set_addr(char *dst, size_t cap, const char *a)
{
    snprintf(dst, cap, "%s", a ? a : "");
}

/* Hands the decode leg to the host: P/D (params taken) or the decode-only fallback. */
static void go_decode(struct sy_disagg *dx, bool fallback)
{
    char err[160];
    sy_json_splice_fini(&dx->dsplice);
    sy_json_splice_init(&dx->dsplice);
    dx->dsplice_set = false;
    sy_buf_reset(&dx->dflat);
    sy_buf_reset(&dx->dheaders);
    dx->state = fallback ? SY_DX_FALLBACK : SY_DX_DECODE;
    if (!fallback && dx->conn->decode_body) {
        if (dx->conn->decode_body(dx, &dx->dsplice, err, sizeof err) != 0) {
            /* the client's body was validated when parsed; this cannot fail on good input */
            dx->state = SY_DX_ENDED;
            outcome(dx, "error");
            dx->h.fail(dx->h.ud, 500, "internal_error", "could not build the decode request");
            return;
        }
        dx->dsplice_set = true;
    }
    if (!fallback && dx->conn->decode_headers)
        dx->conn->decode_headers(dx, &dx->dheaders);
    outcome(dx, fallback ? "fallback" : "pd");
    dx->h.decode(dx->h.ud);
}

static void fallback_or_fail(struct sy_disagg *dx, const char *reason, int status, const char *code,
                             const char *msg)
{
    if (dx->h.cfg->disagg.fallback == SY_DISAGG_FALLBACK_DECODE_ONLY) {
        dx->fallback_reason = reason;
        dx->prefill_addr[0] = '\0';
        dx->cached = -1;
        if (dx->h.metrics)
            inc1(dx->h.metrics->fallbacks, reason, NULL);
        sy_warn("request %s: P/D fallback to decode-only on %s: %s", dx->h.request_id,
                dx->res->ep->address, msg);
        go_decode(dx, true);
        return;
    }
    sy_warn("request %s: P/D prefill failed, no fallback configured: %s", dx->h.request_id, msg);
    dx->state = SY_DX_ENDED;
    outcome(dx, "error");
    dx->h.fail(dx->h.ud, status, code, msg);
}

static bool send_leg(struct sy_disagg *dx);

static bool was_failed(const struct sy_disagg *dx, const struct sy_endpoint *ep)
{
    for (size_t i = 0; i < dx->nfailed; i++)
        if (dx->failed[i] == ep)
            return true;
    return false;
}

/* The prefill leg on dx->pep failed (err: transport code or 0 for a bad status). */
static void leg_failed(struct sy_disagg *dx, const char *reason, const char *detail, bool timeout)
{
    struct sy_endpoint *ep = dx->pep;
    sy_warn("request %s: P/D prefill on %s failed: %s", dx->h.request_id, ep ? ep->address : "?",
            detail);
    if (dx->h.metrics)
        inc1(dx->h.metrics->failures, reason, NULL);
    if (ep && dx->nfailed < sizeof dx->failed / sizeof dx->failed[0])
        dx->failed[dx->nfailed++] = sy_endpoint_ref(ep);
    dx->last_timeout = timeout;
    leg_release(dx);
    if (dx->conn->concurrent) {
        /* sglang: decode already runs; the prefill answer is only observed */
        outcome(dx, "prefill_error");
        return;
    }
    if (dx->attempts + (int)dx->resends < dx->h.cfg->disagg.prefill_max_attempts &&
        sy_sched_repick_prefill(dx->h.sched, dx->res, dx->failed, dx->nfailed) == 0) {
        send_leg(dx); /* counts the retry once its slot is reserved */
        return;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "no prefill endpoint answered (%d tried; last: %s)", dx->attempts,
             detail);
    if (timeout)
        fallback_or_fail(dx, "prefill_timeout", 504, "prefill_timeout", msg);
    else
        fallback_or_fail(dx, "prefill_unavailable", 502, "prefill_unavailable", msg);
}

/* ---- prefill leg upstream callbacks ---- */

static void p_head(void *ud, const struct sy_upstream_head *h)
{
    struct sy_disagg *dx = ud;
    dx->pstatus = h->status;
    sy_buf_reset(&dx->pheaders);
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!sy_str_case_eq_c(h->names[i], "content-type"))
            continue; /* a 4xx goes back with its content type; framing is the server's own */
        sy_buf_append(&dx->pheaders, h->names[i].p, h->names[i].len);
        sy_buf_puts(&dx->pheaders, ": ");
        sy_buf_append(&dx->pheaders, h->values[i].p, h->values[i].len);
        sy_buf_puts(&dx->pheaders, "\r\n");
    }
}

static void p_body(void *ud, const char *data, size_t n)
{
    struct sy_disagg *dx = ud;
    if (dx->pans.len + n <= SY_DISAGG_ANSWER_CAP)
        sy_buf_append(&dx->pans, data, n);
    else
        dx->pans.len = SY_DISAGG_ANSWER_CAP + 1; /* marks "too large"; content is not used */
}

static void p_done(void *ud, int err)
{
    struct sy_disagg *dx = ud;
    dx->up = NULL;
    dx->t_prefill1 = sy_now_ns();
    if (dx->orphan) { /* sglang leg after the client's request ended */
        if (err || dx->pstatus >= 400)
            sy_warn("request %s: P/D (sglang) prefill on %s failed after the decode answer: %s",
                    dx->h.request_id, dx->pep ? dx->pep->address : "?",
                    err ? sy_strerror(err) : "error status");
        destroy(dx);
        return;
    }
    char detail[200];
    if (err) {
        if (err == SY_ECONNECT && dx->pep)
            sy_endpoint_conn_failed(dx->pep, sy_now_ns());
        snprintf(detail, sizeof detail, "%s", sy_strerror(err));
        leg_failed(dx,
                   err == SY_ETIMEDOUT  ? "timeout"
                   : err == SY_ECONNECT ? "connect"
                                        : "reset",
                   detail, err == SY_ETIMEDOUT);
        return;
    }
    if (dx->pstatus >= 500 || dx->pstatus < 200 || (dx->pstatus >= 300 && dx->pstatus < 400)) {
        snprintf(detail, sizeof detail, "HTTP %d", dx->pstatus);
        leg_failed(dx, "status", detail, false);
        return;
    }
    if (dx->h.metrics)
        observe(dx->h.metrics->prefill_s, dx->t_prefill0, dx->t_prefill1);
    if (dx->conn->concurrent) { /* sglang: answer dropped */
        leg_release(dx);
        return;
    }
    if (dx->pstatus >= 400) {
        /* The engine refused the request itself: the client gets that answer as it is. */
        sy_info("request %s: P/D prefill on %s answered %d; passed to the client", dx->h.request_id,
                dx->pep->address, dx->pstatus);
        leg_release(dx);
        dx->state = SY_DX_ENDED;
        outcome(dx, "prefill_error");
        bool big = dx->pans.len > SY_DISAGG_ANSWER_CAP;
        dx->h.respond(dx->h.ud, dx->pstatus, dx->pheaders.data ? dx->pheaders.data : "",
                      big ? "" : dx->pans.data, big ? 0 : dx->pans.len);
        return;
    }
    char why[160];
    if (dx->pans.len > SY_DISAGG_ANSWER_CAP)
        snprintf(why, sizeof why, "the prefill answer is larger than %u bytes",
                 SY_DISAGG_ANSWER_CAP);
    else if (dx->conn->take_answer(dx, dx->pans.data ? dx->pans.data : "", dx->pans.len, why,
                                   sizeof why) == 0) {
        set_addr(dx->prefill_addr, sizeof dx->prefill_addr, dx->pep->address);
        leg_release(dx);
        go_decode(dx, false);
        return;
    }
    sy_warn("request %s: P/D prefill on %s: %s", dx->h.request_id, dx->pep->address, why);
    if (dx->h.metrics)
        inc1(dx->h.metrics->failures, "invalid_answer", NULL);
    leg_release(dx);
    fallback_or_fail(dx, "prefill_invalid_answer", 502, "prefill_invalid_answer", why);
}

static const struct sy_upstream_cbs p_cbs = {
    .on_head = p_head, .on_body = p_body, .on_done = p_done};

/* Takes the prefill leg's slot on dx->res->prefill_ep against the prefill run's concurrency
 * limits (res->prefill_limit_*: held also where its filter failed open, so a leg never goes to an
 * endpoint at its limit). With the flow-control gate on, the gate is the bound for a first leg of
 * a first attempt: it is held to the filter's caps (res->prefill_cap_*), none where the filter
 * failed open, as the decode pick (concurrency_detector_filter.c); refusing it would free the
 * gate slot for the next queued request only to refuse that one too. A pick found full (another
 * request took the slot since the snapshot: counted in switchyard_scheduler_slot_lost_total) is
 * excluded with the failed ones and the prefill profile re-run on the decision's snapshot, until
 * a pick has room or every prefill candidate was tried: each re-pick excludes one more, so the
 * loop ends within the prefill candidate count (the profile run returns SY_ENOENDPOINT once none
 * is left, and res->prefill_ep is then NULL). Not SY_SCHED_CHARGE_TRIES picks, as a decode pick's
 * decisions: those decide again on fresh counts, where a full endpoint is filtered out, but a
 * re-pick reads the old snapshot, in which every endpoint it has not tried had room, so stopping
 * after 8 refused the request (429, or the decode-only fallback) with 9 or more prefill endpoints
 * while one it never tried may have had room (the gated leg's reason below). A pick whose run
 * failed open (res->prefill_failed_open: every prefill candidate was at its limit) still tries
 * its reservation (the gated first leg holds to no cap then and gets it), but when the decision's
 * own pick is refused nothing is re-run and no slot counted lost: a re-run would find them all
 * full as well, and that is exactly when the gateway is saturated. A re-pick's run failing open
 * says less (the endpoints left were full in the decision's snapshot, and the pick that had room
 * there was just found full, so the snapshot is stale): it keeps re-picking, held to the limits
 * (before, a leg stopped there with 429 while an endpoint freed since had room). That holds for a
 * first leg, picked just now; a retried leg (dx->attempts > 0) may run on a pick made before a
 * whole failed attempt, seconds ago, so it keeps re-picking as a lost slot would. A gated first leg
 * re-picks the same way, until every prefill endpoint was tried, since it would otherwise go over a
 * limit while an endpoint it never tried may have room (with 9 or more prefill endpoints it took
 * the 8th pick with no cap and never tried the 9th); a re-pick whose run failed open (the endpoints
 * left were at their limits in the decision's snapshot) is held to those limits too, not to the
 * run's missing caps, and re-picked like any other. Only then, every pick found full, does it take
 * one with no cap, as if its filter had failed open: the pick of a run without them excluded (only
 * the failed ones), and *uncapped is set (send_leg counts it in
 * switchyard_pd_prefill_fail_open_total). Returns false, holding nothing, when none had room;
 * true holding the slot on res->prefill_ep, nothing else recorded (send_leg records the prompt
 * and counts the leg once its body is built). */
static bool reserve_leg(struct sy_disagg *dx, bool *uncapped)
{
    struct sy_sched_result *res = dx->res;
    /* the failed endpoints, then the picks found full: on the stack up to SY_SCHED_CHARGE_TRIES
     * picks, on the heap past that (one slot per prefill candidate) */
    struct sy_endpoint *stack[sizeof dx->failed / sizeof dx->failed[0] + SY_SCHED_CHARGE_TRIES];
    struct sy_endpoint **ex = stack;
    size_t nex = 0, cap = sizeof stack / sizeof stack[0];
    for (size_t i = 0; i < dx->nfailed; i++)
        ex[nex++] = dx->failed[i];
    bool open =
        (dx->flags & (SY_DISAGG_GATED | SY_DISAGG_RETRY)) == SY_DISAGG_GATED && dx->attempts == 0;
    bool got = false;
    *uncapped = false;
    for (int k = 0;; k++) {
        /* a re-pick's run failing open says only that the endpoints left were at their limits
         * in the decision's snapshot: the leg still holds to them and tries each one */
        bool capped = open && !(k > 0 && res->prefill_failed_open);
        if (sy_endpoint_inflight_add_within(
                res->prefill_ep, res->prefill_inflight_tokens,
                capped ? res->prefill_cap_requests : res->prefill_limit_requests,
                capped ? res->prefill_cap_tokens : res->prefill_limit_tokens)) {
            got = true;
            break;
        }
        if (!open && k == 0 && res->prefill_failed_open && dx->attempts == 0)
            break; /* every candidate at its limit: no slot lost, none a re-pick could find */
        sy_sched_slot_lost(dx->h.sched);
        if (nex == cap) {
            cap *= 2;
            ex = ex == stack ? memcpy(sy_xmalloc(cap * sizeof *ex), stack, sizeof stack)
                             : sy_xrealloc(ex, cap * sizeof *ex);
        }
        ex[nex++] = res->prefill_ep;
        if (sy_sched_repick_prefill(dx->h.sched, res, ex, nex) != 0) {
            /* every prefill endpoint found full: a gated first leg takes the pick of a run
             * without them excluded (only the failed ones), below */
            if (!open || sy_sched_repick_prefill(dx->h.sched, res, ex, dx->nfailed) != 0)
                goto out;
            break;
        }
    }
    if (!got) {
        if (!open)
            goto out;
        /* A gated first leg whose every pick was found full since the decision: what a filter
         * that fails open sees, and then the leg holds to no cap (the gate is the bound), as a
         * decode pick that decides again on fresh counts. It got 429 here (a burst of 8 through
         * the gate, 1 of 8 runs of test_pd_bound.py test_gate_is_the_bound under load). */
        sy_endpoint_inflight_add(res->prefill_ep, res->prefill_inflight_tokens);
        *uncapped = true; /* counted by send_leg once the leg goes out */
        got = true;
    }
out:
    if (ex != stack)
        free(ex);
    return got;
}

/* Sends a prefill leg to dx->res->prefill_ep once its slot is reserved (its body built then, for
 * the endpoint that got the slot; a body the connector cannot build ends the exchange with 400).
 * Without a slot the exchange ends and false is returned (the caller must not touch dx again): a
 * retried leg ends in the failure that caused the retry (504 prefill_timeout when the last leg
 * timed out, else 502 prefill_unavailable) or the fallback; a first leg in the decode-only fallback
 * (reason prefill_saturated: the decode pick holds its slot already) when configured, else, on a
 * decode retry, in 502 upstream_unavailable, the decode failure, and otherwise in 429
 * rejected-saturated, as a decode pick that found no slot. */
static bool send_leg(struct sy_disagg *dx)
{
    bool uncapped;
    if (!reserve_leg(dx, &uncapped)) {
        sy_warn("request %s: P/D no prefill endpoint has room under its concurrency limit",
                dx->h.request_id);
        if (dx->attempts > 0) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "no prefill endpoint answered (%d tried; the others are at their "
                     "concurrency limit)",
                     dx->attempts);
            if (dx->last_timeout)
                fallback_or_fail(dx, "prefill_timeout", 504, "prefill_timeout", msg);
            else
                fallback_or_fail(dx, "prefill_unavailable", 502, "prefill_unavailable", msg);
            return false;
        }
        if (dx->h.cfg->disagg.fallback == SY_DISAGG_FALLBACK_DECODE_ONLY) {
            /* the decode pick already holds its slot (charged before the exchange started);
             * with the fallback configured fallback_or_fail falls back, so its status and error
             * (429 rejected-saturated) are never sent: they only name this case */
            fallback_or_fail(dx, "prefill_saturated", 429, "rejected-saturated",
                             "every prefill endpoint is at its concurrency limit");
            return false;
        }
        dx->state = SY_DX_ENDED;
        outcome(dx, "error");
        if (dx->flags & SY_DISAGG_RETRY)
            dx->h.fail(dx->h.ud, 502, "upstream_unavailable",
                       "no model server could be reached for this request (the prefill "
                       "endpoints are at their concurrency limit)");
        else
            dx->h.fail(dx->h.ud, 429, "rejected-saturated", SY_SCHED_SATURATED_MSG);
        return false;
    }
    struct sy_endpoint *ep = dx->res->prefill_ep;
    dx->pep = sy_endpoint_ref(ep);
    dx->p_tokens = dx->res->prefill_inflight_tokens;
    dx->p_inflight = true; /* the slot reserve_leg took: leg_release gives it back */
    dx->pstatus = 0;
    /* The body is built for the pick that got its slot: SGLang's names the prefill endpoint
     * (bootstrap_host/port, which the decode leg's body repeats), and a pick found full is
     * re-picked above (before: built for the decision's pick, so after a re-pick the decode leg
     * bootstrapped from an endpoint that never got the request). A body the connector cannot
     * build gives the slot back and leaves no trace of a leg that never went out: no attempt,
     * retry or fail-open counted, no prompt recorded on the prefill pick (before, all were done
     * first); the exchange counts as an error. */
    char err[160];
    sy_buf_reset(&dx->pbody);
    if (dx->conn->prefill_body(dx, &dx->pbody, err, sizeof err) != 0) {
        leg_release(dx);
        dx->state = SY_DX_ENDED;
        outcome(dx, "error"); /* an exchange that ended, as every other error ending */
        dx->h.fail(dx->h.ud, 400, "invalid_json", err);
        return false;
    }
    sy_sched_record_prefill(dx->h.sched, dx->res); /* on the pick that got its slot */
    if (uncapped && dx->h.metrics && dx->h.metrics->fail_open)
        sy_metric_inc(dx->h.metrics->fail_open);
    if (dx->attempts > 0 && dx->h.metrics && dx->h.metrics->retries)
        sy_metric_inc(dx->h.metrics->retries); /* a leg sent again, not one refused a slot */
    dx->attempts++;
    sy_buf_reset(&dx->pans);
    struct sy_buf *b = &dx->phead;
    sy_buf_reset(b);
    sy_buf_append(b, dx->h.method.p, dx->h.method.len);
    sy_buf_puts(b, " ");
    sy_buf_append(b, dx->h.url.p, dx->h.url.len);
    sy_buf_puts(b, " HTTP/1.1\r\nHost: ");
    sy_buf_puts(b, ep->address);
    sy_buf_puts(b, "\r\nContent-Length: "); /* Content-Type: the client's, forwarded */
    sy_buf_put_u64(b, dx->pbody.len);
    sy_buf_puts(b, "\r\nx-request-id: ");
    sy_buf_puts(b, dx->h.request_id);
    sy_buf_puts(b, "\r\n");
    sy_buf_puts(b, dx->h.fwd_headers ? dx->h.fwd_headers : "");
    sy_buf_puts(b, "\r\n");
    uv_buf_t bufs[2] = {uv_buf_init(dx->phead.data, (unsigned)dx->phead.len),
                        uv_buf_init(dx->pbody.data, (unsigned)dx->pbody.len)};
    dx->t_prefill0 = sy_now_ns();
    const struct sy_config *cfg = dx->h.cfg;
    /* The decode leg's rules (issue 20 defect 6): resent on a fresh connection only when the
     * engine cannot have had the whole request, and only within prefillMaxAttempts; HTTPS when
     * the pool says so. */
    struct sy_upstream_opts o = {.connect_timeout_ns = cfg->connect_timeout_ns,
                                 .response_timeout_ns = cfg->disagg.prefill_timeout_ns,
                                 .may_resend = dx->attempts + (int)dx->resends <
                                               cfg->disagg.prefill_max_attempts,
                                 .strict = true,
                                 .resends = &dx->resends,
                                 .tls = dx->h.pool ? dx->h.pool->tls : NULL};
    char tls_name[256];
    if (o.tls)
        o.server_name = sy_pool_tls_name(dx->h.pool, ep, tls_name, sizeof tls_name);
    dx->up = sy_upstream_send_opts(dx->h.upstreams, ep->address, (const struct sockaddr *)&ep->addr,
                                   bufs, 2, &o, &p_cbs, dx);
    return true;
}

void sy_disagg_start(struct sy_disagg *dx, struct sy_sched_result *res, unsigned flags)
{
    if (dx->up) { /* an sglang leg of the previous exchange (its decode failed): stop it */
        sy_upstream_cancel(dx->up);
        dx->up = NULL;
    }
    leg_release(dx);
    dx->res = res;
    dx->attempts = 0;
    dx->flags = flags;
    dx->last_timeout = false;
    dx->resends = 0;
    dx->fallback_reason = NULL;
    dx->prefill_addr[0] = '\0';
    dx->params = (struct sy_str){NULL, 0};
    dx->cached = -1;
    dx->first_byte = false;
    dx->fpass = false;
    sy_buf_reset(&dx->fbuf);
    dx->state = SY_DX_PREFILL;
    if (!res->prefill_ep) { /* the decider wanted a prefill leg and no prefill endpoint is ready */
        fallback_or_fail(dx, "no_prefill_endpoint", 503, "no_prefill_endpoint",
                         "no ready prefill endpoint for a request the scheduler disaggregated");
        return;
    }
    if (!dx->conn->prefill_leg) { /* sidecar: it runs the leg, no slot to reserve here */
        sy_sched_record_prefill(dx->h.sched, res);
        set_addr(dx->prefill_addr, sizeof dx->prefill_addr, res->prefill_ep->address);
        go_decode(dx, false);
        return;
    }
    /* A prefill endpoint that already failed for this request is skipped. */
    if (was_failed(dx, res->prefill_ep) &&
        sy_sched_repick_prefill(dx->h.sched, res, dx->failed, dx->nfailed) != 0) {
        fallback_or_fail(dx, "prefill_unavailable", 502, "prefill_unavailable",
                         "every prefill endpoint failed for this request");
        return;
    }
    if (!send_leg(dx))
        return;
    if (dx->conn->concurrent) {
        set_addr(dx->prefill_addr, sizeof dx->prefill_addr, res->prefill_ep->address);
        go_decode(dx, false);
    }
}

size_t sy_disagg_decode_body(struct sy_disagg *dx, uv_buf_t *bufs, size_t cap, size_t *len)
{
    const struct sy_request *r = dx->h.req;
    if (!dx->dsplice_set || cap == 0) {
        *len = r->body_len;
        if (cap)
            bufs[0] = uv_buf_init((char *)r->body, (unsigned)r->body_len);
        return cap ? 1 : 0;
    }
    *len = dx->dsplice.len;
    if (dx->dsplice.nsegs <= cap) {
        for (size_t i = 0; i < dx->dsplice.nsegs; i++)
            bufs[i] = uv_buf_init((char *)dx->dsplice.segs[i].p, (unsigned)dx->dsplice.segs[i].len);
        return dx->dsplice.nsegs;
    }
    if (!dx->dflat.len)
        sy_json_splice_flatten(&dx->dsplice, &dx->dflat); /* too many pieces: one copy */
    bufs[0] = uv_buf_init(dx->dflat.data, (unsigned)dx->dflat.len);
    return 1;
}

const char *sy_disagg_decode_headers(const struct sy_disagg *dx)
{
    return dx->dheaders.len ? dx->dheaders.data : "";
}

void sy_disagg_response_headers(const struct sy_disagg *dx, struct sy_buf *out)
{
    if (dx->prefill_addr[0]) {
        sy_buf_puts(out, "x-gateway-prefill-endpoint: ");
        sy_buf_puts(out, dx->prefill_addr);
        sy_buf_puts(out, "\r\n");
    }
    if (dx->fallback_reason) {
        sy_buf_puts(out, "x-switchyard-pd-fallback: ");
        sy_buf_puts(out, dx->fallback_reason);
        sy_buf_puts(out, "\r\n");
    }
}

void sy_disagg_decode_sent(struct sy_disagg *dx)
{
    dx->t_decode0 = sy_now_ns();
}

void sy_disagg_decode_first_byte(struct sy_disagg *dx)
{
    if (dx->first_byte)
        return;
    dx->first_byte = true;
    if (dx->h.metrics && dx->state == SY_DX_DECODE && dx->t_prefill1 && !dx->conn->concurrent)
        observe(dx->h.metrics->handover_s, dx->t_prefill1, sy_now_ns());
}

void sy_disagg_decode_done(struct sy_disagg *dx, bool ok)
{
    if (ok && dx->h.metrics && dx->state == SY_DX_DECODE)
        observe(dx->h.metrics->decode_s, dx->t_decode0, sy_now_ns());
}
