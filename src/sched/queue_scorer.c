/* queue_scorer.c - llm-d's `queue-scorer`: prefers short waiting queues.
 *
 *   score = (maxQ - q) / (maxQ - minQ)     over the candidates (min-max normalised)
 *   score = 1 for every candidate when all queues are equal
 * q is the scraped waiting-queue length (vllm:num_requests_waiting); an engine that does not
 * report it (-1) counts as 0, as llm-d's zero-valued metrics do. No parameters.
 */
#include "sched/plugins.h"

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double q = c[i].st.m.waiting > 0 ? c[i].st.m.waiting : 0;
        if (i == 0 || q < lo)
            lo = q;
        if (i == 0 || q > hi)
            hi = q;
    }
    for (size_t i = 0; i < n; i++) {
        double q = c[i].st.m.waiting > 0 ? c[i].st.m.waiting : 0;
        scores[i] = hi == lo ? 1.0 : (hi - q) / (hi - lo);
    }
}

const struct sy_plugin_ops sy_plugin_queue_scorer = {
    .type = "queue-scorer",
    .score = score,
};
