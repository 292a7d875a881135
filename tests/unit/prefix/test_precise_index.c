/* Unit tests for src/prefix/precise_index.c: request keys recomputed from event tokens (equal to
 * the gateway's token chain), parent chaining, engine/index block-size ratios both ways,
 * BlockRemoved through the engine map, tiers (GPU 1.0, CPU 0.8, offload updates), longest
 * consecutive run, LRU and holder bounds, clear/purge, speculative entries with TTL, skipped
 * events, lora_name as model, and a reader/writer thread smoke test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "kvevents/decode.h"
#include "prefix/hash.h"
#include "prefix/precise_index.h"

#define S(x) SY_STR_LIT(x)
static const struct sy_str EPS[] = {{"a:1", 3}, {"b:2", 3}, {"c:3", 3}, {"d:4", 3}};
#define MODEL S("m")

static struct sy_kv_event stored(const uint64_t *h, size_t nh, const uint32_t *t, size_t nt,
                                 uint32_t bs)
{
    struct sy_kv_event ev = {.kind = SY_KV_BLOCK_STORED,
                             .hashes = h,
                             .nhashes = nh,
                             .tokens = t,
                             .ntokens = nt,
                             .block_size = bs,
                             .medium = S("GPU")};
    return ev;
}

static struct sy_kv_event removed(const uint64_t *h, size_t nh)
{
    struct sy_kv_event ev = {.kind = SY_KV_BLOCK_REMOVED, .hashes = h, .nhashes = nh};
    return ev;
}

/* The gateway's view: request keys of tokens at block size bs. */
static size_t keys_of(struct sy_precise_index *idx, struct sy_str model, const uint32_t *t,
                      size_t nt, uint64_t *out)
{
    uint32_t bs = sy_precise_index_block_tokens(idx);
    size_t n = nt / bs;
    return sy_prefix_hash_tokens(sy_precise_index_seed(idx, model), t, n * bs, bs, n, out, n);
}

static void score4(struct sy_precise_index *idx, const uint32_t *t, size_t nt, uint32_t *blocks,
                   double *w)
{
    uint64_t k[64];
    size_t n = keys_of(idx, MODEL, t, nt, k);
    sy_precise_index_score(idx, k, n, EPS, 4, 1000, blocks, w);
}

static const uint32_t T[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void test_store_and_score(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S("42"), 0);
    const uint64_t ha[] = {101, 102, 103};
    struct sy_kv_event ev = stored(ha, 3, T, 12, 4);
    assert_int_equal(sy_precise_index_apply(idx, EPS[0], MODEL, &ev), 0);
    ev = stored(ha, 2, T, 8, 4); /* B holds the first two blocks (same engine hashes) */
    assert_int_equal(sy_precise_index_apply(idx, EPS[1], MODEL, &ev), 0);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 12, b, w);
    assert_int_equal(b[0], 3);
    assert_int_equal(b[1], 2);
    assert_int_equal(b[2], 0);
    assert_true(w[0] == 3.0 && w[1] == 2.0 && w[2] == 0.0);
    /* A request that diverges in block 1 matches one block on both. */
    uint32_t t2[12];
    memcpy(t2, T, sizeof t2);
    t2[5] = 999;
    score4(idx, t2, 12, b, w);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 1);
    /* Another model's chain matches nothing; another hashSeed neither. */
    uint64_t k[3];
    keys_of(idx, S("other"), T, 12, k);
    sy_precise_index_score(idx, k, 3, EPS, 4, 0, b, w);
    assert_int_equal(b[0], 0);
    struct sy_precise_index *idx2 = sy_precise_index_new(4, S("43"), 0);
    keys_of(idx2, MODEL, T, 12, k);
    sy_precise_index_score(idx, k, 3, EPS, 4, 0, b, w);
    assert_int_equal(b[0], 0);
    sy_precise_index_free(idx2);
    struct sy_precise_stats st;
    sy_precise_index_stats(idx, &st);
    assert_int_equal(st.keys, 3);
    assert_int_equal(st.engine_keys, 3);
    assert_int_equal(st.endpoints, 2);
    assert_int_equal(st.bytes_per_key, 72);
    sy_precise_index_free(idx);
}

static void test_parent_chain(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h0[] = {7}, h12[] = {8, 9};
    struct sy_kv_event ev = stored(h0, 1, T, 4, 4);
    assert_int_equal(sy_precise_index_apply(idx, EPS[0], MODEL, &ev), 0);
    ev = stored(h12, 2, T + 4, 8, 4);
    ev.has_parent = true;
    ev.parent = 7;
    assert_int_equal(sy_precise_index_apply(idx, EPS[0], MODEL, &ev), 0);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 16, b, w);
    assert_int_equal(b[0], 3); /* one chain over 12 tokens, the 4th block is not held */
    /* Unknown parent: skipped and counted. */
    ev.parent = 12345;
    assert_int_equal(sy_precise_index_apply(idx, EPS[1], MODEL, &ev), SY_ENOTFOUND);
    /* Token count that is not hashes x block_size: skipped. */
    ev = stored(h0, 1, T, 5, 4);
    assert_int_equal(sy_precise_index_apply(idx, EPS[1], MODEL, &ev), SY_EINVAL);
    struct sy_precise_stats st;
    sy_precise_index_stats(idx, &st);
    assert_int_equal(st.skipped, 2);
    score4(idx, T, 16, b, w);
    assert_int_equal(b[1], 0);
    sy_precise_index_free(idx);
}

/* Engine block 2 tokens, index block 4: two engine blocks per request key. */
static void test_engine_smaller(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h[] = {1, 2, 3, 4};
    struct sy_kv_event ev = stored(h, 4, T, 8, 2);
    assert_int_equal(sy_precise_index_apply(idx, EPS[0], MODEL, &ev), 0);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 2);
    /* Evicting engine block 4 (owns request key 1) leaves one block. */
    ev = removed(h + 3, 1);
    assert_int_equal(sy_precise_index_apply(idx, EPS[0], MODEL, &ev), 0);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 1);
    /* Evicting engine block 1 owns nothing (request key 0 ends in block 2). */
    ev = removed(h, 1);
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 1);
    ev = removed(h + 1, 1);
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 0);
    /* A child whose parent ends mid request block cannot be chained: skipped. */
    const uint64_t h5[] = {5};
    ev = stored(h, 1, T, 2, 2);
    sy_precise_index_apply(idx, EPS[1], MODEL, &ev);
    ev = stored(h5, 1, T + 2, 2, 2);
    ev.has_parent = true;
    ev.parent = 1;
    assert_int_equal(sy_precise_index_apply(idx, EPS[1], MODEL, &ev), SY_ENOTFOUND);
    sy_precise_index_free(idx);
}

/* Engine block 8 tokens, index block 4: one engine block owns two request keys. */
static void test_engine_larger(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h[] = {50, 51};
    struct sy_kv_event ev = stored(h, 2, T, 16, 8);
    assert_int_equal(sy_precise_index_apply(idx, EPS[2], MODEL, &ev), 0);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 16, b, w);
    assert_int_equal(b[2], 4);
    ev = removed(h + 1, 1); /* owns request keys 2 and 3 */
    sy_precise_index_apply(idx, EPS[2], MODEL, &ev);
    score4(idx, T, 16, b, w);
    assert_int_equal(b[2], 2);
    /* Child chained to engine block 50 continues at request key 2. */
    const uint64_t h2[] = {60};
    ev = stored(h2, 1, T + 8, 8, 8);
    ev.has_parent = true;
    ev.parent = 50;
    assert_int_equal(sy_precise_index_apply(idx, EPS[3], MODEL, &ev), 0);
    score4(idx, T, 16, b, w);
    assert_int_equal(b[3], 0); /* D holds keys 2,3 but not 0 */
    assert_int_equal(b[2], 2);
    sy_precise_index_free(idx);
}

static void test_tiers(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h[] = {1, 2};
    struct sy_kv_event ev = stored(h, 2, T, 8, 4);
    ev.medium = S("CPU");
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 2);
    assert_true(w[0] > 1.59 && w[0] < 1.61);
    /* GPU copy of block 0 too: max weight per block = 1.0 + 0.8 */
    ev = stored(h, 1, T, 4, 4);
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_true(w[0] > 1.79 && w[0] < 1.81);
    /* Offload update (no tokens): B's GPU blocks get a CPU copy; dropping GPU leaves 0.8. */
    ev = stored(h, 2, T, 8, 4);
    sy_precise_index_apply(idx, EPS[1], MODEL, &ev);
    struct sy_kv_event off = {
        .kind = SY_KV_BLOCK_STORED, .hashes = h, .nhashes = 2, .block_size = 4, .medium = S("cpu")};
    sy_precise_index_apply(idx, EPS[1], MODEL, &off);
    ev = removed(h, 2);
    ev.medium = S("GPU");
    sy_precise_index_apply(idx, EPS[1], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[1], 2);
    assert_true(w[1] > 1.59 && w[1] < 1.61);
    /* An unknown medium weighs 1.0. */
    ev = stored(h, 2, T, 8, 4);
    ev.medium = S("disk");
    sy_precise_index_apply(idx, EPS[2], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_true(w[2] == 2.0);
    /* A sliding-window group is not indexed. */
    ev = stored(h, 2, T, 8, 4);
    ev.has_group = true;
    ev.spec_kind = S("sliding_window");
    sy_precise_index_apply(idx, EPS[3], MODEL, &ev);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[3], 0);
    sy_precise_index_free(idx);
}

static void test_consecutive_run(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h[] = {1, 2, 3};
    struct sy_kv_event ev = stored(h, 3, T, 12, 4);
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    ev = removed(h + 1, 1); /* A loses the middle block */
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    uint32_t b[4];
    double w[4];
    score4(idx, T, 12, b, w);
    assert_int_equal(b[0], 1);
    sy_precise_index_free(idx);
}

static void test_clear_and_bounds(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 4);
    uint32_t b[4];
    double w[4];
    const uint64_t h[] = {1, 2};
    struct sy_kv_event ev = stored(h, 2, T, 8, 4);
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    sy_precise_index_apply(idx, EPS[1], MODEL, &ev);
    struct sy_kv_event clr = {.kind = SY_KV_ALL_BLOCKS_CLEARED};
    sy_precise_index_apply(idx, EPS[0], MODEL, &clr);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 2);
    sy_precise_index_clear_endpoint(idx, EPS[1]);
    score4(idx, T, 8, b, w);
    assert_int_equal(b[1], 0);
    struct sy_precise_stats st;
    sy_precise_index_stats(idx, &st);
    assert_int_equal(st.keys, 0); /* entries with no holder are freed */
    /* LRU bound of 4 request keys: 6 roots -> the 2 oldest are evicted. */
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t t[4] = {100 + i, 1, 1, 1};
        uint64_t eh = 1000 + i;
        ev = stored(&eh, 1, t, 4, 4);
        sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    }
    sy_precise_index_stats(idx, &st);
    assert_int_equal(st.keys, 4);
    assert_int_equal(st.evicted, 2);
    uint32_t t0[4] = {100, 1, 1, 1}, t5[4] = {105, 1, 1, 1};
    score4(idx, t0, 4, b, w);
    assert_int_equal(b[0], 0);
    score4(idx, t5, 4, b, w);
    assert_int_equal(b[0], 1);
    sy_precise_index_free(idx);

    /* Holder bound: 9 endpoints store the same block; the first is dropped. */
    idx = sy_precise_index_new(4, S(""), 0);
    char names[9][8];
    struct sy_str eps[9];
    for (int i = 0; i < 9; i++) {
        snprintf(names[i], sizeof names[i], "e%d:1", i);
        eps[i] = sy_str_c(names[i]);
        ev = stored(h, 1, T, 4, 4);
        sy_precise_index_apply(idx, eps[i], MODEL, &ev);
    }
    uint64_t k[1];
    keys_of(idx, MODEL, T, 4, k);
    uint32_t b9[9];
    sy_precise_index_score(idx, k, 1, eps, 9, 0, b9, NULL);
    assert_int_equal(b9[0], 0);
    for (int i = 1; i < 9; i++)
        assert_int_equal(b9[i], 1);
    sy_precise_index_free(idx);
}

static void test_speculative(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    uint64_t k[3];
    keys_of(idx, MODEL, T, 12, k);
    sy_precise_index_speculate(idx, k, 3, EPS[2], 100, 2);
    uint32_t b[4];
    sy_precise_index_score(idx, k, 3, EPS, 4, 101, b, NULL);
    assert_int_equal(b[2], 3);
    sy_precise_index_score(idx, k, 3, EPS, 4, 102, b, NULL);
    assert_int_equal(b[2], 0); /* expired */
    /* Confirmed by a real store: no longer expires. */
    sy_precise_index_speculate(idx, k, 3, EPS[2], 300, 2);
    const uint64_t h[] = {1, 2, 3};
    struct sy_kv_event ev = stored(h, 3, T, 12, 4);
    sy_precise_index_apply(idx, EPS[2], MODEL, &ev);
    sy_precise_index_score(idx, k, 3, EPS, 4, 310, b, NULL);
    assert_int_equal(b[2], 3);
    sy_precise_index_free(idx);
}

static void test_lora_model(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 0);
    const uint64_t h[] = {1};
    struct sy_kv_event ev = stored(h, 1, T, 4, 4);
    ev.lora_name = S("sql-lora");
    sy_precise_index_apply(idx, EPS[0], MODEL, &ev);
    uint64_t k[1];
    uint32_t b[4];
    keys_of(idx, S("sql-lora"), T, 4, k);
    sy_precise_index_score(idx, k, 1, EPS, 4, 0, b, NULL);
    assert_int_equal(b[0], 1);
    keys_of(idx, MODEL, T, 4, k);
    sy_precise_index_score(idx, k, 1, EPS, 4, 0, b, NULL);
    assert_int_equal(b[0], 0);
    sy_precise_index_free(idx);
}

struct thr {
    struct sy_precise_index *idx;
    int writer;
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    uint32_t toks[64];
    for (int i = 0; i < 64; i++)
        toks[i] = (uint32_t)i;
    for (int it = 0; it < 2000; it++) {
        if (t->writer) {
            uint64_t h[16];
            for (int i = 0; i < 16; i++)
                h[i] = (uint64_t)(it % 50) * 100 + (uint64_t)i + 1;
            toks[0] = (uint32_t)(it % 50);
            struct sy_kv_event ev = stored(h, 16, toks, 64, 4);
            sy_precise_index_apply(t->idx, EPS[it % 4], MODEL, &ev);
            if (it % 7 == 0) {
                ev = removed(h + 8, 8);
                sy_precise_index_apply(t->idx, EPS[it % 4], MODEL, &ev);
            }
            if (it % 500 == 0)
                sy_precise_index_clear_endpoint(t->idx, EPS[1]);
        } else {
            uint64_t k[16];
            toks[0] = (uint32_t)(it % 50);
            keys_of(t->idx, MODEL, toks, 64, k);
            uint32_t b[4];
            double w[4];
            sy_precise_index_score(t->idx, k, 16, EPS, 4, 0, b, w);
            for (int i = 0; i < 4; i++)
                if (b[i] > 16)
                    abort();
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct sy_precise_index *idx = sy_precise_index_new(4, S(""), 300);
    pthread_t th[4];
    struct thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr){idx, i == 0};
        pthread_create(&th[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    struct sy_precise_stats st;
    sy_precise_index_stats(idx, &st);
    assert_true(st.keys <= 300);
    sy_precise_index_free(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_and_score),
        cmocka_unit_test(test_parent_chain),
        cmocka_unit_test(test_engine_smaller),
        cmocka_unit_test(test_engine_larger),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_consecutive_run),
        cmocka_unit_test(test_clear_and_bounds),
        cmocka_unit_test(test_speculative),
        cmocka_unit_test(test_lora_model),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
