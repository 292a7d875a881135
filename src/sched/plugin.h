/* plugin.h - the scheduler's plugin interface (extension points) and per-request cycle state.
 *
 * A plugin type is one const struct sy_plugin_ops, defined in its own file under src/sched/ and
 * listed in registry.c. It implements the extension points it needs; unused hooks stay NULL:
 *
 *   produce      PrepareData: compute per-request data other plugins read (prefix match info)
 *   filter       narrow the candidate list in place; return the new count
 *   score        one score per candidate; the pipeline clamps it to [0,1] and weights it
 *   pick         choose one candidate from the scored list
 *   pre_request  after the pick, before forwarding (e.g. record the decision in an index)
 *   response_header  the response head is going to the client: add headers (session token)
 *   done         once per cycle when it ends: after the response (ok = completed), or right after a
 *                failed pick (chosen == NULL, ok = false); free per-cycle scratch here
 *
 * Profile handlers (profile_handler = true) choose which profiles run, llm-d's Pick /
 * ProcessResults loop: bind once after loading (resolve profile and decider names), next_profile
 * repeatedly until it says done, then result names the primary run and the optional prefill run.
 * A handler without these hooks (single-profile-handler) runs profiles[0] alone. Deciders
 * (disaggregate) answer one question for a P/D handler: does this request need a prefill leg?
 *
 * Every hook receives the instance state made by create() and the cycle (one per request).
 * Instances are shared by all worker threads: state that changes must be thread-safe.
 *
 * Order in one cycle: every configured producer's `produce` runs once over all candidates (llm-d's
 * DataProducers run before the scheduler), then the profile's filters, scorers and picker, then
 * every plugin's `pre_request`, and finally (from sy_sched_done) every plugin's `done`. Filters
 * must keep the survivors in their original relative order (pool order), compacted to the front.
 *
 * Cycle memory: when any configured plugin produces SY_PREFIX_KEY the pipeline allocates
 * cy->prefix (zeroed, pool->n entries) before producers run and frees it with the cycle; a
 * producer sets prefix_valid once it has filled it. block_hashes is the producer's own scratch.
 *
 * Producers and consumers are tied by data keys: a plugin that `consumes` a key for which no
 * configured plugin `produces` gets a default producer of that key created automatically (llm-d:
 * prefix-cache-scorer auto-creates approx-prefix-cache-producer).
 */
#ifndef SY_SCHED_PLUGIN_H
#define SY_SCHED_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/yaml.h"
#include "sched/sched.h"

struct sy_buf;

/* Prefix-cache match info for one endpoint (llm-d's PrefixCacheMatchInfo). */
struct sy_prefix_match {
    uint32_t match_blocks;      /* blocks of this request already cached there */
    uint32_t total_blocks;      /* blocks in the request */
    uint32_t block_size_tokens; /* tokens per block */
    double weighted;            /* tier-weighted matched blocks (precise index); = match_blocks
                                   for the approximate index */
};

/* Per-request state shared by the plugins of one scheduling cycle. */
struct sy_sched_cycle {
    const struct sy_request *req;   /* the request being scheduled */
    struct sy_pool *pool;           /* borrowed for the cycle */
    uint64_t now_ns;                /* monotonic time the cycle began */
    uint64_t rng;                   /* per-cycle random state (sy_sched_rand) */
    struct sy_prefix_match *prefix; /* [pool->n] by pool_index, NULL if nothing produced it */
    bool prefix_valid;              /* prefix[] was filled this cycle */
    uint64_t *block_hashes;         /* the request's block hash chain (producer-owned scratch) */
    size_t nblocks;                 /* entries in block_hashes */
    uint32_t prompt_tokens;         /* best-known prompt token count */
    bool secondary_pick;            /* pre_request is recording the P/D prefill pick */
    bool scheduled; /* a scheduler's cycle (sy_sched_profile_pick reads its runs); false in a
                       cycle built outside one */
    const struct sy_inflight_params *inflight; /* inflight-load-producer's parameters, set by its
                                                  produce hook; NULL = llm-d's defaults */
    void *scratch[8];                          /* free slots for plugins (freed by their done hook);
                                                  in use: SY_SCHED_SCRATCH_NO_HIT_LRU (6), _TOKENS (7) */
    struct sy_latency_info *latency; /* predicted-latency-producer's per-endpoint predictions
                                        (sched/latency_info.h), NULL if none ran */
    double observed_ttft_s;          /* set by the gateway before `done` (sy_sched_observe): */
    double observed_tpot_s;          /* measured TTFT/TPOT of the served request, <= 0 unknown */
    double observed_e2e_s; /* pick to last byte, streamed (sy_sched_observe_end), or <= 0 */
    /* Per-endpoint in-flight bounds the current profile run's filters kept their candidates
     * under (concurrency-detector; a filter sets the lower of its limit and what is there): the
     * pick is charged only while the chosen endpoint is still below them (sy_pool_charge_within).
     * 0 = none; reset before each profile run's filters. */
    int64_t cap_requests; /* in-flight requests must be below this */
    int64_t cap_tokens;   /* in-flight tokens plus the request's must stay within this
                             (sy_inflight_fits: an endpoint with none, or one below
                             the limit for a request larger than it, takes it) */
    /* The same limits whether or not the filter applied them: a filter that kept every candidate
     * because all were at their limits (fail open) sets these and not cap_*; a strict charge (a
     * retry, the P/D prefill leg) still holds the pick to them. Reset with cap_*. */
    int64_t limit_requests, limit_tokens;
    bool failed_open; /* a filter kept every candidate because all were at their limits (set
                         where the filter fails open; reset with cap_*): the run carries no
                         cap_* of that filter, only its limit_* */
    /* The profile of the run in progress, set before its filters (opaque to plugins: ask
     * sy_sched_run_keeps); NULL in a cycle built outside a scheduler. */
    const struct sy_sched_profile *run_profile;
};

struct sy_inflight_params;
struct sy_latency_info;
struct sy_sched_profile;

#define SY_SCHED_SCRATCH_NO_HIT_LRU 6 /* no-hit-lru-scorer: cold verdicts, a bit per instance */

#define SY_PREFIX_KEY "prefix-match" /* data key of struct sy_prefix_match (cy->prefix) */

struct sy_sched_run;
struct sy_sched_binder;

struct sy_plugin_env {
    const char *file; /* config file, for messages */
    int line;         /* line of this plugin's entry */
    const char *name; /* instance name from config (defaults to type) */
    const char *path; /* config path of the entry, e.g. "plugins[2]", for messages */
    /* The config's apiVersion (the loader gives "llm-d.ai/v1alpha1" when the config has none);
     * NULL for a plugin built outside a config. Plugins whose semantics differ between llm-d
     * generations read it: inference.networking.x-k8s.io/... = inference-scheduler v0.8 (GIE),
     * llm-d.ai/... = llm-d router (docs/prefix-routing.md). */
    const char *api_version;
    /* How many instances of the same plugin type this configuration created before this one (0
     * for the first, and for a plugin built outside a config): a per-configuration slot number for
     * plugins that share a per-cycle resource (no-hit-lru-scorer's verdict bits). */
    unsigned type_index;
};

/* True when env selects llm-d router semantics (an llm-d.ai/... apiVersion). */
static inline bool sy_plugin_env_router(const struct sy_plugin_env *env)
{
    return env && env->api_version && !strncmp(env->api_version, "llm-d.ai/", 9);
}

struct sy_plugin_ops {
    const char *type;     /* llm-d type name, e.g. "prefix-cache-scorer" */
    const char *produces; /* data key produced ("prefix-match"), or NULL */
    const char *consumes; /* data key required, or NULL */
    bool profile_handler; /* a profile handler (chooses profiles; no pipeline hooks) */
    bool needs_loras;     /* reads candidates' LoRA lists (c->loras); others get NULL */
    bool records_prefill; /* its pre_request also runs for the P/D prefill pick (with
                             cy->secondary_pick set) when that leg is reserved */
    bool screener;        /* its filter runs first in every profile and it is not listed in one
                             (llm-d's requestcontrol.Screener, e.g. models-responder) */
    bool admission;       /* an admission check (llm-d's requestcontrol.AdmissionPlugin, e.g.
                             latency-slo-admitter): configured under plugins, its filter runs once
                             per request after the producers, over every candidate, and keeps all
                             (admit) or none (deny: sy_sched_pick returns SY_EADMISSION) */
    /* Parses params (may be NULL). Unknown parameters are errors: "FILE:LINE: key: reason". */
    int (*create)(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap);
    void (*destroy)(void *state);
    void (*produce)(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n);
    size_t (*filter)(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                     size_t n);
    /* A filter whose verdict on an endpoint is its labels and the request alone, not its load
     * nor the other candidates (decode-, prefill-, encode-filter, by-label,
     * label-selector-filter; priority-reservation-filter: the request's priority;
     * context-length-aware: the prompt's token count, hence a mutable cy, which computes it
     * lazily): true when its filter hook keeps ep for cy's request. Each of them runs its filter
     * hook through it (sy_sched_keep_if), so the two cannot disagree. NULL for a filter that reads
     * load or the other candidates. See sy_sched_run_keeps. */
    bool (*keeps)(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep);
    void (*score)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores);
    size_t (*pick)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                   size_t n, const double *totals);
    void (*pre_request)(void *state, struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *chosen);
    void (*done)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                 bool ok);
    /* When the response head goes to the client (llm-d's ResponseHeaderProcessor): appends
     * "Name: value\r\n" lines to out, e.g. the session token naming the endpoint that served. */
    void (*response_header)(void *state, const struct sy_sched_cycle *cy,
                            const struct sy_endpoint *served, struct sy_buf *out);
    /* Profile handlers. bind: resolve names; errors "FILE:LINE: key: reason". */
    int (*bind)(void *state, const struct sy_sched_binder *b, char *err, size_t errcap);
    /* next_profile: *next = the profile to run after runs[0..nruns), or SY_SCHED_NONE when done.
     * Returns 0, or SY_EREJECTED when the request names no configured profile (a 429). */
    int (*next_profile)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                        size_t nruns, size_t *next);
    /* result: *primary = the run whose pick serves the request, *prefill = the P/D prefill run or
     * SY_SCHED_NONE (indexes into runs). Returns 0, SY_ENOENDPOINT, or SY_ENOPREFILL (a prefill
     * run was required and found no endpoint; *primary is still set). */
    int (*result)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                  size_t nruns, size_t *primary, size_t *prefill);
    bool counts_decisions; /* a P/D handler: each result counts in disagg_decision_total */
    /* Deciders: true when the request should be disaggregated, judged on the decode pick (NULL
     * when decode has not run yet). */
    bool (*disaggregate)(void *state, struct sy_sched_cycle *cy,
                         const struct sy_sched_candidate *decode);
};

/* One profile run of a cycle, as profile handlers see it. */
struct sy_sched_run {
    size_t profile;                          /* index in the scheduler's profiles */
    const struct sy_sched_candidate *chosen; /* its pick; NULL when it found no endpoint */
};

/* What a profile handler's bind hook can look up once the whole config is loaded. */
struct sy_sched_binder {
    const char *const *profiles; /* profile names, [nprofiles] */
    size_t nprofiles;
    /* Finds a configured plugin instance by name (ops and state), or returns false. */
    bool (*find)(const struct sy_sched_binder *b, const char *name,
                 const struct sy_plugin_ops **ops, void **state);
    void *ctx; /* find's context */
};

#define SY_SCHED_NONE ((size_t)-1) /* "no profile" / "no run" in the handler hooks */

/* The scheduler's profiles, as a profile handler reads them during a cycle. */
size_t sy_sched_profile_count(const struct sy_sched_cycle *cy);
const char *sy_sched_profile_name(const struct sy_sched_cycle *cy, size_t i);
/* The endpoint the run of the profile called name picked in this cycle (after any prefill
 * repick), or NULL when that profile did not run or found nothing (llm-d's
 * SchedulingResult.ProfileResults[name]), and in a cycle built outside a scheduler. */
const struct sy_endpoint *sy_sched_profile_pick(const struct sy_sched_cycle *cy, const char *name);
/* True when the profile called name ran this cycle's P/D prefill leg (its pick goes out later,
 * maybe re-picked; pre_request sees it with cy->secondary_pick). False outside a scheduler. */
bool sy_sched_profile_is_prefill(const struct sy_sched_cycle *cy, const char *name);

/* True when every filter with a keeps hook (ops->keeps) of the profile run in progress keeps ep
 * for the cycle's request: the endpoints the run could choose for it whatever their load and the
 * load filters, e.g. the decode run's roles (latency-scorer's fleet mean). True when the run has
 * none, or outside a scheduler (cy->run_profile NULL). Borrows both. */
bool sy_sched_run_keeps(struct sy_sched_cycle *cy, const struct sy_endpoint *ep);

/* Uniform random in [0,1) from the cycle's state (xorshift; seeded per cycle). */
double sy_sched_rand(struct sy_sched_cycle *cy);

#endif
