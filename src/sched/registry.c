/* registry.c - the one explicit table of scheduler plugin types, plus llm-d's legacy aliases and
 * the llm-d types Switchyard knows by name but does not implement yet.
 *
 * Lookup order used by the loader: registered type -> legacy alias (warn, then look up the
 * canonical name) -> known-but-unsupported (clear refusal naming the type) -> unknown type. Keeping
 * the unsupported list here means a user with a real llm-d config is told "not supported by
 * Switchyard yet" rather than "unknown", and adding a plugin is one line in each table below.
 * Linear search: the table is small and lookups happen only while loading a config.
 */
#include <stddef.h>
#include <string.h>

#include "sched/internal.h"
#include "sched/plugins.h"

static const struct sy_plugin_ops *const table[] = {
    &sy_plugin_single_profile_handler,
    &sy_plugin_data_parallel_profile_handler,
    &sy_plugin_disagg_profile_handler,
    &sy_plugin_pd_profile_handler,
    &sy_plugin_header_profile_handler,
    &sy_plugin_prefix_based_pd_decider,
    &sy_plugin_always_disagg_pd_decider,
    &sy_plugin_disagg_headers_handler,
    &sy_plugin_label_selector_filter,
    &sy_plugin_priority_reservation_filter, /* Switchyard's own (docs/flow-control.md) */
    &sy_plugin_by_label,
    &sy_plugin_decode_filter,
    &sy_plugin_prefill_filter,
    &sy_plugin_encode_filter,
    &sy_plugin_prefix_cache_affinity_filter,
    &sy_plugin_prefix_cache_scorer,
    &sy_plugin_queue_scorer,
    &sy_plugin_kv_cache_utilization_scorer,
    &sy_plugin_running_requests_size_scorer,
    &sy_plugin_load_aware_scorer,
    &sy_plugin_active_request_scorer,
    &sy_plugin_lockstep_balance_scorer, /* Switchyard's own (docs/wide-ep.md) */
    &sy_plugin_token_load_scorer,
    &sy_plugin_cache_load_scorer, /* Switchyard's own (docs/scheduler.md, the default) */
    &sy_plugin_session_affinity_scorer,
    &sy_plugin_no_hit_lru_scorer,
    &sy_plugin_context_length_aware,
    &sy_plugin_lora_affinity_scorer,
    &sy_plugin_max_score_picker,
    &sy_plugin_random_picker,
    &sy_plugin_weighted_random_picker,
    &sy_plugin_round_robin_picker,
    &sy_plugin_approx_prefix_cache_producer,
    &sy_plugin_precise_prefix_cache_producer,
    &sy_plugin_precise_prefix_cache_scorer,
    &sy_plugin_token_producer,
    &sy_plugin_burst_prefix_cache_producer,
    &sy_plugin_metrics_data_source,
    &sy_plugin_core_metrics_extractor,
    &sy_plugin_endpoint_notification_source,
    &sy_plugin_models_responder,
    &sy_plugin_session_affinity_filter,
    &sy_plugin_utilization_filter,
    &sy_plugin_concurrency_detector_filter,
    &sy_plugin_utilization_detector_filter,
    &sy_plugin_endpoint_attribute_filter,
    &sy_plugin_endpoint_attribute_scorer,
    &sy_plugin_header_label_affinity_scorer,
    &sy_plugin_models_data_source,
    &sy_plugin_models_data_extractor,
    &sy_plugin_inflight_load_producer,
    &sy_plugin_predicted_latency_producer,
    &sy_plugin_latency_scorer,
    &sy_plugin_slo_headroom_tier_filter,
    &sy_plugin_latency_slo_admitter,
    &sy_plugin_slo_class_scorer,
    &sy_plugin_openai_parser,
    &sy_plugin_anthropic_parser,
    &sy_plugin_vllmhttp_parser,
    &sy_plugin_passthrough_parser,
};

/* Legacy names llm-d still accepts (deprecated), mapped to the current type name. */
static const struct {
    const char *legacy;    /* name found in old configs */
    const char *canonical; /* current llm-d type */
} aliases[] = {
    {"by-label-selector", "label-selector-filter"},
    {"single-profile", "single-profile-handler"},
    {"max-score", "max-score-picker"},
    {"random", "random-picker"},
    {"kvcache-aware-scorer", "precise-prefix-cache-scorer"},
    {"tokenizer", "token-producer"},
    {"prefill-header-handler", "disagg-headers-handler"},
};

/* llm-d types (v0.8 and router v0.9) that Switchyard does not implement yet. */
static const char *const unsupported[] = {
    /* P/D, E/P/D and data parallel */
    "always-disagg-multimodal-decider",
    "p2p-source-producer",
    /* other filters and scorers */
    "topology-affinity-filter",
    "header-based-testing-filter",
    "topology-affinity-scorer",
    "mm-embeddings-cache-scorer",
    "mm-embeddings-cache-producer",
    "session-id-producer",
    "multicluster-prefix-cache-scorer",
    "multicluster-queue-scorer",
    "multicluster-kv-cache-utilization-scorer",
    "multicluster-session-affinity-filter",
    "multicluster-approx-prefix-cache-producer",
    "multicluster-metrics-data-source",
    "multicluster-metrics-extractor",
    "multicluster-file-discovery",
    /* admission and request control */
    "probabilistic-admitter",
    "request-attribute-reporter",
    "agent-identity",
    "disaggregatedset-rollout-screener",
    "destination-endpoint-served-verifier",
    /* data layer that would change which endpoints or metrics exist */
    "k8s-notification-source",
    "dcgm-data-source",
    "dcgm-extractor",
    "topology-extractor",
    "file-discovery",
    "cross-replica-publisher",
    "local-syncer",
    /* parsers of other protocols (gRPC, Vertex AI, SGLang's /generate) */
    "vllmgrpc-parser",
    "vertexai-parser",
    "sglanghttp-parser",
    /* flow control */
    "global-strict-fairness-policy",
    "round-robin-fairness-policy",
    "program-aware-fairness",
    "fcfs-ordering-policy",
    "edf-ordering-policy",
    "slo-deadline-ordering-policy",
    "static-usage-limit-policy",
    "priority-holdback-policy",
    "soft-reflective-ceiling-policy",
    "sheddable-eviction-filter",
    "priority-then-time-eviction-order-policy",
};

/* Known types with a specific reason (checked before the list above): types Switchyard will not
 * implement, or that another piece of work builds. */
static const struct {
    const char *type;   /* llm-d type */
    const char *reason; /* why, appended to the refusal */
} reasons[] = {
    {"disaggregatedset-rollout-screener",
     "it pairs prefill and decode pods by the revision labels a Kubernetes DisaggregatedSet "
     "controller sets during a rollout, and Switchyard has no Kubernetes controller"},
    {"active-request-filter", "llm-d renamed it utilization-filter (#2218); use that type"},
    {"disaggregatedset-rollout-pod-extractor",
     "it reads DisaggregatedSet revision labels from Kubernetes pods for the rollout screener, "
     "and Switchyard's endpoints come from its pool section"},
};

const char *sy_sched__registry_reason(const char *type)
{
    for (size_t i = 0; type && i < sizeof reasons / sizeof reasons[0]; i++)
        if (!strcmp(reasons[i].type, type))
            return reasons[i].reason;
    return NULL;
}

const struct sy_plugin_ops *sy_sched__registry_find(const char *type)
{
    for (size_t i = 0; type && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i]->type, type))
            return table[i];
    return NULL;
}

const char *sy_sched__registry_alias(const char *type)
{
    for (size_t i = 0; type && i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].legacy, type))
            return aliases[i].canonical;
    return NULL;
}

const char *sy_sched__registry_unsupported(const char *type)
{
    for (size_t i = 0; type && i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (!strcmp(unsupported[i], type))
            return unsupported[i];
    return NULL;
}

const struct sy_plugin_ops *sy_sched__registry_producer(const char *key)
{
    /* llm-d's default producer per data key. */
    if (key && !strcmp(key, SY_PREFIX_KEY))
        return sy_sched__registry_find("approx-prefix-cache-producer");
    for (size_t i = 0; key && i < sizeof table / sizeof table[0]; i++)
        if (table[i]->produces && !strcmp(table[i]->produces, key))
            return table[i];
    return NULL;
}

size_t sy_sched__registry_count(void)
{
    return sizeof table / sizeof table[0];
}

const struct sy_plugin_ops *sy_sched__registry_at(size_t i)
{
    return i < sizeof table / sizeof table[0] ? table[i] : NULL;
}
