/* data_layer.c - llm-d's data-layer plugins that Switchyard's pool already provides.
 *
 * llm-d configs wire `metrics-data-source` (GET /metrics every 50 ms), `core-metrics-extractor`
 * (queue, running, KV usage, LoRA, cache config) and `endpoint-notification-source` (pool
 * membership events). Switchyard's pool scraper does exactly this for the engine named in the pool
 * section, so these plugins are accepted with a warning when their parameters are the defaults and
 * refused when a parameter asks for something different (a different path or scheme would change
 * what the scheduler reads). The three ops live in one file because none has a pipeline hook: they
 * exist only so real llm-d configs load without silently dropping anything.
 */
#include <string.h>

#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

static int metrics_source_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                                 void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {"scheme", "path", "insecureSkipVerify", NULL};
    const char *scheme = "http", *path = "/metrics";
    bool skip = true;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "scheme", env, &scheme, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "path", env, &path, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "insecureSkipVerify", env, &skip, err, errcap);
    if (rc)
        return rc;
    if (strcmp(scheme, "http"))
        return sy_param_errorf(env, sy_yaml_get(params, "scheme"), "scheme", err, errcap,
                               "only http is supported by Switchyard's pool scraper yet");
    if (strcmp(path, "/metrics"))
        return sy_param_errorf(env, sy_yaml_get(params, "path"), "path", err, errcap,
                               "only /metrics is supported by Switchyard's pool scraper yet");
    sy_warn("%s:%d: plugin '%s' (metrics-data-source) accepted: the pool scraper polls /metrics "
            "(pool.scrapeInterval)",
            env->file, env->line, env->name);
    *state = NULL;
    return 0;
}

static int noop_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                       void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    sy_warn("%s:%d: plugin '%s' accepted: Switchyard's pool provides this data", env->file,
            env->line, env->name);
    *state = NULL;
    return 0;
}

const struct sy_plugin_ops sy_plugin_metrics_data_source = {
    .type = "metrics-data-source",
    .create = metrics_source_create,
};

const struct sy_plugin_ops sy_plugin_core_metrics_extractor = {
    .type = "core-metrics-extractor",
    .create = noop_create,
};

const struct sy_plugin_ops sy_plugin_endpoint_notification_source = {
    .type = "endpoint-notification-source",
    .create = noop_create,
};
