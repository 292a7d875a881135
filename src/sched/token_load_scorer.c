/* token_load_scorer.c - llm-d's `token-load-scorer` with the router's look-ahead.
 *
 *   tokens = inflight(ep) + prompt * (1 - hit(ep))
 *   score  = 1 - min(1, tokens / queueThresholdTokens)
 * inflight(ep) is the token estimate the pool keeps for requests in flight to the endpoint
 * (prompt + expected output of each, added/subtracted on every forwarding path). prompt is the
 * cycle's prompt token count; hit(ep) = matched / total prefix blocks when a prefix producer ran
 * this cycle (cy->prefix_valid), else 0, so this request's uncached work is counted where it
 * would land (the router's look-ahead). Parameter queueThresholdTokens, default 4194304, > 0.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define TOKEN_LOAD_DEFAULT_THRESHOLD 4194304 /* llm-d default */

struct token_load {
    double threshold; /* tokens at which the score reaches 0 */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"queueThresholdTokens", NULL};
    int64_t t = TOKEN_LOAD_DEFAULT_THRESHOLD;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "queueThresholdTokens", env, 1, INT64_MAX / 2, &t, err, errcap);
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
    double prompt = cy->prompt_tokens;
    for (size_t i = 0; i < n; i++) {
        double hit = 0;
        if (cy->prefix && cy->prefix_valid) {
            const struct sy_prefix_match *pm = &cy->prefix[c[i].pool_index];
            if (pm->total_blocks)
                hit = (double)pm->match_blocks / pm->total_blocks;
            if (hit > 1)
                hit = 1;
        }
        double inflight = c[i].st.inflight_tokens > 0 ? (double)c[i].st.inflight_tokens : 0;
        double tokens = inflight + prompt * (1.0 - hit);
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
