/* tls.c - OpenSSL behind memory BIOs for the HTTP server (see tls.h).
 *
 *   socket --read--> sy_tls_feed: BIO_write(rbio) -> SSL_do_handshake / SSL_read loop
 *                                   -> plaintext to the HTTP parser
 *                                   -> BIO_read(wbio): handshake records to send
 *   handler --write--> sy_tls_encrypt: SSL_write -> BIO_read(wbio) -> socket
 *
 * Contexts allow TLS 1.2 and 1.3 only, no compression and no renegotiation (a client-initiated
 * renegotiation is a known CPU amplification), and keep OpenSSL's default cipher lists, which
 * exclude export, RC4 and NULL suites. SSL_MODE_RELEASE_BUFFERS lets an idle connection drop
 * its record buffers (34 KB each), which matters with thousands of idle streams.
 *
 * Rejected: SSL_set_fd with OpenSSL doing the socket I/O (it would fight libuv over readiness
 * and EAGAIN); kTLS (not in every kernel build, and the memory-BIO path is fast enough for
 * LLM streaming, where the tokens, not the bytes, are the cost).
 */
#include "http/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"

struct sy_tls_ctx {
    SSL_CTX *ctx; /* owned reference */
    _Atomic int refs;
};

struct sy_tls_conn {
    SSL *ssl;      /* owns rbio and wbio */
    BIO *rbio;     /* ciphertext from the peer, read by OpenSSL */
    BIO *wbio;     /* ciphertext for the peer, written by OpenSSL */
    char why[200]; /* the last failure, for logs */
};

/* The first queued OpenSSL error as text (and the queue cleared). */
static void ssl_err(char *err, size_t errcap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errcap, "%s: %s", what, buf);
    ERR_clear_error();
}

struct sy_tls_ctx *sy_tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
                                         size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(err, errcap, "TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
    char what[600];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(what, sizeof what, "certFile %s", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "keyFile %s", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "keyFile %s does not match certFile %s", key_file, cert_file);
        goto fail;
    }
    struct sy_tls_ctx *c = SY_NEW(struct sy_tls_ctx);
    c->ctx = ctx;
    atomic_init(&c->refs, 1);
    return c;
fail:
    ssl_err(err, errcap, what);
    SSL_CTX_free(ctx);
    return NULL;
}

struct sy_tls_ctx *sy_tls_client_ctx_new(const char *ca_file, bool verify, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_err(err, errcap, "TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (verify) {
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            char what[600];
            snprintf(what, sizeof what, "caFile %s", ca_file ? ca_file : "(system default)");
            ssl_err(err, errcap, what);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    struct sy_tls_ctx *c = SY_NEW(struct sy_tls_ctx);
    c->ctx = ctx;
    atomic_init(&c->refs, 1);
    return c;
}

struct sy_tls_ctx *sy_tls_ctx_ref(struct sy_tls_ctx *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void sy_tls_ctx_unref(struct sy_tls_ctx *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

struct sy_tls_conn *sy_tls_conn_new_server(struct sy_tls_ctx *ctx)
{
    struct sy_tls_conn *t = SY_NEW(struct sy_tls_conn);
    t->ssl = SSL_new(ctx->ctx); /* takes its own reference to the SSL_CTX */
    if (!t->ssl)
        abort(); /* out of memory */
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->rbio || !t->wbio)
        abort();
    BIO_set_mem_eof_return(t->rbio, -1); /* empty: "retry", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

struct sy_tls_conn *sy_tls_conn_new_client(struct sy_tls_ctx *ctx, const char *server_name)
{
    struct sy_tls_conn *t = sy_tls_conn_new_server(ctx);
    SSL_set_connect_state(t->ssl);
    if (server_name && *server_name) {
        struct in6_addr a6;
        struct in_addr a4;
        bool is_ip =
            inet_pton(AF_INET, server_name, &a4) == 1 || inet_pton(AF_INET6, server_name, &a6) == 1;
        if (!is_ip)
            SSL_set_tlsext_host_name(t->ssl, server_name); /* SNI carries names only */
        if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            if (is_ip)
                X509_VERIFY_PARAM_set1_ip_asc(vp, server_name);
            else
                X509_VERIFY_PARAM_set1_host(vp, server_name, 0);
        }
    }
    return t;
}

const char *sy_tls_error(const struct sy_tls_conn *t)
{
    return t->why[0] ? t->why : "TLS error";
}

void sy_tls_conn_free(struct sy_tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

bool sy_tls_established(const struct sy_tls_conn *t)
{
    return SSL_is_init_finished(t->ssl);
}

/* Moves what OpenSSL wrote for the peer into cipher. */
static void drain_wbio(struct sy_tls_conn *t, struct sy_buf *cipher)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
        sy_buf_reserve(cipher, pending);
        int n = BIO_read(t->wbio, cipher->data + cipher->len, (int)pending);
        if (n <= 0)
            break;
        cipher->len += (size_t)n;
    }
}

int sy_tls_feed(struct sy_tls_conn *t, const char *in, size_t n, struct sy_buf *plain,
                struct sy_buf *cipher)
{
    while (n > 0) {
        int w = BIO_write(t->rbio, in, n > (1u << 30) ? (1 << 30) : (int)n);
        if (w <= 0)
            return SY_EIO;
        in += w;
        n -= (size_t)w;
    }
    int rc = 0;
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                rc = SY_EIO;
                long v = SSL_get_verify_result(t->ssl);
                unsigned long q = ERR_peek_error();
                if (v != X509_V_OK)
                    snprintf(t->why, sizeof t->why, "certificate verify failed: %s",
                             X509_verify_cert_error_string(v));
                else if (q)
                    ERR_error_string_n(q, t->why, sizeof t->why);
                else
                    snprintf(t->why, sizeof t->why, "handshake failed");
            }
        }
    }
    if (rc == 0 && SSL_is_init_finished(t->ssl)) {
        for (;;) {
            sy_buf_reserve(plain, 16384);
            int r = SSL_read(t->ssl, plain->data + plain->len, 16384);
            if (r > 0) {
                plain->len += (size_t)r;
                continue;
            }
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN)
                break; /* close_notify: the TCP EOF that follows ends the connection */
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                rc = SY_EIO;
            break;
        }
        if (plain->data)
            plain->data[plain->len] = '\0';
    }
    drain_wbio(t, cipher);
    ERR_clear_error();
    return rc;
}

int sy_tls_encrypt(struct sy_tls_conn *t, const uv_buf_t *bufs, unsigned nbufs,
                   struct sy_buf *cipher)
{
    for (unsigned i = 0; i < nbufs; i++) {
        const char *p = bufs[i].base;
        size_t left = bufs[i].len;
        while (left > 0) {
            int r = SSL_write(t->ssl, p, left > (1u << 30) ? (1 << 30) : (int)left);
            if (r <= 0) {
                ERR_clear_error();
                return SY_EIO; /* memory BIOs never block: a real error */
            }
            p += r;
            left -= (size_t)r;
            drain_wbio(t, cipher);
        }
    }
    drain_wbio(t, cipher);
    return 0;
}
