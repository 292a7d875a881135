/* utilization_filter.c - llm-d's `utilization-filter`.
 *
 * Drops every candidate for which any condition's metric exceeds its maxValue; with
 * fallbackOnEmpty, returns all candidates when none is left.
 *
 *   conditions       required, at least one: {metric, maxValue}; metric one of
 *                      active-requests       requests the gateway forwarded there, not finished
 *                                            (llm-d: inflight-load-producer's count)
 *                      running-requests      scraped running requests
 *                      waiting-queue         scraped waiting queue
 *                      kv-cache-utilization  scraped KV usage, a fraction: maxValue <= 1
 *                    maxValue required, >= 0
 *   fallbackOnEmpty  false
 *   inFlightLoadProducerName
 *                    accepted: Switchyard's pool keeps the one in-flight count per endpoint
 * A metric the endpoint does not report counts as 0, as in llm-d.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "sched/filter_keep.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define UTIL_MAX_CONDITIONS 16 /* conditions per instance */

enum metric { M_ACTIVE, M_RUNNING, M_WAITING, M_KV };

static const char *const metric_names[] = {"active-requests", "running-requests", "waiting-queue",
                                           "kv-cache-utilization"};

struct util_filter {
    size_t n;                                /* conditions */
    enum metric metric[UTIL_MAX_CONDITIONS]; /* per condition */
    double max[UTIL_MAX_CONDITIONS];         /* maxValue per condition */
    bool fallback;                           /* fallbackOnEmpty */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"conditions", "fallbackOnEmpty",
                                          "inFlightLoadProducerName", NULL};
    const char *producer = NULL;
    struct util_filter f = {0};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "fallbackOnEmpty", env, &f.fallback, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "inFlightLoadProducerName", env, &producer, err, errcap);
    if (rc)
        return rc;
    const struct sy_yaml_node *conds =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "conditions");
    if (!conds || sy_param_absent(conds) || conds->type != SY_YAML_SEQUENCE || !conds->n)
        return sy_param_errorf(env, conds, "conditions", err, errcap,
                               "utilization filter requires at least one condition");
    if (conds->n > UTIL_MAX_CONDITIONS)
        return sy_param_errorf(env, conds, "conditions", err, errcap, "at most %d conditions",
                               UTIL_MAX_CONDITIONS);
    for (size_t i = 0; i < conds->n; i++) {
        const struct sy_yaml_node *c = conds->items[i];
        static const char *const callowed[] = {"metric", "maxValue", NULL};
        char key[48];
        snprintf(key, sizeof key, "conditions[%zu]", i);
        if (c->type != SY_YAML_MAPPING)
            return sy_param_errorf(env, c, key, err, errcap,
                                   "must be a mapping {metric, maxValue}");
        const char *m = NULL;
        double max = -1;
        if ((rc = sy_param_check(c, env, callowed, err, errcap)) ||
            (rc = sy_param_string(c, "metric", env, &m, err, errcap)) ||
            (rc = sy_param_double(c, "maxValue", env, -1e300, 1e300, &max, err, errcap)))
            return rc;
        int idx = -1;
        for (int k = 0; m && k < 4; k++)
            if (!strcmp(m, metric_names[k]))
                idx = k;
        if (idx < 0)
            return sy_param_errorf(env, c, key, err, errcap,
                                   "utilization filter condition metric must be one of "
                                   "\"active-requests\", \"running-requests\", \"waiting-queue\", "
                                   "\"kv-cache-utilization\", got \"%s\"",
                                   m ? m : "");
        if (!sy_yaml_get(c, "maxValue"))
            return sy_param_errorf(env, c, key, err, errcap,
                                   "utilization filter condition for \"%s\" requires maxValue", m);
        if (max < 0)
            return sy_param_errorf(env, sy_yaml_get(c, "maxValue"), key, err, errcap,
                                   "utilization filter condition for \"%s\" requires a "
                                   "non-negative maxValue, got %g",
                                   m, max);
        if (idx == M_KV && max > 1)
            return sy_param_errorf(env, sy_yaml_get(c, "maxValue"), key, err, errcap,
                                   "utilization filter maxValue for \"kv-cache-utilization\" is a "
                                   "fraction and must be at most 1, got %g",
                                   max);
        f.metric[f.n] = (enum metric)idx;
        f.max[f.n] = max;
        f.n++;
    }
    struct util_filter *st = SY_NEW(struct util_filter);
    *st = f;
    *state = st;
    return 0;
}

static double value_of(const struct sy_sched_candidate *c, enum metric m)
{
    double v = 0;
    switch (m) {
    case M_ACTIVE: v = (double)c->st.inflight_requests; break;
    case M_RUNNING: v = c->st.m.running; break;
    case M_WAITING: v = c->st.m.waiting; break;
    case M_KV: v = c->st.m.kv_usage; break;
    }
    return v > 0 ? v : 0; /* unreported (-1) counts as 0 */
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    const struct util_filter *f = state;
    (void)cy;
    bool keep[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        keep[i] = true;
        for (size_t k = 0; k < f->n && keep[i]; k++)
            keep[i] = value_of(&c[i], f->metric[k]) <= f->max[k];
    }
    return sy_sched_keep(c, n, keep, f->fallback);
}

const struct sy_plugin_ops sy_plugin_utilization_filter = {
    .type = "utilization-filter",
    .create = create,
    .destroy = free,
    .filter = filter,
};
