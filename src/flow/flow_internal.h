/* flow_internal.h - declarations shared inside src/flow only (not part of the module's API). */
#ifndef SY_FLOW_FLOW_INTERNAL_H
#define SY_FLOW_FLOW_INTERNAL_H

#include "flow/flow.h"

/* llm-d's program-aware-fairness defaults (flow_config.c). */
void sy_flow__las_defaults(struct sy_flow_las_params *p);

/* Per-program state of program-aware-fairness (program.c): one entry per fairness id, shared by
 * every band (llm-d keys it by program id alone). Guarded by the controller's mutex. */
struct sy_flow_prog {
    char id[SY_FLOW_FAIRNESS_MAX]; /* fairness id */
    double service;                /* attained service, weighted tokens, decayed to anchor_ns */
    uint64_t anchor_ns;            /* decay folded in up to here */
    uint64_t last_done_ns;         /* last completion (creation until the first) */
    int64_t inflight;              /* dispatched and not yet released */
};

struct sy_flow_progs {
    struct sy_flow_prog **v; /* sorted by id; owned */
    size_t n, cap;
    uint64_t last_sweep_ns; /* eviction sweep */
};

/* The entry for id (created when create); NULL when absent and !create. */
struct sy_flow_prog *sy_flow__prog_get(struct sy_flow_progs *t, const char *id, bool create,
                                       uint64_t now);
/* Attained service at now (decay folded in and written back). */
double sy_flow__prog_service(struct sy_flow_prog *p, uint64_t now, double half_life_s);
/* Folds in decay, then adds cost. */
void sy_flow__prog_add(struct sy_flow_prog *p, double cost, uint64_t now, double half_life_s);
/* Removes programs with nothing in flight and no completion for ttl_ns (0 = never). Returns how
 * many were removed. */
size_t sy_flow__prog_sweep(struct sy_flow_progs *t, uint64_t now, uint64_t ttl_ns);
void sy_flow__progs_fini(struct sy_flow_progs *t);

#endif
