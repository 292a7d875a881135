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
 *   done         once per cycle when it ends: after the response (ok = completed), or right after a
 *                failed pick (chosen == NULL, ok = false); free per-cycle scratch here
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

#include "config/yaml.h"
#include "sched/sched.h"

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
    const struct sy_inflight_params *inflight; /* inflight-load-producer's parameters, set by its
                                                  produce hook; NULL = llm-d's defaults */
    void *scratch[8]; /* free slots for plugins (freed by their done hook) */
};

struct sy_inflight_params;

#define SY_PREFIX_KEY "prefix-match" /* data key of struct sy_prefix_match (cy->prefix) */

struct sy_plugin_env {
    const char *file; /* config file, for messages */
    int line;         /* line of this plugin's entry */
    const char *name; /* instance name from config (defaults to type) */
    const char *path; /* config path of the entry, e.g. "plugins[2]", for messages */
};

struct sy_plugin_ops {
    const char *type;     /* llm-d type name, e.g. "prefix-cache-scorer" */
    const char *produces; /* data key produced ("prefix-match"), or NULL */
    const char *consumes; /* data key required, or NULL */
    bool profile_handler; /* a profile handler (chooses profiles; no pipeline hooks) */
    bool needs_loras;     /* reads candidates' LoRA lists (c->loras); others get NULL */
    /* Parses params (may be NULL). Unknown parameters are errors: "FILE:LINE: key: reason". */
    int (*create)(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap);
    void (*destroy)(void *state);
    void (*produce)(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n);
    size_t (*filter)(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                     size_t n);
    void (*score)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores);
    size_t (*pick)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                   size_t n, const double *totals);
    void (*pre_request)(void *state, struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *chosen);
    void (*done)(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                 bool ok);
};

/* Uniform random in [0,1) from the cycle's state (xorshift; seeded per cycle). */
double sy_sched_rand(struct sy_sched_cycle *cy);

#endif
