/* decode_filter.c - llm-d's `decode-filter`: keeps endpoints that can decode.
 *
 * llm-d.ai/role in {decode, prefill-decode, both, encode-prefill-decode}, and endpoints with no
 * role label at all (an unlabeled replica is a plain aggregated server). No parameters.
 */
#include "sched/filter_keep.h"
#include "sched/plugins.h"
#include "sched/role.h"

static const char *const decode_roles[] = {"decode", "prefill-decode", "both",
                                           "encode-prefill-decode", NULL};

static bool decode_keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    return sy_role_keeps(ep, decode_roles, true);
}

static size_t decode_filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                            size_t n)
{
    return sy_sched_keep_if(c, n, decode_keeps, state, cy);
}

const struct sy_plugin_ops sy_plugin_decode_filter = {
    .type = "decode-filter",
    .filter = decode_filter,
    .keeps = decode_keeps,
};
