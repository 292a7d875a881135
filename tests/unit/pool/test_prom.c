/* Unit tests for src/pool/prom.c: the Prometheus text parser and the per-engine mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pool/prom.h"

/* Collects every sample's name, first label and value into a flat text for comparison. */
struct collect {
    char out[4096];
    size_t n;
    int count;
    int stop_after; /* return 7 after this many samples (0 = never) */
};

static int collect_cb(void *ud, const struct sy_prom_sample *s)
{
    struct collect *c = ud;
    char v[64];
    if (isnan(s->value))
        snprintf(v, sizeof v, "NaN");
    else
        snprintf(v, sizeof v, "%g", s->value);
    c->n +=
        (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, "%.*s", (int)s->name.len, s->name.p);
    for (size_t i = 0; i < s->nlabels; i++)
        c->n += (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, "|%.*s=%.*s",
                                 (int)s->label_names[i].len, s->label_names[i].p,
                                 (int)s->label_values[i].len, s->label_values[i].p);
    c->n += (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, " %s", v);
    if (s->has_timestamp)
        c->n += (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, " @%lld",
                                 (long long)s->timestamp_ms);
    c->n += (size_t)snprintf(c->out + c->n, sizeof c->out - c->n, ";");
    c->count++;
    if (c->stop_after && c->count >= c->stop_after)
        return 7;
    return 0;
}

static int parse_str(const char *text, struct collect *c, int *line)
{
    memset(c, 0, sizeof *c);
    return sy_prom_parse(text, strlen(text), collect_cb, c, line);
}

static void test_basic_samples(void **state)
{
    struct collect c;
    int line = -1;
    const char *t = "# HELP a_total Things.\n"
                    "# TYPE a_total counter\n"
                    "a_total 3\n"
                    "b{x=\"1\",y=\"two words\"} 2.5\n"
                    "\n"
                    "c:d:e 1e3 1700000000000\n"
                    "  \t\n"
                    "f{} -4\n"
                    "g { z = \"q\" , } 7\n";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_int_equal(line, 0);
    assert_string_equal(c.out, "a_total 3;b|x=1|y=two words 2.5;c:d:e 1000 @1700000000000;f -4;"
                               "g|z=q 7;");
}

static void test_special_values(void **state)
{
    struct collect c;
    int line;
    const char *t = "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1.5e-7\nf -0\n";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_string_equal(c.out, "a NaN;b inf;c -inf;d inf;e 1.5e-07;f -0;");
}

static void test_crlf_and_no_final_newline(void **state)
{
    struct collect c;
    int line;
    const char *t = "# TYPE a gauge\r\na 1\r\n\r\nb{l=\"v\"} 2\r\nc 3";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_string_equal(c.out, "a 1;b|l=v 2;c 3;");
}

static void test_escapes_and_unescape(void **state)
{
    struct collect c;
    int line;
    const char *t = "a{p=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",r=\"l1\\nl2\",s=\"}{,=\"} 1\n";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_string_equal(c.out, "a|p=C:\\\\dir|q=say \\\"hi\\\"|r=l1\\nl2|s=}{,= 1;");

    char out[32];
    struct sy_str raw = SY_STR_LIT("say \\\"hi\\\" C:\\\\x\\nend");
    assert_int_equal(sy_prom_unescape(raw, out, sizeof out), 17);
    assert_string_equal(out, "say \"hi\" C:\\x\nend");
    /* truncation keeps the terminator */
    assert_int_equal(sy_prom_unescape(raw, out, 5), 4);
    assert_string_equal(out, "say ");
    assert_int_equal(sy_prom_unescape(raw, out, 0), 0);
}

static void test_label_lookup(void **state)
{
    struct sy_prom_sample s;
    memset(&s, 0, sizeof s);
    s.nlabels = 2;
    s.label_names[0] = SY_STR_LIT("a");
    s.label_values[0] = SY_STR_LIT("1");
    s.label_names[1] = SY_STR_LIT("bb");
    s.label_values[1] = SY_STR_LIT("22");
    struct sy_str v;
    assert_true(sy_prom_label(&s, "bb", &v));
    assert_true(sy_str_eq_c(v, "22"));
    assert_false(sy_prom_label(&s, "b", &v));
    assert_false(sy_prom_label(&s, "cc", &v));
}

static void test_eof_and_exemplars(void **state)
{
    struct collect c;
    int line;
    const char *t = "# TYPE x counter\n"
                    "x_total 5 # {trace_id=\"abc\"} 1.0 1520879607.789\n"
                    "y 1 1520879607.789\n"
                    "# EOF\n"
                    "this is not parsed\n";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_string_equal(c.out, "x_total 5;y 1 @1520879607789;");
}

static void test_negative_timestamp_and_comment(void **state)
{
    struct collect c;
    int line;
    const char *t = "# just a comment with { junk\n#\na 1 -5\n# EOF trailing words\nb 2\n";
    assert_int_equal(parse_str(t, &c, &line), 0);
    assert_string_equal(c.out, "a 1 @-5;b 2;");
}

static void test_callback_stop(void **state)
{
    struct collect c;
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    const char *t = "a 1\nb 2\nc 3\n";
    int line;
    assert_int_equal(sy_prom_parse(t, strlen(t), collect_cb, &c, &line), 7);
    assert_int_equal(c.count, 2);
}

static void test_not_nul_terminated(void **state)
{
    /* The parser must stop at len: "a 12" truncated to "a 1". */
    char buf[4] = {'a', ' ', '1', '2'};
    struct collect c;
    memset(&c, 0, sizeof c);
    int line;
    assert_int_equal(sy_prom_parse(buf, 3, collect_cb, &c, &line), 0);
    assert_string_equal(c.out, "a 1;");
    assert_int_equal(sy_prom_parse(buf, 0, collect_cb, &c, &line), 0);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *text;
        int line;
    } bad[] = {
        {"a\n", 1},
        {"a \n", 1},
        {"ok 1\n1abc 2\n", 2},
        {"a{b=\"c\" 1\n", 1},
        {"a{b=\"c} 1\n", 1},
        {"a{b=c} 1\n", 1},
        {"a{=\"c\"} 1\n", 1},
        {"a{1b=\"c\"} 1\n", 1},
        {"a{b:c=\"d\"} 1\n", 1},
        {"a{b=\"c\"d=\"e\"} 1\n", 1},
        {"a{b=\"c\",b=\"d\"} 1\n", 1},
        {"a{b=\"\\x\"} 1\n", 1},
        {"a{b=\"c\\\"} 1\n", 1},
        {"a{b=\"c\"}1\n", 1},
        {"a one\n", 1},
        {"a 1 2 3\n", 1},
        {"a 1 12x\n", 1},
        {"a 1 99999999999999999999999\n", 1},
        {"a \r1\n", 1},
        {"a 1 \v5\n", 1},
        {"a 1.2.3\n", 1},
        {"a 0x\n", 1},
        {"ok 1\r\n\r\na{ 1\r\n", 3},
        {"# TYPE a gauges\n", 1},
        {"# TYPE a\n", 1},
        {"# TYPE 9a gauge\n", 1},
        {"# HELP\n", 1},
        {"# TYPE a gauge extra\n", 1},
        {"a 1 # junk\n", 1},
        {"a 1 # {x=\"y\"}\n", 1},
        {"a{\n", 1},
        {"{a=\"b\"} 1\n", 1},
        {"a\x01 1\n", 1},
        {"a 1\0b 2\n", 1},
        {"a 123456789012345678901234567890123456789012345678901234567890123456789012345678901234"
         "5678901234567890123456789012345678901234567890\n",
         1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct collect c;
        memset(&c, 0, sizeof c);
        int line = 0;
        size_t len = strlen(bad[i].text);
        if (strcmp(bad[i].text, "a 1") == 0)
            len = 8; /* the embedded NUL case */
        int rc = sy_prom_parse(bad[i].text, len, collect_cb, &c, &line);
        if (rc != SY_EPARSE || line != bad[i].line)
            fail_msg("case %zu (%s): rc=%d line=%d", i, bad[i].text, rc, line);
    }
}

static void test_too_many_labels(void **state)
{
    char t[1024];
    size_t n = (size_t)snprintf(t, sizeof t, "a{");
    for (int i = 0; i < SY_PROM_MAX_LABELS; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "l%d=\"v\",", i);
    snprintf(t + n, sizeof t - n, "} 1\n");
    struct collect c;
    int line;
    assert_int_equal(parse_str(t, &c, &line), 0); /* exactly the maximum */
    n = (size_t)snprintf(t, sizeof t, "a{");
    for (int i = 0; i <= SY_PROM_MAX_LABELS; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "l%d=\"v\",", i);
    snprintf(t + n, sizeof t - n, "} 1\n");
    assert_int_equal(parse_str(t, &c, &line), SY_EPARSE);
    assert_int_equal(line, 1);
}

/* ---- engine mapping ---- */

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    const char *dirs[] = {"tests/data", "../tests/data", "../../tests/data"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *b = malloc((size_t)n + 1);
        assert_non_null(b);
        assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        b[n] = '\0';
        *len = (size_t)n;
        return b;
    }
    fail_msg("fixture %s not found (run from the repository root)", name);
    *len = 0;
    return NULL;
}

static void test_vllm_fixture(void **state)
{
    size_t len = 0;
    char *t = read_fixture("vllm_metrics.txt", &len);
    struct sy_engine_metrics m;
    int line = -1;
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, t, len, &m, &line), 0);
    assert_int_equal(line, 0);
    assert_true(m.waiting == 2.0);  /* 2 + 0 over engine="0","1" */
    assert_true(m.running == 4.0);  /* 3 + 1 */
    assert_true(m.kv_usage == 0.4); /* max(0.25, 0.4) */
    assert_int_equal(m.block_size, 16);
    assert_int_equal(m.num_blocks, 27162);
    /* the series with the larger timestamp value wins */
    assert_string_equal(m.running_loras, "sql-lora,chat-lora");
    assert_string_equal(m.waiting_loras, "tool-lora");
    assert_int_equal(m.max_lora, 4);

    /* every sample of the fixture parses; count them */
    struct collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(sy_prom_parse(t, len, NULL, NULL, &line), 0);

    /* The same body read as another engine finds none of its names. */
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_SGLANG, t, len, &m, &line), SY_ENOTFOUND);
    assert_true(m.waiting == -1 && m.running == -1 && m.kv_usage == -1);
    assert_int_equal(m.block_size, -1);
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_LLAMACPP, t, len, &m, &line), SY_ENOTFOUND);

    /* CRLF version of the whole fixture gives the same numbers */
    char *crlf = malloc(len * 2 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = t[i];
    }
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, crlf, n, &m, &line), 0);
    assert_true(m.waiting == 2.0 && m.running == 4.0 && m.kv_usage == 0.4);
    assert_int_equal(m.num_blocks, 27162);
    free(crlf);
    free(t);
}

static void test_vllm_fallback_and_missing(void **state)
{
    struct sy_engine_metrics m;
    int line;
    /* Old vLLM: gpu_cache_usage_perc, no cache_config_info, no LoRA. */
    const char *old = "vllm:num_requests_waiting{model_name=\"m\"} 5.0\n"
                      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.75\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, old, strlen(old), &m, &line), 0);
    assert_true(m.waiting == 5.0);
    assert_true(m.running == -1);
    assert_true(m.kv_usage == 0.75);
    assert_int_equal(m.block_size, -1);
    assert_int_equal(m.num_blocks, -1);
    assert_int_equal(m.max_lora, -1);
    assert_string_equal(m.running_loras, "");

    /* When both names exist the current one wins, even if smaller. */
    const char *both = "vllm:gpu_cache_usage_perc 0.9\nvllm:kv_cache_usage_perc 0.1\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, both, strlen(both), &m, &line), 0);
    assert_true(m.kv_usage == 0.1);

    /* num_gpu_blocks "None" (before profiling) leaves -1; NaN values are ignored, not summed. */
    const char *none = "vllm:cache_config_info{block_size=\"32\",num_gpu_blocks=\"None\"} 1\n"
                       "vllm:num_requests_running{engine=\"0\"} NaN\n"
                       "vllm:num_requests_running{engine=\"1\"} 2\n"
                       "vllm:num_requests_waiting +Inf\n"
                       "vllm:kv_cache_usage_perc 1.7\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, none, strlen(none), &m, &line), 0);
    assert_int_equal(m.block_size, 32);
    assert_int_equal(m.num_blocks, -1);
    assert_true(m.running == 2.0);
    assert_true(m.waiting == -1);
    assert_true(m.kv_usage == 1.0); /* clamped */

    /* Histogram series of a matching prefix are not the gauge. */
    const char *hist = "vllm:num_requests_waiting_bucket{le=\"1\"} 9\n"
                       "vllm:num_requests_waiting_total 9\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, hist, strlen(hist), &m, &line),
                     SY_ENOTFOUND);
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, "", 0, &m, &line), SY_ENOTFOUND);

    /* LoRA: escaped label values are decoded; equal timestamps keep the first. */
    const char *lora = "vllm:num_requests_running 0\n"
                       "vllm:lora_requests_info{max_lora=\"x\",running_lora_adapters=\"a\\\"b\","
                       "waiting_lora_adapters=\"\"} 10\n"
                       "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"zz\"} 10\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, lora, strlen(lora), &m, &line), 0);
    assert_string_equal(m.running_loras, "a\"b");
    assert_int_equal(m.max_lora, -1);
    assert_true(m.running == 0.0);
}

static void test_sglang(void **state)
{
    const char *t = "# HELP sglang:num_running_reqs The number of running requests.\n"
                    "# TYPE sglang:num_running_reqs gauge\n"
                    "sglang:num_running_reqs{model_name=\"qwen\",tp_rank=\"0\"} 12.0\n"
                    "sglang:num_running_reqs{model_name=\"qwen\",tp_rank=\"1\"} 3.0\n"
                    "# HELP sglang:num_queue_reqs The number of requests in the waiting queue.\n"
                    "# TYPE sglang:num_queue_reqs gauge\n"
                    "sglang:num_queue_reqs{model_name=\"qwen\"} 7.0\n"
                    "# HELP sglang:token_usage The token usage.\n"
                    "# TYPE sglang:token_usage gauge\n"
                    "sglang:token_usage{model_name=\"qwen\",tp_rank=\"0\"} 0.31\n"
                    "sglang:token_usage{model_name=\"qwen\",tp_rank=\"1\"} 0.29\n"
                    "sglang:gen_throughput{model_name=\"qwen\"} 811.2\n"
                    "sglang:cache_config_info{num_pages=\"120000\",page_size=\"1\"} 1.0\n"
                    "vllm:num_requests_waiting 99\n"
                    "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"5\"} 1\n";
    struct sy_engine_metrics m;
    int line;
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_SGLANG, t, strlen(t), &m, &line), 0);
    assert_true(m.waiting == 7.0); /* vLLM's 99 must not count */
    assert_true(m.running == 15.0);
    assert_true(m.kv_usage == 0.31);
    assert_int_equal(m.block_size, 1);
    assert_int_equal(m.num_blocks, 120000);
    assert_int_equal(m.max_lora, -1);
}

static void test_trtllm(void **state)
{
    const char *t =
        "# HELP trtllm_num_requests_waiting Number of waiting requests\n"
        "# TYPE trtllm_num_requests_waiting gauge\n"
        "trtllm_num_requests_waiting{model_name=\"llama\"} 4\n"
        "# TYPE trtllm_num_requests_running gauge\n"
        "trtllm_num_requests_running{model_name=\"llama\"} 9\n"
        "# TYPE trtllm_kv_cache_utilization gauge\n"
        "trtllm_kv_cache_utilization{model_name=\"llama\"} 0.125\n"
        "# TYPE trtllm_kv_cache_tokens_per_block gauge\n"
        "trtllm_kv_cache_tokens_per_block{model_name=\"llama\"} 32\n"
        "# TYPE trtllm_kv_cache_max_blocks gauge\n"
        "trtllm_kv_cache_max_blocks{model_name=\"llama\"} 8192\n"
        "# TYPE trtllm_request_success_total counter\n"
        "trtllm_request_success_total{model_name=\"llama\",finished_reason=\"stop\"} 3\n";
    struct sy_engine_metrics m;
    int line;
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_TRTLLM, t, strlen(t), &m, &line), 0);
    assert_true(m.waiting == 4.0);
    assert_true(m.running == 9.0);
    assert_true(m.kv_usage == 0.125);
    assert_int_equal(m.block_size, 32);
    assert_int_equal(m.num_blocks, 8192);
}

static void test_llamacpp(void **state)
{
    /* Current llama-server (no KV gauge) */
    const char *now = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n"
                      "# TYPE llamacpp:prompt_tokens_total counter\n"
                      "llamacpp:prompt_tokens_total 6886\n"
                      "# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in "
                      "tokens/s.\n"
                      "# TYPE llamacpp:prompt_tokens_seconds gauge\n"
                      "llamacpp:prompt_tokens_seconds 2.37151\n"
                      "# HELP llamacpp:n_decode_total Total number of llama_decode() calls\n"
                      "# TYPE llamacpp:n_decode_total counter\n"
                      "llamacpp:n_decode_total 3471\n"
                      "# HELP llamacpp:requests_processing Number of requests processing.\n"
                      "# TYPE llamacpp:requests_processing gauge\n"
                      "llamacpp:requests_processing 2\n"
                      "# HELP llamacpp:requests_deferred Number of requests deferred.\n"
                      "# TYPE llamacpp:requests_deferred gauge\n"
                      "llamacpp:requests_deferred 5\n";
    struct sy_engine_metrics m;
    int line;
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_LLAMACPP, now, strlen(now), &m, &line), 0);
    assert_true(m.waiting == 5.0);
    assert_true(m.running == 2.0);
    assert_true(m.kv_usage == -1);
    assert_int_equal(m.block_size, -1);
    /* Older llama-server with the KV gauge */
    const char *old = "llamacpp:kv_cache_usage_ratio 0.5\n"
                      "llamacpp:kv_cache_tokens 2048\n"
                      "llamacpp:requests_processing 1\n"
                      "llamacpp:requests_deferred 0\n";
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_LLAMACPP, old, strlen(old), &m, &line), 0);
    assert_true(m.kv_usage == 0.5);
    assert_true(m.waiting == 0.0);
    assert_true(m.running == 1.0);
}

static void test_engine_parse_error(void **state)
{
    const char *t = "vllm:num_requests_waiting 1\nvllm:num_requests_running{x=\"1\" 2\n";
    struct sy_engine_metrics m;
    int line = 0;
    assert_int_equal(sy_engine_metrics_parse(SY_ENGINE_VLLM, t, strlen(t), &m, &line), SY_EPARSE);
    assert_int_equal(line, 2);
    assert_int_equal(sy_engine_metrics_parse((enum sy_engine)42, t, strlen(t), &m, &line),
                     SY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_samples),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_crlf_and_no_final_newline),
        cmocka_unit_test(test_escapes_and_unescape),
        cmocka_unit_test(test_label_lookup),
        cmocka_unit_test(test_eof_and_exemplars),
        cmocka_unit_test(test_negative_timestamp_and_comment),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_many_labels),
        cmocka_unit_test(test_vllm_fixture),
        cmocka_unit_test(test_vllm_fallback_and_missing),
        cmocka_unit_test(test_sglang),
        cmocka_unit_test(test_trtllm),
        cmocka_unit_test(test_llamacpp),
        cmocka_unit_test(test_engine_parse_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
