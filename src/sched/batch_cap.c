/* batch_cap.c - a learned batch cap per endpoint for `predicted-latency-producer`'s capAwareTTFT
 * (docs/slo-scheduling.md, "Batch cap").
 *
 * Why: a continuous-batching engine admits requests into its running batch up to a cap
 * (vLLM's max-num-seqs, or fewer when the KV pool is full) and queues the rest. Below the cap a
 * request's TTFT is its prefill, whatever the running count; at the cap it is the wait for a slot,
 * seconds. The latency model sees the queue only once the scrape shows one, so a greedy choice by
 * predicted TTFT is indifferent between a replica with 60 running and one one slot below its cap,
 * and fills replicas to the cap (measured: 75% of Helm `most`'s requests in the prefix regime went
 * to replicas at the cap). The gateway is not told max-num-seqs; it can learn it.
 *
 * The cap: the running count where the engine queues while running stays flat. A scrape with
 * waiting > 0 alone is not evidence: a request that arrived during the current engine step waits
 * until the next step at any load (a transient). So:
 *   - each scrape counts once (by its stamp, however many scheduling cycles read it);
 *   - a *plateau run* is RUN_MIN consecutive scrapes with waiting >= 1 and running within tol
 *     (max(1, 2% of the level)) of one level; transients do not repeat at one running count
 *     because the next step admits them and running grows;
 *   - a run becomes the cap when its level is at the top of what running reached recently
 *     (>= the max over the last 256..512 scrapes - tol: running cannot exceed the cap), or when
 *     the run lasts RUN_LONG scrapes (a persistent lower plateau: the KV pool, or a lowered cap);
 *   - running above cap + tol in any scrape proves the cap stale (raised): it is dropped until a
 *     new plateau is seen; a cap not re-confirmed for EXPIRE scrapes is dropped too, so a wrong
 *     cap cannot keep load away from its endpoint forever.
 * Malformed gauges (non-finite, negative, > 1e6 running / 1e7 waiting) are ignored.
 *
 * The slot time: a decayed mean (horizon 64) of e2e - TTFT of the streamed requests that finished
 * there, i.e. how long a request holds a slot decoding (the prefill, well under a second, is left
 * out). At the cap, slots free at cap / slot time per second (Little's law), so a request that
 * finds `load` requests there (running + waiting + the ones the gateway sent since the scrape,
 * which the scrape does not show yet) waits for load + 1 - cap completions:
 *     wait = max(0, load + 1 - cap) x slot time / cap.
 * It is a mean, not a p90, and it assumes the queue drains in order (vLLM's FCFS).
 *
 * Threading: one mutex over the per-address table (src/core/keytab), held for one probe.
 */
#include "sched/batch_cap.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/keytab.h"

#define RUN_MIN     4    /* queued scrapes at one running level before it is a plateau */
#define RUN_LONG    16   /* ... before a plateau below the recent maximum is believed */
#define EPOCH       256  /* scrapes per running-maximum epoch (the maximum spans 1..2 epochs) */
#define EXPIRE      1024 /* scrapes without a confirming plateau before the cap is dropped */
#define SLOT_KEEP   (1.0 - 1.0 / 64)
#define SLOT_MIN_W  4.0 /* decayed finished requests before the slot time is used */
#define MAX_RUNNING 1e6
#define MAX_WAITING 1e7

struct slot {                   /* payload of the endpoint address's keytab slot */
    uint64_t stamp;             /* last scrape counted */
    double inflight_at;         /* the gateway's in-flight count when that scrape was first seen */
    double run_lo, run_hi;      /* current run of queued scrapes: running range */
    uint32_t run_n;             /* its length */
    uint32_t epoch_n;           /* scrapes in the current maximum epoch */
    double rmax_cur, rmax_prev; /* running maximum of this and the previous epoch */
    double cap;                 /* learned cap, valid when has_cap */
    bool has_cap;
    uint32_t since_confirm; /* scrapes since the cap was last confirmed */
    double sw, ss;          /* decayed weight and sum of slot times */
};

struct sy_batch_cap {
    pthread_mutex_t mu;   /* guards tab */
    struct sy_keytab tab; /* endpoint address -> struct slot */
};

static double tol_of(double level)
{
    double t = 0.02 * level;
    return t > 1 ? t : 1;
}

struct sy_batch_cap *sy_batch_cap_new(size_t slots)
{
    struct sy_batch_cap *b = SY_NEW(struct sy_batch_cap);
    sy_keytab_init(&b->tab, slots ? slots : 1024, sizeof(struct slot));
    pthread_mutex_init(&b->mu, NULL);
    return b;
}

void sy_batch_cap_free(struct sy_batch_cap *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    sy_keytab_fini(&b->tab);
    free(b);
}

/* One new scrape (s->stamp already advanced). */
static void learn(struct slot *s, double r, double w)
{
    if (s->rmax_cur < r)
        s->rmax_cur = r;
    if (++s->epoch_n >= EPOCH) {
        s->rmax_prev = s->rmax_cur;
        s->rmax_cur = 0;
        s->epoch_n = 0;
    }
    double rmax = s->rmax_cur > s->rmax_prev ? s->rmax_cur : s->rmax_prev;
    if (s->has_cap && (r > s->cap + tol_of(s->cap) || ++s->since_confirm > EXPIRE))
        s->has_cap = false; /* running above the plateau: the cap was raised; or never confirmed */
    if (!(w >= 1) || !(r >= 1)) {
        s->run_n = 0; /* no queue (or nothing running: not a batch plateau) */
        return;
    }
    double lo = s->run_n && s->run_lo < r ? s->run_lo : r;
    double hi = s->run_n && s->run_hi > r ? s->run_hi : r;
    if (s->run_n && hi - lo <= tol_of(hi)) {
        s->run_lo = lo;
        s->run_hi = hi;
        if (s->run_n < UINT32_MAX)
            s->run_n++;
    } else {
        s->run_lo = s->run_hi = r;
        s->run_n = 1;
    }
    if ((s->run_n >= RUN_MIN && s->run_hi >= rmax - tol_of(rmax)) || s->run_n >= RUN_LONG) {
        s->cap = s->run_hi;
        s->has_cap = true;
        s->since_confirm = 0;
    }
}

int sy_batch_cap_scrape(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                        double waiting, double inflight, double *cap_out)
{
    if (!b || !addr || !stamp)
        return SY_EINVAL;
    if (!isfinite(running) || !isfinite(waiting) || running < 0 || waiting < 0 ||
        running > MAX_RUNNING || waiting > MAX_WAITING)
        return SY_EINVAL;
    if (!isfinite(inflight) || inflight < 0)
        inflight = 0;
    int changed = 0;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_claim(&b->tab, addr);
    if (s && s->stamp != stamp) {
        s->stamp = stamp;
        s->inflight_at = inflight;
        bool had = s->has_cap;
        double before = s->cap;
        learn(s, running, waiting);
        changed = had != s->has_cap || (s->has_cap && s->cap != before);
        if (changed && cap_out)
            *cap_out = s->has_cap ? s->cap : 0;
    }
    pthread_mutex_unlock(&b->mu);
    return changed;
}

void sy_batch_cap_observe(struct sy_batch_cap *b, const char *addr, double ttft_s, double e2e_s)
{
    if (!b || !addr || !(ttft_s > 0) || !(e2e_s >= ttft_s) || !isfinite(e2e_s))
        return;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_claim(&b->tab, addr);
    if (s) {
        s->sw = s->sw * SLOT_KEEP + 1;
        s->ss = s->ss * SLOT_KEEP + (e2e_s - ttft_s);
    }
    pthread_mutex_unlock(&b->mu);
}

int sy_batch_cap_get(struct sy_batch_cap *b, const char *addr, double *cap)
{
    if (!b || !addr)
        return SY_EINVAL;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_find(&b->tab, addr);
    int rc = SY_EBUSY;
    if (s && s->has_cap) {
        *cap = s->cap;
        rc = 0;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int sy_batch_cap_wait(struct sy_batch_cap *b, const char *addr, double running, double waiting,
                      double inflight, double *wait_s, double *load_out)
{
    if (!b || !addr || !isfinite(running) || !isfinite(waiting) || running < 0 || waiting < 0)
        return SY_EINVAL;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_find(&b->tab, addr);
    struct slot c = s ? *s : (struct slot){0};
    pthread_mutex_unlock(&b->mu);
    double sent = isfinite(inflight) && inflight > c.inflight_at ? inflight - c.inflight_at : 0;
    double load = running + waiting + sent;
    if (load_out)
        *load_out = load;
    if (!c.has_cap || c.sw < SLOT_MIN_W || !(c.cap >= 1))
        return SY_EBUSY;
    double ahead = load + 1 - c.cap;
    *wait_s = ahead > 0 ? ahead * (c.ss / c.sw) / c.cap : 0;
    return 0;
}
