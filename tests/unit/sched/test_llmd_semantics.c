/* Unit tests for issue 18's prefix divergences: what approx-prefix-cache-producer hashes under
 * each llm-d generation (src/sched/approx_prefix_producer.c, src/sched/llmd_text.c).
 *
 *   2. v0.8 hashes whole blocks only                  (GIE v1.5.0 plugin_test.go numbers)
 *   3. v0.8 chat text = Go's json.Marshal(messages), seeded with cache_salt
 *   4. router: token chain over the token producer's ids, blocks >= 64 tokens, auto-tuned block
 *      size passed through above the floor           (llm-d-router plugin_test.go numbers)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "prefix/hash.h"
#include "prefix/prefix_sched.h"
#include "sched/llmd_text.h"
#include "sched/precise_prefix.h"
#include "unit/sched/sched_helpers.h"

#define TYPE   "approx-prefix-cache-producer"
#define LEGACY "inference.networking.x-k8s.io/v1alpha1"
#define ROUTER "llm-d.ai/v1alpha1"

/* fx_plugin_new with the config's apiVersion in the environment, as the loader passes it. */
static int plugin_new(struct fx_plugin *fp, const char *params_yaml, const char *api)
{
    char err[256];
    fp->ops = sy_sched__registry_find(TYPE);
    fp->state = NULL;
    struct sy_yaml_node *root = NULL;
    if (params_yaml)
        root = sy_yaml_load_string(params_yaml, strlen(params_yaml), "p.yaml", err, sizeof err);
    struct sy_plugin_env env = {
        .file = "t.yaml", .line = 1, .name = TYPE, .path = "plugins[0]", .api_version = api};
    int rc = fp->ops->create(root, &env, &fp->state, err, sizeof err);
    sy_yaml_free(root);
    return rc;
}

struct fx {
    struct sy_pool *pool;
    struct sy_sched_candidate c[2];
    struct sy_prefix_match pm[2];
    struct sy_sched_cycle cy;
    struct sy_request req;
    char body[4096];
};

static struct sy_pool *mkpool(int64_t block_size)
{
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    for (int i = 0; i < 2; i++) {
        struct sy_engine_metrics m;
        memset(&m, 0, sizeof m);
        m.block_size = block_size;
        m.num_blocks = -1;
        m.max_lora = -1;
        sy_endpoint_set_metrics(eps[i], &m, 1);
    }
    return fx_pool(eps, 2);
}

/* A request of the given kind from a whole body, parsed as the gateway parses it. */
static void start(struct fx *f, struct sy_pool *pool, enum sy_api_kind kind, const char *body)
{
    char err[128];
    f->pool = pool;
    fx_cands(pool, f->c);
    snprintf(f->body, sizeof f->body, "%s", body);
    assert_int_equal(sy_request_parse(kind, f->body, strlen(f->body), &f->req, err, sizeof err), 0);
    fx_cycle(&f->cy, &f->req, pool, 3);
    memset(f->pm, 0, sizeof f->pm);
    f->cy.prefix = f->pm;
}

static void produce(struct fx_plugin *fp, struct fx *f)
{
    fp->ops->produce(fp->state, &f->cy, f->c, 2);
}

static void finish(struct fx_plugin *fp, struct fx *f)
{
    fp->ops->done(fp->state, &f->cy, NULL, false);
    sy_sched_tokens_release(&f->cy);
}

/* 2: GIE TestPrefixPluginCompletion-style: "aaaaaa" at blockSizeTokens 1 (4 characters) is one
 * body block, not two. */
static void test_v08_whole_blocks_only(void **state)
{
    struct sy_pool *pool = mkpool(-1);
    struct fx_plugin fp;
    assert_int_equal(plugin_new(&fp, "blockSizeTokens: 1\n", LEGACY), 0);
    struct fx f;
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"test-model1\",\"prompt\":\"aaaaaa\"}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 1);
    assert_int_equal(f.pm[0].total_blocks, 1);
    finish(&fp, &f);
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"test-model1\",\"prompt\":\"aaaabbbb\"}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 2);
    finish(&fp, &f);
    /* maxPrefixTokensToMatch 2 at blockSizeTokens 1 caps "aaaabbbbccccdddd" at 2 blocks; with it
     * 0 the block cap (3) applies. */
    fx_plugin_free(&fp);
    assert_int_equal(plugin_new(&fp, "blockSizeTokens: 1\nmaxPrefixTokensToMatch: 2\n", LEGACY), 0);
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"aaaabbbbccccdddd\"}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 2);
    finish(&fp, &f);
    fx_plugin_free(&fp);
    assert_int_equal(plugin_new(&fp, "blockSizeTokens: 1\nmaxPrefixBlocksToMatch: 3\n", LEGACY), 0);
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"aaaabbbbccccdddd\"}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 3);
    finish(&fp, &f);
    fx_plugin_free(&fp);
    /* a prompt list is PlainText(): the strings joined with " " ("aaaa bbb" = 8 bytes = 2 blocks;
     * the JSON text would be 3); token ids hash nothing */
    assert_int_equal(plugin_new(&fp, "blockSizeTokens: 1\n", LEGACY), 0);
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"aaaa\",\"bbb\"]}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 2);
    uint64_t want[2];
    sy_prefix_hash_chars(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")), "aaaa bbb", 8, 4, 256,
                         want, 2);
    assert_memory_equal(f.cy.block_hashes, want, sizeof want);
    finish(&fp, &f);
    start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,2,3,4,5,6,7,8,9]}");
    produce(&fp, &f);
    assert_int_equal(f.cy.nblocks, 0);
    finish(&fp, &f);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

/* 3: the bytes of json.Marshal(messages) as GIE v1.5.0 makes them. */
static void test_go_marshal_bytes(void **state)
{
    struct sy_buf b;
    sy_buf_init(&b);
    /* key order, spacing and extra fields go; <, >, & are escaped; role omitted when empty;
     * null content and an absent one are ""; text parts carry the empty media structs. */
    const char *in = "[ {\"content\": \"a<b>&c\\n\\u2028\\u0001\", \"name\": \"x\", \"role\": "
                     "\"system\"},\n {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                     "\"hi\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\",\"detail\":"
                     "\"low\"}}]}, {\"content\":null}, {\"ROLE\":\"tool\"}, null ]";
    assert_int_equal(sy_llmd_chat_marshal(sy_str_c(in), &b), 0);
    const char *want =
        "[{\"role\":\"system\",\"content\":\"a\\u003cb\\u003e\\u0026c\\n\\u2028\\u0001\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\",\"image_url\":{},"
        "\"input_audio\":{},\"video_url\":{}},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}"
        ","
        "\"input_audio\":{},\"video_url\":{}}]},{\"content\":\"\"},{\"role\":\"tool\","
        "\"content\":\"\"},{\"content\":\"\"}]";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* What Go's decoder refuses (content a number, role an object) hashes nothing. */
    sy_buf_reset(&b);
    assert_int_not_equal(sy_llmd_chat_marshal(SY_STR_LIT("[{\"role\":\"u\",\"content\":5}]"), &b),
                         0);
    assert_int_not_equal(sy_llmd_chat_marshal(SY_STR_LIT("[{\"role\":{},\"content\":\"x\"}]"), &b),
                         0);
    assert_int_equal(b.len, 0);
    /* Go's float64 formatting for `any` (tools in the router estimate). */
    cJSON *v = cJSON_Parse("{\"b\":[1,2.5,1e21,1e-7,0.000001,100,-0.5],\"a\":\"<\",\"b\":true}");
    sy_llmd_go_any(&b, v);
    cJSON_Delete(v);
    const char *wany = "{\"a\":\"\\u003c\",\"b\":true}";
    assert_int_equal(b.len, strlen(wany));
    assert_memory_equal(b.data, wany, b.len);
    sy_buf_reset(&b);
    v = cJSON_Parse("[1,2.5,1e21,1e-7,0.000001,100,-0.5,123456789012]");
    sy_llmd_go_any(&b, v);
    cJSON_Delete(v);
    const char *wnum = "[1,2.5,1e+21,1e-7,0.000001,100,-0.5,123456789012]";
    assert_int_equal(b.len, strlen(wnum));
    assert_memory_equal(b.data, wnum, b.len);
    sy_buf_fini(&b);
}

/* 3: two chat requests that differ only in spacing, key order and extra fields share a chain, and
 * that chain is the character chain over json.Marshal(messages) seeded by model || cache_salt. */
static void test_v08_chat_text_and_salt(void **state)
{
    struct sy_pool *pool = mkpool(-1);
    struct fx_plugin fp;
    assert_int_equal(plugin_new(&fp, "blockSizeTokens: 2\n", LEGACY), 0);
    static const char msg[] = "You are a helpful assistant & you answer <briefly>.";
    char body[1024];
    struct fx f, g;
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"}]}", msg);
    start(&f, pool, SY_API_CHAT_COMPLETIONS, body);
    produce(&fp, &f);
    snprintf(body, sizeof body,
             "{\"messages\": [ {\"content\": \"%s\", \"role\": \"system\", \"name\": \"n\"} ], "
             "\"model\": \"m\"}",
             msg);
    start(&g, pool, SY_API_CHAT_COMPLETIONS, body);
    produce(&fp, &g);
    char text[512];
    int tl = snprintf(text, sizeof text,
                      "[{\"role\":\"system\",\"content\":\"You are a helpful assistant \\u0026 you "
                      "answer \\u003cbriefly\\u003e.\"}]");
    size_t want_n = (size_t)tl / 8; /* whole 8-character blocks */
    assert_int_equal(f.cy.nblocks, want_n);
    assert_int_equal(g.cy.nblocks, want_n);
    uint64_t want[64];
    sy_prefix_hash_chars(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")), text, (size_t)tl, 8, 256,
                         want, 64);
    assert_memory_equal(f.cy.block_hashes, want, want_n * sizeof want[0]);
    assert_memory_equal(g.cy.block_hashes, want, want_n * sizeof want[0]);
    finish(&fp, &f);
    finish(&fp, &g);

    /* cache_salt seeds the chain: h0 = xxh64(model || salt). */
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"cache_salt\":\"tenant-x\",\"messages\":[{\"role\":\"system\","
             "\"content\":\"%s\"}]}",
             msg);
    start(&f, pool, SY_API_CHAT_COMPLETIONS, body);
    produce(&fp, &f);
    sy_prefix_hash_chars(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("tenant-x")), text, (size_t)tl,
                         8, 256, want, 64);
    assert_int_equal(f.cy.nblocks, want_n);
    assert_memory_equal(f.cy.block_hashes, want, want_n * sizeof want[0]);
    finish(&fp, &f);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

/* 4: router TestPrefixPluginAutoTune: 192 token ids at the pod's block size 128 -> 2 blocks (the
 * partial one hashed), configured blockSizeTokens 256 ignored; TestGetBlockSize_Autotune-
 * ClampsBelowMinimum: a pod block size of 16 becomes 64. */
static void test_router_token_chain(void **state)
{
    uint32_t ids[192];
    for (int i = 0; i < 192; i++)
        ids[i] = (uint32_t)(i + 1);
    for (int round = 0; round < 2; round++) {
        struct sy_pool *pool = mkpool(round == 0 ? 128 : 16);
        struct fx_plugin fp;
        assert_int_equal(plugin_new(&fp, "blockSizeTokens: 256\n", ROUTER), 0);
        struct fx f;
        start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"test-model\",\"prompt\":\"x\"}");
        uint32_t *t = malloc(sizeof ids);
        memcpy(t, ids, sizeof ids);
        sy_sched_tokens_set(&f.cy, t, 192); /* what a token-producer ran before */
        produce(&fp, &f);
        size_t bs = round == 0 ? 128 : 64;
        size_t nb = round == 0 ? 2 : 3;
        assert_int_equal(f.cy.nblocks, nb);
        assert_int_equal(f.pm[0].block_size_tokens, bs);
        uint64_t want[3];
        sy_prefix_hash_tokens(sy_prefix_seed(SY_STR_LIT("test-model"), SY_STR_LIT("")), ids, 192,
                              bs, 2048, want, 3);
        assert_memory_equal(f.cy.block_hashes, want, nb * sizeof want[0]);
        finish(&fp, &f);
        fx_plugin_free(&fp);
        sy_pool_unref(pool);
    }
}

/* 4: with no token-producer the router's auto-created estimate backend packs the bytes 4 per
 * token; a chat request packs role || content (estimate.go), so spacing does not matter and a
 * short prompt still makes one (partial) 64-token block. */
static void test_router_estimate_default(void **state)
{
    struct sy_pool *pool = mkpool(-1);
    struct fx_plugin fp;
    assert_int_equal(plugin_new(&fp, NULL, ROUTER), 0);
    struct fx f;
    start(&f, pool, SY_API_CHAT_COMPLETIONS,
          "{\"model\":\"m\",\"messages\": [ {\"role\":\"user\", \"content\":\"hello world\"} ]}");
    produce(&fp, &f);
    const char *packed = "userhello world"; /* 15 bytes -> 4 pseudo-tokens */
    uint32_t toks[4];
    sy_sched_tokens_estimate(packed, strlen(packed), toks);
    uint64_t want[1];
    sy_prefix_hash_tokens(sy_prefix_seed(SY_STR_LIT("m"), SY_STR_LIT("")), toks, 4, 64, 2048, want,
                          1);
    assert_int_equal(f.cy.nblocks, 1);
    assert_int_equal(f.pm[0].block_size_tokens, 64);
    assert_true(f.cy.block_hashes[0] == want[0]);
    assert_int_equal(f.cy.prompt_tokens, 4);
    finish(&fp, &f);
    struct sy_approx_prefix_config c;
    sy_approx_prefix_producer_config(fp.state, &c);
    assert_int_equal(c.max_blocks, 2048);
    assert_int_equal(c.max_tokens, 131072);
    fx_plugin_free(&fp);
    sy_pool_unref(pool);
}

/* Router TestDataProducerValidation: blockSizeTokens 0 is valid with autoTune (the endpoint's
 * block size, else the 64-token floor) and refused without; v0.8 always needs a size. */
static void test_router_block_size_zero_with_autotune(void **state)
{
    const int64_t metric[2] = {-1, 128};
    const uint32_t want[2] = {64, 128};
    for (int k = 0; k < 2; k++) {
        struct sy_pool *pool = mkpool(metric[k]);
        struct fx_plugin fp;
        assert_int_equal(plugin_new(&fp, "autoTune: true\nblockSizeTokens: 0\n", ROUTER), 0);
        struct fx f;
        start(&f, pool, SY_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"hello world\"}");
        produce(&fp, &f);
        assert_int_equal(f.pm[0].block_size_tokens, want[k]);
        finish(&fp, &f);
        fx_plugin_free(&fp);
        sy_pool_unref(pool);
    }
    struct fx_plugin fp;
    assert_int_not_equal(plugin_new(&fp, "autoTune: false\nblockSizeTokens: 0\n", ROUTER), 0);
    assert_int_not_equal(plugin_new(&fp, "autoTune: true\nblockSizeTokens: 0\n", LEGACY), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v08_whole_blocks_only),
        cmocka_unit_test(test_go_marshal_bytes),
        cmocka_unit_test(test_v08_chat_text_and_salt),
        cmocka_unit_test(test_router_token_chain),
        cmocka_unit_test(test_router_estimate_default),
        cmocka_unit_test(test_router_block_size_zero_with_autotune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
