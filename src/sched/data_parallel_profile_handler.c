/* data_parallel_profile_handler.c - llm-d's deprecated `data-parallel-profile-handler`
 * (inference-scheduler v0.8, llm-d-router `profilehandler/dataparallel`).
 *
 * What llm-d's does: it runs exactly one scheduling profile; the profile's pick is one
 * data-parallel rank (pod IP and the rank's port); it writes that `ip:port` into the request
 * header `x-data-parallel-host-port` and replaces the port of the destination with `primaryPort`
 * (default 8000), where the llm-d routing sidecar listens; the sidecar reads the header and
 * forwards to the rank's vLLM server. llm-d deprecated it ("use single-profile-handler with Istio
 * >= 1.28.1", which can send to any pod port directly).
 *
 * Switchyard dials every endpoint by its own `host:port`, so it sends the request to the picked
 * rank directly: the same vLLM rank serves it (llm-d's sidecar also listens on every rank port,
 * base + rank, and proxies each to its rank), without the header hop. The handler therefore runs
 * its one profile like single-profile-handler (the loader refuses more than one profile, where
 * llm-d returned an empty result at run time) and logs a deprecation warning at load.
 *
 * Parameters: primaryPort (0..65535, default 8000; validated as llm-d validates it, no effect),
 * targetPort (the key the v0.8 sample config carries; llm-d's JSON decoding ignores it, and so does
 * Switchyard, after checking it is a port).
 */
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"primaryPort", "targetPort", NULL};
    int64_t primary = 8000, target = 0;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "primaryPort", env, 0, 65535, &primary, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "targetPort", env, 1, 65535, &target, err, errcap);
    if (rc)
        return rc;
    sy_warn("%s:%d: %s: plugin type 'data-parallel-profile-handler' is deprecated (llm-d: use "
            "single-profile-handler); Switchyard routes to each data-parallel rank's host:port "
            "directly, so primaryPort %lld and x-data-parallel-host-port are not used",
            env->file ? env->file : "<config>", env->line, env->path ? env->path : "plugin",
            (long long)primary);
    *state = NULL;
    return 0;
}

const struct sy_plugin_ops sy_plugin_data_parallel_profile_handler = {
    .type = "data-parallel-profile-handler",
    .profile_handler = true,
    .create = create,
};
