/* utilization_detector_filter.c - the filter role of llm-d's `utilization-detector`.
 *
 * In llm-d the utilization detector is the flow controller's default saturation detector
 * (src/flow/saturation.c) and also a scheduling filter that keeps requests off endpoints that are
 * already full or whose state is unknown. This file is the filter:
 *
 *   drop endpoint e  iff  its metrics are stale (no scrape within metricsStalenessThreshold)
 *                     or  queue_e >= queueDepthThreshold * (1 + headroom)
 *                     or  kv_e    >= kvCacheUtilThreshold * (1 + headroom)
 *   every endpoint dropped: all are kept (fail open, as llm-d)
 *
 *   queue_e = waiting_e + max(0, inflight_e - (waiting_e + running_e))
 *
 * queue_e is the scraped waiting queue plus the requests the gateway forwarded that the last
 * scrape does not show yet (the detector's own scrape-lag credit, saturation.c): with 50 ms
 * scrapes, the scraped queue alone lets a burst pile onto one endpoint before any scrape sees it
 * (llm-d-2026-updates.md §4 row 6, PR #2066). Where every request is visible in the scrape the
 * credit is 0 and this is llm-d's rule.
 *
 * Parameters are the detector's (llm-d's defaults): queueDepthThreshold 5, kvCacheUtilThreshold
 * 0.8, metricsStalenessThreshold 200ms, headroom 0. Joins a profile like any filter: the default
 * profile (no schedulingProfiles) holds it when it is declared under plugins:; an explicit
 * profile names it with pluginRef. src/flow/flow_config.c builds the detector role from the same
 * plugin entry.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "flow/flow.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct ud_filter {
    double queue_limit;    /* queueDepthThreshold * (1 + headroom) */
    double kv_limit;       /* kvCacheUtilThreshold * (1 + headroom) */
    uint64_t staleness_ns; /* metricsStalenessThreshold */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"queueDepthThreshold", "kvCacheUtilThreshold",
                                          "metricsStalenessThreshold", "headroom", NULL};
    double kv = 0.8, headroom = 0; /* llm-d's defaults */
    int64_t q = 5;                 /* an integer in llm-d (a JSON int field), as in flow_config.c */
    const char *stale = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "queueDepthThreshold", env, 1, INT32_MAX, &q, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "kvCacheUtilThreshold", env, 1e-9, 1, &kv, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "headroom", env, 0, 1e6, &headroom, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "metricsStalenessThreshold", env, &stale, err, errcap);
    if (rc)
        return rc;
    struct ud_filter f = {.queue_limit = (double)q * (1.0 + headroom),
                          .kv_limit = kv * (1.0 + headroom),
                          .staleness_ns = 200000000ull};
    if (stale && (sy_flow_parse_duration(stale, &f.staleness_ns) != 0 || f.staleness_ns == 0))
        return sy_param_errorf(env, NULL, "metricsStalenessThreshold", err, errcap,
                               "must be a duration > 0 (e.g. 200ms), got \"%s\"", stale);
    struct ud_filter *st = SY_NEW(struct ud_filter);
    *st = f;
    *state = st;
    return 0;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    const struct ud_filter *f = state;
    uint64_t now = cy->now_ns ? cy->now_ns : sy_now_ns();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sy_endpoint_state *st = &c[i].st;
        if (!sy_flow_endpoint_stale(st, now, f->staleness_ns) &&
            sy_flow_endpoint_queue(st) < f->queue_limit && st->m.kv_usage < f->kv_limit)
            c[m++] = c[i];
    }
    return m ? m : n; /* fail open */
}

const struct sy_plugin_ops sy_plugin_utilization_detector_filter = {
    .type = "utilization-detector",
    .create = create,
    .destroy = free,
    .filter = filter,
};
