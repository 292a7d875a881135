/* Unit tests for src/sched/label_selector_filter.c (Kubernetes label-selector semantics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

/* Runs the filter over 4 endpoints; returns the survivors as a string of indices, e.g. "02". */
static const char *survivors(const char *params, char *out)
{
    struct sy_endpoint *eps[] = {fx_ep("e0:1", "llm-d.ai/role=decode,zone=a", 0, 0, 0),
                                 fx_ep("e1:1", "llm-d.ai/role=prefill,zone=b", 0, 0, 0),
                                 fx_ep("e2:1", "zone=a", 0, 0, 0), fx_ep("e3:1", NULL, 0, 0, 0)};
    return fx_survivors(fx_pool(eps, 4), "label-selector-filter", params, out);
}

static void test_match_labels(void **state)
{
    char o[8];
    assert_string_equal(survivors("matchLabels:\n  zone: a\n", o), "02");
    assert_string_equal(survivors("matchLabels:\n  zone: a\n  llm-d.ai/role: decode\n", o), "0");
    assert_string_equal(survivors("matchLabels:\n  zone: c\n", o), "");
    assert_string_equal(survivors(NULL, o), "0123"); /* empty selector matches everything */
}

static void test_match_expressions(void **state)
{
    char o[8];
    assert_string_equal(
        survivors("matchExpressions:\n- key: zone\n  operator: NotIn\n  values: [a]\n", o),
        "13"); /* NotIn also matches endpoints without the label */
    assert_string_equal(
        survivors("matchExpressions:\n- {key: llm-d.ai/role, operator: Exists}\n", o), "01");
    assert_string_equal(survivors("matchExpressions:\n- {key: zone, operator: DoesNotExist}\n", o),
                        "3");
    assert_string_equal(
        survivors("matchLabels: {llm-d.ai/role: decode}\n"
                  "matchExpressions:\n- {key: zone, operator: In, values: [a, b]}\n",
                  o),
        "0");
}

static void test_errors(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(fx_plugin_new(&fp, "label-selector-filter",
                                       "matchExpressions:\n- key: zone\n  operator: Equals\n"
                                       "  values: [a]\n",
                                       err, sizeof err),
                         0);
    assert_string_equal(err, "t.yaml:2: plugins[0].parameters.matchExpressions[0]: operator "
                             "'Equals' is not In, NotIn, Exists or DoesNotExist (plugin "
                             "'label-selector-filter')");
    assert_int_not_equal(fx_plugin_new(&fp, "label-selector-filter",
                                       "matchExpressions:\n- {key: zone, operator: In}\n", err,
                                       sizeof err),
                         0);
    assert_non_null(strstr(err, "operator In needs non-empty 'values'"));
    assert_int_not_equal(fx_plugin_new(&fp, "label-selector-filter",
                                       "matchExpressions:\n- {key: z, operator: Exists, values: "
                                       "[a]}\n",
                                       err, sizeof err),
                         0);
    assert_non_null(strstr(err, "takes no 'values'"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "label-selector-filter", "matchLabels: [a]\n", err, sizeof err), 0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "label-selector-filter", "selector: {}\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "selector: unknown parameter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_labels),
        cmocka_unit_test(test_match_expressions),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
