/* encode_filter.c - llm-d's `encode-filter`: keeps endpoints that run a multimodal encoder.
 *
 * llm-d.ai/role in {encode, encode-prefill, encode-prefill-decode}; unlabeled endpoints are
 * dropped. No parameters.
 */
#include "sched/filter_keep.h"
#include "sched/plugins.h"
#include "sched/role.h"

static const char *const encode_roles[] = {"encode", "encode-prefill", "encode-prefill-decode",
                                           NULL};

static bool encode_keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    return sy_role_keeps(ep, encode_roles, false);
}

static size_t encode_filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                            size_t n)
{
    return sy_sched_keep_if(c, n, encode_keeps, state, cy);
}

const struct sy_plugin_ops sy_plugin_encode_filter = {
    .type = "encode-filter",
    .filter = encode_filter,
    .keeps = encode_keeps,
};
