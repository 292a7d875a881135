/* usage.c - the token counts a response reports (see usage.h).
 *
 * Best effort by design: the gateway forwards responses as they come and reads their usage with a
 * key search over the last "usage" object rather than a JSON parse of every event (the proxy runs
 * this on each SSE read that mentions "usage"). A number that is not found changes nothing.
 * Anthropic's events split the counts (message_start has input_tokens, message_delta
 * output_tokens), which api/anthropic.c reads.
 */
#include "api/usage.h"

#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"

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

void sy_usage_scan(enum sy_api_kind kind, const char *text, size_t len, int64_t *prompt,
                   int64_t *completion, int64_t *cached)
{
    if (kind == SY_API_MESSAGES) { /* Anthropic: input_tokens, output_tokens, ... */
        sy_anthropic_usage(text, len, prompt, completion, cached);
        return;
    }
    const char *u = NULL;
    for (size_t i = 0; i + 7 <= len; i++) {
        if (text[i] == '"' && memcmp(text + i, "\"usage\"", 7) == 0)
            u = text + i;
    }
    if (!u)
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

enum sy_decode_format sy_usage_stream_format(enum sy_api_kind kind)
{
    switch (kind) {
    case SY_API_MESSAGES: return SY_DECODE_ANTHROPIC;
    case SY_API_RESPONSES: return SY_DECODE_RESPONSES;
    case SY_API_COMPLETIONS: return SY_DECODE_TEXT;
    default: return SY_DECODE_OPENAI;
    }
}
