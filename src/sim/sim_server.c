/* sim_server.c - simulated vLLM replicas behind the OpenAI HTTP API (see sim_server.h).
 *
 *   uv loop
 *     replica 0: sy_http_server :P    --> handler --> sy_sim_engine_submit --+
 *                uv_timer (next step) --> sy_sim_engine_advance --> on_token  | SSE chunks /
 *                kv publisher (opt.)  <-- on_kv / on_step_end       on_finish | JSON response
 *     replica 1: :P+1 ...
 *
 * Time: sim_ns = (wall_ns - start) * time_scale. After anything that changes an engine (a
 * submit, an abort, a timer tick) the replica calls kick(): advance the engine to now and arm
 * its one timer for the end of the step in flight (rounded up to libuv's millisecond timer
 * resolution; the engine chains steps at their simulated end times, so rounding never drifts
 * the model, it only delays delivery by < 1 ms of wall time).
 *
 * A call (struct sim_call) ties one HTTP request to one engine request. It is freed on finish
 * (after the response ends) or when the client goes away (on_abort: the engine request is
 * aborted, which frees its KV blocks). If the client vanishes while a token is being written
 * (on_abort runs inside on_token), the call is only marked dead and freed when on_token returns.
 *
 * P/D: the completion handler lets sim_pd.c parse kv_transfer_params (or SGLang's bootstrap
 * fields) and submit: prefill legs hold their KV, decode legs pull it from another replica of the
 * process. kick() ends with sy_sim__pd_process, which does the cross-replica work engine
 * callbacks may not (freeing pulled KV, waking SGLang decodes parked until their prefill ends).
 *
 * Prompt handling: completions take a string, a one-element list of strings, or a list of
 * token ids; chat messages are rendered with Qwen's ChatML template
 * ("<|im_start|>{role}\n{content}<|im_end|>\n" ... "<|im_start|>assistant\n") and tokenized
 * with the built-in tokenizer (sy_sim_tokenize). With --tokenizer DIR the model's Hugging Face
 * tokenizer.json and chat_template are used instead (src/tokenize), exactly as the gateway's
 * `token-producer` with `backend: local` computes them, so precise prefix routing sees the same
 * token blocks the engine caches. Output text is synthetic: one word per token.
 *
 * Faults for soaks (bench/fault_soak.py): --failure-rate answers with an injected error,
 * --truncate-rate breaks a stream after its first token (connection closed, no end chunk, the
 * engine request aborted), --metrics-delay answers /metrics late from a one-shot timer, and
 * --request-log appends one line per completion request received (before any injected failure),
 * so a soak can count requests a gateway sent twice.
 */
#include "sim/sim_server.h"
#include "tokenize/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"
#include "http/server.h"
#include "api/anthropic.h"
#include "sim/kv_publisher.h"
#include "sim/sim_anthropic.h"

#define SY_SIM_TOKENIZE_MAX (1 << 20) /* tokens /tokenize answers with (bounds the reply) */

#include "sim/sim_internal.h"

/* ---- time ------------------------------------------------------------------------------- */

static uint64_t sim_now(const struct sy_sim_server *s)
{
    double wall = (double)(sy_now_ns() - s->wall0);
    return (uint64_t)(wall * s->opts.time_scale);
}

static void on_timer(uv_timer_t *t);

static void kick(struct replica *r)
{
    if (r->dp) { /* a data-parallel rank: its group steps together (sim_dp.c) */
        sy_sim__dp_kick(r->dp);
        return;
    }
    struct sy_sim_server *s = r->srv;
    uint64_t now = sim_now(s);
    sy_sim_engine_advance(r->eng, now);
    uint64_t next = sy_sim_engine_next_ns(r->eng);
    if (next == UINT64_MAX) {
        uv_timer_stop(&r->timer);
    } else {
        double wall_ns = next > now ? (double)(next - now) / s->opts.time_scale : 0;
        uint64_t ms = (uint64_t)ceil(wall_ns / 1e6);
        uv_timer_start(&r->timer, on_timer, ms, 0);
    }
    sy_sim__pd_process(s); /* P/D: decodes waiting for a prefill that just finished */
}

uint64_t sy_sim__now(const struct sy_sim_server *s)
{
    return sim_now(s);
}

void sy_sim__kick(struct replica *r)
{
    kick(r);
}

static void on_timer(uv_timer_t *t)
{
    kick(t->data);
}

/* ---- output text -------------------------------------------------------------------------- */

static const char *const words[] = {
    " the",      " model",   " serves", " tokens", " quickly", " and",    " cache",  " blocks",
    " stay",     " warm",    " for",    " every",  " shared",  " prefix", " while",  " new",
    " requests", " wait",    " in",     " line",   " until",   " a",      " slot",   " opens",
    " then",     " prefill", " runs",   " chunk",  " by",      " chunk",  " before", " decode",
};

static const char *token_text(uint32_t tok)
{
    return words[tok % (sizeof words / sizeof words[0])];
}

/* ---- responses ------------------------------------------------------------------------------ */

static void usage_json(struct sy_buf *b, const struct sim_call *c, uint32_t completion,
                       uint32_t cached)
{
    sy_buf_printf(b,
                  "\"usage\":{\"prompt_tokens\":%u,\"total_tokens\":%u,\"completion_tokens\":%u,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%u}}",
                  c->n_prompt, c->n_prompt + completion, completion, cached);
}

static void chunk_head(struct sy_buf *b, const struct sim_call *c)
{
    const char *model = c->rep->srv->model;
    sy_buf_printf(b, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%llu,\"model\":", c->id,
                  c->chat ? "chat.completion.chunk" : "text_completion",
                  (unsigned long long)c->created);
    sy_buf_json_str(b, model, strlen(model));
}

static void send_error_json(struct sy_http_req *req, int status, const char *type, const char *msg)
{
    if (sy_str_eq_c(req->path, "/v1/messages")) { /* Anthropic's error shape on its route */
        struct sy_buf b;
        sy_buf_init(&b);
        sy_anthropic_error_json(&b, status, msg);
        sy_http_respond(req, status, "application/json", NULL, b.data, b.len);
        sy_buf_fini(&b);
        return;
    }
    sy_http_respond_error(req, status, type, NULL, msg, NULL);
}

static struct sy_sim_anth anth_of(const struct sim_call *c, const struct sy_sim_req *q,
                                  const char *finish)
{
    return (struct sy_sim_anth){.id = c->id,
                                .model = c->rep->srv->model,
                                .n_prompt = c->n_prompt,
                                .n_cached = q->n_cached,
                                .n_output = q->n_output,
                                .finish = finish};
}

static void call_free(struct sim_call *c)
{
    sy_buf_fini(&c->text);
    free(c);
}

static bool is_last_token(const struct replica *r, const struct sy_sim_req *q)
{
    return q->n_output >= q->max_tokens ||
           q->n_prompt + q->n_output >= sy_sim_engine_profile(r->eng)->max_model_len;
}

static const char *finish_reason(const struct replica *r, const struct sy_sim_req *q)
{
    return q->has_max_tokens || q->n_output < q->max_tokens ? "length" : "stop";
}

/* The OpenAI SSE chunk(s) for one generated token. */
static void openai_chunk(struct sy_buf *b, const struct sim_call *c, const struct replica *r,
                         const struct sy_sim_req *q, const char *w)
{
    bool last = is_last_token(r, q);
    if (c->chat && q->n_output == 1) {
        chunk_head(b, c);
        sy_buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                       "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    }
    chunk_head(b, c);
    if (c->chat)
        sy_buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
    else
        sy_buf_puts(b, ",\"choices\":[{\"index\":0,\"text\":");
    sy_buf_json_str(b, w, strlen(w));
    if (c->chat)
        sy_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
    else
        sy_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
    if (last)
        sy_buf_printf(b, "\"%s\",\"stop_reason\":null}]}\n\n", finish_reason(r, q));
    else
        sy_buf_puts(b, "null,\"stop_reason\":null}]}\n\n");
}

static void eng_on_token(void *ud, struct sy_sim_req *q, uint64_t now)
{
    struct replica *r = ud;
    struct sim_call *c = q->ud;
    if (!c || !c->http)
        return;
    uint32_t tok = q->tokens[q->n_prompt + q->n_output - 1];
    const char *w = token_text(tok);
    if (!c->stream) {
        sy_buf_puts(&c->text, w);
        return;
    }
    c->in_token = true;
    struct sy_buf b;
    sy_buf_init(&b);
    if (c->anthropic) {
        struct sy_sim_anth a = anth_of(c, q, NULL);
        sy_sim_anth_token(&b, &a, w);
    } else {
        openai_chunk(&b, c, r, q, w);
    }
    sy_http_write(c->http, b.data, b.len);
    sy_buf_fini(&b);
    if (c->truncate && c->http && !c->dead) {
        /* --truncate-rate: the server breaks mid-stream (no end chunk, connection closed), as a
         * crashing vLLM worker would; the engine request is aborted as for a client that left */
        struct sy_http_req *h = c->http;
        h->on_abort = NULL;
        c->http = NULL;
        sy_http_end(h, false);
        sy_sim__pd_client_gone(c);
        c->dead = true; /* freed below */
        sy_sim_engine_abort(r->eng, q, now);
    }
    c->in_token = false;
    if (c->dead) {
        q->ud = NULL;
        call_free(c);
    }
}

static void eng_on_finish(void *ud, struct sy_sim_req *q, enum sy_sim_finish why, uint64_t now)
{
    struct replica *r = ud;
    struct sim_call *c = q->ud;
    if (!c)
        return;
    sy_sim__pd_on_finish(c, q);
    if (c->http) {
        struct sy_buf b;
        sy_buf_init(&b);
        c->http->on_abort = NULL;
        if (c->anthropic) {
            struct sy_sim_anth a = anth_of(c, q, sy_sim_finish_name(why));
            if (c->stream) {
                sy_sim_anth_stream_end(&b, &a);
                sy_http_write(c->http, b.data, b.len);
                sy_http_end(c->http, true);
            } else {
                sy_sim_anth_message(&b, &a, c->text.data, c->text.len);
                sy_http_respond(c->http, 200, "application/json", NULL, b.data, b.len);
            }
        } else if (c->stream) {
            if (c->include_usage) {
                chunk_head(&b, c);
                sy_buf_puts(&b, ",\"choices\":[],");
                usage_json(&b, c, q->n_output, q->n_cached);
                sy_buf_puts(&b, "}\n\n");
            }
            sy_buf_puts(&b, "data: [DONE]\n\n");
            sy_http_write(c->http, b.data, b.len);
            sy_http_end(c->http, true);
        } else {
            const char *model = r->srv->model;
            sy_buf_printf(&b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%llu,\"model\":", c->id,
                          c->chat ? "chat.completion" : "text_completion",
                          (unsigned long long)c->created);
            sy_buf_json_str(&b, model, strlen(model));
            if (c->chat) {
                sy_buf_puts(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                "\"content\":");
                sy_buf_json_str(&b, c->text.data ? c->text.data : "", c->text.len);
                sy_buf_puts(&b, ",\"tool_calls\":[]},\"logprobs\":null,\"finish_reason\":");
            } else {
                sy_buf_puts(&b, ",\"choices\":[{\"index\":0,\"text\":");
                sy_buf_json_str(&b, c->text.data ? c->text.data : "", c->text.len);
                sy_buf_puts(&b, ",\"logprobs\":null,\"finish_reason\":");
            }
            sy_buf_printf(&b, "\"%s\",\"stop_reason\":null}],", sy_sim_finish_name(why));
            usage_json(&b, c, q->n_output, q->n_cached);
            sy_sim__pd_response_params(c, q, &b);
            sy_buf_puts(&b, "}");
            sy_http_respond(c->http, 200, "application/json", NULL, b.data, b.len);
        }
        sy_buf_fini(&b);
    }
    q->ud = NULL;
    call_free(c);
}

static void eng_on_kv(void *ud, const struct sy_sim_kv_event *ev)
{
    struct replica *r = ud;
    if (r->kv)
        sy_sim_kvpub_add(r->kv, ev);
}

static void eng_on_step_end(void *ud, uint64_t now)
{
    struct replica *r = ud;
    if (r->kv)
        sy_sim_kvpub_flush(r->kv, sy_wall_seconds());
}

/* A client that shuts down its write side is gone, as vLLM's server (uvicorn) takes it: the
 * request is aborted (on_abort) rather than served to a socket nobody reads. Without this a parked
 * decode or a running prefill whose client left would wait out its lease. */
static bool on_client_eof(struct sy_http_req *req)
{
    (void)req;
    return true;
}

static void on_client_gone(struct sy_http_req *req)
{
    struct sim_call *c = req->data;
    if (!c)
        return;
    struct replica *r = c->rep;
    c->http = NULL;
    struct sy_sim_req *q = c->ereq;
    sy_sim__pd_client_gone(c); /* a parked decode, or a pull still in flight (sim_pd.c) */
    if (!q) {                  /* parked: no engine request yet */
        call_free(c);
        return;
    }
    bool in_token = c->in_token;
    if (in_token) {
        c->dead = true; /* freed by on_token when it returns */
    } else {
        q->ud = NULL;
        call_free(c);
    }
    sy_sim_engine_abort(r->eng, q, sim_now(r->srv)); /* deferred by the engine when in_token */
    if (!in_token)
        kick(r); /* the freed blocks may let waiting requests in */
}

/* ---- request parsing ----------------------------------------------------------------------- */

struct prompt {
    struct sy_buf text; /* rendered text to tokenize (when no ids given) */
    uint32_t *ids;      /* token ids (owned) */
    size_t n;           /* their count */
};

/* Appends a message content (string or list of {type:text,text}) to b. */
static int append_content(struct sy_buf *b, const cJSON *content, char *err, size_t errcap)
{
    if (!content || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content)) {
        sy_buf_puts(b, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        snprintf(err, errcap, "message content must be a string or a list of parts");
        return SY_EINVAL;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text))
            sy_buf_puts(b, text->valuestring);
    }
    return 0;
}

/* With --tokenizer: the model's own chat template renders the request as vLLM does (messages,
 * tools, documents, add_generation_prompt, continue_final_message, chat_template_kwargs), through
 * the path the gateway's token-producer shares. */
static int render_chat_hf(const struct sy_tokenizer *tok, const cJSON *root, const char *body,
                          size_t body_len, struct prompt *p, char *err, size_t errcap)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        snprintf(err, errcap, "'messages' must be a non-empty list");
        return SY_EINVAL;
    }
    char *out = NULL;
    size_t outlen = 0;
    if (sy_tokenizer_render_request(tok, body, body_len, &out, &outlen, err, errcap) != 0)
        return SY_EINVAL;
    sy_buf_append(&p->text, out, outlen);
    free(out);
    return 0;
}

/* root is the parsed body (body_len bytes at body). */
static int build_prompt(const struct sy_tokenizer *tok, const cJSON *root, const char *body,
                        size_t body_len, bool chat, struct prompt *p, char *err, size_t errcap)
{
    if (chat && tok)
        return render_chat_hf(tok, root, body, body_len, p, err, errcap);
    if (chat) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
            snprintf(err, errcap, "'messages' must be a non-empty list");
            return SY_EINVAL;
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
                snprintf(err, errcap, "each message needs a string 'role'");
                return SY_EINVAL;
            }
            sy_buf_printf(&p->text, "<|im_start|>%s\n", role->valuestring);
            if (append_content(&p->text, cJSON_GetObjectItemCaseSensitive(m, "content"), err,
                               errcap) != 0)
                return SY_EINVAL;
            sy_buf_puts(&p->text, "<|im_end|>\n");
        }
        sy_buf_puts(&p->text, "<|im_start|>assistant\n");
        return 0;
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(pr) && cJSON_GetArraySize(pr) == 1 &&
        cJSON_IsString(cJSON_GetArrayItem(pr, 0)))
        pr = cJSON_GetArrayItem(pr, 0);
    if (cJSON_IsString(pr)) {
        sy_buf_puts(&p->text, pr->valuestring);
        return 0;
    }
    if (cJSON_IsArray(pr) && cJSON_GetArraySize(pr) > 0) {
        size_t n = (size_t)cJSON_GetArraySize(pr);
        p->ids = sy_xmalloc(n * sizeof *p->ids);
        const cJSON *t;
        cJSON_ArrayForEach(t, pr)
        {
            if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= 2147483648.0 ||
                t->valuedouble != floor(t->valuedouble)) {
                snprintf(err, errcap,
                         "'prompt' must be a string, a list with one string, or a "
                         "list of token ids");
                return SY_EINVAL;
            }
            p->ids[p->n++] = (uint32_t)t->valuedouble;
        }
        return 0;
    }
    snprintf(err, errcap,
             "'prompt' must be a string, a list with one string, or a list of token ids");
    return SY_EINVAL;
}

/* Tokenizes p (unless ids were given). Checks the count against limit first. */
static size_t prompt_tokens(const struct sy_tokenizer *tok, struct prompt *p, size_t limit)
{
    if (p->ids)
        return p->n;
    if (tok) {
        uint32_t *ids = NULL;
        size_t n = 0;
        if (sy_tokenizer_encode(tok, p->text.data ? p->text.data : "", p->text.len, &ids, &n) != 0)
            n = 0;
        p->ids = ids ? ids : sy_xmalloc(sizeof *p->ids);
        p->n = n;
        return n;
    }
    size_t n = sy_sim_tokenize(p->text.data ? p->text.data : "", p->text.len, NULL, 0);
    if (n >= limit)
        return n; /* too long: not materialised */
    p->ids = sy_xmalloc((n ? n : 1) * sizeof *p->ids);
    p->n = sy_sim_tokenize(p->text.data ? p->text.data : "", p->text.len, p->ids, n);
    return p->n;
}

static void prompt_fini(struct prompt *p)
{
    sy_buf_fini(&p->text);
    free(p->ids);
}

/* ---- failure injection ---------------------------------------------------------------------- */

static const struct {
    unsigned flag;
    int status;
    const char *type;
    const char *msg;
} failures[] = {
    {SY_SIM_FAIL_RATE_LIMIT, 429, "RateLimitError", "Rate limit reached (injected failure)"},
    {SY_SIM_FAIL_INVALID_API_KEY, 401, "AuthenticationError",
     "Incorrect API key provided (injected failure)"},
    {SY_SIM_FAIL_CONTEXT_LENGTH, 400, "BadRequestError",
     "This model's maximum context length is exceeded (injected failure)"},
    {SY_SIM_FAIL_SERVER_ERROR, 503, "ServiceUnavailableError",
     "The server is overloaded or not ready yet (injected failure)"},
    {SY_SIM_FAIL_INVALID_REQUEST, 400, "BadRequestError", "Invalid request (injected failure)"},
    {SY_SIM_FAIL_MODEL_NOT_FOUND, 404, "NotFoundError",
     "The model does not exist (injected failure)"},
    {SY_SIM_FAIL_INTERNAL_ERROR, 500, "InternalServerError",
     "Internal server error (injected failure)"},
};
static const char *const failure_names[] = {"rate_limit",    "invalid_api_key", "context_length",
                                            "server_error",  "invalid_request", "model_not_found",
                                            "internal_error"};

int sy_sim_parse_failure_types(const char *s, unsigned *out, char *err, size_t errcap)
{
    unsigned flags = 0;
    const char *p = s;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < sizeof failure_names / sizeof failure_names[0]; i++) {
            if (strlen(failure_names[i]) == len && strncmp(failure_names[i], p, len) == 0) {
                flags |= failures[i].flag;
                found = true;
            }
        }
        if (!found) {
            snprintf(err, errcap,
                     "unknown failure type '%.*s' (rate_limit, invalid_api_key, context_length, "
                     "server_error, invalid_request, model_not_found, internal_error)",
                     (int)len, p);
            return SY_EINVAL;
        }
        p = end ? end + 1 : NULL;
    }
    *out = flags;
    return 0;
}

static uint64_t next_rand(struct sy_sim_server *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Returns true when the request was failed on purpose (response sent). */
static bool inject_failure(struct sy_sim_server *s, struct sy_http_req *req)
{
    if (s->opts.failure_rate <= 0)
        return false;
    double u = (double)(next_rand(s) >> 11) / 9007199254740992.0;
    if (u * 100.0 >= s->opts.failure_rate)
        return false;
    unsigned types = s->opts.failure_types ? s->opts.failure_types : SY_SIM_FAIL_ALL_;
    size_t cand[8], n = 0;
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++)
        if (types & failures[i].flag)
            cand[n++] = i;
    size_t k = cand[next_rand(s) % n];
    send_error_json(req, failures[k].status, failures[k].type, failures[k].msg);
    return true;
}

/* --request-log: one line "PORT X-REQUEST-ID" per completion request received, written with one
 * write(2) on an O_APPEND descriptor, so lines from several processes (replicas killed and
 * restarted by a soak) never interleave and nothing is lost to a SIGKILL. */
static void log_request(const struct replica *r, const struct sy_http_req *req)
{
    if (r->srv->reqlog_fd < 0)
        return;
    struct sy_str id = {0};
    sy_http_header(req, "x-request-id", &id);
    char line[160];
    int n = snprintf(line, sizeof line, "%u %.*s\n", (unsigned)r->port,
                     (int)(id.len > 128 ? 128 : id.len), id.len ? id.p : "-");
    for (int i = 0; i < n - 1; i++) /* a header value never breaks the line */
        if ((unsigned char)line[i] < 0x20)
            line[i] = '_';
    if (write(r->srv->reqlog_fd, line, (size_t)n) != n)
        sy_log(SY_LOG_WARN, "sim: --request-log write failed");
}

/* Picks whether a streaming request is cut after its first token (--truncate-rate). */
static bool pick_truncate(struct sy_sim_server *s)
{
    if (s->opts.truncate_rate <= 0)
        return false;
    double u = (double)(next_rand(s) >> 11) / 9007199254740992.0;
    return u * 100.0 < s->opts.truncate_rate;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static bool model_ok(struct replica *r, const cJSON *root, struct sy_http_req *req)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!m || cJSON_IsNull(m))
        return true; /* vLLM serves its one model when none is named */
    if (!cJSON_IsString(m)) {
        send_error_json(req, 400, "BadRequestError", "'model' must be a string");
        return false;
    }
    if (strcmp(m->valuestring, r->srv->model) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "The model `%.300s` does not exist.", m->valuestring);
        send_error_json(req, 404, "NotFoundError", msg);
        return false;
    }
    return true;
}

static cJSON *parse_body(struct sy_http_req *req)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        send_error_json(req, 400, "BadRequestError",
                        "Invalid request body: expected a JSON object");
        return NULL;
    }
    return root;
}

/* max_tokens / max_completion_tokens: -1 when absent; -2 (error sent) when invalid. */
static int64_t parse_max_tokens(const cJSON *root, struct sy_http_req *req)
{
    const char *keys[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
            v->valuedouble != floor(v->valuedouble)) {
            char msg[128];
            snprintf(msg, sizeof msg, "'%s' must be an integer >= 1", keys[i]);
            send_error_json(req, 400, "BadRequestError", msg);
            return -2;
        }
        return (int64_t)v->valuedouble;
    }
    return -1;
}

/* vLLM's request `priority` (an integer, default 0; lower runs earlier). A non-zero value needs
 * --scheduling-policy priority, as in vLLM. Returns false after sending the 400. */
static bool parse_priority(const struct replica *r, const cJSON *root, struct sy_http_req *req,
                           int32_t *out)
{
    *out = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "priority");
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < -2147483648.0 || v->valuedouble > 2147483647.0) {
        send_error_json(req, 400, "BadRequestError", "'priority' must be an integer");
        return false;
    }
    int32_t p = (int32_t)v->valuedouble;
    if (p != 0 && r->srv->opts.sched.policy != SY_SIM_POLICY_PRIORITY) {
        char msg[128];
        snprintf(msg, sizeof msg, "Got priority %d but Priority scheduling is not enabled.", p);
        send_error_json(req, 400, "BadRequestError", msg);
        return false;
    }
    *out = p;
    return true;
}

/* body (body_len bytes) is the request to run: the client's, or for /v1/messages (anthropic) the
 * chat request converted from it. */
static void handle_completion(struct replica *r, struct sy_http_req *req, const char *body,
                              size_t body_len, bool chat, bool anthropic)
{
    struct sy_sim_server *s = r->srv;
    log_request(r, req);
    if (inject_failure(s, req))
        return;
    cJSON *root = cJSON_ParseWithLength(body, body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        send_error_json(req, 400, "BadRequestError",
                        "Invalid request body: expected a JSON object");
        return;
    }
    struct prompt p = {0};
    sy_buf_init(&p.text);
    char err[256];
    if (!model_ok(r, root, req))
        goto out;
    int64_t max_tokens = parse_max_tokens(root, req);
    if (max_tokens == -2)
        goto out;
    int32_t priority;
    if (!parse_priority(r, root, req, &priority))
        goto out;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        send_error_json(req, 400, "BadRequestError", "'stream' must be a boolean");
        goto out;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so) && !cJSON_IsTrue(stream)) {
        send_error_json(req, 400, "BadRequestError",
                        "Stream options can only be defined when `stream=True`.");
        goto out;
    }
    const cJSON *nchoices = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (nchoices && !cJSON_IsNull(nchoices) &&
        (!cJSON_IsNumber(nchoices) || nchoices->valuedouble != 1)) {
        send_error_json(req, 400, "BadRequestError", "the simulator supports only n = 1");
        goto out;
    }
    if (!chat && max_tokens == -1)
        max_tokens = 16; /* the OpenAI completions default vLLM applies */
    struct sim_pd pd;
    if (sy_sim__pd_parse(r, root, cJSON_IsTrue(stream), &pd, err, sizeof err) != 0) {
        send_error_json(req, 400, "BadRequestError", err);
        goto out;
    }
    if (build_prompt(r->srv->opts.tokenizer, root, body, body_len, chat, &p, err, sizeof err) !=
        0) {
        send_error_json(req, 400, "BadRequestError", err);
        goto out;
    }
    uint32_t mml = sy_sim_engine_profile(r->eng)->max_model_len;
    size_t n = prompt_tokens(r->srv->opts.tokenizer, &p, mml);
    char msg[512];
    if (n == 0) {
        send_error_json(req, 400, "BadRequestError", "The prompt is empty.");
        goto out;
    }
    if (n >= mml) {
        snprintf(msg, sizeof msg,
                 "This model's maximum context length is %u tokens. However, your request has "
                 "%zu input tokens. Please reduce the length of the input messages.",
                 mml, n);
        send_error_json(req, 400, "BadRequestError", msg);
        goto out;
    }
    if (max_tokens > 0 && (uint64_t)n + (uint64_t)max_tokens > mml) {
        snprintf(msg, sizeof msg,
                 "This model's maximum context length is %u tokens. However, you requested %llu "
                 "tokens (%zu in the messages, %lld in the completion). Please reduce the length "
                 "of the messages or completion.",
                 mml, (unsigned long long)(n + (uint64_t)max_tokens), n, (long long)max_tokens);
        send_error_json(req, 400, "BadRequestError", msg);
        goto out;
    }
    struct sim_call *c = SY_NEW(struct sim_call);
    c->rep = r;
    c->http = req;
    c->chat = chat;
    c->anthropic = anthropic;
    c->stream = cJSON_IsTrue(stream);
    c->truncate = c->stream && pick_truncate(s);
    c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    c->n_prompt = (uint32_t)n;
    c->priority = priority;
    c->created = (uint64_t)sy_wall_seconds();
    c->num = r->next_id++ & 0xffffffffffffULL; /* NIXL held key, in the id's 12 hex digits */
    snprintf(c->id, sizeof c->id, "%s%04x%012llx",
             anthropic ? "msg_"
             : chat    ? "chatcmpl-"
                       : "cmpl-",
             r->index & 0xffff, (unsigned long long)c->num);
    sy_buf_init(&c->text);
    c->pd = pd;
    if (sy_sim__pd_submit(c, p.ids, (uint32_t)n, max_tokens) != 0) { /* validated; defensive */
        call_free(c);
        send_error_json(req, 400, "BadRequestError", "request rejected by the engine");
        goto out;
    }
    req->data = c;
    req->on_abort = on_client_gone;
    req->on_peer_eof = on_client_eof;
    if (c->stream)
        sy_http_begin(req, 200,
                      "Content-Type: text/event-stream; charset=utf-8\r\n"
                      "Cache-Control: no-cache\r\n",
                      -1);
    kick(r);
out:
    prompt_fini(&p);
    cJSON_Delete(root);
}

/* Answer shapes: vLLM's POST /tokenize, and the render endpoints llm-d's vllm tokenizer backend
 * calls (POST /v1/chat/completions/render -> {"token_ids"}, /v1/completions/render ->
 * [{"token_ids"}]). Same tokenization for all three. */
enum tok_shape { SHAPE_TOKENIZE, SHAPE_RENDER_CHAT, SHAPE_RENDER_COMPLETIONS };

static void handle_tokenize_as(struct replica *r, struct sy_http_req *req, enum tok_shape shape);

/* /v1/messages: checked with the gateway's Messages parser, converted to the chat request vLLM
 * builds from it, then run as a chat completion with Anthropic output (sim_anthropic.c). */
static void handle_messages(struct replica *r, struct sy_http_req *req)
{
    struct sy_request parsed;
    char err[256];
    int rc = sy_request_parse(SY_API_MESSAGES, req->body, req->body_len, &parsed, err, sizeof err);
    if (rc != 0) {
        send_error_json(req, 400, "BadRequestError", err);
        return;
    }
    char *chat = NULL;
    size_t len = 0;
    if (sy_anthropic_to_chat(req->body, req->body_len, &chat, &len, err, sizeof err) != 0) {
        send_error_json(req, 400, "BadRequestError", err);
        return;
    }
    handle_completion(r, req, chat, len, true, true);
    free(chat);
}

static void handle_tokenize(struct replica *r, struct sy_http_req *req)
{
    handle_tokenize_as(r, req, SHAPE_TOKENIZE);
}

static void handle_tokenize_as(struct replica *r, struct sy_http_req *req, enum tok_shape shape)
{
    cJSON *root = parse_body(req);
    if (!root)
        return;
    struct prompt p = {0};
    sy_buf_init(&p.text);
    char err[256];
    if (!model_ok(r, root, req))
        goto out;
    bool chat = shape == SHAPE_TOKENIZE ? cJSON_GetObjectItemCaseSensitive(root, "messages") != NULL
                                        : shape == SHAPE_RENDER_CHAT;
    if (build_prompt(r->srv->opts.tokenizer, root, req->body, req->body_len, chat, &p, err,
                     sizeof err) != 0) {
        send_error_json(req, 400, "BadRequestError", err);
        goto out;
    }
    uint32_t mml = sy_sim_engine_profile(r->eng)->max_model_len;
    size_t n = prompt_tokens(r->srv->opts.tokenizer, &p, SY_SIM_TOKENIZE_MAX);
    if (n >= SY_SIM_TOKENIZE_MAX) {
        char msg[128];
        snprintf(msg, sizeof msg, "The prompt has %zu tokens; /tokenize returns at most %d.", n,
                 SY_SIM_TOKENIZE_MAX - 1);
        send_error_json(req, 400, "BadRequestError", msg);
        goto out;
    }
    struct sy_buf b;
    sy_buf_init(&b);
    if (shape == SHAPE_TOKENIZE)
        sy_buf_printf(&b, "{\"count\":%zu,\"max_model_len\":%u,\"tokens\":[", n, mml);
    else
        sy_buf_puts(&b, shape == SHAPE_RENDER_CHAT ? "{\"token_ids\":[" : "[{\"token_ids\":[");
    for (size_t i = 0; i < n; i++)
        sy_buf_printf(&b, i ? ",%u" : "%u", p.ids[i]);
    sy_buf_puts(&b, shape == SHAPE_TOKENIZE      ? "],\"token_strs\":null}"
                    : shape == SHAPE_RENDER_CHAT ? "]}"
                                                 : "]}]");
    sy_http_respond(req, 200, "application/json", NULL, b.data, b.len);
    sy_buf_fini(&b);
out:
    prompt_fini(&p);
    cJSON_Delete(root);
}

static void handle_models(struct replica *r, struct sy_http_req *req)
{
    struct sy_buf b;
    sy_buf_init(&b);
    const char *m = r->srv->model;
    sy_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    sy_buf_json_str(&b, m, strlen(m));
    sy_buf_printf(&b, ",\"object\":\"model\",\"created\":%llu,\"owned_by\":\"vllm\",\"root\":",
                  (unsigned long long)sy_wall_seconds());
    sy_buf_json_str(&b, m, strlen(m));
    sy_buf_printf(&b, ",\"parent\":null,\"max_model_len\":%u}]}",
                  sy_sim_engine_profile(r->eng)->max_model_len);
    sy_http_respond(req, 200, "application/json", NULL, b.data, b.len);
    sy_buf_fini(&b);
}

static void respond_metrics(struct replica *r, struct sy_http_req *req)
{
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sim_render_metrics(r->eng, r->srv->model, &b);
    sy_sim_render_pd_metrics(r->eng, r->srv->model, r->role, r->srv->opts.connector, r->engine_id,
                             r->nparked, &b);
    sy_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                    b.data ? b.data : "", b.len);
    sy_buf_fini(&b);
}

/* --metrics-delay: a scrape answered late (a slow exporter). The timer owns the struct; a client
 * that leaves first only clears req, and the timer still fires and frees it. */
struct late_metrics {
    uv_timer_t timer;
    struct replica *rep;
    struct sy_http_req *req; /* NULL once the client went away */
};

static void late_metrics_closed(uv_handle_t *h)
{
    free(h->data);
}

static void late_metrics_fire(uv_timer_t *t)
{
    struct late_metrics *m = t->data;
    if (m->req) {
        m->req->on_abort = NULL;
        respond_metrics(m->rep, m->req);
    }
    uv_close((uv_handle_t *)&m->timer, late_metrics_closed);
}

static void late_metrics_gone(struct sy_http_req *req)
{
    struct late_metrics *m = req->data;
    m->req = NULL;
}

static void metrics_later(struct replica *r, struct sy_http_req *req)
{
    struct late_metrics *m = SY_NEW(struct late_metrics);
    m->rep = r;
    m->req = req;
    uv_timer_init(r->srv->loop, &m->timer);
    m->timer.data = m;
    req->data = m;
    req->on_abort = late_metrics_gone;
    uv_timer_start(&m->timer, late_metrics_fire, r->srv->opts.metrics_delay_ms, 0);
}

static void handle(void *ud, struct sy_http_req *req)
{
    struct replica *r = ud;
    bool post = sy_str_eq_c(req->method, "POST");
    bool get = sy_str_eq_c(req->method, "GET");
    struct sy_str path = req->path;
    if (sy_str_eq_c(path, "/v1/chat/completions") || sy_str_eq_c(path, "/v1/completions")) {
        if (!post) {
            send_error_json(req, 405, "MethodNotAllowed", "Method Not Allowed");
            return;
        }
        handle_completion(r, req, req->body, req->body_len,
                          path.len == sizeof "/v1/chat/completions" - 1, false);
    } else if (sy_str_eq_c(path, "/v1/messages") && post) {
        handle_messages(r, req);
    } else if (sy_str_eq_c(path, "/_sim/kv/claim") && post) {
        sy_sim__pd_handle_side_channel(r, req, true);
    } else if (sy_str_eq_c(path, "/_sim/kv/release") && post) {
        sy_sim__pd_handle_side_channel(r, req, false);
    } else if (sy_str_eq_c(path, "/v1/chat/completions/render") && post) {
        handle_tokenize_as(r, req, SHAPE_RENDER_CHAT);
    } else if (sy_str_eq_c(path, "/v1/completions/render") && post) {
        handle_tokenize_as(r, req, SHAPE_RENDER_COMPLETIONS);
    } else if (sy_str_eq_c(path, "/tokenize") && post) {
        handle_tokenize(r, req);
    } else if (sy_str_eq_c(path, "/v1/models") && get) {
        handle_models(r, req);
    } else if ((sy_str_eq_c(path, "/health") || sy_str_eq_c(path, "/health/ready")) && get) {
        sy_http_respond(req, 200, NULL, NULL, "", 0);
    } else if (sy_str_eq_c(path, "/metrics") && get) {
        if (r->srv->opts.metrics_delay_ms)
            metrics_later(r, req);
        else
            respond_metrics(r, req);
    } else if (sy_str_eq_c(path, "/reset_prefix_cache") && post) {
        if (sy_sim_engine_reset_cache(r->eng) == 0)
            sy_http_respond(req, 200, NULL, NULL, "", 0);
        else
            send_error_json(req, 409, "ConflictError",
                            "requests are running; the prefix cache cannot be reset now");
        kick(r); /* publishes AllBlocksCleared with the next step, or now when idle */
        if (r->kv && !sy_sim_engine_busy(r->eng))
            sy_sim_kvpub_flush(r->kv, sy_wall_seconds());
    } else {
        send_error_json(req, 404, "NotFoundError", "Not Found");
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* "tcp://HOST:PORT" with PORT + offset. */
static int offset_endpoint(const char *ep, uint32_t offset, char *out, size_t cap)
{
    const char *colon = strrchr(ep, ':');
    uint64_t port;
    if (strncmp(ep, "tcp://", 6) != 0 || !colon || colon < ep + 6 ||
        sy_parse_u64(colon + 1, 1, 65535, &port) != 0 || port + offset > 65535)
        return SY_EINVAL;
    snprintf(out, cap, "%.*s:%llu", (int)(colon - ep), ep, (unsigned long long)(port + offset));
    return 0;
}

static void closed_one(struct sy_sim_server *s)
{
    if (--s->closing == 0) {
        sy_sim__dp_free(s);
        for (uint32_t i = 0; i < s->nreps; i++)
            sy_sim_engine_free(s->reps[i].eng);
        if (s->zctx)
            zmq_ctx_term(s->zctx);
        free(s->reps);
        free(s->model);
        free(s);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct replica *r = h->data;
    closed_one(r->srv);
}

static void on_park_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void sy_sim_server_close(struct sy_sim_server *s)
{
    if (!s)
        return;
    if (s->reqlog_fd >= 0)
        close(s->reqlog_fd);
    s->reqlog_fd = -1;
    uint32_t timers = 0;
    for (uint32_t i = 0; i < s->nreps; i++) {
        struct replica *r = &s->reps[i];
        if (r->http)
            sy_http_server_close(r->http);
        r->http = NULL;
        sy_sim_kvpub_close(r->kv);
        r->kv = NULL;
        if (r->timer_init)
            timers++;
    }
    bool park = sy_sim__pd_close(s, on_park_timer_closed);
    timers += park;
    timers += sy_sim__dp_close(s, on_park_timer_closed);
    if (timers == 0) {
        sy_sim__dp_free(s);
        for (uint32_t i = 0; i < s->nreps; i++)
            sy_sim_engine_free(s->reps[i].eng);
        if (s->zctx)
            zmq_ctx_term(s->zctx);
        free(s->reps);
        free(s->model);
        free(s);
        return;
    }
    s->closing = timers;
    for (uint32_t i = 0; i < s->nreps; i++) {
        struct replica *r = &s->reps[i];
        if (r->timer_init) {
            uv_timer_stop(&r->timer);
            uv_close((uv_handle_t *)&r->timer, on_timer_closed);
        }
    }
}

struct sy_sim_server *sy_sim_server_start(uv_loop_t *loop, const struct sy_sim_opts *o, char *err,
                                          size_t errcap)
{
    if (o->replicas == 0 || o->replicas > SY_SIM_MAX_REPLICAS || !(o->time_scale > 0)) {
        snprintf(err, errcap, "sim: need 1..%d replicas and a time scale > 0", SY_SIM_MAX_REPLICAS);
        return NULL;
    }
    struct sy_sim_server *s = SY_NEW(struct sy_sim_server);
    s->loop = loop;
    s->opts = *o;
    s->model = sy_xstrdup(o->model ? o->model : "Qwen/Qwen3-32B");
    s->wall0 = sy_now_ns();
    s->rng = o->seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
    if (s->rng == 0)
        s->rng = 1;
    s->nreps = o->replicas;
    s->reps = sy_xcalloc(o->replicas, sizeof *s->reps);
    s->reqlog_fd = -1;
    if (o->request_log) {
        s->reqlog_fd = open(o->request_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (s->reqlog_fd < 0) {
            snprintf(err, errcap, "sim: --request-log %s: %s", o->request_log, strerror(errno));
            goto fail;
        }
    }
    if (o->kv_events)
        s->zctx = zmq_ctx_new();
    const char *host = o->host ? o->host : "127.0.0.1";
    for (uint32_t i = 0; i < o->replicas; i++) {
        struct replica *r = &s->reps[i];
        r->srv = s;
        r->index = i;
        r->role = (enum sy_sim_role)o->roles[i];
        sy_sim__pd_engine_id(r, o->seed);
        struct sy_sim_engine_cbs cbs = {.on_token = eng_on_token,
                                        .on_finish = eng_on_finish,
                                        .on_kv = eng_on_kv,
                                        .on_step_end = eng_on_step_end,
                                        .on_loaded = sy_sim__pd_on_loaded,
                                        .ud = r};
        r->eng =
            sy_sim_engine_new(o->replica_prof ? &o->replica_prof[i] : &o->prof, o->seed + i, &cbs);
        if (r->eng)
            sy_sim_engine_set_sched(r->eng, &o->sched);
        if (!r->eng) {
            snprintf(err, errcap,
                     "sim: the engine settings are unusable (blocks, block size "
                     "1..256, max-num-seqs and max-num-batched-tokens must be > 0)");
            goto fail;
        }
        uv_timer_init(loop, &r->timer);
        r->timer.data = r;
        r->timer_init = true;
        struct sy_http_server_opts hopts = {.handler = handle, .ud = r};
        char herr[256];
        int rc = sy_http_server_start(loop, host, o->ports[i], &hopts, &r->http, herr, sizeof herr);
        if (rc != 0) {
            snprintf(err, errcap, "sim: replica %u: %s", i, herr);
            r->http = NULL;
            goto fail;
        }
        r->port = sy_http_server_port(r->http);
        if (o->kv_events) {
            char ep[300], rep[300], topic[600];
            if (offset_endpoint(o->kv_events, i, ep, sizeof ep) != 0 ||
                (o->kv_replay && offset_endpoint(o->kv_replay, i, rep, sizeof rep) != 0)) {
                snprintf(err, errcap,
                         "sim: --kv-events/--kv-events-replay must be "
                         "tcp://HOST:PORT with room for every replica's port");
                goto fail;
            }
            snprintf(topic, sizeof topic, "kv@%s:%u@%s", host, r->port, s->model);
            struct sy_sim_kvpub_opts ko = {.endpoint = ep,
                                           .connect = o->kv_connect,
                                           .replay = o->kv_replay ? rep : NULL,
                                           .topic = topic,
                                           .map_format = o->kv_map_format,
                                           .dp_rank = (int)(o->dp_size > 1 ? i % o->dp_size : i)};
            r->kv = sy_sim_kvpub_new(loop, s->zctx, &ko, err, errcap);
            if (!r->kv)
                goto fail;
        }
    }
    sy_sim__pd_start(s);
    if (sy_sim__dp_start(s, err, errcap) != 0)
        goto fail;
    return s;
fail:
    sy_sim_server_close(s);
    return NULL;
}

uint16_t sy_sim_server_port(const struct sy_sim_server *s, uint32_t i)
{
    return i < s->nreps ? s->reps[i].port : 0;
}

struct sy_sim_engine *sy_sim_server_engine(struct sy_sim_server *s, uint32_t i)
{
    return i < s->nreps ? s->reps[i].eng : NULL;
}
