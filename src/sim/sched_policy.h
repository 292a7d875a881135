/* sched_policy.h - the engine's queue policy: vLLM's --scheduling-policy fcfs|priority and
 * --long-prefill-token-threshold (sched_policy.c). */
#ifndef SY_SIM_SCHED_POLICY_H
#define SY_SIM_SCHED_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct sy_sim_req;

enum sy_sim_policy {
    SY_SIM_POLICY_FCFS,    /* vLLM default: arrival order, preempt the newest running request */
    SY_SIM_POLICY_PRIORITY /* (priority, arrival) order; preempt the lowest priority, latest */
};

struct sy_sim_sched {
    enum sy_sim_policy policy;       /* --scheduling-policy, default fcfs */
    uint32_t long_prefill_threshold; /* --long-prefill-token-threshold: tokens one request may
                                        compute per step (0 = no cap, vLLM's V1 default) */
};

/* "fcfs" / "priority" -> *out; returns 0 or SY_EINVAL. */
int sy_sim_policy_parse(const char *s, enum sy_sim_policy *out);
const char *sy_sim_policy_name(enum sy_sim_policy p);

/* True when a goes before b in the waiting queue under policy p (priority: lower value first,
 * then earlier arrival, then submission order; fcfs: never reorders, so false). */
bool sy_sim_sched_before(enum sy_sim_policy p, const struct sy_sim_req *a,
                         const struct sy_sim_req *b);
/* The running request to preempt when blocks run out: fcfs the newest (tail); priority the
 * max of (priority, arrival) over the list starting at head. Borrows; NULL for an empty list. */
struct sy_sim_req *sy_sim_sched_victim(const struct sy_sim_sched *s, struct sy_sim_req *head,
                                       struct sy_sim_req *tail);
/* Tokens a request with num_new uncomputed tokens may compute this step before the budget. */
uint32_t sy_sim_sched_chunk(const struct sy_sim_sched *s, uint32_t num_new);

#endif
