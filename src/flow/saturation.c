/* saturation.c - saturation detectors: how full the pool is, 0 = idle, 1.0 = at capacity.
 *
 *   utilization-detector (default)
 *     per ready endpoint e: score_e = max((waiting_e + credit_e) / queueDepthThreshold,
 *                                         kv_e / kvCacheUtilThreshold)
 *       credit_e = max(0, inflight_e - (waiting_e + running_e))  requests the gateway sent that
 *                  the last scrape does not show yet (llm-d's scrape-lag compensation)
 *       stale (metrics older than metricsStalenessThreshold): score_e = 1.0, counted in stale
 *     pool = mean(score_e) + unpicked / (queueDepthThreshold * ready)
 *       (requests released by the controller but not yet counted by an endpoint: the gate sees
 *       what it just let through before any scrape or in-flight counter does)
 *   concurrency-detector
 *     requests: outstanding / (maxConcurrency * ready)
 *     tokens:   outstanding_tokens / (maxTokenConcurrency * ready)
 *     hybrid:   mean over ready endpoints e of max(inflight_e / maxConcurrency,
 *                                                inflight_tokens_e / maxTokenConcurrency)
 *               + unpicked / (maxConcurrency * ready)
 *               (llm-d: each endpoint is as saturated as its fuller dimension; two endpoints full
 *               on different dimensions are a full pool, not a half-full one)
 *     outstanding is the controller's own count of requests it let through and that have not
 *     finished, so it reacts before any scrape (the gate cannot overshoot between scrapes); the
 *     per-endpoint in-flight counts of hybrid are the gateway's too (no scrape), and the requests
 *     released but not yet forwarded (unpicked) are spread over the pool.
 *   No ready endpoint: saturation 1.0 (nothing can be dispatched; the no-endpoint TTL applies).
 *
 *   With view->exclude (a priority-reservation-filter's reserved endpoints), the same formulas
 *   over the remaining endpoints only: ready = the remaining ready endpoints, and the concurrency
 *   detector's outstanding = the gateway's in-flight requests on them + unpicked (tokens: their
 *   in-flight tokens + unpicked x the mean outstanding tokens per request). The controller uses
 *   it for the bands that may not use the reserved endpoints.
 *
 * headroom only widens the per-endpoint limits of the detectors' filter role in llm-d; pool
 * saturation, which gates dispatch, ignores it (as upstream).
 * Reads the pool's seqlocked endpoint state; no locking of its own.
 */
#include "flow/flow.h"
#include "sched/label_selector.h"

bool sy_flow_endpoint_stale(const struct sy_endpoint_state *st, uint64_t now_ns,
                            uint64_t staleness_ns)
{
    return !st->scraped || now_ns < st->update_ns || now_ns - st->update_ns > staleness_ns;
}

double sy_flow_endpoint_queue(const struct sy_endpoint_state *st)
{
    double waiting = st->m.waiting > 0 ? st->m.waiting : 0;
    double running = st->m.running > 0 ? st->m.running : 0;
    double credit = (double)st->inflight_requests - (waiting + running);
    return waiting + (credit > 0 ? credit : 0);
}

void sy_flow_saturation(const struct sy_flow_detector_params *d, const struct sy_flow_pool_view *v,
                        struct sy_flow_saturation *out)
{
    out->value = 1.0;
    out->ready = 0;
    out->stale = 0;
    const struct sy_pool *pool = v->pool;
    if (!pool)
        return;
    double sum = 0;
    int64_t inflight = 0, inflight_tokens = 0; /* on the endpoints counted (exclude set) */
    for (size_t i = 0; i < pool->n; i++) {
        if (v->exclude && sy_label_selector_match(v->exclude, pool->eps[i]))
            continue;
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(pool->eps[i], &st);
        if (!st.ready)
            continue;
        out->ready++;
        inflight += st.inflight_requests;
        inflight_tokens += st.inflight_tokens;
        if (d->kind != 0) {
            if (d->mode == 2) {
                double rq = st.inflight_requests > 0
                                ? (double)st.inflight_requests / (double)d->max_concurrency
                                : 0;
                double tk = st.inflight_tokens > 0
                                ? (double)st.inflight_tokens / (double)d->max_token_concurrency
                                : 0;
                sum += rq > tk ? rq : tk;
            }
            continue;
        }
        if (sy_flow_endpoint_stale(&st, v->now_ns, d->staleness_ns)) {
            out->stale++;
            sum += 1.0;
            continue;
        }
        double q = sy_flow_endpoint_queue(&st) / d->queue_depth;
        double kv = st.m.kv_usage > 0 ? st.m.kv_usage / d->kv_util : 0;
        sum += q > kv ? q : kv;
    }
    if (out->ready == 0)
        return;
    double n = (double)out->ready;
    if (d->kind == 0) {
        out->value = sum / n + (double)(v->unpicked > 0 ? v->unpicked : 0) / (d->queue_depth * n);
        return;
    }
    if (d->mode == 2) {
        out->value = sum / n +
                     (double)(v->unpicked > 0 ? v->unpicked : 0) / ((double)d->max_concurrency * n);
        return;
    }
    double reqs = (double)v->outstanding, toks = (double)v->outstanding_tokens;
    if (v->exclude) {
        double unpicked = (double)(v->unpicked > 0 ? v->unpicked : 0);
        double per = v->outstanding > 0 ? toks / (double)v->outstanding : 0;
        reqs = (double)inflight + unpicked;
        toks = (double)inflight_tokens + unpicked * per;
    }
    double req = reqs / ((double)d->max_concurrency * n);
    double tok = toks / ((double)d->max_token_concurrency * n);
    out->value = d->mode == 0 ? req : tok;
    if (out->value < 0)
        out->value = 0;
}
