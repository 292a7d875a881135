/* models_data_source.c - llm-d's `models-data-source` and `models-data-extractor`, accepted at
 * what Switchyard's pool scraper already does.
 *
 * models-responder auto-creates this pair in llm-d to collect every endpoint's GET /v1/models;
 * users declare the source explicitly to change its scheme or TLS settings. Switchyard's pool
 * scraper fetches /v1/models over http from every endpoint (every 20 scrape ticks), so the pair is
 * accepted with a warning when it asks for that (scheme http, path /v1/models; interval is noted
 * and ignored) and refused when it asks for something else (https, another path, TLS files):
 * silently scraping differently would change the model lists routing and /v1/models rely on.
 */
#include <string.h>

#include "core/log.h"
#include "sched/data_layer.h"
#include "sched/params.h"
#include "sched/plugins.h"

static int source_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {
        "scheme",         "path",          "insecureSkipVerify", "caCertPath",
        "clientCertPath", "clientKeyPath", "interval",           NULL};
    const char *interval = NULL;
    int rc = sy_data_source_check(params, env, allowed, "/v1/models", err, errcap);
    if (!rc)
        rc = sy_param_string(params, "interval", env, &interval, err, errcap);
    if (rc)
        return rc;
    static const char *const tls[] = {"caCertPath", "clientCertPath", "clientKeyPath"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = NULL;
        if ((rc = sy_param_string(params, tls[i], env, &v, err, errcap)))
            return rc;
        if (v && *v)
            return sy_param_errorf(env, sy_yaml_get(params, tls[i]), tls[i], err, errcap,
                                   "TLS to the model servers is not supported by Switchyard's "
                                   "pool scraper");
    }
    sy_warn("%s:%d: plugin '%s' (models-data-source) accepted: the pool scraper fetches each "
            "endpoint's /v1/models%s",
            env->file, env->line, env->name,
            interval ? " (its own refresh period; interval ignored)" : "");
    *state = NULL;
    return 0;
}

static int extractor_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                            void **state, char *err, size_t errcap)
{
    return sy_data_layer_accept(params, env, "models-data-extractor",
                                "the pool keeps each endpoint's model list", state, err, errcap);
}

const struct sy_plugin_ops sy_plugin_models_data_source = {
    .type = "models-data-source",
    .create = source_create,
};

const struct sy_plugin_ops sy_plugin_models_data_extractor = {
    .type = "models-data-extractor",
    .create = extractor_create,
};
