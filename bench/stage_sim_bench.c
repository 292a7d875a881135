/* stage_sim_bench.c - one replica of llm-d's staged sweep in simulated time (docs/bench.md,
 * "Measured: cause 2, the per-token time at 46-60 req/s").
 *
 * The wall-time sweep (bench/llmd_sweep.py) runs 8 simulators, 3 gateways and the client on a
 * shared 2-core machine, so its per-token times could include host lag (a simulator waiting for
 * a CPU). This runs the same engine (src/sim/engine.h) with no clock at all: one replica, the
 * stages of llm-d's inference-perf ladder behind its stage barrier, in discrete simulated time.
 *
 *   stage k: n_k = round(fleet rate x duration x share) requests, Poisson at fleet rate x share,
 *            each a (group, question) item of this replica's groups x prompts-per-group, drawn
 *            from a shuffled cycle as `switchyard bench` does (questions repeat: caches carry
 *            over from stage to stage, queues do not)
 *   barrier: stage k+1's first arrival = stage k's last completion + interval
 *   measured per stage (first arrival -> last completion): req/s and output tok/s (x 1/share:
 *            fleet-equivalent), TTFT p50/p90, NTPOT p50 (E2E / output tokens, llm-d's report),
 *            ITL mean (token-weighted), running / waiting / KV (time mean and peak), preemptions,
 *            and the decode step split: the decode-only step at the stage's token-weighted batch
 *            and mean context (the step model alone), the decode-only steps the engine ran, the
 *            steps with their prefill chunks, the rest (preempted sequences waiting).
 *
 * The share is what the replica receives of the fleet's arrivals: 1/8 for a replica holding its
 * 1/8 of the prefix groups (llm-d's 150 over 8 pods: 18.75); --groups 22 --share 0.1467 is the
 * replica that got 22 groups. Rejected: driving `switchyard sim` over HTTP at a time scale (that
 * is the wall-time path this exists to avoid).
 *
 *   build/stage_sim_bench [--profile P] [--kv-blocks N] [--kv-read-us X] [--max-num-seqs N]
 *       [--groups G]
 *       [--share S] [--prompts-per-group K] [--system N] [--question N] [--output N]
 *       [--stages LIST] [--interval S] [--seed N] [--json]
 *   LIST: llm-d's rates ("warm-up,22,35,46,60", the default) or rate:duration pairs ("7.5:10")
 * Not a test: prints numbers (tests/integration/test_stage_sim.py checks their shape and
 * invariants). bench/stage_sim.py runs the tables of docs/bench.md, "Measured: cause 2".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/err.h"
#include "sim/engine.h"

#define VOCAB     151643u /* Qwen3 regular vocabulary, as the built-in tokenizer */
#define MAXSTAGES 32

/* llm-d's inference-perf ladder (rate req/s, duration s), warm-up first (bench/llmd_sweep.py) */
static const double llmd_stages[][2] = {{15, 50}, {3, 20},  {10, 20}, {15, 20}, {20, 38}, {22, 34},
                                        {25, 30}, {30, 25}, {35, 21}, {40, 38}, {43, 36}, {46, 33},
                                        {49, 30}, {52, 29}, {55, 27}, {57, 26}, {60, 25}};

struct stage_spec {
    double rate, dur; /* fleet req/s, seconds */
    char name[24];    /* as given */
};

struct rq {
    uint64_t arrival, first, end; /* ns */
    uint32_t nout;
    int stage;
};

/* Per-stage accumulators, filled from the engine's callbacks and the sampling between steps. */
struct acc {
    uint64_t t0, t1;               /* first arrival, last completion (ns) */
    uint32_t sent, done;           /* requests */
    uint64_t tokens;               /* output tokens */
    double run_area, wait_area;    /* running / waiting x seconds */
    double kv_area;                /* KV usage x seconds */
    uint32_t run_max, wait_max;    /* peaks */
    double kv_max;                 /* peak KV usage */
    uint64_t preempt0, preempt1;   /* engine preemptions at start / end */
    struct sy_sim_stats s0, s1;    /* engine stats at start / end */
    double b2, b1;                 /* sum over decode steps of batch^2 and batch */
    double *ttft, *ntpot, *e2e;    /* per request, seconds */
    uint32_t npre;                 /* requests preempted at least once */
    double ntpot_pre, ntpot_nopre; /* sums of NTPOT (s) of those and of the others */
    double itl_num, itl_den;       /* sum of (end - first), sum of (nout - 1) */
};

struct run {
    struct sy_sim_engine *e;
    struct rq *reqs;
    struct acc *acc;
    int cur;            /* stage being measured */
    uint64_t last_ns;   /* previous sample time */
    uint64_t prev_seqs; /* stats.decode_seqs at the previous step end */
    uint64_t inflight;  /* requests submitted and not finished */
};

/* Time-weighted running / waiting / KV of the current stage from last_ns to now. */
static void sample(struct run *r, uint64_t now)
{
    if (r->cur >= 0 && now > r->last_ns) {
        struct acc *a = &r->acc[r->cur];
        double dt = (double)(now - r->last_ns) / 1e9;
        uint32_t run = sy_sim_engine_num_running(r->e), wait = sy_sim_engine_num_waiting(r->e);
        double kv = sy_sim_engine_kv_usage(r->e);
        a->run_area += run * dt;
        a->wait_area += wait * dt;
        a->kv_area += kv * dt;
        if (run > a->run_max)
            a->run_max = run;
        if (wait > a->wait_max)
            a->wait_max = wait;
        if (kv > a->kv_max)
            a->kv_max = kv;
    }
    r->last_ns = now;
}

static void on_finish(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now)
{
    struct run *r = ud;
    (void)why;
    struct rq *q = req->ud;
    q->first = req->first_token_ns;
    q->end = now;
    q->nout = req->n_output;
    struct acc *a = &r->acc[q->stage];
    a->tokens += q->nout;
    double e2e = (double)(q->end - q->arrival) / 1e9;
    a->ttft[a->done] = (double)(q->first - q->arrival) / 1e9;
    a->ntpot[a->done] = q->nout ? e2e / q->nout : 0;
    a->e2e[a->done] = e2e;
    if (req->n_preempted) {
        a->npre++;
        a->ntpot_pre += a->ntpot[a->done];
    } else {
        a->ntpot_nopre += a->ntpot[a->done];
    }
    a->done++;
    if (q->nout >= 2) {
        a->itl_num += (double)(q->end - q->first) / 1e9;
        a->itl_den += q->nout - 1;
    }
    if (now > a->t1)
        a->t1 = now;
    r->inflight--;
}

static void on_step_end(void *ud, uint64_t now)
{
    struct run *r = ud;
    const struct sy_sim_stats *st = sy_sim_engine_stats(r->e);
    uint64_t b = st->decode_seqs - r->prev_seqs;
    r->prev_seqs = st->decode_seqs;
    if (r->cur >= 0 && b) {
        r->acc[r->cur].b2 += (double)b * (double)b;
        r->acc[r->cur].b1 += (double)b;
    }
    sample(r, now);
}

static void advance_to(struct run *r, uint64_t t)
{
    uint64_t n;
    while ((n = sy_sim_engine_next_ns(r->e)) <= t)
        sy_sim_engine_advance(r->e, n);
    sample(r, t);
    sy_sim_engine_advance(r->e, t);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, uint32_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    double k = p * (n - 1);
    uint32_t i = (uint32_t)k;
    return i + 1 < n ? v[i] + (k - i) * (v[i + 1] - v[i]) : v[n - 1];
}

static int parse_stages(const char *s, struct stage_spec *out, int cap)
{
    int n = 0;
    char buf[512];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n >= cap)
            return -1;
        struct stage_spec *sp = &out[n];
        snprintf(sp->name, sizeof sp->name, "%s", tok);
        char *colon = strchr(tok, ':'), *end = NULL;
        if (strcmp(tok, "warm-up") == 0) {
            sp->rate = llmd_stages[0][0], sp->dur = llmd_stages[0][1];
        } else if (colon) {
            *colon = 0;
            sp->rate = strtod(tok, &end);
            if (*end)
                return -1;
            sp->dur = strtod(colon + 1, &end);
            if (*end)
                return -1;
        } else {
            double rate = strtod(tok, &end);
            if (*end)
                return -1;
            int k = 1;
            while (k < (int)(sizeof llmd_stages / sizeof llmd_stages[0]) &&
                   llmd_stages[k][0] != rate)
                k++;
            if (k == (int)(sizeof llmd_stages / sizeof llmd_stages[0]))
                return -1;
            sp->rate = rate, sp->dur = llmd_stages[k][1];
        }
        if (!(sp->rate > 0) || !(sp->dur > 0) || sp->rate * sp->dur > 1e6)
            return -1;
        n++;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: stage_sim_bench [--profile P] [--kv-blocks N] [--kv-read-us X] "
            "[--max-num-seqs N] [--groups G] [--share S] [--prompts-per-group K] [--system N] "
            "[--question N] [--output N] [--stages LIST] [--interval S] [--seed N] "
            "[--json]\n");
}

/* Numeric option value: returns false (after a message) when v is not a number in [lo, hi]. */
static bool num_arg(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "stage_sim_bench: %s: '%s': expected a number in %g..%g\n", opt, v ? v : "",
                lo, hi);
        return false;
    }
    *out = x;
    return true;
}

int main(int argc, char **argv)
{
    const char *pname = "qwen3-32b-tp2-h100", *stages_arg = "warm-up,22,35,46,60";
    double kv_blocks = 0, kv_us = -1, groups = 19, share = 0.125, ppg = 5, sys = 6000,
           question = 1200, output = 1000, interval = 1, seed = 1, max_seqs = 0;
    bool json = false;
    const struct {
        const char *name; /* numeric option */
        double lo, hi;    /* accepted range */
        double *dst;      /* where its value goes */
    } opts[] = {
        {"--kv-blocks", 1, 1e8, &kv_blocks},   {"--kv-read-us", 0, 1e3, &kv_us},
        {"--groups", 1, 1e5, &groups},         {"--share", 1e-4, 1, &share},
        {"--prompts-per-group", 1, 1e5, &ppg}, {"--system", 0, 1e6, &sys},
        {"--question", 1, 1e6, &question},     {"--output", 1, 1e6, &output},
        {"--interval", 0, 1e6, &interval},     {"--seed", 0, 1e15, &seed},
        {"--max-num-seqs", 1, 1e6, &max_seqs},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        } else if (strcmp(a, "--profile") == 0 && v) {
            pname = v;
        } else if (strcmp(a, "--stages") == 0 && v) {
            stages_arg = v;
        } else {
            size_t k = 0;
            while (k < nopts && strcmp(a, opts[k].name) != 0)
                k++;
            if (k == nopts) {
                usage();
                return 2;
            }
            ok = num_arg(a, v, opts[k].lo, opts[k].hi, opts[k].dst);
        }
        if (!ok)
            return 2;
        i++;
    }
    const struct sy_sim_profile *base = sy_sim_profile_find(pname);
    if (!base) {
        fprintf(stderr, "stage_sim_bench: unknown profile '%s'\n", pname);
        return 2;
    }
    struct stage_spec st[MAXSTAGES];
    int ns = parse_stages(stages_arg, st, MAXSTAGES);
    if (ns <= 0) {
        fprintf(stderr,
                "stage_sim_bench: --stages '%s': expected llm-d's rates (warm-up,3,...,60) or "
                "rate:duration pairs, comma-separated, at most %d\n",
                stages_arg, MAXSTAGES);
        return 2;
    }
    struct sy_sim_profile p = *base;
    if (kv_blocks > 0)
        p.num_gpu_blocks = (uint32_t)kv_blocks;
    if (kv_us >= 0)
        p.decode_us_per_ctx_token = kv_us;
    if (max_seqs > 0)
        p.max_num_seqs = (uint32_t)max_seqs;
    uint32_t G = (uint32_t)groups, K = (uint32_t)ppg, S = (uint32_t)sys, Q = (uint32_t)question,
             O = (uint32_t)output;
    if ((uint64_t)S + Q + O > p.max_model_len) {
        fprintf(stderr, "stage_sim_bench: prompt + output %llu > max_model_len %u\n",
                (unsigned long long)S + Q + O, p.max_model_len);
        return 2;
    }

    /* requests per stage, and the item cycle (shuffled once, as bench's workload) */
    uint32_t nreq = 0, cnt[MAXSTAGES];
    for (int k = 0; k < ns; k++) {
        cnt[k] = (uint32_t)llround(st[k].rate * st[k].dur * share);
        if (cnt[k] == 0)
            cnt[k] = 1;
        nreq += cnt[k];
    }
    if ((uint64_t)G * K > 10000000) {
        fprintf(stderr, "stage_sim_bench: --groups x --prompts-per-group %llu > 10000000\n",
                (unsigned long long)G * K);
        return 2;
    }
    uint32_t nitems = G * K, *items = malloc(nitems * sizeof *items);
    struct rq *reqs = calloc(nreq, sizeof *reqs);
    struct acc *acc = calloc((size_t)ns, sizeof *acc);
    uint32_t *tok = malloc(((size_t)S + Q) * sizeof *tok);
    if (!items || !reqs || !acc || !tok) {
        fprintf(stderr, "stage_sim_bench: out of memory\n");
        return 1;
    }
    struct sy_rng rng, trng;
    sy_rng_seed(&rng, (uint64_t)seed ^ 0x57a6e5ULL);
    for (uint32_t i = 0; i < nitems; i++)
        items[i] = i;
    for (uint32_t i = nitems; i > 1; i--) {
        uint32_t j = (uint32_t)sy_rng_below(&rng, i);
        uint32_t t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
    for (int k = 0; k < ns; k++) {
        acc[k].ttft = calloc(cnt[k], sizeof(double));
        acc[k].ntpot = calloc(cnt[k], sizeof(double));
        acc[k].e2e = calloc(cnt[k], sizeof(double));
        if (!acc[k].ttft || !acc[k].ntpot || !acc[k].e2e)
            return 1;
    }

    struct run r = {.reqs = reqs, .acc = acc, .cur = -1};
    struct sy_sim_engine_cbs cbs = {.on_finish = on_finish, .on_step_end = on_step_end, .ud = &r};
    r.e = sy_sim_engine_new(&p, (uint64_t)seed, &cbs);
    if (!r.e) {
        fprintf(stderr, "stage_sim_bench: the profile is unusable with these overrides\n");
        return 2;
    }

    uint64_t now = 0, item = 0;
    uint32_t ri = 0;
    for (int k = 0; k < ns; k++) {
        double lam = st[k].rate * share, t = (double)now / 1e9;
        struct acc *a = &acc[k];
        r.cur = k;
        r.last_ns = now;
        a->t0 = now;
        a->s0 = *sy_sim_engine_stats(r.e);
        for (uint32_t i = 0; i < cnt[k]; i++, ri++) {
            if (i)
                t += sy_rng_exp(&rng, lam);
            uint64_t at = (uint64_t)llround(t * 1e9);
            uint32_t it = items[item++ % nitems], g = it / K;
            /* the group's system prompt, then the item's question: token ids drawn from
             * generators seeded by the group and by the item */
            sy_rng_seed(&trng, ((uint64_t)g << 32) ^ 0x9f1eULL);
            for (uint32_t x = 0; x < S; x++)
                tok[x] = (uint32_t)sy_rng_below(&trng, VOCAB);
            sy_rng_seed(&trng, 0x71a5000000000000ULL ^ it);
            for (uint32_t x = 0; x < Q; x++)
                tok[S + x] = (uint32_t)sy_rng_below(&trng, VOCAB);
            advance_to(&r, at);
            reqs[ri] = (struct rq){.arrival = at, .stage = k};
            if (!sy_sim_engine_submit(r.e, tok, S + Q, O, &reqs[ri], at)) {
                fprintf(stderr, "stage_sim_bench: submit refused\n");
                return 1;
            }
            r.inflight++;
            a->sent++;
            sy_sim_engine_advance(r.e, at);
        }
        /* drain: the barrier */
        uint64_t n, guard = 0;
        while (r.inflight && (n = sy_sim_engine_next_ns(r.e)) != UINT64_MAX && guard++ < 100000000)
            sy_sim_engine_advance(r.e, n);
        if (r.inflight) {
            fprintf(stderr, "stage_sim_bench: stage %s did not drain\n", st[k].name);
            return 1;
        }
        sample(&r, a->t1);
        a->s1 = *sy_sim_engine_stats(r.e);
        r.cur = -1;
        now = a->t1 + (uint64_t)llround(interval * 1e9);
    }

    /* report: per stage, the client's view, then the engine's */
    struct row {
        double span, rps, tps, ttft50, ttft90, nt10, nt50, nt90, e2e10, e2e50, e2e90, e2emax, itl,
            nt_pre, nt_nopre, runm, waitm, kvm, tw_b, ctx, model_ms, dec_ms, full_ms, hit;
        uint64_t pre;
    } *rows = calloc((size_t)ns, sizeof *rows);
    if (!rows)
        return 1;
    for (int k = 0; k < ns; k++) {
        struct acc *a = &acc[k];
        struct row *w = &rows[k];
        w->span = (double)(a->t1 - a->t0) / 1e9;
        w->rps = w->span > 0 ? a->done / w->span / share : 0;
        w->tps = w->span > 0 ? (double)a->tokens / w->span / share : 0;
        w->ttft50 = pct(a->ttft, a->done, 0.5);
        w->ttft90 = pct(a->ttft, a->done, 0.9);
        w->nt10 = 1e3 * pct(a->ntpot, a->done, 0.1);
        w->nt50 = 1e3 * pct(a->ntpot, a->done, 0.5);
        w->nt90 = 1e3 * pct(a->ntpot, a->done, 0.9);
        w->e2e10 = pct(a->e2e, a->done, 0.1);
        w->e2e50 = pct(a->e2e, a->done, 0.5);
        w->e2e90 = pct(a->e2e, a->done, 0.9);
        w->e2emax = pct(a->e2e, a->done, 1.0);
        w->itl = a->itl_den ? 1e3 * a->itl_num / a->itl_den : 0;
        w->nt_pre = a->npre ? 1e3 * a->ntpot_pre / a->npre : 0;
        w->nt_nopre = a->done > a->npre ? 1e3 * a->ntpot_nopre / (a->done - a->npre) : 0;
        w->runm = w->span > 0 ? a->run_area / w->span : 0;
        w->waitm = w->span > 0 ? a->wait_area / w->span : 0;
        w->kvm = w->span > 0 ? a->kv_area / w->span : 0;
        w->tw_b = a->b1 ? a->b2 / a->b1 : 0;
        uint64_t dseq = a->s1.decode_seqs - a->s0.decode_seqs;
        w->ctx = dseq ? (double)(a->s1.decode_ctx_tokens - a->s0.decode_ctx_tokens) / dseq : 0;
        w->model_ms = w->tw_b > 0 ? (double)sy_sim_step_ns(&p, 0, (uint64_t)llround(w->tw_b),
                                                           (uint64_t)llround(w->tw_b * w->ctx)) /
                                        1e6
                                  : 0;
        w->dec_ms =
            dseq ? (double)(a->s1.decode_seq_decode_ns - a->s0.decode_seq_decode_ns) / dseq / 1e6
                 : 0;
        w->full_ms =
            dseq ? (double)(a->s1.decode_seq_step_ns - a->s0.decode_seq_step_ns) / dseq / 1e6 : 0;
        w->pre = a->s1.preemptions - a->s0.preemptions;
        uint64_t pq = a->s1.prefix_queries - a->s0.prefix_queries;
        w->hit = pq ? (double)(a->s1.prefix_hits - a->s0.prefix_hits) / (double)pq : 0;
    }
    if (json) {
        printf("{\"profile\":\"%s\",\"kv_blocks\":%u,\"kv_read_us\":%.6g,\"groups\":%u,"
               "\"share\":%.6g,\"output\":%u,\"stages\":[",
               p.name, p.num_gpu_blocks, p.decode_us_per_ctx_token, G, share, O);
        for (int k = 0; k < ns; k++) {
            const struct row *w = &rows[k];
            const struct acc *a = &acc[k];
            printf("%s{\"stage\":\"%s\",\"rate\":%.6g,\"duration\":%.6g,\"sent\":%u,\"done\":%u,"
                   "\"preempted_requests\":%u,\"start_s\":%.6g,\"end_s\":%.6g,\"span_s\":%.6g,"
                   "\"req_s\":%.6g,\"out_tok_s\":%.6g,\"ttft_p50_s\":%.6g,\"ttft_p90_s\":%.6g,"
                   "\"ntpot_p10_ms\":%.6g,\"ntpot_p50_ms\":%.6g,\"ntpot_p90_ms\":%.6g,"
                   "\"e2e_p10_s\":%.6g,\"e2e_p50_s\":%.6g,\"e2e_p90_s\":%.6g,\"e2e_max_s\":%.6g,"
                   "\"itl_mean_ms\":%.6g,\"ntpot_mean_preempted_ms\":%.6g,"
                   "\"ntpot_mean_not_preempted_ms\":%.6g,\"running_mean\":%.6g,"
                   "\"running_max\":%u,\"waiting_mean\":%.6g,\"waiting_max\":%u,\"kv_mean\":%.6g,"
                   "\"kv_max\":%.6g,\"preemptions\":%llu,\"tw_batch\":%.6g,\"ctx_per_seq\":%.6g,"
                   "\"model_step_ms\":%.6g,\"decode_only_ms\":%.6g,\"step_ms\":%.6g,"
                   "\"hit_rate\":%.6g}",
                   k ? "," : "", st[k].name, st[k].rate, st[k].dur, a->sent, a->done, a->npre,
                   (double)a->t0 / 1e9, (double)a->t1 / 1e9, w->span, w->rps, w->tps, w->ttft50,
                   w->ttft90, w->nt10, w->nt50, w->nt90, w->e2e10, w->e2e50, w->e2e90, w->e2emax,
                   w->itl, w->nt_pre, w->nt_nopre, w->runm, a->run_max, w->waitm, a->wait_max,
                   w->kvm, a->kv_max, (unsigned long long)w->pre, w->tw_b, w->ctx, w->model_ms,
                   w->dec_ms, w->full_ms, w->hit);
        }
        printf("]}\n");
    } else {
        printf("one replica in simulated time: profile %s, KV %u blocks, KV read %.5f us/token, "
               "%u groups x %u prompts, %u+%u -> %u tokens, share %.4f of the fleet's arrivals, "
               "interval %g s, seed %.0f\n\n",
               p.name, p.num_gpu_blocks, p.decode_us_per_ctx_token, G, K, S, Q, O, share, interval,
               seed);
        printf("| stage | requests (preempted) | span s | req/s, fleet-eq | out tok/s, fleet-eq | "
               "TTFT p50 / p90 s | NTPOT p10 / p50 / p90 ms | E2E p10 / p50 / p90 / max s | "
               "NTPOT mean, preempted / not ms |\n|---|---|---|---|---|---|---|---|---|\n");
        for (int k = 0; k < ns; k++) {
            const struct row *w = &rows[k];
            printf("| %s | %u (%u) | %.1f | %.2f | %.0f | %.3f / %.3f | %.1f / %.1f / %.1f | "
                   "%.1f / %.1f / %.1f / %.1f | %.1f / %.1f |\n",
                   st[k].name, acc[k].done, acc[k].npre, w->span, w->rps, w->tps, w->ttft50,
                   w->ttft90, w->nt10, w->nt50, w->nt90, w->e2e10, w->e2e50, w->e2e90, w->e2emax,
                   w->nt_pre, w->nt_nopre);
        }
        printf("\n| stage | prefix hit rate | running mean / peak | waiting mean / peak | "
               "KV mean / peak | preemptions | token-weighted batch | context per seq | step "
               "model, decode only "
               "at that batch ms | decode-only steps ms | steps ms | ITL mean ms | ITL - steps "
               "(stalls) ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (int k = 0; k < ns; k++) {
            const struct row *w = &rows[k];
            printf("| %s | %.1f%% | %.1f / %u | %.1f / %u | %.0f%% / %.0f%% | %llu | %.1f | %.0f | "
                   "%.1f | %.1f | %.1f | %.1f | %.1f |\n",
                   st[k].name, 100 * w->hit, w->runm, acc[k].run_max, w->waitm, acc[k].wait_max,
                   100 * w->kvm, 100 * acc[k].kv_max, (unsigned long long)w->pre, w->tw_b, w->ctx,
                   w->model_ms, w->dec_ms, w->full_ms, w->itl, w->itl - w->full_ms);
        }
    }
    for (int k = 0; k < ns; k++) {
        free(acc[k].ttft);
        free(acc[k].ntpot);
        free(acc[k].e2e);
    }
    free(rows);
    sy_sim_engine_free(r.e);
    free(items);
    free(reqs);
    free(acc);
    free(tok);
    return 0;
}
