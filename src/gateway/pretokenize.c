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
#include "core/time.h"
#include "http/client.h"
#include "sched/burst_prefix.h"
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
    struct sy_gw_worker *w;             /* its loop */
    struct sy_gw_gen *gen;              /* borrowed (the proxy holds a reference) */
    struct sy_burst *burst;             /* the burst producer, or NULL */
    struct sy_burst_entry *entry;       /* joined window entry, or NULL */
    uv_timer_t *timer;                  /* window wait (closed asynchronously), or NULL */
    sy_gw_pretok_fn *done;
    void *arg;
};

static void on_window(uv_timer_t *t)
{
    struct sy_gw_pretok *pt = t->data;
    sy_burst_seal(pt->burst, pt->entry);
    pt->done(pt->arg);
}

/* Step 2: joins the burst window when configured. Returns true when the request waits. */
static bool burst_start(struct sy_gw_pretok *pt)
{
    if (!pt->burst)
        return false;
    uint64_t now = sy_now_ns(), deadline;
    pt->entry = sy_burst_join(pt->burst, pt->req, pt->gen->pool, now, &deadline);
    if (!pt->entry)
        return false;
    pt->timer = sy_xmalloc(sizeof *pt->timer);
    uv_timer_init(&pt->w->loop, pt->timer);
    pt->timer->data = pt;
    uint64_t ms = deadline > now ? (deadline - now + SY_NS_PER_MS - 1) / SY_NS_PER_MS : 0;
    uv_timer_start(pt->timer, on_window, ms, 0);
    return true;
}

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
    if (!burst_start(pt))
        pt->done(pt->arg);
}

static const struct sy_upstream_cbs cbs = {
    .on_head = on_head, .on_body = on_body, .on_done = on_done};

bool sy_gw_pretok_start(struct sy_gw_worker *w, struct sy_gw_gen *gen, struct sy_request *req,
                        sy_gw_pretok_fn *done, void *arg, struct sy_gw_pretok **out)
{
    *out = NULL;
    struct sy_token_vllm *tv = sy_sched_token_vllm(gen->sched);
    struct sy_burst *burst = sy_sched_burst(gen->sched);
    if (!tv && !burst)
        return false;
    struct sy_gw_pretok *pt = sy_xcalloc(1, sizeof *pt);
    pt->tv = tv;
    pt->burst = burst;
    pt->req = req;
    pt->w = w;
    pt->gen = gen;
    pt->done = done;
    pt->arg = arg;
    sy_buf_init(&pt->resp);
    *out = pt;
    int rc = tv ? sy_token_vllm_prepare(tv, req, &pt->call, &pt->result) : -1;
    if (rc != 0) { /* no vllm backend, cache hit (1) or not applicable (-1) */
        if (rc == 1)
            req->tokens = &pt->result;
        return burst_start(pt);
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

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void sy_gw_pretok_free(struct sy_gw_pretok *pt)
{
    if (!pt)
        return;
    if (pt->up)
        sy_upstream_cancel(pt->up);
    if (pt->timer) {
        uv_timer_stop(pt->timer);
        uv_close((uv_handle_t *)pt->timer, timer_closed);
    }
    sy_burst_leave(pt->burst, pt->entry); /* after scheduling: produce read the assignment */
    if (pt->req && pt->req->tokens == &pt->result)
        pt->req->tokens = NULL;
    sy_token_vllm_call_fini(&pt->call);
    sy_buf_fini(&pt->resp);
    free(pt->result.ids);
    free(pt);
}
