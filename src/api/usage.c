/* usage.c - the token counts a response reports (see usage.h).
 *
 * Best effort by design: the gateway forwards responses as they come and reads their usage with a
 * key search over the last "usage" object rather than a JSON parse of every event (the proxy runs
 * this on each SSE read that mentions "usage"). A number that is not found changes nothing.
 * Anthropic's events split the counts (message_start has input_tokens, message_delta
 * output_tokens), which api/anthropic.c reads.
 *
 * A streamed response (sy_usage_sse) is read event by event, as api/sse_lines.c cuts it: "usage"
 * is looked for in each event's data (one memmem), the usage scan runs only on events that
 * mention it, and the token events of one piece move the decode work left in one step (one
 * sy_decode_progress per upstream read or ext_proc message, as before the events were split out).
 */
#include "api/usage.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "core/log.h"
#include "core/time.h"

/* Finds "key": <integer> in text (best effort; used on usage objects). */
static int64_t find_int(const char *text, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *end = text + len;
    for (const char *p = text; p + kl + 2 < end; p++) {
        p = memchr(p, '"', (size_t)(end - p));
        if (!p || p + kl + 2 >= end)
            break;
        if (memcmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
            const char *q = p + kl + 2;
            while (q < end && (*q == ' ' || *q == ':'))
                q++;
            if (q < end && *q >= '0' && *q <= '9')
                return strtoll(q, NULL, 10);
        }
    }
    return -1;
}

/* sy_usage_scan with the first "usage" in text already found: at, or NULL for none. */
static void scan_from(enum sy_api_kind kind, const char *text, size_t len, const char *at,
                      int64_t *prompt, int64_t *completion, int64_t *cached)
{
    if (kind == SY_API_MESSAGES) { /* Anthropic: input_tokens, output_tokens, ... */
        sy_anthropic_usage(text, len, prompt, completion, cached);
        return;
    }
    const char *u = NULL, *end = text + len;
    for (const char *p = at; p && p < end && (p = memmem(p, (size_t)(end - p), "\"usage\"", 7));
         p++)
        u = p; /* the last one */
    if (!u)
        return;
    const char *val = u + 7;
    while (val < end && (*val == ' ' || *val == ':'))
        val++;
    if (val < end && *val == 'n') /* "usage": null (vLLM's completions events): no counts */
        return;
    size_t ul = len - (size_t)(u - text);
    int64_t v;
    if ((v = find_int(u, ul, "prompt_tokens")) >= 0)
        *prompt = v;
    if ((v = find_int(u, ul, "completion_tokens")) >= 0)
        *completion = v;
    else if (kind == SY_API_RESPONSES && (v = find_int(u, ul, "output_tokens")) >= 0)
        *completion = v; /* Responses API usage: input_tokens, output_tokens */
    if (kind == SY_API_RESPONSES && (v = find_int(u, ul, "input_tokens")) >= 0)
        *prompt = v;
    if ((v = find_int(u, ul, "cached_tokens")) >= 0)
        *cached = v;
}

void sy_usage_scan(enum sy_api_kind kind, const char *text, size_t len, int64_t *prompt,
                   int64_t *completion, int64_t *cached)
{
    const char *at = kind == SY_API_MESSAGES ? NULL : memmem(text, len, "\"usage\"", 7);
    scan_from(kind, text, len, at, prompt, completion, cached);
}

enum sy_decode_format sy_usage_stream_format(enum sy_api_kind kind)
{
    switch (kind) {
    case SY_API_MESSAGES: return SY_DECODE_ANTHROPIC;
    case SY_API_RESPONSES: return SY_DECODE_RESPONSES;
    case SY_API_COMPLETIONS: return SY_DECODE_TEXT;
    default: return SY_DECODE_OPENAI;
    }
}

/* The first "usage" in the event data[0..len), or NULL. An event that lies in the current piece
 * (the common case) is answered from one search of the piece, resumed only past a match, so a
 * read of many events costs about one memmem, not one per event. */
static const char *usage_in(struct sy_usage_sse *u, const char *data, size_t len)
{
    uintptr_t d = (uintptr_t)data;
    if (d < u->piece || d + len > u->piece_end) /* a copy: the event was cut */
        return memmem(data, len, "\"usage\"", 7);
    if (!u->searched || (u->usage_at && (uintptr_t)u->usage_at < d)) {
        u->searched = true;
        u->usage_at = memmem(data, u->piece_end - d, "\"usage\"", 7);
    }
    return u->usage_at && (uintptr_t)u->usage_at + 7 <= d + len ? u->usage_at : NULL;
}

/* One event; a truncated one (its last SY_SSE_TAIL bytes: a Responses response.completed that
 * carries the whole response) still gives usage, but is no token event. */
static void sse_event(void *ud, const char *data, size_t len, bool truncated)
{
    struct sy_usage_sse *u = ud;
    const char *at = usage_in(u, data, len);
    if (at)
        scan_from(u->kind, data, len, at, u->prompt, u->completion, u->cached);
    if (u->dec->ep &&
        !truncated) /* role-only chunks are no token until every choice has had its first */
        u->events += sy_decode_sse_token(data, len, sy_usage_stream_format(u->kind), at != NULL,
                                         u->dec->choices - u->dec->generated - u->events);
}

void sy_usage_sse_init(struct sy_usage_sse *u, struct sy_decode *dec, int64_t *prompt,
                       int64_t *completion, int64_t *cached)
{
    memset(u, 0, sizeof *u);
    sy_sse_lines_init(&u->lines, sse_event, u);
    u->dec = dec;
    u->prompt = prompt;
    u->completion = completion;
    u->cached = cached;
}

void sy_usage_sse_fini(struct sy_usage_sse *u)
{
    sy_sse_lines_fini(&u->lines);
}

static _Atomic uint64_t truncated_total; /* sy_usage_sse_truncated_total */
static _Atomic uint64_t warned_at_ns;    /* the last warning about them, 0 none yet */

uint64_t sy_usage_sse_truncated_total(void)
{
    return atomic_load_explicit(&truncated_total, memory_order_relaxed);
}

/* Moves the decode work by what the last piece brought; counts truncated events, and logs them
 * at most once a minute process-wide (a stream of them must not flood the log). */
static void sse_settle(struct sy_usage_sse *u)
{
    sy_decode_sse(u->dec, u->events, *u->completion);
    u->events = 0;
    if (u->lines.truncated == u->truncated)
        return;
    atomic_fetch_add_explicit(&truncated_total, u->lines.truncated - u->truncated,
                              memory_order_relaxed);
    u->truncated = u->lines.truncated;
    uint64_t now = sy_now_ns(), last = atomic_load_explicit(&warned_at_ns, memory_order_relaxed);
    if ((last == 0 || now - last >= 60000000000ull) &&
        atomic_compare_exchange_strong(&warned_at_ns, &last, now))
        sy_warn("SSE: an event with data over %d bytes was read from its last %d bytes (usage) "
                "and not counted as a token (switchyard_sse_events_truncated_total; logged at "
                "most once a minute)",
                SY_SSE_LINE_CAP, SY_SSE_TAIL);
}

void sy_usage_sse_feed(struct sy_usage_sse *u, enum sy_api_kind kind, const char *data, size_t n)
{
    u->kind = kind;
    u->piece = (uintptr_t)data;
    u->piece_end = (uintptr_t)data + n;
    u->searched = false;
    u->usage_at = NULL;
    sy_sse_lines_feed(&u->lines, data, n);
    sse_settle(u);
}

void sy_usage_sse_end(struct sy_usage_sse *u)
{
    u->piece = u->piece_end = 0; /* what finish hands over is a copy */
    sy_sse_lines_finish(&u->lines);
    sse_settle(u);
}
