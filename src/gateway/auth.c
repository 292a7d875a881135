/* auth.c - optional API keys on the gateway's routes (auth.apiKeys / auth.apiKeysFile).
 *
 *   client routes (/v1/...)       need a key when any is configured
 *   /metrics, /debug/...          need a key only with auth.protectAdmin
 *   /health, /ready               always open (probes carry no credentials)
 *
 * A key comes as `Authorization: Bearer KEY` (OpenAI clients) or, on the Messages route (a path
 * ending in /v1/messages, as the anthropic-parser claims it), also as `x-api-key: KEY` (Anthropic
 * clients send that). Every configured key is compared, each in time independent of where the
 * bytes differ (and of which key matched), so response timing does not reveal a key prefix. A
 * refusal is 401 with `WWW-Authenticate: Bearer` and the route's error shape: OpenAI's
 * invalid_api_key, or Anthropic's authentication_error on the Messages route (an Anthropic SDK
 * reads its message from there). The keys are part of the configuration generation, so SIGHUP
 * (re)reads the key file.
 *
 * Rejected: hashing the keys first (a compare of fixed-size digests is constant time too, but
 * the keys are already held in memory, so it adds nothing here).
 */
#include <string.h>

#include "api/anthropic.h"
#include "core/buf.h"
#include "gateway/gateway.h"

/* The Messages route: the path the anthropic-parser claims (suffix match, like the parsers). */
static bool messages_route(const struct sy_http_req *req)
{
    static const char sfx[] = "/v1/messages";
    size_t n = sizeof sfx - 1;
    return req->path.len >= n && memcmp(req->path.p + req->path.len - n, sfx, n) == 0;
}

/* 401 in the route's error shape, with WWW-Authenticate: Bearer. */
static void refuse(struct sy_http_req *req, const char *message)
{
    static const char www[] = "WWW-Authenticate: Bearer\r\n";
    if (!messages_route(req)) {
        sy_http_respond_error(req, 401, "invalid_request_error", "invalid_api_key", message, www);
        return;
    }
    struct sy_buf b;
    sy_buf_init(&b);
    sy_anthropic_error_json(&b, 401, message);
    sy_http_respond(req, 401, "application/json", www, b.data, b.len);
    sy_buf_fini(&b);
}

/* Compares a and b in time that depends only on their lengths. */
static bool ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen > blen ? alen : blen;
    unsigned char d = alen != blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        d |= x ^ y;
    }
    return d == 0;
}

static bool key_known(const struct sy_config *cfg, struct sy_str k)
{
    bool ok = false;
    for (size_t i = 0; i < cfg->napi_keys; i++)
        ok |= ct_equal(k.p, k.len, cfg->api_keys[i], strlen(cfg->api_keys[i]));
    return ok;
}

/* The key the request presents, if any. */
static bool presented_key(const struct sy_http_req *req, struct sy_str *key)
{
    struct sy_str v;
    if (sy_http_header(req, "authorization", &v)) {
        while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
            v.len--;
        if (v.len > 7 && strncasecmp(v.p, "bearer ", 7) == 0) {
            key->p = v.p + 7;
            key->len = v.len - 7;
            while (key->len && key->p[0] == ' ') {
                key->p++;
                key->len--;
            }
            return key->len > 0;
        }
    }
    if (messages_route(req) && sy_http_header(req, "x-api-key", &v) && v.len > 0) {
        *key = v;
        return true;
    }
    return false;
}

bool sy_gw_auth_check(const struct sy_config *cfg, struct sy_http_req *req, bool admin_route)
{
    if (cfg->napi_keys == 0)
        return true;
    if (admin_route) {
        bool protected_path = sy_str_eq_c(req->path, "/metrics") ||
                              (req->path.len >= 7 && memcmp(req->path.p, "/debug/", 7) == 0) ||
                              sy_str_eq_c(req->path, "/debug");
        if (!cfg->protect_admin || !protected_path)
            return true;
    }
    struct sy_str key;
    if (!presented_key(req, &key)) {
        refuse(req, messages_route(req)
                        ? "You didn't provide an API key. Provide it in the x-api-key header "
                          "or the Authorization header as `Bearer YOUR_KEY`."
                        : "You didn't provide an API key. Provide it in the Authorization "
                          "header as `Bearer YOUR_KEY`.");
        return false;
    }
    if (!key_known(cfg, key)) {
        refuse(req, "Incorrect API key provided.");
        return false;
    }
    return true;
}
