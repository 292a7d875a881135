/* Unit tests for the role filters src/sched/decode_filter.c, prefill_filter.c and encode_filter.c
 * (llm-d.ai/role semantics): one fleet of every role spelling, and which endpoints each keeps.
 * And the keeps hook of every filter that has one (the three role filters, by-label,
 * label-selector-filter, priority-reservation-filter, context-length-aware): over a fleet labelled
 * each role, unlabeled and with other labels, keeps says yes for exactly the endpoints the filter
 * hook keeps, and those are the expected ones. */
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

/* Writes, for plugin type (params YAML or NULL) and a request of priority prio and a completions
 * prompt of tokens estimate tokens (4 bytes each), the endpoints of the fleet below that its keeps
 * hook keeps into by_keeps and those its filter hook keeps into by_filter (digits of the fleet
 * indices, '0' + 10 = ':'). */
static void keeps_and_filter(const char *type, const char *params, int prio, uint32_t tokens,
                             char by_keeps[NKEEP + 1], char by_filter[NKEEP + 1])
{
    static const char *const labels[NKEEP] = {
        "llm-d.ai/role=decode",
        "llm-d.ai/role=prefill",
        "llm-d.ai/role=both",
        "llm-d.ai/role=prefill-decode",
        "llm-d.ai/role=encode",
        "llm-d.ai/role=encode-prefill",
        "llm-d.ai/role=encode-prefill-decode",
        NULL,                                      /* no label at all */
        "zone=a,ctx=0-100",                        /* other labels only */
        "llm-d.ai/role=decode,zone=b,ctx=500-900", /* a role and other labels */
        "llm-d.ai/role=prefill,zone=a,ctx=bogus",
    };
    struct sy_endpoint *eps[NKEEP];
    for (int i = 0; i < NKEEP; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "k%d:1", i);
        eps[i] = fx_ep(addr, labels[i], 0, 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, NKEEP);
    struct sy_request r;
    fx_req(&r, "m", tokens);
    r.priority = prio;
    static char body[4096];
    assert_true(tokens * 4 + 16 < sizeof body);
    int k = snprintf(body, sizeof body, "{\"prompt\":\"");
    memset(body + k, 'x', tokens * 4);
    snprintf(body + k + tokens * 4, 3, "\"}");
    r.body = body;
    r.body_len = strlen(body);
    r.prompt = (struct sy_str){body + k, tokens * 4};
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[400];
    if (fx_plugin_new(&fp, type, params, err, sizeof err))
        fail_msg("%s", err);
    assert_non_null(fp.ops->keeps);
    size_t m = 0;
    for (size_t i = 0; i < NKEEP; i++)
        if (fp.ops->keeps(fp.state, &cy, p->eps[i]))
            by_keeps[m++] = (char)('0' + i);
    by_keeps[m] = '\0';
    struct sy_sched_candidate c[NKEEP];
    fx_cands(p, c);
    m = fp.ops->filter(fp.state, &cy, c, NKEEP);
    for (size_t i = 0; i < m; i++)
        by_filter[i] = (char)('0' + c[i].pool_index);
    by_filter[m] = '\0';
    if (fp.ops->done)
        fp.ops->done(fp.state, &cy, NULL, false);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

/* Every plugin with a keeps hook: keeps says yes for exactly the endpoints its filter keeps, and
 * those are the expected ones (a keeps that returned true, or disagreed with the filter, fails). */
static void test_keeps_matches_filter(void **state)
{
    static const struct {
        const char *type, *params;
        int prio;
        uint32_t tokens;
        const char *want;
    } cases[] = {
        {"decode-filter", NULL, 0, 10, "0236789"},
        {"prefill-filter", NULL, 0, 10, "12356:"},
        {"encode-filter", NULL, 0, 10, "456"},
        {"by-label", "{label: zone, validValues: [a]}", 0, 10, "8:"},
        {"by-label", "{label: zone, validValues: [b], allowsNoLabel: true}", 0, 10, "012345679"},
        {"label-selector-filter",
         "{matchLabels: {zone: a}, matchExpressions: [{key: llm-d.ai/role, operator: In, "
         "values: [prefill]}]}",
         0, 10, ":"},
        {"label-selector-filter",
         "{matchExpressions: [{key: llm-d.ai/role, operator: NotIn, values: [decode, both]}]}", 0,
         10, "1345678:"},
        /* below minPriority the reserved (zone a) endpoints are dropped; at it none is */
        {"priority-reservation-filter", "{reserved: {matchLabels: {zone: a}}}", 0, 10, "012345679"},
        {"priority-reservation-filter", "{reserved: {matchLabels: {zone: a}}}", 1, 10,
         "0123456789:"},
        /* labelled endpoints whose range excludes the prompt, or unparseable, are dropped */
        {"context-length-aware", "{label: ctx, enableFiltering: true}", 0, 50, "012345678"},
        {"context-length-aware", "{label: ctx, enableFiltering: true}", 0, 600, "012345679"},
        {"context-length-aware", "{label: ctx}", 0, 600, "0123456789:"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char by_keeps[NKEEP + 1], by_filter[NKEEP + 1];
        keeps_and_filter(cases[k].type, cases[k].params, cases[k].prio, cases[k].tokens, by_keeps,
                         by_filter);
        if (strcmp(by_keeps, by_filter) || strcmp(by_keeps, cases[k].want))
            fail_msg("%s %s (priority %d, %u tokens): keeps %s, filter %s, want %s", cases[k].type,
                     cases[k].params ? cases[k].params : "", cases[k].prio,
                     (unsigned)cases[k].tokens, by_keeps, by_filter, cases[k].want);
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
