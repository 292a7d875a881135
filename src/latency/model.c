/* model.c - sample buffers, background retraining and lock-free snapshots of the latency model.
 *
 * Data flow (one model holds both targets, TTFT and TPOT):
 *
 *   proxy finish hook --observe--> [strata: 5 queue x 20 KV x 4 prefix rings]  (mutex, O(1))
 *                                  [holdout ring, every 8th observation]
 *   trainer thread (every retrain_ms, if new samples):
 *       copy (subsampled to max_train) under the mutex -> fit off-lock (qreg.c)
 *       -> per-endpoint calibration -> holdout MAPE/coverage -> finite? publish : discard + log
 *   scheduler --predict--> seqlock read of the published snapshot (no lock, no allocation)
 *
 * Stratification is llm-d's (training_server.py): 5 queue buckets x 20 KV buckets (5% steps) x 4
 * prefix-score buckets, each a bounded ring (llm-d keeps a deque of 500). A burst of idle-fleet
 * traffic therefore cannot evict the saturated-fleet samples, and the fit sees every regime.
 *
 * The model: linear quantile regression (pinball loss, tau = cfg.quantile, 0.9 by default, for
 * TTFT; TPOT at its own tau, cfg.tpot_quantile / sy_latency_set_tpot_quantile, 0.9 unless set,
 * read at each retrain) on the engineered features of features.c, optionally on log(latency)
 * (quantiles commute with monotone maps; off by default: it extrapolates badly into saturation,
 * 144% vs 59% held-out TTFT MAPE), times a per-endpoint calibration factor c_e: the
 * tau-quantile of observed/predicted over that endpoint's samples, so that a slow replica group in
 * a heterogeneous fleet - invisible to llm-d's load-only features - still gets a p90 that covers
 * 90% of its requests. Chosen by measurement (bench/latency_model.sh, docs/slo-scheduling.md):
 * against XGBoost with llm-d's settings trained offline on the same samples it has a higher TTFT
 * coverage (0.87 vs 0.83) at a higher MAPE (59% vs 40% with the replica group as a feature),
 * predicts in ~100 ns per endpoint instead of ~10 ms per row through the Python API, and retrains
 * in ~50 ms instead of ~1.5 s, so it can retrain every second on the gateway's own spare core.
 * Small trees in C were not built: the per-endpoint calibration closes most of the gap the
 * replica-group feature closes for XGBoost.
 *
 * Snapshot publication copies the pool's seqlock (pool.c has the memory-model argument): the
 * snapshot is an array of 64-bit words written with relaxed atomic stores between an odd and an
 * even sequence number by the only writer (the trainer, or sy_latency_retrain under train_mu);
 * readers copy what they need with relaxed loads and retry if the sequence moved. A prediction
 * reads 2 x 16 coefficients, the queue guard's 2 x 16 feature bounds and wait per queued request,
 * and one endpoint slot (with the TPOT load curve, the default, its bins too): about 105 words, no
 * allocation.
 *
 * Queue guard (cfg.ttft_guard, default on; docs/slo-scheduling.md, "Model guard against queue
 * sinks"). A linear fit is only evidence inside the feature range it was fit on. In the queued
 * regime it learns TTFT concave in the queue (a negative coefficient on waiting x prefill in
 * flight, feature 11, which grows like waiting^2 since the prefill in flight grows with the
 * queue); a replica whose queue then grows past anything seen (300-900 waiting against <= ~30)
 * predicted 0.00-0.10 s, often the 10 us floor, while its requests waited 44-121 s, and the
 * headroom rules sent it more ("queue sinks"). The guarded TTFT prediction:
 *   - clamps each engineered feature to the [min, max] the TTFT fit saw;
 *   - beyond the largest waiting count the fit saw (W) cannot fall as the queue grows: it is at
 *     least the clamped prediction at waiting W (the other features as they are), plus
 *     (waiting - W) x the endpoint's wait per queued request, the median over its samples of
 *     (observed TTFT - the median TTFT at its least waiting count w0) / (waiting - w0) (w0 is 0
 *     unless it was always queued; the whole fleet's when it has fewer than EP_MIN queued): a
 *     per-request drain rate the fit cannot extrapolate itself; never above SANE_MAX_S. A fleet
 *     that has never queued has no drain rate: beyond W = 0 the prediction is the clamped fit's
 *     (flat), as without the guard.
 * Inside the range the fit is evidence and is left alone (its training samples are all inside,
 * so the calibration is unchanged). Making it monotone in waiting there too (the maximum over
 * waiting counts 0..waiting at fixed other features) was tried and dropped: it evaluates the fit
 * off the data (a long queue with no prefill in flight), which the log-target fit blows up past a
 * day on, and it lowered the held-out p90 coverage 0.55 -> 0.52 at 25 req/s through the
 * calibration. The guard costs 33 more snapshot words and one more dot product per prediction.
 * TPOT is not guarded (its load curve is monotone already).
 *
 * A fit that fails (singular, IRLS non-finite), yields a non-finite coefficient, calibration or
 * holdout error, or predicts a non-finite or absurd (a day or more) latency for any sample it was
 * fit on is counted, logged and dropped; the previous snapshot keeps serving.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "latency/latency.h"

#define NQ         5  /* queue strata: waiting 0, 1, 2-3, 4-7, 8+ */
#define NKV        20 /* KV strata, 5% steps */
#define NPX        4  /* prefix-score strata */
#define NSTRATA    (NQ * NKV * NPX)
#define HOLDOUT    512 /* holdout ring per target */
#define HOLD_EVERY 8   /* every 8th observation goes to the holdout */
#define EP_SLOTS   256 /* endpoints (x load regimes) with their own calibration */
#define EP_MIN     16  /* samples an endpoint needs for its own calibration */
#define CAL_MIN    0.2 /* calibration factor bounds */
#define CAL_MAX    5.0
#define FLOOR_S    1e-5    /* predictions never go below 10 us */
#define NBIN       32      /* load-curve bins (load_curve) */
#define BINW       8       /* requests per bin: the curve spans loads 0..255 */
#define BIN_MIN    8       /* samples a bin needs for its own quantile */
#define CURVE_MIN  64      /* samples an endpoint needs for a curve */
#define SANE_MAX_S 86400.0 /* a model predicting a day or more is degenerate */

enum { T_TTFT, T_TPOT, NT };

struct sample {
    struct sy_latency_features f; /* features at routing time */
    double y;                     /* observed seconds */
    uint64_t ep;                  /* endpoint hash */
};

struct ring {
    struct sample *s; /* cap entries, allocated on first use */
    uint32_t n;       /* filled */
    uint32_t head;    /* next write */
};

/* Snapshot word layout. */
#define W_READY   0                           /* bit0 TTFT ready, bit1 TPOT ready */
#define W_BETA(t) (1 + (t)*SY_LATENCY_NFEAT)  /* coefficients per target */
#define W_LO      (1 + NT * SY_LATENCY_NFEAT) /* TTFT guard: feature minima the fit saw */
#define W_HI      (W_LO + SY_LATENCY_NFEAT)   /* ... maxima */
#define W_QS      (W_HI + SY_LATENCY_NFEAT)   /* ... fleet's wait per queued request, s */
#define W_EP      (W_QS + 1)                  /* EP_SLOTS x slot */
/* slot: {hash, cal_ttft, cal_tpot, has TPOT curve, curve[NBIN], slope per request beyond, the
 * endpoint's TTFT wait per queued request (0: unknown)} */
#define W_SLOT (4 + NBIN + 2)
#define W_N    (W_EP + EP_SLOTS * W_SLOT)

struct sy_latency_model {
    struct sy_latency_config cfg; /* immutable after _new */

    pthread_mutex_t mu;              /* guards the buffers and counters below */
    struct ring strata[NT][NSTRATA]; /* training samples */
    struct ring hold[NT];            /* rolling holdout */
    uint64_t observed;               /* observe calls */
    uint64_t fresh;                  /* observations since the last fit */
    struct sy_latency_stats st;      /* stats (sample counts filled on read) */

    pthread_mutex_t train_mu;   /* one fit at a time (thread vs sy_latency_retrain) */
    _Atomic uint64_t seq;       /* snapshot seqlock; odd while writing */
    _Atomic uint64_t snap[W_N]; /* published snapshot, doubles bit-cast */

    _Atomic uint64_t tpot_q; /* TPOT quantile for the next fit (double bits) */

    pthread_t thr;     /* trainer */
    bool started;      /* thr is running */
    bool stop;         /* under mu: trainer exits */
    pthread_cond_t cv; /* wakes the trainer to stop */
};

static uint64_t d2w(double d)
{
    uint64_t w;
    memcpy(&w, &d, sizeof w);
    return w;
}

static double w2d(uint64_t w)
{
    double d;
    memcpy(&d, &w, sizeof d);
    return d;
}

void sy_latency_config_default(struct sy_latency_config *c)
{
    *c = (struct sy_latency_config){.quantile = 0.9,
                                    .min_samples = 100,
                                    .bucket_cap = 500,
                                    .retrain_ms = 1000,
                                    .max_train = 8192,
                                    .log_target = false,
                                    .per_endpoint = true,
                                    .load_curve = true,
                                    .ttft_guard = true};
}

struct sy_latency_model *sy_latency_model_new(const struct sy_latency_config *cfg)
{
    struct sy_latency_model *m = SY_NEW(struct sy_latency_model);
    if (cfg)
        m->cfg = *cfg;
    else
        sy_latency_config_default(&m->cfg);
    if (!(m->cfg.quantile > 0.0 && m->cfg.quantile < 1.0))
        m->cfg.quantile = 0.9;
    if (m->cfg.bucket_cap == 0)
        m->cfg.bucket_cap = 64;
    if (m->cfg.min_samples < 8)
        m->cfg.min_samples = 8;
    if (m->cfg.max_train < m->cfg.min_samples)
        m->cfg.max_train = m->cfg.min_samples;
    if (m->cfg.retrain_ms == 0)
        m->cfg.retrain_ms = 1000;
    if (!(m->cfg.tpot_quantile > 0.0 && m->cfg.tpot_quantile < 1.0))
        m->cfg.tpot_quantile = 0.0;
    atomic_init(&m->tpot_q, d2w(m->cfg.tpot_quantile > 0 ? m->cfg.tpot_quantile : m->cfg.quantile));
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->train_mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->st.mape_ttft = m->st.mape_tpot = m->st.coverage_ttft = m->st.coverage_tpot = -1.0;
    m->st.quantile_ttft = m->st.quantile_tpot = -1.0;
    return m;
}

void sy_latency_model_free(struct sy_latency_model *m)
{
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thr, NULL);
    }
    for (int t = 0; t < NT; t++) {
        for (int s = 0; s < NSTRATA; s++)
            free(m->strata[t][s].s);
        free(m->hold[t].s);
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->train_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int stratum(const struct sy_latency_features *f)
{
    int q = f->waiting == 0 ? 0 : f->waiting == 1 ? 1 : f->waiting < 4 ? 2 : f->waiting < 8 ? 3 : 4;
    double kv = f->kv_util >= 0.0 ? f->kv_util : 0.0;
    int k = (int)(kv * NKV);
    k = k < 0 ? 0 : k >= NKV ? NKV - 1 : k;
    double px = f->prefix_score >= 0.0 ? f->prefix_score : 0.0;
    int p = (int)(px * NPX);
    p = p < 0 ? 0 : p >= NPX ? NPX - 1 : p;
    return (q * NKV + k) * NPX + p;
}

static void ring_push(struct ring *r, uint32_t cap, const struct sample *s)
{
    if (!r->s)
        r->s = sy_xcalloc(cap, sizeof(struct sample));
    r->s[r->head] = *s;
    r->head = (r->head + 1) % cap;
    if (r->n < cap)
        r->n++;
}

/* The calibration key of a sample: its endpoint, and with per_regime also its load regime (idle,
 * busy, queued), so an endpoint's factor is learned separately where one linear fit is worst. */
static uint64_t ep_hash(const struct sy_latency_model *m, const char *endpoint,
                        const struct sy_latency_features *f)
{
    uint64_t h = endpoint ? XXH3_64bits(endpoint, strlen(endpoint)) : 0;
    if (m->cfg.per_regime) {
        uint64_t r = f->waiting > 0 ? 2 : f->running < 4 ? 0 : 1;
        h ^= (r + 1) * 0x9E3779B97F4A7C15ull;
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

void sy_latency_observe(struct sy_latency_model *m, const char *endpoint,
                        const struct sy_latency_features *f, double ttft_s, double tpot_s)
{
    struct sample s = {.f = *f, .ep = ep_hash(m, endpoint, f)};
    pthread_mutex_lock(&m->mu);
    bool hold = m->observed++ % HOLD_EVERY == HOLD_EVERY - 1;
    double ys[NT] = {ttft_s, tpot_s};
    for (int t = 0; t < NT; t++) {
        if (!(isfinite(ys[t]) && ys[t] > 0.0))
            continue;
        s.y = ys[t];
        s.f.tokens_generated = t == T_TTFT ? 0 : f->tokens_generated;
        if (hold)
            ring_push(&m->hold[t], HOLDOUT, &s);
        else
            ring_push(&m->strata[t][stratum(f)], m->cfg.bucket_cap, &s);
        m->fresh++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* Number of training samples held for target t; caller holds mu. */
static size_t held(const struct sy_latency_model *m, int t)
{
    size_t n = 0;
    for (int s = 0; s < NSTRATA; s++)
        n += m->strata[t][s].n;
    return n;
}

/* Copies up to max training samples of target t (evenly strided) into a new array; caller holds
 * mu and frees *out. */
static size_t copy_train(const struct sy_latency_model *m, int t, size_t max, struct sample **out)
{
    size_t total = held(m, t);
    size_t n = total < max ? total : max;
    *out = NULL;
    if (n == 0)
        return 0;
    struct sample *v = sy_xmalloc(n * sizeof *v);
    size_t k = 0, idx = 0;
    for (int s = 0; s < NSTRATA && k < n; s++) {
        const struct ring *r = &m->strata[t][s];
        for (uint32_t i = 0; i < r->n && k < n; i++, idx++)
            if ((idx * n) / total != ((idx + 1) * n) / total) /* keep n of total, evenly */
                v[k++] = r->s[i];
    }
    *out = v;
    return k;
}

static double raw_predict(const double *beta, const double *x, bool logt)
{
    double p = 0.0;
    for (int k = 0; k < SY_LATENCY_NFEAT; k++)
        p += beta[k] * x[k];
    if (logt)
        p = exp(p > 50.0 ? 50.0 : p);
    return p > FLOOR_S ? p : FLOOR_S;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_ep(const void *a, const void *b)
{
    uint64_t x = ((const struct sample *)a)->ep, y = ((const struct sample *)b)->ep;
    return x < y ? -1 : x > y;
}

struct fit {
    bool ok;          /* beta valid */
    bool tau_is_ttft; /* the TTFT fit (the guard applies) */
    double tau;       /* the quantile fitted */
    double beta[SY_LATENCY_NFEAT];
    size_t nep;                   /* calibrated endpoints */
    uint64_t ep[EP_SLOTS];        /* their hashes */
    double cal[EP_SLOTS];         /* their factors */
    bool has_curve[EP_SLOTS];     /* load_curve: the endpoint has a load curve */
    double curve[EP_SLOTS][NBIN]; /* ... its p90 at each bin centre (monotone) */
    double slope[EP_SLOTS];       /* ... its growth per request beyond the last bin */
    double lo[SY_LATENCY_NFEAT];  /* TTFT guard: feature range of the fit's samples */
    double hi[SY_LATENCY_NFEAT];
    double qs;              /* ... fleet's wait per queued request (0: none queued) */
    double qs_ep[EP_SLOTS]; /* ... each endpoint's (0: fewer than EP_MIN queued) */
};

/* The guard's inputs for one prediction (read from a fit or the snapshot). */
struct guard {
    const double *lo, *hi; /* feature range */
    double qs;             /* wait per queued request: the endpoint's, else the fleet's */
};

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The wait each queued request adds, from the samples v[n] (ratio: scratch of n): with w0 the
 * least waiting count among them (0 unless the endpoint was always queued) and base the median
 * TTFT of the samples at w0, the median over the samples with more waiting of
 * max(0, TTFT - base) / (waiting - w0). Observed TTFT / waiting alone would count a request's own
 * prefill and the batch it joins once per request ahead (review: 8 s + 0.05 s per waiting
 * request, seen at 1-3 waiting, gave ~4 s per request and 1209 s at 300 waiting); a base taken
 * from the least queued TTFT alone would subtract most of an always-queued endpoint's queue wait
 * (review: 40% short at 300 waiting when every sample had 50-100 waiting). 0 when fewer than min
 * samples are queued, or none waits longer than w0. */
static double queue_wait(const struct sample *v, size_t n, size_t min, double *ratio)
{
    size_t queued = 0;
    uint32_t w0 = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        queued += v[i].f.waiting > 0;
        if (v[i].f.waiting < w0)
            w0 = v[i].f.waiting;
    }
    if (queued < min || queued == 0)
        return 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].f.waiting == w0)
            ratio[k++] = v[i].y;
    qsort(ratio, k, sizeof(double), cmp_double);
    double base = ratio[k / 2];
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].f.waiting > w0)
            ratio[k++] = v[i].y > base ? (v[i].y - base) / (double)(v[i].f.waiting - w0) : 0.0;
    if (!k)
        return 0.0;
    qsort(ratio, k, sizeof(double), cmp_double);
    return ratio[k / 2];
}

/* The clamped fit's linear predictor for f at waiting count w (queued when w > 0): the features
 * come from features.c, so the guard knows no feature's position. */
static double clamped_lin(const double *beta, const struct guard *g,
                          const struct sy_latency_features *f, uint32_t w)
{
    struct sy_latency_features at = *f;
    at.waiting = w;
    at.queued = f->queued || w > 0;
    double x[SY_LATENCY_NFEAT];
    sy_latency__features(&at, x);
    double p = beta[0];
    for (int k = 1; k < SY_LATENCY_NFEAT; k++)
        p += beta[k] * clampd(x[k], g->lo[k], g->hi[k]);
    return p;
}

/* The guarded TTFT prediction (model.c top comment): the fit with features clamped to [lo, hi],
 * times cal; beyond the largest waiting count seen W (the waiting feature's hi), at least the
 * prediction at W plus qs per request waiting beyond W. */
static double guarded_ttft(const double *beta, const struct guard *g, double cal,
                           const struct sy_latency_features *f, bool logt)
{
    double W = g->hi[SY_LATENCY_FEAT_WAITING];
    bool beyond = (double)f->waiting > W;
    double lin = clamped_lin(beta, g, f, f->waiting);
    if (beyond) {
        double edge = clamped_lin(beta, g, f, (uint32_t)W);
        lin = edge > lin ? edge : lin;
    }
    if (logt)
        lin = exp(lin > 50.0 ? 50.0 : lin);
    double p = (lin > FLOOR_S ? lin : FLOOR_S) * cal;
    if (beyond)
        p += g->qs * ((double)f->waiting - W);
    return p < SANE_MAX_S ? p : SANE_MAX_S; /* a bogus scrape of 4e9 waiting: a day, no more */
}

/* A sample's load for the curve: requests running and waiting on the endpoint. */
static double load_of(const struct sy_latency_features *f)
{
    return (double)f->running + (double)f->waiting;
}

/* The curve at load L: linear between bin centres, flat below the first, linear beyond the last
 * with the learned slope. */
static double curve_eval(const double *curve, double slope, double L)
{
    double u = L / BINW - 0.5;
    if (u <= 0.0)
        return curve[0];
    if (u < NBIN - 1) {
        int b = (int)u;
        double a = u - b;
        return curve[b] * (1.0 - a) + curve[b + 1] * a;
    }
    return curve[NBIN - 1] + slope * (L - (NBIN - 0.5) * BINW);
}

/* Builds an endpoint's load curve from its n samples: the tau-quantile per load bin (bins with
 * fewer than BIN_MIN samples are interpolated from their neighbours), made non-decreasing (more
 * load never predicts less latency), extrapolated beyond the last populated bin with the slope of
 * the populated span. Returns false when fewer than two bins are populated. */
static bool build_curve(const struct sample *v, size_t n, double tau, double *curve, double *slope)
{
    size_t cnt[NBIN] = {0}, off[NBIN + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = (int)(load_of(&v[i].f) / BINW);
        cnt[b < NBIN ? b : NBIN - 1]++;
    }
    for (int b = 0; b < NBIN; b++)
        off[b + 1] = off[b] + cnt[b];
    double *y = sy_xmalloc(n * sizeof(double));
    size_t fill[NBIN];
    memcpy(fill, off, sizeof fill);
    for (size_t i = 0; i < n; i++) {
        int b = (int)(load_of(&v[i].f) / BINW);
        y[fill[b < NBIN ? b : NBIN - 1]++] = v[i].y;
    }
    int first = -1, last = -1, populated = 0;
    bool have[NBIN] = {0};
    for (int b = 0; b < NBIN; b++) {
        if (cnt[b] < BIN_MIN)
            continue;
        qsort(y + off[b], cnt[b], sizeof(double), cmp_double);
        curve[b] = y[off[b] + (size_t)(tau * (double)(cnt[b] - 1))];
        have[b] = true;
        populated++;
        first = first < 0 ? b : first;
        last = b;
    }
    free(y);
    if (populated < 2)
        return false;
    for (int b = 0; b < first; b++)
        curve[b] = curve[first];
    for (int b = first + 1; b < last; b++) {
        if (have[b])
            continue;
        int nx = b + 1;
        while (!have[nx])
            nx++;
        double a = (double)(b - (b - 1)) / (double)(nx - (b - 1));
        curve[b] = curve[b - 1] + (curve[nx] - curve[b - 1]) * a;
    }
    for (int b = 1; b <= last; b++)
        curve[b] = curve[b] > curve[b - 1] ? curve[b] : curve[b - 1];
    double per_bin = (curve[last] - curve[first]) / (double)(last - first);
    for (int b = last + 1; b < NBIN; b++)
        curve[b] = curve[last] + per_bin * (double)(b - last);
    *slope = per_bin / BINW;
    for (int b = 0; b < NBIN; b++)
        if (!isfinite(curve[b]))
            return false;
    return isfinite(*slope);
}

struct group {
    uint64_t ep;   /* endpoint hash */
    size_t lo, hi; /* its samples [lo, hi) */
};

void sy_latency_set_tpot_quantile(struct sy_latency_model *m, double q)
{
    if (q == 0.0)
        q = sy_latency_tpot_quantile_configured(m);
    if (!(q > 0.0 && q < 1.0))
        return;
    atomic_store_explicit(&m->tpot_q, d2w(q), memory_order_relaxed);
}

double sy_latency_tpot_quantile_configured(const struct sy_latency_model *m)
{
    return m->cfg.tpot_quantile > 0 ? m->cfg.tpot_quantile : m->cfg.quantile;
}

double sy_latency_tpot_quantile(const struct sy_latency_model *m)
{
    return w2d(atomic_load_explicit(&m->tpot_q, memory_order_relaxed));
}

/* Fits target t on v[n] (sorted by endpoint afterwards) at its quantile (TPOT: the tpot_q
 * setting). Returns 0 or SY_EINVAL. */
static int fit_target(const struct sy_latency_model *m, int t, struct sample *v, size_t n,
                      struct fit *out)
{
    double tau = t == T_TPOT ? sy_latency_tpot_quantile(m) : m->cfg.quantile;
    out->tau = tau;
    out->tau_is_ttft = t == T_TTFT;
    bool logt = m->cfg.log_target, curve = m->cfg.load_curve && t == T_TPOT;
    double *X = sy_xmalloc(n * SY_LATENCY_NFEAT * sizeof(double));
    double *y = sy_xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        sy_latency__features(&v[i].f, X + i * SY_LATENCY_NFEAT);
        y[i] = logt ? log(v[i].y) : v[i].y;
    }
    int rc = sy_latency__qreg_fit(X, y, n, SY_LATENCY_NFEAT, tau, out->beta);
    out->nep = 0;
    for (int k = 0; t == T_TTFT && k < SY_LATENCY_NFEAT; k++) { /* the guard's range */
        out->lo[k] = INFINITY;
        out->hi[k] = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double xk = X[i * SY_LATENCY_NFEAT + k];
            out->lo[k] = xk < out->lo[k] ? xk : out->lo[k];
            out->hi[k] = xk > out->hi[k] ? xk : out->hi[k];
        }
    }
    out->qs = t == T_TTFT ? queue_wait(v, n, 1, y) : 0.0; /* y is spent: the fit is done */
    if (rc == 0 && m->cfg.per_endpoint) {
        /* per endpoint with >= EP_MIN samples (the first EP_SLOTS by hash): tau-quantile of
         * observed / predicted */
        qsort(v, n, sizeof *v, cmp_ep);
        double *ratio = y; /* reuse */
        struct group groups[EP_SLOTS * 4];
        size_t ng = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && v[j].ep == v[i].ep)
                j++;
            if (j - i >= EP_MIN && ng < sizeof groups / sizeof groups[0])
                groups[ng++] = (struct group){v[i].ep, i, j};
            i = j;
        }
        for (size_t g = 0; g < ng && out->nep < EP_SLOTS; g++) {
            size_t cnt = groups[g].hi - groups[g].lo;
            size_t k = out->nep;
            out->has_curve[k] =
                curve && cnt >= CURVE_MIN &&
                build_curve(v + groups[g].lo, cnt, tau, out->curve[k], &out->slope[k]);
            for (size_t i = 0; i < cnt; i++) {
                double x[SY_LATENCY_NFEAT];
                const struct sample *s = &v[groups[g].lo + i];
                sy_latency__features(&s->f, x);
                ratio[i] = s->y / raw_predict(out->beta, x, logt);
            }
            qsort(ratio, cnt, sizeof(double), cmp_double);
            double c = ratio[(size_t)(tau * (double)(cnt - 1))];
            if (!isfinite(c)) {
                rc = SY_EINVAL;
                break;
            }
            c = c < CAL_MIN ? CAL_MIN : c > CAL_MAX ? CAL_MAX : c;
            out->qs_ep[out->nep] =
                t == T_TTFT ? queue_wait(v + groups[g].lo, cnt, EP_MIN, ratio) : 0.0;
            out->ep[out->nep] = groups[g].ep;
            out->cal[out->nep++] = c;
        }
    }
    free(X);
    free(y);
    out->ok = rc == 0;
    return rc;
}

static double lookup_cal(const struct fit *f, uint64_t ep)
{
    for (size_t i = 0; i < f->nep; i++)
        if (f->ep[i] == ep)
            return f->cal[i];
    return 1.0;
}

static ssize_t lookup_ep(const struct fit *f, uint64_t ep)
{
    for (size_t i = 0; i < f->nep; i++)
        if (f->ep[i] == ep)
            return (ssize_t)i;
    return -1;
}

/* Prediction of fit f for sample s (the arithmetic sy_latency_predict does on the snapshot). */
static double fit_predict(const struct sy_latency_model *m, const struct fit *f,
                          const struct sample *s)
{
    ssize_t i = lookup_ep(f, s->ep);
    if (i >= 0 && f->has_curve[i]) {
        double p = curve_eval(f->curve[i], f->slope[i], load_of(&s->f));
        return p > FLOOR_S ? p : FLOOR_S;
    }
    double cal = i >= 0 ? f->cal[i] : 1.0;
    if (m->cfg.ttft_guard && f->tau_is_ttft) {
        struct guard g = {f->lo, f->hi, i >= 0 && f->qs_ep[i] > 0 ? f->qs_ep[i] : f->qs};
        return guarded_ttft(f->beta, &g, cal, &s->f, m->cfg.log_target);
    }
    double x[SY_LATENCY_NFEAT];
    sy_latency__features(&s->f, x);
    return raw_predict(f->beta, x, m->cfg.log_target) * cal;
}

/* Writes the snapshot (caller holds train_mu: the only writer). */
static void publish(struct sy_latency_model *m, const struct fit *fits)
{
    uint64_t *w = sy_xcalloc(W_N, sizeof *w);
    for (int t = 0; t < NT; t++) {
        if (!fits[t].ok)
            continue;
        w[W_READY] |= 1u << t;
        for (int k = 0; k < SY_LATENCY_NFEAT; k++)
            w[W_BETA(t) + k] = d2w(fits[t].beta[k]);
    }
    for (int k = 0; k < SY_LATENCY_NFEAT; k++) {
        w[W_LO + k] = d2w(fits[T_TTFT].lo[k]);
        w[W_HI + k] = d2w(fits[T_TTFT].hi[k]);
    }
    w[W_QS] = d2w(fits[T_TTFT].qs);
    /* endpoint table: open addressing on the union of both targets' endpoints */
    for (int t = 0; t < NT; t++) {
        if (!fits[t].ok)
            continue;
        for (size_t i = 0; i < fits[t].nep; i++) {
            uint64_t h = fits[t].ep[i];
            for (int p = 0; p < EP_SLOTS; p++) {
                size_t slot = (size_t)((h + (uint64_t)p) % EP_SLOTS);
                uint64_t *e = &w[W_EP + slot * W_SLOT];
                if (e[0] != 0 && e[0] != h)
                    continue;
                if (e[0] == 0) {
                    e[0] = h;
                    e[1] = d2w(fits[T_TTFT].ok ? lookup_cal(&fits[T_TTFT], h) : 1.0);
                    ssize_t q = fits[T_TTFT].ok ? lookup_ep(&fits[T_TTFT], h) : -1;
                    e[5 + NBIN] = d2w(q >= 0 ? fits[T_TTFT].qs_ep[q] : 0.0);
                    e[2] = d2w(fits[T_TPOT].ok ? lookup_cal(&fits[T_TPOT], h) : 1.0);
                    ssize_t c = fits[T_TPOT].ok ? lookup_ep(&fits[T_TPOT], h) : -1;
                    if (c >= 0 && fits[T_TPOT].has_curve[c]) {
                        e[3] = 1;
                        for (int b = 0; b < NBIN; b++)
                            e[4 + b] = d2w(fits[T_TPOT].curve[c][b]);
                        e[4 + NBIN] = d2w(fits[T_TPOT].slope[c]);
                    }
                }
                break;
            }
        }
    }
    uint64_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < W_N; i++)
        atomic_store_explicit(&m->snap[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 2, memory_order_release);
    free(w);
}

/* Reads the snapshot words needed for endpoint h: ready bits, both betas, both calibrations. */
static uint64_t read_snap(const struct sy_latency_model *m, uint64_t h,
                          double beta[NT][SY_LATENCY_NFEAT], double cal[NT], bool *has_curve,
                          double curve[NBIN + 1], double lo[SY_LATENCY_NFEAT],
                          double hi[SY_LATENCY_NFEAT], double *qs)
{
    for (;;) {
        uint64_t s0 = atomic_load_explicit(&m->seq, memory_order_acquire);
        if (s0 & 1)
            continue;
        uint64_t ready = atomic_load_explicit(&m->snap[W_READY], memory_order_relaxed);
        for (int t = 0; t < NT; t++)
            for (int k = 0; k < SY_LATENCY_NFEAT; k++)
                beta[t][k] =
                    w2d(atomic_load_explicit(&m->snap[W_BETA(t) + k], memory_order_relaxed));
        for (int k = 0; lo && k < SY_LATENCY_NFEAT; k++) {
            lo[k] = w2d(atomic_load_explicit(&m->snap[W_LO + k], memory_order_relaxed));
            hi[k] = w2d(atomic_load_explicit(&m->snap[W_HI + k], memory_order_relaxed));
        }
        *qs = w2d(atomic_load_explicit(&m->snap[W_QS], memory_order_relaxed));
        cal[0] = cal[1] = 1.0;
        *has_curve = false;
        for (int p = 0; p < EP_SLOTS; p++) {
            size_t slot = (size_t)((h + (uint64_t)p) % EP_SLOTS);
            const _Atomic uint64_t *e = &m->snap[W_EP + slot * W_SLOT];
            uint64_t eh = atomic_load_explicit(&e[0], memory_order_relaxed);
            if (eh == 0)
                break;
            if (eh == h) {
                cal[0] = w2d(atomic_load_explicit(&e[1], memory_order_relaxed));
                cal[1] = w2d(atomic_load_explicit(&e[2], memory_order_relaxed));
                *has_curve = atomic_load_explicit(&e[3], memory_order_relaxed) != 0;
                double qe = w2d(atomic_load_explicit(&e[5 + NBIN], memory_order_relaxed));
                *qs = qe > 0 ? qe : *qs;
                for (int b = 0; *has_curve && b <= NBIN; b++)
                    curve[b] = w2d(atomic_load_explicit(&e[4 + b], memory_order_relaxed));
                break;
            }
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) == s0)
            return ready;
    }
}

bool sy_latency_ready(const struct sy_latency_model *m)
{
    return atomic_load_explicit(&m->snap[W_READY], memory_order_acquire) & 1u;
}

int sy_latency_predict(const struct sy_latency_model *m, const char *endpoint,
                       const struct sy_latency_features *f, double *ttft_s, double *tpot_s)
{
    double beta[NT][SY_LATENCY_NFEAT], cal[NT], curve[NBIN + 1], lo[SY_LATENCY_NFEAT],
        hi[SY_LATENCY_NFEAT], qs;
    bool has_curve, guard = m->cfg.ttft_guard && ttft_s;
    uint64_t ready = read_snap(m, ep_hash(m, endpoint, f), beta, cal, &has_curve, curve,
                               guard ? lo : NULL, hi, &qs);
    if (!(ready & 1u))
        return SY_EBUSY;
    struct sy_latency_features g = *f;
    double x[SY_LATENCY_NFEAT];
    if (ttft_s) {
        g.tokens_generated = 0;
        if (guard) {
            struct guard gd = {lo, hi, qs};
            *ttft_s = guarded_ttft(beta[T_TTFT], &gd, cal[T_TTFT], &g, m->cfg.log_target);
        } else {
            sy_latency__features(&g, x);
            *ttft_s = raw_predict(beta[T_TTFT], x, m->cfg.log_target) * cal[T_TTFT];
        }
    }
    if (tpot_s) {
        if (!(ready & 2u)) {
            *tpot_s = -1.0; /* no TPOT model yet */
        } else if (has_curve) {
            double p = curve_eval(curve, curve[NBIN], load_of(f));
            *tpot_s = p > FLOOR_S ? p : FLOOR_S;
        } else {
            g.tokens_generated = f->tokens_generated;
            sy_latency__features(&g, x);
            *tpot_s = raw_predict(beta[T_TPOT], x, m->cfg.log_target) * cal[T_TPOT];
        }
    }
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Holdout MAPE and coverage of fit f for target t; hold[n] copied from the ring. */
static void evaluate(const struct sy_latency_model *m, const struct fit *f,
                     const struct sample *hold, size_t n, double *mape, double *cov)
{
    *mape = *cov = -1.0;
    if (!f->ok || n == 0)
        return;
    double e = 0.0, c = 0.0;
    for (size_t i = 0; i < n; i++) {
        double p = fit_predict(m, f, &hold[i]);
        e += fabs(p - hold[i].y) / hold[i].y;
        c += hold[i].y <= p;
    }
    *mape = e / (double)n;
    *cov = c / (double)n;
}

/* A usable model predicts finite latencies under SANE_MAX_S on every sample it was fit on. */
static bool sane(const struct sy_latency_model *m, const struct fit *f, const struct sample *v,
                 size_t n)
{
    for (int k = 0; k < SY_LATENCY_NFEAT; k++)
        if (!isfinite(f->beta[k]))
            return false;
    for (size_t i = 0; i < n; i++) {
        double p = fit_predict(m, f, &v[i]);
        if (!(isfinite(p) && p < SANE_MAX_S))
            return false;
    }
    return true;
}

int sy_latency_retrain(struct sy_latency_model *m)
{
    pthread_mutex_lock(&m->train_mu);
    struct sample *v[NT] = {0}, *h[NT] = {0};
    size_t n[NT] = {0}, nh[NT] = {0};
    pthread_mutex_lock(&m->mu);
    for (int t = 0; t < NT; t++) {
        n[t] = copy_train(m, t, m->cfg.max_train, &v[t]);
        nh[t] = m->hold[t].n;
        if (nh[t]) {
            h[t] = sy_xmalloc(nh[t] * sizeof(struct sample));
            memcpy(h[t], m->hold[t].s, nh[t] * sizeof(struct sample));
        }
    }
    m->fresh = 0;
    pthread_mutex_unlock(&m->mu);

    int rc = 0;
    double t0 = cpu_now();
    struct fit *fits = sy_xcalloc(NT, sizeof *fits); /* ~40 KB: not on the stack */
    double mape[NT] = {-1, -1}, cov[NT] = {-1, -1};
    if (n[T_TTFT] < m->cfg.min_samples) {
        rc = SY_EBUSY;
        goto out;
    }
    for (int t = 0; t < NT; t++) {
        if (n[t] < m->cfg.min_samples)
            continue;
        if (fit_target(m, t, v[t], n[t], &fits[t]) != 0) {
            fits[t].ok = false;
            continue;
        }
        evaluate(m, &fits[t], h[t], nh[t], &mape[t], &cov[t]);
        if (!sane(m, &fits[t], v[t], n[t]))
            fits[t].ok = false;
        if (nh[t] && !isfinite(mape[t]))
            fits[t].ok = false;
    }
    bool failed = !fits[T_TTFT].ok || (n[T_TPOT] >= m->cfg.min_samples && !fits[T_TPOT].ok);
    if (failed) {
        sy_warn("latency model: fit failed or non-finite (ttft n=%zu, tpot n=%zu); discarded",
                n[T_TTFT], n[T_TPOT]);
        pthread_mutex_lock(&m->mu);
        m->st.failed++;
        pthread_mutex_unlock(&m->mu);
        rc = SY_EINVAL;
        goto out;
    }
    publish(m, fits);
    double dt = cpu_now() - t0;
    pthread_mutex_lock(&m->mu);
    m->st.retrains++;
    m->st.last_retrain_unix = (double)time(NULL);
    m->st.last_train_s = dt;
    m->st.mape_ttft = fits[T_TTFT].ok ? mape[T_TTFT] : -1.0;
    m->st.coverage_ttft = fits[T_TTFT].ok ? cov[T_TTFT] : -1.0;
    m->st.mape_tpot = fits[T_TPOT].ok ? mape[T_TPOT] : -1.0;
    m->st.coverage_tpot = fits[T_TPOT].ok ? cov[T_TPOT] : -1.0;
    m->st.quantile_ttft = fits[T_TTFT].tau;
    m->st.quantile_tpot = fits[T_TPOT].ok ? fits[T_TPOT].tau : -1.0;
    pthread_mutex_unlock(&m->mu);
out:
    for (int t = 0; t < NT; t++) {
        free(v[t]);
        free(h[t]);
    }
    free(fits);
    pthread_mutex_unlock(&m->train_mu);
    return rc;
}

static void *trainer(void *arg)
{
    struct sy_latency_model *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)m->cfg.retrain_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        if (m->stop || m->fresh == 0)
            continue;
        pthread_mutex_unlock(&m->mu);
        (void)sy_latency_retrain(m);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int sy_latency_model_start(struct sy_latency_model *m)
{
    if (m->started)
        return 0;
    if (pthread_create(&m->thr, NULL, trainer, m) != 0)
        return SY_EIO;
    m->started = true;
    return 0;
}

void sy_latency_stats(struct sy_latency_model *m, struct sy_latency_stats *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->st;
    out->samples_ttft = held(m, T_TTFT);
    out->samples_tpot = held(m, T_TPOT);
    out->observed = m->observed;
    pthread_mutex_unlock(&m->mu);
}
