/* tls.h - TLS for the HTTP server's connections (OpenSSL), driven through memory BIOs.
 *
 * The event loop owns the sockets; OpenSSL never touches them. A connection feeds the ciphertext
 * it read into sy_tls_feed and gets plaintext plus any ciphertext to send back (handshake
 * records); plaintext to send goes through sy_tls_encrypt. A context is reference-counted: a
 * reload builds a new one and gives it to the listener for new connections, while existing
 * connections keep theirs (each SSL holds a reference to its SSL_CTX), so a certificate change
 * drops no connection.
 *
 * Threading: a context may be shared by several loops (OpenSSL's SSL_CTX is thread-safe for
 * this use); a connection belongs to one loop.
 */
#ifndef SY_HTTP_TLS_H
#define SY_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/buf.h"

struct sy_tls_ctx;  /* wraps an SSL_CTX */
struct sy_tls_conn; /* wraps an SSL with its two memory BIOs */

/* A server context from PEM files: the certificate chain and its private key, TLS 1.2 and up.
 * Returns NULL with "what: reason" in err (file unreadable, key not matching, ...). */
struct sy_tls_ctx *sy_tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
                                         size_t errcap);
/* A client context (upstream HTTPS): TLS 1.2 and up, peers verified against ca_file (PEM), or
 * the system's default trust store when ca_file is NULL; verify=false skips verification (for
 * tests and private networks; logged by the caller). Returns NULL with a reason in err. */
struct sy_tls_ctx *sy_tls_client_ctx_new(const char *ca_file, bool verify, char *err,
                                         size_t errcap);
struct sy_tls_ctx *sy_tls_ctx_ref(struct sy_tls_ctx *c);
void sy_tls_ctx_unref(struct sy_tls_ctx *c); /* NULL is a no-op */

/* A server-side connection on ctx (takes its own reference). Never NULL. */
struct sy_tls_conn *sy_tls_conn_new_server(struct sy_tls_ctx *ctx);
/* A client-side connection: server_name is sent as SNI (when it is a DNS name) and the peer's
 * certificate must match it (DNS name or IP address) when the context verifies. */
struct sy_tls_conn *sy_tls_conn_new_client(struct sy_tls_ctx *ctx, const char *server_name);
void sy_tls_conn_free(struct sy_tls_conn *t); /* NULL is a no-op */
/* Why the last sy_tls_feed failed (certificate verification or the protocol error), for logs. */
const char *sy_tls_error(const struct sy_tls_conn *t);

/* Feeds n bytes read from the socket. Appends decrypted application data to plain and bytes to
 * send to the peer (handshake, alerts) to cipher. Returns 0, or SY_EIO when the peer broke the
 * protocol (the connection must be closed after sending cipher). */
int sy_tls_feed(struct sy_tls_conn *t, const char *in, size_t n, struct sy_buf *plain,
                struct sy_buf *cipher);
/* Encrypts bufs (application data) into cipher. Returns 0 or SY_EIO. */
int sy_tls_encrypt(struct sy_tls_conn *t, const uv_buf_t *bufs, unsigned nbufs,
                   struct sy_buf *cipher);
/* Whether the handshake has completed. */
bool sy_tls_established(const struct sy_tls_conn *t);

#endif
