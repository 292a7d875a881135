/* token_vllm.h - token-producer `backend: vllm`: token ids from a model server's render or
 * tokenize endpoint, fetched asynchronously before scheduling, with a bounded cache and the
 * estimate backend as the fallback.
 *
 * The scheduler is synchronous, so the HTTP exchange happens before it: the gateway asks
 * sy_token_vllm_prepare() whether a request needs one, sends the request it builds on the
 * worker's loop (src/gateway/pretokenize.c), hands the answer to sy_token_vllm_finish(), and
 * points req->tokens at the result; the producer's `produce` then only copies the ids.
 */
#ifndef SY_SCHED_TOKEN_VLLM_H
#define SY_SCHED_TOKEN_VLLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "api/request.h"
#include "config/yaml.h"
#include "core/buf.h"
#include "sched/plugin.h"

struct sy_token_vllm;
struct sy_scheduler;

/* What the gateway hands the producer through req->tokens (owned by the gateway). */
struct sy_token_vllm_result {
    uint32_t *ids; /* owned by whoever owns the result; NULL when !ok */
    size_t n;      /* token count */
    bool ok;       /* ids came from the server or the cache; false = fall back to the estimate */
};

/* One prepared exchange: the HTTP request as buffers (head owned, body pieces borrowed from the
 * request body). */
struct sy_token_vllm_call {
    struct sy_buf head;   /* request line + headers */
    const char *piece[3]; /* body = piece[0] || piece[1] || piece[2] */
    size_t len[3];
    char model_json[300]; /* the quoted model name spliced in as piece[1] */
    uint64_t key;         /* cache key */
    uint64_t timeout_ns;  /* connect and response timeout for this request */
};

/* Parses the `vllm` parameter block and modelName (create time). NULL + err on bad input. */
struct sy_token_vllm *sy_token_vllm_new(const struct sy_yaml_node *vllm, const char *model_name,
                                        const struct sy_plugin_env *env, char *err, size_t errcap);
void sy_token_vllm_free(struct sy_token_vllm *tv);

/* The vllm backend of s's token-producer, or NULL (borrowed; lives as long as s). */
struct sy_token_vllm *sy_sched_token_vllm(const struct sy_scheduler *s);

/* Decides for req: returns 1 and fills *res from the cache (no exchange needed), 0 and fills
 * *call (caller runs it, then calls finish), or -1 when the backend does not apply to req (not
 * chat or completions text; the producer estimates). */
int sy_token_vllm_prepare(struct sy_token_vllm *tv, const struct sy_request *req,
                          struct sy_token_vllm_call *call, struct sy_token_vllm_result *res);
void sy_token_vllm_call_fini(struct sy_token_vllm_call *call);

/* The server's address (resolved at create) and its pool key "host:port". Borrowed. */
const struct sockaddr *sy_token_vllm_addr(const struct sy_token_vllm *tv);
const char *sy_token_vllm_hostport(const struct sy_token_vllm *tv);

/* Completes an exchange: err is 0 or the client's SY_E* code, status the HTTP status, body the
 * response body. Fills *res (ok or not), caches a success, counts and logs a fallback. */
void sy_token_vllm_finish(struct sy_token_vllm *tv, const struct sy_token_vllm_call *call, int err,
                          int status, const char *body, size_t len,
                          struct sy_token_vllm_result *res);

/* Counts and logs a request the producer saw without an exchange (module-internal). */
void sy_token_vllm__not_fetched(const struct sy_token_vllm *tv);

/* Renders the backend's counters (register with sy_metrics_add_collector). */
void sy_token_vllm_metrics_collect(void *ud, struct sy_buf *out);

#endif
