/* endpoint_attribute.h - how endpoint-attribute-filter and -scorer name the attribute they read
 * (llm-d's attrmetrics.ResolveConfiguredKey), shared by the two plugins.
 *
 * In llm-d the attribute is a custom metric the core metrics extractor maps from a metricSpec
 * (customMetrics: [{attributeKey, metricSpec}]). Switchyard has no such mapping: the attribute
 * names the metric itself, as a selector read from each endpoint's /metrics scrape
 * (pool/attrs.h), e.g. `vllm:num_requests_running` or `custom_queue_depth{tier=gold}`.
 */
#ifndef SY_SCHED_ENDPOINT_ATTRIBUTE_H
#define SY_SCHED_ENDPOINT_ATTRIBUTE_H

#include <stddef.h>

#include "sched/plugin.h"

/* Reads `key` (the attribute parameter) and the optional `producer` from params and registers
 * the attribute; returns its slot (>= 0) or SY_ECONFIG with the message in err. llm-d's rules:
 * the attribute is required; one containing '/' without an explicit producer is refused; a
 * producer other than the core metrics extractor (or "", producer-agnostic) names a plugin whose
 * attributes Switchyard does not have. */
int sy_endpoint_attribute_slot(const struct sy_yaml_node *params, const char *key,
                               const struct sy_plugin_env *env, const char *what, char *err,
                               size_t errcap);

#endif
