/* active_request_scorer.c - llm-d's `active-request-scorer`.
 *
 * Scores by the number of requests the gateway has in flight to each endpoint (llm-d counts
 * them in inflight-load-producer; Switchyard's pool counts them on every forwarding path, read
 * here from the cycle's snapshot):
 *   c <= idleThreshold -> 1.0
 *   otherwise          -> (max - c) / max * maxBusyScore      max = largest count among candidates
 * Parameters: idleThreshold (default 0), maxBusyScore (default 1.0), requestTimeout (deprecated,
 * ignored: counts are exact here). As llm-d's NewActiveRequest: a negative idleThreshold is
 * logged and replaced by 0, a maxBusyScore outside [0,1] is logged and replaced by 1.0, and any
 * requestTimeout string is accepted with a deprecation warning (llm-d's own test creates the
 * scorer with requestTimeout "invalid"). Values of the wrong type are still errors.
 * inFlightLoadProducerName is accepted (the counts are the pool's either way).
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct active_req {
    int64_t idle_threshold; /* counts at or below are idle */
    double max_busy_score;  /* score ceiling for busy endpoints */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"idleThreshold", "maxBusyScore", "requestTimeout",
                                          "inFlightLoadProducerName", NULL};
    int64_t idle = 0;
    double mbs = 1.0;
    const char *timeout = NULL, *producer = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int_or_default(params, "idleThreshold", env, INT32_MIN, INT32_MAX, 0, 0,
                                     &idle, err, errcap);
    if (!rc)
        rc = sy_param_double_or_default(params, "maxBusyScore", env, 0, 1, 1.0, &mbs, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "requestTimeout", env, &timeout, err, errcap);
    if (!rc) /* accepted: the counts are the pool's, whichever producer llm-d would read */
        rc = sy_param_string(params, "inFlightLoadProducerName", env, &producer, err, errcap);
    if (rc)
        return rc;
    if (timeout && *timeout)
        sy_warn("%s:%d: %s.parameters.requestTimeout: deprecated and ignored (plugin '%s')",
                env->file, env->line, env->path, env->name);
    struct active_req *a = SY_NEW(struct active_req);
    a->idle_threshold = idle;
    a->max_busy_score = mbs;
    *state = a;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct active_req *a = state;
    int64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].st.inflight_requests > max)
            max = c[i].st.inflight_requests;
    for (size_t i = 0; i < n; i++) {
        int64_t cnt = c[i].st.inflight_requests > 0 ? c[i].st.inflight_requests : 0;
        if (cnt <= a->idle_threshold || max <= 0)
            scores[i] = 1.0;
        else
            scores[i] = (double)(max - cnt) / (double)max * a->max_busy_score;
    }
}

const struct sy_plugin_ops sy_plugin_active_request_scorer = {
    .type = "active-request-scorer",
    .create = create,
    .destroy = free,
    .score = score,
};
