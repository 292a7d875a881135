/* chat.h - chat templates from tokenizer_config.json (module-internal; used by tokenizer.c). */
#ifndef SY_TOKENIZE_CHAT_H
#define SY_TOKENIZE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

struct sy_chat;

/* Parses tokenizer_config.json text (borrowed) from model directory dir: chat_template (a string,
 * or a list of {name, template} where "default" wins; DIR/chat_template.jinja when the config has
 * none), bos_token and eos_token (strings or {"content": ...}). Returns NULL with err[0] == '\0'
 * when there is no template, or NULL with a message in err on an error. */
struct sy_chat *sy_chat_load(const char *dir, const char *config, size_t len, char *err,
                             size_t errcap);

void sy_chat_free(struct sy_chat *c);

/* Renders messages (a JSON array) and optional tools (a JSON array, may be NULL). Returns 0 with
 * a malloc'd NUL-terminated *out, or SY_EPARSE/SY_ETOOBIG with a reason in err. */
int sy_chat_render(const struct sy_chat *c, const char *messages, size_t len, const char *tools,
                   size_t tools_len, bool add_generation_prompt, char **out, size_t *outlen,
                   char *err, size_t errcap);

/* Renders an OpenAI chat request body: messages, tools, add_generation_prompt (default true) and
 * chat_template_kwargs (extra template variables, e.g. enable_thinking), as vLLM does. */
int sy_chat_render_request(const struct sy_chat *c, const char *body, size_t len, char **out,
                           size_t *outlen, char *err, size_t errcap);

#endif
