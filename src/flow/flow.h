/* flow.h - admission and flow control (llm-d's pkg/epp/flowcontrol, issue 14).
 *
 * Configuration (flow_config.c) comes from two places:
 *   gateway file: inferenceObjectives: [{name, priority}]     request -> priority
 *   scheduler section (EndpointPickerConfig): featureGates: [flowControl], flowControl: {...}
 *     and flow-control plugin instances under plugins: (saturation detectors, fairness,
 *     ordering and usage-limit policies), referenced by name from flowControl.
 *
 * Runtime (controller.c): one controller per gateway, shared by every worker thread and kept
 * across reloads. A request is admitted before scheduling:
 *   without the gate  legacy admission: a sheddable request (priority < 0) is refused 429
 *                     rejected-saturated while the pool's saturation >= 1.0; the rest pass;
 *   with the gate     the request waits in the gateway (band by priority, flow by fairness id)
 *                     until the dispatch cycle releases it, and is scheduled only then (late
 *                     binding), or is refused with 429/503 and x-llm-d-request-dropped-reason.
 * Policies (policy.c) and saturation detectors (saturation.c) are const ops tables named by
 * llm-d's plugin type names.
 */
#ifndef SY_FLOW_FLOW_H
#define SY_FLOW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/yaml.h"
#include "core/str.h"
#include "pool/pool.h"

struct sy_label_selector; /* sched/label_selector.h */

struct sy_metrics;
struct sy_buf;

#define SY_FLOW_MAX_BANDS      64             /* configured priority bands */
#define SY_FLOW_MAX_OBJECTIVES 4096           /* inferenceObjectives entries */
#define SY_FLOW_FAIRNESS_MAX   128            /* bytes of a fairness id kept (longer ids are cut) */
#define SY_FLOW_DEFAULT_FLOW   "default-flow" /* fairness id when the request names none */
#define SY_FLOW_UNLIMITED      UINT64_MAX     /* a limit that is not set */

/* ---- quantities and durations (flow_config.c) ---- */

/* Kubernetes resource.Quantity as llm-d reads maxBytes/maxRequests: an integer or decimal with an
 * optional suffix (Ki Mi Gi Ti Pi Ei, k M G T P E, m). Returns 0 and the value rounded up to an
 * integer, or SY_ECONFIG for anything else (negative, garbage, overflow). */
int sy_flow_parse_quantity(const char *s, uint64_t *out);
/* Go time.ParseDuration ("300ms", "1m30s", "1.5h", "0"); a bare integer is refused as Go does.
 * Returns 0 or SY_ECONFIG. Negative durations are refused. */
int sy_flow_parse_duration(const char *s, uint64_t *out_ns);

/* ---- plugin kinds ---- */

enum sy_flow_kind {
    SY_FLOW_KIND_DETECTOR, /* saturation detector */
    SY_FLOW_KIND_FAIRNESS, /* fairness policy (chooses a flow within a band) */
    SY_FLOW_KIND_ORDERING, /* ordering policy (chooses an item within a flow) */
    SY_FLOW_KIND_USAGE     /* usage-limit policy (a dispatch ceiling per band) */
};

/* True when type is one of llm-d's flow-control plugin types (the scheduler loader leaves them
 * to flow_config.c). */
bool sy_flow_is_plugin_type(const char *type);

/* Pool state a detector reads, taken once per dispatch cycle. */
struct sy_flow_pool_view {
    const struct sy_pool *pool; /* borrowed */
    uint64_t now_ns;            /* monotonic */
    int64_t outstanding;        /* requests the gateway admitted and not yet released */
    int64_t outstanding_tokens; /* their token estimates */
    int64_t unpicked;           /* admitted but not yet counted in an endpoint's in-flight */
    /* Leave out the endpoints this selector matches (a reservation: the saturation of the
     * endpoints a lower band may use). The concurrency detector then counts the gateway's own
     * in-flight requests on the remaining endpoints plus `unpicked`, instead of `outstanding`.
     * NULL = every endpoint. */
    const struct sy_label_selector *exclude;
};

/* Result of a detector: saturation plus what it saw (for metrics and logs). */
struct sy_flow_saturation {
    double value; /* pool saturation (>= 0; 1.0 = at capacity) */
    size_t ready; /* ready endpoints */
    size_t stale; /* ready endpoints whose metrics are older than the staleness bound */
};

struct sy_flow_detector_params {
    int kind; /* 0 utilization, 1 concurrency */
    /* utilization-detector */
    double queue_depth;    /* queueDepthThreshold, default 5 */
    double kv_util;        /* kvCacheUtilThreshold, default 0.8 */
    uint64_t staleness_ns; /* metricsStalenessThreshold, default 200ms */
    double headroom;       /* headroom, default 0 */
    /* concurrency-detector */
    int mode;                      /* 0 requests, 1 tokens, 2 hybrid */
    int64_t max_concurrency;       /* maxConcurrency per endpoint, default 100 */
    int64_t max_token_concurrency; /* maxTokenConcurrency per endpoint, default 1e6 */
};

/* The utilization detector's view of one endpoint (saturation.c), shared with its filter role:
 * stale = never scraped, or the last scrape older than staleness_ns at now; queue = scraped
 * waiting plus the requests the gateway sent that the scrape does not show yet
 * (max(0, in flight - (waiting + running)), the scrape-lag credit). */
bool sy_flow_endpoint_stale(const struct sy_endpoint_state *st, uint64_t now_ns,
                            uint64_t staleness_ns);
double sy_flow_endpoint_queue(const struct sy_endpoint_state *st);

/* Pool saturation per llm-d's documented arithmetic (saturation.c). */
void sy_flow_saturation(const struct sy_flow_detector_params *d, const struct sy_flow_pool_view *v,
                        struct sy_flow_saturation *out);

/* ---- policies (policy.c) ---- */

enum sy_flow_fairness {
    SY_FLOW_FAIR_GLOBAL_STRICT, /* global-strict-fairness-policy: best head item over all flows */
    SY_FLOW_FAIR_ROUND_ROBIN,   /* round-robin-fairness-policy: cursor over sorted flow ids */
    SY_FLOW_FAIR_PROGRAM_AWARE  /* program-aware-fairness: least attained service (LAS) */
};

/* program-aware-fairness (strategy las) parameters, llm-d's defaults. */
struct sy_flow_las_params {
    double w_service;     /* lasWeightService, default 0.8 */
    double w_wait;        /* lasWeightHeadWait, default 0.2 */
    double half_life_s;   /* lasHalfLifeSeconds, default 60 (0 = service never decays) */
    double evict_ttl_s;   /* evictionTtlSeconds, default 3600 (0 = never evicted) */
    double evict_sweep_s; /* evictionSweepSeconds, default 300 */
};

/* LAS arithmetic (program.c), llm-d's programaware plugin:
 *   cost of a completed request = 1 x prompt tokens + 2 x completion tokens;
 *   attained service decays as service x 2^(-elapsed / halfLife) (lazily, when read);
 *   pick: over the non-empty flows, score = wS (1 - norm(service)) + wW norm(headWaitMs), where
 *   norm(v) = (v - min) / (max - min) over those flows, 0.5 when max == min; the highest score
 *   wins (ties: the first, i.e. the smallest fairness id). */
double sy_flow_las_cost(int64_t prompt_tokens, int64_t completion_tokens);
double sy_flow_las_decay(double service, double elapsed_s, double half_life_s);
/* Index of the flow to serve among n (service[i], wait_ms[i]); n must be > 0. */
size_t sy_flow_las_pick(const struct sy_flow_las_params *p, const double *service,
                        const double *wait_ms, size_t n);

enum sy_flow_ordering {
    SY_FLOW_ORDER_FCFS,        /* fcfs-ordering-policy: arrival order */
    SY_FLOW_ORDER_EDF,         /* edf-ordering-policy: enqueue time + TTL */
    SY_FLOW_ORDER_SLO_DEADLINE /* slo-deadline-ordering-policy: received + x-slo-ttft-ms */
};

enum sy_flow_usage {
    SY_FLOW_USAGE_STATIC,   /* static-usage-limit-policy: one threshold for every band */
    SY_FLOW_USAGE_HOLDBACK, /* priority-holdback-policy: linear ceilings by rank or value */
    SY_FLOW_USAGE_SOFT      /* soft-reflective-ceiling-policy */
};

struct sy_flow_usage_params {
    enum sy_flow_usage kind;
    double threshold;   /* static: default 1.0 */
    double min_ceiling; /* holdback: required */
    double max_ceiling; /* holdback: default 1.0 */
    bool by_value;      /* holdback: domain value (else rank) */
};

/* Ceilings for n active bands given highest priority first (prio[0] highest). tick is the one
 * call counter of soft-reflective-ceiling shared by all bands (caller-owned, starts at 0); may
 * be NULL for the other policies. Writes ceil[i]; a band dispatches only while
 * saturation < ceil[i]. */
void sy_flow_ceilings(const struct sy_flow_usage_params *u, double saturation, const int32_t *prio,
                      size_t n, uint64_t *tick, double *ceil);

/* ---- configuration (flow_config.c) ---- */

struct sy_flow_band_config {
    int32_t priority;               /* band priority */
    uint64_t max_bytes;             /* default 1 GB */
    uint64_t max_requests;          /* default 5000 */
    enum sy_flow_fairness fairness; /* default global-strict */
    enum sy_flow_ordering ordering; /* default fcfs */
    struct sy_flow_las_params las;  /* program-aware-fairness parameters (when fairness is it) */
};

struct sy_flow_objective {
    char *name;       /* owned */
    int32_t priority; /* spec.priority, default 0 */
};

struct sy_flow_config {
    bool enabled;                             /* featureGates: [flowControl] */
    uint64_t max_bytes;                       /* flowControl.maxBytes, default unlimited */
    uint64_t max_requests;                    /* flowControl.maxRequests, default unlimited */
    uint64_t ttl_ns;                          /* defaultRequestTTL, default 60s */
    uint64_t no_endpoint_ttl_ns;              /* noEndpointRequestTTL, default 60s */
    struct sy_flow_band_config band_default;  /* defaultPriorityBand template */
    struct sy_flow_band_config band_negative; /* defaultNegativePriorityBand template */
    struct sy_flow_band_config *bands;        /* priorityBands, owned */
    size_t nbands;
    struct sy_flow_usage_params usage;       /* usageLimitPolicyPluginRef */
    struct sy_flow_detector_params detector; /* saturationDetector.pluginRef */
    bool eviction;                           /* enableEviction, default false */
    struct sy_flow_objective *objectives;    /* inferenceObjectives, owned, sorted by name */
    size_t nobjectives;
    /* A priority-reservation-filter under plugins (sched/priority_reservation_filter.c): bands
     * below reserve_min_priority may not use the endpoints reserve_sel matches, so the gate also
     * measures their saturation over the other (shared) endpoints only. NULL = none. */
    struct sy_label_selector *reserve_sel; /* owned */
    int32_t reserve_min_priority;
};

/* Builds the flow configuration. objectives is the gateway file's `inferenceObjectives` node
 * (NULL: none); epp is the scheduler section (NULL: llm-d's built-in default). Files are used in
 * messages. Returns NULL with "FILE:LINE: key: reason" in err. Free with sy_flow_config_free. */
struct sy_flow_config *sy_flow_config_new(const struct sy_yaml_node *objectives,
                                          const char *objectives_file,
                                          const struct sy_yaml_node *epp, const char *epp_file,
                                          char *err, size_t errcap);
void sy_flow_config_free(struct sy_flow_config *c);
/* The band template for priority p (configured band, else the default or negative template). */
const struct sy_flow_band_config *sy_flow_band_for(const struct sy_flow_config *c, int32_t p);
/* Objective priority by name; false when unknown. */
bool sy_flow_objective_priority(const struct sy_flow_config *c, struct sy_str name, int32_t *out);

/* ---- the controller (controller.c) ---- */

struct sy_flow;      /* the controller */
struct sy_flow_port; /* one worker loop's mailbox */
struct sy_flow_item;

/* Verdicts. Dispatch: schedule now. Otherwise a refusal with its HTTP status and reason. */
enum sy_flow_verdict {
    SY_FLOW_DISPATCH,            /* go: schedule the request now */
    SY_FLOW_QUEUED,              /* waiting: the port's callback will tell */
    SY_FLOW_REJECT_SATURATED,    /* 429 rejected-saturated (capacity, legacy shed) */
    SY_FLOW_REJECT_TTL,          /* 429 rejected-ttl-expired */
    SY_FLOW_REJECT_NO_ENDPOINTS, /* 503 rejected-no-endpoints */
    SY_FLOW_REJECT_SHUTDOWN,     /* 503 rejected-shutting-down */
    SY_FLOW_EVICTED,             /* 429 evicted (in flight, sheddable, capacity reclaimed) */
    SY_FLOW_REJECT_ADMISSION     /* 500, no dropped reason: an admission plugin denied it after
                                    dispatch (llm-d: errcommon.Internal "request cannot be
                                    admitted"), e.g. latency-slo-admitter */
};

int sy_flow_verdict_status(enum sy_flow_verdict v); /* 429 / 503 / 500 */
/* x-llm-d-request-dropped-reason, "" when llm-d sends none (REJECT_ADMISSION) */
const char *sy_flow_verdict_reason(enum sy_flow_verdict v);
/* The error code of the OpenAI-style error body: the dropped reason, or llm-d's code name. */
const char *sy_flow_verdict_code(enum sy_flow_verdict v);
const char *sy_flow_verdict_message(enum sy_flow_verdict v); /* client-facing message */

/* Called on the item's worker loop: a verdict for a queued item (DISPATCH or a refusal), or
 * EVICTED for a dispatched sheddable one. */
typedef void sy_flow_cb_fn(void *ud, enum sy_flow_verdict v);

/* Per-request state, embedded in the caller's request object. Zero it before sy_flow_admit. */
#define SY_FLOW_NO_SLO UINT64_MAX /* sy_flow_item.slo_ns: the request named no TTFT objective */

struct sy_flow_item {
    struct sy_flow_item *prev, *next; /* links: flow queue, port mailbox or in-flight list */
    void *flow;                       /* owning flow queue while queued (controller-private) */
    int state;                        /* controller-private */
    enum sy_flow_verdict verdict;     /* posted verdict */
    int32_t priority;                 /* band */
    char fairness_id[SY_FLOW_FAIRNESS_MAX]; /* flow id */
    uint64_t bytes;                         /* body bytes counted against maxBytes */
    int64_t tokens;                         /* token estimate (concurrency detector, tokens mode) */
    uint64_t enq_ns;                        /* enqueue time */
    uint64_t key;                           /* ordering key (smaller first) */
    uint64_t seq;                           /* arrival sequence (ties, FCFS) */
    uint64_t slo_ns; /* x-llm-d-slo-ttft-ms (or x-slo-ttft-ms) in ns; SY_FLOW_NO_SLO = none,
                      * 0 = due on arrival */
    /* the response's usage, set by the caller before sy_flow_release (program-aware-fairness
     * adds 1 x prompt + 2 x completion to the flow's attained service); -1 = unknown */
    int64_t usage_prompt, usage_completion;
    bool prog;                          /* counted in its program's in-flight requests */
    struct sy_flow_item *eprev, *enext; /* in-flight sheddable list (enableEviction) */
    bool evictable;                     /* on that list */
    bool counted;                       /* counted as outstanding */
    bool unpicked;                      /* counted in unpicked */
    struct sy_flow_port *port;          /* the worker's mailbox */
    sy_flow_cb_fn *cb;                  /* verdict callback */
    void *ud;                           /* its argument */
};

/* The request's priority and flow from its headers (objective lookup with the canonical router
 * header winning). Fills it->priority, it->fairness_id, it->slo_ns. Counts unknown objectives. */
void sy_flow_classify(struct sy_flow *f, struct sy_flow_item *it, const struct sy_str *names,
                      const struct sy_str *values, size_t n);

/* Creates the controller (gateway lifetime); metrics may be NULL (no metrics). Free with
 * sy_flow_free once no request holds an item. */
struct sy_flow *sy_flow_new(struct sy_metrics *metrics);
void sy_flow_free(struct sy_flow *f);
/* Swaps in a new configuration (takes ownership) and pool (takes a reference). Queued requests
 * stay; bands take the new limits. */
void sy_flow_configure(struct sy_flow *f, struct sy_flow_config *cfg, struct sy_pool *pool);
/* Swaps in a new pool (takes a reference) and keeps the configuration: a pool membership change
 * (discovery) between reloads. */
void sy_flow_set_pool(struct sy_flow *f, struct sy_pool *pool);
bool sy_flow_enabled(struct sy_flow *f);

/* A port is one worker loop's mailbox: notify(ud) is called, from any thread and under the
 * controller's lock (it must only wake the loop, e.g. uv_async_send), after a verdict was posted;
 * the loop then calls sy_flow_port_run. */
typedef void sy_flow_notify_fn(void *ud);
struct sy_flow_port *sy_flow_port_new(struct sy_flow *f, sy_flow_notify_fn *notify, void *ud);
void sy_flow_port_free(struct sy_flow_port *p);
/* Delivers posted verdicts on the caller's (the port's) loop. */
void sy_flow_port_run(struct sy_flow_port *p);

/* Admission. it must be classified (sy_flow_classify) with bytes/tokens set; cb/ud/port set.
 * Returns DISPATCH (counted outstanding: release later), QUEUED (the callback will deliver the
 * verdict), or a refusal (nothing held). */
enum sy_flow_verdict sy_flow_admit(struct sy_flow *f, struct sy_flow_item *it);
/* The dispatched request has been counted by its endpoint (the scheduler picked). */
void sy_flow_picked(struct sy_flow *f, struct sy_flow_item *it);
/* Releases whatever it holds: leaves the queue (client gone), or ends the outstanding count.
 * Safe in every state, idempotent; call on every exit path, and last: after everything the
 * request holds on endpoints is given back (its charge, sy_pool_discharge; a P/D prefill leg,
 * sy_disagg_free). Ending the admission can dispatch a queued request to another worker inside
 * this call, and that worker's scheduling must not see the finished request still in flight:
 * with every endpoint at its concurrency-detector limit it would find no room (fail open, or a
 * strict charge refused). */
void sy_flow_release(struct sy_flow *f, struct sy_flow_item *it);

/* Periodic work (control loop): TTL sweep and a dispatch cycle (saturation moves with scrapes).
 * Returns whether the controller wants frequent ticks: true while the gate is on or anything is
 * queued; false when only the slow sweeps remain (the gate is off and the queue empty), which
 * stays so until the next sy_flow_configure. */
bool sy_flow_tick(struct sy_flow *f);
/* SIGTERM: new requests get 503 rejected-shutting-down; queued ones still dispatch until
 * deadline_ns, then get 503 rejected-shutting-down. */
void sy_flow_shutdown(struct sy_flow *f, uint64_t deadline_ns);

/* Snapshot for tests and /metrics. */
struct sy_flow_stats {
    uint64_t queued;       /* requests queued */
    uint64_t queued_bytes; /* their bytes */
    int64_t outstanding;   /* dispatched and not released */
    double saturation;     /* last computed */
};
void sy_flow_stats(struct sy_flow *f, struct sy_flow_stats *out);

#endif
