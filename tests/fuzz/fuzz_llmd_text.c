/* libFuzzer target for src/sched/llmd_text.c (Go's encoding/json over llm-d's request structs)
 * and the vllm tokenizer backend's answer parser (src/sched/token_vllm.c): any bytes as a
 * `messages` array, a chat request body, a JSON value or a tokenizer answer must be handled
 * cleanly (no crash, leak, hang or sanitizer report). Checked properties: a marshalled messages
 * array is valid JSON that marshals again, to itself when the input was valid UTF-8 (Go's output
 * is then a fixed point), and a failed marshal leaves the output buffer as it was.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/buf.h"
#include "prefix/hash.h"
#include "sched/llmd_text.h"
#include "sched/token_vllm.h"

static struct sy_token_vllm *tv;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    if (!tv) {
        char err[256];
        tv = sy_token_vllm_new(NULL, "m", NULL, err, sizeof err); /* url: localhost:8000 */
        if (!tv)
            abort();
    }
    const char *p = (const char *)data;
    struct sy_buf a, b;
    sy_buf_init(&a);
    sy_buf_init(&b);
    sy_buf_puts(&a, "x");
    if (sy_llmd_chat_marshal((struct sy_str){p, size}, &a) == 0) {
        cJSON *v = cJSON_ParseWithLength(a.data + 1, a.len - 1);
        if (!v)
            abort(); /* Go's output is JSON */
        cJSON_Delete(v);
        /* and a fixed point, except where Go wrote \ufffd for invalid UTF-8 (marshalling again
         * writes the decoded U+FFFD as is, in Go too) */
        if (sy_llmd_chat_marshal((struct sy_str){a.data + 1, a.len - 1}, &b) != 0)
            abort();
        if (!memmem(a.data, a.len, "\\ufffd", 6) &&
            (b.len != a.len - 1 || memcmp(b.data, a.data + 1, b.len) != 0))
            abort();
    } else if (a.len != 1) {
        abort(); /* a failure appends nothing */
    }
    sy_buf_reset(&a);
    struct sy_request req;
    char err[128];
    if (sy_request_parse(SY_API_CHAT_COMPLETIONS, p, size, &req, err, sizeof err) == 0) {
        (void)sy_llmd_chat_estimate_bytes(&req, &a);
        uint64_t h[8];
        sy_prefix_hash_packed(1, a.data ? a.data : "", a.len, 16, 8, h, 8);
        char salt[64];
        (void)sy_llmd_cache_salt(&req, salt, sizeof salt);
    }
    cJSON *v = cJSON_ParseWithLength(p, size);
    if (v) {
        sy_buf_reset(&a);
        sy_llmd_go_any(&a, v);
        cJSON_Delete(v);
    }
    struct sy_token_vllm_call call;
    memset(&call, 0, sizeof call);
    struct sy_token_vllm_result res;
    sy_token_vllm_finish(tv, &call, 0, 200, p, size, &res);
    if (res.ok && res.n && !res.ids)
        abort();
    free(res.ids);
    sy_buf_fini(&a);
    sy_buf_fini(&b);
    return 0;
}
