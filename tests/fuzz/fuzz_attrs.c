/* libFuzzer target for src/pool/attrs.c: the first line of the input is an endpoint-attribute
 * selector (`name` or `name{label=value,...}`, from a user's config), the rest a /metrics body.
 * Registering must succeed or fail with a message, and scraping any body into an endpoint must
 * leave every registered attribute either absent or finite, with no crash, leak or sanitizer
 * report. The registry is process-wide and bounded, so later inputs exercise the parser and the
 * matcher against the selectors registered so far.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool/attrs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t sel_len = nl ? (size_t)(nl - data) : size;
    char *sel = malloc(sel_len + 1);
    memcpy(sel, data, sel_len);
    sel[sel_len] = '\0';
    char err[256];
    err[0] = 'x';
    int slot = sy_attr_register(sel, err, sizeof err);
    if (slot < 0 && (!err[0] || err[0] == 'x'))
        abort(); /* a refusal carries a message */
    free(sel);
    static struct sy_endpoint ep; /* only the attribute fields are used */
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t body_len = nl ? size - sel_len - 1 : 0;
    sy_attr_scrape(&ep, body, body_len);
    for (int i = 0; i < SY_ATTR_MAX; i++) {
        double v;
        if (sy_endpoint_attr(&ep, i, &v) && !isfinite(v))
            abort(); /* non-finite samples are skipped and an overflowed sum is absent */
    }
    return 0;
}
