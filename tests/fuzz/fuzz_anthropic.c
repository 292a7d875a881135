/* libFuzzer target for src/api/anthropic.c: any bytes as an Anthropic Messages body (and as a
 * /inference/v1/generate body) must parse or fail cleanly with a message; a parse that succeeds
 * leaves the prompt span inside the body; the conversion to a chat request must give
 * NUL-terminated JSON that parses back, or fail with a message; the usage scan must not read out
 * of bounds on any text (no crash, leak or sanitizer report). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/request.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const char *body = (const char *)data;
    struct sy_request r;
    char err[256];
    err[0] = '\0';
    int rc = sy_request_parse(SY_API_MESSAGES, body, size, &r, err, sizeof err);
    if (rc == 0) {
        if (r.prompt.len && (r.prompt.p < body || r.prompt.p + r.prompt.len > body + size))
            abort();
        char *out = NULL;
        size_t len = 0;
        err[0] = '\0';
        int crc = sy_anthropic_to_chat(body, size, &out, &len, err, sizeof err);
        if (crc == 0) {
            if (!out || strlen(out) != len)
                abort();
            cJSON *back = cJSON_ParseWithLength(out, len);
            if (!cJSON_IsObject(back))
                abort();
            cJSON_Delete(back);
            free(out);
        } else if (err[0] == '\0' || out) {
            abort();
        }
    } else if ((rc != SY_EPARSE && rc != SY_EINVAL) || err[0] == '\0') {
        abort();
    }
    err[0] = '\0';
    rc = sy_request_parse(SY_API_GENERATE, body, size, &r, err, sizeof err);
    if (rc != 0 && err[0] == '\0')
        abort();
    int64_t in = -1, o = -1, c = -1;
    sy_anthropic_usage(body, size, &in, &o, &c);
    return 0;
}
