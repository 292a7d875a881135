/* controller.c - the flow controller: bounded queues in the gateway, strict priority between
 * bands, fairness between flows, ordering within a flow, a saturation gate, TTLs and drain.
 *
 *   sy_flow (one per gateway, every worker thread, kept across reloads)
 *     bands[]  sorted by priority, highest first; created on first use from the band templates
 *       band: flows[] sorted by fairness id (binary search); counts and bytes; rr cursor
 *         flow: doubly linked list of items sorted by (key, seq); key by the ordering policy
 *     ports[]  one mailbox per worker loop: verdicts posted by whichever thread decided them
 *
 * Item life (state):   IDLE -admit-> QUEUED -dispatch/refuse-> POSTED -port_run-> ACTIVE | DONE
 *                      IDLE -admit-> ACTIVE (dispatched at once) | refused (nothing held)
 *                      any -release-> DONE (leaves its list; outstanding/unpicked given back)
 *
 * Dispatch cycle (dispatch_locked), run after every admit, every release and every tick:
 *   repeat: sat = detector(pool, outstanding, unpicked); ceilings = usage policy over the bands
 *   the registry holds (configured, or created by traffic; an idle band keeps its rank, so its
 *   headroom stays reserved); take the highest non-empty band; if sat >= its ceiling, stop
 *   (head-of-line blocking keeps strict priority); else take an item (fairness picks the flow,
 * ordering the item) and hand it to its worker. outstanding counts the request until its release,
 * so the concurrency detector sees what the gateway itself just sent (no waiting for a scrape);
 * unpicked counts it until its endpoint counts it (utilization detector's correction).
 * With a priority-reservation-filter, a band below its minPriority also stops when the saturation
 * of the shared endpoints alone (the detector over the endpoints it may use) reaches its ceiling:
 * the pool may have room only on the reserved endpoints, where the band's requests cannot go.
 *
 * Refusals: capacity (global or band maxRequests/maxBytes) 429 rejected-saturated; TTL 429
 * rejected-ttl-expired; no ready endpoint for noEndpointRequestTTL 503 rejected-no-endpoints;
 * shutdown 503 rejected-shutting-down. A refused or cancelled item gives back everything it held
 * at once: queue counts, bytes, outstanding.
 *
 * Threading: one mutex guards everything (queues, ports, counters). Callbacks run on the item's
 * own worker loop (sy_flow_port_run), never under the mutex. Alternatives rejected: a queue per
 * worker (fairness and strict priority would hold per worker only, and the saturation gate would
 * be split N ways); lock-free MPSC queues (the critical sections are a few list operations, and
 * dispatch needs a consistent view of every band anyway).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "flow/flow_internal.h"
#include "metrics/metrics.h"

enum { ST_IDLE, ST_QUEUED, ST_POSTED, ST_ACTIVE, ST_DONE };

#define SWEEP_NS        20000000ull   /* TTL sweep at most every 20ms */
#define LOG_EVERY_NS    1000000000ull /* rate limit for repeated warnings */
#define FAIRNESS_LABELS 1000          /* distinct fairness_id label values; the rest "other" */

struct fq {
    char id[SY_FLOW_FAIRNESS_MAX]; /* fairness id */
    struct sy_flow_item *head, *tail;
    size_t n;
};

struct band {
    int32_t priority;
    struct sy_flow_band_config cfg; /* limits and policies (updated on reload) */
    struct fq **flows;              /* sorted by id; owned */
    size_t nflows, cap;
    size_t n;                           /* queued items */
    uint64_t bytes;                     /* their bytes */
    char rr_last[SY_FLOW_FAIRNESS_MAX]; /* round-robin cursor: last flow served */
    bool rr_set;
};

struct sy_flow_port {
    struct sy_flow *f;
    struct sy_flow_item *head, *tail; /* posted, not yet delivered (guarded by f->mu) */
    sy_flow_notify_fn *notify;
    void *ud;
};

struct sy_flow {
    pthread_mutex_t mu;
    struct sy_flow_config *cfg; /* owned */
    struct sy_pool *pool;       /* owned reference */
    struct band **bands;        /* highest priority first; owned */
    size_t nbands;
    uint64_t queued, queued_bytes;
    int64_t outstanding, outstanding_tokens, unpicked;
    uint64_t seq;
    bool shutting;
    uint64_t shutdown_deadline;
    double last_sat;
    double last_shared_sat; /* the shared endpoints' saturation (priority-reservation-filter) */
    size_t last_ready, last_stale;
    uint64_t last_sweep_ns, last_stale_log_ns, last_unknown_log_ns;
    uint64_t unknown_objectives; /* requests naming an unknown objective */
    char **fair_labels;          /* fairness ids used as label values (sorted), capped */
    size_t nfair_labels;
    /* metrics (NULL without a registry) */
    struct sy_metrics *m;
    struct sy_metric_family *qdur, *qdur_epp;   /* request_queue_duration_seconds */
    struct sy_metric *cycle, *cycle_epp;        /* dispatch_cycle_duration_seconds */
    struct sy_metric_family *reqs;              /* llm_d_epp_flow_control_requests_total */
    struct sy_flow_item *shed_head, *shed_tail; /* in-flight sheddable requests, oldest first */
    int64_t evicting;                           /* evictions posted, not yet released */
    int32_t *s_prio;                            /* dispatch scratch, nbands entries each */
    uint64_t soft_tick; /* soft-reflective-ceiling's call counter, shared by every band */
    double *s_ceil;
    uint64_t evictions;         /* total */
    struct sy_flow_progs progs; /* program-aware-fairness state by fairness id (program.c) */
    double *s_svc, *s_wait;     /* its pick scratch (flows of one band) */
    size_t s_cap;               /* their capacity */
};

/* ---- verdicts ---- */

int sy_flow_verdict_status(enum sy_flow_verdict v)
{
    if (v == SY_FLOW_REJECT_ADMISSION)
        return 500;
    return v == SY_FLOW_REJECT_NO_ENDPOINTS || v == SY_FLOW_REJECT_SHUTDOWN ? 503 : 429;
}

const char *sy_flow_verdict_code(enum sy_flow_verdict v)
{
    return v == SY_FLOW_REJECT_ADMISSION ? "request_not_admitted" : sy_flow_verdict_reason(v);
}

const char *sy_flow_verdict_reason(enum sy_flow_verdict v)
{
    switch (v) {
    case SY_FLOW_REJECT_SATURATED: return "rejected-saturated";
    case SY_FLOW_REJECT_TTL: return "rejected-ttl-expired";
    case SY_FLOW_REJECT_NO_ENDPOINTS: return "rejected-no-endpoints";
    case SY_FLOW_REJECT_SHUTDOWN: return "rejected-shutting-down";
    case SY_FLOW_EVICTED: return "evicted";
    default: return "";
    }
}

const char *sy_flow_verdict_message(enum sy_flow_verdict v)
{
    switch (v) {
    case SY_FLOW_REJECT_SATURATED:
        return "request rejected by flow control: the pool is saturated or the queue is full";
    case SY_FLOW_REJECT_TTL:
        return "request rejected by flow control: it waited in the queue longer than its TTL";
    case SY_FLOW_REJECT_NO_ENDPOINTS:
        return "request rejected by flow control: no ready model server is available";
    case SY_FLOW_REJECT_SHUTDOWN: return "request rejected: the gateway is shutting down";
    case SY_FLOW_EVICTED: return "request evicted by flow control to reclaim capacity";
    case SY_FLOW_REJECT_ADMISSION:
        return "request cannot be admitted: an admission plugin denied it (no model server is "
               "predicted to meet its latency objectives)";
    default: return "";
    }
}

static const char *outcome_for(enum sy_flow_verdict v)
{
    switch (v) {
    case SY_FLOW_DISPATCH: return "Dispatched";
    case SY_FLOW_REJECT_SATURATED: return "RejectedCapacity";
    case SY_FLOW_REJECT_TTL:
    case SY_FLOW_REJECT_NO_ENDPOINTS: return "EvictedTTL";
    case SY_FLOW_REJECT_SHUTDOWN: return "EvictedOther";
    default: return "RejectedOther";
    }
}

/* ---- metrics ---- */

static const char *fair_label(struct sy_flow *f, const char *id)
{
    size_t lo = 0, hi = f->nfair_labels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(f->fair_labels[mid], id);
        if (r == 0)
            return f->fair_labels[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (f->nfair_labels >= FAIRNESS_LABELS)
        return "other";
    f->fair_labels = sy_xrealloc(f->fair_labels, (f->nfair_labels + 1) * sizeof *f->fair_labels);
    memmove(f->fair_labels + lo + 1, f->fair_labels + lo,
            (f->nfair_labels - lo) * sizeof *f->fair_labels);
    f->fair_labels[lo] = sy_xstrdup(id);
    f->nfair_labels++;
    return f->fair_labels[lo];
}

/* Records the end of an item's wait (under mu). */
static void observe_wait(struct sy_flow *f, struct sy_flow_item *it, const char *outcome,
                         uint64_t now)
{
    if (!f->m)
        return;
    char prio[16];
    snprintf(prio, sizeof prio, "%d", it->priority);
    const char *fl = fair_label(f, it->fairness_id);
    const char *lv[] = {fl, prio, outcome};
    double s = it->enq_ns && now > it->enq_ns ? (double)(now - it->enq_ns) / 1e9 : 0;
    sy_metric_observe(sy_metric_get(f->qdur, lv), s);
    sy_metric_observe(sy_metric_get(f->qdur_epp, lv), s);
    const char *rv[] = {outcome, prio};
    sy_metric_inc(sy_metric_get(f->reqs, rv));
}

static void collect(void *ud, struct sy_buf *out)
{
    struct sy_flow *f = ud;
    pthread_mutex_lock(&f->mu);
    static const char *const pfx[] = {"inference_extension", "llm_d_epp"};
    for (int k = 0; k < 2; k++) {
        sy_buf_printf(out,
                      "# HELP %s_flow_control_queue_size Requests waiting in the flow-control "
                      "queues.\n# TYPE %s_flow_control_queue_size gauge\n",
                      pfx[k], pfx[k]);
        for (size_t b = 0; b < f->nbands; b++)
            for (size_t i = 0; i < f->bands[b]->nflows; i++)
                sy_buf_printf(
                    out, "%s_flow_control_queue_size{fairness_id=\"%s\",priority=\"%d\"} %zu\n",
                    pfx[k], fair_label(f, f->bands[b]->flows[i]->id), f->bands[b]->priority,
                    f->bands[b]->flows[i]->n);
        sy_buf_printf(out,
                      "# HELP %s_flow_control_queue_bytes Bytes of the requests waiting in the "
                      "flow-control queues.\n# TYPE %s_flow_control_queue_bytes gauge\n",
                      pfx[k], pfx[k]);
        for (size_t b = 0; b < f->nbands; b++)
            sy_buf_printf(out, "%s_flow_control_queue_bytes{priority=\"%d\"} %llu\n", pfx[k],
                          f->bands[b]->priority, (unsigned long long)f->bands[b]->bytes);
        sy_buf_printf(out,
                      "# HELP %s_flow_control_pool_saturation Pool saturation from the saturation "
                      "detector (1.0 = at capacity).\n# TYPE %s_flow_control_pool_saturation "
                      "gauge\n",
                      pfx[k], pfx[k]);
        sy_buf_printf(out, "%s_flow_control_pool_saturation%s %g\n", pfx[k],
                      k ? "{stage=\"effective\"}" : "", f->last_sat);
    }
    if (f->progs.n) { /* program-aware-fairness (llm-d's name; value as of the last update) */
        sy_buf_printf(out, "# HELP llm_d_epp_program_aware_attained_service_tokens Time-decayed "
                           "attained service (weighted tokens consumed) per program.\n"
                           "# TYPE llm_d_epp_program_aware_attained_service_tokens gauge\n");
        for (size_t i = 0; i < f->progs.n; i++)
            sy_buf_printf(out,
                          "llm_d_epp_program_aware_attained_service_tokens{program_id=\"%s\"} %g\n",
                          fair_label(f, f->progs.v[i]->id), f->progs.v[i]->service);
    }
    if (f->cfg && f->cfg->reserve_sel)
        sy_buf_printf(out,
                      "# HELP switchyard_flow_control_shared_saturation Saturation of the "
                      "endpoints a priority-reservation-filter leaves to the lower bands (as of "
                      "their last dispatch check).\n"
                      "# TYPE switchyard_flow_control_shared_saturation gauge\n"
                      "switchyard_flow_control_shared_saturation %g\n",
                      f->last_shared_sat);
    sy_buf_printf(out,
                  "# HELP llm_d_epp_flow_control_stale_endpoints Ready endpoints whose "
                  "metrics are older than the detector's staleness threshold.\n"
                  "# TYPE llm_d_epp_flow_control_stale_endpoints gauge\n"
                  "llm_d_epp_flow_control_stale_endpoints %zu\n",
                  f->last_stale);
    sy_buf_printf(out,
                  "# HELP llm_d_epp_flow_control_capacity_utilization_requests Queued requests "
                  "over the global maxRequests (0 when unlimited).\n"
                  "# TYPE llm_d_epp_flow_control_capacity_utilization_requests gauge\n"
                  "llm_d_epp_flow_control_capacity_utilization_requests %g\n",
                  f->cfg && f->cfg->max_requests != SY_FLOW_UNLIMITED
                      ? (double)f->queued / (double)f->cfg->max_requests
                      : 0.0);
    sy_buf_printf(out,
                  "# HELP llm_d_epp_flow_control_capacity_utilization_bytes Queued bytes over the "
                  "global maxBytes (0 when unlimited).\n"
                  "# TYPE llm_d_epp_flow_control_capacity_utilization_bytes gauge\n"
                  "llm_d_epp_flow_control_capacity_utilization_bytes %g\n",
                  f->cfg && f->cfg->max_bytes != SY_FLOW_UNLIMITED
                      ? (double)f->queued_bytes / (double)f->cfg->max_bytes
                      : 0.0);
    sy_buf_printf(out,
                  "# HELP llm_d_epp_flow_control_evictions_total In-flight sheddable requests "
                  "evicted to make room for higher priorities (enableEviction).\n"
                  "# TYPE llm_d_epp_flow_control_evictions_total counter\n"
                  "llm_d_epp_flow_control_evictions_total %llu\n",
                  (unsigned long long)f->evictions);
    sy_buf_printf(out,
                  "# HELP switchyard_flow_control_unknown_objective_total Requests naming an "
                  "inference objective that is not configured (served at priority 0).\n"
                  "# TYPE switchyard_flow_control_unknown_objective_total counter\n"
                  "switchyard_flow_control_unknown_objective_total %llu\n",
                  (unsigned long long)f->unknown_objectives);
    pthread_mutex_unlock(&f->mu);
}

/* ---- construction ---- */

struct sy_flow *sy_flow_new(struct sy_metrics *metrics)
{
    struct sy_flow *f = SY_NEW(struct sy_flow);
    pthread_mutex_init(&f->mu, NULL);
    f->m = metrics;
    if (metrics) {
        static const char *const ql[] = {"fairness_id", "priority", "outcome", NULL};
        static const char *const rl[] = {"outcome", "priority", NULL};
        f->qdur = sy_metrics_family(
            metrics, "inference_extension_flow_control_request_queue_duration_seconds",
            "Time requests spent in the flow-control queue, by outcome.", SY_METRIC_HISTOGRAM, ql,
            sy_buckets_latency, sy_buckets_latency_n);
        f->qdur_epp =
            sy_metrics_family(metrics, "llm_d_epp_flow_control_request_queue_duration_seconds",
                              "Time requests spent in the flow-control queue, by outcome.",
                              SY_METRIC_HISTOGRAM, ql, sy_buckets_latency, sy_buckets_latency_n);
        f->cycle = sy_metric_get(
            sy_metrics_family(metrics,
                              "inference_extension_flow_control_dispatch_cycle_duration_"
                              "seconds",
                              "Duration of one flow-control dispatch cycle.", SY_METRIC_HISTOGRAM,
                              NULL, sy_buckets_fast, sy_buckets_fast_n),
            NULL);
        f->cycle_epp = sy_metric_get(
            sy_metrics_family(metrics, "llm_d_epp_flow_control_dispatch_cycle_duration_seconds",
                              "Duration of one flow-control dispatch cycle.", SY_METRIC_HISTOGRAM,
                              NULL, sy_buckets_fast, sy_buckets_fast_n),
            NULL);
        f->reqs = sy_metrics_family(metrics, "llm_d_epp_flow_control_requests_total",
                                    "Requests that went through flow control, by outcome.",
                                    SY_METRIC_COUNTER, rl, NULL, 0);
        sy_metrics_add_collector(metrics, collect, f);
    }
    return f;
}

static void band_free(struct band *b)
{
    for (size_t i = 0; i < b->nflows; i++)
        free(b->flows[i]);
    free(b->flows);
    free(b);
}

void sy_flow_free(struct sy_flow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nbands; i++)
        band_free(f->bands[i]);
    free(f->bands);
    free(f->s_prio);
    free(f->s_ceil);
    free(f->s_svc);
    free(f->s_wait);
    sy_flow__progs_fini(&f->progs);
    for (size_t i = 0; i < f->nfair_labels; i++)
        free(f->fair_labels[i]);
    free(f->fair_labels);
    sy_flow_config_free(f->cfg);
    if (f->pool)
        sy_pool_unref(f->pool);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void dispatch_locked(struct sy_flow *f, uint64_t now, struct sy_flow_item *self);
static struct band *band_get(struct sy_flow *f, int32_t prio, bool create);

void sy_flow_configure(struct sy_flow *f, struct sy_flow_config *cfg, struct sy_pool *pool)
{
    pthread_mutex_lock(&f->mu);
    struct sy_flow_config *old = f->cfg;
    struct sy_pool *old_pool = f->pool;
    f->cfg = cfg;
    f->pool = pool ? sy_pool_ref(pool) : NULL;
    for (size_t i = 0; i < f->nbands; i++) {
        struct band *b = f->bands[i];
        b->cfg = *sy_flow_band_for(cfg, b->priority);
        b->cfg.priority = b->priority;
    }
    for (size_t i = 0; i < cfg->nbands; i++) /* configured bands exist from the start */
        band_get(f, cfg->bands[i].priority, true);
    dispatch_locked(f, sy_now_ns(), NULL);
    pthread_mutex_unlock(&f->mu);
    sy_flow_config_free(old);
    if (old_pool)
        sy_pool_unref(old_pool);
}

void sy_flow_set_pool(struct sy_flow *f, struct sy_pool *pool)
{
    pthread_mutex_lock(&f->mu);
    struct sy_pool *old_pool = f->pool;
    f->pool = pool ? sy_pool_ref(pool) : NULL;
    if (f->cfg)
        dispatch_locked(f, sy_now_ns(), NULL); /* a new endpoint may take waiting requests */
    pthread_mutex_unlock(&f->mu);
    if (old_pool)
        sy_pool_unref(old_pool);
}

bool sy_flow_enabled(struct sy_flow *f)
{
    pthread_mutex_lock(&f->mu);
    bool e = f->cfg && f->cfg->enabled;
    pthread_mutex_unlock(&f->mu);
    return e;
}

struct sy_flow_port *sy_flow_port_new(struct sy_flow *f, sy_flow_notify_fn *notify, void *ud)
{
    struct sy_flow_port *p = SY_NEW(struct sy_flow_port);
    p->f = f;
    p->notify = notify;
    p->ud = ud;
    return p;
}

void sy_flow_port_free(struct sy_flow_port *p)
{
    free(p);
}

/* ---- classification ---- */

static bool header(const struct sy_str *names, const struct sy_str *values, size_t n,
                   const char *name, struct sy_str *out)
{
    for (size_t i = 0; i < n; i++)
        if (sy_str_case_eq_c(names[i], name)) {
            *out = values[i];
            return true;
        }
    return false;
}

void sy_flow_classify(struct sy_flow *f, struct sy_flow_item *it, const struct sy_str *names,
                      const struct sy_str *values, size_t n)
{
    struct sy_str v;
    it->priority = 0;
    if (header(names, values, n, "x-llm-d-inference-objective", &v) ||
        header(names, values, n, "x-gateway-inference-objective", &v)) {
        if (v.len) {
            pthread_mutex_lock(&f->mu);
            int32_t p;
            if (f->cfg && sy_flow_objective_priority(f->cfg, v, &p)) {
                it->priority = p;
            } else {
                f->unknown_objectives++;
                uint64_t now = sy_now_ns();
                if (now - f->last_unknown_log_ns >= LOG_EVERY_NS) {
                    f->last_unknown_log_ns = now;
                    sy_warn("flow control: unknown inference objective '%.*s' (not in "
                            "inferenceObjectives); served at priority 0",
                            (int)(v.len > 100 ? 100 : v.len), v.p);
                }
            }
            pthread_mutex_unlock(&f->mu);
        }
    }
    if ((header(names, values, n, "x-llm-d-inference-fairness-id", &v) ||
         header(names, values, n, "x-gateway-inference-fairness-id", &v)) &&
        v.len) {
        size_t l = v.len < SY_FLOW_FAIRNESS_MAX - 1 ? v.len : SY_FLOW_FAIRNESS_MAX - 1;
        memcpy(it->fairness_id, v.p, l);
        it->fairness_id[l] = '\0';
        for (size_t i = 0; i < l; i++) /* label-safe: no quotes, backslashes or controls */
            if ((unsigned char)it->fairness_id[i] < 0x20 || it->fairness_id[i] == '"' ||
                it->fairness_id[i] == '\\')
                it->fairness_id[i] = '_';
    } else {
        snprintf(it->fairness_id, sizeof it->fairness_id, "%s", SY_FLOW_DEFAULT_FLOW);
    }
    /* slo-deadline-ordering-policy's deadline, read as llm-d reads it (slo_deadline.go): the
     * canonical header wins over the old alias; the trimmed value is a base-10 integer of
     * milliseconds in [0, INT64_MAX / 1e6]; "0" is a real deadline (due on arrival, first in
     * line), anything else (empty, negative, fractional, too large) is no deadline (last). */
    it->slo_ns = SY_FLOW_NO_SLO;
    if (header(names, values, n, "x-llm-d-slo-ttft-ms", &v) ||
        header(names, values, n, "x-slo-ttft-ms", &v)) {
        const char *p = v.p, *e = v.p + v.len;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (p < e && *p == '+')
            p++;
        uint64_t ms = 0;
        const uint64_t max_ms = (uint64_t)INT64_MAX / 1000000ull;
        bool ok = p < e;
        for (; ok && p < e; p++) {
            ok = *p >= '0' && *p <= '9' && ms <= (max_ms - (uint64_t)(*p - '0')) / 10;
            ms = ms * 10 + (uint64_t)(*p - '0');
        }
        if (ok)
            it->slo_ns = ms * 1000000ull;
    }
}

/* ---- queues ---- */

static struct band *band_get(struct sy_flow *f, int32_t prio, bool create)
{
    size_t i = 0;
    for (; i < f->nbands; i++) {
        if (f->bands[i]->priority == prio)
            return f->bands[i];
        if (f->bands[i]->priority < prio)
            break;
    }
    if (!create)
        return NULL;
    struct band *b = SY_NEW(struct band);
    b->priority = prio;
    b->cfg = *sy_flow_band_for(f->cfg, prio);
    b->cfg.priority = prio;
    f->bands = sy_xrealloc(f->bands, (f->nbands + 1) * sizeof *f->bands);
    f->s_prio = sy_xrealloc(f->s_prio, (f->nbands + 1) * sizeof *f->s_prio);
    f->s_ceil = sy_xrealloc(f->s_ceil, (f->nbands + 1) * sizeof *f->s_ceil);
    memmove(f->bands + i + 1, f->bands + i, (f->nbands - i) * sizeof *f->bands);
    f->bands[i] = b;
    f->nbands++;
    return b;
}

/* Index of the first flow with id >= id. */
static size_t flow_lower(const struct band *b, const char *id)
{
    size_t lo = 0, hi = b->nflows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(b->flows[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct fq *flow_get(struct band *b, const char *id)
{
    size_t i = flow_lower(b, id);
    if (i < b->nflows && !strcmp(b->flows[i]->id, id))
        return b->flows[i];
    if (b->nflows == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->flows = sy_xrealloc(b->flows, b->cap * sizeof *b->flows);
    }
    struct fq *q = SY_NEW(struct fq);
    snprintf(q->id, sizeof q->id, "%s", id);
    memmove(b->flows + i + 1, b->flows + i, (b->nflows - i) * sizeof *b->flows);
    b->flows[i] = q;
    b->nflows++;
    return q;
}

static bool item_before(const struct sy_flow_item *a, const struct sy_flow_item *b)
{
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

/* Inserts by (key, seq), scanning from the tail: O(1) for arrival order. */
static void fq_insert(struct fq *q, struct sy_flow_item *it)
{
    struct sy_flow_item *at = q->tail;
    while (at && item_before(it, at))
        at = at->prev;
    it->prev = at;
    it->next = at ? at->next : q->head;
    if (it->next)
        it->next->prev = it;
    else
        q->tail = it;
    if (at)
        at->next = it;
    else
        q->head = it;
    q->n++;
}

/* Unlinks a queued item; frees its flow when empty. Adjusts counts. */
static void unqueue(struct sy_flow *f, struct sy_flow_item *it)
{
    struct fq *q = it->flow;
    struct band *b = band_get(f, it->priority, false);
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    it->prev = it->next = NULL;
    it->flow = NULL;
    q->n--;
    f->queued--;
    f->queued_bytes -= it->bytes;
    if (b) {
        b->n--;
        b->bytes -= it->bytes;
        if (q->n == 0) {
            size_t i = flow_lower(b, q->id);
            if (i < b->nflows && b->flows[i] == q) {
                memmove(b->flows + i, b->flows + i + 1, (b->nflows - i - 1) * sizeof *b->flows);
                b->nflows--;
            }
            free(q);
        }
    }
}

static void post(struct sy_flow_item *it, enum sy_flow_verdict v)
{
    struct sy_flow_port *p = it->port;
    it->verdict = v;
    it->state = ST_POSTED;
    it->prev = p->tail;
    it->next = NULL;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
}

static void port_unlink(struct sy_flow_item *it)
{
    struct sy_flow_port *p = it->port;
    if (it->prev)
        it->prev->next = it->next;
    else
        p->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        p->tail = it->prev;
    it->prev = it->next = NULL;
}

/* ---- eviction (enableEviction): in-flight sheddable requests make room for waiting ones ---- */

static void shed_add(struct sy_flow *f, struct sy_flow_item *it)
{
    if (!f->cfg || !f->cfg->eviction || it->priority >= 0 || it->evictable)
        return;
    it->evictable = true;
    it->enext = NULL;
    it->eprev = f->shed_tail;
    if (f->shed_tail)
        f->shed_tail->enext = it;
    else
        f->shed_head = it;
    f->shed_tail = it;
}

static void shed_del(struct sy_flow *f, struct sy_flow_item *it)
{
    if (!it->evictable)
        return;
    if (it->eprev)
        it->eprev->enext = it->enext;
    else
        f->shed_head = it->enext;
    if (it->enext)
        it->enext->eprev = it->eprev;
    else
        f->shed_tail = it->eprev;
    it->eprev = it->enext = NULL;
    it->evictable = false;
}

/* Dispatch is blocked while a band of priority blocked_prio waits: evict one in-flight request of
 * lower, negative priority (lowest priority first, then the most recently dispatched: it has
 * done the least work; llm-d's priority_time ordering). One eviction at a time: the next cycle
 * runs when the evicted request releases its capacity. */
static void maybe_evict(struct sy_flow *f, int32_t blocked_prio)
{
    if (!f->cfg->eviction || f->evicting > 0)
        return;
    struct sy_flow_item *victim = NULL;
    for (struct sy_flow_item *it = f->shed_tail; it; it = it->eprev)
        if (it->priority < blocked_prio && (!victim || it->priority < victim->priority))
            victim = it;
    if (!victim || victim->state != ST_ACTIVE)
        return;
    shed_del(f, victim);
    f->evicting++;
    f->evictions++;
    post(victim, SY_FLOW_EVICTED);
    victim->port->notify(victim->port->ud);
}

/* ---- dispatch ---- */

static void saturation_locked(struct sy_flow *f, uint64_t now)
{
    struct sy_flow_pool_view v = {.pool = f->pool,
                                  .now_ns = now,
                                  .outstanding = f->outstanding,
                                  .outstanding_tokens = f->outstanding_tokens,
                                  .unpicked = f->unpicked};
    struct sy_flow_saturation s;
    sy_flow_saturation(&f->cfg->detector, &v, &s);
    f->last_sat = s.value;
    f->last_ready = s.ready;
    f->last_stale = s.stale;
    if (s.stale && now - f->last_stale_log_ns >= LOG_EVERY_NS) {
        f->last_stale_log_ns = now;
        sy_warn("flow control: %zu of %zu ready endpoints have metrics older than %llums; "
                "utilization-detector counts them as saturated (see "
                "llm_d_epp_flow_control_stale_endpoints)",
                s.stale, s.ready, (unsigned long long)(f->cfg->detector.staleness_ns / 1000000));
    }
}

/* A band that may not use a priority-reservation-filter's reserved endpoints (priority below
 * its minPriority) is also gated on the saturation of the shared endpoints alone, so the gate
 * never releases more of it than the endpoints it may land on can hold. 0 without a
 * reservation or for a band that may use the reserved endpoints. */
static double shared_saturation_locked(struct sy_flow *f, int32_t prio, uint64_t now)
{
    const struct sy_flow_config *c = f->cfg;
    if (!c || !c->reserve_sel || prio >= c->reserve_min_priority)
        return 0;
    struct sy_flow_pool_view v = {.pool = f->pool,
                                  .now_ns = now,
                                  .outstanding = f->outstanding,
                                  .outstanding_tokens = f->outstanding_tokens,
                                  .unpicked = f->unpicked,
                                  .exclude = c->reserve_sel};
    struct sy_flow_saturation s;
    sy_flow_saturation(&c->detector, &v, &s);
    f->last_shared_sat = s.value;
    return s.value;
}

/* program-aware-fairness: the flow with the best LAS score (program.c); its head item. */
static struct sy_flow_item *pick_las(struct sy_flow *f, struct band *b, uint64_t now)
{
    if (f->s_cap < b->nflows) {
        f->s_cap = b->nflows * 2;
        f->s_svc = sy_xrealloc(f->s_svc, f->s_cap * sizeof *f->s_svc);
        f->s_wait = sy_xrealloc(f->s_wait, f->s_cap * sizeof *f->s_wait);
    }
    for (size_t i = 0; i < b->nflows; i++) {
        const struct fq *q = b->flows[i];
        struct sy_flow_prog *p = sy_flow__prog_get(&f->progs, q->id, false, now);
        f->s_svc[i] = p ? sy_flow__prog_service(p, now, b->cfg.las.half_life_s) : 0.0;
        /* whole milliseconds, as llm-d reads the head's age */
        f->s_wait[i] = now > q->head->enq_ns ? (double)((now - q->head->enq_ns) / 1000000) : 0;
    }
    return b->flows[sy_flow_las_pick(&b->cfg.las, f->s_svc, f->s_wait, b->nflows)]->head;
}

/* Picks the next item of band b by its fairness policy. */
static struct sy_flow_item *pick(struct sy_flow *f, struct band *b, uint64_t now)
{
    if (b->nflows == 0)
        return NULL;
    if (b->cfg.fairness == SY_FLOW_FAIR_PROGRAM_AWARE)
        return pick_las(f, b, now);
    if (b->cfg.fairness == SY_FLOW_FAIR_ROUND_ROBIN) {
        size_t i = 0;
        if (b->rr_set) {
            i = flow_lower(b, b->rr_last);
            if (i < b->nflows && !strcmp(b->flows[i]->id, b->rr_last))
                i++;
            if (i >= b->nflows)
                i = 0;
        }
        snprintf(b->rr_last, sizeof b->rr_last, "%s", b->flows[i]->id);
        b->rr_set = true;
        return b->flows[i]->head;
    }
    struct sy_flow_item *best = NULL; /* global strict: best head over all flows */
    for (size_t i = 0; i < b->nflows; i++) {
        struct sy_flow_item *h = b->flows[i]->head;
        if (h && (!best || item_before(h, best)))
            best = h;
    }
    return best;
}

static void dispatch_locked(struct sy_flow *f, uint64_t now, struct sy_flow_item *self)
{
    if (!f->cfg || !f->cfg->enabled || f->queued == 0)
        return;
    uint64_t t0 = now;
    int32_t *prio = f->s_prio;
    double *ceil = f->s_ceil;
    struct band **active = f->bands;
    size_t budget = (size_t)f->queued;
    while (f->queued > 0 && budget-- > 0) {
        saturation_locked(f, now);
        if (f->last_ready == 0)
            break; /* nothing to send to: the no-endpoint TTL runs */
        /* the usage policy sees every band the registry holds (configured bands and those
         * created by traffic), so a band that is empty right now keeps its headroom */
        size_t n = f->nbands, top = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (f->bands[i]->n && top == SIZE_MAX)
                top = i;
            prio[i] = f->bands[i]->priority;
        }
        if (top == SIZE_MAX)
            break;
        sy_flow_ceilings(&f->cfg->usage, f->last_sat, prio, n, &f->soft_tick, ceil);
        if (f->last_sat >= ceil[top] || shared_saturation_locked(f, prio[top], now) >= ceil[top]) {
            maybe_evict(f, prio[top]);
            break; /* head-of-line blocking keeps strict priority */
        }
        struct sy_flow_item *it = pick(f, active[top], now);
        if (!it)
            break;
        bool las = active[top]->cfg.fairness == SY_FLOW_FAIR_PROGRAM_AWARE;
        unqueue(f, it);
        if (las) { /* the program's in-flight count keeps it from eviction until it completes */
            sy_flow__prog_get(&f->progs, it->fairness_id, true, now)->inflight++;
            it->prog = true;
        }
        it->counted = true;
        it->unpicked = true;
        f->outstanding++;
        f->outstanding_tokens += it->tokens;
        f->unpicked++;
        observe_wait(f, it, "Dispatched", now);
        if (it == self) {
            it->state = ST_ACTIVE;
            it->verdict = SY_FLOW_DISPATCH;
            shed_add(f, it);
        } else {
            post(it, SY_FLOW_DISPATCH);
            it->port->notify(it->port->ud);
        }
    }
    if (f->cycle) {
        double d = (double)(sy_now_ns() - t0) / 1e9;
        sy_metric_observe(f->cycle, d);
        sy_metric_observe(f->cycle_epp, d);
    }
}

/* ---- admission and release ---- */

enum sy_flow_verdict sy_flow_admit(struct sy_flow *f, struct sy_flow_item *it)
{
    uint64_t now = sy_now_ns();
    pthread_mutex_lock(&f->mu);
    enum sy_flow_verdict v = SY_FLOW_DISPATCH;
    struct sy_flow_config *c = f->cfg;
    it->enq_ns = now;
    if (f->shutting && c && c->enabled) {
        v = SY_FLOW_REJECT_SHUTDOWN; /* without the gate, draining is the gateway's own */
        goto out;
    }
    if (!c || !c->enabled) {
        /* legacy admission: shed sheddable requests while saturated */
        if (c && it->priority < 0) {
            saturation_locked(f, now);
            if (f->last_sat >= 1.0 || shared_saturation_locked(f, it->priority, now) >= 1.0) {
                v = SY_FLOW_REJECT_SATURATED;
                goto out;
            }
        }
        it->counted = true;
        it->unpicked = true;
        it->state = ST_ACTIVE;
        f->outstanding++;
        f->outstanding_tokens += it->tokens;
        f->unpicked++;
        goto out;
    }
    struct band *b = band_get(f, it->priority, true);
    if (f->queued + 1 > c->max_requests || f->queued_bytes + it->bytes > c->max_bytes ||
        b->n + 1 > b->cfg.max_requests || b->bytes + it->bytes > b->cfg.max_bytes) {
        v = SY_FLOW_REJECT_SATURATED;
        observe_wait(f, it, outcome_for(v), now);
        goto out;
    }
    it->seq = ++f->seq;
    switch (b->cfg.ordering) {
    case SY_FLOW_ORDER_FCFS: it->key = now; break;
    case SY_FLOW_ORDER_EDF: it->key = now + c->ttl_ns; break;
    case SY_FLOW_ORDER_SLO_DEADLINE:
        /* no SLO: last; a deadline past the clock's range stays before those */
        it->key = it->slo_ns == SY_FLOW_NO_SLO         ? UINT64_MAX
                  : it->slo_ns >= UINT64_MAX - 1 - now ? UINT64_MAX - 1
                                                       : now + it->slo_ns;
        break;
    }
    struct fq *q = flow_get(b, it->fairness_id);
    it->flow = q;
    it->state = ST_QUEUED;
    fq_insert(q, it);
    b->n++;
    b->bytes += it->bytes;
    f->queued++;
    f->queued_bytes += it->bytes;
    dispatch_locked(f, now, it);
    v = it->state == ST_ACTIVE ? SY_FLOW_DISPATCH : SY_FLOW_QUEUED;
out:
    pthread_mutex_unlock(&f->mu);
    return v;
}

void sy_flow_picked(struct sy_flow *f, struct sy_flow_item *it)
{
    pthread_mutex_lock(&f->mu);
    if (it->unpicked) {
        it->unpicked = false;
        f->unpicked--;
    }
    pthread_mutex_unlock(&f->mu);
}

void sy_flow_release(struct sy_flow *f, struct sy_flow_item *it)
{
    if (!it->port)
        return; /* never admitted (e.g. refused before admission): holds nothing */
    uint64_t now = sy_now_ns();
    pthread_mutex_lock(&f->mu);
    if (it->state == ST_QUEUED) {
        unqueue(f, it);
        observe_wait(f, it, "EvictedContextCancelled", now);
    } else if (it->state == ST_POSTED) {
        port_unlink(it);
    }
    it->state = ST_DONE;
    shed_del(f, it);
    if (it->verdict == SY_FLOW_EVICTED && it->counted)
        f->evicting--;
    if (it->counted) {
        it->counted = false;
        f->outstanding--;
        f->outstanding_tokens -= it->tokens;
    }
    if (it->unpicked) {
        it->unpicked = false;
        f->unpicked--;
    }
    if (it->prog) { /* program-aware-fairness: the completion adds to the program's service */
        it->prog = false;
        struct band *b = band_get(f, it->priority, false);
        struct sy_flow_prog *p = sy_flow__prog_get(&f->progs, it->fairness_id, true, now);
        p->inflight--;
        p->last_done_ns = now;
        sy_flow__prog_add(p, sy_flow_las_cost(it->usage_prompt, it->usage_completion), now,
                          b ? b->cfg.las.half_life_s : 0);
    }
    dispatch_locked(f, now, NULL);
    pthread_mutex_unlock(&f->mu);
}

void sy_flow_port_run(struct sy_flow_port *p)
{
    struct sy_flow *f = p->f;
    pthread_mutex_lock(&f->mu);
    struct sy_flow_item *list = p->head;
    p->head = p->tail = NULL;
    for (struct sy_flow_item *it = list; it; it = it->next) {
        it->state =
            it->verdict == SY_FLOW_DISPATCH || it->verdict == SY_FLOW_EVICTED ? ST_ACTIVE : ST_DONE;
        if (it->verdict == SY_FLOW_DISPATCH)
            shed_add(f, it);
    }
    pthread_mutex_unlock(&f->mu);
    while (list) {
        struct sy_flow_item *it = list;
        list = it->next;
        it->prev = it->next = NULL;
        it->cb(it->ud, it->verdict); /* may free it */
    }
}

/* ---- periodic work ---- */

static void sweep_locked(struct sy_flow *f, uint64_t now)
{
    struct sy_flow_config *c = f->cfg;
    saturation_locked(f, now);
    bool no_eps = f->last_ready == 0;
    bool shut = f->shutting && now >= f->shutdown_deadline;
    for (size_t b = 0; b < f->nbands; b++) {
        struct band *bd = f->bands[b];
        for (size_t i = 0; i < bd->nflows;) {
            struct fq *q = bd->flows[i];
            size_t before = bd->nflows;
            for (struct sy_flow_item *it = q->head, *next; it; it = next) {
                next = it->next;
                uint64_t age = now - it->enq_ns;
                enum sy_flow_verdict v = SY_FLOW_DISPATCH;
                if (shut)
                    v = SY_FLOW_REJECT_SHUTDOWN;
                else if (no_eps && age >= c->no_endpoint_ttl_ns)
                    v = SY_FLOW_REJECT_NO_ENDPOINTS;
                else if (!no_eps && age >= c->ttl_ns)
                    v = SY_FLOW_REJECT_TTL;
                if (v == SY_FLOW_DISPATCH) {
                    if (bd->cfg.ordering == SY_FLOW_ORDER_FCFS)
                        break; /* arrival order: the rest of this flow is younger */
                    continue;
                }
                bool last = q->n == 1;
                unqueue(f, it); /* may free q when it empties */
                observe_wait(f, it, outcome_for(v), now);
                post(it, v);
                it->port->notify(it->port->ud);
                if (last)
                    break;
            }
            if (bd->nflows == before)
                i++;
        }
    }
}

/* program-aware-fairness eviction sweep: the shortest sweep period and longest TTL among the
 * bands that use it. */
static void prog_sweep_locked(struct sy_flow *f, uint64_t now)
{
    if (f->progs.n == 0)
        return;
    double sweep = 0, ttl = 0;
    for (size_t i = 0; i < f->nbands; i++) {
        const struct sy_flow_band_config *c = &f->bands[i]->cfg;
        if (c->fairness != SY_FLOW_FAIR_PROGRAM_AWARE)
            continue;
        if (sweep == 0 || c->las.evict_sweep_s < sweep)
            sweep = c->las.evict_sweep_s;
        if (c->las.evict_ttl_s > ttl)
            ttl = c->las.evict_ttl_s;
    }
    if (sweep == 0) { /* no band uses it any more (reload): forget what is idle */
        sweep = 300;
        ttl = 1e-9;
    }
    if ((double)(now - f->progs.last_sweep_ns) < sweep * 1e9)
        return;
    f->progs.last_sweep_ns = now;
    sy_flow__prog_sweep(&f->progs, now, (uint64_t)(ttl * 1e9));
}

bool sy_flow_tick(struct sy_flow *f)
{
    uint64_t now = sy_now_ns();
    pthread_mutex_lock(&f->mu);
    prog_sweep_locked(f, now);
    if (f->cfg && f->queued) {
        if (now - f->last_sweep_ns >= SWEEP_NS || (f->shutting && now >= f->shutdown_deadline)) {
            f->last_sweep_ns = now;
            sweep_locked(f, now);
        }
        dispatch_locked(f, now, NULL);
    } else if (f->cfg && f->cfg->enabled && f->pool) {
        saturation_locked(f, now); /* keeps the saturation gauge fresh */
    }
    /* Queued items (TTLs, dispatch as saturation moves) and the gate's gauge need the fast tick;
     * only sy_flow_configure turns the gate on, and items queue only while it is on. */
    bool busy = f->queued > 0 || (f->cfg && f->cfg->enabled);
    pthread_mutex_unlock(&f->mu);
    return busy;
}

void sy_flow_shutdown(struct sy_flow *f, uint64_t deadline_ns)
{
    pthread_mutex_lock(&f->mu);
    f->shutting = true;
    f->shutdown_deadline = deadline_ns;
    pthread_mutex_unlock(&f->mu);
}

void sy_flow_stats(struct sy_flow *f, struct sy_flow_stats *out)
{
    pthread_mutex_lock(&f->mu);
    out->queued = f->queued;
    out->queued_bytes = f->queued_bytes;
    out->outstanding = f->outstanding;
    out->saturation = f->last_sat;
    pthread_mutex_unlock(&f->mu);
}
