/* sched.h - the scheduler: llm-d's filter -> score -> pick pipeline over the endpoint pool.
 *
 * A scheduler is built from an llm-d EndpointPickerConfig (YAML subtree) into plugin instances
 * and scheduling profiles. For each request the gateway calls sy_sched_pick: the profile handler
 * chooses the profile(s) to run; each profile copies the candidate endpoints with a snapshot of
 * their state, runs its filters in order (an empty result is "no endpoints available"), runs its
 * scorers (each score clamped to [0,1], total = sum of weight x score), and its picker chooses.
 * After the proxy finishes, sy_sched_done lets plugins observe the outcome.
 *
 * Plugins are const ops tables (struct sy_plugin_ops), one file each, registered in registry.c
 * and named by llm-d type name. A plugin implements whichever extension points it needs (filter,
 * scorer, picker, producer, pre-request observer), as llm-d plugins implement several Go
 * interfaces.
 *
 * Threading: a scheduler is immutable after construction and shared by all workers; plugin state
 * that changes (prefix index, round-robin cursor, session table) must be thread-safe.
 */
#ifndef SY_SCHED_SCHED_H
#define SY_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/request.h"
#include "config/yaml.h"
#include "pool/pool.h"

struct sy_scheduler;
struct sy_metrics;

/* One candidate endpoint with a snapshot of its state, as plugins see it. */
struct sy_sched_candidate {
    struct sy_endpoint *ep;                /* borrowed (the caller holds the pool) */
    struct sy_endpoint_state st;           /* snapshot taken when the cycle started */
    const struct sy_endpoint_loras *loras; /* LoRA lists of the same snapshot (cycle memory);
                                              NULL unless a plugin has needs_loras */
    size_t pool_index;                     /* index in pool->eps */
};

#define SY_SCHED_MAX_CANDIDATES 1024 /* endpoints considered per cycle */
#define SY_SCHED_MAX_SCORERS    16   /* scorers per profile */

/* Result of one scheduling cycle. */
struct sy_sched_result {
    struct sy_endpoint *ep;  /* chosen endpoint; the caller takes a reference */
    size_t pool_index;       /* its index in the pool */
    int64_t inflight_tokens; /* tokens to add/sub for in-flight accounting (sched/inflight.h) */
    int64_t inflight_early;  /* part of inflight_tokens to release at the first response byte */
    void *cycle;             /* scheduler-owned per-request state; pass to sy_sched_done */
    int64_t cap_requests;    /* in-flight bounds the chosen endpoint passed the filters under */
    int64_t cap_tokens;      /* (concurrency-detector), 0 = none: see sy_sched_pick_charge */
    int64_t limit_requests;  /* the same limits also when the filter kept every candidate because */
    int64_t limit_tokens;    /* all were at them (fail open): what a strict charge holds to */
    bool failed_open;        /* a filter of the chosen run failed open (cy->failed_open) */
    /* P/D (a disaggregating profile handler chose a prefill leg): */
    struct sy_endpoint *prefill_ep;  /* prefill pick, NULL = decode-only; borrowed like ep */
    size_t prefill_pool_index;       /* its index in the pool */
    int64_t prefill_inflight_tokens; /* in-flight tokens of the prefill leg: the figure the
                                        prefill run's filters checked (sy_inflight_account) */
    int64_t prefill_cap_requests;    /* the prefill run's bounds (cap_* above, 0 = none) and */
    int64_t prefill_cap_tokens;      /* limits (limit_* above): a first leg with the flow-control */
    int64_t prefill_limit_requests;  /* gate on reserves its slot against the caps (fails open */
    int64_t prefill_limit_tokens;    /* as a decode pick), any other against the limits (disagg) */
    bool prefill_failed_open;        /* a filter of the prefill run failed open (every prefill
                                        candidate at its limit: a re-pick finds none with room) */
    bool prefill_missing; /* the handler wanted a prefill leg and no prefill endpoint was found:
                             the caller must fail the request or fall back explicitly */
};

/* Names of the built-in schedulers a config may give instead of an EndpointPickerConfig. */
#define SY_SCHED_SWITCHYARD_DEFAULT "switchyard-default" /* the default (cache-load-scorer) */
#define SY_SCHED_LLMD_DEFAULT       "llm-d-default"      /* llm-d's built-in default */

/* Builds a scheduler from an EndpointPickerConfig node, a scalar naming a built-in scheduler
 * (SY_SCHED_*), or NULL (Switchyard's default, SY_SCHED_SWITCHYARD_DEFAULT). file is used in
 * messages. On error returns NULL and writes "FILE:LINE: key: reason" to err. */
struct sy_scheduler *sy_sched_new(const struct sy_yaml_node *cfg, const char *file, char *err,
                                  size_t errcap);
void sy_sched_free(struct sy_scheduler *s);

/* Picks an endpoint of pool for req, skipping endpoints in exclude (those already tried and
 * failed). Returns 0, SY_ENOENDPOINT (no candidate survived: not ready, model not served,
 * filtered out), or another negative code. */
/* req (and pool) must stay alive until sy_sched_done. */
int sy_sched_pick(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *req,
                  struct sy_endpoint *const *exclude, size_t nexclude, struct sy_sched_result *out);
/* A reservation for a decision (sy_sched_pick_reserve): called with out->ep, cap_requests,
 * cap_tokens, limit_requests, limit_tokens, failed_open and inflight_tokens filled in; returns
 * true when the slot is taken. */
typedef bool sy_sched_reserve_fn(void *ud, const struct sy_sched_result *res);
/* sy_sched_pick, with reserve called once the decision is made and before anything records it
 * (the pre_request hooks: approximate prefix index, precise-prefix speculative entries,
 * session-affinity, no-hit-lru; the decision counters, the debug ring, the attempt metrics). A
 * refused reservation (another worker took the chosen endpoint's last slot between the filters'
 * read and the reservation) undoes the decision with the done hooks' cleanup only, and decides
 * again on fresh counts (producers and admitters run again), at most SY_SCHED_CHARGE_TRIES
 * decisions in all; then SY_ESATURATED (counted once as a failed attempt). A refused decision
 * whose filters failed open (out->failed_open: every candidate at its limit, so it carries no
 * cap_* and only a strict reservation against limit_* refuses it) is not made again: a new one
 * would find them full as well; SY_ESATURATED at once. switchyard_scheduler_slot_lost_total
 * counts the decisions made again (slots lost to another worker), not such refusals. Returns
 * what sy_sched_pick returns otherwise; on 0 the reservation is held. */
#define SY_SCHED_CHARGE_TRIES 8
/* the client-facing message of that 429 (proxy and EPP answer alike) */
#define SY_SCHED_SATURATED_MSG                                                                     \
    "no model server can take this request now (every chosen endpoint reached its concurrency "    \
    "limit)"
int sy_sched_pick_reserve(struct sy_scheduler *s, struct sy_pool *pool,
                          const struct sy_request *req, struct sy_endpoint *const *exclude,
                          size_t nexclude, struct sy_sched_result *out,
                          sy_sched_reserve_fn *reserve, void *ud);
/* sy_sched_pick_reserve whose reservation is the request's charge on the pick
 * (sy_pool_charge_within: in-flight count, out->inflight_tokens, the decode budget of req's
 * max_tokens and choices) against the in-flight bounds its filters applied (cap_*), or, when
 * strict, against their limits even where a filter failed open (limit_*: a retry, whose
 * candidates left may all be full, must not go over; it fails instead). On 0, c is charged;
 * SY_ESATURATED after SY_SCHED_CHARGE_TRIES lost slots, or at once when a strict fail-open
 * decision lost (callers answer 429 rejected-saturated, a retry its original error). Without a
 * bound it is one pick and one charge. */
int sy_sched_pick_charge(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *req,
                         struct sy_endpoint *const *exclude, size_t nexclude,
                         struct sy_sched_result *out, struct sy_charge *c, bool strict);
/* P/D: re-runs the prefill profile of res's cycle (the same candidate snapshot) without the
 * endpoints in exclude, after a prefill leg failed or found its pick full. Updates
 * res->prefill_ep, prefill_inflight_tokens, prefill_cap_*, prefill_limit_* and
 * prefill_failed_open. Returns 0, SY_ENOENDPOINT (no other prefill endpoint), or SY_EINVAL when
 * res has no prefill profile run. */
int sy_sched_repick_prefill(struct sy_scheduler *s, struct sy_sched_result *res,
                            struct sy_endpoint *const *exclude, size_t nexclude);
/* P/D: runs the pre_request hooks of the plugins that record the prefill pick (records_prefill:
 * approx-prefix-cache-producer puts the prompt in its index, no-hit-lru-scorer moves the pick
 * in its LRU) on res's current prefill pick. Called once the leg's slot is reserved, so a pick
 * that found no room leaves no entry. */
void sy_sched_record_prefill(struct sy_scheduler *s, const struct sy_sched_result *res);
/* P/D: counts one slot lost to another worker (switchyard_scheduler_slot_lost_total) outside
 * sy_sched_pick_reserve: a prefill leg's pick, chosen by a run that did not fail open, found full
 * when its slot was reserved. s may be NULL. */
void sy_sched_slot_lost(struct sy_scheduler *s);
/* Called once per successful pick when the request ends (ok = response completed). Frees the
 * cycle state. */
void sy_sched_done(struct sy_scheduler *s, struct sy_sched_result *res, bool ok);

/* Makes every later cycle's random seed (sy_sched_rand: pickers' tie-breaks, exploration) a
 * function of seed and the number of cycles since, not of the clock, so a single-threaded run that
 * schedules the same requests in the same order makes the same choices (benchmarks in simulated
 * time; the gateway never calls it). Process-wide. */
void sy_sched_seed(uint64_t seed);
/* Before sy_sched_done: the served request's measured TTFT and TPOT in seconds (<= 0 unknown),
 * for plugins that learn from outcomes (predicted-latency-producer). */
void sy_sched_observe(struct sy_sched_result *res, double ttft_s, double tpot_s);
/* Also before sy_sched_done: pick to last byte in seconds (<= 0 unknown), for plugins that learn
 * how long a request holds a batch slot (predicted-latency-producer's capAwareTTFT). */
void sy_sched_observe_end(struct sy_sched_result *res, double e2e_s);

/* Request parsers (parsers.c; llm-d's requestHandler.parsers). */
enum sy_parser {
    SY_PARSER_NONE,       /* no configured parser reads this path */
    SY_PARSER_OPENAI,     /* openai-parser */
    SY_PARSER_ANTHROPIC,  /* anthropic-parser (/v1/messages) */
    SY_PARSER_VLLMHTTP,   /* vllmhttp-parser (/inference/v1/generate + openai's paths) */
    SY_PARSER_PASSTHROUGH /* passthrough-parser: forwarded without reading the body */
};
/* Which configured parser reads a POST to path (len bytes), and the API kind it parses the body
 * as (*kind = SY_API_OTHER for passthrough: the body is not read). SY_PARSER_NONE: refuse. */
enum sy_parser sy_sched_parser_for(const struct sy_scheduler *s, const char *path, size_t len,
                                   enum sy_api_kind *kind);
/* The llm-d type name of a parser ("openai-parser", ...). */
const char *sy_parser_name(enum sy_parser p);

/* Writes a human/JSON explanation of the last decisions (debug endpoint); may be empty. */
struct sy_buf;
void sy_sched_debug_json(struct sy_scheduler *s, struct sy_buf *out);

/* Registers and then updates inference_extension_scheduler_e2e_duration_seconds,
 * inference_extension_scheduler_attempts_total{status} and
 * inference_extension_plugin_duration_seconds{extension_point,plugin_type,plugin_name} in m.
 * Optional: without it the scheduler records no metrics and reads no clock. Call once, before
 * the scheduler is shared with workers. m must outlive s. */
void sy_sched_attach_metrics(struct sy_scheduler *s, struct sy_metrics *m);

/* Appends the value of the `x-gateway-destination-endpoint-scores` debug header for a successful
 * pick (before sy_sched_done): candidates best first, e.g.
 * `127.0.0.1:8001=4.20(queue-scorer:1.00,prefix-cache-scorer:0.73);127.0.0.1:8002=...`. */
void sy_sched_explain(const struct sy_sched_result *res, struct sy_buf *out);

/* True when the scheduler has an instance of plugin type (llm-d name), e.g. the gateway echoes
 * x-session-token only when "session-affinity-scorer" is configured. */
bool sy_sched_has_plugin(const struct sy_scheduler *s, const char *type);
/* Appends the x-session-token value that pins a session to ep: base64 of its address (llm-d
 * encodes namespace/name; Switchyard has no pods, so host:port). */
void sy_sched_session_token(const struct sy_endpoint *ep, struct sy_buf *out);

/* Appends the response headers plugins add for the served endpoint (llm-d's
 * ResponseHeaderProcessor: session-affinity's token) as "Name: value\r\n" lines. Call once per
 * successful pick, before sy_sched_done. */
void sy_sched_response_headers(struct sy_scheduler *s, const struct sy_sched_result *res,
                               struct sy_buf *out);

/* models-responder (llm-d): writes the GET /v1/models answer aggregated over pool's scraped lists
 * into out and returns 200, or returns 503 (out untouched) when no endpoint has reported a list
 * yet. */
int sy_sched_models_list(const struct sy_pool *pool, struct sy_buf *out);

/* The endpoints to try, in order, for a successful pick (before sy_sched_done): the chosen one,
 * then the other candidates that survived the filters by descending total score, at most max.
 * Borrowed pointers (the caller holds the pool). The EPP sends them as the
 * x-gateway-destination-endpoint list, for the data plane's retries. */
size_t sy_sched_ranked(const struct sy_sched_result *res, struct sy_endpoint **out, size_t max);

#endif
