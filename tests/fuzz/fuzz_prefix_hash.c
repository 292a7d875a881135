/* libFuzzer target for src/prefix/hash.c and src/prefix/approx_index.c.
 *
 * Input layout: byte 0 = block size in characters (1..64), byte 1 = max blocks (0 = unlimited),
 * byte 2 = LRU capacity (1..16), the rest = prompt text (also read as a JSON string body and as
 * LE32 token ids). Beyond "no crash, no sanitizer report" it checks the contracts:
 *   - unescape never writes past cap and never grows the text;
 *   - the hash count matches sy_prefix_nblocks_chars, hashing is deterministic, and hashing the
 *     first k full blocks reproduces the first k hashes (the chain is a prefix function);
 *   - the token chain has the same prefix property;
 *   - after inserting a chain for an endpoint, matching that chain counts at most min(n, cap)
 *     for it, every count is <= the walk, and an endpoint's entries never exceed its capacity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_scan.h"
#include "core/str.h"
#include "prefix/approx_index.h"
#include "prefix/hash.h"

static struct sy_approx_index *idx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t bchars = 1 + data[0] % 64;
    size_t maxb = data[1] ? data[1] : SIZE_MAX;
    uint32_t cap = 1 + data[2] % 16;
    const char *text = (const char *)data + 3;
    size_t len = size - 3;

    /* JSON string body decoding. */
    char dec[256];
    size_t dl = sy_json_decode_string((struct sy_str){text, len}, dec, sizeof dec, NULL);
    if (dl != SIZE_MAX && (dl > sizeof dec || dl > len))
        abort();

    /* Character chain. */
    size_t n = sy_prefix_nblocks_chars(len, bchars, maxb);
    uint64_t *h = malloc((n ? n : 1) * sizeof *h), *h2 = malloc((n ? n : 1) * sizeof *h2);
    if (sy_prefix_hash_chars(42, text, len, bchars, maxb, h, n) != n)
        abort();
    if (sy_prefix_hash_chars(42, text, len, bchars, maxb, h2, n) != n ||
        (n && memcmp(h, h2, n * sizeof *h)))
        abort();
    size_t full = len / bchars < n ? len / bchars : n;
    if (full && sy_prefix_hash_chars(42, text, full * bchars, bchars, maxb, h2, n) != full)
        abort();
    if (full && memcmp(h, h2, full * sizeof *h))
        abort();

    /* Token chain over the same bytes as LE32 ids. */
    size_t ntok = len / 4;
    uint32_t *tok = malloc((ntok ? ntok : 1) * sizeof *tok);
    for (size_t i = 0; i < ntok; i++)
        tok[i] = (uint32_t)(uint8_t)text[4 * i] | (uint32_t)(uint8_t)text[4 * i + 1] << 8 |
                 (uint32_t)(uint8_t)text[4 * i + 2] << 16 |
                 (uint32_t)(uint8_t)text[4 * i + 3] << 24;
    size_t bt = bchars % 8 + 1;
    size_t nt = ntok ? (ntok + bt - 1) / bt : 0;
    if (nt > maxb)
        nt = maxb;
    uint64_t *t1 = malloc((nt ? nt : 1) * sizeof *t1), *t2 = malloc((nt ? nt : 1) * sizeof *t2);
    if (sy_prefix_hash_tokens(7, tok, ntok, bt, maxb, t1, nt) != nt)
        abort();
    size_t tfull = ntok / bt < nt ? ntok / bt : nt;
    if (tfull && (sy_prefix_hash_tokens(7, tok, tfull * bt, bt, maxb, t2, nt) != tfull ||
                  memcmp(t1, t2, tfull * sizeof *t1)))
        abort();

    /* Index: one shared instance across inputs, endpoints named by a few static addresses. */
    static char eps[4][1];
    if (!idx)
        idx = sy_approx_index_new(0);
    const void *ep = eps[data[0] % 4];
    if (data[1] % 7 == 0)
        sy_approx_index_remove(idx, eps[data[2] % 4]);
    if (sy_approx_index_add(idx, h, n, ep, cap) != 0)
        abort();
    const void *all[4] = {eps[0], eps[1], eps[2], eps[3]};
    uint32_t cnt[4];
    size_t walked = sy_approx_index_match(idx, h, n, all, 4, cnt);
    if (walked > n)
        abort();
    for (int i = 0; i < 4; i++) {
        if (cnt[i] > walked || sy_approx_index_count(idx, all[i]) > 16)
            abort();
    }
    if (sy_approx_index_count(idx, ep) > cap)
        abort();
    /* The most recent hash of this chain is always still held by ep. */
    if (n && sy_approx_index_match(idx, &h[n - 1], 1, &ep, 1, cnt) != 1)
        abort();

    free(h);
    free(h2);
    free(tok);
    free(t1);
    free(t2);
    return 0;
}
