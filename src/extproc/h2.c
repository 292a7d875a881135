/* h2.c - gRPC over HTTP/2 (nghttp2) on libuv, h2c or TLS (see h2.h).
 *
 * Ownership: the server owns its connections (list), a connection owns its calls (list) and its
 * nghttp2 session and SSL. A call is freed when nghttp2 closes its stream or the connection goes;
 * either way the handler's on_close runs once first (for calls it accepted). The connection is
 * closed only from the read callback or the flusher, after nghttp2 has returned, never from
 * inside nghttp2.
 *
 * Output: sy_h2_send / sy_h2_finish only queue frames in nghttp2. The read callback hands them to
 * the socket when it returns; a call answered from anywhere else (a flow-control verdict posted to
 * the worker's loop, a tokenizer reply, a timer) marks its connection dirty and starts the
 * server's flusher, a uv_prepare that runs before the loop next blocks and flushes the dirty
 * connections. Without it such an answer waited for the client's next frame, and a client that
 * was waiting for it (nothing else to send) never got it.
 */
#include "extproc/h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/uvutil.h"

#define READ_CAP (64u << 10)

struct conn;

struct sy_h2_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_closed;
    bool closing;
    struct sy_h2_opts o;
    struct conn *conns;   /* open connections (doubly linked) */
    size_t handles;       /* open uv handles (listener, flusher, connections) */
    uv_prepare_t flusher; /* flushes dirty connections before the loop blocks */
    bool flusher_on;      /* started (some connection is dirty) */
    uint16_t port;
    char rbuf[READ_CAP]; /* read buffer: libuv reads one stream at a time per loop */
};

struct conn {
    struct sy_h2_server *srv;
    uv_tcp_t tcp;
    nghttp2_session *ng;
    SSL *ssl;  /* NULL for h2c */
    BIO *rbio; /* owned by ssl */
    BIO *wbio; /* owned by ssl */
    bool closing;
    bool dirty; /* frames queued outside the read callback, not yet flushed */
    struct sy_h2_call *calls;
    struct conn *prev, *next;
};

static void mark_dirty(struct conn *c);

struct sy_h2_call {
    struct conn *c;
    int32_t id;
    char path[256];
    bool path_long;     /* :path did not fit */
    bool grpc_ct;       /* content-type application/grpc* */
    bool opened;        /* the handler accepted it */
    bool notified;      /* on_close ran */
    bool headers_sent;  /* response HEADERS submitted */
    bool finished;      /* sy_h2_finish ran */
    bool trailers_sent; /* trailers submitted */
    bool remote_ended;  /* the client sent END_STREAM */
    int status;         /* grpc-status for the trailers */
    char msg[200];      /* grpc-message ("" = none) */
    struct sy_buf in;   /* incoming gRPC frames not yet complete */
    struct sy_buf out;  /* outgoing frames not yet handed to nghttp2 */
    size_t out_off;     /* consumed prefix of out */
    void *ud;           /* handler's call state */
    struct sy_h2_call *prev, *next;
};

/* ---- calls ---- */

static void call_unlink_free(struct sy_h2_call *k)
{
    struct conn *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    sy_buf_fini(&k->in);
    sy_buf_fini(&k->out);
    free(k);
}

static void call_notify_close(struct sy_h2_call *k, bool reset)
{
    if (k->opened && !k->notified) {
        k->notified = true;
        k->c->srv->o.handler.on_close(k->ud, k, reset);
    }
}

size_t sy_h2_pending(const struct sy_h2_call *k)
{
    return k->out.len - k->out_off;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ud;
    struct sy_h2_call *k = src->ptr;
    size_t avail = k->out.len - k->out_off;
    size_t n = avail < len ? avail : len;
    if (n) {
        memcpy(buf, k->out.data + k->out_off, n);
        k->out_off += n;
        if (k->out_off == k->out.len) {
            sy_buf_reset(&k->out);
            k->out_off = 0;
        }
    }
    if (k->out.len - k->out_off == 0 && k->finished && !k->trailers_sent) {
        char st[16];
        snprintf(st, sizeof st, "%d", k->status);
        nghttp2_nv nv[2] = {
            {(uint8_t *)"grpc-status", (uint8_t *)st, 11, strlen(st), NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"grpc-message", (uint8_t *)k->msg, 12, strlen(k->msg),
             NGHTTP2_NV_FLAG_NONE},
        };
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        k->trailers_sent = true;
        if (nghttp2_submit_trailer(ng, id, nv, k->msg[0] ? 2 : 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return (ssize_t)n;
    }
    if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

void sy_h2_send(struct sy_h2_call *k, const void *msg, size_t len)
{
    if (k->finished || k->c->closing)
        return;
    uint8_t hdr[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    sy_buf_append(&k->out, hdr, 5);
    sy_buf_append(&k->out, msg, len);
    if (!k->headers_sent) {
        nghttp2_nv nv[2] = {NV(":status", "200"), NV("content-type", "application/grpc")};
        nghttp2_data_provider prd = {.source.ptr = k, .read_callback = data_read};
        k->headers_sent = true;
        nghttp2_submit_response(k->c->ng, k->id, nv, 2, &prd);
    } else {
        nghttp2_session_resume_data(k->c->ng, k->id);
    }
    mark_dirty(k->c);
}

void sy_h2_finish(struct sy_h2_call *k, int grpc_status, const char *msg)
{
    if (k->finished || k->c->closing)
        return;
    k->finished = true;
    k->status = grpc_status;
    snprintf(k->msg, sizeof k->msg, "%s", msg ? msg : "");
    for (char *p = k->msg; *p; p++) /* grpc-message must stay printable ASCII */
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '%')
            *p = '_';
    if (!k->headers_sent) { /* trailers-only response */
        char st[16];
        snprintf(st, sizeof st, "%d", grpc_status);
        nghttp2_nv nv[4] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                            NV("grpc-status", st), NV("grpc-message", k->msg)};
        k->headers_sent = k->trailers_sent = true;
        nghttp2_submit_response(k->c->ng, k->id, nv, k->msg[0] ? 4 : 3, NULL);
    } else {
        nghttp2_session_resume_data(k->c->ng, k->id);
    }
    mark_dirty(k->c);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct sy_h2_call *k = sy_xcalloc(1, sizeof *k);
    k->c = c;
    k->id = f->hd.stream_id;
    sy_buf_init(&k->in);
    sy_buf_init(&k->out);
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    nghttp2_session_set_stream_user_data(ng, k->id, k);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct sy_h2_call *k = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!k)
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen >= sizeof k->path) {
            k->path_long = true;
        } else {
            memcpy(k->path, value, valuelen);
            k->path[valuelen] = '\0';
        }
    } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
        k->grpc_ct = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0;
    }
    return 0;
}

static void half_close(struct sy_h2_call *k)
{
    if (k->remote_ended)
        return;
    k->remote_ended = true;
    if (!k->opened || k->finished)
        return;
    if (k->in.len) {
        sy_h2_finish(k, SY_GRPC_INTERNAL, "stream ended inside a gRPC message");
        return;
    }
    k->c->srv->o.handler.on_half_close(k->ud, k);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct conn *c = ud;
    struct sy_h2_call *k = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!k)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (!k->grpc_ct) {
            sy_h2_finish(k, SY_GRPC_INTERNAL, "content-type must be application/grpc");
        } else if (k->path_long) {
            sy_h2_finish(k, SY_GRPC_UNIMPLEMENTED, "unknown method");
        } else {
            int st = c->srv->o.handler.on_open(c->srv->o.handler.ud, k, k->path, &k->ud);
            if (st != 0)
                sy_h2_finish(k, st, st == SY_GRPC_UNIMPLEMENTED ? "unknown method" : "refused");
            else
                k->opened = true;
        }
    }
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        half_close(k);
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    struct conn *c = ud;
    struct sy_h2_call *k = nghttp2_session_get_stream_user_data(ng, id);
    if (!k || !k->opened || k->finished)
        return 0;
    size_t max = c->srv->o.max_message;
    const uint8_t *p = data;
    size_t n = len;
    /* Deliver whole frames straight from the chunk when nothing is pending; copy otherwise. */
    while (n > 0 && !k->finished) {
        const uint8_t *fr;
        size_t avail;
        if (k->in.len) {
            sy_buf_append(&k->in, p, n);
            p += n;
            n = 0;
            fr = (const uint8_t *)k->in.data;
            avail = k->in.len;
        } else {
            fr = p;
            avail = n;
        }
        size_t used = 0;
        while (avail - used >= 5 && !k->finished) {
            const uint8_t *h = fr + used;
            uint32_t mlen =
                (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
            if (h[0] != 0) {
                sy_h2_finish(k, h[0] == 1 ? SY_GRPC_UNIMPLEMENTED : SY_GRPC_INTERNAL,
                             h[0] == 1 ? "compressed messages are not supported"
                                       : "invalid gRPC frame flag");
                break;
            }
            if (mlen > max) {
                char m[96];
                snprintf(m, sizeof m, "message of %u bytes exceeds the limit of %zu", mlen, max);
                sy_h2_finish(k, SY_GRPC_RESOURCE_EXHAUSTED, m);
                break;
            }
            if (avail - used - 5 < mlen)
                break;
            c->srv->o.handler.on_message(k->ud, k, h + 5, mlen);
            used += 5 + (size_t)mlen;
        }
        if (k->finished) {
            sy_buf_reset(&k->in);
            return 0;
        }
        if (k->in.len) {
            sy_buf_consume(&k->in, used);
        } else {
            /* keep the unfinished tail */
            sy_buf_append(&k->in, fr + used, avail - used);
            p += avail;
            n = 0;
        }
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct conn *c = ud;
    if (c->closing)
        return 0;
    struct sy_h2_call *k = nghttp2_session_get_stream_user_data(ng, id);
    if (!k)
        return 0;
    call_notify_close(k, code != NGHTTP2_NO_ERROR || !k->finished || !k->remote_ended);
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    call_unlink_free(k);
    return 0;
}

/* ---- connection I/O ---- */

static void srv_handle_closed(struct sy_h2_server *s)
{
    if (--s->handles == 0 && s->closing)
        free(s);
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct sy_h2_server *s = c->srv;
    free(c);
    srv_handle_closed(s);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    while (c->calls) {
        struct sy_h2_call *k = c->calls;
        call_notify_close(k, true);
        call_unlink_free(k);
    }
    c->closing = true;
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    struct sy_h2_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* Hands nghttp2's output (through TLS when on) to the socket. Returns -1 when the connection
 * must close. */
static int conn_flush(struct conn *c)
{
    struct sy_buf out;
    sy_buf_init(&out);
    bool ready = !c->ssl || SSL_is_init_finished(c->ssl);
    for (;;) {
        if (!ready)
            break;
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        if (n < 0) {
            sy_buf_fini(&out);
            return -1;
        }
        if (n == 0)
            break;
        if (c->ssl) {
            if (SSL_write(c->ssl, data, (int)n) <= 0) {
                sy_buf_fini(&out);
                return -1;
            }
        } else {
            sy_buf_append(&out, data, (size_t)n);
        }
    }
    if (c->ssl) {
        size_t pend;
        while ((pend = BIO_ctrl_pending(c->wbio)) > 0) {
            sy_buf_reserve(&out, pend);
            int r = BIO_read(c->wbio, out.data + out.len, (int)pend);
            if (r <= 0)
                break;
            out.len += (size_t)r;
        }
    }
    if (out.len) {
        size_t len;
        char *data = sy_buf_steal(&out, &len);
        uv_write_t *w = sy_xmalloc(sizeof *w + len);
        memcpy(w + 1, data, len);
        free(data);
        uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
        if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
            free(w);
            return -1;
        }
    }
    sy_buf_fini(&out);
    if (ready && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
        return -1;
    return 0;
}

/* The flusher (a uv_prepare: it runs before the loop blocks for I/O): hands every dirty
 * connection's queued frames to its socket, then stops until a connection is dirty again. */
static void flusher_run(uv_prepare_t *p)
{
    struct sy_h2_server *s = p->data;
    uv_prepare_stop(p);
    s->flusher_on = false;
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->dirty || c->closing)
            continue;
        c->dirty = false;
        if (conn_flush(c) != 0)
            conn_close(c);
    }
}

static void mark_dirty(struct conn *c)
{
    struct sy_h2_server *s = c->srv;
    if (c->closing || s->closing)
        return;
    c->dirty = true;
    if (!s->flusher_on) {
        s->flusher_on = true;
        uv_prepare_start(&s->flusher, flusher_run);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct conn *c = h->data;
    *b = uv_buf_init(c->srv->rbuf, READ_CAP);
}

static int feed(struct conn *c, const uint8_t *p, size_t n)
{
    ssize_t r = nghttp2_session_mem_recv(c->ng, p, n);
    if (r < 0) {
        sy_debug("ext_proc: HTTP/2 error: %s", nghttp2_strerror((int)r));
        return -1;
    }
    return 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = st->data;
    if (c->closing)
        return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    int rc = 0;
    if (!c->ssl) {
        rc = feed(c, (const uint8_t *)b->base, (size_t)nread);
    } else {
        BIO_write(c->rbio, b->base, (int)nread);
        if (!SSL_is_init_finished(c->ssl)) {
            int hr = SSL_do_handshake(c->ssl);
            if (hr <= 0) {
                int e = SSL_get_error(c->ssl, hr);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    sy_debug("ext_proc: TLS handshake failed");
                    conn_flush(c); /* the alert */
                    conn_close(c);
                    return;
                }
            }
        }
        if (SSL_is_init_finished(c->ssl)) {
            char tmp[16384];
            for (;;) {
                int r = SSL_read(c->ssl, tmp, sizeof tmp);
                if (r > 0) {
                    if ((rc = feed(c, (const uint8_t *)tmp, (size_t)r)) != 0)
                        break;
                    continue;
                }
                int e = SSL_get_error(c->ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    rc = -1;
                break;
            }
        }
    }
    if (rc != 0) {
        if (c->ng)
            conn_flush(c); /* GOAWAY when nghttp2 queued one */
        conn_close(c);
        return;
    }
    if (conn_flush(c) != 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct sy_h2_server *s = l->data;
    if (status < 0 || s->closing)
        return;
    struct conn *c = sy_xcalloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    s->handles++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_server_new(&c->ng, cb, c);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
    };
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (s->o.tls) {
        c->ssl = SSL_new(s->o.tls);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (conn_flush(c) != 0)
        conn_close(c);
}

/* ---- server ---- */

int sy_h2_server_start(uv_loop_t *loop, const char *host, uint16_t port, const struct sy_h2_opts *o,
                       struct sy_h2_server **out, char *err, size_t errcap)
{
    int fd;
    int rc = sy_listen_socket(host, port, o->reuseport, &fd, err, errcap);
    if (rc != 0)
        return rc;
    struct sy_h2_server *s = sy_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->o = *o;
    if (!s->o.max_message)
        s->o.max_message = 64u << 20;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->handles = 1;
    if ((rc = uv_tcp_open(&s->listener, fd)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0) {
        snprintf(err, errcap, "listen %s:%u: %s", host, port, uv_strerror(rc));
        s->closing = true;
        s->listener_closed = true;
        uv_close((uv_handle_t *)&s->listener, NULL); /* s stays (a fatal start-up error) */
        return SY_EIO;
    }
    uv_prepare_init(loop, &s->flusher);
    s->flusher.data = s;
    s->handles++;
    s->port = sy_socket_port(fd);
    *out = s;
    return 0;
}

uint16_t sy_h2_server_port(const struct sy_h2_server *s)
{
    return s->port;
}

static void listener_closed(uv_handle_t *h)
{
    srv_handle_closed(h->data);
}

static void flusher_closed(uv_handle_t *h)
{
    srv_handle_closed(h->data);
}

void sy_h2_server_stop_accepting(struct sy_h2_server *s)
{
    if (s->listener_closed)
        return;
    s->listener_closed = true;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}

void sy_h2_server_close(struct sy_h2_server *s)
{
    if (!s || s->closing)
        return;
    sy_h2_server_stop_accepting(s);
    s->closing = true;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->flusher, flusher_closed); /* frees s when the last handle closes */
}

/* ---- TLS ---- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == 2 && i + 3 <= inlen && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* gRPC needs h2 */
}

static void tls_err(char *err, size_t errcap, const char *what)
{
    char e[256];
    ERR_error_string_n(ERR_get_error(), e, sizeof e);
    snprintf(err, errcap, "%s: %s", what, e);
}

static int self_signed(SSL_CTX *ctx, char *err, size_t errcap)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!pkey || !x) {
        tls_err(err, errcap, "self-signed certificate");
        EVP_PKEY_free(pkey);
        X509_free(x);
        return -1;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"switchyard", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"switchyard-epp", -1,
                               -1, 0);
    X509_set_issuer_name(x, n);
    int ok = X509_sign(x, pkey, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
    if (!ok)
        tls_err(err, errcap, "self-signed certificate");
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok ? 0 : -1;
}

SSL_CTX *sy_h2_tls_ctx(const char *cert_file, const char *key_file, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_err(err, errcap, "TLS");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (cert_file && key_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            tls_err(err, errcap, cert_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            tls_err(err, errcap, key_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else if (self_signed(ctx, err, errcap) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void sy_h2_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}
