/* data_layer.h - the checks llm-d's data-layer plugins share (data_layer.c): the data sources
 * (metrics-data-source, models-data-source) and the extractors/sources without parameters, all
 * accepted at what Switchyard's pool scraper already does.
 */
#ifndef SY_SCHED_DATA_LAYER_H
#define SY_SCHED_DATA_LAYER_H

#include <stddef.h>

#include "config/yaml.h"
#include "sched/plugin.h"

/* A scrape source's parameters: only the keys in allowed (NULL-terminated), scheme "http" (the
 * default), path equal to `path` (the default), insecureSkipVerify a bool. 0, or SY_ECONFIG with
 * the message in err. */
int sy_data_source_check(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         const char *const *allowed, const char *path, char *err, size_t errcap);

/* A data-layer plugin without parameters: refuses any, else warns "plugin 'NAME' (TYPE) accepted:
 * NOTE" (TYPE omitted when NULL) and sets *state = NULL. */
int sy_data_layer_accept(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         const char *type, const char *note, void **state, char *err,
                         size_t errcap);

#endif
