/* gw_metrics.c - the gateway's own Prometheus metrics, with llm-d's names and labels
 * (reference/llm-d-scheduler.md §9):
 *
 *   inference_objective_request_total{model_name,target_model_name}            counter
 *   inference_objective_request_error_total{model_name,target_model_name,error_code} counter
 *   inference_objective_request_duration_seconds{model_name,target_model_name}  histogram
 *   inference_objective_request_ttft_seconds{model_name,target_model_name}      histogram
 *   inference_objective_input_tokens / output_tokens / prompt_cached_tokens      histograms
 *   inference_objective_running_requests{model_name}                            gauge
 *   inference_pool_ready_pods{name}, inference_pool_average_queue_size{name},
 *   inference_pool_average_kv_cache_utilization{name},
 *   inference_pool_average_running_requests{name}, inference_pool_per_pod_queue_size{name,
 *   model_server_pod}                                                            gauges (collector)
 *
 *   switchyard_busy_poll_seconds_total, _windows_total, _yields_total          counters (collector)
 *   switchyard_sse_events_truncated_total (api/usage.c)                       counter (collector)
 *
 * The pool gauges are computed at scrape time from the current generation's endpoints; as in
 * llm-d only endpoints whose metrics are fresher than pool.metricsStalenessThreshold count toward
 * the averages. Switchyard has no model rewrite, so target_model_name equals model_name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/usage.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"
#include "gateway/gateway.h"

#define POOL_NAME "switchyard" /* inference_pool name label */

struct sy_gw_metrics {
    struct sy_gateway *gw;
    struct sy_metric_family *req_total, *err_total, *duration, *ttft, *in_tok, *out_tok,
        *cached_tok, *running;
};

static void pool_collector(void *ud, struct sy_buf *out)
{
    struct sy_gateway *gw = ud;
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    uint64_t now = sy_now_ns();
    size_t ready = 0, fresh = 0;
    double q = 0, kv = 0, run = 0;
    struct sy_buf per;
    sy_buf_init(&per);
    for (size_t i = 0; i < g->pool->n; i++) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(g->pool->eps[i], &st);
        if (st.ready)
            ready++;
        if (st.scraped && now - st.update_ns <= g->cfg->staleness_ns) {
            fresh++;
            q += st.m.waiting > 0 ? st.m.waiting : 0;
            kv += st.m.kv_usage > 0 ? st.m.kv_usage : 0;
            run += st.m.running > 0 ? st.m.running : 0;
            sy_buf_printf(&per,
                          "inference_pool_per_pod_queue_size{name=\"" POOL_NAME
                          "\",model_server_pod=\"%s\"} %g\n",
                          g->pool->eps[i]->address, st.m.waiting > 0 ? st.m.waiting : 0);
        }
    }
    double n = fresh ? (double)fresh : 1;
    sy_buf_printf(out,
                  "# HELP inference_pool_ready_pods The number of ready endpoints in the pool.\n"
                  "# TYPE inference_pool_ready_pods gauge\n"
                  "inference_pool_ready_pods{name=\"" POOL_NAME "\"} %zu\n"
                  "# HELP inference_pool_average_queue_size Average waiting queue size over "
                  "endpoints with fresh metrics.\n"
                  "# TYPE inference_pool_average_queue_size gauge\n"
                  "inference_pool_average_queue_size{name=\"" POOL_NAME "\"} %g\n"
                  "# HELP inference_pool_average_kv_cache_utilization Average KV-cache "
                  "utilization (0-1) over endpoints with fresh metrics.\n"
                  "# TYPE inference_pool_average_kv_cache_utilization gauge\n"
                  "inference_pool_average_kv_cache_utilization{name=\"" POOL_NAME "\"} %g\n"
                  "# HELP inference_pool_average_running_requests Average running requests over "
                  "endpoints with fresh metrics.\n"
                  "# TYPE inference_pool_average_running_requests gauge\n"
                  "inference_pool_average_running_requests{name=\"" POOL_NAME "\"} %g\n",
                  ready, q / n, kv / n, run / n);
    sy_buf_puts(out, "# HELP inference_pool_per_pod_queue_size Waiting queue size per endpoint.\n"
                     "# TYPE inference_pool_per_pod_queue_size gauge\n");
    if (per.len)
        sy_buf_append(out, per.data, per.len);
    sy_buf_fini(&per);
    sy_gw_gen_unref(g);
}

/* busyPoll (http/busypoll.h), summed over the workers: what the latency mode costs in CPU. */
static void busy_poll_collector(void *ud, struct sy_buf *out)
{
    struct sy_gateway *gw = ud;
    uint64_t ns = 0, windows = 0, yields = 0;
    for (int i = 0; i < gw->nworkers; i++) {
        struct sy_busypoll_stats *st = &gw->workers[i].busy_poll;
        ns += atomic_load_explicit(&st->idle_ns, memory_order_relaxed);
        windows += atomic_load_explicit(&st->windows, memory_order_relaxed);
        yields += atomic_load_explicit(&st->yields, memory_order_relaxed);
    }
    sy_buf_printf(out,
                  "# HELP switchyard_busy_poll_seconds_total Time worker threads spent in polls "
                  "that found no I/O (busyPoll): about the CPU it costs beyond the work itself, "
                  "less any time the thread was preempted.\n"
                  "# TYPE switchyard_busy_poll_seconds_total counter\n"
                  "switchyard_busy_poll_seconds_total %.6f\n"
                  "# HELP switchyard_busy_poll_windows_total Poll windows: I/O woke a worker and "
                  "it went on polling.\n"
                  "# TYPE switchyard_busy_poll_windows_total counter\n"
                  "switchyard_busy_poll_windows_total %llu\n"
                  "# HELP switchyard_busy_poll_yields_total Poll windows ended early because "
                  "another thread wanted the core.\n"
                  "# TYPE switchyard_busy_poll_yields_total counter\n"
                  "switchyard_busy_poll_yields_total %llu\n"
                  "# HELP switchyard_sse_events_truncated_total Streamed response events over "
                  "64 KiB of data, read for usage from their last 16 KiB and counted as no token.\n"
                  "# TYPE switchyard_sse_events_truncated_total counter\n"
                  "switchyard_sse_events_truncated_total %llu\n",
                  (double)ns / 1e9, (unsigned long long)windows, (unsigned long long)yields,
                  (unsigned long long)sy_usage_sse_truncated_total());
}

struct sy_gw_metrics *sy_gw_metrics_new(struct sy_gateway *gw, struct sy_metrics *reg)
{
    static const char *const model_labels[] = {"model_name", "target_model_name", NULL};
    static const char *const err_labels[] = {"model_name", "target_model_name", "error_code", NULL};
    static const char *const running_labels[] = {"model_name", NULL};
    struct sy_gw_metrics *m = SY_NEW(struct sy_gw_metrics);
    m->gw = gw;
    m->req_total = sy_metrics_family(reg, "inference_objective_request_total",
                                     "Counter of inference objective requests broken out for "
                                     "each model and target model.",
                                     SY_METRIC_COUNTER, model_labels, NULL, 0);
    m->err_total = sy_metrics_family(reg, "inference_objective_request_error_total",
                                     "Counter of inference objective requests errors broken out "
                                     "for each model and target model.",
                                     SY_METRIC_COUNTER, err_labels, NULL, 0);
    m->duration = sy_metrics_family(reg, "inference_objective_request_duration_seconds",
                                    "Inference objective response latency distribution in "
                                    "seconds for each model and target model.",
                                    SY_METRIC_HISTOGRAM, model_labels, sy_buckets_latency,
                                    sy_buckets_latency_n);
    m->ttft = sy_metrics_family(reg, "inference_objective_request_ttft_seconds",
                                "Time to first token measured at the gateway, in seconds.",
                                SY_METRIC_HISTOGRAM, model_labels, sy_buckets_latency,
                                sy_buckets_latency_n);
    m->in_tok = sy_metrics_family(reg, "inference_objective_input_tokens",
                                  "Inference objective input token count distribution for "
                                  "requests in each model.",
                                  SY_METRIC_HISTOGRAM, model_labels, sy_buckets_tokens,
                                  sy_buckets_tokens_n);
    m->out_tok = sy_metrics_family(reg, "inference_objective_output_tokens",
                                   "Inference objective output token count distribution for "
                                   "requests in each model.",
                                   SY_METRIC_HISTOGRAM, model_labels, sy_buckets_tokens,
                                   sy_buckets_tokens_n);
    m->cached_tok = sy_metrics_family(reg, "inference_objective_prompt_cached_tokens",
                                      "Inference objective prompt cached token count "
                                      "distribution for requests in each model.",
                                      SY_METRIC_HISTOGRAM, model_labels, sy_buckets_tokens,
                                      sy_buckets_tokens_n);
    m->running = sy_metrics_family(reg, "inference_objective_running_requests",
                                   "Inference objective number of running requests in each "
                                   "model.",
                                   SY_METRIC_GAUGE, running_labels, NULL, 0);
    sy_metrics_add_collector(reg, pool_collector, gw);
    sy_metrics_add_collector(reg, busy_poll_collector, gw);
    return m;
}

void sy_gw_metrics_free(struct sy_gw_metrics *m)
{
    free(m);
}

void sy_gw_metrics_request(struct sy_gw_metrics *m, const char *model, int status,
                           const char *error_code, double duration_s, double ttft_s,
                           int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens)
{
    const char *lv[] = {model, model, NULL};
    sy_metric_inc(sy_metric_get(m->req_total, lv));
    if (error_code || status >= 400) {
        char code[64];
        snprintf(code, sizeof code, "%d", status);
        const char *ev[] = {model, model, code, NULL};
        sy_metric_inc(sy_metric_get(m->err_total, ev));
        return;
    }
    sy_metric_observe(sy_metric_get(m->duration, lv), duration_s);
    if (ttft_s >= 0)
        sy_metric_observe(sy_metric_get(m->ttft, lv), ttft_s);
    if (prompt_tokens >= 0)
        sy_metric_observe(sy_metric_get(m->in_tok, lv), (double)prompt_tokens);
    if (completion_tokens >= 0)
        sy_metric_observe(sy_metric_get(m->out_tok, lv), (double)completion_tokens);
    if (cached_tokens >= 0)
        sy_metric_observe(sy_metric_get(m->cached_tok, lv), (double)cached_tokens);
}

void sy_gw_metrics_running(struct sy_gw_metrics *m, const char *model, int delta)
{
    const char *lv[] = {model, NULL};
    sy_metric_add(sy_metric_get(m->running, lv), (double)delta);
}
