/* Unit tests for src/sched/endpoint_attribute_filter.c and endpoint_attribute_scorer.c, from
 * llm-d's endpointattribute filter_test.go / endpointattribute_test.go cases: thresholds,
 * onMissing, fallbackOnEmpty, adaptive and fixed normalization, and the Factory refusals; plus
 * the attribute read from a /metrics scrape (pool/attrs.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "pool/attrs.h"
#include "unit/sched/sched_helpers.h"

#define ATTR "custom_queue_depth"

/* Endpoints with the attribute (NAN = missing); their candidates into c unless NULL. */
static struct sy_pool *pool_with(const double *vals, size_t n, struct sy_sched_candidate *c)
{
    char err[128];
    int slot = sy_attr_register(ATTR, err, sizeof err);
    assert_true(slot >= 0);
    struct sy_endpoint *eps[8];
    for (size_t i = 0; i < n; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, 0, 0, 0);
        sy_endpoint_set_attr(eps[i], slot, vals[i], !isnan(vals[i]));
    }
    struct sy_pool *p = fx_pool(eps, n);
    if (c)
        fx_cands(p, c);
    return p;
}

static const char *filt(const char *params, const double *vals, size_t n, char *out)
{
    return fx_survivors(pool_with(vals, n, NULL), "endpoint-attribute-filter", params, out);
}

static void test_filter(void **state)
{
    char o[9];
    static const double v[4] = {3, 10, 12, NAN};
#define TH(op, val)                                                                                \
    "attribute: " ATTR "\nalgorithm: {type: threshold, threshold: {operator: " op ", value: " val  \
    "}}\n"
    assert_string_equal(filt(TH("LessThan", "10"), v, 4, o), "03"); /* missing passes */
    assert_string_equal(filt(TH("LessThanOrEqual", "10"), v, 4, o), "013");
    assert_string_equal(filt(TH("GreaterThan", "10"), v, 4, o), "23");
    assert_string_equal(filt(TH("GreaterThanOrEqual", "10"), v, 4, o), "123");
    assert_string_equal(filt(TH("Equal", "10"), v, 4, o), "13");
    assert_string_equal(filt(TH("NotEqual", "10"), v, 4, o), "023");
    assert_string_equal(filt(TH("LessThan", "10") "onMissing: Fail\n", v, 4, o), "0");
    assert_string_equal(filt(TH("LessThan", "1") "onMissing: Fail\n", v, 4, o), "");
    assert_string_equal(
        filt(TH("LessThan", "1") "onMissing: Fail\nfallbackOnEmpty: true\n", v, 4, o), "0123");
}

static void scores(const char *params, const double *vals, size_t n, double *s)
{
    struct sy_sched_candidate c[8];
    struct sy_pool *p = pool_with(vals, n, c);
    struct fx_plugin fp;
    char err[400];
    if (fx_plugin_new(&fp, "endpoint-attribute-scorer", params, err, sizeof err))
        fail_msg("%s", err);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    fp.ops->score(fp.state, &cy, c, n, s);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void test_scorer(void **state)
{
    double s[3];
    static const double v[3] = {10, 5, 0};
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_lower_is_better}\n", v, 3, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_higher_is_better, normalization: "
           "{adaptiveRange: {}}}\n",
           v, 3, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[2], 0.0, FX_EPS);
    static const double same[2] = {7, 7};
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_lower_is_better}\n", same, 2, s);
    assert_float_equal(s[0], 1.0, FX_EPS); /* neutral */
    assert_float_equal(s[1], 1.0, FX_EPS);
    static const double miss[3] = {10, NAN, 0};
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_lower_is_better}\n", miss, 3, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 0.0, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    static const double none[2] = {NAN, NAN};
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_lower_is_better}\n", none, 2, s);
    assert_float_equal(s[0] + s[1], 0.0, FX_EPS);
    /* fixed range [0, 10]; equal values score by position; out of range clamps */
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_lower_is_better, normalization: "
           "{fixedRange: {min: 0, max: 10}}}\n",
           v, 3, s);
    assert_float_equal(s[0], 0.0, FX_EPS);
    assert_float_equal(s[1], 0.5, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
    static const double out[3] = {7, 7, 20};
    scores("attributeKey: " ATTR "\nalgorithm: {type: linear_higher_is_better, normalization: "
           "{fixedRange: {min: 0, max: 10}}}\n",
           out, 3, s);
    assert_float_equal(s[0], 0.7, FX_EPS);
    assert_float_equal(s[1], 0.7, FX_EPS);
    assert_float_equal(s[2], 1.0, FX_EPS);
}

static void test_factory_errors(void **state)
{
    static const struct {
        const char *type, *params, *why;
    } bad[] = {
        {"endpoint-attribute-scorer", "algorithm: {type: linear_lower_is_better}\n",
         "requires a non-empty attributeKey"},
        {"endpoint-attribute-scorer", "attributeKey: a\n", "algorithm.type"},
        {"endpoint-attribute-scorer", "attributeKey: a\nalgorithm: {type: log}\n",
         "algorithm.type"},
        {"endpoint-attribute-scorer",
         "attributeKey: a\nalgorithm: {type: linear_lower_is_better, normalization: {fixedRange: "
         "{min: 0, max: 1}, adaptiveRange: {}}}\n",
         "at most one normalization strategy"},
        {"endpoint-attribute-scorer",
         "attributeKey: a\nalgorithm: {type: linear_lower_is_better, normalization: {fixedRange: "
         "{min: 1, max: 1}}}\n",
         "min < max"},
        {"endpoint-attribute-scorer",
         "attributeKey: GPUUtilization/dcgm-extractor\nalgorithm: {type: linear_lower_is_better}\n",
         "split it into attributeKey: \"GPUUtilization\" and producer: \"dcgm-extractor\""},
        {"endpoint-attribute-scorer",
         "attributeKey: GPUUtilization\nproducer: dcgm-extractor\nalgorithm: {type: "
         "linear_lower_is_better}\n",
         "attributes of 'dcgm-extractor' are not available"},
        {"endpoint-attribute-filter",
         "algorithm: {type: threshold, threshold: {operator: "
         "LessThan, value: 1}}\n",
         "requires a non-empty attribute"},
        {"endpoint-attribute-filter", "attribute: a\nalgorithm: {type: percentile}\n",
         "algorithm.type must be \"threshold\""},
        {"endpoint-attribute-filter", "attribute: a\nalgorithm: {type: threshold}\n",
         "requires algorithm.threshold"},
        {"endpoint-attribute-filter",
         "attribute: a\nalgorithm: {type: threshold, threshold: {operator: Less, value: 1}}\n",
         "threshold.operator must be one of"},
        {"endpoint-attribute-filter",
         "attribute: a\nonMissing: Skip\nalgorithm: {type: threshold, threshold: {operator: "
         "LessThan, value: 1}}\n",
         "onMissing must be \"Pass\" or \"Fail\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fx_plugin fp;
        char err[400];
        assert_int_not_equal(fx_plugin_new(&fp, bad[i].type, bad[i].params, err, sizeof err), 0);
        if (!strstr(err, bad[i].why))
            fail_msg("case %zu: %s", i, err);
    }
    /* an explicit empty producer allows a slash in the name */
    struct fx_plugin fp;
    char err[400];
    assert_int_equal(fx_plugin_new(&fp, "endpoint-attribute-scorer",
                                   "attributeKey: a/b\nproducer: \"\"\nalgorithm: {type: "
                                   "linear_lower_is_better}\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
}

static void test_scrape(void **state)
{
    char err[128];
    int gold = sy_attr_register("custom_queue_depth{tier=gold}", err, sizeof err);
    int all = sy_attr_register("custom_queue_depth", err, sizeof err);
    int quoted = sy_attr_register("vllm:x{a=\"1\", b=\"q\\\"z\"}", err, sizeof err);
    assert_true(gold >= 0 && all >= 0 && quoted >= 0);
    assert_int_equal(sy_attr_register("custom_queue_depth", err, sizeof err), all);
    assert_int_equal(sy_attr_register("bad{x", err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a metric selector"));
    struct sy_endpoint *e = fx_ep("e:1", NULL, 0, 0, 0);
    static const char text[] = "# TYPE custom_queue_depth gauge\n"
                               "custom_queue_depth{tier=\"gold\"} 3\n"
                               "custom_queue_depth{tier=\"silver\"} 4\n"
                               "vllm:x{a=\"1\",b=\"q\\\"z\"} 2.5\n";
    sy_attr_scrape(e, text, sizeof text - 1);
    double v;
    assert_true(sy_endpoint_attr(e, gold, &v));
    assert_float_equal(v, 3, FX_EPS);
    assert_true(sy_endpoint_attr(e, all, &v));
    assert_float_equal(v, 7, FX_EPS);
    assert_true(sy_endpoint_attr(e, quoted, &v));
    assert_float_equal(v, 2.5, FX_EPS);
    static const char later[] = "other 1\n";
    sy_attr_scrape(e, later, sizeof later - 1);
    assert_false(sy_endpoint_attr(e, all, &v)); /* gone from the scrape: missing */
    sy_endpoint_unref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_filter), cmocka_unit_test(test_scorer),
                                       cmocka_unit_test(test_factory_errors),
                                       cmocka_unit_test(test_scrape)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
