/* approx_index.c - the approximate prefix-cache index: block hash -> endpoints, per-endpoint LRU.
 *
 * Data structure. Every (hash, endpoint) fact is one 24-byte `pair` in one pool array, linked by
 * 32-bit indices into its endpoint's LRU list (prev/next). An open-addressing table of 24-byte
 * slots maps a hash to its endpoint set: a contiguous array of 8-byte members {pair, endpoint id}
 * (one member inline in the slot, more in a heap array that doubles):
 *
 *   slots[] (linear probing, home = hash & mask)         pairs[] (pool, free list via `next`)
 *   +------+---+-----+-------------------------+         +------+-----------+----+
 *   | hash | n | cap | one member | ext array  |-------> | hash | prev/next | ep |
 *   +------+---+-----+-------------------------+         +------+-----------+----+
 *   eps[id]: { key, lru head (MRU) .. tail (LRU), count, cap }
 *
 * Lookup of one hash is one slot probe plus a sequential scan of its members, so a request costs
 * O(blocks x endpoints-per-block), never O(blocks x pool size), and a prefix every endpoint holds
 * (a shared system prompt) is a linear scan of a few hundred bytes, not a pointer chase.
 * Candidate endpoints are mapped to ids once per call through a pointer hash map (pmap).
 *
 * Memory per entry: 24 bytes (pair) + 24 bytes per distinct hash / table load (0.375..0.75), so
 * about 56-88 bytes when every hash is held by one endpoint (member inline), and about 24 + 8 (+
 * array slack) bytes per extra endpoint sharing a hash. Pools double, so allow up to 2x slack on
 * the pair pool; the test suite measures it. Total memory is bounded by the sum of the endpoints'
 * capacities (default 31250 each) because the LRU evicts before it grows past them.
 *
 * Invariants: a slot is empty iff n == 0; every pair is on exactly one LRU list and appears in
 * exactly one slot's members; eps[id].count == length of its LRU list; an endpoint appears at most
 * once per set.
 *
 * Threading: a writer-preferring pthread rwlock. match() holds it shared for the whole walk;
 * add/remove/retain hold it exclusively once per call (one request's hashes in one critical
 * section). Statistics are atomics updated outside or after the lock.
 *
 * Deletion in the table uses backward shifting (no tombstones), so probe lengths stay short under
 * constant churn. Growing the table moves slots only: pairs refer to hashes, not slots.
 *
 * Rejected: one map of Go-style sets per hash (a malloc per hash and per set; ~200 bytes per
 * entry in llm-d's Go version); linked lists of pairs per hash (the first version: a shared
 * prefix held by 256 endpoints cost 256 cache misses per block); a bitset of endpoints per hash
 * (128 bytes per hash at 1024 endpoints); sharded locks (a request's hashes would spread over all
 * shards and a true per-endpoint LRU needs one order).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "prefix/approx_index.h"

#define NIL UINT32_MAX

struct pair {
    uint64_t hash; /* block hash */
    uint32_t prev; /* LRU neighbour toward the head (more recent), NIL at head */
    uint32_t next; /* LRU neighbour toward the tail; free-list link when free */
    uint16_t ep;   /* endpoint id */
};

struct member {
    uint32_t pair; /* the pair recording (hash, ep) */
    uint32_t ep;   /* its endpoint id (copied: the scan never touches pairs[]) */
};

struct slot {
    uint64_t hash; /* key */
    uint32_t n;    /* members; 0 = empty slot */
    uint32_t cap;  /* 1 = the inline member, else the ext array's capacity */
    union {
        struct member one;  /* cap == 1 */
        struct member *ext; /* cap > 1; owned */
    } u;
};

struct epinfo {
    const void *key; /* endpoint pointer; NULL = id free */
    uint32_t head;   /* most recently used pair */
    uint32_t tail;   /* least recently used pair */
    uint32_t count;  /* pairs on the list */
    uint32_t cap;    /* LRU capacity */
};

struct pmap_ent {
    const void *key; /* endpoint pointer; NULL = empty */
    uint32_t id;     /* its id */
};

struct sy_approx_index {
    pthread_rwlock_t lock;                      /* guards everything below except the atomics */
    uint32_t default_cap;                       /* capacity for add(capacity 0) */
    struct slot *slots;                         /* hash table, nslots a power of two */
    size_t nslots;                              /* table size */
    size_t nhashes;                             /* non-empty slots */
    size_t ext_bytes;                           /* bytes in member arrays */
    struct pair *pairs;                         /* pair pool */
    size_t pairs_cap;                           /* allocated pairs */
    size_t pairs_hw;                            /* pairs ever handed out (pool high-water mark) */
    uint32_t free_pair;                         /* free-list head */
    size_t npairs;                              /* live pairs */
    struct epinfo eps[SY_APPROX_MAX_ENDPOINTS]; /* by id */
    size_t eps_hw;                              /* ids ever used (ids < eps_hw may be live) */
    size_t neps;                                /* live ids */
    struct pmap_ent *pmap;         /* pointer -> id, open addressing, 2 x SY_APPROX_MAX_ENDPOINTS */
    _Atomic uint64_t lookups;      /* match calls */
    _Atomic uint64_t hit_blocks;   /* recorded matches */
    _Atomic uint64_t total_blocks; /* recorded totals */
};

#define PMAP_SIZE (2 * SY_APPROX_MAX_ENDPOINTS) /* power of two, load <= 0.5 */

/* Process-wide metrics across live indexes. */
#define HIT_BUCKETS 11 /* 0.0, 0.1, ... 1.0 */
static _Atomic int64_t g_entries;
static _Atomic uint64_t g_hit_bucket[HIT_BUCKETS]; /* non-cumulative counts per bucket */
static _Atomic uint64_t g_hit_count;
static _Atomic uint64_t g_hit_sum_micro; /* sum of ratios x 1e6 */

static size_t pmap_home(const void *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (PMAP_SIZE - 1);
}

static uint32_t pmap_get(const struct sy_approx_index *idx, const void *key)
{
    for (size_t i = pmap_home(key);; i = (i + 1) & (PMAP_SIZE - 1)) {
        if (idx->pmap[i].key == NULL)
            return NIL;
        if (idx->pmap[i].key == key)
            return idx->pmap[i].id;
    }
}

static void pmap_put(struct sy_approx_index *idx, const void *key, uint32_t id)
{
    size_t i = pmap_home(key);
    while (idx->pmap[i].key != NULL)
        i = (i + 1) & (PMAP_SIZE - 1);
    idx->pmap[i].key = key;
    idx->pmap[i].id = id;
}

/* Rebuilds the pointer map from eps[] (after a removal; rare). */
static void pmap_rebuild(struct sy_approx_index *idx)
{
    memset(idx->pmap, 0, PMAP_SIZE * sizeof *idx->pmap);
    for (size_t id = 0; id < idx->eps_hw; id++)
        if (idx->eps[id].key)
            pmap_put(idx, idx->eps[id].key, (uint32_t)id);
}

static void slots_alloc(struct sy_approx_index *idx, size_t n)
{
    idx->slots = sy_xcalloc(n, sizeof *idx->slots); /* n == 0: empty */
    idx->nslots = n;
}

struct sy_approx_index *sy_approx_index_new(uint32_t default_capacity)
{
    struct sy_approx_index *idx = SY_NEW(struct sy_approx_index);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&idx->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    idx->default_cap = default_capacity ? default_capacity : SY_APPROX_DEFAULT_CAPACITY;
    slots_alloc(idx, 1024);
    idx->pairs_cap = 1024;
    idx->pairs = sy_xmalloc(idx->pairs_cap * sizeof *idx->pairs);
    idx->free_pair = NIL;
    idx->pmap = sy_xcalloc(PMAP_SIZE, sizeof *idx->pmap);
    return idx;
}

void sy_approx_index_free(struct sy_approx_index *idx)
{
    if (!idx)
        return;
    atomic_fetch_sub(&g_entries, (int64_t)idx->npairs);
    pthread_rwlock_destroy(&idx->lock);
    for (size_t i = 0; i < idx->nslots; i++)
        if (idx->slots[i].n && idx->slots[i].cap > 1)
            free(idx->slots[i].u.ext);
    free(idx->slots);
    free(idx->pairs);
    free(idx->pmap);
    free(idx);
}

/* ---- hash table (caller holds the lock) ---- */

static size_t slot_find(const struct sy_approx_index *idx, uint64_t hash)
{
    size_t mask = idx->nslots - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        if (idx->slots[i].n == 0)
            return SIZE_MAX;
        if (idx->slots[i].hash == hash)
            return i;
    }
}

static size_t slot_insert_raw(struct slot *slots, size_t nslots, const struct slot *src)
{
    size_t mask = nslots - 1, i = (size_t)src->hash & mask;
    while (slots[i].n != 0)
        i = (i + 1) & mask;
    slots[i] = *src;
    return i;
}

static void slots_grow(struct sy_approx_index *idx)
{
    struct slot *old = idx->slots;
    size_t oldn = idx->nslots;
    slots_alloc(idx, oldn * 2);
    for (size_t i = 0; i < oldn; i++)
        if (old[i].n != 0)
            slot_insert_raw(idx->slots, idx->nslots, &old[i]);
    free(old);
}

static struct member *members(struct slot *s)
{
    return s->cap <= 1 ? &s->u.one : s->u.ext;
}

/* Appends a member, growing the array (inline -> 4 -> 8 ...). */
static void member_add(struct sy_approx_index *idx, struct slot *s, uint32_t pair, uint32_t ep)
{
    if (s->n == s->cap) {
        uint32_t ncap = s->cap <= 1 ? 4 : s->cap * 2;
        struct member *a;
        if (s->cap <= 1) {
            a = sy_xmalloc(ncap * sizeof *a);
            a[0] = s->u.one;
        } else {
            a = sy_xrealloc(s->u.ext, ncap * sizeof *a);
            idx->ext_bytes -= s->cap * sizeof *a;
        }
        idx->ext_bytes += ncap * sizeof *a;
        s->u.ext = a;
        s->cap = ncap;
    }
    members(s)[s->n++] = (struct member){pair, ep};
}

/* Empties slot i, shifting later members of the probe run back (no tombstones). */
static void slot_delete(struct sy_approx_index *idx, size_t i)
{
    size_t mask = idx->nslots - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (idx->slots[j].n == 0)
            break;
        size_t home = (size_t)idx->slots[j].hash & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            idx->slots[i] = idx->slots[j];
            i = j;
        }
    }
    idx->slots[i].n = 0;
    idx->slots[i].cap = 0;
    idx->nhashes--;
}

/* ---- pairs ---- */

static uint32_t pair_alloc(struct sy_approx_index *idx)
{
    if (idx->free_pair != NIL) {
        uint32_t p = idx->free_pair;
        idx->free_pair = idx->pairs[p].next;
        return p;
    }
    if (idx->pairs_hw == idx->pairs_cap) {
        idx->pairs_cap *= 2;
        idx->pairs = sy_xrealloc(idx->pairs, idx->pairs_cap * sizeof *idx->pairs);
    }
    return (uint32_t)idx->pairs_hw++;
}

static void lru_unlink(struct sy_approx_index *idx, struct epinfo *e, uint32_t p)
{
    struct pair *pp = &idx->pairs[p];
    if (pp->prev != NIL)
        idx->pairs[pp->prev].next = pp->next;
    else
        e->head = pp->next;
    if (pp->next != NIL)
        idx->pairs[pp->next].prev = pp->prev;
    else
        e->tail = pp->prev;
}

static void lru_push_head(struct sy_approx_index *idx, struct epinfo *e, uint32_t p)
{
    struct pair *pp = &idx->pairs[p];
    pp->prev = NIL;
    pp->next = e->head;
    if (e->head != NIL)
        idx->pairs[e->head].prev = p;
    e->head = p;
    if (e->tail == NIL)
        e->tail = p;
}

/* Removes pair p everywhere and frees it. */
static void pair_drop(struct sy_approx_index *idx, uint32_t p)
{
    struct pair *pp = &idx->pairs[p];
    struct epinfo *e = &idx->eps[pp->ep];
    lru_unlink(idx, e, p);
    e->count--;
    size_t s = slot_find(idx, pp->hash);
    if (s != SIZE_MAX) { /* always found (invariant); tolerate anyway */
        struct slot *sl = &idx->slots[s];
        struct member *m = members(sl);
        for (uint32_t k = 0; k < sl->n; k++)
            if (m[k].pair == p) {
                m[k] = m[--sl->n]; /* swap-remove: set order does not matter */
                break;
            }
        if (sl->n == 0) {
            if (sl->cap > 1) {
                free(sl->u.ext);
                idx->ext_bytes -= sl->cap * sizeof(struct member);
            }
            slot_delete(idx, s);
        }
    }
    pp->next = idx->free_pair;
    idx->free_pair = p;
    idx->npairs--;
}

static uint32_t ep_id(struct sy_approx_index *idx, const void *ep, bool create)
{
    uint32_t id = pmap_get(idx, ep);
    if (id != NIL || !create)
        return id;
    if (idx->neps == SY_APPROX_MAX_ENDPOINTS)
        return NIL;
    for (id = 0; id < idx->eps_hw && idx->eps[id].key; id++)
        ;
    if (id == idx->eps_hw)
        idx->eps_hw++;
    idx->eps[id] = (struct epinfo){.key = ep, .head = NIL, .tail = NIL, .count = 0};
    idx->neps++;
    pmap_put(idx, ep, id);
    return id;
}

static void ep_drop(struct sy_approx_index *idx, uint32_t id)
{
    struct epinfo *e = &idx->eps[id];
    while (e->tail != NIL)
        pair_drop(idx, e->tail);
    e->key = NULL;
    idx->neps--;
    while (idx->eps_hw > 0 && idx->eps[idx->eps_hw - 1].key == NULL)
        idx->eps_hw--;
}

/* ---- public ---- */

size_t sy_approx_index_match(struct sy_approx_index *idx, const uint64_t *hashes, size_t n,
                             const void *const *eps, size_t neps, uint32_t *counts)
{
    uint32_t pos[SY_APPROX_MAX_ENDPOINTS]; /* id -> candidate index + 1 (0 = not a candidate) */
    size_t walked = 0;
    memset(counts, 0, neps * sizeof *counts);
    atomic_fetch_add_explicit(&idx->lookups, 1, memory_order_relaxed);
    pthread_rwlock_rdlock(&idx->lock);
    memset(pos, 0, idx->eps_hw * sizeof pos[0]);
    bool any = false;
    for (size_t i = 0; i < neps; i++) {
        uint32_t id = eps[i] ? pmap_get(idx, eps[i]) : NIL;
        if (id != NIL) {
            pos[id] = (uint32_t)i + 1;
            any = true;
        }
    }
    for (; walked < n; walked++) {
        size_t s = slot_find(idx, hashes[walked]);
        if (s == SIZE_MAX)
            break;
        if (!any)
            continue; /* keep walking: the return value still reports the stop */
        struct slot *sl = &idx->slots[s];
        const struct member *m = members(sl);
        for (uint32_t k = 0; k < sl->n; k++) {
            uint32_t c = pos[m[k].ep];
            if (c)
                counts[c - 1]++;
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return walked;
}

int sy_approx_index_add(struct sy_approx_index *idx, const uint64_t *hashes, size_t n,
                        const void *ep, uint32_t capacity)
{
    if (!ep)
        return SY_EINVAL;
    pthread_rwlock_wrlock(&idx->lock);
    size_t before = idx->npairs;
    uint32_t id = ep_id(idx, ep, true);
    if (id == NIL) {
        pthread_rwlock_unlock(&idx->lock);
        return SY_EBUSY;
    }
    struct epinfo *e = &idx->eps[id];
    e->cap = capacity ? capacity : idx->default_cap;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hashes[i];
        size_t s = slot_find(idx, h);
        if (s != SIZE_MAX) {
            struct slot *sl = &idx->slots[s];
            const struct member *m = members(sl);
            uint32_t k = 0;
            while (k < sl->n && m[k].ep != id)
                k++;
            if (k < sl->n) { /* already held: refresh */
                lru_unlink(idx, e, m[k].pair);
                lru_push_head(idx, e, m[k].pair);
                continue;
            }
        }
        uint32_t p = pair_alloc(idx);
        struct pair *pp = &idx->pairs[p];
        pp->hash = h;
        pp->ep = (uint16_t)id;
        if (s != SIZE_MAX) {
            member_add(idx, &idx->slots[s], p, id);
        } else {
            if ((idx->nhashes + 1) * 4 > idx->nslots * 3)
                slots_grow(idx);
            struct slot ns = {.hash = h, .n = 1, .cap = 1, .u.one = {p, id}};
            slot_insert_raw(idx->slots, idx->nslots, &ns);
            idx->nhashes++;
        }
        lru_push_head(idx, e, p);
        e->count++;
        idx->npairs++;
        while (e->count > e->cap)
            pair_drop(idx, e->tail);
    }
    while (e->count > e->cap)
        pair_drop(idx, e->tail);
    atomic_fetch_add(&g_entries, (int64_t)idx->npairs - (int64_t)before);
    pthread_rwlock_unlock(&idx->lock);
    return 0;
}

void sy_approx_index_remove(struct sy_approx_index *idx, const void *ep)
{
    pthread_rwlock_wrlock(&idx->lock);
    size_t before = idx->npairs;
    uint32_t id = ep ? pmap_get(idx, ep) : NIL;
    if (id != NIL) {
        ep_drop(idx, id);
        pmap_rebuild(idx);
    }
    atomic_fetch_sub(&g_entries, (int64_t)(before - idx->npairs));
    pthread_rwlock_unlock(&idx->lock);
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
    return x < y ? -1 : x > y;
}

size_t sy_approx_index_retain(struct sy_approx_index *idx, const void *const *keep, size_t n)
{
    const void **sorted = sy_xmalloc((n ? n : 1) * sizeof *sorted);
    if (n)
        memcpy(sorted, keep, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, ptr_cmp);
    size_t dropped = 0;
    pthread_rwlock_wrlock(&idx->lock);
    size_t before = idx->npairs;
    for (size_t id = 0; id < idx->eps_hw; id++) {
        const void *k = idx->eps[id].key;
        if (k && !bsearch(&k, sorted, n, sizeof *sorted, ptr_cmp)) {
            ep_drop(idx, (uint32_t)id);
            dropped++;
        }
    }
    if (dropped)
        pmap_rebuild(idx);
    atomic_fetch_sub(&g_entries, (int64_t)(before - idx->npairs));
    pthread_rwlock_unlock(&idx->lock);
    free(sorted);
    return dropped;
}

size_t sy_approx_index_count(struct sy_approx_index *idx, const void *ep)
{
    pthread_rwlock_rdlock(&idx->lock);
    uint32_t id = ep ? pmap_get(idx, ep) : NIL;
    size_t n = id != NIL ? idx->eps[id].count : 0;
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

void sy_approx_index_record(struct sy_approx_index *idx, uint32_t match_blocks,
                            uint32_t total_blocks)
{
    if (total_blocks == 0)
        return; /* llm-d records nothing for prompts shorter than one block */
    if (match_blocks > total_blocks)
        match_blocks = total_blocks;
    atomic_fetch_add_explicit(&idx->hit_blocks, match_blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&idx->total_blocks, total_blocks, memory_order_relaxed);
    double r = (double)match_blocks / (double)total_blocks;
    /* Smallest bucket upper bound (k / 10) >= r. */
    int k = 0;
    while (k < HIT_BUCKETS - 1 && r > (double)k / 10.0 + 1e-12)
        k++;
    atomic_fetch_add_explicit(&g_hit_bucket[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_hit_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_hit_sum_micro, (uint64_t)(r * 1e6 + 0.5), memory_order_relaxed);
}

void sy_approx_index_stats(struct sy_approx_index *idx, struct sy_approx_index_stats *out)
{
    pthread_rwlock_rdlock(&idx->lock);
    out->entries = idx->npairs;
    out->hashes = idx->nhashes;
    out->endpoints = idx->neps;
    out->bytes = idx->nslots * sizeof(struct slot) + idx->pairs_cap * sizeof(struct pair) +
                 idx->ext_bytes + PMAP_SIZE * sizeof(struct pmap_ent) + sizeof idx->eps;
    pthread_rwlock_unlock(&idx->lock);
    out->lookups = atomic_load(&idx->lookups);
    out->hit_blocks = atomic_load(&idx->hit_blocks);
    out->total_blocks = atomic_load(&idx->total_blocks);
}

void sy_approx_index_metrics_collect(void *ud, struct sy_buf *out)
{
    (void)ud;
    int64_t entries = atomic_load(&g_entries);
    sy_buf_puts(out, "# HELP inference_extension_prefix_indexer_size Size of the prefix indexer.\n"
                     "# TYPE inference_extension_prefix_indexer_size gauge\n");
    sy_buf_printf(out, "inference_extension_prefix_indexer_size %lld\n",
                  (long long)(entries > 0 ? entries : 0));
    sy_buf_puts(out, "# HELP inference_extension_prefix_indexer_hit_ratio Ratio of prefix length "
                     "matched to total prefix length in the cache lookup.\n"
                     "# TYPE inference_extension_prefix_indexer_hit_ratio histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < HIT_BUCKETS; k++) {
        cum += atomic_load(&g_hit_bucket[k]);
        sy_buf_printf(out,
                      "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"%.1f\"} %llu\n",
                      (double)k / 10.0, (unsigned long long)cum);
    }
    uint64_t count = atomic_load(&g_hit_count);
    sy_buf_printf(out, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)count);
    sy_buf_printf(out, "inference_extension_prefix_indexer_hit_ratio_sum %.6f\n",
                  (double)atomic_load(&g_hit_sum_micro) / 1e6);
    sy_buf_printf(out, "inference_extension_prefix_indexer_hit_ratio_count %llu\n",
                  (unsigned long long)count);
}
