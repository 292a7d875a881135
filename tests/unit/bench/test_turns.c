/* Unit tests for src/bench/turns.c: the run order of the items and sessions that wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

#define MAXN 64

/* A workload of n items whose group is groups[i] (bodies are not needed here). */
static struct sy_workload wl(enum sy_wl_kind kind, struct sy_wl_item *items, size_t n,
                             unsigned (*group)(size_t))
{
    memset(items, 0, n * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i].group = group(i);
    struct sy_workload w = {.kind = kind, .items = items, .n = n};
    return w;
}

static unsigned interleaved3(size_t i) /* agentic: iteration k of every agent, then k + 1 */
{
    return (unsigned)(i % 3);
}

static unsigned blocks5(size_t i) /* a session's turns next to each other */
{
    return (unsigned)(i / 5);
}

static unsigned one(size_t i)
{
    (void)i;
    return 0;
}

static void test_no_wait_keeps_index_order(void **state)
{
    (void)state;
    struct sy_wl_item items[MAXN];
    struct sy_workload w = wl(SY_WL_AGENTIC, items, 12, interleaved3);
    struct sy_turns t;
    sy_turns_init(&t, &w, 30, false);
    assert_false(t.wait);
    size_t p;
    for (size_t k = 0; k < 30; k++) { /* nothing ends: the old order sends them all anyway */
        assert_true(sy_turns_next(&t, &p));
        assert_int_equal(p, k);
    }
    assert_false(sy_turns_next(&t, &p));
    assert_int_equal(sy_turns_left(&t), 0);
    sy_turns_fini(&t);
    /* workloads without sessions ignore the flag */
    struct sy_workload r = wl(SY_WL_RANDOM, items, 12, one);
    sy_turns_init(&t, &r, 12, true);
    assert_false(t.wait);
    for (size_t k = 0; k < 12; k++) {
        assert_true(sy_turns_next(&t, &p));
        assert_int_equal(p, k);
    }
    sy_turns_fini(&t);
    struct sy_workload sp = wl(SY_WL_SHARED_PREFIX, items, 12, one);
    sy_turns_init(&t, &sp, 12, true);
    assert_false(t.wait);
    sy_turns_fini(&t);
}

static void test_wait_holds_busy_sessions(void **state)
{
    (void)state;
    struct sy_wl_item items[MAXN];
    struct sy_workload w = wl(SY_WL_AGENTIC, items, 12, interleaved3); /* 3 agents x 4 */
    struct sy_turns t;
    sy_turns_init(&t, &w, 12, true);
    assert_true(t.wait);
    size_t p;
    for (size_t k = 0; k < 3; k++) {
        assert_true(sy_turns_next(&t, &p));
        assert_int_equal(p, k);
    }
    assert_false(sy_turns_next(&t, &p)); /* every agent has its turn 0 in flight */
    assert_int_equal(t.nheld, 9);
    assert_int_equal(t.passed, 9);
    assert_int_equal(sy_turns_left(&t), 9);
    sy_turns_done(&t, 1); /* agent 1's turn 0 ends: its turn 1 (position 4) goes */
    assert_true(sy_turns_next(&t, &p));
    assert_int_equal(p, 4);
    assert_false(sy_turns_next(&t, &p));
    sy_turns_done(&t, 0); /* then agent 0's turn 1 (3), before agent 1's turn 2 (7) */
    sy_turns_done(&t, 4);
    assert_true(sy_turns_next(&t, &p));
    assert_int_equal(p, 3);
    assert_true(sy_turns_next(&t, &p));
    assert_int_equal(p, 7);
    assert_false(sy_turns_next(&t, &p));
    sy_turns_fini(&t);
}

/* Random completion order at a given concurrency: every position leaves exactly once, a session
 * never has two in flight, its turns leave in run order, and nothing is stuck while requests
 * could leave. */
static void check_random(enum sy_wl_kind kind, size_t n, unsigned (*group)(size_t), size_t limit,
                         size_t conc, uint64_t seed)
{
    struct sy_wl_item items[MAXN];
    struct sy_workload w = wl(kind, items, n, group);
    struct sy_turns t;
    sy_turns_init(&t, &w, limit, true);
    assert_true(t.wait);
    struct sy_rng rng;
    sy_rng_seed(&rng, seed);
    size_t *fl = calloc(conc, sizeof *fl), nfl = 0;
    unsigned char *sent = calloc(limit, 1);
    long last[MAXN]; /* per group: the last position sent */
    for (size_t g = 0; g < MAXN; g++)
        last[g] = -1;
    size_t nsent = 0;
    for (unsigned guard = 0; nsent < limit && guard < 100000; guard++) {
        size_t p;
        while (nfl < conc && sy_turns_next(&t, &p)) {
            assert_true(p < limit);
            assert_false(sent[p]);
            sent[p] = 1;
            unsigned g = items[p % n].group;
            for (size_t i = 0; i < nfl; i++)
                assert_true(items[fl[i] % n].group != g); /* one in flight per session */
            assert_true((long)p > last[g]);               /* its turns in order */
            last[g] = (long)p;
            fl[nfl++] = p;
            nsent++;
        }
        assert_true(t.nheld <= n);
        if (nfl == 0) {
            assert_int_equal(nsent, limit); /* nothing in flight: nothing may be stuck */
            break;
        }
        size_t i = (size_t)sy_rng_below(&rng, nfl);
        sy_turns_done(&t, fl[i]);
        fl[i] = fl[--nfl];
    }
    assert_int_equal(nsent, limit);
    assert_int_equal(sy_turns_left(&t), 0);
    free(fl);
    free(sent);
    sy_turns_fini(&t);
}

static void test_wait_random_orders(void **state)
{
    (void)state;
    for (uint64_t s = 1; s <= 50; s++) {
        check_random(SY_WL_AGENTIC, 12, interleaved3, 12, 8, s);
        check_random(SY_WL_AGENTIC, 12, interleaved3, 40, 2, s); /* wraps around */
        check_random(SY_WL_MULTI_TURN, 20, blocks5, 60, 3, s);   /* 4 users x 5 rounds */
        check_random(SY_WL_MULTI_TURN, 20, blocks5, 20, 1, s);   /* one at a time */
        check_random(SY_WL_MULTI_TURN, 10, one, 35, 4, s);       /* one session */
    }
}

static void test_wait_held_is_bounded(void **state)
{
    (void)state;
    struct sy_wl_item items[MAXN];
    struct sy_workload w = wl(SY_WL_MULTI_TURN, items, 4, one); /* one user, 4 rounds */
    struct sy_turns t;
    sy_turns_init(&t, &w, 1000, true);
    size_t p;
    for (size_t k = 0; k < 1000; k++) {
        assert_true(sy_turns_next(&t, &p));
        assert_int_equal(p, k); /* one session: strictly one after the other, in order */
        assert_false(sy_turns_next(&t, &p));
        assert_true(t.nheld <= 4); /* one lap at most, however many are left */
        sy_turns_done(&t, p);
    }
    assert_false(sy_turns_next(&t, &p));
    sy_turns_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_wait_keeps_index_order),
        cmocka_unit_test(test_wait_holds_busy_sessions),
        cmocka_unit_test(test_wait_random_orders),
        cmocka_unit_test(test_wait_held_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
