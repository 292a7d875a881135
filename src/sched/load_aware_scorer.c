/* load_aware_scorer.c - llm-d's `load-aware-scorer`.
 *
 *   q == 0  -> 0.5
 *   q >  0  -> 0.5 * (1 - min(q, threshold) / threshold)
 * q is the waiting-queue length. Parameter `threshold` (queue length at which the score reaches
 * 0), default 128; a value <= 0 is logged and replaced by 128, as llm-d's NewLoadAware does. An
 * idle endpoint therefore scores 0.5 and a loaded one less, so with other scorers this only ever
 * pushes load away.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define LOAD_AWARE_DEFAULT_THRESHOLD 128 /* llm-d default */

struct load_aware {
    double threshold; /* queue length that scores 0 */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"threshold", NULL};
    int64_t t = LOAD_AWARE_DEFAULT_THRESHOLD;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int_or_default(params, "threshold", env, INT32_MIN, INT32_MAX, 1,
                                     LOAD_AWARE_DEFAULT_THRESHOLD, &t, err, errcap);
    if (rc)
        return rc;
    struct load_aware *la = SY_NEW(struct load_aware);
    la->threshold = (double)t;
    *state = la;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct load_aware *la = state;
    for (size_t i = 0; i < n; i++) {
        double q = c[i].st.m.waiting > 0 ? c[i].st.m.waiting : 0;
        if (q == 0) {
            scores[i] = 0.5;
            continue;
        }
        if (q > la->threshold)
            q = la->threshold;
        scores[i] = 0.5 * (1.0 - q / la->threshold);
    }
}

const struct sy_plugin_ops sy_plugin_load_aware_scorer = {
    .type = "load-aware-scorer",
    .create = create,
    .destroy = free,
    .score = score,
};
