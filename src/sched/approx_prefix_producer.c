/* approx_prefix_producer.c - `approx-prefix-cache-producer`: llm-d's approximate prefix-cache data
 * producer (pkg/epp/framework/plugins/requestcontrol/dataproducer/approximateprefix).
 *
 * Two generations, chosen by the config's apiVersion (docs/prefix-routing.md):
 *
 * v0.8 (inference.networking.x-k8s.io/...; GIE v1.5.0 hashing.go hashPrompt): character chain.
 *   produce:     text = completions: the decoded prompt string; chat: Go's json.Marshal of the
 *                messages (role + content, llmd_text.c), block = blockSizeTokens x 4 characters,
 *                hashes = sy_prefix_hash_chars(seed(model, cache_salt), text, block, maxBlocks),
 *                whole blocks only.
 *   Defaults: blockSizeTokens 16, maxPrefixBlocksToMatch 256, maxPrefixTokensToMatch 0 (off).
 *
 * router (llm-d.ai/...; llm-d-router approximateprefix/plugin.go + prefixhash/hashing.go): token
 *   chain over the token producer's output (the estimate backend when no token-producer is
 *   configured: the prompt bytes packed 4 per pseudo-token), block = max(blockSizeTokens, 64)
 *   tokens (issue #1158), trailing partial block hashed, seed(model, cache_salt).
 *   Defaults: maxPrefixBlocksToMatch 2048, maxPrefixTokensToMatch 131072 (wins when > 0);
 *   both 0 = unlimited; the deprecated `blockSize` replaces blockSizeTokens when that is left at
 *   its default (as the router's factory does).
 *
 * Both: counts = matchLongestPrefix(hashes) over the candidates (approx_index.c);
 *   cy->prefix[pool_index] = {counts[i], nblocks, blockSizeTokens} for every candidate.
 *   pre_request: index.add(hashes, chosen endpoint, capacity) - synchronously: one write-locked
 *                pass over at most maxBlocks hashes (a few microseconds), where llm-d spawns a
 *                goroutine; records the chosen endpoint's hit ratio.
 *   done:        frees the per-cycle hash array.
 *
 * Parameters: autoTune (true), blockSizeTokens (16), maxPrefixBlocksToMatch,
 * maxPrefixTokensToMatch, lruCapacityPerServer (31250), blockSize (deprecated, characters in
 * v0.8; accepted with a warning).
 *   - autoTune: block size from the first candidate's vllm:cache_config_info block_size; LRU
 *     capacity from the chosen endpoint's num_gpu_blocks.
 *   - lruCapacityPerServer is honoured when autoTune has no KV size (router; v0.8 fell back to
 *     the constant 31250), and a capacity learned later resizes the endpoint's LRU.
 *   - maxPrefixBlocksToMatch 0 means unlimited (router; v0.8 hashed nothing).
 *
 * Purge: the index drops endpoints that left the pool when the producer first sees a new pool
 * (a reload) and every 2 minutes (llm-d's podActiveCheckInterval), both against the cycle's pool.
 *
 * P/D: after a prefill-decode decision the pipeline calls pre_request a second time with the
 * prefill pick (cy->secondary_pick), so the prompt is recorded on both endpoints, as llm-d does;
 * the hit-ratio metric counts the decode (primary) pick only.
 *
 * Not implemented: the router's per-prompt chains for a completions prompt list (one chain over
 * the text).
 */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_scan.h"
#include "api/request.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "pool/pool.h"
#include "prefix/approx_index.h"
#include "prefix/hash.h"
#include "prefix/prefix_sched.h"
#include "sched/llmd_text.h"
#include "sched/params.h"
#include "sched/plugin.h"
#include "sched/precise_prefix.h"

#define PURGE_INTERVAL_NS   (120 * SY_NS_PER_S) /* llm-d podActiveCheckInterval */
#define AVG_CHARS_PER_TOKEN 4                   /* llm-d averageCharactersPerToken */
#define ROUTER_MIN_BLOCK    64                  /* router minBlockSizeTokens (issue #1158) */
#define ROUTER_MAX_BLOCKS   2048                /* router defaultMaxPrefixBlocks */
#define ROUTER_MAX_TOKENS   131072              /* router defaultMaxPrefixTokens */

struct producer {
    struct sy_approx_prefix_config cfg;        /* parsed parameters */
    struct sy_approx_index *idx;               /* owned */
    _Atomic(const struct sy_pool *) last_pool; /* pool seen by the last cycle (purge trigger) */
    _Atomic uint64_t last_purge_ns;            /* monotonic time of the last purge */
    _Atomic bool warned;                       /* an insert failure was logged */
};

void sy_approx_prefix_config_default(struct sy_approx_prefix_config *c)
{
    c->auto_tune = true;
    c->block_tokens = 16;
    c->block_chars = 0;
    c->max_blocks = 256;
    c->max_tokens = 0;
    c->lru_capacity = SY_APPROX_DEFAULT_CAPACITY;
    c->router = false;
}

static void *producer_new(const struct sy_approx_prefix_config *cfg)
{
    struct producer *p = SY_NEW(struct producer);
    p->cfg = *cfg;
    p->idx = sy_approx_index_new(cfg->lru_capacity);
    atomic_store(&p->last_purge_ns, sy_now_ns());
    return p;
}

/* Shared by the producer's create and the scorer's legacy parameters. */
int sy_approx_prefix__parse(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                            struct sy_approx_prefix_config *c, char *err, size_t errcap)
{
    int64_t v;
    int rc;
    if (sy_plugin_env_router(env)) { /* router defaults (types.go defaultConfig) */
        c->router = true;
        c->max_blocks = ROUTER_MAX_BLOCKS;
        c->max_tokens = ROUTER_MAX_TOKENS;
    }
    if ((rc = sy_param_bool(params, "autoTune", env, &c->auto_tune, err, errcap)))
        return rc;
    v = c->block_tokens;
    if ((rc = sy_param_int(params, "blockSizeTokens", env, 0, 1 << 20, &v, err, errcap)))
        return rc;
    /* The router takes 0 with autoTune (the endpoint's block size, else the 64-token floor;
     * llm-d's TestDataProducerValidation); v0.8 needs a size. */
    if (v == 0 && !(c->router && c->auto_tune))
        return sy_param_errorf(env, sy_yaml_get(params, "blockSizeTokens"), "blockSizeTokens", err,
                               errcap, "must be > 0%s",
                               c->router ? " when autoTune is disabled" : "");
    c->block_tokens = (uint32_t)v;
    v = 0;
    if ((rc = sy_param_int(params, "blockSize", env, 1, 1 << 22, &v, err, errcap)))
        return rc;
    if (v > 0) {
        sy_warn("%s:%d: plugin '%s': 'blockSize' is deprecated (a size in characters); use "
                "'blockSizeTokens' (tokens, 4 characters each)",
                env && env->file ? env->file : "<config>", env ? env->line : 0,
                env && env->name ? env->name : "?");
        c->block_chars = (uint32_t)v;
        if (c->router) { /* router factory: blockSize replaces a default blockSizeTokens */
            if (c->block_tokens == 16)
                c->block_tokens = (uint32_t)v;
            c->block_chars = 0;
        }
    }
    v = (int64_t)c->max_blocks;
    if ((rc = sy_param_int(params, "maxPrefixBlocksToMatch", env, 0, INT32_MAX, &v, err, errcap)))
        return rc;
    c->max_blocks = (uint64_t)v;
    v = (int64_t)c->max_tokens;
    if ((rc = sy_param_int(params, "maxPrefixTokensToMatch", env, 0, INT32_MAX, &v, err, errcap)))
        return rc;
    c->max_tokens = (uint64_t)v;
    v = c->lru_capacity;
    if ((rc =
             sy_param_int(params, "lruCapacityPerServer", env, 1, UINT32_MAX / 2, &v, err, errcap)))
        return rc;
    c->lru_capacity = (uint32_t)v;
    return 0;
}

static int producer_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                           void **state, char *err, size_t errcap)
{
    static const char *const keys[] = {"autoTune",
                                       "blockSizeTokens",
                                       "blockSize",
                                       "maxPrefixBlocksToMatch",
                                       "maxPrefixTokensToMatch",
                                       "lruCapacityPerServer",
                                       NULL};
    struct sy_approx_prefix_config c;
    sy_approx_prefix_config_default(&c);
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (rc == 0)
        rc = sy_approx_prefix__parse(params, env, &c, err, errcap);
    if (rc)
        return rc;
    *state = producer_new(&c);
    return 0;
}

static void producer_destroy(void *state)
{
    struct producer *p = state;
    if (!p)
        return;
    sy_approx_index_free(p->idx);
    free(p);
}

/* Effective block geometry for this cycle: characters per block and tokens per block. */
static void geometry(const struct producer *p, const struct sy_sched_candidate *c, size_t n,
                     size_t *chars, uint32_t *tokens)
{
    uint32_t bt = p->cfg.block_tokens;
    size_t bc = p->cfg.block_chars;
    if (p->cfg.auto_tune && n > 0 && c[0].st.m.block_size > 0 &&
        c[0].st.m.block_size <= (1 << 20)) {
        bt = (uint32_t)c[0].st.m.block_size;
        bc = 0;
    }
    if (p->cfg.router) {
        /* tokens only: a legacy character size stands in for a default blockSizeTokens (the
         * router factory's blockSize rule), then the 64-token floor */
        if (bc && bt == p->cfg.block_tokens && bt == 16)
            bt = (uint32_t)bc;
        if (bt < ROUTER_MIN_BLOCK)
            bt = ROUTER_MIN_BLOCK;
        bc = 0;
    }
    if (bc == 0) {
        bc = (size_t)bt * AVG_CHARS_PER_TOKEN;
    } else {
        bt = (uint32_t)((bc + AVG_CHARS_PER_TOKEN - 1) / AVG_CHARS_PER_TOKEN);
    }
    *chars = bc;
    *tokens = bt;
}

static size_t max_blocks(const struct producer *p, uint32_t block_tokens)
{
    if (p->cfg.max_tokens > 0)
        return (size_t)(p->cfg.max_tokens / block_tokens);
    return p->cfg.max_blocks ? (size_t)p->cfg.max_blocks : SIZE_MAX;
}

static void retain_pool(struct producer *p, const struct sy_pool *pool)
{
    const void **keep = sy_xmalloc((pool->n ? pool->n : 1) * sizeof *keep);
    for (size_t i = 0; i < pool->n; i++)
        keep[i] = pool->eps[i];
    size_t dropped = sy_approx_index_retain(p->idx, keep, pool->n);
    free(keep);
    if (dropped)
        sy_debug("approx-prefix-cache-producer: purged %zu endpoint(s) that left the pool",
                 dropped);
}

static void maybe_purge(struct producer *p, const struct sy_sched_cycle *cy)
{
    if (!cy->pool)
        return;
    const struct sy_pool *prev = atomic_exchange(&p->last_pool, cy->pool);
    uint64_t last = atomic_load(&p->last_purge_ns);
    bool due = cy->now_ns > last && cy->now_ns - last >= PURGE_INTERVAL_NS;
    if (prev == cy->pool && !due)
        return;
    if (due && !atomic_compare_exchange_strong(&p->last_purge_ns, &last, cy->now_ns))
        return; /* another worker is purging */
    if (prev == NULL && !due)
        return; /* first cycle: nothing indexed yet */
    retain_pool(p, cy->pool);
}

/* seed = xxh64(model || cache_salt), both generations. */
static uint64_t request_seed(const struct sy_request *req)
{
    char salt[256];
    size_t sl = sy_llmd_cache_salt(req, salt, sizeof salt);
    return sy_prefix_seed(sy_str_c(req->model), (struct sy_str){salt, sl});
}

/* v0.8: the character chain over the text GIE hashes. Returns the hashes (caller frees; NULL when
 * none) and their count in *nb. */
static uint64_t *hash_text(const struct sy_request *req, size_t bchars, size_t maxb, size_t *nb)
{
    struct sy_str text = req->prompt;
    char *decoded = NULL;
    struct sy_buf chat;
    sy_buf_init(&chat);
    if (req->kind == SY_API_CHAT_COMPLETIONS) {
        /* json.Marshal(messages); a body Go cannot decode hashes nothing */
        if (sy_llmd_chat_marshal(req->prompt, &chat) != 0) {
            sy_buf_fini(&chat);
            *nb = 0;
            return NULL;
        }
        text = (struct sy_str){chat.data ? chat.data : "", chat.len};
    } else if (req->kind == SY_API_COMPLETIONS && text.len && text.p[0] == '[' &&
               !(text.p > req->body && text.p[-1] == '"')) {
        /* a prompt list: GIE's Prompt.PlainText() joins the strings with " "; a list of token
         * ids is not a []string to Go's decoder, so nothing is hashed */
        cJSON *a = cJSON_ParseWithLength(text.p, text.len);
        const cJSON *it;
        bool ok = cJSON_IsArray(a);
        const cJSON *list = ok ? a : NULL;
        cJSON_ArrayForEach(it, list)
        {
            if (!cJSON_IsString(it)) {
                ok = false;
                break;
            }
            if (it != a->child)
                sy_buf_puts(&chat, " ");
            sy_buf_puts(&chat, it->valuestring);
        }
        cJSON_Delete(a);
        if (!ok) {
            sy_buf_fini(&chat);
            *nb = 0;
            return NULL;
        }
        text = (struct sy_str){chat.data ? chat.data : "", chat.len};
    } else if (req->kind == SY_API_COMPLETIONS && text.len && text.p > req->body &&
               text.p[-1] == '"' && memchr(text.p, '\\', text.len)) {
        /* A completions string prompt arrives without its quotes and with escapes in place;
         * llm-d hashes the decoded text, so decode (only the part we hash). */
        size_t cap = text.len;
        if (maxb != SIZE_MAX && maxb <= SIZE_MAX / bchars && maxb * bchars < cap)
            cap = maxb * bchars;
        decoded = sy_xmalloc(cap ? cap : 1);
        size_t dl = sy_json_decode_string(text, decoded, cap, NULL);
        if (dl != SIZE_MAX)
            text = (struct sy_str){decoded, dl};
    }
    uint64_t *hashes = NULL;
    *nb = sy_prefix_nblocks_chars(text.len, bchars, maxb);
    if (*nb) {
        hashes = sy_xmalloc(*nb * sizeof *hashes);
        sy_prefix_hash_chars(request_seed(req), text.p, text.len, bchars, maxb, hashes, *nb);
    }
    free(decoded);
    sy_buf_fini(&chat);
    return hashes;
}

/* router: the token chain over the token producer's ids; when no token producer ran (the
 * auto-created estimate backend), straight from the estimate's bytes (sy_prefix_hash_packed: the
 * same hashes without building the ids, which for a 128k-token prompt is a 512 KB buffer). */
static uint64_t *hash_tokens(struct sy_sched_cycle *cy, uint32_t btok, size_t maxb, size_t *nb)
{
    *nb = 0;
    if (maxb == 0)
        return NULL;
    uint64_t seed = request_seed(cy->req);
    const struct sy_sched_tokens *t = cy->scratch[SY_SCHED_SCRATCH_TOKENS];
    if (t) {
        if (t->n == 0)
            return NULL;
        size_t n = t->n / btok + (t->n % btok != 0);
        if (n > maxb)
            n = maxb;
        uint64_t *hashes = sy_xmalloc(n * sizeof *hashes);
        *nb = sy_prefix_hash_tokens(seed, t->ids, t->n, btok, maxb, hashes, n);
        return hashes;
    }
    char *owned = NULL;
    struct sy_buf chat;
    sy_buf_init(&chat);
    struct sy_str text;
    if (cy->req->kind == SY_API_CHAT_COMPLETIONS &&
        sy_llmd_chat_estimate_bytes(cy->req, &chat) == 0)
        text = (struct sy_str){chat.data ? chat.data : "", chat.len};
    else
        text = sy_sched_tokens_text(cy->req, &owned);
    size_t ntok = text.len / 4 + (text.len % 4 != 0);
    cy->prompt_tokens = ntok > UINT32_MAX ? UINT32_MAX : (uint32_t)ntok;
    size_t n = ntok / btok + (ntok % btok != 0);
    if (n > maxb)
        n = maxb;
    uint64_t *hashes = n ? sy_xmalloc(n * sizeof *hashes) : NULL;
    if (n)
        *nb = sy_prefix_hash_packed(seed, text.p, text.len, btok, maxb, hashes, n);
    free(owned);
    sy_buf_fini(&chat);
    return hashes;
}

static void producer_produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                             size_t n)
{
    struct producer *p = state;
    maybe_purge(p, cy);
    if (!cy->prefix || !cy->req)
        return;
    const struct sy_request *req = cy->req;
    size_t bchars;
    uint32_t btok;
    geometry(p, c, n, &bchars, &btok);
    size_t maxb = max_blocks(p, btok);

    size_t nb = 0;
    uint64_t *hashes =
        p->cfg.router ? hash_tokens(cy, btok, maxb, &nb) : hash_text(req, bchars, maxb, &nb);

    const void *keys[SY_SCHED_MAX_CANDIDATES];
    uint32_t counts[SY_SCHED_MAX_CANDIDATES];
    if (n > SY_SCHED_MAX_CANDIDATES)
        n = SY_SCHED_MAX_CANDIDATES;
    for (size_t i = 0; i < n; i++)
        keys[i] = c[i].ep;
    if (nb)
        sy_approx_index_match(p->idx, hashes, nb, keys, n, counts);
    else
        memset(counts, 0, n * sizeof counts[0]);
    for (size_t i = 0; i < n; i++) {
        struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
        m->match_blocks = counts[i];
        m->total_blocks = (uint32_t)(nb > UINT32_MAX ? UINT32_MAX : nb);
        m->block_size_tokens = btok;
        m->weighted = counts[i];
    }
    cy->prefix_valid = true;
    free(cy->block_hashes); /* a second produce in one cycle (not expected) must not leak */
    cy->block_hashes = hashes;
    cy->nblocks = nb;
}

static void producer_pre_request(void *state, struct sy_sched_cycle *cy,
                                 const struct sy_sched_candidate *chosen)
{
    struct producer *p = state;
    if (!chosen || !cy->block_hashes || cy->nblocks == 0)
        return;
    uint32_t cap = p->cfg.lru_capacity;
    if (p->cfg.auto_tune && chosen->st.m.num_blocks > 0)
        cap = chosen->st.m.num_blocks > UINT32_MAX / 2 ? UINT32_MAX / 2
                                                       : (uint32_t)chosen->st.m.num_blocks;
    int rc = sy_approx_index_add(p->idx, cy->block_hashes, cy->nblocks, chosen->ep, cap);
    if (rc && !atomic_exchange(&p->warned, true)) /* once: this repeats on every request */
        sy_warn("approx-prefix-cache-producer: index insert for %s failed: %s (more than %d "
                "endpoints indexed; their requests are not learned)",
                chosen->ep->address, sy_strerror(rc), SY_APPROX_MAX_ENDPOINTS);
    if (cy->prefix && !cy->secondary_pick) { /* the hit ratio is the primary pick's */
        const struct sy_prefix_match *m = &cy->prefix[chosen->pool_index];
        sy_approx_index_record(p->idx, m->match_blocks, m->total_blocks);
    }
}

static void producer_done(void *state, struct sy_sched_cycle *cy,
                          const struct sy_sched_candidate *chosen, bool ok)
{
    (void)chosen;
    (void)ok;
    free(cy->block_hashes);
    cy->block_hashes = NULL;
    cy->nblocks = 0;
    if (((struct producer *)state)->cfg.router)
        sy_sched_tokens_release(cy); /* the estimate, when no token-producer made the ids */
}

struct sy_approx_index *sy_approx_prefix_producer_index(void *producer_state)
{
    return producer_state ? ((struct producer *)producer_state)->idx : NULL;
}

void sy_approx_prefix_producer_config(const void *producer_state,
                                      struct sy_approx_prefix_config *out)
{
    *out = ((const struct producer *)producer_state)->cfg;
}

void sy_approx_prefix_producer_retain(void *producer_state, const struct sy_pool *pool)
{
    if (producer_state && pool)
        retain_pool(producer_state, pool);
}

/* For the scorer's legacy parameters (prefix_cache_scorer.c). */
void *sy_approx_prefix__new(const struct sy_approx_prefix_config *cfg)
{
    return producer_new(cfg);
}

const struct sy_plugin_ops sy_plugin_approx_prefix_cache_producer = {
    .type = "approx-prefix-cache-producer",
    .produces = SY_PREFIX_KEY,
    .create = producer_create,
    .destroy = producer_destroy,
    .produce = producer_produce,
    .pre_request = producer_pre_request,
    .records_prefill = true,
    .done = producer_done,
};
