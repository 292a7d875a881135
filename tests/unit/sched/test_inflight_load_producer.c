/* Unit tests for src/sched/inflight_load_producer.c (sched/inflight.h) with the numbers of llm-d's
 * own tests (llm-d-router dataproducer/inflightload/producer_test.go, token_estimator.go): what a
 * request adds to its endpoint's in-flight tokens, the part released at the first response byte,
 * parameters and their errors, and the figures the scheduler hands the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sched/inflight.h"
#include "unit/sched/sched_helpers.h"

/* A cycle of a request of `input` prompt tokens (max_tokens as given, -1 = absent) with the
 * producer's parameters from yaml (NULL = no producer: llm-d's defaults). */
struct fx {
    struct sy_request r;
    struct sy_sched_cycle cy;
    struct fx_plugin fp;
    bool have_fp;
};

static void setup(struct fx *f, const char *yaml, uint32_t input, int64_t max_tokens)
{
    memset(f, 0, sizeof *f);
    fx_req(&f->r, "m", input);
    f->r.max_tokens = max_tokens;
    fx_cycle(&f->cy, &f->r, NULL, 1);
    if (yaml) {
        char err[256];
        int rc = fx_plugin_new(&f->fp, "inflight-load-producer", yaml, err, sizeof err);
        if (rc)
            fail_msg("%s", err);
        f->have_fp = true;
        f->fp.ops->produce(f->fp.state, &f->cy, NULL, 0);
    }
}

static void teardown(struct fx *f)
{
    if (f->have_fp)
        fx_plugin_free(&f->fp);
}

static int64_t tokens_on(struct fx *f, struct sy_prefix_match *pm, int64_t *early)
{
    struct sy_sched_candidate c = {.pool_index = 0};
    f->cy.prefix = pm;
    f->cy.prefix_valid = pm != NULL;
    int64_t t, e;
    sy_inflight_account(&f->cy, &c, &t, &e);
    assert_int_equal(t, sy_inflight_request_tokens(&f->cy, &c));
    if (early)
        *early = e;
    return t;
}

/* ExcludeOutputTokens_StartOfStreamRelease: 4 input tokens, only input tracked, all released at
 * the first chunk. The same without any producer configured (llm-d's defaults). */
static void test_default_counts_prompt_released_at_first_chunk(void **state)
{
    (void)state;
    struct fx f;
    int64_t early;
    setup(&f, NULL, 4, -1);
    assert_int_equal(tokens_on(&f, NULL, &early), 4);
    assert_int_equal(early, 4);
    teardown(&f);
    setup(&f, "addEstimatedOutputTokens: false\n", 4, 1000);
    assert_int_equal(tokens_on(&f, NULL, &early), 4); /* max_tokens is not counted */
    assert_int_equal(early, 4);
    teardown(&f);
}

/* Lifecycle: addEstimatedOutputTokens, 4 input + round(4 x 1.5) = 6 output = 10, held to the end.
 */
static void test_estimated_output(void **state)
{
    (void)state;
    struct fx f;
    int64_t early;
    setup(&f, "addEstimatedOutputTokens: true\n", 4, -1);
    assert_int_equal(tokens_on(&f, NULL, &early), 10);
    assert_int_equal(early, 0);
    teardown(&f);
    /* the client's max_tokens caps the estimate (0 included); maxEstimatedOutputTokens too */
    setup(&f, "addEstimatedOutputTokens: true\n", 4, 2);
    assert_int_equal(tokens_on(&f, NULL, NULL), 6);
    teardown(&f);
    setup(&f, "addEstimatedOutputTokens: true\n", 4, 0);
    assert_int_equal(tokens_on(&f, NULL, NULL), 4);
    teardown(&f);
    setup(&f, "addEstimatedOutputTokens: true\nmaxEstimatedOutputTokens: 3\n", 4, 100);
    assert_int_equal(tokens_on(&f, NULL, NULL), 7);
    teardown(&f);
    /* outputRatio, rounded half away from zero like Go's math.Round: 5 x 0.5 = 2.5 -> 3 */
    setup(&f, "addEstimatedOutputTokens: true\noutputRatio: 0.5\n", 5, -1);
    assert_int_equal(tokens_on(&f, NULL, NULL), 8);
    teardown(&f);
    /* no prompt tokens: no output estimate either */
    setup(&f, "addEstimatedOutputTokens: true\n", 0, -1);
    assert_int_equal(tokens_on(&f, NULL, NULL), 0);
    teardown(&f);
}

/* PrefixCacheDiscount / _PerEndpoint / PrefixMatchInfoProducerName. */
static void test_prefix_discount(void **state)
{
    (void)state;
    struct fx f;
    /* 8 input, block 4, 2 blocks, 1 matched: uncached (2-1)*4 + max(0, 8-8) = 4, + 12 output */
    setup(&f, "addEstimatedOutputTokens: true\n", 8, -1);
    struct sy_prefix_match pm = {.match_blocks = 1, .total_blocks = 2, .block_size_tokens = 4};
    assert_int_equal(tokens_on(&f, &pm, NULL), 16);
    pm.match_blocks = 2; /* fully cached: output only */
    assert_int_equal(tokens_on(&f, &pm, NULL), 12);
    pm.match_blocks = 0; /* nothing cached */
    assert_int_equal(tokens_on(&f, &pm, NULL), 20);
    teardown(&f);
    /* 5 input, indexed 8, matched 4 -> 4 (the tail beyond the index is 0) */
    setup(&f, NULL, 5, -1);
    pm.match_blocks = 1;
    assert_int_equal(tokens_on(&f, &pm, NULL), 4);
    /* a prompt longer than the indexed blocks (maxPrefixBlocksToMatch cap): tail added back */
    f.cy.prompt_tokens = 100;
    assert_int_equal(tokens_on(&f, &pm, NULL), 4 + 92);
    /* prefix table allocated but not produced this cycle: the whole prompt */
    f.cy.prefix = &pm;
    f.cy.prefix_valid = false;
    struct sy_sched_candidate c = {.pool_index = 0};
    assert_int_equal(sy_inflight_request_tokens(&f.cy, &c), 100);
    teardown(&f);
}

static void test_params(void **state)
{
    (void)state;
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "inflight-load-producer",
                                   "addEstimatedOutputTokens: true\noutputRatio: 2\n"
                                   "maxEstimatedOutputTokens: 0\nprefixMatchInfoProducerName: x\n"
                                   "syncCrossReplicaState: false\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    assert_int_not_equal(
        fx_plugin_new(&fp, "inflight-load-producer", "outputRatio: -1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "outputRatio"));
    assert_int_not_equal(fx_plugin_new(&fp, "inflight-load-producer",
                                       "maxEstimatedOutputTokens: -1\n", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "maxEstimatedOutputTokens"));
    assert_int_not_equal(fx_plugin_new(&fp, "inflight-load-producer",
                                       "addEstimatedOutputTokens: maybe\n", err, sizeof err),
                         0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "inflight-load-producer", "outputTokens: 1\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "outputTokens"));
}

/* Through the loader and sy_sched_pick: the figures the proxy adds and releases early. */
static void test_scheduler_hands_the_proxy_llmd_figures(void **state)
{
    (void)state;
    static const char yaml[] = "apiVersion: llm-d.ai/v1alpha1\n"
                               "kind: EndpointPickerConfig\n"
                               "plugins:\n"
                               "- type: inflight-load-producer\n"
                               "  parameters: {addEstimatedOutputTokens: true}\n"
                               "- type: token-load-scorer\n"
                               "- type: max-score-picker\n"
                               "schedulingProfiles:\n"
                               "- name: default\n"
                               "  plugins:\n"
                               "  - pluginRef: token-load-scorer\n"
                               "  - pluginRef: max-score-picker\n";
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    atomic_store(&eps[0]->inflight_tokens, 1000);
    struct sy_pool *p = fx_pool(eps, 2);
    struct sy_request r;
    fx_req(&r, "m", 4);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "b:1"); /* less in-flight load */
    assert_int_equal(res.inflight_tokens, 10);   /* 4 + 6 */
    assert_int_equal(res.inflight_early, 0);     /* held to the end with the output estimate */
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    /* the same config without the producer: llm-d's defaults */
    s = fx_sched("apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
                 "- type: token-load-scorer\n",
                 err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    assert_int_equal(res.inflight_tokens, 4);
    assert_int_equal(res.inflight_early, 4);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

/* The pool's counters: the early release leaves the request counted. */
static void test_pool_tokens_release(void **state)
{
    (void)state;
    struct sy_endpoint *e = fx_ep("a:1", NULL, 0, 0, 0);
    sy_endpoint_inflight_add(e, 4);
    sy_endpoint_inflight_tokens_sub(e, 4);
    assert_int_equal(atomic_load(&e->inflight_tokens), 0);
    assert_int_equal(atomic_load(&e->inflight_requests), 1);
    sy_endpoint_inflight_sub(e, 0);
    assert_int_equal(atomic_load(&e->inflight_requests), 0);
    sy_endpoint_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_counts_prompt_released_at_first_chunk),
        cmocka_unit_test(test_estimated_output),
        cmocka_unit_test(test_prefix_discount),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_scheduler_hands_the_proxy_llmd_figures),
        cmocka_unit_test(test_pool_tokens_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
