/* server.c - HTTP/1.1 server on libuv + llhttp (see server.h for the contract).
 *
 * Per connection:
 *
 *   read --> llhttp_execute --> on_url/on_header_* append into conn->hdr (offsets, since the
 *            buffer may move) --> on_headers_complete: limits (413 before the body is read,
 *            100-continue) --> on_body appends into conn->body --> on_message_complete: the
 *            parser is paused, views are built, the handler is called.
 *
 *   While a request is being handled the connection keeps reading (so a disconnect is seen at
 *   once and reported through on_abort), but bytes of a pipelined next request are only stashed
 *   in conn->pending (bounded; reading stops when it is full) and parsed after sy_http_end.
 *
 * Lifetime: a connection is freed when its handle has closed AND no request is outstanding. A
 * request whose client vanished is either released at once (the handler set on_abort, which is
 * called first) or kept as a "dead" request until the handler calls sy_http_end; writes to a dead
 * request are dropped. Either way a handler never sees freed memory.
 *
 * Writes go out with uv_try_write straight from the caller's buffers when nothing is queued
 * (the common case: no copy, no allocation, and no epoll_ctl, which libuv 1.44 issues after
 * every completed uv_write to drop POLLOUT). Whatever the socket does not take at once is copied
 * into one heap block (uv_write_t + bytes) and queued; queued bytes are counted so producers can
 * apply backpressure (sy_http_write returns the queue size; on_drain is called when it falls
 * back under SY_HTTP_LOW_WATER). A try_write error never closes synchronously: the bytes are
 * queued and the failure arrives through on_write, so a handler never sees its connection vanish
 * in the middle of its own write call.
 *
 * Reads land in one 64 KiB scratch buffer per server (uvutil.h; every byte is parsed or copied
 * before read_cb returns), or straight in the body buffer while a Content-Length body is
 * expected. Body buffers are sized exactly; between requests a connection keeps one only up to
 * keep_body_bytes, and the server keeps the largest one given back for the next large body
 * (body_give_back / body_take), so idle keep-alive connections hold no large buffers.
 *
 * Rejected alternatives: a per-connection write ring (fewer mallocs, but streaming chunks are
 * small and malloc is not the bottleneck); uv_read_stop while handling (would hide a client
 * disconnect until the upstream finished).
 */
#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "http/busypoll.h"
#include "http/headers.h"
#include "http/tls.h"
#include "http/uvutil.h"

_Static_assert(SY_HDR_MAX == SY_HTTP_MAX_HEADERS, "views are copied from the accumulator");

#define SY_HTTP_MAX_HEADER_BYTES (64 * 1024)  /* url + headers; more is 431 */
#define SY_HTTP_MAX_PENDING      (256 * 1024) /* stashed pipelined bytes before reads pause */
#define SY_HTTP_LOW_WATER        (64 * 1024)  /* on_drain fires when the queue drops below */
#define SY_HTTP_READ_BUF         (64 * 1024)  /* scratch read buffer */
#define SY_HTTP_FIRST_READ       (16 * 1024)  /* of it, offered for the first read of a request */
#define SY_HTTP_BODY_SLACK       512         /* a body-direct read may run this far past the body */
#define SY_HTTP_KEEP_BODY        (16 * 1024) /* default keep_body_bytes */
#define SY_HTTP_MAX_WRITE_BUFS   (SY_HTTP_MAX_WRITEV + 2) /* buffers in one conn_writev */
#define SY_HTTP_OUT_HIGH         (256 * 1024)        /* queued output above which parsing stops */
#define SY_HTTP_ACCEPT_BATCH     64                  /* accepts per readiness event */
#define SY_HTTP_ACCEPT_RETRY_MS  100                 /* retry delay after EMFILE/ENFILE */
#define SY_HTTP_HEADER_TIMEOUT   (30 * SY_NS_PER_S)  /* default header_timeout_ns */
#define SY_HTTP_BODY_TIMEOUT     (120 * SY_NS_PER_S) /* default body_timeout_ns */
#define SY_HTTP_SEND_TIMEOUT     (60 * SY_NS_PER_S)  /* default send_timeout_ns */

struct sy_http_server {
    uv_loop_t *loop;                 /* owning loop */
    int lfd;                         /* listening socket (accepted by hand: see on_acceptable) */
    uv_poll_t listener;              /* readiness of lfd */
    uv_timer_t accept_retry;         /* resumes accepting after EMFILE/ENFILE */
    int listen_handles;              /* listener + accept_retry not yet closed */
    bool accept_paused;              /* readiness watch stopped (out of fds or max_conns) */
    bool draining;                   /* sy_http_server_drain called */
    size_t nopen;                    /* connections open (not yet closing) */
    struct sy_http_server_opts opts; /* copy of the options */
    uint16_t port;                   /* bound port */
    size_t active;                   /* requests being handled */
    size_t nconns;                   /* connection objects not yet freed */
    bool closing;                    /* sy_http_server_close called */
    bool listener_closed;            /* listener handle closed */
    struct sy_http_conn *conns;      /* list of open connections */
    struct sy_scratch rbuf;          /* SY_HTTP_READ_BUF bytes for reads (one loop) */
    struct sy_buf spare_body;        /* the largest body buffer given back (see body_give_back) */
    struct sy_tls_ctx *tls;          /* TLS context for new connections (owned reference) */
};

struct sy_http_conn {
    uv_tcp_t tcp;                     /* the client socket */
    uv_timer_t idle;                  /* idle / header / body deadline (lazy: see arm_idle) */
    uint64_t idle_deadline_ms;        /* loop time at which that deadline passes */
    uv_timer_t send;                  /* send deadline while output is queued */
    uint64_t send_deadline_ms;        /* loop time by which queued output must progress */
    struct sy_http_server *srv;       /* owner */
    struct sy_http_conn *next, *prev; /* server's list */
    llhttp_t parser;                  /* request parser */
    struct sy_hdr_acc hdr;            /* url, then the header fields of the request in progress */
    size_t url_len;                   /* url is hdr.buf[0..url_len) */
    struct sy_buf body;               /* body of the request in progress */
    int reject_status;                /* set by callbacks to refuse the request */
    struct sy_buf pending;            /* bytes read while a request is being handled */
    struct sy_http_req *req;          /* request being handled, or NULL */
    bool reading;                     /* uv_read_start active */
    bool closed;                      /* uv_close issued */
    bool handle_closed;               /* close callbacks ran (both handles) */
    int handles_open;                 /* tcp + idle + send timers */
    bool peer_eof;                    /* the client shut down its write side */
    bool head_done;                   /* the request in progress has its whole head */
    bool out_blocked;                 /* parsing stopped: queued output above SY_HTTP_OUT_HIGH */
    bool close_after_write;           /* close once the write queue is empty */
    bool in_execute;                  /* inside llhttp_execute (no re-entry) */
    bool body_direct;                 /* reading a Content-Length body straight into body */
    bool in_message;         /* a request's first bytes have been parsed, not yet complete */
    size_t queued;           /* bytes in uv_write requests not yet completed */
    struct sy_tls_conn *tls; /* TLS state (owned), or NULL for plain HTTP */
    char peer[64];           /* "ip:port" */
};

/* Private per-request state hangs off the public struct. */
struct req_priv {
    struct sy_http_req pub; /* what handlers see; must be first */
    bool began;             /* status line sent */
    bool chunked;           /* body sent chunked */
    bool ended;             /* sy_http_end / respond done */
    bool dead;              /* client vanished; writes dropped */
    bool was_above_low;     /* queue exceeded low water since last on_drain */
    struct sy_buf
        head; /* Content-Length response head not yet written: sent with the first body bytes */
};

struct write_req {
    uv_write_t w;              /* libuv request */
    struct sy_http_conn *conn; /* connection written to */
    size_t len;                /* bytes in data */
    char data[];               /* the bytes */
};

static void conn_close(struct sy_http_conn *c);
static void accept_resume(struct sy_http_server *s);
static void server_free(struct sy_http_server *s);
static void conn_process(struct sy_http_conn *c, const char *data, size_t len);
static void conn_maybe_free(struct sy_http_conn *c);

const char *sy_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

/* ---- writing ---- */

static void arm_send(struct sy_http_conn *c);
static void conn_unblock(struct sy_http_conn *c);

static void on_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct sy_http_conn *c = wr->conn;
    c->queued -= wr->len;
    free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->closed)
        return;
    if (c->queued)
        arm_send(c); /* progress: the client is reading */
    if (c->out_blocked && c->queued < SY_HTTP_LOW_WATER) {
        conn_unblock(c);
        if (c->closed)
            return;
    }
    struct req_priv *rp = (struct req_priv *)c->req;
    if (rp && !rp->dead && rp->was_above_low && c->queued < SY_HTTP_LOW_WATER) {
        rp->was_above_low = false;
        if (rp->pub.on_drain)
            rp->pub.on_drain(&rp->pub);
    }
    if (c->close_after_write && c->queued == 0)
        conn_close(c);
}

/* Sends the bytes of bufs in order: as much as the socket takes now without copying, the rest
 * copied and queued. Returns false if the connection is closed. */
static bool conn_writev_raw(struct sy_http_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (nbufs > SY_HTTP_MAX_WRITE_BUFS)
        abort(); /* sy_http_writev passes the most: SY_HTTP_MAX_WRITEV + 2 */
    if (c->closed)
        return false;
    size_t n = 0;
    for (unsigned i = 0; i < nbufs; i++)
        n += bufs[i].len;
    if (n == 0)
        return true;
    size_t done = 0;
    if (c->queued == 0) {
        int rc = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
        if (rc > 0)
            done = (size_t)rc; /* errors: queue everything, on_write reports them */
        if (done == n)
            return true;
    }
    struct write_req *wr = sy_xmalloc(sizeof *wr + (n - done));
    wr->conn = c;
    wr->len = n - done;
    uv_buf_t rest[SY_HTTP_MAX_WRITE_BUFS];
    unsigned nrest = sy_bufs_after(bufs, nbufs, done, rest);
    size_t at = 0;
    for (unsigned i = 0; i < nrest; i++) {
        memcpy(wr->data + at, rest[i].base, rest[i].len);
        at += rest[i].len;
    }
    uv_buf_t b = uv_buf_init(wr->data, (unsigned int)wr->len);
    if (c->queued == 0)
        arm_send(c);
    c->queued += wr->len;
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->queued -= wr->len;
        free(wr);
        conn_close(c);
        return false;
    }
    return true;
}

/* Sends application bytes: as they are, or encrypted on a TLS connection (one record stream,
 * then one raw write). */
static bool conn_writev(struct sy_http_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (!c->tls)
        return conn_writev_raw(c, bufs, nbufs);
    if (c->closed)
        return false;
    struct sy_buf cipher;
    sy_buf_init(&cipher);
    bool ok = sy_tls_encrypt(c->tls, bufs, nbufs, &cipher) == 0;
    if (ok && cipher.len) {
        uv_buf_t b = uv_buf_init(cipher.data, (unsigned int)cipher.len);
        ok = conn_writev_raw(c, &b, 1);
    }
    sy_buf_fini(&cipher);
    if (!ok && !c->closed)
        conn_close(c);
    return ok;
}

/* Sends n1+n2 bytes (see conn_writev). */
static bool conn_write2(struct sy_http_conn *c, const void *p1, size_t n1, const void *p2,
                        size_t n2)
{
    uv_buf_t b[2] = {uv_buf_init((char *)p1, (unsigned int)n1),
                     uv_buf_init((char *)p2, (unsigned int)n2)};
    return conn_writev(c, n1 ? b : b + 1, n1 ? (n2 ? 2 : 1) : 1);
}

/* ---- request lifecycle ---- */

static void reject(struct sy_http_conn *c, int status, const char *msg);

/* The idle timer is a lazy deadline (uvutil.h) with three meanings: between requests, the idle
 * timeout; from a request's first byte, the deadline for its whole head (header_timeout); from
 * the end of the head, the deadline for its whole body (body_timeout). Deadlines are set at those
 * points only, never moved by arriving bytes, so a client trickling a byte at a time cannot hold
 * a connection (slowloris). While a request is being handled the callback does nothing
 * (sy_http_end arms the idle timeout again). */
static void idle_cb(uv_timer_t *t)
{
    struct sy_http_conn *c = t->data;
    if (c->req || c->closed)
        return;
    if (!sy_deadline_due(&c->idle, c->idle_deadline_ms, idle_cb))
        return;
    if (c->in_message)
        reject(c, 408,
               c->head_done ? "request body not received in time (timeouts.body)"
                            : "request head not received in time (timeouts.header)");
    else
        conn_close(c);
}

static void arm_timeout(struct sy_http_conn *c, uint64_t ns)
{
    if (c->closed)
        return;
    uint64_t ms = ns / SY_NS_PER_MS;
    sy_deadline_arm(&c->idle, &c->idle_deadline_ms, ms ? ms : 1, idle_cb);
}

static void arm_idle(struct sy_http_conn *c)
{
    arm_timeout(c, c->srv->opts.idle_timeout_ns);
}

/* Send deadline: armed when output becomes queued and on every completed write; a client that
 * takes nothing for send_timeout is closed (its request is aborted, releasing the upstream and
 * the in-flight counters). */
static void send_cb(uv_timer_t *t)
{
    struct sy_http_conn *c = t->data;
    if (c->closed || c->queued == 0)
        return;
    if (sy_deadline_due(&c->send, c->send_deadline_ms, send_cb)) {
        sy_debug("closing %s: it read nothing for timeouts.send", c->peer);
        conn_close(c);
    }
}

static void arm_send(struct sy_http_conn *c)
{
    uint64_t ms = c->srv->opts.send_timeout_ns / SY_NS_PER_MS;
    sy_deadline_arm(&c->send, &c->send_deadline_ms, ms ? ms : 1, send_cb);
}

static void req_release(struct sy_http_conn *c)
{
    struct req_priv *rp = (struct req_priv *)c->req;
    c->req = NULL;
    sy_buf_fini(&rp->head);
    free(rp);
    c->srv->active--;
}

static void conn_start_read(struct sy_http_conn *c);

/* A request has ended. A body buffer above keep_body_bytes goes back to the server, so an idle
 * keep-alive connection holds no large buffer (thousands of idle clients would otherwise each
 * keep the largest prompt they ever sent). The server keeps the largest one for the next large
 * body on any of its connections, so a stream of large requests allocates nothing. Called only
 * outside llhttp_execute, or once the parser has stopped inside the buffer's bytes. */
static void body_give_back(struct sy_http_conn *c)
{
    if (c->body.cap <= c->srv->opts.keep_body_bytes)
        return;
    struct sy_buf *spare = &c->srv->spare_body;
    if (spare->cap < c->body.cap) {
        sy_buf_fini(spare);
        *spare = c->body;
        sy_buf_reset(spare);
    } else {
        sy_buf_fini(&c->body);
    }
    sy_buf_init(&c->body);
}

/* Room for a Content-Length body of need bytes (plus read slack): the server's spare when the
 * connection's own buffer is too small and the spare is big enough, else exactly need. */
static void body_take(struct sy_http_conn *c, size_t need)
{
    struct sy_buf *spare = &c->srv->spare_body;
    if (c->body.cap < need && spare->cap >= need && c->body.len == 0) {
        sy_buf_fini(&c->body);
        c->body = *spare;
        sy_buf_init(spare);
    }
    sy_buf_reserve_exact(&c->body, need);
}

size_t sy_http_server_body_bytes(const struct sy_http_server *s)
{
    size_t n = s->spare_body.cap;
    for (const struct sy_http_conn *c = s->conns; c; c = c->next)
        n += c->body.cap;
    return n;
}

/* A response has ended: the connection is ready for its next request (see body_give_back for
 * when this may run). */
static void ready_for_next(struct sy_http_conn *c)
{
    body_give_back(c);
    llhttp_resume(&c->parser);
    arm_idle(c);
}

static void reset_message(struct sy_http_conn *c)
{
    sy_hdr_reset(&c->hdr);
    sy_buf_reset(&c->body);
    c->url_len = 0;
    c->reject_status = 0;
    c->body_direct = false;
    c->head_done = false;
}

/* Called when a response has ended outside the parser: continue with pipelined input or wait
 * for the next request. */
static void conn_next(struct sy_http_conn *c)
{
    if (c->closed)
        return;
    ready_for_next(c);
    if (c->pending.len) {
        struct sy_buf in = c->pending;
        sy_buf_init(&c->pending);
        conn_process(c, in.data, in.len);
        sy_buf_fini(&in);
    }
}

/* The write queue drained below the low mark: parse what was stashed, then read again. */
static void conn_unblock(struct sy_http_conn *c)
{
    c->out_blocked = false;
    if (c->req || c->in_execute)
        return;
    if (c->pending.len) {
        struct sy_buf in = c->pending;
        sy_buf_init(&c->pending);
        conn_process(c, in.data, in.len);
        sy_buf_fini(&in);
    }
    if (!c->closed && !c->req && !c->out_blocked && !c->peer_eof)
        conn_start_read(c);
}

/* ---- llhttp callbacks ---- */

static int cb_message_begin(llhttp_t *p)
{
    struct sy_http_conn *c = p->data;
    reset_message(c);
    c->in_message = true;
    if (!c->req)
        arm_timeout(c, c->srv->opts.header_timeout_ns);
    return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len)
{
    struct sy_http_conn *c = p->data;
    if (c->hdr.buf.len + len > SY_HTTP_MAX_HEADER_BYTES) {
        c->reject_status = 414;
        return HPE_USER;
    }
    sy_buf_append(&c->hdr.buf, at, len);
    c->url_len += len;
    return 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct sy_http_conn *c = p->data;
    if (!sy_hdr_name_piece(&c->hdr, at, len, SY_HTTP_MAX_HEADER_BYTES)) {
        c->reject_status = 431;
        return HPE_USER;
    }
    return 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    sy_hdr_name_done(&((struct sy_http_conn *)p->data)->hdr);
    return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct sy_http_conn *c = p->data;
    if (!sy_hdr_value_piece(&c->hdr, at, len, SY_HTTP_MAX_HEADER_BYTES)) {
        c->reject_status = 431;
        return HPE_USER;
    }
    return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    sy_hdr_value_done(&((struct sy_http_conn *)p->data)->hdr);
    return 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    struct sy_http_conn *c = p->data;
    if (c->hdr.overflow) {
        c->reject_status = 431;
        return HPE_USER;
    }
    uint64_t max = c->srv->opts.max_body_bytes;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max) {
        c->reject_status = 413;
        return HPE_USER;
    }
    for (size_t i = 0; i < c->hdr.n; i++) {
        if (sy_str_case_eq_c(sy_hdr_name(&c->hdr, i), "expect") &&
            sy_str_case_eq_c(sy_hdr_value(&c->hdr, i), "100-continue")) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            conn_write2(c, cont, sizeof cont - 1, NULL, 0);
        }
    }
    if (p->flags & F_CONTENT_LENGTH) {
        /* exactly: an in-flight request's memory is mostly its body */
        body_take(c, (size_t)p->content_length + SY_HTTP_BODY_SLACK);
        c->body_direct = p->content_length > 0;
    }
    c->head_done = true;
    if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))
        arm_timeout(c, c->srv->opts.body_timeout_ns);
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    struct sy_http_conn *c = p->data;
    if (c->body.len + len > c->srv->opts.max_body_bytes) {
        c->reject_status = 413;
        return HPE_USER;
    }
    if (c->body.data && at == c->body.data + c->body.len && c->body.len + len <= c->body.cap) {
        /* read straight into the body buffer by alloc_cb: nothing to copy */
        c->body.len += len;
        c->body.data[c->body.len] = '\0';
        return 0;
    }
    sy_buf_append(&c->body, at, len);
    return 0;
}

static void dispatch(struct sy_http_conn *c);

static int cb_message_complete(llhttp_t *p)
{
    struct sy_http_conn *c = p->data;
    c->body_direct = false;
    c->in_message = false;
    dispatch(c);
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = cb_message_begin,
    .on_url = cb_url,
    .on_header_field = cb_header_field,
    .on_header_field_complete = cb_header_field_complete,
    .on_header_value = cb_header_value,
    .on_header_value_complete = cb_header_value_complete,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

/* Builds the public request from the parse state and calls the handler. */
static void dispatch(struct sy_http_conn *c)
{
    struct req_priv *rp = sy_xcalloc(1, sizeof *rp);
    struct sy_http_req *r = &rp->pub;
    r->conn = c;
    r->start_ns = sy_now_ns();
    sy_buf_reserve(&c->hdr.buf, 1);
    sy_buf_reserve(&c->body, 1);
    const char *m = llhttp_method_name((llhttp_method_t)c->parser.method);
    r->method = sy_str_c(m);
    r->url = (struct sy_str){c->hdr.buf.data, c->url_len};
    const char *q = memchr(r->url.p, '?', r->url.len);
    if (q) {
        r->path = (struct sy_str){r->url.p, (size_t)(q - r->url.p)};
        r->query = (struct sy_str){q + 1, r->url.len - r->path.len - 1};
    } else {
        r->path = r->url;
        r->query = (struct sy_str){"", 0};
    }
    r->nheaders = c->hdr.n;
    for (size_t i = 0; i < c->hdr.n; i++) {
        r->header_names[i] = sy_hdr_name(&c->hdr, i);
        r->header_values[i] = sy_hdr_value(&c->hdr, i);
    }
    r->body = c->body.data;
    r->body_len = c->body.len;
    r->keep_alive = llhttp_should_keep_alive(&c->parser);
    r->peer = sy_str_c(c->peer);
    c->req = r;
    c->srv->active++;
    c->srv->opts.handler(c->srv->opts.ud, r);
}

/* The OpenAI-style error body every error response carries: {"error":{"message","type","param",
 * "code"}}; code NULL writes the status number. */
static void error_json(struct sy_buf *b, int status, const char *type, const char *code,
                       const char *message)
{
    sy_buf_puts(b, "{\"error\":{\"message\":");
    sy_buf_json_str(b, message, strlen(message));
    sy_buf_puts(b, ",\"type\":");
    sy_buf_json_str(b, type, strlen(type));
    sy_buf_puts(b, ",\"param\":null,\"code\":");
    if (code)
        sy_buf_json_str(b, code, strlen(code));
    else
        sy_buf_printf(b, "%d", status);
    sy_buf_puts(b, "}}");
}

/* The string code of a rejection's error body, as the gateway's other errors carry one (a
 * number is vLLM's shape, which only the simulator's own errors keep). */
static const char *reject_code(int status)
{
    switch (status) {
    case 408: return "request_timeout";
    case 413: return "request_too_large";
    case 414: return "uri_too_long";
    case 431: return "request_header_fields_too_large";
    default: return "bad_request";
    }
}

/* Refuses a request the parser or a limit rejected, then closes. */
static void reject(struct sy_http_conn *c, int status, const char *msg)
{
    struct sy_buf body;
    sy_buf_init(&body);
    struct sy_str path = {c->hdr.buf.data ? c->hdr.buf.data : "", c->url_len};
    const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;
    if (q)
        path.len = (size_t)(q - path.p);
    if (!c->srv->opts.error_body ||
        !c->srv->opts.error_body(c->srv->opts.ud, path, status, msg, &body))
        error_json(&body, status, "invalid_request_error", reject_code(status), msg);
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n",
                     status, sy_http_status_text(status), body.len);
    conn_write2(c, head, (size_t)h, body.data, body.len);
    sy_buf_fini(&body);
    c->close_after_write = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->queued == 0)
        conn_close(c);
}

static void conn_process(struct sy_http_conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->closed) {
        if (!c->req && (c->out_blocked || c->queued > SY_HTTP_OUT_HIGH)) {
            /* Responses answered at once (GET /metrics, /v1/models) pile up in the write queue
             * of a client that sends pipelined requests and never reads: stop parsing and
             * reading until the queue drains (on_write calls conn_unblock). */
            c->out_blocked = true;
            sy_buf_append(&c->pending, data, len);
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = false;
            }
            return;
        }
        if (c->req) {
            /* A request is being handled: stash pipelined bytes for later. */
            sy_buf_append(&c->pending, data, len);
            if (c->pending.len > SY_HTTP_MAX_PENDING && c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = false;
            }
            return;
        }
        c->in_execute = true;
        enum llhttp_errno e = llhttp_execute(&c->parser, data, len);
        c->in_execute = false;
        if (e == HPE_OK || c->closed)
            return;
        if (e == HPE_PAUSED) {
            /* A message completed and the handler was called; continue after it. */
            const char *pos = llhttp_get_error_pos(&c->parser);
            size_t used = pos ? (size_t)(pos - data) : len;
            data += used;
            len -= used;
            if (!c->req) {
                /* The response already ended (synchronously): parse the rest now. (The rest is
                 * never inside the body buffer: a body-direct read is handed over only up to
                 * the body's end, see read_cb.) */
                ready_for_next(c);
            }
            continue;
        }
        switch (c->reject_status) {
        case 413:
            reject(c, 413, "request body exceeds the configured limit (limits.maxBodyBytes)");
            break;
        case 414: reject(c, 414, "request URL too long"); break;
        case 431: reject(c, 431, "request headers too large or too many"); break;
        default: {
            char msg[160];
            snprintf(msg, sizeof msg, "malformed HTTP request: %s", llhttp_errno_name(e));
            reject(c, 400, msg);
        }
        }
        return;
    }
}

/* Inside a Content-Length body, reads land directly in the body buffer; otherwise in a scratch
 * buffer. A body-direct read is offered the bytes still expected plus up to SY_HTTP_BODY_SLACK
 * more: the read that completes the body then comes back short of its buffer, and libuv does not
 * read again only to get EAGAIN (one syscall per large request). Bytes past the body's end are
 * the next pipelined request; read_cb moves them out before the body is finished. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct sy_http_conn *c = h->data;
    (void)suggested;
    if (c->body_direct && !c->tls && !c->req && c->parser.content_length > 0 &&
        c->body.len + c->parser.content_length <= c->body.cap) {
        size_t room = c->body.cap - c->body.len, want = (size_t)c->parser.content_length;
        b->base = c->body.data + c->body.len;
        b->len = room - want < SY_HTTP_BODY_SLACK ? room : want + SY_HTTP_BODY_SLACK;
        return;
    }
    /* The first read of a request gets 16 KiB: it holds the head of any ordinary request, and
     * a large Content-Length body then goes straight into its buffer on the next read (libuv
     * reads again at once when a read fills the buffer), so at most 16 KiB of it is copied. */
    sy_scratch_lend(&c->srv->rbuf, SY_HTTP_READ_BUF,
                    c->in_message || c->req ? SY_HTTP_READ_BUF : SY_HTTP_FIRST_READ, b);
}

/* Gives a read buffer back (a body-direct read stays where it landed). */
static void release_read_buf(struct sy_http_server *srv, char *base, bool direct)
{
    if (!direct)
        sy_scratch_return(&srv->rbuf, base);
}

static bool in_body_buf(struct sy_http_conn *c, const char *p)
{
    return c->body.data && p >= c->body.data && p <= c->body.data + c->body.cap;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct sy_http_conn *c = s->data;
    struct sy_http_server *srv = c->srv; /* c may be freed by conn_process; the server not */
    bool direct = in_body_buf(c, b->base);
    sy_busypoll_note_io();
    if (n < 0) {
        release_read_buf(srv, b->base, direct);
        if (n == UV_EOF && c->req && !c->closed &&
            !(c->req->on_peer_eof && c->req->on_peer_eof(c->req))) {
            /* Half-close: the client sent its request and shut down its write side. It still
             * reads, so it is answered (as nginx does); the connection closes after the
             * response. A client really gone shows up as a failed write. A handler that cannot
             * afford to wait for that write (on_peer_eof returns true) has it closed now. */
            c->peer_eof = true;
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
            return;
        }
        conn_close(c);
        return;
    }
    if (n > 0 && c->tls) {
        /* TLS: the bytes read are records; what the parser gets is their plaintext */
        struct sy_buf plain, cipher;
        sy_buf_init(&plain);
        sy_buf_init(&cipher);
        int rc = sy_tls_feed(c->tls, b->base, (size_t)n, &plain, &cipher);
        release_read_buf(srv, b->base, direct);
        if (cipher.len) {
            uv_buf_t cb = uv_buf_init(cipher.data, (unsigned int)cipher.len);
            conn_writev_raw(c, &cb, 1);
        }
        if (rc != 0) {
            c->close_after_write = true; /* the alert first, if any */
            if (c->queued == 0)
                conn_close(c);
        } else if (plain.len && !c->closed) {
            conn_process(c, plain.data, plain.len);
        }
        sy_buf_fini(&plain);
        sy_buf_fini(&cipher);
        return;
    }
    if (n > 0) {
        if (direct && (uint64_t)n > c->parser.content_length) {
            /* The read ran past the body into a pipelined request. Those bytes are copied out
             * first: finishing the body writes its NUL terminator over the first of them, and
             * the handler may be done with the body buffer before they are parsed. */
            size_t body_part = (size_t)c->parser.content_length, rest = (size_t)n - body_part;
            char next[SY_HTTP_BODY_SLACK];
            memcpy(next, b->base + body_part, rest);
            conn_process(c, b->base, body_part);
            if (!c->closed)
                conn_process(c, next, rest);
            return;
        }
        conn_process(c, b->base, (size_t)n);
    }
    release_read_buf(srv, b->base, direct);
}

static void conn_start_read(struct sy_http_conn *c)
{
    if (!c->closed && !c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        c->reading = true;
    }
}

/* ---- closing ---- */

static void server_free(struct sy_http_server *s)
{
    sy_tls_ctx_unref(s->tls);
    sy_scratch_fini(&s->rbuf);
    sy_buf_fini(&s->spare_body);
    free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sy_http_conn *c = h->data;
    if (--c->handles_open == 0) {
        c->handle_closed = true;
        conn_maybe_free(c);
    }
}

static void conn_maybe_free(struct sy_http_conn *c)
{
    if (!c->handle_closed || c->req)
        return;
    struct sy_http_server *s = c->srv;
    sy_hdr_fini(&c->hdr);
    sy_buf_fini(&c->body);
    sy_buf_fini(&c->pending);
    sy_tls_conn_free(c->tls);
    free(c);
    s->nconns--;
    if (s->closing && s->nconns == 0 && s->listener_closed)
        server_free(s);
}

static void conn_close(struct sy_http_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    c->reading = false;
    struct sy_http_server *s = c->srv;
    s->nopen--;
    if (s->accept_paused)
        accept_resume(s); /* a descriptor and a connection slot are free again */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
    uv_close((uv_handle_t *)&c->send, on_handle_closed);
    struct req_priv *rp = (struct req_priv *)c->req;
    if (rp && !rp->ended && !rp->dead) {
        rp->dead = true;
        if (rp->pub.on_abort) {
            sy_http_abort_fn *fn = rp->pub.on_abort;
            rp->pub.on_abort = NULL;
            fn(&rp->pub);
            req_release(c);
        }
    }
}

/* ---- accepting ---- */

static struct sy_http_conn *conn_new(struct sy_http_server *s)
{
    struct sy_http_conn *c = sy_xcalloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->idle);
    uv_timer_init(s->loop, &c->send);
    c->tcp.data = c;
    c->idle.data = c;
    c->send.data = c;
    c->handles_open = 3;
    s->nopen++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    sy_hdr_init(&c->hdr);
    sy_buf_init(&c->body);
    sy_buf_init(&c->pending);
    return c;
}

static void conn_begin(struct sy_http_conn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "local");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    if (c->srv->tls)
        c->tls = sy_tls_conn_new_server(c->srv->tls);
    arm_idle(c);
    conn_start_read(c);
}

/* ---- accepting ----
 *
 * The listening socket is watched with a uv_poll and accepted by hand rather than through
 * uv_listen: libuv's own EMFILE handling keeps one spare descriptor per loop, and with several
 * loops out of descriptors every one of them spins on a readable listener. Here, EMFILE/ENFILE or
 * max_conns stops the watch (the kernel keeps the pending connections in the backlog); a closing
 * connection, or a retry timer for descriptors freed elsewhere, starts it again. */

static void on_acceptable(uv_poll_t *h, int status, int events);
static void on_accept_retry(uv_timer_t *t);

static void accept_pause(struct sy_http_server *s, bool retry)
{
    if (!s->accept_paused && !uv_is_closing((uv_handle_t *)&s->listener)) {
        uv_poll_stop(&s->listener);
        s->accept_paused = true;
    }
    if (retry && !uv_is_closing((uv_handle_t *)&s->accept_retry))
        uv_timer_start(&s->accept_retry, on_accept_retry, SY_HTTP_ACCEPT_RETRY_MS, 0);
}

static void accept_resume(struct sy_http_server *s)
{
    if (!s->accept_paused || s->closing || uv_is_closing((uv_handle_t *)&s->listener))
        return;
    if (s->opts.max_conns && s->nopen >= s->opts.max_conns)
        return;
    s->accept_paused = false;
    uv_poll_start(&s->listener, UV_READABLE, on_acceptable);
}

static void on_accept_retry(uv_timer_t *t)
{
    accept_resume(t->data);
}

static void on_acceptable(uv_poll_t *h, int status, int events)
{
    struct sy_http_server *s = h->data;
    (void)events;
    if (status < 0 || s->closing)
        return;
    sy_busypoll_note_io();
    for (int i = 0; i < SY_HTTP_ACCEPT_BATCH; i++) {
        if (s->opts.max_conns && s->nopen >= s->opts.max_conns) {
            accept_pause(s, false); /* resumes when a connection closes */
            return;
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                sy_warn("accept: %s; accepting paused until descriptors free up", strerror(errno));
                accept_pause(s, true);
            }
            return; /* EAGAIN: nothing more pending */
        }
        struct sy_http_conn *c = conn_new(s);
        if (uv_tcp_open(&c->tcp, fd) < 0) {
            close(fd);
            conn_close(c);
            continue;
        }
        conn_begin(c);
    }
}

int sy_http_server_adopt(struct sy_http_server *s, uv_os_sock_t fd)
{
    if (s->closing)
        return SY_ECLOSED;
    struct sy_http_conn *c = conn_new(s);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        conn_close(c);
        return SY_EIO;
    }
    conn_begin(c);
    return 0;
}

int sy_http_server_start(uv_loop_t *loop, const char *host, uint16_t port,
                         const struct sy_http_server_opts *opts, struct sy_http_server **out,
                         char *err, size_t errcap)
{
    int fd;
    int rc = sy_listen_socket(host, port, opts->reuseport, &fd, err, errcap);
    if (rc != 0)
        return rc;
    struct sy_http_server *s = sy_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->opts = *opts;
    if (!s->opts.max_body_bytes)
        s->opts.max_body_bytes = 32ULL << 20;
    if (!s->opts.idle_timeout_ns)
        s->opts.idle_timeout_ns = 60 * SY_NS_PER_S;
    if (!s->opts.keep_body_bytes)
        s->opts.keep_body_bytes = SY_HTTP_KEEP_BODY;
    sy_http_server_set_limits(s, opts);
    s->tls = sy_tls_ctx_ref(opts->tls);
    if (listen(fd, 1024) < 0) {
        snprintf(err, errcap, "listen %s:%u: %s", host, port, strerror(errno));
        close(fd);
        sy_tls_ctx_unref(s->tls);
        free(s);
        return SY_EIO;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    s->lfd = fd;
    uv_poll_init_socket(loop, &s->listener, fd);
    uv_timer_init(loop, &s->accept_retry);
    s->listener.data = s;
    s->accept_retry.data = s;
    s->listen_handles = 2;
    uv_poll_start(&s->listener, UV_READABLE, on_acceptable);
    s->port = sy_socket_port(fd);
    *out = s;
    return 0;
}

uint16_t sy_http_server_port(const struct sy_http_server *s)
{
    return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct sy_http_server *s = h->data;
    if (--s->listen_handles > 0)
        return;
    close(s->lfd); /* uv_poll does not own it */
    s->lfd = -1;
    s->listener_closed = true;
    if (s->closing && s->nconns == 0)
        server_free(s);
}

static void listener_close(struct sy_http_server *s)
{
    if (uv_is_closing((uv_handle_t *)&s->listener))
        return;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    uv_close((uv_handle_t *)&s->accept_retry, on_listener_closed);
}

void sy_http_server_stop_accepting(struct sy_http_server *s)
{
    listener_close(s);
}

void sy_http_server_drain(struct sy_http_server *s)
{
    s->draining = true;
    listener_close(s);
    /* idle keep-alive connections close now; the others after their response */
    struct sy_http_conn *c = s->conns;
    while (c) {
        struct sy_http_conn *next = c->next;
        if (!c->req && !c->in_message)
            conn_close(c);
        c = next;
    }
}

void sy_http_server_set_limits(struct sy_http_server *s, const struct sy_http_server_opts *o)
{
    s->opts.max_body_bytes = o->max_body_bytes ? o->max_body_bytes : 32ULL << 20;
    s->opts.idle_timeout_ns = o->idle_timeout_ns ? o->idle_timeout_ns : 60 * SY_NS_PER_S;
    s->opts.header_timeout_ns =
        o->header_timeout_ns ? o->header_timeout_ns : SY_HTTP_HEADER_TIMEOUT;
    s->opts.body_timeout_ns = o->body_timeout_ns ? o->body_timeout_ns : SY_HTTP_BODY_TIMEOUT;
    s->opts.send_timeout_ns = o->send_timeout_ns ? o->send_timeout_ns : SY_HTTP_SEND_TIMEOUT;
    s->opts.max_conns = o->max_conns;
    if (s->accept_paused)
        accept_resume(s);
}

void sy_http_server_set_tls(struct sy_http_server *s, struct sy_tls_ctx *tls)
{
    if (!tls || !s->tls)
        return;
    sy_tls_ctx_ref(tls);
    sy_tls_ctx_unref(s->tls);
    s->tls = tls;
}

size_t sy_http_server_open_conns(const struct sy_http_server *s)
{
    return s->nopen;
}

size_t sy_http_server_active(const struct sy_http_server *s)
{
    return s->active;
}

void sy_http_server_close(struct sy_http_server *s)
{
    s->closing = true;
    bool listener_open = !uv_is_closing((uv_handle_t *)&s->listener);
    while (s->conns)
        conn_close(s->conns);
    if (listener_open)
        listener_close(s);
    else if (s->listener_closed && s->nconns == 0)
        server_free(s);
}

/* ---- responses ---- */

bool sy_http_header(const struct sy_http_req *req, const char *name, struct sy_str *value)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (sy_str_case_eq_c(req->header_names[i], name)) {
            if (value)
                *value = req->header_values[i];
            return true;
        }
    }
    return false;
}

void sy_http_begin(struct sy_http_req *req, int status, const char *head_lines,
                   int64_t content_length)
{
    struct req_priv *rp = (struct req_priv *)req;
    if (rp->began || rp->ended)
        return;
    rp->began = true;
    if (rp->dead)
        return;
    struct sy_http_conn *c = req->conn;
    struct sy_buf h;
    sy_buf_init(&h);
    sy_buf_reserve(&h, 256);
    sy_buf_puts(&h, "HTTP/1.1 ");
    sy_buf_put_i64(&h, status);
    sy_buf_puts(&h, " ");
    sy_buf_puts(&h, sy_http_status_text(status));
    sy_buf_puts(&h, "\r\n");
    if (head_lines)
        sy_buf_puts(&h, head_lines);
    if (content_length >= 0) {
        sy_buf_puts(&h, "Content-Length: ");
        sy_buf_put_i64(&h, content_length);
        sy_buf_puts(&h, "\r\n");
    } else {
        sy_buf_puts(&h, "Transfer-Encoding: chunked\r\n");
        rp->chunked = true;
    }
    if (!req->keep_alive || c->srv->closing || c->srv->draining || c->peer_eof)
        sy_buf_puts(&h, "Connection: close\r\n");
    sy_buf_puts(&h, "\r\n");
    if (rp->chunked) {
        /* streams: the head goes out now, so the client sees the status at once */
        conn_write2(c, h.data, h.len, NULL, 0);
        sy_buf_fini(&h);
    } else {
        rp->head = h; /* sent together with the body: one write, one syscall */
    }
}

/* Writes a pending head followed by data as one write. */
static void flush_with(struct req_priv *rp, const void *data, size_t len)
{
    struct sy_http_conn *c = rp->pub.conn;
    if (rp->head.len) {
        conn_write2(c, rp->head.data, rp->head.len, data, len);
        sy_buf_fini(&rp->head);
    } else {
        conn_write2(c, data, len, NULL, 0);
    }
}

size_t sy_http_write(struct sy_http_req *req, const void *data, size_t len)
{
    struct req_priv *rp = (struct req_priv *)req;
    if (rp->dead || rp->ended || len == 0)
        return rp->dead ? 0 : req->conn->queued;
    struct sy_http_conn *c = req->conn;
    if (rp->chunked) {
        char pre[20];
        size_t np = sy_fmt_hex(pre, len);
        pre[np++] = '\r';
        pre[np++] = '\n';
        uv_buf_t b[3] = {uv_buf_init(pre, (unsigned int)np),
                         uv_buf_init((char *)data, (unsigned int)len), uv_buf_init("\r\n", 2)};
        if (!conn_writev(c, b, 3))
            return 0;
    } else {
        flush_with(rp, data, len);
    }
    if (c->queued >= SY_HTTP_LOW_WATER)
        rp->was_above_low = true;
    return c->queued;
}

size_t sy_http_writev(struct sy_http_req *req, const uv_buf_t *bufs, unsigned n)
{
    struct req_priv *rp = (struct req_priv *)req;
    if (n > SY_HTTP_MAX_WRITEV)
        abort(); /* a caller's bug: the contract says at most SY_HTTP_MAX_WRITEV */
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += bufs[i].len;
    if (!rp->chunked || rp->dead || rp->ended || len == 0 || n == 1) {
        size_t q = 0;
        for (unsigned i = 0; i < n; i++)
            q = sy_http_write(req, bufs[i].base, bufs[i].len);
        return n ? q : sy_http_queued(req);
    }
    struct sy_http_conn *c = req->conn;
    char pre[20];
    size_t np = sy_fmt_hex(pre, len);
    pre[np++] = '\r';
    pre[np++] = '\n';
    uv_buf_t b[SY_HTTP_MAX_WRITE_BUFS];
    b[0] = uv_buf_init(pre, (unsigned int)np);
    for (unsigned i = 0; i < n; i++)
        b[1 + i] = bufs[i];
    b[1 + n] = uv_buf_init("\r\n", 2);
    if (!conn_writev(c, b, n + 2))
        return 0;
    if (c->queued >= SY_HTTP_LOW_WATER)
        rp->was_above_low = true;
    return c->queued;
}

size_t sy_http_queued(const struct sy_http_req *req)
{
    const struct req_priv *rp = (const struct req_priv *)req;
    return rp->dead ? 0 : req->conn->queued;
}

void sy_http_end(struct sy_http_req *req, bool ok)
{
    struct req_priv *rp = (struct req_priv *)req;
    struct sy_http_conn *c = req->conn;
    if (rp->ended)
        return;
    rp->ended = true;
    if (rp->dead) {
        req_release(c);
        conn_maybe_free(c);
        return;
    }
    if (rp->chunked && ok)
        conn_write2(c, "0\r\n\r\n", 5, NULL, 0);
    if (rp->head.len)
        flush_with(rp, NULL, 0); /* a response without body bytes */
    bool keep =
        ok && req->keep_alive && !c->srv->closing && !c->srv->draining && rp->began && !c->peer_eof;
    req_release(c);
    if (!keep) {
        c->close_after_write = true;
        if (c->queued == 0)
            conn_close(c);
        return;
    }
    if (c->in_execute)
        return; /* conn_process continues with the bytes after this message */
    conn_next(c);
    if (!c->closed && !c->req && !c->out_blocked)
        conn_start_read(c);
}

void sy_http_respond(struct sy_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    struct sy_buf h;
    sy_buf_init(&h);
    if (content_type)
        sy_buf_printf(&h, "Content-Type: %s\r\n", content_type);
    if (extra_headers)
        sy_buf_puts(&h, extra_headers);
    sy_http_begin(req, status, h.data, (int64_t)len);
    sy_buf_fini(&h);
    sy_http_write(req, body, len);
    sy_http_end(req, true);
}

const char *sy_http_error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return "server_error";
    }
}

void sy_http_respond_error(struct sy_http_req *req, int status, const char *type, const char *code,
                           const char *message, const char *extra_headers)
{
    struct sy_buf b;
    sy_buf_init(&b);
    error_json(&b, status, type, code, message);
    sy_http_respond(req, status, "application/json", extra_headers, b.data, b.len);
    sy_buf_fini(&b);
}
