/* plugins.h - every plugin type Switchyard's scheduler knows, one ops table each (registry.c
 * lists them). The variable name is sy_plugin_ + the llm-d type name with '-' -> '_'.
 */
#ifndef SY_SCHED_PLUGINS_H
#define SY_SCHED_PLUGINS_H

#include "sched/plugin.h"

/* Profile handlers. */
extern const struct sy_plugin_ops sy_plugin_single_profile_handler;
extern const struct sy_plugin_ops sy_plugin_data_parallel_profile_handler;
extern const struct sy_plugin_ops sy_plugin_disagg_profile_handler;
extern const struct sy_plugin_ops sy_plugin_pd_profile_handler; /* deprecated */
extern const struct sy_plugin_ops sy_plugin_header_profile_handler;
/* P/D deciders and the deprecated header writer. */
extern const struct sy_plugin_ops sy_plugin_prefix_based_pd_decider;
extern const struct sy_plugin_ops sy_plugin_always_disagg_pd_decider;
extern const struct sy_plugin_ops sy_plugin_disagg_headers_handler;
/* Filters. */
extern const struct sy_plugin_ops sy_plugin_label_selector_filter;
extern const struct sy_plugin_ops sy_plugin_priority_reservation_filter;
extern const struct sy_plugin_ops sy_plugin_by_label;
extern const struct sy_plugin_ops sy_plugin_decode_filter;
extern const struct sy_plugin_ops sy_plugin_prefill_filter;
extern const struct sy_plugin_ops sy_plugin_encode_filter;
extern const struct sy_plugin_ops sy_plugin_prefix_cache_affinity_filter;
extern const struct sy_plugin_ops sy_plugin_session_affinity_filter;
extern const struct sy_plugin_ops sy_plugin_utilization_filter;
extern const struct sy_plugin_ops sy_plugin_concurrency_detector_filter; /* filter role */
extern const struct sy_plugin_ops sy_plugin_utilization_detector_filter; /* filter role */
extern const struct sy_plugin_ops sy_plugin_endpoint_attribute_filter;
/* Scorers. */
extern const struct sy_plugin_ops sy_plugin_prefix_cache_scorer;
extern const struct sy_plugin_ops sy_plugin_queue_scorer;
extern const struct sy_plugin_ops sy_plugin_kv_cache_utilization_scorer;
extern const struct sy_plugin_ops sy_plugin_running_requests_size_scorer;
extern const struct sy_plugin_ops sy_plugin_load_aware_scorer;
extern const struct sy_plugin_ops sy_plugin_active_request_scorer;
extern const struct sy_plugin_ops sy_plugin_lockstep_balance_scorer;
extern const struct sy_plugin_ops sy_plugin_token_load_scorer;
extern const struct sy_plugin_ops sy_plugin_cache_load_scorer;
extern const struct sy_plugin_ops sy_plugin_session_affinity_scorer;
extern const struct sy_plugin_ops sy_plugin_no_hit_lru_scorer;
extern const struct sy_plugin_ops sy_plugin_context_length_aware;
extern const struct sy_plugin_ops sy_plugin_lora_affinity_scorer;
extern const struct sy_plugin_ops sy_plugin_endpoint_attribute_scorer;
extern const struct sy_plugin_ops sy_plugin_header_label_affinity_scorer;
/* Pickers. */
extern const struct sy_plugin_ops sy_plugin_max_score_picker;
extern const struct sy_plugin_ops sy_plugin_random_picker;
extern const struct sy_plugin_ops sy_plugin_weighted_random_picker;
extern const struct sy_plugin_ops sy_plugin_round_robin_picker;
/* Data producers. */
extern const struct sy_plugin_ops sy_plugin_approx_prefix_cache_producer;
extern const struct sy_plugin_ops sy_plugin_precise_prefix_cache_producer;
extern const struct sy_plugin_ops sy_plugin_precise_prefix_cache_scorer;
extern const struct sy_plugin_ops sy_plugin_token_producer;
extern const struct sy_plugin_ops sy_plugin_burst_prefix_cache_producer;
extern const struct sy_plugin_ops sy_plugin_inflight_load_producer;
/* Predicted-latency scheduling (docs/slo-scheduling.md). */
extern const struct sy_plugin_ops sy_plugin_predicted_latency_producer;
/* The TPOT quantile an instance (its state) applies to the process-wide model: tpotQuantile, or
 * the model's configured one when absent. The loader refuses instances that disagree. */
double sy_predicted_latency_tpot_quantile(const void *state);
extern const struct sy_plugin_ops sy_plugin_latency_scorer;
extern const struct sy_plugin_ops sy_plugin_slo_headroom_tier_filter;
extern const struct sy_plugin_ops sy_plugin_latency_slo_admitter;
extern const struct sy_plugin_ops sy_plugin_slo_class_scorer;
struct sy_latency_model;
/* The process-wide latency model of predicted-latency-producer, NULL when none is configured. */
struct sy_latency_model *sy_sched_latency_model(void);
struct sy_latency_config;
/* Benchmarks and tests: the configuration (NULL = defaults) of the next process-wide model, and
 * whether it retrains on its own background thread (false: only sy_latency_retrain, so a
 * simulated-time run is deterministic). Takes effect when the model is next created. */
void sy_sched_latency_model_setup(const struct sy_latency_config *cfg, bool background);
struct sy_sched_cycle;
struct sy_sched_candidate;
/* Benchmarks and tests only (no configuration reaches it): when set, predicted-latency-producer
 * takes every candidate's TTFT and TPOT from fn instead of the model (the cycle counts as ready
 * from the first request; queueAwareTTFT and capAwareTTFT are not applied), so its consumers can
 * be fed known values, e.g. the true latencies a simulator computes. fn returns false for "no
 * prediction" for that candidate. Set it before scheduling starts and clear it (NULL) after;
 * it is read without a lock. */
typedef bool (*sy_latency_override_fn)(void *ud, const struct sy_sched_cycle *cy,
                                       const struct sy_sched_candidate *c, double *ttft_s,
                                       double *tpot_s);
void sy_sched_latency_override(sy_latency_override_fn fn, void *ud);
/* Request parsers (parsers.c). */
extern const struct sy_plugin_ops sy_plugin_openai_parser;
extern const struct sy_plugin_ops sy_plugin_anthropic_parser;
extern const struct sy_plugin_ops sy_plugin_vllmhttp_parser;
extern const struct sy_plugin_ops sy_plugin_passthrough_parser;
/* Data layer (accepted with their defaults; the pool scraper does this work). */
extern const struct sy_plugin_ops sy_plugin_metrics_data_source;
extern const struct sy_plugin_ops sy_plugin_core_metrics_extractor;
extern const struct sy_plugin_ops sy_plugin_endpoint_notification_source;
/* Request control (answers requests itself). */
extern const struct sy_plugin_ops sy_plugin_models_responder;
extern const struct sy_plugin_ops sy_plugin_models_data_source;
extern const struct sy_plugin_ops sy_plugin_models_data_extractor;

#endif
