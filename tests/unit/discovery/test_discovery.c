/* Unit tests for src/discovery: merging static and discovered endpoints, config checks, and
 * the Kubernetes members (Pods, EndpointSlices) applied offline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/yaml.h"
#include "discovery/discovery.h"
#include "discovery/k8s.h"

static struct sy_config *load(const char *text, char *err)
{
    return sy_config_load_string(text, strlen(text), "t.yaml", err, 512);
}

static void test_merge_keeps_static_and_drops_duplicates(void **state)
{
    (void)state;
    char err[512];
    struct sy_config *cfg = load("listen: 127.0.0.1:1\npool:\n  endpoints:\n"
                                 "    - address: 10.0.0.1:8000\n"
                                 "      labels: {llm-d.ai/role: prefill}\n",
                                 err);
    assert_non_null(cfg);
    struct sy_label l = {"llm-d.ai/role", "decode"};
    struct sy_endpoint_config disc[2] = {
        {.address = "10.0.0.1:8000", .host = "10.0.0.1", .port = 8000, .labels = &l, .nlabels = 1},
        {.address = "10.0.0.2:8000", .host = "10.0.0.2", .port = 8000, .labels = &l, .nlabels = 1},
    };
    size_t n;
    struct sy_endpoint_config *all = sy_discovery_merge(cfg, disc, 2, &n);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].address, "10.0.0.1:8000");
    assert_string_equal(all[0].labels[0].value, "prefill"); /* the static entry wins */
    assert_string_equal(all[1].address, "10.0.0.2:8000");
    assert_string_equal(all[1].labels[0].value, "decode");
    assert_ptr_not_equal(all[1].labels, disc[1].labels); /* deep copies */
    sy_discovery_free_eps(all, n);
    sy_config_unref(cfg);
}

static void test_discovery_without_static_endpoints_loads(void **state)
{
    (void)state;
    char err[512];
    struct sy_config *cfg = load("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns:\n"
                                 "      name: vllm.test\n      port: 8000\n",
                                 err);
    assert_non_null(cfg);
    assert_int_equal(cfg->nendpoints, 0);
    assert_true(sy_discovery_configured(cfg));
    assert_int_equal(sy_discovery_check(cfg, err, sizeof err), 0);
    sy_config_unref(cfg);
    /* without discovery an empty pool is still an error */
    cfg = load("listen: 127.0.0.1:1\npool:\n  engine: vllm\n", err);
    assert_null(cfg);
    assert_non_null(strstr(err, "at least one endpoint is required"));
    /* both kinds at once */
    cfg = load("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns: {name: a, port: 1}\n"
               "    kubernetes: {selector: {a: b}, targetPorts: [1]}\n",
               err);
    assert_non_null(cfg);
    assert_int_not_equal(sy_discovery_check(cfg, err, sizeof err), 0);
    assert_non_null(strstr(err, "set dns or kubernetes, not both"));
    sy_config_unref(cfg);
}

/* A kubernetes mapping (offline: no thread, no loop). */
static struct sy_k8s *k8s(const char *block, struct sy_yaml_node **root, char *err)
{
    char text[1024];
    snprintf(text, sizeof text, "%s  namespace: llm\n  apiServer: http://127.0.0.1:1\n", block);
    *root = sy_yaml_load_string(text, strlen(text), "k.yaml", err, 512);
    assert_non_null(*root);
    return sy_k8s_offline(sy_yaml_get(*root, "kubernetes"), err, 512);
}

static const char *label(const struct sy_endpoint_config *e, const char *key)
{
    for (size_t i = 0; i < e->nlabels; i++)
        if (strcmp(e->labels[i].key, key) == 0)
            return e->labels[i].value;
    return NULL;
}

static const char SLICE_A[] =
    "{\"metadata\":{\"name\":\"vllm-a\",\"labels\":{\"kubernetes.io/service-name\":\"vllm\","
    "\"llm-d.ai/role\":\"decode\",\"tier\":\"bronze\"}},\"addressType\":\"IPv4\","
    "\"ports\":[{\"name\":\"metrics\",\"port\":9090,\"protocol\":\"TCP\"},"
    "{\"name\":\"http\",\"port\":8000},{\"name\":\"http\",\"port\":8001,\"protocol\":\"UDP\"}],"
    "\"endpoints\":[{\"addresses\":[\"10.0.0.2\",\"10.9.9.9\"],\"conditions\":{\"ready\":true}},"
    "{\"addresses\":[\"10.0.0.1\"]}," /* unknown = ready */
    "{\"addresses\":[\"10.0.0.3\"],\"conditions\":{\"ready\":false}},"
    "{\"addresses\":[\"10.0.0.4\"],\"conditions\":{\"terminating\":true}},"
    "{\"addresses\":[\"fd00::5\"],\"conditions\":{\"ready\":true}},"
    "{\"addresses\":[]}]}";

static void test_k8s_endpointslices_ready_ports_labels(void **state)
{
    (void)state;
    char err[512];
    struct sy_yaml_node *root;
    struct sy_k8s *k = k8s("kubernetes:\n  service: vllm\n  portNames: [http]\n"
                           "  labels: {tier: gold}\n",
                           &root, err);
    assert_non_null(k);
    sy_k8s_apply_json(k, SLICE_A, false);
    size_t n;
    struct sy_endpoint_config *e = sy_k8s_endpoints(k, &n);
    /* sorted; the TCP port named http only; the first address; not ready / terminating out */
    assert_int_equal(n, 3);
    assert_string_equal(e[0].address, "10.0.0.1:8000");
    assert_string_equal(e[1].address, "10.0.0.2:8000");
    assert_string_equal(e[2].address, "[fd00::5]:8000");
    assert_int_equal(e[2].port, 8000);
    assert_int_equal(e[0].rank, -1);
    assert_string_equal(label(&e[0], "llm-d.ai/role"), "decode");
    assert_string_equal(label(&e[0], "tier"), "gold"); /* the configured label wins */
    assert_string_equal(label(&e[0], "kubernetes.io/service-name"), "vllm");
    sy_discovery_free_eps(e, n);
    /* a second slice repeating 10.0.0.2 (moving between slices): counted once */
    sy_k8s_apply_json(k,
                      "{\"metadata\":{\"name\":\"vllm-b\"},\"addressType\":\"IPv4\","
                      "\"ports\":[{\"name\":\"http\",\"port\":8000}],\"endpoints\":["
                      "{\"addresses\":[\"10.0.0.2\"]},{\"addresses\":[\"10.0.0.7\"]}]}",
                      false);
    e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 4);
    assert_string_equal(e[2].address, "10.0.0.7:8000");
    sy_discovery_free_eps(e, n);
    /* deleting slice a leaves b's */
    sy_k8s_apply_json(k, "{\"metadata\":{\"name\":\"vllm-a\"}}", true);
    e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].address, "10.0.0.2:8000");
    assert_null(label(&e[0], "llm-d.ai/role")); /* slice b has no labels, only the configured */
    assert_string_equal(label(&e[0], "tier"), "gold");
    sy_discovery_free_eps(e, n);
    /* an FQDN slice gives nothing */
    sy_k8s_apply_json(k,
                      "{\"metadata\":{\"name\":\"vllm-b\"},\"addressType\":\"FQDN\","
                      "\"ports\":[{\"name\":\"http\",\"port\":8000}],"
                      "\"endpoints\":[{\"addresses\":[\"a.example\"]}]}",
                      false);
    e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 0);
    sy_discovery_free_eps(e, n);
    sy_k8s_offline_free(k);
    sy_yaml_free(root);
}

static void test_k8s_endpointslices_port_choice(void **state)
{
    (void)state;
    char err[512];
    struct sy_yaml_node *root;
    /* targetPorts filter by number; without either, every TCP port */
    struct sy_k8s *k = k8s("kubernetes:\n  service: [a, b]\n  targetPorts: [9090]\n", &root, err);
    assert_non_null(k);
    sy_k8s_apply_json(k, SLICE_A, false);
    size_t n;
    struct sy_endpoint_config *e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].address, "10.0.0.1:9090");
    sy_discovery_free_eps(e, n);
    sy_k8s_offline_free(k);
    sy_yaml_free(root);
    k = k8s("kubernetes:\n  service: vllm\n", &root, err);
    assert_non_null(k);
    sy_k8s_apply_json(k, SLICE_A, false);
    e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 6); /* 3 ready endpoints x TCP ports 9090 and 8000 */
    sy_discovery_free_eps(e, n);
    sy_k8s_offline_free(k);
    sy_yaml_free(root);
}

static void test_k8s_pods_as_members(void **state)
{
    (void)state;
    char err[512];
    struct sy_yaml_node *root;
    struct sy_k8s *k =
        k8s("kubernetes:\n  selector: {app: vllm}\n  targetPorts: [8000, 8001]\n", &root, err);
    assert_non_null(k);
    static const char pod[] =
        "{\"metadata\":{\"name\":\"p1\",\"labels\":{\"llm-d.ai/role\":\"prefill\"}},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.0.1\","
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}";
    sy_k8s_apply_json(k, pod, false);
    sy_k8s_apply_json(k,
                      "{\"metadata\":{\"name\":\"p2\"},\"status\":{\"phase\":\"Running\","
                      "\"podIP\":\"10.1.0.2\",\"conditions\":[{\"type\":\"Ready\","
                      "\"status\":\"False\"}]}}",
                      false);
    size_t n;
    struct sy_endpoint_config *e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 2); /* one endpoint per target port of the ready pod */
    assert_string_equal(e[0].address, "10.1.0.1:8000");
    assert_string_equal(e[1].address, "10.1.0.1:8001");
    assert_string_equal(label(&e[1], "llm-d.ai/role"), "prefill");
    sy_discovery_free_eps(e, n);
    sy_k8s_apply_json(k, pod, true);
    e = sy_k8s_endpoints(k, &n);
    assert_int_equal(n, 0);
    sy_discovery_free_eps(e, n);
    sy_k8s_offline_free(k);
    sy_yaml_free(root);
}

static void test_k8s_service_config_errors(void **state)
{
    (void)state;
    char err[512];
    struct sy_yaml_node *root;
    assert_null(
        k8s("kubernetes:\n  service: vllm\n  selector: {a: b}\n  targetPorts: [1]\n", &root, err));
    assert_non_null(strstr(err, "not with inferencePool or selector"));
    sy_yaml_free(root);
    assert_null(k8s("kubernetes:\n  inferencePool: p\n  portNames: [http]\n", &root, err));
    assert_non_null(strstr(err, "portNames: only with service"));
    sy_yaml_free(root);
    assert_null(k8s("kubernetes:\n  service: {a: b}\n", &root, err));
    assert_non_null(strstr(err, "service: expected a Service name"));
    sy_yaml_free(root);
    /* a name that would change the label selector's meaning */
    assert_null(k8s("kubernetes:\n  service: [a, \"b),x in (c\"]\n", &root, err));
    assert_non_null(strstr(err, "service: expected a Service name"));
    sy_yaml_free(root);
    assert_null(k8s("kubernetes:\n  service: Vllm\n", &root, err));
    sy_yaml_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_keeps_static_and_drops_duplicates),
        cmocka_unit_test(test_discovery_without_static_endpoints_loads),
        cmocka_unit_test(test_k8s_endpointslices_ready_ports_labels),
        cmocka_unit_test(test_k8s_endpointslices_port_choice),
        cmocka_unit_test(test_k8s_pods_as_members),
        cmocka_unit_test(test_k8s_service_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
