/* no_hit_lru_scorer.c - llm-d's `no-hit-lru-scorer`: spreads cold requests over the pool.
 *
 * A request is cold when no candidate being scored holds any of its prefix blocks (or no prefix
 * data was produced): llm-d's isColdRequest reads the match data of the endpoints passed to Score
 * (inference-scheduler v0.8.0 and the router alike; PrefixCacheServers, every server of the index,
 * was v0.4-v0.7), so a hit on an endpoint the profile's filters removed leaves the request cold.
 * Warm requests: every candidate scores 0.5 (neutral). Cold requests rank candidates by when they
 * last received a cold request, with N candidates:
 *   never-used candidates, in candidate order j = 0, 1, ...:   1 - j / (N - 1)
 *   used candidates at LRU position p (0 = oldest entry):      max(0, 1 - (U + p) / (N - 1))
 * where U is the number of never-used candidates; a single candidate scores 1. After a cold
 * pick the chosen endpoint moves to the most-recent end (PreRequest), and so does a P/D prefill
 * pick (records_prefill) when its profile is the one llm-d tracks, the profile named "prefill" (a
 * constant in every tagged release). The verdict is per instance, as llm-d's plugin state keyed by
 * request and instance name: each instance owns one bit (index, given at create) of the cycle's
 * cy->scratch[SY_SCHED_SCRATCH_NO_HIT_LRU], read as a uintptr_t, set when its last score call in
 * the cycle found the request cold; an instance that never scored in the cycle moves nothing.
 * Another instance's verdict (nh-p in the prefill profile) never moves this one's picks.
 *
 * Data structure: keys[] = xxh64(address), oldest first, at most lruSize entries (the oldest is
 * evicted), guarded by a mutex. Scoring a cold request builds a small open-addressing index
 * key -> position so the cost is O(lruSize + N), not O(lruSize x N).
 *
 * Parameters: lruSize (default 1024; <= 0 is logged and replaced by 1024, as llm-d, at most
 * 2^20); prefixMatchInfoProducerName, prefixPluginType, prefixPluginName (accepted: Switchyard
 * has one prefix data key per cycle, so they select nothing); prefillProfile (accepted with a
 * warning and ignored: it was only in an untagged llm-d commit, and released llm-d ignores unknown
 * keys). A cycle is scored by one scheduler's plugins only, so each instance's verdict bit is its
 * position among the no-hit-lru-scorer instances of its own configuration (sy_plugin_env's
 * type_index): at most SY_NO_HIT_LRU_MAX in one configuration, one more is a config error; a reload
 * or a scheduler kept alive by requests in flight takes nothing from another configuration.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define NO_HIT_LRU_DEFAULT_SIZE 1024                                /* llm-d default */
#define SY_NO_HIT_LRU_MAX       ((unsigned)(sizeof(uintptr_t) * 8)) /* instances per config */

struct no_hit_lru {
    pthread_mutex_t mu; /* guards keys/n */
    uint64_t *keys;     /* oldest first */
    size_t n;           /* entries */
    size_t cap;         /* lruSize */
    uintptr_t bit;      /* this instance's verdict bit in the cycle's scratch slot */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"lruSize",          "prefixPluginType",
                                          "prefixPluginName", "prefixMatchInfoProducerName",
                                          "prefillProfile",   NULL};
    int64_t size = NO_HIT_LRU_DEFAULT_SIZE;
    const char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        /* <= 0: llm-d's NewNoHitLRU keeps its default (silently; here with a warning) */
        rc = sy_param_int_or_default(params, "lruSize", env, INT32_MIN, 1 << 20, 1,
                                     NO_HIT_LRU_DEFAULT_SIZE, &size, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefixPluginType", env, &s1, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefixPluginName", env, &s2, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefillProfile", env, &s3, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &s4, err, errcap);
    if (rc)
        return rc;
    if (env->type_index >= SY_NO_HIT_LRU_MAX) {
        snprintf(err, errcap,
                 "%s:%d: %s: more than %u no-hit-lru-scorer instances in one configuration "
                 "(plugin '%s')",
                 env->file, env->line, env->path, SY_NO_HIT_LRU_MAX, env->name);
        return SY_ECONFIG;
    }
    uintptr_t bit = (uintptr_t)1 << env->type_index;
    if (s3)
        sy_warn("%s:%d: %s.parameters.prefillProfile: ignored, as released llm-d ignores it: the "
                "pick of the profile named 'prefill' is tracked (plugin '%s')",
                env->file, env->line, env->path, env->name);
    struct no_hit_lru *l = SY_NEW(struct no_hit_lru);
    pthread_mutex_init(&l->mu, NULL);
    l->cap = (size_t)size;
    l->bit = bit;
    l->keys = sy_xcalloc(l->cap, sizeof *l->keys);
    *state = l;
    return 0;
}

static void destroy(void *state)
{
    struct no_hit_lru *l = state;
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->keys);
    free(l);
}

static uint64_t key_of(const struct sy_endpoint *ep)
{
    return XXH64(ep->address, strlen(ep->address), 0);
}

/* Over the candidates c[0..n) only. */
static bool is_cold(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *c, size_t n)
{
    if (!cy->prefix || !cy->prefix_valid)
        return true;
    for (size_t i = 0; i < n; i++)
        if (cy->prefix[c[i].pool_index].match_blocks > 0)
            return false;
    return true;
}

/* The cycle's verdict bits (one per instance; set = its last score found the request cold). */
static uintptr_t verdicts(const struct sy_sched_cycle *cy)
{
    return (uintptr_t)cy->scratch[SY_SCHED_SCRATCH_NO_HIT_LRU];
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    struct no_hit_lru *l = state;
    bool cold = is_cold(cy, c, n);
    uintptr_t v = verdicts(cy);
    cy->scratch[SY_SCHED_SCRATCH_NO_HIT_LRU] = (void *)(cold ? v | l->bit : v & ~l->bit);
    if (!cold) {
        for (size_t i = 0; i < n; i++)
            scores[i] = 0.5;
        return;
    }
    if (n == 1) {
        scores[0] = 1.0;
        return;
    }
    pthread_mutex_lock(&l->mu);
    size_t tcap = 16;
    while (tcap < 2 * l->n)
        tcap <<= 1;
    /* slot: key and position + 1 (0 = empty) */
    uint64_t *tk = sy_xmalloc(tcap * sizeof *tk);
    uint32_t *tp = sy_xcalloc(tcap, sizeof *tp);
    for (size_t p = 0; p < l->n; p++) {
        size_t h = (size_t)l->keys[p] & (tcap - 1);
        while (tp[h])
            h = (h + 1) & (tcap - 1);
        tk[h] = l->keys[p];
        tp[h] = (uint32_t)p + 1;
    }
    pthread_mutex_unlock(&l->mu);
    /* pos[i]: LRU position of candidate i, or -1 when never used. */
    long *pos = sy_xmalloc(n * sizeof *pos);
    size_t never = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(c[i].ep);
        size_t h = (size_t)k & (tcap - 1);
        pos[i] = -1;
        while (tp[h]) {
            if (tk[h] == k) {
                pos[i] = (long)tp[h] - 1;
                break;
            }
            h = (h + 1) & (tcap - 1);
        }
        if (pos[i] < 0)
            never++;
    }
    double denom = (double)(n - 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (pos[i] < 0) {
            scores[i] = 1.0 - (double)j++ / denom;
        } else {
            double s = 1.0 - (double)(never + (size_t)pos[i]) / denom;
            scores[i] = s < 0 ? 0 : s;
        }
    }
    free(pos);
    free(tk);
    free(tp);
}

static void pre_request(void *state, struct sy_sched_cycle *cy,
                        const struct sy_sched_candidate *chosen)
{
    struct no_hit_lru *l = state;
    if (!(verdicts(cy) & l->bit))
        return;
    if (cy->secondary_pick && sy_sched_profile_pick(cy, "prefill") != chosen->ep)
        return; /* a prefill profile of another name: llm-d does not track it */
    uint64_t k = key_of(chosen->ep);
    pthread_mutex_lock(&l->mu);
    size_t p = 0;
    while (p < l->n && l->keys[p] != k)
        p++;
    if (p < l->n) { /* move to the most-recent end */
        memmove(&l->keys[p], &l->keys[p + 1], (l->n - p - 1) * sizeof *l->keys);
        l->keys[l->n - 1] = k;
    } else {
        if (l->n == l->cap) { /* evict the oldest */
            memmove(&l->keys[0], &l->keys[1], (l->n - 1) * sizeof *l->keys);
            l->n--;
        }
        l->keys[l->n++] = k;
    }
    pthread_mutex_unlock(&l->mu);
}

const struct sy_plugin_ops sy_plugin_no_hit_lru_scorer = {
    .type = "no-hit-lru-scorer",
    .consumes = SY_PREFIX_KEY,
    .create = create,
    .destroy = destroy,
    .score = score,
    .pre_request = pre_request,
    .records_prefill = true,
};
