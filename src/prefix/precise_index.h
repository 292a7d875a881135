/* precise_index.h - the precise prefix-cache index: what every engine actually holds, learned from
 * its KV-cache events (llm-d's kvblock.Index, in-memory backend, "dual-key design").
 *
 *   engine block hash --(engine map)--> request key(s)       (engine hashes are opaque ids)
 *   request key       --(key map)-----> holders: endpoint x tier (GPU 1.0, CPU 0.8, other 1.0)
 *
 * Request keys are Switchyard's token chain (prefix/hash.h sy_prefix_hash_tokens) over the
 * event's token ids at the INDEX's block size, seeded with xxh64(model || hashSeed); the gateway
 * computes the same chain over a request's token ids, so the engine's block size and hash
 * function never matter. Both maps are bounded LRUs; a lookup scores, per endpoint, the longest
 * consecutive run of request keys from block 0, tier-weighted (llm-d's LongestPrefixScorer).
 *
 * Thread-safe: one rwlock; lookups take it shared (and do not refresh LRU order), event
 * application takes it exclusively.
 */
#ifndef SY_PREFIX_PRECISE_INDEX_H
#define SY_PREFIX_PRECISE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define SY_PRECISE_HOLDERS       8       /* endpoint x tier entries kept per request key */
#define SY_PRECISE_MAX_ENDPOINTS 4096    /* distinct endpoints known at once */
#define SY_PRECISE_DEFAULT_KEYS  4194304 /* request keys kept (LRU) by default */
#define SY_PRECISE_WEIGHT_CPU    0.8     /* llm-d backend.go tier weight for "cpu" */

struct sy_kv_event;
struct sy_precise_index;

struct sy_precise_stats {
    size_t keys;           /* request keys held */
    size_t engine_keys;    /* engine hashes mapped */
    size_t endpoints;      /* endpoints interned */
    uint64_t stored;       /* request-key holders added by BlockStored */
    uint64_t removed;      /* request-key holders removed by BlockRemoved */
    uint64_t evicted;      /* request keys dropped by the LRU bound */
    uint64_t skipped;      /* events skipped: unknown parent, token/hash count mismatch */
    size_t bytes_per_key;  /* memory per request key (entry + bucket), fixed by the layout */
    size_t bytes_per_ekey; /* memory per engine hash mapping */
};

/* block_tokens: the index's block size (tokenProcessorConfig.blockSize); hash_seed: folded into
 * every chain's seed (tokenProcessorConfig.hashSeed, may be empty); max_keys: request keys kept
 * (0 = SY_PRECISE_DEFAULT_KEYS); the engine map keeps as many. Never NULL. */
struct sy_precise_index *sy_precise_index_new(uint32_t block_tokens, struct sy_str hash_seed,
                                              size_t max_keys);
void sy_precise_index_free(struct sy_precise_index *idx);

uint32_t sy_precise_index_block_tokens(const struct sy_precise_index *idx);
/* Chain seed for model: xxh64(model || hashSeed) (same as the subscriber uses). */
uint64_t sy_precise_index_seed(const struct sy_precise_index *idx, struct sy_str model);

/* Applies one decoded event from endpoint ep (its configured "host:port"); model is the topic's
 * model (BlockStored's lora_name, when set, replaces it, as llm-d does). Returns 0, or
 * SY_ENOTFOUND when a BlockStored is skipped (unknown parent; counted), SY_EINVAL when its token
 * count is not hashes x block_size (counted), SY_ETOOBIG when ep cannot be interned. Borrows all.
 */
int sy_precise_index_apply(struct sy_precise_index *idx, struct sy_str ep, struct sy_str model,
                           const struct sy_kv_event *ev);

/* Removes every entry of ep (AllBlocksCleared, a publisher restart, the endpoint left the pool). */
void sy_precise_index_clear_endpoint(struct sy_precise_index *idx, struct sy_str ep);

/* Speculative entries (llm-d speculativeIndexing): records that ep will hold keys[0..n) (the
 * request it was just sent), valid for ttl_s seconds (at most 127) from now_s unless confirmed by
 * events. */
void sy_precise_index_speculate(struct sy_precise_index *idx, const uint64_t *keys, size_t n,
                                struct sy_str ep, uint64_t now_s, uint32_t ttl_s);

/* Scores endpoints eps[0..neps) for the request keys keys[0..n): blocks[i] = length of the run of
 * consecutive keys from keys[0] that eps[i] holds, weighted[i] = the sum over that run of its best
 * tier weight per key. Endpoints the index does not know score 0. now_s ages speculative entries.
 * Borrows all; fills blocks and weighted (either may be NULL). */
void sy_precise_index_score(struct sy_precise_index *idx, const uint64_t *keys, size_t n,
                            const struct sy_str *eps, size_t neps, uint64_t now_s, uint32_t *blocks,
                            double *weighted);

void sy_precise_index_stats(struct sy_precise_index *idx, struct sy_precise_stats *out);

#endif
