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
 * fetch-add (any worker); the mean is a relaxed load/store EWMA (a lost update drops one sample),
 * decode_samples a relaxed count of the completions that fed it (sy_decode_mean_out: the mean for
 * readers that want a few samples behind it, latency-scorer's outputTokensSource).
 * A struct sy_decode has one owner. Budgets and output lengths are clamped to SY_DECODE_MAX (a
 * client's or backend's huge number must not overflow the sums or the mean). A request that
 * generates n sequences (n, best_of) gets n times the per-sequence budget and feeds the mean with
 * its output over n: the counted events are every choice's tokens, so the budget covers them all.
 * To keep the shared cache line quiet, a request moves decode_done only when its share changed by
 * at least SY_DECODE_ONE / 64 (it still records exactly what it added).
 *
 * Counting tokens in the stream (sy_decode_sse_token, on each event api/sse_lines.c hands over)
 * runs on every event the proxy forwards, so it looks for as little as it can: [DONE] by its first
 * character, the usage-only chunk only in data the caller's "usage" scan matched, the role-only
 * chunk only while the request has counted fewer events than it has choices; per ordinary chat
 * event one memmem for "delta" (none for /v1/completions) (bench/decode_sse_bench.c measures it).
 *
 * Rejected: per-request fractions summed as a remaining-tokens ratio (n x left / budgets) weighs a
 * long request's tail over many short fresh ones; a per-endpoint list of requests would need a
 * lock on every token event.
 */
#include "pool/decode.h"

#include <string.h>

#include "pool/pool.h"

#define DECODE_MEAN_SHIFT 3                    /* EWMA weight 1/8 for the mean output length */
#define DECODE_MEAN_FRAC  4                    /* out_mean is in 1/16 tokens */
#define DONE_STEP         (SY_DECODE_ONE / 64) /* smallest decode_done move while in progress */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int64_t sy_decode_budget(const struct sy_endpoint *e, int64_t max_tokens, int64_t choices)
{
    choices = clamp(choices, 1, SY_DECODE_MAX_CHOICES);
    int64_t per;
    if (max_tokens >= 0) {
        per = clamp(max_tokens, 0, SY_DECODE_MAX);
    } else {
        int64_t m = atomic_load_explicit(&e->decode_mean, memory_order_relaxed);
        per = m > 0 ? (m + (1 << (DECODE_MEAN_FRAC - 1))) >> DECODE_MEAN_FRAC : 0;
    }
    return clamp(per * choices, 0, SY_DECODE_MAX); /* <= 2^32 x 2^12: no overflow */
}

double sy_decode_mean_out(const struct sy_endpoint *e, int64_t min_samples)
{
    if (atomic_load_explicit(&e->decode_samples, memory_order_relaxed) < min_samples)
        return 0;
    int64_t m = atomic_load_explicit(&e->decode_mean, memory_order_relaxed);
    return m > 0 ? (double)m / (double)(1 << DECODE_MEAN_FRAC) : 0;
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

void sy_decode_begin(struct sy_decode *d, struct sy_endpoint *e, int64_t max_tokens,
                     int64_t choices)
{
    memset(d, 0, sizeof *d);
    d->ep = e;
    d->budget = sy_decode_budget(e, max_tokens, choices);
    d->choices = clamp(choices, 1, SY_DECODE_MAX_CHOICES);
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
    /* decode_done in steps of DONE_STEP (and at the last token's share): fewer shared writes */
    if (done - d->done < DONE_STEP && left > 1)
        done = d->done;
    move(d, left, done);
}

void sy_decode_sse(struct sy_decode *d, int64_t events, int64_t usage_tokens)
{
    int64_t g = d->generated + events;
    sy_decode_progress(d, usage_tokens > g ? usage_tokens : g);
}

void sy_decode_end(struct sy_decode *d, int64_t completion_tokens)
{
    if (!d->ep)
        return;
    struct sy_endpoint *e = d->ep;
    move(d, 0, 0);
    if (completion_tokens > 0) {
        int64_t per = clamp(completion_tokens, 0, SY_DECODE_MAX) / d->choices;
        int64_t x = per << DECODE_MEAN_FRAC; /* <= 2^36 */
        int64_t m = atomic_load_explicit(&e->decode_mean, memory_order_relaxed);
        m = clamp(m, 0, SY_DECODE_MAX << DECODE_MEAN_FRAC);
        m = m > 0 ? m + ((x - m) >> DECODE_MEAN_SHIFT) : x;
        if (x > 0) {
            atomic_store_explicit(&e->decode_mean, m, memory_order_relaxed);
            atomic_fetch_add_explicit(&e->decode_samples, 1, memory_order_relaxed);
        }
    }
    memset(d, 0, sizeof *d);
}

#define HAS(s, n, lit) (memmem((s), (n), (lit), sizeof(lit) - 1) != NULL)

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* The value after the key that ends at p (just past its closing quote): past ws ':' ws. */
static const char *value_of(const char *p, const char *end)
{
    p = skip_ws(p, end);
    if (p < end && *p == ':')
        p++;
    return skip_ws(p, end);
}

/* Whether the line [s, e)'s first "key" (with its quotes) has the value `open` ws `close` (an
 * empty array or object). Only the first: an event carries one choice (vLLM, SGLang). */
static bool empty_after(const char *s, const char *e, const char *key, size_t kl, char open,
                        char close)
{
    const char *k = memmem(s, (size_t)(e - s), key, kl);
    if (!k)
        return false;
    const char *v = value_of(k + kl, e);
    if (v >= e || *v != open)
        return false;
    v = skip_ws(v + 1, e);
    return v < e && *v == close;
}

/* A chat stream's role-only chunk: "role" and a "content" that is "" or null (or none). */
static bool role_only(const char *s, const char *e)
{
    if (!HAS(s, (size_t)(e - s), "\"role\""))
        return false;
    const char *k = memmem(s, (size_t)(e - s), "\"content\"", 9);
    if (!k)
        return true;
    const char *v = value_of(k + 9, e);
    return (e - v >= 2 && v[0] == '"' && v[1] == '"') || (e - v >= 4 && memcmp(v, "null", 4) == 0);
}

/* A Responses API event whose "type" is "response.<...>.delta" (text, reasoning, arguments). */
static bool responses_delta(const char *s, const char *e)
{
    static const char key[] = "\"type\"";
    for (const char *p = s; p < e;) {
        const char *k = memmem(p, (size_t)(e - p), key, sizeof key - 1);
        if (!k)
            return false;
        const char *v = value_of(k + sizeof key - 1, e);
        if (e - v > 10 && memcmp(v, "\"response.", 10) == 0) {
            const char *q = memchr(v + 10, '"', (size_t)(e - v - 10));
            if (q && q - v >= 16 && memcmp(q - 6, ".delta", 6) == 0)
                return true;
        }
        p = k + sizeof key - 1;
    }
    return false;
}

bool sy_decode_sse_token(const char *data, size_t len, enum sy_decode_format fmt, bool has_usage,
                         int64_t role_left)
{
    const char *end = data + len;
    const char *v = skip_ws(data, end);
    if (fmt == SY_DECODE_ANTHROPIC)
        return HAS(v, (size_t)(end - v), "content_block_delta");
    if (fmt == SY_DECODE_RESPONSES)
        return responses_delta(v, end);
    return v < end && *v != '[' /* [DONE] */ &&
           !(has_usage && empty_after(v, end, "\"choices\"", 9, '[', ']')) &&
           !(fmt == SY_DECODE_OPENAI && empty_after(v, end, "\"delta\"", 7, '{', '}')) &&
           !(role_left > 0 && role_only(v, end));
}
