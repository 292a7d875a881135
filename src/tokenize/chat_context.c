/* chat_context.c - an OpenAI chat request -> the chat template's variables, as vLLM builds them.
 *
 * One code path for every renderer of chat requests: the gateway's token-producer (local
 * backend), the simulator with --tokenizer and `switchyard tokenize --chat` all reach it through
 * sy_chat_render_request(), so the text the gateway hashes is the text the engine renders.
 *
 * What vLLM does for POST /v1/chat/completions (vllm/entrypoints/chat_utils.py,
 * serving_chat.py; transformers' apply_chat_template), and what this file reproduces:
 *
 *   messages   each message is rebuilt (parse_chat_messages, "string" content format):
 *                role, content        content null/absent -> "", a string as is, a list of parts
 *                                     -> the "\n"-join of its text parts (text, input_text,
 *                                     output_text: .text; refusal: .refusal; thinking: .thinking;
 *                                     tool_reference: .name; bare strings); text/refusal parts
 *                                     without text are skipped; media parts are refused (they
 *                                     need the model's multimodal processor)
 *                assistant            tool_calls (when non-null; an empty list is dropped), each
 *                                     function.arguments string parsed as JSON (invalid -> {},
 *                                     non-string non-container -> {}); reasoning (or the older
 *                                     reasoning_content) copied to both reasoning and
 *                                     reasoning_content
 *                tool                 tool_call_id
 *                any                  name and task when strings; developer: tools
 *              every other field of a message is dropped, as vLLM drops it.
 *   tools      each tool as pydantic's model_dump() of ChatCompletionToolsParam gives it:
 *              {"type": "function", "function": {"name", "description" (null when absent),
 *              "parameters" (null when absent), extra fields}, extra fields} -- declared fields
 *              first, in declaration order, then the client's extras. null when absent (Jinja
 *              sees a defined None, as transformers passes tools=None).
 *   documents  passed through (a list of objects with string values), null when absent.
 *   add_generation_prompt (default true), continue_final_message (default false); then
 *   chat_template_kwargs merged over them (they win, vLLM's dict.update), minus chat_template and
 *   tokenize; bos_token/eos_token come first so kwargs may override them (transformers'
 *   {**special_tokens_map, **kwargs}). continue_final_message is not a template variable: the
 *   renderer trims the output after the final message (chat.c).
 *
 * Not reproduced: the "openai" content format (vLLM's AST check for templates that loop over
 * message content keeps parts as [{"type": "text", ...}] -- multimodal templates such as Llama 4
 * and Gemma 3), multimodal placeholders, Mistral and harmony (gpt-oss) renderers, and the
 * server-side --default-chat-template-kwargs. Numbers keep cJSON's precision (doubles): an integer
 * argument beyond 2^53 or a float written as 1.0 would print differently from Python's json.
 *
 * Invalid requests (where vLLM answers 400) get SY_EPARSE with the field path in err.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "tokenize/chat.h"

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return SY_EPARSE;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* A present, non-null member. */
static const cJSON *get_set(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

static void add_copy(cJSON *o, const char *k, const cJSON *v)
{
    cJSON_AddItemToObject(o, k, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

/* Part types whose text joins the content, and the member holding it. */
static const char *text_member(const char *type)
{
    static const char *const map[][2] = {
        {"text", "text"},       {"input_text", "text"},   {"output_text", "text"},
        {"refusal", "refusal"}, {"thinking", "thinking"}, {"tool_reference", "name"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(type, map[i][0]))
            return map[i][1];
    return NULL;
}

/* Appends one content part's text to b (joined with "\n"); *first tracks the separator. */
static int content_part(const cJSON *part, size_t mi, size_t pi, struct sy_buf *b, bool *first,
                        char *err, size_t errcap)
{
    const char *text = NULL;
    if (cJSON_IsString(part)) {
        text = part->valuestring;
    } else if (cJSON_IsObject(part)) {
        const cJSON *type = get_set(part, "type");
        if (!type)
            return fail(err, errcap, "messages[%zu].content[%zu]: missing 'type'", mi, pi);
        if (!cJSON_IsString(type))
            return fail(err, errcap, "messages[%zu].content[%zu].type: expected a string", mi, pi);
        const char *member = text_member(type->valuestring);
        if (!member)
            return fail(err, errcap,
                        "messages[%zu].content[%zu]: part type '%.40s' is not text (media "
                        "parts need the model's multimodal processor; only text is rendered)",
                        mi, pi, type->valuestring);
        const cJSON *t = get_set(part, member);
        if (!t && (!strcmp(type->valuestring, "text") || !strcmp(type->valuestring, "refusal")))
            return 0; /* vLLM skips text/refusal parts without content */
        if (!cJSON_IsString(t))
            return fail(err, errcap, "messages[%zu].content[%zu].%s: expected a string", mi, pi,
                        member);
        text = t->valuestring;
    } else {
        return fail(err, errcap, "messages[%zu].content[%zu]: expected a string or an object", mi,
                    pi);
    }
    if (!*first)
        sy_buf_append(b, "\n", 1);
    sy_buf_puts(b, text);
    *first = false;
    return 0;
}

/* The "string" content format: the message's content as one string. */
static cJSON *flatten_content(const cJSON *content, size_t mi, char *err, size_t errcap)
{
    if (!content || cJSON_IsNull(content))
        return cJSON_CreateString("");
    if (cJSON_IsString(content))
        return cJSON_CreateString(content->valuestring);
    if (!cJSON_IsArray(content)) {
        fail(err, errcap, "messages[%zu].content: expected a string, a list of parts or null", mi);
        return NULL;
    }
    struct sy_buf b;
    sy_buf_init(&b);
    bool first = true;
    size_t pi = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        if (content_part(part, mi, pi++, &b, &first, err, errcap)) {
            sy_buf_fini(&b);
            return NULL;
        }
    }
    cJSON *s = cJSON_CreateString(b.data ? b.data : "");
    sy_buf_fini(&b);
    return s;
}

/* vLLM's _postprocess_messages: arguments strings become JSON values ({} when not JSON). */
static int tool_calls(cJSON *msg, const cJSON *calls, size_t mi, char *err, size_t errcap)
{
    if (!cJSON_IsArray(calls))
        return fail(err, errcap, "messages[%zu].tool_calls: expected a list", mi);
    if (cJSON_GetArraySize(calls) == 0)
        return 0; /* dropped: the template takes the plain assistant path */
    cJSON *out = cJSON_Duplicate(calls, true);
    cJSON_AddItemToObject(msg, "tool_calls", out);
    size_t ci = 0;
    cJSON *call;
    cJSON_ArrayForEach(call, out)
    {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        if (!cJSON_IsObject(call) || !cJSON_IsObject(fn))
            return fail(err, errcap,
                        "messages[%zu].tool_calls[%zu]: expected an object with a "
                        "'function' object",
                        mi, ci);
        cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        cJSON *parsed = NULL;
        if (cJSON_IsString(args))
            parsed = cJSON_ParseWithOpts(args->valuestring, NULL, true);
        else if (cJSON_IsObject(args) || cJSON_IsArray(args))
            parsed = cJSON_Duplicate(args, true);
        if (!parsed)
            parsed = cJSON_CreateObject();
        if (args)
            cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", parsed);
        else
            cJSON_AddItemToObject(fn, "arguments", parsed);
        ci++;
    }
    return 0;
}

/* One message as vLLM's _parse_chat_message_content rebuilds it. */
static cJSON *message(const cJSON *in, size_t mi, char *err, size_t errcap)
{
    const cJSON *role = get(in, "role");
    if (!cJSON_IsObject(in) || !cJSON_IsString(role)) {
        fail(err, errcap, "messages[%zu]: each message must be an object with a role", mi);
        return NULL;
    }
    cJSON *content = flatten_content(get(in, "content"), mi, err, errcap);
    if (!content)
        return NULL;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role->valuestring);
    cJSON_AddItemToObject(m, "content", content);
    const char *r = role->valuestring;
    if (!strcmp(r, "assistant")) {
        const cJSON *calls = get_set(in, "tool_calls");
        if (calls && tool_calls(m, calls, mi, err, errcap)) {
            cJSON_Delete(m);
            return NULL;
        }
        const cJSON *reasoning = get_set(in, "reasoning");
        if (!reasoning)
            reasoning = get_set(in, "reasoning_content");
        if (reasoning) {
            add_copy(m, "reasoning", reasoning);
            add_copy(m, "reasoning_content", reasoning);
        }
    } else if (!strcmp(r, "tool")) {
        const cJSON *id = get(in, "tool_call_id");
        if (id)
            add_copy(m, "tool_call_id", id);
    }
    if (cJSON_IsString(get(in, "name")))
        add_copy(m, "name", get(in, "name"));
    if (cJSON_IsString(get(in, "task")))
        add_copy(m, "task", get(in, "task"));
    if (!strcmp(r, "developer"))
        add_copy(m, "tools", get_set(in, "tools"));
    return m;
}

/* Copies o's members except the listed ones (NULL-terminated) into out, in order. */
static void add_extras(cJSON *out, const cJSON *o, const char *const *skip)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, o)
    {
        bool skipped = false;
        for (const char *const *s = skip; *s; s++)
            skipped = skipped || !strcmp(kv->string, *s);
        if (!skipped)
            cJSON_AddItemToObject(out, kv->string, cJSON_Duplicate(kv, true));
    }
}

/* One tool as ChatCompletionToolsParam.model_dump() gives it. */
static cJSON *tool(const cJSON *in, size_t ti, char *err, size_t errcap)
{
    static const char *const tool_fields[] = {"type", "function", NULL};
    static const char *const fn_fields[] = {"name", "description", "parameters", NULL};
    if (!cJSON_IsObject(in)) {
        fail(err, errcap, "tools[%zu]: expected an object", ti);
        return NULL;
    }
    const cJSON *type = get(in, "type");
    if (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "function"))) {
        fail(err, errcap, "tools[%zu].type: expected \"function\"", ti);
        return NULL;
    }
    const cJSON *fn = get(in, "function");
    const cJSON *name = get(fn, "name");
    if (!cJSON_IsObject(fn) || !cJSON_IsString(name)) {
        fail(err, errcap, "tools[%zu].function: expected an object with a string 'name'", ti);
        return NULL;
    }
    const cJSON *desc = get_set(fn, "description");
    const cJSON *params = get_set(fn, "parameters");
    if ((desc && !cJSON_IsString(desc)) || (params && !cJSON_IsObject(params))) {
        fail(err, errcap, "tools[%zu].function: %s", ti,
             desc && !cJSON_IsString(desc) ? "'description' must be a string"
                                           : "'parameters' must be an object");
        return NULL;
    }
    cJSON *f = cJSON_CreateObject();
    add_copy(f, "name", name);
    add_copy(f, "description", desc);
    add_copy(f, "parameters", params);
    add_extras(f, fn, fn_fields);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", "function");
    cJSON_AddItemToObject(t, "function", f);
    add_extras(t, in, tool_fields);
    return t;
}

static cJSON *tools_list(const cJSON *in, char *err, size_t errcap)
{
    if (!cJSON_IsArray(in)) {
        fail(err, errcap, "tools: expected a list");
        return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    size_t ti = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, in)
    {
        cJSON *t = tool(it, ti++, err, errcap);
        if (!t) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, t);
    }
    return out;
}

static int check_documents(const cJSON *docs, char *err, size_t errcap)
{
    if (!cJSON_IsArray(docs))
        return fail(err, errcap, "documents: expected a list of objects");
    size_t di = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, docs)
    {
        if (!cJSON_IsObject(d))
            return fail(err, errcap, "documents[%zu]: expected an object", di);
        const cJSON *kv;
        cJSON_ArrayForEach(kv, d)
        {
            if (!cJSON_IsString(kv))
                return fail(err, errcap, "documents[%zu].%.60s: expected a string", di, kv->string);
        }
        di++;
    }
    return 0;
}

/* A boolean request field: absent -> def; anything but true/false is refused. */
static int flag(const cJSON *req, const char *k, bool def, bool *out, char *err, size_t errcap)
{
    const cJSON *v = get(req, k);
    *out = def;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return fail(err, errcap, "%s: expected true or false", k);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* dict[k] = v: an existing key keeps its place, as in a Python dict. */
static void set(cJSON *o, const char *k, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, k))
        cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
    else
        cJSON_AddItemToObject(o, k, v);
}

int sy_chat_context(const cJSON *req, const char *bos, const char *eos, cJSON **ctx,
                    bool *continue_final, char *err, size_t errcap)
{
    *ctx = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (!cJSON_IsObject(req))
        return fail(err, errcap, "request: expected a JSON object");
    const cJSON *msgs = get(req, "messages");
    if (!cJSON_IsArray(msgs))
        return fail(err, errcap, "messages: expected a JSON array");
    bool agp, cfm;
    int rc;
    if ((rc = flag(req, "add_generation_prompt", true, &agp, err, errcap)) ||
        (rc = flag(req, "continue_final_message", false, &cfm, err, errcap)))
        return rc;
    const cJSON *kwargs = get_set(req, "chat_template_kwargs");
    if (kwargs && !cJSON_IsObject(kwargs))
        return fail(err, errcap, "chat_template_kwargs: expected a JSON object");
    if (get(kwargs, "messages"))
        return fail(err, errcap, "chat_template_kwargs: 'messages' cannot be overridden");
    const cJSON *docs = get_set(req, "documents");
    if (docs && (rc = check_documents(docs, err, errcap)))
        return rc;

    cJSON *c = cJSON_CreateObject();
    cJSON *out_msgs = cJSON_AddArrayToObject(c, "messages");
    size_t mi = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        cJSON *nm = message(m, mi++, err, errcap);
        if (!nm)
            goto bad;
        cJSON_AddItemToArray(out_msgs, nm);
    }
    const cJSON *tools = get_set(req, "tools");
    cJSON *t = tools ? tools_list(tools, err, errcap) : cJSON_CreateNull();
    if (!t)
        goto bad;
    cJSON_AddItemToObject(c, "tools", t);
    add_copy(c, "documents", docs);
    cJSON_AddBoolToObject(c, "add_generation_prompt", agp);
    if (bos)
        cJSON_AddStringToObject(c, "bos_token", bos);
    if (eos)
        cJSON_AddStringToObject(c, "eos_token", eos);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, kwargs)
    {
        if (!strcmp(kv->string, "chat_template") || !strcmp(kv->string, "tokenize"))
            continue; /* vLLM's resolve_chat_template_kwargs drops them */
        if (!strcmp(kv->string, "continue_final_message")) {
            cfm = cJSON_IsTrue(kv);
            continue; /* an apply_chat_template argument, not a template variable */
        }
        set(c, kv->string, cJSON_Duplicate(kv, true));
    }
    agp = cJSON_IsTrue(get(c, "add_generation_prompt"));
    if (cfm && agp) {
        fail(err, errcap,
             "continue_final_message and add_generation_prompt cannot both be true "
             "(set add_generation_prompt to false to continue the final message)");
        goto bad;
    }
    *ctx = c;
    *continue_final = cfm;
    return 0;
bad:
    cJSON_Delete(c);
    return SY_EPARSE;
}
