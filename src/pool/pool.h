/* pool.h - the endpoint pool: the model servers the gateway routes to, and their live state.
 *
 * One struct sy_endpoint per configured replica. Configuration fields are immutable; live state is
 * written by the scraper thread and by workers (in-flight counters) and read by every worker's
 * scheduler. Metrics are guarded by a per-endpoint mutex (readers copy a snapshot), counters are
 * atomics. Endpoints are reference-counted: a config reload that keeps an address keeps its
 * endpoint object (and so its state and in-flight counts); requests hold a reference until they
 * finish.
 *
 *   struct sy_pool (refcounted, immutable after build)
 *     eps[0..n) --> struct sy_endpoint (refcounted, shared across reloads by address)
 */
#ifndef SY_POOL_POOL_H
#define SY_POOL_POOL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "pool/prom.h"

#define SY_MAX_MODELS 16 /* model ids remembered per endpoint from /v1/models */

/* A consistent copy of an endpoint's live state, taken by sy_endpoint_snapshot. */
struct sy_endpoint_state {
    bool ready;                 /* last scrape succeeded and no connection error since */
    bool scraped;               /* at least one successful scrape */
    uint64_t update_ns;         /* monotonic time of the last successful scrape (0 = never) */
    struct sy_engine_metrics m; /* last scraped metrics */
    int64_t inflight_requests;  /* requests forwarded and not yet finished */
    int64_t inflight_tokens;    /* prompt + max output tokens of those requests (estimate) */
    uint64_t fail_ns;           /* monotonic time of the last failed scrape (0 = never) */
    uint64_t conn_fail_ns;      /* monotonic time of the last upstream connect failure (0 = none) */
};

struct sy_endpoint {
    _Atomic int refs;             /* reference count */
    char *address;                /* "host:port" as configured; owned */
    char host[256];               /* host part */
    uint16_t port;                /* port part */
    struct sockaddr_storage addr; /* resolved address */
    socklen_t addrlen;            /* length of addr */
    struct sy_label *labels;      /* owned copy of the configured labels */
    size_t nlabels;
    char *kv_events; /* optional KV events endpoint; owned or NULL */

    pthread_mutex_t mu; /* guards the fields below up to models */
    bool ready;         /* see sy_endpoint_state */
    bool scraped;
    uint64_t update_ns;
    struct sy_engine_metrics m;
    uint64_t fail_ns;            /* last failed scrape (monotonic ns), 0 = never */
    char *models[SY_MAX_MODELS]; /* model ids served, from /v1/models; owned */
    size_t nmodels;              /* 0 = unknown (never fetched) */

    _Atomic int64_t inflight_requests; /* +1 on forward, -1 on finish (every path) */
    _Atomic int64_t inflight_tokens;   /* token estimate, same discipline */
    _Atomic uint64_t conn_fail_ns;     /* last upstream connect failure (monotonic ns), 0 = none */

    uint8_t scrape_busy; /* scraper thread only: bit 0 a /metrics poll, bit 1 a /v1/models poll
                          * in flight (a gateway runs one scraper) */
};

struct sy_pool {
    _Atomic int refs;         /* reference count */
    struct sy_endpoint **eps; /* owned references */
    size_t n;                 /* endpoint count */
    enum sy_engine engine;    /* which metric names to read */
};

/* Builds a pool from the config, reusing endpoint objects from old (may be NULL) whose address
 * matches, so live state survives a reload. Resolves addresses; returns NULL with a message
 * "FILE:LINE: pool.endpoints: reason" on a bad address. */
struct sy_pool *sy_pool_new(const struct sy_config *cfg, const struct sy_pool *old, char *err,
                            size_t errcap);
struct sy_pool *sy_pool_ref(struct sy_pool *p);
void sy_pool_unref(struct sy_pool *p);
struct sy_endpoint *sy_endpoint_ref(struct sy_endpoint *e);
void sy_endpoint_unref(struct sy_endpoint *e);

void sy_endpoint_snapshot(struct sy_endpoint *e, struct sy_endpoint_state *out);
/* Scraper: record a successful scrape / a failure (marks the endpoint not ready). */
void sy_endpoint_set_metrics(struct sy_endpoint *e, const struct sy_engine_metrics *m,
                             uint64_t now);
void sy_endpoint_set_failed(struct sy_endpoint *e, uint64_t now);
/* Replaces the endpoint's model list (ids borrowed, copied). */
void sy_endpoint_set_models(struct sy_endpoint *e, const char *const *ids, size_t n);
/* True when the endpoint serves model, or its model list is unknown. */
bool sy_endpoint_serves(struct sy_endpoint *e, const char *model, size_t len);
/* Looks up a label value; NULL when absent. */
const char *sy_endpoint_label(const struct sy_endpoint *e, const char *key);
/* Proxy: record an upstream connect/I/O failure at now; the endpoint reads as not ready until the
 * next successful scrape after now. */
void sy_endpoint_conn_failed(struct sy_endpoint *e, uint64_t now);
/* The endpoint with this configured address, borrowed from p (no reference taken), or NULL. */
struct sy_endpoint *sy_pool_find(const struct sy_pool *p, const char *address);

/* In-flight accounting: call add on forward and sub with the same numbers on every exit. */
void sy_endpoint_inflight_add(struct sy_endpoint *e, int64_t tokens);
void sy_endpoint_inflight_sub(struct sy_endpoint *e, int64_t tokens);

#endif
