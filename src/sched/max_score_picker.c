/* max_score_picker.c - llm-d's `max-score-picker`: the highest total wins, ties broken uniformly
 * at random.
 *
 * llm-d shuffles the candidates and then sorts by score, so each tied candidate is equally
 * likely; a single pass with reservoir sampling over the ties gives the same distribution in
 * O(n) without moving anything. Parameter maxNumOfEndpoints (see picker.h).
 */
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
    size_t best = 0, ties = 1;
    for (size_t i = 1; i < n; i++) {
        if (totals[i] > totals[best]) {
            best = i;
            ties = 1;
        } else if (totals[i] == totals[best]) {
            ties++;
            if (sy_sched_rand(cy) * (double)ties < 1.0)
                best = i;
        }
    }
    return best;
}

const struct sy_plugin_ops sy_plugin_max_score_picker = {
    .type = "max-score-picker",
    .create = create,
    .pick = pick,
};
