/* fuzz_http_request.c - libFuzzer target for the gateway's request path: bytes from a client
 * socket through the HTTP/1.1 server (llhttp settings, header/body limits, pipelining,
 * 100-continue) into the OpenAI body parser (sy_request_parse) and an error or echo response.
 * Every body is parsed twice, with the AVX2 string scanner and the portable one, and the two must
 * give the same verdict and message.
 *
 * Each input is written to one end of a socketpair whose other end the server adopts, in pieces
 * of 997 bytes with the loop run in between (so bodies are also read straight into their buffer,
 * with pipelined bytes behind them); the loop runs until the server has answered and closed, so
 * every code path runs for real.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/json_scan.h"
#include "api/request.h"
#include "http/server.h"

static uv_loop_t loop;
static struct sy_http_server *srv;

static void handler(void *ud, struct sy_http_req *req)
{
    (void)ud;
    enum sy_api_kind k = sy_api_kind_from_path(req->path.p, req->path.len);
    if (k == SY_API_OTHER) {
        sy_http_respond_error(req, 404, "invalid_request_error", "not_found", "no route", NULL);
        return;
    }
    struct sy_request r, rp;
    char err[256], errp[256];
    err[0] = errp[0] = '\0';
    int rc = sy_request_parse(k, req->body, req->body_len, &r, err, sizeof err);
    /* the portable string scanner must agree with the AVX2 one, to the error offset */
    sy_json_scan_portable(true);
    int rcp = sy_request_parse(k, req->body, req->body_len, &rp, errp, sizeof errp);
    sy_json_scan_portable(false);
    if (rc != rcp || strcmp(err, errp) != 0)
        abort();
    if (rc != 0) {
        sy_http_respond_error(req, 400, "invalid_request_error", NULL, err, NULL);
        return;
    }
    struct sy_str v;
    (void)sy_http_header(req, "x-request-id", &v);
    sy_http_begin(req, 200, "Content-Type: text/plain\r\n", -1);
    sy_http_write(req, r.model, strlen(r.model));
    sy_http_write(req, r.prompt.p, r.prompt.len);
    sy_http_end(req, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        uv_loop_init(&loop);
        /* a small keep_body_bytes, so bodies move between connections and the server's spare */
        struct sy_http_server_opts o = {
            .max_body_bytes = 4096, .keep_body_bytes = 512, .handler = handler};
        char err[256];
        if (sy_http_server_start(&loop, "127.0.0.1", 0, &o, &srv, err, sizeof err) != 0)
            abort();
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    if (sy_http_server_adopt(srv, sv[0]) != 0) {
        close(sv[1]);
        return 0;
    }
    size_t off = 0;
    char sink[65536];
    /* feed in pieces while draining responses so neither side blocks */
    for (int spins = 0; spins < 10000; spins++) {
        if (off < size) {
            size_t n = size - off > 997 ? 997 : size - off;
            ssize_t w = send(sv[1], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0)
                off = size; /* peer closed early (e.g. 413): stop feeding */
            if (off == size)
                shutdown(sv[1], SHUT_WR);
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = recv(sv[1], sink, sizeof sink, MSG_DONTWAIT);
        if (r == 0 && off == size)
            break; /* server closed its end */
    }
    close(sv[1]);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
