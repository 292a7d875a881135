/* queue_wait.c - a learned queue-wait line per endpoint for `predicted-latency-producer`'s
 * queueAwareTTFT (docs/slo-scheduling.md, "Queued regime").
 *
 * Why: when replicas queue (vLLM's waiting queue holds requests because max-num-seqs or the KV
 * pool is full), a request's TTFT is mostly its wait, and that wait is the number of requests
 * ahead of it times the time the replica takes to free a slot. On a heterogeneous fleet that time
 * differs per replica (a 32B TP2 replica frees slots about half as fast as an 8B one), so equal
 * queue lengths are not equal waits: queue-scorer balances the counts and sends as many requests
 * to the slow replicas' queues as to the fast ones'. The shared latency model scales a common
 * fit by one calibration factor per endpoint, which mixes the queued and the unqueued samples.
 *
 * What: per endpoint, a decayed weighted least-squares line
 *     TTFT = a + b x waiting        (a >= 0, b >= 0)
 * over the requests that finished there (waiting = the scraped waiting count when the request
 * was routed; TTFT as measured by the gateway). b is the endpoint's own wait per queued request,
 * a its unqueued TTFT. Every observation multiplies the endpoint's sums by 1 - 1/horizon first,
 * so the line follows a change of workload within ~horizon requests. The line is usable once the
 * decayed weight of samples routed behind a queue (waiting >= 1) reaches MIN_QUEUED; when the
 * samples' waiting counts have no spread (every sample at one count), b = mean TTFT / (mean
 * waiting + 1) and a = 0 (one point gives the ratio, not the line).
 *
 * Threading: one mutex over the per-address table (src/core/keytab), held for one probe.
 */
#include "sched/queue_wait.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/keytab.h"

#define MIN_QUEUED 4.0 /* decayed weight of queued samples before the slope is trusted */

struct slot {         /* payload of the endpoint address's keytab slot */
    double w, sx, sy; /* decayed weight, sums of waiting and TTFT */
    double sxx, sxy;  /* sums of waiting^2 and waiting x TTFT */
    double wq;        /* decayed weight of samples with waiting >= 1 */
};

struct sy_queue_wait {
    pthread_mutex_t mu;   /* guards tab */
    double keep;          /* 1 - 1/horizon */
    struct sy_keytab tab; /* endpoint address -> struct slot */
};

struct sy_queue_wait *sy_queue_wait_new(size_t slots, double horizon)
{
    struct sy_queue_wait *q = SY_NEW(struct sy_queue_wait);
    q->keep = 1.0 - 1.0 / (horizon >= 1 ? horizon : 128);
    sy_keytab_init(&q->tab, slots ? slots : 1024, sizeof(struct slot));
    pthread_mutex_init(&q->mu, NULL);
    return q;
}

void sy_queue_wait_free(struct sy_queue_wait *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    sy_keytab_fini(&q->tab);
    free(q);
}

void sy_queue_wait_observe(struct sy_queue_wait *q, const char *addr, double waiting, double ttft_s)
{
    if (!q || !addr || !(ttft_s > 0) || !isfinite(ttft_s) || !(waiting >= 0) || !isfinite(waiting))
        return;
    pthread_mutex_lock(&q->mu);
    struct slot *s = sy_keytab_claim(&q->tab, addr);
    if (s) {
        double k = q->keep;
        s->w = s->w * k + 1;
        s->sx = s->sx * k + waiting;
        s->sy = s->sy * k + ttft_s;
        s->sxx = s->sxx * k + waiting * waiting;
        s->sxy = s->sxy * k + waiting * ttft_s;
        s->wq = s->wq * k + (waiting >= 1 ? 1 : 0);
    }
    pthread_mutex_unlock(&q->mu);
}

int sy_queue_wait_estimate(struct sy_queue_wait *q, const char *addr, double waiting,
                           double *ttft_s)
{
    if (!q || !addr || !(waiting >= 0))
        return SY_EINVAL;
    pthread_mutex_lock(&q->mu);
    struct slot *s = sy_keytab_find(&q->tab, addr);
    struct slot c = s ? *s : (struct slot){0};
    pthread_mutex_unlock(&q->mu);
    if (c.wq < MIN_QUEUED)
        return SY_EBUSY;
    double mx = c.sx / c.w, my = c.sy / c.w;
    double var = c.sxx / c.w - mx * mx, cov = c.sxy / c.w - mx * my;
    double a, b;
    if (var > 1e-9 * (1 + mx * mx)) {
        b = cov / var;
        if (b < 0)
            b = 0;
        a = my - b * mx;
        if (a < 0) { /* through the origin instead: least squares with a = 0 */
            a = 0;
            b = c.sxy / c.sxx;
        }
    } else {
        a = 0;
        b = my / (mx + 1);
        waiting += 1; /* the ratio form counts the request itself */
    }
    *ttft_s = a + b * waiting;
    return 0;
}
