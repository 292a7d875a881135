/* bench_pool.h - the endpoint pool the scheduler benchmarks build (delay_cost_bench.c,
 * slo_routing_bench.c, flow_bench.c): n endpoints 10.0.0.1:8000 .. 10.0.0.n:8000, one reference
 * each, no metrics yet. Header-only: each benchmark is one translation unit linked against the
 * library (Makefile: $(BUILD)/%_bench).
 */
#ifndef SY_BENCH_POOL_H
#define SY_BENCH_POOL_H

#include <pthread.h>
#include <stdio.h>

#include "core/alloc.h"
#include "pool/pool.h"

static inline struct sy_pool *bench_pool_new(size_t n)
{
    struct sy_pool *pool = SY_NEW(struct sy_pool);
    atomic_init(&pool->refs, 1);
    pool->eps = sy_xcalloc(n, sizeof *pool->eps);
    pool->n = n;
    for (size_t e = 0; e < n; e++) {
        struct sy_endpoint *ep = SY_NEW(struct sy_endpoint);
        atomic_init(&ep->refs, 1);
        char addr[48]; /* "10.0.0." + any size_t + ":8000" */
        snprintf(addr, sizeof addr, "10.0.0.%zu:8000", e + 1);
        ep->address = sy_xstrdup(addr);
        pthread_mutex_init(&ep->mu, NULL);
        pool->eps[e] = ep;
    }
    return pool;
}

#endif
