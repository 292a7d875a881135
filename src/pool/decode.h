/* decode.h - the decode work each endpoint has left: per in-flight request, the output tokens it
 * is still expected to generate, counted by the proxy as the response passes (pool/decode.c). */
#ifndef SY_POOL_DECODE_H
#define SY_POOL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_endpoint;

#define SY_DECODE_ONE (1 << 20) /* fixed point of sy_endpoint.decode_done: one whole request */

/* One request's share of its endpoint's decode counters; the proxy embeds one per request.
 * Zeroed = not counted. Not thread-safe: one owner (the request's worker). */
struct sy_decode {
    struct sy_endpoint *ep; /* counted on this endpoint (borrowed: the request holds a ref) */
    int64_t budget;         /* expected output tokens (max_tokens, or the endpoint's mean), 0 =
                               unknown: the request weighs a whole request until it ends */
    int64_t generated;      /* output tokens seen so far */
    int64_t left;           /* tokens this request has added to ep->decode_left now */
    int64_t done;           /* fixed point (SY_DECODE_ONE) it has added to ep->decode_done now */
};

/* The budget for a request sent to e: the client's max_tokens when given (>= 0: an upper bound,
 * so the remaining work is never underestimated), else the mean output length of the requests
 * that completed on e (0 before any did). */
int64_t sy_decode_budget(const struct sy_endpoint *e, int64_t max_tokens);

/* Starts counting d on e with budget tokens (adds the budget to e's remaining decode tokens). */
void sy_decode_begin(struct sy_decode *d, struct sy_endpoint *e, int64_t budget);

/* The response has generated `generated` output tokens so far (monotonic; smaller values are
 * ignored): moves e's counters. A request keeps at least one token left until it ends. */
void sy_decode_progress(struct sy_decode *d, int64_t generated);

/* Ends d (a no-op when not counting): releases exactly what it still holds. completion_tokens
 * >= 0 (the response's output length, on success) feeds the endpoint's mean output length. */
void sy_decode_end(struct sy_decode *d, int64_t completion_tokens);

/* Output tokens in complete SSE lines text[0..len): OpenAI events ("data: {...}") other than
 * [DONE], a usage-only chunk ("choices":[]) and the chat stream's role-only first chunk; for
 * Anthropic (messages) the content_block_delta events. One event is counted as one token (what
 * vLLM streams by default; a multi-token chunk undercounts, which errs towards more work left). */
size_t sy_decode_sse_tokens(const char *text, size_t len, bool anthropic);

#endif
