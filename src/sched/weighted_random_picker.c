/* weighted_random_picker.c - llm-d's `weighted-random-picker`: chance proportional to the total.
 *
 * A-Res weighted sampling (Efraimidis-Spirakis), as llm-d: each candidate with total w > 0 draws
 * key = u^(1/w), u uniform in (0,1), and the largest key wins; compared as log(u)/w to stay
 * accurate for small weights. P(i) = w_i / sum(w). Candidates with w <= 0 never win unless all
 * are <= 0, in which case the pick is uniform (llm-d's random fallback).
 * Parameter maxNumOfEndpoints (see picker.h).
 */
#include <math.h>

#include "sched/picker.h"
#include "sched/plugins.h"

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    *state = NULL;
    return sy_picker_params(params, env, err, errcap);
}

static size_t pick(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                   size_t n, const double *totals)
{
    size_t best = n;
    double best_key = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!(totals[i] > 0))
            continue;
        double u = sy_sched_rand(cy);
        if (u <= 0)
            u = 0x1.0p-53;
        double key = log(u) / totals[i];
        if (best == n || key > best_key) {
            best = i;
            best_key = key;
        }
    }
    if (best < n)
        return best;
    size_t i = (size_t)(sy_sched_rand(cy) * (double)n);
    return i < n ? i : n - 1;
}

const struct sy_plugin_ops sy_plugin_weighted_random_picker = {
    .type = "weighted-random-picker",
    .create = create,
    .pick = pick,
};
