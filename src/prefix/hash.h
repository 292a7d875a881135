/* hash.h - llm-d's prefix block hash chains (xxh64), character-based and token-based.
 *
 * Character chain (llm-d inference-scheduler v0.8, GIE): the prompt bytes are cut into blocks of
 * block_chars bytes (blockSizeTokens x 4); h0 = xxh64(model || cache_salt, seed 0);
 * h_i = xxh64(block_i || LE64(h_{i-1})). Whole blocks only: a trailing partial block is not
 * hashed (GIE v1.5.0 hashPrompt); input shorter than one block yields no hashes; at most
 * max_blocks.
 *
 * Token chain (llm-d router v0.9): tokens are uint32 ids cut into blocks of block_tokens (last may
 * be partial); blockID = xxh64(raw LE uint32 bytes of the block); h_i = xxh64(LE64(blockID) ||
 * LE64(h_{i-1})); h0 as above. At most max_blocks hashes.
 */
#ifndef SY_PREFIX_HASH_H
#define SY_PREFIX_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/* h0 = xxh64(model || salt) with seed 0 (salt may be empty). */
uint64_t sy_prefix_seed(struct sy_str model, struct sy_str salt);

/* Number of hashes sy_prefix_hash_chars would produce for len input bytes: min(len / B, max). */
size_t sy_prefix_nblocks_chars(size_t len, size_t block_chars, size_t max_blocks);

/* Character chain over text. Writes at most cap hashes to out and returns how many the chain has
 * (as sy_prefix_nblocks_chars; callers size out with it). block_chars 0 -> 0 hashes. Borrows all.
 */
size_t sy_prefix_hash_chars(uint64_t seed, const char *text, size_t len, size_t block_chars,
                            size_t max_blocks, uint64_t *out, size_t cap);

/* Token chain over ntok token ids; same return contract (ceil(ntok / block_tokens) capped). */
size_t sy_prefix_hash_tokens(uint64_t seed, const uint32_t *tokens, size_t ntok,
                             size_t block_tokens, size_t max_blocks, uint64_t *out, size_t cap);

/* The token chain over the estimate backend's pseudo-tokens (bytes packed 4 per LE uint32, the tail
 * zero-padded) computed straight from the bytes: equal to sy_prefix_hash_tokens over
 * sy_sched_tokens_estimate(bytes), without materialising the ids. Same return contract. */
size_t sy_prefix_hash_packed(uint64_t seed, const char *bytes, size_t len, size_t block_tokens,
                             size_t max_blocks, uint64_t *out, size_t cap);

#endif
