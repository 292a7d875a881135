/* Unit tests for src/sched/token_load_scorer.c:
 * 1 - min(1, (inflight + uncached request tokens) / queueThresholdTokens), the request's tokens
 * as llm-d's inflight-load-producer computes them (sched/inflight.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

struct fixture {
    struct sy_pool *p;
    struct sy_sched_candidate c[3];
};

static void setup3(struct fixture *f, int64_t t0, int64_t t1, int64_t t2)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0)};
    atomic_store(&eps[0]->inflight_tokens, t0);
    atomic_store(&eps[1]->inflight_tokens, t1);
    atomic_store(&eps[2]->inflight_tokens, t2);
    f->p = fx_pool(eps, 3);
    fx_cands(f->p, f->c);
}

static void test_threshold_and_lookahead(void **state)
{
    struct fixture f;
    setup3(&f, 0, 500, 2000);
    struct sy_request r;
    fx_req(&r, "m", 100);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, f.p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(
        fx_plugin_new(&fp, "token-load-scorer", "queueThresholdTokens: 1000\n", err, sizeof err),
        0);
    double s[3];
    fp.ops->score(fp.state, &cy, f.c, 3, s); /* no prefix data: the whole prompt counts */
    assert_float_equal(s[0], 0.9, FX_EPS);   /* 1 - 100/1000 */
    assert_float_equal(s[1], 0.4, FX_EPS);   /* 1 - 600/1000 */
    assert_float_equal(s[2], 0.0, FX_EPS);   /* capped */

    struct sy_prefix_match pm[3] = {{3, 4, 16, 3}, {4, 4, 16, 4}, {0, 4, 16, 0}};
    cy.prefix = pm;
    cy.prefix_valid = true;
    fp.ops->score(fp.state, &cy, f.c, 3, s);
    /* llm-d: (total - matched) x block + the prompt beyond the indexed blocks */
    assert_float_equal(s[0], 0.948, FX_EPS); /* 0 + (4-3)*16 + (100-64) = 52 */
    assert_float_equal(s[1], 0.464, FX_EPS); /* 500 + 0 + 36 */
    assert_float_equal(s[2], 0.0, FX_EPS);
    cy.prefix_valid = false; /* allocated but not produced: ignored */
    fp.ops->score(fp.state, &cy, f.c, 1, s);
    assert_float_equal(s[0], 0.9, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(f.p);
}

static void test_default_threshold(void **state)
{
    struct fixture f;
    setup3(&f, 2097152, 4194304 * 2, 0);
    struct sy_request r;
    fx_req(&r, "m", 0);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, f.p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "token-load-scorer", NULL, err, sizeof err), 0);
    double s[3];
    fp.ops->score(fp.state, &cy, f.c, 3, s);
    assert_float_equal(s[0], 0.5, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    fx_plugin_free(&fp);
    /* llm-d's factory: queueThresholdTokens <= 0 falls back to the default (here with a
     * warning) */
    const char *const le0[] = {"queueThresholdTokens: 0\n", "queueThresholdTokens: -5\n"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(fx_plugin_new(&fp, "token-load-scorer", le0[k], err, sizeof err), 0);
        fp.ops->score(fp.state, &cy, f.c, 3, s);
        assert_float_equal(s[0], 0.5, FX_EPS);
        assert_float_equal(s[1], 0.0, FX_EPS);
        assert_float_equal(s[2], 1.0, FX_EPS);
        fx_plugin_free(&fp);
    }
    assert_int_not_equal(
        fx_plugin_new(&fp, "token-load-scorer", "queueThresholdTokens: lots\n", err, sizeof err),
        0);
    assert_non_null(strstr(err, "queueThresholdTokens"));
    sy_pool_unref(f.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_and_lookahead),
        cmocka_unit_test(test_default_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
