/* profile_groups.h - per-replica-group engine profiles (`--profile A:N,B`, profile_groups.c). */
#ifndef SY_SIM_PROFILE_GROUPS_H
#define SY_SIM_PROFILE_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine.h"

/* Which engine flags were given (their values are on the flag-adjusted single profile). */
struct sy_sim_overrides {
    bool block_size, kv_blocks, max_num_seqs, max_batched, max_model_len; /* engine shape */
    bool kv_bandwidth, kv_latency, kv_lease;                              /* P/D transfer */
};

/* True when spec names groups (contains ',' or ':') rather than one profile. */
bool sy_sim__profile_is_grouped(const char *spec);
/* The first group's profile, or NULL when unknown. */
const struct sy_sim_profile *sy_sim__profile_first(const char *spec);
/* Builds *out[replicas] (caller frees): each replica's group profile with the flags in ov applied
 * as `over` (the first group's profile after the flags) has them. Returns 0, or -1 with a message
 * in err. base is the first group's unmodified profile. */
int sy_sim__profile_groups(const char *spec, uint32_t replicas, const struct sy_sim_profile *base,
                           const struct sy_sim_profile *over, const struct sy_sim_overrides *ov,
                           struct sy_sim_profile **out, char *err, size_t errcap);
/* Applies the overridden fields of over to g. */
void sy_sim__profile_overrides(struct sy_sim_profile *g, const struct sy_sim_profile *base,
                               const struct sy_sim_profile *over,
                               const struct sy_sim_overrides *ov);

#endif
