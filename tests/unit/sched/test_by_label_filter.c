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
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "by-label", params, err, sizeof err), 0);
    size_t n = fp.ops->filter(fp.state, &cy, c, 4);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('0' + c[i].pool_index);
    out[n] = '\0';
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    return out;
}

static void test_by_label(void **state)
{
    char o[8];
    assert_string_equal(survivors("label: zone\nvalidValues: [a, c]\n", o), "02");
    assert_string_equal(survivors("label: zone\nvalidValues: [b]\nallowsNoLabel: true\n", o), "13");
    assert_string_equal(survivors("label: zone\n", o), "");
    struct fx_plugin fp;
    char err[256];
    assert_int_not_equal(fx_plugin_new(&fp, "by-label", "validValues: [a]\n", err, sizeof err), 0);
    assert_non_null(strstr(err, "label: is required"));
    assert_int_not_equal(
        fx_plugin_new(&fp, "by-label", "label: zone\nallowsNoLabel: maybe\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_by_label)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
