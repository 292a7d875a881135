/* predicted_latency_producer.c - llm-d's `predicted-latency-producer`: a p90 TTFT and TPOT
 * prediction per candidate endpoint, from the in-process latency model (src/latency/), instead of
 * llm-d's Python sidecars.
 *
 *   produce  -> features per candidate (its scraped queue/running/KV, the gateway's own in-flight
 *               tokens, the cycle's prefix match, the prompt length) -> sy_latency_predict
 *               (it consumes the prefix match as llm-d's does: the loader creates
 *               approx-prefix-cache-producer when none is configured and runs this producer
 *               after the others, epp_config.c)
 *               -> cy->latency (struct sy_latency_info), headroom = SLO - predicted
 *               (TPOT SLO x sloBufferFactor; without any SLO, headroom = -predicted; with
 *               only one, the other dimension's headroom is 0, i.e. met)
 *   done(ok) -> the gateway set the measured TTFT/TPOT (sy_sched_observe): the chosen endpoint's
 *               routing-time features and the measurements become one training sample
 *
 * The model is process-wide and reference-counted, so a config reload keeps what it learned; its
 * background thread starts with the first instance. Unlike llm-d with streamingMode false, the
 * gateway always measures TTFT at the first response byte (for a non-streamed response that is the
 * end, as llm-d's streamingMode false records e2e) and TPOT ((end - first byte) / (completion
 * tokens - 1)) only for streamed responses; streamingMode is accepted and changes nothing.
 * TPOT is neutralised (0, never violated) for prefill pods, as llm-d does.
 *
 * Parameters: sloBufferFactor (1.0), contextTTL (5m; Switchyard keeps the routing-time features
 * in the cycle itself, so there is no context cache to expire), streamingMode (false),
 * endpointRoleLabel (label whose value prefill/decode gives the pod type), predictInProduce
 * (true; false leaves predictions to nobody, so consumers fall back). samplingMean and
 * maxDecodeTokenSamplesForPrediction are deprecated upstream (#2037): accepted and ignored.
 *
 * queueAwareTTFT (Switchyard's own, default false): for a candidate with a waiting queue, the
 * predicted TTFT is at least that endpoint's learned queue-wait line (src/sched/queue_wait.c:
 * TTFT = a + b x waiting, fitted to the streamed requests that finished there), so a queue on a
 * slow replica predicts a longer wait than the same queue on a fast one. Measured in the queued
 * regime of bench/slo_routing.sh (docs/slo-scheduling.md); the line lives in the instance, so a
 * config reload starts it again.
 *
 * tpotQuantile (Switchyard's own; absent = the model's quantile, 0.9 as llm-d's): the quantile
 * the model predicts for TPOT, 0.05..0.95. In llm-d's production profile (heavy-tailed prompts
 * and outputs, bench/slo_routing.sh heavy) the p90 TPOT of every endpoint sits above the
 * objectives, so the tier rules see every endpoint violate and rank them by noise; 0.5 measured
 * better there (docs/slo-scheduling.md). The model is process-wide: the value applies from the
 * first cycle a producer instance runs (so a refused reload changes nothing) and from the next
 * retrain. Instances of one config must agree (absent counting as the model's 0.9): the loader
 * refuses a config where they do not (epp_config.c), rather than let the last one to route win.
 *
 * capAwareTTFT (Switchyard's own, default false): the producer learns per endpoint the running
 * count at which the engine starts queueing (its batch cap) and how long a request holds a slot
 * (src/sched/batch_cap.c), counts the requests the gateway sent there since the last scrape, and
 * when this request would not find a free slot adds the expected wait for one:
 * TTFT = max(model, model without the queue + (load + 1 - cap) x slot time / cap). Below the cap
 * nothing changes; it makes a replica one slot from its cap look as it will be, not as it was.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "pool/pool.h"
#include "sched/batch_cap.h"
#include "sched/latency_info.h"
#include "sched/latency_metrics.h"
#include "sched/params.h"
#include "sched/plugins.h"
#include "sched/queue_wait.h"

struct state {
    double buffer;              /* sloBufferFactor */
    bool predict;               /* predictInProduce */
    const char *role_label;     /* endpointRoleLabel, owned, or NULL */
    struct sy_latency_model *m; /* the shared model (borrowed reference) */
    double tpot_q;              /* tpotQuantile, or the model's configured one when absent;
                                   applied to the shared model from this instance's produce */
    struct sy_queue_wait *qw;   /* queueAwareTTFT's lines, owned, or NULL when off */
    struct sy_batch_cap *bc;    /* capAwareTTFT's caps and slot times, owned, or NULL when off */
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sy_latency_model *shared;     /* process-wide model */
static int shared_refs;                     /* producer instances holding it */
static struct sy_latency_config shared_cfg; /* sy_sched_latency_model_setup, if set */
static bool shared_cfg_set;
static bool shared_manual; /* no background thread */

void sy_sched_latency_model_setup(const struct sy_latency_config *cfg, bool background)
{
    pthread_mutex_lock(&shared_mu);
    shared_cfg_set = cfg != NULL;
    if (cfg)
        shared_cfg = *cfg;
    shared_manual = !background;
    pthread_mutex_unlock(&shared_mu);
}

/* sy_sched_latency_override: benchmarks' and tests' true latencies instead of the model's */
static sy_latency_override_fn override_fn;
static void *override_ud;

void sy_sched_latency_override(sy_latency_override_fn fn, void *ud)
{
    override_fn = fn;
    override_ud = ud;
}

struct sy_latency_model *sy_sched_latency_model(void)
{
    pthread_mutex_lock(&shared_mu);
    struct sy_latency_model *m = shared;
    pthread_mutex_unlock(&shared_mu);
    return m;
}

static struct sy_latency_model *model_ref(void)
{
    pthread_mutex_lock(&shared_mu);
    if (!shared) {
        shared = sy_latency_model_new(shared_cfg_set ? &shared_cfg : NULL);
        if (!shared_manual && sy_latency_model_start(shared) != 0)
            sy_warn("predicted-latency-producer: cannot start the training thread");
    }
    shared_refs++;
    struct sy_latency_model *m = shared;
    pthread_mutex_unlock(&shared_mu);
    return m;
}

static void model_unref(void)
{
    pthread_mutex_lock(&shared_mu);
    struct sy_latency_model *m = NULL;
    if (--shared_refs == 0) {
        m = shared;
        shared = NULL;
    }
    pthread_mutex_unlock(&shared_mu);
    sy_latency_model_free(m);
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {"sloBufferFactor",
                                       "contextTTL",
                                       "streamingMode",
                                       "endpointRoleLabel",
                                       "predictInProduce",
                                       "samplingMean",
                                       "maxDecodeTokenSamplesForPrediction",
                                       "queueAwareTTFT",
                                       "capAwareTTFT",
                                       "tpotQuantile",
                                       NULL};
    double buffer = 1.0, sampling = 1000, tpot_q = 0;
    int64_t maxdec = 0;
    bool streaming = false, predict = true, queue_aware = false, cap_aware = false;
    const char *ttl = NULL, *label = NULL;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "sloBufferFactor", env, 0.01, 100, &buffer, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "contextTTL", env, &ttl, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "streamingMode", env, &streaming, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "endpointRoleLabel", env, &label, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "predictInProduce", env, &predict, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "samplingMean", env, 0, 1e12, &sampling, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "maxDecodeTokenSamplesForPrediction", env, 0, INT64_MAX, &maxdec,
                          err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "queueAwareTTFT", env, &queue_aware, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "capAwareTTFT", env, &cap_aware, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tpotQuantile", env, 0.05, 0.95, &tpot_q, err, errcap);
    if (rc)
        return rc;
    struct state *st = SY_NEW(struct state);
    st->buffer = buffer;
    st->predict = predict;
    st->role_label = label && *label ? strdup(label) : NULL;
    st->m = model_ref();
    /* the model is process-wide: not set here, where a reload that is refused later would
     * already have changed the running configuration's quantile; produce applies it */
    st->tpot_q = tpot_q > 0 ? tpot_q : sy_latency_tpot_quantile_configured(st->m);
    st->qw = queue_aware ? sy_queue_wait_new(0, 0) : NULL;
    st->bc = cap_aware ? sy_batch_cap_new(0) : NULL;
    *out = st;
    return 0;
}

double sy_predicted_latency_tpot_quantile(const void *state)
{
    return ((const struct state *)state)->tpot_q;
}

static void destroy(void *state)
{
    struct state *st = state;
    free((char *)st->role_label);
    sy_queue_wait_free(st->qw);
    sy_batch_cap_free(st->bc);
    free(st);
    model_unref();
}

static enum sy_latency_role role_of(const struct state *st, const struct sy_endpoint *ep)
{
    if (!st->role_label)
        return SY_LATENCY_ROLE_NONE;
    const char *v = sy_endpoint_label(ep, st->role_label);
    if (v && !strcmp(v, "prefill"))
        return SY_LATENCY_ROLE_PREFILL;
    if (v && !strcmp(v, "decode"))
        return SY_LATENCY_ROLE_DECODE;
    return SY_LATENCY_ROLE_NONE;
}

/* Builds the routing-time features of candidate c (exported for the affinity filter's tests). */
static void features_of(const struct state *st, const struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *c, struct sy_latency_features *f)
{
    const struct sy_endpoint_load *l = &c->st.m;
    double waiting = l->waiting > 0 ? l->waiting : 0, running = l->running > 0 ? l->running : 0;
    /* the gateway's in-flight count is fresher than the last scrape */
    double gw = c->st.inflight_requests > 0 ? (double)c->st.inflight_requests : 0;
    if (gw > waiting + running)
        running = gw - waiting;
    *f = (struct sy_latency_features){0};
    f->waiting = (uint32_t)waiting;
    f->running = (uint32_t)running;
    f->queued = f->waiting > 0;
    f->kv_util = l->kv_usage > 0 ? l->kv_usage : 0;
    f->input_tokens = cy->prompt_tokens;
    f->prefill_tokens_inflight = c->st.inflight_tokens > 0 ? (uint64_t)c->st.inflight_tokens : 0;
    /* decode tokens in flight: the running count at SY_LATENCY_DECODE_TOKENS_PER_RUNNING */
    f->decode_tokens_inflight = (uint64_t)(running * SY_LATENCY_DECODE_TOKENS_PER_RUNNING);
    if (cy->prefix && cy->prefix_valid) {
        const struct sy_prefix_match *m = &cy->prefix[c->pool_index];
        f->prefix_score = m->total_blocks ? (double)m->match_blocks / m->total_blocks : 0;
    }
    f->role = role_of(st, c->ep);
    int64_t mt = cy->req ? cy->req->max_tokens : -1;
    f->tokens_generated = mt > 0 ? (uint32_t)(mt > 100000 ? 100000 : mt) : 0;
}

static void produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    struct state *st = state;
    /* tpotQuantile: the instance that routes applies its quantile to the shared model (from the
     * next retrain); one relaxed load per cycle once it holds */
    if (sy_latency_tpot_quantile(st->m) != st->tpot_q)
        sy_latency_set_tpot_quantile(st->m, st->tpot_q);
    if (!st->predict || cy->latency) /* one producer per cycle */
        return;
    struct sy_latency_info *info = SY_NEW(struct sy_latency_info);
    info->n = cy->pool->n;
    info->pred = sy_xcalloc(info->n ? info->n : 1, sizeof *info->pred);
    sy_latency_override_fn ovr = override_fn;
    info->ready = ovr || sy_latency_ready(st->m);
    const struct sy_request *req = cy->req;
    double slo_ttft = req ? req->slo_ttft_ms / 1e3 : 0, slo_tpot = req ? req->slo_tpot_ms / 1e3 : 0;
    info->has_ttft_slo = slo_ttft > 0;
    info->has_tpot_slo = slo_tpot > 0;
    uint64_t t0 = info->ready ? sy_now_ns() : 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].pool_index >= info->n)
            continue;
        struct sy_latency_pred *p = &info->pred[c[i].pool_index];
        features_of(st, cy, &c[i], &p->f);
        p->kv_util = p->f.kv_util;
        /* idle: nothing of ours in flight and no queue; the scraped running count lags the
         * gateway's own by a scrape interval, so it is not consulted */
        p->idle = c[i].st.inflight_requests <= 0 && p->f.waiting == 0;
        const struct sy_endpoint_load *l = &c[i].st.m;
        /* capAwareTTFT: learn from this candidate's scrape (each counts once) and read the wait
         * for a free batch slot, under one lock; only ready endpoints are candidates, so only
         * their scrapes are seen */
        struct sy_batch_cap_view bv = {0};
        int brc = SY_EBUSY;
        if (st->bc && c[i].st.scraped) {
            brc =
                sy_batch_cap_step(st->bc, c[i].ep->address, c[i].st.update_ns,
                                  l->running > 0 ? l->running : 0, l->waiting > 0 ? l->waiting : 0,
                                  (double)c[i].st.inflight_requests, cy->now_ns, &bv);
            if (bv.log && bv.cap > 0)
                sy_info("predicted-latency-producer: %s: batch cap %.0f (queues at that running "
                        "count)",
                        c[i].ep->address, bv.cap);
            else if (bv.log)
                sy_info("predicted-latency-producer: %s: batch cap dropped (running above it, or "
                        "not confirmed)",
                        c[i].ep->address);
        }
        if (!info->ready)
            continue;
        double tt, tp;
        if (ovr ? !ovr(override_ud, cy, &c[i], &tt, &tp)
                : sy_latency_predict(st->m, c[i].ep->address, &p->f, &tt, &tp) != 0)
            continue;
        if (p->f.role == SY_LATENCY_ROLE_PREFILL || tp < 0)
            tp = 0; /* neutralised: never violates */
        double qt;
        /* given latencies (sy_sched_latency_override) are final: no queue or cap terms */
        if (!ovr && st->qw && p->f.waiting >= 1 &&
            sy_queue_wait_estimate(st->qw, c[i].ep->address, p->f.waiting, &qt) == 0 && qt > tt)
            tt = qt; /* queueAwareTTFT: this endpoint's own wait per queued request */
        if (!ovr && brc == 0 && bv.wait_s > 0) {
            /* capAwareTTFT: no free batch slot for this request; its TTFT is the unqueued
             * prediction plus the wait for a slot (the model may already see part of it) */
            struct sy_latency_features nq = p->f;
            nq.waiting = 0;
            nq.queued = false;
            double t0q, p0q;
            if (sy_latency_predict(st->m, c[i].ep->address, &nq, &t0q, &p0q) == 0 &&
                t0q + bv.wait_s > tt)
                tt = t0q + bv.wait_s;
        }
        p->valid = true;
        p->ttft_s = tt;
        p->tpot_s = tp;
        /* no objective at all: headroom = -predicted (llm-d); one objective only: the other
         * dimension is met by definition (headroom 0), or a TTFT-only request could never
         * reach the positive tier */
        bool none = !info->has_ttft_slo && !info->has_tpot_slo;
        p->headroom_ttft_s = info->has_ttft_slo ? slo_ttft - tt : none ? -tt : 0;
        p->headroom_tpot_s = info->has_tpot_slo ? slo_tpot * st->buffer - tp : none ? -tp : 0;
        if (p->f.role == SY_LATENCY_ROLE_PREFILL && info->has_tpot_slo)
            p->headroom_tpot_s = slo_tpot * st->buffer;
    }
    if (info->ready)
        sy_latency_metrics_prediction(req ? req->model : "", (double)(sy_now_ns() - t0) / 1e9);
    cy->latency = info;
}

static void done(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                 bool ok)
{
    struct state *st = state;
    struct sy_latency_info *info = cy->latency;
    if (!info)
        return;
    if (ok && chosen && chosen->pool_index < info->n && cy->observed_ttft_s > 0) {
        const struct sy_latency_pred *p = &info->pred[chosen->pool_index];
        const struct sy_request *req = cy->req;
        sy_latency_metrics_request(req ? req->model : "", p->valid ? p->ttft_s : -1,
                                   p->valid ? p->tpot_s : -1, cy->observed_ttft_s,
                                   cy->observed_tpot_s, req ? req->slo_ttft_ms : 0,
                                   req ? req->slo_tpot_ms : 0);
        struct sy_latency_features f = p->f;
        sy_latency_observe(st->m, chosen->ep->address, &f, cy->observed_ttft_s,
                           cy->observed_tpot_s);
        /* streamed responses only: a buffered response's first byte is its last */
        if (st->qw && cy->observed_tpot_s > 0)
            sy_queue_wait_observe(st->qw, chosen->ep->address, f.waiting, cy->observed_ttft_s);
        /* the slot time needs no token count: any streamed response whose last byte came after
         * its first (the proxy reports the end of streamed responses only) */
        double slot;
        if (st->bc && cy->observed_e2e_s > cy->observed_ttft_s &&
            sy_batch_cap_observe(st->bc, chosen->ep->address, cy->observed_ttft_s,
                                 cy->observed_e2e_s, &slot) == 1)
            sy_info("predicted-latency-producer: %s: batch slot time %.3f s usable (capAwareTTFT)",
                    chosen->ep->address, slot);
    }
    free(info->pred);
    free(info);
    cy->latency = NULL;
}

const struct sy_plugin_ops sy_plugin_predicted_latency_producer = {
    .type = "predicted-latency-producer",
    .produces = SY_LATENCY_KEY,
    .consumes = SY_PREFIX_KEY, /* llm-d: Consumes() PrefixCacheMatchInfo, so a config without a
                                  prefix producer gets approx-prefix-cache-producer */
    .create = create,
    .destroy = destroy,
    .produce = produce,
    .done = done,
};
