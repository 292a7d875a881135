/* Unit tests for the P/D scheduling plugins: src/sched/disagg_profile_handler.c
 * (disagg-profile-handler, pd-profile-handler), header_profile_handler.c,
 * prefix_based_pd_decider.c, always_disagg_pd_decider.c, disagg_headers_handler.c, and the
 * multi-profile pipeline they drive in sched.c (decode then prefill runs, both picks recorded in
 * the approximate prefix index, prefill repick). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "unit/sched/sched_helpers.h"

#define PD_YAML(handler_params, extra_plugins)                                                     \
    "plugins:\n"                                                                                   \
    "- type: prefill-filter\n"                                                                     \
    "- type: decode-filter\n"                                                                      \
    "- type: prefix-cache-scorer\n"                                                                \
    "- type: queue-scorer\n"                                                                       \
    "- type: max-score-picker\n" extra_plugins "- type: disagg-profile-handler\n"                  \
    "  parameters:\n" handler_params "schedulingProfiles:\n"                                       \
    "- name: prefill\n"                                                                            \
    "  plugins:\n"                                                                                 \
    "  - pluginRef: prefill-filter\n"                                                              \
    "  - pluginRef: max-score-picker\n"                                                            \
    "  - pluginRef: prefix-cache-scorer\n"                                                         \
    "    weight: 2\n"                                                                              \
    "  - pluginRef: queue-scorer\n"                                                                \
    "- name: decode\n"                                                                             \
    "  plugins:\n"                                                                                 \
    "  - pluginRef: decode-filter\n"                                                               \
    "  - pluginRef: max-score-picker\n"                                                            \
    "  - pluginRef: prefix-cache-scorer\n"                                                         \
    "    weight: 2\n"                                                                              \
    "  - pluginRef: queue-scorer\n"

#define PREFIX_DECIDER "- type: prefix-based-pd-decider\n  parameters: {nonCachedTokens: 16}\n"

/* Pool: p1 prefill (idle), p2 prefill (busy), d1 decode (idle), d2 decode (busy). */
static struct sy_pool *pd_pool(void)
{
    struct sy_endpoint *eps[] = {
        fx_ep("p1:1", "llm-d.ai/role=prefill", 0, 0, 0),
        fx_ep("p2:1", "llm-d.ai/role=prefill", 5, 0, 0),
        fx_ep("d1:1", "llm-d.ai/role=decode", 0, 0, 0),
        fx_ep("d2:1", "llm-d.ai/role=decode", 5, 0, 0),
    };
    return fx_pool(eps, 4);
}

struct preq {
    struct sy_request r;
    char body[4096];
};

/* A chat request whose messages text is 2000 characters (500 estimated tokens). */
/* A chat request whose prompt is len generated letters (len <= 2000). */
static void pd_req_len(struct preq *q, char seed, int len)
{
    fx_req(&q->r, "m", 500);
    q->r.kind = SY_API_CHAT_COMPLETIONS;
    int n = snprintf(q->body, sizeof q->body, "{\"messages\":\"");
    for (int i = 0; i < len; i++)
        q->body[n + i] = (char)('a' + (seed + i * 7) % 26);
    q->body[n + len] = '"';
    q->body[n + len + 1] = '}';
    q->body[n + len + 2] = '\0';
    q->r.body = q->body;
    q->r.body_len = strlen(q->body);
    q->r.prompt = (struct sy_str){q->body + 12, (size_t)len + 2};
}

static void pd_req(struct preq *q, char seed)
{
    pd_req_len(q, seed, 2000);
}

static struct sy_scheduler *must(const char *yaml)
{
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("config refused: %s", err);
    return s;
}

static void refused(const char *yaml, const char *want)
{
    char err[512];
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (s) {
        sy_sched_free(s);
        fail_msg("config loaded; expected: %s", want);
    }
    if (strcmp(err, want))
        fprintf(stderr, "GOT %s\n", err);
    assert_string_equal(err, want);
}

/* One pick of r: the decode pick is decode, the prefill pick prefill (NULL: none); with headers
 * the response headers the pick writes are exactly those; with record the prefill pick is
 * recorded as the gateway does once its leg has a slot. */
static void pick_expect_headers(struct sy_scheduler *s, struct sy_pool *pool,
                                const struct sy_request *r, const char *decode, const char *prefill,
                                bool record, const struct sy_buf *headers)
{
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, pool, r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, decode);
    if (prefill)
        assert_string_equal(res.prefill_ep->address, prefill);
    else
        assert_null(res.prefill_ep);
    if (headers) {
        struct sy_buf out;
        sy_buf_init(&out);
        sy_sched_response_headers(s, &res, &out);
        assert_int_equal(out.len, headers->len);
        assert_memory_equal(out.data, headers->data, headers->len);
        sy_buf_fini(&out);
    }
    if (record)
        sy_sched_record_prefill(s, &res);
    sy_sched_done(s, &res, true);
}

static void pick_expect(struct sy_scheduler *s, struct sy_pool *pool, const struct sy_request *r,
                        const char *decode, const char *prefill, bool record)
{
    pick_expect_headers(s, pool, r, decode, prefill, record, NULL);
}

static void test_decode_first_prefix_decider(void **state)
{
    struct sy_scheduler *s =
        must(PD_YAML("    deciders: {prefill: prefix-based-pd-decider}\n", PREFIX_DECIDER));
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 1);
    struct sy_sched_result res;
    /* Nothing cached: prefill-decode, decode on the idle decode endpoint, prefill on the idle
     * prefill endpoint. */
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "d1:1");
    assert_non_null(res.prefill_ep);
    assert_string_equal(res.prefill_ep->address, "p1:1");
    /* what the filters would count: the uncached blocks of the prompt (32 x 16) */
    assert_int_equal(res.prefill_inflight_tokens, 512);
    sy_sched_record_prefill(s, &res); /* src/disagg, once the leg has its slot */
    sy_sched_done(s, &res, true);
    /* The same prompt again: d1 now holds it (recorded for both picks), 500 - 496 < 16 ->
     * decode-only on d1. */
    pick_expect(s, pool, &q.r, "d1:1", NULL, false);
    /* The prompt was recorded on p1 as well: with d1 excluded, d2 has nothing cached -> P/D with
     * the prefill on p1 (prefix affinity beats p2 even though both are prefill endpoints). */
    struct sy_endpoint *ex[] = {pool->eps[2]};
    assert_int_equal(sy_sched_pick(s, pool, &q.r, ex, 1, &res), 0);
    assert_string_equal(res.ep->address, "d2:1");
    assert_non_null(res.prefill_ep);
    assert_string_equal(res.prefill_ep->address, "p1:1");
    /* Prefill repick without p1: p2. Without both: no endpoint. */
    struct sy_endpoint *pex[] = {pool->eps[0], pool->eps[1]};
    assert_int_equal(sy_sched_repick_prefill(s, &res, pex, 1), 0);
    assert_string_equal(res.prefill_ep->address, "p2:1");
    assert_int_equal(sy_sched_repick_prefill(s, &res, pex, 2), SY_ENOENDPOINT);
    assert_null(res.prefill_ep);
    sy_sched_done(s, &res, false);
    /* A short prompt (under nonCachedTokens) is decode-only. */
    struct preq sq;
    pd_req_len(&sq, 3, 38); /* 40 prompt bytes: 10 tokens by the estimate */
    sq.r.prompt_tokens_est = 10;
    assert_int_equal(sy_sched_pick(s, pool, &sq.r, NULL, 0, &res), 0);
    assert_null(res.prefill_ep);
    assert_int_equal(sy_sched_repick_prefill(s, &res, NULL, 0), SY_EINVAL);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

static void test_prefill_required_but_none(void **state)
{
    struct sy_scheduler *s = must(PD_YAML("    deciders: {prefill: always-disagg-pd-decider}\n",
                                          "- type: always-disagg-pd-decider\n"));
    struct sy_endpoint *eps[] = {fx_ep("d1:1", "llm-d.ai/role=decode", 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 1);
    struct preq q;
    pd_req(&q, 2);
    struct sy_sched_result res;
    /* The decider wants a prefill leg and no prefill endpoint exists: the pick says so
     * (prefill_missing) so the gateway fails the request or falls back explicitly; it never
     * silently runs decode-only (llm-d #2521). */
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "d1:1");
    assert_null(res.prefill_ep);
    assert_true(res.prefill_missing);
    sy_sched_done(s, &res, false);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

static void test_no_decider_is_decode_only(void **state)
{
    struct sy_scheduler *s = must(PD_YAML("    {}\n", ""));
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 4);
    pick_expect(s, pool, &q.r, "d1:1", NULL, false);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

static void test_prefill_first(void **state)
{
    struct sy_scheduler *s = must(PD_YAML("    stageOrder: Prefill_First\n", ""));
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 5);
    pick_expect(s, pool, &q.r, "d1:1", "p1:1", false);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

/* Only completions, chat completions and responses get a prefill leg (vLLM takes
 * kv_transfer_params there); an Anthropic Messages or embeddings request is decode-only in both
 * stage orders, so the decision metric says what the gateway does. */
static void test_apis_without_exchange_are_decode_only(void **state)
{
    static const char *const yaml[] = {
        PD_YAML("    deciders: {prefill: always-disagg-pd-decider}\n",
                "- type: always-disagg-pd-decider\n"),
        PD_YAML("    stageOrder: prefill-first\n", "")};
    for (size_t y = 0; y < 2; y++) {
        struct sy_scheduler *s = must(yaml[y]);
        struct sy_pool *pool = pd_pool();
        struct preq q;
        pd_req(&q, 6);
        struct sy_sched_result res;
        const enum sy_api_kind kinds[] = {SY_API_COMPLETIONS, SY_API_CHAT_COMPLETIONS,
                                          SY_API_RESPONSES, SY_API_MESSAGES, SY_API_EMBEDDINGS};
        for (size_t k = 0; k < 5; k++) {
            q.r.kind = kinds[k];
            assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
            assert_string_equal(res.ep->address, "d1:1");
            if (k < 3)
                assert_non_null(res.prefill_ep);
            else
                assert_true(!res.prefill_ep && !res.prefill_missing);
            sy_sched_done(s, &res, true);
        }
        sy_sched_free(s);
        sy_pool_unref(pool);
    }
}

static void test_handler_config_errors(void **state)
{
    refused(PD_YAML("    stageOrder: sideways\n", ""),
            "epp.yaml:9: plugins[5].parameters.stageOrder: invalid stage order 'sideways', must "
            "be decode-first or prefill-first (plugin 'disagg-profile-handler')");
    refused(PD_YAML("    stageOrder: prefill-first\n    deciders: {prefill: x}\n", ""),
            "epp.yaml:9: plugins[5].parameters.stageOrder: a prefill decider is not supported in "
            "prefill-first stage order (prefill always runs first) (plugin "
            "'disagg-profile-handler')");
    refused(PD_YAML("    deciders: {prefill: nope}\n", ""),
            "epp.yaml:7: plugins[5].parameters: prefill decider plugin not found: 'nope' "
            "(configure it under plugins) (plugin 'disagg-profile-handler')");
    refused(PD_YAML("    deciders: {prefill: queue-scorer}\n", ""),
            "epp.yaml:7: plugins[5].parameters: plugin 'queue-scorer' (queue-scorer) is not a "
            "P/D decider (plugin 'disagg-profile-handler')");
    refused(PD_YAML("    profiles: {decode: dec}\n", ""),
            "epp.yaml:7: plugins[5].parameters: no scheduling profile named 'dec' (the decode "
            "profile) (plugin 'disagg-profile-handler')");
    refused(PD_YAML("    profiles: {prefil: x}\n", ""),
            "epp.yaml:9: plugins[5].parameters.profiles.prefil: unknown parameter (plugin "
            "'disagg-profile-handler')");
    refused(PD_YAML("    deciders: {encode: x}\n", ""),
            "epp.yaml:9: plugins[5].parameters.deciders.encode: encode disaggregation (E/P/D) is "
            "not supported by Switchyard yet (plugin 'disagg-profile-handler')");
    /* Deciders are not profile plugins. */
    refused("plugins:\n- type: always-disagg-pd-decider\n- type: queue-scorer\n"
            "schedulingProfiles:\n- name: a\n  plugins:\n  - pluginRef: always-disagg-pd-decider\n",
            "epp.yaml:7: schedulingProfiles[0].plugins[0]: plugin 'always-disagg-pd-decider' "
            "(always-disagg-pd-decider) cannot be used in a scheduling profile");
}

/* llm-d's TestHandlerFactory_DeprecatedFlatParams and TestHandler_Factory_StageOrder: the
 * flat (deprecated) parameters are accepted alone, and refused beside profiles/deciders. */
static void test_handler_flat_params_llmd_cases(void **state)
{
    const char *ok[] = {
        "    prefillDeciderPluginName: always-disagg-pd-decider\n",
        "    decodeProfile: decode\n    prefillProfile: prefill\n    encodeProfile: enc\n"
        "    prefillDeciderPluginName: always-disagg-pd-decider\n",
        "    decodeProfile: decode\n    stageOrder: prefill-first\n",
        "    stageOrder: DecodeFirst\n",
        "    profiles: {encode: encode}\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml, PD_YAML("%s", "- type: always-disagg-pd-decider\n"), ok[i]);
        sy_sched_free(must(yaml));
    }
    refused(PD_YAML("    decodeProfile: decode\n    profiles: {decode: decode}\n", ""),
            "epp.yaml:9: plugins[5].parameters.decodeProfile: deprecated flat parameter mixed "
            "with profiles/deciders; use one format exclusively (here 'profiles.decode') (plugin "
            "'disagg-profile-handler')");
    refused(PD_YAML("    prefillDeciderPluginName: always-disagg-pd-decider\n"
                    "    deciders: {prefill: always-disagg-pd-decider}\n",
                    "- type: always-disagg-pd-decider\n"),
            "epp.yaml:10: plugins[6].parameters.prefillDeciderPluginName: deprecated flat "
            "parameter mixed with profiles/deciders; use one format exclusively (here "
            "'deciders.prefill') (plugin 'disagg-profile-handler')");
    refused(PD_YAML("    stageOrder: prefill-first\n    decodeProfile: decode\n"
                    "    deciderPluginName: always-disagg-pd-decider\n",
                    "- type: always-disagg-pd-decider\n"),
            "epp.yaml:10: plugins[6].parameters.stageOrder: a prefill decider is not supported in "
            "prefill-first stage order (prefill always runs first) (plugin "
            "'disagg-profile-handler')");
    refused(PD_YAML("    encodeDeciderPluginName: x\n", ""),
            "epp.yaml:9: plugins[5].parameters.encodeDeciderPluginName: encode disaggregation "
            "(E/P/D) is not supported by Switchyard yet (plugin 'disagg-profile-handler')");
}

static void test_pd_profile_handler_legacy(void **state)
{
    /* Legacy handler: deciderPluginName defaults to prefix-based-pd-decider, which must exist. */
    const char *base = "plugins:\n"
                       "- type: prefill-filter\n"
                       "- type: decode-filter\n"
                       "- type: prefix-cache-scorer\n"
                       "- type: pd-profile-handler\n"
                       "  parameters: {decodeProfile: d, prefillProfile: p%s}\n"
                       "%s"
                       "schedulingProfiles:\n"
                       "- name: p\n  plugins:\n  - pluginRef: prefill-filter\n"
                       "  - pluginRef: prefix-cache-scorer\n"
                       "- name: d\n  plugins:\n  - pluginRef: decode-filter\n"
                       "  - pluginRef: prefix-cache-scorer\n";
    char yaml[2048];
    snprintf(yaml, sizeof yaml, base, "", "");
    refused(yaml, "epp.yaml:5: plugins[3].parameters: prefill decider plugin not found: "
                  "'prefix-based-pd-decider' (configure it under plugins) (plugin "
                  "'pd-profile-handler')");
    snprintf(yaml, sizeof yaml, base, ", threshold: 100", "");
    refused(yaml, "epp.yaml:6: plugins[3].parameters.threshold: v0.3 parameter not supported; "
                  "configure prefix-based-pd-decider with nonCachedTokens instead (plugin "
                  "'pd-profile-handler')");
    snprintf(yaml, sizeof yaml, base, ", primaryPort: 8000", "");
    refused(yaml, "epp.yaml:6: plugins[3].parameters.primaryPort: data-parallel port rewriting is "
                  "not supported by Switchyard (llm-d deprecated it too); remove primaryPort "
                  "(plugin 'pd-profile-handler')");
    snprintf(yaml, sizeof yaml, base, ", prefixPluginName: x", PREFIX_DECIDER);
    struct sy_scheduler *s = must(yaml);
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 6);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
    assert_int_equal(res.ep->address[0], 'd'); /* no load scorer here: any decode endpoint */
    assert_int_equal(res.prefill_ep->address[0], 'p');
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

static void test_header_profile_handler(void **state)
{
    const char *yaml = "plugins:\n"
                       "- type: prefill-filter\n"
                       "- type: decode-filter\n"
                       "- type: queue-scorer\n"
                       "- type: header-profile-handler\n"
                       "schedulingProfiles:\n"
                       "- name: prefill\n  plugins:\n  - pluginRef: prefill-filter\n"
                       "  - pluginRef: queue-scorer\n"
                       "- name: decode\n  plugins:\n  - pluginRef: decode-filter\n"
                       "  - pluginRef: queue-scorer\n";
    struct sy_scheduler *s = must(yaml);
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 7);
    struct sy_sched_result res;
    /* No header: defaultProfile decode. */
    pick_expect(s, pool, &q.r, "d1:1", NULL, false);
    /* epp-profile: prefill (case-insensitive name, trimmed value) */
    struct sy_str names[] = {SY_STR_LIT("x-other"), SY_STR_LIT("epp-profile")};
    struct sy_str vals[] = {SY_STR_LIT("decode"), SY_STR_LIT("  prefill ")};
    q.r.header_names = names;
    q.r.header_values = vals;
    q.r.nheaders = 2;
    pick_expect(s, pool, &q.r, "p1:1", NULL, false);
    /* An unknown profile is rejected (the gateway answers 429). */
    vals[1] = (struct sy_str)SY_STR_LIT("encode");
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), SY_EREJECTED);
    /* Profile names are case-sensitive. */
    vals[1] = (struct sy_str)SY_STR_LIT("Decode");
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), SY_EREJECTED);
    sy_sched_free(s);

    /* headerName / defaultProfile parameters. */
    char y2[2048];
    snprintf(y2, sizeof y2, "%s", yaml);
    char *at = strstr(y2, "- type: header-profile-handler\n");
    char tail[1024];
    snprintf(tail, sizeof tail, "%s", at + strlen("- type: header-profile-handler\n"));
    snprintf(at, sizeof y2 - (size_t)(at - y2),
             "- type: header-profile-handler\n  parameters: {headerName: X-Phase, defaultProfile: "
             "prefill}\n%s",
             tail);
    s = must(y2);
    q.r.nheaders = 0;
    pick_expect(s, pool, &q.r, "p1:1", NULL, false);
    names[0] = (struct sy_str)SY_STR_LIT("x-phase");
    vals[0] = (struct sy_str)SY_STR_LIT("decode");
    q.r.nheaders = 1;
    pick_expect(s, pool, &q.r, "d1:1", NULL, false);
    sy_sched_free(s);

    /* With one profile the header does not matter. */
    s = must("plugins:\n- type: queue-scorer\n- type: header-profile-handler\n");
    vals[0] = (struct sy_str)SY_STR_LIT("nothing");
    names[0] = (struct sy_str)SY_STR_LIT("epp-profile");
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(pool);
}

/* The decider's arithmetic through its ops table. */
static void test_prefix_decider_ops(void **state)
{
    struct fx_plugin d;
    char err[512];
    assert_int_equal(fx_plugin_new(&d, "prefix-based-pd-decider",
                                   "{nonCachedTokens: 16, promptTokens: 100}", err, sizeof err),
                     0);
    assert_string_equal(d.ops->consumes, SY_PREFIX_KEY);
    struct sy_endpoint *eps[] = {fx_ep("d:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 1);
    struct sy_sched_candidate c[1];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 200);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    struct sy_prefix_match pm[1] = {
        {.match_blocks = 11, .total_blocks = 13, .block_size_tokens = 16}};
    /* no prefix data: decode-only */
    assert_false(d.ops->disaggregate(d.state, &cy, c));
    cy.prefix = pm;
    cy.prefix_valid = true;
    assert_false(d.ops->disaggregate(d.state, &cy, NULL));
    /* 200 - 176 = 24 >= 16 */
    assert_true(d.ops->disaggregate(d.state, &cy, c));
    /* 200 - 192 = 8 < 16 */
    pm[0].match_blocks = 12;
    assert_false(d.ops->disaggregate(d.state, &cy, c));
    /* 200 - 184 = 16 >= 16 (the boundary disaggregates) */
    pm[0].block_size_tokens = 1;
    pm[0].match_blocks = 184;
    assert_true(d.ops->disaggregate(d.state, &cy, c));
    /* under promptTokens */
    cy.prompt_tokens = 99;
    pm[0].match_blocks = 0;
    assert_false(d.ops->disaggregate(d.state, &cy, c));
    fx_plugin_free(&d);
    /* nonCachedTokens 0 = off */
    assert_int_equal(fx_plugin_new(&d, "prefix-based-pd-decider", NULL, err, sizeof err), 0);
    cy.prompt_tokens = 100000;
    assert_false(d.ops->disaggregate(d.state, &cy, c));
    fx_plugin_free(&d);
    assert_int_not_equal(
        fx_plugin_new(&d, "prefix-based-pd-decider", "{nonCachedTokens: -1}", err, sizeof err), 0);
    assert_non_null(strstr(err, "nonCachedTokens"));
    /* always-disagg */
    assert_int_equal(fx_plugin_new(&d, "always-disagg-pd-decider", NULL, err, sizeof err), 0);
    assert_true(d.ops->disaggregate(d.state, &cy, NULL));
    fx_plugin_free(&d);
    /* the deprecated header writer checks its parameters and has no hooks */
    assert_int_equal(
        fx_plugin_new(&d, "disagg-headers-handler", "{prefillProfile: p}", err, sizeof err), 0);
    assert_null(d.ops->pre_request);
    assert_int_not_equal(
        fx_plugin_new(&d, "disagg-headers-handler", "{prefill: p}", err, sizeof err), 0);
    sy_pool_unref(pool);
}

/* llm-d-router pkg/epp/framework/plugins/scheduling/profilehandler/disagg/
 * prefix_based_pd_decider_test.go TestDisaggregate, every case (input 10 tokens, block size 1,
 * cached = the endpoint's matched blocks), plus TestDisaggregateNoPrefixInfo and
 * TestPrefixBasedPDDeciderConfigValidation's negative promptTokens. */
static void test_prefix_decider_llmd_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int non_cached, prompt_tokens, cached; /* cached < 0: nil endpoint */
        bool want;
    } cases[] = {
        {"threshold zero disables disaggregation", 0, 0, 5, false},
        {"threshold zero with nil endpoint disables disaggregation", 0, 0, -1, false},
        {"nil endpoint returns false", 5, 0, -1, false},
        {"input shorter than promptTokens threshold", 5, 20, 0, false},
        {"input shorter than threshold", 20, 0, 0, false},
        {"input equals promptTokens threshold", 5, 10, 5, true},
        {"non-cached suffix below threshold", 5, 0, 8, false},
        {"non-cached suffix equals threshold", 5, 0, 5, true},
        {"non-cached suffix above threshold", 3, 0, 2, true},
        {"fully cached prompt", 1, 0, 10, false},
        {"no cache hit at all", 5, 0, 0, true},
    };
    struct sy_endpoint *eps[] = {fx_ep("d:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 1);
    struct sy_sched_candidate c[1];
    fx_cands(pool, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    cy.prompt_tokens = 10;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char params[96];
        snprintf(params, sizeof params, "{nonCachedTokens: %d, promptTokens: %d}",
                 cases[i].non_cached, cases[i].prompt_tokens);
        struct fx_plugin d;
        char err[256];
        if (fx_plugin_new(&d, "prefix-based-pd-decider", params, err, sizeof err))
            fail_msg("%s: %s", cases[i].name, err);
        struct sy_prefix_match pm[1] = {
            {.match_blocks = cases[i].cached > 0 ? (uint32_t)cases[i].cached : 0,
             .total_blocks = 10,
             .block_size_tokens = 1}};
        cy.prefix = pm;
        cy.prefix_valid = true;
        bool got = d.ops->disaggregate(d.state, &cy, cases[i].cached < 0 ? NULL : c);
        if (got != cases[i].want)
            fail_msg("%s: disaggregate %d, want %d", cases[i].name, got, cases[i].want);
        /* TestDisaggregateNoPrefixInfo: no prefix data -> decode-only */
        cy.prefix = NULL;
        cy.prefix_valid = false;
        assert_false(d.ops->disaggregate(d.state, &cy, c));
        fx_plugin_free(&d);
    }
    struct fx_plugin d;
    char err[256];
    assert_int_not_equal(fx_plugin_new(&d, "prefix-based-pd-decider",
                                       "{nonCachedTokens: 5, promptTokens: -1}", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "promptTokens"));
    sy_pool_unref(pool);
}

/* A P/D config: role filters, the given plugins (each ending in a newline), a
 * disagg-profile-handler whose prefill decider is `decider`, and the two profiles, each with its
 * role filter and then the given pluginRef lines. */
#define PD_PROFILES_YAML(plugins, decider, prefill_refs, decode_refs)                              \
    "plugins:\n"                                                                                   \
    "- type: prefill-filter\n"                                                                     \
    "- type: decode-filter\n" plugins "- type: disagg-profile-handler\n"                           \
    "  parameters:\n"                                                                              \
    "    deciders: {prefill: " decider "}\n"                                                       \
    "schedulingProfiles:\n"                                                                        \
    "- name: prefill\n"                                                                            \
    "  plugins:\n"                                                                                 \
    "  - pluginRef: prefill-filter\n" prefill_refs "- name: decode\n"                              \
    "  plugins:\n"                                                                                 \
    "  - pluginRef: decode-filter\n" decode_refs

/* llm-d's TestNoHitLRUPrefillDecodeTracking: after a cold P/D request, no-hit-lru-scorer has
 * moved both picks, the decode one and the prefill one, so the next cold request prefers the
 * other endpoint of each role (only no-hit-lru scores here). */
static void test_no_hit_lru_tracks_prefill_pick(void **state)
{
    struct sy_scheduler *s = must(PD_PROFILES_YAML(
        "- type: no-hit-lru-scorer\n- type: max-score-picker\n- type: always-disagg-pd-decider\n",
        "always-disagg-pd-decider", "  - pluginRef: no-hit-lru-scorer\n",
        "  - pluginRef: no-hit-lru-scorer\n"));
    struct sy_pool *pool = pd_pool();
    struct preq q1, q2;
    pd_req(&q1, 1);
    pd_req(&q2, 2);                                    /* another prompt: cold again */
    pick_expect(s, pool, &q1.r, "d1:1", "p1:1", true); /* never used: candidate order */
    pick_expect(s, pool, &q2.r, "d2:1", "p2:1", false);
    /* llm-d tracks the profile named "prefill" only: under another name the prefill pick is not
     * moved, and the next cold request's prefill goes to p1 again. v0.8.0 had no prefillProfile
     * parameter either (only an untagged commit did): in a v0.8 config it is accepted with a
     * warning, and the profile named "prefill" is still the one tracked. */
    const char *const heads[][2] = {
        {"", ""},
        {"apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n",
         "  parameters: {prefillProfile: pf}\n"}};
    char yaml[1024];
    for (int k = 0; k < 2; k++) {
        sy_sched_free(s);
        snprintf(yaml, sizeof yaml,
                 "%splugins:\n"
                 "- type: prefill-filter\n"
                 "- type: decode-filter\n"
                 "- type: no-hit-lru-scorer\n%s"
                 "- type: max-score-picker\n"
                 "- type: always-disagg-pd-decider\n"
                 "- type: disagg-profile-handler\n"
                 "  parameters: {profiles: {prefill: pf}, deciders: {prefill: "
                 "always-disagg-pd-decider}}\n"
                 "schedulingProfiles:\n"
                 "- name: pf\n"
                 "  plugins: [{pluginRef: prefill-filter}, {pluginRef: no-hit-lru-scorer}]\n"
                 "- name: decode\n"
                 "  plugins: [{pluginRef: decode-filter}, {pluginRef: no-hit-lru-scorer}]\n",
                 heads[k][0], heads[k][1]);
        s = must(yaml);
        pick_expect(s, pool, &q1.r, "d1:1", "p1:1", true);
        pick_expect(s, pool, &q2.r, "d2:1", "p1:1", false);
    }
    sy_sched_free(s);
    sy_pool_unref(pool);
}

/* Two no-hit-lru-scorer instances, nh-d beside prefix-cache-scorer in the decode profile and nh-p
 * in the prefill profile, or nh-d alone: each keeps its own cold verdict, as llm-d's per-instance
 * plugin state does. The second A is warm for nh-d (d1 holds it) and cold for nh-p (the prefill
 * legs were not recorded): nh-d must not move d1, so C goes to d1, the least recently used of
 * nh-d's [d1, d2], with nh-p or without it. */
static void test_no_hit_lru_verdict_per_instance(void **state)
{
    const char *const prefill_refs[] = {"  - pluginRef: max-score-picker\n",
                                        "  - pluginRef: max-score-picker\n  - pluginRef: nh-p\n"};
    char yaml[2048];
    for (int with_nhp = 0; with_nhp < 2; with_nhp++) {
        snprintf(yaml, sizeof yaml,
                 PD_PROFILES_YAML("- type: prefix-cache-scorer\n"
                                  "- name: nh-d\n  type: no-hit-lru-scorer\n"
                                  "- name: nh-p\n  type: no-hit-lru-scorer\n"
                                  "- type: max-score-picker\n"
                                  "- type: always-disagg-pd-decider\n",
                                  "always-disagg-pd-decider", "%s",
                                  "  - pluginRef: max-score-picker\n"
                                  "  - pluginRef: prefix-cache-scorer\n    weight: 2\n"
                                  "  - pluginRef: nh-d\n"),
                 prefill_refs[with_nhp]);
        struct sy_scheduler *s = must(yaml);
        struct sy_pool *pool = pd_pool();
        struct preq a, b, c;
        pd_req(&a, 1);
        pd_req(&b, 2);
        pd_req(&c, 3);
        const struct sy_request *seq[] = {&a.r, &b.r, &a.r, &c.r};
        const char *want[] = {"d1:1", "d2:1", "d1:1", "d1:1"};
        for (int i = 0; i < 4; i++) {
            struct sy_sched_result res;
            assert_int_equal(sy_sched_pick(s, pool, seq[i], NULL, 0, &res), 0);
            assert_non_null(res.prefill_ep);
            assert_string_equal(res.ep->address, want[i]);
            sy_sched_done(s, &res, true);
        }
        sy_sched_free(s);
        sy_pool_unref(pool);
    }
}

/* llm-d's TestSessionAffinity_ResponseHeader "prefill profile lookup" / "profile set but absent
 * from results (decode-only) writes no header": an instance with profileName writes back the
 * named profile's pick in its own header, and nothing when that profile did not run. */
static void test_session_affinity_profile_name(void **state)
{
    char yaml[2048];
    const char *const deciders[] = {"always-disagg-pd-decider", "nope-decider"};
    for (int k = 0; k < 2; k++) {
        snprintf(
            yaml, sizeof yaml,
            PD_PROFILES_YAML("- type: queue-scorer\n"
                             "- name: sa-prefill\n"
                             "  type: session-affinity-scorer\n"
                             "  parameters: {profileName: prefill,\n"
                             "    encodedEndpointHeaderConfig: {header: x-session-token-prefill}}\n"
                             "- name: sa-decode\n"
                             "  type: session-affinity-scorer\n"
                             "- type: max-score-picker\n"
                             "- type: always-disagg-pd-decider\n"
                             "- name: nope-decider\n"
                             "  type: prefix-based-pd-decider\n"
                             "  parameters: {nonCachedTokens: 100000}\n",
                             "%s", "  - pluginRef: queue-scorer\n  - pluginRef: sa-prefill\n",
                             "  - pluginRef: queue-scorer\n  - pluginRef: sa-decode\n"),
            deciders[k]);
        struct sy_scheduler *s = must(yaml);
        struct sy_pool *pool = pd_pool();
        struct preq q;
        pd_req(&q, 7);
        struct sy_buf want;
        sy_buf_init(&want);
        if (k == 0) { /* P/D: the prefill instance names p1, the decode one d1 */
            sy_buf_puts(&want, "x-session-token-prefill: ");
            sy_sched_session_token(pool->eps[0], &want);
            sy_buf_puts(&want, "\r\n");
        } /* else decode-only: no prefill header */
        sy_buf_puts(&want, "x-session-token: ");
        sy_sched_session_token(pool->eps[2], &want);
        sy_buf_puts(&want, "\r\n");
        pick_expect_headers(s, pool, &q.r, "d1:1", k == 0 ? "p1:1" : NULL, false, &want);
        sy_buf_fini(&want);
        sy_sched_free(s);
        sy_pool_unref(pool);
    }
}

/* llm-d's TestSessionIDHeader_ProfileName_BindsProfilePod: a session_id instance with
 * profileName binds the session to that profile's pick (here the prefill endpoint), so the next
 * request's prefill goes back there even when another prefill endpoint is less loaded. */
static void test_session_id_profile_name_binds_prefill(void **state)
{
    struct sy_scheduler *s = must(PD_PROFILES_YAML(
        "- type: queue-scorer\n"
        "- type: session-affinity-scorer\n"
        "  parameters: {strategy: session_id, profileName: prefill}\n"
        "- type: max-score-picker\n"
        "- type: always-disagg-pd-decider\n",
        "always-disagg-pd-decider",
        "  - pluginRef: queue-scorer\n  - pluginRef: session-affinity-scorer\n    weight: 3\n",
        "  - pluginRef: queue-scorer\n"));
    struct sy_pool *pool = pd_pool();
    struct preq q;
    pd_req(&q, 9);
    struct sy_str names[1] = {SY_STR_LIT("x-session-id")}, vals[1] = {SY_STR_LIT("s-1")};
    q.r.header_names = names;
    q.r.header_values = vals;
    q.r.nheaders = 1;
    pick_expect(s, pool, &q.r, "d1:1", "p1:1", true); /* p2 is busy; bound when the leg goes out */
    /* now p1 is the busy one: the binding still brings the prefill back to p1 */
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.block_size = m.num_blocks = m.max_lora = -1;
    m.waiting = 5;
    sy_endpoint_set_metrics(pool->eps[0], &m, 1);
    m.waiting = 0;
    sy_endpoint_set_metrics(pool->eps[1], &m, 1);
    pick_expect(s, pool, &q.r, "d1:1", "p1:1", true);
    /* A session whose prefill leg failed on p2 and was re-picked onto p1 is bound to p1, the leg
     * that went out (bound at sy_sched_record_prefill, not at the primary PreRequest). */
    struct sy_str vals2[1] = {SY_STR_LIT("s-2")};
    q.r.header_values = vals2;
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, pool, &q.r, NULL, 0, &res), 0);
    assert_string_equal(res.prefill_ep->address, "p2:1"); /* p1 is busy now */
    struct sy_endpoint *failed[1] = {pool->eps[1]};
    assert_int_equal(sy_sched_repick_prefill(s, &res, failed, 1), 0);
    assert_string_equal(res.prefill_ep->address, "p1:1");
    sy_sched_record_prefill(s, &res);
    sy_sched_done(s, &res, true);
    pick_expect(s, pool, &q.r, "d1:1", "p1:1", true); /* bound to p1, busy as it is */
    sy_sched_free(s);
    sy_pool_unref(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_first_prefix_decider),
        cmocka_unit_test(test_prefill_required_but_none),
        cmocka_unit_test(test_no_decider_is_decode_only),
        cmocka_unit_test(test_prefill_first),
        cmocka_unit_test(test_apis_without_exchange_are_decode_only),
        cmocka_unit_test(test_handler_config_errors),
        cmocka_unit_test(test_handler_flat_params_llmd_cases),
        cmocka_unit_test(test_pd_profile_handler_legacy),
        cmocka_unit_test(test_header_profile_handler),
        cmocka_unit_test(test_prefix_decider_ops),
        cmocka_unit_test(test_prefix_decider_llmd_table),
        cmocka_unit_test(test_no_hit_lru_tracks_prefill_pick),
        cmocka_unit_test(test_no_hit_lru_verdict_per_instance),
        cmocka_unit_test(test_session_affinity_profile_name),
        cmocka_unit_test(test_session_id_profile_name_binds_prefill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
