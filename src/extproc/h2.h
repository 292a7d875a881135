/* h2.h - a gRPC server over HTTP/2 on a libuv loop: nghttp2 for the protocol, OpenSSL (ALPN h2)
 * or cleartext h2c for the transport, gRPC message framing by hand.
 *
 *   TCP --(TLS: memory BIOs, SSL_read/SSL_write)--> nghttp2_session_mem_recv
 *     HEADERS(:path)       -> on_open(path): 0 accepts the call, else a gRPC status (trailers-only)
 *     DATA                 -> 5-byte gRPC frames reassembled -> on_message(bytes)
 *     END_STREAM           -> on_half_close
 *     RST_STREAM / conn EOF-> on_close(reset = true)   (every open call gets exactly one on_close)
 *   sy_h2_send: queues one gRPC message (response headers go out with the first one)
 *   sy_h2_finish: grpc-status / grpc-message trailers; the call ends when both sides are done
 *
 * Everything runs on the loop that owns the server; callbacks run inside the read callback and
 * output is flushed when it returns. Compressed messages (flag 1) are refused with UNIMPLEMENTED,
 * messages above max_message with RESOURCE_EXHAUSTED. Flow control is nghttp2's: the receive
 * window is opened as bytes are consumed, sends wait for the peer's window.
 */
#ifndef SY_EXTPROC_H2_H
#define SY_EXTPROC_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sy_h2_server;
struct sy_h2_call;
typedef struct ssl_ctx_st SSL_CTX;

/* gRPC status codes used here */
enum {
    SY_GRPC_OK = 0,
    SY_GRPC_INVALID_ARGUMENT = 3,
    SY_GRPC_NOT_FOUND = 5,
    SY_GRPC_RESOURCE_EXHAUSTED = 8,
    SY_GRPC_UNIMPLEMENTED = 12,
    SY_GRPC_INTERNAL = 13,
    SY_GRPC_UNAVAILABLE = 14,
};

struct sy_h2_handler {
    /* A new call to path. Return 0 to accept (set *call_ud), or a gRPC status to refuse it. */
    int (*on_open)(void *ud, struct sy_h2_call *c, const char *path, void **call_ud);
    void (*on_message)(void *call_ud, struct sy_h2_call *c, const uint8_t *msg, size_t len);
    void (*on_half_close)(void *call_ud, struct sy_h2_call *c);
    /* The call is gone; c must not be used after this. reset: it ended before both sides
     * finished (RST_STREAM, connection lost, protocol error). */
    void (*on_close)(void *call_ud, struct sy_h2_call *c, bool reset);
    void *ud;
};

struct sy_h2_opts {
    SSL_CTX *tls;       /* NULL = h2c (prior knowledge); else TLS with ALPN h2 */
    bool reuseport;     /* SO_REUSEPORT (one listener per worker loop) */
    size_t max_message; /* largest gRPC message accepted */
    struct sy_h2_handler handler;
};

int sy_h2_server_start(uv_loop_t *loop, const char *host, uint16_t port, const struct sy_h2_opts *o,
                       struct sy_h2_server **out, char *err, size_t errcap);
uint16_t sy_h2_server_port(const struct sy_h2_server *s);
/* Stops accepting; open connections go on. */
void sy_h2_server_stop_accepting(struct sy_h2_server *s);
/* Closes everything (open calls get on_close(reset)); frees the server when handles close. */
void sy_h2_server_close(struct sy_h2_server *s);

/* Queues one gRPC message on the call (ignored after sy_h2_finish). */
void sy_h2_send(struct sy_h2_call *c, const void *msg, size_t len);
/* Ends the call with grpc-status (and grpc-message when msg is not NULL). */
void sy_h2_finish(struct sy_h2_call *c, int grpc_status, const char *msg);
/* Bytes queued on the call and not yet handed to nghttp2 (for back-pressure decisions). */
size_t sy_h2_pending(const struct sy_h2_call *c);

/* TLS context for a server: cert/key PEM files, or a fresh self-signed P-256 pair when both are
 * NULL (as llm-d's EPP does without a certificate). ALPN offers h2 only. NULL with err. */
SSL_CTX *sy_h2_tls_ctx(const char *cert_file, const char *key_file, char *err, size_t errcap);
void sy_h2_tls_ctx_free(SSL_CTX *ctx);

#endif
