/* Unit tests for src/sched/no_hit_lru_scorer.c: cold requests ranked by LRU of cold picks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

struct fixture {
    struct sy_pool *p;
    struct sy_sched_candidate c[3];
    struct sy_request r;
    struct sy_sched_cycle cy;
    struct fx_plugin fp;
};

/* The plugin as the loader creates it for a config of apiVersion api (NULL: none, v0.8). */
static void setup_api(struct fixture *f, const char *params, const char *api)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0)};
    f->p = fx_pool(eps, 3);
    fx_cands(f->p, f->c);
    fx_req(&f->r, "m", 10);
    fx_cycle(&f->cy, &f->r, f->p, 1);
    char err[256];
    struct sy_yaml_node *root =
        params ? sy_yaml_load_string(params, strlen(params), "p.yaml", err, sizeof err) : NULL;
    struct sy_plugin_env env = {.file = "t.yaml",
                                .line = 1,
                                .name = "no-hit-lru-scorer",
                                .path = "plugins[0]",
                                .api_version = api};
    f->fp.ops = sy_sched__registry_find("no-hit-lru-scorer");
    assert_int_equal(f->fp.ops->create(root, &env, &f->fp.state, err, sizeof err), 0);
    sy_yaml_free(root);
}

static void setup(struct fixture *f, const char *params)
{
    setup_api(f, params, NULL);
}

static void teardown(struct fixture *f)
{
    fx_plugin_free(&f->fp);
    sy_pool_unref(f->p);
}

static void cold_pick(struct fixture *f, double *s, size_t chosen)
{
    f->fp.ops->score(f->fp.state, &f->cy, f->c, 3, s);
    f->fp.ops->pre_request(f->fp.state, &f->cy, &f->c[chosen]);
}

/* Scores the first three candidates and checks the scores. */
static void expect3(struct fixture *f, double s0, double s1, double s2)
{
    double s[3];
    f->fp.ops->score(f->fp.state, &f->cy, f->c, 3, s);
    assert_float_equal(s[0], s0, FX_EPS);
    assert_float_equal(s[1], s1, FX_EPS);
    assert_float_equal(s[2], s2, FX_EPS);
}

static void test_cold_lru_order(void **state)
{
    struct fixture f;
    setup(&f, NULL);
    double s[3];
    cold_pick(&f, s, 2); /* nobody used yet: 1 - j/(N-1) in candidate order */
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
    cold_pick(&f, s, 0); /* LRU [c]: a,b never used; c at rank 2+0 */
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
    cold_pick(&f, s, 1); /* LRU [c, a]: b never used -> 1; c rank 1 -> 0.5; a rank 2 -> 0 */
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    assert_float_equal(s[2], 0.5, FX_EPS);
    cold_pick(&f, s, 2); /* LRU [c, a, b]: positions 0,1,2 -> c 1, a 0.5, b 0 */
    assert_float_equal(s[0], 0.5, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    /* chose c again: LRU [a, b, c] */
    expect3(&f, 1.0, 0.5, 0.0);
    f.fp.ops->score(f.fp.state, &f.cy, f.c + 1, 1, s); /* a single candidate */
    assert_float_equal(s[0], 1.0, FX_EPS);
    teardown(&f);
}

static void test_warm_is_neutral_and_not_recorded(void **state)
{
    struct fixture f;
    setup(&f, NULL);
    struct sy_prefix_match pm[3] = {{0, 4, 16, 0}, {2, 4, 16, 2}, {0, 4, 16, 0}};
    f.cy.prefix = pm;
    f.cy.prefix_valid = true;
    double s[3];
    cold_pick(&f, s, 0);
    for (int i = 0; i < 3; i++)
        assert_float_equal(s[i], 0.5, FX_EPS);
    pm[1].match_blocks = 0; /* now cold: a was not recorded by the warm pick */
    expect3(&f, 1.0, 0.5, 0.0);
    teardown(&f);
}

static void test_lru_size_evicts_oldest(void **state)
{
    struct fixture f;
    setup(&f, "lruSize: 1\nprefixPluginName: prefix-cache-scorer\n");
    double s[3];
    cold_pick(&f, s, 0);
    cold_pick(&f, s, 1);        /* LRU holds only b now; a was evicted and counts as never used */
    expect3(&f, 1.0, 0.0, 0.5); /* rank 2 + 0 */
    teardown(&f);
    char err[256];
    struct fx_plugin fp;
    assert_int_not_equal(fx_plugin_new(&fp, "no-hit-lru-scorer", "lruSize: big\n", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "lruSize"));
}

/* Candidates a and b of a pool whose third endpoint c (filtered out) holds the prompt, created
 * for apiVersion api; checks a's and b's scores. pm is the caller's (it outlives the call). */
static void filtered_hit(struct fixture *f, struct sy_prefix_match *pm, const char *api, double w0,
                         double w1)
{
    setup_api(f, NULL, api);
    pm[0] = (struct sy_prefix_match){0, 4, 16, 0};
    pm[1] = (struct sy_prefix_match){0, 4, 16, 0};
    pm[2] = (struct sy_prefix_match){3, 4, 16, 3};
    f->cy.prefix = pm;
    f->cy.prefix_valid = true;
    double s[2];
    f->fp.ops->score(f->fp.state, &f->cy, f->c, 2, s);
    assert_float_equal(s[0], w0, FX_EPS);
    assert_float_equal(s[1], w1, FX_EPS);
}

/* inference-scheduler v0.8.0's isColdRequest reads Score's endpoints too (PrefixCacheServers, a
 * hit anywhere in the pool, was v0.4-v0.7): a hit on a filtered-out endpoint leaves it cold. */
static void test_v08_cold_over_candidates(void **state)
{
    struct fixture f;
    struct sy_prefix_match pm[3];
    filtered_hit(&f, pm, "inference.networking.x-k8s.io/v1alpha1", 1.0, 0.0);
    teardown(&f);
}

/* llm-d's Parameters: prefixMatchInfoProducerName is a parameter, and lruSize <= 0 keeps the
 * default (1024 entries: the LRU then remembers more than one pick). */
static void test_llmd_parameters(void **state)
{
    struct fixture f;
    setup(&f, "lruSize: 0\nprefixMatchInfoProducerName: precise-prefix-cache-producer\n");
    double s[3];
    cold_pick(&f, s, 0);
    cold_pick(&f, s, 1); /* LRU [a, b]: c never used -> 1, a rank 1 -> 0.5, b rank 2 -> 0 */
    expect3(&f, 0.5, 0.0, 1.0);
    teardown(&f);
}

/* The llm-d router decides cold or warm over the endpoints passed to Score: a hit on an endpoint
 * the profile's filters removed does not make the request warm; and a pre_request without a
 * score in the cycle (llm-d: no cold state stored) moves nothing. */
static void test_cold_over_candidates_only(void **state)
{
    struct fixture f;
    struct sy_prefix_match pm[3];
    filtered_hit(&f, pm, "llm-d.ai/v1alpha1", 1.0, 0.0); /* cold: never used, candidate order */
    double s[2];
    f.fp.ops->pre_request(f.fp.state, &f.cy, &f.c[0]); /* cold: a moves */
    f.fp.ops->score(f.fp.state, &f.cy, f.c, 2, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    struct sy_sched_cycle fresh;
    fx_cycle(&fresh, &f.r, f.p, 1); /* no score in this cycle */
    f.fp.ops->pre_request(f.fp.state, &fresh, &f.c[1]);
    f.fp.ops->score(f.fp.state, &f.cy, f.c, 2, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 1.0, FX_EPS);
    teardown(&f);
}

/* Each instance of a configuration owns one verdict bit of the cycle's slot (that two instances
 * of one configuration keep apart verdicts is test_no_hit_lru_verdict_per_instance in
 * test_disagg_profile_handler.c). A scheduler with n no-hit-lru-scorer instances (nh0..), NULL on
 * error (err filled). */
static struct sy_scheduler *sched_with_instances(int n, char *err, size_t errcap)
{
    struct sy_buf b;
    sy_buf_init(&b);
    sy_buf_printf(&b, "plugins:\n- type: max-score-picker\n");
    for (int i = 0; i < n; i++)
        sy_buf_printf(&b, "- name: nh%d\n  type: no-hit-lru-scorer\n", i);
    /* a profile holds at most 16 scorers: the others are instances no profile lists (loaded
     * all the same, each with its own bit) */
    sy_buf_printf(&b, "schedulingProfiles:\n- name: default\n  plugins:\n"
                      "  - pluginRef: max-score-picker\n");
    for (int i = 0; i < n && i < 16; i++)
        sy_buf_printf(&b, "  - pluginRef: nh%d\n", i);
    struct sy_scheduler *s = fx_sched(b.data, err, errcap);
    sy_buf_fini(&b);
    return s;
}

/* The verdict bits are numbered per configuration: 64 instances load, 65 are a config error
 * naming the limit, and configurations alive together (a reload while the old scheduler still
 * serves requests in flight) take nothing from one another: before, the bits were one pool for
 * the process and two schedulers of 33 instances could not both load. */
static void test_instance_limit(void **state)
{
    enum { MAX = sizeof(uintptr_t) * 8 };
    char err[512];
    struct sy_scheduler *s = sched_with_instances(MAX + 1, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "no-hit-lru-scorer instances in one configuration"));
    struct sy_scheduler *live[3];
    for (int i = 0; i < 3; i++) {
        live[i] = sched_with_instances(i ? 33 : MAX, err, sizeof err);
        if (!live[i])
            fail_msg("%s", err);
    }
    for (int i = 0; i < 3; i++)
        sy_sched_free(live[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_lru_order),
        cmocka_unit_test(test_warm_is_neutral_and_not_recorded),
        cmocka_unit_test(test_lru_size_evicts_oldest),
        cmocka_unit_test(test_cold_over_candidates_only),
        cmocka_unit_test(test_v08_cold_over_candidates),
        cmocka_unit_test(test_llmd_parameters),
        cmocka_unit_test(test_instance_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
