/* pretokenize.h - the asynchronous steps before scheduling, on the worker's loop: token ids from
 * the model server for token-producer `backend: vllm` (src/sched/token_vllm.h), then the
 * burst-prefix-cache-producer's batch window (src/sched/burst_prefix.h).
 */
#ifndef SY_GATEWAY_PRETOKENIZE_H
#define SY_GATEWAY_PRETOKENIZE_H

#include <stdbool.h>

#include "api/request.h"
#include "gateway/gateway.h"

struct sy_gw_pretok;

typedef void sy_gw_pretok_fn(void *arg);

/* Starts the step for req (borrowed until it ends; req->tokens is pointed at the result, which
 * the step owns). *out gets the step (or NULL when there is nothing to do); free it with the
 * request. Returns true when a step is pending: done(arg) is called once from the loop
 * later, never from inside this call. Returns false when scheduling can go on now (neither is
 * configured, or nothing to wait for: req->tokens may already be set from the cache). */
bool sy_gw_pretok_start(struct sy_gw_worker *w, struct sy_gw_gen *gen, struct sy_request *req,
                        sy_gw_pretok_fn *done, void *arg, struct sy_gw_pretok **out);
/* Cancels a pending step (no callback follows) and frees it; or frees a finished one (including
 * the ids req->tokens points at). NULL is a no-op. */
void sy_gw_pretok_free(struct sy_gw_pretok *pt);

#endif
