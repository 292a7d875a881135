/* Unit tests for src/http/server.c: a loop thread serves, a blocking socket client talks to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/server.h"

static uv_loop_t loop;
static uv_async_t stop_async;
static struct sy_http_server *srv;
static pthread_t thr;
static uint16_t port;
static _Atomic int aborts;

static struct sy_http_req *streaming; /* request answered by the timer */
static uv_timer_t stream_timer;
static int stream_n;

static void stream_tick(uv_timer_t *t)
{
    if (!streaming)
        return;
    char chunk[32];
    int n = snprintf(chunk, sizeof chunk, "data: %d\n\n", stream_n);
    sy_http_write(streaming, chunk, (size_t)n);
    if (++stream_n == 3) {
        sy_http_end(streaming, true);
        streaming = NULL;
        uv_timer_stop(t);
    }
}

static void on_abort(struct sy_http_req *req)
{
    atomic_fetch_add(&aborts, 1);
    streaming = NULL;
    uv_timer_stop(&stream_timer);
}

/* Big responses: the socket cannot take them at once, so writes go partly through uv_try_write
 * and partly through the queue; the bytes must still arrive complete and in order. */
#define BIG_LEN     (4u << 20) /* >= CHUNK_LEN * CHUNK_COUNT */
#define CHUNK_LEN   (100u * 1000u)
#define CHUNK_COUNT 40

static char pattern_at(size_t i)
{
    return (char)('a' + (i * 7 + i / 4093) % 26);
}

static void big_handler(struct sy_http_req *req)
{
    static char *big;
    if (!big) {
        big = malloc(BIG_LEN);
        for (size_t i = 0; i < BIG_LEN; i++)
            big[i] = pattern_at(i);
    }
    if (sy_str_eq_c(req->path, "/big")) {
        sy_http_respond(req, 200, "text/plain", NULL, big, BIG_LEN);
        return;
    }
    /* /bigstream: CHUNK_COUNT chunked writes back to back, far beyond the socket buffer */
    sy_http_begin(req, 200, NULL, -1);
    size_t queued = 0;
    for (size_t k = 0; k < CHUNK_COUNT; k++)
        queued = sy_http_write(req, big + k * CHUNK_LEN, CHUNK_LEN);
    assert_true(queued > 0); /* most of it had to be queued */
    sy_http_end(req, true);
}

static void handler(void *ud, struct sy_http_req *req)
{
    if (sy_str_eq_c(req->path, "/echo")) {
        sy_http_respond(req, 200, "text/plain", "X-Test: 1\r\n", req->body, req->body_len);
    } else if (sy_str_eq_c(req->path, "/stream")) {
        sy_http_begin(req, 200, "Content-Type: text/event-stream\r\n", -1);
        streaming = req;
        req->on_abort = on_abort;
        stream_n = 0;
        uv_timer_start(&stream_timer, stream_tick, 20, 20);
    } else if (sy_str_eq_c(req->path, "/hang")) {
        sy_http_begin(req, 200, NULL, -1);
        streaming = req;
        req->on_abort = on_abort;
        stream_n = -1000000;
    } else if (sy_str_eq_c(req->path, "/writev")) {
        /* pieces of one read go out as one chunk; one piece as usual; none writes nothing */
        sy_http_begin(req, 200, NULL, -1);
        uv_buf_t b[3] = {uv_buf_init("data: a\n\n", 9), uv_buf_init("data: bb\n\n", 10),
                         uv_buf_init("data: ccc\n\n", 11)};
        sy_http_writev(req, b, 3);
        sy_http_writev(req, b + 1, 1);
        sy_http_writev(req, b, 0);
        sy_http_end(req, true);
    } else if (sy_str_eq_c(req->path, "/bodybytes")) {
        char n[32];
        int len = snprintf(n, sizeof n, "%zu", sy_http_server_body_bytes(srv));
        sy_http_respond(req, 200, "text/plain", NULL, n, (size_t)len);
    } else if (sy_str_eq_c(req->path, "/big") || sy_str_eq_c(req->path, "/bigstream")) {
        big_handler(req);
    } else {
        sy_http_respond_error(req, 404, "invalid_request_error", "not_found", "no route", NULL);
    }
}

static void on_stop(uv_async_t *a)
{
    sy_http_server_close(srv);
    uv_close((uv_handle_t *)&stop_async, NULL);
    uv_close((uv_handle_t *)&stream_timer, NULL);
}

static void *loop_main(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop_async, on_stop);
    uv_timer_init(&loop, &stream_timer);
    struct sy_http_server_opts o = {
        .max_body_bytes = 1000, .keep_body_bytes = 256, .handler = handler};
    char err[256];
    if (sy_http_server_start(&loop, "127.0.0.1", 0, &o, &srv, err, sizeof err) != 0)
        return -1;
    port = sy_http_server_port(srv);
    pthread_create(&thr, NULL, loop_main, NULL);
    return 0;
}

static int teardown(void **state)
{
    uv_async_send(&stop_async);
    pthread_join(thr, NULL);
    uv_loop_close(&loop);
    return 0;
}

/* Connects to the server; rcvbuf > 0 shrinks the receive buffer first (a slow client). */
static int dial_with(int rcvbuf, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int dial(void)
{
    return dial_with(0, 5);
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads until `until` appears in the accumulated data or EOF; returns bytes read. */
static size_t read_until(int fd, char *buf, size_t cap, const char *until)
{
    size_t n = 0;
    buf[0] = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
        if (until && strstr(buf, until))
            break;
    }
    return n;
}

static void test_echo_keepalive_and_pipelining(void **state)
{
    int fd = dial();
    char buf[4096];
    send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    read_until(fd, buf, sizeof buf, "hello");
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "X-Test: 1"));
    assert_non_null(strstr(buf, "Content-Length: 5"));
    /* two pipelined requests in one write, one of them chunked */
    send_all(
        fd,
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n");
    read_until(fd, buf, sizeof buf, "def");
    assert_non_null(strstr(buf, "abc"));
    assert_non_null(strstr(buf, "def"));
    close(fd);
}

/* A body that arrives in two parts is read straight into its buffer, and that read may run past
 * the body's end (the server offers some slack): the pipelined requests behind it must still be
 * parsed whole, whether they fit in the slack or run beyond it. */
static void test_pipelined_after_body_direct_read(void **state)
{
    static const size_t next_sizes[] = {3, 400, 990};
    for (size_t k = 0; k < sizeof next_sizes / sizeof next_sizes[0]; k++) {
        int fd = dial();
        char body[901], next_body[1001], msg[2048], buf[8192];
        for (size_t i = 0; i < 900; i++)
            body[i] = (char)('a' + i % 26);
        body[900] = 0;
        for (size_t i = 0; i < next_sizes[k]; i++)
            next_body[i] = (char)('A' + i % 26);
        next_body[next_sizes[k]] = 0;
        /* the head and 100 bytes; the rest of the body goes straight into its buffer */
        snprintf(msg, sizeof msg, "POST /echo HTTP/1.1\r\nContent-Length: 900\r\n\r\n%.100s", body);
        send_all(fd, msg);
        usleep(50 * 1000);
        snprintf(msg, sizeof msg,
                 "%sPOST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%sPOST /echo "
                 "HTTP/1.1\r\nContent-Length: 3\r\n\r\n123",
                 body + 100, next_sizes[k], next_body);
        send_all(fd, msg);
        size_t n = read_until(fd, buf, sizeof buf, "123");
        assert_true(n > 0);
        char *first = strstr(buf, body), *second = strstr(buf, next_body);
        assert_non_null(first);
        assert_non_null(second);
        assert_true(second > first);
        assert_true(strstr(second + next_sizes[k], "123") != NULL);
        char *p = buf;
        int responses = 0;
        while ((p = strstr(p, "HTTP/1.1 200 OK")) != NULL) {
            responses++;
            p++;
        }
        assert_int_equal(responses, 3);
        close(fd);
    }
}

/* Idle keep-alive connections hold no body buffer above keep_body_bytes (256 here): after eight
 * connections each sent a 900-byte body and stayed open, the server holds one such buffer (its
 * spare, reused by the next large body), not eight. */
static void test_idle_connections_give_back_body_buffers(void **state)
{
    enum { CONNS = 8, LEN = 900 };
    char body[LEN + 1], msg[2048], buf[4096];
    memset(body, 'q', LEN);
    body[LEN] = 0;
    snprintf(msg, sizeof msg, "POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", LEN, body);
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = dial();
        send_all(fds[i], msg);
        read_until(fds[i], buf, sizeof buf, body);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        assert_non_null(strstr(buf, body)); /* the body survived the buffer juggling */
    }
    int fd = dial();
    send_all(fd, "GET /bodybytes HTTP/1.1\r\n\r\n");
    read_until(fd, buf, sizeof buf, "\r\n\r\n");
    char *p = strstr(buf, "\r\n\r\n");
    assert_non_null(p);
    if (p[4] == 0) /* the body may come in a second segment */
        read_until(fd, p + 4, sizeof buf - (size_t)(p + 4 - buf), NULL);
    size_t held = strtoul(p + 4, NULL, 10);
    assert_true(held >= LEN);     /* the spare */
    assert_true(held < 2 * 1500); /* one buffer of ~1.4 kB, not eight */
    close(fd);
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
}

static void test_errors(void **state)
{
    char buf[4096];
    int fd = dial();
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
    read_until(fd, buf, sizeof buf, NULL);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "\"error\""));
    close(fd);

    fd = dial();
    send_all(fd, "GARBAGE\r\n\r\n");
    read_until(fd, buf, sizeof buf, NULL);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    close(fd);

    fd = dial();
    send_all(fd, "GET /nope HTTP/1.1\r\n\r\n");
    read_until(fd, buf, sizeof buf, "}}");
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
    assert_non_null(strstr(buf, "\"code\":\"not_found\""));
    close(fd);

    /* a chunked body that grows past the limit */
    fd = dial();
    send_all(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[700];
    memset(chunk, 'a', sizeof chunk);
    char line[16];
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "%zx\r\n", sizeof chunk);
        send_all(fd, line);
        assert_int_equal(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
        send_all(fd, "\r\n");
    }
    read_until(fd, buf, sizeof buf, NULL);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    close(fd);
}

static void test_stream_and_abort(void **state)
{
    char buf[4096];
    int fd = dial();
    send_all(fd, "GET /stream HTTP/1.1\r\n\r\n");
    read_until(fd, buf, sizeof buf, "0\r\n\r\n");
    assert_non_null(strstr(buf, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(buf, "data: 0"));
    assert_non_null(strstr(buf, "data: 2"));
    close(fd);

    int before = atomic_load(&aborts);
    fd = dial();
    send_all(fd, "GET /hang HTTP/1.1\r\n\r\n");
    read_until(fd, buf, sizeof buf, "\r\n\r\n");
    /* A client that is really gone (reset). A plain FIN is a half-close: the request is still
     * served and an abort shows up only when a write fails (see server.h). */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    for (int i = 0; i < 200 && atomic_load(&aborts) == before; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&aborts), before + 1);
}

static void test_writev_one_chunk(void **state)
{
    char buf[4096];
    int fd = dial();
    send_all(fd, "GET /writev HTTP/1.1\r\n\r\n");
    read_until(fd, buf, sizeof buf, "0\r\n\r\n");
    const char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, "1e\r\ndata: a\n\ndata: bb\n\ndata: ccc\n\n\r\n"
                                  "a\r\ndata: bb\n\n\r\n"
                                  "0\r\n\r\n");
    close(fd);
}

static void test_expect_continue(void **state)
{
    char buf[4096];
    int fd = dial();
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    read_until(fd, buf, sizeof buf, "\r\n\r\n");
    assert_non_null(strstr(buf, "100 Continue"));
    send_all(fd, "ok");
    read_until(fd, buf, sizeof buf, "ok");
    assert_non_null(strstr(buf, "200 OK"));
    close(fd);
}

/* A client with a tiny receive buffer that starts reading late. */
static int dial_slow(void)
{
    return dial_with(4096, 10);
}

/* Reads the whole response of a Connection: close exchange into a malloc'd buffer. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = BIG_LEN + 65536, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    *len = n;
    return buf;
}

static void test_partial_writes_keep_order(void **state)
{
    /* Content-Length: head and a 4 MiB body in one write call */
    int fd = dial_slow();
    send_all(fd, "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n");
    usleep(100000); /* let the server fill the socket and queue the rest */
    size_t n;
    char *buf = read_all(fd, &n);
    char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    assert_int_equal(n - (size_t)(body - buf), BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        if (body[i] != pattern_at(i))
            fail_msg("byte %zu differs", i);
    free(buf);
    close(fd);

    /* chunked: 40 writes of 100 kB, decoded and compared */
    fd = dial_slow();
    send_all(fd, "GET /bigstream HTTP/1.1\r\nConnection: close\r\n\r\n");
    usleep(100000);
    buf = read_all(fd, &n);
    char *p = strstr(buf, "\r\n\r\n");
    assert_non_null(p);
    p += 4;
    size_t at = 0;
    for (;;) {
        char *end;
        unsigned long len = strtoul(p, &end, 16);
        assert_memory_equal(end, "\r\n", 2);
        p = end + 2;
        if (len == 0)
            break;
        assert_int_equal(len, CHUNK_LEN);
        for (size_t i = 0; i < len; i++)
            if (p[i] != pattern_at(at + i))
                fail_msg("chunked byte %zu differs", at + i);
        at += len;
        p += len;
        assert_memory_equal(p, "\r\n", 2);
        p += 2;
    }
    assert_int_equal(at, (size_t)CHUNK_LEN * CHUNK_COUNT);
    free(buf);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_keepalive_and_pipelining),
        cmocka_unit_test(test_pipelined_after_body_direct_read),
        cmocka_unit_test(test_idle_connections_give_back_body_buffers),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stream_and_abort),
        cmocka_unit_test(test_writev_one_chunk),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_partial_writes_keep_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
