/* sim_dp.c - data-parallel groups of simulated replicas (`switchyard sim --data-parallel-size N`).
 *
 * vLLM's wide-EP deployment (--data-parallel-multi-port-external-lb with a supervisor): one pod
 * runs N ranks, each its own HTTP server on port base + local rank with its own KV cache and its
 * own KV-event publisher (port + rank), and a supervisor port whose /health, /ready and /readyz
 * answer 200 only when every rank is healthy (vllm/entrypoints/openai/dp_supervisor.py).
 *
 * Here replicas [g*N, (g+1)*N) form group g:
 *   - their engines step in lockstep (src/sim/lockstep.h): the group's step follows its busiest
 *     rank, which is what makes per-rank token balance matter for routing;
 *   - one supervisor HTTP server per group on dp_supervisor_port + g (0 = ephemeral) answers
 *     /health, /ready, /readyz: 200 {"status":"ok"} while every rank listens and the group is
 *     marked ready, else 503. Simulator-only control: POST /_sim/ready?value=false|true marks the
 *     group (tests take a pod's ranks out through it);
 *   - KV-event batches carry data_parallel_rank = index within the group (sim_server.c).
 * One uv timer per group replaces the ranks' own timers (sim_server.c's kick defers here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/str.h"
#include "http/server.h"
#include "sim/lockstep.h"
#include "sim/sim_internal.h"

struct sim_dp {
    struct sy_sim_server *srv;   /* owner */
    uint32_t index;              /* group number */
    uint32_t first, n;           /* replicas [first, first + n) */
    struct sy_sim_lockstep ls;   /* the coupled engines */
    uv_timer_t timer;            /* end of the group step in flight */
    bool timer_init;             /* timer initialised */
    struct sy_http_server *http; /* the supervisor */
    uint16_t port;               /* its port */
    bool marked_unready;         /* POST /_sim/ready?value=false */
};

static void on_dp_timer(uv_timer_t *t)
{
    sy_sim__dp_kick(t->data);
}

void sy_sim__dp_kick(struct sim_dp *g)
{
    struct sy_sim_server *s = g->srv;
    uint64_t now = sy_sim__now(s);
    sy_sim_lockstep_advance(&g->ls, now);
    uint64_t next = sy_sim_lockstep_next_ns(&g->ls);
    if (next == UINT64_MAX) {
        uv_timer_stop(&g->timer);
    } else {
        double wall_ns = next > now ? (double)(next - now) / s->opts.time_scale : 0;
        uv_timer_start(&g->timer, on_dp_timer, (uint64_t)ceil(wall_ns / 1e6), 0);
    }
    sy_sim__pd_process(s);
}

static bool group_ready(const struct sim_dp *g)
{
    if (g->marked_unready)
        return false;
    for (uint32_t i = 0; i < g->n; i++)
        if (!g->srv->reps[g->first + i].http)
            return false;
    return true;
}

static void supervisor(void *ud, struct sy_http_req *req)
{
    struct sim_dp *g = ud;
    struct sy_str path = req->path;
    if (sy_str_eq_c(req->method, "GET") &&
        (sy_str_eq_c(path, "/health") || sy_str_eq_c(path, "/ready") ||
         sy_str_eq_c(path, "/readyz"))) {
        if (group_ready(g))
            sy_http_respond(req, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15);
        else
            sy_http_respond(req, 503, "application/json", NULL, "{\"status\":\"unavailable\"}", 24);
    } else if (sy_str_eq_c(req->method, "POST") && sy_str_eq_c(path, "/_sim/ready")) {
        if (sy_str_eq_c(req->query, "value=false"))
            g->marked_unready = true;
        else if (sy_str_eq_c(req->query, "value=true"))
            g->marked_unready = false;
        else {
            sy_http_respond_error(req, 400, "BadRequestError", NULL,
                                  "expected ?value=true or ?value=false", NULL);
            return;
        }
        sy_http_respond(req, 200, NULL, NULL, "", 0);
    } else {
        sy_http_respond_error(req, 404, "NotFoundError", NULL, "Not Found", NULL);
    }
}

int sy_sim__dp_start(struct sy_sim_server *s, char *err, size_t errcap)
{
    uint32_t n = s->opts.dp_size;
    if (n <= 1)
        return 0;
    if (n > SY_SIM_LOCKSTEP_MAX || s->nreps % n != 0) {
        snprintf(err, errcap,
                 "sim: --data-parallel-size %u must divide the replica count %u (and be <= %d)", n,
                 s->nreps, SY_SIM_LOCKSTEP_MAX);
        return -1;
    }
    s->ndps = s->nreps / n;
    s->dps = sy_xcalloc(s->ndps, sizeof *s->dps);
    const char *host = s->opts.host ? s->opts.host : "127.0.0.1";
    for (uint32_t gi = 0; gi < s->ndps; gi++) {
        struct sim_dp *g = &s->dps[gi];
        g->srv = s;
        g->index = gi;
        g->first = gi * n;
        g->n = n;
        struct sy_sim_engine *eng[SY_SIM_LOCKSTEP_MAX];
        for (uint32_t i = 0; i < n; i++) {
            struct replica *r = &s->reps[g->first + i];
            if (r->role != s->reps[g->first].role) {
                snprintf(err, errcap,
                         "sim: data-parallel group %u mixes P/D roles; give each role a "
                         "multiple of --data-parallel-size replicas",
                         gi);
                return -1;
            }
            eng[i] = r->eng;
            r->dp = g;
        }
        sy_sim_lockstep_init(&g->ls, eng, n, &s->opts.prof);
        uv_timer_init(s->loop, &g->timer);
        g->timer.data = g;
        g->timer_init = true;
        uint16_t port =
            s->opts.dp_supervisor_port ? (uint16_t)(s->opts.dp_supervisor_port + gi) : 0;
        struct sy_http_server_opts hopts = {.handler = supervisor, .ud = g};
        char herr[256];
        if (sy_http_server_start(s->loop, host, port, &hopts, &g->http, herr, sizeof herr) != 0) {
            snprintf(err, errcap, "sim: data-parallel supervisor %u: %s", gi, herr);
            g->http = NULL;
            return -1;
        }
        g->port = sy_http_server_port(g->http);
    }
    return 0;
}

uint16_t sy_sim_server_supervisor_port(const struct sy_sim_server *s, uint32_t g)
{
    return g < s->ndps ? s->dps[g].port : 0;
}

uint32_t sy_sim__dp_close(struct sy_sim_server *s, uv_close_cb cb)
{
    uint32_t handles = 0;
    for (uint32_t gi = 0; gi < s->ndps; gi++) {
        struct sim_dp *g = &s->dps[gi];
        if (g->http)
            sy_http_server_close(g->http);
        g->http = NULL;
        for (uint32_t i = 0; i < g->n; i++)
            s->reps[g->first + i].dp = NULL; /* late kicks: no group any more */
        if (g->timer_init) {
            uv_timer_stop(&g->timer);
            g->timer.data = s; /* the close callback counts down the server */
            uv_close((uv_handle_t *)&g->timer, cb);
            g->timer_init = false;
            handles++;
        }
    }
    return handles;
}

void sy_sim__dp_free(struct sy_sim_server *s)
{
    free(s->dps);
    s->dps = NULL;
    s->ndps = 0;
}
