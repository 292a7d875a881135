/* batch_cap.h - the learned batch cap behind `predicted-latency-producer`'s capAwareTTFT: per
 * endpoint, the running count at which the engine starts queueing (vLLM's max-num-seqs, or a
 * KV-limited lower plateau), learned from the scraped running/waiting gauges, the requests the
 * gateway sent since the last scrape, and the slot turnover time learned from finished requests.
 * Together they give the expected wait for a free batch slot before the engine's own waiting
 * queue shows it (src/sched/batch_cap.c explains the rules). */
#ifndef SY_SCHED_BATCH_CAP_H
#define SY_SCHED_BATCH_CAP_H

#include <stddef.h>
#include <stdint.h>

struct sy_batch_cap;

/* A table for up to `slots` endpoints (0: 1024). Never NULL (allocation aborts). */
struct sy_batch_cap *sy_batch_cap_new(size_t slots);
void sy_batch_cap_free(struct sy_batch_cap *b);

/* The endpoint's scrape identified by `stamp` (its update time; 0 = never scraped: ignored) showed
 * `running` and `waiting`; `inflight` is the gateway's own in-flight count to it now. A stamp
 * already seen only refreshes nothing (each scrape counts once however many cycles read it).
 * Returns 1 when this scrape established or changed the cap (*cap_out, may be NULL, gets it; 0
 * when it was dropped), 0 otherwise, or SY_EINVAL for a malformed observation (non-finite,
 * negative, absurd), which is ignored. Thread-safe. */
int sy_batch_cap_scrape(struct sy_batch_cap *b, const char *addr, uint64_t stamp, double running,
                        double waiting, double inflight, double *cap_out);

/* A request finished on `addr`: first byte ttft_s and last byte e2e_s after the pick (a streamed
 * response; e2e - ttft is the time it held a batch slot decoding). Ignored unless
 * 0 < ttft_s <= e2e_s, finite. Thread-safe. */
void sy_batch_cap_observe(struct sy_batch_cap *b, const char *addr, double ttft_s, double e2e_s);

/* The learned cap of `addr`: 0 and *cap, or SY_EBUSY when none is established. */
int sy_batch_cap_get(struct sy_batch_cap *b, const char *addr, double *cap);

/* Expected wait for a free batch slot for one more request on `addr`, given the scraped running and
 * waiting counts and the gateway's in-flight count now: load = running + waiting + the requests
 * sent since that scrape (inflight now - inflight when the scrape was first seen, >= 0); when
 * load + 1 > cap, wait = (load + 1 - cap) x slot time / cap (Little's law at the cap: slots free
 * at cap / slot time per second), else 0. *load_out (may be NULL) gets the load. Returns 0, or
 * SY_EBUSY when the cap or the slot time is not learned yet. Thread-safe. */
int sy_batch_cap_wait(struct sy_batch_cap *b, const char *addr, double running, double waiting,
                      double inflight, double *wait_s, double *load_out);

#endif
