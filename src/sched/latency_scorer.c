/* latency_scorer.c - llm-d's `latency-scorer`: scores candidates by the headroom between their
 * predicted p90 TTFT/TPOT and the request's objectives (predicted-latency-producer).
 *
 *   predictions present (llm-d-router pkg/epp/framework/plugins/scheduling/scorer/latency):
 *     bucket = candidates with both headrooms >= 0, or no prediction (headroom 0, 0); if empty:
 *         the idle violators; else the first non-empty of only-TPOT-violated, only-TTFT-violated,
 *         both-violated. Candidates outside the bucket score 0.
 *     within the bucket, per dimension d: n_d = (|h| - min|h|) / (max|h| - min|h|), 0.5 when the
 *         range is zero (and a zero-range dimension gives its weight to the other one)
 *     c = a n_ttft + b n_tpot, (a, b) = (ttftWeight, tpotWeight) / their sum
 *     score = (int((1 - c) x 100) + 1) / 100 ("least", and every violated bucket: the tightest
 *         fit / the least violation first), or (int(c x 100) + 1) / 100 ("most", positive
 *         bucket only); the scheduler clamps the 1.01 of the best to 1 (enforceScoreRange)
 *   no predictions (model not ready, no producer): llm-d's composite fallback
 *     score = round(100 (kvW (1 - kv) + queueW (qmax - q) / qmax + prefixW prefix) / sum W) / 100
 *     (all weights 0: KV only)
 *
 * Without an SLO the producer sets headroom = -predicted, so every endpoint is in the
 * both-violated bucket and the least predicted latency scores best.
 *
 * `objective: e2e-plus-delay` (Switchyard's own; default `headroom`, llm-d's rule above): the
 * request's own headroom is the wrong thing to maximise on a shared batch (docs/slo-scheduling.md,
 * "clairvoyant oracle": a rule that knew every true latency still lost to the best heuristic,
 * except when it also priced the delay the request causes the requests already there). Per
 * candidate, from what the gateway knows at routing time:
 *     own    = ttft + tpot x (out - 1)      the producer's predictions; out = min(max_tokens,
 *                                           outputTokens): outputTokens (256) is the expected
 *                                           output length, max_tokens only a cap (clients send
 *                                           4096 whatever they expect; sy_latency_delay_out)
 *                                           outputTokensSource endpoint | fleet: outputTokens is
 *                                           only the fallback; the expected length is the mean
 *                                           output of the requests completed on the candidate
 *                                           (endpoint) or the mean of the means of the pool's
 *                                           endpoints that serve the request's model and
 *                                           that the run's filters keep by label (fleet;
 *                                           fleet_out says why not the candidates), as
 *                                           pool/decode.c learns it from the
 *                                           proxy's count, once SY_LATENCY_OUT_MIN_SAMPLES
 *                                           completed (endpoint: a candidate short of them
 *                                           takes the fleet's)
 *     caused = running x (prefill + dtpot x min(delayHorizonTokens, out))
 *         running  the producer's running count there (scraped, or the gateway's fresher
 *                  in-flight count): the requests that share the batch it joins
 *         prefill  the model's TTFT for the request there with nothing running or waiting (its
 *                  prefill step time, uncached tokens via the prefix score; running, waiting
 *                  and in-flight features zeroed, the KV use kept as scraped: the prefill at
 *                  the cache fill it meets): every running decode stalls for it once (a
 *                  prefill step holds the batch)
 *         dtpot    the model's TPOT there at running + 1 minus at running (its TPOT sensitivity
 *                  to the running count, >= 0): each running request decodes that much slower
 *                  per token while it shares their batch, counted for min(horizon, out) of their
 *                  tokens (their remaining lengths are unknown to the gateway; the oracle's
 *                  64-token bound measured best)
 *     cost   = own + delayWeight x caused;  score = (max cost - cost) / (max - min), 1 when equal
 * Two extra predictions per candidate (prefill, running + 1). Candidates scored only when every
 * one has a prediction; otherwise (model not ready) the composite fallback, as for headroom. When
 * an extra prediction fails (a benchmark's given latencies without a ready model) its term is 0.
 * No tiers: SLOs are ignored by this objective (slo-headroom-tier-filter can still gate).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "pool/decode.h"
#include "pool/pool.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define W_MAX 100 /* llm-d wMax: scores are quantised to 1/100 */
#define EPS   1e-9

/* outputTokensSource */
enum out_src {
    OUT_FIXED,    /* outputTokens */
    OUT_ENDPOINT, /* each candidate's own completed requests' mean (outputTokens before) */
    OUT_FLEET     /* the mean of the learned means of the pool's endpoints for the request's
                     model that the run's filters keep for the request by their labels (fleet_out;
                     outputTokens before) */
};

struct state {
    double wt, wp;        /* ttftWeight, tpotWeight */
    bool most;            /* headroomSelectionStrategy most (default least) */
    double ckv, cq, cp;   /* composite fallback weights */
    bool delay;           /* objective e2e-plus-delay (default headroom) */
    double horizon;       /* delayHorizonTokens */
    double dweight;       /* delayWeight */
    double out_tokens;    /* outputTokens: the expected output length (max_tokens caps it) */
    enum out_src out_src; /* outputTokensSource: where the expected length comes from */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {
        "ttftWeight",        "tpotWeight",           "headroomSelectionStrategy",
        "compositeKVWeight", "compositeQueueWeight", "compositePrefixWeight",
        "objective",         "delayHorizonTokens",   "delayWeight",
        "outputTokens",      "outputTokensSource",   NULL};
    struct state s = {.wt = 0.8, .wp = 0.2, .ckv = 1, .cq = 1, .cp = 1, .dweight = 1};
    const char *strat = NULL, *obj = NULL, *src = NULL;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "ttftWeight", env, 0, 1e6, &s.wt, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tpotWeight", env, 0, 1e6, &s.wp, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "compositeKVWeight", env, 0, 1e6, &s.ckv, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "compositeQueueWeight", env, 0, 1e6, &s.cq, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "compositePrefixWeight", env, 0, 1e6, &s.cp, err, errcap);
    int64_t horizon = 64, out_tokens = 256; /* token counts: integers (12.5 is refused) */
    if (!rc)
        rc = sy_param_int(params, "delayHorizonTokens", env, 1, 1000000, &horizon, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "delayWeight", env, 0, 1e3, &s.dweight, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "outputTokens", env, 1, 1000000, &out_tokens, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "headroomSelectionStrategy", env, &strat, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "objective", env, &obj, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "outputTokensSource", env, &src, err, errcap);
    if (rc)
        return rc;
    if (src && strcmp(src, "fixed") && strcmp(src, "endpoint") && strcmp(src, "fleet"))
        return sy_param_errorf(env, NULL, "outputTokensSource", err, errcap,
                               "must be 'fixed', 'endpoint' or 'fleet', got '%s'", src);
    s.out_src = !src || !strcmp(src, "fixed") ? OUT_FIXED
                : !strcmp(src, "endpoint")    ? OUT_ENDPOINT
                                              : OUT_FLEET;
    if (obj && strcmp(obj, "headroom") && strcmp(obj, "e2e-plus-delay"))
        return sy_param_errorf(env, NULL, "objective", err, errcap,
                               "must be 'headroom' or 'e2e-plus-delay', got '%s'", obj);
    s.delay = obj && !strcmp(obj, "e2e-plus-delay");
    s.horizon = (double)horizon;
    s.out_tokens = (double)out_tokens;
    static const char *const delay_keys[] = {"delayHorizonTokens", "delayWeight", "outputTokens",
                                             "outputTokensSource"};
    for (size_t i = 0; !s.delay && i < sizeof delay_keys / sizeof *delay_keys; i++)
        if (sy_param_present(params, delay_keys[i]))
            sy_warn("%s:%d: plugin '%s': '%s' is ignored: it applies to objective e2e-plus-delay "
                    "only (objective is headroom)",
                    env && env->file ? env->file : "<config>", env ? env->line : 0,
                    env && env->name ? env->name : "?", delay_keys[i]);
    if (strat && strcmp(strat, "least") && strcmp(strat, "most"))
        return sy_param_errorf(env, NULL, "headroomSelectionStrategy", err, errcap,
                               "must be 'least' or 'most', got '%s'", strat);
    s.most = strat && !strcmp(strat, "most");
    struct state *st = SY_NEW(struct state);
    *st = s;
    *out = st;
    return 0;
}

static void composite(const struct state *s, const struct sy_sched_cycle *cy,
                      const struct sy_sched_candidate *c, size_t n, double *scores)
{
    double qmax = 0;
    for (size_t i = 0; i < n; i++)
        qmax = c[i].st.m.waiting > qmax ? c[i].st.m.waiting : qmax;
    double wkv = s->ckv, wq = s->cq, wp = s->cp, wsum = wkv + wq + wp;
    if (wsum <= 0) { /* llm-d: KV only */
        wkv = 1;
        wq = wp = 0;
        wsum = 1;
    }
    wkv /= wsum;
    wq /= wsum;
    wp /= wsum;
    for (size_t i = 0; i < n; i++) {
        double kv = c[i].st.m.kv_usage > 0 ? c[i].st.m.kv_usage : 0;
        double w = c[i].st.m.waiting > 0 ? c[i].st.m.waiting : 0;
        double q = qmax > 0 ? (qmax - w) / qmax : 1.0; /* llm-d relQueue */
        double px = 0;
        if (cy->prefix && cy->prefix_valid) {
            const struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
            px = m->total_blocks ? (double)m->match_blocks / m->total_blocks : 0;
        }
        double comp = wkv * (1.0 - kv) + wq * q + wp * px;
        scores[i] = (double)(int)round((double)W_MAX * comp) / (double)W_MAX; /* llm-d's 1/100 */
    }
}

enum tier { T_POS, T_IDLE, T_TPOT_ONLY, T_TTFT_ONLY, T_BOTH, T_NONE };

/* The bucket an endpoint is in. An endpoint with no prediction (while others have one) is in
 * the positive bucket with headroom 0 in both dimensions, as in llm-d. */
static enum tier tier_of(const struct sy_latency_pred *p)
{
    if (!p)
        return T_POS;
    bool vt = p->headroom_ttft_s < 0, vp = p->headroom_tpot_s < 0;
    return !vt && !vp ? T_POS : vt && vp ? T_BOTH : vp ? T_TPOT_ONLY : T_TTFT_ONLY;
}

/* llm-d's scoreBucket over the candidates with in[i]: min-max normalisation of |headroom| per
 * dimension (0.5 when the range is zero; a zero-range dimension hands all its weight to the
 * other one), combined = a n_ttft + b n_tpot with the weights normalised to sum 1 (both 0: TTFT
 * only), then w = int(c x 100) + 1 (most) or int((1 - c) x 100) + 1 (least), score = w / 100.
 * The same operations in the same order as llm-d, so the quantised scores match exactly. */
static void score_bucket(const struct state *s, const struct sy_latency_pred *const *pred,
                         const bool *in, size_t n, bool force_least, double *scores)
{
    double lo[2] = {DBL_MAX, DBL_MAX}, hi[2] = {-DBL_MAX, -DBL_MAX};
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        double h[2] = {pred[i] ? fabs(pred[i]->headroom_ttft_s) : 0,
                       pred[i] ? fabs(pred[i]->headroom_tpot_s) : 0};
        for (int d = 0; d < 2; d++) {
            lo[d] = h[d] < lo[d] ? h[d] : lo[d];
            hi[d] = h[d] > hi[d] ? h[d] : hi[d];
        }
    }
    double sum = s->wt + s->wp, alpha = 1.0, beta = 0.0;
    if (sum > 0) {
        alpha = s->wt / sum;
        beta = s->wp / sum;
    }
    double range[2] = {hi[0] - lo[0], hi[1] - lo[1]};
    if (range[0] <= EPS && range[1] > EPS) {
        alpha = 0.0;
        beta = 1.0;
    } else if (range[1] <= EPS && range[0] > EPS) {
        alpha = 1.0;
        beta = 0.0;
    }
    bool most = s->most && !force_least;
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        double h[2] = {pred[i] ? fabs(pred[i]->headroom_ttft_s) : 0,
                       pred[i] ? fabs(pred[i]->headroom_tpot_s) : 0};
        double nd[2];
        for (int d = 0; d < 2; d++)
            nd[d] = range[d] > EPS ? (h[d] - lo[d]) / range[d] : 0.5;
        double combined = alpha * nd[0] + beta * nd[1];
        int w = most ? (int)(combined * (double)W_MAX) + 1
                     : (int)((1.0 - combined) * (double)W_MAX) + 1;
        scores[i] = (double)w / (double)W_MAX;
    }
}

/* outputTokensSource fleet (and endpoint's fallback): the mean of the learned output lengths
 * (SY_LATENCY_OUT_MIN_SAMPLES completions) of the pool's endpoints that serve the request's model
 * (as the cycle's candidates were chosen: any model when the request names none) and that the
 * run's filters keep for the request by their labels (sy_sched_run_keeps: its role filter's
 * roles, by-label, label-selector-filter, priority-reservation-filter, context-length-aware with
 * enableFiltering; every endpoint when it has none); outputTokens when none of them has a
 * mean. Borrows everything; called at most once per scorer call.
 *
 * Why these endpoints: the expected length is a property of the requests this run schedules (one
 * model, one leg), so it averages the endpoints that serve such requests: not another model's
 * (a different workload) and not a P/D run's other leg (prefill legs complete 1 token or none, so
 * a decode run counting them would expect ~1 token). Not the candidates c[] themselves: they are
 * what this request's filters left (a concurrency or utilization filter drops the busy ones, a
 * retry the failed ones), so their mean would move with load from decision to decision, and a run
 * left with only a new replica would fall back to outputTokens while its peers have learned the
 * workload. Nor the roles the candidates have: a load filter that dropped every unlabeled
 * candidate of a decode run (or every `both` one) took those peers out of the mean as well, so
 * it still moved with load; the run's label filters say which endpoints it serves whatever their
 * load (a unit test in test_latency_plugins.c). */
static double fleet_out(const struct state *s, struct sy_sched_cycle *cy)
{
    const char *model = cy->req ? cy->req->model : "";
    size_t mlen = strlen(model);
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; cy->pool && i < cy->pool->n; i++) {
        struct sy_endpoint *e = cy->pool->eps[i];
        if ((mlen && !sy_endpoint_serves(e, model, mlen)) || !sy_sched_run_keeps(cy, e))
            continue;
        double m = sy_decode_mean_out(e, SY_LATENCY_OUT_MIN_SAMPLES);
        if (m > 0) {
            sum += m;
            k++;
        }
    }
    return k ? sum / (double)k : s->out_tokens;
}

/* objective e2e-plus-delay (design comment above): scores[i] from each candidate's cost; false
 * (scores untouched) when some candidate has no prediction. */
static bool score_delay(const struct state *s, struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *c, size_t n, double *scores)
{
    const struct sy_latency_model *m = sy_sched_latency_model();
    int64_t mt = cy->req ? cy->req->max_tokens : -1;
    double expected = s->out_src == OUT_FLEET ? fleet_out(s, cy) : s->out_tokens;
    double fleet = -1; /* endpoint: the fleet's mean for a candidate with none of its own */
    double out = sy_latency_delay_out(mt, expected), cost[SY_SCHED_MAX_CANDIDATES];
    double lo = DBL_MAX, hi = -DBL_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct sy_latency_pred *p = sy_latency_pred_of(cy, &c[i]);
        if (!p)
            return false;
        if (s->out_src == OUT_ENDPOINT) {
            /* a candidate that has not completed enough requests (a replica just added or
             * restarted) takes the fleet's mean, not outputTokens: against its peers' learned
             * means a fixed guess above them starved it (it never completed any), one below
             * them flooded it */
            double lm = sy_decode_mean_out(c[i].ep, SY_LATENCY_OUT_MIN_SAMPLES);
            if (lm <= 0)
                lm = fleet >= 0 ? fleet : (fleet = fleet_out(s, cy));
            out = sy_latency_delay_out(mt, lm);
        }
        struct sy_latency_delay_in d = {.ttft_s = p->ttft_s,
                                        .tpot_s = p->tpot_s,
                                        .running = p->f.running,
                                        .out_tokens = out,
                                        .horizon = s->horizon,
                                        .weight = s->dweight};
        if (m && p->f.running > 0) { /* nothing running there: nothing to delay */
            struct sy_latency_features alone = p->f, join = p->f;
            alone.running = alone.waiting = 0;
            alone.queued = false;
            alone.prefill_tokens_inflight = alone.decode_tokens_inflight = 0;
            double pf, tp1;
            if (sy_latency_predict(m, c[i].ep->address, &alone, &pf, NULL) == 0)
                d.prefill_s = pf;
            join.running++;
            join.decode_tokens_inflight += SY_LATENCY_DECODE_TOKENS_PER_RUNNING;
            if (p->f.role != SY_LATENCY_ROLE_PREFILL &&
                sy_latency_predict(m, c[i].ep->address, &join, NULL, &tp1) == 0)
                d.dtpot_s = tp1 - p->tpot_s;
        }
        cost[i] = sy_latency_e2e_plus_delay(&d);
        lo = cost[i] < lo ? cost[i] : lo;
        hi = cost[i] > hi ? cost[i] : hi;
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = hi - lo > EPS ? (hi - cost[i]) / (hi - lo) : 1.0;
    return true;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct state *s = state;
    if (s->delay) {
        if (!score_delay(s, cy, c, n, scores))
            composite(s, cy, c, n, scores);
        return;
    }
    const struct sy_latency_pred *pred[SY_SCHED_MAX_CANDIDATES];
    enum tier tier[SY_SCHED_MAX_CANDIDATES];
    bool any = false, have[T_NONE + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        pred[i] = sy_latency_pred_of(cy, &c[i]);
        tier[i] = tier_of(pred[i]);
        any |= pred[i] != NULL;
        have[tier[i]] = true;
        if (pred[i] && pred[i]->idle && tier[i] != T_POS)
            have[T_IDLE] = true;
    }
    if (!any) {
        composite(s, cy, c, n, scores);
        return;
    }
    enum tier sel = T_POS;
    while (sel < T_NONE && !have[sel])
        sel++;
    bool in[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        in[i] = sel == T_IDLE ? pred[i] && pred[i]->idle && tier[i] != T_POS : tier[i] == sel;
        scores[i] = 0;
    }
    /* violated buckets (and idle) always prefer the least |headroom|: the least violation */
    score_bucket(s, pred, in, n, sel != T_POS, scores);
}

const struct sy_plugin_ops sy_plugin_latency_scorer = {
    .type = "latency-scorer",
    .consumes = SY_LATENCY_KEY,
    .create = create,
    .destroy = free,
    .score = score,
};
