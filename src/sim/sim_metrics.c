/* sim_metrics.c - renders one simulated engine's state as vLLM's /metrics page.
 *
 * Names, types, help texts and labels follow vLLM V1's PrometheusStatLogger
 * (vllm/v1/metrics/loggers.py) as prometheus_client prints them in text format 0.0.4: counters
 * are declared and sampled with their `_total` name, every series carries model_name and
 * engine="0" (one engine per simulated replica, as a vLLM process per data-parallel rank),
 * histograms have vLLM's bucket bounds. Latencies are in simulated seconds, so with
 * --time-scale X they read what the modelled GPU would report, not the compressed wall time.
 *
 * The page is rendered straight from the engine's counters rather than through the shared
 * metrics registry: the engine already keeps exactly these numbers, and a registry per replica
 * would duplicate them and add locking the single-threaded simulator does not need.
 */
#include "sim/sim_server.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

/* Formats a value the way prometheus_client does (Python's repr: the shortest text that reads
 * back exactly, with ".0" when integral). */
static void fmt_num(char *out, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, cap, "%.1f", v);
    else
        snprintf(out, cap, "%.17g", v);
    /* shortest form that round-trips, e.g. 0.001 not 0.0010000000000000000208 */
    for (int prec = 1; prec <= 17 && v != floor(v); prec++) {
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        double back;
        if (sscanf(tmp, "%lf", &back) == 1 && back == v) {
            snprintf(out, cap, "%s", tmp);
            break;
        }
    }
}

static void header(struct sy_buf *b, const char *name, const char *help, const char *type)
{
    sy_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labels(struct sy_buf *b, const char *model, const char *extra)
{
    sy_buf_puts(b, "{engine=\"0\",model_name=");
    sy_buf_json_str(b, model, strlen(model)); /* JSON escaping is a superset of Prometheus' */
    if (extra)
        sy_buf_printf(b, ",%s", extra);
    sy_buf_puts(b, "}");
}

static void gauge(struct sy_buf *b, const char *model, const char *name, const char *help, double v)
{
    header(b, name, help, "gauge");
    sy_buf_puts(b, name);
    labels(b, model, NULL);
    char num[40];
    fmt_num(num, sizeof num, v);
    sy_buf_printf(b, " %s\n", num);
}

static void counter(struct sy_buf *b, const char *model, const char *name, const char *help,
                    uint64_t v)
{
    header(b, name, help, "counter");
    sy_buf_puts(b, name);
    labels(b, model, NULL);
    sy_buf_printf(b, " %llu.0\n", (unsigned long long)v);
}

static void counter_s(struct sy_buf *b, const char *model, const char *name, const char *help,
                      uint64_t ns)
{
    header(b, name, help, "counter");
    sy_buf_puts(b, name);
    labels(b, model, NULL);
    char num[40];
    fmt_num(num, sizeof num, (double)ns / 1e9);
    sy_buf_printf(b, " %s\n", num);
}

static void histogram(struct sy_buf *b, const char *model, const char *name, const char *help,
                      const struct sy_sim_hist *h)
{
    header(b, name, help, "histogram");
    uint64_t cum = 0;
    char le[64], extra[80];
    for (size_t i = 0; i <= h->n; i++) {
        cum += h->counts[i];
        if (i < h->n)
            fmt_num(le, sizeof le, h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(extra, sizeof extra, "le=\"%s\"", le);
        sy_buf_printf(b, "%s_bucket", name);
        labels(b, model, extra);
        sy_buf_printf(b, " %llu.0\n", (unsigned long long)cum);
    }
    sy_buf_printf(b, "%s_count", name);
    labels(b, model, NULL);
    sy_buf_printf(b, " %llu.0\n", (unsigned long long)h->count);
    sy_buf_printf(b, "%s_sum", name);
    labels(b, model, NULL);
    fmt_num(le, sizeof le, h->sum);
    sy_buf_printf(b, " %s\n", le);
}

void sy_sim_render_metrics(const struct sy_sim_engine *e, const char *model, struct sy_buf *out)
{
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    const struct sy_sim_profile *p = sy_sim_engine_profile(e);
    gauge(out, model, "vllm:num_requests_running", "Number of requests in model execution batches.",
          sy_sim_engine_num_running(e));
    gauge(out, model, "vllm:num_requests_waiting", "Number of requests waiting to be processed.",
          sy_sim_engine_num_waiting(e));
    gauge(out, model, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
          sy_sim_engine_kv_usage(e));

    header(out, "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge");
    char extra[256];
    snprintf(extra, sizeof extra,
             "block_size=\"%u\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
             "gpu_memory_utilization=\"0.9\",num_cpu_blocks=\"0\",num_gpu_blocks=\"%u\"",
             p->block_size, p->num_gpu_blocks);
    sy_buf_puts(out, "vllm:cache_config_info");
    labels(out, model, extra);
    sy_buf_puts(out, " 1.0\n");

    counter(out, model, "vllm:num_preemptions_total",
            "Cumulative number of preemption from the engine.", st->preemptions);
    counter(out, model, "vllm:prefix_cache_queries_total",
            "Prefix cache queries, in terms of number of queried tokens.", st->prefix_queries);
    counter(out, model, "vllm:prefix_cache_hits_total",
            "Prefix cache hits, in terms of number of cached tokens.", st->prefix_hits);
    counter(out, model, "vllm:prompt_tokens_total", "Number of prefill tokens processed.",
            st->prompt_tokens);
    counter(out, model, "vllm:generation_tokens_total", "Number of generation tokens processed.",
            st->generation_tokens);

    header(out, "vllm:request_success_total", "Count of successfully processed requests.",
           "counter");
    for (int f = 0; f < SY_SIM_FINISH_N_; f++) {
        snprintf(extra, sizeof extra, "finished_reason=\"%s\"",
                 sy_sim_finish_name((enum sy_sim_finish)f));
        sy_buf_puts(out, "vllm:request_success_total");
        labels(out, model, extra);
        sy_buf_printf(out, " %llu.0\n", (unsigned long long)st->success[f]);
    }

    /* Switchyard's step accounting (not vLLM series): how busy the modelled GPU was and what a
     * decoding token waited for, so a benchmark can split ITL into the decode step at its batch
     * and the prefill chunks sharing the step (bench/llmd_sweep.py reads them per stage). */
    counter(out, model, "switchyard_sim_steps_total", "Engine steps executed.", st->steps);
    counter_s(out, model, "switchyard_sim_busy_seconds_total",
              "Simulated seconds the engine spent in steps.", st->busy_ns);
    counter(out, model, "switchyard_sim_prefill_tokens_total",
            "Tokens computed as prefill, recomputation after preemption included.",
            st->prefill_tokens);
    counter(out, model, "switchyard_sim_decode_steps_total",
            "Steps with at least one decoding sequence.", st->decode_steps);
    counter(out, model, "switchyard_sim_decode_seqs_total",
            "Decoding sequences summed over those steps (mean decode batch = this / steps).",
            st->decode_seqs);
    counter(out, model, "switchyard_sim_decode_context_tokens_total",
            "Context tokens of the decoding sequences summed over those steps.",
            st->decode_ctx_tokens);
    counter_s(out, model, "switchyard_sim_decode_step_seconds_total",
              "Decode-only duration of those steps (the same batch without its prefill chunks).",
              st->decode_step_ns);
    counter_s(out, model, "switchyard_sim_decode_token_step_seconds_total",
              "Decoding sequences x step duration, summed (over decode_seqs: the step time a "
              "decoding token waited).",
              st->decode_seq_step_ns);
    counter_s(out, model, "switchyard_sim_decode_token_decode_seconds_total",
              "Decoding sequences x decode-only step duration, summed (the prefill chunks' share "
              "is the difference from decode_token_step).",
              st->decode_seq_decode_ns);

    histogram(out, model, "vllm:time_to_first_token_seconds",
              "Histogram of time to first token in seconds.", &st->ttft);
    histogram(out, model, "vllm:inter_token_latency_seconds",
              "Histogram of inter-token latency in seconds.", &st->itl);
    histogram(out, model, "vllm:e2e_request_latency_seconds",
              "Histogram of e2e request latency in seconds.", &st->e2e);
    histogram(out, model, "vllm:request_queue_time_seconds",
              "Histogram of time spent in WAITING phase for request.", &st->queue);
}

const char *sy_sim_role_name(enum sy_sim_role r)
{
    switch (r) {
    case SY_SIM_ROLE_PREFILL: return "prefill";
    case SY_SIM_ROLE_DECODE: return "decode";
    default: return "both";
    }
}

/* P/D series. vLLM's NixlPromMetrics names (vllm:nixl_*), then Switchyard's own: which pool the
 * replica serves (the llm-d.ai/role its pod label would carry), the blocks it holds for remote
 * decodes, and the decode legs it had to prefill locally, by reason. */
void sy_sim_render_pd_metrics(const struct sy_sim_engine *e, const char *model,
                              enum sy_sim_role role, enum sy_sim_connector conn,
                              const char *engine_id, uint32_t parked, struct sy_buf *out)
{
    const struct sy_sim_stats *st = sy_sim_engine_stats(e);
    histogram(out, model, "vllm:nixl_xfer_time_seconds",
              "Histogram of transfer duration for NIXL KV Cache transfers.", &st->xfer);
    histogram(out, model, "vllm:nixl_bytes_transferred",
              "Histogram of bytes transferred per NIXL KV Cache transfers.", &st->xfer_bytes);
    uint64_t failed = 0;
    for (int i = 0; i < SY_SIM_PULL_N_; i++)
        failed += st->pd_fallbacks[i];
    counter(out, model, "vllm:nixl_num_failed_transfers_total",
            "Number of failed NIXL KV Cache transfers.", failed);
    counter(out, model, "vllm:nixl_num_kv_expired_reqs_total",
            "Number of requests that had their KV expire. NOTE: This metric is tracked on the P "
            "instance.",
            st->kv_expired);

    header(out, "switchyard_sim_replica_info",
           "P/D role (llm-d.ai/role), KV connector and NIXL engine id of this replica.", "gauge");
    char extra[256];
    snprintf(extra, sizeof extra, "engine_id=\"%s\",kv_connector=\"%s\",role=\"%s\"", engine_id,
             conn == SY_SIM_CONN_SGLANG ? "sglang" : "nixlv2", sy_sim_role_name(role));
    sy_buf_puts(out, "switchyard_sim_replica_info");
    labels(out, model, extra);
    sy_buf_puts(out, " 1.0\n");
    gauge(out, model, "switchyard_sim_kv_held_requests",
          "Finished prefills whose KV blocks are held for a remote decode.",
          sy_sim_engine_num_held(e));
    gauge(out, model, "switchyard_sim_pd_parked_requests",
          "Decode legs waiting for their prefill's KV to be offered (SGLang room, side channel).",
          parked);
    counter(out, model, "switchyard_sim_kv_pulls_total",
            "Decode legs whose prompt KV was pulled from a prefill replica.", st->kv_pulls);
    counter(out, model, "switchyard_sim_kv_pulled_tokens_total",
            "Prompt tokens whose KV was pulled instead of computed.", st->kv_pulled_tokens);
    header(out, "switchyard_sim_pd_fallbacks_total",
           "Decode legs prefilled locally because their KV could not be pulled, by reason.",
           "counter");
    for (int i = SY_SIM_PULL_UNKNOWN; i < SY_SIM_PULL_N_; i++) {
        snprintf(extra, sizeof extra, "reason=\"%s\"", sy_sim_pull_name((enum sy_sim_pull)i));
        sy_buf_puts(out, "switchyard_sim_pd_fallbacks_total");
        labels(out, model, extra);
        sy_buf_printf(out, " %llu.0\n", (unsigned long long)st->pd_fallbacks[i]);
    }
}
