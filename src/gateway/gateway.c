/* gateway.c - lifecycle of `switchyard gateway`: load, start workers, serve, reload, drain.
 *
 * Start-up: load the config, build generation 1 {config, pool, scheduler}, bind the client port
 * with SO_REUSEPORT once per worker thread (each worker runs its own libuv loop, so accepted
 * connections are spread by the kernel and never migrate), start the admin listener and the
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
 * SIGTERM/SIGINT: drain. Workers stop accepting and close idle connections; in-flight requests,
 * including long streams, finish until timeouts.drain; then the process exits 0.
 */
#include "gateway/gateway.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "discovery/discovery.h"
#include "extproc/epp.h"
#include "extproc/h2.h"
#include "kvevents/subscriber.h"
#include "pool/scraper.h"
#include "prefix/approx_index.h"

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

static void worker_handler(void *ud, struct sy_http_req *req)
{
    struct sy_gw_worker *w = ud;
    struct sy_gateway *gw = w->gw;
    if (sy_str_eq_c(req->method, "POST")) {
        enum sy_api_kind k = sy_api_kind_from_path(req->path.p, req->path.len);
        if (k != SY_API_OTHER) {
            sy_gw_proxy_handle(w, req, k);
            return;
        }
    }
    if (sy_str_eq_c(req->method, "GET") &&
        (sy_str_eq_c(req->path, "/v1/models") || sy_str_eq_c(req->path, "/v1/models/"))) {
        sy_gw_models_handle(gw, req);
        return;
    }
    struct sy_gw_gen *g = sy_gw_gen_get(gw);
    bool shared = g->cfg->admin_shared;
    sy_gw_gen_unref(g);
    if (shared && sy_gw_admin_handle(gw, req))
        return;
    char msg[300];
    snprintf(msg, sizeof msg, "Unknown route: %.*s %.*s", (int)req->method.len, req->method.p,
             (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
    sy_http_respond_error(req, 404, "invalid_request_error", "not_found", msg, NULL);
}

static void worker_wake(uv_async_t *a)
{
    struct sy_gw_worker *w = a->data;
    if (atomic_load(&w->drain) && w->server)
        sy_http_server_stop_accepting(w->server);
    if (atomic_load(&w->drain) && w->xp)
        sy_h2_server_stop_accepting(w->xp);
    if (atomic_load(&w->stop)) {
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

static int worker_init(struct sy_gateway *gw, struct sy_gw_worker *w, int index,
                       const struct sy_config *cfg, uint16_t port, char *err, size_t errcap)
{
    w->gw = gw;
    w->index = index;
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->wake, worker_wake);
    w->wake.data = w;
    w->upstreams = sy_upstream_pool_new(&w->loop, cfg->idle_timeout_ns, 64);
    if (gw->epp)
        return sy_epp_worker_start(gw->epp, w, port, err, errcap);
    struct sy_http_server_opts o = {
        .max_body_bytes = cfg->max_body_bytes,
        .idle_timeout_ns = cfg->idle_timeout_ns,
        .reuseport = true,
        .handler = worker_handler,
        .ud = w,
    };
    return sy_http_server_start(&w->loop, cfg->listen_host, port, &o, &w->server, err, errcap);
}

/* ---- control loop: admin, signals, reload, drain ---- */

static void admin_handler(void *ud, struct sy_http_req *req)
{
    struct sy_gateway *gw = ud;
    if (!sy_gw_admin_handle(gw, req))
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
    sy_scraper_set_pool(gw->scraper, g->pool, g->cfg->scrape_interval_ns);
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
    struct sy_config *cfg = sy_config_load(gw->config_path, err, sizeof err);
    struct sy_gw_gen *old = sy_gw_gen_get(gw);
    if (!cfg) {
        sy_error("reload refused, keeping the running configuration: %s", err);
        atomic_fetch_add(&gw->reloads_failed, 1);
        sy_gw_gen_unref(old);
        return;
    }
    if (sy_discovery_check(cfg, err, sizeof err) != 0) {
        sy_error("reload refused, keeping the running configuration: %s", err);
        atomic_fetch_add(&gw->reloads_failed, 1);
        sy_config_unref(cfg);
        sy_gw_gen_unref(old);
        return;
    }
    if (strcmp(cfg->listen_host, old->cfg->listen_host) != 0 ||
        (cfg->listen_port != old->cfg->listen_port) || cfg->admin_port != old->cfg->admin_port ||
        cfg->workers != old->cfg->workers)
        sy_warn("reload: listen, admin and workers changes take effect only after a restart");
    struct sy_gw_gen *g = sy_gw_gen_build(cfg, old->pool, gw->metrics, err, sizeof err);
    if (!g) {
        sy_error("reload refused, keeping the running configuration: %s", err);
        atomic_fetch_add(&gw->reloads_failed, 1);
        sy_gw_gen_unref(old);
        return;
    }
    g->id = ++gw->next_gen_id;
    pthread_mutex_lock(&gw->gen_mu);
    struct sy_gw_gen *prev = gw->gen;
    gw->gen = g;
    pthread_mutex_unlock(&gw->gen_mu);
    sy_scraper_set_pool(gw->scraper, g->pool, g->cfg->scrape_interval_ns);
    atomic_store(&gw->busy_poll_ns, g->cfg->busy_poll_ns);
    if (g->cfg->log_level) {
        enum sy_log_level lvl;
        if (sy_log_parse_level(g->cfg->log_level, &lvl) == 0)
            sy_log_set_level(lvl);
    }
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
    sy_gw_gen_unref(g);
    sy_info("%s: draining (no new connections; in-flight requests finish within the drain "
            "timeout)",
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < gw->nworkers; i++) {
        atomic_store(&gw->workers[i].drain, true);
        uv_async_send(&gw->workers[i].wake);
    }
    if (gw->admin)
        sy_http_server_stop_accepting(gw->admin);
    uv_timer_start(&gw->drain_timer, drain_check, 0, 20);
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

static int run(const char *config_path, int workers_override, bool epp)
{
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    struct sy_config *cfg = sy_config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (cfg->log_level) {
        enum sy_log_level lvl;
        if (sy_log_parse_level(cfg->log_level, &lvl) == 0)
            sy_log_set_level(lvl);
    }
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
    gw->m = sy_gw_metrics_new(gw, gw->metrics);
    sy_metrics_add_collector(gw->metrics, sy_approx_index_metrics_collect, NULL);
    sy_metrics_add_collector(gw->metrics, sy_kvevents_metrics_collect, NULL);
    uv_loop_t *loop = uv_default_loop();
    gw->loop = loop;

    gw->nworkers = resolve_workers(g->cfg->workers, workers_override);
    gw->workers = sy_xcalloc((size_t)gw->nworkers, sizeof *gw->workers);
    uint16_t port = epp ? sy_epp_cfg(gw->epp)->port : g->cfg->listen_port;
    for (int i = 0; i < gw->nworkers; i++) {
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
        struct sy_http_server_opts o = {.max_body_bytes = 1 << 20,
                                        .idle_timeout_ns = g->cfg->idle_timeout_ns,
                                        .handler = admin_handler,
                                        .ud = gw};
        if (sy_http_server_start(loop, g->cfg->admin_host, g->cfg->admin_port, &o, &gw->admin, err,
                                 sizeof err) != 0) {
            fprintf(stderr, "switchyard gateway: admin: %s\n", err);
            return 1;
        }
        gw->admin_port = sy_http_server_port(gw->admin);
    } else {
        gw->admin_port = port;
    }
    gw->scraper = sy_scraper_start(loop, g->pool, g->cfg->scrape_interval_ns, 0, gw->metrics);
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
    sy_gw_metrics_free(gw->m);
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
