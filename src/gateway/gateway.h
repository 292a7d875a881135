/* gateway.h - `switchyard gateway`: shared state of the running gateway and the pieces that use it.
 *
 *   main thread (control loop)                 worker threads (one loop each, SO_REUSEPORT)
 *   ------------------------------             ------------------------------------------
 *   signals: SIGTERM drain, SIGHUP reload      client listener -> route -> proxy (proxy.c)
 *   scraper: GET /metrics, /v1/models          upstream keep-alive pool (http/client.c)
 *   admin listener (admin.c)                   admin routes too when admin == listen
 *
 *   struct sy_gw_gen (= struct sy_gen, gen/gen.h): one immutable generation {config, pool,
 *   scheduler}, refcounted. A request
 *   takes a reference when it starts and keeps it to the end, so a reload never pulls state from
 *   under an in-flight request; endpoints that survive a reload are the same objects, so their
 *   live state and in-flight counters carry over.
 */
#ifndef SY_GATEWAY_GATEWAY_H
#define SY_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "flow/flow.h"
#include "gen/gen.h"
#include "http/client.h"
#include "http/busypoll.h"
#include "http/server.h"
#include "http/tls.h"
#include "metrics/metrics.h"
#include "pool/pool.h"
#include "sched/sched.h"

/* The generation is the shared core (gen/gen.h); the gateway's code names it sy_gw_gen. */
#define sy_gw_gen sy_gen

struct proxy; /* proxy.c */

struct sy_gw_worker {
    struct sy_gateway *gw;              /* owner */
    int index;                          /* 0..nworkers-1 */
    pthread_t thread;                   /* its thread */
    uv_loop_t loop;                     /* its loop */
    uv_async_t wake;                    /* cross-thread commands (drain, stop) */
    struct sy_http_server *server;      /* client listener */
    struct sy_upstream_pool *upstreams; /* keep-alive connections to endpoints */
    _Atomic bool drain;                 /* stop accepting */
    _Atomic bool stop;                  /* close everything and exit the loop */
    _Atomic size_t active;              /* requests in progress (read by the control thread) */
    _Atomic bool reload_limits;         /* apply the current generation's client limits */
    size_t max_conns;                   /* limits.maxConnectionsPerWorker as resolved */
    struct proxy *proxies;              /* requests being proxied (proxy.c's list) */
    struct sy_busypoll_stats busy_poll; /* its busyPoll counters (read for /metrics) */
    struct sy_flow_port *flow_port;     /* flow control verdicts for this loop (src/flow) */
    struct sy_h2_server *xp;            /* `switchyard epp`: its ext_proc listener, else NULL */
};

struct sy_gw_metrics;     /* gw_metrics.c */
struct sy_scraper;        /* pool/scraper.h */
struct sy_disagg_metrics; /* disagg/disagg.h */
struct sy_h2_server;      /* extproc/h2.h */
struct sy_epp;            /* extproc/epp.h */
struct sy_discovery;      /* discovery/discovery.h */

struct sy_gateway {
    char *config_path;                   /* file to (re)load */
    pthread_mutex_t gen_mu;              /* guards gen pointer swaps */
    struct sy_gw_gen *gen;               /* current generation */
    uint64_t next_gen_id;                /* for the next reload */
    struct sy_metrics *metrics;          /* registry rendered on /metrics */
    struct sy_gw_metrics *m;             /* gateway metric families */
    struct sy_disagg_metrics *pdm;       /* P/D exchange metric families (src/disagg) */
    struct sy_gw_worker *workers;        /* [nworkers] */
    int nworkers;                        /* worker threads */
    _Atomic uint64_t busy_poll_ns;       /* busyPoll of the current generation */
    _Atomic bool auth_on;                /* the current generation has API keys */
    uv_loop_t *loop;                     /* control loop (main thread) */
    struct sy_http_server *admin;        /* admin listener, NULL when shared */
    struct sy_scraper *scraper;          /* pool state poller */
    uv_signal_t sigterm, sigint, sighup; /* signals */
    uv_timer_t drain_timer;              /* checks drain progress */
    uint64_t drain_deadline_ns;          /* when draining stops waiting */
    _Atomic bool draining;               /* SIGTERM received */
    uint16_t listen_port;                /* bound client port */
    uint16_t admin_port;                 /* bound admin port */
    _Atomic uint64_t reloads_ok;         /* successful reloads */
    _Atomic uint64_t reloads_failed;     /* refused reloads */
    int exit_code;                       /* process exit status */
    struct sy_flow *flow;                /* flow controller (admission, queues; src/flow) */
    uv_timer_t flow_timer;               /* its periodic TTL sweep and dispatch */
    struct sy_epp *epp;                  /* `switchyard epp`: the ext_proc front end, else NULL */
    struct sy_discovery *disc;           /* pool.discovery, else NULL (control loop) */
    struct sy_endpoint_config *disc_eps; /* last discovered set; owned */
    size_t ndisc;                        /* its size */
};

/* Current generation with a reference taken; release with sy_gw_gen_unref. */
struct sy_gw_gen *sy_gw_gen_get(struct sy_gateway *gw);
static inline void sy_gw_gen_unref(struct sy_gw_gen *g)
{
    sy_gen_unref(g);
}

/* Builds a generation (gen/gen.h: sy_gen_build). */
static inline struct sy_gw_gen *sy_gw_gen_build(struct sy_config *cfg,
                                                const struct sy_pool *old_pool,
                                                struct sy_metrics *metrics, char *err,
                                                size_t errcap)
{
    return sy_gen_build(cfg, old_pool, metrics, err, errcap);
}

/* proxy.c: handles POST /v1/... API requests on a worker. */
void sy_gw_proxy_handle(struct sy_gw_worker *w, struct sy_http_req *req, enum sy_api_kind kind);
/* proxy.c: the drain deadline passed: every request still proxied on w ends as a broken upstream
 * ends it (a chunked stream gets an error event and a proper end; a request without a response
 * yet gets 503). Call on w's loop. */
void sy_gw_proxy_cut_all(struct sy_gw_worker *w);

/* auth.c: API keys (auth.apiKeys / apiKeysFile). Returns true when req may proceed; otherwise it
 * has been answered 401 (OpenAI-style) and the caller must not touch it again. admin_route
 * selects the admin rule (/metrics and /debug/... are protected only with auth.protectAdmin). */
bool sy_gw_auth_check(const struct sy_config *cfg, struct sy_http_req *req, bool admin_route);

/* admin.c: admin and informational routes; returns true when the route was handled. */
bool sy_gw_admin_handle(struct sy_gateway *gw, struct sy_http_req *req);
/* admin.c: path is one of the admin listener's own routes (/health, /ready, /metrics, /debug/...),
 * the only paths a listener shared with the client API may treat under the admin rule. */
bool sy_gw_admin_path(struct sy_str path);
/* admin.c: req takes the admin rule: a GET or HEAD (the only methods sy_gw_admin_handle answers)
 * to an admin path. Any other method to an admin path is answered by sy_gw_admin_refused. */
bool sy_gw_admin_request(const struct sy_http_req *req);
/* admin.c: a method other than GET/HEAD to an admin path is answered 405 (OpenAI-style error
 * JSON, "Allow: GET, HEAD") and true returned (the caller must not touch req again); false for
 * any other request (req untouched). An admin path is never proxied, even on a listener shared
 * with the client API. */
bool sy_gw_admin_refused(struct sy_http_req *req);
/* GET /v1/models aggregated over the pool. */
void sy_gw_models_handle(struct sy_gateway *gw, struct sy_http_req *req);

/* gw_metrics.c */
struct sy_gw_metrics *sy_gw_metrics_new(struct sy_gateway *gw, struct sy_metrics *reg);
void sy_gw_metrics_free(struct sy_gw_metrics *m);
/* Per-request observations (model labels as given). status = HTTP status sent to the client;
 * error_code is NULL on success. ttft_s/duration_s < 0 when unknown; tokens < 0 when unknown. */
void sy_gw_metrics_request(struct sy_gw_metrics *m, const char *model, int status,
                           const char *error_code, double duration_s, double ttft_s,
                           int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);
void sy_gw_metrics_running(struct sy_gw_metrics *m, const char *model, int delta);

/* gateway.c */
int sy_gateway_run(const char *config_path, int workers_override);
/* The same lifecycle with the ext_proc front end (`switchyard epp`) instead of the HTTP one. */
int sy_gateway_run_epp(const char *config_path, int workers_override);

#endif
