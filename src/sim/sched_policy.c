/* sched_policy.c - the engine's queue policy, kept apart from the step model (engine.c).
 *
 * vLLM V1 (vllm/v1/core/sched/scheduler.py, request_queue.py) has two policies:
 *   fcfs      waiting is a FIFO; a preempted request goes back to its front; when a running
 *             request cannot get KV blocks the newest running request is preempted.
 *   priority  waiting is a heap on (priority, arrival_time): lower value first, ties by arrival;
 *             a preempted request re-enters the heap by that key (no front); the victim is
 *             max(running, key=(priority, arrival_time)), the lowest priority and latest.
 * In both, running requests are served first each step, in admission order (priority does not
 * reorder the batch), and a step that preempted admits nobody. vLLM refuses a request with a
 * non-zero `priority` when the policy is fcfs (400, "Priority scheduling is not enabled"); the
 * simulator's HTTP layer does the same (sim_server.c).
 *
 * --long-prefill-token-threshold caps the tokens one request computes in a step (vLLM applies it
 * to running and waiting requests alike), so a long prompt is prefilled over several steps and
 * each of those steps stays short; 0 (the default) leaves only the step budget.
 *
 * The waiting list stays a sorted doubly linked list (engine.c inserts with
 * sy_sim_sched_before, O(waiting)): queues are bounded by the gateway in front (tens of
 * requests), and the FCFS path stays O(1). A heap was rejected: the engine walks waiting in
 * order during admission and must also remove from the middle (aborts).
 */
#include "sim/sched_policy.h"

#include <string.h>

#include "core/err.h"
#include "sim/engine.h"

int sy_sim_policy_parse(const char *s, enum sy_sim_policy *out)
{
    if (!s)
        return SY_EINVAL;
    if (strcmp(s, "fcfs") == 0)
        *out = SY_SIM_POLICY_FCFS;
    else if (strcmp(s, "priority") == 0)
        *out = SY_SIM_POLICY_PRIORITY;
    else
        return SY_EINVAL;
    return 0;
}

const char *sy_sim_policy_name(enum sy_sim_policy p)
{
    return p == SY_SIM_POLICY_PRIORITY ? "priority" : "fcfs";
}

static int key_cmp(const struct sy_sim_req *a, const struct sy_sim_req *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    if (a->arrival_ns != b->arrival_ns)
        return a->arrival_ns < b->arrival_ns ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

bool sy_sim_sched_before(enum sy_sim_policy p, const struct sy_sim_req *a,
                         const struct sy_sim_req *b)
{
    return p == SY_SIM_POLICY_PRIORITY && key_cmp(a, b) < 0;
}

struct sy_sim_req *sy_sim_sched_victim(const struct sy_sim_sched *s, struct sy_sim_req *head,
                                       struct sy_sim_req *tail)
{
    if (s->policy != SY_SIM_POLICY_PRIORITY)
        return tail;
    struct sy_sim_req *v = head;
    for (struct sy_sim_req *r = head; r; r = r->next)
        if (key_cmp(r, v) > 0)
            v = r;
    return v;
}

uint32_t sy_sim_sched_chunk(const struct sy_sim_sched *s, uint32_t num_new)
{
    if (s->long_prefill_threshold > 0 && num_new > s->long_prefill_threshold)
        return s->long_prefill_threshold;
    return num_new;
}
