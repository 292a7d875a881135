/* cache_load_scorer.c - `cache-load-scorer`: Switchyard's own scorer (not an llm-d plugin), the
 * heart of Switchyard's default scheduling (docs/scheduler.md, "The default"). It weighs what a
 * prefix-cache hit saves against the load it adds, in one unit: requests in flight.
 *
 *   n(ep)       = requests in flight there: the gateway's own count (exact and current: every
 *                 request it forwarded and has not finished); with scrapedLoad, the engine's
 *                 scraped running + waiting when that is larger (traffic from other gateways)
 *   busy(ep)    = n(ep) less the request-equivalents of output its in-flight requests have
 *                 already generated (decodedWeight; pool/decode.c: each request weighs the share
 *                 of its max_tokens, or of the endpoint's mean output, still to come; the proxy
 *                 counts the streamed tokens), so a request at 19 of its 20 tokens weighs 0.05
 *   pending(ep) = prompt tokens forwarded there and not yet prefilled (the gateway's in-flight
 *                 tokens, inflight-load-producer's accounting: uncached prompt tokens released at
 *                 the first response byte)
 *   cost(ep)    = this request's prompt tokens not cached there (sched/inflight.h: the prefix-match
 *                 data's uncached blocks plus the prompt beyond them; the whole prompt without it)
 *   w(ep)       = min(n(ep) + 1, maxBatchWeight): how many requests this request's prefill stalls
 *   load(ep)    = busy(ep) + (pending(ep) + w(ep) x cost(ep)) / tokensPerRequest
 *   score(ep)   = 1 / (1 + load(ep) - min load over the candidates)
 *
 * tokensPerRequest is how many prompt tokens of prefill count as much as one more request in
 * flight. A hit of h tokens lowers cost by h, so on an idle endpoint it is worth
 * h / tokensPerRequest requests: a 64-token prompt seen before (h <= 64) only breaks ties between
 * equally loaded endpoints, while a 4,000-token shared system prompt outweighs a few requests of
 * imbalance. The best endpoint scores 1, one request-equivalent more scores 0.5, so the score
 * composes with other scorers by weight.
 *
 * Why w: an engine runs a prefill in the same steps as its running requests' decodes (chunked
 * prefill), so the uncached tokens delay every request batched there, n + 1 of them, while one more
 * request in flight only adds its own small share to each step. Added up over the requests
 * delayed (in the simulator's step model: prefill ~30 us per token for every request in the step,
 * decode ~0.06-0.4 us per context token per request), a miss on a busy endpoint costs n + 1 times
 * what it costs on an idle one, so the busier the fleet the more a hit is worth against one request
 * of imbalance. Unweighted (the arithmetic before), the agentic workload at 128 in flight
 * (docs/scheduler.md) moved agents off the replica holding their history for one request of
 * balance, cached 0.86-0.89 of the prompt tokens where round-robin's fixed order cached 0.90, and
 * delivered 0.90-0.97x round-robin's output tokens/s. Uncapped, the same workload cached as much as
 * round-robin but a transient imbalance early in a burst (pending tokens released at different
 * times) stays for the whole run, since no later request of a session ever moves: 0.95-0.96x.
 * maxBatchWeight 8 (measured against 2, 4 and uncapped with bench/default_vs_rr.py) keeps the hits
 * (0.90) and lets a session move once the imbalance is worth 8 misses: 0.94-1.01x over 8 runs
 * (mean 0.975x; the previous arithmetic 0.90-0.97x over 12; a fourth session's 16 runs of it
 * 0.91-1.00x, mean 0.965x, at load average 7-14). With n = 0 (a
 * lone request) w is 1, as before. Rejected: dropping the pending term (0.77-0.91x on the same
 * cell; it is what spreads a burst of long uncached prompts); a higher cap (16: 0.79-1.00x in 3,
 * 32: 0.95-1.03x in 5 runs, and shared-prefix 1.059x against 1.085x): what is left in that
 * cell is agents moved at the boundary between the closed loop's two waves: a replica whose first
 * wave has just ended counts 19 requests fewer than one whose wave is at its last tokens, more
 * than a 1,152-token history weighs (docs/scheduler.md, fourth session).
 *
 * Why busy rather than n: in a closed loop whose requests run in waves, a replica whose requests
 * are at their last tokens counted as many requests as one whose requests just started, and at
 * the boundary between two waves that gap (19 requests in the trace above) outweighed an agent's
 * history: the default moved agents, and the run ended with the replica that got them. Weighed
 * by the output still to come, those 31 requests at their end weigh about 1.5, the history stays
 * where it is (agentic:128 0.997-1.001x round-robin's output tok/s over 8 runs, prefixrep:128
 * 0.996-1.010x, where the count gave 0.955-1.000x and 0.928-0.988x in the same runs; half the
 * discount, decodedWeight 0.5, 0.981-1.003x; docs/scheduler.md, fifth session). w stays by the
 * count: a prefill stalls every request in the batch, however near its end. A request without a
 * budget (no max_tokens, no completed request on the endpoint yet) and a non-streamed response
 * weigh a whole request until they end, as before; so does an engine's scraped excess
 * (scrapedLoad).
 *
 * Why the gateway's own counts: scraped metrics are up to one scrape interval old, so a burst of
 * requests scheduled between two scrapes sees the same numbers and lands on the same endpoint
 * (herding). The gateway's counters move with every decision (pool.c, updated by the proxy on
 * every forwarding path), so a burst spreads. Rejected alternatives: min-max normalised load
 * scores (queue-scorer, active-request-scorer) make any difference, one request or a hundred, the
 * full [0,1] range, so no fixed weight against a prefix score is right at every load; the
 * prefix-cache-scorer's match ratio gives a 64-token prompt the same full score as an 8k one.
 *
 * Parameters: tokensPerRequest (512, > 0), maxBatchWeight (8, >= 1; 1 gives the unweighted
 * arithmetic of the first version), decodedWeight (1, in [0, 1]: busy = n - decodedWeight x the
 * decoded share; 0 counts every request whole, the arithmetic before,
 * bench/default_vs_rr_count.yaml), pendingWeight (1, >= 0: a factor on the pending term) and
 * pendingByBatch (false: true weighs the pending tokens by w too, the requests their prefill steps
 * stall), both variants for measurements: weighing the pending tokens more spreads a burst of
 * prefills sharing a cached prefix over the replicas (the hit, w x 256 tokens on prefixrep, no
 * longer outweighs the prefills already queued there), but on agentic with 128 agents it moves
 * more of them at turn 1, not fewer (pendingByBatch 138-164 moves and 0.957-0.965x round-robin's
 * output tok/s, pendingWeight 4 0-64 moves and 0.980-1.000x), and on prefixrep at 256 requests (two
 * waves) they only narrowed the default's ITL p99 excess (all gaps pooled 1.60x / 1.59x
 * round-robin's against 1.94x) at 0.978-0.998x of its throughput (docs/scheduler.md, seventh
 * session), decodedFloor (0, in [0, 1]: while prompt tokens are pending on an endpoint, a prefill
 * queued there, busy is at least decodedFloor x n; a variant for the two-wave boundary on
 * prefixrep, where a replica whose whole batch is at its last tokens looks empty and takes several
 * prefills beside it: with the floor, once it has one prefill queued its batch weighs again.
 * At 1, prefixrep:128's ITL p99 0.63x round-robin's over 32 orders (the default 1.37x) at 0.986x
 * its throughput, but repeated:128 0.972x and ITL p99 1.87x in one run, cached 0.59 against 0.75
 * (prompts left their cached replica; likely because mid-output a replica with a short prompt
 * queued jumps from n - decoded to n); so not the default (docs/scheduler.md, twelfth session),
 * three more variants for that boundary, off by default (docs/scheduler.md, thirteenth session):
 * floorEveryCandidate (false: true applies decodedFloor to every candidate of a decision once any
 * of them has a prefill pending, so no single replica steps from n - decoded to n; at
 * decodedFloor 1 it is nearly the count: prefixrep:128 0.61x round-robin's ITL p99 at 0.981x its
 * throughput over 16 orders, repeated:128 cached 0.61-0.73 in 3 of 4), pendingBatchWeight (0, off,
 * or >= 1: while an endpoint has a prefill pending, w is min(n + 1, pendingBatchWeight) instead of
 * min(n + 1, maxBatchWeight): this request's prefill joins the queued one in the steps of the whole
 * batch, near its end or not; at 64 prefixrep:128's ITL p99 1.07x pooled over 48 orders, the
 * default 1.19x, at 1.000x the throughput, and repeated:128 cached 0.73 against 0.75 in 4 of 4
 * orders; as the default over the whole table once, shared:1000 0.952x round-robin's throughput:
 * at 1000 in flight every replica has a prefill pending, so a 2,048-token hit weighs 64 misses
 * and same-prefix bursts pile onto the replica holding the prefix), pendingBatchScope (all: the
 * tokens pendingBatchWeight's w weighs; blocks: only the uncached tokens of the prompt's indexed
 * blocks, the prompt beyond them, a partial block every candidate misses alike, weighing
 * min(n + 1, maxBatchWeight) as without a prefill pending: prefixrep:128's ITL p99 1.00x
 * round-robin's over 48 orders (the default 1.18x) at 1.00x its throughput, but shared:1000's
 * pile-up stays (0.99x; a non-holder's prefix blocks are uncached blocks), and repeated:128 still
 * cached 0.73-0.75; common: only as many of
 * those as every candidate of the decision misses, the least over them, so what a hit saves
 * elsewhere weighs as without the cap and only the prefill this request needs wherever it goes
 * is priced by the batch it stalls: shared:1000 1.09x as the default, prefixrep:128 1.20x),
 * pendingBatchAboveMean (false: true applies
 * pendingBatchWeight's cap only where more prompt tokens are pending than the candidates' mean, so
 * at the wave boundary the one replica with a prefill queued is capped as before, while at 1000 in
 * flight, where every replica has prefills queued, only the ones with more than their share are),
 * pendingBatchIdlePeer (false: true applies that cap only while some candidate of the decision has
 * nothing pending, the wave boundary's case; with prefills queued everywhere, at 1000 in flight,
 * w is maxBatchWeight's as by default), pendingBatchAboveShare (false: true applies that cap only
 * where the requests in flight plus this one reach the candidates' fair share, so a replica below
 * it prices a miss as by default and a same-prefix burst cannot pile onto the replica holding the
 * prefix much beyond its share: with blocks, prefixrep:128 0.82x round-robin's ITL p99 at 0.99x
 * its throughput, cached 0.32, and shared:1000 1.07x, the default 1.10x; the other two conditions
 * left prefixrep:128 at the default's 1.2x; docs/scheduler.md, fourteenth session) and shareSlack /
 * shareWeight (off / 1: each request in flight above the candidates' fair share, their requests
 * plus this one over their number, plus shareSlack, adds shareWeight requests to the load; slack 4
 * weight 8 gives prefixrep:128 0.63x at 0.986x the throughput, cached 0.32, repeated:128 cached
 * 0.64-0.70), scrapedLoad (false: a scrape is up to one interval old, and in a closed loop it still
 * counts the requests that just finished, exactly when their replacements are placed, so it pushes
 * them away from the endpoint that has room; measured with bench/default_vs_rr.py),
 * inFlightLoadProducerName and prefixMatchInfoProducerName (accepted: the cycle carries one of
 * each). The state is immutable after create; any thread may score.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "pool/pool.h"
#include "sched/inflight.h"
#include "sched/params.h"
#include "sched/plugins.h"

#define CACHE_LOAD_DEFAULT_TOKENS       512.0 /* tokensPerRequest */
#define CACHE_LOAD_DEFAULT_BATCH_WEIGHT 8.0   /* maxBatchWeight */
#define CACHE_LOAD_DEFAULT_DECODED      1.0   /* decodedWeight */
#define CACHE_LOAD_DEFAULT_PENDING      1.0   /* pendingWeight */
#define CACHE_LOAD_DEFAULT_FLOOR        0.0   /* decodedFloor */

struct cache_load {
    double tokens_per_request; /* prompt tokens worth one request in flight */
    double max_batch_weight;   /* cap on the uncached term's weight n + 1 (1: unweighted) */
    bool scraped;              /* also read the engine's running + waiting */
    double decoded_weight;     /* share of a request's generated output that stops counting */
    double pending_weight;     /* factor on the pending prompt tokens */
    bool pending_by_batch;     /* also weigh the pending tokens by w (the batch they stall) */
    double decoded_floor;      /* least a request weighs while its endpoint has prefills pending */
    bool floor_all;            /* decodedFloor on every candidate once any has a prefill pending */
    double pending_batch;      /* cap on w while the endpoint has a prefill pending (0: off) */
    enum { PB_ALL, PB_BLOCKS, PB_COMMON } pb_scope; /* the tokens that cap weighs */
    bool pb_above_mean;  /* that cap only above the candidates' mean pending tokens */
    bool pb_idle_peer;   /* that cap only while a candidate has nothing pending */
    bool pb_above_share; /* that cap only where n + 1 reaches the fair share */
    double share_slack;  /* requests above the fair share + this count again (< 0: off) */
    double share_weight; /* how many times each of them counts again */
};

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"tokensPerRequest",
                                          "maxBatchWeight",
                                          "scrapedLoad",
                                          "decodedWeight",
                                          "pendingWeight",
                                          "pendingByBatch",
                                          "decodedFloor",
                                          "floorEveryCandidate",
                                          "pendingBatchWeight",
                                          "pendingBatchScope",
                                          "pendingBatchAboveMean",
                                          "pendingBatchIdlePeer",
                                          "pendingBatchAboveShare",
                                          "shareSlack",
                                          "shareWeight",
                                          "inFlightLoadProducerName",
                                          "prefixMatchInfoProducerName",
                                          NULL};
    struct cache_load cl = {.tokens_per_request = CACHE_LOAD_DEFAULT_TOKENS,
                            .max_batch_weight = CACHE_LOAD_DEFAULT_BATCH_WEIGHT,
                            .scraped = false,
                            .decoded_weight = CACHE_LOAD_DEFAULT_DECODED,
                            .pending_weight = CACHE_LOAD_DEFAULT_PENDING,
                            .pending_by_batch = false,
                            .decoded_floor = CACHE_LOAD_DEFAULT_FLOOR,
                            .floor_all = false,
                            .pending_batch = 0,
                            .pb_scope = PB_ALL,
                            .pb_above_mean = false,
                            .pb_idle_peer = false,
                            .pb_above_share = false,
                            .share_slack = -1,
                            .share_weight = 1};
    const char *ignored = NULL, *scope = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "tokensPerRequest", env, 1e-6, 1e12, &cl.tokens_per_request,
                             err, errcap);
    if (!rc)
        rc = sy_param_double(params, "maxBatchWeight", env, 1, 1e9, &cl.max_batch_weight, err,
                             errcap);
    if (!rc)
        rc = sy_param_bool(params, "scrapedLoad", env, &cl.scraped, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "decodedWeight", env, 0, 1, &cl.decoded_weight, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "pendingWeight", env, 0, 1e6, &cl.pending_weight, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "pendingByBatch", env, &cl.pending_by_batch, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "decodedFloor", env, 0, 1, &cl.decoded_floor, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "floorEveryCandidate", env, &cl.floor_all, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "pendingBatchWeight", env, 0, 1e9, &cl.pending_batch, err,
                             errcap);
    if (!rc && cl.pending_batch > 0 && cl.pending_batch < 1)
        rc = sy_param_errorf(env, sy_yaml_get(params, "pendingBatchWeight"), "pendingBatchWeight",
                             err, errcap, "%g is neither 0 (off) nor >= 1", cl.pending_batch);
    if (!rc)
        rc = sy_param_string(params, "pendingBatchScope", env, &scope, err, errcap);
    if (!rc && scope) {
        if (!strcmp(scope, "blocks"))
            cl.pb_scope = PB_BLOCKS;
        else if (!strcmp(scope, "common"))
            cl.pb_scope = PB_COMMON;
        else if (strcmp(scope, "all"))
            rc = sy_param_errorf(env, sy_yaml_get(params, "pendingBatchScope"), "pendingBatchScope",
                                 err, errcap, "'%s' is not all, blocks or common", scope);
    }
    if (!rc)
        rc = sy_param_bool(params, "pendingBatchAboveMean", env, &cl.pb_above_mean, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "pendingBatchIdlePeer", env, &cl.pb_idle_peer, err, errcap);
    if (!rc)
        rc = sy_param_bool(params, "pendingBatchAboveShare", env, &cl.pb_above_share, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "shareSlack", env, 0, 1e9, &cl.share_slack, err, errcap);
    if (!rc)
        rc = sy_param_double(params, "shareWeight", env, 0, 1e9, &cl.share_weight, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "inFlightLoadProducerName", env, &ignored, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &ignored, err, errcap);
    if (rc)
        return rc;
    /* Accepted, but not doing what they are there for: one warning line each. */
    if (cl.floor_all && cl.decoded_floor == 0)
        sy_warn("%s:%d: %s.parameters.floorEveryCandidate: has no effect without a decodedFloor "
                "above 0 (plugin '%s')",
                env->file, env->line, env->path, env->name);
    if (cl.share_slack < 0 && sy_param_present(params, "shareWeight"))
        sy_warn("%s:%d: %s.parameters.shareWeight: has no effect without shareSlack (plugin '%s')",
                env->file, env->line, env->path, env->name);
    /* the qualifiers of pendingBatchWeight's cap, at a value that would change something */
    const struct {
        const char *key;
        bool set;
    } pb_qualifiers[] = {{"pendingBatchScope", cl.pb_scope != PB_ALL},
                         {"pendingBatchAboveMean", cl.pb_above_mean},
                         {"pendingBatchIdlePeer", cl.pb_idle_peer},
                         {"pendingBatchAboveShare", cl.pb_above_share}};
    for (size_t i = 0; cl.pending_batch == 0 && i < sizeof pb_qualifiers / sizeof *pb_qualifiers;
         i++)
        if (pb_qualifiers[i].set)
            sy_warn("%s:%d: %s.parameters.%s: has no effect without pendingBatchWeight (plugin "
                    "'%s')",
                    env->file, env->line, env->path, pb_qualifiers[i].key, env->name);
    if (cl.pending_batch > 0 && cl.pending_batch <= cl.max_batch_weight)
        sy_warn("%s:%d: %s.parameters.pendingBatchWeight: %g %s maxBatchWeight %g: %s (plugin "
                "'%s')",
                env->file, env->line, env->path, cl.pending_batch,
                cl.pending_batch < cl.max_batch_weight ? "is below" : "equals", cl.max_batch_weight,
                cl.pending_batch < cl.max_batch_weight
                    ? "a miss where a prefill is pending weighs less, not more"
                    : "it has no effect",
                env->name);
    struct cache_load *st = SY_NEW(struct cache_load);
    *st = cl;
    *state = st;
    return 0;
}

/* Requests in flight on c: the gateway's count, or the engine's when it reports more. */
static double requests_of(const struct cache_load *cl, const struct sy_sched_candidate *c)
{
    double n = c->st.inflight_requests > 0 ? (double)c->st.inflight_requests : 0.0;
    if (cl->scraped && c->st.scraped) {
        double e = (c->st.m.running > 0 ? c->st.m.running : 0.0) +
                   (c->st.m.waiting > 0 ? c->st.m.waiting : 0.0);
        if (e > n)
            n = e;
    }
    return n;
}

/* What one decision knows of all its candidates. */
struct decision {
    bool any_pending; /* a candidate has a prefill pending */
    double share;     /* the fair share of the requests in flight, this one included */
    double common;    /* the least uncached indexed-block tokens over the candidates (common) */
    double pending;   /* the mean pending prompt tokens over the candidates */
    bool any_idle;    /* a candidate has no prompt tokens pending */
};

/* pendingBatchWeight's cap applies to c: a prefill pending there (with pendingBatchAboveMean,
 * more pending tokens than the candidates' mean; with pendingBatchIdlePeer, while another
 * candidate has none pending; with pendingBatchAboveShare, where c's requests in flight and this
 * one reach the fair share). */
static bool pending_capped(const struct cache_load *cl, const struct sy_sched_candidate *c,
                           const struct decision *d)
{
    double p = (double)c->st.inflight_tokens;
    return cl->pending_batch > 0 && p > 0 && (!cl->pb_above_mean || p > d->pending) &&
           (!cl->pb_idle_peer || d->any_idle) &&
           (!cl->pb_above_share || requests_of(cl, c) + 1.0 >= d->share);
}

/* w: how many times a miss counts with n requests already there, min(n + 1, maxBatchWeight);
 * with pendingBatchWeight, min(n + 1, pendingBatchWeight) while c has a prefill pending. */
static double weight_of(const struct cache_load *cl, const struct sy_sched_candidate *c,
                        const struct decision *d, double n)
{
    double cap = pending_capped(cl, c, d) ? cl->pending_batch : cl->max_batch_weight;
    return n + 1.0 < cap ? n + 1.0 : cap;
}

/* The uncached tokens of the prompt's indexed blocks on c, (total - matched) x block size; the
 * whole of cost without prefix-match data (no block is known cached anywhere). */
static double blocks_of(const struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                        double cost)
{
    if (!cy->prefix || !cy->prefix_valid || cy->prefix[c->pool_index].block_size_tokens == 0)
        return cost;
    const struct sy_prefix_match *m = &cy->prefix[c->pool_index];
    double u = m->total_blocks > m->match_blocks
                   ? (double)(m->total_blocks - m->match_blocks) * m->block_size_tokens
                   : 0.0;
    return u < cost ? u : cost;
}

/* w x cost: with pendingBatchWeight and pendingBatchScope blocks or common, only the tokens in
 * scope weigh the pending cap's w; the rest (the prompt beyond its indexed blocks, and with common
 * what a hit elsewhere would save) weighs min(n + 1, maxBatchWeight), as without a prefill
 * pending. */
static double weighted_cost(const struct cache_load *cl, const struct sy_sched_cycle *cy,
                            const struct sy_sched_candidate *c, const struct decision *d, double n,
                            double w, double cost)
{
    if (cl->pb_scope == PB_ALL || !pending_capped(cl, c, d))
        return w * cost;
    double in = blocks_of(cy, c, cost);
    if (cl->pb_scope == PB_COMMON && d->common < in)
        in = d->common;
    double base = n + 1.0 < cl->max_batch_weight ? n + 1.0 : cl->max_batch_weight;
    return w * in + base * (cost - in);
}

/* The load term's requests: n less the share of their output already generated (decodedWeight;
 * pool/decode.c), never below 0; while prompt tokens are pending there (a prefill queued), never
 * below decodedFloor x n either. Engine-reported requests beyond the gateway's count (scrapedLoad)
 * count whole: the gateway does not see their tokens. */
static double busy_of(const struct cache_load *cl, const struct sy_sched_candidate *c, double n,
                      bool any_pending)
{
    double done = c->st.decode_done > 0 ? cl->decoded_weight * c->st.decode_done : 0.0;
    double busy = n - done > 0 ? n - done : 0.0;
    bool floored = cl->floor_all ? any_pending : c->st.inflight_tokens > 0;
    double floor = floored ? cl->decoded_floor * n : 0.0;
    return busy > floor ? busy : floor;
}

/* load(c) in request-equivalents (see the top of the file). */
static double load_of(const struct cache_load *cl, const struct sy_sched_cycle *cy,
                      const struct sy_sched_candidate *c, const struct decision *d)
{
    double pending = c->st.inflight_tokens > 0 ? (double)c->st.inflight_tokens : 0.0;
    double cost = (double)sy_inflight_request_tokens(cy, c);
    double n = requests_of(cl, c);
    double w = weight_of(cl, c, d, n);
    double pw = cl->pending_weight * (cl->pending_by_batch ? w : 1.0);
    double excess = cl->share_slack >= 0 && n - d->share - cl->share_slack > 0
                        ? n - d->share - cl->share_slack
                        : 0.0;
    return busy_of(cl, c, n, d->any_pending) + cl->share_weight * excess +
           (pw * pending + weighted_cost(cl, cy, c, d, n, w, cost)) / cl->tokens_per_request;
}

/* logLevel debug: one line per decision with every candidate's inputs (n, pending tokens, this
 * request's uncached tokens, w, load), to see why a request went where it did; a long candidate
 * list continues on further lines ("...") so no candidate is cut by the logger's line limit. */
#define TRACE_LINE                                                                                 \
    512 /* bytes of candidates per debug line (an entry is < 350 with a 253-byte DNS name) */

static void trace(const struct cache_load *cl, const struct sy_sched_cycle *cy,
                  const struct sy_sched_candidate *c, size_t n, const struct decision *d,
                  const double *load)
{
    struct sy_buf b;
    sy_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        double r = requests_of(cl, &c[i]);
        if (b.len > TRACE_LINE) { /* the logger formats into 1 KiB */
            sy_debug("cache-load-scorer: %s ...", b.data);
            sy_buf_reset(&b);
        }
        sy_buf_printf(&b, "%s%s n=%.0f busy=%.2f left=%lld pending=%lld cost=%lld w=%.0f load=%.2f",
                      b.len ? "; " : "", c[i].ep && c[i].ep->address ? c[i].ep->address : "?", r,
                      busy_of(cl, &c[i], r, d->any_pending), (long long)c[i].st.decode_left,
                      (long long)c[i].st.inflight_tokens,
                      (long long)sy_inflight_request_tokens(cy, &c[i]), weight_of(cl, &c[i], d, r),
                      load[i]);
    }
    sy_debug("cache-load-scorer: %s", b.data ? b.data : "");
    sy_buf_fini(&b);
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct cache_load *cl = state;
    double min = INFINITY;
    struct decision d = {
        .any_pending = false, .share = 1.0, .common = INFINITY, .pending = 0, .any_idle = false};
    for (size_t i = 0; i < n; i++) {
        d.any_pending = d.any_pending || c[i].st.inflight_tokens > 0;
        d.any_idle = d.any_idle || c[i].st.inflight_tokens <= 0;
        d.share += requests_of(cl, &c[i]);
        d.pending += c[i].st.inflight_tokens > 0 ? (double)c[i].st.inflight_tokens : 0.0;
        if (cl->pb_scope == PB_COMMON) { /* only pendingBatchScope common reads it */
            double u = blocks_of(cy, &c[i], (double)sy_inflight_request_tokens(cy, &c[i]));
            if (u < d.common)
                d.common = u;
        }
    }
    d.share = n ? d.share / (double)n : 0.0;
    d.pending = n ? d.pending / (double)n : 0.0;
    for (size_t i = 0; i < n; i++) {
        scores[i] = load_of(cl, cy, &c[i], &d);
        if (scores[i] < min)
            min = scores[i];
    }
    if (sy_log_get_level() <= SY_LOG_DEBUG)
        trace(cl, cy, c, n, &d, scores);
    for (size_t i = 0; i < n; i++) {
        double v = 1.0 / (1.0 + (scores[i] - min));
        scores[i] = isnan(v) ? 0.0 : v;
    }
}

const struct sy_plugin_ops sy_plugin_cache_load_scorer = {
    .type = "cache-load-scorer",
    .consumes = SY_PREFIX_KEY,
    .create = create,
    .destroy = free,
    .score = score,
};
