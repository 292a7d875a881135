/* sim_pd.c - prefill/decode disaggregation between simulated replicas (see sim_internal.h).
 *
 * NixlConnector (vLLM's pull protocol, --kv-connector nixlv2):
 *   prefill leg  kv_transfer_params.do_remote_decode: true, stream: false
 *                -> the engine prefills, samples max_tokens (the gateway sends 1), and on finish
 *                   holds the request's blocks under the request's number (sy_sim_engine_pull);
 *                   the response carries kv_transfer_params as vLLM's request_finished fills
 *                   them: do_remote_prefill, do_remote_decode, remote_block_ids (one list per KV
 *                   group; the engine has one), remote_engine_id, remote_request_id,
 *                   remote_host, remote_port, tp_size, remote_num_tokens.
 *   decode leg   kv_transfer_params.do_remote_prefill: true (the prefill's object verbatim)
 *                -> remote_engine_id names a replica of this process, remote_request_id's
 *                   number its held blocks; the pull frees them there and the decode engine
 *                   pays the transfer time instead of the prefill. Params that name nothing
 *                   here (another process, malformed), were pulled already, expired, or were
 *                   held for another prompt make a local prefill, counted by reason. The claim
 *                   frees the prefill's blocks when the decode engine reports the read done
 *                   (on_loaded) or the decode's client leaves first.
 *   Real NIXL resolves remote_engine_id through a handshake with its side channel at
 *   remote_host:remote_port. Replicas of one process resolve it directly; for a prefill replica
 *   of another process, the sim's side channel is the prefill replica's HTTP port (remote_port)
 *   with two private endpoints, /_sim/kv/claim and /_sim/kv/release (below).
 *
 * SGLang PD (--kv-connector sglang): the same body with bootstrap_host, bootstrap_port and
 * bootstrap_room goes to a prefill and a decode replica at once. The prefill replica computes
 * the prompt, answers one token and holds the KV under the room; the decode replica pulls it by
 * room from whichever prefill replica of the process holds it. A decode that arrives first is
 * parked (no engine request yet) until the prefill's KV is held, or until the lease time has
 * passed, or its prefill was aborted, when it prefills locally (counted "unknown"). Rooms are
 * compared as the doubles the JSON parser yields: both legs carry the same digits, so they pair
 * exactly even above 2^53.
 *
 * Threading: the server's loop only. Engine calls from engine callbacks are not allowed, so a
 * prefill finishing (inside its engine's callbacks) only records its room; sy_sim__pd_process,
 * run after every engine advance, does the pulls.
 */
#include "sim/sim_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "http/client.h"
#include "http/server.h"

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void sy_sim__pd_engine_id(struct replica *r, uint64_t seed)
{
    uint64_t a = mix64(seed ^ r->srv->wall0 ^ ((uint64_t)r->index << 48));
    uint64_t b = mix64(a ^ (uint64_t)r->index);
    snprintf(r->engine_id, sizeof r->engine_id, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             0x8000 | ((unsigned)(b >> 48) & 0x3fff), (unsigned long long)(b & 0xffffffffffffULL));
}

/* ---- parsing ------------------------------------------------------------------------------- */

static bool bool_or_null(const cJSON *v)
{
    return !v || cJSON_IsBool(v) || cJSON_IsNull(v);
}

/* "cmpl-IIIINNNNNNNNNNNN": replica index (4 hex) and request number (12 hex). */
static bool parse_request_id(const char *id, uint32_t *index, uint64_t *num)
{
    const char *dash = strrchr(id, '-');
    if (!dash || strlen(dash + 1) != 16)
        return false;
    uint64_t v = 0;
    for (const char *p = dash + 1; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *index = (uint32_t)(v >> 48);
    *num = v & 0xffffffffffffULL;
    return true;
}

static int parse_nixl(const struct replica *r, const cJSON *root, bool stream, struct sim_pd *out,
                      char *err, size_t errcap)
{
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(root, "kv_transfer_params");
    if (!kv || cJSON_IsNull(kv))
        return 0;
    if (!cJSON_IsObject(kv)) {
        snprintf(err, errcap, "'kv_transfer_params' must be an object or null");
        return SY_EINVAL;
    }
    const cJSON *drd = cJSON_GetObjectItemCaseSensitive(kv, "do_remote_decode");
    const cJSON *drp = cJSON_GetObjectItemCaseSensitive(kv, "do_remote_prefill");
    if (!bool_or_null(drd) || !bool_or_null(drp)) {
        snprintf(err, errcap,
                 "kv_transfer_params.do_remote_decode and do_remote_prefill must be booleans");
        return SY_EINVAL;
    }
    if (cJSON_IsTrue(drd) && cJSON_IsTrue(drp)) {
        snprintf(err, errcap,
                 "kv_transfer_params cannot set both do_remote_decode and do_remote_prefill");
        return SY_EINVAL;
    }
    if (cJSON_IsTrue(drd)) {
        if (stream) {
            /* llm-d-inference-sim refuses it too: the prefill leg answers in one piece */
            snprintf(err, errcap, "kv_transfer_params.do_remote_decode needs \"stream\": false");
            return SY_EINVAL;
        }
        out->kind = SIM_PD_NIXL_PREFILL;
        return 0;
    }
    if (!cJSON_IsTrue(drp))
        return 0; /* both false: a plain request */
    out->kind = SIM_PD_NIXL_DECODE;
    out->claim = SY_SIM_PULL_UNKNOWN;
    const cJSON *eid = cJSON_GetObjectItemCaseSensitive(kv, "remote_engine_id");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(kv, "remote_request_id");
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(kv, "remote_block_ids");
    if (!cJSON_IsString(eid) || !cJSON_IsString(rid) || !cJSON_IsArray(blocks))
        return 0; /* names no KV held here: a local prefill */
    const struct sy_sim_server *s = r->srv;
    for (uint32_t i = 0; i < s->nreps; i++) {
        if (strcmp(s->reps[i].engine_id, eid->valuestring) != 0)
            continue;
        uint32_t index;
        uint64_t num;
        if (parse_request_id(rid->valuestring, &index, &num) && index == (i & 0xffff)) {
            out->engine = (int32_t)i;
            out->key = num;
            out->claim = SY_SIM_PULL_OK; /* a candidate: the pull decides */
        }
        return 0;
    }
    /* another process: claim over its side channel */
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(kv, "remote_host");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(kv, "remote_port");
    if (!cJSON_IsString(host) || !cJSON_IsNumber(port) || port->valuedouble < 1 ||
        port->valuedouble > 65535 || port->valuedouble != floor(port->valuedouble) ||
        strlen(host->valuestring) >= sizeof out->rhost ||
        strlen(eid->valuestring) >= sizeof out->reid ||
        strlen(rid->valuestring) >= sizeof out->rrid)
        return 0;
    out->remote = true;
    out->rport = (uint16_t)port->valuedouble;
    snprintf(out->rhost, sizeof out->rhost, "%s", host->valuestring);
    snprintf(out->reid, sizeof out->reid, "%s", eid->valuestring);
    snprintf(out->rrid, sizeof out->rrid, "%s", rid->valuestring);
    out->claim = SY_SIM_PULL_OK; /* a candidate: the remote replica decides */
    return 0;
}

static int parse_sglang(const struct replica *r, const cJSON *root, struct sim_pd *out, char *err,
                        size_t errcap)
{
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(root, "bootstrap_room");
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(root, "bootstrap_host");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(root, "bootstrap_port");
    if (host && !cJSON_IsString(host) && !cJSON_IsNull(host)) {
        snprintf(err, errcap, "'bootstrap_host' must be a string or null");
        return SY_EINVAL;
    }
    if (port && !cJSON_IsNull(port) &&
        (!cJSON_IsNumber(port) || port->valuedouble < 0 || port->valuedouble > 65535 ||
         port->valuedouble != floor(port->valuedouble))) {
        snprintf(err, errcap, "'bootstrap_port' must be a port number or null");
        return SY_EINVAL;
    }
    if (!room || cJSON_IsNull(room))
        return 0;
    if (!cJSON_IsNumber(room) || room->valuedouble < 0 ||
        room->valuedouble >= 9223372036854775808.0 ||
        room->valuedouble != floor(room->valuedouble)) {
        snprintf(err, errcap, "'bootstrap_room' must be an integer in 0..2^63-1");
        return SY_EINVAL;
    }
    if (r->role == SY_SIM_ROLE_BOTH)
        return 0; /* SGLang without --disaggregation-mode ignores the bootstrap fields */
    double d = room->valuedouble;
    memcpy(&out->key, &d, sizeof out->key);
    out->kind = r->role == SY_SIM_ROLE_PREFILL ? SIM_PD_SG_PREFILL : SIM_PD_SG_DECODE;
    return 0;
}

int sy_sim__pd_parse(const struct replica *r, const void *cjson_root, bool stream,
                     struct sim_pd *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->engine = -1;
    if (r->srv->opts.connector == SY_SIM_CONN_SGLANG)
        return parse_sglang(r, cjson_root, out, err, errcap);
    return parse_nixl(r, cjson_root, stream, out, err, errcap);
}

/* ---- side channel: decodes of one process, prefills of another --------------------------------
 *
 * A decode whose kv_transfer_params name an engine of another process is parked while it claims
 * the KV with POST remote_host:remote_port/_sim/kv/claim {remote_engine_id, remote_request_id,
 * num_tokens, tokens_hash}; the answer {"result": "ok"|"unknown"|"reused"|"expired"|"mismatch"}
 * decides between a pull and a local prefill, and POST /_sim/kv/release hands the blocks back
 * when the read is done. Any failure of the exchange is "unknown". A decode whose client leaves
 * while its claim is in flight detaches from it; a late "ok" is released at once. */

struct sim_remote {
    struct sy_sim_server *s;        /* owner */
    struct sim_call *c;             /* the parked decode; NULL for a release or once detached */
    bool release;                   /* a release (else a claim) */
    struct sy_buf req;              /* request bytes (sent from here) */
    struct sy_buf resp;             /* response body */
    int status;                     /* response status */
    struct sy_upstream_req *ur;     /* the exchange */
    struct sockaddr_storage sa;     /* the prefill replica's side channel */
    char key[96];                   /* "host:port" pool key */
    char reid[64], rrid[64];        /* what was claimed */
    struct sim_remote *prev, *next; /* server list */
};

#define SIDE_TIMEOUT_NS (5ULL * 1000000000ULL)  /* connect and response timeout */
#define SIDE_PARK_NS    (30ULL * 1000000000ULL) /* a claim's parked decode falls back by then */

static void remote_unlink(struct sim_remote *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        x->s->remotes = x->next;
    if (x->next)
        x->next->prev = x->prev;
}

static void remote_free(struct sim_remote *x)
{
    remote_unlink(x);
    sy_buf_fini(&x->req);
    sy_buf_fini(&x->resp);
    free(x);
}

static void on_remote_head(void *ud, const struct sy_upstream_head *h)
{
    ((struct sim_remote *)ud)->status = h->status;
}

static void on_remote_body(void *ud, const char *p, size_t n)
{
    struct sim_remote *x = ud;
    if (x->resp.len + n <= 4096)
        sy_buf_append(&x->resp, p, n);
}

static void unpark_submit(struct sy_sim_server *s, struct sim_call *c, enum sy_sim_pull pull);
static void remote_send(struct sy_sim_server *s, struct sim_remote *x);

/* Sends a release for what x claimed (a new exchange). */
static void remote_release(struct sy_sim_server *s, const struct sim_remote *from)
{
    struct sim_remote *x = SY_NEW(struct sim_remote);
    x->s = s;
    x->release = true;
    x->sa = from->sa;
    memcpy(x->key, from->key, sizeof x->key);
    memcpy(x->reid, from->reid, sizeof x->reid);
    memcpy(x->rrid, from->rrid, sizeof x->rrid);
    remote_send(s, x);
}

static enum sy_sim_pull parse_result(const struct sim_remote *x)
{
    if (x->status != 200)
        return SY_SIM_PULL_UNKNOWN;
    cJSON *root = cJSON_ParseWithLength(x->resp.data ? x->resp.data : "", x->resp.len);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
    enum sy_sim_pull out = SY_SIM_PULL_UNKNOWN;
    for (int i = SY_SIM_PULL_OK; cJSON_IsString(res) && i < SY_SIM_PULL_N_; i++)
        if (strcmp(res->valuestring, sy_sim_pull_name((enum sy_sim_pull)i)) == 0)
            out = (enum sy_sim_pull)i;
    cJSON_Delete(root);
    return out;
}

static void on_remote_done(void *ud, int err)
{
    struct sim_remote *x = ud;
    struct sy_sim_server *s = x->s;
    x->ur = NULL;
    if (x->release) {
        if (err != 0 || x->status != 200)
            sy_warn("sim: KV release at %s failed (%s, status %d)", x->key,
                    err ? sy_strerror(err) : "ok", x->status);
        remote_free(x);
        return;
    }
    enum sy_sim_pull res = err == 0 ? parse_result(x) : SY_SIM_PULL_UNKNOWN;
    if (err != 0)
        sy_warn("sim: KV claim at %s failed: %s", x->key, sy_strerror(err));
    struct sim_call *c = x->c;
    if (!c && res == SY_SIM_PULL_OK)
        remote_release(s, x); /* its decode is gone: hand the blocks back */
    remote_free(x);
    if (c) {
        c->claim = NULL;
        unpark_submit(s, c, res);
    }
}

static void remote_send(struct sy_sim_server *s, struct sim_remote *x)
{
    if (!s->up)
        s->up = sy_upstream_pool_new(s->loop, 60ULL * 1000000000ULL, 4);
    sy_buf_init(&x->resp);
    struct sy_buf body;
    sy_buf_init(&body);
    sy_buf_puts(&body, "{\"remote_engine_id\":");
    sy_buf_json_str(&body, x->reid, strlen(x->reid));
    sy_buf_puts(&body, ",\"remote_request_id\":");
    sy_buf_json_str(&body, x->rrid, strlen(x->rrid));
    if (!x->release) {
        struct sim_call *c = x->c;
        sy_buf_printf(&body, ",\"num_tokens\":%u,\"tokens_hash\":\"%016llx\"", c->n_prompt,
                      (unsigned long long)sy_sim_tokens_hash(c->park_ids, c->n_prompt));
    }
    sy_buf_puts(&body, "}");
    sy_buf_init(&x->req);
    sy_buf_printf(&x->req,
                  "POST /_sim/kv/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  x->release ? "release" : "claim", x->key, body.len);
    sy_buf_append(&x->req, body.data, body.len);
    sy_buf_fini(&body);
    x->prev = NULL;
    x->next = s->remotes;
    if (s->remotes)
        s->remotes->prev = x;
    s->remotes = x;
    uv_buf_t b = uv_buf_init(x->req.data, (unsigned)x->req.len);
    struct sy_upstream_cbs cbs = {
        .on_head = on_remote_head, .on_body = on_remote_body, .on_done = on_remote_done};
    x->ur = sy_upstream_send(s->up, x->key, (const struct sockaddr *)&x->sa, &b, 1, SIDE_TIMEOUT_NS,
                             SIDE_TIMEOUT_NS, &cbs, x);
}

static void park(struct sy_sim_server *s, struct sim_call *c, const uint32_t *ids, uint32_t n,
                 int64_t max_tokens, uint64_t deadline);

/* Parks decode c and starts the claim of its remote KV. Returns false when remote_host is not
 * an address (nothing started, c not parked). */
static bool remote_claim(struct sy_sim_server *s, struct sim_call *c, const uint32_t *ids,
                         uint32_t n, int64_t max_tokens)
{
    struct sim_remote *x = SY_NEW(struct sim_remote);
    x->s = s;
    x->c = c;
    if (uv_ip4_addr(c->pd.rhost, c->pd.rport, (struct sockaddr_in *)&x->sa) != 0 &&
        uv_ip6_addr(c->pd.rhost, c->pd.rport, (struct sockaddr_in6 *)&x->sa) != 0) {
        free(x);
        return false;
    }
    park(s, c, ids, n, max_tokens, sy_now_ns() + SIDE_PARK_NS); /* remote_send hashes park_ids */
    snprintf(x->key, sizeof x->key, "%s:%u", c->pd.rhost, c->pd.rport);
    memcpy(x->reid, c->pd.reid, sizeof x->reid);
    memcpy(x->rrid, c->pd.rrid, sizeof x->rrid);
    c->claim = x;
    remote_send(s, x);
    return true;
}

/* ---- submission ---------------------------------------------------------------------------- */

/* Claims the KV held under room from whichever prefill replica holds it (its index in *at);
 * UNKNOWN when none. */
static enum sy_sim_pull pull_room(struct sy_sim_server *s, uint64_t room, const uint32_t *ids,
                                  uint32_t n, uint64_t now, int32_t *at)
{
    for (uint32_t i = 0; i < s->nreps; i++) {
        struct replica *p = &s->reps[i];
        if (p->role != SY_SIM_ROLE_PREFILL)
            continue;
        enum sy_sim_pull res = sy_sim_engine_pull(p->eng, room, ids, n, now);
        if (res == SY_SIM_PULL_UNKNOWN)
            continue;
        *at = (int32_t)i;
        sy_sim__kick(p); /* a claimed entry has no lease: re-arm its timer */
        return res;
    }
    return SY_SIM_PULL_UNKNOWN;
}

static void queue_release(struct sim_call *c)
{
    if (!c->pulled || c->released)
        return;
    c->released = true;
    struct sy_sim_server *s = c->rep->srv;
    if (c->pd.remote) {
        struct sim_remote from = {0};
        if (uv_ip4_addr(c->pd.rhost, c->pd.rport, (struct sockaddr_in *)&from.sa) != 0 &&
            uv_ip6_addr(c->pd.rhost, c->pd.rport, (struct sockaddr_in6 *)&from.sa) != 0)
            return;
        snprintf(from.key, sizeof from.key, "%s:%u", c->pd.rhost, c->pd.rport);
        memcpy(from.reid, c->pd.reid, sizeof from.reid);
        memcpy(from.rrid, c->pd.rrid, sizeof from.rrid);
        remote_release(s, &from);
        return;
    }
    if (s->nreleases == s->releases_cap) {
        s->releases_cap = s->releases_cap ? s->releases_cap * 2 : 16;
        s->releases = sy_xrealloc(s->releases, s->releases_cap * sizeof *s->releases);
    }
    s->releases[s->nreleases++] =
        (struct sim_release){.replica = (uint32_t)c->pd.engine, .key = c->pd.key};
}

void sy_sim__pd_on_loaded(void *ud, struct sy_sim_req *q, uint64_t now_ns)
{
    (void)ud;
    (void)now_ns;
    struct sim_call *c = q->ud;
    if (c)
        queue_release(c); /* the read is done: the prefill replica frees its blocks */
}

static void park_arm(struct sy_sim_server *s);

/* Parks c (no engine request yet) with a copy of its prompt until wall time deadline. */
static void park(struct sy_sim_server *s, struct sim_call *c, const uint32_t *ids, uint32_t n,
                 int64_t max_tokens, uint64_t deadline)
{
    c->park_ids = sy_xmalloc((size_t)n * sizeof *ids);
    memcpy(c->park_ids, ids, (size_t)n * sizeof *ids);
    c->park_max_tokens = max_tokens;
    c->park_deadline = deadline;
    c->park_prev = s->park_tail;
    c->park_next = NULL;
    if (s->park_tail)
        s->park_tail->park_next = c;
    else
        s->park_head = c;
    s->park_tail = c;
    c->parked = true;
    c->rep->nparked++;
    park_arm(s);
}

static void park_unlink(struct sy_sim_server *s, struct sim_call *c)
{
    if (c->park_prev)
        c->park_prev->park_next = c->park_next;
    else
        s->park_head = c->park_next;
    if (c->park_next)
        c->park_next->park_prev = c->park_prev;
    else
        s->park_tail = c->park_prev;
    c->park_prev = c->park_next = NULL;
    c->parked = false;
    c->rep->nparked--;
}

int sy_sim__pd_submit(struct sim_call *c, const uint32_t *ids, uint32_t n, int64_t max_tokens)
{
    struct replica *r = c->rep;
    struct sy_sim_server *s = r->srv;
    uint64_t now = sy_sim__now(s);
    struct sy_sim_submit sub = {
        .tokens = ids, .n_prompt = n, .max_tokens = max_tokens, .ud = c, .priority = c->priority};
    switch (c->pd.kind) {
    case SIM_PD_NONE: break;
    case SIM_PD_NIXL_PREFILL:
        sub.hold_kv = true;
        sub.hold_key = c->num;
        break;
    case SIM_PD_SG_PREFILL:
        sub.hold_kv = true;
        sub.hold_key = c->pd.key;
        sub.max_tokens = 1; /* SGLang's prefill server answers the first token only */
        break;
    case SIM_PD_NIXL_DECODE:
        sub.pull = SY_SIM_PULL_UNKNOWN;
        if (c->pd.claim == SY_SIM_PULL_OK && c->pd.remote) {
            if (remote_claim(s, c, ids, n, max_tokens))
                return 0;
            /* remote_host is no address: a local prefill */
        } else if (c->pd.claim == SY_SIM_PULL_OK) {
            struct replica *p = &s->reps[c->pd.engine];
            sub.pull = sy_sim_engine_pull(p->eng, c->pd.key, ids, n, now);
            if (p != r)
                sy_sim__kick(p);
        }
        break;
    case SIM_PD_SG_DECODE:
        sub.pull = pull_room(s, c->pd.key, ids, n, now, &c->pd.engine);
        if (sub.pull == SY_SIM_PULL_UNKNOWN) {
            /* the prefill may not have finished (or arrived) yet: wait for it */
            double wait_ns = r->srv->opts.prof.kv_lease_s * 1e9 / s->opts.time_scale;
            park(s, c, ids, n, max_tokens,
                 sy_now_ns() + (wait_ns > 1e18 ? (uint64_t)1e18 : (uint64_t)wait_ns));
            return 0;
        }
        break;
    }
    c->pulled = sub.pull == SY_SIM_PULL_OK;
    if (sub.pull != SY_SIM_PULL_NONE && sub.pull != SY_SIM_PULL_OK)
        sy_info("sim: replica %u: %s decode leg prefills locally (kv params %s)", r->index, c->id,
                sy_sim_pull_name(sub.pull));
    c->ereq = sy_sim_engine_submit_ex(r->eng, &sub, now);
    if (!c->ereq)
        queue_release(c);
    return c->ereq ? 0 : SY_EINVAL;
}

/* Submits a parked decode with the outcome of its pull. */
static void unpark_submit(struct sy_sim_server *s, struct sim_call *c, enum sy_sim_pull pull)
{
    park_unlink(s, c);
    if (c->claim) { /* timed out waiting for the side channel: a late "ok" is released */
        c->claim->c = NULL;
        c->claim = NULL;
    }
    struct replica *r = c->rep;
    if (pull != SY_SIM_PULL_OK)
        sy_info("sim: replica %u: %s decode leg prefills locally (kv %s)", r->index, c->id,
                sy_sim_pull_name(pull));
    struct sy_sim_submit sub = {.tokens = c->park_ids,
                                .n_prompt = c->n_prompt,
                                .max_tokens = c->park_max_tokens,
                                .ud = c,
                                .pull = pull,
                                .priority = c->priority};
    c->pulled = pull == SY_SIM_PULL_OK;
    c->ereq = sy_sim_engine_submit_ex(r->eng, &sub, sy_sim__now(s));
    free(c->park_ids);
    c->park_ids = NULL;
    if (!c->ereq) { /* validated before parking; defensive */
        queue_release(c);
        struct sy_http_req *req = c->http;
        if (req) {
            req->on_abort = NULL;
            req->data = NULL;
            sy_http_respond_error(req, 500, "InternalServerError", NULL,
                                  "the engine refused a parked request", NULL);
        }
        sy_buf_fini(&c->text);
        free(c);
        return;
    }
    sy_sim__kick(r);
}

static void room_ended(struct sy_sim_server *s, uint64_t room, bool failed)
{
    if (!s->park_head)
        return; /* no decode waits: a later one finds the KV (or not) when it comes */
    if (s->nready == s->ready_cap) {
        s->ready_cap = s->ready_cap ? s->ready_cap * 2 : 16;
        s->ready_rooms = sy_xrealloc(s->ready_rooms, s->ready_cap * sizeof *s->ready_rooms);
    }
    s->ready_rooms[s->nready++] = (struct sim_room){.key = room, .failed = failed};
}

void sy_sim__pd_on_finish(struct sim_call *c, const struct sy_sim_req *q)
{
    if (c->pd.kind == SIM_PD_SG_PREFILL)
        room_ended(c->rep->srv, c->pd.key, !q->held_blocks);
}

void sy_sim__pd_process(struct sy_sim_server *s)
{
    if (s->pd_busy)
        return; /* nested kicks leave the work to the outer call */
    s->pd_busy = true;
    for (;;) {
        if (s->nreleases > 0) {
            struct sim_release rel = s->releases[--s->nreleases];
            struct replica *p = &s->reps[rel.replica];
            if (sy_sim_engine_release(p->eng, rel.key) == 0)
                sy_sim__kick(p); /* freed blocks may admit waiting requests */
            continue;
        }
        if (s->nready > 0) {
            struct sim_room room = s->ready_rooms[--s->nready];
            struct sim_call *c = s->park_head;
            while (c) {
                struct sim_call *next = c->park_next;
                if (c->pd.key == room.key && room.failed) {
                    unpark_submit(s, c, SY_SIM_PULL_UNKNOWN);
                    next = s->park_head;
                } else if (c->pd.key == room.key) {
                    enum sy_sim_pull res = pull_room(s, room.key, c->park_ids, c->n_prompt,
                                                     sy_sim__now(s), &c->pd.engine);
                    if (res != SY_SIM_PULL_UNKNOWN) {
                        unpark_submit(s, c, res);
                        next = s->park_head; /* the list may have changed under kicks */
                    }
                }
                c = next;
            }
            continue;
        }
        if (s->park_head && s->park_head->park_deadline <= sy_now_ns()) {
            unpark_submit(s, s->park_head, SY_SIM_PULL_UNKNOWN);
            continue;
        }
        break;
    }
    s->pd_busy = false;
    park_arm(s);
}

static void on_park_timer(uv_timer_t *t)
{
    sy_sim__pd_process(t->data);
}

static void park_arm(struct sy_sim_server *s)
{
    if (!s->park_timer_init)
        return;
    if (!s->park_head) {
        uv_timer_stop(&s->park_timer);
        return;
    }
    uint64_t now = sy_now_ns(), dl = s->park_head->park_deadline;
    uint64_t ms = dl > now ? (dl - now + 999999) / 1000000 : 0;
    uv_timer_start(&s->park_timer, on_park_timer, ms, 0);
}

void sy_sim__pd_client_gone(struct sim_call *c)
{
    queue_release(c); /* a decode that leaves before its read completes frees the claim */
    if (c->claim) {   /* its side-channel claim answers later: a late "ok" is released */
        c->claim->c = NULL;
        c->claim = NULL;
    }
    if (c->pd.kind == SIM_PD_SG_PREFILL)
        room_ended(c->rep->srv, c->pd.key, true); /* its decodes stop waiting */
    if (!c->parked)
        return;
    park_unlink(c->rep->srv, c);
    free(c->park_ids);
    c->park_ids = NULL;
    park_arm(c->rep->srv);
}

/* ---- the side channel's server half -------------------------------------------------------- */

void sy_sim__pd_handle_side_channel(struct replica *r, struct sy_http_req *req, bool claim)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *eid = cJSON_GetObjectItemCaseSensitive(root, "remote_engine_id");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(root, "remote_request_id");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "num_tokens");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "tokens_hash");
    uint64_t hash = 0;
    char *end = NULL;
    if (cJSON_IsString(h))
        hash = strtoull(h->valuestring, &end, 16);
    if (!cJSON_IsString(eid) || !cJSON_IsString(rid) ||
        (claim && (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 4294967295.0 ||
                   !end || *end != '\0' || end == h->valuestring))) {
        cJSON_Delete(root);
        sy_http_respond_error(req, 400, "BadRequestError", NULL,
                              claim ? "expected {remote_engine_id, remote_request_id, num_tokens, "
                                      "tokens_hash}"
                                    : "expected {remote_engine_id, remote_request_id}",
                              NULL);
        return;
    }
    uint32_t index;
    uint64_t key;
    bool mine = strcmp(eid->valuestring, r->engine_id) == 0 &&
                parse_request_id(rid->valuestring, &index, &key) && index == (r->index & 0xffff);
    char out[64];
    if (claim) {
        enum sy_sim_pull res =
            mine ? sy_sim_engine_pull_hashed(r->eng, key, (uint32_t)n->valuedouble, hash,
                                             sy_sim__now(r->srv))
                 : SY_SIM_PULL_UNKNOWN;
        snprintf(out, sizeof out, "{\"result\":\"%s\"}", sy_sim_pull_name(res));
    } else {
        bool freed = mine && sy_sim_engine_release(r->eng, key) == 0;
        snprintf(out, sizeof out, "{\"released\":%s}", freed ? "true" : "false");
    }
    cJSON_Delete(root);
    sy_http_respond(req, 200, "application/json", NULL, out, strlen(out));
    sy_sim__kick(r); /* held set changed: lease timer, freed blocks */
}

/* ---- responses ----------------------------------------------------------------------------- */

void sy_sim__pd_response_params(const struct sim_call *c, const struct sy_sim_req *q,
                                struct sy_buf *b)
{
    const struct replica *r = c->rep;
    if (c->pd.kind != SIM_PD_NIXL_PREFILL || !q->held_blocks) {
        sy_buf_puts(b, ",\"kv_transfer_params\":null");
        return;
    }
    sy_buf_puts(b, ",\"kv_transfer_params\":{\"do_remote_prefill\":true,\"do_remote_decode\":false,"
                   "\"remote_block_ids\":[[");
    for (uint32_t i = 0; i < q->held_nblocks; i++)
        sy_buf_printf(b, i ? ",%u" : "%u", q->held_blocks[i]);
    const char *host = r->srv->opts.host ? r->srv->opts.host : "127.0.0.1";
    sy_buf_printf(b, "]],\"remote_engine_id\":\"%s\",\"remote_request_id\":\"%s\",\"remote_host\":",
                  r->engine_id, c->id);
    sy_buf_json_str(b, host, strlen(host));
    const struct sy_sim_profile *p = sy_sim_engine_profile(r->eng);
    sy_buf_printf(b, ",\"remote_port\":%u,\"tp_size\":%u,\"remote_num_tokens\":%u}", r->port,
                  p->tp_size ? p->tp_size : 1, q->n_prompt);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

void sy_sim__pd_start(struct sy_sim_server *s)
{
    uv_timer_init(s->loop, &s->park_timer);
    s->park_timer.data = s;
    s->park_timer_init = true;
}

bool sy_sim__pd_close(struct sy_sim_server *s, uv_close_cb cb)
{
    while (s->park_head) {
        struct sim_call *c = s->park_head;
        park_unlink(s, c);
        if (c->http) {
            c->http->on_abort = NULL;
            c->http->data = NULL;
        }
        free(c->park_ids);
        sy_buf_fini(&c->text);
        free(c);
    }
    free(s->ready_rooms);
    s->ready_rooms = NULL;
    s->nready = s->ready_cap = 0;
    free(s->releases);
    s->releases = NULL;
    s->nreleases = s->releases_cap = 0;
    for (struct sim_remote *x = s->remotes; x; x = x->next)
        if (x->ur)
            sy_upstream_cancel(x->ur); /* no callback follows */
    while (s->remotes)
        remote_free(s->remotes);
    if (s->up)
        sy_upstream_pool_free(s->up);
    s->up = NULL;
    if (!s->park_timer_init)
        return false;
    uv_timer_stop(&s->park_timer);
    uv_close((uv_handle_t *)&s->park_timer, cb);
    s->park_timer_init = false;
    return true;
}
