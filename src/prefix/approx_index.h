/* approx_index.h - the approximate prefix-cache index (llm-d's indexer.go): which endpoints
 * probably hold which prompt blocks, learned from the gateway's own routing decisions.
 *
 * A block hash maps to the set of endpoints it was routed to; each endpoint keeps an LRU of its
 * hashes with a capacity (lruCapacityPerServer, or the endpoint's KV block count with autoTune).
 * Evicting a hash from an endpoint's LRU removes that endpoint from the hash's set. Endpoints are
 * named by an opaque pointer (the struct sy_endpoint) and get a small integer id internally.
 *
 * Thread-safe: one reader-writer lock (writer-preferring); lookups share it, inserts and purges
 * take it exclusively, each once per call. Memory is bounded by the sum of endpoint capacities
 * (about 50-90 bytes per (hash, endpoint) entry, see approx_index.c).
 */
#ifndef SY_PREFIX_APPROX_INDEX_H
#define SY_PREFIX_APPROX_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct sy_buf;
struct sy_approx_index;

#define SY_APPROX_MAX_ENDPOINTS    4096  /* endpoint ids alive at once in one index */
#define SY_APPROX_DEFAULT_CAPACITY 31250 /* llm-d's lruCapacityPerServer default */

struct sy_approx_index_stats {
    size_t entries;   /* (hash, endpoint) entries held: inference_extension_prefix_indexer_size */
    size_t hashes;    /* distinct block hashes */
    size_t endpoints; /* endpoints with at least an id */
    size_t bytes;     /* bytes held by the index's tables (excluding the struct itself) */
    uint64_t lookups; /* sy_approx_index_match calls */
    uint64_t hit_blocks;   /* matched blocks recorded by sy_approx_index_record */
    uint64_t total_blocks; /* total blocks recorded by sy_approx_index_record */
};

/* default_capacity: LRU capacity for endpoints added with capacity 0 (0 -> 31250). */
struct sy_approx_index *sy_approx_index_new(uint32_t default_capacity);
void sy_approx_index_free(struct sy_approx_index *idx);

/* llm-d's matchLongestPrefix: walks hashes in order; for each, every endpoint holding it gets +1;
 * stops at the first hash no endpoint holds. counts[i] receives the count for eps[i] (endpoints
 * the index does not know get 0). Returns the number of hashes walked before the stop. Borrows
 * everything; O(n x endpoints-per-hash), independent of how many endpoints exist. */
size_t sy_approx_index_match(struct sy_approx_index *idx, const uint64_t *hashes, size_t n,
                             const void *const *eps, size_t neps, uint32_t *counts);

/* Records that ep now holds hashes (most recent last), evicting its least recently used hashes
 * beyond capacity (0 = the index default). The capacity is updated on every call (autoTune may
 * learn the KV size later); shrinking evicts at once. Returns 0 or SY_EBUSY when
 * SY_APPROX_MAX_ENDPOINTS endpoints already have ids. */
int sy_approx_index_add(struct sy_approx_index *idx, const uint64_t *hashes, size_t n,
                        const void *ep, uint32_t capacity);

/* Drops every entry of ep and frees its id. No-op for an unknown ep. */
void sy_approx_index_remove(struct sy_approx_index *idx, const void *ep);
/* Purge: drops every endpoint not in keep[0..n). Returns how many endpoints were dropped. */
size_t sy_approx_index_retain(struct sy_approx_index *idx, const void *const *keep, size_t n);
/* Entries currently held for ep (0 when unknown). */
size_t sy_approx_index_count(struct sy_approx_index *idx, const void *ep);

/* Hit statistics for one routed request: match of the chosen endpoint out of total blocks. Also
 * feeds the process-wide hit-ratio histogram. Lock-free. */
void sy_approx_index_record(struct sy_approx_index *idx, uint32_t match_blocks,
                            uint32_t total_blocks);
void sy_approx_index_stats(struct sy_approx_index *idx, struct sy_approx_index_stats *out);

/* Metrics collector (sy_metrics_collect_fn shape; ud unused): renders process-wide
 * inference_extension_prefix_indexer_size (gauge, entries in all live indexes) and
 * inference_extension_prefix_indexer_hit_ratio (histogram, buckets 0.0 .. 1.0 by 0.1). */
void sy_approx_index_metrics_collect(void *ud, struct sy_buf *out);

#endif
