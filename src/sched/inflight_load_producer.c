/* inflight_load_producer.c - llm-d's `inflight-load-producer`: per-endpoint in-flight load as the
 * router counts it (dataproducer/inflightload/producer.go, token_estimator.go).
 *
 *   pick  --> tokens = uncached prompt tokens on the chosen endpoint
 *                      [+ round(prompt x outputRatio), capped by max_tokens and
 *                         maxEstimatedOutputTokens, when addEstimatedOutputTokens]
 *             the proxy adds 1 request and `tokens` to the endpoint (pool.c counters)
 *   first response byte --> addEstimatedOutputTokens false (the default): the tokens are released
 *             (prefill is done; the request count stays until the end)
 *   end of the response --> the request and whatever tokens are left are released
 *
 * uncached(ep) = (total - matched) blocks x block size + max(0, prompt - total x block size) with
 * the cycle's prefix-match data, or the whole prompt without it. The prompt count is the token
 * producer's (cy->prompt_tokens: the estimate backend's 4 bytes per token by default).
 *
 * Switchyard's pool keeps one pair of counters per endpoint, updated by the proxy on every
 * forwarding path, so this plugin holds no counters itself: its `produce` hook only hands its
 * parameters to the cycle (cy->inflight), and sched.c / token-load-scorer call the functions of
 * inflight.h. Without an instance, llm-d's defaults apply (the router auto-creates the producer
 * for its consumers with those defaults). Parameters prefixMatchInfoProducerName (Switchyard's
 * cycle carries one prefix-match table, from whichever prefix producer ran) and
 * syncCrossReplicaState (one gateway process holds the counters) are accepted.
 *
 * Alternatives rejected: counters inside the plugin (llm-d's trackers) would duplicate the pool's
 * and need a second release path in the proxy; the pool's counters already have the
 * add-once/sub-once discipline on every path.
 */
#include <math.h>
#include <stdlib.h>

#include "api/request.h"
#include "core/alloc.h"
#include "sched/inflight.h"
#include "sched/params.h"
#include "sched/plugins.h"

const struct sy_inflight_params sy_inflight_defaults = {
    .add_output = false, .ratio = 1.5, .max_output = -1};

static const struct sy_inflight_params *params_of(const struct sy_sched_cycle *cy)
{
    return cy && cy->inflight ? cy->inflight : &sy_inflight_defaults;
}

static int64_t input_tokens(const struct sy_sched_cycle *cy)
{
    return cy ? (int64_t)cy->prompt_tokens : 0;
}

static int64_t uncached(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                        int64_t input)
{
    if (!c || !cy->prefix || !cy->prefix_valid)
        return input;
    const struct sy_prefix_match *m = &cy->prefix[c->pool_index];
    if (m->block_size_tokens == 0)
        return input;
    int64_t bs = m->block_size_tokens;
    int64_t matched = (int64_t)m->match_blocks * bs, indexed = (int64_t)m->total_blocks * bs;
    int64_t u = indexed - matched > 0 ? indexed - matched : 0;
    int64_t tail = input - indexed > 0 ? input - indexed : 0;
    return u + tail;
}

/* round(input x ratio) bounded by the client's max_tokens and maxEstimatedOutputTokens. */
static int64_t output_estimate(const struct sy_inflight_params *p, const struct sy_request *req,
                               int64_t input)
{
    if (input <= 0)
        return 0;
    int64_t est = (int64_t)llround((double)input * p->ratio);
    if (req && req->max_tokens >= 0 && req->max_tokens < est)
        est = req->max_tokens;
    if (p->max_output >= 0 && p->max_output < est)
        est = p->max_output;
    return est;
}

int64_t sy_inflight_request_tokens(const struct sy_sched_cycle *cy,
                                   const struct sy_sched_candidate *c)
{
    const struct sy_inflight_params *p = params_of(cy);
    int64_t input = input_tokens(cy);
    int64_t t = uncached(cy, c, input);
    if (p->add_output)
        t += output_estimate(p, cy->req, input); /* from the whole prompt, not the uncached part */
    return t;
}

void sy_inflight_account(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *chosen,
                         int64_t *tokens, int64_t *early)
{
    *tokens = sy_inflight_request_tokens(cy, chosen);
    *early = params_of(cy)->add_output ? 0 : *tokens;
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const keys[] = {"addEstimatedOutputTokens", "outputRatio",
                                       "maxEstimatedOutputTokens", "prefixMatchInfoProducerName",
                                       "syncCrossReplicaState",    NULL};
    struct sy_inflight_params p = sy_inflight_defaults;
    bool sync = true;
    const char *prefix_name = NULL;
    int rc = sy_param_check(params, env, keys, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "addEstimatedOutputTokens", env, &p.add_output, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "outputRatio", env, 0, 1e6, &p.ratio, err, errcap);
    if (!rc)
        rc = sy_param_int(params, "maxEstimatedOutputTokens", env, 0, INT64_MAX / 4, &p.max_output,
                          err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &prefix_name, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "syncCrossReplicaState", env, &sync, err, errcap);
    if (rc)
        return rc;
    struct sy_inflight_params *st = SY_NEW(struct sy_inflight_params);
    *st = p;
    *state = st;
    return 0;
}

static void produce(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    (void)c;
    (void)n;
    cy->inflight = state;
}

const struct sy_plugin_ops sy_plugin_inflight_load_producer = {
    .type = "inflight-load-producer",
    .produces = SY_INFLIGHT_KEY,
    .create = create,
    .destroy = free,
    .produce = produce,
};
