/* scraper.h - polls every endpoint's /metrics (and /v1/models) on an interval and records the
 * result in the endpoint's live state (pool.h). Runs on one loop (the gateway's control loop).
 */
#ifndef SY_POOL_SCRAPER_H
#define SY_POOL_SCRAPER_H

#include <stdint.h>
#include <uv.h>

#include "pool/pool.h"

struct sy_scraper;
struct sy_metrics;

/* Starts polling pool (a reference is taken) every interval_ns; models are refreshed every
 * SY_SCRAPE_MODELS_EVERY scrapes. timeout_ns bounds each poll (0: 20 intervals, at least 1 s).
 * staleness_ns (pool.metricsStalenessThreshold; 0: 2 s) is how old an endpoint's last metrics
 * may be for a timed-out poll to leave it ready (pool.h, sy_endpoint_scrape_timed_out). metrics
 * may be NULL (else datalayer_poll_errors_total is counted there). */
struct sy_scraper *sy_scraper_start(uv_loop_t *loop, struct sy_pool *pool, uint64_t interval_ns,
                                    uint64_t timeout_ns, uint64_t staleness_ns,
                                    struct sy_metrics *metrics);
/* Switches to a new pool (after a reload), with the reloaded interval and staleness (0 keeps
 * the current value). */
void sy_scraper_set_pool(struct sy_scraper *s, struct sy_pool *pool, uint64_t interval_ns,
                         uint64_t staleness_ns);
/* Stops and frees (in-flight polls are cancelled). */
void sy_scraper_stop(struct sy_scraper *s);

#endif
