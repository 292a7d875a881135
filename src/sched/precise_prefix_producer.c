/* precise_prefix_producer.c - `precise-prefix-cache-producer`: llm-d's precise prefix-cache data
 * producer. Fills the cycle's prefix-match data (cy->prefix, read by prefix-cache-scorer) from
 * what the engines actually hold, learned from their KV-cache events (kvevents/subscriber.h feeds
 * the process-wide precise index, prefix/precise_index.h).
 *
 *   produce:     tokens (token-producer's, else the estimate) -> full blocks of blockSize ->
 *                request keys (token chain seeded with xxh64(model || hashSeed)) ->
 *                per candidate: longest run of held keys from block 0 (tier-weighted) ->
 *                cy->prefix[i] = {run, nblocks, blockSize, weighted}
 *   pre_request: speculativeIndexing: the chosen endpoint is recorded as holding the request's
 *                keys for speculativeTTL, until its own events confirm them.
 *   done:        frees the keys and the cycle's tokens.
 *
 * Parameters (llm-d names; Switchyard reads the router's and v0.8's layouts):
 *   tokenProcessorConfig {blockSize | blockSizeTokens (16), hashSeed ("")}; also accepted under
 *     indexerConfig (the router's sim sample puts it there)
 *   indexerConfig {kvBlockIndexConfig {inMemoryConfig {size (request keys kept, default 4Mi),
 *     podCacheSize (accepted; Switchyard keeps 8 holders per key)}, enableMetrics (accepted),
 *     maxPrefixTokensToMatch, maxPrefixBlocksToMatch (0 = unlimited)}, tokenizersPoolConfig
 *     (accepted and ignored: tokens come from token-producer)}
 *   kvEventsConfig {topicFilter ("kv@"), zmqEndpoint (bind a SUB here for publishers to connect
 *     to; default none: per-endpoint mode from pool.endpoints[].kvEvents), concurrency and
 *     discoverPods (accepted; one subscriber thread, endpoints come from the pool),
 *     podDiscoveryConfig.socketPort (accepted; set pool.endpoints[].kvEvents instead),
 *     engineType (vllm; sglang refused), replayPortOffset (Switchyard: the replay ROUTER of an
 *     endpoint is at its kvEvents port + this; 0 = no replay)}
 *   speculativeIndexing (false), speculativeTTL ("2s", at most 127 s)
 *
 * Deviation from llm-d: llm-d's default kvEventsConfig binds port 5557 on all interfaces;
 * Switchyard binds only when zmqEndpoint is set, because the pool already names each endpoint's
 * publisher.
 *
 * Threading: the state is immutable after create; the index is internally locked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "kvevents/subscriber.h"
#include "pool/pool.h"
#include "prefix/hash.h"
#include "prefix/precise_index.h"
#include "sched/params.h"
#include "sched/precise_prefix.h"

struct precise {
    struct sy_precise_index *idx; /* acquired from the subscriber module */
    uint32_t block_tokens;        /* tokenProcessorConfig.blockSize */
    uint64_t max_blocks;          /* 0 = unlimited */
    bool speculative;             /* speculativeIndexing */
    uint32_t spec_ttl_s;          /* speculativeTTL in seconds */
};

/* "2s", "500ms", "1m", "1h" or a plain number of seconds -> seconds (rounded up). */
static int parse_duration(const char *s, uint32_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return SY_EINVAL;
    double mul = 1;
    if (!strcmp(end, "ms"))
        mul = 0.001;
    else if (!strcmp(end, "s") || !*end)
        mul = 1;
    else if (!strcmp(end, "m"))
        mul = 60;
    else if (!strcmp(end, "h"))
        mul = 3600;
    else
        return SY_EINVAL;
    double sec = v * mul;
    if (sec > 1e6)
        return SY_EINVAL;
    uint32_t r = (uint32_t)sec;
    *out = (double)r < sec ? r + 1 : r;
    return 0;
}

static const struct sy_yaml_node *sub(const struct sy_yaml_node *m, const char *key)
{
    return sy_param_absent(m) ? NULL : sy_yaml_get(m, key);
}

/* Reads a nested mapping's allowed keys; NULL node is fine. */
static int nested(const struct sy_yaml_node *n, const struct sy_plugin_env *env,
                  const char *const *keys, char *err, size_t errcap)
{
    if (!n)
        return 0;
    return sy_param_check(n, env, keys, err, errcap);
}

static int token_processor(const struct sy_yaml_node *tp, const struct sy_plugin_env *env,
                           uint32_t *bs, const char **seed, char *err, size_t errcap)
{
    static const char *const keys[] = {"blockSize", "blockSizeTokens", "hashSeed", NULL};
    int rc = nested(tp, env, keys, err, errcap);
    if (rc || !tp)
        return rc;
    int64_t v = *bs;
    if ((rc = sy_param_int(tp, "blockSize", env, 1, 1 << 16, &v, err, errcap)) ||
        (rc = sy_param_int(tp, "blockSizeTokens", env, 1, 1 << 16, &v, err, errcap)))
        return rc;
    *bs = (uint32_t)v;
    const struct sy_yaml_node *hs = sub(tp, "hashSeed");
    if (hs) {
        const char *s = sy_yaml_str(hs);
        if (!s)
            return sy_param_errorf(env, hs, "hashSeed", err, errcap, "must be a scalar");
        *seed = s;
    }
    return 0;
}

int sy_precise__create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                       bool legacy, void **state, char *err, size_t errcap)
{
    static const char *const keys[] = {"tokenProcessorConfig", "indexerConfig",  "kvEventsConfig",
                                       "speculativeIndexing",  "speculativeTTL", NULL};
    static const char *const ikeys[] = {"tokenProcessorConfig", "kvBlockIndexConfig",
                                        "tokenizersPoolConfig", NULL};
    static const char *const bkeys[] = {"inMemoryConfig",         "enableMetrics",
                                        "maxPrefixTokensToMatch", "maxPrefixBlocksToMatch",
                                        "metricsLoggingInterval", NULL};
    static const char *const mkeys[] = {"size", "podCacheSize", NULL};
    static const char *const ekeys[] = {
        "topicFilter",        "zmqEndpoint", "concurrency",      "discoverPods",
        "podDiscoveryConfig", "engineType",  "replayPortOffset", NULL};
    (void)legacy;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (rc)
        return rc;
    uint32_t bs = 16;
    const char *seed = "";
    int64_t max_keys = 0, max_tokens = 0, max_blocks = 0, offset = 0;
    const struct sy_yaml_node *ic = sub(params, "indexerConfig");
    const struct sy_yaml_node *kb = sub(ic, "kvBlockIndexConfig");
    const struct sy_yaml_node *im = sub(kb, "inMemoryConfig");
    const struct sy_yaml_node *ke = sub(params, "kvEventsConfig");
    if ((rc = nested(ic, env, ikeys, err, errcap)) || (rc = nested(kb, env, bkeys, err, errcap)) ||
        (rc = nested(im, env, mkeys, err, errcap)) || (rc = nested(ke, env, ekeys, err, errcap)))
        return rc;
    if ((rc = token_processor(sub(ic, "tokenProcessorConfig"), env, &bs, &seed, err, errcap)) ||
        (rc = token_processor(sub(params, "tokenProcessorConfig"), env, &bs, &seed, err, errcap)))
        return rc;
    if (im &&
        (rc = sy_param_int(im, "size", env, 1, (int64_t)UINT32_MAX - 2, &max_keys, err, errcap)))
        return rc;
    int64_t pcs = 0;
    if (im && (rc = sy_param_int(im, "podCacheSize", env, 1, 1 << 16, &pcs, err, errcap)))
        return rc;
    if (kb && ((rc = sy_param_int(kb, "maxPrefixTokensToMatch", env, 0, INT32_MAX, &max_tokens, err,
                                  errcap)) ||
               (rc = sy_param_int(kb, "maxPrefixBlocksToMatch", env, 0, INT32_MAX, &max_blocks, err,
                                  errcap))))
        return rc;
    if (sub(ic, "tokenizersPoolConfig"))
        sy_info("%s:%d: plugin '%s': indexerConfig.tokenizersPoolConfig is ignored (tokens come "
                "from token-producer, in process)",
                env->file ? env->file : "<config>", env->line, env->name ? env->name : "?");
    const char *filter = "kv@", *bind = NULL, *engine = "vllm";
    if (ke &&
        ((rc = sy_param_string(ke, "topicFilter", env, &filter, err, errcap)) ||
         (rc = sy_param_string(ke, "zmqEndpoint", env, &bind, err, errcap)) ||
         (rc = sy_param_string(ke, "engineType", env, &engine, err, errcap)) ||
         (rc = sy_param_int(ke, "replayPortOffset", env, -65535, 65535, &offset, err, errcap))))
        return rc;
    if (strcmp(engine, "vllm") != 0)
        return sy_param_errorf(env, sub(ke, "engineType"), "engineType", err, errcap,
                               "engine type '%s' is not supported (vllm only)", engine);
    bool spec = false;
    uint32_t ttl = 2;
    if ((rc = sy_param_bool(params, "speculativeIndexing", env, &spec, err, errcap)))
        return rc;
    const char *ttls = NULL;
    if ((rc = sy_param_string(params, "speculativeTTL", env, &ttls, err, errcap)))
        return rc;
    if (ttls && (parse_duration(ttls, &ttl) != 0 || ttl > 127))
        return sy_param_errorf(env, sub(params, "speculativeTTL"), "speculativeTTL", err, errcap,
                               "'%s' is not a duration of at most 127s (e.g. \"2s\", \"500ms\")",
                               ttls);
    struct sy_kvevents_opts o = {.block_tokens = bs,
                                 .hash_seed = seed,
                                 .max_keys = (size_t)max_keys,
                                 .bind = bind,
                                 .topic_filter = filter,
                                 .replay_port_offset = (int)offset};
    char kerr[256] = "";
    struct sy_precise_index *idx = sy_kvevents_acquire(&o, kerr, sizeof kerr);
    if (!idx)
        return sy_param_errorf(env, sub(ke, "zmqEndpoint"), "kvEventsConfig", err, errcap, "%s",
                               kerr);
    struct precise *p = SY_NEW(struct precise);
    p->idx = idx;
    p->block_tokens = bs;
    p->max_blocks = max_tokens > 0 ? (uint64_t)max_tokens / bs : (uint64_t)max_blocks;
    p->speculative = spec;
    p->spec_ttl_s = ttl;
    *state = p;
    return 0;
}

void sy_precise__destroy(void *state)
{
    struct precise *p = state;
    if (!p)
        return;
    sy_kvevents_release(p->idx);
    free(p);
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    return sy_precise__create(params, env, false, state, err, errcap);
}

void sy_precise__produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                         size_t n)
{
    struct precise *p = state;
    if (!cy->prefix || !cy->req)
        return;
    const struct sy_sched_tokens *t = sy_sched_tokens_get(cy);
    size_t nb = t->n / p->block_tokens;
    if (p->max_blocks && nb > p->max_blocks)
        nb = (size_t)p->max_blocks;
    uint64_t *keys = nb ? sy_xmalloc(nb * sizeof *keys) : NULL;
    if (nb) {
        uint64_t seed = sy_precise_index_seed(p->idx, sy_str_c(cy->req->model));
        sy_prefix_hash_tokens(seed, t->ids, nb * p->block_tokens, p->block_tokens, nb, keys, nb);
    }
    if (n > SY_SCHED_MAX_CANDIDATES)
        n = SY_SCHED_MAX_CANDIDATES;
    struct sy_str names[SY_SCHED_MAX_CANDIDATES];
    uint32_t blocks[SY_SCHED_MAX_CANDIDATES];
    double weighted[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++)
        names[i] = sy_str_c(c[i].ep->address);
    sy_precise_index_score(p->idx, keys, nb, names, n, cy->now_ns / SY_NS_PER_S, blocks, weighted);
    for (size_t i = 0; i < n; i++) {
        struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
        m->match_blocks = blocks[i];
        m->total_blocks = (uint32_t)(nb > UINT32_MAX ? UINT32_MAX : nb);
        m->block_size_tokens = p->block_tokens;
        m->weighted = weighted[i];
    }
    cy->prefix_valid = true;
    free(cy->block_hashes);
    cy->block_hashes = keys;
    cy->nblocks = nb;
}

void sy_precise__pre_request(void *state, struct sy_sched_cycle *cy,
                             const struct sy_sched_candidate *chosen)
{
    struct precise *p = state;
    if (!p->speculative || !chosen || !cy->block_hashes || !cy->nblocks)
        return;
    sy_precise_index_speculate(p->idx, cy->block_hashes, cy->nblocks, sy_str_c(chosen->ep->address),
                               cy->now_ns / SY_NS_PER_S, p->spec_ttl_s);
}

void sy_precise__done(void *state, struct sy_sched_cycle *cy,
                      const struct sy_sched_candidate *chosen, bool ok)
{
    (void)state;
    (void)chosen;
    (void)ok;
    free(cy->block_hashes);
    cy->block_hashes = NULL;
    cy->nblocks = 0;
    sy_sched_tokens_release(cy);
}

struct sy_precise_index *sy_precise_producer_index(void *state)
{
    return state ? ((struct precise *)state)->idx : NULL;
}

const struct sy_plugin_ops sy_plugin_precise_prefix_cache_producer = {
    .type = "precise-prefix-cache-producer",
    .produces = SY_PREFIX_KEY,
    .create = create,
    .destroy = sy_precise__destroy,
    .produce = sy_precise__produce,
    .pre_request = sy_precise__pre_request,
    .done = sy_precise__done,
};
