/* client.h - HTTP/1.1 upstream client with per-loop keep-alive connection pooling.
 *
 * Used by the gateway's proxy (forwarding to model servers) and by the scraper (GET /metrics).
 * A request is a list of buffers sent as is (the caller writes the request line and headers; the
 * body is borrowed, never copied). The response is parsed with llhttp and delivered as callbacks:
 * on_head once, on_body per decoded piece (chunked framing removed) as it arrives, on_done once.
 *
 * Errors are reported with where they happened, so the proxy knows whether it may retry:
 *   SY_ECONNECT   connect failed or timed out (nothing was sent)
 *   SY_ECLOSED    the connection failed before the request was completely written: the server
 *                 cannot have received it whole, so it is safe to send again
 *   SY_ETIMEDOUT  no complete response head within the response timeout (1xx interim responses
 *                 and trickled head bytes do not extend it)
 *   SY_EIO        anything else: the connection closed after the whole request was written (the
 *                 server may be generating it), broke after the head, went silent for longer
 *                 than the stream idle limit once the body streams, or sent a malformed response
 * With sy_upstream_send, a request that fails with SY_ECLOSED, or any failure before a response
 * byte on a reused idle connection (the keep-alive race), is resent once on a fresh connection
 * (for idempotent callers such as the scraper). sy_upstream_send_opts lets a caller forbid the
 * second case and count resends against its own retry budget.
 *
 * HTTPS (opts.tls): the TLS handshake is part of connecting (the connect timeout covers it, and
 * a failed handshake or certificate check is SY_ECONNECT: nothing was sent); TLS and plain
 * connections to the same key are pooled apart.
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
struct sy_tls_ctx; /* http/tls.h */

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
    /* Optional: the bytes of one read have been parsed. Every on_body of that read came before,
     * and the pointers they passed stay valid until this returns (a caller may gather them and
     * send them on with one write). Not called once the request was cancelled or finished;
     * on_done for that read's bytes comes after it. */
    void (*on_read_end)(void *ud);
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
struct sy_upstream_opts {
    uint64_t connect_timeout_ns;  /* connect deadline (0 = 2 s) */
    uint64_t response_timeout_ns; /* deadline for the whole response head (0 = 300 s) */
    uint64_t stream_idle_ns;      /* longest silence once the head arrived (0 = response timeout) */
    bool may_resend;              /* resend once on a fresh connection when SY_ECLOSED */
    bool strict;                  /* resend only when the request was not completely written */
    unsigned *resends;            /* incremented on each resend (may be NULL) */
    struct sy_tls_ctx *tls;       /* HTTPS with this client context (borrowed), or NULL */
    const char *server_name;      /* TLS: SNI and the name the certificate must carry */
};

/* sy_upstream_send with every option (see struct sy_upstream_opts). */
struct sy_upstream_req *sy_upstream_send_opts(struct sy_upstream_pool *p, const char *key,
                                              const struct sockaddr *addr, const uv_buf_t *bufs,
                                              size_t nbufs, const struct sy_upstream_opts *o,
                                              const struct sy_upstream_cbs *cbs, void *ud);
/* Changes the idle timeout of pooled connections (a reload). */
void sy_upstream_pool_set_idle_timeout(struct sy_upstream_pool *p, uint64_t idle_timeout_ns);
/* Aborts: closes the connection (the server sees the cancel); no callback follows. */
void sy_upstream_cancel(struct sy_upstream_req *r);
/* Backpressure: stop / resume reading the response. */
void sy_upstream_pause(struct sy_upstream_req *r);
void sy_upstream_resume(struct sy_upstream_req *r);
/* Idle connections currently pooled (tests). */
size_t sy_upstream_pool_idle(const struct sy_upstream_pool *p);

#endif
