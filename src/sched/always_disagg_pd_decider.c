/* always_disagg_pd_decider.c - llm-d's `always-disagg-pd-decider`: every request gets a prefill
 * leg (when the prefill profile finds an endpoint). No parameters. llm-d's wide-EP guide uses it.
 */
#include "sched/plugins.h"

static bool disaggregate(void *state, struct sy_sched_cycle *cy,
                         const struct sy_sched_candidate *decode)
{
    (void)state;
    (void)cy;
    (void)decode;
    return true;
}

const struct sy_plugin_ops sy_plugin_always_disagg_pd_decider = {
    .type = "always-disagg-pd-decider",
    .disaggregate = disaggregate,
};
