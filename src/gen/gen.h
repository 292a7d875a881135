/* gen.h - the shared core both front ends run on: one generation {config, pool, scheduler}.
 *
 *   front ends (gateway: HTTP/1.1 proxy, epp: Envoy ext_proc)
 *          |  sy_gen_ref at request start ... sy_gen_unref at its end
 *          v
 *   struct sy_gen (immutable, refcounted) --> config, pool (endpoints, live state), scheduler
 *
 * A generation is built from a loaded config; a reload builds the next one, reusing endpoint
 * objects by address so their live state and in-flight counters carry over, and the holder swaps
 * its pointer. A request keeps the generation it started with to its end, so a reload never pulls
 * state from under it. Who holds the current pointer (and its lock) is the front end's business.
 */
#ifndef SY_GEN_GEN_H
#define SY_GEN_GEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "pool/pool.h"
#include "sched/sched.h"

struct sy_metrics;
struct sy_flow_config; /* flow/flow.h */
struct sy_tls_ctx;     /* http/tls.h */

struct sy_gen {
    _Atomic int refs;           /* reference count */
    struct sy_config *cfg;      /* owned reference */
    struct sy_pool *pool;       /* owned reference */
    struct sy_scheduler *sched; /* owned */
    uint64_t id;                /* generation number (1 = initial config) */
    _Atomic int *sched_refs;    /* generations sharing sched (sy_gen_with_pool); owned by all */
    struct sy_flow_config *flow_cfg; /* flow control config until the front end hands it to its
                                        controller (then NULL); owned */
    struct sy_tls_ctx *tls;          /* tls.certFile/keyFile loaded, or NULL (owned reference) */
};

/* Builds a generation from a loaded config (takes ownership of cfg's reference). old_pool may be
 * NULL; metrics may be NULL (--check). Returns NULL with "FILE:LINE: key: reason" in err. */
struct sy_gen *sy_gen_build(struct sy_config *cfg, const struct sy_pool *old_pool,
                            struct sy_metrics *metrics, char *err, size_t errcap);
/* The next generation after a pool membership change (discovery): g's config and scheduler
 * (shared, so learned state such as the prefix index carries over; the scheduler forgets
 * departed endpoints itself) with pool (ownership taken). */
struct sy_gen *sy_gen_with_pool(struct sy_gen *g, struct sy_pool *pool);
struct sy_gen *sy_gen_ref(struct sy_gen *g);
/* Drops a reference; the last one frees scheduler, pool and config. NULL is a no-op. */
void sy_gen_unref(struct sy_gen *g);

#endif
