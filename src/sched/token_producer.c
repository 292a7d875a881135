/* token_producer.c - `token-producer` (legacy name `tokenizer`): turns the request into token ids
 * for the precise prefix-cache producer (llm-d's TokenizedPrompt data).
 *
 * Backends (parameter `backend`):
 *   estimate   llm-d router's default: the prompt's bytes packed 4 at a time into
 *              little-endian uint32 pseudo-tokens (tail zero-padded); for chat the bytes are
 *              llm-d's (estimate.go): json.Marshal(tools), then role || content text per message.
 *              No tokenizer; matches nothing an engine computes, so precise routing over real
 *              engines needs `local`.
 *   local      Switchyard's in-process Hugging Face tokenizer (src/tokenize), loaded once from
 *              `tokenizer: DIR` (tokenizer.json + tokenizer_config.json). Chat requests are
 *              rendered through the model's chat template exactly as vLLM renders them (messages,
 *              tools, documents, add_generation_prompt, continue_final_message,
 *              chat_template_kwargs: sy_tokenizer_render_request(), the path the simulator shares),
 *              then encoded; Anthropic /v1/messages requests are first converted to the chat
 *              request vLLM builds from them (system first; sy_anthropic_to_chat) and rendered the
 *              same way; completions encode the prompt string (or take a list of token ids as
 *              is); /inference/v1/generate carries token ids (taken as is by every backend).
 *              The chat path hands the template builder the request body rather than spans of
 *              sy_request: the template needs a value tree of messages and tools (nearly all of a
 *              chat body, so one cJSON parse of the body costs what parsing those spans would),
 *              and reading the body the engine reads keeps the gateway from missing a field vLLM
 *              renders. A malformed field (tools not a list, a media part) gets the estimate.
 *   simulator  Switchyard extension: the built-in tokenizer of `switchyard sim` (4-byte chunks,
 *              chat rendered with ChatML), so precise routing works against simulated replicas
 *              without a tokenizer.json.
 *   vllm       llm-d's render round trip to the model server (token_vllm.c): the gateway fetches
 *              the ids on the worker's loop before scheduling (src/gateway/pretokenize.c) and
 *              passes them in req->tokens; a slow or failed server falls back to the estimate.
 *              Selected by `backend: vllm`, or (as llm-d) by a `vllm` block, or by `modelName`
 *              alone under an llm-d.ai apiVersion.
 * Other parameters: modelName (local/simulator: accepted, the request's model is used; vllm: the
 * model name sent to the server), vllm (url, timeout, mmTimeout; Switchyard: api, cacheSize,
 * cacheMaxTokens).
 *
 * Output: struct sy_sched_tokens in cy->scratch[SY_SCHED_SCRATCH_TOKENS] (precise_prefix.h); also
 * sets cy->prompt_tokens. A request the backend cannot tokenize (bad prompt, template error) gets
 * the estimate instead, with a debug log: scheduling must not fail because of tokenization.
 *
 * Threading: the state (backend, tokenizer) is immutable after create; a loaded tokenizer is safe
 * for concurrent use.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/json_scan.h"
#include "api/request.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "prefix/hash.h"
#include "sched/llmd_text.h"
#include "sched/internal.h"
#include "sched/params.h"
#include "sched/plugins.h"
#include "sched/precise_prefix.h"
#include "sched/token_vllm.h"
#include "sim/engine.h"
#include "tokenize/tokenizer.h"

enum backend { B_ESTIMATE, B_LOCAL, B_SIMULATOR, B_VLLM };

struct tproducer {
    enum backend backend;     /* which tokenizer */
    struct sy_tokenizer *tok; /* B_LOCAL: owned */
    struct sy_token_vllm *tv; /* B_VLLM: owned */
};

size_t sy_sched_tokens_estimate(const char *text, size_t len, uint32_t *out)
{
    size_t n = (len + 3) / 4;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4 && 4 * i + k < len; k++)
            v |= (uint32_t)p[4 * i + k] << (8 * k);
        out[i] = v;
    }
    return n;
}

struct sy_str sy_sched_tokens_text(const struct sy_request *req, char **owned)
{
    *owned = NULL;
    struct sy_str t = req->prompt;
    bool quoted = t.len == 0 || (t.p > req->body && t.p[-1] == '"');
    if (req->kind == SY_API_COMPLETIONS && !quoted && t.len && t.p[0] == '[') {
        /* ["one string"]: that string (JSON-decoded by cJSON) */
        cJSON *a = cJSON_ParseWithLength(t.p, t.len);
        if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 1 &&
            cJSON_IsString(cJSON_GetArrayItem(a, 0))) {
            *owned = sy_xstrdup(cJSON_GetArrayItem(a, 0)->valuestring);
            t = sy_str_c(*owned);
        }
        cJSON_Delete(a);
        return t;
    }
    if (req->kind == SY_API_COMPLETIONS && quoted && t.len && memchr(t.p, '\\', t.len)) {
        char *d = sy_xmalloc(t.len ? t.len : 1);
        size_t dl = sy_json_decode_string(t, d, t.len, NULL);
        if (dl == SIZE_MAX) {
            free(d);
            return t;
        }
        *owned = d;
        return (struct sy_str){d, dl};
    }
    return t;
}

void sy_sched_tokens_set(struct sy_sched_cycle *cy, uint32_t *ids, size_t n)
{
    sy_sched_tokens_release(cy);
    struct sy_sched_tokens *t = SY_NEW(struct sy_sched_tokens);
    t->ids = ids;
    t->n = n;
    cy->scratch[SY_SCHED_SCRATCH_TOKENS] = t;
    cy->prompt_tokens = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void sy_sched_tokens_release(struct sy_sched_cycle *cy)
{
    struct sy_sched_tokens *t = cy->scratch[SY_SCHED_SCRATCH_TOKENS];
    if (!t)
        return;
    free(t->ids);
    free(t);
    cy->scratch[SY_SCHED_SCRATCH_TOKENS] = NULL;
}

static int id_list(struct sy_str t, uint32_t **ids, size_t *n);

static void set_estimate(struct sy_sched_cycle *cy)
{
    uint32_t *gids = NULL;
    size_t gn = 0;
    if (cy->req && cy->req->kind == SY_API_GENERATE && id_list(cy->req->prompt, &gids, &gn) == 0) {
        sy_sched_tokens_set(cy, gids, gn); /* generate carries its token ids */
        return;
    }
    char *owned = NULL;
    struct sy_str text = sy_str_c("");
    struct sy_buf chat;
    sy_buf_init(&chat);
    if (cy->req && cy->req->kind == SY_API_CHAT_COMPLETIONS &&
        sy_llmd_chat_estimate_bytes(cy->req, &chat) == 0) {
        /* llm-d estimate.go: tools JSON, then role || content text per message */
        text = (struct sy_str){chat.data ? chat.data : "", chat.len};
    } else if (cy->req) {
        text = sy_sched_tokens_text(cy->req, &owned);
    }
    size_t n = (text.len + 3) / 4;
    uint32_t *ids = n ? sy_xmalloc(n * sizeof *ids) : NULL;
    sy_sched_tokens_estimate(text.p, text.len, ids);
    free(owned);
    sy_buf_fini(&chat);
    sy_sched_tokens_set(cy, ids, n);
}

const struct sy_sched_tokens *sy_sched_tokens_get(struct sy_sched_cycle *cy)
{
    if (!cy->scratch[SY_SCHED_SCRATCH_TOKENS])
        set_estimate(cy);
    return cy->scratch[SY_SCHED_SCRATCH_TOKENS];
}

/* ---- backends --------------------------------------------------------------------------- */

/* A completions prompt given as a list of token ids: those ids; SY_ENOTFOUND otherwise. */
static int id_list(struct sy_str t, uint32_t **ids, size_t *n)
{
    if (!t.len || t.p[0] != '[')
        return SY_ENOTFOUND;
    cJSON *a = cJSON_ParseWithLength(t.p, t.len);
    int rc = SY_ENOTFOUND;
    int cnt = cJSON_GetArraySize(a);
    if (cJSON_IsArray(a) && cnt > 0 && cJSON_IsNumber(cJSON_GetArrayItem(a, 0))) {
        *ids = sy_xmalloc((size_t)cnt * sizeof **ids);
        *n = 0;
        rc = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > UINT32_MAX) {
                rc = SY_EINVAL;
                break;
            }
            (*ids)[(*n)++] = (uint32_t)it->valuedouble;
        }
        if (rc) {
            free(*ids);
            *ids = NULL;
        }
    }
    cJSON_Delete(a);
    return rc;
}

/* A Messages request as the OpenAI chat body vLLM renders (caller frees *chat). */
static int messages_as_chat(const struct sy_request *req, char **chat, size_t *len)
{
    char err[256];
    int rc = sy_anthropic_to_chat(req->body, req->body_len, chat, len, err, sizeof err);
    if (rc)
        sy_debug("token-producer: messages request: %s", err);
    return rc;
}

static int tok_local(const struct tproducer *p, const struct sy_request *req, uint32_t **ids,
                     size_t *n)
{
    if (req->kind == SY_API_CHAT_COMPLETIONS || req->kind == SY_API_MESSAGES) {
        char *out = NULL, err[256], *conv = NULL;
        size_t olen = 0, clen = req->body_len;
        const char *body = req->body;
        if (req->kind == SY_API_MESSAGES) { /* rendered as vLLM renders /v1/messages */
            int rc = messages_as_chat(req, &conv, &clen);
            if (rc)
                return rc;
            body = conv;
        }
        int rc = sy_tokenizer_render_request(p->tok, body, clen, &out, &olen, err, sizeof err);
        free(conv);
        if (rc) {
            sy_debug("token-producer: chat template: %s", err);
            return rc;
        }
        rc = sy_tokenizer_encode(p->tok, out, olen, ids, n);
        free(out);
        return rc;
    }
    if ((req->kind == SY_API_COMPLETIONS || req->kind == SY_API_GENERATE) &&
        id_list(req->prompt, ids, n) == 0)
        return 0;
    char *owned;
    struct sy_str text = sy_sched_tokens_text(req, &owned);
    int rc = sy_tokenizer_encode(p->tok, text.p, text.len, ids, n);
    free(owned);
    return rc;
}

static void chatml_content(struct sy_buf *b, const cJSON *c)
{
    if (cJSON_IsString(c)) {
        sy_buf_puts(b, c->valuestring);
        return;
    }
    const cJSON *part;
    if (cJSON_IsArray(c))
        cJSON_ArrayForEach(part, c)
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t))
                sy_buf_puts(b, t->valuestring);
        }
}

static int tok_simulator(const struct sy_request *req, uint32_t **ids, size_t *n)
{
    struct sy_buf b;
    sy_buf_init(&b);
    int rc = 0;
    if (req->kind == SY_API_CHAT_COMPLETIONS || req->kind == SY_API_MESSAGES) {
        cJSON *a = NULL;
        if (req->kind == SY_API_MESSAGES) {
            char *conv = NULL;
            size_t clen = 0;
            if (messages_as_chat(req, &conv, &clen) == 0) {
                cJSON *root = cJSON_ParseWithLength(conv, clen);
                a = cJSON_DetachItemFromObjectCaseSensitive(root, "messages");
                cJSON_Delete(root);
            }
            free(conv);
        } else {
            a = cJSON_ParseWithLength(req->prompt.p, req->prompt.len);
        }
        const cJSON *m, *msgs = a;
        if (!cJSON_IsArray(a)) {
            rc = SY_EINVAL;
            msgs = NULL;
        }
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (!cJSON_IsString(role)) {
                rc = SY_EINVAL;
                break;
            }
            sy_buf_printf(&b, "<|im_start|>%s\n", role->valuestring);
            chatml_content(&b, cJSON_GetObjectItemCaseSensitive(m, "content"));
            sy_buf_puts(&b, "<|im_end|>\n");
        }
        sy_buf_puts(&b, "<|im_start|>assistant\n");
        cJSON_Delete(a);
    } else {
        if ((req->kind == SY_API_COMPLETIONS || req->kind == SY_API_GENERATE) &&
            id_list(req->prompt, ids, n) == 0) {
            sy_buf_fini(&b);
            return 0;
        }
        char *owned;
        struct sy_str text = sy_sched_tokens_text(req, &owned);
        sy_buf_append(&b, text.p, text.len);
        free(owned);
    }
    if (rc == 0) {
        const char *s = b.data ? b.data : "";
        size_t cnt = sy_sim_tokenize(s, b.len, NULL, 0);
        *ids = cnt ? sy_xmalloc(cnt * sizeof **ids) : NULL;
        *n = sy_sim_tokenize(s, b.len, *ids, cnt);
    }
    sy_buf_fini(&b);
    return rc;
}

/* The ids the gateway fetched (req->tokens); a token-id prompt as is. SY_ENOTFOUND = estimate
 * (the failure was already counted and logged where the exchange ended). */
static int tok_vllm(const struct tproducer *p, const struct sy_request *req, uint32_t **ids,
                    size_t *n)
{
    const struct sy_token_vllm_result *r = req->tokens;
    if (r && r->ok) {
        *n = r->n;
        *ids = sy_xmalloc((r->n ? r->n : 1) * sizeof **ids);
        memcpy(*ids, r->ids, r->n * sizeof **ids);
        return 0;
    }
    if (req->kind == SY_API_COMPLETIONS && id_list(req->prompt, ids, n) == 0)
        return 0;
    if (!r && (req->kind == SY_API_CHAT_COMPLETIONS || req->kind == SY_API_COMPLETIONS))
        sy_token_vllm__not_fetched(p->tv);
    return SY_ENOTFOUND;
}

struct sy_token_vllm *sy_sched_token_vllm(const struct sy_scheduler *s)
{
    for (size_t i = 0; s && i < s->nplugins; i++) {
        const struct sy_sched_plugin *pl = s->plugins[i];
        if (pl->ops == &sy_plugin_token_producer && pl->state &&
            ((const struct tproducer *)pl->state)->backend == B_VLLM)
            return ((const struct tproducer *)pl->state)->tv;
    }
    return NULL;
}

/* ---- plugin ---------------------------------------------------------------------------- */

static int tp_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                     void **state, char *err, size_t errcap)
{
    static const char *const keys[] = {"backend", "tokenizer", "modelName", "vllm", NULL};
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (rc)
        return rc;
    const char *backend = "estimate", *dir = NULL, *model = NULL;
    if ((rc = sy_param_string(params, "backend", env, &backend, err, errcap)) ||
        (rc = sy_param_string(params, "tokenizer", env, &dir, err, errcap)) ||
        (rc = sy_param_string(params, "modelName", env, &model, err, errcap)))
        return rc;
    const struct sy_yaml_node *bn = sy_param_absent(params) ? NULL : sy_yaml_get(params, "backend");
    struct tproducer p = {.backend = B_ESTIMATE};
    if (!strcmp(backend, "estimate")) {
        p.backend = B_ESTIMATE;
    } else if (!strcmp(backend, "local")) {
        p.backend = B_LOCAL;
    } else if (!strcmp(backend, "simulator")) {
        p.backend = B_SIMULATOR;
    } else if (!strcmp(backend, "vllm")) {
        p.backend = B_VLLM;
    } else {
        return sy_param_errorf(env, bn, "backend", err, errcap,
                               "unknown backend '%s' (estimate, local, simulator or vllm)",
                               backend);
    }
    const struct sy_yaml_node *vn = sy_param_absent(params) ? NULL : sy_yaml_get(params, "vllm");
    if (!bn && (vn || (model && sy_plugin_env_router(env))))
        p.backend = B_VLLM; /* llm-d: `vllm` or `modelName` selects the vLLM backend */
    if (vn && p.backend != B_VLLM)
        return sy_param_errorf(env, vn, "vllm", err, errcap, "only used with backend 'vllm'");
    if (p.backend == B_VLLM) {
        if (dir)
            return sy_param_errorf(env, sy_yaml_get(params, "tokenizer"), "tokenizer", err, errcap,
                                   "only used with backend 'local'");
        if (!model || !*model)
            return sy_param_errorf(env, bn, "modelName", err, errcap,
                                   "backend 'vllm' needs 'modelName' (the model the server "
                                   "renders with)");
        p.tv = sy_token_vllm_new(vn, model, env, err, errcap);
        if (!p.tv)
            return SY_ECONFIG;
    }
    if (p.backend == B_LOCAL) {
        if (!dir || !*dir)
            return sy_param_errorf(env, bn, "tokenizer", err, errcap,
                                   "backend 'local' needs 'tokenizer: DIR' (the directory holding "
                                   "tokenizer.json and tokenizer_config.json)");
        char lerr[512];
        p.tok = sy_tokenizer_load(dir, lerr, sizeof lerr);
        if (!p.tok)
            return sy_param_errorf(env, sy_yaml_get(params, "tokenizer"), "tokenizer", err, errcap,
                                   "%s", lerr);
    } else if (dir) {
        return sy_param_errorf(env, sy_yaml_get(params, "tokenizer"), "tokenizer", err, errcap,
                               "only used with backend 'local'");
    }
    if (p.backend == B_ESTIMATE && model && !bn)
        sy_warn("%s:%d: plugin '%s': no backend given, using 'estimate' (byte pseudo-tokens, which "
                "never match an engine's KV events); for precise routing set 'backend: local' and "
                "'tokenizer: DIR' for %s",
                env && env->file ? env->file : "<config>", env ? env->line : 0,
                env && env->name ? env->name : "?", model);
    struct tproducer *st = SY_NEW(struct tproducer);
    *st = p;
    *state = st;
    return 0;
}

static void tp_destroy(void *state)
{
    struct tproducer *p = state;
    if (!p)
        return;
    sy_tokenizer_free(p->tok);
    sy_token_vllm_free(p->tv);
    free(p);
}

static void tp_produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c,
                       size_t n)
{
    (void)c;
    (void)n;
    const struct tproducer *p = state;
    if (!cy->req)
        return;
    uint32_t *ids = NULL;
    size_t cnt = 0;
    int rc = 0;
    if (p->backend == B_VLLM)
        rc = tok_vllm(p, cy->req, &ids, &cnt);
    else if (p->backend == B_LOCAL)
        rc = tok_local(p, cy->req, &ids, &cnt);
    else if (p->backend == B_SIMULATOR)
        rc = tok_simulator(cy->req, &ids, &cnt);
    else
        rc = SY_ENOTFOUND; /* estimate below */
    if (rc) {
        if (p->backend != B_ESTIMATE)
            sy_debug("token-producer: %s; using the estimate", sy_strerror(rc));
        sy_sched_tokens_release(cy);
        (void)sy_sched_tokens_get(cy);
        return;
    }
    sy_sched_tokens_set(cy, ids, cnt);
}

static void tp_done(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                    bool ok)
{
    (void)state;
    (void)chosen;
    (void)ok;
    sy_sched_tokens_release(cy);
}

const struct sy_plugin_ops sy_plugin_token_producer = {
    .type = "token-producer",
    .produces = "tokenized-prompt",
    .create = tp_create,
    .destroy = tp_destroy,
    .produce = tp_produce,
    .done = tp_done,
};
