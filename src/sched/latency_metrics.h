/* latency_metrics.h - Prometheus metrics of predicted-latency scheduling (llm-d's names). */
#ifndef SY_SCHED_LATENCY_METRICS_H
#define SY_SCHED_LATENCY_METRICS_H

#include <stdbool.h>

struct sy_metrics;

/* Registers the families in reg and a collector for the model's own gauges; the gateway calls it
 * once at start. Until then the record functions do nothing. */
void sy_latency_metrics_attach(struct sy_metrics *reg);

/* One served request: its model, the chosen endpoint's predictions (< 0 none), the measured
 * TTFT/TPOT (<= 0 unknown) and the objectives in ms (0 none). */
void sy_latency_metrics_request(const char *model, double pred_ttft_s, double pred_tpot_s,
                                double ttft_s, double tpot_s, double slo_ttft_ms,
                                double slo_tpot_ms);
/* Time spent predicting for one cycle (all candidates), in seconds. */
void sy_latency_metrics_prediction(const char *model, double seconds);

#endif
