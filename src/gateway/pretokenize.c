/* pretokenize.c - asks the model server for the request's token ids before scheduling, for
 * token-producer `backend: vllm` (llm-d's vLLM render backend), without blocking the worker.
 *
 *   proxy: parse -> sy_gw_pretok_start --(no vllm backend / cache hit)--> schedule now
 *                        |  POST render|tokenize over the worker's upstream pool (keep-alive),
 *                        |  body spliced from the client's bytes, timeout from the config
 *                        v
 *                  on_done: ids | fallback (counted, logged) -> req->tokens -> done(arg) ->
 * schedule
 *
 * The scheduler stays synchronous: the token producer's `produce` copies req->tokens. A client
 * that leaves while the step is pending cancels it (sy_gw_pretok_free closes the connection).
 * Ownership: the step owns the call buffers, the response buffer and the result ids; the proxy
 * owns the step and frees it with the request.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "gateway/pretokenize.h"
#include "http/client.h"
#include "sched/token_vllm.h"

#define PRETOK_MAX_BODY (32u << 20) /* answers larger than this are refused (fallback) */

struct sy_gw_pretok {
    struct sy_token_vllm *tv;           /* borrowed from the generation the proxy holds */
    struct sy_token_vllm_call call;     /* request buffers */
    struct sy_token_vllm_result result; /* what req->tokens points at */
    struct sy_upstream_req *up;         /* pending exchange, NULL when done */
    struct sy_buf resp;                 /* response body */
    int status;                         /* HTTP status */
    bool too_big;                       /* response over PRETOK_MAX_BODY */
    struct sy_request *req;             /* borrowed */
    sy_gw_pretok_fn *done;
    void *arg;
};

static void on_head(void *ud, const struct sy_upstream_head *h)
{
    struct sy_gw_pretok *pt = ud;
    pt->status = h->status;
}

static void on_body(void *ud, const char *p, size_t n)
{
    struct sy_gw_pretok *pt = ud;
    if (pt->resp.len + n > PRETOK_MAX_BODY) {
        pt->too_big = true;
        return;
    }
    sy_buf_append(&pt->resp, p, n);
}

static void on_done(void *ud, int err)
{
    struct sy_gw_pretok *pt = ud;
    pt->up = NULL;
    if (!err && pt->too_big)
        err = SY_ETOOBIG;
    sy_token_vllm_finish(pt->tv, &pt->call, err, pt->status, pt->resp.data ? pt->resp.data : "",
                         pt->resp.len, &pt->result);
    sy_buf_fini(&pt->resp);
    pt->req->tokens = &pt->result;
    pt->done(pt->arg);
}

static const struct sy_upstream_cbs cbs = {
    .on_head = on_head, .on_body = on_body, .on_done = on_done};

bool sy_gw_pretok_start(struct sy_gw_worker *w, struct sy_gw_gen *gen, struct sy_request *req,
                        sy_gw_pretok_fn *done, void *arg, struct sy_gw_pretok **out)
{
    *out = NULL;
    struct sy_token_vllm *tv = sy_sched_token_vllm(gen->sched);
    if (!tv)
        return false;
    struct sy_gw_pretok *pt = sy_xcalloc(1, sizeof *pt);
    pt->tv = tv;
    pt->req = req;
    pt->done = done;
    pt->arg = arg;
    sy_buf_init(&pt->resp);
    *out = pt;
    int rc = sy_token_vllm_prepare(tv, req, &pt->call, &pt->result);
    if (rc != 0) { /* cache hit (1) or not applicable (-1): schedule now */
        if (rc == 1)
            req->tokens = &pt->result;
        return false;
    }
    uv_buf_t bufs[4];
    size_t nb = 0;
    bufs[nb++] = uv_buf_init(pt->call.head.data, (unsigned)pt->call.head.len);
    for (int i = 0; i < 3; i++)
        if (pt->call.len[i])
            bufs[nb++] = uv_buf_init((char *)pt->call.piece[i], (unsigned)pt->call.len[i]);
    pt->up = sy_upstream_send(w->upstreams, sy_token_vllm_hostport(tv), sy_token_vllm_addr(tv),
                              bufs, nb, pt->call.timeout_ns, pt->call.timeout_ns, &cbs, pt);
    return true;
}

void sy_gw_pretok_free(struct sy_gw_pretok *pt)
{
    if (!pt)
        return;
    if (pt->up)
        sy_upstream_cancel(pt->up);
    if (pt->req && pt->req->tokens == &pt->result)
        pt->req->tokens = NULL;
    sy_token_vllm_call_fini(&pt->call);
    sy_buf_fini(&pt->resp);
    free(pt->result.ids);
    free(pt);
}
