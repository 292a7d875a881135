/* client.h - HTTP/1.1 upstream client with per-loop keep-alive connection pooling.
 *
 * Used by the gateway's proxy (forwarding to model servers) and by the scraper (GET /metrics).
 * A request is a list of buffers sent as is (the caller writes the request line and headers; the
 * body is borrowed, never copied). The response is parsed with llhttp and delivered as callbacks:
 * on_head once, on_body per decoded piece (chunked framing removed) as it arrives, on_done once.
 *
 * Errors are reported with where they happened, so the proxy knows whether it may retry:
 *   SY_ECONNECT   connect failed or timed out (nothing was sent)
 *   SY_ECLOSED    the connection failed before any response byte arrived (the request may or may
 *                 not have reached the server; safe to retry elsewhere for our idempotent use)
 *   SY_ETIMEDOUT  no response data within the response timeout
 *   SY_EIO        the connection broke or the response was malformed after the head arrived
 * A request sent on a reused idle connection that fails before any response byte is retried once
 * on a fresh connection internally (the keep-alive race), invisible to the caller.
 *
 * Threading: a pool belongs to one loop; never share across threads.
 */
#ifndef SY_HTTP_CLIENT_H
#define SY_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/str.h"

#define SY_CLIENT_MAX_HEADERS 64 /* response headers kept */

struct sy_upstream_pool;
struct sy_upstream_req;

struct sy_upstream_head {
    int status;                                 /* HTTP status */
    size_t nheaders;                            /* header count */
    struct sy_str names[SY_CLIENT_MAX_HEADERS]; /* views valid during on_head only */
    struct sy_str values[SY_CLIENT_MAX_HEADERS];
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
};

struct sy_upstream_cbs {
    void (*on_head)(void *ud, const struct sy_upstream_head *h);
    void (*on_body)(void *ud, const char *p, size_t n);
    /* err = 0 when the response completed; the request is freed after this returns. */
    void (*on_done)(void *ud, int err);
};

struct sy_upstream_pool *sy_upstream_pool_new(uv_loop_t *loop, uint64_t idle_timeout_ns,
                                              size_t max_idle_per_key);
/* Closes idle connections and frees the pool once in-flight requests are gone (they are
 * cancelled). */
void sy_upstream_pool_free(struct sy_upstream_pool *p);

/* Sends bufs (borrowed until on_done or cancel) to addr. key identifies the endpoint for pooling
 * (e.g. "host:port"). Returns the request handle; callbacks come later, never from inside this
 * call. */
struct sy_upstream_req *sy_upstream_send(struct sy_upstream_pool *p, const char *key,
                                         const struct sockaddr *addr, const uv_buf_t *bufs,
                                         size_t nbufs, uint64_t connect_timeout_ns,
                                         uint64_t response_timeout_ns,
                                         const struct sy_upstream_cbs *cbs, void *ud);
/* Aborts: closes the connection (the server sees the cancel); no callback follows. */
void sy_upstream_cancel(struct sy_upstream_req *r);
/* Backpressure: stop / resume reading the response. */
void sy_upstream_pause(struct sy_upstream_req *r);
void sy_upstream_resume(struct sy_upstream_req *r);
/* Idle connections currently pooled (tests). */
size_t sy_upstream_pool_idle(const struct sy_upstream_pool *p);

#endif
