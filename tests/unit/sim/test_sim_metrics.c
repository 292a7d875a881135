/* Unit tests for src/sim/sim_metrics.c: exact exposition lines for a hand-computed engine run
 * (one request: TTFT 3.0 ms, two ITLs of 1.0 ms, e2e 5.0 ms, queue 0; see test_engine.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "sim/engine.h"
#include "sim/sim_server.h"

static void has_line(const char *text, const char *line)
{
    const char *p = strstr(text, line);
    if (!p || (p != text && p[-1] != '\n') || p[strlen(line)] != '\n')
        fail_msg("missing line: %s", line);
}

static void test_render_after_one_request(void **state)
{
    struct sy_sim_profile p = {.name = "t",
                               .num_gpu_blocks = 64,
                               .block_size = 4,
                               .max_num_seqs = 4,
                               .max_num_batched_tokens = 8,
                               .max_model_len = 4096,
                               .step_base_us = 1000,
                               .prefill_us_per_token = 100};
    struct sy_sim_engine *e = sy_sim_engine_new(&p, 1, NULL);
    uint32_t t[10];
    for (int i = 0; i < 10; i++)
        t[i] = (uint32_t)i + 100;
    assert_non_null(sy_sim_engine_submit(e, t, 10, 3, NULL, 0));
    sy_sim_engine_advance(e, 0);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sim_render_metrics(e, "m/x", &b);
    /* mid-flight: one running, 2 of 64 blocks in use */
    has_line(b.data, "vllm:num_requests_running{engine=\"0\",model_name=\"m/x\"} 1.0");
    has_line(b.data, "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m/x\"} 0.03125");
    uint64_t n;
    while ((n = sy_sim_engine_next_ns(e)) != UINT64_MAX)
        sy_sim_engine_advance(e, n);
    sy_buf_reset(&b);
    sy_sim_render_metrics(e, "m/x", &b);
    const char *s = b.data;
    has_line(s, "# TYPE vllm:num_requests_running gauge");
    has_line(s, "vllm:num_requests_running{engine=\"0\",model_name=\"m/x\"} 0.0");
    has_line(s, "vllm:num_requests_waiting{engine=\"0\",model_name=\"m/x\"} 0.0");
    has_line(s, "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m/x\"} 0.0");
    has_line(s, "vllm:cache_config_info{engine=\"0\",model_name=\"m/x\",block_size=\"4\","
                "cache_dtype=\"auto\",enable_prefix_caching=\"True\",gpu_memory_utilization="
                "\"0.9\",num_cpu_blocks=\"0\",num_gpu_blocks=\"64\"} 1.0");
    has_line(s, "# TYPE vllm:prompt_tokens_total counter");
    has_line(s, "vllm:prompt_tokens_total{engine=\"0\",model_name=\"m/x\"} 10.0");
    has_line(s, "vllm:generation_tokens_total{engine=\"0\",model_name=\"m/x\"} 3.0");
    has_line(s, "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m/x\"} 10.0");
    has_line(s, "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"m/x\"} 0.0");
    has_line(s, "vllm:request_success_total{engine=\"0\",model_name=\"m/x\","
                "finished_reason=\"length\"} 1.0");
    has_line(s, "vllm:request_success_total{engine=\"0\",model_name=\"m/x\","
                "finished_reason=\"stop\"} 0.0");
    has_line(s, "vllm:request_success_total{engine=\"0\",model_name=\"m/x\","
                "finished_reason=\"abort\"} 0.0");
    /* TTFT 0.003 s: not <= 0.001, in le=0.005 and above (cumulative) */
    has_line(s, "# TYPE vllm:time_to_first_token_seconds histogram");
    has_line(s, "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"0.001\"} 0.0");
    has_line(s, "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"0.005\"} 1.0");
    has_line(s, "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"2560.0\"} 1.0");
    has_line(s, "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"+Inf\"} 1.0");
    has_line(s, "vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m/x\"} 1.0");
    has_line(s, "vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m/x\"} 0.003");
    /* two ITLs of 1 ms: both in the first bucket (0.01) */
    has_line(s, "vllm:inter_token_latency_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"0.01\"} 2.0");
    has_line(s, "vllm:inter_token_latency_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"0.025\"} 2.0");
    has_line(s, "vllm:inter_token_latency_seconds_count{engine=\"0\",model_name=\"m/x\"} 2.0");
    has_line(s, "vllm:e2e_request_latency_seconds_bucket{engine=\"0\",model_name=\"m/x\","
                "le=\"0.3\"} 1.0");
    has_line(s, "vllm:e2e_request_latency_seconds_sum{engine=\"0\",model_name=\"m/x\"} 0.005");
    has_line(s, "vllm:request_queue_time_seconds_sum{engine=\"0\",model_name=\"m/x\"} 0.0");
    /* a model name needing escapes stays one valid label value */
    sy_buf_reset(&b);
    sy_sim_render_metrics(e, "a\"b\\c", &b);
    has_line(b.data, "vllm:num_requests_waiting{engine=\"0\",model_name=\"a\\\"b\\\\c\"} 0.0");
    sy_buf_fini(&b);
    sy_sim_engine_free(e);
}

/* P/D series: a decode engine that pulled one 40-token prompt (500 us + 40 us) and fell back
 * once, and a prefill engine whose one held KV expired. */
static void test_render_pd(void **state)
{
    struct sy_sim_profile p = {.name = "t",
                               .num_gpu_blocks = 64,
                               .block_size = 16,
                               .max_num_seqs = 4,
                               .max_num_batched_tokens = 64,
                               .max_model_len = 4096,
                               .step_base_us = 1000,
                               .prefill_us_per_token = 100,
                               .tp_size = 1,
                               .kv_bytes_per_token = 1000,
                               .kv_xfer_gbps = 1.0,
                               .kv_xfer_base_us = 500,
                               .kv_lease_s = 1.0};
    struct sy_sim_engine *pe = sy_sim_engine_new(&p, 1, NULL);
    struct sy_sim_engine *de = sy_sim_engine_new(&p, 1, NULL);
    uint32_t t[40];
    for (int i = 0; i < 40; i++)
        t[i] = (uint32_t)i + 7;
    struct sy_sim_submit hold = {
        .tokens = t, .n_prompt = 40, .max_tokens = 1, .hold_kv = true, .hold_key = 5};
    assert_non_null(sy_sim_engine_submit_ex(pe, &hold, 0));
    struct sy_sim_submit pull = {
        .tokens = t, .n_prompt = 40, .max_tokens = 2, .pull = SY_SIM_PULL_OK};
    struct sy_sim_submit fb = {
        .tokens = t, .n_prompt = 40, .max_tokens = 2, .pull = SY_SIM_PULL_EXPIRED};
    assert_non_null(sy_sim_engine_submit_ex(de, &pull, 0));
    assert_non_null(sy_sim_engine_submit_ex(de, &fb, 0));
    struct sy_sim_engine *es[2] = {pe, de};
    for (int k = 0; k < 2; k++) {
        uint64_t n;
        sy_sim_engine_advance(es[k], 0);
        while ((n = sy_sim_engine_next_ns(es[k])) != UINT64_MAX)
            sy_sim_engine_advance(es[k], n);
    }
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sim_render_pd_metrics(pe, "m", SY_SIM_ROLE_PREFILL, SY_SIM_CONN_NIXLV2, "e-1", 0, &b);
    const char *s = b.data;
    has_line(s, "# TYPE vllm:nixl_num_kv_expired_reqs_total counter");
    has_line(s, "vllm:nixl_num_kv_expired_reqs_total{engine=\"0\",model_name=\"m\"} 1.0");
    has_line(s, "switchyard_sim_replica_info{engine=\"0\",model_name=\"m\",engine_id=\"e-1\","
                "kv_connector=\"nixlv2\",role=\"prefill\"} 1.0");
    has_line(s, "switchyard_sim_kv_held_requests{engine=\"0\",model_name=\"m\"} 0.0");
    sy_buf_reset(&b);
    sy_sim_render_pd_metrics(de, "m", SY_SIM_ROLE_DECODE, SY_SIM_CONN_SGLANG, "e-2", 3, &b);
    s = b.data;
    has_line(s, "# TYPE vllm:nixl_xfer_time_seconds histogram");
    has_line(s, "vllm:nixl_xfer_time_seconds_bucket{engine=\"0\",model_name=\"m\","
                "le=\"0.005\"} 1.0");
    has_line(s, "vllm:nixl_xfer_time_seconds_sum{engine=\"0\",model_name=\"m\"} 0.00054");
    has_line(s, "vllm:nixl_bytes_transferred_sum{engine=\"0\",model_name=\"m\"} 40000.0");
    has_line(s, "vllm:nixl_num_failed_transfers_total{engine=\"0\",model_name=\"m\"} 1.0");
    has_line(s, "switchyard_sim_kv_pulls_total{engine=\"0\",model_name=\"m\"} 1.0");
    has_line(s, "switchyard_sim_pd_parked_requests{engine=\"0\",model_name=\"m\"} 3.0");
    has_line(s, "switchyard_sim_kv_pulled_tokens_total{engine=\"0\",model_name=\"m\"} 40.0");
    has_line(s, "switchyard_sim_pd_fallbacks_total{engine=\"0\",model_name=\"m\","
                "reason=\"expired\"} 1.0");
    has_line(s, "switchyard_sim_pd_fallbacks_total{engine=\"0\",model_name=\"m\","
                "reason=\"unknown\"} 0.0");
    has_line(s, "switchyard_sim_replica_info{engine=\"0\",model_name=\"m\",engine_id=\"e-2\","
                "kv_connector=\"sglang\",role=\"decode\"} 1.0");
    sy_buf_fini(&b);
    sy_sim_engine_free(pe);
    sy_sim_engine_free(de);
}

/* Step accounting (switchyard_sim_*): A (4-token prompt, 3 outputs) prefills alone (1,400 us),
 * then decodes in a step that also prefills B (6 tokens, submitted meanwhile): 1,000 + 600 + 10
 * = 1,610 us, of which 1,010 us is the decode-only step; then both decode (1,000 + 2 x 10 =
 * 1,020 us) and finish. */
static void test_render_step_accounting(void **state)
{
    struct sy_sim_profile p = {.name = "t",
                               .num_gpu_blocks = 64,
                               .block_size = 4,
                               .max_num_seqs = 4,
                               .max_num_batched_tokens = 8,
                               .max_model_len = 4096,
                               .step_base_us = 1000,
                               .prefill_us_per_token = 100,
                               .decode_us_per_seq = 10};
    struct sy_sim_engine *e = sy_sim_engine_new(&p, 1, NULL);
    uint32_t a[4] = {11, 12, 13, 14}, b6[6] = {21, 22, 23, 24, 25, 26};
    assert_non_null(sy_sim_engine_submit(e, a, 4, 3, NULL, 0));
    sy_sim_engine_advance(e, 0);
    assert_non_null(sy_sim_engine_submit(e, b6, 6, 2, NULL, 1000000));
    uint64_t n;
    while ((n = sy_sim_engine_next_ns(e)) != UINT64_MAX)
        sy_sim_engine_advance(e, n);
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sim_render_metrics(e, "m", &b);
    const char *s = b.data;
    has_line(s, "# TYPE switchyard_sim_steps_total counter");
    has_line(s, "switchyard_sim_steps_total{engine=\"0\",model_name=\"m\"} 3.0");
    has_line(s, "switchyard_sim_busy_seconds_total{engine=\"0\",model_name=\"m\"} 0.00403");
    has_line(s, "switchyard_sim_prefill_tokens_total{engine=\"0\",model_name=\"m\"} 10.0");
    has_line(s, "switchyard_sim_decode_steps_total{engine=\"0\",model_name=\"m\"} 2.0");
    has_line(s, "switchyard_sim_decode_seqs_total{engine=\"0\",model_name=\"m\"} 3.0");
    /* A's 4 computed tokens in the mixed step, then A's 5 and B's 6 */
    has_line(s, "switchyard_sim_decode_context_tokens_total{engine=\"0\",model_name=\"m\"} 15.0");
    has_line(s, "switchyard_sim_decode_step_seconds_total{engine=\"0\",model_name=\"m\"} "
                "0.00203");
    /* 1 x 1,610 + 2 x 1,020 us, and without B's chunk 1 x 1,010 + 2 x 1,020 us */
    has_line(s, "switchyard_sim_decode_token_step_seconds_total{engine=\"0\",model_name=\"m\"} "
                "0.00365");
    has_line(s, "switchyard_sim_decode_token_decode_seconds_total{engine=\"0\",model_name=\"m\"} "
                "0.00305");
    has_line(s, "vllm:generation_tokens_total{engine=\"0\",model_name=\"m\"} 5.0");
    sy_buf_fini(&b);
    sy_sim_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_after_one_request),
        cmocka_unit_test(test_render_step_accounting),
        cmocka_unit_test(test_render_pd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
