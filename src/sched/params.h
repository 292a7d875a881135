/* params.h - helpers plugins use to read their `parameters` mapping with llm-d's strictness.
 *
 * Every getter reports problems as "FILE:LINE: plugins[i].parameters.KEY: reason (plugin 'NAME')"
 * into the caller's buffer and returns SY_ECONFIG; a key that is absent leaves *out untouched and
 * returns 0, so callers set defaults first. Strings returned are borrowed from the YAML tree, which
 * is freed after sy_sched_new returns: plugins copy what they keep.
 */
#ifndef SY_SCHED_PARAMS_H
#define SY_SCHED_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/yaml.h"
#include "sched/plugin.h"

/* True when params carries nothing: NULL, or an empty/`null`/`~` plain scalar (`parameters:`). */
bool sy_param_absent(const struct sy_yaml_node *params);
/* True when params sets key to a value (not missing, `null` or `~`), as the readers below see it.
 */
bool sy_param_present(const struct sy_yaml_node *params, const char *key);
/* params must be absent or a mapping whose keys all appear in allowed (NULL-terminated). */
int sy_param_check(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                   const char *const *allowed, char *err, size_t errcap);
int sy_param_int(const struct sy_yaml_node *params, const char *key,
                 const struct sy_plugin_env *env, int64_t min, int64_t max, int64_t *out, char *err,
                 size_t errcap);
/* Reads key like sy_param_int, but a value in [min, max] below least is not refused: llm-d's
 * factories fall back to their default for it, so *out = def and the one shared warning is logged,
 * "FILE:LINE: PATH.parameters.KEY: V should be at least LEAST, using the default DEF (plugin
 * 'NAME')". Absent: *out untouched (callers set def first). */
int sy_param_int_or_default(const struct sy_yaml_node *params, const char *key,
                            const struct sy_plugin_env *env, int64_t min, int64_t max,
                            int64_t least, int64_t def, int64_t *out, char *err, size_t errcap);
int sy_param_double(const struct sy_yaml_node *params, const char *key,
                    const struct sy_plugin_env *env, double min, double max, double *out, char *err,
                    size_t errcap);
/* The same fallback for a number (finite, else refused as sy_param_double does): a value outside
 * [lo, hi] gives def and the shared warning ("V should be in [LO, HI], using the default DEF"). */
int sy_param_double_or_default(const struct sy_yaml_node *params, const char *key,
                               const struct sy_plugin_env *env, double lo, double hi, double def,
                               double *out, char *err, size_t errcap);
int sy_param_bool(const struct sy_yaml_node *params, const char *key,
                  const struct sy_plugin_env *env, bool *out, char *err, size_t errcap);
/* A scalar string (borrowed). */
int sy_param_string(const struct sy_yaml_node *params, const char *key,
                    const struct sy_plugin_env *env, const char **out, char *err, size_t errcap);
/* Formats "FILE:LINE: PATH.parameters[.key]: reason (plugin 'NAME')" with at's line (or the
 * plugin's line when at is NULL). Returns SY_ECONFIG. */
int sy_param_errorf(const struct sy_plugin_env *env, const struct sy_yaml_node *at, const char *key,
                    char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
