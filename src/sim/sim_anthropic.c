/* sim_anthropic.c - the simulator's Anthropic Messages API output (see sim_anthropic.h).
 *
 * sim_server.c runs a /v1/messages request exactly like a chat completion: the body is checked
 * with the gateway's Messages parser (api/anthropic.h), converted to the chat request vLLM builds
 * from it (system first), rendered and tokenized the same way, and submitted to the same engine.
 * Only the output differs, and this file writes it:
 *
 *   stream:  event: message_start        message{id, model, usage{input_tokens, output_tokens 0,
 *                                         cache_read_input_tokens}}
 *            event: content_block_start  index 0, text ""
 *            event: ping
 *            event: content_block_delta  text_delta per token
 *            event: content_block_stop
 *            event: message_delta        delta{stop_reason}, usage{output_tokens}
 *            event: message_stop
 *   else:    {id, type: message, role: assistant, model, content: [{type: text, text}],
 *             stop_reason, stop_sequence: null, usage{input_tokens, output_tokens,
 *             cache_read_input_tokens, cache_creation_input_tokens: 0}}
 *
 * input_tokens is the whole prompt, as vLLM reports it (Anthropic's own API excludes cache reads
 * from input_tokens; vLLM passes prompt_tokens through). Stop reasons follow vLLM's map:
 * stop -> end_turn, length -> max_tokens, tool_calls -> tool_use.
 */
#include "sim/sim_anthropic.h"

#include <string.h>

#include "core/buf.h"

const char *sy_sim_anth_stop_reason(const char *finish)
{
    if (finish && !strcmp(finish, "length"))
        return "max_tokens";
    if (finish && !strcmp(finish, "tool_calls"))
        return "tool_use";
    return "end_turn";
}

static void usage(struct sy_buf *b, const struct sy_sim_anth *a, uint32_t output)
{
    sy_buf_printf(b,
                  "\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u,"
                  "\"cache_read_input_tokens\":%u,\"cache_creation_input_tokens\":0}",
                  a->n_prompt, output, a->n_cached);
}

static void message_head(struct sy_buf *b, const struct sy_sim_anth *a)
{
    sy_buf_puts(b, "{\"id\":");
    sy_buf_json_str(b, a->id, strlen(a->id));
    sy_buf_puts(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sy_buf_json_str(b, a->model, strlen(a->model));
}

void sy_sim_anth_token(struct sy_buf *b, const struct sy_sim_anth *a, const char *text)
{
    if (a->n_output == 1) {
        sy_buf_puts(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
        message_head(b, a);
        sy_buf_puts(b, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,");
        usage(b, a, 0);
        sy_buf_puts(b, "}}\n\n");
        sy_buf_puts(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                       "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        sy_buf_puts(b, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }
    sy_buf_puts(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                   "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":");
    sy_buf_json_str(b, text, strlen(text));
    sy_buf_puts(b, "}}\n\n");
}

void sy_sim_anth_stream_end(struct sy_buf *b, const struct sy_sim_anth *a)
{
    sy_buf_puts(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                   "\"index\":0}\n\n");
    sy_buf_printf(b,
                  "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                  "{\"stop_reason\":\"%s\",\"stop_sequence\":null},",
                  sy_sim_anth_stop_reason(a->finish));
    usage(b, a, a->n_output);
    sy_buf_puts(b, "}\n\n");
    sy_buf_puts(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

void sy_sim_anth_message(struct sy_buf *b, const struct sy_sim_anth *a, const char *text,
                         size_t len)
{
    message_head(b, a);
    sy_buf_puts(b, ",\"content\":[{\"type\":\"text\",\"text\":");
    sy_buf_json_str(b, text ? text : "", text ? len : 0);
    sy_buf_printf(b, "}],\"stop_reason\":\"%s\",\"stop_sequence\":null,",
                  sy_sim_anth_stop_reason(a->finish));
    usage(b, a, a->n_output);
    sy_buf_puts(b, "}");
}
