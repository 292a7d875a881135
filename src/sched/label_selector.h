/* label_selector.h - a Kubernetes label selector over endpoints' labels (matchLabels and
 * matchExpressions In | NotIn | Exists | DoesNotExist), shared by the plugins that select endpoints
 * by label (label-selector-filter, priority-reservation-filter). Implemented in
 * label_selector_filter.c. A parsed selector is immutable: workers may match it concurrently.
 */
#ifndef SY_SCHED_LABEL_SELECTOR_H
#define SY_SCHED_LABEL_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "config/yaml.h"
#include "sched/plugin.h"

struct sy_endpoint;
struct sy_label_selector;

/* Reads matchLabels and matchExpressions from params (a mapping, or absent = the empty selector,
 * which matches everything); other keys are the caller's to check. prefix ("" or e.g.
 * "reserved.") goes in front of the keys named in error messages. On success *out is owned by
 * the caller (sy_label_selector_free); on error returns SY_ECONFIG with err filled. */
int sy_label_selector_parse(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                            const char *prefix, struct sy_label_selector **out, char *err,
                            size_t errcap);
/* True when every requirement holds for ep's labels (Kubernetes semantics). */
bool sy_label_selector_match(const struct sy_label_selector *s, const struct sy_endpoint *ep);
/* Number of requirements (0 = matches everything). */
size_t sy_label_selector_size(const struct sy_label_selector *s);
void sy_label_selector_free(struct sy_label_selector *s);

#endif
