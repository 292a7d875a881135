/* decode.h - the decode work each endpoint has left: per in-flight request, the output tokens it
 * is still expected to generate, counted by the proxy as the response passes (pool/decode.c). */
#ifndef SY_POOL_DECODE_H
#define SY_POOL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_endpoint;

#define SY_DECODE_ONE         (1 << 20) /* fixed point of sy_endpoint.decode_done: one whole request */
#define SY_DECODE_MAX         ((int64_t)1 << 32) /* budgets and output lengths are clamped to this */
#define SY_DECODE_MAX_CHOICES 4096               /* n / best_of are clamped to this */

/* How a streamed response marks its tokens (sy_decode_sse_token). */
enum sy_decode_format {
    SY_DECODE_OPENAI,    /* chat and anything else: one event per choice's token */
    SY_DECODE_TEXT,      /* /v1/completions: as OPENAI, no "delta" to look at */
    SY_DECODE_RESPONSES, /* /v1/responses: the response.*.delta events */
    SY_DECODE_ANTHROPIC  /* /v1/messages: the content_block_delta events */
};

/* One request's share of its endpoint's decode counters; the proxy embeds one per request.
 * Zeroed = not counted. Not thread-safe: one owner (the request's worker). */
struct sy_decode {
    struct sy_endpoint *ep; /* counted on this endpoint (borrowed: the request holds a ref) */
    int64_t budget;         /* expected output tokens (max_tokens, or the endpoint's mean), 0 =
                               unknown: the request weighs a whole request until it ends */
    int64_t generated;      /* output tokens seen so far */
    int64_t left;           /* tokens this request has added to ep->decode_left now */
    int64_t done;           /* fixed point (SY_DECODE_ONE) it has added to ep->decode_done now */
    int64_t choices;        /* sequences generated at once (n, best_of), >= 1 while counting */
};

/* The budget for a request sent to e that generates `choices` sequences (n, or best_of when larger;
 * < 1 counts as 1): per sequence the client's max_tokens when given (>= 0: an upper bound, so the
 * remaining work is never underestimated), else the mean output length per sequence of the
 * requests that completed on e (0 before any did); times choices, clamped to SY_DECODE_MAX. */
int64_t sy_decode_budget(const struct sy_endpoint *e, int64_t max_tokens, int64_t choices);

/* The mean output tokens per sequence of the requests that completed on e (the EWMA the budgets
 * without max_tokens use, in tokens, fractional), or 0 while fewer than min_samples completions
 * fed it (or none had output). Lock-free; any thread. */
double sy_decode_mean_out(const struct sy_endpoint *e, int64_t min_samples);

/* Starts counting d on e for a request that generates `choices` sequences with the client's
 * max_tokens (< 0: not given): adds its budget, sy_decode_budget(e, max_tokens, choices), to e's
 * remaining decode tokens. Requests are charged through sy_pool_charge (pool.h), which pairs this
 * with the in-flight count. */
void sy_decode_begin(struct sy_decode *d, struct sy_endpoint *e, int64_t max_tokens,
                     int64_t choices);

/* The response has generated `generated` output tokens so far (monotonic; smaller values are
 * ignored): moves e's counters. A request keeps at least one token left until it ends. */
void sy_decode_progress(struct sy_decode *d, int64_t generated);

/* Moves d (a no-op when not counting) by the `events` token events (sy_decode_sse_token) its
 * stream brought since the last call, or to usage_tokens (a usage count seen mid-stream, < 0 none)
 * when that is larger; either may lag the other. */
void sy_decode_sse(struct sy_decode *d, int64_t events, int64_t usage_tokens);

/* Ends d (a no-op when not counting): releases exactly what it still holds. completion_tokens
 * >= 0 (the response's output length over all its sequences, on success) divided by the choices
 * feeds the endpoint's mean output length per sequence. */
void sy_decode_end(struct sy_decode *d, int64_t completion_tokens);

/* Whether one SSE event is an output token: data[0..len) is its data (the values of its data:
 * lines, api/sse_lines.h). OpenAI: data events other than [DONE], a usage-only chunk
 * ("choices":[], looked for only when has_usage: the caller saw "usage" in the data), the final
 * chunk with an empty delta ("delta":{}, not looked for in TEXT) and, while role_left > 0 (the
 * choices minus the tokens counted before), a role-only chunk ("role" with an empty or null
 * "content"). Responses: the response.<...>.delta events (output text, reasoning, refusal,
 * function-call arguments), not the lifecycle events. Anthropic: the content_block_delta events.
 * One event is counted as one token (what vLLM streams by default; a multi-token chunk
 * undercounts, which errs towards more work left). JSON with spaces after ':' is understood. */
bool sy_decode_sse_token(const char *data, size_t len, enum sy_decode_format fmt, bool has_usage,
                         int64_t role_left);

#endif
