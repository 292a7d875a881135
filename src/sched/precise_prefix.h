/* precise_prefix.h - what the precise prefix-cache plugins share: the request's token ids for one
 * cycle (token-producer's output, llm-d's TokenizedPrompt), and the precise producer's internals
 * reused by the legacy all-in-one precise-prefix-cache-scorer.
 *
 * Tokens travel in cy->scratch[SY_SCHED_SCRATCH_TOKENS]. token-producer fills the slot in its
 * produce hook; the precise producer reads it and, when no token-producer ran before it (none is
 * configured, or it is listed after the producer), computes the tokens itself with the estimate
 * backend. Whoever's done hook runs first frees the slot (sy_sched_tokens_release is idempotent).
 */
#ifndef SY_SCHED_PRECISE_PREFIX_H
#define SY_SCHED_PRECISE_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "sched/plugin.h"

#define SY_SCHED_SCRATCH_TOKENS 7 /* cy->scratch slot holding struct sy_sched_tokens */

struct sy_sched_tokens {
    uint32_t *ids; /* owned (malloc); NULL when n == 0 */
    size_t n;      /* token count */
};

/* llm-d router's estimate backend: the prompt's raw bytes packed 4 at a time into little-endian
 * uint32 pseudo-tokens, the tail zero-padded. Writes ceil(len/4) ids to out (caller sizes it). */
size_t sy_sched_tokens_estimate(const char *text, size_t len, uint32_t *out);

/* The request text the estimate and simulator backends read: the completions prompt decoded from
 * its JSON string (a list of one string: that string), otherwise the raw prompt span (chat: the
 * messages array). *owned is set when the returned text was allocated (caller frees it). */
struct sy_str sy_sched_tokens_text(const struct sy_request *req, char **owned);

/* The cycle's tokens: token-producer's, or computed now with the estimate backend. Never NULL. */
const struct sy_sched_tokens *sy_sched_tokens_get(struct sy_sched_cycle *cy);
/* Stores toks in the cycle's slot (takes ownership of toks->ids; frees a previous value). */
void sy_sched_tokens_set(struct sy_sched_cycle *cy, uint32_t *ids, size_t n);
/* Frees the slot (idempotent). */
void sy_sched_tokens_release(struct sy_sched_cycle *cy);

/* The precise producer's hooks and parameter parsing, shared with precise_prefix_scorer.c.
 * legacy: accept the v0.8 scorer's extra parameters. */
int sy_precise__create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                       bool legacy, void **state, char *err, size_t errcap);
void sy_precise__destroy(void *state);
void sy_precise__produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                         size_t n);
void sy_precise__pre_request(void *state, struct sy_sched_cycle *cy,
                             const struct sy_sched_candidate *chosen);
void sy_precise__done(void *state, struct sy_sched_cycle *cy,
                      const struct sy_sched_candidate *chosen, bool ok);
/* The producer's index (borrowed; for tests and debug output). */
struct sy_precise_index *sy_precise_producer_index(void *state);

#endif
