/* latency_slo_admitter.c - llm-d's `latency-slo-admitter`: sheds a sheddable request (priority
 * < 0) that no endpoint is predicted to serve within its objectives.
 *
 * For priority < 0 the request is admitted when any candidate has a valid prediction with both
 * headrooms >= 0, or is idle, or has KV-cache utilisation below 2%; otherwise it is denied.
 * Requests with priority >= 0, requests without an SLO, and cycles without predictions (model not
 * ready, no producer) pass untouched: the admitter never sheds on a model that cannot speak yet.
 *
 * It is an admission plugin (ops.admission), as in llm-d: listed under plugins, it runs once per
 * request after the producers and before the profiles (sched.c), and a denial makes
 * sy_sched_pick return SY_EADMISSION. The gateway answers that through flow control's refusal
 * path (SY_FLOW_REJECT_ADMISSION: the flow item is released, the refusal counted) with llm-d's
 * status: 500 "request cannot be admitted" (the router's Director maps a denying admission
 * plugin to errcommon.Internal, and sets no x-llm-d-request-dropped-reason for it). The priority
 * is flow control's band for the request (x-gateway-inference-objective), which the gateway
 * copies into the request view.
 */
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define ADMIT_KV 0.02 /* an endpoint this empty always admits */

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    /* latencyPredictionInfoProducerName is accepted: the cycle carries one prediction set. */
    static const char *const keys[] = {"latencyPredictionInfoProducerName", NULL};
    const char *producer = NULL;
    *out = NULL;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "latencyPredictionInfoProducerName", env, &producer, err,
                             errcap);
    return rc;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    (void)state;
    const struct sy_latency_info *info = cy->latency;
    if (!cy->req || cy->req->priority >= 0 || !info || !info->ready ||
        !(info->has_ttft_slo || info->has_tpot_slo))
        return n;
    bool any_pred = false;
    for (size_t i = 0; i < n; i++) {
        const struct sy_latency_pred *p = sy_latency_pred_of(cy, &c[i]);
        if (!p)
            continue;
        any_pred = true;
        if (sy_latency_pred_positive(p) || p->idle || p->kv_util < ADMIT_KV)
            return n;
    }
    return any_pred ? 0 : n;
}

const struct sy_plugin_ops sy_plugin_latency_slo_admitter = {
    .type = "latency-slo-admitter",
    .consumes = SY_LATENCY_KEY,
    .admission = true,
    .create = create,
    .filter = filter,
};
