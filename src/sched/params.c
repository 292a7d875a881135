/* params.c - strict readers for plugin parameters (see params.h).
 *
 * llm-d decodes plugin parameters from JSON into Go structs; the router rejects unknown fields.
 * These helpers give Switchyard's plugins the same strictness with line numbers: each plugin lists
 * its keys once (sy_param_check), then reads typed values with bounds. Numbers must be plain YAML
 * scalars; quoted numbers are accepted too because llm-d's samples quote some (hashSeed: "42").
 */
#include "sched/params.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

int sy_param_errorf(const struct sy_plugin_env *env, const struct sy_yaml_node *at, const char *key,
                    char *err, size_t errcap, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (err && errcap)
        snprintf(err, errcap, "%s:%d: %s.parameters%s%s: %s (plugin '%s')",
                 env && env->file ? env->file : "<config>", at ? at->line : (env ? env->line : 0),
                 env && env->path ? env->path : "plugin", key ? "." : "", key ? key : "", reason,
                 env && env->name ? env->name : "?");
    return SY_ECONFIG;
}

bool sy_param_absent(const struct sy_yaml_node *params)
{
    if (!params)
        return true;
    if (params->type != SY_YAML_SCALAR || params->quoted)
        return false;
    const char *s = params->scalar ? params->scalar : "";
    return !*s || !strcmp(s, "null") || !strcmp(s, "~") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

int sy_param_check(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                   const char *const *allowed, char *err, size_t errcap)
{
    if (sy_param_absent(params))
        return 0;
    if (params->type != SY_YAML_MAPPING)
        return sy_param_errorf(env, params, NULL, err, errcap, "must be a mapping");
    for (size_t i = 0; i < params->n; i++) {
        const char *k = sy_yaml_str(params->keys[i]);
        bool ok = false;
        for (size_t j = 0; k && allowed && allowed[j]; j++)
            if (!strcmp(k, allowed[j])) {
                ok = true;
                break;
            }
        if (!ok)
            return sy_param_errorf(env, params->keys[i], k ? k : "?", err, errcap,
                                   "unknown parameter");
    }
    return 0;
}

/* The value node for key, or NULL (absent or explicitly null). */
static const struct sy_yaml_node *value_of(const struct sy_yaml_node *params, const char *key)
{
    if (sy_param_absent(params) || params->type != SY_YAML_MAPPING)
        return NULL;
    const struct sy_yaml_node *v = sy_yaml_get(params, key);
    if (v && v->type == SY_YAML_SCALAR && !v->quoted && sy_param_absent(v))
        return NULL;
    return v;
}

bool sy_param_present(const struct sy_yaml_node *params, const char *key)
{
    return value_of(params, key) != NULL;
}

int sy_param_int(const struct sy_yaml_node *params, const char *key,
                 const struct sy_plugin_env *env, int64_t min, int64_t max, int64_t *out, char *err,
                 size_t errcap)
{
    const struct sy_yaml_node *v = value_of(params, key);
    if (!v)
        return 0;
    const char *s = sy_yaml_str(v);
    char *end = NULL;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || errno)
        return sy_param_errorf(env, v, key, err, errcap, "expected an integer, got '%s'",
                               s ? s : "(not a scalar)");
    if (x < min || x > max)
        return sy_param_errorf(env, v, key, err, errcap, "%lld is out of range [%lld, %lld]", x,
                               (long long)min, (long long)max);
    *out = x;
    return 0;
}

/* The one wording of every "out of its useful range, so the default" fallback; value, want and
 * def are already formatted. Logged at the value's line. */
static void warn_default(const struct sy_yaml_node *params, const char *key,
                         const struct sy_plugin_env *env, const char *value, const char *want,
                         const char *def)
{
    const struct sy_yaml_node *v = value_of(params, key);
    sy_warn("%s:%d: %s.parameters.%s: %s should be %s, using the default %s (plugin '%s')",
            env && env->file ? env->file : "<config>", v ? v->line : (env ? env->line : 0),
            env && env->path ? env->path : "plugin", key, value, want, def,
            env && env->name ? env->name : "?");
}

int sy_param_int_or_default(const struct sy_yaml_node *params, const char *key,
                            const struct sy_plugin_env *env, int64_t min, int64_t max,
                            int64_t least, int64_t def, int64_t *out, char *err, size_t errcap)
{
    int64_t x = def;
    int rc = sy_param_int(params, key, env, min, max, &x, err, errcap);
    if (rc || !sy_param_present(params, key))
        return rc;
    if (x < least) {
        char value[24], want[40], dflt[24];
        snprintf(value, sizeof value, "%lld", (long long)x);
        snprintf(want, sizeof want, "at least %lld", (long long)least);
        snprintf(dflt, sizeof dflt, "%lld", (long long)def);
        warn_default(params, key, env, value, want, dflt);
        x = def;
    }
    *out = x;
    return 0;
}

int sy_param_double_or_default(const struct sy_yaml_node *params, const char *key,
                               const struct sy_plugin_env *env, double lo, double hi, double def,
                               double *out, char *err, size_t errcap)
{
    double x = def;
    int rc = sy_param_double(params, key, env, -INFINITY, INFINITY, &x, err, errcap);
    if (rc || !sy_param_present(params, key))
        return rc;
    if (!(x >= lo && x <= hi)) {
        char value[32], want[72], dflt[32];
        snprintf(value, sizeof value, "%g", x);
        snprintf(want, sizeof want, "in [%g, %g]", lo, hi);
        snprintf(dflt, sizeof dflt, "%g", def);
        warn_default(params, key, env, value, want, dflt);
        x = def;
    }
    *out = x;
    return 0;
}

int sy_param_double(const struct sy_yaml_node *params, const char *key,
                    const struct sy_plugin_env *env, double min, double max, double *out, char *err,
                    size_t errcap)
{
    const struct sy_yaml_node *v = value_of(params, key);
    if (!v)
        return 0;
    const char *s = sy_yaml_str(v);
    double x;
    if (!s || sy_parse_double(s, &x) != 0)
        return sy_param_errorf(env, v, key, err, errcap, "expected a number, got '%s'",
                               s ? s : "(not a scalar)");
    if (!(x >= min && x <= max))
        return sy_param_errorf(env, v, key, err, errcap, "%g is out of range [%g, %g]", x, min,
                               max);
    *out = x;
    return 0;
}

int sy_param_bool(const struct sy_yaml_node *params, const char *key,
                  const struct sy_plugin_env *env, bool *out, char *err, size_t errcap)
{
    const struct sy_yaml_node *v = value_of(params, key);
    if (!v)
        return 0;
    const char *s = sy_yaml_str(v);
    if (!s || sy_parse_bool(s, out) != 0)
        return sy_param_errorf(env, v, key, err, errcap, "expected true or false, got '%s'",
                               s ? s : "(not a scalar)");
    return 0;
}

int sy_param_string(const struct sy_yaml_node *params, const char *key,
                    const struct sy_plugin_env *env, const char **out, char *err, size_t errcap)
{
    const struct sy_yaml_node *v = value_of(params, key);
    if (!v)
        return 0;
    if (v->type != SY_YAML_SCALAR)
        return sy_param_errorf(env, v, key, err, errcap, "expected a string");
    *out = v->scalar;
    return 0;
}
