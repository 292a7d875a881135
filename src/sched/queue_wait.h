/* queue_wait.h - the learned queue wait behind `predicted-latency-producer`'s queueAwareTTFT:
 * per endpoint, a decayed least-squares line TTFT = a + b x waiting (the scraped waiting count at
 * routing time), fitted to the TTFTs measured on the requests routed there. b is that endpoint's
 * own wait per queued request, so equal queue lengths on replicas of different speed give
 * different predicted waits (src/sched/queue_wait.c explains the choice). */
#ifndef SY_SCHED_QUEUE_WAIT_H
#define SY_SCHED_QUEUE_WAIT_H

#include <stddef.h>

struct sy_queue_wait;

/* A table for up to `slots` endpoints (0: 1024), forgetting over `horizon` observations per
 * endpoint (0: 128). Never NULL (allocation aborts). */
struct sy_queue_wait *sy_queue_wait_new(size_t slots, double horizon);
void sy_queue_wait_free(struct sy_queue_wait *q);

/* One finished request on endpoint `addr`: `waiting` requests were queued there when it was
 * routed, its TTFT was ttft_s (ignored unless > 0 and finite). Thread-safe. */
void sy_queue_wait_observe(struct sy_queue_wait *q, const char *addr, double waiting,
                           double ttft_s);

/* The fitted TTFT for a request routed to `addr` behind `waiting` queued requests. Returns 0 and
 * sets *ttft_s, or SY_EBUSY while fewer than a few requests routed behind a queue (waiting >= 1)
 * were observed there (the slope is unknown). Thread-safe. */
int sy_queue_wait_estimate(struct sy_queue_wait *q, const char *addr, double waiting,
                           double *ttft_s);

#endif
