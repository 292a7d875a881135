/* request.h - the parsed view of one OpenAI-API request (struct sy_request).
 *
 * The body is parsed exactly once, by a validating single-pass scanner that records where the
 * top-level fields are (views into the body) and allocates nothing; the body itself is forwarded
 * unchanged. Everything downstream (admission, scheduler, proxy, observers) reads this view.
 */
#ifndef SY_API_REQUEST_H
#define SY_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

enum sy_api_kind {
    SY_API_COMPLETIONS,      /* POST /v1/completions */
    SY_API_CHAT_COMPLETIONS, /* POST /v1/chat/completions */
    SY_API_RESPONSES,        /* POST /v1/responses */
    SY_API_EMBEDDINGS,       /* POST /v1/embeddings */
    SY_API_MESSAGES,         /* POST /v1/messages (Anthropic Messages API, api/anthropic.h) */
    SY_API_GENERATE,         /* POST /inference/v1/generate (vLLM's token-in API) */
    SY_API_OTHER             /* anything else that is forwarded as is */
};

struct sy_request {
    enum sy_api_kind kind; /* which API */
    const char *body;      /* borrowed: the raw body as received */
    size_t body_len;       /* its length */
    char model[256];       /* `model`, unescaped; "" if absent */
    bool stream;           /* `stream: true` */
    int64_t max_tokens;    /* max_tokens / max_completion_tokens / max_output_tokens; -1 */
    int32_t choices;       /* sequences generated: max(n, best_of, 1) */
    /* The text prefix-aware scheduling hashes (llm-d's choice per API): completions: the raw JSON
     * span of `prompt`; chat: the raw span of the `messages` array; responses: the span from
     * `instructions`/`input`; embeddings: `input`; messages: the span from `system` to the end of
     * `messages`; generate: the `token_ids` array. A view into body (escapes left in place). */
    struct sy_str prompt;
    uint32_t prompt_tokens_est;  /* estimated prompt tokens (llm-d: 4 characters per token) */
    struct sy_str session_token; /* x-session-token header value, or empty */
    struct sy_str request_id;    /* x-request-id (client's or generated) */
    struct sy_str lora;          /* same as model; kept separate for LoRA-affinity semantics */
    struct sy_str cache_salt;    /* `cache_salt` string body (escapes in place), or empty */
    void *tokens; /* optional token ids producer output (owned by the scheduler ctx) */
    /* The request's headers as received (borrowed from the HTTP request; NULL/0 when the caller
     * has none). Plugins read them with sy_request_header (llm-d: InferenceRequest.Headers). */
    const struct sy_str *header_names;
    const struct sy_str *header_values;
    size_t nheaders;
    double slo_ttft_ms; /* x-slo-ttft-ms (or x-llm-d-slo-ttft-ms), 0 = none (latency/slo.h) */
    double slo_tpot_ms; /* x-slo-tpot-ms (or x-llm-d-slo-tpot-ms), 0 = none */
    int32_t priority;   /* flow-control priority band (set by the gateway), 0 = default */
};

/* Looks up a request header by name, case-insensitively; false when absent. */
bool sy_request_header(const struct sy_request *req, const char *name, struct sy_str *value);

/* Fills req from body. On error returns SY_EPARSE (malformed JSON, err says where) or SY_EINVAL
 * (valid JSON but a required field is missing or of the wrong type, err says which). */
int sy_request_parse(enum sy_api_kind kind, const char *body, size_t len, struct sy_request *req,
                     char *err, size_t errcap);
/* A request forwarded without reading its body (llm-d's passthrough-parser): kind SY_API_OTHER,
 * no model, no prompt; body borrowed. Returns 0. */
int sy_request_passthrough(const char *body, size_t len, struct sy_request *req);
/* Maps a path to an API kind; SY_API_OTHER when it is not one of the six. */
enum sy_api_kind sy_api_kind_from_path(const char *path, size_t len);

#endif
