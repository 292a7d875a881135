/* endpoint_attribute_scorer.c - llm-d's `endpoint-attribute-scorer`.
 *
 * Scores each candidate by one numeric attribute (endpoint_attribute.h), linearly normalized:
 *   score = (value - min) / (max - min), inverted for linear_lower_is_better.
 *   algorithm.normalization.adaptiveRange (default): min/max over the candidates that have the
 *     attribute this cycle; when they all share one value they all score 1.0.
 *   algorithm.normalization.fixedRange {min, max}: the configured bounds (min < max), values
 *     clamped.
 * A candidate without the attribute scores 0 (and takes no part in the adaptive range).
 * Parameters: attributeKey (required), producer, algorithm.type (linear_lower_is_better |
 * linear_higher_is_better, required), algorithm.normalization (at most one strategy).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "pool/attrs.h"
#include "sched/endpoint_attribute.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct attr_scorer {
    int slot;             /* attribute slot (pool/attrs.h) */
    bool lower_is_better; /* linear_lower_is_better */
    bool fixed;           /* fixedRange normalization */
    double min, max;      /* fixedRange bounds */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"attributeKey", "producer", "algorithm", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const struct sy_yaml_node *alg =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "algorithm");
    const char *type = NULL;
    const struct sy_yaml_node *norm = NULL;
    if (alg && !sy_param_absent(alg)) {
        static const char *const aallowed[] = {"type", "normalization", NULL};
        if ((rc = sy_param_check(alg, env, aallowed, err, errcap)) ||
            (rc = sy_param_string(alg, "type", env, &type, err, errcap)))
            return rc;
        norm = sy_yaml_get(alg, "normalization");
    }
    if (!type ||
        (strcmp(type, "linear_lower_is_better") && strcmp(type, "linear_higher_is_better")))
        return sy_param_errorf(env, alg, "algorithm.type", err, errcap,
                               "endpoint attribute scorer algorithm.type must be "
                               "\"linear_lower_is_better\" or \"linear_higher_is_better\", got "
                               "\"%s\"",
                               type ? type : "");
    struct attr_scorer a = {.lower_is_better = !strcmp(type, "linear_lower_is_better")};
    if (norm && !sy_param_absent(norm)) {
        static const char *const nallowed[] = {"fixedRange", "adaptiveRange", NULL};
        if ((rc = sy_param_check(norm, env, nallowed, err, errcap)))
            return rc;
        const struct sy_yaml_node *fr = sy_yaml_get(norm, "fixedRange");
        if (fr && sy_yaml_get(norm, "adaptiveRange"))
            return sy_param_errorf(env, norm, "algorithm.normalization", err, errcap,
                                   "endpoint attribute scorer allows at most one normalization "
                                   "strategy, got both fixedRange and adaptiveRange");
        if (fr) {
            static const char *const fallowed[] = {"min", "max", NULL};
            a.fixed = true;
            if ((rc = sy_param_check(fr, env, fallowed, err, errcap)) ||
                (rc = sy_param_double(fr, "min", env, -1e300, 1e300, &a.min, err, errcap)) ||
                (rc = sy_param_double(fr, "max", env, -1e300, 1e300, &a.max, err, errcap)))
                return rc;
            if (!(a.min < a.max))
                return sy_param_errorf(env, fr, "algorithm.normalization.fixedRange", err, errcap,
                                       "endpoint attribute scorer normalization.fixedRange "
                                       "requires min < max, got min %g, max %g",
                                       a.min, a.max);
        }
    }
    int slot = sy_endpoint_attribute_slot(params, "attributeKey", env, "endpoint attribute scorer",
                                          err, errcap);
    if (slot < 0)
        return slot;
    a.slot = slot;
    struct attr_scorer *s = SY_NEW(struct attr_scorer);
    *s = a;
    *state = s;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct attr_scorer *a = state;
    (void)cy;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (!sy_endpoint_attr(c[i].ep, a->slot, &v)) {
            scores[i] = NAN; /* missing: marked, scored 0 below */
            continue;
        }
        scores[i] = v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (a->fixed) {
        lo = a->min;
        hi = a->max;
    }
    for (size_t i = 0; i < n; i++) {
        double v = scores[i];
        if (isnan(v)) {
            scores[i] = 0.0;
            continue;
        }
        if (!a->fixed && hi == lo) {
            scores[i] = 1.0;
            continue;
        }
        double x = (v - lo) / (hi - lo);
        x = x < 0 ? 0 : x > 1 ? 1 : x;
        scores[i] = a->lower_is_better ? 1.0 - x : x;
    }
}

const struct sy_plugin_ops sy_plugin_endpoint_attribute_scorer = {
    .type = "endpoint-attribute-scorer",
    .create = create,
    .destroy = free,
    .score = score,
};
