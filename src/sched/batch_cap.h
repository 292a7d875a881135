/* batch_cap.h - the learned batch cap behind `predicted-latency-producer`'s capAwareTTFT: per
 * endpoint, the running count at which the engine starts queueing (vLLM's max-num-seqs, or a
 * KV-limited lower plateau), learned from the scraped running/waiting gauges; the net growth of
 * the gateway's in-flight count since the scrape; and the slot turnover time learned from finished
 * streamed requests.
 * Together they give the expected wait for a free batch slot before the engine's own waiting
 * queue shows it (src/sched/batch_cap.c explains the rules). */
#ifndef SY_SCHED_BATCH_CAP_H
#define SY_SCHED_BATCH_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_batch_cap;

/* A table for up to `slots` endpoints (0: 1024). Never NULL (allocation aborts). */
struct sy_batch_cap *sy_batch_cap_new(size_t slots);
void sy_batch_cap_free(struct sy_batch_cap *b);

/* What one scheduling cycle learns about a candidate from sy_batch_cap_step. */
struct sy_batch_cap_view {
    int changed; /* 1: this scrape established, changed or dropped the cap */
    double cap;  /* the cap after this scrape, 0 when none */
    bool log;    /* changed, and the endpoint's log budget (one line a minute) allows a line */
    double load; /* running + waiting + the net in-flight growth since the scrape was first seen */
    double wait_s; /* the expected wait for a free slot (valid when the call returned 0) */
};

/* One candidate in one scheduling cycle, under one lock: the endpoint's scrape identified by
 * `stamp` (its update time, monotonic; 0 = never scraped: SY_EINVAL) showed `running` and
 * `waiting`; `inflight` is the gateway's own in-flight count to it now; `now_ns` (monotonic) paces
 * the log flag. A stamp newer than the newest counted is learned from (each scrape counts once,
 * whatever the number or order of cycles that read it); an older or equal one only reads.
 * Fills *v, and returns 0 when v->wait_s is valid (a cap and a slot time are known), SY_EBUSY when
 * not yet, SY_EINVAL for a malformed observation (non-finite, negative, absurd gauges), which is
 * ignored. Expected wait: when load + 1 > cap, (load + 1 - cap) x slot time / cap (Little's law at
 * the cap: slots free at cap / slot time per second), else 0. Thread-safe. */
int sy_batch_cap_step(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                      double waiting, double inflight, uint64_t now_ns,
                      struct sy_batch_cap_view *v);

/* sy_batch_cap_step without the wait: returns 1 when this scrape established or changed the cap
 * (*cap_out, may be NULL, gets it; 0 when it was dropped), 0 otherwise, or SY_EINVAL. */
int sy_batch_cap_scrape(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                        double waiting, double inflight, double *cap_out);

/* A streamed request finished on `addr`: first byte ttft_s and last byte e2e_s after the pick
 * (e2e - ttft is the time it held a batch slot decoding). Ignored unless 0 < ttft_s < e2e_s,
 * finite. Returns 1 (and *slot_s, may be NULL, the slot time) the first time the endpoint's slot
 * time becomes usable, else 0. Thread-safe. */
int sy_batch_cap_observe(struct sy_batch_cap *b, const char *addr, double ttft_s, double e2e_s,
                         double *slot_s);

/* The learned cap of `addr`: 0 and *cap, or SY_EBUSY when none is established. */
int sy_batch_cap_get(struct sy_batch_cap *b, const char *addr, double *cap);

/* The wait of sy_batch_cap_step for given counts without learning from them (inspection, tests):
 * *load_out (may be NULL) gets the load. Returns 0, or SY_EBUSY when the cap or the slot time is
 * not learned yet. Thread-safe. */
int sy_batch_cap_wait(struct sy_batch_cap *b, const char *addr, double running, double waiting,
                      double inflight, double *wait_s, double *load_out);

#endif
