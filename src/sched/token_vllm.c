/* token_vllm.c - token-producer `backend: vllm`: token ids from the model server (llm-d-router
 * tokenizer/vllm_http.go), a bounded cache, and the estimate fallback.
 *
 * Protocol (parameter `vllm.api`):
 *   render (llm-d's, the default)  POST {url}/v1/chat/completions/render  -> {"token_ids": [...]}
 *                                  POST {url}/v1/completions/render       -> [{"token_ids": [...]}]
 *   tokenize (any `vllm serve`)    POST {url}/tokenize                    -> {"count", "tokens":
 *                                                                             [...], ...}
 * The body is the client's request body as is, with `model` replaced by `modelName` (llm-d clones
 * the payload and sets model; `vllm launch render` wants the base model). The body is spliced,
 * never re-serialised: [body up to the model value][ "modelName" ][the rest], all borrowed.
 *
 * Timeouts (llm-d defaults): `timeout` 5s, `mmTimeout` 30s for chat whose messages carry content
 * lists (media); both connect and response. A timeout, a connection failure, a non-200 answer or
 * an unparseable one falls back to the estimate backend for that request: counted in
 * switchyard_tokenizer_fallback_total{reason} and logged (the 1st, 2nd, 4th, 8th, ... time, so a
 * dead server does not flood the log). Scheduling never waits longer than the timeout.
 *
 * Cache: direct-mapped, `vllm.cacheSize` entries (default 4096, 0 = off) keyed by xxh64 of the
 * exact body sent; at most `vllm.cacheMaxTokens` ids held in total (default 4 Mi = 16 MiB), older
 * entries evicted by a clock hand. One mutex; the copy out is the only work under it.
 *
 * Rejected: tokenizing at the candidate endpoint (each endpoint would need its own call before
 * scheduling, and llm-d points `url` at one render server); blocking the worker thread on the
 * exchange (the scheduler runs on the worker's loop).
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cjson/cJSON.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_scan.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "sched/params.h"
#include "sched/token_vllm.h"

#define DEFAULT_URL        "http://localhost:8000" /* llm-d defaultHTTPRenderURL */
#define DEFAULT_TIMEOUT_NS (5 * SY_NS_PER_S)       /* llm-d defaultHTTPRenderTimeout */
#define DEFAULT_MM_NS      (30 * SY_NS_PER_S)      /* llm-d defaultHTTPRenderMMTimeout */
#define DEFAULT_CACHE      4096                    /* entries */
#define DEFAULT_CACHE_TOK  (4u << 20)              /* token ids held by the cache */

enum api { API_RENDER, API_TOKENIZE };

struct entry {
    uint64_t key;  /* 0 = empty */
    uint32_t *ids; /* owned */
    size_t n;
};

struct sy_token_vllm {
    enum api api;                 /* which endpoint family */
    char hostport[256];           /* pool key and Host header */
    char prefix[256];             /* path prefix from the url ("" or "/x") */
    struct sockaddr_storage addr; /* resolved at create */
    char *model_json;             /* modelName as a JSON string ("" = keep the client's) */
    uint64_t timeout_ns, mm_timeout_ns;
    pthread_mutex_t mu;        /* guards the cache */
    struct entry *cache;       /* [ncache], NULL when off */
    size_t ncache;             /* power of two */
    size_t tokens, max_tokens; /* held / allowed ids */
    size_t hand;               /* eviction clock */
};

/* Process-wide counters (all instances, across reloads). */
static _Atomic uint64_t n_ok, n_hit, n_fallback;
static _Atomic uint64_t n_reason[5];
static const char *const reason_name[5] = {"timeout", "unreachable", "status", "bad_response",
                                           "not_fetched"};
enum { R_TIMEOUT, R_UNREACHABLE, R_STATUS, R_BAD, R_NOT_FETCHED };

/* ---- configuration ---- */

/* Go time.ParseDuration for the units configs use: "5s", "250ms", "1m30s", "1.5s". */
static int parse_duration(const char *s, uint64_t *out)
{
    double total = 0;
    if (!*s)
        return SY_EINVAL;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0)
            return SY_EINVAL;
        s = end;
        double mul;
        if (!strncmp(s, "ns", 2))
            mul = 1, s += 2;
        else if (!strncmp(s, "us", 2) || !strncmp(s, "\xc2\xb5s", 3))
            mul = 1e3, s += (*s == 'u' ? 2 : 3);
        else if (!strncmp(s, "ms", 2))
            mul = 1e6, s += 2;
        else if (*s == 's')
            mul = 1e9, s += 1;
        else if (*s == 'm')
            mul = 60e9, s += 1;
        else if (*s == 'h')
            mul = 3600e9, s += 1;
        else
            return SY_EINVAL;
        total += v * mul;
    }
    if (total < 1e6 || total > 3600e9) /* 1 ms .. 1 h */
        return SY_EINVAL;
    *out = (uint64_t)total;
    return 0;
}

static int parse_url(struct sy_token_vllm *tv, const char *url, char *why, size_t whycap)
{
    if (strncmp(url, "http://", 7)) {
        snprintf(why, whycap, "'%s': only http:// URLs are supported", url);
        return SY_EINVAL;
    }
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof tv->hostport) {
        snprintf(why, whycap, "'%s': no host", url);
        return SY_EINVAL;
    }
    memcpy(tv->hostport, h, hl);
    tv->hostport[hl] = '\0';
    snprintf(tv->prefix, sizeof tv->prefix, "%s", slash ? slash : "");
    size_t pl = strlen(tv->prefix);
    while (pl && tv->prefix[pl - 1] == '/')
        tv->prefix[--pl] = '\0';
    char host[256], port[16] = "80";
    snprintf(host, sizeof host, "%s", tv->hostport);
    char *colon = strrchr(host, ':');
    if (host[0] == '[') { /* [v6]:port */
        char *rb = strchr(host, ']');
        if (!rb) {
            snprintf(why, whycap, "'%s': bad IPv6 host", url);
            return SY_EINVAL;
        }
        if (rb[1] == ':')
            snprintf(port, sizeof port, "%s", rb + 2);
        *rb = '\0';
        memmove(host, host + 1, strlen(host));
    } else if (colon) {
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc || !ai) {
        snprintf(why, whycap, "'%s': cannot resolve '%s': %s", url, host, gai_strerror(rc));
        return SY_EINVAL;
    }
    memcpy(&tv->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

struct sy_token_vllm *sy_token_vllm_new(const struct sy_yaml_node *vllm, const char *model_name,
                                        const struct sy_plugin_env *env, char *err, size_t errcap)
{
    static const char *const keys[] = {"url",       "timeout",        "mmTimeout", "api",
                                       "cacheSize", "cacheMaxTokens", NULL};
    if (sy_param_check(vllm, env, keys, err, errcap))
        return NULL;
    const char *url = DEFAULT_URL, *to = NULL, *mm = NULL, *api = "render";
    int64_t csize = DEFAULT_CACHE, ctok = DEFAULT_CACHE_TOK;
    if (sy_param_string(vllm, "url", env, &url, err, errcap) ||
        sy_param_string(vllm, "timeout", env, &to, err, errcap) ||
        sy_param_string(vllm, "mmTimeout", env, &mm, err, errcap) ||
        sy_param_string(vllm, "api", env, &api, err, errcap) ||
        sy_param_int(vllm, "cacheSize", env, 0, 1 << 22, &csize, err, errcap) ||
        sy_param_int(vllm, "cacheMaxTokens", env, 0, INT64_C(1) << 32, &ctok, err, errcap))
        return NULL;
    struct sy_token_vllm *tv = SY_NEW(struct sy_token_vllm);
    tv->timeout_ns = DEFAULT_TIMEOUT_NS;
    tv->mm_timeout_ns = DEFAULT_MM_NS;
    char why[400];
    if (!strcmp(api, "render")) {
        tv->api = API_RENDER;
    } else if (!strcmp(api, "tokenize")) {
        tv->api = API_TOKENIZE;
    } else {
        sy_param_errorf(env, sy_yaml_get(vllm, "api"), "vllm.api", err, errcap,
                        "'%s': expected render (llm-d's /v1/*/render) or tokenize (/tokenize)",
                        api);
        goto fail;
    }
    const char *bad = to && parse_duration(to, &tv->timeout_ns)      ? "timeout"
                      : mm && parse_duration(mm, &tv->mm_timeout_ns) ? "mmTimeout"
                                                                     : NULL;
    if (bad) {
        char key[32];
        snprintf(key, sizeof key, "vllm.%s", bad);
        sy_param_errorf(env, sy_yaml_get(vllm, bad), key, err, errcap,
                        "a duration between 1ms and 1h, such as \"5s\" or \"250ms\"");
        goto fail;
    }
    if (parse_url(tv, url, why, sizeof why)) {
        sy_param_errorf(env, sy_yaml_get(vllm, "url"), "vllm.url", err, errcap, "%s", why);
        goto fail;
    }
    struct sy_buf mj;
    sy_buf_init(&mj);
    if (model_name && *model_name)
        sy_buf_json_str(&mj, model_name, strlen(model_name));
    sy_buf_append(&mj, "", 1);
    tv->model_json = sy_buf_steal(&mj, NULL);
    if (strlen(tv->model_json) >= sizeof((struct sy_token_vllm_call *)0)->model_json) {
        sy_param_errorf(env, NULL, "modelName", err, errcap, "too long");
        goto fail;
    }
    pthread_mutex_init(&tv->mu, NULL);
    if (csize > 0) {
        size_t n = 1;
        while (n < (size_t)csize)
            n <<= 1;
        tv->ncache = n;
        tv->cache = sy_xcalloc(n, sizeof *tv->cache);
    }
    tv->max_tokens = (size_t)ctok;
    return tv;
fail:
    free(tv->model_json);
    free(tv);
    return NULL;
}

void sy_token_vllm_free(struct sy_token_vllm *tv)
{
    if (!tv)
        return;
    for (size_t i = 0; i < tv->ncache; i++)
        free(tv->cache[i].ids);
    free(tv->cache);
    pthread_mutex_destroy(&tv->mu);
    free(tv->model_json);
    free(tv);
}

const struct sockaddr *sy_token_vllm_addr(const struct sy_token_vllm *tv)
{
    return (const struct sockaddr *)&tv->addr;
}

const char *sy_token_vllm_hostport(const struct sy_token_vllm *tv)
{
    return tv->hostport;
}

/* ---- cache ---- */

static bool cache_get(struct sy_token_vllm *tv, uint64_t key, struct sy_token_vllm_result *res)
{
    if (!tv->cache)
        return false;
    bool hit = false;
    pthread_mutex_lock(&tv->mu);
    struct entry *e = &tv->cache[key & (tv->ncache - 1)];
    if (e->key == key && e->ids) {
        res->ids = sy_xmalloc((e->n ? e->n : 1) * sizeof *res->ids);
        memcpy(res->ids, e->ids, e->n * sizeof *res->ids);
        res->n = e->n;
        res->ok = hit = true;
    }
    pthread_mutex_unlock(&tv->mu);
    return hit;
}

static void evict(struct sy_token_vllm *tv, struct entry *e)
{
    tv->tokens -= e->n;
    free(e->ids);
    e->ids = NULL;
    e->n = 0;
    e->key = 0;
}

static void cache_put(struct sy_token_vllm *tv, uint64_t key, const uint32_t *ids, size_t n)
{
    if (!tv->cache || n == 0 || n > tv->max_tokens)
        return;
    uint32_t *copy = sy_xmalloc(n * sizeof *copy);
    memcpy(copy, ids, n * sizeof *copy);
    pthread_mutex_lock(&tv->mu);
    struct entry *e = &tv->cache[key & (tv->ncache - 1)];
    if (e->ids)
        evict(tv, e);
    for (size_t tries = 0; tv->tokens + n > tv->max_tokens && tries < tv->ncache; tries++) {
        struct entry *v = &tv->cache[tv->hand++ & (tv->ncache - 1)];
        if (v->ids)
            evict(tv, v);
    }
    e->key = key ? key : 1;
    e->ids = copy;
    e->n = n;
    tv->tokens += n;
    pthread_mutex_unlock(&tv->mu);
}

/* ---- the exchange ---- */

struct model_span {
    const char *p; /* value text of the top-level "model" */
    size_t len;
};

static void find_model(void *ud, struct sy_str key, enum sy_json_type type, struct sy_str value)
{
    struct model_span *m = ud;
    if (type == SY_JSON_STRING && sy_str_eq_c(key, "model")) {
        m->p = value.p;
        m->len = value.len;
    }
}

/* Any message whose content is a non-empty list (llm-d's chatTimeout rule): scans the messages
 * text for `"content"` followed by `[` and something other than `]`. */
static bool has_content_list(struct sy_str msgs)
{
    static const char needle[] = "\"content\"";
    const char *p = msgs.p, *end = msgs.p + msgs.len;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), needle, sizeof needle - 1);
        if (!hit)
            return false;
        const char *q = hit + sizeof needle - 1;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ':'))
            q++;
        if (q < end && *q == '[') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                q++;
            if (q < end && *q != ']')
                return true;
        }
        p = hit + 1;
    }
    return false;
}

int sy_token_vllm_prepare(struct sy_token_vllm *tv, const struct sy_request *req,
                          struct sy_token_vllm_call *call, struct sy_token_vllm_result *res)
{
    memset(res, 0, sizeof *res);
    const char *path;
    bool chat = req->kind == SY_API_CHAT_COMPLETIONS;
    if (chat) {
        path = tv->api == API_RENDER ? "/v1/chat/completions/render" : "/tokenize";
    } else if (req->kind == SY_API_COMPLETIONS && req->prompt.len && req->prompt.p > req->body &&
               req->prompt.p[-1] == '"') {
        path = tv->api == API_RENDER ? "/v1/completions/render" : "/tokenize";
    } else {
        return -1; /* token-id lists, prompt lists, other APIs: the producer handles them */
    }
    memset(call, 0, sizeof *call);
    struct model_span m = {0};
    size_t off;
    char why[64];
    if (sy_json_scan_object(req->body, req->body_len, find_model, &m, &off, why, sizeof why) ||
        !m.p)
        return -1;
    const char *body = req->body;
    if (*tv->model_json) {
        snprintf(call->model_json, sizeof call->model_json, "%s", tv->model_json);
        call->piece[0] = body;
        call->len[0] = (size_t)(m.p - body);
        call->piece[1] = call->model_json;
        call->len[1] = strlen(call->model_json);
        call->piece[2] = m.p + m.len;
        call->len[2] = req->body_len - call->len[0] - m.len;
    } else {
        call->piece[0] = body;
        call->len[0] = req->body_len;
    }
    XXH64_state_t st;
    XXH64_reset(&st, tv->api);
    XXH64_update(&st, path, strlen(path));
    for (int i = 0; i < 3; i++)
        if (call->len[i])
            XXH64_update(&st, call->piece[i], call->len[i]);
    call->key = XXH64_digest(&st);
    if (cache_get(tv, call->key, res)) {
        atomic_fetch_add(&n_hit, 1);
        return 1;
    }
    call->timeout_ns = chat && has_content_list(req->prompt) ? tv->mm_timeout_ns : tv->timeout_ns;
    sy_buf_init(&call->head);
    sy_buf_printf(&call->head,
                  "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n",
                  tv->prefix, path, tv->hostport, call->len[0] + call->len[1] + call->len[2]);
    if (req->request_id.len)
        sy_buf_printf(&call->head, "x-request-id: %.*s\r\n", (int)req->request_id.len,
                      req->request_id.p);
    sy_buf_puts(&call->head, "\r\n");
    return 0;
}

void sy_token_vllm_call_fini(struct sy_token_vllm_call *call)
{
    sy_buf_fini(&call->head);
}

/* The ids array of a response: render chat {"token_ids"}, render completions [{"token_ids"}],
 * tokenize {"tokens"}. */
static int parse_ids(const char *body, size_t len, uint32_t **ids, size_t *n)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *arr = NULL;
    if (cJSON_IsArray(root))
        arr = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(root, 0), "token_ids");
    else if (cJSON_IsObject(root)) {
        arr = cJSON_GetObjectItemCaseSensitive(root, "token_ids");
        if (!arr)
            arr = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    }
    int rc = SY_EPARSE;
    if (cJSON_IsArray(arr)) {
        size_t cnt = (size_t)cJSON_GetArraySize(arr), k = 0;
        uint32_t *out = sy_xmalloc((cnt ? cnt : 1) * sizeof *out);
        const cJSON *it;
        rc = 0;
        cJSON_ArrayForEach(it, arr)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > UINT32_MAX) {
                rc = SY_EPARSE;
                break;
            }
            out[k++] = (uint32_t)it->valuedouble;
        }
        if (rc) {
            free(out);
        } else {
            *ids = out;
            *n = k;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static void fallback(int reason, const char *hostport, const char *detail)
{
    atomic_fetch_add(&n_fallback, 1);
    uint64_t c = atomic_fetch_add(&n_reason[reason], 1) + 1;
    if ((c & (c - 1)) == 0) /* 1st, 2nd, 4th, ... */
        sy_warn("token-producer: vllm tokenizer at %s: %s (%s); this request is scheduled on the "
                "estimate backend (%llu such fallback(s) so far)",
                hostport, reason_name[reason], detail, (unsigned long long)c);
}

void sy_token_vllm_finish(struct sy_token_vllm *tv, const struct sy_token_vllm_call *call, int err,
                          int status, const char *body, size_t len,
                          struct sy_token_vllm_result *res)
{
    memset(res, 0, sizeof *res);
    char detail[160];
    if (err) {
        snprintf(detail, sizeof detail, "%s", sy_strerror(err));
        fallback(err == SY_ETIMEDOUT                         ? R_TIMEOUT
                 : (err == SY_ECONNECT || err == SY_ECLOSED) ? R_UNREACHABLE
                                                             : R_BAD,
                 tv->hostport, detail);
        return;
    }
    if (status != 200) {
        snprintf(detail, sizeof detail, "HTTP %d: %.100s", status, body ? body : "");
        for (char *q = detail; *q; q++)
            if (*q == '\n' || *q == '\r')
                *q = ' ';
        fallback(R_STATUS, tv->hostport, detail);
        return;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    if (parse_ids(body, len, &ids, &n) != 0) {
        fallback(R_BAD, tv->hostport, "no token_ids/tokens list in the answer");
        return;
    }
    atomic_fetch_add(&n_ok, 1);
    cache_put(tv, call->key, ids, n);
    res->ids = ids;
    res->n = n;
    res->ok = true;
}

/* For the producer when no exchange was attempted (no gateway hook, e.g. a library user). */
void sy_token_vllm__not_fetched(const struct sy_token_vllm *tv)
{
    fallback(R_NOT_FETCHED, tv->hostport, "no tokenization was attempted for the request");
}

void sy_token_vllm_metrics_collect(void *ud, struct sy_buf *out)
{
    (void)ud;
    sy_buf_puts(out, "# HELP switchyard_tokenizer_requests_total Token-producer vllm backend "
                     "requests by result (ok: ids from the server; cache_hit; fallback: the "
                     "estimate was used).\n# TYPE switchyard_tokenizer_requests_total counter\n");
    sy_buf_printf(out, "switchyard_tokenizer_requests_total{backend=\"vllm\",result=\"ok\"} %llu\n",
                  (unsigned long long)atomic_load(&n_ok));
    sy_buf_printf(
        out, "switchyard_tokenizer_requests_total{backend=\"vllm\",result=\"cache_hit\"} %llu\n",
        (unsigned long long)atomic_load(&n_hit));
    sy_buf_printf(
        out, "switchyard_tokenizer_requests_total{backend=\"vllm\",result=\"fallback\"} %llu\n",
        (unsigned long long)atomic_load(&n_fallback));
    sy_buf_puts(out,
                "# HELP switchyard_tokenizer_fallback_total Requests scheduled on the estimate "
                "backend because the vllm tokenizer failed, by reason.\n"
                "# TYPE switchyard_tokenizer_fallback_total counter\n");
    for (int i = 0; i < 5; i++)
        sy_buf_printf(out,
                      "switchyard_tokenizer_fallback_total{backend=\"vllm\",reason=\"%s\"} %llu\n",
                      reason_name[i], (unsigned long long)atomic_load(&n_reason[i]));
}
