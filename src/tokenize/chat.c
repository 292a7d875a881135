/* chat.c - a model's chat template: tokenizer_config.json -> rendered prompt text.
 *
 * Loading picks the template (a string, or the "default" entry of a list of named templates, or
 * DIR/chat_template.jinja) and the bos/eos token strings, and compiles the template once.
 * Rendering takes an OpenAI chat request, builds the template variables exactly as vLLM does
 * (chat_context.c: messages rebuilt and normalised, tools as model_dump() gives them, documents,
 * add_generation_prompt, chat_template_kwargs, bos/eos), runs the Jinja interpreter, and for
 * continue_final_message cuts the text after the final message as transformers does. Every
 * entry point (a request body, or messages + tools) goes through that one path.
 *
 * Immutable after loading; rendering is thread-safe (jinja.h).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
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

static void seterr(char *err, size_t errcap, const char *msg)
{
    if (err && errcap)
        snprintf(err, errcap, "%s", msg);
}

/* Python's str.isspace() for the code point starting at s[i] (its length in *n), or false. */
static bool py_space(const unsigned char *s, size_t len, size_t i, size_t *n)
{
    uint32_t cp = s[i];
    *n = 1;
    if (cp >= 0x80) {
        if (cp >= 0xC0 && cp < 0xE0 && i + 1 < len)
            cp = ((cp & 0x1F) << 6) | (s[i + 1] & 0x3F), *n = 2;
        else if (cp >= 0xE0 && cp < 0xF0 && i + 2 < len)
            cp = ((cp & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F), *n = 3;
        else
            return false;
    }
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Bytes of leading whitespace in s, and the length of s without trailing whitespace. */
static size_t lspace(const char *s, size_t len)
{
    size_t i = 0, n;
    while (i < len && py_space((const unsigned char *)s, len, i, &n))
        i += n;
    return i;
}

static size_t rstrip_len(const char *s, size_t len)
{
    size_t end = 0, i = 0, n;
    while (i < len) {
        bool sp = py_space((const unsigned char *)s, len, i, &n);
        i += n;
        if (!sp)
            end = i;
    }
    return end;
}

/* transformers' continue_final_message: cut the rendered text right after the final message's
 * content (its stripped form when the template trimmed trailing whitespace). */
static int continue_final(const cJSON *ctx, struct sy_buf *b, char *err, size_t errcap)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(ctx, "messages");
    const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (!cJSON_IsString(content)) {
        seterr(err, errcap, "continue_final_message: there is no final message to continue");
        return SY_EPARSE;
    }
    const char *m = content->valuestring;
    size_t mlen = strlen(m), ls = lspace(m, mlen);
    size_t slen = ls < mlen ? rstrip_len(m + ls, mlen - ls) : 0; /* strip() */
    const char *text = b->data ? b->data : "";
    const char *at = NULL;
    for (const char *p = text; (size_t)(p - text) + slen <= b->len; p++) {
        if (memcmp(p, m + ls, slen) == 0)
            at = p; /* rindex */
    }
    if (!at) {
        seterr(err, errcap,
               "continue_final_message: the final message does not appear in the "
               "rendered chat (the template changes it)");
        return SY_EPARSE;
    }
    size_t off = (size_t)(at - text), keep = mlen - ls; /* lstrip() length */
    if (!(off + keep <= b->len && memcmp(at, m + ls, keep) == 0 && ls == 0))
        keep = slen;
    b->len = off + keep;
    b->data[b->len] = '\0';
    return 0;
}

/* Renders a request object (borrowed) through the shared context builder (chat_context.c). */
static int render_req(const struct sy_chat *c, const cJSON *req, char **out, size_t *outlen,
                      char *err, size_t errcap)
{
    cJSON *ctx;
    bool cfm;
    int rc = sy_chat_context(req, c->bos, c->eos, &ctx, &cfm, err, errcap);
    if (rc)
        return rc;
    struct sy_buf b;
    sy_buf_init(&b);
    rc = sy_jinja_render(c->tmpl, ctx, &b, err, errcap);
    if (!b.data)
        sy_buf_puts(&b, "");
    if (rc == 0 && cfm)
        rc = continue_final(ctx, &b, err, errcap);
    cJSON_Delete(ctx);
    if (rc) {
        sy_buf_fini(&b);
        return rc;
    }
    *out = sy_buf_steal(&b, outlen);
    return 0;
}

int sy_chat_render(const struct sy_chat *c, const char *messages, size_t len, const char *tools,
                   size_t tools_len, bool add_generation_prompt, char **out, size_t *outlen,
                   char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    cJSON *msgs = cJSON_ParseWithLength(messages, len);
    if (!msgs) {
        seterr(err, errcap, "messages: expected a JSON array");
        return SY_EPARSE;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "messages", msgs);
    if (tools) {
        cJSON *t = cJSON_ParseWithLength(tools, tools_len);
        if (!t) {
            cJSON_Delete(req);
            seterr(err, errcap, "tools: expected a list");
            return SY_EPARSE;
        }
        cJSON_AddItemToObject(req, "tools", t);
    }
    cJSON_AddBoolToObject(req, "add_generation_prompt", add_generation_prompt);
    int rc = render_req(c, req, out, outlen, err, errcap);
    cJSON_Delete(req);
    return rc;
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
    int rc = render_req(c, req, out, outlen, err, errcap);
    cJSON_Delete(req);
    return rc;
}
