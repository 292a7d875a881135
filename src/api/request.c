/* request.c - builds the struct sy_request view of an OpenAI-API body (see request.h).
 *
 * One pass of the validating scanner (json_scan.c) visits the top-level members; the fields the
 * gateway needs are recorded as views or small decoded copies (the model name). The body is not
 * modified or copied: the proxy forwards the very bytes the client sent.
 *
 * Prefix text per API follows llm-d's approximate prefix producer: completions hash the prompt,
 * chat hashes the messages array, responses hash instructions+input, embeddings hash the input.
 * Where llm-d marshals a Go value, we hash the client's raw JSON text of that value, which has the
 * same property that matters (a conversation that grows keeps its byte prefix).
 */
#include "api/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/json_scan.h"
#include "core/err.h"

struct collect {
    struct sy_request *req;
    int err;             /* first field error */
    char why[160];       /* its message */
    struct sy_str input; /* responses/embeddings input */
    struct sy_str instructions;
    bool have_model;
    struct sy_anthropic_fields anth; /* messages API: system, max_tokens presence */
};

static void field_error(struct collect *c, const char *fmt, const char *name)
{
    if (c->err)
        return;
    c->err = SY_EINVAL;
    snprintf(c->why, sizeof c->why, fmt, name);
}

static int64_t parse_int(struct sy_str v, bool *ok)
{
    char tmp[32];
    *ok = false;
    if (v.len == 0 || v.len >= sizeof tmp)
        return -1;
    memcpy(tmp, v.p, v.len);
    tmp[v.len] = 0;
    char *end;
    double d = strtod(tmp, &end);
    if (*end || d < 0 || d > 1e12 || d != (double)(int64_t)d)
        return -1;
    *ok = true;
    return (int64_t)d;
}

static void on_member(void *ud, struct sy_str key, enum sy_json_type t, struct sy_str v)
{
    struct collect *c = ud;
    struct sy_request *r = c->req;
    if (sy_str_eq_c(key, "model")) {
        if (t != SY_JSON_STRING) {
            field_error(c, "'%s' must be a string", "model");
            return;
        }
        long n = sy_json_unescape(v, r->model, sizeof r->model);
        if (n < 0) {
            field_error(c, "'%s' is too long or malformed", "model");
            return;
        }
        if (memchr(r->model, '\0', (size_t)n)) {
            /* "m1\u0000evil" would otherwise be routed as "m1" */
            r->model[0] = '\0';
            field_error(c, "'%s' must not contain a NUL character", "model");
            return;
        }
        c->have_model = r->model[0] != '\0';
    } else if (sy_str_eq_c(key, "stream")) {
        if (t == SY_JSON_TRUE)
            r->stream = true;
        else if (t == SY_JSON_FALSE || t == SY_JSON_NULL)
            r->stream = false;
        else
            field_error(c, "'%s' must be a boolean", "stream");
    } else if (sy_str_eq_c(key, "max_tokens") || sy_str_eq_c(key, "max_completion_tokens") ||
               sy_str_eq_c(key, "max_output_tokens")) {
        if (t == SY_JSON_NULL)
            return;
        bool ok = false;
        int64_t n = t == SY_JSON_NUMBER ? parse_int(v, &ok) : -1;
        if (!ok) {
            field_error(c, "'%s' must be a non-negative integer", "max_tokens");
            return;
        }
        r->max_tokens = n;
        c->anth.have_max_tokens = true;
    } else if ((sy_str_eq_c(key, "n") || sy_str_eq_c(key, "best_of")) &&
               (r->kind == SY_API_CHAT_COMPLETIONS || r->kind == SY_API_COMPLETIONS ||
                r->kind == SY_API_GENERATE)) {
        /* sequences generated at once (the decode budget's multiple): the larger of the two.
         * OpenAI's and vLLM's APIs take a positive integer (vLLM answers 400 to n < 1); null is
         * the default. The other APIs have no such field and pass it through untouched. */
        if (t == SY_JSON_NULL)
            return;
        bool ok = false;
        int64_t n = t == SY_JSON_NUMBER ? parse_int(v, &ok) : -1;
        if (!ok || n < 1) {
            field_error(c, "'%s' must be a positive integer",
                        sy_str_eq_c(key, "n") ? "n" : "best_of");
            return;
        }
        if (n > r->choices)
            r->choices = n > INT32_MAX ? INT32_MAX : (int32_t)n;
    } else if (sy_str_eq_c(key, "prompt")) {
        if (r->kind == SY_API_COMPLETIONS) {
            if (t != SY_JSON_STRING && t != SY_JSON_ARRAY) {
                field_error(c, "'%s' must be a string or an array", "prompt");
                return;
            }
            /* a plain string prompt: hash its text without the quotes */
            r->prompt = t == SY_JSON_STRING ? (struct sy_str){v.p + 1, v.len - 2} : v;
        }
    } else if (sy_str_eq_c(key, "messages")) {
        if (r->kind == SY_API_CHAT_COMPLETIONS || r->kind == SY_API_MESSAGES) {
            if (t != SY_JSON_ARRAY) {
                field_error(c, "'%s' must be an array", "messages");
                return;
            }
            r->prompt = v;
        }
    } else if (sy_str_eq_c(key, "cache_salt")) {
        if (t == SY_JSON_STRING)
            r->cache_salt = (struct sy_str){v.p + 1, v.len - 2};
    } else if (sy_str_eq_c(key, "input")) {
        c->input = t == SY_JSON_STRING ? (struct sy_str){v.p + 1, v.len - 2} : v;
    } else if (sy_str_eq_c(key, "instructions")) {
        c->instructions = v;
    } else if (r->kind == SY_API_GENERATE && sy_str_eq_c(key, "token_ids")) {
        if (t != SY_JSON_ARRAY) {
            field_error(c, "'%s' must be a list of token ids", "token_ids");
            return;
        }
        r->prompt = v;
    } else if (r->kind == SY_API_GENERATE && sy_str_eq_c(key, "sampling_params")) {
        if (t == SY_JSON_OBJECT) /* max_tokens lives here on /inference/v1/generate */
            sy_json_scan_object(v.p, v.len, on_member, c, NULL, NULL, 0);
        else if (t != SY_JSON_NULL)
            field_error(c, "'%s' must be an object", "sampling_params");
    } else if (sy_str_eq_c(key, "system") && r->kind == SY_API_MESSAGES) {
        c->anth.system = v;
        c->anth.system_type = t;
    }
}

static bool count_id(void *ud, size_t i, enum sy_json_type t, struct sy_str v)
{
    (void)i;
    (void)v;
    size_t *n = ud;
    if (t != SY_JSON_NUMBER || *v.p == '-') {
        *n = SIZE_MAX;
        return false;
    }
    (*n)++;
    return true;
}

/* /inference/v1/generate: token_ids must be a non-empty list of token ids (vLLM and llm-d's
 * vllmhttp-parser refuse the rest); the prompt is that many tokens. */
static int generate_finish(struct sy_request *req, char *err, size_t errcap)
{
    size_t n = 0;
    if (req->prompt.len)
        sy_json_scan_array(req->prompt.p, req->prompt.len, count_id, &n, NULL, 0);
    if (n == 0 || n == SIZE_MAX) {
        snprintf(err, errcap,
                 "invalid generate request: must have non-empty token_ids field (a "
                 "list of token ids)");
        return SY_EINVAL;
    }
    req->prompt_tokens_est = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    return 0;
}

/* The view before any field is read: the body, no max_tokens (-1), an empty prompt. */
static void request_init(struct sy_request *req, enum sy_api_kind kind, const char *body,
                         size_t len)
{
    memset(req, 0, sizeof *req);
    req->kind = kind;
    req->body = body;
    req->body_len = len;
    req->max_tokens = -1;
    req->choices = 1;
    req->prompt = (struct sy_str){"", 0};
}

int sy_request_parse(enum sy_api_kind kind, const char *body, size_t len, struct sy_request *req,
                     char *err, size_t errcap)
{
    request_init(req, kind, body, len);
    struct collect c = {.req = req};
    size_t off = 0;
    char why[96];
    if (!sy_utf8_valid(body, len)) {
        /* JSON text is UTF-8 (RFC 8259); a name that is not would reach logs, labels and error
         * bodies */
        snprintf(err, errcap, "request body is not valid UTF-8");
        return SY_EPARSE;
    }
    int src = kind == SY_API_MESSAGES /* one pass that also checks the Messages shape */
                  ? sy_anthropic_scan(body, len, on_member, &c, &c.anth, &off, why, sizeof why)
                  : sy_json_scan_object(body, len, on_member, &c, &off, why, sizeof why);
    if (src != 0) {
        snprintf(err, errcap, "malformed JSON in request body at byte %zu: %s", off, why);
        return SY_EPARSE;
    }
    if (c.err) {
        snprintf(err, errcap, "%s", c.why);
        return c.err;
    }
    if (!c.have_model && kind != SY_API_GENERATE) { /* generate: model is optional */
        snprintf(err, errcap, "you must provide a model parameter");
        return SY_EINVAL;
    }
    if (kind == SY_API_MESSAGES) {
        int rc = sy_anthropic_finish(req, &c.anth, err, errcap);
        if (rc)
            return rc;
    } else if (kind == SY_API_EMBEDDINGS) {
        req->prompt = c.input;
    } else if (kind == SY_API_RESPONSES) {
        /* instructions and input are usually adjacent; hash from the first to the end of the
         * last when both are present, else whichever exists. */
        if (c.instructions.len && c.input.len) {
            const char *a = c.instructions.p < c.input.p ? c.instructions.p : c.input.p;
            const char *b1 = c.instructions.p + c.instructions.len;
            const char *b2 = c.input.p + c.input.len;
            const char *b = b1 > b2 ? b1 : b2;
            req->prompt = (struct sy_str){a, (size_t)(b - a)};
        } else {
            req->prompt = c.input.len ? c.input : c.instructions;
        }
    }
    req->lora = sy_str_c(req->model);
    req->prompt_tokens_est = (uint32_t)((req->prompt.len + 3) / 4);
    if (kind == SY_API_GENERATE)
        return generate_finish(req, err, errcap);
    return 0;
}

int sy_request_passthrough(const char *body, size_t len, struct sy_request *req)
{
    request_init(req, SY_API_OTHER, body, len);
    req->lora = sy_str_c(req->model);
    return 0;
}

enum sy_api_kind sy_api_kind_from_path(const char *path, size_t len)
{
    struct sy_str p = {path, len};
    if (sy_str_eq_c(p, "/v1/completions"))
        return SY_API_COMPLETIONS;
    if (sy_str_eq_c(p, "/v1/chat/completions"))
        return SY_API_CHAT_COMPLETIONS;
    if (sy_str_eq_c(p, "/v1/responses"))
        return SY_API_RESPONSES;
    if (sy_str_eq_c(p, "/v1/embeddings"))
        return SY_API_EMBEDDINGS;
    if (sy_str_eq_c(p, "/v1/messages"))
        return SY_API_MESSAGES;
    if (sy_str_eq_c(p, "/inference/v1/generate"))
        return SY_API_GENERATE;
    return SY_API_OTHER;
}

bool sy_request_header(const struct sy_request *req, const char *name, struct sy_str *value)
{
    for (size_t i = 0; req && name && i < req->nheaders; i++) {
        if (sy_str_case_eq_c(req->header_names[i], name)) {
            if (value)
                *value = req->header_values[i];
            return true;
        }
    }
    return false;
}
