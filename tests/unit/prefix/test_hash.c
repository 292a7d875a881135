/* Unit tests for src/prefix/hash.c: llm-d's character and token hash chains, recomputed here
 * independently with direct XXH64 calls over hand-built byte strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "prefix/hash.h"

/* xxh64(bytes || LE64(prev)), built by hand. */
static uint64_t link(const void *bytes, size_t n, uint64_t prev)
{
    unsigned char buf[256];
    assert_true(n + 8 <= sizeof buf);
    memcpy(buf, bytes, n);
    for (int i = 0; i < 8; i++)
        buf[n + i] = (unsigned char)(prev >> (8 * i));
    return XXH64(buf, n + 8, 0);
}

static void test_xxh64_known_answer(void **state)
{
    /* Published XXH64 test vector: empty input, seed 0. Guards against a wrong library. */
    assert_true(XXH64("", 0, 0) == 0xEF46DB3751D8E999ULL);
}

static void test_seed(void **state)
{
    assert_true(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")) == XXH64("m", 1, 0));
    assert_true(sy_prefix_seed(SY_STR_LIT("llama"), SY_STR_LIT("salt")) ==
                XXH64("llamasalt", 9, 0));
    assert_true(sy_prefix_seed(SY_STR_LIT(""), SY_STR_LIT("")) == XXH64("", 0, 0));
}

static void test_chars_chain_whole_blocks_only(void **state)
{
    uint64_t seed = sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT(""));
    uint64_t h1 = link("abcd", 4, seed);
    uint64_t h2 = link("efgh", 4, h1);
    uint64_t out[8] = {0};
    /* GIE v1.5.0 hashPrompt: whole blocks only, the trailing "ij" is not hashed. */
    assert_int_equal(sy_prefix_nblocks_chars(10, 4, 256), 2);
    assert_int_equal(sy_prefix_hash_chars(seed, "abcdefghij", 10, 4, 256, out, 8), 2);
    assert_true(out[0] == h1);
    assert_true(out[1] == h2);
    assert_true(out[2] == 0);
    /* GIE plugin_test: "aaaaaa" with blockSizeTokens 1 (4 characters) -> exactly 1 hash;
     * "aaaabbbb" -> 2. */
    assert_int_equal(sy_prefix_hash_chars(seed, "aaaaaa", 6, 4, 256, out, 8), 1);
    assert_int_equal(sy_prefix_hash_chars(seed, "aaaabbbb", 8, 4, 256, out, 8), 2);
    /* GIE: "aaaabbbbccccdddd" capped at 2 blocks (maxPrefixTokensToMatch 2 / 1) and 3 blocks. */
    assert_int_equal(sy_prefix_hash_chars(seed, "aaaabbbbccccdddd", 16, 4, 2, out, 8), 2);
    assert_int_equal(sy_prefix_hash_chars(seed, "aaaabbbbccccdddd", 16, 4, 3, out, 8), 3);
    /* Same text, other model: every hash differs (seeded by the model). */
    uint64_t other[2];
    uint64_t seed2 = sy_prefix_seed(SY_STR_LIT("n"), SY_STR_LIT(""));
    sy_prefix_hash_chars(seed2, "abcdefghij", 10, 4, 256, other, 2);
    sy_prefix_hash_chars(seed, "abcdefghij", 10, 4, 256, out, 8);
    for (int i = 0; i < 2; i++)
        assert_true(other[i] != out[i]);
}

static void test_chars_short_exact_and_empty(void **state)
{
    uint64_t out[4] = {0};
    /* Shorter than one block: no hashes at all (llm-d: "too small for prefix cache"). */
    assert_int_equal(sy_prefix_hash_chars(1, "abc", 3, 4, 256, out, 4), 0);
    assert_int_equal(sy_prefix_hash_chars(1, "", 0, 4, 256, out, 4), 0);
    assert_int_equal(sy_prefix_hash_chars(1, "abcd", 4, 0, 256, out, 4), 0); /* bad block */
    assert_int_equal(sy_prefix_hash_chars(1, "abcd", 4, 4, 0, out, 4), 0);   /* no blocks */
    /* Exactly one block. */
    assert_int_equal(sy_prefix_hash_chars(7, "abcd", 4, 4, 256, out, 4), 1);
    assert_true(out[0] == link("abcd", 4, 7));
}

static void test_chars_truncation(void **state)
{
    uint64_t full[3], cut[3] = {0};
    assert_int_equal(sy_prefix_hash_chars(9, "abcdefghijkl", 12, 4, 256, full, 3), 3);
    assert_int_equal(sy_prefix_nblocks_chars(12, 4, 2), 2);
    assert_int_equal(sy_prefix_hash_chars(9, "abcdefghijkl", 12, 4, 2, cut, 3), 2);
    assert_true(cut[0] == full[0] && cut[1] == full[1]);
    assert_true(cut[2] == 0);
    /* max 1 with a 6-char input and 4-char blocks: one full block. */
    assert_int_equal(sy_prefix_hash_chars(9, "abcdef", 6, 4, 1, cut, 3), 1);
    assert_true(cut[0] == link("abcd", 4, 9));
    /* cap smaller than the chain: the count is still reported, only cap are written. */
    uint64_t one[1];
    assert_int_equal(sy_prefix_hash_chars(9, "abcdefghijkl", 12, 4, 256, one, 1), 3);
    assert_true(one[0] == full[0]);
    /* Unlimited blocks (SIZE_MAX) does not overflow. */
    assert_int_equal(sy_prefix_hash_chars(9, "abcdefghijkl", 12, 4, SIZE_MAX, cut, 3), 3);
    assert_true(cut[2] == full[2]);
}

static void test_chars_large_blocks(void **state)
{
    /* Blocks above the 1 KiB one-shot size take the streaming path; same chain. */
    enum { B = 1500, L = 3300 }; /* 2 whole blocks + a 300-byte tail that is not hashed */
    char *t = malloc(L);
    unsigned char *buf = malloc(B + 8);
    for (int i = 0; i < L; i++)
        t[i] = (char)(' ' + i % 90);
    uint64_t out[3], prev = 77;
    assert_int_equal(sy_prefix_hash_chars(77, t, L, B, 256, out, 3), 2);
    for (int b = 0; b < 2; b++) {
        size_t n = B;
        memcpy(buf, t + b * B, n);
        for (int k = 0; k < 8; k++)
            buf[n + k] = (unsigned char)(prev >> (8 * k));
        prev = XXH64(buf, n + 8, 0);
        assert_true(out[b] == prev);
    }
    free(buf);
    free(t);
}

/* Token chain reference: blockID = xxh64(LE32 tokens), h = xxh64(LE64(id) || LE64(prev)). */
static uint64_t tok_link(const uint32_t *t, size_t n, uint64_t prev)
{
    unsigned char b[4 * 200];
    assert_true(n <= 200);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (unsigned char)(t[i] >> (8 * k));
    uint64_t id = XXH64(b, 4 * n, 0);
    unsigned char le[8];
    for (int k = 0; k < 8; k++)
        le[k] = (unsigned char)(id >> (8 * k));
    return link(le, 8, prev);
}

static void test_tokens_chain(void **state)
{
    const uint32_t t[5] = {1, 2, 3, 0x01020304u, 0xFFFFFFFFu};
    uint64_t seed = sy_prefix_seed(SY_STR_LIT("model-0"), SY_STR_LIT("salt-1"));
    uint64_t h1 = tok_link(t, 2, seed);
    uint64_t h2 = tok_link(t + 2, 2, h1);
    uint64_t h3 = tok_link(t + 4, 1, h2); /* partial last block */
    uint64_t out[4] = {0};
    assert_int_equal(sy_prefix_hash_tokens(seed, t, 5, 2, 2048, out, 4), 3);
    assert_true(out[0] == h1 && out[1] == h2 && out[2] == h3);
    /* Cap on blocks. */
    memset(out, 0, sizeof out);
    assert_int_equal(sy_prefix_hash_tokens(seed, t, 5, 2, 2, out, 4), 2);
    assert_true(out[0] == h1 && out[1] == h2 && out[2] == 0);
    /* Unlike the character chain, a prompt shorter than a block still hashes. */
    assert_int_equal(sy_prefix_hash_tokens(seed, t, 1, 16, 2048, out, 4), 1);
    assert_true(out[0] == tok_link(t, 1, seed));
    assert_int_equal(sy_prefix_hash_tokens(seed, t, 0, 16, 2048, out, 4), 0);
    assert_int_equal(sy_prefix_hash_tokens(seed, t, 5, 0, 2048, out, 4), 0);
}

static void test_tokens_large_block(void **state)
{
    /* Blocks bigger than the internal 64-token staging buffer. */
    uint32_t t[150];
    for (uint32_t i = 0; i < 150; i++)
        t[i] = i * 2654435761u;
    uint64_t out[2];
    assert_int_equal(sy_prefix_hash_tokens(5, t, 150, 100, 2048, out, 2), 2);
    uint64_t h1 = tok_link(t, 100, 5);
    assert_true(out[0] == h1);
    assert_true(out[1] == tok_link(t + 100, 50, h1));
}

/* The packed-bytes chain equals the token chain over the bytes packed 4 per LE uint32 with a
 * zero-padded tail (llm-d's estimate backend), for every length around the block edges. */
static void test_packed_equals_estimate_tokens(void **state)
{
    char text[300];
    for (int i = 0; i < 300; i++)
        text[i] = (char)('a' + (i * 7) % 26);
    for (size_t len = 0; len <= 300; len += 1) {
        uint32_t toks[80];
        size_t nt = (len + 3) / 4;
        for (size_t t = 0; t < nt; t++) {
            uint32_t v = 0;
            for (size_t k = 0; k < 4 && 4 * t + k < len; k++)
                v |= (uint32_t)(unsigned char)text[4 * t + k] << (8 * k);
            toks[t] = v;
        }
        uint64_t a[20] = {0}, b[20] = {0};
        size_t na = sy_prefix_hash_tokens(5, toks, nt, 16, 3, a, 20);
        size_t nb = sy_prefix_hash_packed(5, text, len, 16, 3, b, 20);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, sizeof a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xxh64_known_answer),
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_chars_chain_whole_blocks_only),
        cmocka_unit_test(test_chars_short_exact_and_empty),
        cmocka_unit_test(test_chars_truncation),
        cmocka_unit_test(test_chars_large_blocks),
        cmocka_unit_test(test_tokens_chain),
        cmocka_unit_test(test_packed_equals_estimate_tokens),
        cmocka_unit_test(test_tokens_large_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
