/* Unit tests for src/sched/prefix_cache_scorer.c, driven through its ops table with hand-built
 * prefix-match data, including the legacy inline producer parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "prefix/approx_index.h"
#include "prefix/prefix_sched.h"
#include "sched/plugins.h"
#include "unit/sched/sched_helpers.h"

struct fx4 {
    struct sy_pool *pool;
    struct sy_sched_candidate c[4];
    struct sy_prefix_match pm[4];
    struct sy_sched_cycle cy;
    struct sy_request req;
};

static void fx4_init(struct fx4 *f)
{
    struct sy_endpoint *eps[4] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                  fx_ep("c:1", NULL, 0, 0, 0), fx_ep("d:1", NULL, 0, 0, 0)};
    f->pool = fx_pool(eps, 4);
    fx_cands(f->pool, f->c);
    fx_req(&f->req, "m", 100);
    fx_cycle(&f->cy, &f->req, f->pool, 42);
    memset(f->pm, 0, sizeof f->pm);
    f->cy.prefix = f->pm;
    f->cy.prefix_valid = true;
}

static void set_pm(struct fx4 *f, size_t i, uint32_t match, uint32_t total, uint32_t bst)
{
    f->pm[i] = (struct sy_prefix_match){match, total, bst, match};
}

static void test_ratio(void **state)
{
    struct fx4 f;
    fx4_init(&f);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", NULL, err, sizeof err), 0);
    assert_string_equal(fp.ops->consumes, SY_PREFIX_KEY);
    set_pm(&f, 0, 3, 4, 16);
    set_pm(&f, 1, 0, 4, 16);
    set_pm(&f, 2, 4, 4, 16);
    set_pm(&f, 3, 1, 3, 16);
    double s[4];
    fp.ops->score(fp.state, &f.cy, f.c, 4, s);
    assert_float_equal(s[0], 0.75, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    assert_float_equal(s[3], 1.0 / 3.0, FX_EPS);

    /* totalBlocks 0 (prompt shorter than a block) scores 0, never NaN. */
    set_pm(&f, 0, 0, 0, 16);
    fp.ops->score(fp.state, &f.cy, f.c, 1, s);
    assert_float_equal(s[0], 0.0, FX_EPS);

    /* No producer output: all 0. */
    f.cy.prefix_valid = false;
    fp.ops->score(fp.state, &f.cy, f.c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0.0, FX_EPS);
    f.cy.prefix = NULL;
    fp.ops->score(fp.state, &f.cy, f.c, 4, s);
    assert_float_equal(s[2], 0.0, FX_EPS);

    /* Candidates after a filter: pool_index, not position, selects the data. */
    f.cy.prefix = f.pm;
    f.cy.prefix_valid = true;
    set_pm(&f, 2, 2, 4, 16);
    struct sy_sched_candidate sub[1] = {f.c[2]};
    fp.ops->score(fp.state, &f.cy, sub, 1, s);
    assert_float_equal(s[0], 0.5, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_match_length_term(void **state)
{
    struct fx4 f;
    fx4_init(&f);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer",
                                   "matchLengthWeight: 0.5\nmatchLengthScaleTokens: 100\n", err,
                                   sizeof err),
                     0);
    set_pm(&f, 0, 2, 4, 16);  /* 0.5*(32/100)^2 + 0.5*0.5 = 0.0512 + 0.25 */
    set_pm(&f, 1, 8, 10, 16); /* length capped at 1: 0.5*1 + 0.5*0.8 = 0.9 */
    double s[2];
    fp.ops->score(fp.state, &f.cy, f.c, 2, s);
    assert_float_equal(s[0], 0.3012, FX_EPS);
    assert_float_equal(s[1], 0.9, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(f.pool);
}

static void test_params_refused(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", "bogus: 1\n", err, sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "bogus"));
    assert_non_null(strstr(err, "t.yaml:"));
    assert_int_equal(
        fx_plugin_new(&fp, "prefix-cache-scorer", "matchLengthWeight: 1.5\n", err, sizeof err),
        SY_ECONFIG);
    assert_non_null(strstr(err, "matchLengthWeight"));
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", "hashBlockSize: 5\nblockSize: 64\n",
                                   err, sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "not both"));
    assert_int_equal(
        fx_plugin_new(&fp, "prefix-cache-scorer", "lruCapacityPerServer: 0\n", err, sizeof err),
        SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", "maxPrefixBlocksToMatch: many\n",
                                   err, sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "maxPrefixBlocksToMatch"));
}

/* llm-d's TestPrefixPluginFactoryValidation: matchLengthScaleTokens must be > 0 only when
 * matchLengthWeight > 0; it is an integer (Go int). */
static void test_llmd_factory_validation(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer",
                                   "matchLengthWeight: 0.0\nmatchLengthScaleTokens: 0\n", err,
                                   sizeof err),
                     0);
    fx_plugin_free(&fp);
    assert_int_equal(
        fx_plugin_new(&fp, "prefix-cache-scorer", "matchLengthWeight: 0.0\n", err, sizeof err), 0);
    fx_plugin_free(&fp);
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer",
                                   "matchLengthWeight: 0.5\nmatchLengthScaleTokens: 0\n", err,
                                   sizeof err),
                     SY_ECONFIG);
    assert_non_null(strstr(err, "matchLengthScaleTokens"));
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer",
                                   "matchLengthWeight: -0.1\nmatchLengthScaleTokens: 100\n", err,
                                   sizeof err),
                     SY_ECONFIG);
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", "matchLengthScaleTokens: 100.5\n",
                                   err, sizeof err),
                     SY_ECONFIG);
}

/* Legacy inline producer parameters are forwarded to the producer the loader auto-creates. */
static void test_legacy_forwarding(void **state)
{
    struct fx_plugin fp;
    char err[256];
    void *prod = NULL;
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer", NULL, err, sizeof err), 0);
    assert_int_equal(sy_prefix_cache_scorer_make_producer(fp.state, &prod), 0);
    fx_plugin_free(&fp);
    assert_int_equal(sy_prefix_cache_scorer_make_producer(NULL, &prod), 0);

    /* The v0.8 session-affinity sample: hashBlockSize 5 (characters), 256 blocks. */
    assert_int_equal(fx_plugin_new(&fp, "prefix-cache-scorer",
                                   "hashBlockSize: 5\nmaxPrefixBlocksToMatch: 2\n"
                                   "lruCapacityPerServer: 3\n",
                                   err, sizeof err),
                     0);
    assert_int_equal(sy_prefix_cache_scorer_make_producer(fp.state, &prod), 1);
    assert_non_null(prod);

    /* Drive the producer: a 12-char prompt in 5-char blocks capped at 2 blocks -> 2 hashes. */
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 2);
    struct sy_sched_candidate c[2];
    fx_cands(pool, c);
    const char *body = "{\"prompt\":\"hello world!\"}";
    struct sy_request req;
    fx_req(&req, "m", 3);
    req.body = body;
    req.body_len = strlen(body);
    req.prompt = (struct sy_str){body + 11, 12};
    struct sy_prefix_match pm[2];
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &req, pool, 1);
    memset(pm, 0, sizeof pm);
    cy.prefix = pm;
    const struct sy_plugin_ops *po = &sy_plugin_approx_prefix_cache_producer;
    po->produce(prod, &cy, c, 2);
    assert_true(cy.prefix_valid);
    assert_int_equal(pm[0].total_blocks, 2);
    assert_int_equal(pm[0].block_size_tokens, 2); /* ceil(5 chars / 4) */
    po->pre_request(prod, &cy, &c[1]);
    po->done(prod, &cy, &c[1], true);
    assert_int_equal(sy_approx_index_count(sy_approx_prefix_producer_index(prod), eps[1]), 2);
    po->destroy(prod);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

/* Through the loader: the v0.8 session-affinity sample's inline parameters reach the producer the
 * loader auto-creates; without them the producer has the v0.8 defaults. */
static void test_loader_forwards_legacy(void **state)
{
    char err[512];
    struct sy_scheduler *s = fx_sched("apiVersion: llm-d.ai/v1alpha1\n"
                                      "kind: EndpointPickerConfig\n"
                                      "plugins:\n"
                                      "- type: prefix-cache-scorer\n"
                                      "  parameters:\n"
                                      "    hashBlockSize: 5\n"
                                      "    maxPrefixBlocksToMatch: 128\n"
                                      "    lruCapacityPerServer: 1000\n",
                                      err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->nproducers, 1);
    assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
    struct sy_approx_prefix_config c;
    sy_approx_prefix_producer_config(s->producers[0]->state, &c);
    assert_int_equal(c.block_chars, 5);
    assert_int_equal(c.max_blocks, 128);
    assert_int_equal(c.lru_capacity, 1000);
    assert_true(c.auto_tune);
    sy_sched_free(s);

    s = fx_sched("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
                 "- type: prefix-cache-scorer\n",
                 err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->nproducers, 1);
    sy_approx_prefix_producer_config(s->producers[0]->state, &c);
    assert_int_equal(c.block_chars, 0);
    assert_int_equal(c.block_tokens, 16);
    /* llm-d.ai apiVersion: the router's defaults (types.go defaultConfig) */
    assert_true(c.router);
    assert_int_equal(c.max_blocks, 2048);
    assert_int_equal(c.max_tokens, 131072);
    assert_int_equal(c.lru_capacity, 31250);
    sy_sched_free(s);

    /* legacy apiVersion: v0.8's defaults */
    s = fx_sched("apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
                 "plugins:\n- type: prefix-cache-scorer\n",
                 err, sizeof err);
    assert_non_null(s);
    sy_approx_prefix_producer_config(s->producers[0]->state, &c);
    assert_false(c.router);
    assert_int_equal(c.max_blocks, 256);
    assert_int_equal(c.max_tokens, 0);
    sy_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_match_length_term),
        cmocka_unit_test(test_params_refused),
        cmocka_unit_test(test_llmd_factory_validation),
        cmocka_unit_test(test_legacy_forwarding),
        cmocka_unit_test(test_loader_forwards_legacy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
