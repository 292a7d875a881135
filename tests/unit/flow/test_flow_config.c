/* Unit tests for src/flow/flow_config.c: Kubernetes quantities and Go durations as llm-d parses
 * them, llm-d's defaults, every flowControl key, plugin references and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/yaml.h"
#include "core/err.h"
#include "flow/flow.h"

static void test_quantity(void **state)
{
    uint64_t v;
    assert_int_equal(sy_flow_parse_quantity("5000", &v), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(sy_flow_parse_quantity("1Gi", &v), 0);
    assert_int_equal(v, 1073741824ull);
    assert_int_equal(sy_flow_parse_quantity("500Mi", &v), 0);
    assert_int_equal(v, 500ull * 1048576);
    assert_int_equal(sy_flow_parse_quantity("1G", &v), 0);
    assert_int_equal(v, 1000000000ull);
    assert_int_equal(sy_flow_parse_quantity("2k", &v), 0);
    assert_int_equal(v, 2000);
    assert_int_equal(sy_flow_parse_quantity("1.5Ki", &v), 0);
    assert_int_equal(v, 1536);
    assert_int_equal(sy_flow_parse_quantity("1e3", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(sy_flow_parse_quantity("1500m", &v), 0); /* 1.5 rounds up */
    assert_int_equal(v, 2);
    assert_int_equal(sy_flow_parse_quantity("0", &v), 0);
    assert_int_equal(v, 0);
    const char *bad[] = {"", "-1", "1GB", "lots", "1 Gi", "Gi", "1e99", "99999999999Ei", "1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sy_flow_parse_quantity(bad[i], &v), SY_ECONFIG);
}

static void test_duration(void **state)
{
    uint64_t ns;
    assert_int_equal(sy_flow_parse_duration("200ms", &ns), 0);
    assert_int_equal(ns, 200000000ull);
    assert_int_equal(sy_flow_parse_duration("60s", &ns), 0);
    assert_int_equal(ns, 60000000000ull);
    assert_int_equal(sy_flow_parse_duration("1m30s", &ns), 0);
    assert_int_equal(ns, 90000000000ull);
    assert_int_equal(sy_flow_parse_duration("1.5h", &ns), 0);
    assert_int_equal(ns, 5400000000000ull);
    assert_int_equal(sy_flow_parse_duration("10us", &ns), 0);
    assert_int_equal(ns, 10000);
    assert_int_equal(sy_flow_parse_duration("0", &ns), 0);
    assert_int_equal(ns, 0);
    const char *bad[] = {"", "30", "-1s", "1x", "s", "1e3s", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sy_flow_parse_duration(bad[i], &ns), SY_ECONFIG);
}

static struct sy_yaml_node *yaml(const char *text)
{
    char err[256];
    struct sy_yaml_node *n = sy_yaml_load_string(text, strlen(text), "epp.yaml", err, sizeof err);
    assert_non_null(n);
    return n;
}

static struct sy_flow_config *load(const char *objectives, const char *epp, char *err, size_t cap)
{
    struct sy_yaml_node *o = objectives ? yaml(objectives) : NULL;
    struct sy_yaml_node *e = epp ? yaml(epp) : NULL;
    struct sy_flow_config *c = sy_flow_config_new(o ? sy_yaml_get(o, "inferenceObjectives") : NULL,
                                                  "gw.yaml", e, "epp.yaml", err, cap);
    sy_yaml_free(o);
    sy_yaml_free(e);
    return c;
}

static void expect_err(const char *epp, const char *want)
{
    char err[512] = "";
    struct sy_flow_config *c = load(NULL, epp, err, sizeof err);
    if (c || !strstr(err, want))
        fail_msg("want error containing '%s', got '%s'", want, c ? "(loaded)" : err);
}

static void test_defaults(void **state)
{
    char err[256];
    struct sy_flow_config *c = load(NULL, NULL, err, sizeof err);
    assert_non_null(c);
    assert_false(c->enabled); /* the gate is off by default */
    assert_int_equal(c->ttl_ns, 60000000000ull);
    assert_int_equal(c->no_endpoint_ttl_ns, 60000000000ull);
    assert_true(c->max_bytes == SY_FLOW_UNLIMITED && c->max_requests == SY_FLOW_UNLIMITED);
    const struct sy_flow_band_config *b = sy_flow_band_for(c, 7);
    assert_int_equal(b->max_bytes, 1000000000ull);
    assert_int_equal(b->max_requests, 5000);
    assert_int_equal(b->fairness, SY_FLOW_FAIR_GLOBAL_STRICT);
    assert_int_equal(b->ordering, SY_FLOW_ORDER_FCFS);
    assert_int_equal(c->usage.kind, SY_FLOW_USAGE_STATIC);
    assert_true(c->usage.threshold == 1.0);
    assert_int_equal(c->detector.kind, 0); /* utilization-detector */
    assert_true(c->detector.queue_depth == 5 && c->detector.kv_util == 0.8);
    assert_int_equal(c->detector.staleness_ns, 200000000ull);
    assert_false(c->eviction);
    sy_flow_config_free(c);
}

static void test_full(void **state)
{
    char err[512] = "";
    struct sy_flow_config *c =
        load("inferenceObjectives:\n- {name: chat, priority: 10}\n- {name: batch, priority: -5}\n"
             "- name: plain\n",
             "featureGates: [flowControl]\n"
             "plugins:\n"
             "- type: concurrency-detector\n  name: cd\n"
             "  parameters: {concurrencyMode: tokens, maxConcurrency: 8, maxTokenConcurrency: 4096,"
             " headroom: 0.2}\n"
             "- type: round-robin-fairness-policy\n  name: rr\n"
             "- type: edf-ordering-policy\n"
             "- type: priority-holdback-policy\n  name: hold\n"
             "  parameters: {minCeiling: 0.4, maxCeiling: 0.9, domain: value}\n"
             "flowControl:\n"
             "  maxBytes: 2Gi\n  maxRequests: 10k\n  defaultRequestTTL: 30s\n"
             "  noEndpointRequestTTL: 2m\n"
             "  defaultPriorityBand: {maxRequests: 100, fairnessPolicyRef: rr}\n"
             "  priorityBands:\n"
             "  - {priority: 10, maxBytes: 500Mi, orderingPolicyRef: edf-ordering-policy}\n"
             "  - {priority: -5, maxRequests: 3}\n"
             "  usageLimitPolicyPluginRef: hold\n"
             "  saturationDetector: {pluginRef: cd}\n"
             "  enableEviction: false\n",
             err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_true(c->enabled);
    assert_int_equal(c->max_bytes, 2ull << 30);
    assert_int_equal(c->max_requests, 10000);
    assert_int_equal(c->ttl_ns, 30000000000ull);
    assert_int_equal(c->no_endpoint_ttl_ns, 120000000000ull);
    const struct sy_flow_band_config *b10 = sy_flow_band_for(c, 10);
    assert_int_equal(b10->max_bytes, 500ull << 20);
    assert_int_equal(b10->max_requests, 100); /* from the template */
    assert_int_equal(b10->fairness, SY_FLOW_FAIR_ROUND_ROBIN);
    assert_int_equal(b10->ordering, SY_FLOW_ORDER_EDF);
    assert_int_equal(sy_flow_band_for(c, -5)->max_requests, 3);
    assert_int_equal(sy_flow_band_for(c, 3)->max_requests, 100); /* unconfigured: template */
    assert_int_equal(c->usage.kind, SY_FLOW_USAGE_HOLDBACK);
    assert_true(c->usage.by_value && c->usage.min_ceiling == 0.4 && c->usage.max_ceiling == 0.9);
    assert_int_equal(c->detector.kind, 1);
    assert_int_equal(c->detector.mode, 1);
    assert_int_equal(c->detector.max_concurrency, 8);
    assert_int_equal(c->detector.max_token_concurrency, 4096);
    int32_t p = 99;
    assert_true(sy_flow_objective_priority(c, sy_str_c("chat"), &p));
    assert_int_equal(p, 10);
    assert_true(sy_flow_objective_priority(c, sy_str_c("batch"), &p));
    assert_int_equal(p, -5);
    assert_true(sy_flow_objective_priority(c, sy_str_c("plain"), &p));
    assert_int_equal(p, 0); /* priority defaults to 0 */
    assert_false(sy_flow_objective_priority(c, sy_str_c("cha"), &p));
    assert_false(sy_flow_objective_priority(c, sy_str_c("chats"), &p));
    sy_flow_config_free(c);
}

#define HDR "featureGates: [flowControl]\n"

/* program-aware-fairness: llm-d's documented sample, and the type referenced by name (its
 * defaults). */
static void test_program_aware(void **state)
{
    char err[512] = "";
    struct sy_flow_config *c =
        load(NULL,
             HDR "plugins:\n- type: program-aware-fairness\n  name: las\n  parameters:\n"
                 "    strategy: las\n    lasWeightService: 0.7\n    lasWeightHeadWait: 0.3\n"
                 "    lasHalfLifeSeconds: 120\n    evictionTtlSeconds: 600\n"
                 "    evictionSweepSeconds: 30\n"
                 "flowControl:\n  defaultPriorityBand: {fairnessPolicyRef: las}\n"
                 "  priorityBands:\n  - {priority: 5, fairnessPolicyRef: program-aware-fairness}\n"
                 "  - {priority: 1}\n",
             err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    const struct sy_flow_band_config *b = sy_flow_band_for(c, 0);
    assert_int_equal(b->fairness, SY_FLOW_FAIR_PROGRAM_AWARE);
    assert_true(b->las.w_service == 0.7 && b->las.w_wait == 0.3);
    assert_true(b->las.half_life_s == 120 && b->las.evict_ttl_s == 600);
    assert_true(b->las.evict_sweep_s == 30);
    b = sy_flow_band_for(c, 5); /* by type name: llm-d's defaults */
    assert_int_equal(b->fairness, SY_FLOW_FAIR_PROGRAM_AWARE);
    assert_true(b->las.w_service == 0.8 && b->las.w_wait == 0.2 && b->las.half_life_s == 60);
    b = sy_flow_band_for(c, 1); /* a band without a ref takes the default band's */
    assert_int_equal(b->fairness, SY_FLOW_FAIR_PROGRAM_AWARE);
    assert_true(b->las.w_service == 0.7);
    sy_flow_config_free(c);
}

static void test_errors(void **state)
{
    expect_err(HDR "flowControl:\n  maxBytes: 1GB\n",
               "epp.yaml:3: flowControl.maxBytes: must be a non-negative Kubernetes quantity");
    expect_err(HDR "flowControl:\n  defaultRequestTTL: 30\n",
               "epp.yaml:3: flowControl.defaultRequestTTL: must be a duration with a unit");
    expect_err(HDR "flowControl:\n  priorityBands:\n  - {maxRequests: 1}\n",
               "epp.yaml:4: flowControl.priorityBands[0].priority: required");
    expect_err(HDR "flowControl:\n  priorityBands:\n  - {priority: 1}\n  - {priority: 1}\n",
               "epp.yaml:5: flowControl.priorityBands[1].priority: 1 is already used by band 0");
    expect_err(HDR "flowControl:\n  priorityBands:\n  - {priority: 1, fairness: rr}\n",
               "flowControl.priorityBands[0].fairness: unknown key");
    expect_err(HDR "flowControl:\n  warp: 9\n", "epp.yaml:3: flowControl.warp: unknown key");
    expect_err(HDR "flowControl:\n  saturationDetector: {pluginRef: nope}\n",
               "flowControl.saturationDetector.pluginRef: no saturation detector named 'nope'");
    expect_err(HDR "plugins:\n- type: fcfs-ordering-policy\n  name: f\nflowControl:\n"
                   "  usageLimitPolicyPluginRef: f\n",
               "flowControl.usageLimitPolicyPluginRef: plugin 'f' (fcfs-ordering-policy) is not "
               "a usage-limit policy");
    expect_err(HDR
               "plugins:\n- type: utilization-detector\n  parameters: {queueDepthThreshold: 0}\n",
               "epp.yaml:4: plugins[0].parameters.queueDepthThreshold: must be an integer > 0");
    expect_err(HDR
               "plugins:\n- type: utilization-detector\n  parameters: {kvCacheUtilThreshold: 2}\n",
               "kvCacheUtilThreshold: must be a number in (0, 1]");
    expect_err(HDR "plugins:\n- type: concurrency-detector\n  parameters: {mode: x}\n",
               "plugins[0].parameters.mode: unknown parameter of concurrency-detector");
    expect_err(HDR "plugins:\n- type: priority-holdback-policy\n",
               "plugins[0].parameters.minCeiling: required by priority-holdback-policy");
    /* llm-d-router .../usagelimits/priorityholdback config.go: minCeiling must be strictly less
     * than maxCeiling (equal was accepted) */
    expect_err(HDR "plugins:\n- type: priority-holdback-policy\n"
                   "  parameters: {minCeiling: 0.5, maxCeiling: 0.5}\n",
               "plugins[0].parameters: minCeiling must be less than maxCeiling");
    expect_err(HDR "plugins:\n- type: priority-holdback-policy\n"
                   "  parameters: {minCeiling: 0.8, maxCeiling: 0.5}\n",
               "minCeiling must be less than maxCeiling");
    expect_err(HDR "plugins:\n- type: soft-reflective-ceiling-policy\n  parameters: {a: 1}\n",
               "takes no parameters");
    expect_err(HDR
               "plugins:\n- type: program-aware-fairness\n  parameters: {lasDecayFactor: 0.9}\n",
               "plugins[0].parameters.lasDecayFactor: removed upstream (llm-d #2120); use "
               "lasHalfLifeSeconds");
    expect_err(HDR "plugins:\n- type: program-aware-fairness\n  parameters: {strategy: wfq}\n",
               "plugins[0].parameters.strategy: unknown scoring strategy 'wfq': only las");
    expect_err(HDR
               "plugins:\n- type: program-aware-fairness\n  parameters: {lasWeightService: -0.1}\n",
               "plugins[0].parameters.lasWeightService: must be a number >= 0");
    expect_err(
        HDR "plugins:\n- type: program-aware-fairness\n  parameters: {evictionSweepSeconds: 0}\n",
        "plugins[0].parameters.evictionSweepSeconds: must be a number > 0");
    expect_err(HDR "plugins:\n- type: program-aware-fairness\n  parameters: {quantum: 1}\n",
               "plugins[0].parameters.quantum: unknown parameter of program-aware-fairness");
    expect_err(HDR "flowControl:\n  enableEviction: maybe\n",
               "flowControl.enableEviction: must be true or false");
    char err[256] = "";
    assert_null(load("inferenceObjectives:\n- {name: a}\n- {name: a, priority: 1}\n", NULL, err,
                     sizeof err));
    assert_non_null(strstr(err, "inferenceObjectives[1].name: 'a' is defined twice"));
    assert_null(
        load("inferenceObjectives:\n- {name: a, priority: 3000000000}\n", NULL, err, sizeof err));
    assert_non_null(strstr(err, "inferenceObjectives[0].priority: must be an int32"));
    assert_null(load("inferenceObjectives:\n- {name: a, weight: 1}\n", NULL, err, sizeof err));
    assert_non_null(strstr(err, "inferenceObjectives[0].weight: unknown key"));
}

/* priority-reservation-filter: the gate reads its selector and minPriority (one per config). */
static void test_reservation(void **state)
{
    char err[512] = "";
    struct sy_flow_config *c = load(NULL,
                                    HDR "plugins:\n- type: priority-reservation-filter\n"
                                        "  parameters:\n    minPriority: 5\n"
                                        "    reserved: {matchLabels: {pool: fast}}\n",
                                    err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_non_null(c->reserve_sel);
    assert_int_equal(c->reserve_min_priority, 5);
    sy_flow_config_free(c);
    c = load(NULL,
             HDR "plugins:\n- type: priority-reservation-filter\n"
                 "  parameters: {reserved: {matchLabels: {pool: fast}}}\n",
             err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->reserve_min_priority, 1); /* the plugin's default */
    sy_flow_config_free(c);
    c = load(NULL, HDR, err, sizeof err);
    assert_non_null(c);
    assert_null(c->reserve_sel);
    sy_flow_config_free(c);
    expect_err(HDR "plugins:\n- type: priority-reservation-filter\n"
                   "  parameters: {reserved: {matchLabels: {pool: fast}}}\n"
                   "- type: priority-reservation-filter\n  name: second\n"
                   "  parameters: {reserved: {matchLabels: {pool: slow}}}\n",
               "plugins[1]: a second priority-reservation-filter; flow control supports one");
}

static void test_plugin_type_names(void **state)
{
    assert_true(sy_flow_is_plugin_type("utilization-detector"));
    assert_true(sy_flow_is_plugin_type("soft-reflective-ceiling-policy"));
    assert_false(sy_flow_is_plugin_type("queue-scorer"));
    assert_false(sy_flow_is_plugin_type(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_program_aware),
        cmocka_unit_test(test_plugin_type_names),
        cmocka_unit_test(test_reservation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
