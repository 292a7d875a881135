/* slo_class_scorer.c - `slo-class-scorer` (Switchyard; llm-d has no equivalent): places requests by
 * SLO class. Tight-objective requests go to the endpoints fast enough to meet them, kept lightly
 * loaded; loose-objective and no-SLO requests fill the slower endpoints first.
 *
 * Why (docs/slo-scheduling.md, Measurements): on a heterogeneous fleet past saturation the binding
 * objective is the tight TPOT one, and a request's TPOT is set by the batch it shares for its
 * whole life. Load *balancing* (llm-d's default weights, or latency-scorer choosing by predicted
 * headroom) spreads tight and loose requests alike, so the fast replicas fill with batch work and
 * the tight requests miss; an oracle that reserved the fast replicas for the tight class met far
 * more objectives than any balancing rule. This scorer is that rule without the oracle's
 * knowledge of the fleet: speed and tightness are estimated per request.
 *
 *   class    a request is tight when one of its objectives (x-slo-tpot-ms / x-slo-ttft-ms or the
 *            x-llm-d-slo-* twins) is at most tightTPOTMs / tightTTFTMs; with those unset (0, the
 *            default) it is tight when the objective is at most tightFraction (0.6) x the p90 of
 *            the last RING objectives seen in that dimension (recomputed every RECALC). Without
 *            an objective, or before MIN_RING objectives were seen, it is loose.
 *   speed    per candidate, its mean TPOT at the fleet's current mean load (so only the endpoint
 *            differs): a decayed per-endpoint line TPOT = a + b x load (b >= 0, forgetting over
 *            ~64 requests) fitted to the streamed TPOTs this plugin saw finish there (done hook),
 *            evaluated at the candidates' mean load. When some candidate has no fit yet and the
 *            learned model is ready (predicted-latency-producer), the model's prediction for the
 *            request's features with every load feature at the mean is used for every candidate
 *            instead (TTFT stands in for prefill pods, whose TPOT is 0); otherwise endpoints
 *            without an estimate count as fast, so they get explored.
 *   classes  the known speeds sorted, cut at the largest ratio between neighbours when it is at
 *            least speedClassRatio (1.3): below the cut is fast; no such gap, everyone is fast
 *   load     l = max(waiting + running, gateway in-flight requests) + 1
 *   tight    eligible = fast candidates predicted to meet both objectives; if none of the fast
 *            ones is but a slower one is, those; without predictions (or none meeting), the fast
 *            ones. score = 0.5 + 0.5 x min_eligible(l) / l for eligible, < 0.5 (0.49 x min(l)/l)
 *            for the others, so the least-loaded eligible endpoint wins under max-score-picker.
 *   loose    w = l x reserveFactor (1.5) on fast endpoints when slower ones exist, l otherwise;
 *            score = min(w) / w: the slower endpoints fill first, the fast ones take a loose
 *            request only when the slower ones carry reserveFactor times their load.
 *
 * Use it with max-score-picker (the rule is an argmin; weighted-random-picker would blur it).
 * It consumes the latency data key, so predicted-latency-producer is created when not configured.
 *
 * Measured and not taken (docs/slo-scheduling.md): the model's prediction as the primary speed
 * signal (its per-endpoint p90 load curve, read at a load an endpoint seldom runs at, swapped
 * fast and slow replicas in the warm-up and misclassified single replicas later: attainment
 * ranged 58-79% between runs); "fast = within speedClassRatio of the fastest" (a replica measured
 * 35% slower than the fastest of its class fell out of it). Not tried, for reasons the earlier
 * measurements give: choosing within the tight class by predicted TPOT headroom instead of load
 * (the TPOT prediction at routing time is weakly informative and herds), and steering loose
 * requests away from endpoints predicted to violate their loose objective (the model
 * over-predicts the slow replicas' TPOT at high load, which would pull batch work onto the fast
 * replicas).
 *
 * Threading: instances are shared by the worker threads; the objective rings and the observed
 * speed table sit behind one mutex, held per call for O(1) ring work (the p90 sort, of RING
 * entries, runs every RECALC insertions) and one table probe per candidate.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/alloc.h"
#include "core/keytab.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define RING      256  /* recent objectives kept per dimension */
#define RECALC    32   /* insertions between two p90 recomputations */
#define MIN_RING  16   /* objectives needed before the auto rule classifies anything tight */
#define SLOTS     1024 /* observed-speed table size (src/core/keytab, = SY_SCHED_MAX_CANDIDATES) */
#define DECAY     (1.0 - 1.0 / 64) /* per observation: an endpoint's fit forgets in ~64 requests */
#define MIN_OBS_W 4.0              /* decayed observation weight needed for a fallback speed */

struct ring {
    double v[RING]; /* objectives, seconds */
    size_t n, next; /* entries held, next slot */
    size_t since;   /* insertions since the last recomputation */
    double p90;     /* p90 of v[0..n) at the last recomputation, 0 before MIN_RING */
};

struct slot {         /* payload of the endpoint address's keytab slot */
    double w, sx, sy; /* decayed weight, sum of load, sum of TPOT */
    double sxx, sxy;  /* sums of load^2 and load x TPOT */
};

struct state {
    double tight_tpot, tight_ttft; /* tightTPOTMs / tightTTFTMs in seconds, 0 = auto */
    double fraction;               /* tightFraction */
    double speed_ratio;            /* speedClassRatio */
    double reserve;                /* reserveFactor */
    pthread_mutex_t mu;            /* guards the rings and the table */
    struct ring r_tpot, r_ttft;    /* recent objectives */
    struct sy_keytab tab;          /* endpoint address -> struct slot, SLOTS slots */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **out,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {"tightTPOTMs",     "tightTTFTMs",   "tightFraction",
                                       "speedClassRatio", "reserveFactor", NULL};
    double tpot_ms = 0, ttft_ms = 0, fraction = 0.6, ratio = 1.3, reserve = 1.5;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tightTPOTMs", env, 0, 3.6e6, &tpot_ms, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tightTTFTMs", env, 0, 3.6e6, &ttft_ms, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tightFraction", env, 0.01, 1, &fraction, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "speedClassRatio", env, 1, 100, &ratio, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "reserveFactor", env, 1, 100, &reserve, err, errcap);
    if (rc)
        return rc;
    struct state *st = SY_NEW(struct state);
    st->tight_tpot = tpot_ms / 1e3;
    st->tight_ttft = ttft_ms / 1e3;
    st->fraction = fraction;
    st->speed_ratio = ratio;
    st->reserve = reserve;
    pthread_mutex_init(&st->mu, NULL);
    sy_keytab_init(&st->tab, SLOTS, sizeof(struct slot));
    *out = st;
    return 0;
}

static void destroy(void *state)
{
    struct state *st = state;
    pthread_mutex_destroy(&st->mu);
    sy_keytab_fini(&st->tab);
    free(st);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Adds v to r and recomputes the p90 every RECALC insertions (caller holds st->mu). */
static void ring_add(struct ring *r, double v)
{
    r->v[r->next] = v;
    r->next = (r->next + 1) % RING;
    if (r->n < RING)
        r->n++;
    if (r->n < MIN_RING || (++r->since < RECALC && r->p90 > 0))
        return;
    r->since = 0;
    double tmp[RING];
    memcpy(tmp, r->v, r->n * sizeof *tmp);
    qsort(tmp, r->n, sizeof *tmp, cmpd);
    r->p90 = tmp[(size_t)(0.9 * (double)(r->n - 1))];
}

/* True when objective v (seconds, > 0) is tight: at most the fixed threshold when one is set,
 * else at most fraction x the recent p90 (which v is first added to). Caller holds st->mu. */
static bool tight_in(const struct state *st, struct ring *r, double threshold, double v)
{
    if (!(v > 0))
        return false;
    ring_add(r, v);
    if (threshold > 0)
        return v <= threshold;
    return r->p90 > 0 && v <= st->fraction * r->p90;
}

/* The decayed line TPOT = a + b x load of slot s evaluated at load x (b >= 0: more load never
 * makes an endpoint faster), or -1 without enough observations. */
static double fit_at(const struct slot *s, double x)
{
    if (!s || s->w < MIN_OBS_W)
        return -1;
    double mx = s->sx / s->w, my = s->sy / s->w;
    double var = s->sxx / s->w - mx * mx, cov = s->sxy / s->w - mx * my;
    double b = var > 1.0 && cov > 0 ? cov / var : 0;
    double y = my + b * (x - mx);
    return y > my * 0.05 ? y : my * 0.05;
}

static double load_of(const struct sy_sched_candidate *c)
{
    double w = c->st.m.waiting > 0 ? c->st.m.waiting : 0,
           r = c->st.m.running > 0 ? c->st.m.running : 0;
    double gw = c->st.inflight_requests > 0 ? (double)c->st.inflight_requests : 0;
    return (w + r > gw ? w + r : gw) + 1;
}

/* Fills speed[i] (seconds per output token at the candidates' mean load; -1 = unknown): from the
 * observed fits when every candidate has one, else from the model's predictions when it is
 * ready, else from the fits (unknown where none). Returns the mean load. */
static void speeds(struct state *st, const struct sy_sched_cycle *cy,
                   const struct sy_sched_candidate *c, size_t n, const double *load, double *speed)
{
    double mload = 0;
    for (size_t i = 0; i < n; i++)
        mload += load[i] - 1;
    mload /= (double)n;
    size_t known = 0;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < n; i++) {
        speed[i] = fit_at(sy_keytab_find(&st->tab, c[i].ep->address), mload);
        known += speed[i] > 0;
    }
    pthread_mutex_unlock(&st->mu);
    struct sy_latency_model *m =
        cy->latency && cy->latency->ready ? sy_sched_latency_model() : NULL;
    if (known == n || !m)
        return;
    /* the reference features: the request's, with every load feature at the candidates' mean */
    struct sy_latency_features ref = {0};
    double kv = 0, wait = 0, pre = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sy_latency_pred *p = sy_latency_pred_of(cy, &c[i]);
        if (!p)
            continue;
        if (!k)
            ref = p->f;
        kv += p->f.kv_util;
        wait += p->f.waiting;
        pre += (double)p->f.prefill_tokens_inflight;
        k++;
    }
    if (!k)
        return;
    ref.kv_util = kv / (double)k;
    ref.waiting = (uint32_t)lround(wait / (double)k);
    ref.queued = ref.waiting > 0;
    ref.running = (uint32_t)lround(mload > wait / (double)k ? mload - wait / (double)k : 0);
    ref.prefill_tokens_inflight = (uint64_t)llround(pre / (double)k);
    ref.decode_tokens_inflight = (uint64_t)ref.running * 256;
    ref.prefix_score = 0;
    for (size_t i = 0; i < n; i++) {
        double tt = -1, tp = -1;
        speed[i] = -1;
        if (!sy_latency_pred_of(cy, &c[i]) ||
            sy_latency_predict(m, c[i].ep->address, &ref, &tt, &tp) != 0)
            continue;
        speed[i] = tp > 0 ? tp : tt > 0 ? tt : -1;
    }
}

/* Splits the candidates into speed classes: sorted known speeds, cut at the largest ratio
 * between neighbours when it is at least ratio; fast[i] for those below the cut and for unknown
 * speeds (everyone when there is no such gap). Returns true when some candidate is slow. */
static bool classes(const double *speed, size_t n, double ratio, bool *fast)
{
    double sorted[SY_SCHED_MAX_CANDIDATES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (speed[i] > 0)
            sorted[k++] = speed[i];
    qsort(sorted, k, sizeof *sorted, cmpd);
    double cut = INFINITY, best = ratio;
    for (size_t i = 0; i + 1 < k; i++)
        if (sorted[i + 1] / sorted[i] >= best) {
            best = sorted[i + 1] / sorted[i];
            cut = sorted[i];
        }
    bool any_slow = false;
    for (size_t i = 0; i < n; i++) {
        fast[i] = !(speed[i] > 0) || speed[i] <= cut;
        any_slow |= !fast[i];
    }
    return any_slow;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    struct state *st = state;
    if (n == 0)
        return;
    const struct sy_request *req = cy->req;
    double slo_tpot = req ? req->slo_tpot_ms / 1e3 : 0, slo_ttft = req ? req->slo_ttft_ms / 1e3 : 0;
    pthread_mutex_lock(&st->mu);
    bool tp = tight_in(st, &st->r_tpot, st->tight_tpot, slo_tpot);
    bool tt = tight_in(st, &st->r_ttft, st->tight_ttft, slo_ttft);
    pthread_mutex_unlock(&st->mu);
    bool tight = tp || tt;

    double load[SY_SCHED_MAX_CANDIDATES], speed[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++)
        load[i] = load_of(&c[i]);
    speeds(st, cy, c, n, load, speed);
    bool fast[SY_SCHED_MAX_CANDIDATES];
    bool any_slow = classes(speed, n, st->speed_ratio, fast);

    if (!tight) {
        double w[SY_SCHED_MAX_CANDIDATES], wmin = INFINITY;
        for (size_t i = 0; i < n; i++) {
            w[i] = load[i] * (fast[i] && any_slow ? st->reserve : 1.0);
            wmin = w[i] < wmin ? w[i] : wmin;
        }
        for (size_t i = 0; i < n; i++)
            scores[i] = wmin / w[i];
        return;
    }
    /* tight: the fast endpoints predicted to meet the objectives; else slower ones predicted to;
     * else the fast ones */
    bool elig[SY_SCHED_MAX_CANDIDATES], fast_pos = false, slow_pos = false;
    for (size_t i = 0; i < n; i++) {
        bool pos = sy_latency_pred_positive(sy_latency_pred_of(cy, &c[i]));
        fast_pos |= pos && fast[i];
        slow_pos |= pos && !fast[i];
    }
    double emin = INFINITY, amin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        bool pos = sy_latency_pred_positive(sy_latency_pred_of(cy, &c[i]));
        elig[i] = fast_pos ? pos && fast[i] : slow_pos ? pos : fast[i];
        if (elig[i] && load[i] < emin)
            emin = load[i];
        amin = load[i] < amin ? load[i] : amin;
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = elig[i] ? 0.5 + 0.5 * emin / load[i] : 0.49 * amin / load[i];
}

/* Served and streamed: the chosen endpoint's observed TPOT at its routing-time load feeds the
 * fallback speed fit. */
static void done(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                 bool ok)
{
    struct state *st = state;
    if (!ok || !chosen || !(cy->observed_tpot_s > 0) || !isfinite(cy->observed_tpot_s))
        return;
    double x = load_of(chosen) - 1, y = cy->observed_tpot_s;
    pthread_mutex_lock(&st->mu);
    struct slot *s = sy_keytab_claim(&st->tab, chosen->ep->address);
    if (s) {
        s->w = s->w * DECAY + 1;
        s->sx = s->sx * DECAY + x;
        s->sy = s->sy * DECAY + y;
        s->sxx = s->sxx * DECAY + x * x;
        s->sxy = s->sxy * DECAY + x * y;
    }
    pthread_mutex_unlock(&st->mu);
}

const struct sy_plugin_ops sy_plugin_slo_class_scorer = {
    .type = "slo-class-scorer",
    .consumes = SY_LATENCY_KEY,
    .create = create,
    .destroy = destroy,
    .score = score,
    .done = done,
};
