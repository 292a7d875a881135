/* usage.h - what a response says about its tokens: the usage object (prompt, output and cached
 * token counts) and how a streamed response of each API marks its tokens (api/usage.c). Shared by
 * the proxy and the ext_proc EPP, which see the same responses in different pieces. */
#ifndef SY_API_USAGE_H
#define SY_API_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "api/request.h"
#include "api/sse_lines.h"
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

/* A streamed (SSE) response's token accounting, the same in the proxy and the EPP: the body's
 * pieces are cut into events (api/sse_lines.h, bounded); each event's usage object updates the
 * counts (sy_usage_scan) and its token events move the decode work left (sy_decode_sse_token,
 * sy_decode_sse), once per piece. The caller embeds one per request. */
struct sy_usage_sse {
    struct sy_sse_lines lines;  /* the stream's events */
    enum sy_api_kind kind;      /* the API the response answers (from the last feed) */
    struct sy_decode *dec;      /* moved with the tokens (borrowed; nothing counted without ep) */
    int64_t *prompt;            /* usage seen so far, -1 unknown (borrowed, as the next two) */
    int64_t *completion;        /* output tokens */
    int64_t *cached;            /* cached prompt tokens */
    int64_t events;             /* token events the current piece brought */
    uintptr_t piece, piece_end; /* the current piece: an event lying in it is a view into it */
    const char *usage_at;       /* the piece's first "usage" after the last search's start */
    bool searched;              /* the piece was searched (usage_at NULL: none after that start) */
    uint64_t truncated;         /* lines.truncated already added to the process-wide total */
};

/* Embeds u (allocates nothing yet): it counts into dec and the three usage figures, which must
 * outlive it. */
void sy_usage_sse_init(struct sy_usage_sse *u, struct sy_decode *dec, int64_t *prompt,
                       int64_t *completion, int64_t *cached);
void sy_usage_sse_fini(struct sy_usage_sse *u);

/* The next piece data[0..n) (borrowed, split anywhere) of a streamed response to an API of this
 * kind. An event longer than SY_SSE_LINE_CAP is read for usage from its tail but counts as no
 * token (sy_usage_sse_truncated_total; a warning at most once a minute per process). */
void sy_usage_sse_feed(struct sy_usage_sse *u, enum sy_api_kind kind, const char *data, size_t n);

/* The stream ended normally: a last event without its blank line still counts. */
void sy_usage_sse_end(struct sy_usage_sse *u);

/* Events over SY_SSE_LINE_CAP read truncated, all streams of the process
 * (switchyard_sse_events_truncated_total). */
uint64_t sy_usage_sse_truncated_total(void);

#endif
