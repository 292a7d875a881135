/* Unit tests for src/sched/data_layer.c: llm-d's data-layer plugins accepted at their defaults
 * (the pool scraper does the work), refused when a parameter asks for something else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_metrics_data_source(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "metrics-data-source", NULL, err, sizeof err), 0);
    assert_int_equal(fx_plugin_new(&fp, "metrics-data-source",
                                   "scheme: http\npath: /metrics\ninsecureSkipVerify: true\n", err,
                                   sizeof err),
                     0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "metrics-data-source", "scheme: https\n", err, sizeof err), 0);
    assert_string_equal(err, "t.yaml:1: plugins[0].parameters.scheme: 'https' is not supported: "
                             "Switchyard's pool scraper fetches /metrics over http (plugin "
                             "'metrics-data-source')");
    assert_int_not_equal(
        fx_plugin_new(&fp, "metrics-data-source", "interval: 1s\n", err, sizeof err), 0);
    const struct sy_plugin_ops *o = sy_sched__registry_find("metrics-data-source");
    assert_null(o->filter);
    assert_null(o->score);
    assert_null(o->pick);
    assert_null(o->produce);
}

static void test_extractor_and_notifications(void **state)
{
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "core-metrics-extractor", NULL, err, sizeof err), 0);
    assert_int_equal(fx_plugin_new(&fp, "endpoint-notification-source", NULL, err, sizeof err), 0);
    assert_int_not_equal(
        fx_plugin_new(&fp, "core-metrics-extractor", "engineConfigs: []\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "engineConfigs: unknown parameter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_data_source),
        cmocka_unit_test(test_extractor_and_notifications),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
