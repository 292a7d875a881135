/* llmd_text.h - the exact bytes llm-d derives from a request for prefix hashing and token
 * estimates (Go's encoding/json output over llm-d's request structs).
 *
 *   v0.8 (GIE v1.5.0 approximateprefix getUserInputBytes):
 *     chat  -> json.Marshal([]Message{Role, Content})       sy_llmd_chat_marshal
 *   router (llm-d-router tokenizer/estimate.go chatCompletionsBytes):
 *     chat  -> json.Marshal(tools) || role || content text  sy_llmd_chat_estimate_bytes
 */
#ifndef SY_SCHED_LLMD_TEXT_H
#define SY_SCHED_LLMD_TEXT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "api/request.h"
#include "core/buf.h"
#include "core/str.h"

/* Appends Go's json.Marshal of a string (HTML-safe: < > & as \u003c \u003e \u0026, U+2028/9
 * escaped, invalid UTF-8 as \ufffd, \b \f \n \r \t short, other controls \u00XX). */
void sy_llmd_go_string(struct sy_buf *b, const char *s, size_t len);

/* Appends Go's json.Marshal of a value decoded into `any` (objects with sorted keys, last
 * duplicate wins; numbers as float64). Borrows v. */
void sy_llmd_go_any(struct sy_buf *b, const cJSON *v);

/* v0.8: appends json.Marshal(messages) as GIE v1.5.0 sees them, from the raw `messages` array
 * text. Returns 0, or SY_EPARSE/SY_EINVAL where Go's decoder would fail (content not a string,
 * list or null; a field of the wrong type) -- llm-d then hashes nothing. */
int sy_llmd_chat_marshal(struct sy_str messages, struct sy_buf *out);

/* Router estimate backend: appends json.Marshal(tools) when the request has tools, then each
 * message's role and text (string content, or the `text` of its text parts), unseparated.
 * Media parts are skipped (llm-d folds placeholder tokens in; not reproduced). Parses the body
 * (req->body). Returns 0 or SY_EPARSE/SY_EINVAL as above. */
int sy_llmd_chat_estimate_bytes(const struct sy_request *req, struct sy_buf *out);

/* Decodes req->cache_salt into out (NUL-terminated). Returns its length (0 when absent or it does
 * not fit). */
size_t sy_llmd_cache_salt(const struct sy_request *req, char *out, size_t cap);

#endif
