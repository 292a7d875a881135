/* tokenizer.h - in-process Hugging Face tokenizer (byte-level BPE) and chat templates.
 *
 * Loads a model directory holding tokenizer.json and tokenizer_config.json (Qwen3, Llama 3,
 * DeepSeek-V3 and gpt-oss shapes) and turns text into the token ids the engine would compute,
 * so the scheduler can hash prompt blocks exactly as vLLM does. Chat requests are first rendered
 * through the model's Jinja chat_template (see jinja.h).
 *
 * A loaded tokenizer is immutable: every function taking a const pointer is safe to call from
 * several threads at once on the same tokenizer.
 */
#ifndef SY_TOKENIZE_TOKENIZER_H
#define SY_TOKENIZE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_tokenizer;

/* Loads DIR/tokenizer.json and DIR/tokenizer_config.json (the latter is optional: without it
 * apply_chat_template fails with SY_ENOTFOUND). Returns NULL and writes a message naming the file
 * and the reason into err (capacity errcap) on failure. Caller frees with sy_tokenizer_free(). */
struct sy_tokenizer *sy_tokenizer_load(const char *dir, char *err, size_t errcap);

/* Frees a tokenizer (NULL is fine). No call may be in flight on it. */
void sy_tokenizer_free(struct sy_tokenizer *tok);

/* Encodes len bytes of text (UTF-8; need not be NUL-terminated; invalid UTF-8 is replaced by
 * U+FFFD like the reference) with add_special_tokens=false semantics: special tokens written in
 * the text are recognised, no BOS is prepended. On success returns 0 and stores a malloc'd array
 * in *ids (caller frees with free(); NULL when *n == 0) and its length in *n. Returns SY_EINVAL
 * on bad arguments, SY_ETOOBIG beyond 1 GiB of text, SY_ENOMEM. Thread-safe for concurrent callers.
 */
int sy_tokenizer_encode(const struct sy_tokenizer *tok, const char *text, size_t len,
                        uint32_t **ids, size_t *n);

/* Renders messages_json (len bytes: a JSON array of {"role", "content", ...} objects as in an
 * OpenAI chat request) through the model's chat_template with bos_token/eos_token from
 * tokenizer_config.json. On success returns 0 and stores a malloc'd NUL-terminated string in
 * *out (caller frees with free()) and its length in *outlen. Returns SY_EPARSE for bad JSON or a
 * template error (including raise_exception), SY_ENOTFOUND when the model has no chat template.
 * Thread-safe for concurrent callers. */
int sy_tokenizer_apply_chat_template(const struct sy_tokenizer *tok, const char *messages_json,
                                     size_t len, bool add_generation_prompt, char **out,
                                     size_t *outlen);

/* Same as sy_tokenizer_apply_chat_template(), and on failure writes a human-readable reason
 * (e.g. the raise_exception message) into err (capacity errcap). */
int sy_tokenizer_render_chat(const struct sy_tokenizer *tok, const char *messages_json, size_t len,
                             bool add_generation_prompt, char **out, size_t *outlen, char *err,
                             size_t errcap);

/* Same as sy_tokenizer_render_chat(), also passing the request's tools (tools_len bytes of a JSON
 * array, as in an OpenAI chat request) to the template; tools == NULL leaves it undefined. */
int sy_tokenizer_render_chat_tools(const struct sy_tokenizer *tok, const char *messages_json,
                                   size_t len, const char *tools_json, size_t tools_len,
                                   bool add_generation_prompt, char **out, size_t *outlen,
                                   char *err, size_t errcap);

/* Renders a whole OpenAI chat request body (len bytes of JSON) the way vLLM does: "messages",
 * "tools", "add_generation_prompt" (default true) and "chat_template_kwargs" (extra template
 * variables such as enable_thinking; they override the others). Same results and errors as
 * sy_tokenizer_render_chat(). This is the call for a gateway that holds the request body. */
int sy_tokenizer_render_request(const struct sy_tokenizer *tok, const char *body_json, size_t len,
                                char **out, size_t *outlen, char *err, size_t errcap);

/* Number of entries in the vocabulary including added tokens (max id + 1). */
size_t sy_tokenizer_vocab_size(const struct sy_tokenizer *tok);

/* Token id of a literal token string (vocab or added token), or -1 when absent. */
int64_t sy_tokenizer_token_id(const struct sy_tokenizer *tok, const char *token);

#endif
