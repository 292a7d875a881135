/* Unit tests for src/sched/by_label_filter.c (deprecated by-label: label, validValues,
 * allowsNoLabel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static const char *survivors(const char *params, char *out)
{
    struct sy_endpoint *eps[] = {fx_ep("e0:1", "zone=a", 0, 0, 0), fx_ep("e1:1", "zone=b", 0, 0, 0),
                                 fx_ep("e2:1", "zone=c", 0, 0, 0), fx_ep("e3:1", NULL, 0, 0, 0)};
    return fx_survivors(fx_pool(eps, 4), "by-label", params, out);
}

static void test_by_label(void **state)
{
    char o[8];
    assert_string_equal(survivors("label: zone\nvalidValues: [a, c]\n", o), "02");
    assert_string_equal(survivors("label: zone\nvalidValues: [b]\nallowsNoLabel: true\n", o), "13");
    assert_string_equal(survivors("label: zone\nallowsNoLabel: true\n", o), "3");
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(fx_plugin_new(&fp, "by-label", "validValues: [a]\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "label: is required"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "by-label", "label: zone\nallowsNoLabel: maybe\n", err, sizeof err), 0);
}

/* llm-d's filter_test.go Factory cases: the two contradictions (empty validValues, or none, with
 * allowsNoLabel false) are refused; allowsNoLabel true with empty validValues is fine. */
static void test_llmd_factory_contradiction(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(
        fx_plugin_new(&fp, "by-label",
                      "label: llm-d.ai/role\nallowsNoLabel: false\nvalidValues: []\n", err,
                      sizeof err),
        0);
    assert_string_equal(err, "t.yaml:3: plugins[0].parameters.validValues: either 'validValues' "
                             "must be non-empty or 'allowsNoLabel' must be true (plugin "
                             "'by-label')");
    assert_int_not_equal(fx_plugin_new(&fp, "by-label",
                                       "label: llm-d.ai/role\nallowsNoLabel: false\n", err,
                                       sizeof err),
                         0);
    assert_non_null(strstr(err, "either 'validValues' must be non-empty"));
    assert_int_equal(fx_plugin_new(&fp, "by-label",
                                   "label: llm-d.ai/role\nallowsNoLabel: true\nvalidValues: []\n",
                                   err, sizeof err),
                     0);
    fx_plugin_free(&fp);
    assert_int_equal(
        fx_plugin_new(&fp, "by-label",
                      "label: llm-d.ai/role\nallowsNoLabel: false\nvalidValues: [prefill]\n", err,
                      sizeof err),
        0);
    fx_plugin_free(&fp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_by_label),
                                       cmocka_unit_test(test_llmd_factory_contradiction)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
