/* picker.h - the `maxNumOfEndpoints` parameter every llm-d picker takes.
 *
 * llm-d pickers return up to maxNumOfEndpoints endpoints (default 1), which the proxy tries in
 * order on failure. Switchyard's pick returns one endpoint and a retry re-runs the pipeline with
 * the failed endpoints excluded, so the first choice is the same and later ones are chosen with
 * fresher state; the value is validated (an integer up to 2^20) and otherwise has no effect. A
 * value <= 0 is logged and replaced by 1, as llm-d's pickers fall back to their default.
 */
#ifndef SY_SCHED_PICKER_H
#define SY_SCHED_PICKER_H

#include "sched/params.h"

static inline int sy_picker_params(const struct sy_yaml_node *params,
                                   const struct sy_plugin_env *env, char *err, size_t errcap)
{
    static const char *const allowed[] = {"maxNumOfEndpoints", NULL};
    int64_t max = 1;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int_or_default(params, "maxNumOfEndpoints", env, INT32_MIN, 1 << 20, 1, 1,
                                     &max, err, errcap);
    return rc;
}

#endif
