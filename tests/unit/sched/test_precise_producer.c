/* Unit tests for src/sched/precise_prefix_producer.c, precise_prefix_scorer.c and token_producer.c
 * driven through their ops tables: the estimate and simulator tokenizations (hand-computed ids),
 * prefix-match data from events applied to the shared index, tier weighting in the legacy scorer,
 * token-producer output used by the producer, speculative indexing, parameter errors with
 * FILE:LINE, and a full config through the loader (no approximate producer auto-created). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/time.h"
#include "kvevents/decode.h"
#include "kvevents/subscriber.h"
#include "prefix/precise_index.h"
#include "sched/precise_prefix.h"
#include "sched_helpers.h"
#include "sim/engine.h"

#include <cjson/cJSON.h>
#include <unistd.h>

/* A completions request whose body is {"model":"m","prompt":"<text>"}; text is JSON-escaped
 * already. body must outlive the request. */
static void req_completions(struct sy_request *r, char *body, size_t cap, const char *text)
{
    fx_req(r, "m", 0);
    snprintf(body, cap, "{\"model\":\"m\",\"prompt\":\"%s\"}", text);
    r->body = body;
    r->body_len = strlen(body);
    const char *p = strstr(body, "\"prompt\":\"") + 10;
    r->prompt = (struct sy_str){p, strlen(p) - 2};
}

static void req_chat(struct sy_request *r, char *body, size_t cap, const char *messages)
{
    fx_req(r, "m", 0);
    r->kind = SY_API_CHAT_COMPLETIONS;
    snprintf(body, cap, "{\"model\":\"m\",\"messages\":%s}", messages);
    r->body = body;
    r->body_len = strlen(body);
    const char *p = strstr(body, "\"messages\":") + 11;
    r->prompt = (struct sy_str){p, strlen(p) - 1};
}

static void test_estimate_tokens(void **state)
{
    (void)state;
    uint32_t out[3];
    assert_int_equal(sy_sched_tokens_estimate("abcdefghi", 9, out), 3);
    assert_int_equal(out[0], 0x64636261);
    assert_int_equal(out[1], 0x68676665);
    assert_int_equal(out[2], 0x69);
    char err[512], body[256];
    struct fx_plugin tp;
    assert_int_equal(fx_plugin_new(&tp, "token-producer", NULL, err, sizeof err), 0);
    struct sy_request r;
    req_completions(&r, body, sizeof body, "a\\nbcd");
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    const struct sy_sched_tokens *t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_non_null(t);
    assert_int_equal(t->n, 2); /* "a\nbcd" decoded: 5 bytes */
    assert_int_equal(t->ids[0], 0x63620a61);
    assert_int_equal(t->ids[1], 0x64);
    assert_int_equal(cy.prompt_tokens, 2);
    tp.ops->done(tp.state, &cy, NULL, true);
    assert_null(cy.scratch[SY_SCHED_SCRATCH_TOKENS]);
    tp.ops->done(tp.state, &cy, NULL, true); /* idempotent */
    tp.ops->destroy(tp.state);
}

static void test_simulator_tokens(void **state)
{
    (void)state;
    char err[512], body[512];
    struct fx_plugin tp;
    assert_int_equal(fx_plugin_new(&tp, "token-producer", "backend: simulator\n", err, sizeof err),
                     0);
    struct sy_request r;
    req_chat(&r, body, sizeof body,
             "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
             "[{\"type\":\"text\",\"text\":\"Hi\"}]}]");
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    const char *want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\n";
    uint32_t ids[64];
    size_t n = sy_sim_tokenize(want, strlen(want), ids, 64);
    const struct sy_sched_tokens *t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, n);
    assert_memory_equal(t->ids, ids, n * sizeof ids[0]);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* the same conversation as an Anthropic /v1/messages request: system first, as the simulator
     * renders it (same ids, so precise routing matches the simulated engine's blocks) */
    const char *anth = "{\"model\":\"m\",\"max_tokens\":4,\"system\":\"Be brief.\","
                       "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    assert_int_equal(sy_request_parse(SY_API_MESSAGES, anth, strlen(anth), &r, err, sizeof err), 0);
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, n);
    assert_memory_equal(t->ids, ids, n * sizeof ids[0]);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* malformed messages fall back to the estimate of the raw span */
    req_chat(&r, body, sizeof body, "[1]");
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, 1);
    assert_int_equal(t->ids[0], 0x5d315b);
    tp.ops->done(tp.state, &cy, NULL, true);
    tp.ops->destroy(tp.state);
}

/* GPT-2's byte-level alphabet: the character standing for byte b, UTF-8 encoded into out. */
static const char *byte_char(unsigned b, char out[4])
{
    unsigned cp;
    if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) {
        cp = b;
    } else {
        unsigned n = 0; /* rank of b among the bytes that are remapped */
        for (unsigned x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    }
    return out;
}

/* A byte-level BPE tokenizer without merges (token id = byte value) and a tiny chat template. */
static void write_tokenizer(const char *dir)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    char tmp[4];
    for (unsigned b = 0; b < 256; b++)
        cJSON_AddNumberToObject(vocab, byte_char(b, tmp), b);
    cJSON_AddArrayToObject(model, "merges");
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *bl = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddFalseToObject(bl, "add_prefix_space");
    cJSON_AddFalseToObject(bl, "use_regex");
    cJSON_AddArrayToObject(root, "added_tokens");
    char *text = cJSON_Print(root);
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"chat_template\": \"{% if tools %}<tools:{{ tools[0].function.name }}"
          "{{ tools[0].function.description }}>{% endif %}"
          "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
          "{% if add_generation_prompt %}<assistant>{% endif %}"
          "{% if enable_thinking is false %}<nothink>{% endif %}\"}",
          f);
    fclose(f);
}

static void test_local_tokens(void **state)
{
    (void)state;
    char dir[] = "/tmp/sy_precise_tok_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_tokenizer(dir);
    char yaml[256], err[512], body[256];
    snprintf(yaml, sizeof yaml, "backend: local\ntokenizer: %s\n", dir);
    struct fx_plugin tp;
    int rc = fx_plugin_new(&tp, "token-producer", yaml, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    struct sy_request r;
    struct sy_sched_cycle cy;
    /* completions: the decoded prompt, byte by byte */
    req_completions(&r, body, sizeof body, "a b\\n");
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    const struct sy_sched_tokens *t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, 4);
    assert_int_equal(t->ids[0], 'a');
    assert_int_equal(t->ids[1], ' ');
    assert_int_equal(t->ids[3], '\n');
    tp.ops->done(tp.state, &cy, NULL, true);
    /* chat: rendered through the template with the generation prompt, then encoded */
    req_chat(&r, body, sizeof body, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    const char *want = "<user>hi<assistant>";
    assert_int_equal(t->n, strlen(want));
    for (size_t i = 0; i < t->n; i++)
        assert_int_equal(t->ids[i], (unsigned char)want[i]);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* chat with tools, content parts and chat_template_kwargs: rendered from the whole body as
     * vLLM renders it (before, the token producer rendered the messages alone) */
    const char *with_tools =
        "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]}],\"chat_template_kwargs\":{\"enable_thinking\":false}"
        "}";
    assert_int_equal(sy_request_parse(SY_API_CHAT_COMPLETIONS, with_tools, strlen(with_tools), &r,
                                      err, sizeof err),
                     0);
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    want = "<tools:fNone><user>a\nb<assistant><nothink>";
    assert_int_equal(t->n, strlen(want));
    for (size_t i = 0; i < t->n; i++)
        assert_int_equal(t->ids[i], (unsigned char)want[i]);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* Anthropic /v1/messages: converted to the chat request vLLM builds (system first, text
     * blocks joined into one system message, tools as functions), then rendered the same way */
    const char *anth =
        "{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"name\":\"g\",\"description\":\"D\","
        "\"input_schema\":{\"type\":\"object\"}}],\"system\":[{\"type\":\"text\",\"text\":\"S1\"},"
        "{\"type\":\"text\",\"text\":\"S2\"}],\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"hey\"}]},{\"role\":\"assistant\",\"content\":\"yo\"},"
        "{\"role\":\"user\",\"content\":\"q\"}]}";
    assert_int_equal(sy_request_parse(SY_API_MESSAGES, anth, strlen(anth), &r, err, sizeof err), 0);
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    want = "<tools:gD><system>S1S2<user>hey<assistant>yo<user>q<assistant>";
    assert_int_equal(t->n, strlen(want));
    for (size_t i = 0; i < t->n; i++)
        assert_int_equal(t->ids[i], (unsigned char)want[i]);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* malformed tools (vLLM answers 400): scheduling goes on with the estimate */
    const char *bad_tools = "{\"model\":\"m\",\"tools\":{\"name\":\"f\"},"
                            "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(sy_request_parse(SY_API_CHAT_COMPLETIONS, bad_tools, strlen(bad_tools), &r,
                                      err, sizeof err),
                     0);
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, (r.prompt.len + 3) / 4);
    uint32_t est[16];
    sy_sched_tokens_estimate(r.prompt.p, r.prompt.len, est);
    assert_memory_equal(t->ids, est, t->n * sizeof *est);
    tp.ops->done(tp.state, &cy, NULL, true);
    /* completions given as token ids: taken as is */
    fx_req(&r, "m", 0);
    snprintf(body, sizeof body, "{\"prompt\":[5,6,7]}");
    r.body = body;
    r.body_len = strlen(body);
    r.prompt = (struct sy_str){body + 10, 7};
    fx_cycle(&cy, &r, NULL, 1);
    tp.ops->produce(tp.state, &cy, NULL, 0);
    t = cy.scratch[SY_SCHED_SCRATCH_TOKENS];
    assert_int_equal(t->n, 3);
    assert_int_equal(t->ids[2], 7);
    tp.ops->done(tp.state, &cy, NULL, true);
    tp.ops->destroy(tp.state);
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

static void expect_create_err(const char *type, const char *yaml, const char *want)
{
    char err[512] = "";
    struct fx_plugin p;
    int rc = fx_plugin_new(&p, type, yaml, err, sizeof err);
    if (rc == 0 || !strstr(err, want)) {
        print_error("rc=%d err=%s\nwant: %s\n", rc, err, want);
        if (rc == 0)
            p.ops->destroy(p.state);
        fail();
    }
}

static void test_param_errors(void **state)
{
    (void)state;
    /* backend vllm (token_vllm.c): modelName required; url, durations and api checked */
    expect_create_err(
        "token-producer", "backend: vllm\nvllm:\n  url: http://x\n",
        "t.yaml:1: plugins[0].parameters.modelName: backend 'vllm' needs 'modelName'");
    expect_create_err("token-producer", "modelName: m\nvllm:\n  url: https://127.0.0.1:1\n",
                      "only http:// URLs are supported");
    expect_create_err("token-producer", "modelName: m\nvllm:\n  timeout: soon\n",
                      "t.yaml:3: plugins[0].parameters.vllm.timeout: a duration");
    expect_create_err("token-producer", "modelName: m\nvllm:\n  mmTimeout: 0s\n",
                      "vllm.mmTimeout: a duration");
    expect_create_err("token-producer", "modelName: m\nvllm:\n  api: grpc\n", "expected render");
    expect_create_err("token-producer", "backend: estimate\nvllm:\n  url: http://127.0.0.1:1\n",
                      "only used with backend 'vllm'");
    expect_create_err("token-producer", "backend: magic\n", "unknown backend 'magic'");
    expect_create_err("token-producer", "backend: local\n",
                      "backend 'local' needs 'tokenizer: DIR'");
    expect_create_err("token-producer", "backend: local\ntokenizer: /nonexistent/dir\n",
                      "t.yaml:2: plugins[0].parameters.tokenizer:");
    expect_create_err("token-producer", "tokenizer: /tmp\n", "only used with backend 'local'");
    expect_create_err("token-producer", "colour: red\n", "colour");
    expect_create_err("precise-prefix-cache-producer", "kvEventsConfig:\n  engineType: sglang\n",
                      "engine type 'sglang' is not supported");
    expect_create_err("precise-prefix-cache-producer", "speculativeTTL: soon\n",
                      "t.yaml:1: plugins[0].parameters.speculativeTTL:");
    expect_create_err("precise-prefix-cache-producer", "tokenProcessorConfig:\n  blockSize: 0\n",
                      "blockSize");
    expect_create_err("precise-prefix-cache-producer",
                      "indexerConfig:\n  kvBlockIndexConfig:\n    bogus: 1\n", "bogus");
    expect_create_err("precise-prefix-cache-scorer",
                      "kvEventsConfig:\n  zmqEndpoint: tcp://256.0.0.1:1\n",
                      "kvEventsConfig: kvEventsConfig.zmqEndpoint: cannot bind");
    sy_kvevents_shutdown();
}

/* Applies a BlockStored of the estimate tokens of text (engine block size 4) for ep. */
static void store_text(struct sy_precise_index *idx, const char *ep, const char *text,
                       const char *medium, uint64_t hbase)
{
    uint32_t toks[64];
    size_t n = sy_sched_tokens_estimate(text, strlen(text), toks);
    n -= n % 4;
    uint64_t h[16];
    for (size_t i = 0; i < n / 4; i++)
        h[i] = hbase + i;
    struct sy_kv_event ev = {.kind = SY_KV_BLOCK_STORED,
                             .hashes = h,
                             .nhashes = n / 4,
                             .tokens = toks,
                             .ntokens = n,
                             .block_size = 4,
                             .medium = sy_str_c(medium)};
    assert_int_equal(sy_precise_index_apply(idx, sy_str_c(ep), SY_STR_LIT("m"), &ev), 0);
}

/* 48 bytes = 12 estimate tokens = 3 blocks of 4. */
#define TEXT48 "The quick brown fox jumps over the lazy dog. 123"

static void test_producer_and_scorer(void **state)
{
    (void)state;
    char err[512], body[256];
    struct fx_plugin pr, sc;
    const char *params = "tokenProcessorConfig:\n  blockSize: 4\n  hashSeed: \"7\"\n";
    assert_int_equal(fx_plugin_new(&pr, "precise-prefix-cache-producer", params, err, sizeof err),
                     0);
    assert_int_equal(fx_plugin_new(&sc, "precise-prefix-cache-scorer", params, err, sizeof err), 0);
    struct sy_precise_index *idx = sy_precise_producer_index(pr.state);
    assert_ptr_equal(idx, sy_precise_producer_index(sc.state)); /* same options: one index */
    struct sy_endpoint *eps[3] = {fx_ep("10.0.0.1:8000", NULL, 0, 0, 0),
                                  fx_ep("10.0.0.2:8000", NULL, 0, 0, 0),
                                  fx_ep("10.0.0.3:8000", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(pool, c);
    store_text(idx, "10.0.0.1:8000", TEXT48, "GPU", 100);
    store_text(idx, "10.0.0.2:8000", "The quick brown fox jumps over t", "CPU", 100); /* 2 blocks */

    struct sy_request r;
    req_completions(&r, body, sizeof body, TEXT48);
    struct sy_prefix_match pm[3];
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    memset(pm, 0, sizeof pm);
    cy.prefix = pm;
    pr.ops->produce(pr.state, &cy, c, 3);
    assert_true(cy.prefix_valid);
    assert_int_equal(pm[0].match_blocks, 3);
    assert_int_equal(pm[0].total_blocks, 3);
    assert_int_equal(pm[0].block_size_tokens, 4);
    assert_true(pm[0].weighted == 3.0);
    assert_int_equal(pm[1].match_blocks, 2);
    assert_true(pm[1].weighted > 1.59 && pm[1].weighted < 1.61);
    assert_int_equal(pm[2].match_blocks, 0);
    double s[3];
    sc.ops->score(sc.state, &cy, c, 3, s);
    assert_true(s[0] == 1.0);
    assert_true(s[1] > 0.53 && s[1] < 0.54); /* 1.6 / 3 */
    assert_true(s[2] == 0.0);
    pr.ops->done(pr.state, &cy, NULL, true);
    assert_null(cy.block_hashes);
    assert_null(cy.scratch[SY_SCHED_SCRATCH_TOKENS]);

    /* Another model: nothing matches. */
    snprintf(r.model, sizeof r.model, "other");
    fx_cycle(&cy, &r, pool, 1);
    memset(pm, 0, sizeof pm);
    cy.prefix = pm;
    pr.ops->produce(pr.state, &cy, c, 3);
    assert_int_equal(pm[0].match_blocks, 0);
    assert_int_equal(pm[0].total_blocks, 3);
    pr.ops->done(pr.state, &cy, NULL, true);

    /* Tokens from token-producer win over the estimate: ids that match endpoint 3's blocks. */
    snprintf(r.model, sizeof r.model, "m");
    uint32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t h[2] = {900, 901};
    struct sy_kv_event ev = {.kind = SY_KV_BLOCK_STORED,
                             .hashes = h,
                             .nhashes = 2,
                             .tokens = toks,
                             .ntokens = 8,
                             .block_size = 4};
    sy_precise_index_apply(idx, SY_STR_LIT("10.0.0.3:8000"), SY_STR_LIT("m"), &ev);
    fx_cycle(&cy, &r, pool, 1);
    memset(pm, 0, sizeof pm);
    cy.prefix = pm;
    uint32_t *ids = malloc(sizeof toks);
    memcpy(ids, toks, sizeof toks);
    sy_sched_tokens_set(&cy, ids, 8);
    pr.ops->produce(pr.state, &cy, c, 3);
    assert_int_equal(pm[2].match_blocks, 2);
    assert_int_equal(pm[2].total_blocks, 2);
    assert_int_equal(pm[0].match_blocks, 0);
    pr.ops->done(pr.state, &cy, NULL, true);

    pr.ops->destroy(pr.state);
    sc.ops->destroy(sc.state);
    sy_pool_unref(pool);
    sy_kvevents_shutdown();
}

static void test_speculative(void **state)
{
    (void)state;
    char err[512], body[256];
    struct fx_plugin pr;
    assert_int_equal(fx_plugin_new(&pr, "precise-prefix-cache-producer",
                                   "tokenProcessorConfig: {blockSize: 4}\n"
                                   "speculativeIndexing: true\nspeculativeTTL: 3s\n",
                                   err, sizeof err),
                     0);
    struct sy_endpoint *eps[2] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0)};
    struct sy_pool *pool = fx_pool(eps, 2);
    struct sy_sched_candidate c[2];
    fx_cands(pool, c);
    struct sy_request r;
    req_completions(&r, body, sizeof body, TEXT48);
    struct sy_prefix_match pm[2];
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, pool, 1);
    cy.now_ns = 1000 * SY_NS_PER_S;
    memset(pm, 0, sizeof pm);
    cy.prefix = pm;
    pr.ops->produce(pr.state, &cy, c, 2);
    assert_int_equal(pm[1].match_blocks, 0);
    pr.ops->pre_request(pr.state, &cy, &c[1]);
    pr.ops->done(pr.state, &cy, &c[1], true);
    /* 2 s later: b:1 is believed to hold the prompt; 4 s later: expired. */
    for (int k = 0; k < 2; k++) {
        fx_cycle(&cy, &r, pool, 1);
        cy.now_ns = (1002 + 2 * (uint64_t)k) * SY_NS_PER_S;
        memset(pm, 0, sizeof pm);
        cy.prefix = pm;
        pr.ops->produce(pr.state, &cy, c, 2);
        assert_int_equal(pm[1].match_blocks, k == 0 ? 3 : 0);
        assert_int_equal(pm[0].match_blocks, 0);
        pr.ops->done(pr.state, &cy, NULL, true);
    }
    pr.ops->destroy(pr.state);
    sy_pool_unref(pool);
    sy_kvevents_shutdown();
}

static void test_loader(void **state)
{
    (void)state;
    const char *y = "apiVersion: llm-d.ai/v1alpha1\n"
                    "kind: EndpointPickerConfig\n"
                    "plugins:\n"
                    "- type: token-producer\n"
                    "  parameters: {backend: simulator}\n"
                    "- type: precise-prefix-cache-producer\n"
                    "  parameters:\n"
                    "    tokenProcessorConfig: {blockSize: 16}\n"
                    "- type: prefix-cache-scorer\n"
                    "  parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}\n"
                    "- type: max-score-picker\n";
    char err[512] = "";
    struct sy_yaml_node *n = sy_yaml_load_string(y, strlen(y), "epp.yaml", err, sizeof err);
    assert_non_null(n);
    struct sy_scheduler *s = sy_sched_new(n, "epp.yaml", err, sizeof err);
    if (!s)
        print_error("%s\n", err);
    assert_non_null(s);
    assert_true(sy_sched_has_plugin(s, "precise-prefix-cache-producer"));
    assert_true(sy_sched_has_plugin(s, "token-producer"));
    assert_false(sy_sched_has_plugin(s, "approx-prefix-cache-producer"));
    sy_sched_free(s);
    sy_yaml_free(n);
    sy_kvevents_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate_tokens),
        cmocka_unit_test(test_simulator_tokens),
        cmocka_unit_test(test_local_tokens),
        cmocka_unit_test(test_param_errors),
        cmocka_unit_test(test_producer_and_scorer),
        cmocka_unit_test(test_speculative),
        cmocka_unit_test(test_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
