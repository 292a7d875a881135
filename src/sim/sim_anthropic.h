/* sim_anthropic.h - the simulator's Anthropic Messages API (/v1/messages) output: the same engine
 * request as a chat completion, written as Anthropic's message object or event stream. */
#ifndef SY_SIM_ANTHROPIC_H
#define SY_SIM_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_buf;

/* One response's identity and figures, as sim_server.c knows them. */
struct sy_sim_anth {
    const char *id;     /* "msg_..." */
    const char *model;  /* served model */
    uint32_t n_prompt;  /* prompt tokens (usage.input_tokens, as vLLM reports them) */
    uint32_t n_cached;  /* prompt tokens served from the prefix cache */
    uint32_t n_output;  /* tokens generated so far */
    const char *finish; /* OpenAI finish reason ("length" | "stop"), at the end */
};

/* Streaming: the events for one generated token (message_start, content_block_start and a ping
 * before the first). */
void sy_sim_anth_token(struct sy_buf *b, const struct sy_sim_anth *a, const char *text);
/* Streaming: the closing events (content_block_stop, message_delta with usage, message_stop). */
void sy_sim_anth_stream_end(struct sy_buf *b, const struct sy_sim_anth *a);
/* Non-streaming: the whole message object. */
void sy_sim_anth_message(struct sy_buf *b, const struct sy_sim_anth *a, const char *text,
                         size_t len);
/* Anthropic's stop_reason for an OpenAI finish reason (vLLM's map). */
const char *sy_sim_anth_stop_reason(const char *finish);

#endif
