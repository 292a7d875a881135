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
#include "sched/data_layer.h"
#include "sched/params.h"
#include "sched/plugins.h"

int sy_data_source_check(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         const char *const *allowed, const char *path, char *err, size_t errcap)
{
    const char *scheme = "http", *p = path;
    bool skip = true;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "scheme", env, &scheme, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "path", env, &p, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "insecureSkipVerify", env, &skip, err, errcap);
    if (rc)
        return rc;
    if (strcmp(scheme, "http"))
        return sy_param_errorf(env, sy_yaml_get(params, "scheme"), "scheme", err, errcap,
                               "'%s' is not supported: Switchyard's pool scraper fetches %s over "
                               "http",
                               scheme, path);
    if (strcmp(p, path))
        return sy_param_errorf(env, sy_yaml_get(params, "path"), "path", err, errcap,
                               "only %s is supported by Switchyard's pool scraper yet", path);
    return 0;
}

int sy_data_layer_accept(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         const char *type, const char *note, void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    sy_warn("%s:%d: plugin '%s'%s%s%s accepted: %s", env->file, env->line, env->name,
            type ? " (" : "", type ? type : "", type ? ")" : "", note);
    *state = NULL;
    return 0;
}

static int metrics_source_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                                 void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {"scheme", "path", "insecureSkipVerify", NULL};
    int rc = sy_data_source_check(params, env, allowed, "/metrics", err, errcap);
    if (rc)
        return rc;
    sy_warn("%s:%d: plugin '%s' (metrics-data-source) accepted: the pool scraper polls /metrics "
            "(pool.scrapeInterval)",
            env->file, env->line, env->name);
    *state = NULL;
    return 0;
}

static int noop_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                       void **state, char *err, size_t errcap)
{
    return sy_data_layer_accept(params, env, NULL, "Switchyard's pool provides this data", state,
                                err, errcap);
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
