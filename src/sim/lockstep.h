/* lockstep.h - a data-parallel group of simulated engines whose MoE layers synchronise every step.
 *
 * Wide expert parallelism (DeepSeek-R1/V3 class): every GPU runs one data-parallel rank of
 * attention with its own KV cache and batch, and the routed experts are sharded over all ranks.
 * Each MoE layer dispatches every rank's tokens to the ranks holding their experts and combines
 * the results back (an all-to-all), so no rank can start layer l+1 before every rank finished
 * layer l. vLLM runs dummy batches on idle ranks so the collectives always complete. The step time
 * of the whole group therefore follows its busiest rank:
 *
 *   group step = max over busy ranks of own step (attention, dense layers, weights: the profile's
 *                per-rank terms, sy_sim_step_ns)
 *              + moe_us_per_token x (tokens of all ranks) / ranks   (experts are spread evenly)
 *              + a2a_base_us + a2a_us_per_token x (tokens of the busiest rank)
 *
 * and every rank's step ends at the group's end: a rank given more tokens slows every other rank.
 *
 * Driving: sy_sim_lockstep_advance(g, now) replaces sy_sim_engine_advance for each member;
 * sy_sim_lockstep_next_ns(g) is when to call it again. A rank that gets work while the group is in
 * a step starts at the next group step, as a real rank joins at the next forward pass.
 *
 * Threading: a group belongs to the thread of its engines. The engines are borrowed.
 */
#ifndef SY_SIM_LOCKSTEP_H
#define SY_SIM_LOCKSTEP_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/engine.h"

#define SY_SIM_LOCKSTEP_MAX 64 /* ranks per group */

struct sy_sim_lockstep {
    struct sy_sim_engine *eng[SY_SIM_LOCKSTEP_MAX]; /* members, borrowed */
    uint32_t n;                                     /* member count */
    struct sy_sim_profile p;                        /* coupling terms (copied) */
    bool in_step;                                   /* a group step is in flight */
    uint64_t end;                                   /* its end */
    /* statistics */
    uint64_t steps;        /* group steps */
    uint64_t busy_ns;      /* simulated time in group steps */
    uint64_t wait_ns;      /* sum over busy ranks of (group step - own step): time a rank
                              spent waiting for a busier rank or for the expert exchange */
    uint64_t own_ns;       /* sum over busy ranks of their own step time */
    uint64_t rank_tokens;  /* sum over steps of the busiest rank's tokens */
    uint64_t total_tokens; /* sum over steps of all ranks' tokens */
};

/* Initialises g over engines[0..n) (1..SY_SIM_LOCKSTEP_MAX) with profile p's coupling terms. */
void sy_sim_lockstep_init(struct sy_sim_lockstep *g, struct sy_sim_engine *const *engines,
                          uint32_t n, const struct sy_sim_profile *p);
/* Completes every group step ending at or before now and starts the next when any rank has
 * work. */
void sy_sim_lockstep_advance(struct sy_sim_lockstep *g, uint64_t now_ns);
/* When the group step in flight ends, or the earliest member event when idle (UINT64_MAX). */
uint64_t sy_sim_lockstep_next_ns(const struct sy_sim_lockstep *g);
/* Group step time for these per-rank own step times and tokens (pure; tests and benchmarks). */
uint64_t sy_sim_lockstep_step_ns(const struct sy_sim_profile *p, const uint64_t *own_ns,
                                 const uint64_t *tokens, uint32_t n);

#endif
