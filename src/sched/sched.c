/* sched.c - the scheduling pipeline: candidates -> producers -> filters -> scorers -> picker.
 *
 * One call of sy_sched_pick is one llm-d scheduling cycle:
 *
 *   pool->eps[0..n)  --skip excluded / model not served / not ready-->  cands[0..m)  (snapshots)
 *   producers (every configured one, once)        cy->prefix[] etc.
 *   admission plugins (latency-slo-admitter)      all candidates kept, or none: SY_EADMISSION
 *   profile handler  single-profile-handler: profiles[0], filtered in place;
 *                    multi-profile (P/D, header): next_profile -> run -> ... -> result, each run
 *                    on its own copy of the snapshot (the decode run, then maybe the prefill run)
 *   filters          cands compacted in place, pool order kept; empty -> SY_ENOENDPOINT
 *   scorers          scores[k][i] clamped to [0,1]; totals[i] = sum_k weight_k * scores[k][i]
 *   picker           index into cands
 *   reserve          (sy_sched_pick_reserve / _pick_charge) the caller takes the chosen slot; a
 *                    refusal undoes the decision with the done hooks' cleanup only and decides
 *                    again (at most SY_SCHED_CHARGE_TRIES), so nothing below sees a losing pick
 *   pre_request      every plugin that has the hook; then the decision is counted and recorded
 *
 * Candidates are read with sy_endpoint_read: one lock-free seqlock read per endpoint does the
 * model check and copies the scalar state (~100 bytes); the LoRA adapter lists (512 bytes) are
 * copied, in the same read, only when a configured plugin needs_loras.
 *
 * All per-request memory is one allocation (struct cycle + candidate snapshots + score matrix +
 * LoRA lists + prefix array), kept until sy_sched_done so the explanation header can be produced
 * after the pick and `done` hooks see the same cycle. The scheduler itself is immutable after
 * sy_sched_new; the only shared mutable state here is the decision ring (a mutex, one short copy
 * per decision) and the per-cycle seed counter (atomics; each cycle's seed mixes in the clock
 * unless a benchmark fixed the sequence with sy_sched_seed, so runs repeat exactly).
 *
 * Timing: clock_gettime is called only when metrics are attached, so a scheduler without
 * metrics (benchmarks, unit tests) pays nothing for observability except the decision ring.
 *
 * Rejected: running producers per profile (llm-d runs DataProducers once, before the scheduler);
 * copying the request into the cycle (the request view outlives the cycle by contract); keeping
 * the producers' output for a decision made again after a lost reservation (the snapshot must be
 * fresh, the output lives in the block the lost decision frees, and such decisions are rare and
 * bounded by SY_SCHED_CHARGE_TRIES).
 */
#include "sched/sched.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "metrics/metrics.h"
#include "sched/inflight.h"
#include "sched/internal.h"
#include "sched/plugin.h"

#define SY_SCHED_MAX_RUNS 4 /* profile runs per cycle (decode, prefill, and headroom) */

/* One profile run: its own survivors, scores and pick. */
struct prun {
    const struct sy_sched_profile *prof;  /* profile that ran */
    struct sy_sched_candidate *cands;     /* survivors of the filters, [n] */
    size_t n;                             /* candidates after filtering */
    double *scores;                       /* [prof->nscorers * n], row per scorer */
    double *totals;                       /* [n] */
    size_t chosen;                        /* index into cands */
    bool picked;                          /* a candidate was chosen */
    void *mem;                            /* owned block of a multi-profile run, or NULL */
    int64_t cap_requests, cap_tokens;     /* bounds its filters applied (sy_sched_cycle) */
    int64_t limit_requests, limit_tokens; /* the same, also those a filter failed open on */
    bool failed_open;                     /* a filter failed open (cy->failed_open) */
};

/* Per-request state: the public cycle first, so plugins' pointer is ours. The primary fields
 * (prof .. picked) describe the run that serves the request (explanations, debug ring, done). */
struct cycle {
    struct sy_sched_cycle cy;            /* what plugins see */
    struct sy_scheduler *s;              /* owner */
    const struct sy_sched_profile *prof; /* primary profile */
    struct sy_sched_candidate *cands;    /* primary run's survivors, [n] */
    size_t n;                            /* candidates after filtering */
    double *scores;                      /* [prof->nscorers * n], row per scorer */
    double *totals;                      /* [n] */
    size_t chosen;                       /* index into cands */
    bool picked;                         /* a candidate was chosen */
    struct sy_sched_candidate *base;     /* multi-profile: the snapshot every run starts from */
    size_t nbase;                        /* its length */
    struct prun runs[SY_SCHED_MAX_RUNS]; /* profile runs in order */
    size_t nruns;
    size_t prefill_run; /* index into runs of the P/D prefill run, or SY_SCHED_NONE */
};

static _Atomic uint64_t seed_counter = 0x9e3779b97f4a7c15ULL; /* per-cycle seeds */
static _Atomic bool seed_fixed; /* sy_sched_seed: the seeds ignore the clock (benchmarks) */
static _Atomic bool warned_cap; /* pool larger than the cap */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void sy_sched_seed(uint64_t seed)
{
    atomic_store_explicit(&seed_counter, seed, memory_order_relaxed);
    atomic_store_explicit(&seed_fixed, true, memory_order_relaxed);
}

bool sy_sched_run_keeps(struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    const struct sy_sched_profile *prof = cy->run_profile;
    for (size_t f = 0; prof && f < prof->nfilters; f++) {
        const struct sy_sched_plugin *p = prof->filters[f];
        if (p->ops->keeps && !p->ops->keeps(p->state, cy, ep))
            return false;
    }
    return true;
}

double sy_sched_rand(struct sy_sched_cycle *cy)
{
    uint64_t x = cy->rng ? cy->rng : 0x2545f4914f6cdd1dULL; /* xorshift64* must not be 0 */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    cy->rng = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
}

size_t sy_sched_profile_count(const struct sy_sched_cycle *cy)
{
    return ((const struct cycle *)cy)->s->nprofiles;
}

const char *sy_sched_profile_name(const struct sy_sched_cycle *cy, size_t i)
{
    const struct sy_scheduler *s = ((const struct cycle *)cy)->s;
    return i < s->nprofiles ? s->profiles[i].name : "";
}

const struct sy_endpoint *sy_sched_profile_pick(const struct sy_sched_cycle *cy, const char *name)
{
    if (!cy->scheduled)
        return NULL;
    const struct cycle *c = (const struct cycle *)cy;
    for (size_t i = 0; name && i < c->nruns; i++) {
        const struct prun *r = &c->runs[i];
        if (!strcmp(r->prof->name, name))
            return r->picked ? r->cands[r->chosen].ep : NULL;
    }
    return NULL;
}

bool sy_sched_profile_is_prefill(const struct sy_sched_cycle *cy, const char *name)
{
    if (!cy->scheduled || !name)
        return false;
    const struct cycle *c = (const struct cycle *)cy;
    return c->prefill_run < c->nruns && !strcmp(c->runs[c->prefill_run].prof->name, name);
}

static const char *const ext_names[SY_SCHED_EXT_COUNT] = {
    "PrepareData", "Filter", "Scorer", "Picker", "PreRequest", "ResponseComplete"};

static inline uint64_t tstart(const struct sy_scheduler *s)
{
    return s->e2e ? sy_now_ns() : 0;
}

static inline void tend(struct sy_metric *h, uint64_t t0)
{
    if (h)
        sy_metric_observe(h, (double)(sy_now_ns() - t0) / 1e9);
}

struct sy_scheduler *sy_sched_new(const struct sy_yaml_node *cfg, const char *file, char *err,
                                  size_t errcap)
{
    struct sy_scheduler *s = SY_NEW(struct sy_scheduler);
    pthread_mutex_init(&s->ring_mu, NULL);
    if (sy_sched__load(s, cfg, file, err, errcap) != 0) {
        sy_sched_free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->nplugins; i++)
        s->wants_loras |= s->plugins[i]->ops->needs_loras;
    return s;
}

void sy_sched_free(struct sy_scheduler *s)
{
    if (!s)
        return;
    sy_sched__unload(s);
    pthread_mutex_destroy(&s->ring_mu);
    free(s);
}

void sy_sched_attach_metrics(struct sy_scheduler *s, struct sy_metrics *m)
{
    if (!s || !m)
        return;
    struct sy_metric_family *e2e =
        sy_metrics_family(m, "inference_extension_scheduler_e2e_duration_seconds",
                          "End-to-end scheduling latency distribution in seconds.",
                          SY_METRIC_HISTOGRAM, NULL, sy_buckets_fast, sy_buckets_fast_n);
    static const char *const att_labels[] = {"status", NULL};
    struct sy_metric_family *att = sy_metrics_family(
        m, "inference_extension_scheduler_attempts_total", "Total number of scheduling attempts.",
        SY_METRIC_COUNTER, att_labels, NULL, 0);
    static const char *const pl_labels[] = {"extension_point", "plugin_type", "plugin_name", NULL};
    struct sy_metric_family *pl = sy_metrics_family(
        m, "inference_extension_plugin_duration_seconds",
        "Plugin processing latency distribution in seconds for each extension point, plugin type "
        "and plugin name.",
        SY_METRIC_HISTOGRAM, pl_labels, sy_buckets_fast, sy_buckets_fast_n);
    struct sy_metric_family *lost = sy_metrics_family(
        m, "switchyard_scheduler_slot_lost_total",
        "Decisions that lost their slot: another worker took the chosen endpoint's last "
        "in-flight slot (concurrency-detector bound) between the decision and its charge (a P/D "
        "prefill leg's pick found full counts too). A strict charge refused because every "
        "candidate was at its limit is not counted.",
        SY_METRIC_COUNTER, NULL, NULL, 0);
    if (!e2e || !att || !pl || !lost)
        return;
    s->slot_lost = sy_metric_get(lost, NULL);
    const char *ok[] = {"success"}, *fail[] = {"failure"};
    s->attempts_ok = sy_metric_get(att, ok);
    s->attempts_fail = sy_metric_get(att, fail);
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        const struct sy_plugin_ops *o = p->ops;
        bool has[SY_SCHED_EXT_COUNT] = {o->produce != NULL,     o->filter != NULL,
                                        o->score != NULL,       o->pick != NULL,
                                        o->pre_request != NULL, o->done != NULL};
        for (int e = 0; e < SY_SCHED_EXT_COUNT; e++) {
            if (!has[e])
                continue;
            const char *lv[] = {ext_names[e], o->type, p->name};
            p->hist[e] = sy_metric_get(pl, lv);
        }
    }
    static const char *const pd_labels[] = {"model_name", "decision_type", NULL};
    s->pd_decisions = sy_metrics_family(
        m, "llm_d_inference_scheduler_disagg_decision_total",
        "Total number of disaggregation routing decisions made (decode-only, prefill-decode).",
        SY_METRIC_COUNTER, pd_labels, NULL, 0);
    s->pd_decisions_old =
        sy_metrics_family(m, "llm_d_inference_scheduler_pd_decision_total",
                          "Deprecated: use llm_d_inference_scheduler_disagg_decision_total.",
                          SY_METRIC_COUNTER, pd_labels, NULL, 0);
    if (!s->pd_decisions || !s->pd_decisions_old)
        s->pd_decisions = s->pd_decisions_old = NULL;
    s->e2e = sy_metric_get(e2e, NULL); /* last: tstart() keys off it */
}

static bool excluded(struct sy_endpoint *ep, struct sy_endpoint *const *ex, size_t nex)
{
    for (size_t i = 0; i < nex; i++)
        if (ex[i] == ep)
            return true;
    return false;
}

static void copy_trunc(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Records the decision (top candidates by total) in the debug ring. */
static void record(struct sy_scheduler *s, const struct cycle *c)
{
    struct sy_sched_record r;
    memset(&r, 0, sizeof r);
    r.wall = sy_wall_seconds();
    const struct sy_request *req = c->cy.req;
    copy_trunc(r.request_id, sizeof r.request_id, req->request_id.p ? req->request_id.p : "",
               req->request_id.p ? req->request_id.len : 0);
    copy_trunc(r.model, sizeof r.model, req->model, strlen(req->model));
    r.prof = c->prof;
    r.ncands = (uint32_t)c->n;
    if (c->picked) {
        const char *a = c->cands[c->chosen].ep->address;
        copy_trunc(r.chosen, sizeof r.chosen, a, strlen(a));
    }
    if (c->prefill_run < c->nruns && c->runs[c->prefill_run].picked) {
        const struct prun *fr = &c->runs[c->prefill_run];
        const char *a = fr->cands[fr->chosen].ep->address;
        copy_trunc(r.prefill, sizeof r.prefill, a, strlen(a));
    }
    /* Selection of the best SY_SCHED_RING_TOP totals (n is small; insertion keeps it simple). */
    size_t idx[SY_SCHED_RING_TOP];
    size_t k = 0;
    size_t nsc = c->prof ? c->prof->nscorers : 0;
    for (size_t i = 0; i < c->n && c->totals; i++) {
        double t = c->totals[i];
        size_t pos = k;
        while (pos > 0 && c->totals[idx[pos - 1]] < t)
            pos--;
        if (pos >= SY_SCHED_RING_TOP)
            continue;
        size_t last = k < SY_SCHED_RING_TOP ? k : SY_SCHED_RING_TOP - 1;
        memmove(&idx[pos + 1], &idx[pos], (last - pos) * sizeof idx[0]);
        idx[pos] = i;
        if (k < SY_SCHED_RING_TOP)
            k++;
    }
    r.nkept = (uint32_t)k;
    for (size_t j = 0; j < k; j++) {
        size_t i = idx[j];
        const char *a = c->cands[i].ep->address;
        copy_trunc(r.top[j].addr, sizeof r.top[j].addr, a, strlen(a));
        r.top[j].total = c->totals[i];
        for (size_t q = 0; q < nsc; q++)
            r.top[j].scores[q] = (float)c->scores[q * c->n + i];
    }
    pthread_mutex_lock(&s->ring_mu);
    r.seq = ++s->ring_seq;
    s->ring[(r.seq - 1) % SY_SCHED_RING] = r;
    pthread_mutex_unlock(&s->ring_mu);
}

static void run_done(struct sy_scheduler *s, struct cycle *c, bool ok)
{
    const struct sy_sched_candidate *chosen = c->picked ? &c->cands[c->chosen] : NULL;
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (!p->ops->done)
            continue;
        uint64_t t0 = tstart(s);
        p->ops->done(p->state, &c->cy, chosen, ok);
        tend(p->hist[SY_SCHED_EXT_DONE], t0);
    }
}

static void free_runs(struct cycle *c)
{
    for (size_t i = 0; i < c->nruns; i++)
        free(c->runs[i].mem);
    c->nruns = 0;
}

static int fail(struct sy_scheduler *s, struct cycle *c, uint64_t t0, int rc)
{
    record(s, c);
    run_done(s, c, false);
    free_runs(c);
    free(c);
    if (s->attempts_fail)
        sy_metric_inc(s->attempts_fail);
    tend(s->e2e, t0);
    return rc;
}

/* Runs r->prof over base[0..nbase) minus exclude: copies the survivors into r->cands (unless they
 * are the same array: the single-profile path filters in place), filters, scores, picks.
 * Returns 0 or SY_ENOENDPOINT. */
static int run_profile(struct sy_scheduler *s, struct cycle *c, struct prun *r,
                       const struct sy_sched_candidate *base, size_t nbase,
                       struct sy_endpoint *const *exclude, size_t nexclude)
{
    const struct sy_sched_profile *prof = r->prof;
    size_t n = 0;
    if (r->cands == base) {
        n = nbase;
    } else {
        for (size_t i = 0; i < nbase; i++)
            if (!excluded(base[i].ep, exclude, nexclude))
                r->cands[n++] = base[i];
    }
    r->n = n;
    r->picked = false;
    c->cy.run_profile = prof;
    r->cap_requests = r->cap_tokens = r->limit_requests = r->limit_tokens = 0;
    r->failed_open = false;
    if (n == 0)
        return SY_ENOENDPOINT;
    c->cy.cap_requests = c->cy.cap_tokens = c->cy.limit_requests = c->cy.limit_tokens = 0;
    c->cy.failed_open = false;
    for (size_t f = 0; f < prof->nfilters; f++) {
        struct sy_sched_plugin *p = prof->filters[f];
        uint64_t t1 = tstart(s);
        size_t m = p->ops->filter(p->state, &c->cy, r->cands, n);
        tend(p->hist[SY_SCHED_EXT_FILTER], t1);
        n = m < n ? m : n; /* a filter can only narrow */
        r->n = n;
        if (n == 0)
            return SY_ENOENDPOINT;
    }
    r->cap_requests = c->cy.cap_requests;
    r->cap_tokens = c->cy.cap_tokens;
    r->limit_requests = c->cy.limit_requests;
    r->limit_tokens = c->cy.limit_tokens;
    r->failed_open = c->cy.failed_open;

    /* Score rows are laid out for the final n (rows of stride n, not nbase). */
    size_t nsc = prof->nscorers;
    for (size_t i = 0; i < n; i++)
        r->totals[i] = 0;
    for (size_t k = 0; k < nsc; k++) {
        const struct sy_sched_weighted *w = &prof->scorers[k];
        double *row = r->scores + k * n;
        for (size_t i = 0; i < n; i++)
            row[i] = 0;
        uint64_t t1 = tstart(s);
        w->p->ops->score(w->p->state, &c->cy, r->cands, n, row);
        tend(w->p->hist[SY_SCHED_EXT_SCORE], t1);
        for (size_t i = 0; i < n; i++) {
            double v = row[i];
            v = isnan(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v; /* llm-d enforceScoreRange */
            row[i] = v;
            r->totals[i] += w->weight * v;
        }
    }

    uint64_t t1 = tstart(s);
    size_t pick = prof->picker->ops->pick(prof->picker->state, &c->cy, r->cands, n, r->totals);
    tend(prof->picker->hist[SY_SCHED_EXT_PICK], t1);
    if (pick >= n)
        return SY_ENOENDPOINT;
    r->chosen = pick;
    r->picked = true;
    return 0;
}

/* A run of a multi-profile cycle with its own arrays sized for nbase candidates. */
static struct prun *new_run(struct cycle *c, const struct sy_sched_profile *prof, size_t nbase)
{
    struct prun *r = &c->runs[c->nruns++];
    memset(r, 0, sizeof *r);
    r->prof = prof;
    size_t nb = nbase ? nbase : 1;
    size_t off_s = (nb * sizeof(struct sy_sched_candidate) + 15) & ~(size_t)15;
    size_t off_t = off_s + prof->nscorers * nb * sizeof(double);
    char *m = sy_xmalloc(off_t + nb * sizeof(double));
    r->mem = m;
    r->cands = (struct sy_sched_candidate *)m;
    r->scores = (double *)(m + off_s);
    r->totals = (double *)(m + off_t);
    return r;
}

static void run_views(const struct cycle *c, struct sy_sched_run *v)
{
    for (size_t i = 0; i < c->nruns; i++) {
        const struct prun *r = &c->runs[i];
        v[i].profile = (size_t)(r->prof - c->s->profiles);
        v[i].chosen = r->picked ? &r->cands[r->chosen] : NULL;
    }
}

/* The profile handler's loop (llm-d Pick until empty, then ProcessResults). */
static int run_handler(struct sy_scheduler *s, struct cycle *c, size_t *primary, size_t *prefill)
{
    const struct sy_plugin_ops *h = s->handler->ops;
    struct sy_sched_run views[SY_SCHED_MAX_RUNS];
    for (;;) {
        run_views(c, views);
        size_t next = SY_SCHED_NONE;
        int rc = h->next_profile(s->handler->state, &c->cy, views, c->nruns, &next);
        if (rc)
            return rc;
        if (next == SY_SCHED_NONE || next >= s->nprofiles)
            break;
        bool again = false;
        for (size_t i = 0; i < c->nruns; i++)
            again |= c->runs[i].prof == &s->profiles[next];
        if (again || c->nruns == SY_SCHED_MAX_RUNS)
            break; /* a handler never runs a profile twice; bounded regardless */
        struct prun *r = new_run(c, &s->profiles[next], c->nbase);
        (void)run_profile(s, c, r, c->base, c->nbase, NULL, 0); /* a failed run: chosen NULL */
    }
    run_views(c, views);
    return h->result(s->handler->state, &c->cy, views, c->nruns, primary, prefill);
}

static void record_prefill(struct sy_scheduler *s, struct cycle *c,
                           const struct sy_sched_candidate *pc)
{
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (!p->ops->pre_request || !p->ops->records_prefill)
            continue;
        c->cy.secondary_pick = true;
        p->ops->pre_request(p->state, &c->cy, pc);
        c->cy.secondary_pick = false;
    }
}

/* The prefill run r's pick into out: its endpoint, the tokens its filters checked for it (the
 * leg's reservation must charge the same figure) and the run's bounds. */
static void set_prefill(struct cycle *c, const struct prun *r, struct sy_sched_result *out)
{
    const struct sy_sched_candidate *pc = &r->cands[r->chosen];
    int64_t early;
    out->prefill_ep = pc->ep;
    out->prefill_pool_index = pc->pool_index;
    sy_inflight_account(&c->cy, pc, &out->prefill_inflight_tokens, &early);
    out->prefill_cap_requests = r->cap_requests;
    out->prefill_cap_tokens = r->cap_tokens;
    out->prefill_limit_requests = r->limit_requests;
    out->prefill_limit_tokens = r->limit_tokens;
    out->prefill_failed_open = r->failed_open;
}

void sy_sched_record_prefill(struct sy_scheduler *s, const struct sy_sched_result *res)
{
    if (!s || !res || !res->cycle || !res->prefill_ep)
        return;
    struct cycle *c = res->cycle;
    if (c->prefill_run >= c->nruns || !c->runs[c->prefill_run].picked)
        return;
    const struct prun *r = &c->runs[c->prefill_run];
    record_prefill(s, c, &r->cands[r->chosen]);
}

static void count_decision(struct sy_scheduler *s, const char *model, bool pd)
{
    if (!s->pd_decisions || !s->handler->ops->counts_decisions)
        return;
    const char *lv[] = {model[0] ? model : "unknown", pd ? "prefill-decode" : "decode-only"};
    sy_metric_inc(sy_metric_get(s->pd_decisions, lv));
    sy_metric_inc(sy_metric_get(s->pd_decisions_old, lv));
}

/* A decision whose reservation failed: undone before any side effect of a pick (no pre_request,
 * no decision counted, no record, no attempt metric, no e2e sample); the done hooks run as for a
 * failed pick (no chosen endpoint, not ok), which only frees what the producers made. */
static void lost(struct sy_scheduler *s, struct cycle *c, struct sy_sched_result *out)
{
    c->picked = false;
    run_done(s, c, false);
    free_runs(c);
    free(c);
    memset(out, 0, sizeof *out);
}

/* pick_once: reserve refused a decision whose filters failed open (see sy_sched_pick_reserve) */
#define LOST_OPEN 1

/* One decision; reserve (optional) is asked just before the pre_request hooks. Returns 0, a
 * negative code, or SY_ESATURATED (LOST_OPEN after a fail-open decision) when reserve refused
 * (the decision was undone by lost()). */
static int pick_once(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *req,
                     struct sy_endpoint *const *exclude, size_t nexclude,
                     struct sy_sched_result *out, sy_sched_reserve_fn *reserve, void *ud)
{
    memset(out, 0, sizeof *out);
    uint64_t t0 = tstart(s);
    const struct sy_sched_profile *prof = &s->profiles[0]; /* single-profile-handler */
    size_t np = pool->n < SY_SCHED_MAX_CANDIDATES ? pool->n : SY_SCHED_MAX_CANDIDATES;
    if (np < pool->n && !atomic_exchange_explicit(&warned_cap, true, memory_order_relaxed))
        sy_warn("scheduler: the pool has %zu endpoints; only the first %d are considered", pool->n,
                SY_SCHED_MAX_CANDIDATES);
    size_t nsc = prof->nscorers;

    /* One block: cycle | cands[np] | scores[nsc*np] | totals[np] | loras[np] | prefix[pool->n]
     * (loras only with wants_loras). A multi-profile handler's runs get blocks of their own. */
    size_t off_c = sizeof(struct cycle);
    off_c = (off_c + 15) & ~(size_t)15;
    size_t off_s = off_c + np * sizeof(struct sy_sched_candidate);
    off_s = (off_s + 15) & ~(size_t)15;
    size_t off_t = off_s + nsc * np * sizeof(double);
    size_t off_l = off_t + np * sizeof(double);
    off_l = (off_l + 15) & ~(size_t)15;
    size_t off_p = off_l + (s->wants_loras ? np * sizeof(struct sy_endpoint_loras) : 0);
    off_p = (off_p + 15) & ~(size_t)15;
    size_t total = off_p + (s->wants_prefix ? pool->n * sizeof(struct sy_prefix_match) : 0);
    char *blk = sy_xmalloc(total);
    struct cycle *c = (struct cycle *)blk;
    memset(c, 0, sizeof *c);
    c->s = s;
    c->prof = prof;
    c->prefill_run = SY_SCHED_NONE;
    c->cands = (struct sy_sched_candidate *)(blk + off_c);
    c->scores = (double *)(blk + off_s);
    c->totals = (double *)(blk + off_t);
    c->cy.req = req;
    c->cy.pool = pool;
    c->cy.scheduled = true;
    c->cy.now_ns = sy_now_ns();
    c->cy.rng = splitmix64(
        atomic_fetch_add_explicit(&seed_counter, 0x9e3779b97f4a7c15ULL, memory_order_relaxed) ^
        (atomic_load_explicit(&seed_fixed, memory_order_relaxed) ? 0 : c->cy.now_ns));
    c->cy.prompt_tokens = req->prompt_tokens_est;
    if (s->wants_prefix) {
        c->cy.prefix = (struct sy_prefix_match *)(blk + off_p);
        memset(c->cy.prefix, 0, pool->n * sizeof(struct sy_prefix_match));
    }

    size_t mlen = strlen(req->model);
    struct sy_endpoint_loras *loras =
        s->wants_loras ? (struct sy_endpoint_loras *)(blk + off_l) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        struct sy_endpoint *ep = pool->eps[i];
        if (excluded(ep, exclude, nexclude))
            continue;
        struct sy_sched_candidate *cd = &c->cands[n];
        struct sy_endpoint_loras *lo = loras ? &loras[n] : NULL;
        /* model check and snapshot in one lock-free read (len 0: any model) */
        if (!sy_endpoint_read(ep, req->model, mlen, &cd->st, lo) || !cd->st.ready)
            continue;
        cd->ep = ep;
        cd->loras = lo;
        cd->pool_index = i;
        n++;
    }
    c->n = n;
    if (n == 0)
        return fail(s, c, t0, SY_ENOENDPOINT);

    for (size_t i = 0; i < s->nproducers; i++) {
        struct sy_sched_plugin *p = s->producers[i];
        uint64_t t1 = tstart(s);
        p->ops->produce(p->state, &c->cy, c->cands, n);
        tend(p->hist[SY_SCHED_EXT_PRODUCE], t1);
    }
    /* llm-d's Director runs admission plugins after the data producers, before the scheduler;
     * a denial is its 500 "request cannot be admitted" */
    for (size_t i = 0; i < s->nadmitters; i++) {
        struct sy_sched_plugin *p = s->admitters[i];
        uint64_t t1 = tstart(s);
        size_t m = p->ops->filter(p->state, &c->cy, c->cands, n);
        tend(p->hist[SY_SCHED_EXT_FILTER], t1);
        if (m == 0)
            return fail(s, c, t0, SY_EADMISSION);
    }

    size_t primary = 0, prefill = SY_SCHED_NONE;
    if (!s->handler->ops->next_profile) {
        struct prun *r = &c->runs[c->nruns++];
        *r = (struct prun){
            .prof = prof, .cands = c->cands, .scores = c->scores, .totals = c->totals};
        int rc = run_profile(s, c, r, c->cands, n, NULL, 0);
        c->n = r->n;
        if (rc)
            return fail(s, c, t0, rc);
    } else {
        c->base = c->cands;
        c->nbase = n;
        int rc = run_handler(s, c, &primary, &prefill);
        if (rc == SY_ENOPREFILL && primary < c->nruns && c->runs[primary].picked) {
            out->prefill_missing = true;
            prefill = SY_SCHED_NONE;
            rc = 0;
        }
        if (rc || primary >= c->nruns || !c->runs[primary].picked) {
            c->n = 0; /* nothing to explain: no primary run */
            c->prof = NULL;
            return fail(s, c, t0, rc ? rc : SY_ENOENDPOINT);
        }
    }
    const struct prun *pr = &c->runs[primary];
    c->prof = pr->prof;
    c->cands = pr->cands;
    c->n = pr->n;
    c->scores = pr->scores;
    c->totals = pr->totals;
    c->chosen = pr->chosen;
    c->picked = true;

    const struct sy_sched_candidate *chosen = &c->cands[c->chosen];
    out->ep = chosen->ep;
    out->pool_index = chosen->pool_index;
    out->cap_requests = pr->cap_requests;
    out->cap_tokens = pr->cap_tokens;
    out->limit_requests = pr->limit_requests;
    out->limit_tokens = pr->limit_tokens;
    out->failed_open = pr->failed_open;
    sy_inflight_account(&c->cy, chosen, &out->inflight_tokens, &out->inflight_early);
    if (reserve && !reserve(ud, out)) {
        bool open = pr->failed_open; /* refused by the limits it failed open on, no race */
        lost(s, c, out);
        return open ? LOST_OPEN : SY_ESATURATED;
    }
    if (prefill < c->nruns && c->runs[prefill].picked)
        c->prefill_run = prefill; /* before pre_request: sy_sched_profile_is_prefill */
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (!p->ops->pre_request)
            continue;
        uint64_t t2 = tstart(s);
        p->ops->pre_request(p->state, &c->cy, chosen);
        tend(p->hist[SY_SCHED_EXT_PRE_REQUEST], t2);
    }

    if (c->prefill_run != SY_SCHED_NONE)
        set_prefill(c, &c->runs[c->prefill_run], out);
    count_decision(s, req->model, out->prefill_ep != NULL || out->prefill_missing);
    out->cycle = c;
    record(s, c);
    if (s->attempts_ok)
        sy_metric_inc(s->attempts_ok);
    tend(s->e2e, t0);
    return 0;
}

int sy_sched_pick(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *req,
                  struct sy_endpoint *const *exclude, size_t nexclude, struct sy_sched_result *out)
{
    if (!s || !pool || !req || !out)
        return SY_EINVAL;
    return pick_once(s, pool, req, exclude, nexclude, out, NULL, NULL);
}

int sy_sched_pick_reserve(struct sy_scheduler *s, struct sy_pool *pool,
                          const struct sy_request *req, struct sy_endpoint *const *exclude,
                          size_t nexclude, struct sy_sched_result *out,
                          sy_sched_reserve_fn *reserve, void *ud)
{
    if (!s || !pool || !req || !out || !reserve)
        return SY_EINVAL;
    uint64_t t0 = tstart(s);
    for (int k = 0; k < SY_SCHED_CHARGE_TRIES; k++) {
        int rc = pick_once(s, pool, req, exclude, nexclude, out, reserve, ud);
        if (rc == LOST_OPEN)
            break; /* every candidate was at its limit already: no slot lost, none to win */
        if (rc != SY_ESATURATED)
            return rc;
        /* another worker took the last slot between this decision's read and the reservation */
        sy_sched_slot_lost(s);
    }
    /* every decision lost its slot: one failed attempt */
    if (s->attempts_fail)
        sy_metric_inc(s->attempts_fail);
    tend(s->e2e, t0);
    return SY_ESATURATED;
}

struct charge_ctx {
    struct sy_charge *c;
    const struct sy_request *req;
    bool strict; /* hold to limit_* (also where a filter failed open), not cap_* */
};

static bool reserve_charge(void *ud, const struct sy_sched_result *res)
{
    struct charge_ctx *x = ud;
    return sy_pool_charge_within(x->c, res->ep, res->inflight_tokens, x->req->max_tokens,
                                 x->req->choices,
                                 x->strict ? res->limit_requests : res->cap_requests,
                                 x->strict ? res->limit_tokens : res->cap_tokens);
}

int sy_sched_pick_charge(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *req,
                         struct sy_endpoint *const *exclude, size_t nexclude,
                         struct sy_sched_result *out, struct sy_charge *c, bool strict)
{
    struct charge_ctx x = {c, req, strict};
    return sy_sched_pick_reserve(s, pool, req, exclude, nexclude, out, reserve_charge, &x);
}

void sy_sched_slot_lost(struct sy_scheduler *s)
{
    if (s && s->slot_lost)
        sy_metric_inc(s->slot_lost);
}

int sy_sched_repick_prefill(struct sy_scheduler *s, struct sy_sched_result *res,
                            struct sy_endpoint *const *exclude, size_t nexclude)
{
    if (!s || !res || !res->cycle)
        return SY_EINVAL;
    struct cycle *c = res->cycle;
    if (c->prefill_run >= c->nruns)
        return SY_EINVAL;
    struct prun *r = &c->runs[c->prefill_run];
    res->prefill_ep = NULL;
    int rc = run_profile(s, c, r, c->base, c->nbase, exclude, nexclude);
    if (rc)
        return rc;
    set_prefill(c, r, res);
    return 0;
}

void sy_sched_observe(struct sy_sched_result *res, double ttft_s, double tpot_s)
{
    if (!res || !res->cycle)
        return;
    struct cycle *c = res->cycle;
    c->cy.observed_ttft_s = ttft_s;
    c->cy.observed_tpot_s = tpot_s;
}

void sy_sched_observe_end(struct sy_sched_result *res, double e2e_s)
{
    if (!res || !res->cycle)
        return;
    struct cycle *c = res->cycle;
    c->cy.observed_e2e_s = e2e_s;
}

void sy_sched_done(struct sy_scheduler *s, struct sy_sched_result *res, bool ok)
{
    if (!s || !res || !res->cycle)
        return;
    struct cycle *c = res->cycle;
    run_done(s, c, ok);
    free_runs(c);
    free(c);
    res->cycle = NULL;
}

/* Candidate order for explanations: totals descending, pool order among equals. */
static void order_by_total(const struct cycle *c, size_t *idx)
{
    for (size_t i = 0; i < c->n; i++) {
        size_t j = i;
        while (j > 0 && c->totals[idx[j - 1]] < c->totals[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

void sy_sched_explain(const struct sy_sched_result *res, struct sy_buf *out)
{
    if (!res || !res->cycle || !out)
        return;
    const struct cycle *c = res->cycle;
    size_t *idx = sy_xmalloc((c->n ? c->n : 1) * sizeof *idx);
    order_by_total(c, idx);
    for (size_t j = 0; j < c->n; j++) {
        size_t i = idx[j];
        sy_buf_printf(out, "%s%s=%.2f(", j ? ";" : "", c->cands[i].ep->address, c->totals[i]);
        for (size_t k = 0; k < c->prof->nscorers; k++)
            sy_buf_printf(out, "%s%s:%.2f", k ? "," : "", c->prof->scorers[k].p->name,
                          c->scores[k * c->n + i]);
        sy_buf_puts(out, ")");
    }
    free(idx);
}

static void json_num(struct sy_buf *out, double v)
{
    if (isfinite(v))
        sy_buf_printf(out, "%.6g", v);
    else
        sy_buf_puts(out, "null");
}

void sy_sched_debug_json(struct sy_scheduler *s, struct sy_buf *out)
{
    if (!s || !out)
        return;
    struct sy_sched_record *copy = sy_xmalloc(sizeof s->ring);
    pthread_mutex_lock(&s->ring_mu);
    uint64_t seq = s->ring_seq;
    memcpy(copy, s->ring, sizeof s->ring);
    pthread_mutex_unlock(&s->ring_mu);
    uint64_t nrec = seq < SY_SCHED_RING ? seq : SY_SCHED_RING;
    sy_buf_puts(out, "{\"decisions\":[");
    for (uint64_t j = 0; j < nrec; j++) { /* newest first */
        const struct sy_sched_record *r = &copy[(seq - 1 - j) % SY_SCHED_RING];
        sy_buf_printf(out, "%s{\"seq\":%llu,\"time\":%.3f,\"request_id\":", j ? "," : "",
                      (unsigned long long)r->seq, r->wall);
        sy_buf_json_str(out, r->request_id, strlen(r->request_id));
        sy_buf_puts(out, ",\"model\":");
        sy_buf_json_str(out, r->model, strlen(r->model));
        sy_buf_puts(out, ",\"profile\":");
        const char *pn = r->prof ? r->prof->name : "";
        sy_buf_json_str(out, pn, strlen(pn));
        sy_buf_puts(out, ",\"chosen\":");
        if (r->chosen[0])
            sy_buf_json_str(out, r->chosen, strlen(r->chosen));
        else
            sy_buf_puts(out, "null");
        if (r->prefill[0]) {
            sy_buf_puts(out, ",\"prefill\":");
            sy_buf_json_str(out, r->prefill, strlen(r->prefill));
        }
        sy_buf_printf(out, ",\"candidates_scored\":%u,\"top\":[", r->ncands);
        for (uint32_t k = 0; k < r->nkept; k++) {
            const struct sy_sched_record_cand *rc = &r->top[k];
            sy_buf_puts(out, k ? ",{\"endpoint\":" : "{\"endpoint\":");
            sy_buf_json_str(out, rc->addr, strlen(rc->addr));
            sy_buf_puts(out, ",\"total\":");
            json_num(out, rc->total);
            sy_buf_puts(out, ",\"scores\":{");
            for (size_t q = 0; r->prof && q < r->prof->nscorers; q++) {
                const char *nm = r->prof->scorers[q].p->name;
                if (q)
                    sy_buf_puts(out, ",");
                sy_buf_json_str(out, nm, strlen(nm));
                sy_buf_puts(out, ":");
                json_num(out, rc->scores[q]);
            }
            sy_buf_puts(out, "}}");
        }
        sy_buf_puts(out, "]}");
    }
    sy_buf_puts(out, "]}");
    free(copy);
}

void sy_sched_response_headers(struct sy_scheduler *s, const struct sy_sched_result *res,
                               struct sy_buf *out)
{
    const struct cycle *c = res ? res->cycle : NULL;
    for (size_t i = 0; s && c && i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (p->ops->response_header)
            p->ops->response_header(p->state, &c->cy, res->ep, out);
    }
}

bool sy_sched_has_plugin(const struct sy_scheduler *s, const char *type)
{
    for (size_t i = 0; s && type && i < s->nplugins; i++)
        if (!strcmp(s->plugins[i]->ops->type, type))
            return true;
    return false;
}

size_t sy_sched_ranked(const struct sy_sched_result *res, struct sy_endpoint **out, size_t max)
{
    if (!res || !res->ep || !out || max == 0)
        return 0;
    size_t n = 0;
    out[n++] = res->ep;
    const struct cycle *c = res->cycle;
    if (!c || !c->totals)
        return n;
    /* top max-1 of the other candidates by total score: O(n * max), max is small */
    bool *taken = sy_xcalloc(c->n ? c->n : 1, sizeof *taken);
    while (n < max) {
        size_t best = c->n;
        for (size_t i = 0; i < c->n; i++) {
            if (taken[i] || c->cands[i].ep == res->ep)
                continue;
            if (best == c->n || c->totals[i] > c->totals[best])
                best = i;
        }
        if (best == c->n)
            break;
        taken[best] = true;
        out[n++] = c->cands[best].ep;
    }
    free(taken);
    return n;
}
