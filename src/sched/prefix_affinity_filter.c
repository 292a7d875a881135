/* prefix_affinity_filter.c - `prefix-cache-affinity-filter`: narrows the candidates to the
 * "sticky" endpoints whose prefix-cache score (matchBlocks / totalBlocks from cy->prefix) reaches
 * affinityThreshold, unless exploring or unless stickiness costs too much time to first token.
 *
 *   n <= 1 or affinityThreshold <= 0              -> keep all
 *   rand < explorationProbability                 -> keep all (exploration)
 *   no candidate reaches the threshold            -> keep all
 *   maxTTFTPenaltyMs > 0 and some are not sticky:
 *       TTFT(ep) = inflight_tokens(ep) / peakPrefillThroughput x 1000   (ms)
 *       min TTFT(sticky) - min TTFT(non-sticky) > maxTTFTPenaltyMs -> keep all (load gate)
 *   maxTokensInFlightPenalty > 0 (v0.8 gate, default off): the same on raw in-flight tokens
 *   otherwise                                     -> keep only the sticky ones (pool order)
 *
 * Generation followed: llm-d router v0.9 (the one with the prefill-throughput TTFT estimate):
 * defaults affinityThreshold 0.80, explorationProbability 0, maxTTFTPenaltyMs 18000,
 * ttftSource prefillThroughput, peakPrefillThroughput 15928 tok/s (Qwen3-32B, 2xH100 TP2).
 * v0.8's defaults were explorationProbability 0.01 and maxTTFTPenaltyMs 5000 against the latency
 * predictor; configs that want them set them explicitly. With ttftSource latencyPredictor, TTFT(ep)
 * is predicted-latency-producer's p90 TTFT prediction (sched/latency_info.h); an endpoint without
 * one (model not ready yet) falls back to the prefill-throughput estimate. In-flight tokens are the
 * gateway's own per-endpoint accounting with inflight-load-producer's semantics (sched/inflight.h:
 * the uncached prompt tokens of requests whose first response byte has not arrived, plus their
 * estimated output when addEstimatedOutputTokens), llm-d's InFlightLoad.Tokens; as in llm-d, the
 * request being scheduled is not added.
 *
 * The state is immutable after create; randomness comes from the cycle (sy_sched_rand).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugin.h"

struct affinity {
    double threshold;        /* affinityThreshold */
    double explore;          /* explorationProbability */
    double max_ttft_ms;      /* maxTTFTPenaltyMs (0 = always stick) */
    double peak_tps;         /* peakPrefillThroughput, tokens/s */
    int64_t max_tok_penalty; /* maxTokensInFlightPenalty (0 = off) */
    bool predictor;          /* ttftSource latencyPredictor */
};

static int affinity_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                           void **state, char *err, size_t errcap)
{
    static const char *const keys[] = {"affinityThreshold",
                                       "explorationProbability",
                                       "maxTTFTPenaltyMs",
                                       "ttftSource",
                                       "peakPrefillThroughput",
                                       "maxTokensInFlightPenalty",
                                       "prefixMatchInfoProducerName",
                                       "inFlightLoadProducerName",
                                       "latencyPredictionInfoProducerName",
                                       NULL};
    struct affinity a = {.threshold = 0.80,
                         .explore = 0.0,
                         .max_ttft_ms = 18000,
                         .peak_tps = 15928,
                         .max_tok_penalty = 0};
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (rc)
        return rc;
    /* affinityThreshold is bounded above only, as llm-d's validate: <= 0 turns the filter off. */
    if ((rc = sy_param_double(params, "affinityThreshold", env, -INFINITY, 1.0, &a.threshold, err,
                              errcap)) ||
        (rc = sy_param_double(params, "explorationProbability", env, 0.0, 1.0, &a.explore, err,
                              errcap)) ||
        (rc = sy_param_double(params, "maxTTFTPenaltyMs", env, 0.0, 1e12, &a.max_ttft_ms, err,
                              errcap)) ||
        (rc = sy_param_double(params, "peakPrefillThroughput", env, 0.0, 1e12, &a.peak_tps, err,
                              errcap)) ||
        (rc = sy_param_int(params, "maxTokensInFlightPenalty", env, 0, INT64_MAX,
                           &a.max_tok_penalty, err, errcap)))
        return rc;
    const char *src = NULL, *ignored = NULL;
    if ((rc = sy_param_string(params, "ttftSource", env, &src, err, errcap)) ||
        (rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &ignored, err, errcap)) ||
        (rc = sy_param_string(params, "inFlightLoadProducerName", env, &ignored, err, errcap)) ||
        (rc = sy_param_string(params, "latencyPredictionInfoProducerName", env, &ignored, err,
                              errcap)))
        return rc;
    a.predictor = src && !strcmp(src, "latencyPredictor");
    if (src && strcmp(src, "prefillThroughput") != 0 && !a.predictor) {
        const struct sy_yaml_node *at = sy_yaml_get(params, "ttftSource");
        return sy_param_errorf(env, at, "ttftSource", err, errcap,
                               "must be 'prefillThroughput' or 'latencyPredictor', got '%s'", src);
    }
    if (a.max_ttft_ms > 0 && a.peak_tps <= 0 && !a.predictor)
        return sy_param_errorf(env, sy_yaml_get(params, "peakPrefillThroughput"),
                               "peakPrefillThroughput", err, errcap,
                               "must be > 0 when ttftSource is prefillThroughput");
    struct affinity *st = SY_NEW(struct affinity);
    *st = a;
    *state = st;
    return 0;
}

static void affinity_destroy(void *state)
{
    free(state);
}

static double prefix_score(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *c)
{
    if (!cy->prefix || !cy->prefix_valid)
        return 0.0;
    const struct sy_prefix_match *m = &cy->prefix[c->pool_index];
    if (m->total_blocks == 0)
        return 0.0;
    return (double)m->match_blocks / (double)m->total_blocks;
}

static int64_t inflight(const struct sy_sched_candidate *c)
{
    return c->st.inflight_tokens > 0 ? c->st.inflight_tokens : 0;
}

/* TTFT estimate of c in ms: the latency model's prediction (ttftSource latencyPredictor) or the
 * in-flight tokens over the peak prefill throughput. */
static double ttft_ms(const struct affinity *a, const struct sy_sched_cycle *cy,
                      const struct sy_sched_candidate *c)
{
    const struct sy_latency_pred *p = a->predictor ? sy_latency_pred_of(cy, c) : NULL;
    if (p)
        return p->ttft_s * 1000.0;
    return a->peak_tps > 0 ? (double)inflight(c) / a->peak_tps * 1000.0 : 0.0;
}

static size_t affinity_filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                              size_t n)
{
    const struct affinity *a = state;
    if (n <= 1 || a->threshold <= 0)
        return n;
    if (sy_sched_rand(cy) < a->explore)
        return n;
    size_t nsticky = 0;
    int64_t best_s = INT64_MAX, best_ns = INT64_MAX; /* min in-flight tokens per group */
    double tt_s = INFINITY, tt_ns = INFINITY;        /* min TTFT estimate (ms) per group */
    for (size_t i = 0; i < n; i++) {
        int64_t t = inflight(&c[i]);
        double ms = a->max_ttft_ms > 0 ? ttft_ms(a, cy, &c[i]) : 0.0;
        if (prefix_score(cy, &c[i]) >= a->threshold) {
            nsticky++;
            best_s = t < best_s ? t : best_s;
            tt_s = ms < tt_s ? ms : tt_s;
        } else {
            best_ns = t < best_ns ? t : best_ns;
            tt_ns = ms < tt_ns ? ms : tt_ns;
        }
    }
    if (nsticky == 0)
        return n;
    if (nsticky < n && a->max_ttft_ms > 0 && tt_s - tt_ns > a->max_ttft_ms)
        return n;
    if (nsticky < n && a->max_tok_penalty > 0 && best_s - best_ns > a->max_tok_penalty)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (prefix_score(cy, &c[i]) >= a->threshold) {
            if (k != i)
                c[k] = c[i];
            k++;
        }
    }
    return k;
}

const struct sy_plugin_ops sy_plugin_prefix_cache_affinity_filter = {
    .type = "prefix-cache-affinity-filter",
    .consumes = SY_PREFIX_KEY,
    .create = affinity_create,
    .destroy = affinity_destroy,
    .filter = affinity_filter,
};
