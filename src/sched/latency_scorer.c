/* latency_scorer.c - llm-d's `latency-scorer`: scores candidates by the headroom between their
 * predicted p90 TTFT/TPOT and the request's objectives (predicted-latency-producer).
 *
 *   predictions present:
 *     S = candidates with both headrooms >= 0; if S is empty: idle candidates; else the first
 *         non-empty bucket of only-TPOT-violated, only-TTFT-violated, both-violated
 *     within S, per dimension d: n_d = (h - min) / (max - min)  (a zero range sets w_d = 0)
 *       positive tier:  least -> 1 - n_d (pack the tightest fit), most -> n_d
 *       violated tiers: n_d (least violation first)
 *     score = (ttftWeight n_ttft + tpotWeight n_tpot) / (sum of the weights left); others 0
 *   no predictions (model not ready, no producer): llm-d's composite fallback
 *     score = (kvW (1 - kv) + queueW (1 - q/qmax) + prefixW prefix) / (kvW + queueW + prefixW)
 *
 * Without an SLO the producer sets headroom = -predicted, so every endpoint is in the
 * both-violated bucket and the least predicted latency scores best.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct state {
    double wt, wp;      /* ttftWeight, tpotWeight */
    bool most;          /* headroomSelectionStrategy most (default least) */
    double ckv, cq, cp; /* composite fallback weights */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {"ttftWeight",
                                       "tpotWeight",
                                       "headroomSelectionStrategy",
                                       "compositeKVWeight",
                                       "compositeQueueWeight",
                                       "compositePrefixWeight",
                                       NULL};
    struct state s = {.wt = 0.8, .wp = 0.2, .ckv = 1, .cq = 1, .cp = 1};
    const char *strat = NULL;
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
    if (!rc)
        rc = sy_param_string(params, "headroomSelectionStrategy", env, &strat, err, errcap);
    if (rc)
        return rc;
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
    double wsum = s->ckv + s->cq + s->cp;
    for (size_t i = 0; i < n; i++) {
        double kv = c[i].st.m.kv_usage > 0 ? c[i].st.m.kv_usage : 0;
        double q = qmax > 0 ? 1.0 - (c[i].st.m.waiting > 0 ? c[i].st.m.waiting : 0) / qmax : 1.0;
        double px = 0;
        if (cy->prefix && cy->prefix_valid) {
            const struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
            px = m->total_blocks ? (double)m->match_blocks / m->total_blocks : 0;
        }
        scores[i] = wsum > 0 ? (s->ckv * (1 - kv) + s->cq * q + s->cp * px) / wsum : 0;
    }
}

enum tier { T_POS, T_IDLE, T_TPOT_ONLY, T_TTFT_ONLY, T_BOTH, T_NONE };

static enum tier tier_of(const struct sy_latency_pred *p)
{
    if (!p)
        return T_NONE;
    bool vt = p->headroom_ttft_s < 0, vp = p->headroom_tpot_s < 0;
    return !vt && !vp ? T_POS : vt && vp ? T_BOTH : vp ? T_TPOT_ONLY : T_TTFT_ONLY;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct state *s = state;
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
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    bool in[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        in[i] = pred[i] && (sel == T_IDLE ? pred[i]->idle : tier[i] == sel);
        if (!in[i])
            continue;
        double h[2] = {pred[i]->headroom_ttft_s, pred[i]->headroom_tpot_s};
        for (int d = 0; d < 2; d++) {
            lo[d] = h[d] < lo[d] ? h[d] : lo[d];
            hi[d] = h[d] > hi[d] ? h[d] : hi[d];
        }
    }
    double w[2] = {s->wt, s->wp};
    for (int d = 0; d < 2; d++)
        if (!(hi[d] - lo[d] > 1e-12))
            w[d] = 0;
    double wsum = w[0] + w[1];
    bool pack = sel == T_POS && !s->most;
    for (size_t i = 0; i < n; i++) {
        if (!in[i]) {
            scores[i] = 0;
            continue;
        }
        if (wsum <= 0) {
            scores[i] = 1;
            continue;
        }
        double h[2] = {pred[i]->headroom_ttft_s, pred[i]->headroom_tpot_s}, t = 0;
        for (int d = 0; d < 2; d++) {
            if (w[d] == 0)
                continue;
            double v = (h[d] - lo[d]) / (hi[d] - lo[d]);
            t += w[d] * (pack ? 1 - v : v);
        }
        /* keep selected candidates strictly above the excluded ones (score 0) */
        scores[i] = 0.01 + 0.99 * t / wsum;
    }
}

const struct sy_plugin_ops sy_plugin_latency_scorer = {
    .type = "latency-scorer",
    .consumes = SY_LATENCY_KEY,
    .create = create,
    .destroy = free,
    .score = score,
};
