/* burst_prefix_producer.c - `burst-prefix-cache-producer` (llm-d-router
 * dataproducer/burstprefix): co-locates bursts of prompt-sharing requests (the n samples of an
 * RL rollout group) so a shared prompt is prefilled once instead of on every cold replica.
 *
 *   gateway, before scheduling (src/gateway/pretokenize.c):
 *     sy_burst_join: hash the prompt (router token chain, blockSizeTokens 64), join the open
 *                    window (opened by the first request, deadline = first + windowDurationMs)
 *     wait on the worker loop until the deadline, then sy_burst_seal: the first waiter to wake
 *                    runs assign() over the whole window, under the plugin's mutex
 *   produce: PrefixCacheMatchInfo = {total, total} on the assigned replica, {0, total} elsewhere
 *            (no assignment -> 0 everywhere, other scorers decide); read it with
 *            prefix-cache-scorer (prefixMatchInfoProducerName: burst-prefix-cache-producer).
 *
 * assign (assign.go, same tiers and tie-breaks):
 *   groups   = requests with an identical hash chain; a group of >= 2 is a placement unit; a
 *              single request is a unit only when minColocateBlocks > 0 and its first
 *              minColocateBlocks blocks equal another request's.
 *   order    = groups first, then singles, each longest-prefix first (stable).
 *   fair     = ceil(total / replicas), total = requests (balanceBy requests) or unit blocks
 *              (balanceBy tokens).
 *   place    = the unit's primary replica: the one already holding the longest prefix of it in
 *              this window (>= minColocateBlocks, under fair share, under maxPerReplica), else the
 *              least loaded (window load, then running requests, then address); members beyond
 *              maxPerReplica spill to the next least loaded. Token balancing charges a replica the
 *              unit's blocks minus those it already holds, once per unit.
 *   Replicas are the endpoints of the first request's pool that serve its model.
 *
 * Parameters (llm-d names and defaults): windowDurationMs 100 (1..10000), maxPerReplica -1
 * (unlimited) or >= 1, blockSizeTokens 64, maxPrefixTokensToMatch 0 (0 = 2048 blocks; else >=
 * blockSizeTokens), minColocateBlocks 0, maxBatchSize 1000 (-1 unlimited), balanceBy
 * requests|tokens.
 *
 * Differences: a full window (maxBatchSize) makes llm-d's Produce fail; here the request simply
 * does not wait and gets no affinity. Requests that reach the scheduler without the gateway's wait
 * (none today) get no affinity either. One chain per request (llm-d hashes a completions prompt
 * list per prompt).
 *
 * Threading: join/seal/leave/produce lock one mutex; assign runs once per window under it
 * (O(units x replicas + blocks)), so the lock is held for a window's worth of work only at seal.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "prefix/hash.h"
#include "sched/burst_prefix.h"
#include "sched/internal.h"
#include "sched/llmd_text.h"
#include "sched/params.h"
#include "sched/plugins.h"
#include "sched/precise_prefix.h"
#include "sched/token_vllm.h"

#define MAX_WINDOW_MS    10000 /* llm-d maxWindowDurationMs */
#define DEFAULT_MAXBLOCK 2048  /* llm-d defaultMaxPrefixBlocks */
#define MAX_REPLICAS     256   /* replicas considered per window */

struct cfg {
    int64_t window_ms, max_per_replica, block_tokens, max_tokens, min_colocate, max_batch;
    bool by_tokens; /* balanceBy tokens */
    size_t max_blocks;
};

struct batch;

struct sy_burst_entry {
    const struct sy_request *req;       /* borrowed while joined (produce's lookup key) */
    uint64_t *hashes;                   /* owned */
    size_t nb;                          /* blocks */
    struct batch *batch;                /* the window it joined */
    struct sy_endpoint *assigned;       /* borrowed from batch->pool; NULL = no affinity */
    struct sy_burst_entry *prev, *next; /* live list */
};

struct batch {
    int refs;                        /* entries still joined */
    bool sealed;                     /* assign() ran */
    uint64_t deadline_ns;            /* when the window closes */
    struct sy_burst_entry **entries; /* in join order */
    size_t n, cap;
    struct sy_pool *pool; /* referenced: the replicas */
    char model[256];      /* the first request's model */
};

struct sy_burst {
    struct cfg c;
    pthread_mutex_t mu;
    struct batch *open;          /* the window requests join now, NULL when none */
    struct sy_burst_entry *live; /* joined entries (produce looks them up by request) */
};

/* ---- parameters ---- */

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {
        "windowDurationMs",  "maxPerReplica", "blockSizeTokens", "maxPrefixTokensToMatch",
        "minColocateBlocks", "maxBatchSize",  "balanceBy",       NULL};
    struct cfg c = {.window_ms = 100,
                    .max_per_replica = -1,
                    .block_tokens = 64,
                    .max_tokens = 0,
                    .min_colocate = 0,
                    .max_batch = 1000};
    const char *bal = "requests";
    int rc;
    if ((rc = sy_param_check(params, env, keys, err, errcap)) ||
        (rc = sy_param_int(params, "windowDurationMs", env, 1, MAX_WINDOW_MS, &c.window_ms, err,
                           errcap)) ||
        (rc = sy_param_int(params, "maxPerReplica", env, -1, INT32_MAX, &c.max_per_replica, err,
                           errcap)) ||
        (rc = sy_param_int(params, "blockSizeTokens", env, 1, 1 << 20, &c.block_tokens, err,
                           errcap)) ||
        (rc = sy_param_int(params, "maxPrefixTokensToMatch", env, 0, INT32_MAX, &c.max_tokens, err,
                           errcap)) ||
        (rc = sy_param_int(params, "minColocateBlocks", env, 0, INT32_MAX, &c.min_colocate, err,
                           errcap)) ||
        (rc =
             sy_param_int(params, "maxBatchSize", env, -1, INT32_MAX, &c.max_batch, err, errcap)) ||
        (rc = sy_param_string(params, "balanceBy", env, &bal, err, errcap)))
        return rc;
    const struct sy_yaml_node *p = sy_param_absent(params) ? NULL : params;
    if (c.max_per_replica == 0)
        return sy_param_errorf(env, sy_yaml_get(p, "maxPerReplica"), "maxPerReplica", err, errcap,
                               "must be -1 (unlimited) or >= 1");
    if (c.max_batch == 0)
        return sy_param_errorf(env, sy_yaml_get(p, "maxBatchSize"), "maxBatchSize", err, errcap,
                               "must be -1 (unlimited) or >= 1");
    if (c.max_tokens > 0 && c.max_tokens < c.block_tokens)
        return sy_param_errorf(env, sy_yaml_get(p, "maxPrefixTokensToMatch"),
                               "maxPrefixTokensToMatch", err, errcap,
                               "must be 0 or >= blockSizeTokens (%lld); a smaller value yields "
                               "zero prefix blocks",
                               (long long)c.block_tokens);
    if (!*bal || !strcmp(bal, "requests"))
        c.by_tokens = false;
    else if (!strcmp(bal, "tokens"))
        c.by_tokens = true;
    else
        return sy_param_errorf(env, sy_yaml_get(p, "balanceBy"), "balanceBy", err, errcap,
                               "must be \"requests\" or \"tokens\", got \"%s\"", bal);
    c.max_blocks = c.max_tokens > 0 ? (size_t)(c.max_tokens / c.block_tokens) : DEFAULT_MAXBLOCK;
    struct sy_burst *b = SY_NEW(struct sy_burst);
    b->c = c;
    pthread_mutex_init(&b->mu, NULL);
    *state = b;
    return 0;
}

static void batch_free(struct batch *bt)
{
    sy_pool_unref(bt->pool);
    free(bt->entries);
    free(bt);
}

static void destroy(void *state)
{
    struct sy_burst *b = state;
    if (!b)
        return;
    /* entries outlive nothing: the gateway leaves them before its generation (and this) goes */
    if (b->open && b->open->refs == 0)
        batch_free(b->open);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* ---- assign ---- */

struct unit {
    size_t first; /* index of its first entry in the batch */
    size_t n;     /* members */
    size_t *members;
    size_t blocks;
};

struct holders { /* open-addressing set of (block hash -> replicas holding it) */
    uint64_t *keys;
    uint64_t (*bits)[MAX_REPLICAS / 64];
    size_t cap;
};

static uint64_t *hslot(struct holders *h, uint64_t key, bool add, size_t *at)
{
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (h->cap - 1);
    uint64_t k = key ? key : 1; /* 0 marks empty */
    for (;;) {
        if (h->keys[i] == k) {
            *at = i;
            return h->bits[i];
        }
        if (h->keys[i] == 0) {
            if (!add)
                return NULL;
            h->keys[i] = k;
            *at = i;
            return h->bits[i];
        }
        i = (i + 1) & (h->cap - 1);
    }
}

struct ctx {
    const struct cfg *c;
    struct sy_endpoint **reps; /* replicas */
    size_t nr;
    double *running; /* per replica */
    int64_t *load;   /* window load per replica */
    struct holders h;
    int64_t max_share;
};

static bool less(const struct ctx *x, size_t a, size_t b)
{
    if (x->load[a] != x->load[b])
        return x->load[a] < x->load[b];
    if (x->running[a] != x->running[b])
        return x->running[a] < x->running[b];
    return strcmp(x->reps[a]->address, x->reps[b]->address) < 0;
}

static size_t least_loaded(const struct ctx *x, const int64_t *per, int64_t k)
{
    size_t best = SIZE_MAX;
    for (size_t r = 0; r < x->nr; r++) {
        if (k != -1 && per[r] >= k)
            continue;
        if (best == SIZE_MAX || less(x, r, best))
            best = r;
    }
    if (best != SIZE_MAX)
        return best;
    for (size_t r = 0; r < x->nr; r++)
        if (best == SIZE_MAX || less(x, r, best))
            best = r;
    return best;
}

static size_t pick(const struct ctx *x, const int64_t *per, const int64_t *match, bool prefer)
{
    int64_t k = x->c->max_per_replica;
    if (prefer) {
        size_t best = SIZE_MAX;
        for (size_t r = 0; r < x->nr; r++) {
            if ((k != -1 && per[r] >= k) || x->load[r] >= x->max_share ||
                match[r] < x->c->min_colocate)
                continue;
            if (best == SIZE_MAX || match[r] > match[best] ||
                (match[r] == match[best] && less(x, r, best)))
                best = r;
        }
        if (best != SIZE_MAX)
            return best;
    }
    return least_loaded(x, per, k);
}

static void place(struct ctx *x, struct batch *bt, const struct unit *u)
{
    const struct sy_burst_entry *e0 = bt->entries[u->first];
    int64_t *match = sy_xcalloc(x->nr, sizeof *match);
    int64_t *per = sy_xcalloc(x->nr, sizeof *per);
    bool prefer = x->c->min_colocate > 0;
    if (prefer || x->c->by_tokens) { /* longest prefix each replica holds in this window */
        for (size_t i = 0; i < e0->nb; i++) {
            size_t at;
            const uint64_t *bits = hslot(&x->h, e0->hashes[i], false, &at);
            bool any = false;
            for (size_t r = 0; bits && r < x->nr; r++)
                if (bits[r / 64] >> (r % 64) & 1) {
                    match[r]++;
                    any = true;
                }
            if (!any)
                break;
        }
    }
    int64_t k = x->c->max_per_replica;
    size_t i = 0;
    while (i < u->n) {
        size_t t = pick(x, per, match, prefer);
        size_t run = u->n - i;
        if (k != -1) {
            int64_t left = k - per[t];
            if (left < 1)
                left = 1; /* more members than k x replicas: one more here, then rebalance */
            if ((size_t)left < run)
                run = (size_t)left;
        }
        for (size_t j = 0; j < run; j++)
            bt->entries[u->members[i + j]]->assigned = x->reps[t];
        bool first_touch = per[t] == 0;
        per[t] += (int64_t)run;
        if (!x->c->by_tokens) {
            x->load[t] += (int64_t)run;
        } else if (first_touch) {
            int64_t inc = (int64_t)u->blocks - match[t];
            x->load[t] += inc > 0 ? inc : 0;
        }
        i += run;
        prefer = false; /* only the primary replica gets the prefix preference */
    }
    for (size_t m = 0; m < u->n; m++) { /* record the unit's blocks on its replicas */
        const struct sy_endpoint *a = bt->entries[u->members[m]]->assigned;
        size_t r = 0;
        while (r < x->nr && x->reps[r] != a)
            r++;
        for (size_t b = 0; r < x->nr && b < e0->nb; b++) {
            size_t at;
            uint64_t *bits = hslot(&x->h, e0->hashes[b], true, &at);
            bits[r / 64] |= 1ull << (r % 64);
        }
    }
    free(match);
    free(per);
}

static bool same_chain(const struct sy_burst_entry *a, const struct sy_burst_entry *b, size_t n)
{
    return a->nb >= n && b->nb >= n && !memcmp(a->hashes, b->hashes, n * sizeof a->hashes[0]);
}

static int cmp_blocks_desc(const void *pa, const void *pb)
{
    const struct unit *a = pa, *b = pb;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first; /* stable */
}

static void assign(const struct cfg *c, struct batch *bt)
{
    size_t n = bt->n;
    if (n == 0 || !bt->pool)
        return;
    /* groups of identical chains, in order of first appearance */
    struct unit *g = sy_xcalloc(n, sizeof *g);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sy_burst_entry *e = bt->entries[i];
        if (!e)
            continue; /* left before the seal (client gone) */
        size_t k = 0;
        while (k < ng && !(bt->entries[g[k].first]->nb == e->nb &&
                           same_chain(bt->entries[g[k].first], e, e->nb)))
            k++;
        if (k == ng) {
            g[ng].first = i;
            g[ng].blocks = e->nb;
            g[ng].members = sy_xmalloc(n * sizeof(size_t));
            ng++;
        }
        g[k].members[g[k].n++] = i;
    }
    /* units: groups of >= 2; singles sharing minColocateBlocks leading blocks with another */
    struct unit *groups = sy_xcalloc(ng, sizeof *groups),
                *singles = sy_xcalloc(ng, sizeof *singles);
    size_t nG = 0, nS = 0;
    for (size_t k = 0; k < ng; k++) {
        if (g[k].n >= 2) {
            groups[nG++] = g[k];
            continue;
        }
        size_t mc = (size_t)c->min_colocate;
        if (mc == 0 || g[k].blocks < mc)
            continue;
        size_t count = 0;
        for (size_t j = 0; j < ng; j++)
            if (same_chain(bt->entries[g[j].first], bt->entries[g[k].first], mc))
                count += g[j].n;
        if (count >= 2)
            singles[nS++] = g[k];
    }
    struct sy_endpoint *reps[MAX_REPLICAS];
    size_t nr = 0;
    size_t mlen = strlen(bt->model);
    for (size_t i = 0; i < bt->pool->n && nr < MAX_REPLICAS; i++)
        if (sy_endpoint_serves(bt->pool->eps[i], bt->model, mlen))
            reps[nr++] = bt->pool->eps[i];
    if ((nG || nS) && nr) {
        qsort(groups, nG, sizeof *groups, cmp_blocks_desc);
        qsort(singles, nS, sizeof *singles, cmp_blocks_desc);
        int64_t total = 0;
        for (size_t k = 0; k < nG; k++)
            total += c->by_tokens ? (int64_t)groups[k].blocks : (int64_t)groups[k].n;
        for (size_t k = 0; k < nS; k++)
            total += c->by_tokens ? (int64_t)singles[k].blocks : 1;
        struct ctx x = {.c = c, .reps = reps, .nr = nr};
        x.max_share = (total + (int64_t)nr - 1) / (int64_t)nr;
        x.running = sy_xcalloc(nr, sizeof *x.running);
        x.load = sy_xcalloc(nr, sizeof *x.load);
        for (size_t r = 0; r < nr; r++) {
            struct sy_endpoint_state st;
            sy_endpoint_snapshot(reps[r], &st);
            x.running[r] = st.m.running > 0 ? st.m.running : 0;
        }
        size_t blocks = 0;
        for (size_t i = 0; i < n; i++)
            blocks += bt->entries[i] ? bt->entries[i]->nb : 0;
        x.h.cap = 16;
        while (x.h.cap < 2 * blocks + 16)
            x.h.cap <<= 1;
        x.h.keys = sy_xcalloc(x.h.cap, sizeof *x.h.keys);
        x.h.bits = sy_xcalloc(x.h.cap, sizeof *x.h.bits);
        for (size_t k = 0; k < nG; k++)
            place(&x, bt, &groups[k]);
        for (size_t k = 0; k < nS; k++)
            place(&x, bt, &singles[k]);
        free(x.h.keys);
        free(x.h.bits);
        free(x.running);
        free(x.load);
    }
    for (size_t k = 0; k < ng; k++)
        free(g[k].members);
    free(g);
    free(groups);
    free(singles);
}

/* ---- the window (gateway side) ---- */

struct sy_burst *sy_sched_burst(const struct sy_scheduler *s)
{
    for (size_t i = 0; s && i < s->nplugins; i++)
        if (s->plugins[i]->ops == &sy_plugin_burst_prefix_cache_producer)
            return s->plugins[i]->state;
    return NULL;
}

/* The request's chain: the router token chain over the vllm ids or the estimate. */
static uint64_t *hash_request(const struct cfg *c, const struct sy_request *req, size_t *nb)
{
    struct sy_sched_cycle cy = {.req = req};
    const uint32_t *ids;
    size_t n;
    const struct sy_token_vllm_result *r = req->tokens;
    if (r && r->ok) {
        ids = r->ids;
        n = r->n;
    } else {
        const struct sy_sched_tokens *t = sy_sched_tokens_get(&cy);
        ids = t->ids;
        n = t->n;
    }
    uint64_t *h = NULL;
    *nb = 0;
    size_t bs = (size_t)c->block_tokens;
    size_t want = n / bs + (n % bs != 0);
    if (want > c->max_blocks)
        want = c->max_blocks;
    if (want) {
        char salt[256];
        size_t sl = sy_llmd_cache_salt(req, salt, sizeof salt);
        h = sy_xmalloc(want * sizeof *h);
        *nb = sy_prefix_hash_tokens(sy_prefix_seed(sy_str_c(req->model), (struct sy_str){salt, sl}),
                                    ids, n, bs, c->max_blocks, h, want);
    }
    sy_sched_tokens_release(&cy);
    return h;
}

struct sy_burst_entry *sy_burst_join(struct sy_burst *b, const struct sy_request *req,
                                     struct sy_pool *pool, uint64_t now_ns, uint64_t *deadline_ns)
{
    size_t nb;
    uint64_t *h = hash_request(&b->c, req, &nb);
    if (nb == 0) {
        free(h);
        return NULL; /* llm-d: prefix-less requests are never grouped */
    }
    pthread_mutex_lock(&b->mu);
    struct batch *bt = b->open;
    if (bt && (bt->sealed || now_ns >= bt->deadline_ns)) {
        if (bt->refs == 0)
            batch_free(bt);
        bt = b->open = NULL;
    }
    if (!bt) {
        bt = SY_NEW(struct batch);
        bt->deadline_ns = now_ns + (uint64_t)b->c.window_ms * SY_NS_PER_MS;
        bt->pool = sy_pool_ref(pool);
        snprintf(bt->model, sizeof bt->model, "%s", req->model);
        b->open = bt;
    }
    if (b->c.max_batch != -1 && bt->n >= (size_t)b->c.max_batch) {
        pthread_mutex_unlock(&b->mu);
        free(h);
        sy_debug(
            "burst-prefix-cache-producer: window full (maxBatchSize %lld); request not batched",
            (long long)b->c.max_batch);
        return NULL;
    }
    struct sy_burst_entry *e = SY_NEW(struct sy_burst_entry);
    e->req = req;
    e->hashes = h;
    e->nb = nb;
    e->batch = bt;
    if (bt->n == bt->cap) {
        bt->cap = bt->cap ? 2 * bt->cap : 16;
        bt->entries = sy_xrealloc(bt->entries, bt->cap * sizeof *bt->entries);
    }
    bt->entries[bt->n++] = e;
    bt->refs++;
    e->next = b->live;
    if (b->live)
        b->live->prev = e;
    b->live = e;
    *deadline_ns = bt->deadline_ns;
    pthread_mutex_unlock(&b->mu);
    return e;
}

void sy_burst_seal(struct sy_burst *b, struct sy_burst_entry *e)
{
    pthread_mutex_lock(&b->mu);
    struct batch *bt = e->batch;
    if (!bt->sealed) {
        assign(&b->c, bt);
        bt->sealed = true;
        if (b->open == bt)
            b->open = NULL;
    }
    pthread_mutex_unlock(&b->mu);
}

void sy_burst_leave(struct sy_burst *b, struct sy_burst_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&b->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        b->live = e->next;
    if (e->next)
        e->next->prev = e->prev;
    struct batch *bt = e->batch;
    for (size_t i = 0; i < bt->n; i++) /* the batch keeps no pointer to a freed entry */
        if (bt->entries[i] == e)
            bt->entries[i] = NULL;
    if (--bt->refs == 0 && b->open != bt)
        batch_free(bt);
    pthread_mutex_unlock(&b->mu);
    free(e->hashes);
    free(e);
}

/* ---- produce ---- */

static void produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    struct sy_burst *b = state;
    if (!cy->prefix || !cy->req)
        return;
    const struct sy_endpoint *assigned = NULL;
    size_t total = 0;
    bool found = false;
    pthread_mutex_lock(&b->mu);
    for (const struct sy_burst_entry *e = b->live; e; e = e->next)
        if (e->req == cy->req) {
            found = true;
            total = e->nb;
            assigned = e->batch->sealed ? e->assigned : NULL;
            break;
        }
    pthread_mutex_unlock(&b->mu);
    if (!found) { /* not batched: total blocks only, no affinity */
        uint64_t *h = hash_request(&b->c, cy->req, &total);
        free(h);
    }
    for (size_t i = 0; i < n; i++) {
        struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
        uint32_t t = (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
        m->total_blocks = t;
        m->match_blocks = c[i].ep == assigned ? t : 0;
        m->weighted = m->match_blocks;
        m->block_size_tokens = (uint32_t)b->c.block_tokens;
    }
    cy->prefix_valid = true;
}

const struct sy_plugin_ops sy_plugin_burst_prefix_cache_producer = {
    .type = "burst-prefix-cache-producer",
    .produces = SY_PREFIX_KEY,
    .create = create,
    .destroy = destroy,
    .produce = produce,
};
