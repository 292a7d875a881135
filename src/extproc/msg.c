/* msg.c - ext_proc v3 / grpc.health.v1 encoding and decoding (see msg.h). Field numbers as in
 * the table in docs/kubernetes.md. */
#include "extproc/msg.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extproc/pb.h"

/* ---- decoding ---- */

/* config.core.v3.HeaderMap{headers: repeated HeaderValue{key 1, value 2, raw_value 3}} */
static int decode_header_map(const uint8_t *p, size_t n, struct sy_xp_req *out)
{
    struct sy_pb_reader r, hr;
    struct sy_pb_field f, hf;
    int rc;
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.num != 1 || f.wire != SY_PB_LEN)
            continue;
        if (out->nheaders >= SY_XP_MAX_HEADERS)
            return -2;
        struct sy_str k = {0}, v = {0}, raw = {0};
        bool has_raw = false;
        sy_pb_reader_init(&hr, f.ptr, f.len);
        while ((rc = sy_pb_next(&hr, &hf)) == 1) {
            if (hf.wire != SY_PB_LEN)
                continue;
            struct sy_str s = {(const char *)hf.ptr, hf.len};
            if (hf.num == 1)
                k = s;
            else if (hf.num == 2)
                v = s;
            else if (hf.num == 3) {
                raw = s;
                has_raw = true;
            }
        }
        if (rc < 0)
            return -1;
        out->names[out->nheaders] = k;
        out->values[out->nheaders] = has_raw ? raw : v;
        out->nheaders++;
    }
    return rc;
}

/* HttpHeaders{headers 1, attributes 2, end_of_stream 3} */
static int decode_headers(const uint8_t *p, size_t n, struct sy_xp_req *out)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == SY_PB_LEN) {
            int hr = decode_header_map(f.ptr, f.len, out);
            if (hr < 0)
                return hr;
        } else if (f.num == 3 && f.wire == SY_PB_VARINT) {
            out->end_of_stream = f.u != 0;
        }
    }
    return rc;
}

/* HttpBody{body 1, end_of_stream 2} */
static int decode_body(const uint8_t *p, size_t n, struct sy_xp_req *out)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == SY_PB_LEN)
            out->body = (struct sy_str){(const char *)f.ptr, f.len};
        else if (f.num == 2 && f.wire == SY_PB_VARINT)
            out->end_of_stream = f.u != 0;
    }
    return rc;
}

/* A protobuf map entry {key 1, value 2} whose key and value are both length-delimited (string,
 * message). Sets *k and *v (empty when absent). Returns 0, or -1 when malformed. */
static int map_entry(const uint8_t *p, size_t n, struct sy_str *k, struct sy_str *v)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    *k = (struct sy_str){0};
    *v = (struct sy_str){0};
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.wire != SY_PB_LEN)
            continue;
        if (f.num == 1)
            *k = (struct sy_str){(const char *)f.ptr, f.len};
        else if (f.num == 2)
            *v = (struct sy_str){(const char *)f.ptr, f.len};
    }
    return rc < 0 ? -1 : 0;
}

/* Finds fields[key] in a google.protobuf.Struct{fields: map<string, Value> = 1}; the map entry
 * is {key 1, value 2}. Sets *val to the Value's bytes. Returns 1 found, 0 absent, -1 malformed. */
static int struct_get(const uint8_t *p, size_t n, const char *key, struct sy_str *val)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    size_t kl = strlen(key);
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.num != 1 || f.wire != SY_PB_LEN)
            continue;
        struct sy_str k, v;
        if (map_entry(f.ptr, f.len, &k, &v) < 0)
            return -1;
        if (k.len == kl && memcmp(k.p, key, kl) == 0) {
            *val = v;
            return 1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* A Value's string_value (3), or its list_value (6) of string_values, appended to out[]. */
static int value_strings(struct sy_str v, struct sy_str *out, size_t cap, size_t *n)
{
    struct sy_pb_reader r, lr, vr;
    struct sy_pb_field f, lf, vf;
    int rc;
    sy_pb_reader_init(&r, v.p, v.len);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.wire != SY_PB_LEN)
            continue;
        if (f.num == 3) {
            if (*n < cap)
                out[(*n)++] = (struct sy_str){(const char *)f.ptr, f.len};
        } else if (f.num == 6) {
            sy_pb_reader_init(&lr, f.ptr, f.len);
            while ((rc = sy_pb_next(&lr, &lf)) == 1) {
                if (lf.num != 1 || lf.wire != SY_PB_LEN)
                    continue;
                sy_pb_reader_init(&vr, lf.ptr, lf.len);
                while ((rc = sy_pb_next(&vr, &vf)) == 1)
                    if (vf.num == 3 && vf.wire == SY_PB_LEN && *n < cap)
                        out[(*n)++] = (struct sy_str){(const char *)vf.ptr, vf.len};
                if (rc < 0)
                    return -1;
            }
            if (rc < 0)
                return -1;
        }
    }
    return rc;
}

/* config.core.v3.Metadata{filter_metadata: map<string, Struct> = 1} */
static int decode_metadata(const uint8_t *p, size_t n, struct sy_xp_req *out)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    sy_pb_reader_init(&r, p, n);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        if (f.num != 1 || f.wire != SY_PB_LEN)
            continue;
        struct sy_str k, v;
        if (map_entry(f.ptr, f.len, &k, &v) < 0)
            return -1;
        struct sy_str val;
        if (sy_str_eq_c(k, "envoy.lb.subset_hint")) {
            int g = struct_get((const uint8_t *)v.p, v.len, "x-gateway-destination-endpoint-subset",
                               &val);
            if (g < 0)
                return -1;
            if (g == 1) {
                out->has_subset = true;
                if (value_strings(val, out->subset, SY_XP_MAX_SUBSET, &out->nsubset) < 0)
                    return -1;
            }
        } else if (sy_str_eq_c(k, "envoy.lb")) {
            int g = struct_get((const uint8_t *)v.p, v.len, "x-gateway-destination-endpoint-served",
                               &val);
            if (g < 0)
                return -1;
            size_t ns = 0;
            if (g == 1 && value_strings(val, &out->served, 1, &ns) < 0)
                return -1;
        }
    }
    return rc;
}

int sy_xp_decode(const void *msg, size_t len, struct sy_xp_req *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    sy_pb_reader_init(&r, msg, len);
    while ((rc = sy_pb_next(&r, &f)) == 1) {
        int sub = 0;
        if (f.num >= 2 && f.num <= 7 && f.wire == SY_PB_LEN) {
            out->phase = (enum sy_xp_phase)f.num;
            switch (f.num) {
            case SY_XP_REQUEST_HEADERS:
            case SY_XP_RESPONSE_HEADERS: sub = decode_headers(f.ptr, f.len, out); break;
            case SY_XP_REQUEST_BODY:
            case SY_XP_RESPONSE_BODY: sub = decode_body(f.ptr, f.len, out); break;
            default: /* trailers: HttpTrailers{trailers HeaderMap 1} */ {
                struct sy_pb_reader tr;
                struct sy_pb_field tf;
                sy_pb_reader_init(&tr, f.ptr, f.len);
                while ((sub = sy_pb_next(&tr, &tf)) == 1)
                    if (tf.num == 1 && tf.wire == SY_PB_LEN &&
                        (sub = decode_header_map(tf.ptr, tf.len, out)) < 0)
                        break;
            }
            }
        } else if (f.num == 8 && f.wire == SY_PB_LEN) {
            sub = decode_metadata(f.ptr, f.len, out);
        } else if (f.num == 10 && f.wire == SY_PB_VARINT) {
            out->observability_mode = f.u != 0;
        }
        if (sub == -2) {
            snprintf(err, errcap, "more than %d headers", SY_XP_MAX_HEADERS);
            return -1;
        }
        if (sub < 0) {
            snprintf(err, errcap, "malformed ProcessingRequest (field %u)", f.num);
            return -1;
        }
    }
    if (rc < 0) {
        snprintf(err, errcap, "malformed ProcessingRequest");
        return -1;
    }
    if (out->phase == SY_XP_NONE) {
        snprintf(err, errcap, "ProcessingRequest without a request/response phase");
        return -1;
    }
    return 0;
}

bool sy_xp_header(const struct sy_xp_req *r, const char *name, struct sy_str *out)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (sy_str_case_eq_c(r->names[i], name)) {
            *out = r->values[i];
            return true;
        }
    return false;
}

/* ---- encoding ---- */

/* HeaderMutation{set_headers: [HeaderValueOption{header: {key 1, raw_value 3}, append_action 3}]}
 * written as field num of the enclosing message. */
static void put_mutation(struct sy_buf *b, uint32_t num, const struct sy_xp_set *set, size_t n,
                         const char *const *remove, size_t nremove)
{
    size_t hm = sy_pb_begin(b, num);
    for (size_t i = 0; i < n; i++) {
        size_t hvo = sy_pb_begin(b, 1);
        size_t hv = sy_pb_begin(b, 1);
        sy_pb_put_str(b, 1, set[i].name);
        sy_pb_put_bytes(b, 3, set[i].value.p, set[i].value.len);
        sy_pb_end(b, hv);
        sy_pb_put_uint(b, 3, 2); /* OVERWRITE_IF_EXISTS_OR_ADD */
        sy_pb_end(b, hvo);
    }
    for (size_t i = 0; i < nremove; i++) /* HeaderMutation.remove_headers */
        sy_pb_put_str(b, 2, remove[i]);
    sy_pb_end(b, hm);
}

void sy_xp_put_route(struct sy_buf *b, const struct sy_xp_set *set, size_t nset, const char *dest)
{
    struct sy_xp_route r = {.set = set, .nset = nset, .dest = dest};
    sy_xp_put_route_ex(b, &r);
}

/* Value{string_value} or Value{number_value} under key, as one Struct.fields map entry. */
static void put_entry_str(struct sy_buf *b, const char *key, const char *val)
{
    size_t e = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, key);
    size_t v = sy_pb_begin(b, 2);
    sy_pb_put_str(b, 3, val);
    sy_pb_end(b, v);
    sy_pb_end(b, e);
}

void sy_xp_put_route_ex(struct sy_buf *b, const struct sy_xp_route *r)
{
    size_t hr = sy_pb_begin(b, 1); /* ProcessingResponse.request_headers */
    size_t cr = sy_pb_begin(b, 1); /* HeadersResponse.response */
    put_mutation(b, 2, r->set, r->nset, r->remove, r->nremove);
    sy_pb_put_uint(b, 5, 1); /* clear_route_cache */
    sy_pb_end(b, cr);
    sy_pb_end(b, hr);
    /* dynamic_metadata (8): Struct{fields: {"envoy.lb": Value{struct_value: Struct{fields:
     * {"x-gateway-destination-endpoint": Value{string_value: dest},
     *  "x-gateway-destination-endpoint-scores": Value{struct_value: {ip:port: number}}}}}}} */
    size_t dm = sy_pb_begin(b, 8);
    size_t e1 = sy_pb_begin(b, 1);
    sy_pb_put_str(b, 1, "envoy.lb");
    size_t v1 = sy_pb_begin(b, 2);
    size_t s1 = sy_pb_begin(b, 5);
    put_entry_str(b, "x-gateway-destination-endpoint", r->dest);
    if (r->nscores) {
        size_t e2 = sy_pb_begin(b, 1);
        sy_pb_put_str(b, 1, "x-gateway-destination-endpoint-scores");
        size_t v2 = sy_pb_begin(b, 2);
        size_t s2 = sy_pb_begin(b, 5);
        for (size_t i = 0; i < r->nscores; i++) {
            size_t e3 = sy_pb_begin(b, 1);
            sy_pb_put_str(b, 1, r->scores[i].addr);
            size_t v3 = sy_pb_begin(b, 2);
            sy_pb_put_double(b, 2, r->scores[i].score);
            sy_pb_end(b, v3);
            sy_pb_end(b, e3);
        }
        sy_pb_end(b, s2);
        sy_pb_end(b, v2);
        sy_pb_end(b, e2);
    }
    sy_pb_end(b, s1);
    sy_pb_end(b, v1);
    sy_pb_end(b, e1);
    sy_pb_end(b, dm);
}

void sy_xp_put_body_chunk(struct sy_buf *b, enum sy_xp_phase phase, const void *p, size_t n,
                          bool eos)
{
    size_t br = sy_pb_begin(b, (uint32_t)phase - 1); /* request_body 3 / response_body 4 */
    size_t cr = sy_pb_begin(b, 1);                   /* BodyResponse.response */
    size_t bm = sy_pb_begin(b, 3);                   /* CommonResponse.body_mutation */
    size_t sr = sy_pb_begin(b, 3);                   /* BodyMutation.streamed_response */
    sy_pb_put_bytes(b, 1, p, n);
    if (eos)
        sy_pb_put_uint(b, 2, 1);
    sy_pb_end(b, sr);
    sy_pb_end(b, bm);
    sy_pb_end(b, cr);
    sy_pb_end(b, br);
}

void sy_xp_put_continue(struct sy_buf *b, enum sy_xp_phase phase, const struct sy_xp_set *set,
                        size_t nset)
{
    size_t m = sy_pb_begin(b, (uint32_t)phase - 1);
    if (phase == SY_XP_REQUEST_TRAILERS || phase == SY_XP_RESPONSE_TRAILERS) {
        if (nset) /* TrailersResponse.header_mutation */
            put_mutation(b, 1, set, nset, NULL, 0);
    } else {
        size_t cr = sy_pb_begin(b, 1); /* CommonResponse{status: CONTINUE, header_mutation} */
        if (nset)
            put_mutation(b, 2, set, nset, NULL, 0);
        sy_pb_end(b, cr);
    }
    sy_pb_end(b, m);
}

void sy_xp_put_immediate(struct sy_buf *b, int http_status, const struct sy_xp_set *set,
                         size_t nset, const char *body, size_t body_len)
{
    size_t ir = sy_pb_begin(b, 7);
    size_t st = sy_pb_begin(b, 1); /* type.v3.HttpStatus{code 1} */
    sy_pb_put_uint(b, 1, (uint64_t)http_status);
    sy_pb_end(b, st);
    if (nset)
        put_mutation(b, 2, set, nset, NULL, 0);
    sy_pb_put_bytes(b, 3, body, body_len);
    sy_pb_end(b, ir);
}

int sy_health_decode(const void *msg, size_t len, struct sy_str *service)
{
    struct sy_pb_reader r;
    struct sy_pb_field f;
    int rc;
    *service = (struct sy_str){"", 0};
    sy_pb_reader_init(&r, msg, len);
    while ((rc = sy_pb_next(&r, &f)) == 1)
        if (f.num == 1 && f.wire == SY_PB_LEN)
            *service = (struct sy_str){(const char *)f.ptr, f.len};
    return rc < 0 ? -1 : 0;
}

void sy_health_put(struct sy_buf *b, int status)
{
    if (status != 0)
        sy_pb_put_uint(b, 1, (uint64_t)status);
}
