/* libFuzzer target for src/extproc/pb.c and msg.c: ProcessingRequest and HealthCheckRequest
 * decoding. Beyond "no crash": every decoded view lies inside the input, counts stay within
 * their caps, and a decoded request re-encodes (route answer, body chunks) without error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extproc/msg.h"

static const uint8_t *base;
static size_t blen;

static void inside(struct sy_str v)
{
    if (v.len && ((const uint8_t *)v.p < base || (const uint8_t *)v.p + v.len > base + blen))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sy_xp_req r;
    char err[160];
    base = data;
    blen = size;
    if (sy_xp_decode(data, size, &r, err, sizeof err) == 0) {
        if (r.nheaders > SY_XP_MAX_HEADERS || r.nsubset > SY_XP_MAX_SUBSET)
            abort();
        for (size_t i = 0; i < r.nheaders; i++) {
            inside(r.names[i]);
            inside(r.values[i]);
        }
        for (size_t i = 0; i < r.nsubset; i++)
            inside(r.subset[i]);
        inside(r.body);
        inside(r.served);
        struct sy_buf b;
        sy_buf_init(&b);
        struct sy_xp_set set[SY_XP_MAX_HEADERS];
        char names[SY_XP_MAX_HEADERS][32];
        for (size_t i = 0; i < r.nheaders; i++) {
            size_t n = r.names[i].len < 31 ? r.names[i].len : 31;
            memcpy(names[i], r.names[i].p ? r.names[i].p : "", n);
            names[i][n] = '\0';
            set[i].name = names[i];
            set[i].value = r.values[i];
        }
        sy_xp_put_route(&b, set, r.nheaders, "10.0.0.1:8000");
        sy_xp_put_body_chunk(&b, SY_XP_REQUEST_BODY, r.body.p, r.body.len, r.end_of_stream);
        struct sy_xp_req again;
        /* the body chunk we wrote is not a ProcessingRequest, but decoding it must not crash */
        (void)sy_xp_decode(b.data, b.len, &again, err, sizeof err);
        sy_buf_fini(&b);
    }
    struct sy_str svc;
    if (sy_health_decode(data, size, &svc) == 0)
        inside(svc);
    return 0;
}
