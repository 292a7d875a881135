/* sched_bench.c - scheduler decision time: p50/p99 of sy_sched_pick for 8, 64 and 256 endpoints
 * and 1k-, 32k- and 128k-token prompts, llm-d's default config (queue 2, KV 2, prefix 3,
 * max-score) side by side with the round-robin baseline, in one run.
 *
 * Workload: 16 shared prefixes (a system prompt of 3/4 of the prompt) with a distinct tail per
 * request, like the shared-prefix benchmark; endpoints carry random queue/KV metrics. Each decision
 * is timed alone (clock_gettime around sy_sched_pick); sy_sched_done and in-flight accounting run
 * untimed, as the gateway would after the response. Prompt text is 4 characters per token.
 *
 *   bash bench/sched_bench.sh            (ITERS=N overrides the decisions per cell)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/request.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/log.h"
#include "pool/pool.h"
#include "sched/sched.h"

#define NPREFIX 16 /* distinct shared prefixes */

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct sy_pool *make_pool(size_t n)
{
    struct sy_pool *p = SY_NEW(struct sy_pool);
    atomic_init(&p->refs, 1);
    p->eps = sy_xcalloc(n, sizeof *p->eps);
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        struct sy_endpoint *e = SY_NEW(struct sy_endpoint);
        atomic_init(&e->refs, 1);
        char addr[64];
        snprintf(addr, sizeof addr, "10.0.%zu.%zu:8000", i / 250, i % 250 + 1);
        e->address = sy_xstrdup(addr);
        pthread_mutex_init(&e->mu, NULL);
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.waiting = (double)(next_rand() % 8);
        m.running = (double)(next_rand() % 32);
        m.kv_usage = (double)(next_rand() % 1000) / 1000.0;
        m.block_size = -1;
        m.num_blocks = -1;
        m.max_lora = -1;
        sy_endpoint_set_metrics(e, &m, 1);
        p->eps[i] = e;
    }
    return p;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs iters decisions; writes wall-clock p50/p99 and thread-CPU-time p99 in microseconds. */
static void run(struct sy_scheduler *s, struct sy_pool *pool, char *text, size_t chars, int iters,
                double *p50, double *p99, double *cpu99)
{
    uint64_t *t = sy_xmalloc((size_t)iters * sizeof *t);
    uint64_t *tc = sy_xmalloc((size_t)iters * sizeof *tc);
    size_t shared = chars / 4 * 3;
    for (int i = 0; i < iters; i++) {
        /* prefix id in the first bytes, a distinct tail per request */
        int pid = (int)(next_rand() % NPREFIX);
        memset(text, 'a' + pid, 16);
        snprintf(text + shared, 24, "%016llx", (unsigned long long)next_rand());
        text[shared + 16] = 'x';
        struct sy_request r;
        memset(&r, 0, sizeof r);
        r.kind = SY_API_COMPLETIONS;
        strcpy(r.model, "bench-model");
        r.max_tokens = 128;
        r.body = text;
        r.body_len = chars;
        r.prompt.p = text;
        r.prompt.len = chars;
        r.prompt_tokens_est = (uint32_t)(chars / 4);
        struct sy_sched_result res;
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        int rc = sy_sched_pick(s, pool, &r, NULL, 0, &res);
        t[i] = clock_ns(CLOCK_MONOTONIC) - t0;
        tc[i] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (rc != 0) {
            fprintf(stderr, "pick failed: %d\n", rc);
            exit(1);
        }
        sy_endpoint_inflight_add(res.ep, res.inflight_tokens);
        sy_sched_done(s, &res, true);
        sy_endpoint_inflight_sub(res.ep, res.inflight_tokens);
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_u64);
    *p50 = (double)t[iters / 2] / 1000.0;
    *p99 = (double)t[(size_t)iters * 99 / 100] / 1000.0;
    qsort(tc, (size_t)iters, sizeof *tc, cmp_u64);
    *cpu99 = (double)tc[(size_t)iters * 99 / 100] / 1000.0;
    free(t);
    free(tc);
}

int main(int argc, char **argv)
{
    sy_log_set_level(SY_LOG_ERROR);
    int base_iters = argc > 1 ? atoi(argv[1]) : 2000;
    if (base_iters < 100)
        base_iters = 100;
    static const size_t eps[] = {8, 64, 256};
    static const size_t toks[] = {1024, 32768, 131072};
    char err[512];
    struct sy_scheduler *rr = NULL;
    /* the round-robin baseline: one picker, no scorers, no producer */
    static const char rr_yaml[] = "plugins:\n- type: round-robin-picker\n";
    struct sy_yaml_node *root =
        sy_yaml_load_string(rr_yaml, sizeof rr_yaml - 1, "<rr>", err, sizeof err);
    if (!root || !(rr = sy_sched_new(root, "<rr>", err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sy_yaml_free(root);
    printf(
        "scheduler decision time (us), llm-d default config vs round-robin-picker\n"
        "(p99 wall includes preemption by other processes; cpu p99 is this thread's CPU time)\n");
    printf("%9s %7s %9s %9s %9s %9s %9s %7s\n", "endpoints", "prompt", "dflt p50", "dflt p99",
           "cpu p99", "rr p50", "rr p99", "p50 x");
    for (size_t a = 0; a < sizeof eps / sizeof eps[0]; a++) {
        for (size_t b = 0; b < sizeof toks / sizeof toks[0]; b++) {
            /* a fresh llm-d default scheduler per cell (by name, `scheduler: llm-d-default`): its
             * prefix index starts empty and warms up */
            struct sy_yaml_node *name =
                sy_yaml_load_string(SY_SCHED_LLMD_DEFAULT, sizeof SY_SCHED_LLMD_DEFAULT - 1,
                                    "<llm-d>", err, sizeof err);
            struct sy_scheduler *s = name ? sy_sched_new(name, "<llm-d>", err, sizeof err) : NULL;
            sy_yaml_free(name);
            if (!s) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            struct sy_pool *pool = make_pool(eps[a]);
            size_t chars = toks[b] * 4;
            char *text = sy_xmalloc(chars + 32);
            for (size_t i = 0; i < chars; i++)
                text[i] = (char)('a' + (i * 7 + i / 64) % 26);
            int iters = base_iters;
            if (toks[b] >= 131072)
                iters = base_iters / 4 < 100 ? 100 : base_iters / 4;
            double d50, d99, dc99, r50, r99, rc99;
            run(s, pool, text, chars, iters / 10 > 50 ? iters / 10 : 50, &d50, &d99, &dc99);
            run(s, pool, text, chars, iters, &d50, &d99, &dc99);
            run(rr, pool, text, chars, iters, &r50, &r99, &rc99);
            printf("%9zu %6zuk %9.1f %9.1f %9.1f %9.1f %9.1f %7.1f\n", eps[a], toks[b] / 1024, d50,
                   d99, dc99, r50, r99, r50 > 0 ? d50 / r50 : 0);
            fflush(stdout);
            free(text);
            sy_pool_unref(pool);
            sy_sched_free(s);
        }
    }
    sy_sched_free(rr);
    return 0;
}
