/* active_request_scorer.c - llm-d's `active-request-scorer`.
 *
 * Scores by the number of requests the gateway has in flight to each endpoint (llm-d counts
 * them in inflight-load-producer; Switchyard's pool counts them on every forwarding path, read
 * here from the cycle's snapshot):
 *   c <= idleThreshold -> 1.0
 *   otherwise          -> (max - c) / max * maxBusyScore      max = largest count among candidates
 * Parameters: idleThreshold (default 0, >= 0), maxBusyScore (default 1.0, in [0,1]),
 * requestTimeout (accepted and ignored, as llm-d ignores it: counts are exact here).
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/str.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct active_req {
    int64_t idle_threshold; /* counts at or below are idle */
    double max_busy_score;  /* score ceiling for busy endpoints */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"idleThreshold", "maxBusyScore", "requestTimeout", NULL};
    int64_t idle = 0;
    double mbs = 1.0;
    const char *timeout = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "idleThreshold", env, 0, INT32_MAX, &idle, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "maxBusyScore", env, 0, 1, &mbs, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "requestTimeout", env, &timeout, err, errcap);
    if (rc)
        return rc;
    uint64_t ns;
    if (timeout && sy_parse_duration_ns(timeout, &ns) != 0)
        return sy_param_errorf(env, sy_yaml_get(params, "requestTimeout"), "requestTimeout", err,
                               errcap, "expected a duration like 2m or 30s, got '%s'", timeout);
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
