/* bpe.c - the byte-level BPE model: vocabulary, merge ranks and the per-word merge loop.
 *
 * Data structures (all immutable after sy_bpe__finish, so any number of threads may encode):
 *
 *   vocab   open-addressing table  token bytes (ByteLevel alphabet) -> id; keys live in one arena
 *   merges  open-addressing table  (left id << 32 | right id)      -> (rank << 32 | merged id)
 *   byte_sym[256]                  raw byte -> id of its one-character ByteLevel token
 *
 * Merging works on ids, never on strings: a word starts as one symbol per byte (byte_sym) and the
 * lowest-ranked adjacent pair is merged until no pair has a rank; ties go to the leftmost pair,
 * which is what both the Rust tokenizers and transformers.js do. Short words use a direct scan
 * (O(n^2) over <= 32 symbols, no allocation); longer words (CJK runs, whitespace runs, minified
 * code) use a binary heap of candidate pairs with lazy invalidation, O(n log n).
 *
 * ignore_merges (Llama 3): a word that is itself a vocab entry is emitted as one token without
 * running the merges, as the reference does.
 *
 * Rejected: a string-keyed "a b" merge map (hashing strings on every probe is several times
 * slower) and a shared mutable word cache (needs locking on the hot path; merging on ids is fast
 * enough that a 32k-token prompt takes a few milliseconds without one).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "tokenize/internal.h"

#define SY_BPE_SMALL       32    /* words up to this many bytes use the direct scan */
#define SY_BPE_CACHE_SLOTS 16384 /* per-thread word cache entries (direct-mapped, 1 MiB) */
#define SY_BPE_CACHE_WORD  26    /* longest cached word, bytes */
#define SY_BPE_CACHE_IDS   7     /* most ids a cached word may have */

struct vslot {
    uint32_t off; /* token offset in the arena */
    uint32_t len; /* token length; 0 = empty slot */
    uint32_t id;  /* token id */
};

struct mslot {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
    uint64_t val; /* rank << 32 | merged id */
};

struct sy_bpe {
    char *arena;            /* owned; token bytes back to back */
    size_t arena_len;       /* bytes used */
    size_t arena_cap;       /* bytes allocated */
    struct vslot *vtab;     /* owned; power-of-two sized */
    size_t vcap;            /* slots */
    size_t vcount;          /* entries */
    struct mslot *mtab;     /* owned; power-of-two sized */
    size_t mcap;            /* slots */
    size_t mcount;          /* entries (= next rank) */
    uint64_t serial;        /* unique per model: tags this model's entries in thread caches */
    uint32_t byte_sym[256]; /* raw byte -> initial symbol id */
    char bchar[256][2];     /* raw byte -> its ByteLevel character in UTF-8 */
    uint8_t blen[256];      /* length of bchar[b] (1 or 2) */
    bool ignore_merges;     /* emit whole-word vocab hits directly */
};

uint32_t sy_tokenize__byte_char(unsigned char b)
{
    /* GPT-2 bytes_to_unicode: printable Latin-1 maps to itself, the 68 others to U+0100.. */
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
            n++;
    return 0x100 + n;
}

static atomic_uint_fast64_t next_serial = 1;

struct sy_bpe *sy_bpe__new(void)
{
    struct sy_bpe *m = SY_NEW(struct sy_bpe);
    m->serial = atomic_fetch_add(&next_serial, 1);
    m->vcap = 1024;
    m->vtab = sy_xcalloc(m->vcap, sizeof(*m->vtab));
    m->mcap = 1024;
    m->mtab = sy_xmalloc(m->mcap * sizeof(*m->mtab));
    memset(m->mtab, 0xff, m->mcap * sizeof(*m->mtab));
    return m;
}

void sy_bpe__free(struct sy_bpe *m)
{
    if (!m)
        return;
    free(m->arena);
    free(m->vtab);
    free(m->mtab);
    free(m);
}

static size_t vfind(const struct sy_bpe *m, const char *tok, size_t len)
{
    size_t mask = m->vcap - 1;
    size_t i = (size_t)XXH3_64bits(tok, len) & mask;
    for (;;) {
        const struct vslot *s = &m->vtab[i];
        if (s->len == 0 || (s->len == len && memcmp(m->arena + s->off, tok, len) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

static void vgrow(struct sy_bpe *m)
{
    struct vslot *old = m->vtab;
    size_t oldcap = m->vcap;
    m->vcap *= 2;
    m->vtab = sy_xcalloc(m->vcap, sizeof(*m->vtab));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].len)
            m->vtab[vfind(m, m->arena + old[i].off, old[i].len)] = old[i];
    free(old);
}

bool sy_bpe__add_token(struct sy_bpe *m, const char *tok, size_t len, uint32_t id)
{
    if (len == 0 || len > UINT32_MAX / 2)
        return false;
    if ((m->vcount + 1) * 2 > m->vcap)
        vgrow(m);
    size_t i = vfind(m, tok, len);
    if (m->vtab[i].len)
        return false;
    if (m->arena_len + len > m->arena_cap) {
        m->arena_cap = (m->arena_len + len) * 2;
        m->arena = sy_xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, tok, len);
    m->vtab[i] = (struct vslot){.off = (uint32_t)m->arena_len, .len = (uint32_t)len, .id = id};
    m->arena_len += len;
    m->vcount++;
    return true;
}

int64_t sy_bpe__lookup(const struct sy_bpe *m, const char *tok, size_t len)
{
    if (len == 0)
        return -1;
    const struct vslot *s = &m->vtab[vfind(m, tok, len)];
    return s->len ? (int64_t)s->id : -1;
}

static inline size_t mhash(uint64_t key, size_t mask)
{
    key ^= key >> 29;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 32;
    return (size_t)key & mask;
}

static void mput(struct mslot *tab, size_t cap, uint64_t key, uint64_t val)
{
    size_t mask = cap - 1, i = mhash(key, mask);
    while (tab[i].key != UINT64_MAX && tab[i].key != key)
        i = (i + 1) & mask;
    if (tab[i].key == key)
        return; /* a duplicate merge keeps its first (lowest) rank */
    tab[i].key = key;
    tab[i].val = val;
}

/* Returns the slot value for (a, b) or UINT64_MAX. */
static inline uint64_t mget(const struct sy_bpe *m, uint32_t a, uint32_t b)
{
    uint64_t key = (uint64_t)a << 32 | b;
    size_t mask = m->mcap - 1, i = mhash(key, mask);
    for (;;) {
        const struct mslot *s = &m->mtab[i];
        if (s->key == key)
            return s->val;
        if (s->key == UINT64_MAX)
            return UINT64_MAX;
        i = (i + 1) & mask;
    }
}

bool sy_bpe__add_merge(struct sy_bpe *m, const char *a, size_t alen, const char *b, size_t blen)
{
    int64_t ia = sy_bpe__lookup(m, a, alen), ib = sy_bpe__lookup(m, b, blen);
    char stackbuf[256];
    char *ab = alen + blen <= sizeof(stackbuf) ? stackbuf : sy_xmalloc(alen + blen);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int64_t iab = sy_bpe__lookup(m, ab, alen + blen);
    if (ab != stackbuf)
        free(ab);
    uint32_t rank = (uint32_t)m->mcount++; /* ranks count every listed merge, valid or not */
    if (ia < 0 || ib < 0 || iab < 0)
        return false;
    if ((m->mcount + 1) * 2 > m->mcap) {
        size_t ncap = m->mcap * 2;
        struct mslot *nt = sy_xmalloc(ncap * sizeof(*nt));
        memset(nt, 0xff, ncap * sizeof(*nt));
        for (size_t i = 0; i < m->mcap; i++)
            if (m->mtab[i].key != UINT64_MAX)
                mput(nt, ncap, m->mtab[i].key, m->mtab[i].val);
        free(m->mtab);
        m->mtab = nt;
        m->mcap = ncap;
    }
    mput(m->mtab, m->mcap, (uint64_t)ia << 32 | (uint32_t)ib, (uint64_t)rank << 32 | (uint32_t)iab);
    return true;
}

bool sy_bpe__finish(struct sy_bpe *m, bool ignore_merges)
{
    m->ignore_merges = ignore_merges;
    for (int b = 0; b < 256; b++) {
        uint32_t c = sy_tokenize__byte_char((unsigned char)b);
        if (c < 0x80) {
            m->bchar[b][0] = (char)c;
            m->blen[b] = 1;
        } else {
            m->bchar[b][0] = (char)(0xC0 | (c >> 6));
            m->bchar[b][1] = (char)(0x80 | (c & 0x3F));
            m->blen[b] = 2;
        }
        int64_t id = sy_bpe__lookup(m, m->bchar[b], m->blen[b]);
        if (id < 0)
            return false;
        m->byte_sym[b] = (uint32_t)id;
    }
    return true;
}

static inline void put_id(struct sy_buf *ids, uint32_t id)
{
    sy_buf_append(ids, &id, sizeof(id));
}

/* Direct scan for short words: sym[] holds n ids, merged in place. r[i] caches the merge slot
 * value of the pair (i, i+1) so each merge costs two lookups, not a rescan of every pair. */
static void merge_small(const struct sy_bpe *m, uint32_t *sym, size_t n, struct sy_buf *ids)
{
    uint64_t r[SY_BPE_SMALL];
    for (size_t i = 0; i + 1 < n; i++)
        r[i] = mget(m, sym[i], sym[i + 1]);
    while (n > 1) {
        uint64_t best = UINT64_MAX;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (r[i] < best) { /* rank in the high half: strict < keeps the leftmost tie */
                best = r[i];
                at = i;
            }
        }
        if (best == UINT64_MAX)
            break;
        sym[at] = (uint32_t)best;
        memmove(sym + at + 1, sym + at + 2, (n - at - 2) * sizeof(*sym));
        if (n >= at + 3)
            memmove(r + at + 1, r + at + 2, (n - at - 3) * sizeof(*r));
        n--;
        if (at + 1 < n)
            r[at] = mget(m, sym[at], sym[at + 1]);
        if (at > 0)
            r[at - 1] = mget(m, sym[at - 1], sym[at]);
    }
    for (size_t i = 0; i < n; i++)
        put_id(ids, sym[i]);
}

/* Heap entries are (rank << 32 | left position): one integer compare orders by rank, then
 * leftmost. An entry is not invalidated when its pair changes; on pop the pair at that position
 * is looked up again and the entry is used only if the pair still has that rank. Ranks are unique
 * per pair and symbols only grow, so a matching rank means the very same pair. */
struct heap {
    uint64_t *v;   /* owned */
    size_t n, cap; /* used / allocated */
};

static void heap_push(struct heap *h, uint64_t c)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = sy_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c >= h->v[p])
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
}

static uint64_t heap_pop(struct heap *h)
{
    uint64_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        uint64_t best = last;
        if (l < n && h->v[l] < best) {
            s = l;
            best = h->v[l];
        }
        if (l + 1 < n && h->v[l + 1] < best)
            s = l + 1;
        if (s == i)
            break;
        h->v[i] = h->v[s];
        i = s;
    }
    if (n)
        h->v[i] = last;
    return top;
}

/* Heap-driven merging for long words: doubly linked symbols indexed by original position. */
static void merge_large(const struct sy_bpe *m, const unsigned char *w, size_t n,
                        struct sy_buf *ids)
{
    uint32_t *id = sy_xmalloc(n * sizeof(uint32_t));
    int32_t *next = sy_xmalloc(n * sizeof(int32_t));
    int32_t *prev = sy_xmalloc(n * sizeof(int32_t));
    struct heap h = {.v = sy_xmalloc(n * sizeof(uint64_t)), .cap = n};
    for (size_t i = 0; i < n; i++) {
        id[i] = m->byte_sym[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t v = mget(m, id[i], id[i + 1]);
        if (v != UINT64_MAX)
            heap_push(&h, (v & 0xFFFFFFFF00000000ULL) | i);
    }
    while (h.n) {
        uint64_t c = heap_pop(&h);
        uint32_t pos = (uint32_t)c;
        int32_t r = next[pos];
        if (id[pos] == UINT32_MAX || r < 0)
            continue; /* absorbed into its left neighbour, or now last */
        uint64_t v = mget(m, id[pos], id[r]);
        if (v == UINT64_MAX || (v >> 32) != (c >> 32))
            continue; /* the pair at pos changed since this entry was queued */
        id[pos] = (uint32_t)v;
        id[r] = UINT32_MAX; /* dead */
        next[pos] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = (int32_t)pos;
        int32_t p = prev[pos];
        if (p >= 0) {
            uint64_t pv = mget(m, id[p], id[pos]);
            if (pv != UINT64_MAX)
                heap_push(&h, (pv & 0xFFFFFFFF00000000ULL) | (uint32_t)p);
        }
        int32_t q = next[pos];
        if (q >= 0) {
            uint64_t qv = mget(m, id[pos], id[q]);
            if (qv != UINT64_MAX)
                heap_push(&h, (qv & 0xFFFFFFFF00000000ULL) | pos);
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        put_id(ids, id[i]);
    free(h.v);
    free(id);
    free(next);
    free(prev);
}

/* ---- per-thread word cache ----
 *
 * Natural text repeats words, so each thread keeps a direct-mapped cache of short words -> ids.
 * Entries are tagged with the model's serial (never reused, unlike its address), so several
 * tokenizers can share a thread and a freed one can never serve stale ids. Being per thread, it
 * needs no locks; the memory is released by a pthread key destructor when the thread exits.
 */
struct centry {
    uint64_t serial;                /* owning model; 0 = empty */
    uint8_t wlen;                   /* word length */
    uint8_t nids;                   /* ids */
    char w[SY_BPE_CACHE_WORD];      /* word bytes */
    uint32_t ids[SY_BPE_CACHE_IDS]; /* its ids */
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local struct centry *tl_cache;

static void cache_key_init(void)
{
    (void)pthread_key_create(&cache_key, free);
}

static struct centry *cache_get(void)
{
    if (!tl_cache) {
        pthread_once(&cache_once, cache_key_init);
        tl_cache = sy_xcalloc(SY_BPE_CACHE_SLOTS, sizeof(struct centry));
        (void)pthread_setspecific(cache_key, tl_cache);
    }
    return tl_cache;
}

static void bpe_word(const struct sy_bpe *m, const unsigned char *w, size_t len, struct sy_buf *ids)
{
    if (len == 0)
        return;
    if (m->ignore_merges || len == 1) {
        /* the word in the ByteLevel alphabet: at most 2 UTF-8 bytes per raw byte */
        char stackbuf[2 * SY_BPE_SMALL * 4];
        char *s = 2 * len <= sizeof(stackbuf) ? stackbuf : sy_xmalloc(2 * len);
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            memcpy(s + k, m->bchar[w[i]], 2);
            k += m->blen[w[i]];
        }
        int64_t hit = sy_bpe__lookup(m, s, k);
        if (s != stackbuf)
            free(s);
        if (hit >= 0) {
            put_id(ids, (uint32_t)hit);
            return;
        }
    }
    if (len <= SY_BPE_SMALL) {
        uint32_t sym[SY_BPE_SMALL];
        for (size_t i = 0; i < len; i++)
            sym[i] = m->byte_sym[w[i]];
        merge_small(m, sym, len, ids);
        return;
    }
    merge_large(m, w, len, ids);
}

void sy_bpe__word(const struct sy_bpe *m, const unsigned char *w, size_t len, struct sy_buf *ids)
{
    if (len == 0 || len > SY_BPE_CACHE_WORD) {
        bpe_word(m, w, len, ids);
        return;
    }
    struct centry *e = &cache_get()[XXH3_64bits(w, len) & (SY_BPE_CACHE_SLOTS - 1)];
    if (e->serial == m->serial && e->wlen == len && memcmp(e->w, w, len) == 0) {
        sy_buf_append(ids, e->ids, e->nids * sizeof(uint32_t));
        return;
    }
    size_t before = ids->len;
    bpe_word(m, w, len, ids);
    size_t nids = (ids->len - before) / sizeof(uint32_t);
    if (nids <= SY_BPE_CACHE_IDS) {
        e->serial = m->serial;
        e->wlen = (uint8_t)len;
        e->nids = (uint8_t)nids;
        memcpy(e->w, w, len);
        memcpy(e->ids, ids->data + before, nids * sizeof(uint32_t));
    }
}
