/* pretokenize.h - the asynchronous step before scheduling: token ids from the model server for
 * token-producer `backend: vllm` (src/sched/token_vllm.h), on the worker's loop.
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
 * request. Returns true when an exchange is pending: done(arg) is called once from the loop
 * later, never from inside this call. Returns false when scheduling can go on now (no vllm
 * backend, not applicable, or a cache hit with req->tokens already set). */
bool sy_gw_pretok_start(struct sy_gw_worker *w, struct sy_gw_gen *gen, struct sy_request *req,
                        sy_gw_pretok_fn *done, void *arg, struct sy_gw_pretok **out);
/* Cancels a pending step (no callback follows) and frees it; or frees a finished one (including
 * the ids req->tokens points at). NULL is a no-op. */
void sy_gw_pretok_free(struct sy_gw_pretok *pt);

#endif
