/* policy.c - usage-limit policies: a dispatch ceiling per priority band (llm-d's
 * UsageLimitPolicy.ComputeLimit). The controller compares pool saturation with each band's ceiling
 * and dispatches from a band only while saturation < ceiling.
 *
 *   static-usage-limit-policy        ceil[i] = threshold (default 1.0) for every band
 *   priority-holdback-policy (rank)  ceil[i] = max - i * (max - min) / (N - 1), i = 0 highest
 *                            (value) ceil[i] = min + (p_i - pMin) / (pMax - pMin) * (max - min)
 *                            one band: ceil = max
 *   soft-reflective-ceiling-policy   r[i] = 1 - i * sat / (N - 1); band 0 always open (1.0);
 *                                    sat < r[i] -> open (1.0); sat >= 1 -> closed (0.0) except
 *                                    band 0; otherwise open on the calls where the shared tick
 *                                    (advanced once per call while 0.5 <= sat < 1, first value 1)
 *                                    is a multiple of round(sat / (1 - sat + 1e-9)): every gated
 *                                    band opens on the same calls, so a lower band's open call
 *                                    never lands on a closed higher band (llm-d's starvation fix;
 *                                    policy_test.go
 * TestComputeLimit_NoStarvationUnderRisingSaturation)
 *
 * Fairness (which flow of a band) and ordering (which item of a flow) are applied by the
 * controller's queue structure itself (controller.c), since they are comparisons on its lists.
 * Pure functions; no locking.
 */
#include <math.h>

#include "flow/flow.h"

void sy_flow_ceilings(const struct sy_flow_usage_params *u, double saturation, const int32_t *prio,
                      size_t n, uint64_t *tick, double *ceil)
{
    if (n == 0)
        return;
    switch (u->kind) {
    case SY_FLOW_USAGE_STATIC:
        for (size_t i = 0; i < n; i++)
            ceil[i] = u->threshold;
        return;
    case SY_FLOW_USAGE_HOLDBACK:
        if (n == 1) {
            ceil[0] = u->max_ceiling;
            return;
        }
        if (!u->by_value) {
            for (size_t i = 0; i < n; i++)
                ceil[i] = u->max_ceiling -
                          (double)i * (u->max_ceiling - u->min_ceiling) / (double)(n - 1);
            return;
        }
        {
            int32_t pmax = prio[0], pmin = prio[n - 1];
            for (size_t i = 0; i < n; i++) {
                double r = pmax == pmin ? 1.0 : (double)(prio[i] - pmin) / (double)(pmax - pmin);
                ceil[i] = u->min_ceiling + r * (u->max_ceiling - u->min_ceiling);
            }
        }
        return;
    case SY_FLOW_USAGE_SOFT: {
        if (n == 1) {
            ceil[0] = 1.0;
            return;
        }
        bool open = false;
        if (saturation >= 1.0 - saturation && saturation < 1.0) { /* the alternating regime */
            double per = round(saturation / (1.0 - saturation + 1e-9));
            uint64_t period = per < 1 ? 1 : (uint64_t)per;
            uint64_t t = tick ? ++*tick : 1;
            open = t % period == 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (i == 0) {
                ceil[i] = 1.0;
                continue;
            }
            double r = 1.0 - (double)i * saturation / (double)(n - 1);
            if (saturation < r)
                ceil[i] = 1.0;
            else if (saturation >= 1.0)
                ceil[i] = 0.0;
            else
                ceil[i] = open ? 1.0 : 0.0;
        }
        return;
    }
    }
}
