/* random_picker.c - llm-d's `random-picker`: a uniformly random candidate, scores ignored.
 * Parameter maxNumOfEndpoints (see picker.h).
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
    size_t i = (size_t)(sy_sched_rand(cy) * (double)n);
    return i < n ? i : n - 1;
}

const struct sy_plugin_ops sy_plugin_random_picker = {
    .type = "random-picker",
    .create = create,
    .pick = pick,
};
