/* nfc.c - Unicode NFC normalisation for the Qwen-style "NFC" normalizer.
 *
 * PCRE2 has no normaliser and Switchyard links no ICU, so this is a compact implementation of
 * UAX #15 over tables generated from the Unicode Character Database (gen_nfc_tables.py ->
 * nfc_tables.h, ~3,800 lines of data):
 *
 *   quick check --(all code points "safe")--> unchanged (the common case: ASCII, CJK, emoji)
 *        |
 *        v  otherwise, over the whole input:
 *   full canonical decomposition (table + Hangul arithmetic)
 *   canonical ordering (stable sort of each run of non-starters by combining class)
 *   canonical composition (primary composites, blocking rule, Hangul LV/LVT)
 *
 * A code point is "safe" when it has no canonical decomposition, combining class 0, and never
 * composes with a preceding character; text made only of safe code points is in NFC.
 *
 * Threading: pure functions over const tables. Rejected: calling ICU (a large dependency for one
 * function) and skipping NFC (Qwen's files do declare it; composed vs decomposed accents would
 * produce different ids than the engine).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "tokenize/internal.h"

#include "tokenize/nfc_tables.h"

#define SY_NFC_SBASE  0xAC00u /* first Hangul syllable */
#define SY_NFC_LBASE  0x1100u /* first leading jamo */
#define SY_NFC_VBASE  0x1161u /* first vowel jamo */
#define SY_NFC_TBASE  0x11A7u /* trailing jamo base (index 0 = none) */
#define SY_NFC_LCOUNT 19      /* leading jamo */
#define SY_NFC_VCOUNT 21      /* vowel jamo */
#define SY_NFC_TCOUNT 28      /* trailing jamo + 1 */
#define SY_NFC_NCOUNT (SY_NFC_VCOUNT * SY_NFC_TCOUNT)
#define SY_NFC_SCOUNT (SY_NFC_LCOUNT * SY_NFC_NCOUNT)

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static bool is_unsafe(uint32_t cp)
{
    if (cp < 0x300)
        return false;
    size_t lo = 0, hi = NELEMS(sy_nfc_unsafe);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < sy_nfc_unsafe[mid][0])
            hi = mid;
        else if (cp > sy_nfc_unsafe[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static unsigned ccc_of(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = NELEMS(sy_nfc_ccc);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < sy_nfc_ccc[mid][0])
            hi = mid;
        else if (cp > sy_nfc_ccc[mid][1])
            lo = mid + 1;
        else
            return sy_nfc_ccc[mid][2];
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t cp)
{
    size_t lo = 0, hi = NELEMS(sy_nfc_decomp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < sy_nfc_decomp[mid][0])
            hi = mid;
        else if (cp > sy_nfc_decomp[mid][0])
            lo = mid + 1;
        else
            return &sy_nfc_decomp[mid][1];
    }
    return NULL;
}

/* Returns the primary composite of (a, b) or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= SY_NFC_LBASE && a < SY_NFC_LBASE + SY_NFC_LCOUNT && b >= SY_NFC_VBASE &&
        b < SY_NFC_VBASE + SY_NFC_VCOUNT)
        return SY_NFC_SBASE +
               ((a - SY_NFC_LBASE) * SY_NFC_VCOUNT + (b - SY_NFC_VBASE)) * SY_NFC_TCOUNT;
    if (a >= SY_NFC_SBASE && a < SY_NFC_SBASE + SY_NFC_SCOUNT &&
        (a - SY_NFC_SBASE) % SY_NFC_TCOUNT == 0 && b > SY_NFC_TBASE &&
        b < SY_NFC_TBASE + SY_NFC_TCOUNT)
        return a + (b - SY_NFC_TBASE);
    size_t lo = 0, hi = NELEMS(sy_nfc_comp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = sy_nfc_comp[mid];
        if (a < e[0] || (a == e[0] && b < e[1]))
            hi = mid;
        else if (a > e[0] || b > e[1])
            lo = mid + 1;
        else
            return e[2];
    }
    return 0;
}

struct cpvec {
    uint32_t *v; /* owned */
    size_t n;    /* used */
    size_t cap;  /* allocated */
};

static void push(struct cpvec *c, uint32_t cp)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = sy_xrealloc(c->v, c->cap * sizeof(uint32_t));
    }
    c->v[c->n++] = cp;
}

static void decompose(struct cpvec *c, uint32_t cp)
{
    if (cp >= SY_NFC_SBASE && cp < SY_NFC_SBASE + SY_NFC_SCOUNT) {
        uint32_t s = cp - SY_NFC_SBASE;
        push(c, SY_NFC_LBASE + s / SY_NFC_NCOUNT);
        push(c, SY_NFC_VBASE + (s % SY_NFC_NCOUNT) / SY_NFC_TCOUNT);
        if (s % SY_NFC_TCOUNT)
            push(c, SY_NFC_TBASE + s % SY_NFC_TCOUNT);
        return;
    }
    const uint32_t *d = cp >= 0xC0 ? decomp_of(cp) : NULL;
    if (!d) {
        push(c, cp);
        return;
    }
    for (int i = 0; i < 4 && d[i]; i++)
        push(c, d[i]);
}

/* clean_lead[b]: no code point whose UTF-8 form starts with byte b is unsafe, so the quick check
 * can skip the whole sequence undecoded (CJK, most of the BMP). Built once from sy_nfc_unsafe. */
static bool clean_lead[256];
static uint64_t bmp_unsafe[0x10000 / 64]; /* bit cp: is_unsafe(cp), for the BMP */
static pthread_once_t clean_once = PTHREAD_ONCE_INIT;

static void clean_init(void)
{
    for (unsigned b = 0xC2; b < 0xF5; b++) {
        uint32_t lo, hi;
        if (b < 0xE0) {
            lo = (b & 0x1F) << 6;
            hi = lo + 0x3F;
        } else if (b < 0xF0) {
            lo = (b & 0x0F) << 12;
            hi = lo + 0xFFF;
        } else {
            lo = (b & 0x07) << 18;
            hi = lo + 0x3FFFF;
        }
        bool clean = true;
        for (size_t k = 0; k < NELEMS(sy_nfc_unsafe) && clean; k++)
            clean = hi < sy_nfc_unsafe[k][0] || lo > sy_nfc_unsafe[k][1];
        clean_lead[b] = clean && lo >= 0x300;
    }
    for (size_t k = 0; k < NELEMS(sy_nfc_unsafe); k++)
        for (uint32_t cp = sy_nfc_unsafe[k][0]; cp <= sy_nfc_unsafe[k][1] && cp < 0x10000; cp++)
            if (cp >= 0x300)
                bmp_unsafe[cp >> 6] |= 1ULL << (cp & 63);
}

bool sy_tokenize__nfc(const char *s, size_t len, struct sy_buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    bool unsafe = false;
    pthread_once(&clean_once, clean_init);
    while (i < len && !unsafe) {
        unsigned char c = p[i];
        uint64_t w8;
        if (c < 0x80 && i + 8 <= len &&
            (memcpy(&w8, p + i, 8), (w8 & 0x8080808080808080ULL) == 0)) {
            i += 8; /* eight ASCII bytes */
            continue;
        }
        if (c < 0xCC) { /* ASCII, Latin-1 and every lead byte below U+0300 */
            i++;
            continue;
        }
        if (clean_lead[c]) { /* s is valid UTF-8: skip the sequence */
            i += c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            continue;
        }
        uint32_t cp;
        if (c >= 0xE0 && c < 0xF0 && i + 2 < len) { /* valid UTF-8: decode inline */
            cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
            i += 3;
        } else {
            i += sy_tokenize__utf8_dec(p + i, len - i, &cp);
        }
        unsafe = cp < 0x10000 ? (bmp_unsafe[cp >> 6] >> (cp & 63) & 1) != 0 : is_unsafe(cp);
    }
    if (!unsafe)
        return false;

    struct cpvec c = {0};
    for (i = 0; i < len;) {
        uint32_t cp;
        i += sy_tokenize__utf8_dec(p + i, len - i, &cp);
        decompose(&c, cp);
    }
    /* canonical ordering: insertion sort inside each run of non-starters (stable) */
    for (size_t k = 1; k < c.n; k++) {
        unsigned cc = ccc_of(c.v[k]);
        if (cc == 0)
            continue;
        size_t j = k;
        uint32_t cur = c.v[k];
        while (j > 0) {
            unsigned pc = ccc_of(c.v[j - 1]);
            if (pc == 0 || pc <= cc)
                break;
            c.v[j] = c.v[j - 1];
            j--;
        }
        c.v[j] = cur;
    }
    /* canonical composition */
    size_t starter = (size_t)-1; /* index of the last starter, if it may still compose */
    unsigned last_cc = 0;
    size_t w = 0;
    for (size_t k = 0; k < c.n; k++) {
        uint32_t cp = c.v[k];
        unsigned cc = ccc_of(cp);
        if (starter != (size_t)-1 && (w == starter + 1 || (last_cc != 0 && last_cc < cc))) {
            uint32_t comp = compose(c.v[starter], cp);
            if (comp) {
                c.v[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            last_cc = 0;
        } else {
            last_cc = cc;
        }
        c.v[w++] = cp;
    }
    size_t start = out->len;
    sy_buf_reserve(out, len + 8);
    for (size_t k = 0; k < w; k++)
        sy_tokenize__utf8_put(out, c.v[k]);
    free(c.v);
    if (out->len - start == len && memcmp(out->data + start, s, len) == 0) {
        out->len = start; /* unchanged after all (e.g. a lone combining mark) */
        out->data[start] = '\0';
        return false;
    }
    return true;
}
