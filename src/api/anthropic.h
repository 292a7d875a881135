/* anthropic.h - the Anthropic Messages API (POST /v1/messages) as the gateway and the simulator
 * see it: request validation and prompt span, Anthropic-shaped errors and usage, and the
 * conversion to an OpenAI chat request that vLLM applies before its chat template.
 */
#ifndef SY_API_ANTHROPIC_H
#define SY_API_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/json_scan.h"
#include "api/request.h"
#include "core/str.h"

struct sy_buf;

/* The shape check's state, filled during sy_anthropic_scan (anthropic.c). */
struct sy_anthropic_shape {
    int err;            /* SY_EINVAL once a check failed */
    char why[200];      /* its reason */
    int mode;           /* walking: 0 nothing, 1 `messages`, 2 `system` */
    size_t msg;         /* current message (or system block) */
    size_t block;       /* current content block */
    size_t nmsgs;       /* messages seen */
    size_t nblocks;     /* blocks in the current content list */
    bool role, content; /* the current message has them */
    bool type, text;    /* the current block has a string type / text */
};

/* What the scan of a Messages body recorded beyond the OpenAI fields. */
struct sy_anthropic_fields {
    struct sy_str system;            /* raw value of `system` (empty view if absent) */
    enum sy_json_type system_type;   /* its type (valid when system.len) */
    bool have_max_tokens;            /* `max_tokens` was present and valid */
    struct sy_anthropic_shape shape; /* the Messages shape check */
};

/* One validating pass over a Messages body (exactly one JSON object, checked as
 * sy_json_scan_object checks it): every top-level member goes to top(ud, ...) as
 * sy_json_scan_object reports it, and on the way the `messages` and `system` lists are checked
 * into f->shape (descending only into messages, their content blocks and system blocks).
 * Returns 0, or SY_EPARSE with *err_off and a reason in err (malformed JSON). */
int sy_anthropic_scan(const char *body, size_t len, sy_json_member_fn *top, void *ud,
                      struct sy_anthropic_fields *f, size_t *err_off, char *err, size_t errcap);

/* Completes req (kind SY_API_MESSAGES, model/stream/max_tokens already recorded, req->prompt the
 * raw `messages` array or empty) from the scan's fields: the Messages shape (messages a non-empty
 * list of {role: user|assistant, content: string or non-empty list of typed blocks}, system a
 * string or a list of text blocks, max_tokens >= 1 present), and req->prompt set to the span from
 * the first of system/messages to the end of the last (views into the body, nothing allocated).
 * Returns 0 or SY_EINVAL with the reason in err. */
int sy_anthropic_finish(struct sy_request *req, const struct sy_anthropic_fields *f, char *err,
                        size_t errcap);

/* Anthropic's error type for an HTTP status (invalid_request_error, not_found_error, ...). */
const char *sy_anthropic_error_type(int status);

/* Appends {"type":"error","error":{"type":...,"message":...}} for status to b. */
void sy_anthropic_error_json(struct sy_buf *b, int status, const char *message);

/* The SSE event that ends a stream broken after its first byte (event: error). */
extern const char sy_anthropic_stream_error_event[];

/* Reads usage from Anthropic-shaped text (a whole response, or complete SSE lines): input_tokens,
 * output_tokens, cache_read_input_tokens of the last usage object that has them; a value not
 * found leaves its output unchanged. message_start carries input_tokens, message_delta
 * output_tokens, so feeding the events in order leaves the final figures. */
void sy_anthropic_usage(const char *text, size_t len, int64_t *input, int64_t *output,
                        int64_t *cached);

/* Converts a Messages request body to the OpenAI chat request vLLM builds from it before
 * rendering the chat template (vllm/entrypoints/anthropic/serving_messages.py): system first as a
 * system message, text/image/tool_use/tool_result blocks mapped as vLLM maps them, tools as
 * functions. Returns 0 with a malloc'd JSON text in *out (caller frees), or SY_EPARSE/SY_EINVAL
 * with a reason in err. */
int sy_anthropic_to_chat(const char *body, size_t len, char **out, size_t *outlen, char *err,
                         size_t errcap);

#endif
