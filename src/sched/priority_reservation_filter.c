/* priority_reservation_filter.c - `priority-reservation-filter` (Switchyard's own; llm-d has no
 * plugin that selects endpoints by the request's priority): endpoints chosen by a label selector
 * are reserved for requests of priority >= minPriority.
 *
 * Why: on an aggregated replica an interactive prompt shares the engine step with whatever else
 * the replica prefills; a replica that never admits a long, low-priority prompt keeps its steps
 * short, so an interactive request's TTFT there stays at its idle value under overload
 * (docs/flow-control.md, "Capacity reserved for the interactive objective").
 *
 *   parameters: minPriority (int32, default 1: above the default priority 0)
 *               reserved: {matchLabels, matchExpressions}   the reserved endpoints (required,
 *                                                           non-empty; label-selector semantics)
 *   request priority < minPriority:  filter drops every reserved endpoint. No fail-open: when
 *       only reserved endpoints are left the list is empty (429 rejected-saturated), so a
 *       low-priority request never lands on a reserved endpoint.
 *   request priority >= minPriority: filter keeps every endpoint (overflow to the shared ones is
 *       allowed); scorer: reserved 1, others 0, so the picker prefers a reserved endpoint that the
 *       profile's other filters (e.g. the concurrency-detector filter, which drops endpoints at
 *       their limit) left in the list and overflows to the shared ones when none is.
 *   The scorer gives 0 everywhere to requests below minPriority.
 *
 * The request's priority is its inference objective's (inferenceObjectives; 0 without one), set
 * by the gateway before scheduling. Order in a profile: list it before the concurrency-detector
 * filter (whose fail-open then only ever re-keeps shared endpoints), and weight its scorer above
 * the sum of the other scorers' weights so that preference wins over load scores.
 * State is immutable after create (shared by workers freely).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/alloc.h"
#include "sched/filter_keep.h"
#include "sched/label_selector.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct reservation {
    int32_t min_priority;          /* requests at or above it may use reserved endpoints */
    struct sy_label_selector *sel; /* the reserved endpoints; owned */
};

static void destroy(void *state)
{
    struct reservation *r = state;
    if (!r)
        return;
    sy_label_selector_free(r->sel);
    free(r);
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"minPriority", "reserved", NULL};
    if (sy_param_absent(params))
        return sy_param_errorf(env, NULL, NULL, err, errcap,
                               "priority-reservation-filter requires parameters (reserved: a "
                               "label selector of the reserved endpoints)");
    int64_t minp = 1;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "minPriority", env, INT32_MIN, INT32_MAX, &minp, err, errcap);
    if (rc)
        return rc;
    const struct sy_yaml_node *sel = sy_yaml_get(params, "reserved");
    if (!sel || sy_param_absent(sel))
        return sy_param_errorf(env, NULL, "reserved", err, errcap,
                               "is required: a label selector (matchLabels / matchExpressions) "
                               "of the reserved endpoints");
    if (sel->type != SY_YAML_MAPPING)
        return sy_param_errorf(env, sel, "reserved", err, errcap,
                               "must be a mapping {matchLabels, matchExpressions}");
    for (size_t i = 0; i < sel->n; i++) {
        const char *k = sy_yaml_str(sel->keys[i]);
        if (!k || (strcmp(k, "matchLabels") && strcmp(k, "matchExpressions")))
            return sy_param_errorf(env, sel->keys[i], "reserved", err, errcap,
                                   "unknown key '%s' (matchLabels, matchExpressions)", k ? k : "?");
    }
    struct reservation *r = SY_NEW(struct reservation);
    r->min_priority = (int32_t)minp;
    rc = sy_label_selector_parse(sel, env, "reserved.", &r->sel, err, errcap);
    if (rc) {
        free(r);
        return rc;
    }
    if (sy_label_selector_size(r->sel) == 0) {
        destroy(r);
        return sy_param_errorf(env, sel, "reserved", err, errcap,
                               "an empty selector would reserve every endpoint");
    }
    *state = r;
    return 0;
}

static bool high(const struct reservation *r, const struct sy_sched_cycle *cy)
{
    return (cy->req ? cy->req->priority : 0) >= r->min_priority;
}

static bool keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    const struct reservation *r = state;
    return high(r, cy) || !sy_label_selector_match(r->sel, ep);
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    return sy_sched_keep_if(c, n, keeps, state, cy); /* no fail-open: see the header */
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct reservation *r = state;
    bool h = high(r, cy);
    for (size_t i = 0; i < n; i++)
        scores[i] = h && sy_label_selector_match(r->sel, c[i].ep) ? 1.0 : 0.0;
}

const struct sy_plugin_ops sy_plugin_priority_reservation_filter = {
    .type = "priority-reservation-filter",
    .create = create,
    .destroy = destroy,
    .filter = filter,
    .keeps = keeps,
    .score = score,
};
