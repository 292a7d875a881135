/* gateway.c - lifecycle of `switchyard gateway`: load, start workers, serve, reload, drain.
 *
 * Start-up: load the config, build generation 1 {config, pool, scheduler}, bind the client port
 * with SO_REUSEPORT once per worker thread (each worker runs its own libuv loop, so accepted
 * connections are spread by the kernel and never migrate; a port another process of this user
 * already listens on is refused first, sy_listen_probe, where SO_REUSEPORT would silently share
 * it and split the connections between the two), start the admin listener and the
 * scraper on the main thread's control loop, then block in the control loop.
 *
 * SIGHUP: load the file again and build a new generation (endpoints with unchanged addresses keep
 * their objects, so their live metrics and in-flight counters carry over). On any error the old
 * generation stays and the error is logged; nothing is dropped. listen/admin/workers changes need
 * a restart (logged); a new busyPoll applies at each worker's next poll.
 *
 * Workers run their loops through sy_busypoll_run (http/busypoll.h): with busyPoll 0, the
 * default, that is uv_run; otherwise a worker polls for that long after I/O before sleeping.
 *
 * SIGHUP also applies the client limits and timeouts (limits.maxBodyBytes, timeouts.idle,
 * header, body, send) to requests that start afterwards: each worker picks them up on its loop.
 *
 * SIGTERM/SIGINT: drain. Workers stop accepting and close idle keep-alive connections; the
 * remaining responses carry `Connection: close`; in-flight requests, including long streams,
 * finish until timeouts.drain, when the streams still running end as a broken upstream ends
 * them (sy_gw_proxy_cut_all); then the process exits 0. The admin listener answers until exit
 * (/health 503 while draining).
 *
 * Descriptors: the soft RLIMIT_NOFILE is raised to the hard limit at start, and each worker
 * accepts at most limits.maxConnectionsPerWorker connections (by default a share of the limit),
 * pausing its accepts above it or on EMFILE (http/server.c).
 *
 * The control loop wakes for the flow controller every 5 ms only while flow control is on or
 * requests wait in its queue, else once a second (flow_tick): an idle periodic wake-up is not free
 * on a shared 2-core host, where it also preempts the worker threads forwarding streams.
 */
#include "disagg/disagg.h"
#include "gateway/gateway.h"
#include "sched/latency_metrics.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/anthropic.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "discovery/discovery.h"
#include "extproc/epp.h"
#include "extproc/h2.h"
#include "http/uvutil.h"
#include "kvevents/subscriber.h"
#include "pool/scraper.h"
#include "prefix/approx_index.h"
#include "sched/token_vllm.h"

#define SY_GW_FLOW_TICK_MS 5    /* flow tick while the gate is on or requests are queued */
#define SY_GW_FLOW_IDLE_MS 1000 /* flow tick otherwise (slow sweeps only) */

static void flow_tick(uv_timer_t *t);

/* ---- generations ---- */

struct sy_gw_gen *sy_gw_gen_get(struct sy_gateway *gw)
{
    pthread_mutex_lock(&gw->gen_mu);
    struct sy_gw_gen *g = gw->gen;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&gw->gen_mu);
    return g;
}

/* ---- workers ---- */

/* API keys (auth.c) before routing; free when no key is configured (one atomic load). Returns
 * false when req was answered 401. On a listener shared with the admin routes only a GET or HEAD
 * to one of those routes takes the admin rule: every other request (/v1/..., a suffix route such
 * as /openai/v1/chat/completions, a passed-through POST, POST /health) needs a key. */
static bool worker_auth(struct sy_gateway *gw, struct sy_http_req *req)
{
    if (!atomic_load_explicit(&gw->auth_on, memory_order_relaxed))
        return true;
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    bool admin_route = g->cfg->admin_shared && sy_gw_admin_request(req);
    bool allowed = sy_gw_auth_check(g->cfg, req, admin_route);
    sy_gw_gen_unref(g);
    return allowed;
}

static void worker_handler(void *ud, struct sy_http_req *req)
{
    struct sy_gw_worker *w = ud;
    struct sy_gateway *gw = w->gw;
    if (!worker_auth(gw, req))
        return;
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    bool shared = g->cfg->admin_shared;
    sy_gw_gen_unref(g);
    /* an admin path is never proxied (POST /health, POST /debug/v1/chat/completions) */
    if (shared && sy_gw_admin_refused(req))
        return;
    if (sy_str_eq_c(req->method, "POST")) {
        /* the configured request parsers (llm-d's requestHandler.parsers) choose */
        enum sy_api_kind k;
        struct sy_gw_gen *pg = sy_gw_gen_get(gw);
        enum sy_parser ps = sy_sched_parser_for(pg->sched, req->path.p, req->path.len, &k);
        sy_gw_gen_unref(pg);
        if (ps != SY_PARSER_NONE) {
            sy_gw_proxy_handle(w, req, k);
            return;
        }
        if (sy_api_kind_from_path(req->path.p, req->path.len) != SY_API_OTHER) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "no configured request parser reads POST %.*s (scheduler "
                     "requestHandler.parsers)",
                     (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
            sy_http_respond_error(req, 404, "invalid_request_error", "not_found", msg, NULL);
            return;
        }
    }
    if (sy_str_eq_c(req->method, "GET") &&
        (sy_str_eq_c(req->path, "/v1/models") || sy_str_eq_c(req->path, "/v1/models/"))) {
        sy_gw_models_handle(gw, req);
        return;
    }
    if (shared && sy_gw_admin_handle(gw, req))
        return;
    char msg[300];
    snprintf(msg, sizeof msg, "Unknown route: %.*s %.*s", (int)req->method.len, req->method.p,
             (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
    sy_http_respond_error(req, 404, "invalid_request_error", "not_found", msg, NULL);
}

/* Errors the HTTP layer answers before routing (413 body too large, ...): Anthropic's shape on
 * the Messages route, the default elsewhere. */
static bool worker_error_body(void *ud, struct sy_str path, int status, const char *message,
                              struct sy_buf *out)
{
    (void)ud;
    if (path.len < 12 || memcmp(path.p + path.len - 12, "/v1/messages", 12) != 0)
        return false;
    sy_anthropic_error_json(out, status, message);
    return true;
}

/* The client listener's options from a config (the ones a reload applies too). */
static struct sy_http_server_opts client_opts(const struct sy_config *cfg, size_t max_conns)
{
    return (struct sy_http_server_opts){
        .max_body_bytes = cfg->max_body_bytes,
        .idle_timeout_ns = cfg->idle_timeout_ns,
        .header_timeout_ns = cfg->header_timeout_ns,
        .body_timeout_ns = cfg->body_timeout_ns,
        .send_timeout_ns = cfg->send_timeout_ns,
        .max_conns = max_conns,
    };
}

static void worker_wake(uv_async_t *a)
{
    struct sy_gw_worker *w = a->data;
    if (atomic_exchange(&w->reload_limits, false) && w->server) {
        struct sy_gw_gen *g = sy_gw_gen_get(w->gw);
        struct sy_http_server_opts o = client_opts(g->cfg, w->max_conns);
        sy_http_server_set_limits(w->server, &o);
        sy_http_server_set_tls(w->server, g->tls); /* renewed certificate, new connections */
        sy_upstream_pool_set_idle_timeout(w->upstreams, g->cfg->idle_timeout_ns);
        sy_gw_gen_unref(g);
    }
    if (w->flow_port)
        sy_flow_port_run(w->flow_port); /* flow-control verdicts posted for this loop */
    if (atomic_load(&w->drain) && w->server)
        sy_http_server_drain(w->server);
    if (atomic_load(&w->drain) && w->xp)
        sy_h2_server_stop_accepting(w->xp);
    if (atomic_load(&w->stop)) {
        sy_gw_proxy_cut_all(w); /* streams still running end properly before the close */
        sy_h2_server_close(w->xp);
        w->xp = NULL;
        if (w->server)
            sy_http_server_close(w->server);
        w->server = NULL;
        sy_upstream_pool_free(w->upstreams);
        w->upstreams = NULL;
        uv_close((uv_handle_t *)&w->wake, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct sy_gw_worker *w = arg;
    sy_busypoll_run(&w->loop, &w->gw->busy_poll_ns, &w->busy_poll);
    return NULL;
}

/* Flow control posted a verdict for this worker: wake its loop. */
static void flow_notify(void *ud)
{
    struct sy_gw_worker *w = ud;
    if (!atomic_load(&w->stop))
        uv_async_send(&w->wake);
}

static int worker_init(struct sy_gateway *gw, struct sy_gw_worker *w, int index,
                       const struct sy_config *cfg, uint16_t port, char *err, size_t errcap)
{
    w->gw = gw;
    w->index = index;
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->wake, worker_wake);
    w->wake.data = w;
    w->flow_port = sy_flow_port_new(gw->flow, flow_notify, w);
    w->upstreams = sy_upstream_pool_new(&w->loop, cfg->idle_timeout_ns, 64);
    if (gw->epp)
        return sy_epp_worker_start(gw->epp, w, port, err, errcap);
    struct sy_http_server_opts o = client_opts(cfg, w->max_conns);
    o.tls = gw->gen->tls;
    o.reuseport = true;
    o.handler = worker_handler;
    o.error_body = worker_error_body;
    o.ud = w;
    return sy_http_server_start(&w->loop, cfg->listen_host, port, &o, &w->server, err, errcap);
}

/* ---- control loop: admin, signals, reload, drain ---- */

/* The admin listener. Its admin paths take the admin rule; GET /v1/models (a client route, served
 * here too) and unknown paths need a key like on the client listener. */
static void admin_handler(void *ud, struct sy_http_req *req)
{
    struct sy_gateway *gw = ud;
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    bool allowed = sy_gw_auth_check(g->cfg, req, sy_gw_admin_path(req->path));
    sy_gw_gen_unref(g);
    if (!allowed)
        return;
    if (!sy_gw_admin_refused(req) && !sy_gw_admin_handle(gw, req))
        sy_http_respond_error(req, 404, "invalid_request_error", "not_found", "unknown admin route",
                              NULL);
}

/* The next generation with the static endpoints plus the discovered ones (same config and
 * scheduler). Endpoint objects are reused from inherit (the current pool when NULL). */
static void apply_discovered(struct sy_gateway *gw, const struct sy_pool *inherit)
{
    struct sy_gw_gen *old = sy_gw_gen_get(gw);
    size_t n;
    struct sy_endpoint_config *all = sy_discovery_merge(old->cfg, gw->disc_eps, gw->ndisc, &n);
    char err[512];
    struct sy_pool *pool =
        sy_pool_new_eps(old->cfg, all, n, inherit ? inherit : old->pool, err, sizeof err);
    sy_discovery_free_eps(all, n);
    if (!pool) {
        sy_warn("discovery: pool not changed: %s", err);
        sy_gw_gen_unref(old);
        return;
    }
    struct sy_gw_gen *g = sy_gen_with_pool(old, pool);
    g->id = ++gw->next_gen_id;
    pthread_mutex_lock(&gw->gen_mu);
    struct sy_gw_gen *prev = gw->gen;
    gw->gen = g;
    pthread_mutex_unlock(&gw->gen_mu);
    sy_scraper_set_pool(gw->scraper, g->pool, g->cfg->scrape_interval_ns, g->cfg->staleness_ns);
    sy_flow_set_pool(gw->flow, g->pool); /* the saturation detector reads the new membership */
    sy_gw_gen_unref(prev);
    sy_gw_gen_unref(old);
}

static void on_discovered(void *ud, const struct sy_endpoint_config *eps, size_t n)
{
    struct sy_gateway *gw = ud;
    struct sy_config none = {.nendpoints = 0};
    sy_discovery_free_eps(gw->disc_eps, gw->ndisc);
    gw->disc_eps = sy_discovery_merge(&none, eps, n, &gw->ndisc);
    apply_discovered(gw, NULL);
}

static void reload(struct sy_gateway *gw)
{
    char err[1024];
    struct sy_config *cfg = sy_discovery_config_load(gw->config_path, err, sizeof err);
    struct sy_gw_gen *old = sy_gw_gen_get(gw);
    if (!cfg) {
        sy_error("reload refused, keeping the running configuration: %s", err);
        atomic_fetch_add(&gw->reloads_failed, 1);
        sy_gw_gen_unref(old);
        return;
    }
    if (strcmp(cfg->listen_host, old->cfg->listen_host) != 0 ||
        (cfg->listen_port != old->cfg->listen_port) || cfg->admin_port != old->cfg->admin_port ||
        cfg->workers != old->cfg->workers ||
        cfg->max_conns_per_worker != old->cfg->max_conns_per_worker ||
        !cfg->tls_cert_file != !old->cfg->tls_cert_file || cfg->tls_admin != old->cfg->tls_admin)
        sy_warn("reload: listen, admin, workers, limits.maxConnectionsPerWorker and turning TLS "
                "on or off take effect only after a restart");
    struct sy_gw_gen *g = sy_gw_gen_build(cfg, old->pool, gw->metrics, err, sizeof err);
    if (!g) {
        sy_error("reload refused, keeping the running configuration: %s", err);
        atomic_fetch_add(&gw->reloads_failed, 1);
        sy_gw_gen_unref(old);
        return;
    }
    g->id = ++gw->next_gen_id;
    if (g->cfg->napi_keys > 0) /* keys turn on before the swap, off after it: no gap */
        atomic_store(&gw->auth_on, true);
    pthread_mutex_lock(&gw->gen_mu);
    struct sy_gw_gen *prev = gw->gen;
    gw->gen = g;
    pthread_mutex_unlock(&gw->gen_mu);
    sy_scraper_set_pool(gw->scraper, g->pool, g->cfg->scrape_interval_ns, g->cfg->staleness_ns);
    sy_flow_configure(gw->flow, g->flow_cfg, g->pool); /* queued requests stay */
    g->flow_cfg = NULL;
    if (!uv_is_closing((uv_handle_t *)&gw->flow_timer)) /* the next tick picks its pace */
        uv_timer_start(&gw->flow_timer, flow_tick, SY_GW_FLOW_TICK_MS, SY_GW_FLOW_TICK_MS);
    atomic_store(&gw->busy_poll_ns, g->cfg->busy_poll_ns);
    atomic_store(&gw->auth_on, g->cfg->napi_keys > 0);
    /* client limits and timeouts apply to requests that start after the reload */
    for (int i = 0; i < gw->nworkers; i++) {
        atomic_store(&gw->workers[i].reload_limits, true);
        uv_async_send(&gw->workers[i].wake);
    }
    if (gw->admin) {
        struct sy_http_server_opts o = client_opts(g->cfg, 0);
        o.max_body_bytes = 1 << 20;
        sy_http_server_set_limits(gw->admin, &o);
        sy_http_server_set_tls(gw->admin, g->tls);
    }
    sy_log_config_level(g->cfg->log_level); /* unless --log-level pinned one */
    /* discovery restarts with the new settings; the last discovered set stays until it reports.
     * apply_discovered replaces g (same config and scheduler, fuller pool): hold g meanwhile. */
    sy_gen_ref(g);
    sy_discovery_stop(gw->disc);
    gw->disc = NULL;
    if (sy_discovery_configured(g->cfg)) {
        apply_discovered(gw, old->pool); /* discovered endpoints keep their objects */
        gw->disc = sy_discovery_start(gw->loop, g->cfg, on_discovered, gw, err, sizeof err);
    }
    atomic_fetch_add(&gw->reloads_ok, 1);
    struct sy_gw_gen *cur = sy_gw_gen_get(gw);
    sy_info("configuration reloaded (generation %llu, %zu endpoints)", (unsigned long long)cur->id,
            cur->pool->n);
    sy_gw_gen_unref(cur);
    sy_gw_gen_unref(g);
    sy_gw_gen_unref(prev);
    sy_gw_gen_unref(old);
}

static size_t active_requests(struct sy_gateway *gw)
{
    size_t n = 0;
    for (int i = 0; i < gw->nworkers; i++)
        n += atomic_load(&gw->workers[i].active);
    return n;
}

static void finish(struct sy_gateway *gw)
{
    for (int i = 0; i < gw->nworkers; i++) {
        atomic_store(&gw->workers[i].stop, true);
        uv_async_send(&gw->workers[i].wake);
    }
    uv_timer_stop(&gw->drain_timer);
    uv_close((uv_handle_t *)&gw->drain_timer, NULL);
    uv_timer_stop(&gw->flow_timer);
    uv_close((uv_handle_t *)&gw->flow_timer, NULL);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->sighup, NULL);
    if (gw->admin)
        sy_http_server_close(gw->admin);
    gw->admin = NULL;
    sy_epp_health_stop(gw->epp);
    sy_discovery_stop(gw->disc);
    gw->disc = NULL;
    sy_scraper_stop(gw->scraper);
    gw->scraper = NULL;
}

static void drain_check(uv_timer_t *t)
{
    struct sy_gateway *gw = t->data;
    size_t n = active_requests(gw);
    if (n == 0) {
        sy_info("drained: no requests in flight; exiting");
        finish(gw);
    } else if (sy_now_ns() >= gw->drain_deadline_ns) {
        sy_warn("drain timeout: %zu requests still in flight; exiting", n);
        finish(gw);
    }
}

static void on_term(uv_signal_t *s, int signum)
{
    struct sy_gateway *gw = s->data;
    if (atomic_exchange(&gw->draining, true)) {
        sy_warn("second signal: exiting now");
        gw->drain_deadline_ns = 0;
        return;
    }
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    gw->drain_deadline_ns = sy_now_ns() + g->cfg->drain_timeout_ns;
    /* queued requests may still dispatch for half the drain bound, then get 503 */
    sy_flow_shutdown(gw->flow, sy_now_ns() + g->cfg->drain_timeout_ns / 2);
    sy_gw_gen_unref(g);
    sy_info("%s: draining (no new connections; in-flight requests finish within the drain "
            "timeout)",
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < gw->nworkers; i++) {
        atomic_store(&gw->workers[i].drain, true);
        uv_async_send(&gw->workers[i].wake);
    }
    /* The admin listener stays up until exit: /health answers 503 while draining. */
    uv_timer_start(&gw->drain_timer, drain_check, 0, 20);
}

/* The flow controller's tick: every SY_GW_FLOW_TICK_MS while flow control is on or requests are
 * queued, every SY_GW_FLOW_IDLE_MS otherwise (only slow sweeps are left then). A 5 ms tick with
 * nothing to do woke the control thread 200 times a second, about 1 us of CPU per forwarded
 * event at 3,300 streamed events/s (bench/stream_scale.sh); a reload restarts the fast tick. */
static void flow_tick(uv_timer_t *t)
{
    struct sy_gateway *gw = t->data;
    uint64_t want = sy_flow_tick(gw->flow) ? SY_GW_FLOW_TICK_MS : SY_GW_FLOW_IDLE_MS;
    if (uv_timer_get_repeat(t) != want)
        uv_timer_start(t, flow_tick, want, want);
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    reload(s->data);
}

static int resolve_workers(int configured, int override)
{
    int n = override > 0 ? override : configured;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n > 64 ? 64 : n;
}

/* Raises the soft descriptor limit to the hard one (each proxied request holds two descriptors)
 * and returns the soft limit now in force. */
static rlim_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
        struct rlimit nl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = want;
    }
    return rl.rlim_cur;
}

/* limits.maxConnectionsPerWorker, or when 0 a share of the descriptor limit: each client
 * connection may hold an upstream connection too, and a reserve stays for the listeners,
 * scrapes, idle upstream connections and logs. */
static size_t resolve_max_conns(uint64_t configured, rlim_t nofile, int nworkers)
{
    if (configured)
        return (size_t)configured;
    rlim_t reserve = 64 + (rlim_t)nworkers * 8;
    rlim_t usable = nofile > reserve + 32 ? nofile - reserve : 32;
    size_t n = (size_t)(usable / 2 / (rlim_t)nworkers);
    return n < 8 ? 8 : n;
}

static int run(const char *config_path, int workers_override, bool epp)
{
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    rlim_t nofile = raise_fd_limit();
    struct sy_config *cfg = sy_config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sy_log_config_level(cfg->log_level); /* unless --log-level pinned one */
    struct sy_gateway *gw = SY_NEW(struct sy_gateway);
    gw->config_path = sy_xstrdup(config_path);
    pthread_mutex_init(&gw->gen_mu, NULL);
    gw->metrics = sy_metrics_new();
    struct sy_gw_gen *g = sy_gw_gen_build(cfg, NULL, gw->metrics, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    g->id = gw->next_gen_id = 1;
    gw->gen = g;
    if (epp && !(gw->epp = sy_epp_new(gw, g->cfg, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (!epp && !g->cfg->listen_host[0]) {
        fprintf(stderr,
                "%s: listen: missing required key (a config with only extProc runs with "
                "`switchyard epp`)\n",
                g->cfg->file);
        return 1;
    }
    atomic_init(&gw->busy_poll_ns, g->cfg->busy_poll_ns);
    atomic_init(&gw->auth_on, g->cfg->napi_keys > 0);
    gw->m = sy_gw_metrics_new(gw, gw->metrics);
    gw->pdm = sy_disagg_metrics_new(gw->metrics);
    gw->flow = sy_flow_new(gw->metrics);
    sy_flow_configure(gw->flow, g->flow_cfg, g->pool);
    g->flow_cfg = NULL;
    sy_metrics_add_collector(gw->metrics, sy_approx_index_metrics_collect, NULL);
    sy_metrics_add_collector(gw->metrics, sy_kvevents_metrics_collect, NULL);
    sy_metrics_add_collector(gw->metrics, sy_token_vllm_metrics_collect, NULL);
    sy_latency_metrics_attach(gw->metrics); /* predicted-latency scheduling */
    uv_loop_t *loop = uv_default_loop();
    gw->loop = loop;

    gw->nworkers = resolve_workers(g->cfg->workers, workers_override);
    gw->workers = sy_xcalloc((size_t)gw->nworkers, sizeof *gw->workers);
    uint16_t port = epp ? sy_epp_cfg(gw->epp)->port : g->cfg->listen_port;
    size_t max_conns = resolve_max_conns(g->cfg->max_conns_per_worker, nofile, gw->nworkers);
    /* the workers bind with SO_REUSEPORT, which would share a port another gateway of this user
     * listens on: refuse it first */
    if (sy_listen_probe(epp ? sy_epp_cfg(gw->epp)->host : g->cfg->listen_host, port, err,
                        sizeof err) != 0) {
        fprintf(stderr, "switchyard gateway: %s\n", err);
        return 1;
    }
    for (int i = 0; i < gw->nworkers; i++) {
        gw->workers[i].max_conns = max_conns;
        if (worker_init(gw, &gw->workers[i], i, g->cfg, port, err, sizeof err) != 0) {
            fprintf(stderr, "switchyard gateway: %s\n", err);
            return 1;
        }
        if (i == 0) /* port 0: all share one */
            port = epp ? sy_h2_server_port(gw->workers[0].xp)
                       : sy_http_server_port(gw->workers[0].server);
    }
    gw->listen_port = port;
    if (!g->cfg->admin_shared) {
        struct sy_http_server_opts o = client_opts(g->cfg, 0);
        o.max_body_bytes = 1 << 20;
        o.tls = g->cfg->tls_admin ? g->tls : NULL;
        o.handler = admin_handler;
        o.ud = gw;
        if (sy_http_server_start(loop, g->cfg->admin_host, g->cfg->admin_port, &o, &gw->admin, err,
                                 sizeof err) != 0) {
            fprintf(stderr, "switchyard gateway: admin: %s\n", err);
            return 1;
        }
        gw->admin_port = sy_http_server_port(gw->admin);
    } else {
        gw->admin_port = port;
    }
    gw->scraper = sy_scraper_start(loop, g->pool, g->cfg->scrape_interval_ns, 0,
                                   g->cfg->staleness_ns, gw->metrics);
    if (sy_discovery_configured(g->cfg) &&
        !(gw->disc = sy_discovery_start(loop, g->cfg, on_discovered, gw, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    uv_signal_init(loop, &gw->sigterm);
    uv_signal_init(loop, &gw->sigint);
    uv_signal_init(loop, &gw->sighup);
    gw->sigterm.data = gw->sigint.data = gw->sighup.data = gw;
    uv_signal_start(&gw->sigterm, on_term, SIGTERM);
    uv_signal_start(&gw->sigint, on_term, SIGINT);
    uv_signal_start(&gw->sighup, on_hup, SIGHUP);
    uv_timer_init(loop, &gw->drain_timer);
    gw->drain_timer.data = gw;
    uv_timer_init(loop, &gw->flow_timer);
    gw->flow_timer.data = gw;
    uv_timer_start(&gw->flow_timer, flow_tick, SY_GW_FLOW_TICK_MS, SY_GW_FLOW_TICK_MS);

    for (int i = 0; i < gw->nworkers; i++)
        pthread_create(&gw->workers[i].thread, NULL, worker_main, &gw->workers[i]);
    if (epp && sy_epp_health_start(gw->epp, loop, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard epp: healthListen: %s\n", err);
        return 1;
    }
    /* The line tests and scripts wait for: the bound ports. */
    if (epp)
        fprintf(stderr,
                "switchyard epp listening on %s:%u (%s, health %s:%u, admin %s:%u), %d workers, "
                "%zu endpoints\n",
                sy_epp_cfg(gw->epp)->host, gw->listen_port,
                sy_epp_cfg(gw->epp)->secure ? "tls" : "h2c", sy_epp_cfg(gw->epp)->health_host,
                sy_epp_health_port(gw->epp), g->cfg->admin_host, gw->admin_port, gw->nworkers,
                g->pool->n);
    else
        fprintf(stderr,
                "switchyard gateway listening on %s:%u (admin %s:%u), %d workers, %zu "
                "endpoints\n",
                g->cfg->listen_host, gw->listen_port,
                g->cfg->admin_shared ? g->cfg->listen_host : g->cfg->admin_host, gw->admin_port,
                gw->nworkers, g->pool->n);
    fflush(stderr);

    uv_run(loop, UV_RUN_DEFAULT);

    for (int i = 0; i < gw->nworkers; i++) {
        pthread_join(gw->workers[i].thread, NULL);
        uv_loop_close(&gw->workers[i].loop);
    }
    uv_loop_close(loop);
    sy_gw_gen_unref(gw->gen);
    for (int i = 0; i < gw->nworkers; i++)
        sy_flow_port_free(gw->workers[i].flow_port);
    sy_flow_free(gw->flow);
    sy_gw_metrics_free(gw->m);
    sy_disagg_metrics_free(gw->pdm);
    sy_metrics_free(gw->metrics);
    free(gw->workers);
    free(gw->config_path);
    sy_epp_free(gw->epp);
    sy_discovery_free_eps(gw->disc_eps, gw->ndisc);
    pthread_mutex_destroy(&gw->gen_mu);
    int rc = gw->exit_code;
    free(gw);
    return rc;
}

int sy_gateway_run(const char *config_path, int workers_override)
{
    return run(config_path, workers_override, false);
}

int sy_gateway_run_epp(const char *config_path, int workers_override)
{
    return run(config_path, workers_override, true);
}
