/* precise_prefix_scorer.c - `precise-prefix-cache-scorer` (legacy alias `kvcache-aware-scorer`):
 * llm-d v0.8's all-in-one precise prefix-cache scorer. The router split it into
 * precise-prefix-cache-producer + prefix-cache-scorer; configs of the older generation still name
 * it, so it is the producer (same parameters, same index, precise_prefix_producer.c) plus a score
 * hook:
 *
 *   score = tier-weighted consecutive matched blocks / request blocks       (in [0, 1])
 *
 * llm-d v0.8 scores the raw tier-weighted block count and normalises it across candidates; dividing
 * by the request's block count instead keeps the value comparable across requests and equal to
 * prefix-cache-scorer's ratio when every block is on GPU, so the two generations weigh alike
 * against other scorers. A request with no full block scores 0 everywhere.
 *
 * Threading: as the producer (immutable state, internally locked index).
 */
#include <math.h>

#include "sched/precise_prefix.h"

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    return sy_precise__create(params, env, true, state, err, errcap);
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    (void)state;
    for (size_t i = 0; i < n; i++) {
        scores[i] = 0.0;
        if (!cy->prefix || !cy->prefix_valid)
            continue;
        const struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
        if (m->total_blocks == 0)
            continue;
        double v = m->weighted / (double)m->total_blocks;
        scores[i] = isnan(v) ? 0.0 : v;
    }
}

const struct sy_plugin_ops sy_plugin_precise_prefix_cache_scorer = {
    .type = "precise-prefix-cache-scorer",
    .produces = SY_PREFIX_KEY,
    .create = create,
    .destroy = sy_precise__destroy,
    .produce = sy_precise__produce,
    .score = score,
    .pre_request = sy_precise__pre_request,
    .done = sy_precise__done,
};
