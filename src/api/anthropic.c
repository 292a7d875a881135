/* anthropic.c - the Anthropic Messages API (POST /v1/messages): what the gateway and the simulator
 * need beyond the OpenAI shapes (see anthropic.h).
 *
 *   request.c      --> sy_anthropic_scan: the body's one validating pass (sy_json_walk), which
 *                      also descends into `messages` (messages, their content blocks) and
 *                      `system` (text blocks) to check the shape on the way, allocation-free;
 *                      sy_anthropic_finish: the verdict, and the prefix text: the span
 *                      system..messages of the client's bytes
 *   token-producer --> sy_anthropic_to_chat: the OpenAI chat request vLLM renders (cJSON), then
 *   / simulator        the model's chat template as for /v1/chat/completions
 *   proxy          --> sy_anthropic_usage (message_start / message_delta / usage), error JSON,
 *                      the `event: error` that ends a broken stream
 *
 * Prefix text: llm-d's anthropic-parser hands the router the Messages request (system, messages);
 * here the hashed bytes run from the first of `system`/`messages` to the end of the last, as the
 * client sent them. A conversation that grows keeps its byte prefix, and a shared system prompt
 * sent first (what SDKs and agentic clients do) gives every request of an agent the same leading
 * blocks. A field the client puts between the two (say max_tokens) is hashed too; that only
 * changes the blocks after it.
 *
 * Conversion to chat follows vLLM's AnthropicServingMessages._convert_anthropic_to_openai_request,
 * including its quirks: a tool_result's tool_call_id is the block's `id` (not `tool_use_id`), a
 * non-string tool_result content is rendered as Python's str() of the value, tool_use arguments
 * are json.dumps() of the input (", " and ": " separators, ASCII escapes), empty text blocks are
 * dropped, a single text part collapses to a plain string.
 */
#include "api/anthropic.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

/* ---- request shape ---------------------------------------------------------------------- */

/* The shape check, called from the body's walk for what lies inside `messages` (depths counted
 * from that array: 0) or `system`:
 *   depth 1  a message (or a system block)      must be an object
 *   depth 2  its members: role, content (type, text for system blocks)
 *   depth 3  the content blocks                  must be objects
 *   depth 4  their members: type                 must be a string
 * Nothing else is descended into: long texts are skipped by the fast scanner once. */
__attribute__((format(printf, 2, 3))) static void sfail(struct sy_anthropic_shape *w,
                                                        const char *fmt, ...)
{
    if (w->err)
        return;
    w->err = SY_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
}

static bool msg_enter(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t)
{
    struct sy_anthropic_shape *w = ud;
    if (w->err)
        return false;
    switch (depth) {
    case 0: return true;
    case 1:
        w->msg = index;
        w->nmsgs++;
        w->role = w->content = false;
        if (t != SY_JSON_OBJECT) {
            sfail(w, "messages.%zu: Input should be a valid dictionary", index);
            return false;
        }
        return true;
    case 2:
        if (sy_str_eq_c(key, "content")) {
            w->content = true;
            w->nblocks = 0;
            if (t == SY_JSON_ARRAY)
                return true;
            if (t != SY_JSON_STRING)
                sfail(w,
                      "messages.%zu.content: Input should be a string or a list of content "
                      "blocks",
                      w->msg);
        }
        return false;
    case 3:
        w->block = index;
        w->nblocks++;
        w->type = false;
        if (t != SY_JSON_OBJECT) {
            sfail(w, "messages.%zu.content.%zu: Input should be a valid dictionary", w->msg, index);
            return false;
        }
        return true;
    case 4:
        if (sy_str_eq_c(key, "type"))
            w->type = t == SY_JSON_STRING;
        return false;
    default: return false;
    }
}

static void msg_leave(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t,
                      struct sy_str v)
{
    struct sy_anthropic_shape *w = ud;
    (void)index;
    if (w->err)
        return;
    if (depth == 2 && sy_str_eq_c(key, "role")) {
        w->role = true;
        if (t != SY_JSON_STRING || !(sy_str_eq_c(v, "\"user\"") || sy_str_eq_c(v, "\"assistant\"")))
            sfail(w, "messages.%zu.role: Input should be 'user' or 'assistant'", w->msg);
    } else if (depth == 2 && sy_str_eq_c(key, "content") && t == SY_JSON_ARRAY) {
        if (w->nblocks == 0)
            sfail(w, "message content must not be empty");
    } else if (depth == 3) {
        if (!w->type)
            sfail(w, "messages.%zu.content.%zu.type: Field required (a string)", w->msg, w->block);
    } else if (depth == 1) {
        if (!w->role)
            sfail(w, "messages.%zu.role: Field required", w->msg);
        else if (!w->content)
            sfail(w, "messages.%zu.content: Field required", w->msg);
    } else if (depth == 0 && w->nmsgs == 0) {
        sfail(w, "messages must contain at least one item");
    }
}

static bool sys_enter(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t)
{
    struct sy_anthropic_shape *w = ud;
    if (w->err)
        return false;
    if (depth == 0)
        return true;
    if (depth == 1) {
        w->block = index;
        w->type = w->text = false;
        if (t != SY_JSON_OBJECT) {
            sfail(w, "system.%zu: Input should be a valid dictionary", index);
            return false;
        }
        return true;
    }
    if (depth == 2 && sy_str_eq_c(key, "text"))
        w->text = t == SY_JSON_STRING;
    return false;
}

static void sys_leave(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t,
                      struct sy_str v)
{
    struct sy_anthropic_shape *w = ud;
    (void)index;
    if (w->err)
        return;
    if (depth == 2 && sy_str_eq_c(key, "type")) {
        w->type = true;
        if (t != SY_JSON_STRING || !sy_str_eq_c(v, "\"text\""))
            sfail(w, "system.%zu.type: Input should be 'text'", w->block);
    } else if (depth == 1) {
        if (!w->type)
            sfail(w, "system.%zu.type: Field required (a string)", w->block);
        else if (!w->text)
            sfail(w, "system.%zu.text: Field required (a string)", w->block);
    }
}

/* The whole body: depth 0 the object, depth 1 its members; `messages` and `system` lists are
 * walked one level down from where msg_ and sys_ callbacks count. */
struct scan_ctx {
    struct sy_anthropic_shape *w; /* the shape check */
    sy_json_member_fn *top;       /* top-level members */
    void *ud;                     /* its argument */
};

static bool body_enter(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t)
{
    struct scan_ctx *c = ud;
    if (depth == 0)
        return true; /* the object (checked by sy_anthropic_scan) */
    if (depth == 1) {
        c->w->mode = 0;
        if (t == SY_JSON_ARRAY && sy_str_eq_c(key, "messages"))
            c->w->mode = 1;
        else if (t == SY_JSON_ARRAY && sy_str_eq_c(key, "system"))
            c->w->mode = 2;
        return c->w->mode != 0;
    }
    if (c->w->mode == 1)
        return msg_enter(c->w, depth - 1, key, index, t);
    return c->w->mode == 2 && sys_enter(c->w, depth - 1, key, index, t);
}

static void body_leave(void *ud, int depth, struct sy_str key, size_t index, enum sy_json_type t,
                       struct sy_str v)
{
    struct scan_ctx *c = ud;
    if (depth == 0)
        return;
    if (depth == 1) {
        if (c->w->mode == 1)
            msg_leave(c->w, 0, key, index, t, v);
        c->w->mode = 0;
        c->top(c->ud, key, t, v);
        return;
    }
    if (c->w->mode == 1)
        msg_leave(c->w, depth - 1, key, index, t, v);
    else if (c->w->mode == 2)
        sys_leave(c->w, depth - 1, key, index, t, v);
}

int sy_anthropic_scan(const char *body, size_t len, sy_json_member_fn *top, void *ud,
                      struct sy_anthropic_fields *f, size_t *err_off, char *err, size_t errcap)
{
    static const struct sy_json_walk_ops ops = {.enter = body_enter, .leave = body_leave};
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i >= len || body[i] != '{') {
        if (err_off)
            *err_off = i;
        snprintf(err, errcap, "%s", len ? "expected a JSON object" : "empty body");
        return SY_EPARSE;
    }
    memset(&f->shape, 0, sizeof f->shape);
    struct scan_ctx c = {&f->shape, top, ud};
    return sy_json_walk(body, len, &ops, &c, err_off, err, errcap);
}

int sy_anthropic_finish(struct sy_request *req, const struct sy_anthropic_fields *f, char *err,
                        size_t errcap)
{
    struct sy_str msgs = req->prompt;
    if (!msgs.len) {
        snprintf(err, errcap, "messages: Field required");
        return SY_EINVAL;
    }
    if (!f->have_max_tokens) {
        snprintf(err, errcap, "max_tokens: Field required");
        return SY_EINVAL;
    }
    if (req->max_tokens < 1) {
        snprintf(err, errcap, "max_tokens: Input should be greater than or equal to 1");
        return SY_EINVAL;
    }
    if (f->shape.err) {
        snprintf(err, errcap, "%s", f->shape.why);
        return f->shape.err;
    }
    struct sy_str sys = f->system;
    if (sys.len && f->system_type != SY_JSON_NULL) {
        if (f->system_type != SY_JSON_ARRAY && f->system_type != SY_JSON_STRING) {
            snprintf(err, errcap, "system: Input should be a string or a list of text blocks");
            return SY_EINVAL;
        }
        const char *a = sys.p < msgs.p ? sys.p : msgs.p;
        const char *b1 = sys.p + sys.len, *b2 = msgs.p + msgs.len;
        const char *b = b1 > b2 ? b1 : b2;
        req->prompt = (struct sy_str){a, (size_t)(b - a)};
    }
    return 0;
}

/* ---- errors ----------------------------------------------------------------------------- */

const char *sy_anthropic_error_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void sy_anthropic_error_json(struct sy_buf *b, int status, const char *message)
{
    const char *type = sy_anthropic_error_type(status);
    sy_buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    sy_buf_json_str(b, type, strlen(type));
    sy_buf_puts(b, ",\"message\":");
    sy_buf_json_str(b, message, strlen(message));
    sy_buf_puts(b, "}}");
}

const char sy_anthropic_stream_error_event[] =
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
    "\"the model server connection broke mid-stream\"}}\n\n";

/* ---- usage ------------------------------------------------------------------------------ */

/* End of the JSON object starting at p (strings skipped), or NULL when it does not end in text. */
static const char *object_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

/* The integer after "key": inside [p, end) at any depth; -1 when absent. */
static int64_t int_in(const char *p, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (; p + kl + 2 < end; p++) {
        if (*p != '"' || memcmp(p + 1, key, kl) != 0 || p[kl + 1] != '"')
            continue;
        const char *q = p + kl + 2;
        while (q < end && (*q == ' ' || *q == ':'))
            q++;
        int64_t v = 0;
        bool any = false;
        while (q < end && *q >= '0' && *q <= '9' && v < INT64_MAX / 10) {
            v = v * 10 + (*q++ - '0');
            any = true;
        }
        return any ? v : -1;
    }
    return -1;
}

void sy_anthropic_usage(const char *text, size_t len, int64_t *input, int64_t *output,
                        int64_t *cached)
{
    const char *end = text + len;
    for (const char *p = text; p + 7 <= end; p++) {
        p = memmem(p, (size_t)(end - p), "\"usage\"", 7);
        if (!p)
            break;
        const char *o = p + 7;
        while (o < end && (*o == ' ' || *o == ':'))
            o++;
        if (o >= end || *o != '{')
            continue;
        const char *oe = object_end(o, end);
        if (!oe)
            break;
        int64_t v;
        if ((v = int_in(o, oe, "input_tokens")) >= 0)
            *input = v;
        if ((v = int_in(o, oe, "output_tokens")) >= 0)
            *output = v;
        if ((v = int_in(o, oe, "cache_read_input_tokens")) >= 0)
            *cached = v;
        p = oe - 1;
    }
}

/* ---- conversion to an OpenAI chat request ------------------------------------------------- */

/* Python's json.dumps(v): separators ", " and ": ", ensure_ascii (\uXXXX, surrogate pairs). */
static void py_dumps(struct sy_buf *b, const cJSON *v);

static void py_json_str(struct sy_buf *b, const char *s)
{
    sy_buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            sy_buf_printf(b, "\\%c", c);
            p++;
        } else if (c == '\n') {
            sy_buf_puts(b, "\\n"), p++;
        } else if (c == '\r') {
            sy_buf_puts(b, "\\r"), p++;
        } else if (c == '\t') {
            sy_buf_puts(b, "\\t"), p++;
        } else if (c == '\b') {
            sy_buf_puts(b, "\\b"), p++;
        } else if (c == '\f') {
            sy_buf_puts(b, "\\f"), p++;
        } else if (c < 0x20 || c == 0x7f) {
            sy_buf_printf(b, "\\u%04x", c), p++;
        } else if (c < 0x80) {
            sy_buf_append(b, (const char *)p, 1), p++;
        } else {
            uint32_t cp;
            int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            cp = c & (n == 4 ? 0x07 : n == 3 ? 0x0f : 0x1f);
            int k = 1;
            for (; k < n && (p[k] & 0xc0) == 0x80; k++)
                cp = (cp << 6) | (p[k] & 0x3f);
            if (k < n)
                cp = 0xfffd, n = k; /* cJSON gave us UTF-8; defensive */
            if (cp >= 0x10000) {
                cp -= 0x10000;
                sy_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                sy_buf_printf(b, "\\u%04x", cp);
            }
            p += n;
        }
    }
    sy_buf_puts(b, "\"");
}

static void py_number(struct sy_buf *b, double d)
{
    if (d == floor(d) && fabs(d) < 1e15)
        sy_buf_printf(b, "%lld", (long long)d);
    else
        sy_buf_printf(b, "%.17g", d);
}

static void py_dumps(struct sy_buf *b, const cJSON *v)
{
    const cJSON *it;
    if (cJSON_IsObject(v)) {
        sy_buf_puts(b, "{");
        bool first = true;
        cJSON_ArrayForEach(it, v)
        {
            sy_buf_puts(b, first ? "" : ", ");
            first = false;
            py_json_str(b, it->string);
            sy_buf_puts(b, ": ");
            py_dumps(b, it);
        }
        sy_buf_puts(b, "}");
    } else if (cJSON_IsArray(v)) {
        sy_buf_puts(b, "[");
        bool first = true;
        cJSON_ArrayForEach(it, v)
        {
            sy_buf_puts(b, first ? "" : ", ");
            first = false;
            py_dumps(b, it);
        }
        sy_buf_puts(b, "]");
    } else if (cJSON_IsString(v)) {
        py_json_str(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        py_number(b, v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        sy_buf_puts(b, "true");
    } else if (cJSON_IsFalse(v)) {
        sy_buf_puts(b, "false");
    } else {
        sy_buf_puts(b, "null");
    }
}

/* Python's repr() of a str: single quotes unless the text holds ' and no ". */
static void py_repr_str(struct sy_buf *b, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    sy_buf_append(b, &q, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q)
            sy_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            sy_buf_puts(b, "\\n");
        else if (*p == '\r')
            sy_buf_puts(b, "\\r");
        else if (*p == '\t')
            sy_buf_puts(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            sy_buf_printf(b, "\\x%02x", *p);
        else
            sy_buf_append(b, (const char *)p, 1);
    }
    sy_buf_append(b, &q, 1);
}

/* Python's str() of a JSON value (what vLLM's str(block.content) gives for a list). */
static void py_str(struct sy_buf *b, const cJSON *v, bool top)
{
    const cJSON *it;
    if (cJSON_IsString(v)) {
        if (top)
            sy_buf_puts(b, v->valuestring);
        else
            py_repr_str(b, v->valuestring);
    } else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v), first = true;
        sy_buf_puts(b, obj ? "{" : "[");
        cJSON_ArrayForEach(it, v)
        {
            sy_buf_puts(b, first ? "" : ", ");
            first = false;
            if (obj) {
                py_repr_str(b, it->string);
                sy_buf_puts(b, ": ");
            }
            py_str(b, it, false);
        }
        sy_buf_puts(b, obj ? "}" : "]");
    } else if (cJSON_IsNumber(v)) {
        py_number(b, v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        sy_buf_puts(b, "True");
    } else if (cJSON_IsFalse(v)) {
        sy_buf_puts(b, "False");
    } else {
        sy_buf_puts(b, "None");
    }
}

/* Python truthiness of a JSON value ("if block.content"). */
static bool py_truthy(const cJSON *v)
{
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
        return false;
    if (cJSON_IsString(v))
        return v->valuestring[0] != '\0';
    if (cJSON_IsArray(v) || cJSON_IsObject(v))
        return v->child != NULL;
    if (cJSON_IsNumber(v))
        return v->valuedouble != 0;
    return true;
}

static const char *str_item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *buf_take(struct sy_buf *b)
{
    char *s = sy_xstrdup(b->data ? b->data : "");
    sy_buf_fini(b);
    return s;
}

/* One Anthropic message -> the OpenAI message(s) appended to out. */
static int convert_message(const cJSON *msg, cJSON *out, char *err, size_t errcap)
{
    const char *role = str_item(msg, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!role || !content) {
        snprintf(err, errcap, "each message needs 'role' and 'content'");
        return SY_EINVAL;
    }
    cJSON *om = cJSON_CreateObject();
    cJSON_AddStringToObject(om, "role", role);
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(om, "content", content->valuestring);
        cJSON_AddItemToArray(out, om);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        cJSON_Delete(om);
        snprintf(err, errcap, "message content must be a string or a list of blocks");
        return SY_EINVAL;
    }
    cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const char *type = str_item(blk, "type");
        if (!type)
            continue;
        if (!strcmp(type, "text")) {
            const char *text = str_item(blk, "text");
            if (text && *text) {
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "type", "text");
                cJSON_AddStringToObject(p, "text", text);
                cJSON_AddItemToArray(parts, p);
            }
        } else if (!strcmp(type, "image")) {
            const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk, "source");
            if (py_truthy(src)) {
                const char *data = str_item(src, "data");
                cJSON *p = cJSON_CreateObject(), *iu = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "type", "image_url");
                cJSON_AddStringToObject(iu, "url", data ? data : "");
                cJSON_AddItemToObject(p, "image_url", iu);
                cJSON_AddItemToArray(parts, p);
            }
        } else if (!strcmp(type, "tool_use")) {
            const char *id = str_item(blk, "id"), *name = str_item(blk, "name");
            char idbuf[48];
            if (!id || !*id) {
                snprintf(idbuf, sizeof idbuf, "call_%lld", (long long)time(NULL));
                id = idbuf;
            }
            struct sy_buf args;
            sy_buf_init(&args);
            const cJSON *input = cJSON_GetObjectItemCaseSensitive(blk, "input");
            if (py_truthy(input))
                py_dumps(&args, input);
            else
                sy_buf_puts(&args, "{}");
            char *a = buf_take(&args);
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", id);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddStringToObject(fn, "name", name ? name : "");
            cJSON_AddStringToObject(fn, "arguments", a);
            free(a);
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddItemToArray(calls, tc);
        } else if (!strcmp(type, "tool_result")) {
            const cJSON *rc = cJSON_GetObjectItemCaseSensitive(blk, "content");
            struct sy_buf t;
            sy_buf_init(&t);
            if (py_truthy(rc))
                py_str(&t, rc, true);
            char *text = buf_take(&t);
            if (!strcmp(role, "user")) {
                const char *id = str_item(blk, "id");
                cJSON *tm = cJSON_CreateObject();
                cJSON_AddStringToObject(tm, "role", "tool");
                cJSON_AddStringToObject(tm, "tool_call_id", id ? id : "");
                cJSON_AddStringToObject(tm, "content", text);
                cJSON_AddItemToArray(out, tm);
            } else {
                struct sy_buf pt;
                sy_buf_init(&pt);
                sy_buf_printf(&pt, "Tool result: %s", text);
                char *s = buf_take(&pt);
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "type", "text");
                cJSON_AddStringToObject(p, "text", s);
                cJSON_AddItemToArray(parts, p);
                free(s);
            }
            free(text);
        }
    }
    bool have_calls = calls->child != NULL;
    if (have_calls)
        cJSON_AddItemToObject(om, "tool_calls", calls);
    else
        cJSON_Delete(calls);
    int np = cJSON_GetArraySize(parts);
    if (np == 1 && !strcmp(str_item(parts->child, "type"), "text")) {
        cJSON_AddStringToObject(om, "content", str_item(parts->child, "text"));
        cJSON_Delete(parts);
    } else if (np > 0) {
        cJSON_AddItemToObject(om, "content", parts);
    } else {
        cJSON_Delete(parts);
        if (!have_calls)
            cJSON_AddStringToObject(om, "content", "");
    }
    cJSON_AddItemToArray(out, om);
    return 0;
}

int sy_anthropic_to_chat(const char *body, size_t len, char **out, size_t *outlen, char *err,
                         size_t errcap)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errcap, "the request body is not a JSON object");
        return SY_EPARSE;
    }
    int rc = 0;
    cJSON *chat = cJSON_CreateObject();
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(model))
        cJSON_AddStringToObject(chat, "model", model->valuestring);
    cJSON *msgs = cJSON_AddArrayToObject(chat, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "system");
    if (py_truthy(sys)) {
        struct sy_buf s;
        sy_buf_init(&s);
        if (cJSON_IsString(sys)) {
            sy_buf_puts(&s, sys->valuestring);
        } else if (cJSON_IsArray(sys)) {
            const cJSON *blk;
            cJSON_ArrayForEach(blk, sys)
            {
                const char *type = str_item(blk, "type"), *text = str_item(blk, "text");
                if (type && !strcmp(type, "text") && text)
                    sy_buf_puts(&s, text);
            }
        }
        char *text = buf_take(&s);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", text);
        cJSON_AddItemToArray(msgs, m);
        free(text);
    }
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(am) || !am->child) {
        snprintf(err, errcap, "messages must contain at least one item");
        rc = SY_EINVAL;
        goto out;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, am)
    {
        if ((rc = convert_message(m, msgs, err, errcap)) != 0)
            goto out;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (cJSON_IsNumber(mt))
        cJSON_AddNumberToObject(chat, "max_tokens", mt->valuedouble);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")))
        cJSON_AddTrueToObject(chat, "stream");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(tools)) {
        cJSON *ot = cJSON_AddArrayToObject(chat, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            cJSON *ft = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            cJSON_AddStringToObject(ft, "type", "function");
            const char *name = str_item(t, "name"), *desc = str_item(t, "description");
            cJSON_AddStringToObject(fn, "name", name ? name : "");
            if (desc)
                cJSON_AddStringToObject(fn, "description", desc);
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
            if (schema)
                cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, true));
            cJSON_AddItemToObject(ft, "function", fn);
            cJSON_AddItemToArray(ot, ft);
        }
    }
    char *s = cJSON_PrintUnformatted(chat);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        rc = SY_ENOMEM;
        goto out;
    }
    *out = s;
    *outlen = strlen(s);
out:
    cJSON_Delete(chat);
    cJSON_Delete(root);
    return rc;
}
