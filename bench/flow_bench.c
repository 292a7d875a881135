/* flow_bench.c - the cost of flow control per request: admission (enqueue) and dispatch with
 * 10,000 requests already queued, side by side with the controller's pass-through path (gate
 * off), in one run. Not a test: prints microseconds and ratios.
 *
 * Setup: 8 ready endpoints, concurrency-detector (maxConcurrency 4: 32 in flight), 100 flows
 * in 3 bands, round-robin fairness. The queue is filled to DEPTH; then each step finishes one
 * in-flight request (release -> dispatch cycle -> the next item is posted), delivers it
 * (port_run) and admits a new request, so the depth stays at DEPTH. Timed per step: admit alone
 * and release+deliver (the dispatch), with clock_gettime around each call.
 *
 *   bash bench/flow_bench.sh [STEPS]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_pool.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/log.h"
#include "flow/flow.h"
#include "pool/pool.h"

#define DEPTH  10000 /* requests queued */
#define NFLOWS 100   /* fairness ids */

struct req {
    struct sy_flow_item it;
    int id;
};

static struct req *reqs;
static size_t nreqs;
static int *active; /* ids dispatched, FIFO of in-flight requests */
static size_t a_head, a_tail, a_cap;

static void on_verdict(void *ud, enum sy_flow_verdict v)
{
    struct req *r = ud;
    if (v == SY_FLOW_DISPATCH)
        active[a_tail++ % a_cap] = r->id;
}

static void notify(void *ud)
{
    (void)ud;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct sy_pool *mkpool(size_t n)
{
    struct sy_pool *p = bench_pool_new(n);
    for (size_t i = 0; i < n; i++) {
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.block_size = m.num_blocks = m.max_lora = -1;
        sy_endpoint_set_metrics(p->eps[i], &m, 1);
    }
    return p;
}

static struct sy_flow_config *config(bool gate)
{
    static const char epp_on[] =
        "featureGates: [flowControl]\n"
        "plugins:\n- type: concurrency-detector\n  name: cd\n"
        "  parameters: {maxConcurrency: 4}\n"
        "- type: round-robin-fairness-policy\n  name: rr\n"
        "flowControl:\n  maxRequests: 100k\n"
        "  defaultPriorityBand: {maxRequests: 100k, fairnessPolicyRef: rr}\n"
        "  defaultNegativePriorityBand: {maxRequests: 100k}\n"
        "  saturationDetector: {pluginRef: cd}\n";
    static const char epp_off[] = "plugins:\n- type: queue-scorer\n";
    static const char obj[] = "inferenceObjectives:\n- {name: hi, priority: 10}\n"
                              "- {name: lo, priority: -1}\n";
    char err[256];
    const char *e = gate ? epp_on : epp_off;
    struct sy_yaml_node *en = sy_yaml_load_string(e, strlen(e), "epp", err, sizeof err);
    struct sy_yaml_node *on = sy_yaml_load_string(obj, sizeof obj - 1, "gw", err, sizeof err);
    struct sy_flow_config *c = sy_flow_config_new(sy_yaml_get(on, "inferenceObjectives"), "gw", en,
                                                  "epp", err, sizeof err);
    if (!c) {
        fprintf(stderr, "flow_bench: %s\n", err);
        exit(1);
    }
    sy_yaml_free(en);
    sy_yaml_free(on);
    return c;
}

static void admit(struct sy_flow *f, struct sy_flow_port *port, struct req *r, int id)
{
    static const char *const objs[3] = {"hi", "", "lo"};
    char fid[16];
    snprintf(fid, sizeof fid, "tenant-%d", id % NFLOWS);
    struct sy_str names[2] = {sy_str_c("x-llm-d-inference-objective"),
                              sy_str_c("x-llm-d-inference-fairness-id")};
    struct sy_str values[2] = {sy_str_c(objs[id % 3]), sy_str_c(fid)};
    memset(r, 0, sizeof *r);
    r->id = id;
    sy_flow_classify(f, &r->it, names, values, 2);
    r->it.bytes = 4096;
    r->it.tokens = 1024;
    r->it.port = port;
    r->it.cb = on_verdict;
    r->it.ud = r;
    if (sy_flow_admit(f, &r->it) == SY_FLOW_DISPATCH)
        active[a_tail++ % a_cap] = id;
}

static double sweep_us; /* one TTL sweep over DEPTH queued requests (gate on) */

static void run(bool gate, size_t steps, double *admit_p50, double *admit_p99, double *disp_p50,
                double *disp_p99)
{
    struct sy_pool *pool = mkpool(8);
    struct sy_flow *f = sy_flow_new(NULL);
    sy_flow_configure(f, config(gate), pool);
    struct sy_flow_port *port = sy_flow_port_new(f, notify, NULL);
    nreqs = DEPTH + 64 + steps;
    reqs = sy_xcalloc(nreqs, sizeof *reqs);
    a_cap = nreqs;
    active = sy_xcalloc(a_cap, sizeof *active);
    a_head = a_tail = 0;
    size_t next = 0;
    size_t fill = gate ? DEPTH + 32 : 32; /* 32 in flight + DEPTH queued */
    for (; next < fill; next++)
        admit(f, port, &reqs[next], (int)next);
    uint64_t *ta = sy_xcalloc(steps, sizeof *ta), *td = sy_xcalloc(steps, sizeof *td);
    for (size_t s = 0; s < steps; s++) {
        int done = active[a_head++ % a_cap];
        uint64_t t0 = now_ns();
        sy_flow_release(f, &reqs[done].it); /* one finishes: the cycle dispatches the next */
        sy_flow_port_run(port);
        uint64_t t1 = now_ns();
        admit(f, port, &reqs[next], (int)next);
        uint64_t t2 = now_ns();
        next++;
        td[s] = t1 - t0;
        ta[s] = t2 - t1;
    }
    struct sy_flow_stats st;
    sy_flow_stats(f, &st);
    if (gate && st.queued != DEPTH)
        fprintf(stderr, "flow_bench: depth drifted to %llu\n", (unsigned long long)st.queued);
    if (gate) { /* the periodic TTL sweep walks every queued request (every 20ms at most) */
        uint64_t best = UINT64_MAX;
        for (int i = 0; i < 10; i++) {
            struct timespec nap = {0, 25000000L};
            nanosleep(&nap, NULL);
            uint64_t t0 = now_ns();
            sy_flow_tick(f);
            uint64_t d = now_ns() - t0;
            best = d < best ? d : best;
        }
        sweep_us = (double)best / 1e3;
    }
    qsort(ta, steps, sizeof *ta, cmp_u64);
    qsort(td, steps, sizeof *td, cmp_u64);
    *admit_p50 = (double)ta[steps / 2] / 1e3;
    *admit_p99 = (double)ta[steps * 99 / 100] / 1e3;
    *disp_p50 = (double)td[steps / 2] / 1e3;
    *disp_p99 = (double)td[steps * 99 / 100] / 1e3;
    for (size_t i = 0; i < next; i++)
        sy_flow_release(f, &reqs[i].it);
    sy_flow_port_free(port);
    sy_flow_free(f);
    sy_pool_unref(pool);
    free(reqs);
    free(active);
    free(ta);
    free(td);
}

int main(int argc, char **argv)
{
    size_t steps = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 20000;
    if (steps < 100)
        steps = 100;
    sy_log_set_level(SY_LOG_ERROR);
    double a50, a99, d50, d99, b50, b99, e50, e99;
    run(false, steps, &b50, &b99, &e50, &e99);
    run(true, steps, &a50, &a99, &d50, &d99);
    printf("flow control overhead per request (%zu steps, 8 endpoints, %d flows in 3 bands)\n",
           steps, NFLOWS);
    printf("%-34s %10s %10s\n", "", "p50 us", "p99 us");
    printf("%-34s %10.2f %10.2f\n", "gate off: admit (pass-through)", b50, b99);
    printf("%-34s %10.2f %10.2f\n", "gate off: release", e50, e99);
    printf("%-34s %10.2f %10.2f\n", "gate on, 10k queued: admit", a50, a99);
    printf("%-34s %10.2f %10.2f\n", "gate on, 10k queued: release+dispatch", d50, d99);
    printf("total per request at 10k queued: %.2f us p50 (%.1fx the pass-through)\n", a50 + d50,
           (a50 + d50) / (b50 + e50));
    printf("TTL sweep over 10k queued (at most every 20ms): %.0f us\n", sweep_us);
    return 0;
}
