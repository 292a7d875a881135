/* busypoll.c - see busypoll.h. */
#include "http/busypoll.h"

#include <sched.h>
#include <sys/resource.h>

_Thread_local uint64_t sy_busypoll_io;
static _Atomic bool share_core = true;

void sy_busypoll_share_core(bool on)
{
    atomic_store(&share_core, on);
}

/* Yields the CPU; true when another thread was waiting for it (the yield switched away, which the
 * kernel counts as an involuntary context switch of this thread). */
static bool yielded_to_another(void)
{
    if (!atomic_load_explicit(&share_core, memory_order_relaxed)) {
        sched_yield();
        return false;
    }
    struct rusage a, b;
    getrusage(RUSAGE_THREAD, &a);
    sched_yield();
    getrusage(RUSAGE_THREAD, &b);
    return b.ru_nivcsw != a.ru_nivcsw;
}

static void publish(struct sy_busypoll_stats *stats, uint64_t polls, uint64_t windows,
                    uint64_t yields, uint64_t idle_ns)
{
    if (!stats)
        return;
    atomic_store_explicit(&stats->polls, polls, memory_order_relaxed);
    atomic_store_explicit(&stats->windows, windows, memory_order_relaxed);
    atomic_store_explicit(&stats->yields, yields, memory_order_relaxed);
    atomic_store_explicit(&stats->idle_ns, idle_ns, memory_order_relaxed);
}

void sy_busypoll_run(uv_loop_t *loop, const _Atomic uint64_t *busy_ns,
                     struct sy_busypoll_stats *stats)
{
    uint64_t polls = 0, windows = 0, yields = 0, idle_ns = 0;
    for (;;) {
        uint64_t seen = sy_busypoll_io;
        if (!uv_run(loop, UV_RUN_ONCE))
            break;
        if (sy_busypoll_io == seen || atomic_load_explicit(busy_ns, memory_order_relaxed) == 0)
            continue; /* no I/O (a timer or a wake-up): nothing to expect soon */
        seen = sy_busypoll_io;
        windows++;
        publish(stats, polls, windows, yields, idle_ns);
        uint64_t last = uv_hrtime(), now = last;
        int alive = 1;
        bool idle = false;
        while (alive) {
            /* Only a poll that found nothing yields: back-to-back I/O is served without a
             * system call in between. */
            if (idle && yielded_to_another()) {
                yields++;
                break; /* this core is wanted elsewhere: stop polling, sleep */
            }
            polls++;
            uint64_t before = now;
            alive = uv_run(loop, UV_RUN_NOWAIT);
            now = uv_hrtime();
            idle = sy_busypoll_io == seen;
            if (!idle) {
                seen = sy_busypoll_io;
                last = now;
                continue;
            }
            idle_ns += now - before;
            publish(stats, polls, windows, yields, idle_ns);
            /* read every time, so that a lower value (a reload) ends a window at once */
            if (now - last >= atomic_load_explicit(busy_ns, memory_order_relaxed))
                break;
        }
        publish(stats, polls, windows, yields, idle_ns);
        if (!alive)
            break;
    }
}
