/* proxy.c - one OpenAI-API request through the gateway: parse once -> schedule -> forward ->
 * stream back -> observe.
 *
 *   client body (buffered once by the server, never copied again)
 *      |  sy_request_parse: a validating scan that records views (model, stream, prompt span)
 *      v
 *   sy_sched_pick_charge(exclude = endpoints already tried) --> endpoint, in-flight += 1
 *      |  head = request line + filtered client headers + x-request-id  (small, built per try)
 *      v  bufs = [head, body]  (the body pointer is the client's bytes)
 *   upstream (pooled keep-alive) --on_head--> client head + x-gateway-destination-endpoint
 *                                --on_body--> client, chunk by chunk (pause upstream when the
 *                                             client's queue passes SY_PROXY_HIGH_WATER)
 *                                --on_read_end--> a chunked (SSE) stream's pieces of one read
 *                                             go out as one chunk in one write
 *                                --on_done--> end; observers (metrics, scheduler done hooks)
 *
 * Failure rules (issues 2, 20): before any response byte reached the client, a failure where the
 * server cannot have received the whole request (connect failed, connection closed before the
 * request was completely written) is retried on another endpoint, every send counting against
 * retry.maxAttempts, then 502; a connection closed after the whole request was written is 502
 * and never resent (that could run the generation twice); no complete response head within
 * timeouts.request is 504, not retried. A retry's charge is strict (sy_sched_pick_charge): held
 * to the concurrency-detector's limit even where its filter failed open, so when every endpoint
 * left is at its limit the retry ends in the same 502 instead of going over. Once bytes have
 * reached the client, a broken upstream (or one silent for timeouts.streamIdle) ends the stream: a
 * chunked SSE stream gets a final `data: {"error":...}` event and a proper end, anything else is
 * cut (the connection closes, so the client sees a truncated body rather than a hang or a misframed
 * next response).
 *
 * In-flight accounting: exactly one charge per attempt (sy_sched_pick_charge in attempt) and
 * exactly one discharge (attempt_end), whatever path the attempt leaves by: success, retry, client
 * abort, drain. The charge holds the in-flight count, the tokens and the decode work left (pool.h),
 * so they are taken and released together. The scheduler says how many tokens (sched/inflight.h);
 * the part it marks early (llm-d's inflight-load-producer: the prompt tokens) is released at the
 * first response body byte and the discharge releases the remainder. The decode work left
 * (pool/decode.h) moves in between with the output tokens the SSE scan counts (api/usage.h
 * sy_usage_sse: the events api/sse_lines.c cuts from the upstream reads; non-streamed: at the end).
 *
 * P/D (issue 13): when the pick carries a prefill endpoint, attempt() hands the request to
 * src/disagg (pd_start), which runs the prefill leg and calls back pd_decode with the decode
 * leg's body; the decode answer goes through sy_disagg_filter. A decode failure before the first
 * byte retries through attempt(), so a retry always gets a fresh prefill leg. The prefill leg's
 * in-flight count is the exchange's own; the decode endpoint's is the attempt's, as above.
 *
 * Streaming (issue 20): for a chunked response, up_body only gathers the read's body pieces
 * (views into the upstream read buffer, at most SY_PROXY_PEND) and up_read_end sends them as one
 * chunk with one writev, so a read that brought several SSE events (a stream that fell behind,
 * or a server that emits in bursts) costs one write instead of one per event; with one event per
 * read nothing changes. Pieces are pending only between an upstream read's first on_body and its
 * on_read_end; on_done of that read comes after (client.h), so nothing is written out of order.
 * Measured with bench/stream_scale.sh (docs/operations.md).
 *
 * Flow control (src/flow, issue 14): after parsing, flow_admit asks the controller; the request
 * is scheduled at once, waits (flow_verdict is called on this loop when it leaves the queue:
 * late binding, scheduled against fresh state), or is refused with 429/503 and
 * x-llm-d-request-dropped-reason. An admission plugin denying the dispatched request at
 * scheduling time (SY_EADMISSION) is refused through the same path with llm-d's 500 and no
 * dropped reason (SY_FLOW_REJECT_ADMISSION). proxy_free releases the item on every exit path. A
 * request let through goes to schedule_first: the pre-scheduling steps (pretokenize.c), then
 * attempt().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/request.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "disagg/disagg.h"
#include "gateway/gateway.h"
#include "gateway/pretokenize.h"
#include "latency/slo.h"
#include "api/usage.h"
#include "pool/decode.h"

#define SY_PROXY_HIGH_WATER (1u << 20) /* pause the upstream above this many queued bytes */
#define SY_PROXY_MAX_TRIES  16         /* hard cap on endpoints tried per request */
#define SY_PROXY_USAGE_CAP  (1u << 20) /* non-streaming bodies scanned for usage up to this */
#define SY_PROXY_PEND       8          /* body pieces of one upstream read sent as one write */

struct proxy {
    struct sy_gw_worker *w;     /* worker (loop) */
    struct sy_http_req *hreq;   /* client request; NULL once it ended */
    struct sy_gw_gen *gen;      /* generation referenced for the request's lifetime */
    struct sy_request req;      /* parsed view of the body */
    char reqid[64];             /* x-request-id */
    struct sy_sched_result res; /* current attempt's decision */
    bool have_res;              /* res is live (pick succeeded, not yet done) */
    struct sy_charge charge;    /* res.ep's in-flight count, tokens and decode work (pool.h) */
    struct sy_endpoint *tried[SY_PROXY_MAX_TRIES]; /* endpoints tried (references) */
    size_t ntried;
    struct sy_buf head;           /* upstream request head */
    char prio_field[48];          /* `"priority":N,` spliced into the body (pool.forwardPriority) */
    struct sy_upstream_req *up;   /* current upstream exchange */
    bool began;                   /* response head sent to the client */
    bool sse;                     /* upstream answered text/event-stream */
    bool chunked_out;             /* the client's response is chunked (not Content-Length) */
    bool want_scores;             /* client asked for x-gateway-destination-endpoint-scores */
    int status;                   /* status sent to the client */
    uint64_t t0;                  /* request start (monotonic ns) */
    uint64_t t_first;             /* first response body byte (0 = none yet) */
    uint64_t t_pick;              /* this attempt's endpoint pick (latency model's TTFT origin) */
    struct sy_buf scan;           /* usage scanning: a non-stream body (SY_PROXY_USAGE_CAP) */
    struct sy_usage_sse usse;     /* usage scanning and token counting of an SSE stream */
    int64_t prompt_tokens;        /* from usage, -1 unknown */
    int64_t completion_tokens;    /* from usage, -1 unknown */
    int64_t cached_tokens;        /* usage.prompt_tokens_details.cached_tokens, -1 */
    struct sy_buf scores;         /* explanation header value when requested */
    struct sy_disagg *dx;         /* P/D exchange (created on the first P/D pick), or NULL */
    bool pd;                      /* the current attempt goes through dx */
    struct sy_buf fwd;            /* forwarded client header lines (P/D prefill leg) */
    struct sy_gw_pretok *pt;      /* steps before scheduling (pretokenize.c), or NULL */
    unsigned resends;             /* sends the upstream client repeated (count as attempts) */
    struct proxy *next, *prev;    /* the worker's list (sy_gw_proxy_cut_all) */
    struct sy_flow_item flow;     /* flow-control admission state (released in proxy_free) */
    const char *dropped;          /* x-llm-d-request-dropped-reason of a refusal, or NULL */
    uv_buf_t pend[SY_PROXY_PEND]; /* chunked stream: pieces of the current upstream read not yet
                                     written (borrowed from the read, valid until its end) */
    unsigned npend;
};

static void attempt(struct proxy *p);
static void end_broken(struct proxy *p);

/* ---- small helpers ---- */

/* Writes the low 4*n bits of v as n lower-case hex digits. */
static char *hex_digits(char *o, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 4)
        o[i] = "0123456789abcdef"[v & 15];
    return o + n;
}

/* A UUIDv4-shaped id (time, randomness, a per-process counter), without printf: this runs per
 * request. */
static void gen_request_id(char out[static 37])
{
    static _Atomic uint64_t counter;
    uint64_t n = atomic_fetch_add(&counter, 1);
    uint64_t t = sy_now_ns();
    uint64_t r = (uint64_t)random();
    char *o = hex_digits(out, t & 0xffffffff, 8);
    *o++ = '-';
    o = hex_digits(o, (t >> 32) & 0xffff, 4);
    *o++ = '-';
    *o++ = '4';
    o = hex_digits(o, r & 0xfff, 3);
    *o++ = '-';
    o = hex_digits(o, 0x8000 | ((r >> 12) & 0x3fff), 4);
    *o++ = '-';
    o = hex_digits(o, n & 0xffffffffffffULL, 12);
    *o = '\0';
}

static bool hop_by_hop(struct sy_str name)
{
    static const struct sy_str hop[] = {SY_STR_LIT("connection"),
                                        SY_STR_LIT("keep-alive"),
                                        SY_STR_LIT("proxy-connection"),
                                        SY_STR_LIT("transfer-encoding"),
                                        SY_STR_LIT("te"),
                                        SY_STR_LIT("trailer"),
                                        SY_STR_LIT("upgrade"),
                                        SY_STR_LIT("host"),
                                        SY_STR_LIT("content-length"),
                                        SY_STR_LIT("expect"),
                                        SY_STR_LIT("proxy-authorization")};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (sy_str_case_eq(name, hop[i]))
            return true;
    return false;
}

/* Headers the gateway owns: never forwarded from clients (llm-d strips them too), so no client
 * can pick a backend or point a sidecar at an address of its choosing: the destination headers,
 * the P/D and data-parallel routing headers a sidecar acts on, and the KV-cache source. */
static bool gateway_owned(struct sy_str name)
{
    return sy_str_case_eq_c(name, "x-request-id") ||
           (name.len >= 30 && strncasecmp(name.p, "x-gateway-destination-endpoint", 30) == 0) ||
           (name.len >= 16 && strncasecmp(name.p, "x-data-parallel-", 16) == 0) ||
           sy_str_case_eq_c(name, "x-prefiller-host-port") ||
           sy_str_case_eq_c(name, "x-encoder-hosts-ports") ||
           sy_str_case_eq_c(name, "x-kv-cache-source-host-port") ||
           sy_str_case_eq_c(name, "x-switchyard-debug");
}

static void take_usage(struct proxy *p, const char *text, size_t len)
{
    sy_usage_scan(p->req.kind, text, len, &p->prompt_tokens, &p->completion_tokens,
                  &p->cached_tokens);
}

/* ---- attempt lifecycle ---- */

static void attempt_end(struct proxy *p, bool ok)
{
    if (p->charge.ep) {
        /* the output length feeds the endpoint's mean (budgets without max_tokens): usage's
         * count, else the streamed tokens; nothing from a failed attempt */
        int64_t out = !ok                         ? -1
                      : p->completion_tokens >= 0 ? p->completion_tokens
                      : p->sse                    ? p->charge.dec.generated
                                                  : -1;
        sy_pool_discharge(&p->charge, out);
    }
    if (p->have_res) {
        if (ok && p->t_first > p->t_pick && p->t_pick) { /* the latency model's sample */
            uint64_t now = sy_now_ns();
            /* TPOT only when streamed: a buffered body's first byte is its last */
            double tpot =
                p->req.stream && p->completion_tokens > 1 && now > p->t_first
                    ? (double)(now - p->t_first) / 1e9 / (double)(p->completion_tokens - 1)
                    : -1;
            sy_sched_observe(&p->res, (double)(p->t_first - p->t_pick) / 1e9, tpot);
            if (p->req.stream) /* the slot time (capAwareTTFT): first to last byte decoding */
                sy_sched_observe_end(&p->res, (double)(now - p->t_pick) / 1e9);
        }
        sy_sched_done(p->gen->sched, &p->res, ok);
        p->have_res = false;
    }
}

static void proxy_free(struct proxy *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->w->proxies = p->next;
    if (p->next)
        p->next->prev = p->prev;
    attempt_end(p, false);
    /* program-aware-fairness charges the flow what the response used; without a usage object
     * (a stream without include_usage) the prompt estimate stands in; nothing if no answer */
    p->flow.usage_prompt = p->prompt_tokens >= 0 ? p->prompt_tokens
                           : p->began            ? (int64_t)p->req.prompt_tokens_est
                                                 : 0;
    p->flow.usage_completion = p->completion_tokens;
    sy_disagg_free(p->dx); /* cancels a prefill leg still in flight, giving its slot back */
    p->dx = NULL;
    /* leaves the queue / ends the admission, last: after the charge (attempt_end discharged it)
     * and the prefill leg (sy_flow_release) */
    sy_flow_release(p->w->gw->flow, &p->flow);
    for (size_t i = 0; i < p->ntried; i++)
        sy_endpoint_unref(p->tried[i]);
    sy_gw_pretok_free(p->pt); /* cancels a pending step; before the generation goes */
    sy_gw_gen_unref(p->gen);
    sy_buf_fini(&p->head);
    sy_buf_fini(&p->scan);
    sy_usage_sse_fini(&p->usse);
    sy_buf_fini(&p->scores);
    sy_buf_fini(&p->fwd);
    atomic_fetch_sub(&p->w->active, 1);
    free(p);
}

/* Records metrics and releases everything. The client request must already have ended. */
static void proxy_finish(struct proxy *p, const char *error_code)
{
    uint64_t now = sy_now_ns();
    double dur = (double)(now - p->t0) / 1e9;
    double ttft = p->t_first ? (double)(p->t_first - p->t0) / 1e9 : -1;
    sy_gw_metrics_request(p->w->gw->m, p->req.model, p->status, error_code, dur, ttft,
                          p->prompt_tokens, p->completion_tokens, p->cached_tokens);
    sy_gw_metrics_running(p->w->gw->m, p->req.model, -1);
    proxy_free(p);
}

/* An error before anything was sent to the client. */
static void fail_early(struct proxy *p, int status, const char *code, const char *msg)
{
    attempt_end(p, false);
    p->status = status;
    if (p->hreq) {
        char extra[224];
        int o = snprintf(extra, sizeof extra, "x-request-id: %s\r\n", p->reqid);
        if (p->dropped && o > 0 && (size_t)o < sizeof extra)
            snprintf(extra + o, sizeof extra - (size_t)o, "x-llm-d-request-dropped-reason: %s\r\n",
                     p->dropped);
        p->hreq->on_abort = NULL;
        p->hreq->on_drain = NULL;
        if (p->req.kind == SY_API_MESSAGES) { /* Anthropic-shaped error for /v1/messages */
            struct sy_buf b;
            sy_buf_init(&b);
            sy_anthropic_error_json(&b, status, msg);
            sy_http_respond(p->hreq, status, "application/json", extra, b.data, b.len);
            sy_buf_fini(&b);
        } else {
            sy_http_respond_error(p->hreq, status, sy_http_error_type(status), code, msg, extra);
        }
        p->hreq = NULL;
    }
    proxy_finish(p, code);
}

static void on_client_abort(struct sy_http_req *hreq)
{
    struct proxy *p = hreq->data;
    p->hreq = NULL;
    p->npend = 0;
    if (p->up) {
        sy_upstream_cancel(p->up); /* closes the upstream connection: the server cancels */
        p->up = NULL;
    }
    if (!p->began)
        p->status = 499;
    attempt_end(p, false);
    proxy_finish(p, "client_closed_request");
}

static void on_client_drain(struct sy_http_req *hreq)
{
    struct proxy *p = hreq->data;
    if (p->up)
        sy_upstream_resume(p->up);
}

/* ---- upstream callbacks ---- */

static void up_head(void *ud, const struct sy_upstream_head *h)
{
    struct proxy *p = ud;
    if (!p->hreq)
        return;
    struct sy_buf lines;
    sy_buf_init(&lines);
    sy_buf_reserve(&lines, 512);
    for (size_t i = 0; i < h->nheaders; i++) {
        struct sy_str n = h->names[i];
        if (hop_by_hop(n) || sy_str_case_eq_c(n, "x-request-id") ||
            sy_str_case_eq_c(n, "x-gateway-destination-endpoint") ||
            sy_str_case_eq_c(n, "x-session-token"))
            continue;
        if (sy_str_case_eq_c(n, "content-type") && h->values[i].len >= 17 &&
            strncasecmp(h->values[i].p, "text/event-stream", 17) == 0)
            p->sse = true;
        sy_buf_append(&lines, n.p, n.len);
        sy_buf_puts(&lines, ": ");
        sy_buf_append(&lines, h->values[i].p, h->values[i].len);
        sy_buf_puts(&lines, "\r\n");
    }
    sy_buf_puts(&lines, "x-gateway-destination-endpoint: ");
    sy_buf_puts(&lines, p->res.ep->address);
    sy_buf_puts(&lines, "\r\nx-request-id: ");
    sy_buf_puts(&lines, p->reqid);
    sy_buf_puts(&lines, "\r\n");
    /* Headers plugins add (llm-d's ResponseHeaderProcessor), e.g. session-affinity's token
     * naming the served endpoint, which the next turn sends back. */
    sy_sched_response_headers(p->gen->sched, &p->res, &lines);
    if (p->scores.len)
        sy_buf_printf(&lines, "x-gateway-destination-endpoint-scores: %s\r\n", p->scores.data);
    if (p->pd)
        sy_disagg_response_headers(p->dx, &lines);
    p->status = h->status;
    p->began = true;
    if (h->status < 500) /* it serves: a timed-out scrape leaves it ready (pool/scraper.c) */
        sy_endpoint_served(p->res.ep, sy_now_ns());
    p->chunked_out = p->pd || h->content_length < 0;
    /* P/D: the body is rewritten (usage, kv_transfer_params), so its length changes */
    sy_http_begin(p->hreq, h->status, lines.data, p->pd ? -1 : h->content_length);
    sy_buf_fini(&lines);
}

/* Usage bookkeeping on what the client received. */
static void scan_usage(struct proxy *p, const char *data, size_t n)
{
    if (p->sse) /* the decode work left on the endpoint moves with the tokens */
        sy_usage_sse_feed(&p->usse, p->req.kind, data, n);
    else if (p->scan.len + n <= SY_PROXY_USAGE_CAP)
        sy_buf_append(&p->scan, data, n);
}

/* P/D: the rewritten decode answer goes to the client (and to the usage scan). */
static void pd_emit(void *ud, const char *data, size_t n)
{
    struct proxy *p = ud;
    if (p->hreq)
        sy_http_write(p->hreq, data, n);
    scan_usage(p, data, n);
}

/* Sends the pieces gathered from the current upstream read as one chunk, one write. */
static void flush_pending(struct proxy *p)
{
    unsigned n = p->npend;
    p->npend = 0;
    if (n == 0 || !p->hreq)
        return;
    if (sy_http_writev(p->hreq, p->pend, n) > SY_PROXY_HIGH_WATER && p->up)
        sy_upstream_pause(p->up);
}

static void up_read_end(void *ud)
{
    flush_pending(ud);
}

static void up_body(void *ud, const char *data, size_t n)
{
    struct proxy *p = ud;
    if (!p->hreq)
        return;
    if (!p->t_first) {
        p->t_first = sy_now_ns();
        if (p->charge.ep && p->res.inflight_early > 0) { /* inflight-load-producer: prefill */
            sy_pool_charge_release_tokens(&p->charge, p->res.inflight_early);
            p->res.inflight_early = 0;
        }
    }
    /* the client gets the bytes first; the usage scan is bookkeeping */
    size_t queued;
    if (p->pd) {
        sy_disagg_decode_first_byte(p->dx);
        sy_disagg_filter(p->dx, p->sse, data, n, pd_emit, p);
        queued = sy_http_queued(p->hreq);
    } else if (p->chunked_out) {
        /* SSE: every event the read brought goes out in one chunk, one write, at read end */
        if (p->npend == SY_PROXY_PEND)
            flush_pending(p);
        p->pend[p->npend++] = uv_buf_init((char *)data, (unsigned int)n);
        scan_usage(p, data, n);
        return;
    } else {
        queued = sy_http_write(p->hreq, data, n);
        scan_usage(p, data, n);
    }
    if (queued > SY_PROXY_HIGH_WATER)
        sy_upstream_pause(p->up);
}

static void up_done(void *ud, int err)
{
    struct proxy *p = ud;
    flush_pending(p); /* normally empty: up_read_end came first */
    p->up = NULL;
    if (err == 0) {
        if (p->pd) {
            sy_disagg_filter_end(p->dx, p->sse, pd_emit, p);
            sy_disagg_decode_done(p->dx, p->status < 500);
        }
        if (p->sse)
            sy_usage_sse_end(&p->usse); /* a last event without its blank line */
        else if (p->scan.len)
            take_usage(p, p->scan.data, p->scan.len);
        attempt_end(p, p->status < 500);
        if (p->hreq) {
            p->hreq->on_abort = NULL;
            p->hreq->on_drain = NULL;
            sy_http_end(p->hreq, true);
            p->hreq = NULL;
        }
        proxy_finish(p, p->status >= 400 ? "upstream_error_status" : NULL);
        return;
    }
    struct sy_endpoint *ep = p->res.ep;
    if (!p->began) {
        /* Nothing reached the client: retry elsewhere when the failure allows it. */
        if (err == SY_ECONNECT) {
            /* skipped by the scheduler until a scrape succeeds again */
            sy_endpoint_conn_failed(ep, sy_now_ns());
        }
        sy_warn("request %s: endpoint %s failed: %s", p->reqid, ep->address, sy_strerror(err));
        attempt_end(p, false);
        if (err == SY_ETIMEDOUT) {
            fail_early(p, 504, "upstream_timeout",
                       "the model server did not send a response head within timeouts.request");
            return;
        }
        if (err != SY_ECONNECT && err != SY_ECLOSED && !p->pd) {
            /* The server had the whole request: sending it again could run the generation
             * twice, so it is not retried. A P/D decode leg is the exception (issue 13): its
             * retry is a whole new exchange, a fresh prefill leg then a decode elsewhere, and the
             * failed decode consumed this exchange's KV hand-over. */
            fail_early(p, 502, "upstream_closed",
                       "the model server closed the connection without answering the request");
            return;
        }
        size_t max = (size_t)p->gen->cfg->max_retries;
        if (max > SY_PROXY_MAX_TRIES)
            max = SY_PROXY_MAX_TRIES;
        if (p->ntried + p->resends < max) {
            attempt(p);
            return;
        }
        fail_early(p, 502, "upstream_unavailable",
                   "no model server could be reached for this request");
        return;
    }
    /* Mid-response failure: end the client's stream cleanly. */
    sy_warn("request %s: endpoint %s broke mid-response: %s", p->reqid, ep->address,
            sy_strerror(err));
    end_broken(p);
}

/* Ends a response that already began as a broken upstream ends it (see the file comment). */
static void end_broken(struct proxy *p)
{
    attempt_end(p, false);
    if (p->hreq) {
        p->hreq->on_abort = NULL;
        p->hreq->on_drain = NULL;
        if (p->sse && p->req.kind == SY_API_MESSAGES && p->chunked_out) {
            sy_http_write(p->hreq, sy_anthropic_stream_error_event,
                          strlen(sy_anthropic_stream_error_event));
            sy_http_end(p->hreq, true);
        } else if (p->sse && p->chunked_out) {
            /* Only a chunked stream can carry one more event and still end properly; a
             * Content-Length body is cut (closed) so the client never waits for missing bytes
             * nor misreads the next response on the connection. */
            static const char ev[] = "data: {\"error\":{\"message\":\"the model server connection "
                                     "broke mid-stream\",\"type\":\"server_error\",\"code\":"
                                     "\"upstream_broken\"}}\n\n";
            sy_http_write(p->hreq, ev, sizeof ev - 1);
            sy_http_end(p->hreq, true);
        } else {
            sy_http_end(p->hreq, false);
        }
        p->hreq = NULL;
    }
    proxy_finish(p, "upstream_broken");
}

static const struct sy_upstream_cbs up_cbs = {
    .on_head = up_head,
    .on_body = up_body,
    .on_done = up_done,
    .on_read_end = up_read_end,
};

/* ---- scheduling and sending ---- */

/* The client's header lines the gateway forwards (hop-by-hop and gateway-owned ones dropped). */
static void forward_headers(struct proxy *p, struct sy_buf *b)
{
    struct sy_http_req *h = p->hreq;
    for (size_t i = 0; i < h->nheaders; i++) {
        struct sy_str n = h->header_names[i];
        if (hop_by_hop(n) || gateway_owned(n) || sy_str_case_eq_c(n, "x-prefiller-host-port"))
            continue;
        sy_buf_append(b, n.p, n.len);
        sy_buf_puts(b, ": ");
        sy_buf_append(b, h->header_values[i].p, h->header_values[i].len);
        sy_buf_puts(b, "\r\n");
    }
}

static void build_head(struct proxy *p, size_t body_len, const char *extra)
{
    struct sy_http_req *h = p->hreq;
    struct sy_buf *b = &p->head;
    sy_buf_reset(b);
    sy_buf_append(b, h->method.p, h->method.len);
    sy_buf_puts(b, " ");
    sy_buf_append(b, h->url.p, h->url.len);
    sy_buf_puts(b, " HTTP/1.1\r\nHost: ");
    sy_buf_puts(b, p->res.ep->address);
    sy_buf_puts(b, "\r\nContent-Length: ");
    sy_buf_put_u64(b, body_len);
    sy_buf_puts(b, "\r\nx-request-id: ");
    sy_buf_puts(b, p->reqid);
    sy_buf_puts(b, "\r\n");
    forward_headers(p, b);
    sy_buf_puts(b, extra);
    sy_buf_puts(b, "\r\n");
}

/* pool.forwardPriority: the body as pieces with vLLM's `priority` spliced in right after the
 * opening brace (no copy of the body). vLLM runs lower values first, llm-d's priority is higher
 * first, so the value is the negated flow-control priority (the objective's priority, 0 when
 * the request names none). Only for the generation APIs vLLM accepts it on; a body that already
 * mentions "priority" is sent as the client wrote it (the client's value stands). Returns the
 * number of pieces in out (1 = unchanged). */
static size_t priority_body(struct proxy *p, uv_buf_t out[3])
{
    const char *b = p->hreq->body;
    size_t n = p->hreq->body_len;
    out[0] = uv_buf_init((char *)b, (unsigned)n);
    if (!p->gen->cfg->forward_priority ||
        (p->req.kind != SY_API_COMPLETIONS && p->req.kind != SY_API_CHAT_COMPLETIONS &&
         p->req.kind != SY_API_RESPONSES) ||
        memmem(b, n, "\"priority\"", 10))
        return 1;
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i >= n || b[i] != '{')
        return 1;
    size_t j = i + 1;
    while (j < n && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n'))
        j++;
    int64_t v = -(int64_t)p->req.priority;
    if (v > INT32_MAX)
        v = INT32_MAX;
    snprintf(p->prio_field, sizeof p->prio_field, "\"priority\":%lld%s", (long long)v,
             j < n && b[j] == '}' ? "" : ",");
    out[0] = uv_buf_init((char *)b, (unsigned)(i + 1));
    out[1] = uv_buf_init(p->prio_field, (unsigned)strlen(p->prio_field));
    out[2] = uv_buf_init((char *)b + i + 1, (unsigned)(n - i - 1));
    return 3;
}

/* Sends body (nbufs pieces, body_len bytes) to the attempt's endpoint. */
static void send_upstream(struct proxy *p, uv_buf_t *body, size_t nbody, size_t body_len,
                          const char *extra)
{
    build_head(p, body_len, extra);
    uv_buf_t bufs[8];
    bufs[0] = uv_buf_init(p->head.data, (unsigned)p->head.len);
    size_t n = 1;
    for (size_t i = 0; i < nbody && n < 8; i++)
        if (body[i].len)
            bufs[n++] = body[i];
    const struct sy_config *cfg = p->gen->cfg;
    /* A resend on a fresh connection only when the server cannot have had the request, and only
     * within retry.maxAttempts (it counts as an attempt). */
    struct sy_upstream_opts o = {.connect_timeout_ns = cfg->connect_timeout_ns,
                                 .response_timeout_ns = cfg->request_timeout_ns,
                                 .stream_idle_ns = cfg->stream_idle_ns,
                                 .may_resend = p->ntried + p->resends < (size_t)cfg->max_retries,
                                 .strict = true,
                                 .resends = &p->resends,
                                 .tls = p->gen->pool->tls};
    char tls_name[256];
    if (o.tls)
        o.server_name = sy_pool_tls_name(p->gen->pool, p->res.ep, tls_name, sizeof tls_name);
    p->up =
        sy_upstream_send_opts(p->w->upstreams, p->res.ep->address,
                              (const struct sockaddr *)&p->res.ep->addr, bufs, n, &o, &up_cbs, p);
}

/* ---- P/D call-outs (src/disagg runs the exchange) ---- */

/* A client that shuts down its write side while its request waits inside the gateway (a P/D
 * prefill leg, a flow-control queue) is taken as gone: issue 13 wants its leaving to cancel the
 * prefill so that decode never starts, issue 14 wants it out of the queue. Elsewhere a half-close
 * is served (http/server.c): the gateway learns that such a client is really gone from a failed
 * write, and while the request waits there is nothing to write yet. */
static bool gone_on_eof(struct sy_http_req *req)
{
    (void)req;
    return true;
}

static void pd_decode(void *ud)
{
    struct proxy *p = ud;
    if (p->hreq)
        p->hreq->on_peer_eof = NULL; /* the decode leg: a half-close is served again */
    uv_buf_t body[7];
    size_t len = 0;
    size_t n = sy_disagg_decode_body(p->dx, body, 7, &len);
    sy_disagg_decode_sent(p->dx);
    send_upstream(p, body, n, len, sy_disagg_decode_headers(p->dx));
}

static void pd_respond(void *ud, int status, const char *head_lines, const char *body, size_t len)
{
    struct proxy *p = ud;
    attempt_end(p, true); /* the decode leg never started */
    p->status = status;
    if (p->hreq) {
        struct sy_buf lines;
        sy_buf_init(&lines);
        sy_buf_puts(&lines, head_lines);
        sy_buf_printf(&lines, "x-request-id: %s\r\n", p->reqid);
        p->hreq->on_abort = NULL;
        p->hreq->on_drain = NULL;
        sy_http_begin(p->hreq, status, lines.data, (int64_t)len);
        sy_http_write(p->hreq, body, len);
        sy_http_end(p->hreq, true);
        p->hreq = NULL;
        sy_buf_fini(&lines);
    }
    proxy_finish(p, "prefill_error_status");
}

static void pd_fail(void *ud, int status, const char *code, const char *msg)
{
    struct proxy *p = ud;
    if (status == 429 && strcmp(code, "rejected-saturated") == 0) /* never on a retry (disagg) */
        p->dropped = "rejected-saturated"; /* no prefill slot (src/disagg): as a decode pick's */
    fail_early(p, status, code, msg);
}

static void pd_start(struct proxy *p)
{
    if (!p->dx) {
        forward_headers(p, &p->fwd);
        struct sy_disagg_host h = {
            .upstreams = p->w->upstreams,
            .pool = p->gen->pool,
            .cfg = p->gen->cfg,
            .sched = p->gen->sched,
            .metrics = p->w->gw->pdm,
            .req = &p->req,
            .method = p->hreq->method,
            .url = p->hreq->url,
            .fwd_headers = p->fwd.data ? p->fwd.data : "",
            .request_id = p->reqid,
            .decode = pd_decode,
            .respond = pd_respond,
            .fail = pd_fail,
            .ud = p,
        };
        p->dx = sy_disagg_new(&h);
    }
    p->pd = true;
    p->hreq->on_peer_eof = gone_on_eof;
    unsigned flags = p->ntried > 1 ? SY_DISAGG_RETRY : 0; /* attempt() counted this pick */
    if (sy_flow_enabled(p->w->gw->flow))
        flags |= SY_DISAGG_GATED;
    sy_disagg_start(p->dx, &p->res, flags);
}

static void flow_refuse(struct proxy *p, enum sy_flow_verdict v);

static void attempt(struct proxy *p)
{
    /* decided and charged at once: the in-flight slot is reserved against the concurrency
     * bound the decision was made under (sched.h). A retry is strict: the endpoints left may all
     * be at their limit (the one with room may be the one that just failed), and it fails with
     * the original error rather than go over. */
    bool retry = p->ntried > 0;
    int rc = sy_sched_pick_charge(p->gen->sched, p->gen->pool, &p->req, p->tried, p->ntried,
                                  &p->res, &p->charge, retry);
    if (rc == SY_EADMISSION) { /* an admission plugin (latency-slo-admitter) denied it */
        flow_refuse(p, SY_FLOW_REJECT_ADMISSION);
        return;
    }
    if (rc == SY_EREJECTED) {
        fail_early(p, 429, "no_matching_profile",
                   "the request names no configured scheduling profile");
        return;
    }
    if (rc == SY_ESATURATED && retry) { /* no other endpoint has room: the failure stands */
        fail_early(p, 502, "upstream_unavailable",
                   "no model server could be reached for this request (the others are at their "
                   "concurrency limit)");
        return;
    }
    if (rc == SY_ESATURATED) { /* every decision's slot was taken by another worker */
        p->dropped = "rejected-saturated";
        fail_early(p, 429, "rejected-saturated", SY_SCHED_SATURATED_MSG);
        return;
    }
    if (rc != 0) {
        if (p->ntried > 0) {
            fail_early(p, 502, "upstream_unavailable",
                       "no model server could be reached for this request");
        } else if (!sy_pool_any_ready(p->gen->pool)) {
            p->dropped = "rejected-no-endpoints"; /* router: 503 when there is no endpoint */
            fail_early(p, 503, "no_ready_endpoints",
                       "no ready model server is available for this request");
        } else {
            p->dropped = "rejected-saturated"; /* router: filters drained the candidates */
            fail_early(p, 429, "rejected-saturated",
                       "no model server can take this request now (every candidate was filtered "
                       "out)");
        }
        return;
    }
    sy_flow_picked(p->w->gw->flow, &p->flow); /* the endpoint's in-flight counts it now */
    p->t_pick = sy_now_ns();
    p->have_res = true;
    p->tried[p->ntried++] = sy_endpoint_ref(p->res.ep);
    if (p->want_scores) {
        sy_buf_reset(&p->scores);
        sy_sched_explain(&p->res, &p->scores);
        /* header values must stay on one line */
        for (size_t i = 0; i < p->scores.len; i++)
            if (p->scores.data[i] == '\r' || p->scores.data[i] == '\n')
                p->scores.data[i] = ' ';
    }
    p->pd = false;
    /* Only generation APIs have a prefill phase; an embeddings request is served by the decode
     * pick alone. */
    if ((p->res.prefill_ep || p->res.prefill_missing) &&
        (p->req.kind == SY_API_COMPLETIONS || p->req.kind == SY_API_CHAT_COMPLETIONS ||
         p->req.kind == SY_API_RESPONSES)) {
        pd_start(p); /* continues in pd_decode / pd_respond / pd_fail */
        return;
    }
    uv_buf_t body[3];
    size_t nbody = priority_body(p, body);
    size_t len = 0;
    for (size_t i = 0; i < nbody; i++)
        len += body[i].len;
    send_upstream(p, body, nbody, len, "");
}

static void pretok_done(void *arg)
{
    attempt(arg);
}

static bool any_endpoint_serves(struct sy_pool *pool, const char *model)
{
    size_t len = strlen(model);
    for (size_t i = 0; i < pool->n; i++)
        if (sy_endpoint_serves(pool->eps[i], model, len))
            return true;
    return false;
}

/* A request admitted by flow control: the steps before scheduling (token ids from the model
 * server, a burst window), then the first attempt. */
static void schedule_first(struct proxy *p)
{
    if (sy_gw_pretok_start(p->w, p->gen, &p->req, pretok_done, p, &p->pt))
        return; /* pretok_done schedules once the token ids / burst window are in */
    attempt(p);
}

/* ---- flow control hook (src/flow): admission before scheduling ---- */

static void flow_refuse(struct proxy *p, enum sy_flow_verdict v)
{
    const char *reason = sy_flow_verdict_reason(v);
    p->dropped = *reason ? reason : NULL; /* llm-d sends none for an admission denial */
    fail_early(p, sy_flow_verdict_status(v), sy_flow_verdict_code(v), sy_flow_verdict_message(v));
}

/* enableEviction: the in-flight sheddable request is killed to make room (429 evicted before
 * the response began; afterwards the stream ends with an error event, as a broken upstream). */
static void flow_evict(struct proxy *p)
{
    p->npend = 0; /* (empty: pieces are pending only inside an upstream read) */
    if (p->up) {
        sy_upstream_cancel(p->up); /* closes the upstream connection: the server cancels */
        p->up = NULL;
    }
    if (!p->began) {
        flow_refuse(p, SY_FLOW_EVICTED);
        return;
    }
    attempt_end(p, false);
    if (p->hreq) {
        p->hreq->on_abort = NULL;
        p->hreq->on_drain = NULL;
        if (p->sse && p->chunked_out) {
            static const char ev[] = "data: {\"error\":{\"message\":\"request evicted by flow "
                                     "control to reclaim capacity\",\"type\":\"rate_limit_error\","
                                     "\"code\":\"evicted\"}}\n\n";
            sy_http_write(p->hreq, ev, sizeof ev - 1);
            sy_http_end(p->hreq, true);
        } else {
            sy_http_end(p->hreq, false);
        }
        p->hreq = NULL;
    }
    proxy_finish(p, "evicted");
}

/* Called on this worker's loop when the queued request leaves the queue (or, dispatched and
 * sheddable, is evicted). */
static void flow_verdict(void *ud, enum sy_flow_verdict v)
{
    struct proxy *p = ud;
    if (p->hreq)
        p->hreq->on_peer_eof = NULL; /* out of the queue: a half-close is served again */
    if (v == SY_FLOW_DISPATCH)
        schedule_first(p);
    else if (v == SY_FLOW_EVICTED)
        flow_evict(p);
    else
        flow_refuse(p, v);
}

static void flow_admit(struct proxy *p)
{
    struct sy_http_req *h = p->hreq;
    struct sy_flow_item *it = &p->flow;
    sy_flow_classify(p->w->gw->flow, it, h->header_names, h->header_values, h->nheaders);
    p->req.priority = it->priority; /* for latency-slo-admitter */
    if (p->req.slo_ttft_ms > 0)     /* the validated objective (latency/slo.h) sets the deadline */
        it->slo_ns = (uint64_t)(p->req.slo_ttft_ms * 1e6);
    it->bytes = h->body_len; /* the queued body is what a backlog holds */
    it->tokens = (int64_t)(h->body_len / 4) + (p->req.max_tokens > 0 ? p->req.max_tokens : 0);
    it->port = p->w->flow_port;
    it->cb = flow_verdict;
    it->ud = p;
    enum sy_flow_verdict v = sy_flow_admit(p->w->gw->flow, it);
    if (v == SY_FLOW_QUEUED)
        h->on_peer_eof = gone_on_eof; /* a client leaving the queue is noticed */
    if (v == SY_FLOW_DISPATCH)
        schedule_first(p);
    else if (v != SY_FLOW_QUEUED)
        flow_refuse(p, v);
}

/* ---- end of flow control hook ---- */

void sy_gw_proxy_handle(struct sy_gw_worker *w, struct sy_http_req *hreq, enum sy_api_kind kind)
{
    struct proxy *p = sy_xcalloc(1, sizeof *p);
    p->w = w;
    p->hreq = hreq;
    p->t0 = hreq->start_ns;
    p->status = 200;
    p->prompt_tokens = p->completion_tokens = p->cached_tokens = -1;
    sy_buf_init(&p->head);
    sy_buf_init(&p->scan);
    sy_usage_sse_init(&p->usse, &p->charge.dec, &p->prompt_tokens, &p->completion_tokens,
                      &p->cached_tokens);
    sy_buf_init(&p->scores);
    sy_buf_init(&p->fwd);
    atomic_fetch_add(&w->active, 1);
    p->next = w->proxies;
    if (p->next)
        p->next->prev = p;
    w->proxies = p;
    p->gen = sy_gw_gen_get(w->gw);
    hreq->data = p;
    hreq->on_abort = on_client_abort;
    hreq->on_drain = on_client_drain;

    struct sy_str v;
    if (sy_http_header(hreq, "x-request-id", &v) && v.len > 0 && v.len < sizeof p->reqid) {
        memcpy(p->reqid, v.p, v.len);
        p->reqid[v.len] = '\0';
        for (size_t i = 0; i < v.len; i++)
            if ((unsigned char)p->reqid[i] < 0x20)
                p->reqid[i] = '_';
    } else {
        gen_request_id(p->reqid);
    }
    p->want_scores =
        sy_http_header(hreq, "x-switchyard-debug", &v) && sy_str_case_eq_c(v, "scores");

    char err[256];
    int rc = kind == SY_API_OTHER /* passthrough-parser: the body is not read */
                 ? sy_request_passthrough(hreq->body, hreq->body_len, &p->req)
                 : sy_request_parse(kind, hreq->body, hreq->body_len, &p->req, err, sizeof err);
    sy_gw_metrics_running(w->gw->m, p->req.model, +1);
    if (rc != 0) {
        fail_early(p, 400, rc == SY_EPARSE ? "invalid_json" : "invalid_request", err);
        return;
    }
    if (sy_http_header(hreq, "x-session-token", &v))
        p->req.session_token = v;
    p->req.header_names = hreq->header_names; /* for plugins that read headers */
    p->req.header_values = hreq->header_values;
    p->req.nheaders = hreq->nheaders;
    p->req.request_id = sy_str_c(p->reqid);
    if (sy_slo_parse(&p->req, err, sizeof err) != 0) { /* x-slo-* headers (latency/slo.h) */
        fail_early(p, 400, "invalid_request", err);
        return;
    }
    if (p->req.model[0] && !any_endpoint_serves(p->gen->pool, p->req.model)) {
        char msg[400];
        snprintf(msg, sizeof msg, "The model `%s` does not exist.", p->req.model);
        fail_early(p, 404, "model_not_found", msg);
        return;
    }
    flow_admit(p);
}

void sy_gw_proxy_cut_all(struct sy_gw_worker *w)
{
    while (w->proxies) {
        struct proxy *p = w->proxies;
        p->npend = 0; /* (empty: pieces are pending only inside an upstream read) */
        if (p->up) {
            sy_upstream_cancel(p->up);
            p->up = NULL;
        }
        sy_warn("request %s: cut at the drain deadline", p->reqid);
        if (p->began)
            end_broken(p); /* frees p */
        else
            fail_early(p, 503, "shutting_down",
                       "the gateway is shutting down (timeouts.drain passed)"); /* frees p */
    }
}
