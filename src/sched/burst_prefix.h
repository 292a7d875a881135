/* burst_prefix.h - what the gateway needs from `burst-prefix-cache-producer` beyond its ops
 * table: requests join a batch window before scheduling, wait until it seals (the gateway's
 * timer on the worker loop), and the producer then reads the replica the batch assigned them.
 */
#ifndef SY_SCHED_BURST_PREFIX_H
#define SY_SCHED_BURST_PREFIX_H

#include <stdint.h>

#include "api/request.h"
#include "pool/pool.h"

struct sy_burst;
struct sy_burst_entry;
struct sy_scheduler;

/* The scheduler's burst producer state, or NULL (borrowed; lives as long as s). */
struct sy_burst *sy_sched_burst(const struct sy_scheduler *s);

/* Joins the open window (or opens one): hashes req's prompt (req->tokens from a vllm
 * token-producer, else the estimate), remembers pool (referenced) for the batch's replicas.
 * Returns the entry and sets *deadline_ns (monotonic) when the request must wait until then;
 * NULL when it does not take part (no prompt blocks, or the window is full: maxBatchSize).
 * req is borrowed until sy_burst_leave. */
struct sy_burst_entry *sy_burst_join(struct sy_burst *b, const struct sy_request *req,
                                     struct sy_pool *pool, uint64_t now_ns, uint64_t *deadline_ns);
/* Seals e's batch if nobody has yet: computes the joint assignment (idempotent). */
void sy_burst_seal(struct sy_burst *b, struct sy_burst_entry *e);
/* Drops e (after the request's scheduling cycle ended, or on abort). NULL is a no-op. */
void sy_burst_leave(struct sy_burst *b, struct sy_burst_entry *e);

#endif
