/* bpe.c - the byte-level BPE model: vocabulary, merge ranks and the per-word merge loop.
 *
 * Data structures (all immutable after sy_bpe__finish, so any number of threads may encode):
 *
 *   vocab   open-addressing table  token bytes (ByteLevel alphabet) -> id; keys live in one arena
 *   merges  open-addressing table  (left id << 32 | right id)      -> (rank << 32 | merged id)
 *   byte_sym[256]                  raw byte -> id of its one-character ByteLevel token
 *   pre[0x10000]                   BMP code point -> id of the whole character, or NONE
 *   headctx, tailctx               64 Kibit sets of byte pairs (see "Character pre-merge")
 *
 * Merging works on ids, never on strings: a word starts as one symbol per byte (byte_sym) and the
 * lowest-ranked adjacent pair is merged until no pair has a rank; ties go to the leftmost pair,
 * which is what both the Rust tokenizers and transformers.js do. Words of up to 64 symbols use a
 * direct scan (O(n^2), branch-free minimum over a fixed array, no allocation); longer ones (long
 * CJK runs, whitespace runs, minified code) use a binary heap of candidate pairs with lazy
 * invalidation, O(n log n), in per-thread scratch arrays (no malloc per word).
 *
 * Character pre-merge. A 32k-token Chinese prompt is ~190 KB of 3-byte characters in long
 * space-free pieces, and four of every five merges only rebuild characters from their bytes. So
 * a 2- or 3-byte character c may start as its whole-character token T(c) instead of as bytes,
 * which gives the very same result as merging from bytes when:
 *   (1) c's bytes alone merge into the single token T(c); let top(c) be the highest rank on that
 *       merge path;
 *   (2) every merge with an operand containing c's bytes has a rank above top(c) (min_use);
 *   (3) no merge result glues a partial character of c to the bytes around it: tracked as the
 *       byte pairs (byte before, lead byte) of results ending in a cut-short character and
 *       (last continuation byte, byte after) of results starting with a character's tail; a
 *       pair set at c's edges in the word keeps c as bytes (the byte after c must also not be a
 *       continuation byte).
 * Proof sketch: by (3) c's fragments only merge with each other, in the same order as when c is
 * alone, so they end as T(c). While c is still in fragments it has a pending pair ranked at most
 * top(c); every pair that exists only because c was pre-merged involves a symbol containing c and
 * by (2) ranks above top(c), so it can never be the minimum the byte-level run would have picked
 * instead. Induction over the merge sequence gives identical output. (1)-(3) are computed once
 * in sy_bpe__finish. Of the BMP's characters, Qwen3 pre-merges 15,957 (55 fail (2), the rest
 * are no single token) and Llama 3.1 3,664 (293 fail (2); its vocabulary holds fewer whole CJK
 * characters); 4-byte characters always start as bytes.
 *
 * ignore_merges (Llama 3): a word that is itself a vocab entry is emitted as one token without
 * running the merges, as the reference does.
 *
 * Rejected: a string-keyed "a b" merge map (hashing strings on every probe is several times
 * slower); a shared mutable word cache (needs locking on the hot path); a per-thread cache of
 * pair lookups (measured slower: the merge table probes are already cache hits on real text);
 * pre-merging characters unconditionally (wrong whenever a merge crosses a character edge or a
 * word merge outranks a character's own merges, both present in Qwen3 and Llama 3.1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "tokenize/internal.h"

#define SY_BPE_SMALL        32      /* words up to this many bytes merge on the stack */
#define SY_BPE_SCAN         64      /* words up to this many initial symbols use the direct scan */
#define SY_BPE_CACHE_SLOTS  16384   /* per-thread word cache entries (direct-mapped, 1 MiB) */
#define SY_BPE_CACHE_WORD   26      /* longest cached word, bytes */
#define SY_BPE_CACHE_IDS    7       /* most ids a cached word may have */
#define SY_BPE_NPRE         0x10000 /* pre-merge table covers the BMP (2- and 3-byte UTF-8) */
#define SY_BPE_NONE         UINT32_MAX
#define SY_BPE_SCRATCH_KEEP 65536 /* per-thread scratch kept between words, symbols (2.6 MB) */

_Static_assert(SY_BPE_SMALL <= SY_BPE_SCAN && SY_BPE_SCAN < UINT16_MAX, "scan sizes");

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
    uint32_t *pre;          /* owned; SY_BPE_NPRE entries: code point -> id of the whole character
                               when it may be merged up front (see the top comment), else NONE */
    uint64_t headctx[1024]; /* bit p << 8 | b: a merge result ends in byte p + a partial char
                               whose lead byte is b */
    uint64_t tailctx[1024]; /* bit t << 8 | n: a merge result starts with a partial char ending
                               in byte t, followed by byte n */
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
    free(m->pre);
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
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
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

static inline bool bit_get(const uint64_t *set, unsigned i)
{
    return set[i >> 6] >> (i & 63) & 1;
}

static inline void bit_set(uint64_t *set, unsigned i)
{
    set[i >> 6] |= 1ULL << (i & 63);
}

static inline bool is_cont(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

/* Sequence length a lead byte announces (by its bit pattern; 1 for ASCII and stray bytes). */
static inline size_t lead_len(unsigned char b)
{
    return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

/* Raw bytes of every token, indexed by id: decodes the ByteLevel alphabet back to bytes. A token
 * holding a character outside that alphabet gets rlen UINT32_MAX (no merge can build it). */
struct raw {
    unsigned char *bytes; /* owned; all tokens back to back */
    uint32_t *off, *len;  /* owned; by id */
    size_t nid;           /* max id + 1 */
};

static void raw_build(const struct sy_bpe *m, struct raw *r)
{
    int16_t inv[0x144];
    memset(inv, 0xff, sizeof(inv));
    for (int b = 0; b < 256; b++)
        inv[sy_tokenize__byte_char((unsigned char)b)] = (int16_t)b;
    r->nid = 0;
    for (size_t i = 0; i < m->vcap; i++)
        if (m->vtab[i].len && m->vtab[i].id + 1 > r->nid)
            r->nid = m->vtab[i].id + 1;
    r->off = sy_xcalloc(r->nid, sizeof(uint32_t));
    r->len = sy_xmalloc(r->nid * sizeof(uint32_t));
    memset(r->len, 0xff, r->nid * sizeof(uint32_t));
    r->bytes = sy_xmalloc(m->arena_len + 1);
    size_t k = 0;
    for (size_t i = 0; i < m->vcap; i++) {
        const struct vslot *v = &m->vtab[i];
        if (!v->len)
            continue;
        const unsigned char *s = (const unsigned char *)m->arena + v->off;
        size_t start = k;
        bool ok = true;
        for (size_t j = 0; j < v->len && ok;) {
            uint32_t cp;
            j += sy_tokenize__utf8_dec(s + j, v->len - j, &cp);
            ok = cp < 0x144 && inv[cp] >= 0;
            if (ok)
                r->bytes[k++] = (unsigned char)inv[cp];
        }
        if (ok) {
            r->off[v->id] = (uint32_t)start;
            r->len[v->id] = (uint32_t)(k - start);
        } else {
            k = start;
        }
    }
}

static void raw_free(struct raw *r)
{
    free(r->bytes);
    free(r->off);
    free(r->len);
}

/* min_use[cp] = min(min_use[cp], rank) for every 2- or 3-byte character inside s. Every lead
 * byte is tried, so the answer does not depend on s being valid UTF-8 around it. */
static void note_uses(uint32_t *min_use, const unsigned char *s, size_t n, uint32_t rank)
{
    for (size_t j = 0; j < n; j++) {
        unsigned char b = s[j];
        uint32_t cp;
        if (b >= 0xC2 && b < 0xE0 && j + 1 < n && is_cont(s[j + 1]))
            cp = (uint32_t)(b & 0x1F) << 6 | (s[j + 1] & 0x3F);
        else if (b >= 0xE0 && b < 0xF0 && j + 2 < n && is_cont(s[j + 1]) && is_cont(s[j + 2]))
            cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[j + 1] & 0x3F) << 6 | (s[j + 2] & 0x3F);
        else
            continue;
        if (rank < min_use[cp])
            min_use[cp] = rank;
    }
}

/* Marks the contexts in which a merge result glues a partial character to a neighbour. */
static void note_partials(struct sy_bpe *m, const unsigned char *s, size_t n)
{
    size_t t = 0; /* leading continuation bytes: the tail of a character that started earlier */
    while (t < n && is_cont(s[t]))
        t++;
    if (t > 0 && t < n)
        bit_set(m->tailctx, (unsigned)s[t - 1] << 8 | s[t]);
    size_t k = n; /* last non-continuation byte: a lead whose sequence may be cut short */
    while (k > 0 && is_cont(s[k - 1]))
        k--;
    if (k > 1 && s[k - 1] >= 0xC0 && n - (k - 1) < lead_len(s[k - 1]))
        bit_set(m->headctx, (unsigned)s[k - 2] << 8 | s[k - 1]);
}

/* Builds the pre-merge table: see "Character pre-merge" at the top of the file. */
static void build_pre(struct sy_bpe *m)
{
    struct raw r;
    raw_build(m, &r);
    uint32_t *min_use = sy_xmalloc(SY_BPE_NPRE * sizeof(uint32_t));
    memset(min_use, 0xff, SY_BPE_NPRE * sizeof(uint32_t));
    memset(m->headctx, 0, sizeof(m->headctx));
    memset(m->tailctx, 0, sizeof(m->tailctx));
    for (size_t i = 0; i < m->mcap; i++) {
        const struct mslot *e = &m->mtab[i];
        if (e->key == UINT64_MAX)
            continue;
        uint32_t a = (uint32_t)(e->key >> 32), b = (uint32_t)e->key, ab = (uint32_t)e->val;
        uint32_t rank = (uint32_t)(e->val >> 32);
        if (r.len[a] == UINT32_MAX || r.len[b] == UINT32_MAX || r.len[ab] == UINT32_MAX)
            continue; /* never fires: an operand is not made of ByteLevel characters */
        note_uses(min_use, r.bytes + r.off[a], r.len[a], rank);
        note_uses(min_use, r.bytes + r.off[b], r.len[b], rank);
        note_partials(m, r.bytes + r.off[ab], r.len[ab]);
    }
    raw_free(&r);
    m->pre = sy_xmalloc(SY_BPE_NPRE * sizeof(uint32_t));
    for (uint32_t cp = 0; cp < SY_BPE_NPRE; cp++) {
        m->pre[cp] = SY_BPE_NONE;
        if (cp < 0x80 || (cp >= 0xD800 && cp <= 0xDFFF))
            continue;
        uint32_t sym[3];
        size_t n;
        if (cp < 0x800) {
            sym[0] = m->byte_sym[0xC0 | cp >> 6];
            sym[1] = m->byte_sym[0x80 | (cp & 0x3F)];
            n = 2;
        } else {
            sym[0] = m->byte_sym[0xE0 | cp >> 12];
            sym[1] = m->byte_sym[0x80 | (cp >> 6 & 0x3F)];
            sym[2] = m->byte_sym[0x80 | (cp & 0x3F)];
            n = 3;
        }
        uint32_t top = 0; /* highest rank on the character's own merge path */
        while (n > 1) {
            uint64_t best = UINT64_MAX;
            size_t at = 0;
            for (size_t i = 0; i + 1 < n; i++) {
                uint64_t v = mget(m, sym[i], sym[i + 1]);
                if (v < best) {
                    best = v;
                    at = i;
                }
            }
            if (best == UINT64_MAX)
                break;
            if ((uint32_t)(best >> 32) > top)
                top = (uint32_t)(best >> 32);
            sym[at] = (uint32_t)best;
            if (at + 2 < n)
                sym[at + 1] = sym[at + 2];
            n--;
        }
        if (n == 1 && min_use[cp] > top)
            m->pre[cp] = sym[0];
    }
    free(min_use);
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
    build_pre(m);
    return true;
}

bool sy_bpe__premerged(const struct sy_bpe *m, uint32_t cp)
{
    return m->pre && cp < SY_BPE_NPRE && m->pre[cp] != SY_BPE_NONE;
}

/* The initial symbols of w: one per byte, except that a 2- or 3-byte character whose pre-merge
 * table entry is set becomes its whole-character token, when neither neighbouring byte is in a
 * context where a merge result glues a partial character to it. Returns the symbol count. */
static size_t init_syms(const struct sy_bpe *m, const unsigned char *w, size_t len, uint32_t *sym)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = w[i];
        if (b >= 0xC2 && b < 0xF0) {
            size_t l = b < 0xE0 ? 2 : 3;
            if (i + l <= len && is_cont(w[i + 1]) && (l == 2 || is_cont(w[i + 2]))) {
                uint32_t cp = l == 2 ? (uint32_t)(b & 0x1F) << 6 | (w[i + 1] & 0x3F)
                                     : (uint32_t)(b & 0x0F) << 12 |
                                           (uint32_t)(w[i + 1] & 0x3F) << 6 | (w[i + 2] & 0x3F);
                uint32_t id = m->pre[cp];
                if (id != SY_BPE_NONE && (l == 2 || cp >= 0x800) &&
                    (i == 0 || !bit_get(m->headctx, (unsigned)w[i - 1] << 8 | b)) &&
                    (i + l == len ||
                     (!is_cont(w[i + l]) &&
                      !bit_get(m->tailctx, (unsigned)w[i + l - 1] << 8 | w[i + l])))) {
                    sym[k++] = id;
                    i += l;
                    continue;
                }
            }
        }
        sym[k++] = m->byte_sym[b];
        i++;
    }
    return k;
}

static inline void put_id(struct sy_buf *ids, uint32_t id)
{
    sy_buf_append(ids, &id, sizeof(id));
}

/* Direct scan for words of up to SY_BPE_SCAN symbols. key[i] is (rank << 32 | i) for the pair
 * (i, next[i]) or UINT64_MAX, so the minimum over the fixed array is the lowest rank, leftmost
 * on a tie; symbols stay at their positions (a merged-away one keeps UINT64_MAX), which keeps the
 * scan branch-free and the bookkeeping to two lookups per merge. */
static void merge_small(const struct sy_bpe *m, uint32_t *sym, size_t n, struct sy_buf *ids)
{
    uint64_t key[SY_BPE_SCAN + 3]; /* padded to a multiple of 4 with UINT64_MAX */
    uint32_t to[SY_BPE_SCAN];
    uint16_t next[SY_BPE_SCAN], prev[SY_BPE_SCAN];
    for (size_t i = 0; i < n; i++) {
        uint64_t v = i + 1 < n ? mget(m, sym[i], sym[i + 1]) : UINT64_MAX;
        key[i] = v == UINT64_MAX ? UINT64_MAX : (v & 0xFFFFFFFF00000000ULL) | i;
        to[i] = (uint32_t)v;
        next[i] = (uint16_t)(i + 1);
        prev[i] = (uint16_t)(i - 1); /* wraps for i = 0: never read */
    }
    for (size_t i = n; i % 4; i++)
        key[i] = UINT64_MAX;
    for (;;) {
        /* four independent minima: no loop-carried chain through one cmov */
        uint64_t b0 = UINT64_MAX, b1 = UINT64_MAX, b2 = UINT64_MAX, b3 = UINT64_MAX;
        for (size_t i = 0; i < n; i += 4) {
            b0 = key[i] < b0 ? key[i] : b0;
            b1 = key[i + 1] < b1 ? key[i + 1] : b1;
            b2 = key[i + 2] < b2 ? key[i + 2] : b2;
            b3 = key[i + 3] < b3 ? key[i + 3] : b3;
        }
        b0 = b1 < b0 ? b1 : b0;
        b2 = b3 < b2 ? b3 : b2;
        uint64_t best = b2 < b0 ? b2 : b0;
        if (best == UINT64_MAX)
            break;
        size_t at = (uint32_t)best, r = next[at];
        sym[at] = to[at];
        key[r] = UINT64_MAX;
        next[at] = next[r];
        size_t q = next[at];
        if (q < n) {
            prev[q] = (uint16_t)at;
            uint64_t v = mget(m, sym[at], sym[q]);
            key[at] = v == UINT64_MAX ? UINT64_MAX : (v & 0xFFFFFFFF00000000ULL) | at;
            to[at] = (uint32_t)v;
        } else {
            key[at] = UINT64_MAX;
        }
        if (at > 0) {
            size_t p = prev[at];
            uint64_t v = mget(m, sym[p], sym[at]);
            key[p] = v == UINT64_MAX ? UINT64_MAX : (v & 0xFFFFFFFF00000000ULL) | p;
            to[p] = (uint32_t)v;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i = next[i])
        sym[k++] = sym[i];
    sy_buf_append(ids, sym, k * sizeof(*sym));
}

/* ---- per-thread state: word cache and scratch arrays ----
 *
 * Natural text repeats words, so each thread keeps a direct-mapped cache of short words -> ids.
 * Entries are tagged with the model's serial (never reused, unlike its address), so several
 * tokenizers can share a thread and a freed one can never serve stale ids. Long words merge in
 * scratch arrays that grow as needed and are kept for the next word, up to SY_BPE_SCRATCH_KEEP
 * symbols (a larger word's arrays are freed after it). Being per thread, none of it needs locks;
 * the memory is released by a pthread key destructor when the thread exits.
 */
struct centry {
    uint64_t serial;                /* owning model; 0 = empty */
    uint8_t wlen;                   /* word length */
    uint8_t nids;                   /* ids */
    char w[SY_BPE_CACHE_WORD];      /* word bytes */
    uint32_t ids[SY_BPE_CACHE_IDS]; /* its ids */
};

struct sym {
    uint32_t id;   /* token id; UINT32_MAX once absorbed into its left neighbour */
    int32_t prev;  /* previous live symbol or -1 */
    int32_t next;  /* next live symbol or -1 */
    uint32_t rank; /* merge rank of the pair (this, next), UINT32_MAX when none */
    uint32_t to;   /* id that pair merges into */
};

struct tls {
    struct centry *cache; /* owned; SY_BPE_CACHE_SLOTS entries */
    struct sym *sym;      /* owned; cap entries */
    uint32_t *ids;        /* owned; cap entries */
    uint64_t *heap;       /* owned; 2 * cap entries */
    size_t cap;           /* scratch capacity, symbols */
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local struct tls *tl;

static void tls_free(void *p)
{
    struct tls *t = p;
    free(t->cache);
    free(t->sym);
    free(t->ids);
    free(t->heap);
    free(t);
}

static void tls_key_init(void)
{
    (void)pthread_key_create(&tls_key, tls_free);
}

static struct tls *tls_get(void)
{
    if (!tl) {
        pthread_once(&tls_once, tls_key_init);
        tl = SY_NEW(struct tls);
        tl->cache = sy_xcalloc(SY_BPE_CACHE_SLOTS, sizeof(struct centry));
        (void)pthread_setspecific(tls_key, tl);
    }
    return tl;
}

/* Room for a word of n bytes: n symbols, 2n heap entries. */
static void tls_reserve(struct tls *t, size_t n)
{
    if (n <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < n)
        cap *= 2;
    free(t->sym);
    free(t->ids);
    free(t->heap);
    t->sym = sy_xmalloc(cap * sizeof(*t->sym));
    t->ids = sy_xmalloc(cap * sizeof(*t->ids));
    t->heap = sy_xmalloc(2 * cap * sizeof(*t->heap));
    t->cap = cap;
}

/* Gives back scratch grown past SY_BPE_SCRATCH_KEEP by one huge word. */
static void tls_trim(struct tls *t)
{
    if (t->cap <= SY_BPE_SCRATCH_KEEP)
        return;
    free(t->sym);
    free(t->ids);
    free(t->heap);
    t->sym = NULL;
    t->ids = NULL;
    t->heap = NULL;
    t->cap = 0;
}

/* Min-heap of (rank << 32 | position): one integer compare orders by rank, then leftmost. An
 * entry is not removed when its pair changes; on pop it is used only if the symbol at that
 * position is alive and its current pair still has that rank. Ranks are unique per pair and
 * symbols only grow, so a matching rank means the very same pair. Capacity: n - 1 initial pairs,
 * and each merge pops one entry and pushes at most two, so never more than 2n - 2 entries. */
static inline void heap_push(uint64_t *h, size_t *n, uint64_t c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c >= h[p])
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *np)
{
    uint64_t top = h[0], last = h[--*np];
    size_t i = 0, n = *np;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t s = l + 1 < n && h[l + 1] < h[l] ? l + 1 : l;
        if (h[s] >= last)
            break;
        h[i] = h[s];
        i = s;
    }
    if (n)
        h[i] = last;
    return top;
}

static inline void set_pair(const struct sy_bpe *m, struct sym *s, size_t i)
{
    int32_t r = s[i].next;
    uint64_t v = r >= 0 ? mget(m, s[i].id, s[r].id) : UINT64_MAX;
    s[i].rank = (uint32_t)(v >> 32);
    s[i].to = (uint32_t)v;
}

/* Heap-driven merging for long words: n symbols in t->ids, doubly linked by position. */
static void merge_large(const struct sy_bpe *m, struct tls *t, size_t n, struct sy_buf *ids)
{
    struct sym *s = t->sym;
    uint64_t *h = t->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].id = t->ids[i];
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < n ? (int32_t)(i + 1) : -1;
    }
    for (size_t i = 0; i < n; i++) {
        set_pair(m, s, i);
        if (s[i].rank != UINT32_MAX)
            h[hn++] = (uint64_t)s[i].rank << 32 | i;
    }
    /* Floyd heapify */
    for (size_t i = hn / 2; i-- > 0;) {
        uint64_t c = h[i];
        size_t j = i;
        for (;;) {
            size_t l = 2 * j + 1;
            if (l >= hn)
                break;
            size_t k = l + 1 < hn && h[l + 1] < h[l] ? l + 1 : l;
            if (h[k] >= c)
                break;
            h[j] = h[k];
            j = k;
        }
        h[j] = c;
    }
    while (hn) {
        uint64_t c = heap_pop(h, &hn);
        uint32_t pos = (uint32_t)c;
        struct sym *a = &s[pos];
        if (a->id == UINT32_MAX || a->rank != (uint32_t)(c >> 32))
            continue; /* absorbed, or the pair at pos changed since this entry was queued */
        int32_t r = a->next;
        a->id = a->to;
        s[r].id = UINT32_MAX;
        a->next = s[r].next;
        if (a->next >= 0)
            s[a->next].prev = (int32_t)pos;
        set_pair(m, s, pos);
        if (a->rank != UINT32_MAX)
            heap_push(h, &hn, (uint64_t)a->rank << 32 | pos);
        int32_t p = a->prev;
        if (p >= 0) {
            set_pair(m, s, (size_t)p);
            if (s[p].rank != UINT32_MAX)
                heap_push(h, &hn, (uint64_t)s[p].rank << 32 | (uint32_t)p);
        }
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next)
        t->ids[k++] = s[i].id;
    sy_buf_append(ids, t->ids, k * sizeof(uint32_t));
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
        merge_small(m, sym, init_syms(m, w, len, sym), ids);
        return;
    }
    struct tls *t = tls_get();
    tls_reserve(t, len);
    size_t n = init_syms(m, w, len, t->ids);
    if (n <= SY_BPE_SCAN)
        merge_small(m, t->ids, n, ids);
    else
        merge_large(m, t, n, ids);
    tls_trim(t);
}

void sy_bpe__word(const struct sy_bpe *m, const unsigned char *w, size_t len, struct sy_buf *ids)
{
    if (len == 0 || len > SY_BPE_CACHE_WORD) {
        bpe_word(m, w, len, ids);
        return;
    }
    struct centry *e = &tls_get()->cache[XXH3_64bits(w, len) & (SY_BPE_CACHE_SLOTS - 1)];
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
