/* session_affinity_scorer.c - llm-d's `session-affinity-scorer`.
 *
 * The endpoint the request's session is pinned to scores 1.0, every other one 0.0; a request
 * without a session (no token, a token that does not decode, an unbound session id, or a bound
 * endpoint that is not a candidate) scores 0 everywhere, so the other scorers decide.
 *
 * Both of llm-d's strategies (session_affinity.h): `encoded_endpoint_header` (default; the
 * header named by encodedEndpointHeaderConfig.header, default x-session-token, carries base64 of
 * the endpoint; the response carries the served one) and `session_id` (an opaque client id from
 * sessionIdConfig.sources, bound to the endpoint that served it; nothing written back).
 */
#include "sched/plugins.h"
#include "sched/session_affinity.h"

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    long pin = sy_session_choose(state, cy, c, n);
    for (size_t i = 0; i < n; i++)
        scores[i] = (long)i == pin ? 1.0 : 0.0;
}

const struct sy_plugin_ops sy_plugin_session_affinity_scorer = {
    .type = "session-affinity-scorer",
    .create = sy_session_new,
    .destroy = sy_session_free,
    .score = score,
    .pre_request = sy_session_pre_request,
    .records_prefill = true,
    .response_header = sy_session_response_header,
};
