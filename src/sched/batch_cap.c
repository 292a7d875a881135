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
 * until the next step at any load, and at a high arrival rate that happens in most scrapes while
 * arrivals and completions keep running flat within a few percent (measured with Poisson arrivals
 * and no cap, the first version of this rule learned up to 656 false caps an hour at 40 req/s x
 * 8 s decodes). So:
 *   - each scrape counts once, by its stamp (the endpoint's update time, monotonic): only a stamp
 *     newer than the last one counted is learned from, however many scheduling cycles read it and
 *     in whatever order (workers may run an older snapshot after a newer one);
 *   - a scrape is *queued* evidence only when its waiting count stands clearly above its usual
 *     level: waiting >= wt + max(2, 3 sqrt(wt)) (a Poisson count's mean + 3 standard
 *     deviations), where wt is the decayed mean (horizon WT_HORIZON scrapes, starting from 0) of
 *     all scrapes' waiting counts. A queue that keeps growing at the cap stays above it; a queue
 *     that settles at one level becomes the usual level and stops confirming the cap (it then
 *     expires, below; the latency model sees a standing queue in its waiting feature anyway);
 *   - a *plateau run* is RUN_MIN consecutive queued scrapes with running within tol
 *     (max(1, 2% of the level)) of one level;
 *   - a run becomes the cap when its level is at the top of what running reached recently
 *     (>= the max over the last 256..512 scrapes - tol: running cannot exceed the cap), or when
 *     the run lasts RUN_LONG scrapes (a persistent lower plateau: the KV pool, or a lowered cap);
 *   - running above cap + tol in any scrape proves the cap stale (raised): it is dropped until a
 *     new plateau is seen; a cap not re-confirmed for EXPIRE scrapes is dropped too, so a wrong
 *     cap cannot keep load away from its endpoint forever.
 * Malformed gauges (non-finite, negative, > 1e6 running / 1e7 waiting) are ignored.
 *
 * The slot time: a decayed mean (horizon 64) of e2e - TTFT of the streamed requests that finished
 * there (any streamed response with a last byte after its first: no token count needed), i.e. how
 * long a request holds a slot decoding (the prefill, well under a second, is left out). Once
 * SLOT_MIN_W requests are in, each sample is clipped to SLOT_CLIP x the current mean, so one
 * hour-long stream cannot move it by minutes. At the cap, slots free at cap / slot time per second
 * (Little's law), so a request that finds `load` requests there waits for load + 1 - cap
 * completions:
 *     wait = max(0, load + 1 - cap) x slot time / cap,
 * with load = running + waiting + the net growth of the gateway's in-flight count to the endpoint
 * since the scheduling cycle that first read the scrape (clipped at 0; an estimate of the requests
 * sent that the scrape does not show yet: completions in between offset sends, and requests sent
 * between the scrape itself and that cycle are not counted). It is a mean, not a p90, and it
 * assumes the queue drains in order (vLLM's FCFS).
 *
 * Logging: cap changes are reported to the caller with a flag that allows one log line per
 * endpoint per LOG_EVERY_NS (the first change always), so a flapping cap cannot flood the log.
 *
 * Threading: one mutex over the per-address table (src/core/keytab); the producer takes it once
 * per candidate (sy_batch_cap_step), returning at once when the scrape was already counted and no
 * cap is known.
 */
#include "sched/batch_cap.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/keytab.h"

#define RUN_MIN      4    /* queued scrapes at one running level before it is a plateau */
#define RUN_LONG     16   /* ... before a plateau below the recent maximum is believed */
#define EPOCH        256  /* scrapes per running-maximum epoch (the maximum spans 1..2 epochs) */
#define EXPIRE       1024 /* scrapes without a confirming plateau before the cap is dropped */
#define WT_HORIZON   64.0 /* scrapes: decay horizon of the usual (transient) waiting level */
#define WT_KEEP      (1.0 - 1.0 / WT_HORIZON)
#define SLOT_KEEP    (1.0 - 1.0 / 64)
#define SLOT_MIN_W   4.0  /* decayed finished requests before the slot time is used */
#define SLOT_CLIP    10.0 /* a slot-time sample counts at most this many current means */
#define LOG_EVERY_NS (60ull * 1000000000ull)
#define MAX_RUNNING  1e6
#define MAX_WAITING  1e7

struct slot {                   /* payload of the endpoint address's keytab slot */
    uint64_t stamp;             /* newest scrape counted */
    double inflight_at;         /* the gateway's in-flight count when that scrape was first seen */
    double run_lo, run_hi;      /* current run of queued scrapes: running range */
    uint32_t run_n;             /* its length */
    uint32_t epoch_n;           /* scrapes in the current maximum epoch */
    double rmax_cur, rmax_prev; /* running maximum of this and the previous epoch */
    double wt;                  /* the usual waiting level: decayed mean from 0 */
    double cap;                 /* learned cap, valid when has_cap */
    bool has_cap;
    uint32_t since_confirm; /* scrapes since the cap was last confirmed */
    bool logged;            /* a cap change was logged, at log_ns */
    uint64_t log_ns;
    double sw, ss;   /* decayed weight and sum of slot times */
    bool slot_ready; /* sw reached SLOT_MIN_W once (reported once) */
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
    double sd3 = 3 * sqrt(s->wt);
    bool queued = w >= s->wt + (sd3 > 2 ? sd3 : 2) && r >= 1;
    s->wt = s->wt * WT_KEEP + w / WT_HORIZON;
    if (!queued) { /* the usual level (or nothing running: not a batch plateau): ends the run */
        s->run_n = 0;
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

static bool gauges_ok(double running, double waiting)
{
    return isfinite(running) && isfinite(waiting) && running >= 0 && waiting >= 0 &&
           running <= MAX_RUNNING && waiting <= MAX_WAITING;
}

/* The wait for a slot from a copy of the endpoint's state; fills v->load. */
static int wait_of(const struct slot *c, double running, double waiting, double inflight,
                   struct sy_batch_cap_view *v)
{
    double sent = isfinite(inflight) && inflight > c->inflight_at ? inflight - c->inflight_at : 0;
    v->load = running + waiting + sent;
    v->wait_s = 0;
    if (!c->has_cap || c->sw < SLOT_MIN_W || !(c->cap >= 1))
        return SY_EBUSY;
    double ahead = v->load + 1 - c->cap;
    v->wait_s = ahead > 0 ? ahead * (c->ss / c->sw) / c->cap : 0;
    return 0;
}

int sy_batch_cap_step(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                      double waiting, double inflight, uint64_t now_ns, struct sy_batch_cap_view *v)
{
    if (!b || !addr || !v)
        return SY_EINVAL;
    *v = (struct sy_batch_cap_view){0};
    if (!stamp || !gauges_ok(running, waiting))
        return SY_EINVAL;
    if (!isfinite(inflight) || inflight < 0)
        inflight = 0;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_find(&b->tab, addr);
    if (s && stamp <= s->stamp && !s->has_cap) { /* fast path: nothing to learn, no cap */
        double sent = inflight > s->inflight_at ? inflight - s->inflight_at : 0;
        pthread_mutex_unlock(&b->mu);
        v->load = running + waiting + sent;
        return SY_EBUSY;
    }
    if (!s)
        s = sy_keytab_claim(&b->tab, addr);
    if (!s) { /* table full: no state for it */
        pthread_mutex_unlock(&b->mu);
        v->load = running + waiting;
        return SY_EBUSY;
    }
    if (stamp > s->stamp) {
        s->stamp = stamp;
        s->inflight_at = inflight;
        bool had = s->has_cap;
        double before = s->cap;
        learn(s, running, waiting);
        v->changed = had != s->has_cap || (s->has_cap && s->cap != before);
        if (v->changed && (!s->logged || now_ns - s->log_ns >= LOG_EVERY_NS)) {
            v->log = true;
            s->logged = true;
            s->log_ns = now_ns;
        }
    }
    v->cap = s->has_cap ? s->cap : 0;
    struct slot c = *s;
    pthread_mutex_unlock(&b->mu);
    return wait_of(&c, running, waiting, inflight, v);
}

int sy_batch_cap_scrape(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                        double waiting, double inflight, double *cap_out)
{
    struct sy_batch_cap_view v;
    int rc = sy_batch_cap_step(b, addr, stamp, running, waiting, inflight, 0, &v);
    if (rc == SY_EINVAL)
        return rc;
    if (v.changed && cap_out)
        *cap_out = v.cap;
    return v.changed;
}

int sy_batch_cap_observe(struct sy_batch_cap *b, const char *addr, double ttft_s, double e2e_s,
                         double *slot_s)
{
    if (!b || !addr || !(ttft_s > 0) || !(e2e_s > ttft_s) || !isfinite(e2e_s))
        return 0;
    int ready = 0;
    pthread_mutex_lock(&b->mu);
    struct slot *s = sy_keytab_claim(&b->tab, addr);
    if (s) {
        double x = e2e_s - ttft_s;
        if (s->sw >= SLOT_MIN_W && x > SLOT_CLIP * s->ss / s->sw)
            x = SLOT_CLIP * s->ss / s->sw;
        s->sw = s->sw * SLOT_KEEP + 1;
        s->ss = s->ss * SLOT_KEEP + x;
        if (!s->slot_ready && s->sw >= SLOT_MIN_W) {
            s->slot_ready = true;
            ready = 1;
            if (slot_s)
                *slot_s = s->ss / s->sw;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return ready;
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
    struct sy_batch_cap_view v;
    int rc = wait_of(&c, running, waiting, inflight, &v);
    if (load_out)
        *load_out = v.load;
    if (rc == 0)
        *wait_s = v.wait_s;
    return rc;
}
