/* decode.c - the decode work an endpoint has left, counted by the gateway as responses pass.
 *
 * Requests in flight are not equal work: one a few tokens from its end frees its slot in a moment,
 * a fresh one holds it for its whole output. The request count (pool.c's inflight_requests) sees
 * them alike, so in a closed loop a replica whose requests are in their last tokens looks as busy
 * as one whose requests just started (docs/scheduler.md, "agentic:128 is decided at one wave
 * boundary"). Per endpoint, two counters, moved by every in-flight request:
 *
 *   decode_left  = sum over requests of max(budget - generated, 1)     tokens (0 budget: 0)
 *   decode_done  = sum over requests of min(generated, budget - 1) / budget   x SY_DECODE_ONE
 *
 * so n - decode_done / SY_DECODE_ONE is the requests in flight weighted by the share of their
 * output still to come (cache-load-scorer's load term). budget is the client's max_tokens (an
 * upper bound: the work left is never underestimated, a generous max_tokens just keeps the
 * request near full weight, the count's behaviour) or, without one, the endpoint's mean output
 * length of completed requests (an estimate; a request past it keeps one token, i.e. ~1/budget of
 * a request, until it ends). A request with no budget (none given, nothing completed yet) keeps
 * decode_done 0: a whole request, as before.
 *
 * Discipline (as pool.c's in-flight counters): each request records what it added (left, done),
 * moves the shared counters by differences only, and sy_decode_end subtracts exactly what is
 * still recorded and zeroes the record, so the counters return to 0 whatever path a request ends
 * by and a second end is a no-op. Threading: the counters are atomics updated with relaxed
 * fetch-add (any worker); the mean is a relaxed load/store EWMA (a lost update drops one sample).
 * A struct sy_decode has one owner.
 *
 * Rejected: per-request fractions summed as a remaining-tokens ratio (n x left / budgets) weighs a
 * long request's tail over many short fresh ones; a per-endpoint list of requests would need a
 * lock on every token event.
 */
#include "pool/decode.h"

#include <string.h>

#include "pool/pool.h"

#define DECODE_MEAN_SHIFT 3 /* EWMA weight 1/8 for the mean output length */
#define DECODE_MEAN_FRAC  4 /* out_mean is in 1/16 tokens */

int64_t sy_decode_budget(const struct sy_endpoint *e, int64_t max_tokens)
{
    if (max_tokens >= 0)
        return max_tokens;
    int64_t m = atomic_load_explicit(&((struct sy_endpoint *)e)->decode_mean, memory_order_relaxed);
    return m > 0 ? (m + (1 << (DECODE_MEAN_FRAC - 1))) >> DECODE_MEAN_FRAC : 0;
}

/* What a request with this budget that generated g tokens holds: *left tokens, *done fixed. */
static void shares(int64_t budget, int64_t g, int64_t *left, int64_t *done)
{
    if (budget <= 0) {
        *left = 0;
        *done = 0;
        return;
    }
    int64_t used = g < budget - 1 ? g : budget - 1;
    if (used < 0)
        used = 0;
    *left = budget - used;
    *done = (int64_t)((double)used * SY_DECODE_ONE / (double)budget);
}

static void move(struct sy_decode *d, int64_t left, int64_t done)
{
    if (left != d->left)
        atomic_fetch_add_explicit(&d->ep->decode_left, left - d->left, memory_order_relaxed);
    if (done != d->done)
        atomic_fetch_add_explicit(&d->ep->decode_done, done - d->done, memory_order_relaxed);
    d->left = left;
    d->done = done;
}

void sy_decode_begin(struct sy_decode *d, struct sy_endpoint *e, int64_t budget)
{
    memset(d, 0, sizeof *d);
    d->ep = e;
    d->budget = budget > 0 ? budget : 0;
    int64_t left, done;
    shares(d->budget, 0, &left, &done);
    move(d, left, done);
}

void sy_decode_progress(struct sy_decode *d, int64_t generated)
{
    if (!d->ep || generated <= d->generated)
        return;
    d->generated = generated;
    int64_t left, done;
    shares(d->budget, generated, &left, &done);
    move(d, left, done);
}

void sy_decode_end(struct sy_decode *d, int64_t completion_tokens)
{
    if (!d->ep)
        return;
    struct sy_endpoint *e = d->ep;
    move(d, 0, 0);
    if (completion_tokens > 0) {
        int64_t x = completion_tokens << DECODE_MEAN_FRAC;
        int64_t m = atomic_load_explicit(&e->decode_mean, memory_order_relaxed);
        m = m > 0 ? m + ((x - m) >> DECODE_MEAN_SHIFT) : x;
        atomic_store_explicit(&e->decode_mean, m, memory_order_relaxed);
    }
    memset(d, 0, sizeof *d);
}

/* Whether [s, s+n) contains the NUL-free string pat. */
static bool has(const char *s, size_t n, const char *pat)
{
    return memmem(s, n, pat, strlen(pat)) != NULL;
}

size_t sy_decode_sse_tokens(const char *text, size_t len, bool anthropic)
{
    size_t count = 0;
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - line);
        if (n > 5 && memcmp(line, "data:", 5) == 0) {
            if (anthropic) {
                count += has(line, n, "content_block_delta");
            } else if (!has(line, n, "[DONE]") && !has(line, n, "\"choices\":[]") &&
                       !(has(line, n, "\"role\"") && has(line, n, "\"content\":\"\"}"))) {
                count++;
            }
        }
        line = le + 1;
    }
    return count;
}
