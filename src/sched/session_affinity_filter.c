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

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    return sy_session_new(params, env, (struct sy_session **)state, err, errcap);
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    long pin = sy_session_choose(state, cy, c, n);
    if (pin < 0)
        return n;
    c[0] = c[pin];
    return 1;
}

static void pre_request(void *state, struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *chosen)
{
    sy_session_pre_request(state, cy, chosen);
}

static void response_header(void *state, const struct sy_sched_cycle *cy,
                            const struct sy_endpoint *served, struct sy_buf *out)
{
    (void)cy;
    sy_session_response_header(state, served, out);
}

const struct sy_plugin_ops sy_plugin_session_affinity_filter = {
    .type = "session-affinity-filter",
    .create = create,
    .destroy = sy_session_free,
    .filter = filter,
    .pre_request = pre_request,
    .response_header = response_header,
};
