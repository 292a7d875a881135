/* libFuzzer target for src/kvevents/decode.c: the msgpack KVEventBatch decoder, the topic and the
 * sequence frame parsers.
 *
 * Beyond "no crash, no sanitizer report", it checks the decoder's contract on every input: the
 * return code is 0 or a known negative code, string views lie inside the input, array lengths
 * respect the bounds, a successful decode delivers at most nevents events, and a failed one
 * delivers none (validation precedes the callbacks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "kvevents/decode.h"

struct ctx {
    const uint8_t *base; /* input start */
    size_t len;          /* input length */
    size_t events;       /* callbacks seen */
};

static void check_view(const struct ctx *c, struct sy_str v)
{
    if (v.len &&
        ((const uint8_t *)v.p < c->base || (const uint8_t *)v.p + v.len > c->base + c->len))
        abort();
}

static int on_event(void *ud, const struct sy_kv_event *ev)
{
    struct ctx *c = ud;
    c->events++;
    if (ev->nhashes > SY_KV_MAX_HASHES || ev->ntokens > SY_KV_MAX_TOKENS)
        abort();
    uint64_t acc = 0;
    for (size_t i = 0; i < ev->nhashes; i++)
        acc ^= ev->hashes[i];
    for (size_t i = 0; i < ev->ntokens; i++)
        acc ^= ev->tokens[i];
    (void)acc;
    check_view(c, ev->medium);
    check_view(c, ev->lora_name);
    check_view(c, ev->spec_kind);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sy_kv_decoder d;
    struct ctx c = {data, size, 0};
    struct sy_kv_batch b;
    int rc = sy_kv_decode_batch(&d, data, size, &b, on_event, &c);
    if (rc != 0 && rc != SY_EPARSE && rc != SY_ETOOBIG && rc != SY_ENOMEM)
        abort();
    if (rc != 0 && c.events != 0)
        abort();
    if (rc == 0 && c.events > b.nevents)
        abort();
    struct sy_str pod, model;
    if (sy_kv_parse_topic(data, size, &pod, &model) == 0) {
        struct ctx t = {data, size, 0};
        check_view(&t, pod);
        check_view(&t, model);
        if (!pod.len || !model.len)
            abort();
    }
    uint64_t seq;
    if ((sy_kv_parse_seq(data, size, &seq) == 0) != (size >= 8))
        abort();
    return 0;
}
