/* Unit tests for the queue-wait line (src/sched/queue_wait.c) behind predicted-latency-producer's
 * queueAwareTTFT: the decayed least-squares line recovers a known intercept and per-endpoint slope
 * (so a slow and a fast replica at the same queue length get different waits), not ready until
 * enough queued samples, the ratio form when the waiting counts have no spread, clamps (slope and
 * intercept non-negative), forgetting, and bad input ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "sched/queue_wait.h"

static void test_line_per_endpoint(void **st)
{
    (void)st;
    struct sy_queue_wait *q = sy_queue_wait_new(0, 0);
    double t = -1;
    assert_int_equal(sy_queue_wait_estimate(q, "fast:1", 3, &t), SY_EBUSY);
    /* fast: 0.1 s + 0.2 s per queued request; slow: 0.2 s + 0.3 s per queued request */
    for (int k = 0; k < 300; k++) {
        double w = k % 10;
        sy_queue_wait_observe(q, "fast:1", w, 0.1 + 0.2 * w);
        sy_queue_wait_observe(q, "slow:1", w, 0.2 + 0.3 * w);
    }
    assert_int_equal(sy_queue_wait_estimate(q, "fast:1", 5, &t), 0);
    assert_true(fabs(t - 1.1) < 1e-6);
    assert_int_equal(sy_queue_wait_estimate(q, "slow:1", 5, &t), 0);
    assert_true(fabs(t - 1.7) < 1e-6);
    assert_int_equal(sy_queue_wait_estimate(q, "slow:1", 0, &t), 0);
    assert_true(fabs(t - 0.2) < 1e-6);
    /* an endpoint never observed has no line */
    assert_int_equal(sy_queue_wait_estimate(q, "other:1", 5, &t), SY_EBUSY);
    sy_queue_wait_free(q);
}

static void test_not_ready_without_queued_samples(void **st)
{
    (void)st;
    struct sy_queue_wait *q = sy_queue_wait_new(0, 0);
    double t = -1;
    for (int k = 0; k < 100; k++) /* never behind a queue: the slope is unknown */
        sy_queue_wait_observe(q, "a:1", 0, 0.1);
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 2, &t), SY_EBUSY);
    for (int k = 0; k < 3; k++)
        sy_queue_wait_observe(q, "a:1", 4, 2.1);
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 2, &t), SY_EBUSY);
    sy_queue_wait_observe(q, "a:1", 4, 2.1);
    sy_queue_wait_observe(q, "a:1", 4, 2.1);
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 4, &t), 0);
    assert_true(t > 1.5 && t < 2.5);
    sy_queue_wait_free(q);
}

static void test_ratio_form_and_clamps(void **st)
{
    (void)st;
    struct sy_queue_wait *q = sy_queue_wait_new(0, 0);
    double t = -1;
    /* every sample behind 3 queued requests, 2 s: 0.5 s per position, the request included */
    for (int k = 0; k < 20; k++)
        sy_queue_wait_observe(q, "a:1", 3, 2.0);
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 7, &t), 0);
    assert_true(fabs(t - 4.0) < 1e-9);
    /* TTFT falling with the queue: the slope is clamped to 0 (more queue never predicts less) */
    for (int k = 0; k < 200; k++) {
        double w = k % 8;
        sy_queue_wait_observe(q, "b:1", w, 3.0 - 0.1 * w);
    }
    double t0, t7;
    assert_int_equal(sy_queue_wait_estimate(q, "b:1", 0, &t0), 0);
    assert_int_equal(sy_queue_wait_estimate(q, "b:1", 7, &t7), 0);
    assert_true(t7 >= t0 - 1e-9);
    /* a line that would have a negative intercept goes through the origin instead */
    for (int k = 0; k < 200; k++) {
        double w = 1 + k % 8;
        sy_queue_wait_observe(q, "c:1", w, 1.0 * w - 0.5);
    }
    assert_int_equal(sy_queue_wait_estimate(q, "c:1", 0, &t), 0);
    assert_true(t >= 0);
    assert_int_equal(sy_queue_wait_estimate(q, "c:1", 4, &t), 0);
    assert_true(t > 3.0 && t < 4.0);
    sy_queue_wait_free(q);
}

static void test_forgets(void **st)
{
    (void)st;
    struct sy_queue_wait *q = sy_queue_wait_new(0, 32);
    double t = -1;
    for (int k = 0; k < 200; k++)
        sy_queue_wait_observe(q, "a:1", k % 6, 0.1 + 1.0 * (k % 6));
    /* the replica got 4x faster: within a few horizons the line follows */
    for (int k = 0; k < 320; k++)
        sy_queue_wait_observe(q, "a:1", k % 6, 0.1 + 0.25 * (k % 6));
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 4, &t), 0);
    assert_true(fabs(t - 1.1) < 0.01);
    sy_queue_wait_free(q);
}

static void test_bad_input_ignored(void **st)
{
    (void)st;
    struct sy_queue_wait *q = sy_queue_wait_new(4, 0);
    double t = -1;
    for (int k = 0; k < 20; k++) {
        sy_queue_wait_observe(q, "a:1", 2, NAN);
        sy_queue_wait_observe(q, "a:1", 2, -1);
        sy_queue_wait_observe(q, "a:1", 2, 0);
        sy_queue_wait_observe(q, "a:1", -1, 1);
        sy_queue_wait_observe(q, "a:1", INFINITY, 1);
        sy_queue_wait_observe(q, NULL, 2, 1);
        sy_queue_wait_observe(NULL, "a:1", 2, 1);
    }
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", 2, &t), SY_EBUSY);
    assert_int_equal(sy_queue_wait_estimate(q, "a:1", -1, &t), SY_EINVAL);
    assert_int_equal(sy_queue_wait_estimate(NULL, "a:1", 1, &t), SY_EINVAL);
    /* a full table drops new endpoints instead of evicting learned ones */
    const char *names[] = {"e:1", "e:2", "e:3", "e:4", "e:5"};
    for (int k = 0; k < 10; k++)
        for (int e = 0; e < 5; e++)
            sy_queue_wait_observe(q, names[e], 1 + k % 3, 1.0 + k % 3);
    int ready = 0;
    for (int e = 0; e < 5; e++)
        ready += sy_queue_wait_estimate(q, names[e], 1, &t) == 0;
    assert_int_equal(ready, 4);
    sy_queue_wait_free(NULL);
    sy_queue_wait_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_per_endpoint),
        cmocka_unit_test(test_not_ready_without_queued_samples),
        cmocka_unit_test(test_ratio_form_and_clamps),
        cmocka_unit_test(test_forgets),
        cmocka_unit_test(test_bad_input_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
