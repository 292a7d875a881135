/* context_length_aware.c - llm-d's `context-length-aware` scorer (and optional filter).
 *
 * Endpoints declare the prompt lengths they are sized for with a label (default
 * `llm-d.ai/context-length-range`, value "min-max" in tokens). With L = the token producer's count
 * (llm-d getContextLength = TokenizedRequest.TokenCount(); the estimate backend when no
 * token-producer is configured, so chat counts role + content bytes / 4, not the JSON):
 *   unlabeled                     -> 0.5
 *   unparseable label             -> 0.0 (and dropped by the filter)
 *   min <= L <= max, max == min   -> 1.0
 *   min <= L <= max               -> 0.3 + 0.7 * (0.7 / (1 + (max-min)/10000) + 0.3 *
 * (max-L)/(max-min)) outside                       -> 0.3 / (1 + d/1000),  d = distance to the
 * nearest bound so any in-range endpoint outscores any out-of-range one. With enableFiltering the
 * plugin also filters: labeled endpoints whose range excludes L are removed; unlabeled ones stay.
 * Parameters: label (non-empty string), enableFiltering (default false). The tokenizer options
 * llm-d accepts (modelName, localTokenizerConfig, hfTokenizerConfig) are refused: no tokenizer yet.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "pool/pool.h"
#include "sched/filter_keep.h"
#include "sched/params.h"
#include "sched/plugins.h"
#include "sched/precise_prefix.h"

#define CTX_DEFAULT_LABEL "llm-d.ai/context-length-range" /* llm-d default */

struct ctx_aware {
    char *label; /* owned */
    bool filter; /* enableFiltering */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"label", "enableFiltering", NULL};
    const char *label = CTX_DEFAULT_LABEL;
    bool filt = false;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "label", env, &label, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "enableFiltering", env, &filt, err, errcap);
    if (rc)
        return rc;
    if (!*label)
        return sy_param_errorf(env, sy_yaml_get(params, "label"), "label", err, errcap,
                               "must not be empty");
    struct ctx_aware *c = SY_NEW(struct ctx_aware);
    c->label = sy_xstrdup(label);
    c->filter = filt;
    *state = c;
    return 0;
}

static void destroy(void *state)
{
    struct ctx_aware *c = state;
    if (c)
        free(c->label);
    free(c);
}

/* "min-max" with non-negative integers and min <= max. */
static bool parse_range(const char *s, long long *lo, long long *hi)
{
    char *end;
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    *lo = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    if (*end != '-')
        return false;
    s = end + 1;
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    *hi = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    return !*end && *lo <= *hi;
}

static double range_score(long long L, long long lo, long long hi)
{
    if (L >= lo && L <= hi) {
        long long w = hi - lo;
        if (w == 0)
            return 1.0;
        double width = 1.0 / (1.0 + (double)w / 10000.0);
        double headroom = (double)(hi - L) / (double)w;
        return 0.3 + (0.7 * width + 0.3 * headroom) * 0.7;
    }
    long long d = L > hi ? L - hi : lo - L;
    return 0.3 / (1.0 + (double)d / 1000.0);
}

/* The token producer's count (computing the estimate when no producer ran). */
static long long context_length(struct sy_sched_cycle *cy)
{
    const struct sy_sched_tokens *t = cy->req ? sy_sched_tokens_get(cy) : NULL;
    return t ? (long long)t->n : (long long)cy->prompt_tokens;
}

/* Without enableFiltering it keeps every endpoint. */
static bool keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    const struct ctx_aware *ca = state;
    const char *v = ca->filter ? sy_endpoint_label(ep, ca->label) : NULL;
    long long lo, hi, L;
    return !v || (parse_range(v, &lo, &hi) && (L = context_length(cy)) >= lo && L <= hi);
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    return sy_sched_keep_if(c, n, keeps, state, cy);
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct ctx_aware *ca = state;
    long long L = context_length(cy);
    for (size_t i = 0; i < n; i++) {
        const char *v = sy_endpoint_label(c[i].ep, ca->label);
        long long lo, hi;
        if (!v)
            scores[i] = 0.5;
        else if (!parse_range(v, &lo, &hi))
            scores[i] = 0.0;
        else
            scores[i] = range_score(L, lo, hi);
    }
}

static void done(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                 bool ok)
{
    (void)state;
    (void)chosen;
    (void)ok;
    sy_sched_tokens_release(cy); /* the estimate this plugin may have computed */
}

const struct sy_plugin_ops sy_plugin_context_length_aware = {
    .type = "context-length-aware",
    .create = create,
    .destroy = destroy,
    .filter = filter,
    .keeps = keeps,
    .score = score,
    .done = done,
};
