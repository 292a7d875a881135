/* prefix_sched.h - what the scheduler's loader and the gateway need from the approximate prefix
 * plugins beyond their ops tables (approx-prefix-cache-producer, prefix-cache-scorer).
 *
 * Legacy configs put the producer's parameters inline on prefix-cache-scorer (GIE and llm-d up to
 * v0.3: hashBlockSize, blockSize, maxPrefixBlocksToMatch, lruCapacityPerServer). The scorer
 * accepts them and remembers them; when the loader auto-creates the prefix-match producer for
 * such a scorer it calls sy_prefix_cache_scorer_make_producer instead of the producer's create.
 */
#ifndef SY_PREFIX_PREFIX_SCHED_H
#define SY_PREFIX_PREFIX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/plugin.h"

struct sy_approx_index;
struct sy_pool;

/* Producer configuration (llm-d's approximateprefix config struct). */
struct sy_approx_prefix_config {
    bool auto_tune;        /* autoTune: block size / LRU capacity from vllm:cache_config_info */
    uint32_t block_tokens; /* blockSizeTokens (v0.8 default 16) */
    uint32_t block_chars;  /* legacy blockSize / hashBlockSize in characters; 0 = tokens x 4 */
    uint64_t max_blocks;   /* maxPrefixBlocksToMatch (v0.8 default 256); 0 = unlimited */
    uint64_t max_tokens;   /* maxPrefixTokensToMatch; > 0 wins: max_blocks = tokens / block */
    uint32_t lru_capacity; /* lruCapacityPerServer (31250) */
    bool router;           /* llm-d router semantics (token chain over the token producer's
                              output, blocks >= 64 tokens); false = v0.8 character chain */
};

/* v0.8 defaults. */
void sy_approx_prefix_config_default(struct sy_approx_prefix_config *c);

/* For the loader, when auto-creating the prefix-match producer for a prefix-cache-scorer instance
 * (scorer_state from its create): returns 1 and a producer state in *producer_state (destroy it
 * with sy_plugin_approx_prefix_cache_producer.destroy) when the scorer carried legacy producer
 * parameters, 0 when it carried none (use the producer's create(NULL) as usual). */
int sy_prefix_cache_scorer_make_producer(const void *scorer_state, void **producer_state);

/* The producer's index (for the gateway's debug output and tests). Borrowed. */
struct sy_approx_index *sy_approx_prefix_producer_index(void *producer_state);
/* The producer's effective configuration (after defaults and legacy parameters). */
void sy_approx_prefix_producer_config(const void *producer_state,
                                      struct sy_approx_prefix_config *out);
/* Drops index entries of endpoints not in pool (call after a reload; the producer also does it
 * by itself when it sees a new pool and every 2 minutes, as llm-d). */
void sy_approx_prefix_producer_retain(void *producer_state, const struct sy_pool *pool);

/* Module-internal (approx_prefix_producer.c, shared with prefix_cache_scorer.c): reads the
 * producer's parameters present in params into c (defaults left in place); a new producer state. */
int sy_approx_prefix__parse(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                            struct sy_approx_prefix_config *c, char *err, size_t errcap);
void *sy_approx_prefix__new(const struct sy_approx_prefix_config *cfg);

#endif
