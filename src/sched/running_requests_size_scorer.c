/* running_requests_size_scorer.c - llm-d's `running-requests-size-scorer`.
 *
 * Min-max normalised like queue-scorer, over the running-request count
 * (vllm:num_requests_running): score = (maxR - r) / (maxR - minR), 1 for all when equal. An
 * unreported value (-1) counts as 0. No parameters.
 */
#include "sched/plugins.h"

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = c[i].st.m.running > 0 ? c[i].st.m.running : 0;
        if (i == 0 || r < lo)
            lo = r;
        if (i == 0 || r > hi)
            hi = r;
    }
    for (size_t i = 0; i < n; i++) {
        double r = c[i].st.m.running > 0 ? c[i].st.m.running : 0;
        scores[i] = hi == lo ? 1.0 : (hi - r) / (hi - lo);
    }
}

const struct sy_plugin_ops sy_plugin_running_requests_size_scorer = {
    .type = "running-requests-size-scorer",
    .score = score,
};
