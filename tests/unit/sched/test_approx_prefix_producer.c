/* Unit tests for src/sched/approx_prefix_producer.c through its ops table: produce (hashing,
 * matchLongestPrefix into cy->prefix), pre_request (index insert for the chosen endpoint, LRU
 * capacity), autoTune, block caps, the completions prompt decoding, purge on a new pool, and
 * parameters. Endpoints, pools, requests and cycles are built by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "prefix/approx_index.h"
#include "prefix/hash.h"
#include "prefix/prefix_sched.h"
#include "unit/sched/sched_helpers.h"

#define TYPE "approx-prefix-cache-producer"

struct fx {
    struct sy_pool *pool;
    struct sy_sched_candidate c[4];
    struct sy_prefix_match pm[4];
    struct sy_sched_cycle cy;
    struct sy_request req;
    char body[40000];
};

static struct sy_pool *mkpool(int64_t block_size, int64_t num_blocks)
{
    struct sy_endpoint *eps[4] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                  fx_ep("c:1", NULL, 0, 0, 0), fx_ep("d:1", NULL, 0, 0, 0)};
    for (int i = 0; i < 4; i++) {
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.block_size = block_size;
        m.num_blocks = num_blocks;
        m.max_lora = -1;
        sy_endpoint_set_metrics(eps[i], &m, 1);
    }
    return fx_pool(eps, 4);
}

/* A completions request whose prompt string is the text given (no escapes: hashed as is). */
static void fx_start(struct fx *f, struct sy_pool *pool, const char *model, const char *prompt)
{
    f->pool = pool;
    fx_cands(pool, f->c);
    fx_req(&f->req, model, 0);
    f->req.kind = SY_API_COMPLETIONS;
    snprintf(f->body, sizeof f->body, "{\"prompt\":\"%s\"}", prompt);
    f->req.body = f->body;
    f->req.body_len = strlen(f->body);
    f->req.prompt = (struct sy_str){f->body + 11, strlen(prompt)};
    fx_cycle(&f->cy, &f->req, pool, 7);
    memset(f->pm, 0, sizeof f->pm);
    f->cy.prefix = f->pm;
    f->cy.now_ns = 1000;
}

static void text(char *out, size_t n, char seed)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('a' + (seed + i * 7 + i / 13) % 26);
    out[n] = 0;
}

static void run(const struct fx_plugin *fp, struct fx *f, size_t chosen)
{
    fp->ops->produce(fp->state, &f->cy, f->c, 4);
    fp->ops->pre_request(fp->state, &f->cy, &f->c[chosen]);
    fp->ops->done(fp->state, &f->cy, &f->c[chosen], true);
    assert_null(f->cy.block_hashes);
}

static void test_learns_and_matches(void **state)
{
    struct fx_plugin fp;
    char err[256], p[256], q[512];
    assert_int_equal(fx_plugin_new(&fp, TYPE, NULL, err, sizeof err), 0);
    assert_string_equal(fp.ops->produces, SY_PREFIX_KEY);
    struct sy_pool *pool = mkpool(-1, -1);
    text(p, 200, 1); /* 200 chars, 64-char blocks (16 tokens x 4): 3 whole blocks (v0.8 drops
                      * the 8-char tail) */
    struct fx f;
    fx_start(&f, pool, "m", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_true(f.cy.prefix_valid);
    assert_int_equal(f.cy.nblocks, 3);
    uint64_t want[3];
    sy_prefix_hash_chars(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")), p, 200, 64, 256, want, 3);
    assert_memory_equal(f.cy.block_hashes, want, sizeof want);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f.pm[i].match_blocks, 0);
        assert_int_equal(f.pm[i].total_blocks, 3);
        assert_int_equal(f.pm[i].block_size_tokens, 16);
    }
    fp.ops->pre_request(fp.state, &f.cy, &f.c[1]); /* b:1 chosen */
    fp.ops->done(fp.state, &f.cy, &f.c[1], true);
    struct sy_approx_index *idx = sy_approx_prefix_producer_index(fp.state);
    assert_int_equal(sy_approx_index_count(idx, pool->eps[1]), 3);

    /* Same prompt again: b holds all 3 blocks. */
    fx_start(&f, pool, "m", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(f.pm[1].match_blocks, 3);
    assert_float_equal(f.pm[1].weighted, 3.0, 1e-9);
    assert_int_equal(f.pm[0].match_blocks, 0);
    fp.ops->pre_request(fp.state, &f.cy, &f.c[1]);
    fp.ops->done(fp.state, &f.cy, &f.c[1], true);

    /* Shares the first 128 chars (2 blocks), then diverges; 300 chars = 4 whole blocks. */
    memcpy(q, p, 128);
    text(q + 128, 172, 9);
    fx_start(&f, pool, "m", q);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(f.pm[1].match_blocks, 2);
    assert_int_equal(f.pm[1].total_blocks, 4);
    fp.ops->pre_request(fp.state, &f.cy, &f.c[3]); /* d:1 this time */
    fp.ops->done(fp.state, &f.cy, &f.c[3], true);
    fx_start(&f, pool, "m", q);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(f.pm[1].match_blocks, 2);
    assert_int_equal(f.pm[3].match_blocks, 4);
    fp.ops->done(fp.state, &f.cy, NULL, false);

    /* Another model never matches (the chain is seeded by the model name). */
    fx_start(&f, pool, "other", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f.pm[i].match_blocks, 0);
    fp.ops->done(fp.state, &f.cy, NULL, false);

    /* Hit statistics, for the chosen endpoint of each routed request: 0/3 (b), 3/3 (b),
     * 0/4 (d held nothing yet). */
    struct sy_approx_index_stats st;
    sy_approx_index_stats(idx, &st);
    assert_int_equal(st.hit_blocks, 3);
    assert_int_equal(st.total_blocks, 10);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

static void test_short_prompt_and_no_array(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, TYPE, NULL, err, sizeof err), 0);
    struct sy_pool *pool = mkpool(-1, -1);
    struct fx f;
    fx_start(&f, pool, "m", "[{\"role\":\"user\",\"content\":\"hi\"}]"); /* < 64 chars */
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_true(f.cy.prefix_valid);
    assert_int_equal(f.pm[0].total_blocks, 0);
    assert_int_equal(f.cy.nblocks, 0);
    fp.ops->pre_request(fp.state, &f.cy, &f.c[0]);
    fp.ops->done(fp.state, &f.cy, &f.c[0], true);
    struct sy_approx_index_stats st;
    sy_approx_index_stats(sy_approx_prefix_producer_index(fp.state), &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.total_blocks, 0);

    /* No prefix array allocated by the pipeline: nothing is produced, nothing leaks. */
    char p[300];
    text(p, 299, 3);
    fx_start(&f, pool, "m", p);
    f.cy.prefix = NULL;
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_false(f.cy.prefix_valid);
    assert_null(f.cy.block_hashes);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

static void test_auto_tune(void **state)
{
    char err[256], p[200];
    text(p, 100, 5);
    /* vllm:cache_config_info block_size 4 -> 16-char blocks; num_gpu_blocks 3 -> LRU of 3. */
    struct sy_pool *pool = mkpool(4, 3);
    struct fx_plugin fp;
    assert_int_equal(fx_plugin_new(&fp, TYPE, NULL, err, sizeof err), 0);
    struct fx f;
    fx_start(&f, pool, "m", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(f.pm[0].total_blocks, 6); /* 100 / 16, whole blocks */
    assert_int_equal(f.pm[0].block_size_tokens, 4);
    fp.ops->pre_request(fp.state, &f.cy, &f.c[2]);
    fp.ops->done(fp.state, &f.cy, &f.c[2], true);
    assert_int_equal(sy_approx_index_count(sy_approx_prefix_producer_index(fp.state), pool->eps[2]),
                     3);
    fx_plugin_free(&fp);

    /* autoTune off: blockSizeTokens and lruCapacityPerServer from the config. */
    assert_int_equal(fx_plugin_new(&fp, TYPE,
                                   "autoTune: false\nblockSizeTokens: 5\nlruCapacityPerServer: 2\n",
                                   err, sizeof err),
                     0);
    fx_start(&f, pool, "m", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(f.pm[0].total_blocks, 5); /* 20-char blocks */
    assert_int_equal(f.pm[0].block_size_tokens, 5);
    fp.ops->pre_request(fp.state, &f.cy, &f.c[2]);
    fp.ops->done(fp.state, &f.cy, &f.c[2], true);
    assert_int_equal(sy_approx_index_count(sy_approx_prefix_producer_index(fp.state), pool->eps[2]),
                     2);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

static void test_block_caps(void **state)
{
    static char p[20001];
    text(p, 20000, 2);
    struct sy_pool *pool = mkpool(-1, -1);
    struct fx *f = calloc(1, sizeof *f);
    struct fx_plugin fp;
    char err[256];
    const struct {
        const char *yaml;
        uint32_t blocks;
    } cases[] = {
        {NULL, 256},                          /* v0.8 default cap */
        {"maxPrefixBlocksToMatch: 0\n", 312}, /* unlimited: 20000/64 whole blocks */
        {"maxPrefixBlocksToMatch: 10\n", 10},
        {"maxPrefixTokensToMatch: 40\n", 2},                  /* 40 / 16 = 2 blocks, wins */
        {"maxPrefixTokensToMatch: 8\n", 0},                   /* below one block: nothing */
        {"blockSize: 100\nmaxPrefixBlocksToMatch: 0\n", 200}, /* deprecated, characters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(fx_plugin_new(&fp, TYPE, cases[i].yaml, err, sizeof err), 0);
        fx_start(f, pool, "m", p);
        fp.ops->produce(fp.state, &f->cy, f->c, 4);
        assert_int_equal(f->pm[3].total_blocks, cases[i].blocks);
        fp.ops->done(fp.state, &f->cy, NULL, false);
        fx_plugin_free(&fp);
    }
    free(f);
    sy_pool_unref(pool);
}

static void test_completions_prompt_decoded(void **state)
{
    /* llm-d hashes the completions prompt as plain text: escapes are decoded first. */
    struct sy_pool *pool = mkpool(-1, -1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, TYPE, "blockSizeTokens: 2\n", err, sizeof err), 0);
    struct fx f;
    fx_start(&f, pool, "m", "x");
    f.req.kind = SY_API_COMPLETIONS;
    const char *body = "{\"prompt\":\"ab\\ncd\\u00e9fgh\\\"ij\"}";
    const char *open = strchr(body + 9, '"') + 1;
    const char *close = strrchr(body, '"');
    f.req.body = body;
    f.req.body_len = strlen(body);
    f.req.prompt = (struct sy_str){open, (size_t)(close - open)};
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    const char *plain = "ab\ncd\xC3\xA9"
                        "fgh\"ij"; /* 14 bytes, 8-char blocks: 1 whole block */
    uint64_t want[1];
    assert_int_equal(sy_prefix_hash_chars(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")), plain,
                                          strlen(plain), 8, 256, want, 1),
                     1);
    assert_int_equal(f.cy.nblocks, 1);
    assert_memory_equal(f.cy.block_hashes, want, sizeof want);
    fp.ops->done(fp.state, &f.cy, NULL, false);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

static void test_purge_on_new_pool(void **state)
{
    struct sy_pool *pool = mkpool(-1, -1);
    struct fx_plugin fp;
    char err[256], p[200];
    text(p, 150, 4);
    assert_int_equal(fx_plugin_new(&fp, TYPE, NULL, err, sizeof err), 0);
    struct fx f;
    fx_start(&f, pool, "m", p);
    run(&fp, &f, 0);
    fx_start(&f, pool, "m", p);
    run(&fp, &f, 1);
    struct sy_approx_index *idx = sy_approx_prefix_producer_index(fp.state);
    assert_int_equal(sy_approx_index_count(idx, pool->eps[0]), 2); /* 150 / 64 */
    assert_int_equal(sy_approx_index_count(idx, pool->eps[1]), 2);

    /* A reload: the new pool keeps a:1 and drops b:1. The first cycle on it purges b. */
    struct sy_endpoint *keep[4] = {sy_endpoint_ref(pool->eps[0]), sy_endpoint_ref(pool->eps[2]),
                                   sy_endpoint_ref(pool->eps[3]), fx_ep("e:1", NULL, 0, 0, 0)};
    struct sy_pool *pool2 = fx_pool(keep, 4);
    fx_start(&f, pool2, "m", p);
    fp.ops->produce(fp.state, &f.cy, f.c, 4);
    assert_int_equal(sy_approx_index_count(idx, pool->eps[1]), 0);
    assert_int_equal(sy_approx_index_count(idx, pool->eps[0]), 2);
    assert_int_equal(f.pm[0].match_blocks, 2); /* a:1 is pool2's index 0 */
    fp.ops->done(fp.state, &f.cy, NULL, false);

    /* The explicit call does the same. */
    sy_approx_prefix_producer_retain(fp.state, pool2);
    assert_int_equal(sy_approx_index_count(idx, pool->eps[0]), 2);
    fx_plugin_free(&fp);
    sy_pool_unref(pool2);
    sy_pool_unref(pool);
}

static void test_params(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, TYPE, "hashBlockSize: 5\n", err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "hashBlockSize")); /* only the legacy scorer accepts it */
    assert_int_equal(fx_plugin_new(&fp, TYPE, "blockSizeTokens: 0\n", err, sizeof err), SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, TYPE, "autoTune: maybe\n", err, sizeof err), SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, TYPE, "maxPrefixTokensToMatch: -1\n", err, sizeof err),
                     SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, TYPE, "[1, 2]\n", err, sizeof err), SY_ECONFIG);
    /* The router's pd sample. */
    assert_int_equal(fx_plugin_new(&fp, TYPE,
                                   "maxPrefixTokensToMatch: 4096\nlruCapacityPerServer: 31250\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
}

/* End to end through sy_sched_pick with llm-d's default config (queue 2, KV 2, prefix 3):
 * requests sharing a prefix stick to the endpoint that served it first; a new prefix is free to
 * go elsewhere; after the purge the index forgets an endpoint that left. */
static void test_pipeline_affinity(void **state)
{
    char err[512];
    struct sy_scheduler *s = fx_sched("apiVersion: llm-d.ai/v1alpha1\n"
                                      "kind: EndpointPickerConfig\n"
                                      "plugins:\n"
                                      "- type: prefix-cache-scorer\n"
                                      "- type: queue-scorer\n"
                                      "- type: kv-cache-utilization-scorer\n"
                                      "schedulingProfiles:\n"
                                      "- name: default\n"
                                      "  plugins:\n"
                                      "  - pluginRef: prefix-cache-scorer\n"
                                      "    weight: 3\n"
                                      "  - pluginRef: queue-scorer\n"
                                      "    weight: 2\n"
                                      "  - pluginRef: kv-cache-utilization-scorer\n"
                                      "    weight: 2\n",
                                      err, sizeof err);
    assert_non_null(s);
    struct sy_pool *pool = mkpool(-1, -1);
    char p[600];
    struct fx *f = calloc(1, sizeof *f);
    struct sy_endpoint *first = NULL;
    for (int r = 0; r < 20; r++) {
        text(p, 512, 3);
        snprintf(p + 500, 12, "tail%07d", r); /* same 500-char prefix, distinct tail */
        fx_start(f, pool, "m", p);
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, pool, &f->req, NULL, 0, &res), 0);
        if (!first)
            first = res.ep;
        assert_ptr_equal(res.ep, first); /* 7/9 blocks match there: 3 x 0.78 beats ties */
        sy_sched_done(s, &res, true);
    }
    /* A different prefix sees no affinity: over many prompts it is not pinned to `first`. */
    int elsewhere = 0;
    for (int r = 0; r < 40; r++) {
        text(p, 512, 5);
        memcpy(p, "pfx", 3); /* a distinct first block per prompt */
        p[3] = (char)('A' + r % 26);
        p[4] = (char)('A' + r / 26);
        fx_start(f, pool, "m", p);
        struct sy_sched_result res;
        assert_int_equal(sy_sched_pick(s, pool, &f->req, NULL, 0, &res), 0);
        elsewhere += res.ep != first;
        sy_sched_done(s, &res, true);
    }
    assert_true(elsewhere >= 15); /* ties among 4 break randomly: ~30 expected */
    free(f);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_matches),
        cmocka_unit_test(test_short_prompt_and_no_array),
        cmocka_unit_test(test_auto_tune),
        cmocka_unit_test(test_block_caps),
        cmocka_unit_test(test_completions_prompt_decoded),
        cmocka_unit_test(test_purge_on_new_pool),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_pipeline_affinity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
