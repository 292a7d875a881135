/* jinja.h - a Jinja2 subset for Hugging Face chat templates.
 *
 * Large enough for the chat_template strings shipped with Qwen3, Llama 3.x, DeepSeek-V3 and
 * gpt-oss: text, {{ }}, {% if/elif/else %}, {% for %} (loop.*, else, inline if), {% set %}
 * (names, tuples, ns.attr, block set), {% macro %}, break/continue, comments, whitespace control
 * and the trim_blocks/lstrip_blocks mode transformers uses; expressions with literals, member and
 * index access, slicing, calls with keyword arguments, filters, tests, arithmetic, comparisons,
 * `in`, `~`, boolean operators and the inline `a if c else b`. Globals: namespace(), range(),
 * raise_exception(), strftime_now(). Unknown filters, tests and methods are render errors.
 *
 * A compiled template is immutable; rendering keeps all its state in a per-call arena, so one
 * template may be rendered by several threads at once.
 */
#ifndef SY_TOKENIZE_JINJA_H
#define SY_TOKENIZE_JINJA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/buf.h"

struct sy_jinja;

/* Compiles src[0..len). Returns NULL and writes "line N: reason" into err on a syntax error.
 * Caller frees with sy_jinja_free(). */
struct sy_jinja *sy_jinja_compile(const char *src, size_t len, char *err, size_t errcap);

void sy_jinja_free(struct sy_jinja *t);

/* Renders t with the variables of the JSON object vars (borrowed; may be NULL) and appends the
 * output to out. Returns 0, or SY_EPARSE with the reason in err (raise_exception messages are
 * passed through verbatim), or SY_ETOOBIG when the output or the work exceeds the built-in limits
 * (SY_JINJA_MAX_OUTPUT bytes, SY_JINJA_MAX_STEPS evaluation steps). */
int sy_jinja_render(const struct sy_jinja *t, const cJSON *vars, struct sy_buf *out, char *err,
                    size_t errcap);

#define SY_JINJA_MAX_OUTPUT (16u << 20) /* bytes of output per render (arena: 4x) */
#define SY_JINJA_MAX_STEPS  20000000u   /* evaluation steps per render (loops, calls) */

#endif
