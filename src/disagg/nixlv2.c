/* nixlv2.c - vLLM's NixlConnector protocol (llm-d sidecar connector_nixlv2.go; vLLM toy proxy).
 *
 *   prefill leg: the client's body with kv_transfer_params = {"do_remote_decode":true,
 *                "do_remote_prefill":false,"remote_engine_id":null,"remote_block_ids":null,
 *                "remote_host":null,"remote_port":null}, stream false, stream_options removed,
 *                max_tokens 1 (max_output_tokens for /v1/responses), max_completion_tokens 1
 *                where present, min_tokens removed
 *   answer:      must carry a kv_transfer_params object; choices[0].finish_reason, when present,
 *                must be "length" or "stop" (vLLM fills the params only then); the answer's
 *                usage.prompt_tokens_details.cached_tokens is kept for the client's usage
 *   decode leg:  the client's body plus kv_transfer_params = the answer's object, verbatim
 *                (opaque: its fields differ between vLLM versions)
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "disagg/internal.h"

#define SV(s) ((struct sy_str){(s), sizeof(s) - 1})

static int prefill_body(struct sy_disagg *dx, struct sy_buf *out, char *err, size_t errcap)
{
    static const char params[] = "{\"do_remote_decode\":true,\"do_remote_prefill\":false,"
                                 "\"remote_engine_id\":null,\"remote_block_ids\":null,"
                                 "\"remote_host\":null,\"remote_port\":null}";
    bool responses = dx->h.req->kind == SY_API_RESPONSES;
    struct sy_json_edit e[] = {
        {"kv_transfer_params", SV(params), false},
        {"stream", SV("false"), false},
        {"stream_options", {NULL, 0}, false},
        {responses ? "max_output_tokens" : "max_tokens", SV("1"), false},
        {"max_completion_tokens", SV("1"), true},
        {"min_tokens", {NULL, 0}, false},
    };
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    int rc = sy_json_splice(&s, dx->h.req->body, dx->h.req->body_len, e, sizeof e / sizeof e[0],
                            err, errcap);
    if (rc == 0)
        sy_json_splice_flatten(&s, out);
    sy_json_splice_fini(&s);
    return rc;
}

static int take_answer(struct sy_disagg *dx, const char *body, size_t len, char *why, size_t whycap)
{
    enum sy_json_type t;
    struct sy_str v;
    if (!sy_json_member(body, len, "kv_transfer_params", &t, &v) || t != SY_JSON_OBJECT) {
        snprintf(why, whycap, "the prefill answer has no kv_transfer_params");
        return -1;
    }
    dx->params = v;
    struct sy_str ch, c0, fr;
    if (sy_json_member(body, len, "choices", &t, &ch) && t == SY_JSON_ARRAY &&
        sy_json_array_first(ch, &c0) && sy_json_member(c0.p, c0.len, "finish_reason", &t, &fr) &&
        t == SY_JSON_STRING && !(fr.len == 8 && !memcmp(fr.p, "\"length\"", 8)) &&
        !(fr.len == 6 && !memcmp(fr.p, "\"stop\"", 6))) {
        snprintf(why, whycap, "the prefill answer finished with %.*s (expected \"length\")",
                 (int)(fr.len > 40 ? 40 : fr.len), fr.p);
        return -1;
    }
    dx->cached = 0; /* vLLM reports prompt_tokens_details: null when nothing was cached */
    struct sy_str u, d;
    if (sy_json_member(body, len, "usage", &t, &u) && t == SY_JSON_OBJECT &&
        sy_json_member(u.p, u.len, "prompt_tokens_details", &t, &d) && t == SY_JSON_OBJECT) {
        long long c = sy_json_member_int(d.p, d.len, "cached_tokens");
        dx->cached = c >= 0 ? c : 0;
    }
    return 0;
}

static int decode_body(struct sy_disagg *dx, struct sy_json_splice *out, char *err, size_t errcap)
{
    struct sy_json_edit e[] = {{"kv_transfer_params", dx->params, false}};
    return sy_json_splice(out, dx->h.req->body, dx->h.req->body_len, e, 1, err, errcap);
}

const struct sy_disagg_connector sy_disagg_nixlv2 = {
    .name = "nixlv2",
    .prefill_leg = true,
    .prefill_body = prefill_body,
    .take_answer = take_answer,
    .decode_body = decode_body,
};
