/* uvutil.h - libuv helpers shared by the HTTP server and the upstream client.
 *
 * - sy_scratch: one read buffer per loop. libuv reads one stream at a time and every read
 *   callback consumes or copies its bytes before returning, so a loop needs a single buffer
 *   instead of a malloc per read; a second request while it is lent out (not reached with
 *   libuv's one-read-at-a-time) gets a heap buffer.
 * - sy_bufs_after: the part of a buffer list that a partial write left unsent.
 * - sy_deadline_*: lazy timers. Arming records a deadline in loop time and touches the timer heap
 *   only when the timer is not running or would fire after the new deadline; a timer that fires
 *   early re-arms itself for the rest. Per-request deadline moves cost no heap operations.
 * - sy_listen_socket: the bound TCP socket both the HTTP server and the ext_proc h2 server
 *   listen on.
 */
#ifndef SY_HTTP_UVUTIL_H
#define SY_HTTP_UVUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sy_scratch {
    char *buf; /* allocated on first use */
    bool busy; /* lent to libuv, not yet returned */
};

/* Lends size bytes (size <= cap, the buffer's fixed capacity) to a read. */
void sy_scratch_lend(struct sy_scratch *s, size_t cap, size_t size, uv_buf_t *out);
/* Takes back what sy_scratch_lend gave (frees a heap fallback). */
void sy_scratch_return(struct sy_scratch *s, char *base);
void sy_scratch_fini(struct sy_scratch *s);

/* Writes to out[] the bytes of in[0..n) after the first `done`; returns how many buffers. */
unsigned sy_bufs_after(const uv_buf_t *in, unsigned n, size_t done, uv_buf_t *out);

/* Moves t's deadline to now + ms (loop time) and starts t with cb if it would fire later. */
void sy_deadline_arm(uv_timer_t *t, uint64_t *deadline_ms, uint64_t ms, uv_timer_cb cb);
/* For use in cb: true when deadline_ms has passed; otherwise re-arms t for the rest. */
bool sy_deadline_due(uv_timer_t *t, uint64_t deadline_ms, uv_timer_cb cb);

/* Creates a close-on-exec TCP socket bound to host:port ("localhost" = 127.0.0.1, a host
 * with ':' = IPv6) with SO_REUSEADDR, and SO_REUSEPORT when reuseport; the caller listens on
 * it and owns *fd. Returns 0, SY_EINVAL (bad address) or SY_EIO, with err filled. */
int sy_listen_socket(const char *host, uint16_t port, bool reuseport, int *fd, char *err,
                     size_t errcap);
/* Fails (SY_EIO, err "bind host:port: Address already in use") when a socket is listening on
 * host:port, also one bound with SO_REUSEPORT by another process of this user, which a
 * reuseport bind (sy_listen_socket) would silently join, splitting the connections between the
 * two. Binds a socket without SO_REUSEPORT and closes it; 0 when the port is free (or 0). A
 * check, not a lock: two processes probing in the same microseconds can both pass. */
int sy_listen_probe(const char *host, uint16_t port, char *err, size_t errcap);
/* The local port socket fd is bound to (the one the kernel chose for port 0). */
uint16_t sy_socket_port(int fd);

#endif
