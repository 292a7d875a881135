/* prefill_filter.c - llm-d's `prefill-filter`: keeps endpoints that can prefill.
 *
 * llm-d.ai/role in {prefill, encode-prefill, prefill-decode, both, encode-prefill-decode};
 * unlabeled endpoints are dropped (unlike decode-filter). No parameters.
 */
#include "sched/filter_keep.h"
#include "sched/plugins.h"
#include "sched/role.h"

static const char *const prefill_roles[] = {"prefill", "encode-prefill",        "prefill-decode",
                                            "both",    "encode-prefill-decode", NULL};

static bool prefill_keeps(const void *state, struct sy_sched_cycle *cy,
                          const struct sy_endpoint *ep)
{
    return sy_role_keeps(ep, prefill_roles, false);
}

static size_t prefill_filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                             size_t n)
{
    return sy_sched_keep_if(c, n, prefill_keeps, state, cy);
}

const struct sy_plugin_ops sy_plugin_prefill_filter = {
    .type = "prefill-filter",
    .filter = prefill_filter,
    .keeps = prefill_keeps,
};
