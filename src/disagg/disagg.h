/* disagg.h - the P/D exchange inside the gateway: one client request served by a prefill leg and
 * a decode leg on two endpoints, with llm-d's wire protocols (connectors: nixlv2, sglang,
 * sidecar). The front end (src/gateway/proxy.c) owns the client and the decode leg; this module
 * owns the prefill leg, decides what the decode leg carries, and rewrites the decode response.
 *
 *   proxy: pick (decode + prefill) --sy_disagg_start--> prefill leg (nixlv2: wait for the answer;
 *          sglang: concurrent; sidecar: none) --host.decode--> proxy sends the decode leg with
 *          sy_disagg_decode_body/_headers, streams its answer through sy_disagg_filter.
 *   a prefill leg goes out as the decode leg does (sy_upstream_send_opts, strict): HTTPS when
 *          pool.tls is set, and a resend on a fresh connection only when the engine cannot have
 *          had the whole request (counted against prefillMaxAttempts); a reused keep-alive
 *          connection that fails after the request was written is a failed leg (logged,
 *          counted, repicked on another prefill endpoint), never a silent second send.
 *   failures: prefill refused/reset/timeout/5xx -> another prefill endpoint (bounded), then the
 *          configured fallback (decode-only, counted, logged, marked) or host.fail (502/504);
 *          prefill 4xx -> host.respond with the prefill's own answer; an answer without
 *          kv_transfer_params -> fallback or 502; no ready prefill endpoint at all
 *          (res->prefill_missing) -> fallback or 503; no prefill endpoint with room under its
 *          concurrency limit for a first leg -> fallback (prefill_saturated) or 429 (a decode
 *          retry: 502).
 *
 * Threading: an exchange lives on its worker's loop; nothing here is shared between threads
 * except the metric families.
 */
#ifndef SY_DISAGG_DISAGG_H
#define SY_DISAGG_DISAGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/request.h"
#include "config/config.h"
#include "core/buf.h"
#include "http/client.h"
#include "metrics/metrics.h"
#include "sched/sched.h"

struct sy_disagg;
struct sy_disagg_metrics;

/* What the front end lends an exchange (everything borrowed until sy_disagg_free). */
struct sy_disagg_host {
    struct sy_upstream_pool *upstreams; /* the worker's keep-alive pool */
    const struct sy_pool *pool;         /* pool.tls for HTTPS prefill legs (NULL: plain HTTP) */
    const struct sy_config *cfg;        /* timeouts and pool.disaggregation */
    struct sy_scheduler *sched;         /* for prefill repicks */
    struct sy_disagg_metrics *metrics;  /* may be NULL */
    const struct sy_request *req;       /* parsed request (body, kind) */
    struct sy_str method, url;          /* request line */
    const char *fwd_headers;            /* client header lines to forward ("N: v\r\n"...) */
    const char *request_id;             /* x-request-id of both legs */
    void (*decode)(void *ud);           /* the decode leg may start now */
    /* Answer the client with the prefill's own answer (a 4xx): status, header lines, body. */
    void (*respond)(void *ud, int status, const char *head_lines, const char *body, size_t len);
    void (*fail)(void *ud, int status, const char *code, const char *msg); /* gateway error */
    void *ud;                                                              /* for the above */
};

struct sy_disagg *sy_disagg_new(const struct sy_disagg_host *h);
/* Cancels a nixlv2 prefill leg in flight (the client left: decode never starts) and releases its
 * in-flight count. An sglang prefill leg is left to finish on its own (llm-d does not abort it);
 * the exchange frees itself when it ends. */
void sy_disagg_free(struct sy_disagg *dx);
/* sy_disagg_start flags. GATED: the flow-control gate admitted the request (the gate is the
 * bound: a first leg is held to the prefill filter's caps and fails open where the filter did, as
 * a decode pick). RETRY: the request's decode leg failed and this is its retry (strict, and a leg
 * with no room ends in the failure, 502 upstream_unavailable, never 429). */
#define SY_DISAGG_GATED 1u
#define SY_DISAGG_RETRY 2u
/* Starts an exchange for res (res->prefill_ep set; res stays valid until the next start or
 * free). Exactly one callback follows, possibly from inside this call. */
void sy_disagg_start(struct sy_disagg *dx, struct sy_sched_result *res, unsigned flags);
/* The decode leg's body: fills bufs (at most cap) and *len; valid until the next start/free. */
size_t sy_disagg_decode_body(struct sy_disagg *dx, uv_buf_t *bufs, size_t cap, size_t *len);
/* Extra header lines for the decode leg ("" when none). */
const char *sy_disagg_decode_headers(const struct sy_disagg *dx);
/* Header lines for the client's response: x-gateway-prefill-endpoint, and
 * x-switchyard-pd-fallback: REASON when the exchange fell back to decode-only. */
void sy_disagg_response_headers(const struct sy_disagg *dx, struct sy_buf *out);

/* Decode response filter: kv_transfer_params removed, usage.prompt_tokens_details.cached_tokens
 * set to the prefill's value. SSE is rewritten line by line as it streams; a JSON body is held
 * until filter_end. emit receives what the client gets. */
typedef void sy_disagg_emit_fn(void *ud, const char *data, size_t n);
void sy_disagg_filter(struct sy_disagg *dx, bool sse, const char *data, size_t n,
                      sy_disagg_emit_fn *emit, void *ud);
void sy_disagg_filter_end(struct sy_disagg *dx, bool sse, sy_disagg_emit_fn *emit, void *ud);
/* Observers of the decode leg (metrics: KV hand-over and decode leg time). */
void sy_disagg_decode_sent(struct sy_disagg *dx);
void sy_disagg_decode_first_byte(struct sy_disagg *dx);
void sy_disagg_decode_done(struct sy_disagg *dx, bool ok);

/* Metric families on reg (NULL-safe); free with sy_disagg_metrics_free after the workers. */
struct sy_disagg_metrics *sy_disagg_metrics_new(struct sy_metrics *reg);
void sy_disagg_metrics_free(struct sy_disagg_metrics *m);

/* Rewrites one decode response object (JSON text) for the client into out: drops
 * kv_transfer_params, sets usage.prompt_tokens_details.cached_tokens = cached (cached < 0:
 * unknown, left alone). Returns false when nothing needed changing (out untouched). */
bool sy_disagg_rewrite_object(const char *obj, size_t len, long long cached, struct sy_buf *out);

#endif
