/* Unit tests for src/sched/encode_filter.c (llm-d.ai/role semantics of encode-filter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_roles(void **state)
{
    static const char *const roles[] = {"decode",
                                        "prefill",
                                        "both",
                                        "prefill-decode",
                                        "encode",
                                        "encode-prefill",
                                        "encode-prefill-decode",
                                        NULL,
                                        "Decode"};
    struct sy_endpoint *eps[9];
    for (int i = 0; i < 9; i++) {
        char addr[32], lab[64];
        snprintf(addr, sizeof addr, "e%d:1", i);
        snprintf(lab, sizeof lab, "llm-d.ai/role=%s", roles[i] ? roles[i] : "");
        eps[i] = fx_ep(addr, roles[i] ? lab : "zone=x", 0, 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, 9);
    struct sy_sched_candidate c[9];
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "encode-filter", NULL, err, sizeof err), 0);
    size_t n = fp.ops->filter(fp.state, &cy, c, 9);
    char got[16];
    for (size_t i = 0; i < n; i++)
        got[i] = (char)('0' + c[i].pool_index);
    got[n] = '\0';
    assert_string_equal(got, "456");
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
