/* disagg_headers_handler.c - llm-d's deprecated `disagg-headers-handler` (legacy name
 * `prefill-header-handler`, an alias in registry.c): a PreRequest plugin that copied the prefill
 * profile's pick into the `x-prefiller-host-port` header for the decode pod's routing sidecar.
 *
 * In Switchyard the profile handler's result carries the prefill pick and the gateway runs the
 * exchange itself (src/disagg; the `sidecar` connector writes x-prefiller-host-port), which is
 * what llm-d's disagg-profile-handler now does natively. So this plugin is accepted, its
 * parameters (prefillProfile, encodeProfile: strings) checked, a deprecation warning logged, and
 * it has no hooks.
 */
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"prefillProfile", "encodeProfile", NULL};
    const char *s = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefillProfile", env, &s, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "encodeProfile", env, &s, err, errcap);
    if (rc)
        return rc;
    sy_warn("%s:%d: %s: plugin type 'disagg-headers-handler' is deprecated and has no effect: "
            "disagg-profile-handler names the prefill endpoint natively",
            env->file ? env->file : "<config>", env->line, env->path ? env->path : "plugin");
    *state = NULL;
    return 0;
}

const struct sy_plugin_ops sy_plugin_disagg_headers_handler = {
    .type = "disagg-headers-handler",
    .create = create,
};
