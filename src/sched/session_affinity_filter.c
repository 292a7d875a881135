/* session_affinity_filter.c - llm-d's `session-affinity-filter`: session affinity as a hard
 * constraint.
 *
 * When the endpoint the request's session is pinned to is among the candidates it is kept
 * alone; otherwise (no session, undecodable token, unbound id, bound endpoint gone) every
 * candidate passes unchanged, so the filter never empties the set. Same parameters and
 * strategies as session-affinity-scorer (session_affinity.h); each instance has its own
 * session_id bindings.
 */
#include "sched/plugins.h"
#include "sched/session_affinity.h"

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    long pin = sy_session_choose(state, cy, c, n);
    if (pin < 0)
        return n;
    c[0] = c[pin];
    return 1;
}

const struct sy_plugin_ops sy_plugin_session_affinity_filter = {
    .type = "session-affinity-filter",
    .create = sy_session_new,
    .destroy = sy_session_free,
    .filter = filter,
    .pre_request = sy_session_pre_request,
    .records_prefill = true,
    .response_header = sy_session_response_header,
};
