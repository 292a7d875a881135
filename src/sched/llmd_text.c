/* llmd_text.c - reproduces, byte for byte, the text llm-d hashes or packs into pseudo-tokens for
 * a chat request: Go's encoding/json applied to llm-d's request structs.
 *
 * Why byte for byte: llm-d's approximate prefix index is keyed by xxh64 over these bytes, and the
 * estimate backend's token count is their length / 4. Hashing the client's raw `messages` text
 * instead (as Switchyard did) makes spacing, key order and extra fields change the chain, and
 * counts JSON punctuation as prompt tokens.
 *
 * v0.8 (GIE v1.5.0): Message{Role `json:"role,omitempty"`, Content `json:"content"`}, where
 * Content is either a string (Raw) or []ContentBlock{Type, Text `omitempty`, ImageURL{URL
 * omitempty}, InputAudio{Data, Format omitempty}, VideoURL{URL omitempty}}; Content marshals as
 * Raw when non-empty, else the blocks when present (even an empty list), else "". Decoding
 * follows Go: keys match fields case-insensitively, the last duplicate wins, unknown keys are
 * dropped, null leaves a field empty, a value of the wrong type fails the whole request.
 *
 * Router estimate (llm-d-router estimate.go): json.Marshal(tools []any) when there are tools,
 * then per message role || (Raw, or the text of each "text" block).
 *
 * Go's string encoder (escapeHTML on): < > & -> \u003c \u003e \u0026; U+2028/U+2029 escaped;
 * invalid UTF-8 -> \ufffd per bad byte; \b \f \n \r \t short forms (Go >= 1.22); other controls
 * \u00XX with lowercase hex. Numbers in `any` are float64: shortest round-trip digits, 'e' form
 * below 1e-6 or from 1e21 (exponent "e-7", "e+21").
 *
 * Limits: cJSON stops a string at an escaped NUL (Go keeps it); keys are folded ASCII-only (Go also
 * folds the Kelvin sign and long s). Both are inputs no real client sends.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/json_scan.h"
#include "core/alloc.h"
#include "core/err.h"
#include "sched/llmd_text.h"

static const char HEX[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid (Go's utf8.DecodeRune). */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t need;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return need;
}

void sy_llmd_go_string(struct sy_buf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    sy_buf_reserve(b, len + 2);
    sy_buf_append(b, "\"", 1);
    size_t start = 0, i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
                i++;
                continue;
            }
            sy_buf_append(b, s + start, i - start);
            char esc[6] = {'\\', 0};
            switch (c) {
            case '"':
            case '\\':
                esc[1] = (char)c;
                sy_buf_append(b, esc, 2);
                break;
            case '\b': sy_buf_append(b, "\\b", 2); break;
            case '\f': sy_buf_append(b, "\\f", 2); break;
            case '\n': sy_buf_append(b, "\\n", 2); break;
            case '\r': sy_buf_append(b, "\\r", 2); break;
            case '\t': sy_buf_append(b, "\\t", 2); break;
            default:
                esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = HEX[c >> 4],
                esc[5] = HEX[c & 15];
                sy_buf_append(b, esc, 6);
            }
            i++;
            start = i;
            continue;
        }
        unsigned cp;
        size_t n = utf8_len(s + i, len - i, &cp);
        if (n == 0) {
            sy_buf_append(b, s + start, i - start);
            sy_buf_append(b, "\\ufffd", 6);
            i++;
            start = i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            sy_buf_append(b, s + start, i - start);
            sy_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += n;
            start = i;
            continue;
        }
        i += n;
    }
    sy_buf_append(b, s + start, len - start);
    sy_buf_append(b, "\"", 1);
}

/* Go's float64 encoding (encoding/json floatEncoder). */
static void go_number(struct sy_buf *b, double f)
{
    if (!isfinite(f)) { /* Go refuses; cJSON never produces these from JSON text */
        sy_buf_puts(b, "null");
        return;
    }
    if (f == 0) {
        sy_buf_puts(b, signbit(f) ? "-0" : "0");
        return;
    }
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) { /* shortest digits that read back as f */
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    double a = fabs(f);
    if (neg)
        sy_buf_puts(b, "-");
    if (a < 1e-6 || a >= 1e21) {
        sy_buf_append(b, digits, 1);
        if (nd > 1) {
            sy_buf_puts(b, ".");
            sy_buf_append(b, digits + 1, nd - 1);
        }
        /* Go prints at least two exponent digits, then trims "e-07" to "e-7"; positive
         * exponents here are >= 21 */
        sy_buf_printf(b, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    /* plain decimal: value = 0.digits x 10^(exp+1) */
    int point = exp + 1; /* digits before the decimal point */
    if (point <= 0) {
        sy_buf_puts(b, "0.");
        for (int i = 0; i < -point; i++)
            sy_buf_puts(b, "0");
        sy_buf_append(b, digits, nd);
    } else if ((size_t)point >= nd) {
        sy_buf_append(b, digits, nd);
        for (size_t i = nd; i < (size_t)point; i++)
            sy_buf_puts(b, "0");
    } else {
        sy_buf_append(b, digits, (size_t)point);
        sy_buf_puts(b, ".");
        sy_buf_append(b, digits + point, nd - (size_t)point);
    }
}

static int cmp_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

void sy_llmd_go_any(struct sy_buf *b, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        sy_llmd_go_string(b, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        go_number(b, v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        sy_buf_puts(b, "true");
    } else if (cJSON_IsFalse(v)) {
        sy_buf_puts(b, "false");
    } else if (cJSON_IsArray(v)) {
        sy_buf_puts(b, "[");
        const cJSON *it;
        bool first = true;
        cJSON_ArrayForEach(it, v)
        {
            if (!first)
                sy_buf_puts(b, ",");
            first = false;
            sy_llmd_go_any(b, it);
        }
        sy_buf_puts(b, "]");
    } else if (cJSON_IsObject(v)) {
        /* map[string]any: keys sorted, a duplicate key keeps its last value */
        size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
        const cJSON **keys = sy_xmalloc((n ? n : 1) * sizeof *keys);
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            size_t j = 0;
            while (j < k && strcmp(keys[j]->string, it->string))
                j++;
            keys[j] = it;
            if (j == k)
                k++;
        }
        qsort(keys, k, sizeof *keys, cmp_key);
        sy_buf_puts(b, "{");
        for (size_t i = 0; i < k; i++) {
            if (i)
                sy_buf_puts(b, ",");
            sy_llmd_go_string(b, keys[i]->string, strlen(keys[i]->string));
            sy_buf_puts(b, ":");
            sy_llmd_go_any(b, keys[i]);
        }
        sy_buf_puts(b, "}");
        free(keys);
    } else {
        sy_buf_puts(b, "null");
    }
}

/* ---- decoding into llm-d's structs, Go's way ---- */

/* The last member of obj whose key equals name case-insensitively (Go's field matching). */
static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *it, *hit = NULL;
    cJSON_ArrayForEach(it, obj)
    {
        if (it->string && !strcasecmp(it->string, name))
            hit = it;
    }
    return hit;
}

/* A string field: absent or null -> "", a string -> it, anything else -> error. */
static int str_field(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *f = field(obj, name);
    *out = "";
    if (!f || cJSON_IsNull(f))
        return 0;
    if (!cJSON_IsString(f))
        return SY_EINVAL;
    *out = f->valuestring;
    return 0;
}

/* A struct field: absent or null -> zero value; an object -> its fields; else error. */
static int obj_field(const cJSON *obj, const char *name, const cJSON **out)
{
    const cJSON *f = field(obj, name);
    *out = NULL;
    if (!f || cJSON_IsNull(f))
        return 0;
    if (!cJSON_IsObject(f))
        return SY_EINVAL;
    *out = f;
    return 0;
}

static void put_key_str(struct sy_buf *b, const char *key, const char *v, bool comma)
{
    if (comma)
        sy_buf_puts(b, ",");
    sy_buf_puts(b, "\"");
    sy_buf_puts(b, key);
    sy_buf_puts(b, "\":");
    sy_llmd_go_string(b, v, strlen(v));
}

/* {"url":...} etc.: fields listed in order, each omitted when empty. */
static int sub_struct(struct sy_buf *b, const cJSON *blk, const char *name,
                      const char *const *fields)
{
    const cJSON *o;
    int rc = obj_field(blk, name, &o);
    if (rc)
        return rc;
    sy_buf_printf(b, ",\"%s\":{", name);
    bool comma = false;
    for (size_t i = 0; fields[i]; i++) {
        const char *v = "";
        if (o && (rc = str_field(o, fields[i], &v)))
            return rc;
        if (*v) {
            put_key_str(b, fields[i], v, comma);
            comma = true;
        }
    }
    sy_buf_puts(b, "}");
    return 0;
}

/* One ContentBlock as GIE marshals it. */
static int content_block(struct sy_buf *b, const cJSON *blk)
{
    static const char *const url[] = {"url", NULL};
    static const char *const audio[] = {"data", "format", NULL};
    const char *type = "", *text = "";
    int rc;
    if (cJSON_IsNull(blk)) {
        blk = NULL;
    } else if (!cJSON_IsObject(blk)) {
        return SY_EINVAL;
    }
    if (blk && ((rc = str_field(blk, "type", &type)) || (rc = str_field(blk, "text", &text))))
        return rc;
    sy_buf_puts(b, "{");
    put_key_str(b, "type", type, false);
    if (*text)
        put_key_str(b, "text", text, true);
    static const cJSON empty = {.type = cJSON_Object};
    const cJSON *src = blk ? blk : &empty;
    if ((rc = sub_struct(b, src, "image_url", url)) ||
        (rc = sub_struct(b, src, "input_audio", audio)) ||
        (rc = sub_struct(b, src, "video_url", url)))
        return rc;
    sy_buf_puts(b, "}");
    return 0;
}

/* Content.MarshalJSON after Content.UnmarshalJSON. */
static int content(struct sy_buf *b, const cJSON *c)
{
    if (!c || cJSON_IsNull(c) || (cJSON_IsString(c) && !*c->valuestring)) {
        sy_buf_puts(b, "\"\"");
        return 0;
    }
    if (cJSON_IsString(c)) {
        sy_llmd_go_string(b, c->valuestring, strlen(c->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(c))
        return SY_EINVAL; /* "content format not supported" */
    sy_buf_puts(b, "[");
    const cJSON *it;
    bool first = true;
    cJSON_ArrayForEach(it, c)
    {
        if (!first)
            sy_buf_puts(b, ",");
        first = false;
        int rc = content_block(b, it);
        if (rc)
            return rc;
    }
    sy_buf_puts(b, "]");
    return 0;
}

int sy_llmd_chat_marshal(struct sy_str messages, struct sy_buf *out)
{
    cJSON *a = cJSON_ParseWithLength(messages.p, messages.len);
    if (!a)
        return SY_EPARSE;
    int rc = 0;
    size_t mark = out->len;
    if (cJSON_IsNull(a)) {
        sy_buf_puts(out, "null");
        goto done;
    }
    if (!cJSON_IsArray(a)) {
        rc = SY_EINVAL;
        goto done;
    }
    sy_buf_puts(out, "[");
    const cJSON *m;
    bool first = true;
    cJSON_ArrayForEach(m, a)
    {
        if (!first)
            sy_buf_puts(out, ",");
        first = false;
        const char *role = "";
        const cJSON *c = NULL;
        if (!cJSON_IsNull(m)) {
            if (!cJSON_IsObject(m)) {
                rc = SY_EINVAL;
                goto done;
            }
            if ((rc = str_field(m, "role", &role)))
                goto done;
            c = field(m, "content");
        }
        sy_buf_puts(out, "{");
        if (*role) {
            put_key_str(out, "role", role, false);
            sy_buf_puts(out, ",");
        }
        sy_buf_puts(out, "\"content\":");
        if ((rc = content(out, c)))
            goto done;
        sy_buf_puts(out, "}");
    }
    sy_buf_puts(out, "]");
done:
    if (rc)
        out->len = mark;
    cJSON_Delete(a);
    return rc;
}

int sy_llmd_chat_estimate_bytes(const struct sy_request *req, struct sy_buf *out)
{
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    if (!body)
        return SY_EPARSE;
    int rc = 0;
    size_t mark = out->len;
    const cJSON *tools = field(body, "tools");
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        rc = SY_EINVAL;
        goto done;
    }
    if (cJSON_GetArraySize(tools) > 0)
        sy_llmd_go_any(out, tools);
    const cJSON *msgs = field(body, "messages"), *m;
    if (msgs && !cJSON_IsNull(msgs) && !cJSON_IsArray(msgs)) {
        rc = SY_EINVAL;
        goto done;
    }
    cJSON_ArrayForEach(m, msgs)
    {
        if (cJSON_IsNull(m))
            continue;
        const char *role;
        if (!cJSON_IsObject(m) || (rc = str_field(m, "role", &role))) {
            rc = SY_EINVAL;
            goto done;
        }
        sy_buf_puts(out, role);
        const cJSON *c = field(m, "content");
        if (!c || cJSON_IsNull(c))
            continue;
        if (cJSON_IsString(c)) {
            sy_buf_puts(out, c->valuestring);
            continue;
        }
        if (!cJSON_IsArray(c)) {
            rc = SY_EINVAL;
            goto done;
        }
        const cJSON *blk;
        cJSON_ArrayForEach(blk, c)
        {
            const char *type = "", *text = "";
            if (cJSON_IsNull(blk))
                continue;
            if (!cJSON_IsObject(blk) || str_field(blk, "type", &type) ||
                str_field(blk, "text", &text)) {
                rc = SY_EINVAL;
                goto done;
            }
            if (!strcmp(type, "text"))
                sy_buf_puts(out, text);
        }
    }
done:
    if (rc)
        out->len = mark;
    cJSON_Delete(body);
    return rc;
}

size_t sy_llmd_cache_salt(const struct sy_request *req, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    if (!req->cache_salt.len || cap == 0)
        return 0;
    bool trunc = false;
    size_t n = sy_json_decode_string(req->cache_salt, out, cap - 1, &trunc);
    if (n == SIZE_MAX || trunc) {
        out[0] = '\0';
        return 0;
    }
    out[n] = '\0';
    return n;
}
