/* delay_cost_bench.c - CPU cost of latency-scorer's `objective: e2e-plus-delay` per decision
 * (docs/slo-scheduling.md, "A real rule on the delay-caused term: `objective: e2e-plus-delay`").
 *
 * Eight endpoints (four 3x slower than the others) with running counts 0..21, the shared latency
 * model trained on 4,000 synthetic requests over them (TTFT grows with waiting and input length,
 * TPOT with running), then N real sy_sched_pick decisions per config, thread CPU time around each:
 *   headroom         predicted-latency-producer + latency-scorer (most) + max-score-picker
 *   e2e-plus-delay   the same with objective e2e-plus-delay
 * and the raw cost of the predictions the delay objective makes per request: 8 endpoints x 3
 * (the producer's, the scorer's prefill and running + 1 ones), sy_latency_predict alone.
 *
 *   build/delay_cost_bench [N]   (default 20000; `make build/delay_cost_bench`)
 * Not a test: prints numbers, never fails on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/request.h"
#include "bench_pool.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/log.h"
#include "latency/latency.h"
#include "pool/pool.h"
#include "sched/plugins.h"
#include "sched/sched.h"

#define NE 8

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char cfg[] = "plugins:\n- type: predicted-latency-producer\n- type: latency-scorer\n"
                          "  parameters: {headroomSelectionStrategy: most%s}\n"
                          "- type: max-score-picker\n";

static void train(struct sy_latency_model *m)
{
    for (int i = 0; i < 4000; i++) {
        char ep[32];
        snprintf(ep, sizeof ep, "10.0.0.%d:8000", i % NE + 1);
        double speed = i % NE < NE / 2 ? 1.0 : 3.0;
        struct sy_latency_features f = {.waiting = (uint32_t)(i % 5),
                                        .running = (uint32_t)(i % 23),
                                        .input_tokens = 200 + (uint32_t)(i % 13) * 100};
        f.queued = f.waiting > 0;
        f.decode_tokens_inflight = (uint64_t)f.running * 256;
        double ttft =
            speed * (0.05 + 0.1 * f.waiting + f.input_tokens * 1e-5) * (1 + (i % 10) / 50.0);
        double tpot = speed * (0.01 + 0.001 * f.running) * (1 + (i % 10) / 50.0);
        sy_latency_observe(m, ep, &f, ttft, tpot);
    }
    if (sy_latency_retrain(m) != 0) {
        fprintf(stderr, "delay_cost_bench: the model did not train\n");
        exit(1);
    }
}

/* Mean thread CPU ns per sy_sched_pick + sy_sched_done over n decisions with config extra. */
static double per_decision(struct sy_pool *pool, const char *extra, int n)
{
    char y[512], err[256];
    snprintf(y, sizeof y, cfg, extra);
    struct sy_yaml_node *root = sy_yaml_load_string(y, strlen(y), "bench", err, sizeof err);
    struct sy_scheduler *s = root ? sy_sched_new(root, "bench", err, sizeof err) : NULL;
    if (!s) {
        fprintf(stderr, "delay_cost_bench: %s\n", err);
        exit(1);
    }
    sy_yaml_free(root);
    train(sy_sched_latency_model());
    struct sy_request r;
    memset(&r, 0, sizeof r);
    r.kind = SY_API_COMPLETIONS;
    strcpy(r.model, "m");
    r.choices = 1;
    uint64_t total = 0;
    int hist[NE] = {0};
    for (int i = 0; i < n; i++) {
        r.prompt_tokens_est = 200 + (uint32_t)(i % 37) * 100;
        r.max_tokens = 16 + i % 500;
        struct sy_sched_result res;
        memset(&res, 0, sizeof res);
        uint64_t c0 = cpu_ns();
        int rc = sy_sched_pick(s, pool, &r, NULL, 0, &res);
        if (rc == 0) {
            for (int e = 0; e < NE; e++)
                hist[e] += res.ep == pool->eps[e];
            sy_sched_done(s, &res, false);
        }
        total += cpu_ns() - c0;
        if (rc != 0) {
            fprintf(stderr, "delay_cost_bench: pick failed: %d\n", rc);
            exit(1);
        }
    }
    sy_sched_free(s);
    printf("%-16s picks per endpoint (running 0, 3, .., 21; the last four 3x slower):",
           *extra ? extra + 2 : "headroom");
    for (int e = 0; e < NE; e++)
        printf(" %d", hist[e]);
    printf("\n");
    return (double)total / n;
}

int main(int argc, char **argv)
{
    sy_log_set_level(SY_LOG_ERROR);
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n < 1 || n > 10000000) {
        fprintf(stderr, "delay_cost_bench: N must be in [1, 10000000]\n");
        return 2;
    }
    sy_sched_latency_model_setup(NULL, false); /* trained synchronously, no thread */
    struct sy_pool *pool = bench_pool_new(NE);
    for (int e = 0; e < NE; e++) {
        struct sy_endpoint *ep = pool->eps[e];
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.running = 3 * e;
        m.kv_usage = 0.05 * e;
        m.block_size = m.num_blocks = m.max_lora = -1;
        sy_endpoint_set_metrics(ep, &m, 1);
    }
    double head = per_decision(pool, "", n);
    double delay = per_decision(pool, ", objective: e2e-plus-delay", n);
    /* the predictions alone: 3 per endpoint, as the delay objective makes them */
    struct sy_latency_model *m = sy_latency_model_new(NULL);
    train(m);
    struct sy_latency_features f = {.input_tokens = 1000, .running = 9, .kv_util = 0.2};
    double sink = 0, tt, tp;
    uint64_t c0 = cpu_ns();
    for (int i = 0; i < n; i++)
        for (int e = 0; e < NE; e++) {
            char addr[32];
            snprintf(addr, sizeof addr, "10.0.0.%d:8000", e + 1);
            f.input_tokens = 200 + (uint32_t)((i + e) % 37) * 100;
            for (int k = 0; k < 3; k++) {
                f.running = k == 1 ? 0 : 9 + (uint32_t)(k == 2);
                if (sy_latency_predict(m, addr, &f, &tt, &tp) == 0)
                    sink += tt + tp;
            }
        }
    double pred = (double)(cpu_ns() - c0) / n;
    sy_latency_model_free(m);
    printf("decisions: %d, 8 endpoints (thread CPU time, includes snprintf of the addresses in the "
           "raw loop)\n",
           n);
    printf("headroom (producer + latency-scorer most + max-score-picker)  %8.2f us/decision\n",
           head / 1e3);
    printf("e2e-plus-delay (same, objective e2e-plus-delay)               %8.2f us/decision\n",
           delay / 1e3);
    printf("difference (the delay term)                                   %8.2f us/decision\n",
           (delay - head) / 1e3);
    printf("raw sy_latency_predict x 24 (8 endpoints x 3)                 %8.2f us/request "
           "(checksum %.3g)\n",
           pred / 1e3, sink);
    return 0;
}
