/* Unit tests for src/http/busypoll.c: when the loop polls, when it sleeps, and that it gives the
 * core up to another thread. Timers stand in for I/O (a callback that calls
 * sy_busypoll_note_io is what a read callback does); windows are long against the timer
 * intervals, so the counts asserted do not depend on the machine's speed. Tests of the window
 * logic turn core sharing off: a thread of another program that runs on this core for a moment
 * would end a window early. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "http/busypoll.h"

#define MS 1000000ull

struct tick {
    uv_timer_t timer;
    uv_timer_t closer;
    int left;                            /* ticks to go */
    bool io;                             /* each tick counts as I/O */
    int closeat;                         /* ms after the last tick to close both timers */
    struct sy_busypoll_stats *live;      /* the counters the loop publishes */
    uint64_t last_windows, last_idle_ns; /* read from live at the last tick */
};

static struct tick *last_run; /* the run_ticks in progress or just finished */

static void close_all(uv_timer_t *t)
{
    struct tick *k = t->data;
    uv_close((uv_handle_t *)&k->timer, NULL);
    uv_close((uv_handle_t *)&k->closer, NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct tick *k = t->data;
    if (k->io)
        sy_busypoll_note_io();
    if (--k->left == 0) {
        k->last_windows = atomic_load(&k->live->windows);
        k->last_idle_ns = atomic_load(&k->live->idle_ns);
        uv_timer_stop(t);
        uv_timer_start(&k->closer, close_all, (uint64_t)k->closeat, 0);
    }
}

/* Runs a loop whose timer ticks n times every `every` ms, then closes closeat ms later. */
static struct sy_busypoll_stats run_ticks(uint64_t busy_ns, int n, int every, bool io, int closeat)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct tick k;
    struct sy_busypoll_stats live = {0};
    k = (struct tick){.left = n, .io = io, .closeat = closeat, .live = &live};
    last_run = &k;
    uv_timer_init(&loop, &k.timer);
    uv_timer_init(&loop, &k.closer);
    k.timer.data = k.closer.data = &k;
    uv_timer_start(&k.timer, on_tick, (uint64_t)every, (uint64_t)every);
    _Atomic uint64_t busy;
    atomic_init(&busy, busy_ns);
    sy_busypoll_run(&loop, &busy, &live);
    assert_int_equal(uv_loop_close(&loop), 0); /* returned because nothing is left */
    k.live = NULL;
    return (struct sy_busypoll_stats){atomic_load(&live.polls), atomic_load(&live.windows),
                                      atomic_load(&live.yields), atomic_load(&live.idle_ns)};
}

static void test_off_never_polls(void **state)
{
    (void)state;
    struct sy_busypoll_stats st = run_ticks(0, 5, 1, true, 1);
    assert_int_equal(st.polls, 0);
    assert_int_equal(st.idle_ns, 0);
    assert_int_equal(st.windows, 0);
}

static void test_timers_alone_do_not_poll(void **state)
{
    (void)state;
    /* no I/O: a timer or a cross-thread wake-up says nothing about what comes next */
    struct sy_busypoll_stats st = run_ticks(200 * MS, 5, 1, false, 1);
    assert_int_equal(st.polls, 0);
    assert_int_equal(st.windows, 0);
}

static void test_io_keeps_polling_then_sleeps(void **state)
{
    (void)state;
    /* Ticks with I/O every 10 ms for 150 ms, a 100 ms window, the close 300 ms after the last
     * tick. The first tick is slept for; each later one lands inside the window and moves its
     * end, so one window covers the whole burst (longer than the window) and ends 100 ms after
     * the last tick; then the loop sleeps until the close. (Sleeps are not counted: libuv may
     * wake up a little before a timer is due.) */
    struct sy_busypoll_stats st = run_ticks(100 * MS, 16, 10, true, 300);
    assert_int_equal(st.windows, 1);
    assert_true(st.polls > 0);
    /* at least the window after its last I/O: every poll from the last I/O until the window
     * closed found nothing and is counted, and the window closes only once 100 ms have passed.
     * (The gaps inside the burst count too, but how much of them a loaded machine leaves to
     * idle polls, rather than to polls that found a tick, is not fixed: not asserted.) */
    assert_true(st.idle_ns >= 100 * MS);
    assert_true(st.idle_ns < 440 * MS); /* and then it stopped: it did not poll to the close */
    /* the counters were published while the window was still open (for /metrics) */
    assert_int_equal(last_run->last_windows, 1);
    /* how much of the burst's gaps were idle polls depends on the machine's load (see above):
     * only that what was published then is part of the final count */
    assert_true(last_run->last_idle_ns <= st.idle_ns);
    assert_int_equal(st.yields, 0); /* nothing else wanted this core */
}

static _Atomic bool spin_stop;

static void *spinner(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        ;
    return NULL;
}

static void test_gives_the_core_up(void **state)
{
    (void)state;
    /* Another thread busy on the same core: the first poll that finds nothing yields to it,
     * the window (2 s) ends at once and the loop sleeps until the close. */
    sy_busypoll_share_core(true);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cpu_set_t saved;
    assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setaffinity_np(&at, sizeof one, &one);
    /* Whether a yield switches to the spinner is the kernel's call: on a machine loaded by
     * other processes it may run something else, or nothing, first. Up to three tries; one is
     * enough to show the loop gives the core up when asked. */
    struct sy_busypoll_stats st;
    for (int attempt = 0; attempt < 3; attempt++) {
        atomic_store(&spin_stop, false);
        pthread_t t;
        assert_int_equal(pthread_create(&t, &at, spinner, NULL), 0);
        st = run_ticks(2000 * MS, 1, 1, true, 300);
        atomic_store(&spin_stop, true);
        pthread_join(t, NULL);
        if (st.yields == 1 && st.windows == 1 && st.idle_ns < 1000 * MS)
            break;
    }
    pthread_attr_destroy(&at);
    sched_setaffinity(0, sizeof saved, &saved);
    sy_busypoll_share_core(false);
    assert_int_equal(st.yields, 1);
    assert_int_equal(st.windows, 1);
    assert_true(st.idle_ns < 1000 * MS); /* far short of the 2 s window */
}

/* Two bursts of three ticks with I/O, 300 ms apart; the third tick of the first burst turns
 * busy polling off. */
struct flip {
    uv_timer_t timer;
    _Atomic uint64_t *busy;
    int n; /* ticks so far */
};

static void on_flip_tick(uv_timer_t *t)
{
    struct flip *f = t->data;
    sy_busypoll_note_io();
    f->n++;
    if (f->n == 3) {
        atomic_store(f->busy, 0);
        uv_timer_start(t, on_flip_tick, 300, 1); /* the second burst */
    } else if (f->n == 6) {
        uv_timer_start(t, on_flip_tick, 300, 0); /* the last callback closes */
    } else if (f->n == 7) {
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void test_turning_it_off_ends_an_open_window(void **state)
{
    (void)state;
    /* With polling left on, each burst would get a window of its own (two), each lasting 100 ms
     * past its last tick. Turned off at the first burst's last tick, the open window ends at the
     * next poll that finds nothing, and the second burst gets none. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    _Atomic uint64_t busy;
    atomic_init(&busy, 100 * MS);
    struct flip f = {.busy = &busy};
    uv_timer_init(&loop, &f.timer);
    f.timer.data = &f;
    uv_timer_start(&f.timer, on_flip_tick, 1, 1);
    struct sy_busypoll_stats st = {0};
    sy_busypoll_run(&loop, &busy, &st);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(f.n, 7);
    assert_int_equal(st.windows, 1);
    assert_true(st.idle_ns < 50 * MS); /* not the 100 ms the window was opened with */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_never_polls),
        cmocka_unit_test(test_timers_alone_do_not_poll),
        cmocka_unit_test(test_io_keeps_polling_then_sleeps),
        cmocka_unit_test(test_gives_the_core_up),
        cmocka_unit_test(test_turning_it_off_ends_an_open_window),
    };
    sy_busypoll_share_core(false);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
