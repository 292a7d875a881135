/* chat.h - chat templates from tokenizer_config.json and the OpenAI request -> template context
 * builder (module-internal: used by tokenizer.c and the unit tests). */
#ifndef SY_TOKENIZE_CHAT_H
#define SY_TOKENIZE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

struct sy_chat;
struct cJSON;

/* Parses tokenizer_config.json text (borrowed) from model directory dir: chat_template (a string,
 * or a list of {name, template} where "default" wins; DIR/chat_template.jinja when the config has
 * none), bos_token and eos_token (strings or {"content": ...}). Returns NULL with err[0] == '\0'
 * when there is no template, or NULL with a message in err on an error. */
struct sy_chat *sy_chat_load(const char *dir, const char *config, size_t len, char *err,
                             size_t errcap);

void sy_chat_free(struct sy_chat *c);

/* Renders messages (a JSON array) and optional tools (a JSON array, may be NULL) as the request
 * {"messages", "tools", "add_generation_prompt"} through sy_chat_render_request()'s path. Returns
 * 0 with a malloc'd NUL-terminated *out, or SY_EPARSE/SY_ETOOBIG with a reason in err. */
int sy_chat_render(const struct sy_chat *c, const char *messages, size_t len, const char *tools,
                   size_t tools_len, bool add_generation_prompt, char **out, size_t *outlen,
                   char *err, size_t errcap);

/* Renders an OpenAI chat request body (len bytes of JSON) as vLLM does: the context of
 * sy_chat_context(), then continue_final_message's cut. Same results and errors as
 * sy_chat_render(). */
int sy_chat_render_request(const struct sy_chat *c, const char *body, size_t len, char **out,
                           size_t *outlen, char *err, size_t errcap);

/* Builds the chat template's variables from an OpenAI chat request object (borrowed) exactly as
 * vLLM does (chat_context.c says what that is): messages rebuilt, tools as model_dump() gives them,
 * documents, add_generation_prompt, bos/eos (may be NULL), chat_template_kwargs merged last.
 * Returns 0 with *ctx (caller frees with cJSON_Delete()) and *continue_final (the effective
 * continue_final_message), or SY_EPARSE with the offending field in err (what vLLM answers 400). */
int sy_chat_context(const struct cJSON *req, const char *bos, const char *eos, struct cJSON **ctx,
                    bool *continue_final, char *err, size_t errcap);

#endif
