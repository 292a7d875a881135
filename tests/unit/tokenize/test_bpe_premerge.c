/* Unit tests for the BPE merge paths of src/tokenize/bpe.c on multi-byte text: the character
 * pre-merge, the direct scan (<= 64 symbols) and the heap (longer words) must give exactly what
 * the textbook merge loop gives on the raw bytes.
 *
 * Models are built through the sy_bpe__ API: ids 0..255 are the bytes, merge results get ids
 * from 256. The reference (ref_bpe) works on byte strings and knows nothing about characters:
 * it repeatedly merges the lowest-ranked adjacent pair, leftmost on ties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "tokenize/internal.h"

#define MAXM 400 /* merges per model */
#define MAXT 24  /* longest token, bytes */

struct tok {
    unsigned char b[MAXT]; /* raw bytes */
    size_t n;              /* length */
};

struct model {
    struct sy_bpe *bpe; /* owned */
    struct tok tok[MAXM + 256];
    size_t ntok;
    struct tok ma[MAXM], mb[MAXM]; /* merge operands by rank */
    size_t nm;
};

/* Raw bytes -> ByteLevel alphabet (UTF-8), NUL-terminated. */
static size_t to_bl(const unsigned char *raw, size_t n, char *out)
{
    struct sy_buf b;
    sy_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        sy_tokenize__utf8_put(&b, sy_tokenize__byte_char(raw[i]));
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    size_t len = b.len;
    sy_buf_fini(&b);
    return len;
}

static int64_t find_tok(const struct model *m, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < m->ntok; i++)
        if (m->tok[i].n == n && memcmp(m->tok[i].b, b, n) == 0)
            return (int64_t)i;
    return -1;
}

static void model_init(struct model *m)
{
    memset(m, 0, sizeof(*m));
    m->bpe = sy_bpe__new();
    for (int b = 0; b < 256; b++) {
        m->tok[b].b[0] = (unsigned char)b;
        m->tok[b].n = 1;
        char bl[8];
        size_t n = to_bl(m->tok[b].b, 1, bl);
        assert_true(sy_bpe__add_token(m->bpe, bl, n, (uint32_t)b));
    }
    m->ntok = 256;
}

/* Queues the merge (a, b) with the next rank; the result becomes a token if it is new. Returns
 * false (and adds nothing) when the result would be too long or the pair is already listed. */
static bool add_merge(struct model *m, const struct tok *a, const struct tok *b)
{
    if (a->n + b->n > MAXT || m->nm == MAXM)
        return false;
    for (size_t i = 0; i < m->nm; i++)
        if (m->ma[i].n == a->n && m->mb[i].n == b->n && !memcmp(m->ma[i].b, a->b, a->n) &&
            !memcmp(m->mb[i].b, b->b, b->n))
            return false;
    m->ma[m->nm] = *a;
    m->mb[m->nm] = *b;
    m->nm++;
    struct tok ab = {.n = a->n + b->n};
    memcpy(ab.b, a->b, a->n);
    memcpy(ab.b + a->n, b->b, b->n);
    if (find_tok(m, ab.b, ab.n) < 0)
        m->tok[m->ntok++] = ab;
    return true;
}

static bool add_merge_str(struct model *m, const char *a, const char *b)
{
    struct tok ta = {.n = strlen(a)}, tb = {.n = strlen(b)};
    memcpy(ta.b, a, ta.n);
    memcpy(tb.b, b, tb.n);
    return add_merge(m, &ta, &tb);
}

/* Registers the vocab (ids by creation order) and the merges (ranks by list order). */
static void model_finish(struct model *m)
{
    char bl[4 * MAXT + 1], bl2[4 * MAXT + 1];
    for (size_t i = 256; i < m->ntok; i++) {
        size_t n = to_bl(m->tok[i].b, m->tok[i].n, bl);
        assert_true(sy_bpe__add_token(m->bpe, bl, n, (uint32_t)i));
    }
    for (size_t i = 0; i < m->nm; i++) {
        size_t na = to_bl(m->ma[i].b, m->ma[i].n, bl);
        size_t nb = to_bl(m->mb[i].b, m->mb[i].n, bl2);
        /* a merge whose operand is no token still takes its rank and never fires */
        bool valid =
            find_tok(m, m->ma[i].b, m->ma[i].n) >= 0 && find_tok(m, m->mb[i].b, m->mb[i].n) >= 0;
        assert_int_equal(sy_bpe__add_merge(m->bpe, bl, na, bl2, nb), valid);
    }
    assert_true(sy_bpe__finish(m->bpe, false));
}

/* Rank of the pair (w[a..a+na), w[b..b+nb)) or SIZE_MAX. */
static size_t ref_rank(const struct model *m, const unsigned char *w, size_t a, size_t na, size_t b,
                       size_t nb)
{
    for (size_t r = 0; r < m->nm; r++)
        if (m->ma[r].n == na && m->mb[r].n == nb && !memcmp(m->ma[r].b, w + a, na) &&
            !memcmp(m->mb[r].b, w + b, nb))
            return r;
    return SIZE_MAX;
}

/* The textbook loop on raw bytes: symbols are (offset, length) slices of w. Writes the ids. */
static size_t ref_bpe(const struct model *m, const unsigned char *w, size_t n, uint32_t *out)
{
    size_t *off = malloc(n * sizeof(size_t)), *len = malloc(n * sizeof(size_t));
    size_t *rank = malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        off[i] = i;
        len[i] = 1;
    }
    size_t k = n;
    for (size_t i = 0; i + 1 < k; i++)
        rank[i] = ref_rank(m, w, off[i], len[i], off[i + 1], len[i + 1]);
    for (;;) {
        size_t best = SIZE_MAX, at = 0;
        for (size_t i = 0; i + 1 < k; i++)
            if (rank[i] < best) {
                best = rank[i];
                at = i;
            }
        if (best == SIZE_MAX)
            break;
        len[at] += len[at + 1];
        memmove(off + at + 1, off + at + 2, (k - at - 2) * sizeof(size_t));
        memmove(len + at + 1, len + at + 2, (k - at - 2) * sizeof(size_t));
        if (at + 2 < k)
            memmove(rank + at + 1, rank + at + 2, (k - at - 2) * sizeof(size_t));
        k--;
        if (at + 1 < k)
            rank[at] = ref_rank(m, w, off[at], len[at], off[at + 1], len[at + 1]);
        if (at > 0)
            rank[at - 1] = ref_rank(m, w, off[at - 1], len[at - 1], off[at], len[at]);
    }
    for (size_t i = 0; i < k; i++) {
        int64_t id = find_tok(m, w + off[i], len[i]);
        assert_true(id >= 0);
        out[i] = (uint32_t)id;
    }
    free(off);
    free(len);
    free(rank);
    return k;
}

/* sy_bpe__word(w) must equal ref_bpe(w). */
static void check_word(const struct model *m, const unsigned char *w, size_t n)
{
    uint32_t *want = malloc((n + 1) * sizeof(uint32_t));
    size_t nw = ref_bpe(m, w, n, want);
    struct sy_buf got;
    sy_buf_init(&got);
    sy_bpe__word(m->bpe, w, n, &got);
    size_t ng = got.len / sizeof(uint32_t);
    const uint32_t *g = (const uint32_t *)(const void *)got.data;
    size_t i = 0;
    while (i < nw && i < ng && g[i] == want[i])
        i++;
    if (i < nw || i < ng)
        fail_msg("word of %zu bytes: first difference at token %zu of %zu/%zu (got %u, want %u)", n,
                 i, ng, nw, i < ng ? g[i] : 0, i < nw ? want[i] : 0);
    sy_buf_fini(&got);
    free(want);
}

/* Builds every character of chars from its bytes (lead + continuation first, then the rest). */
static void add_char_merges(struct model *m, const char *const *chars, size_t nchars)
{
    for (size_t i = 0; i < nchars; i++) {
        const char *c = chars[i];
        size_t n = strlen(c);
        if (n < 2)
            continue;
        char a[5] = {c[0]}, b[5] = {c[1]};
        assert_true(add_merge_str(m, a, b) || find_tok(m, (const unsigned char *)c, 2) >= 0);
        for (size_t k = 2; k < n; k++) {
            memcpy(a, c, k);
            a[k] = '\0';
            b[0] = c[k];
            b[1] = '\0';
            add_merge_str(m, a, b);
        }
    }
}

static const char *const cjk[] = {"我", "们", "的", "系", "统", "正", "在", "处", "理"};
#define NCJK (sizeof(cjk) / sizeof(cjk[0]))

/* Repeats the characters of list (by index) into buf; returns the length. */
static size_t cat_chars(unsigned char *buf, const char *const *list, const size_t *idx, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list[idx[i]]);
        memcpy(buf + k, list[idx[i]], l);
        k += l;
    }
    return k;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A 5,000-character CJK run without spaces and a 5,000-character run of one character, through
 * a vocabulary shaped like a real one: characters from bytes, then words from characters. */
static void test_long_cjk_runs(void **state)
{
    static struct model m;
    model_init(&m);
    add_char_merges(&m, cjk, NCJK);
    static const char *const words[][2] = {{"我", "们"},     {"系", "统"},   {"正", "在"},
                                           {"处", "理"},     {"我们", "的"}, {"我", "我"},
                                           {"我我", "我我"}, {"的", "的"}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        assert_true(add_merge_str(&m, words[i][0], words[i][1]));
    model_finish(&m);
    for (size_t i = 0; i < NCJK; i++) {
        uint32_t cp;
        sy_tokenize__utf8_dec((const unsigned char *)cjk[i], 3, &cp);
        assert_true(sy_bpe__premerged(m.bpe, cp)); /* all nine take the fast path */
    }
    assert_false(sy_bpe__premerged(m.bpe, 0x4E00)); /* 一: its bytes never merge */

    static unsigned char buf[5000 * 3];
    static size_t idx[5000];
    for (size_t i = 0; i < 5000; i++)
        idx[i] = next_rand() % NCJK;
    check_word(&m, buf, cat_chars(buf, cjk, idx, 5000));
    for (size_t i = 0; i < 5000; i++)
        idx[i] = 0;
    check_word(&m, buf, cat_chars(buf, cjk, idx, 5000)); /* 我 x 5000: 我我我我 tokens */
    check_word(&m, buf, cat_chars(buf, cjk, idx, 4999)); /* odd count leaves one 我 */
    /* every length around the scan/heap boundary (64 symbols) */
    for (size_t n = 1; n <= 80; n++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = next_rand() % NCJK;
        check_word(&m, buf, cat_chars(buf, cjk, idx, n));
    }
    sy_bpe__free(m.bpe);
}

/* Each of the three pre-merge conditions, broken on purpose: the character must then start as
 * bytes, and the output must still equal the reference. */
static void test_premerge_conditions(void **state)
{
    static struct model m;
    model_init(&m);
    /* (2) a word merge on 的 ranked before 的 is built from its bytes */
    assert_true(add_merge_str(&m, "的", "的"));
    /* (3) ranked before the characters' own merges: " " + the lead byte of 我 (E6 88 91) glues
     * across its left edge, the last byte of 们 (E4 BB AC) + "a" across its right edge, and in
     * invalid UTF-8 the last byte of 我 + a stray continuation byte */
    assert_true(add_merge_str(&m, " ", "\xE6"));
    assert_true(add_merge_str(&m, "\xAC", "a"));
    assert_true(add_merge_str(&m, "\x91", "\x80"));
    static const char *const chars[] = {"我", "们", "的", "系", "统", "理"};
    add_char_merges(&m, chars, sizeof(chars) / sizeof(chars[0]));
    /* (1) 处 (E5 A4 84) only gets as far as its first two bytes */
    assert_true(add_merge_str(&m, "\xE5", "\xA4"));
    assert_true(add_merge_str(&m, " \xE6", "\x88"));
    assert_true(add_merge_str(&m, " \xE6\x88", "\x91"));
    assert_true(add_merge_str(&m, "我", "们"));
    assert_true(add_merge_str(&m, " 我", "们"));
    model_finish(&m);
    uint32_t cp;
    sy_tokenize__utf8_dec((const unsigned char *)"的", 3, &cp);
    assert_false(sy_bpe__premerged(m.bpe, cp));
    sy_tokenize__utf8_dec((const unsigned char *)"处", 3, &cp);
    assert_false(sy_bpe__premerged(m.bpe, cp));
    sy_tokenize__utf8_dec((const unsigned char *)"我", 3, &cp);
    assert_true(sy_bpe__premerged(m.bpe, cp)); /* (3) is checked per word, at its edges */
    static const char *const texts[] = {
        "的的的的的的的的的",
        "我们的系统",
        " 我们",
        "a 我们 我们的",
        "们a们b们a",
        "处理处理",
        "我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们我们"
        "我们我们我们 我们 我们 的的的的 们a们a",
        "我\x80我",
        "我我\x80\x80们",
        "\x80我\xE6我 我\xE6",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_word(&m, (const unsigned char *)texts[i], strlen(texts[i]));
    sy_bpe__free(m.bpe);
}

/* Random vocabularies over the bytes of a few 2-, 3- and 4-byte characters, spaces and ASCII:
 * characters from bytes, words from characters, and arbitrary merges of existing tokens (partial
 * characters glued to neighbours included), with some ranks swapped so that merge order is not
 * training order. Random words, short and long, must match the reference. */
static void test_random_vocab_matches_reference(void **state)
{
    static const char *const alpha[] = {"我", "们", "的", "系", "é", "ß", "😀", " ", "a", "b"};
    const size_t nalpha = sizeof(alpha) / sizeof(alpha[0]);
    for (int round = 0; round < 24; round++) {
        static struct model m;
        model_init(&m);
        /* glue merges, some ranked before the characters are built: a single-byte or whole
         * character next to the first or last byte of a character */
        for (int g = 0; g < 24; g++) {
            if (g == 12)
                add_char_merges(&m, alpha, nalpha);
            const char *x = alpha[next_rand() % nalpha], *y = alpha[next_rand() % nalpha];
            size_t ly = strlen(y);
            struct tok tx = {.n = strlen(x)}, ty = {.n = 1};
            memcpy(tx.b, x, tx.n);
            bool left = next_rand() % 2;
            ty.b[0] = (unsigned char)(left ? y[0] : y[ly - 1]);
            if (left)
                add_merge(&m, &tx, &ty);
            else
                add_merge(&m, &ty, &tx);
        }
        size_t base = m.ntok;
        for (int tries = 0; m.nm < 160 && tries < 100000; tries++) {
            struct tok a, b;
            unsigned pick = (unsigned)(next_rand() % 4);
            if (pick == 0) { /* a word from two whole characters or earlier words */
                a = m.tok[base - 1 - next_rand() % (base - 256)];
                b = m.tok[base - 1 - next_rand() % (base - 256)];
                if (next_rand() % 2 && m.ntok > base)
                    a = m.tok[base + next_rand() % (m.ntok - base)];
            } else { /* anything: bytes of the alphabet, fragments, earlier results */
                const char *c = alpha[next_rand() % nalpha];
                size_t l = strlen(c), s = next_rand() % l;
                a = (struct tok){.n = 1 + next_rand() % (l - s)};
                memcpy(a.b, c + s, a.n);
                b = m.tok[256 + next_rand() % (m.ntok - 256)];
                if (next_rand() % 2) {
                    struct tok t = a;
                    a = b;
                    b = t;
                }
            }
            add_merge(&m, &a, &b);
        }
        /* swap some ranks: a merge may now come before the merges building its operands */
        for (int s = 0; s < round % 6 * 4; s++) {
            size_t i = next_rand() % m.nm, j = next_rand() % m.nm;
            struct tok ta = m.ma[i], tb = m.mb[i];
            m.ma[i] = m.ma[j];
            m.mb[i] = m.mb[j];
            m.ma[j] = ta;
            m.mb[j] = tb;
        }
        model_finish(&m);
        static size_t idx[2000];
        static unsigned char buf[2000 * 4];
        for (int w = 0; w < 40; w++) {
            size_t n = w == 0 && round < 4 ? 2000 : 1 + next_rand() % (w % 4 == 0 ? 300 : 30);
            for (size_t i = 0; i < n; i++)
                idx[i] = next_rand() % nalpha;
            check_word(&m, buf, cat_chars(buf, alpha, idx, n));
        }
        sy_bpe__free(m.bpe);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_cjk_runs),
        cmocka_unit_test(test_premerge_conditions),
        cmocka_unit_test(test_random_vocab_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
