/* kv_cache_utilization_scorer.c - llm-d's `kv-cache-utilization-scorer`.
 *
 *   score = 1 - KVCacheUsagePercent      (usage in [0,1], vllm:kv_cache_usage_perc)
 * An unreported usage (-1) counts as 0 (score 1); the pipeline clamps anything outside [0,1].
 * No parameters.
 */
#include "sched/plugins.h"

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    for (size_t i = 0; i < n; i++) {
        double u = c[i].st.m.kv_usage > 0 ? c[i].st.m.kv_usage : 0;
        scores[i] = 1.0 - u;
    }
}

const struct sy_plugin_ops sy_plugin_kv_cache_utilization_scorer = {
    .type = "kv-cache-utilization-scorer",
    .score = score,
};
