/* usage.h - what a response says about its tokens: the usage object (prompt, output and cached
 * token counts) and how a streamed response of each API marks its tokens (api/usage.c). Shared by
 * the proxy and the ext_proc EPP, which see the same responses in different pieces. */
#ifndef SY_API_USAGE_H
#define SY_API_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "api/request.h"
#include "pool/decode.h"

/* Reads the last usage object in text (a whole response body, or complete SSE lines) of a
 * response to an API of this kind: prompt, completion (output) and cached token counts. A value
 * not found leaves its output unchanged (-1 stays unknown), so feeding a stream's events in order
 * leaves the final figures. Chat / completions: prompt_tokens, completion_tokens,
 * prompt_tokens_details.cached_tokens; Responses: input_tokens, output_tokens; Messages:
 * sy_anthropic_usage. */
void sy_usage_scan(enum sy_api_kind kind, const char *text, size_t len, int64_t *prompt,
                   int64_t *completion, int64_t *cached);

/* How a streamed response to an API of this kind marks its tokens (sy_decode_sse_tokens). */
enum sy_decode_format sy_usage_stream_format(enum sy_api_kind kind);

#endif
