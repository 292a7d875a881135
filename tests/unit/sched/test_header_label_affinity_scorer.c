/* Unit tests for src/sched/header_label_affinity_scorer.c, from llm-d's headerlabelaffinity
 * plugin_test.go cases (matching label 1, unknown value / missing header / no request 0, and the
 * Factory's required parameters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_llmd_scores(void **state)
{
    struct sy_endpoint *eps[] = {
        fx_ep("a:1", "slice=slice-a", 0, 0, 0), fx_ep("b:1", "slice=slice-b", 0, 0, 0),
        fx_ep("c:1", "other=slice-a", 0, 0, 0), fx_ep("d:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "header-label-affinity-scorer",
                                   "headerName: X-Slice\nlabelKey: slice\n", err, sizeof err),
                     0);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_str hn[1] = {sy_str_c("x-slice")}, hv[1] = {sy_str_c("slice-a")};
    r.header_names = hn;
    r.header_values = hv;
    r.nheaders = 1;
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    double s[4];
    fp.ops->score(fp.state, &cy, c, 4, s);
    static const double match[4] = {1, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], match[i], FX_EPS);
    hv[0] = sy_str_c("unknown");
    fp.ops->score(fp.state, &cy, c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0, FX_EPS);
    r.nheaders = 0;
    fp.ops->score(fp.state, &cy, c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0, FX_EPS);
    cy.req = NULL;
    fp.ops->score(fp.state, &cy, c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void test_llmd_factory(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(fx_plugin_new(&fp, "header-label-affinity-scorer", NULL, err, sizeof err),
                         0);
    assert_non_null(strstr(err, "requires parameters"));
    assert_int_not_equal(fx_plugin_new(&fp, "header-label-affinity-scorer",
                                       "labelKey: disaggregatedset.x-k8s.io/slice\n", err,
                                       sizeof err),
                         0);
    assert_non_null(strstr(err, "headerName is required"));
    assert_int_not_equal(fx_plugin_new(&fp, "header-label-affinity-scorer",
                                       "headerName: x-disagg-slice\n", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "labelKey is required"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_llmd_scores),
                                       cmocka_unit_test(test_llmd_factory)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
