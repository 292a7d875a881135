/* server.h - HTTP/1.1 server on a libuv loop (llhttp parser), shared by the gateway, the
 * simulator and the admin listener.
 *
 * The server reads one request at a time per connection (pipelined requests wait), buffers its
 * body up to max_body_bytes (a larger Content-Length is refused with 413 before the body is read;
 * a chunked body that grows past the limit likewise), then calls the handler once with a complete
 * request. The handler answers either at once (sy_http_respond) or later and incrementally
 * (sy_http_begin / sy_http_write / sy_http_end), e.g. from upstream callbacks or timers.
 * Keep-alive is honoured; the connection reads the next request after sy_http_end.
 *
 * If the client goes away before the response ends, the request's on_abort callback (if the
 * handler set one) is called exactly once; after that the handler must not touch the request
 * again, and it still owns no memory of it: the server frees the request after on_abort returns.
 *
 * Hostile clients: a request head and body each have a deadline for the whole (a client
 * trickling bytes is answered 408), a client that stops reading is closed after send_timeout, a
 * connection stops being parsed while its queued output is above a high-water mark (pipelined
 * requests never pile up responses), and a client that half-closes after its request is still
 * answered. Accepting pauses when the process is out of descriptors or max_conns is reached and
 * resumes when a connection closes (or after a short retry delay).
 *
 * Threading: a server and its connections belong to the loop they were started on.
 */
#ifndef SY_HTTP_SERVER_H
#define SY_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/str.h"

#define SY_HTTP_MAX_HEADERS 64 /* request headers kept; more is 431 */

struct sy_http_server;
struct sy_http_req;
struct sy_tls_ctx; /* http/tls.h */

typedef void sy_http_handler_fn(void *ud, struct sy_http_req *req);
typedef void sy_http_abort_fn(struct sy_http_req *req); /* client went away mid-response */
/* The client shut down its write side while its request is in flight: true = take it as gone
 * (the connection closes and on_abort runs), false = keep serving it (a half-close). */
typedef bool sy_http_eof_fn(struct sy_http_req *req);
typedef void sy_http_drain_fn(struct sy_http_req *req); /* write queue drained below low mark */

struct sy_http_req {
    struct sy_str method;                            /* "GET", "POST", ... */
    struct sy_str path;                              /* URL path without the query */
    struct sy_str query;                             /* after '?', or empty */
    struct sy_str url;                               /* path + query as received */
    size_t nheaders;                                 /* header count */
    struct sy_str header_names[SY_HTTP_MAX_HEADERS]; /* views, valid until the request ends */
    struct sy_str header_values[SY_HTTP_MAX_HEADERS];
    const char *body;            /* complete body (NUL-terminated for convenience); may be "" */
    size_t body_len;             /* its length */
    uint64_t start_ns;           /* monotonic time the request line arrived */
    bool keep_alive;             /* client wants keep-alive */
    struct sy_str peer;          /* client "ip:port" */
    void *data;                  /* handler's per-request pointer */
    sy_http_abort_fn *on_abort;  /* set by the handler to learn of a client disconnect */
    sy_http_eof_fn *on_peer_eof; /* optional: decides what a half-close means (default: serve) */
    sy_http_drain_fn *on_drain;  /* set by the handler to resume after backpressure */
    struct sy_http_conn *conn;   /* private: owning connection */
};

/* May write the JSON body of an error the server answers by itself (408, 413, 414, 431, 400:
 * before any handler runs) for a request to path (may be empty when the URL was not read yet).
 * Returns false to leave it to the default (sy_http_respond_error's OpenAI shape, with a string
 * code: request_timeout, request_too_large, uri_too_long, request_header_fields_too_large,
 * bad_request). */
struct sy_buf;
typedef bool sy_http_error_body_fn(void *ud, struct sy_str path, int status, const char *message,
                                   struct sy_buf *out);

struct sy_http_server_opts {
    uint64_t max_body_bytes;     /* bodies larger than this get 413 (default 32 MiB) */
    uint64_t idle_timeout_ns;    /* close an idle keep-alive connection after this (default 60 s) */
    bool reuseport;              /* bind with SO_REUSEPORT (one listener per worker thread) */
    size_t keep_body_bytes;      /* a connection keeps a body buffer up to this size between
                                    requests; larger ones go back to the server (default 16 KiB) */
    uint64_t header_timeout_ns;  /* a request head must arrive whole within this from its first
                                    byte, else 408 and close (default 30 s) */
    uint64_t body_timeout_ns;    /* a request body must arrive whole within this from the end of
                                    its head, else 408 and close (default 120 s) */
    uint64_t send_timeout_ns;    /* a client that takes no queued response byte for this long is
                                    closed, which aborts its request (default 60 s) */
    size_t max_conns;            /* open connections at most; accepting pauses above (0 = none) */
    struct sy_tls_ctx *tls;      /* serve TLS with this context (borrowed; the server takes a
                                    reference), or NULL for plain HTTP */
    sy_http_handler_fn *handler; /* called once per complete request */
    sy_http_error_body_fn *error_body; /* optional: those errors' bodies per route (NULL: the
                                          OpenAI shape of sy_http_respond_error) */
    void *ud;                          /* passed to handler */
};

/* Binds host:port on loop and starts accepting. port 0 picks an ephemeral port (see
 * sy_http_server_port). Returns 0 or a negative SY_E* / libuv code with a message in err. */
int sy_http_server_start(uv_loop_t *loop, const char *host, uint16_t port,
                         const struct sy_http_server_opts *opts, struct sy_http_server **out,
                         char *err, size_t errcap);
uint16_t sy_http_server_port(const struct sy_http_server *s);
/* Serves an already-connected stream socket (tests and fuzzing use one end of a socketpair).
 * The server owns fd afterwards. Returns 0 or a negative SY_E* code. */
int sy_http_server_adopt(struct sy_http_server *s, uv_os_sock_t fd);
/* Stops accepting (connections in progress continue). */
void sy_http_server_stop_accepting(struct sy_http_server *s);
/* Drain: stops accepting, closes idle keep-alive connections, and answers every request still
 * to come on an open connection with `Connection: close`, closing it after the response. */
void sy_http_server_drain(struct sy_http_server *s);
/* Applies new limits (max_body_bytes, the timeouts, max_conns; zero keeps the default) to new
 * requests; handler, ud and reuseport are ignored. Call on the server's loop thread. */
void sy_http_server_set_limits(struct sy_http_server *s, const struct sy_http_server_opts *o);
/* Replaces the TLS context for connections accepted from now on (existing ones keep theirs, so
 * a certificate reload drops nothing). NULL is ignored: a listener does not switch between TLS
 * and plain HTTP. Call on the server's loop thread. */
void sy_http_server_set_tls(struct sy_http_server *s, struct sy_tls_ctx *tls);
/* Connections currently open, and whether accepting is paused (EMFILE or max_conns). */
size_t sy_http_server_open_conns(const struct sy_http_server *s);
/* Number of requests currently being handled (for draining). */
size_t sy_http_server_active(const struct sy_http_server *s);
/* Bytes allocated for request bodies: every connection's buffer plus the server's spare (see
 * keep_body_bytes). Call on the server's loop thread. */
size_t sy_http_server_body_bytes(const struct sy_http_server *s);
/* Closes everything; the server is freed once its handles have closed. */
void sy_http_server_close(struct sy_http_server *s);

/* Looks up a request header (case-insensitive); false when absent. */
bool sy_http_header(const struct sy_http_req *req, const char *name, struct sy_str *value);

/* A complete response. extra_headers is zero or more "Name: value\r\n" lines (may be NULL). The
 * request ends when this returns. */
void sy_http_respond(struct sy_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);
/* An OpenAI-style error: {"error":{"message","type","code"}} with the given status. */
void sy_http_respond_error(struct sy_http_req *req, int status, const char *type, const char *code,
                           const char *message, const char *extra_headers);
/* The OpenAI error "type" for a status: invalid_request_error (400, 404, 413),
 * rate_limit_error (429), else server_error. */
const char *sy_http_error_type(int status);

/* Incremental response. head_lines holds the header lines after the status line (each ending
 * "\r\n", without the final blank line). If content_length < 0 the body is sent chunked. */
void sy_http_begin(struct sy_http_req *req, int status, const char *head_lines,
                   int64_t content_length);
/* Queues body bytes (copied). Returns the bytes now queued for the client, so callers can apply
 * backpressure (pause the producer above a high mark, resume from on_drain). */
size_t sy_http_write(struct sy_http_req *req, const void *data, size_t len);
/* Like sy_http_write for n pieces (n <= SY_HTTP_MAX_WRITEV): a chunked response sends them as
 * one chunk in one write. Borrows the pieces; returns the bytes queued (as sy_http_write). */
#define SY_HTTP_MAX_WRITEV 16
size_t sy_http_writev(struct sy_http_req *req, const uv_buf_t *bufs, unsigned n);
/* Ends the response (chunked: writes the last chunk). ok=false closes the connection after what
 * was queued, for a response that broke part-way. The request ends here. */
void sy_http_end(struct sy_http_req *req, bool ok);
/* Bytes queued but not yet written to the client. */
size_t sy_http_queued(const struct sy_http_req *req);

const char *sy_http_status_text(int status);

#endif
