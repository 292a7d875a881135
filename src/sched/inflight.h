/* inflight.h - in-flight token accounting as llm-d's `inflight-load-producer` defines it
 * (inflight_load_producer.c): what one request adds to its endpoint's in-flight tokens, and when
 * that is released. Read by sched.c (the figure the proxy adds), token-load-scorer (the look-ahead
 * for the request being scheduled) and, through the pool's counter, prefix-cache-affinity-filter's
 * TTFT gate. */
#ifndef SY_SCHED_INFLIGHT_H
#define SY_SCHED_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/plugin.h"

#define SY_INFLIGHT_KEY "inflight-load" /* data key the producer provides */

/* The producer's parameters (llm-d names in comments). */
struct sy_inflight_params {
    bool add_output;    /* addEstimatedOutputTokens (default false) */
    double ratio;       /* outputRatio: estimated output = round(input x ratio) (default 1.5) */
    int64_t max_output; /* maxEstimatedOutputTokens, -1 = no cap */
};

/* llm-d's defaults, used when no inflight-load-producer is configured. */
extern const struct sy_inflight_params sy_inflight_defaults;

/* The tokens this request would add on candidate c: the prompt tokens not already cached there
 * ((total - matched) blocks x block size, plus the prompt beyond the indexed blocks, or the whole
 * prompt without prefix data), plus the estimated output when addEstimatedOutputTokens (from the
 * whole prompt, capped by max_tokens and maxEstimatedOutputTokens). llm-d's
 * estimateRequestTokens / UncachedRequestTokens. */
int64_t sy_inflight_request_tokens(const struct sy_sched_cycle *cy,
                                   const struct sy_sched_candidate *c);

/* For the chosen endpoint: *tokens to add to its in-flight tokens, and *early, the part released
 * at the first response byte (all of it by default; none with addEstimatedOutputTokens, where
 * llm-d holds the estimate until the end of the stream). */
void sy_inflight_account(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                         int64_t *tokens, int64_t *early);

#endif
