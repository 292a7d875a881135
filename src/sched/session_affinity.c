/* session_affinity.c - the part of llm-d's session affinity shared by session-affinity-scorer and
 * session-affinity-filter (session_affinity.h has the model): parameter parsing, the token
 * codec, and the session_id binding table.
 *
 * Tokens: base64 of the endpoint's address (llm-d encodes the pod's namespace/name; Switchyard's
 * endpoints are host:port). Decoding accepts standard or URL-safe base64 with optional padding.
 *
 * Bindings (strategy session_id): a chained hash table of session id -> endpoint address, guarded
 * by one mutex (one lookup per request and one update after the pick). Expired bindings
 * (unused for longer than the TTL) are dropped by a sweep that runs inline at most once per
 * sweep interval, as llm-d's ticker does; llm-d's read path does not check expiry either. The
 * bindings are also on a doubly linked list in order of last use (lru_old .. lru_new; a use moves
 * a binding to the new end), so the sweep pops expired bindings from the old end without walking
 * the table, and the table stays bounded (SY_SESSION_MAX_BINDINGS): when full, a new session
 * evicts the least recently used binding (llm-d's map is unbounded; a bound keeps a flood of
 * one-off session ids from growing memory without end, and evicting the oldest keeps every
 * active session bound).
 * A binding remembers the request id of the last request that found its endpoint absent from
 * the candidates; PreRequest migrates the binding only for that request (llm-d's
 * boundPodPresence handoff), so a picker merely choosing another endpoint never moves it.
 *
 * profileName, as llm-d: the instance pins (session_id) and writes back (encoded header) the
 * endpoint the named profile picked in this request (sy_sched_profile_pick), e.g. the prefill
 * pick for an instance in the prefill profile with its own header; when that profile did not run
 * (a decode-only request) it binds nothing and writes no header. Without profileName it is the
 * served (primary) pick. A P/D prefill profile's pick is bound when its leg goes out
 * (records_prefill: sy_sched_record_prefill), so a re-picked leg binds the endpoint that served it,
 * not the one that failed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/time.h"
#include "sched/params.h"
#include "sched/session_affinity.h"

#define SESSION_MAX_TOKEN 512  /* longest decoded token considered (addresses are shorter) */
#define SESSION_BUCKETS   4096 /* hash buckets of the binding table */

struct sy_session_binding {
    struct sy_session_binding *next;  /* bucket chain */
    struct sy_session_binding *older; /* LRU list neighbour towards lru_old */
    struct sy_session_binding *newer; /* LRU list neighbour towards lru_new */
    char *id;                         /* session id; owned */
    char *addr;                       /* bound endpoint address; owned */
    uint64_t last_seen_ns;            /* monotonic time of the last use */
    char absent_rid[64];              /* request that found addr absent from its candidates */
};

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

/* llm-d's NormalizeHeader: trimmed, lowercased; empty -> dflt. */
static int normalize_header(const char *in, const char *dflt, char *out, size_t cap)
{
    while (in && isspace((unsigned char)*in))
        in++;
    size_t n = in ? strlen(in) : 0;
    while (n && isspace((unsigned char)in[n - 1]))
        n--;
    if (!n) {
        in = dflt;
        n = strlen(dflt);
    }
    if (n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
    return 0;
}

static int parse_encoded(struct sy_session *s, const struct sy_yaml_node *eh,
                         const struct sy_plugin_env *env, char *err, size_t errcap)
{
    const char *h = NULL;
    if (eh && !sy_param_absent(eh)) {
        static const char *const allowed[] = {"header", NULL};
        int rc = sy_param_check(eh, env, allowed, err, errcap);
        if (!rc)
            rc = sy_param_string(eh, "header", env, &h, err, errcap);
        if (rc)
            return rc;
    }
    if (normalize_header(h, "x-session-token", s->header, sizeof s->header))
        return sy_param_errorf(env, sy_yaml_get(eh, "header"), "encodedEndpointHeaderConfig.header",
                               err, errcap, "longer than %zu characters", sizeof s->header - 1);
    return 0;
}

static int parse_session_id(struct sy_session *s, const struct sy_yaml_node *sid,
                            const struct sy_plugin_env *env, char *err, size_t errcap)
{
    const struct sy_yaml_node *srcs = NULL;
    if (sid && !sy_param_absent(sid)) {
        static const char *const allowed[] = {"sources", "evictionTtlSeconds",
                                              "evictionSweepSeconds", NULL};
        double ttl = 0, sweep = 0;
        int rc = sy_param_check(sid, env, allowed, err, errcap);
        if (!rc)
            rc = sy_param_double(sid, "evictionTtlSeconds", env, -1e12, 1e9, &ttl, err, errcap);
        if (!rc)
            rc = sy_param_double(sid, "evictionSweepSeconds", env, -1e12, 1e9, &sweep, err, errcap);
        if (rc)
            return rc;
        /* llm-d: 0 (unset) takes the default; a negative value is an error */
        if (ttl < 0)
            return sy_param_errorf(env, sy_yaml_get(sid, "evictionTtlSeconds"),
                                   "sessionIdConfig.evictionTtlSeconds", err, errcap,
                                   "must be > 0, got %g", ttl);
        if (sweep < 0)
            return sy_param_errorf(env, sy_yaml_get(sid, "evictionSweepSeconds"),
                                   "sessionIdConfig.evictionSweepSeconds", err, errcap,
                                   "must be > 0, got %g", sweep);
        if (ttl > 0)
            s->ttl_ns = (uint64_t)(ttl * 1e9);
        if (sweep > 0)
            s->sweep_ns = (uint64_t)(sweep * 1e9);
        srcs = sy_yaml_get(sid, "sources");
    }
    if (srcs && !sy_param_absent(srcs)) {
        if (srcs->type != SY_YAML_SEQUENCE)
            return sy_param_errorf(env, srcs, "sessionIdConfig.sources", err, errcap,
                                   "must be a list of {header} or {attribute, producer}");
        if (srcs->n > SY_SESSION_MAX_SOURCES)
            return sy_param_errorf(env, srcs, "sessionIdConfig.sources", err, errcap,
                                   "at most %d sources", SY_SESSION_MAX_SOURCES);
        for (size_t i = 0; i < srcs->n; i++) {
            const struct sy_yaml_node *it = srcs->items[i];
            static const char *const allowed[] = {"header", "attribute", "producer", NULL};
            char key[64];
            snprintf(key, sizeof key, "sessionIdConfig.sources[%zu]", i);
            if (it->type != SY_YAML_MAPPING)
                return sy_param_errorf(env, it, key, err, errcap, "must be a mapping");
            const char *h = NULL, *a = NULL;
            int rc = sy_param_check(it, env, allowed, err, errcap);
            if (!rc)
                rc = sy_param_string(it, "header", env, &h, err, errcap);
            if (!rc)
                rc = sy_param_string(it, "attribute", env, &a, err, errcap);
            if (rc)
                return rc;
            bool hs = h && *h, as = a && *a;
            if (hs == as)
                return sy_param_errorf(env, it, key, err, errcap,
                                       "exactly one of header or attribute must be set");
            if (as)
                return sy_param_errorf(env, it, key, err, errcap,
                                       "attribute '%s' is published by a request-control plugin "
                                       "(agent-identity, session-id-producer) that Switchyard "
                                       "does not implement; use a header source",
                                       a);
            if (normalize_header(h, "x-session-id", s->sources[s->nsources], 128))
                return sy_param_errorf(env, it, key, err, errcap, "header name too long");
            s->nsources++;
        }
    }
    if (!s->nsources) {
        snprintf(s->sources[0], sizeof s->sources[0], "x-session-id");
        s->nsources = 1;
    }
    return 0;
}

int sy_session_new(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                   char *err, size_t errcap)
{
    /* evictionTtlSeconds / evictionSweepSeconds at the top level: earlier configs' form, read as
     * the session_id schedule when sessionIdConfig does not set it. */
    static const char *const allowed[] = {
        "strategy",    "encodedEndpointHeaderConfig", "sessionIdConfig",
        "profileName", "evictionTtlSeconds",          "evictionSweepSeconds",
        NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const char *strategy = NULL, *profile = NULL;
    double ttl = 300, sweep = 10;
    if ((rc = sy_param_string(params, "strategy", env, &strategy, err, errcap)) ||
        (rc = sy_param_string(params, "profileName", env, &profile, err, errcap)) ||
        (rc = sy_param_double(params, "evictionTtlSeconds", env, 0, 1e9, &ttl, err, errcap)) ||
        (rc = sy_param_double(params, "evictionSweepSeconds", env, 0, 1e9, &sweep, err, errcap)))
        return rc;
    struct sy_session *s = SY_NEW(struct sy_session);
    pthread_mutex_init(&s->mu, NULL);
    s->ttl_ns = (uint64_t)((ttl > 0 ? ttl : 300) * 1e9);
    s->sweep_ns = (uint64_t)((sweep > 0 ? sweep : 10) * 1e9);
    const struct sy_yaml_node *root = sy_param_absent(params) ? NULL : params;
    if (!strategy || !strcmp(strategy, "encoded_endpoint_header")) {
        rc = parse_encoded(s, sy_yaml_get(root, "encodedEndpointHeaderConfig"), env, err, errcap);
    } else if (!strcmp(strategy, "session_id")) {
        s->session_id = true;
        rc = parse_session_id(s, sy_yaml_get(root, "sessionIdConfig"), env, err, errcap);
    } else {
        rc = sy_param_errorf(env, sy_yaml_get(root, "strategy"), "strategy", err, errcap,
                             "strategy must be \"encoded_endpoint_header\" or \"session_id\", got "
                             "\"%s\"",
                             strategy);
    }
    if (!rc && profile && *profile)
        s->profile = sy_xstrdup(profile);
    if (rc) {
        sy_session_free(s);
        return rc;
    }
    *state = s;
    return 0;
}

void sy_session_free(void *p)
{
    struct sy_session *s = p;
    if (!s)
        return;
    free(s->profile);
    for (size_t b = 0; s->bindings && b < SESSION_BUCKETS; b++) {
        for (struct sy_session_binding *e = s->bindings[b].next, *nx; e; e = nx) {
            nx = e->next;
            free(e->id);
            free(e->addr);
            free(e);
        }
    }
    free(s->bindings);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- session_id bindings ---- */

static size_t bucket_of(struct sy_str id)
{
    return (size_t)(sy_fnv1a64(id.p, id.len) % SESSION_BUCKETS);
}

/* Caller holds mu. bindings[] is an array of sentinel heads (their next is the chain). */
static struct sy_session_binding *lookup(struct sy_session *s, struct sy_str id)
{
    if (!s->bindings)
        return NULL;
    for (struct sy_session_binding *e = s->bindings[bucket_of(id)].next; e; e = e->next)
        if (strlen(e->id) == id.len && !memcmp(e->id, id.p, id.len))
            return e;
    return NULL;
}

/* Caller holds mu. LRU list maintenance. */
static void lru_unlink(struct sy_session *s, struct sy_session_binding *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        s->lru_old = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        s->lru_new = e->older;
    e->older = e->newer = NULL;
}

static void lru_push_new(struct sy_session *s, struct sy_session_binding *e)
{
    e->newer = NULL;
    e->older = s->lru_new;
    if (s->lru_new)
        s->lru_new->newer = e;
    else
        s->lru_old = e;
    s->lru_new = e;
}

/* Caller holds mu. Removes e from its bucket chain and the LRU list and frees it. */
static void binding_drop(struct sy_session *s, struct sy_session_binding *e)
{
    struct sy_session_binding *prev =
        &s->bindings[bucket_of((struct sy_str){e->id, strlen(e->id)})];
    while (prev->next != e)
        prev = prev->next;
    prev->next = e->next;
    lru_unlink(s, e);
    free(e->id);
    free(e->addr);
    free(e);
    s->nbindings--;
}

/* Caller holds mu. Drops bindings unused for longer than the TTL, oldest first. */
static void sweep(struct sy_session *s, uint64_t now)
{
    /* cycles of concurrent requests carry slightly different start times: never let an older
     * `now` underflow against a newer timestamp */
    if (!s->bindings || now < s->last_sweep_ns || now - s->last_sweep_ns < s->sweep_ns)
        return;
    s->last_sweep_ns = now;
    while (s->lru_old && now > s->lru_old->last_seen_ns &&
           now - s->lru_old->last_seen_ns > s->ttl_ns)
        binding_drop(s, s->lru_old);
}

/* The request's session id: the first configured header with a non-blank value. */
static struct sy_str session_id_of(const struct sy_session *s, const struct sy_request *req)
{
    for (size_t i = 0; req && i < s->nsources; i++) {
        struct sy_str v;
        if (!sy_request_header(req, s->sources[i], &v))
            continue;
        while (v.len && isspace((unsigned char)v.p[0]))
            v.p++, v.len--;
        while (v.len && isspace((unsigned char)v.p[v.len - 1]))
            v.len--;
        if (v.len)
            return v;
    }
    return (struct sy_str){NULL, 0};
}

static struct sy_str token_of(const struct sy_session *s, const struct sy_request *req)
{
    struct sy_str v = {NULL, 0};
    if (!strcmp(s->header, "x-session-token") && req->session_token.len)
        return req->session_token;
    sy_request_header(req, s->header, &v);
    return v;
}

long sy_session_choose(struct sy_session *s, const struct sy_sched_cycle *cy,
                       const struct sy_sched_candidate *c, size_t n)
{
    if (!n || !cy->req)
        return -1;
    if (!s->session_id) {
        struct sy_str tok = token_of(s, cy->req);
        char addr[SESSION_MAX_TOKEN + 1];
        long len = tok.len ? b64decode(tok.p, tok.len, addr, SESSION_MAX_TOKEN) : -1;
        for (size_t i = 0; len > 0 && i < n; i++) {
            const char *a = c[i].ep->address;
            if (strlen(a) == (size_t)len && !memcmp(a, addr, (size_t)len))
                return (long)i;
        }
        return -1;
    }
    struct sy_str id = session_id_of(s, cy->req);
    if (!id.len)
        return -1;
    long found = -1;
    pthread_mutex_lock(&s->mu);
    sweep(s, cy->now_ns ? cy->now_ns : sy_now_ns());
    struct sy_session_binding *b = lookup(s, id);
    for (size_t i = 0; b && i < n && found < 0; i++)
        if (!strcmp(c[i].ep->address, b->addr))
            found = (long)i;
    if (b && found < 0) { /* bound endpoint absent: this request may migrate it */
        struct sy_str rid = cy->req->request_id;
        size_t l = rid.len < sizeof b->absent_rid - 1 ? rid.len : sizeof b->absent_rid - 1;
        memcpy(b->absent_rid, rid.p ? rid.p : "", l);
        b->absent_rid[l] = '\0';
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void sy_session_pre_request(void *state, struct sy_sched_cycle *cy,
                            const struct sy_sched_candidate *chosen)
{
    struct sy_session *s = state;
    if (!s->session_id || !chosen || !cy->req)
        return;
    /* the prefill profile's pick binds when its leg goes out (sy_sched_record_prefill, after any
     * re-pick); every other pick at the primary PreRequest */
    if (sy_sched_profile_is_prefill(cy, s->profile) != cy->secondary_pick)
        return;
    const struct sy_endpoint *ep = s->profile ? sy_sched_profile_pick(cy, s->profile) : chosen->ep;
    struct sy_str id = session_id_of(s, cy->req);
    if (!id.len || !ep)
        return;
    uint64_t now = cy->now_ns ? cy->now_ns : sy_now_ns();
    const char *addr = ep->address;
    pthread_mutex_lock(&s->mu);
    if (!s->bindings)
        s->bindings = sy_xcalloc(SESSION_BUCKETS, sizeof *s->bindings);
    struct sy_session_binding *b = lookup(s, id);
    if (!b) {
        if (s->nbindings >= SY_SESSION_MAX_BINDINGS && s->lru_old)
            binding_drop(s, s->lru_old);
        b = SY_NEW(struct sy_session_binding);
        b->id = sy_xstrndup(id.p, id.len);
        b->addr = sy_xstrdup(addr);
        b->last_seen_ns = now;
        struct sy_session_binding *head = &s->bindings[bucket_of(id)];
        b->next = head->next;
        head->next = b;
        lru_push_new(s, b);
        s->nbindings++;
    } else if (!strcmp(b->addr, addr)) {
        b->last_seen_ns = now;
        lru_unlink(s, b);
        lru_push_new(s, b);
    } else {
        /* migrate only on an absence this very request recorded */
        struct sy_str rid = cy->req->request_id;
        size_t l = rid.len < sizeof b->absent_rid - 1 ? rid.len : sizeof b->absent_rid - 1;
        if (l && strlen(b->absent_rid) == l && !memcmp(b->absent_rid, rid.p, l)) {
            free(b->addr);
            b->addr = sy_xstrdup(addr);
            b->last_seen_ns = now;
            b->absent_rid[0] = '\0';
            lru_unlink(s, b);
            lru_push_new(s, b);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void sy_session_response_header(void *state, const struct sy_sched_cycle *cy,
                                const struct sy_endpoint *served, struct sy_buf *out)
{
    struct sy_session *s = state;
    if (s->session_id)
        return;
    if (s->profile)
        served = sy_sched_profile_pick(cy, s->profile);
    if (!served)
        return;
    sy_buf_puts(out, s->header);
    sy_buf_puts(out, ": ");
    sy_sched_session_token(served, out);
    sy_buf_puts(out, "\r\n");
}
