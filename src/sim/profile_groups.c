/* profile_groups.c - per-replica-group engine profiles: `--profile NAME[:N][,NAME[:N]...]`.
 *
 * A heterogeneous fleet in one simulator process, so that latency prediction has something to
 * learn: `--replicas 4 --profile qwen3-8b-h100:2,qwen3-32b-tp2-h100` runs two fast replicas on
 * the first ports and two slow ones after them. Groups take replicas in port order; a group
 * without :N takes whatever is left (only the last may omit it); the counts must add up to the
 * replica count. The engine flags (--kv-blocks, --block-size, --max-num-seqs, ...) apply to every
 * group the way they apply to a single profile (sy_sim__profile_overrides copies what the flags
 * changed on the first group's profile). A plain `--profile NAME` keeps the old path (no groups).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sim/profile_groups.h"

bool sy_sim__profile_is_grouped(const char *spec)
{
    return spec && strpbrk(spec, ",:") != NULL;
}

const struct sy_sim_profile *sy_sim__profile_first(const char *spec)
{
    char name[128];
    size_t len = strcspn(spec, ",:");
    if (len == 0 || len >= sizeof name)
        return NULL;
    memcpy(name, spec, len);
    name[len] = '\0';
    return sy_sim_profile_find(name);
}

int sy_sim__profile_groups(const char *spec, uint32_t replicas, const struct sy_sim_profile *base,
                           const struct sy_sim_profile *over, const struct sy_sim_overrides *ov,
                           struct sy_sim_profile **out, char *err, size_t errcap)
{
    struct sy_sim_profile *v = sy_xcalloc(replicas ? replicas : 1, sizeof *v);
    uint32_t at = 0;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[160], *colon;
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errcap, "expected NAME[:N][,NAME[:N]...]");
            goto fail;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len + (p[len] == ',');
        uint32_t n = replicas - at;
        if ((colon = strchr(item, ':'))) {
            *colon = '\0';
            char *end;
            unsigned long k = strtoul(colon + 1, &end, 10);
            if (*end || end == colon + 1 || k == 0 || k > replicas - at) {
                snprintf(err, errcap, "%s: the group size must be 1..%u (replicas left)", item,
                         replicas - at);
                goto fail;
            }
            n = (uint32_t)k;
        } else if (*p) {
            snprintf(err, errcap, "%s: only the last group may omit :N", item);
            goto fail;
        }
        const struct sy_sim_profile *prof = sy_sim_profile_find(item);
        if (!prof) {
            snprintf(err, errcap, "%s: unknown profile (see --list-profiles)", item);
            goto fail;
        }
        for (uint32_t i = 0; i < n; i++) {
            v[at + i] = *prof;
            sy_sim__profile_overrides(&v[at + i], base, over, ov);
        }
        at += n;
    }
    if (at != replicas) {
        snprintf(err, errcap, "the groups cover %u of %u replicas", at, replicas);
        goto fail;
    }
    *out = v;
    return 0;
fail:
    free(v);
    return -1;
}

void sy_sim__profile_overrides(struct sy_sim_profile *g, const struct sy_sim_profile *base,
                               const struct sy_sim_profile *over, const struct sy_sim_overrides *ov)
{
    (void)base;
    if (ov->block_size) { /* vLLM keeps the memory, not the block count */
        uint64_t tokens = (uint64_t)g->num_gpu_blocks * g->block_size;
        g->block_size = over->block_size;
        g->num_gpu_blocks = (uint32_t)(tokens / over->block_size);
    }
    if (ov->kv_blocks)
        g->num_gpu_blocks = over->num_gpu_blocks;
    if (ov->max_num_seqs)
        g->max_num_seqs = over->max_num_seqs;
    if (ov->max_batched)
        g->max_num_batched_tokens = over->max_num_batched_tokens;
    if (ov->max_model_len)
        g->max_model_len = over->max_model_len;
    if (ov->kv_bandwidth)
        g->kv_xfer_gbps = over->kv_xfer_gbps;
    if (ov->kv_latency)
        g->kv_xfer_base_us = over->kv_xfer_base_us;
    if (ov->kv_lease)
        g->kv_lease_s = over->kv_lease_s;
}
