/* Unit tests for src/sched/utilization_filter.c, from llm-d's filter/utilization filter_test.go
 * cases (caps per metric, several conditions, fallbackOnEmpty, the Factory's refusals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

/* Endpoints e0..: waiting, running, kv, inflight per row. Returns survivors as digits. */
static const char *run(const char *params, const double (*rows)[4], size_t n, char *out)
{
    struct sy_endpoint *eps[8];
    for (size_t i = 0; i < n; i++) {
        char a[16];
        snprintf(a, sizeof a, "e%zu:1", i);
        eps[i] = fx_ep(a, NULL, rows[i][0], rows[i][1], rows[i][2]);
        atomic_store(&eps[i]->inflight_requests, (int64_t)rows[i][3]);
    }
    return fx_survivors(fx_pool(eps, n), "utilization-filter", params, out);
}

static void test_llmd_cases(void **state)
{
    char o[9];
    /* waiting, running, kv, inflight */
    static const double active[3][4] = {{0, 0, 0, 1}, {0, 0, 0, 2}, {0, 0, 0, 3}};
    assert_string_equal(run("conditions: [{metric: active-requests, maxValue: 2}]\n", active, 3, o),
                        "01");
    static const double running[2][4] = {{0, 4, 0, 0}, {0, 5, 0, 0}};
    assert_string_equal(
        run("conditions: [{metric: running-requests, maxValue: 4}]\n", running, 2, o), "0");
    static const double waiting[2][4] = {{0, 0, 0, 0}, {3, 0, 0, 0}};
    assert_string_equal(run("conditions: [{metric: waiting-queue, maxValue: 0}]\n", waiting, 2, o),
                        "0");
    static const double kv[2][4] = {{0, 0, 0.5, 0}, {0, 0, 0.9, 0}};
    assert_string_equal(
        run("conditions: [{metric: kv-cache-utilization, maxValue: 0.8}]\n", kv, 2, o), "0");
    static const double multi[3][4] = {{0, 10, 0, 0}, {0, 41, 0, 0}, {1, 10, 0, 0}};
    assert_string_equal(run("conditions:\n- {metric: running-requests, maxValue: 40}\n"
                            "- {metric: waiting-queue, maxValue: 0}\n",
                            multi, 3, o),
                        "0");
    static const double mix[3][4] = {{0, 0, 0.1, 1}, {0, 0, 0.1, 11}, {0, 0, 0.9, 0}};
    assert_string_equal(run("conditions:\n- {metric: active-requests, maxValue: 10}\n"
                            "- {metric: kv-cache-utilization, maxValue: 0.8}\n",
                            mix, 3, o),
                        "0");
    static const double busy[2][4] = {{0, 0, 0, 5}, {0, 0, 0, 6}};
    assert_string_equal(run("conditions: [{metric: active-requests, maxValue: 1}]\n", busy, 2, o),
                        "");
    assert_string_equal(run("conditions: [{metric: active-requests, maxValue: 1}]\n"
                            "fallbackOnEmpty: true\n",
                            busy, 2, o),
                        "01");
    /* an endpoint that does not report a metric (-1) counts as 0 */
    static const double unknown[1][4] = {{-1, -1, -1, 0}};
    assert_string_equal(run("conditions: [{metric: waiting-queue, maxValue: 0}]\n"
                            "inFlightLoadProducerName: inflight\n",
                            unknown, 1, o),
                        "0");
}

static void test_llmd_factory_errors(void **state)
{
    static const char *const bad[] = {
        "fallbackOnEmpty: true\n",
        "conditions: [{maxValue: 1}]\n",
        "conditions: [{metric: unknown, maxValue: 1}]\n",
        "conditions: [{metric: active-requests}]\n",
        "conditions: [{metric: active-requests, maxValue: -1}]\n",
        "conditions: [{metric: kv-cache-utilization, maxValue: 80}]\n",
    };
    static const char *const why[] = {
        "requires at least one condition",
        "metric must be one of",
        "got \"unknown\"",
        "requires maxValue",
        "non-negative maxValue, got -1",
        "must be at most 1, got 80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fx_plugin fp;
        char err[400];
        assert_int_not_equal(fx_plugin_new(&fp, "utilization-filter", bad[i], err, sizeof err), 0);
        if (!strstr(err, why[i]))
            fail_msg("case %zu: %s", i, err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_llmd_cases),
                                       cmocka_unit_test(test_llmd_factory_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
