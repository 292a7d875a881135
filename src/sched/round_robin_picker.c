/* round_robin_picker.c - `round-robin-picker`, a Switchyard addition: the baseline every
 * benchmark compares against (what a plain Kubernetes Service or nginx upstream does).
 *
 * Strict cycling over the surviving candidates in pool order: the k-th pick of this instance
 * takes candidate k mod n. The cursor is one atomic shared by all workers, so with a stable
 * candidate set consecutive requests visit every endpoint once per round regardless of which
 * thread serves them. Scores are ignored. No parameters.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct rr {
    _Atomic uint64_t cursor; /* picks made so far */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    struct rr *r = SY_NEW(struct rr);
    atomic_init(&r->cursor, 0);
    *state = r;
    return 0;
}

static size_t pick(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                   size_t n, const double *totals)
{
    struct rr *r = state;
    uint64_t k = atomic_fetch_add_explicit(&r->cursor, 1, memory_order_relaxed);
    return (size_t)(k % n);
}

const struct sy_plugin_ops sy_plugin_round_robin_picker = {
    .type = "round-robin-picker",
    .create = create,
    .destroy = free,
    .pick = pick,
};
