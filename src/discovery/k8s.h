/* k8s.h - pool.discovery.kubernetes: ready Pods of an InferencePool (or a label selector) as
 * endpoints, list-then-watch through the API server. See k8s.c. */
#ifndef SY_DISCOVERY_K8S_H
#define SY_DISCOVERY_K8S_H

#include <uv.h>

#include "config/yaml.h"
#include "discovery/discovery.h"

struct sy_k8s;

/* Validates the kubernetes mapping; 0 or SY_ECONFIG with "FILE:LINE: pool.discovery.kubernetes.
 * key: reason". */
int sy_k8s_check(const struct sy_yaml_node *node, char *err, size_t errcap);
struct sy_k8s *sy_k8s_start(uv_loop_t *loop, const struct sy_yaml_node *node, sy_discovery_cb *cb,
                            void *ud, char *err, size_t errcap);
/* Stops the watch thread (joins it) and closes the loop handle; frees itself after. */
void sy_k8s_stop(struct sy_k8s *k);

/* Offline use (unit tests): the settings without a thread or a loop; objects applied as list
 * items / watch events would be (a Pod or an EndpointSlice as JSON text); the endpoint set they
 * give now (caller frees with sy_discovery_free_eps). */
struct sy_k8s *sy_k8s_offline(const struct sy_yaml_node *node, char *err, size_t errcap);
void sy_k8s_apply_json(struct sy_k8s *k, const char *obj, bool deleted);
struct sy_endpoint_config *sy_k8s_endpoints(struct sy_k8s *k, size_t *n);
void sy_k8s_offline_free(struct sy_k8s *k);

#endif
