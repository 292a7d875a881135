/* busypoll.h - run a libuv loop that polls instead of sleeping for a while after I/O.
 *
 * Opt-in latency mode for the gateway's worker loops (config `busyPoll`). Between
 * requests a worker normally sleeps in epoll_wait, and each new event pays for a wake-up: a
 * context switch and, when the CPU went idle, an inter-processor interrupt (tens of
 * microseconds on a virtual machine). With busy polling the loop keeps calling epoll_wait with
 * a zero timeout for `busy_ns` after the last read callback, so a response or a client's next
 * request that lands in that window is picked up without any wake-up. Once the window passes
 * with no I/O the loop sleeps as usual, so an idle gateway costs nothing; a busy one spends up
 * to the window's length of CPU after each burst.
 *
 * Sharing the core: after a poll that found nothing the thread yields, and if that yield let
 * another thread run (the kernel counts an involuntary context switch) the core is wanted
 * elsewhere, so the window ends and the loop sleeps. Without this, polling at saturation took
 * CPU from wrk and the model server on a 2-core machine: 220 KB bodies at 64 connections went
 * from 1.07x to 0.98x of nginx's req/s; with it, 1.14x.
 *
 * Activity is counted by the read and accept callbacks of the HTTP server and the read callback
 * of the upstream client (sy_busypoll_note_io); timers and async wake-ups neither open nor
 * extend a window. The window length is read on every poll that finds nothing, so lowering it
 * (a SIGHUP reload) ends windows that steady traffic would otherwise keep open. The counters are
 * published as they change, so /metrics shows a worker that has been polling for a long time.
 *
 * Rejected: SO_BUSY_POLL / epoll busy poll (net.core.busy_poll): they poll a NIC queue and do
 * nothing for loopback or veth, which is where a sidecar gateway and its model servers talk;
 * spinning only after a short body read (previous experiment: +1-2% for 220 KB bodies, since
 * the wake-ups that cost most are the ones between requests and while the model server works).
 */
#ifndef SY_HTTP_BUSYPOLL_H
#define SY_HTTP_BUSYPOLL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* I/O callbacks on this thread so far. */
extern _Thread_local uint64_t sy_busypoll_io;

/* Called by read callbacks: there was I/O, keep polling. */
static inline void sy_busypoll_note_io(void)
{
    sy_busypoll_io++;
}

/* Totals since the loop started, published when a window opens, after each poll that finds
 * nothing and when a window ends (other threads may read them, e.g. for /metrics). */
struct sy_busypoll_stats {
    _Atomic uint64_t polls;   /* zero-timeout loop iterations */
    _Atomic uint64_t windows; /* poll windows: I/O woke the loop and it went on polling */
    _Atomic uint64_t yields;  /* windows cut short because another thread wanted the core */
    _Atomic uint64_t idle_ns; /* time in polls that found nothing: what polling costs */
};

/* Whether a poll window ends when another thread wants the core (default true; tests of the
 * window logic turn it off so that unrelated threads on the machine cannot end a window). */
void sy_busypoll_share_core(bool on);

/* Runs loop until it has no active handles, like uv_run(UV_RUN_DEFAULT) (but uv_stop does not
 * end it: the loop must be ended by closing its handles), polling for *busy_ns (0 = never poll)
 * after the last I/O callback. *busy_ns may change while the loop runs. stats (zeroed by the
 * caller) may be NULL. */
void sy_busypoll_run(uv_loop_t *loop, const _Atomic uint64_t *busy_ns,
                     struct sy_busypoll_stats *stats);

#endif
