/* Unit tests for src/http/uvutil.c: partial-write remainders, the scratch buffer, lazy deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/uvutil.h"

static void test_bufs_after(void **state)
{
    (void)state;
    char a[] = "head", b[] = "body!", c[] = "\r\n";
    uv_buf_t in[3] = {uv_buf_init(a, 4), uv_buf_init(b, 5), uv_buf_init(c, 2)};
    uv_buf_t out[3];
    /* every split point gives the same bytes as the tail of the concatenation */
    const char *all = "headbody!\r\n";
    for (size_t done = 0; done <= 11; done++) {
        unsigned n = sy_bufs_after(in, 3, done, out);
        char got[16];
        size_t at = 0;
        for (unsigned i = 0; i < n; i++) {
            assert_true(out[i].len > 0);
            memcpy(got + at, out[i].base, out[i].len);
            at += out[i].len;
        }
        assert_int_equal(at, 11 - done);
        assert_memory_equal(got, all + done, at);
    }
    assert_int_equal(sy_bufs_after(in, 3, 4, out), 2); /* a whole first buffer skipped */
    assert_ptr_equal(out[0].base, b);
    assert_int_equal(sy_bufs_after(in, 3, 6, out), 2); /* into the second */
    assert_ptr_equal(out[0].base, b + 2);
}

static void test_scratch(void **state)
{
    (void)state;
    struct sy_scratch s = {0};
    uv_buf_t a, b;
    sy_scratch_lend(&s, 64, 16, &a);
    assert_ptr_equal(a.base, s.buf);
    assert_int_equal(a.len, 16);
    sy_scratch_lend(&s, 64, 64, &b); /* lent out: a heap buffer of its own */
    assert_ptr_not_equal(b.base, s.buf);
    sy_scratch_return(&s, b.base);
    sy_scratch_return(&s, a.base);
    sy_scratch_lend(&s, 64, 64, &b); /* back: the same buffer again */
    assert_ptr_equal(b.base, a.base);
    sy_scratch_return(&s, b.base);
    sy_scratch_fini(&s);
}

static int fired;
static uint64_t deadline;

static void on_timer(uv_timer_t *t)
{
    if (sy_deadline_due(t, deadline, on_timer))
        fired++;
}

static void test_deadline(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uint64_t start = uv_now(&loop);
    sy_deadline_arm(&t, &deadline, 30, on_timer);
    /* moving the deadline later does not restart the timer; it fires early and re-arms */
    sy_deadline_arm(&t, &deadline, 80, on_timer);
    assert_true(uv_timer_get_due_in(&t) <= 30);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(fired, 1);
    uv_update_time(&loop);
    assert_true(uv_now(&loop) - start >= 80);
    /* an earlier deadline restarts it */
    fired = 0;
    sy_deadline_arm(&t, &deadline, 1000, on_timer);
    sy_deadline_arm(&t, &deadline, 10, on_timer);
    assert_true(uv_timer_get_due_in(&t) <= 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(fired, 1);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufs_after),
        cmocka_unit_test(test_scratch),
        cmocka_unit_test(test_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
