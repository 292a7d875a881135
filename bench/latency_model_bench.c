/* latency_model_bench.c - accuracy and cost of the online latency model (src/latency/).
 *
 * A virtual-time fleet of simulator engines (src/sim/engine.h): 4 fast replicas (qwen3-8b-h100)
 * and 4 slow ones (qwen3-32b-tp2-h100), Poisson arrivals in five load phases from idle to
 * saturated, log-uniform prompt lengths (100..4000 tokens), 30% of prompts opening with one of 8
 * shared 1024-token system prompts, 16..256 output tokens, routed uniformly at random so every
 * load state is visited. For each request the bench records what the gateway would see at routing
 * time (llm-d's features) and the measured TTFT and TPOT.
 *
 * Every 4th request is held out. The model variants are trained on the rest and scored on the
 * held-out requests per phase: MAPE and p90 coverage (share of observations <= the prediction).
 * It also times a prediction (ns per endpoint) and a retrain, and writes the samples to a CSV for
 * bench/latency_model_xgb.py (XGBoost on the same samples).
 *
 *   build/latency_model_bench [CSV]     (bench/latency_model.sh runs both)
 * Not a test: prints numbers, never fails on them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "latency/latency.h"
#include "sim/engine.h"

#define NE      8    /* engines */
#define NPHASE  5    /* load phases */
#define PHASE_S 60.0 /* simulated seconds per phase */
#define GROUPS  8    /* shared system prompts */
#define SYSLEN  1024 /* their length */
#define MAXREQ  200000

static const double rates[NPHASE] = {2, 25, 60, 100, 140}; /* fleet arrivals per second */

struct sample {
    int phase, ep;
    struct sy_latency_features f;
    double ttft, tpot; /* seconds; tpot < 0 when one token */
    uint64_t arrival;
    uint64_t first; /* first token time, 0 until then */
    uint32_t uncached;
    bool done;
};

static struct sample *S;
static size_t nS;
static struct sy_sim_engine *eng[NE];
static int64_t inflight_tok[NE];
static uint32_t seen_groups[NE];
static uint64_t rng = 0x243F6A8885A308D3ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static const char *ep_name(int e)
{
    static const char *n[NE] = {"fast-0", "fast-1", "fast-2", "fast-3",
                                "slow-0", "slow-1", "slow-2", "slow-3"};
    return n[e];
}

static void on_token(void *ud, struct sy_sim_req *r, uint64_t now)
{
    struct sample *s = &S[(size_t)(uintptr_t)r->ud];
    (void)ud;
    if (!s->first) {
        s->first = now;
        s->ttft = (double)(now - s->arrival) / 1e9;
        inflight_tok[s->ep] -= s->uncached;
    }
}

static void on_finish(void *ud, struct sy_sim_req *r, enum sy_sim_finish why, uint64_t now)
{
    struct sample *s = &S[(size_t)(uintptr_t)r->ud];
    (void)ud;
    (void)why;
    s->tpot =
        r->n_output > 1 ? (double)(r->last_token_ns - s->first) / 1e9 / (r->n_output - 1) : -1;
    s->done = s->first != 0;
    (void)now;
}

static void advance_all(uint64_t now)
{
    sy_sim_engines_advance(eng, NE, now);
}

static void generate(void)
{
    static const struct sy_sim_engine_cbs cbs = {.on_token = on_token, .on_finish = on_finish};
    for (int e = 0; e < NE; e++)
        eng[e] = sy_sim_engine_new(
            sy_sim_profile_find(e < NE / 2 ? "qwen3-8b-h100" : "qwen3-32b-tp2-h100"),
            (uint64_t)e + 1, &cbs);
    S = calloc(MAXREQ, sizeof *S);
    uint32_t *tok = malloc(8192 * sizeof *tok);
    uint32_t uniq = 1u << 24;
    double t = 0;
    for (int ph = 0; ph < NPHASE; ph++) {
        double end = (ph + 1) * PHASE_S;
        while (nS < MAXREQ) {
            t += -log(1 - urand()) / rates[ph];
            if (t >= end)
                break;
            uint64_t now = (uint64_t)(t * 1e9);
            advance_all(now);
            int e = (int)(urand() * NE);
            uint32_t len = (uint32_t)exp(log(100) + urand() * (log(4000) - log(100)));
            int g = urand() < 0.3 ? (int)(urand() * GROUPS) : -1;
            if (g >= 0 && len < SYSLEN + 16)
                len = SYSLEN + 16;
            for (uint32_t i = 0; i < len; i++)
                tok[i] = g >= 0 && i < SYSLEN ? (uint32_t)g * 100000 + i : uniq++;
            struct sample *s = &S[nS];
            s->phase = ph;
            s->ep = e;
            s->arrival = now;
            uint32_t w = sy_sim_engine_num_waiting(eng[e]);
            s->f = (struct sy_latency_features){
                .queued = w > 0,
                .kv_util = sy_sim_engine_kv_usage(eng[e]),
                .input_tokens = len,
                .waiting = w,
                .running = sy_sim_engine_num_running(eng[e]),
                .prefill_tokens_inflight = (uint64_t)(inflight_tok[e] > 0 ? inflight_tok[e] : 0),
                .decode_tokens_inflight = (uint64_t)sy_sim_engine_num_running(eng[e]) * 256,
                .prefix_score = g >= 0 && (seen_groups[e] >> g & 1) ? (double)SYSLEN / len : 0,
            };
            uint32_t out = 16 + (uint32_t)(urand() * 240);
            s->f.tokens_generated = out;
            s->uncached = (uint32_t)((1 - s->f.prefix_score) * len);
            inflight_tok[e] += s->uncached;
            if (g >= 0)
                seen_groups[e] |= 1u << g;
            nS++;
            sy_sim_engine_submit(eng[e], tok, len, out, (void *)(uintptr_t)(nS - 1), now);
            sy_sim_engine_advance(eng[e], now); /* starts a step on an idle engine */
        }
    }
    advance_all(UINT64_MAX - 1);
    free(tok);
}

struct acc {
    double ape[2], cov[2];
    int n[2];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void variant(const char *name, bool logt, bool per_ep, bool regime, bool curve, bool guard)
{
    struct sy_latency_config c;
    sy_latency_config_default(&c);
    c.ttft_guard = guard;
    c.load_curve = curve;
    c.log_target = logt;
    c.per_endpoint = per_ep;
    c.per_regime = regime;
    struct sy_latency_model *m = sy_latency_model_new(&c);
    for (size_t i = 0; i < nS; i++)
        if (S[i].done && i % 4 != 3)
            sy_latency_observe(m, ep_name(S[i].ep), &S[i].f, S[i].ttft, S[i].tpot);
    double t0 = now_s();
    int rc = sy_latency_retrain(m);
    double train = now_s() - t0;
    if (rc) {
        printf("%-24s retrain failed: %s\n", name, sy_strerror(rc));
        sy_latency_model_free(m);
        return;
    }
    struct acc a[NPHASE + 1];
    memset(a, 0, sizeof a);
    for (size_t i = 3; i < nS; i += 4) {
        if (!S[i].done)
            continue;
        double p[2], y[2] = {S[i].ttft, S[i].tpot};
        sy_latency_predict(m, ep_name(S[i].ep), &S[i].f, &p[0], &p[1]);
        for (int k = 0; k < 2; k++) {
            if (!(y[k] > 0) || !(p[k] > 0))
                continue;
            for (int q = 0; q < 2; q++) {
                struct acc *x = &a[q ? NPHASE : S[i].phase];
                x->ape[k] += fabs(p[k] - y[k]) / y[k];
                x->cov[k] += y[k] <= p[k];
                x->n[k]++;
            }
        }
    }
    printf("%-24s", name);
    for (int ph = 0; ph <= NPHASE; ph++)
        printf(" | %5.1f%% %4.2f  %5.1f%% %4.2f", 100 * a[ph].ape[0] / a[ph].n[0],
               a[ph].cov[0] / a[ph].n[0], 100 * a[ph].ape[1] / a[ph].n[1],
               a[ph].cov[1] / a[ph].n[1]);
    /* prediction cost: 8 endpoints per request */
    int iters = 200000;
    double sink = 0;
    t0 = now_s();
    for (int it = 0; it < iters; it++)
        for (int e = 0; e < NE; e++) {
            double pt, pp;
            sy_latency_predict(m, ep_name(e), &S[(size_t)it % nS].f, &pt, &pp);
            sink += pt + pp;
        }
    double ns = (now_s() - t0) / ((double)iters * NE) * 1e9;
    struct sy_latency_stats st;
    sy_latency_stats(m, &st);
    printf(" | %5.0f ns | %6.1f ms (%llu samples)%s\n", ns, train * 1e3,
           (unsigned long long)st.samples_ttft, sink < 0 ? "!" : "");
    sy_latency_model_free(m);
}

int main(int argc, char **argv)
{
    generate();
    size_t done = 0, perph[NPHASE] = {0};
    double ttft_sum[NPHASE] = {0};
    for (size_t i = 0; i < nS; i++)
        if (S[i].done) {
            done++;
            perph[S[i].phase]++;
            ttft_sum[S[i].phase] += S[i].ttft;
        }
    printf("fleet: 4 x qwen3-8b-h100 + 4 x qwen3-32b-tp2-h100, %zu requests (%zu finished), "
           "random routing\n",
           nS, done);
    printf("phases (req/s, mean TTFT):");
    for (int ph = 0; ph < NPHASE; ph++)
        printf("  %.0f/s %.3fs", rates[ph], ttft_sum[ph] / (perph[ph] ? perph[ph] : 1));
    printf("\n\nheld-out (every 4th request): TTFT MAPE, p90 coverage, TPOT MAPE, coverage per "
           "phase, then all\n");
    printf("%-24s", "variant");
    for (int ph = 0; ph < NPHASE; ph++)
        printf(" | phase %d (%2.0f/s)           ", ph, rates[ph]);
    printf(" | all                        | predict    | retrain\n");
    variant("linear + per-endpoint+regime", false, true, true, false, true);
    variant("linear + TPOT curve (default)", false, true, false, true, true);
    variant("linear + TPOT curve, no guard", false, true, false, true, false);
    variant("linear + per-endpoint", false, true, false, false, true);
    variant("linear, shared only", false, false, false, false, true);
    variant("log + per-endpoint+regime", true, true, true, false, true);
    variant("log + per-endpoint", true, true, false, false, true);
    variant("log, shared only", true, false, false, false, true);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        if (!f) {
            perror(argv[1]);
            return 1;
        }
        fprintf(f, "phase,ep,fast,split,is_queued,kv_cache_percentage,input_token_length,"
                   "num_request_waiting,num_request_running,prefill_tokens_in_flight,"
                   "decode_tokens_in_flight,prefix_cache_score,num_tokens_generated,ttft,tpot\n");
        for (size_t i = 0; i < nS; i++) {
            const struct sample *s = &S[i];
            if (!s->done)
                continue;
            fprintf(f, "%d,%d,%d,%s,%d,%.6f,%u,%u,%u,%llu,%llu,%.6f,%u,%.9f,%.9f\n", s->phase,
                    s->ep, s->ep < NE / 2, i % 4 == 3 ? "test" : "train", s->f.queued, s->f.kv_util,
                    s->f.input_tokens, s->f.waiting, s->f.running,
                    (unsigned long long)s->f.prefill_tokens_inflight,
                    (unsigned long long)s->f.decode_tokens_inflight, s->f.prefix_score,
                    s->f.tokens_generated, s->ttft, s->tpot);
        }
        fclose(f);
        printf("\nsamples written to %s\n", argv[1]);
    }
    for (int e = 0; e < NE; e++)
        sy_sim_engine_free(eng[e]);
    free(S);
    return 0;
}
