/* lockstep_balance_scorer.c - `lockstep-balance-scorer`: Switchyard's own scorer (not an llm-d
 * plugin) for wide expert-parallel deployments (docs/wide-ep.md).
 *
 * The ranks of one wide-EP pod group synchronise at every MoE layer, so the group's step time
 * follows its busiest rank: a request placed on the busiest rank slows every rank of its group,
 * while one placed on a rank below the group's maximum fills a slot that step was already paying
 * for. llm-d's load scorers compare each endpoint to all candidates and know nothing of groups;
 * with the wide-EP guide's decode profile (prefix 3, active-request 2) requests sharing a prompt
 * prefix pile onto one decode rank and the whole group runs at that rank's pace.
 *
 * Load of a rank, `balanceBy: requests` (the default): the requests the gateway has in flight to
 * it (each decoding request is one token of every step), plus the requests its engine reports
 * waiting. That is a measure of work only when requests are alike. `balanceBy: tokens` measures
 * work in tokens, for mixed prompt and output lengths:
 *
 *   load = requestTokens x (in-flight + waiting requests)   per-sequence work of every step
 *        + in-flight tokens                                 the gateway's own count of prompt
 *                                                           tokens not yet computed (exact at
 *                                                           once: no scrape needed)
 *        + kv_usage x num_blocks x block_size               context the rank holds (last scrape):
 *                                                           attention reads it every decode step
 *
 * requestTokens is what one sequence costs a step in tokens of context (DeepSeek-R1 decode
 * profile: 34.6 us per sequence + 70.9 us of expert all-to-all per token against 0.0183 us per
 * context token, about 5.8k tokens; default 4096). On prefill ranks the in-flight prompt tokens
 * dominate, on decode ranks the sequences and their contexts. Groups: the value of label
 * `groupLabel` when set, else the host part of the address (the ranks of one pod share a host).
 *
 *   score = 0.5 x [load < max load of its group]        (free: the group's step does not grow)
 *         + 0.5 x (M - load) / M, M = max load over all candidates (1.0 when M = 0)
 *
 * Parameters: groupLabel (string, default: group by host); balanceBy (requests | tokens, default
 * requests); requestTokens (tokens mode, >= 0, default 4096).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define LOCKSTEP_REQUEST_TOKENS 4096 /* default requestTokens (see above) */

struct lockstep {
    char *group_label;     /* owned, or NULL: group by host */
    bool tokens;           /* balanceBy: tokens */
    double request_tokens; /* requestTokens: a sequence's per-step work in tokens */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"groupLabel", "balanceBy", "requestTokens", NULL};
    const char *label = NULL, *by = NULL;
    int64_t rt = LOCKSTEP_REQUEST_TOKENS;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "groupLabel", env, &label, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "balanceBy", env, &by, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "requestTokens", env, 0, 1 << 24, &rt, err, errcap);
    if (rc)
        return rc;
    if (by && strcmp(by, "requests") != 0 && strcmp(by, "tokens") != 0)
        return sy_param_errorf(env, NULL, "balanceBy", err, errcap,
                               "expected requests or tokens, not '%s'", by);
    struct lockstep *l = SY_NEW(struct lockstep);
    l->group_label = label && *label ? sy_xstrdup(label) : NULL;
    l->tokens = by && !strcmp(by, "tokens");
    l->request_tokens = (double)rt;
    *state = l;
    return 0;
}

static void destroy(void *state)
{
    struct lockstep *l = state;
    if (l)
        free(l->group_label);
    free(l);
}

static const char *group_of(const struct lockstep *l, const struct sy_endpoint *e)
{
    if (l->group_label) {
        const char *v = sy_endpoint_label(e, l->group_label);
        return v ? v : "";
    }
    return e->host;
}

static double load_of(const struct lockstep *l, const struct sy_sched_candidate *c)
{
    double w = c->st.m.waiting > 0 ? c->st.m.waiting : 0;
    double reqs = (double)(c->st.inflight_requests > 0 ? c->st.inflight_requests : 0) + w;
    if (!l->tokens)
        return reqs;
    double held = 0;
    if (c->st.m.kv_usage > 0 && c->st.m.num_blocks > 0 && c->st.m.block_size > 0)
        held = c->st.m.kv_usage * (double)c->st.m.num_blocks * (double)c->st.m.block_size;
    double fresh = c->st.inflight_tokens > 0 ? (double)c->st.inflight_tokens : 0;
    return l->request_tokens * reqs + fresh + held;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    (void)cy;
    const struct lockstep *l = state;
    double all = 0;
    double load[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        load[i] = load_of(l, &c[i]);
        if (load[i] > all)
            all = load[i];
    }
    for (size_t i = 0; i < n; i++) {
        const char *g = group_of(l, c[i].ep);
        double gmax = 0, li = load[i];
        for (size_t j = 0; j < n; j++) /* n is small (ranks of a pool) */
            if (!strcmp(group_of(l, c[j].ep), g) && load[j] > gmax)
                gmax = load[j];
        double slack = li < gmax ? 1.0 : 0.0;
        double spread = all > 0 ? (all - li) / all : 1.0;
        scores[i] = 0.5 * slack + 0.5 * spread;
    }
}

const struct sy_plugin_ops sy_plugin_lockstep_balance_scorer = {
    .type = "lockstep-balance-scorer",
    .create = create,
    .destroy = destroy,
    .score = score,
};
