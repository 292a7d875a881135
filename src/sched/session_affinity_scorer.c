/* session_affinity_scorer.c - llm-d's `session-affinity-scorer` (encoded-endpoint strategy).
 *
 * The client sends back the `x-session-token` the gateway put on an earlier response; it is
 * base64 of the endpoint that served it (llm-d encodes the pod's namespace/name; Switchyard's
 * endpoints are host:port). That endpoint scores 1.0, every other one 0.0; no token, or one that
 * does not decode, scores 0 everywhere. Stateless: nothing to evict, nothing shared.
 *
 * Parameters (router v0.9): strategy (only `encoded_endpoint_header`, the default),
 * encodedEndpointHeaderConfig.header (only `x-session-token`: it is the header the gateway
 * extracts), evictionTtlSeconds / evictionSweepSeconds / profileName (accepted: they only affect
 * the session_id strategy's table or multi-profile handlers, which Switchyard does not have).
 * `strategy: session_id` is refused rather than silently routed differently.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define SESSION_MAX_TOKEN 512 /* longest decoded token considered (addresses are shorter) */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sy_sched_session_token(const struct sy_endpoint *ep, struct sy_buf *out)
{
    const unsigned char *s = (const unsigned char *)ep->address;
    size_t n = strlen(ep->address);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        sy_buf_append(out, q, 4);
    }
}

static int b64val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64, padding optional. Returns length or -1. */
static long b64decode(const char *in, size_t len, char *out, size_t cap)
{
    while (len && in[len - 1] == '=')
        len--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    return (long)o;
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"strategy",
                                          "encodedEndpointHeaderConfig",
                                          "sessionIdConfig",
                                          "evictionTtlSeconds",
                                          "evictionSweepSeconds",
                                          "profileName",
                                          NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const char *strategy = NULL, *profile = NULL;
    int64_t ttl = 300, sweep = 10;
    if ((rc = sy_param_string(params, "strategy", env, &strategy, err, errcap)) ||
        (rc = sy_param_string(params, "profileName", env, &profile, err, errcap)) ||
        (rc = sy_param_int(params, "evictionTtlSeconds", env, 0, INT32_MAX, &ttl, err, errcap)) ||
        (rc = sy_param_int(params, "evictionSweepSeconds", env, 0, INT32_MAX, &sweep, err, errcap)))
        return rc;
    if (strategy && strcmp(strategy, "encoded_endpoint_header")) {
        if (!strcmp(strategy, "session_id"))
            return sy_param_errorf(env, sy_yaml_get(params, "strategy"), "strategy", err, errcap,
                                   "'session_id' is not supported by Switchyard yet (use "
                                   "encoded_endpoint_header)");
        return sy_param_errorf(env, sy_yaml_get(params, "strategy"), "strategy", err, errcap,
                               "unknown strategy '%s'", strategy);
    }
    const struct sy_yaml_node *sid =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "sessionIdConfig");
    if (sid && !sy_param_absent(sid))
        return sy_param_errorf(env, sid, "sessionIdConfig", err, errcap,
                               "only used with strategy session_id, which Switchyard does not "
                               "support yet");
    const struct sy_yaml_node *eh =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "encodedEndpointHeaderConfig");
    if (eh && !sy_param_absent(eh)) {
        if (eh->type != SY_YAML_MAPPING)
            return sy_param_errorf(env, eh, "encodedEndpointHeaderConfig", err, errcap,
                                   "must be a mapping");
        for (size_t i = 0; i < eh->n; i++) {
            const char *k = sy_yaml_str(eh->keys[i]), *v = sy_yaml_str(eh->items[i]);
            if (!k || strcmp(k, "header"))
                return sy_param_errorf(env, eh->keys[i], "encodedEndpointHeaderConfig", err, errcap,
                                       "unknown key '%s'", k ? k : "?");
            if (!v || strcasecmp(v, "x-session-token"))
                return sy_param_errorf(env, eh->items[i], "encodedEndpointHeaderConfig.header", err,
                                       errcap,
                                       "only x-session-token is supported by Switchyard yet");
        }
    }
    *state = NULL;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    struct sy_str tok = cy->req->session_token;
    char addr[SESSION_MAX_TOKEN + 1];
    long len = tok.len ? b64decode(tok.p, tok.len, addr, SESSION_MAX_TOKEN) : -1;
    for (size_t i = 0; i < n; i++) {
        const char *a = c[i].ep->address;
        scores[i] =
            len > 0 && strlen(a) == (size_t)len && !memcmp(a, addr, (size_t)len) ? 1.0 : 0.0;
    }
}

const struct sy_plugin_ops sy_plugin_session_affinity_scorer = {
    .type = "session-affinity-scorer",
    .create = create,
    .score = score,
};
