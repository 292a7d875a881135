/* concurrency_detector_filter.c - the filter role of llm-d's `concurrency-detector`.
 *
 * In llm-d the concurrency detector is two things: the flow controller's saturation detector
 * (src/flow/saturation.c: pool saturation gates dispatch) and a scheduling filter that protects
 * each endpoint. This file is the second: it drops every candidate whose own in-flight count has
 * reached the per-endpoint limit
 *
 *   limit = (int64)(maxConcurrency * (1 + headroom))          requests mode (default)
 *           (int64)(maxTokenConcurrency * (1 + headroom))     tokens mode, on in-flight tokens
 *   keep endpoint e  iff  inflight_e < limit                   requests
 *                   iff  tokens_e + t_e <= limit or tokens_e == 0   tokens (t_e: what this
 *                        request would add on e, sched/inflight.h); hybrid: both must hold
 *
 * In tokens mode llm-d keeps e while tokens_e < limit, whatever the request's size, so an endpoint
 * can end up over its token limit by one request's tokens. Here the request's own tokens count
 * (sy_inflight_fits, the same test the charge's reservation makes), so the token bound holds; a
 * request larger than the whole limit goes onto any endpoint below the limit, as in llm-d (the
 * overshoot stays one request per endpoint; holding it for an idle endpoint starved it under
 * steady load, where the strict charges of the P/D prefill leg and of retries never found one).
 *
 * inflight_e is the gateway's own count of requests it forwarded to e and that have not finished
 * (no scrape lag). Without it, the pool-wide gate (outstanding < maxConcurrency * ready) still
 * lets the picker stack one endpoint above its limit while another has free slots: that endpoint
 * queues the excess (vllm:num_requests_waiting) behind its max-num-seqs, and a high-priority
 * request placed there waits for a completion.
 *
 * Every endpoint at its limit: all candidates are kept (fail open) and the decision carries no
 * bound. llm-d returns the empty list; Switchyard does not, because with the gate on the request
 * was already released against the pool-wide capacity (outstanding < maxConcurrency * ready leaves
 * some endpoint below its limit in requests mode). It still happens: after a SIGHUP raised
 * maxConcurrency while requests were queued (they are scheduled by the generation they arrived
 * in, whose filter has the old limit), on a retry or an EPP subset hint (candidates excluded), in
 * tokens/hybrid mode (the gate's token estimate is not the filter's), and without the gate.
 * docs/flow-control.md lists these and the charges that bypass the filter (EPP data-plane
 * fallback). Refusing would turn a reload into 429s; the gate stays the bound. The filter still
 * leaves its limits in cy->limit_requests / limit_tokens, so a strict charge (the P/D prefill
 * leg, src/disagg) holds the pick to them there too and is refused rather than go over. It says
 * so in cy->failed_open: such a refusal lost no slot to another worker, so sched.c neither makes
 * the decision again nor counts it in switchyard_scheduler_slot_lost_total.
 *
 * Within those, the bound is strict across workers. The filter reads each endpoint's count a moment
 * before the request is charged to the chosen one, and several workers decide at once: two that
 * both see an endpoint one below its limit would both put a request there (up to workers - 1 over).
 * So the filter also leaves its limits in the cycle (cy->cap_requests / cap_tokens), and the charge
 * (sy_sched_pick_charge -> sy_pool_charge_within, the reservation sy_sched_pick_reserve asks for
 * before any pre_request hook records the pick) takes the slot with a compare-and-swap of the
 * in-flight count against the limit: the loser of the race charges nothing, its decision is undone
 * without a trace and made again on fresh counts, where the full endpoint is filtered out (bounded:
 * SY_SCHED_CHARGE_TRIES decisions, then SY_ESATURATED: 429 rejected-saturated). The fast path stays
 * one atomic read-modify-write, as the plain charge's fetch-add. A fail-open decision (every
 * endpoint at its limit) leaves no bound: the gate is the bound there, as above.
 *
 * Rejected: a lock around decide-and-charge (serializes every decision of every worker); checking
 * the count again after an unconditional add and backing out (readers would see transient
 * over-limit counts, and two racing adds could both back out).
 *
 * Joins a profile like any filter: the default profile (no schedulingProfiles) holds it; an
 * explicit profile names it with pluginRef. src/flow/flow_config.c validates the parameters and
 * builds the detector role from the same plugin entry.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/inflight.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct cd_filter {
    int mode;            /* 0 requests, 1 tokens, 2 hybrid */
    int64_t limit;       /* request limit per endpoint */
    int64_t token_limit; /* token limit per endpoint */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"concurrencyMode", "maxConcurrency",
                                          "maxTokenConcurrency", "headroom", NULL};
    double maxc = 100, maxt = 1e6, headroom = 0; /* llm-d's defaults */
    const char *mode = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "maxConcurrency", env, 1, 1e15, &maxc, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "maxTokenConcurrency", env, 1, 1e15, &maxt, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "headroom", env, 0, 1e6, &headroom, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "concurrencyMode", env, &mode, err, errcap);
    if (rc)
        return rc;
    struct cd_filter f = {0};
    if (!mode || !strcmp(mode, "requests"))
        f.mode = 0;
    else if (!strcmp(mode, "tokens"))
        f.mode = 1;
    else if (!strcmp(mode, "hybrid"))
        f.mode = 2;
    else
        return sy_param_errorf(env, NULL, "concurrencyMode", err, errcap,
                               "must be requests, tokens or hybrid, got \"%s\"", mode);
    f.limit = (int64_t)(maxc * (1.0 + headroom));
    f.token_limit = (int64_t)(maxt * (1.0 + headroom));
    struct cd_filter *st = SY_NEW(struct cd_filter);
    *st = f;
    *state = st;
    return 0;
}

/* Lowers *cap to limit (0 = no cap yet). */
static void cap_at(int64_t *cap, int64_t limit)
{
    if (*cap <= 0 || limit < *cap)
        *cap = limit;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    const struct cd_filter *f = state;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        if (f->mode != 1)
            keep = c[i].st.inflight_requests < f->limit;
        if (f->mode != 0 && keep) {
            int64_t t = sy_inflight_request_tokens(cy, &c[i]); /* what the charge adds there */
            keep = sy_inflight_fits(c[i].st.inflight_tokens, t > 0 ? t : 0, f->token_limit);
        }
        if (keep)
            c[m++] = c[i];
    }
    /* a strict charge holds the pick to the limits even when every endpoint is at them */
    if (f->mode != 1)
        cap_at(&cy->limit_requests, f->limit);
    if (f->mode != 0)
        cap_at(&cy->limit_tokens, f->token_limit);
    if (!m) {
        cy->failed_open = true; /* sched.c: a refused strict charge is not a lost slot */
        return n;               /* fail open: see the header (and no bound for a plain charge) */
    }
    /* the charge reserves the slot against the same limits (see the header) */
    if (f->mode != 1)
        cap_at(&cy->cap_requests, f->limit);
    if (f->mode != 0)
        cap_at(&cy->cap_tokens, f->token_limit);
    return m;
}

const struct sy_plugin_ops sy_plugin_concurrency_detector_filter = {
    .type = "concurrency-detector",
    .create = create,
    .destroy = free,
    .filter = filter,
};
