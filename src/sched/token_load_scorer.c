/* token_load_scorer.c - llm-d's `token-load-scorer` with the router's look-ahead.
 *
 *   tokens = inflight(ep) + request(ep)
 *   score  = 1 - min(1, tokens / queueThresholdTokens)
 * inflight(ep) is the pool's in-flight token counter for the endpoint (InFlightLoad.Tokens: what
 * inflight-load-producer counts for the requests forwarded there and not yet released, see
 * sched/inflight.h). request(ep) is what this request would add there (UncachedRequestTokens:
 * its prompt tokens not cached on ep, from the cycle's prefix-match data, plus the estimated
 * output when the producer adds it), so its work is counted where it would land. Parameters
 * queueThresholdTokens (default 4194304; <= 0 is logged and replaced by it, as llm-d) and
 * inFlightLoadProducerName (accepted: the cycle carries the one producer's parameters).
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "sched/inflight.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define TOKEN_LOAD_DEFAULT_THRESHOLD 4194304 /* llm-d default */

struct token_load {
    double threshold; /* tokens at which the score reaches 0 */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"queueThresholdTokens", "inFlightLoadProducerName", NULL};
    int64_t t = TOKEN_LOAD_DEFAULT_THRESHOLD;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        /* <= 0: llm-d's factory falls back to the default (silently; here with a warning) */
        rc = sy_param_int_or_default(params, "queueThresholdTokens", env, INT64_MIN / 2,
                                     INT64_MAX / 2, 1, TOKEN_LOAD_DEFAULT_THRESHOLD, &t, err,
                                     errcap);
    if (rc)
        return rc;
    struct token_load *tl = SY_NEW(struct token_load);
    tl->threshold = (double)t;
    *state = tl;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct token_load *tl = state;
    for (size_t i = 0; i < n; i++) {
        double inflight = c[i].st.inflight_tokens > 0 ? (double)c[i].st.inflight_tokens : 0;
        double tokens = inflight + (double)sy_inflight_request_tokens(cy, &c[i]);
        double r = tokens / tl->threshold;
        scores[i] = 1.0 - (r < 1 ? r : 1);
    }
}

const struct sy_plugin_ops sy_plugin_token_load_scorer = {
    .type = "token-load-scorer",
    .create = create,
    .destroy = free,
    .score = score,
};
