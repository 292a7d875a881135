/* Unit tests for the role filters src/sched/decode_filter.c, prefill_filter.c and encode_filter.c
 * (llm-d.ai/role semantics): one fleet of every role spelling, and which endpoints each keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

#define NEPS 9

/* Runs filter `type` over the fleet and returns the kept endpoints as a digit string. */
static void kept_by(const char *type, char got[NEPS + 1])
{
    static const char *const roles[NEPS] = {"decode",
                                            "prefill",
                                            "both",
                                            "prefill-decode",
                                            "encode",
                                            "encode-prefill",
                                            "encode-prefill-decode",
                                            NULL, /* no role label */
                                            "Decode"};
    struct sy_endpoint *eps[NEPS];
    for (int i = 0; i < NEPS; i++) {
        char addr[32], lab[64];
        snprintf(addr, sizeof addr, "e%d:1", i);
        snprintf(lab, sizeof lab, "llm-d.ai/role=%s", roles[i] ? roles[i] : "");
        eps[i] = fx_ep(addr, roles[i] ? lab : "zone=x", 0, 0, 0);
    }
    fx_survivors(fx_pool(eps, NEPS), type, NULL, got);
}

static void test_decode_filter(void **state)
{
    char got[NEPS + 1];
    kept_by("decode-filter", got);
    /* decode, both, prefill-decode, encode-prefill-decode, unlabelled (llm-d: no role = any) */
    assert_string_equal(got, "02367");
}

static void test_prefill_filter(void **state)
{
    char got[NEPS + 1];
    kept_by("prefill-filter", got);
    assert_string_equal(got, "12356");
}

static void test_encode_filter(void **state)
{
    char got[NEPS + 1];
    kept_by("encode-filter", got);
    assert_string_equal(got, "456");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_filter),
        cmocka_unit_test(test_prefill_filter),
        cmocka_unit_test(test_encode_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
