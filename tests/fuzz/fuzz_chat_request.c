/* libFuzzer target for src/tokenize/chat_context.c and chat.c's request path: any bytes as an
 * OpenAI chat request body must render or fail cleanly (no crash, leak, hang or sanitizer report;
 * a failure carries a message), and a rendering is NUL-terminated at its reported length.
 *
 * The template prints every variable the context builder produces (messages with tool calls and
 * reasoning, tools, documents, kwargs) so that all of it is walked, and ends each message with
 * its content so continue_final_message's cut finds it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "tokenize/chat.h"

static const char config[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"chat_template\": "
    "\"{{ bos_token }}{% if tools %}{{ tools | tojson }}{% endif %}{{ documents | tojson }}"
    "{{ enable_thinking }}{% for m in messages %}[{{ m.role }}|{{ m.name }}|{{ m.tool_call_id }}]"
    "{% for c in m.tool_calls or [] %}{{ c.function.name }}{{ c.function.arguments | tojson }}"
    "{% endfor %}{{ m.reasoning_content }}{{ m.content }}{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}\"}";

static struct sy_chat *chat;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    if (!chat) {
        char err[256];
        chat = sy_chat_load("/nonexistent", config, sizeof config - 1, err, sizeof err);
        if (!chat)
            abort();
    }
    char *out = NULL, err[256];
    size_t len = 0;
    err[0] = 'x';
    int rc = sy_chat_render_request(chat, (const char *)data, size, &out, &len, err, sizeof err);
    if (rc == 0) {
        if (!out || strlen(out) != len)
            abort();
        free(out);
    } else if ((rc != SY_EPARSE && rc != SY_ETOOBIG) || err[0] == '\0' || out) {
        abort();
    }
    return 0;
}
