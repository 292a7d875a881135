/* chat.c - a model's chat template: tokenizer_config.json -> rendered prompt text.
 *
 * Loading picks the template (a string, or the "default" entry of a list of named templates, or
 * DIR/chat_template.jinja) and the bos/eos token strings, and compiles the template once.
 * Rendering builds the variables transformers passes -- messages, tools (when given),
 * add_generation_prompt, bos_token, eos_token -- and runs the Jinja interpreter.
 *
 * Messages are normalised the way vLLM does for "string" content-format templates before they
 * reach the template: content null becomes "", and a list of content parts becomes the "\n"-join
 * of its text parts. Everything else in a message (tool_calls, reasoning_content, name...) is
 * passed through untouched.
 *
 * Immutable after loading; rendering is thread-safe (jinja.h).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "tokenize/chat.h"
#include "tokenize/jinja.h"

#define SY_CHAT_MAX_TEMPLATE (4u << 20) /* chat_template.jinja size limit */

struct sy_chat {
    struct sy_jinja *tmpl; /* owned; compiled chat template */
    char *bos;             /* owned; bos_token or NULL */
    char *eos;             /* owned; eos_token or NULL */
};

static char *token_str(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? sy_xstrdup(v->valuestring) : NULL;
}

struct sy_chat *sy_chat_load(const char *dir, const char *config, size_t len, char *err,
                             size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    cJSON *cfg = cJSON_ParseWithLength(config, len);
    if (!cJSON_IsObject(cfg)) {
        if (err && errcap)
            snprintf(err, errcap, "%s/tokenizer_config.json: not a JSON object", dir);
        cJSON_Delete(cfg);
        return NULL;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *src = NULL;
    char *file_src = NULL;
    if (cJSON_IsString(ct)) {
        src = ct->valuestring;
    } else if (cJSON_IsArray(ct)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, ct)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
            const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(it, "template");
            if (cJSON_IsString(name) && cJSON_IsString(tpl) &&
                strcmp(name->valuestring, "default") == 0)
                src = tpl->valuestring;
        }
    }
    size_t src_len = src ? strlen(src) : 0;
    if (!src) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/chat_template.jinja", dir);
        FILE *f = fopen(path, "rb");
        if (f) {
            file_src = sy_xmalloc(SY_CHAT_MAX_TEMPLATE + 1);
            src_len = fread(file_src, 1, SY_CHAT_MAX_TEMPLATE, f);
            file_src[src_len] = '\0';
            fclose(f);
            src = file_src;
        }
    }
    if (!src) {
        cJSON_Delete(cfg);
        return NULL; /* no template: not an error */
    }
    char jerr[256];
    struct sy_jinja *tmpl = sy_jinja_compile(src, src_len, jerr, sizeof(jerr));
    free(file_src);
    if (!tmpl) {
        if (err && errcap)
            snprintf(err, errcap, "%s/tokenizer_config.json: chat_template: %s", dir, jerr);
        cJSON_Delete(cfg);
        return NULL;
    }
    struct sy_chat *c = SY_NEW(struct sy_chat);
    c->tmpl = tmpl;
    c->bos = token_str(cfg, "bos_token");
    c->eos = token_str(cfg, "eos_token");
    cJSON_Delete(cfg);
    return c;
}

void sy_chat_free(struct sy_chat *c)
{
    if (!c)
        return;
    sy_jinja_free(c->tmpl);
    free(c->bos);
    free(c->eos);
    free(c);
}

/* content: null -> "", [parts] -> "\n".join(text parts); other shapes are left alone. */
static void normalise_content(cJSON *msg)
{
    cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!content)
        return;
    if (cJSON_IsNull(content)) {
        cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", cJSON_CreateString(""));
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    struct sy_buf b;
    sy_buf_init(&b);
    bool first = true;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text =
            cJSON_IsString(part) ? part : cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(text))
            continue;
        if (!first)
            sy_buf_append(&b, "\n", 1);
        sy_buf_puts(&b, text->valuestring);
        first = false;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(msg, "content",
                                           cJSON_CreateString(b.data ? b.data : ""));
    sy_buf_fini(&b);
}

static void seterr(char *err, size_t errcap, const char *msg)
{
    if (err && errcap)
        snprintf(err, errcap, "%s", msg);
}

/* Renders with msgs and tools (both taken over; tools may be NULL) and kwargs (borrowed, may be
 * NULL: extra template variables, set last so they override). */
static int render_vars(const struct sy_chat *c, cJSON *msgs, cJSON *tools, const cJSON *kwargs,
                       bool add_generation_prompt, char **out, size_t *outlen, char *err,
                       size_t errcap)
{
    cJSON *vars = cJSON_CreateObject();
    int rc = SY_EPARSE;
    if (!cJSON_IsArray(msgs)) {
        seterr(err, errcap, "messages: expected a JSON array");
        cJSON_Delete(msgs);
        goto out;
    }
    cJSON_AddItemToObject(vars, "messages", msgs);
    cJSON *it;
    cJSON_ArrayForEach(it, msgs)
    {
        if (!cJSON_IsObject(it) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "role"))) {
            seterr(err, errcap, "messages: each message must be an object with a role");
            goto out;
        }
        normalise_content(it);
    }
    if (tools && !cJSON_IsNull(tools)) {
        if (!cJSON_IsArray(tools)) {
            seterr(err, errcap, "tools: expected a JSON array");
            goto out;
        }
        cJSON_AddItemToObject(vars, "tools", tools);
        tools = NULL;
    }
    cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt);
    if (c->bos)
        cJSON_AddStringToObject(vars, "bos_token", c->bos);
    if (c->eos)
        cJSON_AddStringToObject(vars, "eos_token", c->eos);
    if (kwargs) {
        if (!cJSON_IsObject(kwargs)) {
            seterr(err, errcap, "chat_template_kwargs: expected a JSON object");
            goto out;
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, kwargs)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(vars, kv->string);
            cJSON_AddItemToObject(vars, kv->string, cJSON_Duplicate(kv, true));
        }
    }
    struct sy_buf b;
    sy_buf_init(&b);
    rc = sy_jinja_render(c->tmpl, vars, &b, err, errcap);
    if (rc) {
        sy_buf_fini(&b);
        goto out;
    }
    if (!b.data)
        sy_buf_puts(&b, "");
    *out = sy_buf_steal(&b, outlen);
out:
    cJSON_Delete(tools);
    cJSON_Delete(vars);
    return rc;
}

int sy_chat_render(const struct sy_chat *c, const char *messages, size_t len, const char *tools,
                   size_t tools_len, bool add_generation_prompt, char **out, size_t *outlen,
                   char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    cJSON *msgs = cJSON_ParseWithLength(messages, len);
    cJSON *t = NULL;
    if (tools) {
        t = cJSON_ParseWithLength(tools, tools_len);
        if (!t) {
            cJSON_Delete(msgs);
            seterr(err, errcap, "tools: expected a JSON array");
            return SY_EPARSE;
        }
    }
    return render_vars(c, msgs, t, NULL, add_generation_prompt, out, outlen, err, errcap);
}

int sy_chat_render_request(const struct sy_chat *c, const char *body, size_t len, char **out,
                           size_t *outlen, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    cJSON *req = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        seterr(err, errcap, "request: expected a JSON object");
        return SY_EPARSE;
    }
    cJSON *msgs = cJSON_DetachItemFromObjectCaseSensitive(req, "messages");
    cJSON *tools = cJSON_DetachItemFromObjectCaseSensitive(req, "tools");
    const cJSON *agp = cJSON_GetObjectItemCaseSensitive(req, "add_generation_prompt");
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(req, "chat_template_kwargs");
    int rc = render_vars(c, msgs, tools, cJSON_IsNull(kw) ? NULL : kw, !cJSON_IsFalse(agp), out,
                         outlen, err, errcap);
    cJSON_Delete(req);
    return rc;
}
