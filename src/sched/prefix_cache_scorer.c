/* prefix_cache_scorer.c - `prefix-cache-scorer`: scores each candidate by the share of the
 * request's prompt blocks it already caches, from the prefix-match data (cy->prefix) a producer
 * filled (approx-prefix-cache-producer by default, auto-created by the loader).
 *
 *   ratio  = matchBlocks / totalBlocks                     (0 when totalBlocks is 0: llm-d v0.8)
 *   length = min(1, matchBlocks x blockSizeTokens / matchLengthScaleTokens)^2
 *   score  = matchLengthWeight x length + (1 - matchLengthWeight) x ratio   (router v0.9)
 *
 * With the default matchLengthWeight 0 this is exactly v0.8's matchBlocks/totalBlocks. Missing
 * prefix data (no producer ran, or it had no array) scores 0, as llm-d does.
 *
 * Parameters: matchLengthWeight (0.0, in [0,1]), matchLengthScaleTokens (8192, an integer; > 0
 * when matchLengthWeight > 0, unchecked otherwise, as llm-d),
 * prefixMatchInfoProducerName (accepted; Switchyard has one prefix-match key per cycle, so the
 * name only documents intent). Legacy configs (GIE, llm-d <= v0.3 and the v0.8 pd sample) put the
 * producer's parameters here: hashBlockSize and blockSize (characters), blockSizeTokens,
 * maxPrefixBlocksToMatch, maxPrefixTokensToMatch, lruCapacityPerServer, autoTune. They are
 * accepted with a deprecation warning and handed to the auto-created producer through
 * sy_prefix_cache_scorer_make_producer (prefix_sched.h).
 *
 * Stateless per request; the state is immutable after create, so any thread may score.
 */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "prefix/prefix_sched.h"
#include "sched/params.h"
#include "sched/plugin.h"

struct scorer {
    double length_weight;                  /* matchLengthWeight */
    double scale_tokens;                   /* matchLengthScaleTokens */
    bool has_legacy;                       /* producer parameters were given inline */
    struct sy_approx_prefix_config legacy; /* those parameters over the producer's defaults */
};

static const char *const legacy_keys[] = {"hashBlockSize",
                                          "blockSize",
                                          "blockSizeTokens",
                                          "maxPrefixBlocksToMatch",
                                          "maxPrefixTokensToMatch",
                                          "lruCapacityPerServer",
                                          "autoTune",
                                          NULL};

static int scorer_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         void **state, char *err, size_t errcap)
{
    static const char *const keys[] = {"matchLengthWeight",
                                       "matchLengthScaleTokens",
                                       "prefixMatchInfoProducerName",
                                       "hashBlockSize",
                                       "blockSize",
                                       "blockSizeTokens",
                                       "maxPrefixBlocksToMatch",
                                       "maxPrefixTokensToMatch",
                                       "lruCapacityPerServer",
                                       "autoTune",
                                       NULL};
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (rc)
        return rc;
    struct scorer s = {.length_weight = 0.0, .scale_tokens = 8192};
    if ((rc = sy_param_double(params, "matchLengthWeight", env, 0.0, 1.0, &s.length_weight, err,
                              errcap)))
        return rc;
    int64_t scale = 8192;
    if ((rc = sy_param_int(params, "matchLengthScaleTokens", env, INT32_MIN, INT32_MAX, &scale, err,
                           errcap)))
        return rc;
    /* As llm-d's factory: the scale must be > 0 only when the length term is used. */
    if (s.length_weight > 0.0 && scale <= 0)
        return sy_param_errorf(env, sy_yaml_get(params, "matchLengthScaleTokens"),
                               "matchLengthScaleTokens", err, errcap,
                               "must be greater than 0 when matchLengthWeight is greater than 0, "
                               "got %lld",
                               (long long)scale);
    s.scale_tokens = (double)scale;
    const char *producer = NULL;
    if ((rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &producer, err, errcap)))
        return rc;

    sy_approx_prefix_config_default(&s.legacy);
    for (size_t i = 0; legacy_keys[i]; i++)
        if (!sy_param_absent(params) && sy_yaml_get(params, legacy_keys[i]))
            s.has_legacy = true;
    if (s.has_legacy) {
        if (sy_yaml_get(params, "hashBlockSize") && sy_yaml_get(params, "blockSize"))
            return sy_param_errorf(env, sy_yaml_get(params, "blockSize"), "blockSize", err, errcap,
                                   "set either hashBlockSize or blockSize, not both");
        if ((rc = sy_approx_prefix__parse(params, env, &s.legacy, err, errcap)))
            return rc;
        int64_t hb = 0;
        if ((rc = sy_param_int(params, "hashBlockSize", env, 1, 1 << 22, &hb, err, errcap)))
            return rc;
        if (hb > 0)
            s.legacy.block_chars = (uint32_t)hb;
        sy_warn("%s:%d: plugin '%s': prefix-cache-scorer parameters other than "
                "matchLengthWeight/matchLengthScaleTokens/prefixMatchInfoProducerName are "
                "deprecated; they configure the auto-created approx-prefix-cache-producer "
                "(move them there)",
                env && env->file ? env->file : "<config>", env ? env->line : 0,
                env && env->name ? env->name : "?");
    }
    struct scorer *st = SY_NEW(struct scorer);
    *st = s;
    *state = st;
    return 0;
}

static void scorer_destroy(void *state)
{
    free(state);
}

static void scorer_score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                         size_t n, double *scores)
{
    const struct scorer *s = state;
    for (size_t i = 0; i < n; i++) {
        scores[i] = 0.0;
        if (!cy->prefix || !cy->prefix_valid)
            continue;
        const struct sy_prefix_match *m = &cy->prefix[c[i].pool_index];
        if (m->total_blocks == 0)
            continue;
        double ratio = (double)m->match_blocks / (double)m->total_blocks;
        double len = 0.0;
        if (s->length_weight > 0.0) {
            len = (double)m->match_blocks * (double)m->block_size_tokens / s->scale_tokens;
            len = len > 1.0 ? 1.0 : len;
            len *= len;
        }
        double v = s->length_weight * len + (1.0 - s->length_weight) * ratio;
        scores[i] = isnan(v) ? 0.0 : v;
    }
}

int sy_prefix_cache_scorer_make_producer(const void *scorer_state, void **producer_state)
{
    const struct scorer *s = scorer_state;
    if (!s || !s->has_legacy)
        return 0;
    *producer_state = sy_approx_prefix__new(&s->legacy);
    return 1;
}

const struct sy_plugin_ops sy_plugin_prefix_cache_scorer = {
    .type = "prefix-cache-scorer",
    .consumes = SY_PREFIX_KEY,
    .create = scorer_create,
    .destroy = scorer_destroy,
    .score = scorer_score,
};
