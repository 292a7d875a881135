/* Unit tests for src/prefix/approx_index.c: matchLongestPrefix, per-endpoint LRU eviction and
 * capacity, purge, a randomized comparison against a naive reference model (with hashes chosen to
 * collide in the table), a pthread smoke test, memory per entry, and the metrics collector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "prefix/approx_index.h"

/* Endpoints are opaque pointers to the index; any distinct addresses do. */
static char EP[8][1];
#define A ((const void *)EP[0])
#define B ((const void *)EP[1])
#define C ((const void *)EP[2])
#define D ((const void *)EP[3])

static void test_match_longest_prefix(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    const uint64_t ha[] = {11, 12, 13};
    const uint64_t hb[] = {11, 12};
    const uint64_t hc[] = {15};
    assert_int_equal(sy_approx_index_add(idx, ha, 3, A, 0), 0);
    assert_int_equal(sy_approx_index_add(idx, hb, 2, B, 0), 0);
    assert_int_equal(sy_approx_index_add(idx, hc, 1, C, 0), 0);

    const void *eps[] = {A, B, C, D};
    uint32_t cnt[4];
    const uint64_t q1[] = {11, 12, 13, 14};
    assert_int_equal(sy_approx_index_match(idx, q1, 4, eps, 4, cnt), 3);
    assert_int_equal(cnt[0], 3);
    assert_int_equal(cnt[1], 2);
    assert_int_equal(cnt[2], 0);
    assert_int_equal(cnt[3], 0); /* never indexed */

    /* Stops at the first hash nobody holds, even if later ones are held (15 by C). */
    const uint64_t q2[] = {11, 99, 15};
    assert_int_equal(sy_approx_index_match(idx, q2, 3, eps, 4, cnt), 1);
    assert_int_equal(cnt[0], 1);
    assert_int_equal(cnt[1], 1);
    assert_int_equal(cnt[2], 0);

    /* llm-d's greedy quirk: an endpoint missing an earlier block still counts later ones. */
    const uint64_t q3[] = {11, 15, 12};
    assert_int_equal(sy_approx_index_match(idx, q3, 3, eps, 4, cnt), 3);
    assert_int_equal(cnt[0], 2);
    assert_int_equal(cnt[1], 2);
    assert_int_equal(cnt[2], 1);

    /* Only some candidates asked for; a NULL candidate is tolerated. */
    const void *two[] = {B, NULL};
    assert_int_equal(sy_approx_index_match(idx, q1, 4, two, 2, cnt), 3);
    assert_int_equal(cnt[0], 2);
    assert_int_equal(cnt[1], 0);

    /* Empty query. */
    assert_int_equal(sy_approx_index_match(idx, q1, 0, eps, 4, cnt), 0);
    assert_int_equal(cnt[0], 0);

    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 6);
    assert_int_equal(st.hashes, 4);
    assert_int_equal(st.endpoints, 3);
    assert_int_equal(st.lookups, 5);
    assert_int_equal(sy_approx_index_add(idx, ha, 1, NULL, 0), SY_EINVAL);
    sy_approx_index_free(idx);
}

static void test_lru_eviction_and_refresh(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    const void *eps[] = {A, B};
    uint32_t cnt[2];
    const uint64_t h123[] = {1, 2, 3}, h4[] = {4}, h1[] = {1};
    sy_approx_index_add(idx, h123, 3, A, 3);
    sy_approx_index_add(idx, h4, 1, A, 3); /* evicts 1, the least recently used */
    assert_int_equal(sy_approx_index_count(idx, A), 3);
    assert_int_equal(sy_approx_index_match(idx, h1, 1, eps, 2, cnt), 0);
    const uint64_t q234[] = {2, 3, 4};
    assert_int_equal(sy_approx_index_match(idx, q234, 3, eps, 2, cnt), 3);
    assert_int_equal(cnt[0], 3);

    /* Refresh: re-adding 2 makes 3 the oldest, so adding 5 evicts 3. */
    const uint64_t h2[] = {2}, h5[] = {5}, h3[] = {3};
    sy_approx_index_add(idx, h2, 1, A, 3);
    sy_approx_index_add(idx, h5, 1, A, 3);
    assert_int_equal(sy_approx_index_match(idx, h3, 1, eps, 2, cnt), 0);
    assert_int_equal(sy_approx_index_match(idx, h2, 1, eps, 2, cnt), 1);

    /* Eviction removes only that endpoint from the hash's set. */
    sy_approx_index_add(idx, h2, 1, B, 10);
    const uint64_t h67[] = {6, 7};
    sy_approx_index_add(idx, h67, 2, A, 3); /* A now holds 5, 6, 7: 2 evicted from A */
    assert_int_equal(sy_approx_index_match(idx, h2, 1, eps, 2, cnt), 1);
    assert_int_equal(cnt[0], 0);
    assert_int_equal(cnt[1], 1);

    /* One request longer than the capacity keeps its most recent blocks. */
    const uint64_t many[] = {20, 21, 22, 23, 24};
    sy_approx_index_add(idx, many, 5, C, 2);
    assert_int_equal(sy_approx_index_count(idx, C), 2);
    const uint64_t h24[] = {24}, h20[] = {20};
    const void *c1[] = {C};
    assert_int_equal(sy_approx_index_match(idx, h24, 1, c1, 1, cnt), 1);
    assert_int_equal(sy_approx_index_match(idx, h20, 1, c1, 1, cnt), 0);

    /* Capacity learned later (autoTune) shrinks at once, keeping the most recent. */
    sy_approx_index_add(idx, NULL, 0, B, 10);
    const uint64_t hb[] = {30, 31, 32, 33};
    sy_approx_index_add(idx, hb, 4, B, 10);
    assert_int_equal(sy_approx_index_count(idx, B), 5);
    sy_approx_index_add(idx, NULL, 0, B, 2);
    assert_int_equal(sy_approx_index_count(idx, B), 2);
    const uint64_t h33[] = {32, 33};
    const void *b1[] = {B};
    assert_int_equal(sy_approx_index_match(idx, h33, 2, b1, 1, cnt), 2);
    assert_int_equal(cnt[0], 2);

    /* Default capacity applies to capacity 0. */
    struct sy_approx_index *small = sy_approx_index_new(2);
    sy_approx_index_add(small, h123, 3, A, 0);
    assert_int_equal(sy_approx_index_count(small, A), 2);
    sy_approx_index_free(small);
    sy_approx_index_free(idx);
}

static void test_remove_and_retain(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    const uint64_t h[] = {1, 2, 3};
    sy_approx_index_add(idx, h, 3, A, 0);
    sy_approx_index_add(idx, h, 2, B, 0);
    sy_approx_index_add(idx, h, 1, C, 0);
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 6);

    sy_approx_index_remove(idx, B);
    sy_approx_index_remove(idx, D); /* unknown: no-op */
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.endpoints, 2);
    const void *eps[] = {A, B, C};
    uint32_t cnt[3];
    assert_int_equal(sy_approx_index_match(idx, h, 3, eps, 3, cnt), 3);
    assert_int_equal(cnt[0], 3);
    assert_int_equal(cnt[1], 0);
    assert_int_equal(cnt[2], 1);

    /* Retain only C: A is purged, hashes only A held disappear. */
    const void *keep[] = {C, D};
    assert_int_equal(sy_approx_index_retain(idx, keep, 2), 1);
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hashes, 1);
    assert_int_equal(sy_approx_index_match(idx, h, 3, eps, 3, cnt), 1);
    assert_int_equal(cnt[2], 1);
    assert_int_equal(sy_approx_index_retain(idx, keep, 2), 0);

    /* Ids are reused: B comes back and works. */
    sy_approx_index_add(idx, h, 3, B, 0);
    assert_int_equal(sy_approx_index_match(idx, h, 3, eps, 3, cnt), 3);
    assert_int_equal(cnt[1], 3);
    assert_int_equal(sy_approx_index_retain(idx, NULL, 0), 2);
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.endpoints, 0);
    sy_approx_index_free(idx);
}

static void test_endpoint_id_limit(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(4);
    static char many[SY_APPROX_MAX_ENDPOINTS + 1];
    const uint64_t h[] = {42};
    for (size_t i = 0; i < SY_APPROX_MAX_ENDPOINTS; i++)
        assert_int_equal(sy_approx_index_add(idx, h, 1, &many[i], 0), 0);
    assert_int_equal(sy_approx_index_add(idx, h, 1, &many[SY_APPROX_MAX_ENDPOINTS], 0), SY_EBUSY);
    const void *q[] = {&many[0], &many[SY_APPROX_MAX_ENDPOINTS - 1]};
    uint32_t cnt[2];
    assert_int_equal(sy_approx_index_match(idx, h, 1, q, 2, cnt), 1);
    assert_int_equal(cnt[0], 1);
    assert_int_equal(cnt[1], 1);
    sy_approx_index_remove(idx, &many[7]);
    assert_int_equal(sy_approx_index_add(idx, h, 1, &many[SY_APPROX_MAX_ENDPOINTS], 0), 0);
    sy_approx_index_free(idx);
}

/* ---- randomized comparison with a naive model ---- */

#define NEP 5
#define CAP 40
struct model {
    uint64_t lru[NEP][CAP]; /* [0] = most recent */
    size_t n[NEP];
};

static void model_add(struct model *m, int e, uint64_t h, size_t cap)
{
    size_t i;
    for (i = 0; i < m->n[e] && m->lru[e][i] != h; i++)
        ;
    if (i == m->n[e]) {
        if (m->n[e] < cap)
            m->n[e]++;
        i = m->n[e] - 1; /* drop the last (LRU) slot */
    }
    memmove(&m->lru[e][1], &m->lru[e][0], i * sizeof(uint64_t));
    m->lru[e][0] = h;
}

static bool model_has(const struct model *m, int e, uint64_t h)
{
    for (size_t i = 0; i < m->n[e]; i++)
        if (m->lru[e][i] == h)
            return true;
    return false;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_random_against_model(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    struct model *m = calloc(1, sizeof *m);
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    const void *eps[NEP];
    for (int e = 0; e < NEP; e++)
        eps[e] = EP[e];
    for (int step = 0; step < 20000; step++) {
        /* Hashes k * 1024 + small share home slots in a 1024-slot table: long probe runs and
         * many backward shifts on deletion. */
        uint64_t hs[6];
        size_t n = 1 + rnd(&s) % 6;
        for (size_t i = 0; i < n; i++)
            hs[i] = (rnd(&s) % 160) * 1024 + rnd(&s) % 3;
        int e = (int)(rnd(&s) % NEP);
        if (rnd(&s) % 500 == 0) {
            sy_approx_index_remove(idx, eps[e]);
            m->n[e] = 0;
            continue;
        }
        size_t cap = 10 + (size_t)e * 7; /* <= CAP */
        assert_int_equal(sy_approx_index_add(idx, hs, n, eps[e], (uint32_t)cap), 0);
        for (size_t i = 0; i < n; i++)
            model_add(m, e, hs[i], cap);
        /* Query a random chain and compare with the model's matchLongestPrefix. */
        uint64_t q[6];
        size_t nq = 1 + rnd(&s) % 6;
        for (size_t i = 0; i < nq; i++)
            q[i] = (rnd(&s) % 160) * 1024 + rnd(&s) % 3;
        uint32_t got[NEP], want[NEP] = {0};
        size_t walked = sy_approx_index_match(idx, q, nq, eps, NEP, got), wwalk = 0;
        for (; wwalk < nq; wwalk++) {
            bool any = false;
            for (int k = 0; k < NEP; k++)
                if (model_has(m, k, q[wwalk])) {
                    want[k]++;
                    any = true;
                }
            if (!any)
                break;
        }
        assert_int_equal(walked, wwalk);
        for (int k = 0; k < NEP; k++)
            assert_int_equal(got[k], want[k]);
    }
    size_t total = 0;
    for (int e = 0; e < NEP; e++) {
        assert_int_equal(sy_approx_index_count(idx, eps[e]), m->n[e]);
        total += m->n[e];
    }
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, total);
    free(m);
    sy_approx_index_free(idx);
}

/* ---- memory per entry ---- */

static void test_memory_per_entry(void **state)
{
    /* 8 endpoints x 31250 (the default capacity), every hash distinct: the worst case. */
    struct sy_approx_index *idx = sy_approx_index_new(0);
    struct sy_approx_index_stats empty;
    sy_approx_index_stats(idx, &empty);
    uint64_t s = 12345, hs[256];
    for (int round = 0; round < 1100; round++) {
        for (int i = 0; i < 256; i++)
            hs[i] = rnd(&s);
        sy_approx_index_add(idx, hs, 256, EP[round % 8], 0);
    }
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.entries, 8 * 31250); /* bounded by the capacities */
    double per = (double)(st.bytes - empty.bytes) / (double)st.entries;
    double per_all = (double)st.bytes / (double)st.entries;
    printf("approx index: %zu entries, %zu bytes, %.1f bytes/entry (%.1f incl. fixed)\n",
           st.entries, st.bytes, per, per_all);
    assert_true(per <= 96.0); /* 24 B pair + table share + pool doubling slack */
    assert_true(per >= 24.0);

    /* Shared prefixes are cheaper: 8 endpoints holding the same hashes share table slots. */
    struct sy_approx_index *shared = sy_approx_index_new(0);
    for (int e = 0; e < 8; e++)
        for (int round = 0; round < 100; round++) {
            for (int i = 0; i < 256; i++)
                hs[i] = (uint64_t)round * 1000003u + (uint64_t)i * 7919u + 1;
            sy_approx_index_add(shared, hs, 256, EP[e], 0);
        }
    struct sy_approx_index_stats st2;
    sy_approx_index_stats(shared, &st2);
    assert_int_equal(st2.entries, 8 * 25600);
    assert_int_equal(st2.hashes, 25600);
    double per2 = (double)(st2.bytes - empty.bytes) / (double)st2.entries;
    printf("approx index, shared prefixes: %.1f bytes/entry\n", per2);
    assert_true(per2 < per);
    sy_approx_index_free(shared);
    sy_approx_index_free(idx);
}

/* ---- concurrency ---- */

struct thr {
    struct sy_approx_index *idx;
    int id;
    int writer;
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    uint64_t s = 0xABCDEF + (uint64_t)t->id;
    const void *eps[8];
    for (int e = 0; e < 8; e++)
        eps[e] = EP[e];
    uint32_t cnt[8];
    for (int it = 0; it < 3000; it++) {
        uint64_t hs[32];
        uint64_t base = rnd(&s) % 64; /* shared prefixes across threads */
        for (int i = 0; i < 32; i++)
            hs[i] = base * 100 + (uint64_t)i;
        if (t->writer) {
            sy_approx_index_add(t->idx, hs, 32, eps[rnd(&s) % 8], 500);
            if (it % 700 == 0)
                sy_approx_index_remove(t->idx, eps[rnd(&s) % 8]);
        } else {
            size_t w = sy_approx_index_match(t->idx, hs, 32, eps, 8, cnt);
            for (int e = 0; e < 8; e++)
                if (cnt[e] > w)
                    return (void *)1; /* a count can never exceed the walk */
        }
    }
    return NULL;
}

static void test_threads_smoke(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    pthread_t th[4];
    struct thr args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thr){idx, i, i < 2};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    size_t sum = 0;
    for (int e = 0; e < 8; e++) {
        size_t c = sy_approx_index_count(idx, EP[e]);
        assert_true(c <= 500);
        sum += c;
    }
    assert_int_equal(sum, st.entries);
    sy_approx_index_free(idx);
}

/* ---- statistics and metrics ---- */

static void test_record_and_metrics(void **state)
{
    struct sy_approx_index *idx = sy_approx_index_new(0);
    const uint64_t h[] = {1, 2, 3, 4};
    sy_approx_index_add(idx, h, 4, A, 0);
    sy_approx_index_record(idx, 3, 4); /* 0.75 -> le 0.8 */
    sy_approx_index_record(idx, 0, 4); /* 0.0  -> le 0.0 */
    sy_approx_index_record(idx, 4, 4); /* 1.0  -> le 1.0 */
    sy_approx_index_record(idx, 1, 0); /* no blocks: not recorded */
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.hit_blocks, 7);
    assert_int_equal(st.total_blocks, 12);

    struct sy_buf b;
    sy_buf_init(&b);
    sy_approx_index_metrics_collect(NULL, &b);
    sy_buf_append(&b, "", 1);
    const char *t = b.data;
    assert_non_null(strstr(t, "# TYPE inference_extension_prefix_indexer_size gauge\n"));
    assert_non_null(strstr(t, "\ninference_extension_prefix_indexer_size 4\n"));
    assert_non_null(strstr(t, "# TYPE inference_extension_prefix_indexer_hit_ratio histogram\n"));
    assert_non_null(
        strstr(t, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"0.0\"} 1\n"));
    assert_non_null(
        strstr(t, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"0.7\"} 1\n"));
    assert_non_null(
        strstr(t, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"0.8\"} 2\n"));
    assert_non_null(
        strstr(t, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"1.0\"} 3\n"));
    assert_non_null(
        strstr(t, "inference_extension_prefix_indexer_hit_ratio_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "inference_extension_prefix_indexer_hit_ratio_sum 1.750000\n"));
    assert_non_null(strstr(t, "inference_extension_prefix_indexer_hit_ratio_count 3\n"));
    sy_buf_fini(&b);

    /* Freeing the index takes its entries out of the process-wide size. */
    sy_approx_index_free(idx);
    sy_buf_init(&b);
    sy_approx_index_metrics_collect(NULL, &b);
    sy_buf_append(&b, "", 1);
    assert_non_null(strstr(b.data, "\ninference_extension_prefix_indexer_size 0\n"));
    sy_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_metrics), /* first: the metrics are process-wide */
        cmocka_unit_test(test_match_longest_prefix),
        cmocka_unit_test(test_lru_eviction_and_refresh),
        cmocka_unit_test(test_remove_and_retain),
        cmocka_unit_test(test_endpoint_id_limit),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_memory_per_entry),
        cmocka_unit_test(test_threads_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
