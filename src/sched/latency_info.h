/* latency_info.h - per-cycle predictions written by `predicted-latency-producer` and read by
 * `latency-scorer`, `slo-headroom-tier-filter`, `latency-slo-admitter` and
 * `prefix-cache-affinity-filter` (ttftSource: latencyPredictor). llm-d: LatencyPredictionInfo. */
#ifndef SY_SCHED_LATENCY_INFO_H
#define SY_SCHED_LATENCY_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latency/latency.h"
#include "sched/plugin.h"

#define SY_LATENCY_KEY "latency-prediction" /* data key of struct sy_latency_info */

struct sy_latency_pred {
    bool valid;                   /* the model was ready and predicted this endpoint */
    bool idle;                    /* no running, waiting or gateway in-flight requests */
    double ttft_s;                /* predicted p90 TTFT */
    double tpot_s;                /* predicted p90 TPOT (0 for prefill pods: neutralised) */
    double headroom_ttft_s;       /* SLO - predicted; -predicted without an SLO */
    double headroom_tpot_s;       /* buffered TPOT SLO - predicted; -predicted without one */
    double kv_util;               /* for the admitter's KV < 2% rule */
    struct sy_latency_features f; /* features at routing time (the training sample) */
};

struct sy_latency_info {
    bool ready;                   /* the model had enough samples: preds may be valid */
    bool has_ttft_slo;            /* the request carried a TTFT objective */
    bool has_tpot_slo;            /* ... a TPOT objective */
    struct sy_latency_pred *pred; /* [pool->n] by pool_index (only candidates filled) */
    size_t n;                     /* entries */
};

/* The prediction for candidate c, or NULL when none was made (no producer, model not ready). */
static inline const struct sy_latency_pred *sy_latency_pred_of(const struct sy_sched_cycle *cy,
                                                               const struct sy_sched_candidate *c)
{
    if (!cy->latency || !cy->latency->ready || c->pool_index >= cy->latency->n)
        return NULL;
    const struct sy_latency_pred *p = &cy->latency->pred[c->pool_index];
    return p->valid ? p : NULL;
}

/* Both headrooms non-negative (llm-d's positive tier). */
static inline bool sy_latency_pred_positive(const struct sy_latency_pred *p)
{
    return p && p->headroom_ttft_s >= 0 && p->headroom_tpot_s >= 0;
}

/* Decode tokens in flight per running request in the model's features: the gateway does not know
 * a running request's output budget, so the running count stands in at vLLM's typical decode
 * length (predicted-latency-producer fills the feature; latency-scorer's delay objective adds
 * one running request at the same scale). */
#define SY_LATENCY_DECODE_TOKENS_PER_RUNNING 256

/* latency-scorer's outputTokensSource endpoint / fleet: an endpoint's learned mean output length
 * (sy_decode_mean_out) counts once this many requests completed there (one time constant of the
 * mean's 1/8 EWMA); before, outputTokens. */
#define SY_LATENCY_OUT_MIN_SAMPLES 8

/* Inputs of latency-scorer's `objective: e2e-plus-delay` for one candidate (all seconds, tokens).
 */
struct sy_latency_delay_in {
    double ttft_s;     /* predicted TTFT of the request there */
    double tpot_s;     /* predicted TPOT of the request there */
    double prefill_s;  /* predicted TTFT there with nothing running or waiting (KV use as it is) */
    double dtpot_s;    /* predicted TPOT increase of the batch when it joins (>= 0) */
    double running;    /* requests decoding there now (the ones it delays) */
    double out_tokens; /* its expected output length (sy_latency_delay_out) */
    double horizon;    /* delayHorizonTokens: output tokens of theirs the slowdown is counted for */
    double weight;     /* delayWeight */
};

/* The output length the delay objective assumes for a request: the expected length (the
 * scorer's outputTokens), lowered to the request's max_tokens when that is smaller. max_tokens
 * is a cap, not a length: clients send 4096 or the context size (Anthropic's API requires one),
 * and taken as the length it makes the own-e2e term tpot x (max_tokens - 1) swamp the delay
 * term. max_tokens <= 0: none given. */
static inline double sy_latency_delay_out(int64_t max_tokens, double expected)
{
    return max_tokens > 0 && (double)max_tokens < expected ? (double)max_tokens : expected;
}

/* The request's own predicted e2e, ttft + tpot (out - 1), plus weight x the delay it causes the
 * requests running there: each waits for its prefill once (prefill_s) and decodes
 * min(horizon, out) tokens at dtpot_s more per token while it shares their batch. */
static inline double sy_latency_e2e_plus_delay(const struct sy_latency_delay_in *d)
{
    double out = d->out_tokens > 1 ? d->out_tokens : 1;
    double own = d->ttft_s + d->tpot_s * (out - 1);
    double span = d->horizon < out ? d->horizon : out;
    double dt = d->dtpot_s > 0 ? d->dtpot_s : 0;
    double caused = d->running > 0 ? d->running * (d->prefill_s + dt * span) : 0;
    return own + d->weight * caused;
}

#endif
