/* lockstep_balance_scorer.c - `lockstep-balance-scorer`: Switchyard's own scorer (not an llm-d
 * plugin) for wide expert-parallel deployments (docs/wide-ep.md).
 *
 * The ranks of one wide-EP pod group synchronise at every MoE layer, so the group's step time
 * follows its busiest rank: a request placed on the busiest rank slows every rank of its group,
 * while one placed on a rank below the group's maximum fills a slot that step was already paying
 * for. llm-d's load scorers compare each endpoint to all candidates and know nothing of groups;
 * with the wide-EP guide's decode profile (prefix 3, active-request 2) requests sharing a prompt
 * prefix pile onto one decode rank and the whole group runs at that rank's pace.
 *
 * Load of a rank: the requests the gateway has in flight to it (each decoding request is one
 * token of every step), plus the requests its engine reports waiting. Groups: the value of label
 * `groupLabel` when set, else the host part of the address (the ranks of one pod share a host).
 *
 *   score = 0.5 x [load < max load of its group]        (free: the group's step does not grow)
 *         + 0.5 x (M - load) / M, M = max load over all candidates (1.0 when M = 0)
 *
 * Parameters: groupLabel (string, default: group by host).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct lockstep {
    char *group_label; /* owned, or NULL: group by host */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"groupLabel", NULL};
    const char *label = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "groupLabel", env, &label, err, errcap);
    if (rc)
        return rc;
    struct lockstep *l = SY_NEW(struct lockstep);
    l->group_label = label && *label ? sy_xstrdup(label) : NULL;
    *state = l;
    return 0;
}

static void destroy(void *state)
{
    struct lockstep *l = state;
    if (l)
        free(l->group_label);
    free(l);
}

static const char *group_of(const struct lockstep *l, const struct sy_endpoint *e)
{
    if (l->group_label) {
        const char *v = sy_endpoint_label(e, l->group_label);
        return v ? v : "";
    }
    return e->host;
}

static double load_of(const struct sy_sched_candidate *c)
{
    double w = c->st.m.waiting > 0 ? c->st.m.waiting : 0;
    return (double)(c->st.inflight_requests > 0 ? c->st.inflight_requests : 0) + w;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    (void)cy;
    const struct lockstep *l = state;
    double all = 0;
    for (size_t i = 0; i < n; i++)
        if (load_of(&c[i]) > all)
            all = load_of(&c[i]);
    for (size_t i = 0; i < n; i++) {
        const char *g = group_of(l, c[i].ep);
        double gmax = 0, li = load_of(&c[i]);
        for (size_t j = 0; j < n; j++) /* n is small (ranks of a pool) */
            if (!strcmp(group_of(l, c[j].ep), g) && load_of(&c[j]) > gmax)
                gmax = load_of(&c[j]);
        double slack = li < gmax ? 1.0 : 0.0;
        double spread = all > 0 ? (all - li) / all : 1.0;
        scores[i] = 0.5 * slack + 0.5 * spread;
    }
}

const struct sy_plugin_ops sy_plugin_lockstep_balance_scorer = {
    .type = "lockstep-balance-scorer",
    .create = create,
    .destroy = destroy,
    .score = score,
};
