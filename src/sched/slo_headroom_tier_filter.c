/* slo_headroom_tier_filter.c - llm-d's `slo-headroom-tier-filter`: keep the endpoints predicted
 * to meet the request's objectives.
 *
 *   positive tier: TTFT headroom >= 0 and TPOT headroom >= 0 (predicted-latency-producer)
 *   negative tier: everything else, including endpoints without a prediction
 *   both tiers non-empty: keep the positive tier, except with probability epsilonExploreNeg
 *   (0.01) keep the negative tier, so the model keeps seeing what the slow endpoints do
 *   one tier empty (or no predictions at all): keep every candidate
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct state {
    double eps; /* epsilonExploreNeg */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    /* latencyPredictionInfoProducerName is accepted: the cycle carries one prediction set. */
    static const char *const keys[] = {"epsilonExploreNeg", "latencyPredictionInfoProducerName",
                                       NULL};
    double eps = 0.01;
    const char *producer = NULL;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "epsilonExploreNeg", env, 0, 1, &eps, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "latencyPredictionInfoProducerName", env, &producer, err,
                             errcap);
    if (rc)
        return rc;
    struct state *st = SY_NEW(struct state);
    st->eps = eps;
    *out = st;
    return 0;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    const struct state *st = state;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += sy_latency_pred_positive(sy_latency_pred_of(cy, &c[i]));
    if (pos == 0 || pos == n)
        return n;
    bool keep_pos = !(sy_sched_rand(cy) < st->eps);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (sy_latency_pred_positive(sy_latency_pred_of(cy, &c[i])) == keep_pos)
            c[k++] = c[i];
    return k;
}

const struct sy_plugin_ops sy_plugin_slo_headroom_tier_filter = {
    .type = "slo-headroom-tier-filter",
    .consumes = SY_LATENCY_KEY,
    .create = create,
    .destroy = free,
    .filter = filter,
};
