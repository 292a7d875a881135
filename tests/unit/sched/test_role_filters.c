/* Unit tests for the role filters src/sched/decode_filter.c, prefill_filter.c and encode_filter.c
 * (llm-d.ai/role semantics): one fleet of every role spelling, and which endpoints each keeps.
 * And the keeps hook of every label filter (the three role filters, by-label,
 * label-selector-filter): over a fleet labelled each role, unlabeled and with other labels, keeps
 * says yes for exactly the endpoints the filter hook keeps, and those are the expected ones. */
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

#define NKEEP 11

/* Writes, for plugin type (params YAML or NULL), the endpoints of the fleet below that its keeps
 * hook keeps into by_keeps and those its filter hook keeps into by_filter (as fx_survivors). */
static void keeps_and_filter(const char *type, const char *params, char by_keeps[NKEEP + 1],
                             char by_filter[NKEEP + 1])
{
    static const char *const labels[NKEEP] = {
        "llm-d.ai/role=decode",
        "llm-d.ai/role=prefill",
        "llm-d.ai/role=both",
        "llm-d.ai/role=prefill-decode",
        "llm-d.ai/role=encode",
        "llm-d.ai/role=encode-prefill",
        "llm-d.ai/role=encode-prefill-decode",
        NULL,                          /* no label at all */
        "zone=a",                      /* other labels only */
        "llm-d.ai/role=decode,zone=b", /* a role and another label */
        "llm-d.ai/role=prefill,zone=a",
    };
    struct sy_endpoint *eps[NKEEP];
    for (int i = 0; i < NKEEP; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "k%d:1", i);
        eps[i] = fx_ep(addr, labels[i], 0, 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, NKEEP);
    struct fx_plugin fp;
    char err[400];
    if (fx_plugin_new(&fp, type, params, err, sizeof err))
        fail_msg("%s", err);
    assert_non_null(fp.ops->keeps);
    size_t m = 0;
    for (size_t i = 0; i < NKEEP; i++)
        if (fp.ops->keeps(fp.state, p->eps[i]))
            by_keeps[m++] = (char)('0' + i);
    by_keeps[m] = '\0';
    fx_plugin_free(&fp);
    fx_survivors(p, type, params, by_filter);
}

static void test_keeps_matches_filter(void **state)
{
    static const struct {
        const char *type, *params, *want;
    } cases[] = {
        /* digits are fleet indices, '0' + 10 = ':' */
        {"decode-filter", NULL, "0236789"},
        {"prefill-filter", NULL, "12356:"},
        {"encode-filter", NULL, "456"},
        {"by-label", "{label: zone, validValues: [a]}", "8:"},
        {"by-label", "{label: zone, validValues: [b], allowsNoLabel: true}", "012345679"},
        {"label-selector-filter",
         "{matchLabels: {zone: a}, matchExpressions: [{key: llm-d.ai/role, operator: In, "
         "values: [prefill]}]}",
         ":"},
        {"label-selector-filter",
         "{matchExpressions: [{key: llm-d.ai/role, operator: NotIn, values: [decode, both]}]}",
         "1345678:"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char by_keeps[NKEEP + 1], by_filter[NKEEP + 1];
        keeps_and_filter(cases[k].type, cases[k].params, by_keeps, by_filter);
        if (strcmp(by_keeps, by_filter) || strcmp(by_keeps, cases[k].want))
            fail_msg("%s %s: keeps %s, filter %s, want %s", cases[k].type,
                     cases[k].params ? cases[k].params : "", by_keeps, by_filter, cases[k].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_filter),
        cmocka_unit_test(test_prefill_filter),
        cmocka_unit_test(test_encode_filter),
        cmocka_unit_test(test_keeps_matches_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
