/* Unit tests for src/sched/epp_config.c: llm-d's loader defaults, aliases, and errors reported as
 * FILE:LINE: key: reason with exact line numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "prefix/prefix_sched.h"
#include "unit/sched/sched_helpers.h"

#define HDR "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n" /* lines 1-2 */

static void expect_err(const char *yaml, const char *want)
{
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (s) {
        sy_sched_free(s);
        fail_msg("loaded, expected: %s", want);
    }
    assert_string_equal(err, want);
}

static struct sy_scheduler *must(const char *yaml)
{
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    return s;
}

static struct sy_sched_plugin *inst(struct sy_scheduler *s, const char *name)
{
    for (size_t i = 0; i < s->nplugins; i++)
        if (!strcmp(s->plugins[i]->name, name))
            return s->plugins[i];
    return NULL;
}

/* A YAML tree from text (a failed parse fails the test). */
static struct sy_yaml_node *fx_yaml(const char *text)
{
    char err[256];
    struct sy_yaml_node *y = sy_yaml_load_string(text, strlen(text), "gw.yaml", err, sizeof err);
    if (!y)
        fail_msg("%s", err);
    return y;
}

static void test_builtin_default(void **state)
{
    char err[256];
    /* no scheduler section: Switchyard's default, cache-load-scorer alone */
    struct sy_scheduler *s = sy_sched_new(NULL, NULL, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(s->nprofiles, 1);
    const struct sy_sched_profile *p = &s->profiles[0];
    assert_string_equal(p->name, "default");
    assert_int_equal(p->nfilters, 0);
    assert_int_equal(p->nscorers, 1);
    assert_string_equal(p->scorers[0].p->ops->type, "cache-load-scorer");
    assert_float_equal(p->scorers[0].weight, 1, 0);
    assert_string_equal(p->picker->ops->type, "max-score-picker");
    assert_string_equal(s->handler->ops->type, "single-profile-handler");
    /* cache-load-scorer consumes prefix-match: approx-prefix-cache-producer is auto-created */
    assert_int_equal(s->nproducers, 1);
    assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
    assert_true(s->producers[0]->injected);
    assert_true(s->wants_prefix);
    sy_sched_free(s);

    /* the same by name */
    struct sy_yaml_node *y = fx_yaml("switchyard-default\n");
    s = sy_sched_new(y, "gw.yaml", err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(s->profiles[0].scorers[0].p->ops->type, "cache-load-scorer");
    sy_sched_free(s);
    sy_yaml_free(y);
}

static void test_llmd_default_by_name(void **state)
{
    char err[256];
    struct sy_yaml_node *y = fx_yaml("llm-d-default\n");
    struct sy_scheduler *s = sy_sched_new(y, "gw.yaml", err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(s->nprofiles, 1);
    const struct sy_sched_profile *p = &s->profiles[0];
    assert_string_equal(p->name, "default");
    assert_int_equal(p->nfilters, 0);
    assert_int_equal(p->nscorers, 3);
    assert_string_equal(p->scorers[0].p->ops->type, "queue-scorer");
    assert_float_equal(p->scorers[0].weight, 2, 0);
    assert_string_equal(p->scorers[1].p->ops->type, "kv-cache-utilization-scorer");
    assert_float_equal(p->scorers[1].weight, 2, 0);
    assert_string_equal(p->scorers[2].p->ops->type, "prefix-cache-scorer");
    assert_float_equal(p->scorers[2].weight, 3, 0);
    assert_string_equal(p->picker->ops->type, "max-score-picker");
    assert_string_equal(s->handler->ops->type, "single-profile-handler");
    assert_int_equal(s->nproducers, 1);
    assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
    sy_sched_free(s);
    sy_yaml_free(y);

    y = fx_yaml("llm-d-defaults\n");
    assert_null(sy_sched_new(y, "gw.yaml", err, sizeof err));
    assert_string_equal(err, "gw.yaml:1: scheduler: unknown built-in scheduler 'llm-d-defaults' "
                             "(expected switchyard-default or llm-d-default, or an "
                             "EndpointPickerConfig mapping)");
    sy_yaml_free(y);
}

static void test_no_profiles_defaults(void **state)
{
    struct sy_scheduler *s = must("plugins:\n"
                                  "- type: decode-filter\n"
                                  "- type: queue-scorer\n"
                                  "- name: lb\n"
                                  "  type: load-aware-scorer\n"
                                  "  parameters:\n"
                                  "    threshold: 64\n");
    assert_int_equal(s->nprofiles, 1);
    const struct sy_sched_profile *p = &s->profiles[0];
    assert_string_equal(p->name, "default");
    assert_int_equal(p->nfilters, 1);
    assert_string_equal(p->filters[0]->ops->type, "decode-filter");
    assert_int_equal(p->nscorers, 2);
    assert_string_equal(p->scorers[1].p->name, "lb");
    assert_float_equal(p->scorers[0].weight, 1, 0);
    assert_float_equal(p->scorers[1].weight, 1, 0);
    assert_string_equal(p->picker->ops->type, "max-score-picker"); /* injected */
    assert_true(p->picker->injected);
    assert_string_equal(s->handler->ops->type, "single-profile-handler"); /* injected */
    assert_int_equal(s->nproducers, 0);
    assert_false(s->wants_prefix);
    sy_sched_free(s);

    s = must("{}\n"); /* nothing at all: a picker over every endpoint */
    assert_int_equal(s->profiles[0].nscorers, 0);
    assert_non_null(s->profiles[0].picker);
    sy_sched_free(s);
}

static void test_profile_weights_and_picker_default(void **state)
{
    struct sy_scheduler *s = must(HDR "plugins:\n"
                                      "- type: queue-scorer\n"
                                      "- type: kv-cache-utilization-scorer\n"
                                      "- type: random-picker\n" /* not in the profile */
                                      "schedulingProfiles:\n"
                                      "- name: p1\n"
                                      "  plugins:\n"
                                      "  - pluginRef: kv-cache-utilization-scorer\n"
                                      "    weight: 2.5\n"
                                      "  - pluginRef: queue-scorer\n");
    const struct sy_sched_profile *p = &s->profiles[0];
    assert_string_equal(p->name, "p1");
    assert_string_equal(p->scorers[0].p->name, "kv-cache-utilization-scorer");
    assert_float_equal(p->scorers[0].weight, 2.5, 0);
    assert_float_equal(p->scorers[1].weight, 1.0, 0);
    /* llm-d's ensureSchedulingLayer: a profile without a picker gets a picker declared among the
     * plugins, and max-score-picker only when none is declared */
    assert_string_equal(p->picker->ops->type, "random-picker");
    assert_false(p->picker->injected);
    sy_sched_free(s);

    s = must(HDR "plugins:\n"
                 "- type: queue-scorer\n"
                 "schedulingProfiles:\n"
                 "- name: p1\n"
                 "  plugins:\n"
                 "  - pluginRef: queue-scorer\n");
    assert_string_equal(s->profiles[0].picker->ops->type, "max-score-picker");
    assert_true(s->profiles[0].picker->injected);
    sy_sched_free(s);

    /* several declared: the first in config order, shared by every profile lacking one */
    s = must(HDR "plugins:\n"
                 "- type: queue-scorer\n"
                 "- type: single-profile-handler\n"
                 "- name: wr\n"
                 "  type: weighted-random-picker\n"
                 "- type: round-robin-picker\n"
                 "schedulingProfiles:\n"
                 "- name: p1\n"
                 "  plugins:\n"
                 "  - pluginRef: queue-scorer\n");
    assert_string_equal(s->profiles[0].picker->name, "wr");
    assert_null(inst(s, "max-score-picker"));
    sy_sched_free(s);
}

static void test_api_versions_and_aliases(void **state)
{
    struct sy_scheduler *s = must("apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                                  "kind: EndpointPickerConfig\n"
                                  "plugins:\n"
                                  "- type: single-profile\n"
                                  "- type: by-label-selector\n"
                                  "  parameters: {matchLabels: {zone: a}}\n"
                                  "- type: max-score\n"
                                  "- type: random\n"
                                  "schedulingProfiles:\n"
                                  "- name: default\n"
                                  "  plugins:\n"
                                  "  - pluginRef: by-label-selector\n"
                                  "  - pluginRef: random\n");
    assert_string_equal(s->handler->ops->type, "single-profile-handler");
    assert_string_equal(s->handler->name, "single-profile"); /* name defaults to the type */
    assert_string_equal(s->profiles[0].filters[0]->ops->type, "label-selector-filter");
    assert_string_equal(s->profiles[0].picker->ops->type, "random-picker");
    assert_non_null(inst(s, "max-score"));
    sy_sched_free(s);
    s = must("apiVersion: llm-d.ai/v1\nkind: EndpointPickerConfig\n");
    sy_sched_free(s);
    expect_err("apiVersion: v2\n", "epp.yaml:1: apiVersion: unsupported apiVersion 'v2' (expected "
                                   "llm-d.ai/v1alpha1, llm-d.ai/v1 or "
                                   "inference.networking.x-k8s.io/v1alpha1)");
    expect_err("apiVersion: llm-d.ai/v1\nkind: Pod\n",
               "epp.yaml:2: kind: must be EndpointPickerConfig, got 'Pod'");
}

static void test_plugin_errors(void **state)
{
    expect_err(HDR "plugins:\n- type: queue-scorer\n- type: foo-scorer\n",
               "epp.yaml:5: plugins[1].type: unknown plugin type 'foo-scorer'");
    expect_err(HDR "plugins:\n- type: queue-scorer\n- type: data-parallel-profile-handler\n"
                   "  parameters: {primaryPort: -1}\n",
               "epp.yaml:6: plugins[1].parameters.primaryPort: -1 is out of range [0, 65535] "
               "(plugin 'data-parallel-profile-handler')");
    expect_err(HDR "plugins:\n- type: data-parallel-profile-handler\n- type: queue-scorer\n"
                   "schedulingProfiles:\n- name: a\n  plugins: [{pluginRef: queue-scorer}]\n"
                   "- name: b\n  plugins: [{pluginRef: queue-scorer}]\n",
               "epp.yaml:4: data-parallel-profile-handler: data-parallel-profile-handler runs "
               "exactly one scheduling profile; the config has 2");
    expect_err(HDR "plugins:\n- type: queue-scorer\n- type: disagg-profile-handler\n",
               "epp.yaml:5: plugins[1].parameters: no scheduling profile named 'decode' (the "
               "decode profile) (plugin 'disagg-profile-handler')");
    expect_err(HDR "plugins:\n- name: q\n  type: load-aware-scorer\n  parameters:\n"
                   "    threshold: 4\n    bogus: 1\n",
               "epp.yaml:8: plugins[0].parameters.bogus: unknown parameter (plugin 'q')");
    expect_err(HDR "plugins:\n- type: queue-scorer\n  parameters:\n    x: 1\n",
               "epp.yaml:6: plugins[0].parameters: plugin type queue-scorer takes no parameters "
               "(plugin 'queue-scorer')");
    expect_err(HDR "plugins:\n- type: queue-scorer\n  params: {}\n",
               "epp.yaml:5: plugins[0].params: unknown key (a plugin has name, type, parameters)");
    expect_err(HDR "plugins:\n- name: q\n", "epp.yaml:4: plugins[0].type: missing");
    expect_err(HDR "plugins:\n- type: queue-scorer\n- type: queue-scorer\n",
               "epp.yaml:5: plugins[1].name: duplicate plugin name 'queue-scorer'");
    expect_err(HDR "plugins: queue-scorer\n",
               "epp.yaml:3: plugins: must be a list of {name, type, parameters}");
    expect_err("- a\n", "epp.yaml:1: scheduler: must be a mapping (an EndpointPickerConfig)");
}

static void test_profile_errors(void **state)
{
    expect_err(HDR "plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: a\n  plugins:\n"
                   "  - pluginRef: queue-scorer\n  - pluginRef: nope\n",
               "epp.yaml:9: schedulingProfiles[0].plugins[1].pluginRef: no plugin named 'nope' in "
               "plugins");
    expect_err(HDR "plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: a\n  plugins:\n"
                   "  - pluginRef: queue-scorer\n    weight: heavy\n",
               "epp.yaml:9: schedulingProfiles[0].plugins[0].weight: must be a number >= 0, got "
               "'heavy'");
    expect_err(HDR "plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: a\n  plugins:\n"
                   "  - pluginRef: queue-scorer\n  - pluginRef: queue-scorer\n",
               "epp.yaml:9: schedulingProfiles[0].plugins[1].pluginRef: plugin 'queue-scorer' is "
               "listed twice in profile 'a'");
    expect_err(HDR "plugins:\n- type: max-score-picker\n- type: random-picker\n"
                   "schedulingProfiles:\n- name: a\n  plugins:\n"
                   "  - pluginRef: max-score-picker\n  - pluginRef: random-picker\n",
               "epp.yaml:10: schedulingProfiles[0].plugins[1]: profile 'a' has two pickers "
               "('max-score-picker' and 'random-picker')");
    expect_err(HDR "plugins:\n- type: max-score-picker\n- type: random-picker\n",
               "epp.yaml:5: plugins: profile 'default' has two pickers ('max-score-picker' and "
               "'random-picker')");
    expect_err(HDR "plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: a\n- name: b\n",
               "epp.yaml:5: schedulingProfiles: 2 profiles need a profile handler "
               "(disagg-profile-handler or header-profile-handler)");
    expect_err(HDR "plugins:\n- type: single-profile-handler\nschedulingProfiles:\n- name: a\n"
                   "- name: b\n",
               "epp.yaml:4: single-profile-handler: single-profile-handler runs exactly one "
               "scheduling profile; the config has 2");
    expect_err(HDR "plugins:\n- type: single-profile-handler\nschedulingProfiles:\n- name: a\n"
                   "  plugins:\n  - pluginRef: single-profile-handler\n",
               "epp.yaml:8: schedulingProfiles[0].plugins[0]: 'single-profile-handler' is a "
               "profile handler (single-profile-handler); list it under plugins, not in a profile");
    expect_err(HDR "schedulingProfiles:\n- name: a\n- name: a\n",
               "epp.yaml:5: schedulingProfiles[1].name: duplicate profile name 'a'");
    expect_err(HDR "schedulingProfiles:\n- plugins: []\n",
               "epp.yaml:4: schedulingProfiles[0].name: missing or not a string");
    expect_err(HDR "schedulingProfiles:\n- name: a\n  weight: 1\n",
               "epp.yaml:5: schedulingProfiles[0].weight: unknown key (a profile has name, "
               "plugins)");
}

static void test_top_level_keys(void **state)
{
    /* flowControl and its gate belong to src/flow (tests/unit/flow); the scheduler accepts them
     * and leaves flow-control plugin types alone */
    struct sy_scheduler *fc = must(HDR "featureGates: [flowControl]\n"
                                       "plugins:\n"
                                       "- type: concurrency-detector\n"
                                       "  parameters: {maxConcurrency: 4}\n"
                                       "- type: queue-scorer\n"
                                       "flowControl:\n  maxBytes: 1Gi\n");
    sy_sched_free(fc);
    expect_err(HDR "saturationDetector: {pluginRef: utilization-detector}\n",
               "epp.yaml:3: saturationDetector: top-level saturationDetector is the pre-router "
               "form; declare the detector under plugins and name it in "
               "flowControl.saturationDetector.pluginRef");
    expect_err(HDR "pluginz: []\n", "epp.yaml:3: pluginz: unknown key in EndpointPickerConfig");
    expect_err(HDR "featureGates:\n- warp\n", "epp.yaml:4: featureGates[0]: unknown feature gate "
                                              "'warp'");
    struct sy_scheduler *s = must(HDR "featureGates: [haPopulateNonLeaderDatastore]\n");
    sy_sched_free(s);
}

static void test_data_layer(void **state)
{
    struct sy_scheduler *s = must(HDR "plugins:\n"
                                      "- type: metrics-data-source\n"
                                      "  parameters: {scheme: http, path: /metrics}\n"
                                      "- type: core-metrics-extractor\n"
                                      "- type: queue-scorer\n"
                                      "dataLayer:\n"
                                      "  sources:\n"
                                      "  - pluginRef: metrics-data-source\n"
                                      "    extractors:\n"
                                      "    - pluginRef: core-metrics-extractor\n");
    assert_int_equal(s->profiles[0].nscorers, 1); /* data-layer plugins are not in profiles */
    sy_sched_free(s);
    expect_err(HDR "plugins:\n- type: metrics-data-source\n  parameters:\n    path: /stats\n",
               "epp.yaml:6: plugins[0].parameters.path: only /metrics is supported by "
               "Switchyard's pool scraper yet (plugin 'metrics-data-source')");
    expect_err(HDR "plugins:\n- type: metrics-data-source\ndataLayer:\n  sources:\n"
                   "  - pluginRef: metrics-data-source\n    extractors:\n"
                   "    - pluginRef: core-metrics-extractor\n",
               "epp.yaml:9: dataLayer.sources[0].extractors[0].pluginRef: no plugin named "
               "'core-metrics-extractor' in plugins");
    expect_err(HDR "dataLayer:\n  discovery: {pluginRef: file-discovery}\n",
               "epp.yaml:4: dataLayer.discovery: not supported by Switchyard yet (endpoints come "
               "from the pool section)");
    expect_err(HDR "plugins:\n- type: core-metrics-extractor\nschedulingProfiles:\n- name: a\n"
                   "  plugins:\n  - pluginRef: core-metrics-extractor\n",
               "epp.yaml:8: schedulingProfiles[0].plugins[0]: plugin 'core-metrics-extractor' "
               "(core-metrics-extractor) cannot be used in a scheduling profile");
}

static void test_auto_producer(void **state)
{
    struct sy_scheduler *s = must(HDR "plugins:\n- type: no-hit-lru-scorer\n");
    assert_int_equal(s->nproducers, 1);
    assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
    assert_true(s->wants_prefix);
    sy_sched_free(s);
    /* an explicit producer is used as is: no second one */
    s = must(HDR "plugins:\n- type: approx-prefix-cache-producer\n- type: prefix-cache-scorer\n");
    assert_int_equal(s->nproducers, 1);
    assert_false(s->producers[0]->injected);
    sy_sched_free(s);
}

/* Legacy producer parameters on prefix-cache-scorer reach the auto-created producer. */
static void test_legacy_prefix_params(void **state)
{
    static const char body[] = "{\"prompt\":\"0123456789012345678901234567890123456789\"}";
    for (int legacy = 0; legacy < 2; legacy++) {
        struct sy_scheduler *s =
            must(legacy ? HDR "plugins:\n- type: prefix-cache-scorer\n  parameters:\n"
                              "    maxPrefixBlocksToMatch: 2\n    hashBlockSize: 8\n"
                        : HDR "plugins:\n- type: prefix-cache-scorer\n");
        assert_int_equal(s->nproducers, 1);
        struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0)};
        struct sy_pool *p = fx_pool(eps, 1);
        struct sy_request r;
        fx_req(&r, "m", 10);
        r.body = body;
        r.body_len = sizeof body - 1;
        r.prompt.p = body + 11;
        r.prompt.len = 40;
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
        const struct sy_sched_cycle *cy = res.cycle;
        assert_non_null(cy->prefix);
        /* llm-d.ai apiVersion = router semantics: 40 bytes = 10 estimate tokens, blocks of at
         * least 64 tokens (the legacy 8 is raised to the floor), partial block hashed -> 1.
         * (v0.8 gave 2 legacy 8-character blocks and 0 for 64-character blocks.) */
        assert_int_equal(cy->prefix[0].total_blocks, 1);
        assert_int_equal(cy->prefix[0].block_size_tokens, 64);
        sy_sched_done(s, &res, true);
        sy_sched_free(s);
        sy_pool_unref(p);
    }
}

/* The legacy parameters configure the auto-created producer whichever consumer of the prefix
 * data comes first: llm-d's Helm pipeline lists predicted-latency-producer (which consumes it
 * too) before prefix-cache-scorer. */
static void test_legacy_prefix_params_any_order(void **state)
{
    static const char scorer[] = "- type: prefix-cache-scorer\n  parameters:\n"
                                 "    lruCapacityPerServer: 777\n";
    static const char latency[] = "- type: predicted-latency-producer\n";
    for (int order = 0; order < 2; order++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg, HDR "plugins:\n%s%s", order ? latency : scorer,
                 order ? scorer : latency);
        struct sy_scheduler *s = must(cfg);
        const struct sy_sched_plugin *prod = NULL;
        for (size_t i = 0; i < s->nproducers; i++)
            if (!strcmp(s->producers[i]->ops->type, "approx-prefix-cache-producer")) {
                assert_null(prod); /* exactly one */
                prod = s->producers[i];
            }
        assert_non_null(prod);
        struct sy_approx_prefix_config c;
        sy_approx_prefix_producer_config(prod->state, &c);
        assert_int_equal(c.lru_capacity, 777);
        sy_sched_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_default),
        cmocka_unit_test(test_llmd_default_by_name),
        cmocka_unit_test(test_no_profiles_defaults),
        cmocka_unit_test(test_profile_weights_and_picker_default),
        cmocka_unit_test(test_api_versions_and_aliases),
        cmocka_unit_test(test_plugin_errors),
        cmocka_unit_test(test_profile_errors),
        cmocka_unit_test(test_top_level_keys),
        cmocka_unit_test(test_data_layer),
        cmocka_unit_test(test_auto_producer),
        cmocka_unit_test(test_legacy_prefix_params),
        cmocka_unit_test(test_legacy_prefix_params_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
