/* precise_index.c - the precise prefix-cache index (see precise_index.h for the model).
 *
 * Two hash tables over one slab each, with an intrusive LRU list, all linked by 32-bit indices:
 *
 *   keys (request keys)                      ekeys (engine hashes)
 *   buckets[] -> rent --hnext--> rent        buckets[] -> eent --hnext--> eent
 *   rent = {key, hnext, lprev, lnext, n,     eent = {key, hnext, lprev, lnext, aux,
 *           parent, holders[8]}  64 bytes           rkey}                      32 bytes
 *
 *   holder = {endpoint id (u16), tier (u8), stamp (u8)}: tier GPU/CPU/OTHER, or SPEC for a
 *   speculative entry whose stamp is the insert time in seconds mod 256.
 *
 * Memory per request key: 64 bytes of entry + 4..8 bytes of bucket (the bucket array doubles when
 * the count reaches it) = at most 72 bytes, whatever the number of holders (up to 8, llm-d keeps
 * 10). Per engine hash: 32 + 4..8 = at most 40 bytes. Slabs grow geometrically up to the bound.
 *
 * Engine -> request mapping for any ratio of block sizes: an event's tokens are cut into request
 * blocks at the index's block size, chained from the parent's request key; request key k is
 * "owned" by the engine block that holds its last token. An engine entry records the last request
 * key ending at or before its end (rkey: the chain point for child events) and how many it owns
 * (nown); a request entry records its parent key, so a BlockRemoved walks back nown keys from
 * rkey. A child event whose parent does not end on a request-block boundary (engine block smaller
 * than the index's, unaligned) cannot be chained (its tokens before the boundary are in another
 * event) and is skipped and counted, as llm-d drops events whose parent it cannot resolve.
 *
 * Invariants: an entry is on its bucket chain and on the LRU list iff it is live; a request entry
 * with zero holders is freed at once; nheld[id] counts holders of endpoint id across all entries,
 * and an endpoint id with nheld 0 may be recycled for a new name.
 *
 * Rejected: one Go-style LRU per request key for its holders (llm-d podCacheSize): an inline array
 * with oldest-first order gives the same bound without allocation; refreshing LRU order on lookup
 * (would make lookups writers; keys are refreshed when the engine stores them again).
 */
#include "prefix/precise_index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "kvevents/decode.h"
#include "prefix/hash.h"

#define NIL          UINT32_MAX
#define TIER_GPU     0
#define TIER_CPU     1
#define TIER_OTHER   2
#define TIER_SPEC    3
#define EP_BUCKETS   1024     /* endpoint-name hash chains */
#define EK_NOWN_MASK 0xffffu  /* eent.aux: request keys owned */
#define EK_HAS_RKEY  0x10000u /* eent.aux: rkey is valid */
#define EK_UNALIGNED 0x20000u /* eent.aux: its end is not on a request-block boundary */

struct hdr {
    uint64_t key;   /* request key or engine hash */
    uint32_t hnext; /* next on the bucket chain */
    uint32_t lprev; /* LRU: toward the most recently used */
    uint32_t lnext; /* LRU: toward the least recently used */
    uint32_t aux;   /* rent: holder count; eent: EK_* bits */
};

struct holder {
    uint16_t ep;   /* endpoint id */
    uint8_t tier;  /* TIER_* */
    uint8_t stamp; /* TIER_SPEC: insert time (s) mod 256 */
};

struct rent {
    struct hdr h;                           /* aux = number of holders */
    uint64_t parent;                        /* previous request key of the chain */
    struct holder hold[SY_PRECISE_HOLDERS]; /* oldest first */
};

struct eent {
    struct hdr h;  /* aux = EK_* */
    uint64_t rkey; /* last request key ending at or before this engine block's end */
};

struct table {
    unsigned char *slab; /* cap entries of esz bytes */
    size_t esz;          /* entry size */
    size_t cap;          /* entries allocated */
    size_t used;         /* high-water mark in the slab */
    size_t max;          /* bound on live entries */
    size_t count;        /* live entries */
    uint32_t *buckets;   /* chain heads */
    unsigned bits;       /* log2(bucket count) */
    uint32_t free_head;  /* free list through hdr.hnext */
    uint32_t mru, lru;   /* LRU list ends */
};

struct sy_precise_index {
    pthread_rwlock_t lock;
    uint32_t block_tokens;                        /* index block size */
    char *hash_seed;                              /* owned */
    size_t hash_seed_len;                         /* its length */
    struct table keys;                            /* struct rent */
    struct table ekeys;                           /* struct eent */
    char *names[SY_PRECISE_MAX_ENDPOINTS];        /* endpoint id -> name (owned), NULL if unused */
    uint16_t name_next[SY_PRECISE_MAX_ENDPOINTS]; /* chain: id + 1, 0 = end */
    uint16_t name_buckets[EP_BUCKETS];            /* id + 1, 0 = empty */
    uint32_t nheld[SY_PRECISE_MAX_ENDPOINTS];     /* holders per endpoint id */
    size_t nnames;                                /* ids in use */
    uint64_t *scratch;                            /* request keys of one event */
    size_t scratch_cap;
    uint64_t stored, removed, evicted, skipped; /* counters (under the write lock) */
};

/* ---- generic table ---------------------------------------------------------------------- */

static struct hdr *at(const struct table *t, uint32_t i)
{
    return (struct hdr *)(t->slab + (size_t)i * t->esz);
}

static uint32_t bucket_of(const struct table *t, uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - t->bits));
}

static void table_init(struct table *t, size_t esz, size_t max)
{
    memset(t, 0, sizeof *t);
    t->esz = esz;
    t->max = max;
    t->bits = 10;
    t->buckets = sy_xmalloc(sizeof(uint32_t) << t->bits);
    memset(t->buckets, 0xff, sizeof(uint32_t) << t->bits);
    t->free_head = t->mru = t->lru = NIL;
}

static void table_fini(struct table *t)
{
    free(t->slab);
    free(t->buckets);
}

static uint32_t table_find(const struct table *t, uint64_t key)
{
    for (uint32_t i = t->buckets[bucket_of(t, key)]; i != NIL; i = at(t, i)->hnext)
        if (at(t, i)->key == key)
            return i;
    return NIL;
}

static void lru_unlink(struct table *t, struct hdr *h)
{
    if (h->lprev != NIL)
        at(t, h->lprev)->lnext = h->lnext;
    else
        t->mru = h->lnext;
    if (h->lnext != NIL)
        at(t, h->lnext)->lprev = h->lprev;
    else
        t->lru = h->lprev;
}

static void lru_push(struct table *t, uint32_t i)
{
    struct hdr *h = at(t, i);
    h->lprev = NIL;
    h->lnext = t->mru;
    if (t->mru != NIL)
        at(t, t->mru)->lprev = i;
    t->mru = i;
    if (t->lru == NIL)
        t->lru = i;
}

static void table_touch(struct table *t, uint32_t i)
{
    if (t->mru == i)
        return;
    lru_unlink(t, at(t, i));
    lru_push(t, i);
}

static void table_remove(struct table *t, uint32_t i)
{
    struct hdr *h = at(t, i);
    uint32_t *pp = &t->buckets[bucket_of(t, h->key)];
    while (*pp != i)
        pp = &at(t, *pp)->hnext;
    *pp = h->hnext;
    lru_unlink(t, h);
    h->hnext = t->free_head;
    t->free_head = i;
    t->count--;
}

static void rehash(struct table *t)
{
    unsigned nb = t->bits + 1;
    uint32_t *b = sy_xmalloc(sizeof(uint32_t) << nb);
    memset(b, 0xff, sizeof(uint32_t) << nb);
    free(t->buckets);
    t->buckets = b;
    t->bits = nb;
    for (uint32_t i = t->mru; i != NIL; i = at(t, i)->lnext) {
        uint32_t k = bucket_of(t, at(t, i)->key);
        at(t, i)->hnext = b[k];
        b[k] = i;
    }
}

/* A new live entry for key (caller checked it is absent and that count < max). */
static uint32_t table_insert(struct table *t, uint64_t key)
{
    uint32_t i;
    if (t->free_head != NIL) {
        i = t->free_head;
        t->free_head = at(t, i)->hnext;
    } else {
        if (t->used == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 1024;
            if (nc > t->max)
                nc = t->max;
            t->slab = sy_xrealloc(t->slab, nc * t->esz);
            t->cap = nc;
        }
        i = (uint32_t)t->used++;
    }
    memset(at(t, i), 0, t->esz);
    at(t, i)->key = key;
    if (t->count + 1 > ((size_t)1 << t->bits) && t->bits < 31)
        rehash(t);
    uint32_t k = bucket_of(t, key);
    at(t, i)->hnext = t->buckets[k];
    t->buckets[k] = i;
    lru_push(t, i);
    t->count++;
    return i;
}

/* ---- endpoints ------------------------------------------------------------------------- */

static uint32_t name_bucket(struct sy_str s)
{
    return (uint32_t)(XXH64(s.p, s.len, 0) % EP_BUCKETS);
}

static int ep_find(const struct sy_precise_index *idx, struct sy_str s)
{
    for (uint16_t v = idx->name_buckets[name_bucket(s)]; v; v = idx->name_next[v - 1]) {
        const char *n = idx->names[v - 1];
        if (strlen(n) == s.len && memcmp(n, s.p, s.len) == 0)
            return v - 1;
    }
    return -1;
}

static void ep_unlink(struct sy_precise_index *idx, int id)
{
    uint16_t *pp = &idx->name_buckets[name_bucket(sy_str_c(idx->names[id]))];
    while (*pp != id + 1)
        pp = &idx->name_next[*pp - 1];
    *pp = idx->name_next[id];
    free(idx->names[id]);
    idx->names[id] = NULL;
    idx->nnames--;
}

/* Interns s (write lock held): its id, or -1 when every id is in use and holds entries. */
static int ep_intern(struct sy_precise_index *idx, struct sy_str s)
{
    int id = ep_find(idx, s);
    if (id >= 0)
        return id;
    int slot = -1;
    for (int i = 0; i < SY_PRECISE_MAX_ENDPOINTS && slot < 0; i++)
        if (!idx->names[i])
            slot = i;
    for (int i = 0; i < SY_PRECISE_MAX_ENDPOINTS && slot < 0; i++)
        if (idx->nheld[i] == 0) {
            ep_unlink(idx, i); /* recycle an endpoint that holds nothing */
            slot = i;
        }
    if (slot < 0)
        return -1;
    idx->names[slot] = sy_xstrndup(s.p, s.len);
    uint32_t b = name_bucket(s);
    idx->name_next[slot] = idx->name_buckets[b];
    idx->name_buckets[b] = (uint16_t)(slot + 1);
    idx->nnames++;
    return slot;
}

/* ---- holders --------------------------------------------------------------------------- */

static struct rent *rent_at(struct sy_precise_index *idx, uint32_t i)
{
    return (struct rent *)at(&idx->keys, i);
}

static void holder_del(struct sy_precise_index *idx, struct rent *r, uint32_t j)
{
    idx->nheld[r->hold[j].ep]--;
    memmove(&r->hold[j], &r->hold[j + 1], (r->h.aux - j - 1) * sizeof r->hold[0]);
    r->h.aux--;
}

/* Adds (ep, tier) as the newest holder of r; drops the oldest when full. A confirmed tier
 * replaces a speculative entry of the same endpoint; a speculative one never shadows a real. */
static void holder_add(struct sy_precise_index *idx, struct rent *r, int ep, uint8_t tier,
                       uint8_t stamp)
{
    for (uint32_t j = 0; j < r->h.aux; j++) {
        struct holder *h = &r->hold[j];
        if (h->ep != ep)
            continue;
        if (tier == TIER_SPEC && h->tier != TIER_SPEC)
            return;
        if (h->tier == tier || h->tier == TIER_SPEC) {
            holder_del(idx, r, j);
            break;
        }
    }
    if (r->h.aux == SY_PRECISE_HOLDERS)
        holder_del(idx, r, 0);
    r->hold[r->h.aux++] = (struct holder){(uint16_t)ep, tier, stamp};
    idx->nheld[ep]++;
}

static void rent_free(struct sy_precise_index *idx, uint32_t i)
{
    struct rent *r = rent_at(idx, i);
    while (r->h.aux)
        holder_del(idx, r, r->h.aux - 1);
    table_remove(&idx->keys, i);
}

/* The request entry for key, created (evicting the least recently used one at the bound). */
static struct rent *rent_upsert(struct sy_precise_index *idx, uint64_t key, uint64_t parent)
{
    uint32_t i = table_find(&idx->keys, key);
    if (i != NIL) {
        table_touch(&idx->keys, i);
        return rent_at(idx, i);
    }
    if (idx->keys.count >= idx->keys.max) {
        rent_free(idx, idx->keys.lru);
        idx->evicted++;
    }
    i = table_insert(&idx->keys, key);
    struct rent *r = rent_at(idx, i);
    r->parent = parent;
    return r;
}

static struct eent *eent_upsert(struct sy_precise_index *idx, uint64_t key)
{
    struct table *t = &idx->ekeys;
    uint32_t i = table_find(t, key);
    if (i != NIL) {
        table_touch(t, i);
        return (struct eent *)at(t, i);
    }
    if (t->count >= t->max)
        table_remove(t, t->lru);
    return (struct eent *)at(t, table_insert(t, key));
}

/* ---- public ---------------------------------------------------------------------------- */

struct sy_precise_index *sy_precise_index_new(uint32_t block_tokens, struct sy_str hash_seed,
                                              size_t max_keys)
{
    struct sy_precise_index *idx = SY_NEW(struct sy_precise_index);
    pthread_rwlock_init(&idx->lock, NULL);
    idx->block_tokens = block_tokens ? block_tokens : 16;
    idx->hash_seed = sy_xstrndup(hash_seed.p ? hash_seed.p : "", hash_seed.len);
    idx->hash_seed_len = hash_seed.len;
    if (max_keys == 0)
        max_keys = SY_PRECISE_DEFAULT_KEYS;
    if (max_keys > NIL - 1)
        max_keys = NIL - 1;
    table_init(&idx->keys, sizeof(struct rent), max_keys);
    table_init(&idx->ekeys, sizeof(struct eent), max_keys);
    return idx;
}

void sy_precise_index_free(struct sy_precise_index *idx)
{
    if (!idx)
        return;
    table_fini(&idx->keys);
    table_fini(&idx->ekeys);
    for (int i = 0; i < SY_PRECISE_MAX_ENDPOINTS; i++)
        free(idx->names[i]);
    free(idx->scratch);
    free(idx->hash_seed);
    pthread_rwlock_destroy(&idx->lock);
    free(idx);
}

uint32_t sy_precise_index_block_tokens(const struct sy_precise_index *idx)
{
    return idx->block_tokens;
}

uint64_t sy_precise_index_seed(const struct sy_precise_index *idx, struct sy_str model)
{
    return sy_prefix_seed(model, (struct sy_str){idx->hash_seed, idx->hash_seed_len});
}

static uint8_t tier_of(struct sy_str medium)
{
    if (medium.len == 0 || sy_str_case_eq_c(medium, "gpu"))
        return TIER_GPU;
    if (sy_str_case_eq_c(medium, "cpu"))
        return TIER_CPU;
    return TIER_OTHER;
}

static double tier_weight(uint8_t tier)
{
    return tier == TIER_CPU ? SY_PRECISE_WEIGHT_CPU : 1.0;
}

/* Removes (ep, tier) from the request keys engine entry e owns, newest first (stops at a key the
 * LRU already dropped). */
static void owned_remove(struct sy_precise_index *idx, const struct eent *e, int ep, uint8_t tier)
{
    if (!(e->h.aux & EK_HAS_RKEY))
        return;
    uint64_t k = e->rkey;
    for (uint32_t c = 0; c < (e->h.aux & EK_NOWN_MASK); c++) {
        uint32_t i = table_find(&idx->keys, k);
        if (i == NIL)
            return;
        struct rent *r = rent_at(idx, i);
        k = r->parent;
        for (uint32_t j = 0; j < r->h.aux; j++)
            if (r->hold[j].ep == ep && r->hold[j].tier == tier) {
                holder_del(idx, r, j);
                idx->removed++;
                break;
            }
        if (r->h.aux == 0)
            rent_free(idx, i);
    }
}

static void owned_add(struct sy_precise_index *idx, const struct eent *e, int ep, uint8_t tier)
{
    if (!(e->h.aux & EK_HAS_RKEY))
        return;
    uint64_t k = e->rkey;
    for (uint32_t c = 0; c < (e->h.aux & EK_NOWN_MASK); c++) {
        uint32_t i = table_find(&idx->keys, k);
        if (i == NIL)
            return;
        struct rent *r = rent_at(idx, i);
        holder_add(idx, r, ep, tier, 0);
        idx->stored++;
        k = r->parent;
    }
}

static bool indexable_group(const struct sy_kv_event *ev)
{
    if (!ev->has_group || ev->spec_kind.len == 0)
        return true;
    return sy_str_eq_c(ev->spec_kind, "full_attention") ||
           sy_str_eq_c(ev->spec_kind, "mla_attention") ||
           sy_str_eq_c(ev->spec_kind, "sink_full_attention");
}

static int apply_stored(struct sy_precise_index *idx, int ep, struct sy_str model,
                        const struct sy_kv_event *ev)
{
    uint8_t tier = tier_of(ev->medium);
    if (!indexable_group(ev))
        return 0;
    if (ev->ntokens == 0) { /* tier (offload) update: the blocks are known, add the tier */
        for (size_t j = 0; j < ev->nhashes; j++) {
            uint32_t i = table_find(&idx->ekeys, ev->hashes[j]);
            if (i != NIL)
                owned_add(idx, (struct eent *)at(&idx->ekeys, i), ep, tier);
        }
        return 0;
    }
    uint64_t bs = ev->block_size;
    if (bs == 0 || ev->nhashes == 0 || ev->ntokens != ev->nhashes * bs) {
        idx->skipped++;
        return SY_EINVAL;
    }
    if (ev->lora_name.len)
        model = ev->lora_name;
    uint64_t prev;
    bool have_prev = false;
    if (ev->has_parent) {
        uint32_t i = table_find(&idx->ekeys, ev->parent);
        const struct eent *pe = i == NIL ? NULL : (const struct eent *)at(&idx->ekeys, i);
        if (!pe || (pe->h.aux & EK_UNALIGNED)) {
            idx->skipped++;
            return SY_ENOTFOUND;
        }
        have_prev = (pe->h.aux & EK_HAS_RKEY) != 0;
        prev = have_prev ? pe->rkey : sy_precise_index_seed(idx, model);
    } else {
        prev = sy_precise_index_seed(idx, model);
    }
    uint64_t ibs = idx->block_tokens;
    size_t nreq = ev->ntokens / ibs;
    if (nreq > idx->scratch_cap) {
        idx->scratch = sy_xrealloc(idx->scratch, nreq * sizeof *idx->scratch);
        idx->scratch_cap = nreq;
    }
    uint64_t *rk = idx->scratch;
    if (nreq)
        sy_prefix_hash_tokens(prev, ev->tokens, nreq * ibs, ibs, nreq, rk, nreq);
    for (size_t k = 0; k < nreq; k++) {
        struct rent *r = rent_upsert(idx, rk[k], k ? rk[k - 1] : prev);
        holder_add(idx, r, ep, tier, 0);
        idx->stored++;
    }
    for (size_t j = 0; j < ev->nhashes; j++) {
        uint64_t start = j * bs, end = start + bs;
        uint64_t last = end / ibs; /* request blocks completed by the end of engine block j */
        struct eent *e = eent_upsert(idx, ev->hashes[j]);
        uint32_t aux = (uint32_t)((last - start / ibs) & EK_NOWN_MASK);
        if (last > 0) {
            e->rkey = rk[last - 1];
            aux |= EK_HAS_RKEY;
        } else if (have_prev) {
            e->rkey = prev;
            aux |= EK_HAS_RKEY;
            aux &= ~EK_NOWN_MASK;
        }
        if (end % ibs)
            aux |= EK_UNALIGNED;
        e->h.aux = aux;
    }
    return 0;
}

int sy_precise_index_apply(struct sy_precise_index *idx, struct sy_str ep, struct sy_str model,
                           const struct sy_kv_event *ev)
{
    if (ev->kind == SY_KV_ALL_BLOCKS_CLEARED) {
        sy_precise_index_clear_endpoint(idx, ep);
        return 0;
    }
    int rc = 0;
    pthread_rwlock_wrlock(&idx->lock);
    int id = ep_intern(idx, ep);
    if (id < 0) {
        rc = SY_ETOOBIG;
    } else if (ev->kind == SY_KV_BLOCK_STORED) {
        rc = apply_stored(idx, id, model, ev);
    } else {
        uint8_t tier = tier_of(ev->medium);
        for (size_t j = 0; j < ev->nhashes; j++) {
            uint32_t i = table_find(&idx->ekeys, ev->hashes[j]);
            if (i != NIL)
                owned_remove(idx, (struct eent *)at(&idx->ekeys, i), id, tier);
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return rc;
}

void sy_precise_index_clear_endpoint(struct sy_precise_index *idx, struct sy_str ep)
{
    pthread_rwlock_wrlock(&idx->lock);
    int id = ep_find(idx, ep);
    if (id >= 0 && idx->nheld[id] > 0) {
        struct table *t = &idx->keys;
        for (uint32_t i = t->mru; i != NIL && idx->nheld[id] > 0;) {
            struct rent *r = rent_at(idx, i);
            uint32_t next = r->h.lnext;
            for (uint32_t j = r->h.aux; j-- > 0;)
                if (r->hold[j].ep == id)
                    holder_del(idx, r, j);
            if (r->h.aux == 0)
                rent_free(idx, i);
            i = next;
        }
    }
    pthread_rwlock_unlock(&idx->lock);
}

void sy_precise_index_speculate(struct sy_precise_index *idx, const uint64_t *keys, size_t n,
                                struct sy_str ep, uint64_t now_s, uint32_t ttl_s)
{
    if (ttl_s == 0 || n == 0)
        return;
    if (ttl_s > 127)
        ttl_s = 127; /* the expiry is kept mod 256 */
    pthread_rwlock_wrlock(&idx->lock);
    int id = ep_intern(idx, ep);
    for (size_t k = 0; id >= 0 && k < n; k++) {
        struct rent *r = rent_upsert(idx, keys[k], k ? keys[k - 1] : 0);
        holder_add(idx, r, id, TIER_SPEC, (uint8_t)(now_s + ttl_s));
    }
    pthread_rwlock_unlock(&idx->lock);
}

/* A holder counts unless it is a speculative entry past its expiry (stamp = expiry mod 256). */
static bool holder_live(const struct holder *h, uint8_t now8)
{
    return h->tier != TIER_SPEC || (int8_t)(uint8_t)(h->stamp - now8) > 0;
}

void sy_precise_index_score(struct sy_precise_index *idx, const uint64_t *keys, size_t n,
                            const struct sy_str *eps, size_t neps, uint64_t now_s, uint32_t *blocks,
                            double *weighted)
{
    int16_t pos[SY_PRECISE_MAX_ENDPOINTS]; /* endpoint id -> candidate position, -1 */
    uint16_t act_buf[256];
    double cur_buf[256];
    uint16_t *act = neps <= 256 ? act_buf : sy_xmalloc(neps * sizeof *act);
    double *cur = neps <= 256 ? cur_buf : sy_xmalloc(neps * sizeof *cur);
    size_t nact = 0;
    uint8_t now8 = (uint8_t)now_s;
    if (neps > INT16_MAX)
        neps = INT16_MAX;
    for (size_t i = 0; i < neps; i++) {
        if (blocks)
            blocks[i] = 0;
        if (weighted)
            weighted[i] = 0.0;
        cur[i] = 0.0;
    }
    pthread_rwlock_rdlock(&idx->lock);
    memset(pos, 0xff, sizeof pos);
    for (size_t i = 0; i < neps; i++) {
        int id = ep_find(idx, eps[i]);
        if (id >= 0 && idx->nheld[id] > 0 && pos[id] < 0) {
            pos[id] = (int16_t)i;
            act[nact++] = (uint16_t)i;
        }
    }
    for (size_t k = 0; k < n && nact > 0; k++) {
        uint32_t ri = table_find(&idx->keys, keys[k]);
        if (ri == NIL)
            break;
        const struct rent *r = rent_at(idx, ri);
        for (uint32_t j = 0; j < r->h.aux; j++) {
            const struct holder *h = &r->hold[j];
            int p = pos[h->ep];
            if (p < 0 || !holder_live(h, now8))
                continue;
            double w = tier_weight(h->tier);
            if (w > cur[p])
                cur[p] = w;
        }
        size_t keep = 0;
        for (size_t a = 0; a < nact; a++) {
            uint16_t p = act[a];
            if (cur[p] <= 0.0)
                continue;
            if (blocks)
                blocks[p]++;
            if (weighted)
                weighted[p] += cur[p];
            cur[p] = 0.0;
            act[keep++] = p;
        }
        nact = keep;
    }
    pthread_rwlock_unlock(&idx->lock);
    if (act != act_buf)
        free(act);
    if (cur != cur_buf)
        free(cur);
}

void sy_precise_index_stats(struct sy_precise_index *idx, struct sy_precise_stats *out)
{
    pthread_rwlock_rdlock(&idx->lock);
    out->keys = idx->keys.count;
    out->engine_keys = idx->ekeys.count;
    out->endpoints = idx->nnames;
    out->stored = idx->stored;
    out->removed = idx->removed;
    out->evicted = idx->evicted;
    out->skipped = idx->skipped;
    out->bytes_per_key = sizeof(struct rent) + 2 * sizeof(uint32_t);
    out->bytes_per_ekey = sizeof(struct eent) + 2 * sizeof(uint32_t);
    pthread_rwlock_unlock(&idx->lock);
}
