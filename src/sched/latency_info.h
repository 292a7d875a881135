/* latency_info.h - per-cycle predictions written by `predicted-latency-producer` and read by
 * `latency-scorer`, `slo-headroom-tier-filter`, `latency-slo-admitter` and
 * `prefix-cache-affinity-filter` (ttftSource: latencyPredictor). llm-d: LatencyPredictionInfo. */
#ifndef SY_SCHED_LATENCY_INFO_H
#define SY_SCHED_LATENCY_INFO_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
