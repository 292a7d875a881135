/* Unit tests for src/sched/burst_prefix_producer.c, with llm-d-router's assign_test.go cases:
 * requests join a window (sy_burst_join), the window seals (sy_burst_seal), and produce puts the
 * full match on the assigned replica. Prompts are built so that, at blockSizeTokens 1 over the
 * estimate backend (4 bytes per token), each 4-letter run is one block: "aaaabbbbcccc" is llm-d's
 * chain {1, 2, 3}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sched/burst_prefix.h"
#include "unit/sched/sched_helpers.h"

#define TYPE "burst-prefix-cache-producer"
#define MAXR 64

struct win {
    struct fx_plugin fp;
    struct sy_pool *pool;
    size_t n;
    struct sy_request req[MAXR];
    char body[MAXR][128];
    struct sy_burst_entry *e[MAXR];
};

static void win_new(struct win *w, int replicas, const char *params)
{
    memset(w, 0, sizeof *w);
    char err[256];
    assert_int_equal(fx_plugin_new(&w->fp, TYPE, params, err, sizeof err), 0);
    struct sy_endpoint *eps[8];
    for (int i = 0; i < replicas; i++) {
        char name[16];
        snprintf(name, sizeof name, "pod%d:1", i + 1);
        eps[i] = fx_ep(name, NULL, 0, 0, 0);
    }
    w->pool = fx_pool(eps, (size_t)replicas);
}

/* Adds `count` requests whose chain is the blocks named by `blocks` (one letter per block). */
static void add(struct win *w, size_t count, const char *blocks)
{
    for (size_t k = 0; k < count; k++) {
        size_t i = w->n++;
        char prompt[64] = "";
        for (const char *b = blocks; *b; b++)
            for (int r = 0; r < 4; r++)
                strncat(prompt, b, 1);
        snprintf(w->body[i], sizeof w->body[i], "{\"model\":\"m\",\"prompt\":\"%s\"}", prompt);
        char err[128];
        assert_int_equal(sy_request_parse(SY_API_COMPLETIONS, w->body[i], strlen(w->body[i]),
                                          &w->req[i], err, sizeof err),
                         0);
        uint64_t deadline = 0;
        w->e[i] = sy_burst_join(w->fp.state, &w->req[i], w->pool, 1000, &deadline);
        assert_non_null(w->e[i]);
        assert_int_equal(deadline, 1000 + 100 * 1000000ull); /* windowDurationMs 100 */
    }
}

/* Seals and returns, per request, the 1-based replica it was assigned (0 = no affinity). */
static void seal(struct win *w, int *out)
{
    sy_burst_seal(w->fp.state, w->e[0]);
    for (size_t i = 0; i < w->n; i++) {
        struct sy_sched_candidate c[8];
        struct sy_prefix_match pm[8];
        struct sy_sched_cycle cy;
        fx_cands(w->pool, c);
        fx_cycle(&cy, &w->req[i], w->pool, 1);
        memset(pm, 0, sizeof pm);
        cy.prefix = pm;
        w->fp.ops->produce(w->fp.state, &cy, c, w->pool->n);
        assert_true(cy.prefix_valid);
        out[i] = 0;
        for (size_t r = 0; r < w->pool->n; r++) {
            size_t plen = strlen(w->body[i]) - strlen("{\"model\":\"m\",\"prompt\":\"\"}");
            assert_int_equal(pm[r].total_blocks, plen / 4); /* one block per 4 bytes */
            if (pm[r].match_blocks) {
                assert_int_equal(out[i], 0); /* one replica at most */
                assert_int_equal(pm[r].match_blocks, pm[r].total_blocks);
                out[i] = (int)r + 1;
            }
        }
    }
}

static void win_free(struct win *w)
{
    for (size_t i = 0; i < w->n; i++)
        sy_burst_leave(w->fp.state, w->e[i]);
    fx_plugin_free(&w->fp);
    sy_pool_unref(w->pool);
}

static void count(const int *a, size_t n, int *per, int nrep)
{
    memset(per, 0, (size_t)(nrep + 1) * sizeof *per);
    for (size_t i = 0; i < n; i++)
        per[a[i]]++;
}

static void test_group_placement(void **state)
{
    struct win *w = malloc(sizeof *w);
    int a[MAXR], per[5];
    /* TestAssign_UnlimitedColocatesWholeGroup: 8 samples, k=-1 -> all on pod1 */
    win_new(w, 4, "blockSizeTokens: 1\n");
    add(w, 8, "abc");
    seal(w, a);
    for (int i = 0; i < 8; i++)
        assert_int_equal(a[i], 1);
    win_free(w);
    /* TestAssign_CapSpreadsEvenly: k=2 -> 2 per replica */
    win_new(w, 4, "blockSizeTokens: 1\nmaxPerReplica: 2\n");
    add(w, 8, "abc");
    seal(w, a);
    count(a, 8, per, 4);
    assert_int_equal(per[1], 2);
    assert_int_equal(per[2], 2);
    assert_int_equal(per[3], 2);
    assert_int_equal(per[4], 2);
    win_free(w);
    /* TestAssign_CapFillsBeforeSpilling: k=4 -> pod1 4, pod2 4 */
    win_new(w, 4, "blockSizeTokens: 1\nmaxPerReplica: 4\n");
    add(w, 8, "abc");
    seal(w, a);
    count(a, 8, per, 4);
    assert_int_equal(per[1], 4);
    assert_int_equal(per[2], 4);
    assert_int_equal(per[0], 0);
    win_free(w);
    /* TestAssign_SingletonGetsNoAffinity */
    win_new(w, 4, "blockSizeTokens: 1\n");
    add(w, 1, "abc");
    seal(w, a);
    assert_int_equal(a[0], 0);
    win_free(w);
    /* TestAssign_DistinctGroupsSpreadAcrossReplicas: group A on pod1, group B on pod2 */
    win_new(w, 4, "blockSizeTokens: 1\n");
    add(w, 3, "abc");
    add(w, 3, "xyz");
    seal(w, a);
    for (int i = 0; i < 6; i++)
        assert_int_equal(a[i], i < 3 ? 1 : 2);
    win_free(w);
    free(w);
}

static void test_prefix_sharing(void **state)
{
    struct win *w = malloc(sizeof *w);
    int a[MAXR], per[5];
    /* TestAssign_SharedPrefixFamiliesColocateWithinFairShare (minColocateBlocks 2) */
    win_new(w, 2, "blockSizeTokens: 1\nminColocateBlocks: 2\n");
    add(w, 2, "abc"); /* x1 */
    add(w, 2, "abd"); /* x2 */
    add(w, 2, "ghe"); /* y1 */
    add(w, 2, "ghf"); /* y2 */
    seal(w, a);
    assert_int_equal(a[0], a[2]);
    assert_int_equal(a[4], a[6]);
    assert_int_not_equal(a[0], a[4]);
    count(a, 8, per, 2);
    assert_int_equal(per[1], 4);
    assert_int_equal(per[2], 4);
    win_free(w);
    /* TestAssign_FairShareSpreadsPrefixSharingGroups: 4 groups sharing {1,2}, 4 replicas */
    win_new(w, 4, "blockSizeTokens: 1\nminColocateBlocks: 2\n");
    add(w, 2, "abc");
    add(w, 2, "abd");
    add(w, 2, "abe");
    add(w, 2, "abf");
    seal(w, a);
    count(a, 8, per, 4);
    for (int r = 1; r <= 4; r++)
        assert_int_equal(per[r], 2);
    win_free(w);
    /* TestAssign_SingletonAttachesToOverlappingGroup */
    win_new(w, 2, "blockSizeTokens: 1\nminColocateBlocks: 2\n");
    add(w, 2, "abc"); /* gx */
    add(w, 1, "abh"); /* sx */
    add(w, 2, "ghe"); /* gy */
    add(w, 1, "ghi"); /* sy */
    seal(w, a);
    assert_int_equal(a[0], a[1]);
    assert_int_equal(a[0], a[2]);
    assert_int_equal(a[3], a[5]);
    count(a, 6, per, 2);
    assert_int_equal(per[1], 3);
    assert_int_equal(per[2], 3);
    win_free(w);
    /* TestAssign_LoneSingletonGetsNoAffinity */
    win_new(w, 2, "blockSizeTokens: 1\nminColocateBlocks: 2\n");
    add(w, 2, "abc");
    add(w, 1, "xyz");
    seal(w, a);
    assert_int_equal(a[0], a[1]);
    assert_int_not_equal(a[0], 0);
    assert_int_equal(a[2], 0);
    win_free(w);
    free(w);
}

static void test_window_and_params(void **state)
{
    struct win *w = malloc(sizeof *w);
    /* maxBatchSize: the third request does not join (no wait, no affinity) */
    win_new(w, 2, "blockSizeTokens: 1\nmaxBatchSize: 2\n");
    add(w, 2, "abc");
    struct sy_request r;
    char err[128];
    const char *body = "{\"model\":\"m\",\"prompt\":\"aaaabbbbcccc\"}";
    assert_int_equal(sy_request_parse(SY_API_COMPLETIONS, body, strlen(body), &r, err, sizeof err),
                     0);
    uint64_t d;
    assert_null(sy_burst_join(w->fp.state, &r, w->pool, 1000, &d));
    /* after the deadline a new window opens */
    struct sy_burst_entry *late = sy_burst_join(w->fp.state, &r, w->pool, 1000 + 200000000, &d);
    assert_non_null(late);
    assert_int_equal(d, 1000 + 200000000 + 100000000ull);
    sy_burst_leave(w->fp.state, late);
    win_free(w);
    free(w);
    struct fx_plugin fp;
    const char *bad[] = {"windowDurationMs: 0\n",
                         "windowDurationMs: 10001\n",
                         "maxPerReplica: 0\n",
                         "maxBatchSize: 0\n",
                         "blockSizeTokens: 64\nmaxPrefixTokensToMatch: 10\n",
                         "balanceBy: bytes\n",
                         "colour: red\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(fx_plugin_new(&fp, TYPE, bad[i], err, sizeof err), 0);
    assert_int_equal(
        fx_plugin_new(&fp, TYPE,
                      "windowDurationMs: 100\nmaxPerReplica: -1\nminColocateBlocks: 0\n"
                      "balanceBy: tokens\nmaxBatchSize: -1\n",
                      err, sizeof err),
        0);
    fx_plugin_free(&fp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_placement),
        cmocka_unit_test(test_prefix_sharing),
        cmocka_unit_test(test_window_and_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
