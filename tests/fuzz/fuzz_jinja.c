/* libFuzzer target for src/tokenize/jinja_parse.c and jinja_eval.c: any template with any
 * variables must compile-or-fail and render-or-fail cleanly (no crash, leak, hang or sanitizer
 * report; errors carry a message).
 *
 * Input layout: TEMPLATE [ '\0' VARS_JSON ]. VARS_JSON (a JSON object, else ignored) supplies the
 * variables; when absent, a fixed chat-like set is used so the common paths (messages, loops,
 * namespace, filters) get exercised from template bytes alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "tokenize/jinja.h"

static const char default_vars[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", "
    "\"content\": \"hi <think>x</think> y\"}, {\"role\": \"assistant\", \"content\": \"\", "
    "\"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, null]}}}]},"
    " {\"role\": \"tool\", \"content\": \"r\"}], \"tools\": [{\"type\": \"function\"}], "
    "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t tlen = nul ? (size_t)(nul - p) : size;
    cJSON *vars = NULL;
    if (nul)
        vars = cJSON_ParseWithLength(nul + 1, size - tlen - 1);
    if (!cJSON_IsObject(vars)) {
        cJSON_Delete(vars);
        vars = cJSON_Parse(default_vars);
    }
    char err[256];
    err[0] = 'x';
    struct sy_jinja *t = sy_jinja_compile(p, tlen, err, sizeof(err));
    if (!t) {
        if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
            abort(); /* a failure always explains itself, NUL-terminated */
        cJSON_Delete(vars);
        return 0;
    }
    struct sy_buf out;
    sy_buf_init(&out);
    int rc = sy_jinja_render(t, vars, &out, err, sizeof(err));
    if (rc != 0 && rc != SY_EPARSE && rc != SY_ETOOBIG)
        abort();
    if (rc == 0 && out.len > SY_JINJA_MAX_OUTPUT)
        abort();
    sy_buf_fini(&out);
    sy_jinja_free(t);
    cJSON_Delete(vars);
    return 0;
}
