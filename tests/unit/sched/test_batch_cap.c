/* Unit tests for the learned batch cap (src/sched/batch_cap.c) behind predicted-latency-producer's
 * capAwareTTFT: a plateau of queued scrapes at the top of the running range becomes the cap;
 * transient queues (a request waiting for the next engine step, at varying running counts) do
 * not; one scrape read by many cycles counts once; malformed gauges are ignored; a raised cap is
 * dropped at once and relearned, a lowered one learned from a persistent plateau, an unconfirmed
 * one expires; the slot-wait term (Little's law at the cap) including the requests the gateway
 * sent since the scrape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "core/err.h"
#include "sched/batch_cap.h"

static uint64_t stamp = 1;

/* n scrapes of (running, waiting), each a new scrape */
static void feed(struct sy_batch_cap *b, const char *a, int n, double r, double w)
{
    for (int k = 0; k < n; k++)
        assert_true(sy_batch_cap_scrape(b, a, ++stamp, r, w, 0, NULL) >= 0);
}

static void slot_times(struct sy_batch_cap *b, const char *a, double decode_s)
{
    for (int k = 0; k < 64; k++)
        sy_batch_cap_observe(b, a, 0.1, 0.1 + decode_s);
}

static void test_plateau_learned(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap = -1;
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    /* ramp up without queues, then the engine queues at 96 */
    for (int r = 10; r <= 96; r += 2)
        feed(b, "e:1", 1, r, 0);
    feed(b, "e:1", 3, 96, 2);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY); /* 3 < RUN_MIN */
    /* the scrape that completes the plateau reports the new cap, the next ones nothing */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 96, 3, 0, &cap), 1);
    assert_true(cap == 96);
    cap = -1;
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 96);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 96, 3, 0, &cap), 0);
    /* dropped (running above it): reported as 0 */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 120, 0, 0, &cap), 1);
    assert_true(cap == 0);
    feed(b, "e:1", 4, 120, 1);
    /* another endpoint has its own cap */
    assert_int_equal(sy_batch_cap_get(b, "f:1", &cap), SY_EBUSY);
    sy_batch_cap_free(b);
}

static void test_transients_ignored(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap;
    /* a request waits for the next step at every load; running keeps moving (it is admitted) */
    for (int k = 0; k < 2000; k++) {
        double r = 40 + (k % 7) * 3;
        feed(b, "e:1", 1, r, k % 3 == 0 ? 1 : 0);
    }
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    /* a short run of queued scrapes below the running maximum seen is not a plateau either */
    feed(b, "e:1", 5, 45, 1);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    sy_batch_cap_free(b);
}

static void test_same_scrape_counts_once(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap;
    feed(b, "e:1", 1, 50, 0);
    /* one transient scrape read by 100 scheduling cycles */
    for (int k = 0; k < 100; k++)
        assert_int_equal(sy_batch_cap_scrape(b, "e:1", 777, 50, 1, 0, NULL), 0);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    /* stamp 0 = never scraped: ignored */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", 0, 50, 1, 0, NULL), SY_EINVAL);
    sy_batch_cap_free(b);
}

static void test_malformed_ignored(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap, w;
    feed(b, "e:1", 4, 32, 5);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 32);
    /* garbage between the good scrapes changes nothing: not a running count above the cap */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, NAN, 1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, INFINITY, 1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, -3, 1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 1e9, 0, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 32, -1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 32, 1e12, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(NULL, "e:1", ++stamp, 32, 1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_scrape(b, NULL, ++stamp, 32, 1, 0, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 32);
    /* a negative or NaN in-flight count counts as 0 */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 32, 1, NAN, NULL), 0);
    /* bad slot times are ignored: no slot time, no wait */
    sy_batch_cap_observe(b, "e:1", -1, 5);
    sy_batch_cap_observe(b, "e:1", 2, 1); /* e2e before the first byte */
    sy_batch_cap_observe(b, "e:1", 0.1, INFINITY);
    sy_batch_cap_observe(b, "e:1", NAN, 1);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 32, 10, 0, &w, NULL), SY_EBUSY);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", NAN, 10, 0, &w, NULL), SY_EINVAL);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 32, -1, 0, &w, NULL), SY_EINVAL);
    sy_batch_cap_free(b);
}

static void test_cap_changes(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap;
    feed(b, "e:1", 10, 64, 3);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 64);
    /* raised to 128 (engine restarted with a larger max-num-seqs): 70 running proves 64 stale */
    feed(b, "e:1", 1, 70, 0);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    for (int r = 70; r <= 128; r += 4)
        feed(b, "e:1", 1, r, 0);
    feed(b, "e:1", 4, 128, 6);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 128);
    /* noise within the tolerance (2% of the level) keeps the plateau */
    feed(b, "e:1", 1, 127, 6);
    feed(b, "e:1", 1, 129, 6);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap >= 128 && cap <= 129);
    /* lowered to 48 (or the KV pool fills first): a short run below the maximum is not enough, a
     * persistent plateau is */
    feed(b, "e:1", 5, 48, 4);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap >= 128);
    feed(b, "e:1", 11, 48, 4);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    assert_true(cap == 48);
    sy_batch_cap_free(b);
}

static void test_expires_unconfirmed(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double cap;
    feed(b, "e:1", 4, 20, 1);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    /* never queued again (running stays at or below it): dropped after EXPIRE scrapes */
    feed(b, "e:1", 1000, 18, 0);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), 0);
    feed(b, "e:1", 100, 18, 0);
    assert_int_equal(sy_batch_cap_get(b, "e:1", &cap), SY_EBUSY);
    sy_batch_cap_free(b);
}

static void test_wait_term(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(0);
    double w = -1, load = -1;
    feed(b, "e:1", 4, 96, 2);
    /* cap known, slot time not yet */
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 90, 0, 0, &w, &load), SY_EBUSY);
    assert_true(load == 90);
    slot_times(b, "e:1", 16.0); /* a request holds a slot 16 s */
    /* a free slot: no wait */
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 90, 0, 0, &w, &load), 0);
    assert_true(w == 0);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 95, 0, 0, &w, NULL), 0);
    assert_true(w == 0);
    /* the 97th request waits for one completion: 16 / 96 s; behind 4 waiting, five */
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 96, 0, 0, &w, NULL), 0);
    assert_true(fabs(w - 16.0 / 96) < 1e-9);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 96, 4, 0, &w, &load), 0);
    assert_true(fabs(w - 5 * 16.0 / 96) < 1e-9);
    assert_true(load == 100);
    /* the gateway sent 3 more since the scrape (in-flight 10 when the scrape was first seen, 13
     * now): the scrape's 93 running become 96 + this request = one completion to wait for */
    assert_int_equal(sy_batch_cap_scrape(b, "e:1", ++stamp, 93, 0, 10, NULL), 0);
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 93, 0, 13, &w, &load), 0);
    assert_true(load == 96);
    assert_true(fabs(w - 16.0 / 96) < 1e-9);
    /* completions since the scrape (in-flight below the scrape's) do not go negative */
    assert_int_equal(sy_batch_cap_wait(b, "e:1", 93, 0, 4, &w, &load), 0);
    assert_true(load == 93 && w == 0);
    /* a slower replica (32 s slots) waits twice as long at the same position */
    feed(b, "slow:1", 4, 96, 2);
    slot_times(b, "slow:1", 32.0);
    assert_int_equal(sy_batch_cap_wait(b, "slow:1", 96, 4, 0, &w, NULL), 0);
    assert_true(fabs(w - 5 * 32.0 / 96) < 1e-9);
    /* unknown endpoint */
    assert_int_equal(sy_batch_cap_wait(b, "x:1", 96, 4, 0, &w, NULL), SY_EBUSY);
    sy_batch_cap_free(b);
}

static void test_full_table(void **st)
{
    (void)st;
    struct sy_batch_cap *b = sy_batch_cap_new(4);
    char a[32];
    for (int e = 0; e < 16; e++) {
        snprintf(a, sizeof a, "e%d:1", e);
        feed(b, a, 4, 10 + e, 1);
    }
    int known = 0;
    double cap;
    for (int e = 0; e < 16; e++) {
        snprintf(a, sizeof a, "e%d:1", e);
        if (sy_batch_cap_get(b, a, &cap) == 0) {
            assert_true(cap == 10 + e);
            known++;
        }
    }
    assert_true(known >= 1 && known <= 4);
    sy_batch_cap_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plateau_learned),
        cmocka_unit_test(test_transients_ignored),
        cmocka_unit_test(test_same_scrape_counts_once),
        cmocka_unit_test(test_malformed_ignored),
        cmocka_unit_test(test_cap_changes),
        cmocka_unit_test(test_expires_unconfirmed),
        cmocka_unit_test(test_wait_term),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
