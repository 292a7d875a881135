/* Unit tests for src/bench/stats.c and the report outputs (report.c) on hand-computed runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/err.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_percentiles(void **state)
{
    double v[] = {4, 1, 3, 2};
    struct sy_summary s;
    sy_stats_summarize(v, 4, &s);
    assert_int_equal(s.n, 4);
    NEAR(s.mean, 2.5);
    NEAR(s.p50, 2.5); /* rank 1.5 */
    NEAR(s.p90, 3.7); /* rank 2.7: 3 + 0.7 */
    NEAR(s.p99, 3.97);
    NEAR(s.min, 1);
    NEAR(s.max, 4);
    assert_true(v[0] == 1 && v[3] == 4); /* sorted in place */

    double w[10];
    for (int i = 0; i < 10; i++)
        w[i] = (i + 1) / 10.0;
    sy_stats_summarize(w, 10, &s);
    NEAR(s.mean, 0.55);
    NEAR(s.p50, 0.55); /* rank 4.5 */
    NEAR(s.p90, 0.91); /* rank 8.1 */
    NEAR(s.p99, 0.991);
    NEAR(sy_stats_percentile(w, 10, 0), 0.1);
    NEAR(sy_stats_percentile(w, 10, 100), 1.0);
    NEAR(sy_stats_percentile(w, 10, 25), 0.325); /* rank 2.25 */

    double one[] = {5};
    sy_stats_summarize(one, 1, &s);
    NEAR(s.mean, 5);
    NEAR(s.p50, 5);
    NEAR(s.p99, 5);
    sy_stats_summarize(NULL, 0, &s);
    assert_int_equal(s.n, 0);
    NEAR(s.mean, 0);
    NEAR(sy_stats_percentile(NULL, 0, 50), 0);
}

static struct sy_req_rec rec(double start, double end, double ttft, unsigned out, unsigned prompt,
                             unsigned cached, int ep, int err)
{
    struct sy_req_rec r = {.sched_s = start, /* sent on schedule */
                           .start_s = start,
                           .end_s = end,
                           .ttft_s = ttft,
                           .out_tokens = out,
                           .prompt_tokens = prompt,
                           .cached_tokens = cached,
                           .endpoint = ep,
                           .err = err,
                           .usage = true};
    return r;
}

/* Three successes, one 5xx and one connect error on two endpoints; duration 2.5 s. */
static void fill_run(struct sy_bench_run *r)
{
    int a = sy_bench_run_endpoint(r, "10.0.0.1:8000", 13);
    int b = sy_bench_run_endpoint(r, "10.0.0.2:8000xxx", 13); /* only n bytes count */
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(sy_bench_run_endpoint(r, "10.0.0.1:8000", 13), 0);
    struct sy_req_rec q;
    q = rec(0, 1, 0.2, 5, 100, 50, a, -1);
    sy_bench_run_add(r, &q);
    q = rec(0.5, 2.5, 0.5, 11, 200, 100, b, -1);
    sy_bench_run_add(r, &q);
    q = rec(1, 2, 0.1, 1, 100, 0, a, -1);
    sy_bench_run_add(r, &q);
    q = rec(1.5, 1.6, -1, 0, 0, 0, b, SY_BE_HTTP_5XX);
    sy_bench_run_add(r, &q);
    sy_bench_run_error(r, SY_BE_HTTP_5XX, "HTTP 503: busy");
    q = rec(1.7, 1.8, -1, 0, 0, 0, -1, SY_BE_CONNECT);
    sy_bench_run_add(r, &q);
    sy_bench_run_error(r, SY_BE_CONNECT, "connection failed");
    sy_bench_run_error(r, SY_BE_CONNECT, "second message is not kept");
    sy_bench_run_error(r, SY_BE_CONNECT, NULL);
    const double gaps[] = {0.2, 0.2, 0.1, 0.3};
    for (size_t i = 0; i < 4; i++)
        sy_bench_run_add_itl(r, gaps[i]);
    r->duration_s = 2.5;
    r->cache_queries = 1000;
    r->cache_hits = 250;
}

static void test_run_compute(void **state)
{
    struct sy_bench_run r;
    sy_bench_run_init(&r, "rr", "http://x:1");
    fill_run(&r);
    sy_bench_run_compute(&r);
    assert_int_equal(r.completed, 3);
    assert_int_equal(r.total_errors, 4); /* 1 x 5xx + 3 x connect */
    assert_int_equal(r.errors[SY_BE_CONNECT], 3);
    assert_string_equal(r.first_error[SY_BE_CONNECT], "connection failed");
    assert_string_equal(r.first_error[SY_BE_HTTP_5XX], "HTTP 503: busy");
    NEAR(r.ttft.mean, (0.2 + 0.5 + 0.1) / 3);
    NEAR(r.ttft.p50, 0.2);
    NEAR(r.e2e.mean, 4.0 / 3);
    NEAR(r.e2e.max, 2);
    /* TPOT: (1-0.2)/4 = 0.2 and (2-0.5)/10 = 0.15; the 1-token request has none */
    assert_int_equal(r.tpot.n, 2);
    NEAR(r.tpot.mean, 0.175);
    NEAR(r.itl_sum.mean, 0.2);
    NEAR(r.itl_sum.p50, 0.2);
    NEAR(r.itl_sum.min, 0.1);
    NEAR(r.itl_sum.max, 0.3);
    /* summarized from a copy: the gaps stay in arrival order (--json-requests writes them) */
    assert_int_equal(r.nitl, 4);
    NEAR(r.itl[0], 0.2);
    NEAR(r.itl[1], 0.2);
    NEAR(r.itl[2], 0.1);
    NEAR(r.itl[3], 0.3);
    NEAR(r.req_per_s, 3 / 2.5);
    assert_int_equal(r.output_tokens, 17);
    NEAR(r.output_tok_per_s, 17 / 2.5);
    NEAR(r.input_tok_per_s, 400 / 2.5);
    NEAR(r.cached_ratio, 150.0 / 400);
    NEAR(r.cache_hit_rate, 0.25);
    assert_int_equal(sy_bench_run_endpoint_count(&r, 0), 2);
    assert_int_equal(sy_bench_run_endpoint_count(&r, 1), 2);
    assert_int_equal(sy_bench_run_endpoint_count(&r, -1), 1);
    assert_string_equal(sy_bench_err_name(SY_BE_HTTP_429), "http_429");
    assert_string_equal(sy_bench_err_name(SY_BE_COUNT_), "?");
    sy_bench_run_fini(&r);

    /* nothing measured: rates are 0 and unknown ratios stay unknown */
    sy_bench_run_init(&r, "empty", "");
    sy_bench_run_compute(&r);
    assert_int_equal(r.completed, 0);
    NEAR(r.req_per_s, 0);
    assert_true(r.cache_hit_rate < 0 && r.cached_ratio < 0);
    sy_bench_run_fini(&r);
}

/* The run of fill_run measured on the wall clock against a target at time scale 0.25 (a simulated
 * GPU 4x slower than real time): every latency is x 0.25, every rate / 0.25, counts unchanged. */
static void test_time_scale_conversion(void **state)
{
    struct sy_bench_run w, s;
    sy_bench_run_init(&w, "wall", "");
    fill_run(&w);
    sy_bench_run_compute(&w);
    sy_bench_run_init(&s, "sim", "");
    fill_run(&s);
    NEAR(s.time_scale, 1);
    sy_bench_run_to_simulated(&s, 0.25);
    sy_bench_run_compute(&s);
    NEAR(s.time_scale, 0.25);
    NEAR(s.duration_s, 2.5 * 0.25);
    NEAR(s.ttft.mean, 0.25 * (0.2 + 0.5 + 0.1) / 3);
    NEAR(s.ttft.p50, 0.25 * 0.2);
    NEAR(s.ttft.p90, 0.25 * w.ttft.p90);
    NEAR(s.ttft.p99, 0.25 * w.ttft.p99);
    NEAR(s.itl_sum.mean, 0.25 * 0.2);
    NEAR(s.itl_sum.max, 0.25 * 0.3);
    NEAR(s.tpot.mean, 0.25 * 0.175);
    NEAR(s.e2e.mean, 0.25 * 4.0 / 3);
    NEAR(s.e2e.p90, 0.25 * w.e2e.p90);
    NEAR(s.req_per_s, 3 / 2.5 / 0.25);
    NEAR(s.output_tok_per_s, 17 / 2.5 / 0.25);
    NEAR(s.input_tok_per_s, 400 / 2.5 / 0.25);
    NEAR(s.recs[1].start_s, 0.5 * 0.25); /* the records the charts read are converted too */
    NEAR(s.recs[1].end_s, 2.5 * 0.25);
    NEAR(s.recs[3].ttft_s, -1); /* "no token" stays unknown */
    assert_int_equal(s.completed, w.completed);
    assert_int_equal(s.output_tokens, w.output_tokens);
    NEAR(s.cached_ratio, w.cached_ratio);
    NEAR(s.cache_hit_rate, w.cache_hit_rate);
    /* x = 1 (and nonsense) change nothing; a faster-than-real target (x = 20) multiplies */
    sy_bench_run_to_simulated(&w, 1);
    sy_bench_run_to_simulated(&w, 0);
    sy_bench_run_to_simulated(&w, -2);
    sy_bench_run_compute(&w);
    NEAR(w.time_scale, 1);
    NEAR(w.ttft.mean, 0.8 / 3);
    sy_bench_run_to_simulated(&w, 20);
    sy_bench_run_compute(&w);
    NEAR(w.ttft.mean, 20 * 0.8 / 3);
    NEAR(w.req_per_s, 3 / 2.5 / 20);
    /* schedules go the other way: 10 simulated seconds at x = 0.25 take 40 wall seconds */
    NEAR(sy_bench_wall_s(10, 0.25), 40);
    NEAR(sy_bench_wall_s(10, 20), 0.5);
    NEAR(sy_bench_wall_s(10, 0), 10);
    sy_bench_run_fini(&w);
    sy_bench_run_fini(&s);
}

/* Per-stage results: requests grouped by the stage they were scheduled in. */
/* The table sy_bench_print_table prints for runs (caller frees). */
static char *table_text(struct sy_bench_run **runs, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sy_bench_print_table(f, runs, n);
    fclose(f);
    return text;
}

static void test_stages(void **state)
{
    struct sy_bench_run r;
    sy_bench_run_init(&r, "s", "");
    r.nstages = 3;
    r.stages[0] = (struct sy_stage){.rate = 2, .duration_s = 1};
    r.stages[1] = (struct sy_stage){.rate = 4, .duration_s = 1};
    r.stages[2] = (struct sy_stage){.rate = 8, .duration_s = 1};
    struct sy_req_rec q;
    /* stage 0: two successes (5 and 3 events: 4 + 2 gaps summing 0.8 + 0.2) */
    q = rec(0.1, 1.1, 0.2, 5, 10, 0, -1, -1);
    q.events = 5, q.itl_sum_s = 0.8, q.stage = 0;
    q.itl_first = r.nitl, q.itl_n = 4; /* its gaps, contiguous in r.itl as the runner adds them */
    sy_bench_run_add_itl(&r, 0.1);
    sy_bench_run_add_itl(&r, 0.2);
    sy_bench_run_add_itl(&r, 0.2);
    sy_bench_run_add_itl(&r, 0.3);
    sy_bench_run_add(&r, &q);
    q = rec(0.6, 2.1, 0.4, 3, 10, 0, -1, -1);
    q.events = 3, q.itl_sum_s = 0.2, q.stage = 0;
    q.itl_first = r.nitl, q.itl_n = 2;
    sy_bench_run_add_itl(&r, 0.05);
    sy_bench_run_add_itl(&r, 0.15);
    sy_bench_run_add(&r, &q);
    /* stage 1: one success finishing after its stage, one error */
    q = rec(1.5, 3.5, 1.0, 2, 10, 0, -1, -1);
    q.events = 2, q.itl_sum_s = 0.5, q.stage = 1;
    sy_bench_run_add(&r, &q);
    q = rec(1.7, 1.8, -1, 0, 0, 0, -1, SY_BE_HTTP_5XX);
    q.stage = 1;
    sy_bench_run_add(&r, &q);
    r.duration_s = 3.4;
    sy_bench_run_to_simulated(&r, 2); /* per-stage numbers follow the conversion too */
    sy_bench_run_compute(&r);
    const struct sy_stage_sum *g = &r.stage_sum[0];
    assert_int_equal(g->requests, 2);
    assert_int_equal(g->completed, 2);
    NEAR(g->ttft.mean, 2 * 0.3);
    NEAR(g->e2e.mean, 2 * (1.0 + 1.5) / 2);
    NEAR(g->itl_mean_s, 2 * 1.0 / 6);
    NEAR(g->span_s, 2 * 2.0);
    NEAR(g->req_per_s, 2 / 4.0);
    NEAR(g->output_tok_per_s, 8 / 4.0);
    /* the stage's own gaps (6 of them, x2 by the conversion), not the run's sorted array */
    assert_int_equal(g->itl.n, 6);
    NEAR(g->itl.min, 2 * 0.05);
    NEAR(g->itl.max, 2 * 0.3);
    /* NTPOT: e2e / output tokens per request: 2 x 1.0 / 5 and 2 x 1.5 / 3 */
    assert_int_equal(g->ntpot.n, 2);
    NEAR(g->ntpot.min, 2 * 1.0 / 5);
    NEAR(g->ntpot.max, 2 * 1.5 / 3);
    /* TPOT: (e2e - ttft) / (output tokens - 1): 2 x 0.8 / 4 and 2 x 1.1 / 2 */
    assert_int_equal(g->tpot.n, 2);
    NEAR(g->tpot.min, 2 * 0.8 / 4);
    NEAR(g->tpot.max, 2 * 1.1 / 2);
    g = &r.stage_sum[1];
    assert_int_equal(g->requests, 2);
    assert_int_equal(g->completed, 1);
    assert_int_equal(g->errors, 1);
    NEAR(g->ttft.mean, 2.0);
    NEAR(g->itl_mean_s, 1.0);
    NEAR(g->span_s, 4.0);
    g = &r.stage_sum[2]; /* nothing scheduled: zeros, no ITL */
    assert_int_equal(g->requests, 0);
    assert_true(isnan(g->itl_mean_s));
    assert_int_equal(g->itl.n, 0);
    NEAR(g->req_per_s, 0);

    struct sy_bench_run *runs[] = {&r};
    char *text = table_text(runs, 1);
    assert_non_null(strstr(text, "per stage"));
    assert_non_null(strstr(text, "4/s x 1s"));
    assert_non_null(strstr(text, "0.600")); /* stage 0 TTFT mean */
    free(text);
    struct sy_buf h;
    sy_buf_init(&h);
    sy_bench_render_html(&h, NULL, runs, 1);
    assert_non_null(strstr(h.data, "<h2>Per stage</h2>"));
    assert_null(strstr(h.data, "nan"));
    sy_buf_fini(&h);
    sy_bench_run_fini(&r);
}

/* Schedule delay (--max-concurrency): send - scheduled time per request, failed ones included,
 * closed-loop records (no schedule) left out; per stage; scaled by the time scale; reported. */
static void test_schedule_delay(void **state)
{
    (void)state;
    struct sy_bench_run r;
    sy_bench_run_init(&r, "capped", "");
    r.max_concurrency = 2;
    r.nstages = 2;
    r.stages[0] = (struct sy_stage){.rate = 4, .duration_s = 1};
    r.stages[1] = (struct sy_stage){.rate = 8, .duration_s = 1};
    struct sy_req_rec q;
    /* stage 0: sent on time, and one that waited 0.5 s for a slot */
    q = rec(0.25, 1.0, 0.1, 4, 10, 0, -1, -1);
    q.stage = 0;
    sy_bench_run_add(&r, &q);
    q = rec(1.0, 2.0, 0.2, 4, 10, 0, -1, -1);
    q.sched_s = 0.5, q.stage = 0;
    sy_bench_run_add(&r, &q);
    /* stage 1: waited 1.5 s and failed (still a delay), waited 1.0 s */
    q = rec(2.6, 2.7, -1, 0, 0, 0, -1, SY_BE_HTTP_5XX);
    q.sched_s = 1.1, q.stage = 1;
    sy_bench_run_add(&r, &q);
    q = rec(2.25, 3.0, 0.3, 4, 10, 0, -1, -1);
    q.sched_s = 1.25, q.stage = 1;
    sy_bench_run_add(&r, &q);
    /* a record without a schedule (closed loop) is not a delay */
    q = rec(0.1, 0.2, 0.05, 1, 10, 0, -1, -1);
    q.sched_s = -1, q.stage = -1;
    sy_bench_run_add(&r, &q);
    r.duration_s = 3.0;
    sy_bench_run_to_simulated(&r, 2);
    sy_bench_run_compute(&r);
    assert_int_equal(r.sched_delay.n, 4);
    NEAR(r.sched_delay.min, 0);
    NEAR(r.sched_delay.max, 2 * 1.5);
    NEAR(r.sched_delay.p50, 2 * 0.75); /* 0, 0.5, 1.0, 1.5: rank 1.5 */
    NEAR(r.sched_delay.mean, 2 * 0.75);
    /* latencies stay measured from the send: E2E of the delayed request is 1.0 s, not 1.5 s */
    NEAR(r.e2e.max, 2 * 1.0);
    assert_int_equal(r.stage_sum[0].sched_delay.n, 2);
    NEAR(r.stage_sum[0].sched_delay.max, 2 * 0.5);
    assert_int_equal(r.stage_sum[1].sched_delay.n, 2);
    NEAR(r.stage_sum[1].sched_delay.min, 2 * 1.0);
    NEAR(r.stage_sum[1].sched_delay.p90, 2 * 1.45); /* 1.0, 1.5: rank 0.9 */

    struct sy_bench_run *runs[] = {&r};
    char *text = table_text(runs, 1);
    assert_non_null(strstr(text, "in-flight cap"));
    assert_non_null(strstr(text, "sched. delay max (s)"));
    assert_non_null(strstr(text, "3.000")); /* the max, simulated */
    assert_non_null(strstr(text, "delay(s)"));
    assert_non_null(strstr(text, "2.900")); /* stage 1's p90 */
    free(text);

    char path[] = "/tmp/sy_test_delay_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    struct sy_bench_meta m = {.title = "t", .workload = "w", .load = "l"};
    assert_int_equal(sy_bench_write_json(path, &m, runs, 1, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    cJSON *root = cJSON_Parse(buf);
    assert_non_null(root);
    cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "runs"), 0);
    assert_int_equal(cJSON_GetObjectItem(run, "max_concurrency")->valuedouble, 2);
    assert_int_equal(cJSON_GetObjectItem(run, "unsent")->valuedouble, 0);
    NEAR(cJSON_GetObjectItem(run, "schedule_delay_max_s")->valuedouble, 3.0);
    NEAR(cJSON_GetObjectItem(run, "schedule_delay_p50_s")->valuedouble, 1.5);
    cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(run, "stages"), 1);
    NEAR(cJSON_GetObjectItem(st, "schedule_delay_p90_s")->valuedouble, 2.9);
    cJSON_Delete(root);
    sy_bench_run_fini(&r);

    /* no cap and a closed loop: the cap is null, no delay is reported */
    sy_bench_run_init(&r, "closed", "");
    q = rec(0.1, 0.2, 0.05, 1, 10, 0, -1, -1);
    q.sched_s = -1;
    sy_bench_run_add(&r, &q);
    r.duration_s = 0.2;
    sy_bench_run_compute(&r);
    assert_int_equal(r.sched_delay.n, 0);
    struct sy_bench_run *runs2[] = {&r};
    char *text2 = table_text(runs2, 1);
    /* unknown, not 0: the row is "-" (label in 22 columns, then 2 + 12) */
    assert_non_null(strstr(text2, "sched. delay p50 (s)               -\n"));
    free(text2);
    sy_bench_run_fini(&r);
}

/* Goodput (DistServe): requests whose TTFT and own ITL p99 are within the SLO, per second; the
 * SLO is in simulated time, so the per-request ITL p99 is converted with the rest. */
static void test_goodput(void **state)
{
    struct sy_bench_run r;
    sy_bench_run_init(&r, "g", "");
    /* ttft, itl p99: ok / TTFT too high / ITL too high / failed / no token / both fine */
    const double rec[][2] = {{0.5, 0.02}, {3.0, 0.02}, {0.5, 0.3},
                             {0.1, 0.01}, {-1, 0},     {1.9, 0.09}};
    for (size_t i = 0; i < 6; i++) {
        struct sy_req_rec q = {.start_s = (double)i,
                               .end_s = (double)i + 2,
                               .ttft_s = rec[i][0],
                               .itl_p99_s = rec[i][1],
                               .out_tokens = 8,
                               .endpoint = -1,
                               .err = i == 3 ? SY_BE_HTTP_5XX : -1};
        sy_bench_run_add(&r, &q);
    }
    r.duration_s = 8;
    sy_bench_run_compute(&r);
    assert_true(isnan(r.goodput_per_s)); /* no SLO: unknown, not 0 */
    r.slo_ttft_s = 2;
    r.slo_itl_p99_s = 0.1;
    sy_bench_run_compute(&r);
    assert_int_equal(r.good, 2);
    NEAR(r.goodput_per_s, 2.0 / 8);
    r.slo_itl_p99_s = 0; /* TTFT bound only */
    sy_bench_run_compute(&r);
    assert_int_equal(r.good, 3);
    /* measured at time scale 0.5 (wall x 0.5): the third request's ITL p99 becomes 0.15 */
    r.slo_ttft_s = 0;
    r.slo_itl_p99_s = 0.2;
    sy_bench_run_compute(&r);
    assert_int_equal(r.good, 3); /* 0.3 is over */
    sy_bench_run_to_simulated(&r, 0.5);
    sy_bench_run_compute(&r);
    assert_int_equal(r.good, 4);
    NEAR(r.goodput_per_s, 4 / 4.0);
    sy_bench_run_fini(&r);
}

static void test_endpoint_table_full(void **state)
{
    struct sy_bench_run r;
    sy_bench_run_init(&r, "x", "y");
    char name[32];
    for (int i = 0; i < SY_BENCH_MAX_ENDPOINTS; i++) {
        int n = snprintf(name, sizeof name, "h%d:1", i);
        assert_int_equal(sy_bench_run_endpoint(&r, name, (size_t)n), i);
    }
    assert_int_equal(sy_bench_run_endpoint(&r, "new:1", 5), -1);
    assert_int_equal(sy_bench_run_endpoint(&r, "h7:1", 4), 7);
    sy_bench_run_fini(&r);
}

static void test_prom_sum(void **state)
{
    const char *t = "# HELP vllm:prefix_cache_hits_total hits\n"
                    "# TYPE vllm:prefix_cache_hits_total counter\n"
                    "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"a}b\"} 120\n"
                    "vllm:prefix_cache_hits_total{engine=\"1\"} 30.5 1700000000\n"
                    "vllm:prefix_cache_hits_total_created{engine=\"0\"} 999\n"
                    "vllm:prefix_cache_hits_totalx 5\n"
                    "vllm:prefix_cache_hits_total{engine=\"2\"} notanumber\n"
                    "vllm:prefix_cache_hits_total{engine=\"3\" 7\n"
                    "vllm:prefix_cache_queries_total 1000\r\n";
    double v = -1;
    assert_true(sy_bench_prom_sum(t, strlen(t), "vllm:prefix_cache_hits_total", &v));
    NEAR(v, 150.5);
    assert_true(sy_bench_prom_sum(t, strlen(t), "vllm:prefix_cache_queries_total", &v));
    NEAR(v, 1000);
    v = -1;
    assert_false(sy_bench_prom_sum(t, strlen(t), "vllm:num_requests_running", &v));
    NEAR(v, -1);
    assert_false(sy_bench_prom_sum("", 0, "x", &v));
}

static void two_runs(struct sy_bench_run *a, struct sy_bench_run *b)
{
    sy_bench_run_init(a, "round-robin", "http://127.0.0.1:1");
    fill_run(a);
    sy_bench_run_compute(a);
    sy_bench_run_init(b, "<script>x</script>", "http://127.0.0.1:2");
    struct sy_req_rec q = rec(0, 0.5, 0.2, 4, 10, 5, sy_bench_run_endpoint(b, "e&1", 3), -1);
    sy_bench_run_add(b, &q);
    b->duration_s = 0.5;
    sy_bench_run_compute(b);
}

static void test_table(void **state)
{
    struct sy_bench_run a, b;
    two_runs(&a, &b);
    struct sy_bench_run *runs[] = {&a, &b};
    char *text = table_text(runs, 2);
    /* TTFT mean 0.267 vs 0.200 -> ratio 0.2/0.2667 = 0.75x; req/s 1.20 vs 2.00 -> 1.67x */
    assert_non_null(strstr(text, "TTFT mean (s)"));
    assert_non_null(strstr(text, "0.267"));
    assert_non_null(strstr(text, "0.75x"));
    assert_non_null(strstr(text, "1.67x"));
    assert_non_null(strstr(text, "25.0%"));               /* hit rate of a */
    assert_non_null(strstr(text, "10.0.0.1:8000 40.0%")); /* 2 of 5 requests */
    assert_non_null(strstr(text, "errors connect: 3 (first: connection failed)"));
    free(text);
    sy_bench_run_fini(&a);
    sy_bench_run_fini(&b);
}

static void test_json(void **state)
{
    struct sy_bench_run a, b;
    two_runs(&a, &b);
    struct sy_bench_run *runs[] = {&a, &b};
    char path[] = "/tmp/sy-bench-json-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sy_bench_meta m = {.title = "t", .workload = "w", .load = "l"};
    char err[256];
    assert_int_equal(sy_bench_write_json(path, &m, runs, 2, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    cJSON *rs = cJSON_GetObjectItem(j, "runs");
    assert_int_equal(cJSON_GetArraySize(rs), 2);
    cJSON *r0 = cJSON_GetArrayItem(rs, 0);
    assert_string_equal(cJSON_GetObjectItem(r0, "name")->valuestring, "round-robin");
    assert_string_equal(cJSON_GetObjectItem(r0, "target")->valuestring, "http://127.0.0.1:1");
    NEAR(cJSON_GetObjectItem(r0, "ttft_mean_s")->valuedouble, 0.8 / 3);
    NEAR(cJSON_GetObjectItem(r0, "ttft_p90_s")->valuedouble, 0.44); /* rank 1.8 of .1 .2 .5 */
    NEAR(cJSON_GetObjectItem(r0, "itl_mean_s")->valuedouble, 0.2);
    NEAR(cJSON_GetObjectItem(r0, "e2e_mean_s")->valuedouble, 4.0 / 3);
    NEAR(cJSON_GetObjectItem(r0, "req_per_s")->valuedouble, 1.2);
    NEAR(cJSON_GetObjectItem(r0, "output_tok_per_s")->valuedouble, 6.8);
    NEAR(cJSON_GetObjectItem(r0, "errors")->valuedouble, 4);
    NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(r0, "errors_by_kind"), "http_5xx")->valuedouble,
         1);
    NEAR(cJSON_GetObjectItem(r0, "prefix_cache_hit_rate")->valuedouble, 0.25);
    cJSON *eps = cJSON_GetObjectItem(r0, "endpoints");
    assert_int_equal(cJSON_GetArraySize(eps), 2);
    cJSON *e0 = cJSON_GetArrayItem(eps, 0);
    assert_string_equal(cJSON_GetObjectItem(e0, "endpoint")->valuestring, "10.0.0.1:8000");
    NEAR(cJSON_GetObjectItem(e0, "share")->valuedouble, 0.4);
    NEAR(cJSON_GetObjectItem(r0, "requests_without_endpoint")->valuedouble, 1);
    cJSON *r1 = cJSON_GetArrayItem(rs, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r1, "prefix_cache_hit_rate"))); /* unknown */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r1, "itl_mean_s"))); /* no sample: not 0 */
    NEAR(cJSON_GetObjectItem(r1, "tpot_mean_s")->valuedouble, 0.1);   /* (0.5-0.2)/3 */
    assert_string_equal(cJSON_GetObjectItem(r1, "name")->valuestring, "<script>x</script>");
    cJSON_Delete(j);
    /* an unwritable path is an error with a message, not a crash */
    assert_int_equal(sy_bench_write_json("/nonexistent-dir/x.json", &m, runs, 2, err, sizeof err),
                     SY_EIO);
    assert_non_null(strstr(err, "/nonexistent-dir/x.json"));
    sy_bench_run_fini(&a);
    sy_bench_run_fini(&b);
}

static void test_html(void **state)
{
    struct sy_bench_run a, b;
    two_runs(&a, &b);
    struct sy_bench_run *runs[] = {&a, &b};
    struct sy_buf h;
    sy_buf_init(&h);
    struct sy_bench_meta m = {.title = "demo <1>", .workload = "w&w", .load = "l"};
    sy_bench_render_html(&h, &m, runs, 2);
    assert_non_null(strstr(h.data, "<!DOCTYPE html>"));
    assert_non_null(strstr(h.data, "demo &lt;1&gt;"));
    assert_non_null(strstr(h.data, "w&amp;w"));
    assert_non_null(strstr(h.data, "&lt;script&gt;x&lt;/script&gt;"));
    assert_null(strstr(h.data, "<script")); /* no script at all, escaped names */
    assert_non_null(strstr(h.data, "e&amp;1"));
    /* charts: TTFT bars, req/s, tok/s, 2 CDFs, 1 load chart per run = 7 SVGs */
    size_t svgs = 0;
    for (const char *p = h.data; (p = strstr(p, "<svg")) != NULL; p++)
        svgs++;
    assert_int_equal(svgs, 7);
    assert_non_null(strstr(h.data, "requests in flight per endpoint"));
    assert_null(strstr(h.data, "src=\"http")); /* self-contained */
    assert_null(strstr(h.data, "nan"));
    sy_buf_fini(&h);
    sy_bench_run_fini(&a);
    sy_bench_run_fini(&b);
}

/* Outputs of time-scaled runs say their units are simulated; wall-clock runs say nothing. */
static void test_scaled_outputs(void **state)
{
    struct sy_bench_run a, b;
    two_runs(&a, &b);
    struct sy_bench_run *runs[] = {&a, &b};
    char *text = table_text(runs, 2);
    assert_null(strstr(text, "simulated"));
    free(text);
    sy_bench_run_fini(&a);
    sy_bench_run_fini(&b);

    sy_bench_run_init(&a, "rr", "http://127.0.0.1:1");
    fill_run(&a);
    sy_bench_run_to_simulated(&a, 0.5);
    sy_bench_run_compute(&a);
    runs[0] = &a;
    text = table_text(runs, 1);
    assert_non_null(strstr(text, "simulated seconds"));
    assert_non_null(strstr(text, "time scale 0.5"));
    assert_non_null(strstr(text, "0.133")); /* TTFT mean 0.8/3 x 0.5 */
    free(text);

    struct sy_bench_meta m = {.title = "t", .workload = "w", .load = "l", .time_scale = 0.5};
    struct sy_buf h;
    sy_buf_init(&h);
    sy_bench_render_html(&h, &m, runs, 1);
    assert_non_null(strstr(h.data, "Time: times and rates in simulated seconds"));
    sy_buf_fini(&h);

    char path[] = "/tmp/sy-bench-json-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    assert_int_equal(sy_bench_write_json(path, &m, runs, 1, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "meta"), "time_scale")->valuedouble, 0.5);
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
    NEAR(cJSON_GetObjectItem(r0, "time_scale")->valuedouble, 0.5);
    NEAR(cJSON_GetObjectItem(r0, "ttft_mean_s")->valuedouble, 0.4 / 3);
    NEAR(cJSON_GetObjectItem(r0, "req_per_s")->valuedouble, 2.4);
    NEAR(cJSON_GetObjectItem(r0, "duration_s")->valuedouble, 1.25);
    cJSON_Delete(j);
    sy_bench_run_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_run_compute),
        cmocka_unit_test(test_time_scale_conversion),
        cmocka_unit_test(test_scaled_outputs),
        cmocka_unit_test(test_stages),
        cmocka_unit_test(test_schedule_delay),
        cmocka_unit_test(test_goodput),
        cmocka_unit_test(test_endpoint_table_full),
        cmocka_unit_test(test_prom_sum),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
