/* prefix_based_pd_decider.c - llm-d's `prefix-based-pd-decider`: disaggregate when the part of the
 * prompt the chosen decode endpoint does not hold is long enough to be worth a prefill leg.
 *
 *   input    = cy->prompt_tokens (real count when token-producer ran, else llm-d's 4 chars/token)
 *   cached   = match_blocks(decode endpoint) x block_size_tokens   (the prefix-match data key)
 *   disaggregate iff nonCachedTokens > 0
 *                 && (promptTokens == 0 || input >= promptTokens)
 *                 && input >= nonCachedTokens
 *                 && input - cached >= nonCachedTokens
 * No decode pick or no prefix data: decode-only (llm-d logs "unable to read prefix cache state").
 *
 * Parameters: nonCachedTokens (default 0 = P/D off), promptTokens (router; default 0 = no gate).
 * It consumes the prefix-match data, so a config without a prefix producer gets
 * approx-prefix-cache-producer, as llm-d's handler requires PrefixCacheMatchInfo.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct decider {
    int64_t non_cached; /* nonCachedTokens */
    int64_t prompt_min; /* promptTokens */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"nonCachedTokens", "promptTokens", NULL};
    struct decider d = {0, 0};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "nonCachedTokens", env, 0, INT32_MAX, &d.non_cached, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "promptTokens", env, 0, INT32_MAX, &d.prompt_min, err, errcap);
    if (rc)
        return rc;
    if (d.non_cached == 0)
        sy_info("%s:%d: %s: prefix-based P/D disabled (nonCachedTokens=0)",
                env->file ? env->file : "<config>", env->line, env->name ? env->name : "?");
    struct decider *p = SY_NEW(struct decider);
    *p = d;
    *state = p;
    return 0;
}

static bool disaggregate(void *state, struct sy_sched_cycle *cy,
                         const struct sy_sched_candidate *decode)
{
    const struct decider *d = state;
    if (d->non_cached == 0 || !decode)
        return false;
    int64_t input = cy->prompt_tokens;
    if (d->prompt_min > 0 && input < d->prompt_min)
        return false;
    if (input < d->non_cached)
        return false;
    if (!cy->prefix || !cy->prefix_valid)
        return false;
    const struct sy_prefix_match *m = &cy->prefix[decode->pool_index];
    int64_t cached = (int64_t)m->match_blocks * m->block_size_tokens;
    return input - cached >= d->non_cached;
}

const struct sy_plugin_ops sy_plugin_prefix_based_pd_decider = {
    .type = "prefix-based-pd-decider",
    .consumes = SY_PREFIX_KEY,
    .create = create,
    .destroy = free,
    .disaggregate = disaggregate,
};
