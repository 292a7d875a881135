/* gen.c - building and releasing generations {config, pool, scheduler} (see gen.h). */
#include "gen/gen.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "flow/flow.h"
#include "http/tls.h"
#include "kvevents/subscriber.h"

/* A precise prefix-cache plugin learns only from KV events. With no endpoint publishing them
 * (pool.endpoints[].kvEvents) and no bound socket (kvEventsConfig.zmqEndpoint) it scores every
 * endpoint 0 and routing silently ignores the cache: say so at load, --check included. llm-d's
 * samples (shared/fixtures/llm-d-configs) name these plugins without either, since llm-d finds
 * the publishers through its pod discovery. */
static void warn_precise_without_events(const struct sy_config *cfg, const struct sy_pool *pool,
                                        const struct sy_scheduler *sched)
{
    if (!sy_sched_has_plugin(sched, "precise-prefix-cache-producer") &&
        !sy_sched_has_plugin(sched, "precise-prefix-cache-scorer"))
        return;
    if (sy_kvevents_has_source(pool))
        return;
    sy_warn("%s: precise prefix-cache routing has no KV-event source (no pool endpoint has "
            "kvEvents and kvEventsConfig.zmqEndpoint is not set): every endpoint's precise prefix "
            "score stays 0 until one is configured (docs/precise-routing.md)",
            cfg->scheduler_file ? cfg->scheduler_file : cfg->file);
}

struct sy_gen *sy_gen_build(struct sy_config *cfg, const struct sy_pool *old_pool,
                            struct sy_metrics *metrics, char *err, size_t errcap)
{
    struct sy_pool *pool = sy_pool_new(cfg, old_pool, err, errcap);
    if (!pool) {
        sy_config_unref(cfg);
        return NULL;
    }
    struct sy_scheduler *sched = sy_sched_new(
        cfg->scheduler, cfg->scheduler_file ? cfg->scheduler_file : cfg->file, err, errcap);
    if (!sched) {
        sy_pool_unref(pool);
        sy_config_unref(cfg);
        return NULL;
    }
    if (metrics)
        sy_sched_attach_metrics(sched, metrics);
    struct sy_tls_ctx *tls = NULL;
    if (cfg->tls_cert_file) {
        /* read at every load: a reload picks up renewed certificate files */
        char why[700];
        tls = sy_tls_server_ctx_new(cfg->tls_cert_file, cfg->tls_key_file, why, sizeof why);
        if (!tls) {
            snprintf(err, errcap, "%s: tls: %s", cfg->file, why);
            sy_sched_free(sched);
            sy_pool_unref(pool);
            sy_config_unref(cfg);
            return NULL;
        }
    }
    struct sy_flow_config *fc =
        sy_flow_config_new(cfg->inference_objectives, cfg->file, cfg->scheduler,
                           cfg->scheduler_file ? cfg->scheduler_file : cfg->file, err, errcap);
    if (!fc) {
        sy_tls_ctx_unref(tls);
        sy_sched_free(sched);
        sy_pool_unref(pool);
        sy_config_unref(cfg);
        return NULL;
    }
    struct sy_gen *g = SY_NEW(struct sy_gen);
    g->flow_cfg = fc;
    g->tls = tls;
    atomic_init(&g->refs, 1);
    g->cfg = cfg;
    g->pool = pool;
    g->sched = sched;
    g->sched_refs = sy_xmalloc(sizeof *g->sched_refs);
    atomic_init(g->sched_refs, 1);
    sy_kvevents_sync(pool); /* KV-event subscriptions follow pool.endpoints[].kvEvents */
    warn_precise_without_events(cfg, pool, sched);
    return g;
}

struct sy_gen *sy_gen_with_pool(struct sy_gen *g, struct sy_pool *pool)
{
    struct sy_gen *n = SY_NEW(struct sy_gen);
    atomic_init(&n->refs, 1);
    n->cfg = sy_config_ref(g->cfg);
    n->pool = pool;
    n->sched = g->sched;
    n->sched_refs = g->sched_refs;
    atomic_fetch_add(n->sched_refs, 1);
    n->tls = g->tls ? sy_tls_ctx_ref(g->tls) : NULL; /* flow_cfg stays with g's holder */
    n->id = g->id + 1;
    sy_kvevents_sync(pool);
    return n;
}

struct sy_gen *sy_gen_ref(struct sy_gen *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void sy_gen_unref(struct sy_gen *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    if (atomic_fetch_sub(g->sched_refs, 1) == 1) {
        sy_sched_free(g->sched);
        free(g->sched_refs);
    }
    sy_tls_ctx_unref(g->tls);
    sy_flow_config_free(g->flow_cfg);
    sy_pool_unref(g->pool);
    sy_config_unref(g->cfg);
    free(g);
}
