/* epp.c - one ext_proc Process stream per HTTP request, as llm-d's endpoint picker does it.
 *
 *   request_headers  --eos--> random ready endpoint (no body to parse)      -> route answer
 *                    --else-> keep headers, buffer the body
 *   request_body ... --eos--> sy_request_parse (the gateway's parser) -> model check
 *                             -> flow control (src/flow, the gateway's controller): dispatch
 *                                now, or wait in its queue (the verdict comes back on this
 *                                loop), or refuse 429/503 with x-llm-d-request-dropped-reason
 *                             -> pre-scheduling steps (token ids, burst window)
 *                             -> subset hint -> sy_sched_pick_charge -> in-flight += 1
 *                             -> request_headers answer: clear_route_cache, header mutation
 *                                {x-gateway-destination-endpoint (the pick, then fallbacks by
 *                                score up to retry.maxAttempts), Content-Length, x-request-id,
 *                                x-prefiller-host-port for a P/D pick (else removed)},
 *                                dynamic_metadata["envoy.lb"]["x-gateway-destination-endpoint"]
 *                                (+ "-scores" with extProc.emitEndpointScores)
 *                             -> the body back as streamed_response chunks (<= 62,000 bytes)
 *                    errors   -> immediate_response 400 / 404 / 413 / 429 / 503 + OpenAI error
 *                                JSON
 *   response_headers -> status, SSE or not; served endpoint from metadata; plugin response
 *                       headers (session token) as a header mutation
 *   response_body    -> TTFT at the first chunk, echoed as streamed_response; SSE: the token
 *                       events move the decode work left on the served endpoint, counted by
 *                       the proxy's code (api/usage.h sy_usage_sse: an event split across
 *                       messages is kept, bounded, until its end), its usage too (not SSE:
 *                       from the tail); at eos or trailers: the charge (in-flight, decode
 *                       work) released, the output length feeding the endpoint's mean,
 *                       sy_sched_done (prefix index, latency), metrics
 *   reset / lost     -> the same release, exactly once (struct xs.released), including
 *                       leaving the flow-control queue
 *
 * Health: grpc.health.v1.Health/Check on both listeners. "liveness" is SERVING while the process
 * runs; every other name (llm-d without leader election) answers readiness: SERVING when an
 * endpoint is ready and the process is not draining, else NOT_SERVING.
 */
#include "extproc/epp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "api/usage.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "extproc/h2.h"
#include "extproc/msg.h"
#include "gateway/gateway.h"
#include "gateway/pretokenize.h"
#include "pool/decode.h"

#define PATH_PROCESS "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
#define PATH_CHECK   "/grpc.health.v1.Health/Check"
#define TAIL_CAP     (16u << 10) /* response bytes kept for the usage scan */

struct sy_epp {
    struct sy_gateway *gw;
    struct sy_epp_config cfg;
    SSL_CTX *tls;                /* NULL for h2c */
    struct sy_h2_server *health; /* control loop */
    uint16_t health_port;
    struct listener_ctx *ctxs[SY_CONFIG_MAX_WORKERS + 1]; /* one per listener; owned */
    size_t nctx;
};

struct listener_ctx {
    struct sy_epp *e;
    struct sy_gw_worker *w; /* NULL: the health-only listener */
};

enum call_kind { CALL_HEALTH, CALL_PROCESS };
enum xs_state {
    XS_HEADERS,
    XS_BODY,
    XS_WAIT,
    XS_ROUTED,
    XS_DONE
}; /* WAIT: body complete,
    queued or being scheduled */

struct health_call {
    enum call_kind kind;
    struct sy_epp *e;
};

struct xs {
    enum call_kind kind;
    struct sy_epp *e;
    struct sy_gw_worker *w;
    struct sy_h2_call *call;
    struct sy_gw_gen *gen; /* referenced for the stream's life */
    enum xs_state state;
    struct sy_buf hstore;   /* request header bytes (names and values) */
    struct sy_str *hn, *hv; /* views into hstore once complete */
    size_t nh;
    char path[256];
    struct sy_buf body;   /* the buffered request body */
    struct sy_buf subset; /* subset hint entries, NUL-separated */
    size_t nsubset;
    bool has_subset;
    struct sy_request req;
    struct sy_flow_item flow; /* flow-control admission (src/flow), released with the rest */
    struct sy_gw_pretok *pt;  /* steps before scheduling (token ids, burst window), or NULL */
    const char *dropped;      /* x-llm-d-request-dropped-reason when it differs from the code */
    char reqid[64];
    struct sy_sched_result res;
    bool have_res, running, released;
    struct sy_charge charge;    /* served's in-flight count, tokens and decode work (pool.h) */
    struct sy_endpoint *served; /* endpoint charged (reference) */
    int status;
    bool sse;
    bool began; /* response headers came from the model server */
    uint64_t t0, t_first;
    struct sy_buf tail;       /* last TAIL_CAP response bytes */
    struct sy_usage_sse usse; /* SSE: usage and token events, across response_body messages */
    int64_t prompt_tokens, completion_tokens, cached_tokens; /* usage seen so far, -1 unknown */
    struct sy_buf out;                                       /* message scratch */
};

/* ---- health ---- */

static bool ready(struct sy_epp *e)
{
    if (atomic_load(&e->gw->draining))
        return false;
    struct sy_gw_gen *g = sy_gw_gen_get(e->gw);
    bool any = false;
    for (size_t i = 0; i < g->pool->n && !any; i++) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(g->pool->eps[i], &st);
        any = st.ready;
    }
    sy_gw_gen_unref(g);
    return any;
}

static void health_message(struct health_call *h, struct sy_h2_call *c, const uint8_t *m, size_t n)
{
    struct sy_str svc;
    if (sy_health_decode(m, n, &svc) != 0) {
        sy_h2_finish(c, SY_GRPC_INVALID_ARGUMENT, "malformed HealthCheckRequest");
        return;
    }
    int st = sy_str_eq_c(svc, "liveness") ? SY_HEALTH_SERVING
             : ready(h->e)                ? SY_HEALTH_SERVING
                                          : SY_HEALTH_NOT_SERVING;
    struct sy_buf b;
    sy_buf_init(&b);
    sy_health_put(&b, st);
    sy_h2_send(c, b.data ? b.data : "", b.len);
    sy_buf_fini(&b);
    sy_h2_finish(c, SY_GRPC_OK, NULL);
}

/* ---- process stream helpers ---- */

static void send_out(struct xs *x)
{
    sy_h2_send(x->call, x->out.data ? x->out.data : "", x->out.len);
    sy_buf_reset(&x->out);
}

/* Releases everything the request holds, once: in-flight, scheduler cycle, metrics. */
static void release(struct xs *x, bool ok, const char *error_code)
{
    if (x->released)
        return;
    x->released = true;
    /* the last usage in the tail (the usage object ends the body / the stream) */
    if (x->tail.len)
        sy_usage_scan(x->req.kind, x->tail.data, x->tail.len, &x->prompt_tokens,
                      &x->completion_tokens, &x->cached_tokens);
    /* the output length feeds the endpoint's mean (budgets without max_tokens) as in the proxy:
     * usage's count, else the streamed tokens; nothing from a failed or aborted request */
    int64_t out = !ok                         ? -1
                  : x->completion_tokens >= 0 ? x->completion_tokens
                  : x->sse                    ? x->charge.dec.generated
                                              : -1;
    sy_pool_discharge(&x->charge, out);
    if (x->have_res) {
        sy_sched_done(x->gen->sched, &x->res, ok);
        x->have_res = false;
    }
    /* program-aware-fairness charges the flow what the response used, as the proxy does: usage's
     * counts, else the prompt estimate once the response began; nothing if no answer came */
    x->flow.usage_prompt = x->prompt_tokens >= 0 ? x->prompt_tokens
                           : x->began            ? (int64_t)x->req.prompt_tokens_est
                                                 : 0;
    x->flow.usage_completion = x->completion_tokens;
    /* the admission last: it may hand a queued request to another worker at once, which must
     * see this one's in-flight count gone (the charge was discharged above; sy_flow_release) */
    sy_flow_release(x->w->gw->flow, &x->flow);
    if (x->running) {
        uint64_t now = sy_now_ns();
        double dur = (double)(now - x->t0) / 1e9;
        double ttft = x->t_first ? (double)(x->t_first - x->t0) / 1e9 : -1;
        sy_gw_metrics_request(x->w->gw->m, x->req.model, x->status, error_code, dur, ttft,
                              x->prompt_tokens, x->completion_tokens, x->cached_tokens);
        sy_gw_metrics_running(x->w->gw->m, x->req.model, -1);
        x->running = false;
    }
}

/* immediate_response with the OpenAI-style error body; the request is over. */
static void reject(struct xs *x, int status, const char *code, const char *msg)
{
    struct sy_buf body;
    sy_buf_init(&body);
    const char *type = sy_http_error_type(status);
    sy_buf_puts(&body, "{\"error\":{\"message\":");
    sy_buf_json_str(&body, msg, strlen(msg));
    sy_buf_puts(&body, ",\"type\":");
    sy_buf_json_str(&body, type, strlen(type));
    sy_buf_puts(&body, ",\"param\":null,\"code\":");
    sy_buf_json_str(&body, code, strlen(code));
    sy_buf_puts(&body, "}}");
    struct sy_xp_set set[3] = {
        {"content-type", SY_STR_LIT("application/json")},
        {"x-request-id", sy_str_c(x->reqid)},
        {"x-llm-d-request-dropped-reason", sy_str_c(x->dropped ? x->dropped : code)},
    };
    bool dropped = status == 429 || status == 503;
    x->status = status;
    sy_xp_put_immediate(&x->out, status, set, dropped ? 3 : 2, body.data, body.len);
    sy_buf_fini(&body);
    send_out(x);
    x->state = XS_DONE;
    if (!x->running) {
        sy_gw_metrics_running(x->w->gw->m, x->req.model, +1);
        x->running = true;
    }
    release(x, false, code);
}

static void gen_reqid(char out[64])
{
    static _Atomic uint64_t counter;
    uint64_t n = atomic_fetch_add(&counter, 1);
    snprintf(out, 64, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
             (unsigned long long)(sy_now_ns() & 0xffffffff),
             (unsigned long long)((sy_now_ns() >> 32) & 0xffff),
             (unsigned long long)(random() & 0xfff), (unsigned long long)(random() & 0xfff),
             (unsigned long long)(n & 0xffffffffffffULL));
}

static bool in_subset(const struct xs *x, const char *addr)
{
    const char *p = x->subset.data;
    for (size_t i = 0; i < x->nsubset; i++, p += strlen(p) + 1)
        if (strcmp(p, addr) == 0)
            return true;
    return false;
}

/* Parses sy_sched_explain's "addr=score(...);addr=score(...)" into scores (addresses are
 * NUL-terminated in place); returns how many. */
static size_t parse_scores(char *text, struct sy_xp_score *out, size_t cap)
{
    size_t n = 0;
    char *p = text;
    while (p && *p && n < cap) {
        char *semi = strchr(p, ';');
        if (semi)
            *semi = '\0';
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            out[n].addr = p;
            out[n].score = strtod(eq + 1, NULL);
            n++;
        }
        p = semi ? semi + 1 : NULL;
    }
    return n;
}

/* Sends the routing answer and streams the body back. dests: the header value (the endpoint,
 * or it followed by fallbacks in retry order); the metadata names ep alone. prefill: the P/D
 * prefill pick for llm-d's routing sidecar (x-prefiller-host-port), or NULL: then a value the
 * client sent is removed, as llm-d's disagg handler clears it. */
static void route(struct xs *x, struct sy_endpoint *ep, const char *dests,
                  const struct sy_endpoint *prefill)
{
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", x->body.len);
    struct sy_xp_set set[4] = {
        {"x-gateway-destination-endpoint", sy_str_c(dests ? dests : ep->address)},
        {"x-request-id", sy_str_c(x->reqid)},
    };
    size_t nset = 2;
    bool bodyless = x->state == XS_HEADERS;
    if (!bodyless)
        set[nset++] = (struct sy_xp_set){"content-length", sy_str_c(clen)};
    static const char *const strip[] = {"x-prefiller-host-port"};
    if (prefill)
        set[nset++] = (struct sy_xp_set){"x-prefiller-host-port", sy_str_c(prefill->address)};
    struct sy_xp_route r = {.set = set,
                            .nset = nset,
                            .remove = prefill ? NULL : strip,
                            .nremove = prefill ? 0 : 1,
                            .dest = ep->address};
    struct sy_buf expl;
    sy_buf_init(&expl);
    struct sy_xp_score scores[64];
    if (x->e->cfg.emit_scores && x->have_res) {
        sy_sched_explain(&x->res, &expl);
        if (expl.data)
            r.nscores = parse_scores(expl.data, scores, 64);
        r.scores = scores;
    }
    sy_xp_put_route_ex(&x->out, &r);
    sy_buf_fini(&expl);
    send_out(x);
    if (!bodyless) {
        size_t off = 0;
        do {
            size_t n = x->body.len - off > SY_EPP_CHUNK ? SY_EPP_CHUNK : x->body.len - off;
            sy_xp_put_body_chunk(&x->out, SY_XP_REQUEST_BODY, x->body.data + off, n,
                                 off + n == x->body.len);
            send_out(x);
            off += n;
        } while (off < x->body.len);
    }
    x->state = XS_ROUTED;
}

static void route_random(struct xs *x)
{
    struct sy_pool *pool = x->gen->pool;
    struct sy_endpoint *pick = NULL;
    size_t seen = 0;
    for (size_t i = 0; i < pool->n; i++) {
        struct sy_endpoint_state st;
        sy_endpoint_snapshot(pool->eps[i], &st);
        if (!st.ready || (x->has_subset && !in_subset(x, pool->eps[i]->address)))
            continue;
        if ((size_t)random() % ++seen == 0) /* reservoir sampling: uniform over ready ones */
            pick = pool->eps[i];
    }
    if (!pick) {
        x->dropped = "rejected-no-endpoints";
        reject(x, 503, "no_ready_endpoints", "no ready model server is available for this request");
        return;
    }
    route(x, pick, NULL, NULL);
}

static bool generation_api(enum sy_api_kind k)
{
    return k == SY_API_COMPLETIONS || k == SY_API_CHAT_COMPLETIONS || k == SY_API_RESPONSES;
}

/* Scheduling, once flow control let the request through and the pre-scheduling steps are done:
 * the subset hint, the pick (P/D included), in-flight accounting, the routing answer. */
static void pick(struct xs *x)
{
    struct sy_pool *pool = x->gen->pool;
    /* the subset hint: every endpoint outside it is excluded */
    struct sy_endpoint **ex = NULL;
    size_t nex = 0;
    if (x->has_subset) {
        ex = sy_xcalloc(pool->n ? pool->n : 1, sizeof *ex);
        for (size_t i = 0; i < pool->n; i++)
            if (!in_subset(x, pool->eps[i]->address))
                ex[nex++] = pool->eps[i];
    }
    /* decided and charged at once (the concurrency bound's slot is reserved: sched.h) */
    int rc =
        sy_sched_pick_charge(x->gen->sched, pool, &x->req, ex, nex, &x->res, &x->charge, false);
    free(ex);
    if (rc == SY_EADMISSION) { /* an admission plugin denied it: llm-d's 500, no dropped reason */
        reject(x, sy_flow_verdict_status(SY_FLOW_REJECT_ADMISSION),
               sy_flow_verdict_code(SY_FLOW_REJECT_ADMISSION),
               sy_flow_verdict_message(SY_FLOW_REJECT_ADMISSION));
        return;
    }
    if (rc == SY_EREJECTED) {
        reject(x, 429, "no_matching_profile", "the request names no configured scheduling profile");
        return;
    }
    if (rc == SY_ESATURATED) { /* every decision's slot was taken by another worker */
        x->dropped = "rejected-saturated";
        reject(x, 429, "rejected-saturated", SY_SCHED_SATURATED_MSG);
        return;
    }
    if (rc != 0) {
        if (x->has_subset || !sy_pool_any_ready(pool)) { /* llm-d: 503 when no endpoint qualifies */
            x->dropped = "rejected-no-endpoints";
            reject(x, 503, "no_ready_endpoints",
                   "no ready model server is available for this request");
        } else { /* router: filters drained the candidates */
            x->dropped = "rejected-saturated";
            reject(x, 429, "rejected-saturated",
                   "no model server can take this request now (every candidate was filtered out)");
        }
        return;
    }
    x->have_res = true;
    sy_flow_picked(x->w->gw->flow, &x->flow); /* the endpoint's in-flight counts it now */
    x->served = sy_endpoint_ref(x->res.ep);
    /* P/D: the EPP cannot run two legs; the prefill pick travels to llm-d's routing sidecar
     * beside the decode endpoint. Only generation APIs have a prefill phase. */
    const struct sy_endpoint *prefill = NULL;
    if (generation_api(x->req.kind) && x->res.prefill_ep) {
        prefill = x->res.prefill_ep;
        /* the sidecar runs the leg: no slot to reserve here, so the prefill pick is recorded in
         * the approximate prefix index now (the proxy records it once the leg has its slot) */
        sy_sched_record_prefill(x->gen->sched, &x->res);
    } else if (generation_api(x->req.kind) && x->res.prefill_missing) {
        if (x->gen->cfg->disagg.fallback != SY_DISAGG_FALLBACK_DECODE_ONLY) {
            reject(x, 503, "no_prefill_endpoint",
                   "no ready prefill endpoint for a request the scheduler disaggregated");
            return;
        }
        sy_warn("request %s: P/D fallback to decode-only on %s: no ready prefill endpoint",
                x->reqid, x->res.ep->address);
    }
    /* fallbacks for the data plane's retries: retry.maxAttempts endpoints in all, by score */
    struct sy_endpoint *order[16];
    size_t max = x->gen->cfg->max_retries < 1    ? 1
                 : x->gen->cfg->max_retries > 16 ? 16
                                                 : (size_t)x->gen->cfg->max_retries;
    size_t n = sy_sched_ranked(&x->res, order, max);
    struct sy_buf dests;
    sy_buf_init(&dests);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sy_buf_puts(&dests, ",");
        sy_buf_puts(&dests, order[i]->address);
    }
    route(x, x->res.ep, dests.data, prefill);
    sy_buf_fini(&dests);
}

static void pretok_done(void *arg)
{
    struct xs *x = arg;
    if (x->state == XS_WAIT) /* not refused meanwhile (eviction) */
        pick(x);
}

/* Admitted: the steps before scheduling (token ids from the model server, a burst window),
 * then the pick. */
static void schedule(struct xs *x)
{
    if (sy_gw_pretok_start(x->w, x->gen, &x->req, pretok_done, x, &x->pt))
        return;
    pick(x);
}

/* Flow control (src/flow, the gateway's controller): called on this worker's loop when the
 * queued request leaves the queue, or when a dispatched sheddable one is evicted. */
static void flow_verdict(void *ud, enum sy_flow_verdict v)
{
    struct xs *x = ud;
    if (x->state == XS_DONE)
        return;
    if (v == SY_FLOW_DISPATCH) {
        schedule(x);
        return;
    }
    /* a refusal, or an eviction: Envoy answers the client with it (before the response began)
     * or resets the client's stream (after) */
    x->dropped = sy_flow_verdict_reason(v);
    reject(x, sy_flow_verdict_status(v), x->dropped, sy_flow_verdict_message(v));
}

static void flow_admit(struct xs *x)
{
    struct sy_flow_item *it = &x->flow;
    sy_flow_classify(x->w->gw->flow, it, x->hn, x->hv, x->nh);
    it->bytes = x->body.len;
    it->tokens = (int64_t)(x->body.len / 4) + (x->req.max_tokens > 0 ? x->req.max_tokens : 0);
    it->port = x->w->flow_port;
    it->cb = flow_verdict;
    it->ud = x;
    enum sy_flow_verdict v = sy_flow_admit(x->w->gw->flow, it);
    if (v == SY_FLOW_DISPATCH)
        schedule(x);
    else if (v != SY_FLOW_QUEUED)
        flow_verdict(x, v);
    /* QUEUED: flow_verdict follows on this loop; a stream reset meanwhile leaves the queue */
}

static void decide(struct xs *x)
{
    x->state = XS_WAIT;
    char *q = strchr(x->path, '?');
    size_t plen = q ? (size_t)(q - x->path) : strlen(x->path);
    /* the scheduler's configured parsers (requestHandler.parsers), as in the gateway */
    enum sy_api_kind kind;
    if (sy_sched_parser_for(x->gen->sched, x->path, plen, &kind) == SY_PARSER_NONE) {
        if (sy_api_kind_from_path(x->path, plen) == SY_API_OTHER) {
            route_random(x); /* not an inference API: nothing to parse, any endpoint */
            return;
        }
        char msg[300];
        snprintf(msg, sizeof msg,
                 "no configured request parser reads POST %.*s (scheduler "
                 "requestHandler.parsers)",
                 (int)(plen > 200 ? 200 : plen), x->path);
        reject(x, 404, "not_found", msg);
        return;
    }
    char err[256];
    const char *body = x->body.data ? x->body.data : "";
    int rc = kind == SY_API_OTHER /* passthrough-parser: the body is not read */
                 ? sy_request_passthrough(body, x->body.len, &x->req)
                 : sy_request_parse(kind, body, x->body.len, &x->req, err, sizeof err);
    sy_gw_metrics_running(x->w->gw->m, x->req.model, +1);
    x->running = true;
    if (rc != 0) {
        reject(x, 400, rc == SY_EPARSE ? "invalid_json" : "invalid_request", err);
        return;
    }
    for (size_t i = 0; i < x->nh; i++)
        if (sy_str_case_eq_c(x->hn[i], "x-session-token"))
            x->req.session_token = x->hv[i];
    x->req.header_names = x->hn;
    x->req.header_values = x->hv;
    x->req.nheaders = x->nh;
    x->req.request_id = sy_str_c(x->reqid);
    struct sy_pool *pool = x->gen->pool;
    size_t mlen = strlen(x->req.model);
    bool served = false;
    for (size_t i = 0; i < pool->n && !served; i++)
        served = sy_endpoint_serves(pool->eps[i], x->req.model, mlen);
    if (!served && x->req.model[0]) {
        char msg[400];
        snprintf(msg, sizeof msg, "The model `%s` does not exist.", x->req.model);
        reject(x, 404, "model_not_found", msg);
        return;
    }
    flow_admit(x);
}

/* Copies the request headers (their views die with the message). */
static void keep_headers(struct xs *x, const struct sy_xp_req *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        total += r->names[i].len + r->values[i].len + 2;
    sy_buf_reserve(&x->hstore, total);
    size_t *offs = sy_xcalloc(r->nheaders * 2 + 1, sizeof *offs);
    for (size_t i = 0; i < r->nheaders; i++) {
        offs[2 * i] = x->hstore.len;
        sy_buf_append(&x->hstore, r->names[i].p, r->names[i].len);
        sy_buf_append(&x->hstore, "", 1);
        offs[2 * i + 1] = x->hstore.len;
        sy_buf_append(&x->hstore, r->values[i].p, r->values[i].len);
        sy_buf_append(&x->hstore, "", 1);
    }
    x->nh = r->nheaders;
    x->hn = sy_xcalloc(x->nh + 1, sizeof *x->hn);
    x->hv = sy_xcalloc(x->nh + 1, sizeof *x->hv);
    for (size_t i = 0; i < x->nh; i++) {
        x->hn[i] = (struct sy_str){x->hstore.data + offs[2 * i], r->names[i].len};
        x->hv[i] = (struct sy_str){x->hstore.data + offs[2 * i + 1], r->values[i].len};
    }
    free(offs);
    struct sy_str v;
    if (sy_xp_header(r, ":path", &v) && v.len < sizeof x->path) {
        memcpy(x->path, v.p, v.len);
        x->path[v.len] = '\0';
    }
    if (sy_xp_header(r, "x-request-id", &v) && v.len > 0 && v.len < sizeof x->reqid) {
        memcpy(x->reqid, v.p, v.len);
        x->reqid[v.len] = '\0';
        for (size_t i = 0; i < v.len; i++)
            if ((unsigned char)x->reqid[i] < 0x20 || (unsigned char)x->reqid[i] > 0x7e)
                x->reqid[i] = '_';
    } else {
        gen_reqid(x->reqid);
    }
    if (r->has_subset) {
        x->has_subset = true;
        for (size_t i = 0; i < r->nsubset; i++) {
            /* an entry may itself be a comma list */
            const char *p = r->subset[i].p, *end = p + r->subset[i].len;
            while (p < end) {
                const char *c = memchr(p, ',', (size_t)(end - p));
                const char *e = c ? c : end;
                while (p < e && *p == ' ')
                    p++;
                if (e > p) {
                    sy_buf_append(&x->subset, p, (size_t)(e - p));
                    sy_buf_append(&x->subset, "", 1);
                    x->nsubset++;
                }
                p = c ? c + 1 : end;
            }
        }
    }
}

static void response_headers(struct xs *x, const struct sy_xp_req *r)
{
    struct sy_str v;
    x->began = true;
    if (sy_xp_header(r, ":status", &v) || sy_xp_header(r, "status", &v))
        x->status = (int)strtol(v.p ? v.p : "0", NULL, 10);
    if (sy_xp_header(r, "content-type", &v) && v.len >= 17 &&
        strncasecmp(v.p, "text/event-stream", 17) == 0)
        x->sse = true;
    /* the data plane says where the request went (Envoy may have fallen back) */
    if (r->served.len && x->charge.ep) {
        char addr[300];
        snprintf(addr, sizeof addr, "%.*s", (int)r->served.len, r->served.p);
        struct sy_endpoint *s = sy_pool_find(x->gen->pool, addr);
        if (s && s != x->served) { /* the charge moves with it */
            int64_t tokens = x->charge.tokens;
            sy_pool_discharge(&x->charge, -1);
            sy_endpoint_unref(x->served);
            x->served = sy_endpoint_ref(s);
            sy_pool_charge(&x->charge, x->served, tokens, x->req.max_tokens, x->req.choices);
        }
    }
    /* headers plugins add for the client (session-affinity's token) */
    struct sy_buf lines;
    sy_buf_init(&lines);
    if (x->have_res)
        sy_sched_response_headers(x->gen->sched, &x->res, &lines);
    struct sy_xp_set set[8];
    size_t n = 0;
    char *p = lines.data;
    while (p && *p && n < 8) {
        char *nl = strstr(p, "\r\n");
        char *colon = strchr(p, ':');
        if (!nl || !colon || colon > nl)
            break;
        *colon = '\0';
        const char *val = colon + 1;
        while (*val == ' ')
            val++;
        set[n].name = p;
        set[n].value = (struct sy_str){val, (size_t)(nl - val)};
        n++;
        p = nl + 2;
    }
    sy_xp_put_continue(&x->out, SY_XP_RESPONSE_HEADERS, set, n);
    send_out(x);
    sy_buf_fini(&lines);
}

static void response_body(struct xs *x, const struct sy_xp_req *r)
{
    if (!x->t_first && r->body.len)
        x->t_first = sy_now_ns();
    /* keep the tail for the usage scan (the usage object ends the body); a stream's usage is
     * read event by event below, as the proxy reads it */
    if (!x->sse && r->body.len >= TAIL_CAP) {
        sy_buf_reset(&x->tail);
        sy_buf_append(&x->tail, r->body.p + r->body.len - TAIL_CAP, TAIL_CAP);
    } else if (!x->sse) {
        if (x->tail.len + r->body.len > TAIL_CAP)
            sy_buf_consume(&x->tail, x->tail.len + r->body.len - TAIL_CAP);
        sy_buf_append(&x->tail, r->body.p, r->body.len);
    }
    size_t off = 0;
    do {
        size_t n = r->body.len - off > SY_EPP_CHUNK ? SY_EPP_CHUNK : r->body.len - off;
        sy_xp_put_body_chunk(&x->out, SY_XP_RESPONSE_BODY, r->body.p + off, n,
                             r->end_of_stream && off + n == r->body.len);
        send_out(x);
        off += n;
    } while (off < r->body.len);
    if (x->sse) { /* bookkeeping after Envoy has the bytes (tokens only with an endpoint) */
        sy_usage_sse_feed(&x->usse, x->req.kind, r->body.p, r->body.len);
        if (r->end_of_stream)
            sy_usage_sse_end(&x->usse); /* a last event without its blank line */
    }
    if (r->end_of_stream) {
        x->state = XS_DONE;
        release(x, x->status > 0 && x->status < 500,
                x->status >= 400 ? "upstream_error_status" : NULL);
    }
}

static void process_message(struct xs *x, struct sy_h2_call *c, const uint8_t *m, size_t n)
{
    static _Thread_local struct sy_xp_req r; /* ~12 KB: kept off the stack */
    char err[160];
    if (sy_xp_decode(m, n, &r, err, sizeof err) != 0) {
        sy_h2_finish(c, SY_GRPC_INVALID_ARGUMENT, err);
        release(x, false, "invalid_ext_proc_message");
        return;
    }
    switch (r.phase) {
    case SY_XP_REQUEST_HEADERS:
        if (x->state != XS_HEADERS || x->hn) {
            sy_h2_finish(c, SY_GRPC_INVALID_ARGUMENT, "request_headers out of order");
            release(x, false, "invalid_ext_proc_message");
            return;
        }
        keep_headers(x, &r);
        if (r.end_of_stream)
            route_random(x);
        else
            x->state = XS_BODY;
        return;
    case SY_XP_REQUEST_BODY:
        if (x->state != XS_BODY) {
            if (x->state == XS_HEADERS) {
                sy_h2_finish(c, SY_GRPC_INVALID_ARGUMENT, "request_body before request_headers");
                release(x, false, "invalid_ext_proc_message");
            }
            return; /* after a decision (or an immediate response): nothing to do */
        }
        if (x->body.len + r.body.len > x->gen->cfg->max_body_bytes) {
            reject(x, 413, "request_too_large", "the request body exceeds limits.maxBodyBytes");
            return;
        }
        sy_buf_append(&x->body, r.body.p, r.body.len);
        if (r.end_of_stream)
            decide(x);
        return;
    case SY_XP_REQUEST_TRAILERS:
        if (x->state == XS_BODY)
            decide(x); /* trailers end the body */
        sy_xp_put_continue(&x->out, SY_XP_REQUEST_TRAILERS, NULL, 0);
        send_out(x);
        return;
    case SY_XP_RESPONSE_HEADERS:
        response_headers(x, &r);
        if (r.end_of_stream) {
            x->state = XS_DONE;
            release(x, x->status > 0 && x->status < 500,
                    x->status >= 400 ? "upstream_error_status" : NULL);
        }
        return;
    case SY_XP_RESPONSE_BODY: response_body(x, &r); return;
    case SY_XP_RESPONSE_TRAILERS:
        sy_xp_put_continue(&x->out, SY_XP_RESPONSE_TRAILERS, NULL, 0);
        send_out(x);
        if (x->sse && x->state != XS_DONE)
            sy_usage_sse_end(&x->usse); /* the stream ended with trailers, not end_of_stream */
        x->state = XS_DONE;
        release(x, x->status > 0 && x->status < 500, NULL);
        return;
    default: return;
    }
}

/* ---- h2 handler ---- */

static int on_open(void *ud, struct sy_h2_call *c, const char *path, void **call_ud)
{
    struct listener_ctx *l = ud;
    if (strcmp(path, PATH_CHECK) == 0) {
        struct health_call *h = sy_xcalloc(1, sizeof *h);
        h->kind = CALL_HEALTH;
        h->e = l->e;
        *call_ud = h;
        return 0;
    }
    if (l->w && strcmp(path, PATH_PROCESS) == 0) {
        struct xs *x = sy_xcalloc(1, sizeof *x);
        x->kind = CALL_PROCESS;
        x->e = l->e;
        x->w = l->w;
        x->call = c;
        x->gen = sy_gw_gen_get(l->e->gw);
        x->t0 = sy_now_ns();
        sy_buf_init(&x->hstore);
        sy_buf_init(&x->body);
        sy_buf_init(&x->subset);
        sy_buf_init(&x->tail);
        sy_buf_init(&x->out);
        x->prompt_tokens = x->completion_tokens = x->cached_tokens = -1;
        sy_usage_sse_init(&x->usse, &x->charge.dec, &x->prompt_tokens, &x->completion_tokens,
                          &x->cached_tokens);
        atomic_fetch_add(&x->w->active, 1);
        *call_ud = x;
        return 0;
    }
    return SY_GRPC_UNIMPLEMENTED;
}

static void on_message(void *cud, struct sy_h2_call *c, const uint8_t *m, size_t n)
{
    if (*(enum call_kind *)cud == CALL_HEALTH)
        health_message(cud, c, m, n);
    else
        process_message(cud, c, m, n);
}

static void on_half_close(void *cud, struct sy_h2_call *c)
{
    if (*(enum call_kind *)cud == CALL_HEALTH) {
        sy_h2_finish(c, SY_GRPC_INVALID_ARGUMENT, "missing HealthCheckRequest");
        return;
    }
    struct xs *x = cud;
    /* Envoy closes its side when the HTTP request is over */
    if (!x->released) {
        if (!x->status)
            x->status = 499;
        release(x, false, x->state == XS_DONE ? NULL : "client_closed_request");
    }
    sy_h2_finish(c, SY_GRPC_OK, NULL);
}

static void on_close(void *cud, struct sy_h2_call *c, bool reset)
{
    (void)c;
    if (*(enum call_kind *)cud == CALL_HEALTH) {
        free(cud);
        return;
    }
    struct xs *x = cud;
    if (!x->released) {
        if (!x->status || x->state != XS_DONE)
            x->status = 499;
        release(x, false, reset ? "client_closed_request" : NULL);
    }
    if (x->served)
        sy_endpoint_unref(x->served);
    sy_gw_pretok_free(x->pt); /* cancels a pending step; before the generation goes */
    sy_gw_gen_unref(x->gen);
    sy_buf_fini(&x->hstore);
    sy_buf_fini(&x->body);
    sy_buf_fini(&x->subset);
    sy_buf_fini(&x->tail);
    sy_usage_sse_fini(&x->usse);
    sy_buf_fini(&x->out);
    free(x->hn);
    free(x->hv);
    atomic_fetch_sub(&x->w->active, 1);
    free(x);
}

/* ---- lifecycle ---- */

struct sy_epp *sy_epp_new(struct sy_gateway *gw, const struct sy_config *cfg, char *err,
                          size_t errcap)
{
    struct sy_epp *e = sy_xcalloc(1, sizeof *e);
    e->gw = gw;
    if (sy_epp_config_parse(cfg, &e->cfg, err, errcap) != 0) {
        free(e);
        return NULL;
    }
    if (e->cfg.secure) {
        e->tls = sy_h2_tls_ctx(e->cfg.cert_file, e->cfg.key_file, err, errcap);
        if (!e->tls) {
            sy_epp_config_fini(&e->cfg);
            free(e);
            return NULL;
        }
    }
    return e;
}

void sy_epp_free(struct sy_epp *e)
{
    if (!e)
        return;
    if (e->tls)
        sy_h2_tls_ctx_free(e->tls);
    for (size_t i = 0; i < e->nctx; i++)
        free(e->ctxs[i]);
    sy_epp_config_fini(&e->cfg);
    free(e);
}

const struct sy_epp_config *sy_epp_cfg(const struct sy_epp *e)
{
    return &e->cfg;
}

uint16_t sy_epp_health_port(const struct sy_epp *e)
{
    return e->health_port;
}

static struct sy_h2_opts opts_for(struct sy_epp *e, struct sy_gw_worker *w)
{
    struct listener_ctx *l = sy_xcalloc(1, sizeof *l); /* freed by sy_epp_free */
    e->ctxs[e->nctx++] = l;
    l->e = e;
    l->w = w;
    struct sy_gw_gen *g = sy_gw_gen_get(e->gw);
    size_t max = (size_t)g->cfg->max_body_bytes + (1u << 20); /* a body chunk plus headers */
    sy_gw_gen_unref(g);
    return (struct sy_h2_opts){
        .tls = e->tls,
        .reuseport = w != NULL,
        .max_message = max,
        .handler = {.on_open = on_open,
                    .on_message = on_message,
                    .on_half_close = on_half_close,
                    .on_close = on_close,
                    .ud = l},
    };
}

int sy_epp_worker_start(struct sy_epp *e, struct sy_gw_worker *w, uint16_t port, char *err,
                        size_t errcap)
{
    struct sy_h2_opts o = opts_for(e, w);
    return sy_h2_server_start(&w->loop, e->cfg.host, port, &o, &w->xp, err, errcap);
}

int sy_epp_health_start(struct sy_epp *e, uv_loop_t *loop, char *err, size_t errcap)
{
    struct sy_h2_opts o = opts_for(e, NULL);
    o.tls = NULL; /* plaintext, as llm-d's: kubelet's and GKE's gRPC probes do not speak TLS */
    int rc = sy_h2_server_start(loop, e->cfg.health_host, e->cfg.health_port, &o, &e->health, err,
                                errcap);
    if (rc == 0)
        e->health_port = sy_h2_server_port(e->health);
    return rc;
}

void sy_epp_health_stop(struct sy_epp *e)
{
    if (e && e->health) {
        sy_h2_server_close(e->health);
        e->health = NULL;
    }
}
