/* uvutil.c - libuv helpers shared by the HTTP server and the upstream client (see uvutil.h). */
#include "http/uvutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

void sy_scratch_lend(struct sy_scratch *s, size_t cap, size_t size, uv_buf_t *out)
{
    if (s->busy) {
        out->base = sy_xmalloc(size);
    } else {
        if (!s->buf)
            s->buf = sy_xmalloc(cap);
        s->busy = true;
        out->base = s->buf;
    }
    out->len = size;
}

void sy_scratch_return(struct sy_scratch *s, char *base)
{
    if (base == s->buf)
        s->busy = false;
    else
        free(base);
}

void sy_scratch_fini(struct sy_scratch *s)
{
    free(s->buf);
    s->buf = NULL;
    s->busy = false;
}

unsigned sy_bufs_after(const uv_buf_t *in, unsigned n, size_t done, uv_buf_t *out)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (done >= in[i].len) {
            done -= in[i].len;
            continue;
        }
        out[k++] = uv_buf_init(in[i].base + done, (unsigned)(in[i].len - done));
        done = 0;
    }
    return k;
}

void sy_deadline_arm(uv_timer_t *t, uint64_t *deadline_ms, uint64_t ms, uv_timer_cb cb)
{
    *deadline_ms = uv_now(t->loop) + ms;
    if (!uv_is_active((uv_handle_t *)t) || uv_timer_get_due_in(t) > ms)
        uv_timer_start(t, cb, ms, 0);
}

bool sy_deadline_due(uv_timer_t *t, uint64_t deadline_ms, uv_timer_cb cb)
{
    uint64_t now = uv_now(t->loop);
    if (now >= deadline_ms)
        return true;
    uv_timer_start(t, cb, deadline_ms - now, 0);
    return false;
}

int sy_listen_socket(const char *host, uint16_t port, bool reuseport, int *fd, char *err,
                     size_t errcap)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port,
                         (struct sockaddr_in *)&ss);
    if (rc < 0) {
        snprintf(err, errcap, "%s:%u: invalid listen address", host, port);
        return SY_EINVAL;
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return SY_EIO;
    }
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t sl =
        ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(s, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errcap, "bind %s:%u: %s", host, port, strerror(errno));
        close(s);
        return SY_EIO;
    }
    *fd = s;
    return 0;
}

int sy_listen_probe(const char *host, uint16_t port, char *err, size_t errcap)
{
    if (port == 0)
        return 0; /* the kernel picks a port no listening socket holds */
    int fd;
    int rc = sy_listen_socket(host, port, false, &fd, err, errcap);
    if (rc == 0)
        close(fd);
    return rc;
}

uint16_t sy_socket_port(int fd)
{
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    return ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                            : ((struct sockaddr_in6 *)&bound)->sin6_port);
}
