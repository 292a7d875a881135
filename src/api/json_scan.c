/* json_scan.c - validating single-pass JSON scanner (see json_scan.h).
 *
 * A recursive-descent validator over a byte range with an explicit depth bound. Only top-level
 * members of the root object are reported; nested values are validated and skipped. Strings are
 * the hot path (prompts are long strings), so the string loop skips plain bytes in a tight loop
 * and only branches on '"', '\\' and control characters.
 *
 * Rejected alternative: cJSON. It builds a tree and copies every string; on a 220 KB chat body
 * that is a second copy of the prompt and hundreds of allocations, for fields we never read.
 */
#include "api/json_scan.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct scan {
    const char *p;   /* cursor */
    const char *end; /* one past the last byte */
    const char *base;
    const char *why; /* reason for the first error */
};

static bool fail(struct scan *s, const char *why)
{
    if (!s->why)
        s->why = why;
    return false;
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The escapes JSON allows: the byte after '\\' -> the escape's length (2, or 6 for \uXXXX,
 * whose four digits is_hex checks), 0 for a byte no escape starts with. */
static const uint8_t esc_len[256] = {['"'] = 2, ['\\'] = 2, ['/'] = 2, ['b'] = 2, ['f'] = 2,
                                     ['n'] = 2, ['r'] = 2,  ['t'] = 2, ['u'] = 6};
static const uint8_t is_hex[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1};

/* q is at a backslash inside a string: returns the byte after the escape, or NULL after fail()
 * with the cursor on the escape. */
static const char *escape_end(struct scan *s, const char *q)
{
    s->p = q;
    if (s->end - q < 2)
        return fail(s, "unterminated escape"), NULL;
    unsigned n = esc_len[(unsigned char)q[1]];
    if (n == 0)
        return fail(s, "bad escape"), NULL;
    if (n == 6) {
        if (s->end - q < 6)
            return fail(s, "short \\u escape"), NULL;
        for (int i = 2; i < 6; i++)
            if (!is_hex[(unsigned char)q[i]])
                return fail(s, "bad \\u escape"), NULL;
    }
    return q + n;
}

/* The common case of an escape, without branching on which one: q is at '\\' with at least 6
 * bytes left. Returns the byte after a well-formed escape, or NULL when it is not one (attend
 * then finds out exactly what is wrong). Code and JSON inside prompts carry an escape every 25
 * bytes or so, so this runs about 9,000 times for a 220 KB coding prompt. */
static inline const char *escape_fast(const char *q)
{
    const unsigned char *u = (const unsigned char *)q;
    unsigned n = esc_len[u[1]];
    if (n == 6 && !(is_hex[u[2]] & is_hex[u[3]] & is_hex[u[4]] & is_hex[u[5]]))
        return NULL;
    return n ? q + n : NULL;
}

/* q is at a byte that needs attention: '"', '\\' or a control character. Returns the byte after
 * it (after the whole escape for '\\'); sets *closed for the closing quote; NULL after fail(). */
static const char *attend(struct scan *s, const char *q, bool *closed)
{
    unsigned char c = (unsigned char)*q;
    if (c == '"') {
        *closed = true;
        return q + 1;
    }
    if (c < 0x20) {
        s->p = q;
        return fail(s, "control character in string"), NULL;
    }
    return escape_end(s, q);
}

/* Portable string body: from p (after the opening quote), returns the byte after the closing
 * quote, or NULL after fail(). Plain bytes (anything but '"', '\\' and control characters) are
 * skipped 16 at a time with SSE2 (x86-64 baseline), then bytewise. */
static const char *string_end_sse2(struct scan *s, const char *p)
{
    const char *end = s->end;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i bslash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1f);
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash));
            /* x <= 0x1f (unsigned)  <=>  max(x, 0x1f) == 0x1f */
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl));
            int m = _mm_movemask_epi8(hit);
            if (m) {
                p += __builtin_ctz((unsigned)m);
                break;
            }
            p += 16;
        }
#endif
        while (p < end) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            p++;
        }
        if (p >= end) {
            s->p = end;
            return fail(s, "unterminated string"), NULL;
        }
        bool closed = false;
        p = attend(s, p, &closed);
        if (!p || closed)
            return p;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* Nonzero in each byte of x that needs attention. '"' (0x22) xor 2 is 0x20 and control
 * characters stay below 0x20, so (x ^ 2) < 0x21, a saturating subtract from 0x21, flags both at
 * once; '\\' is one compare. Four operations per 32 bytes where the exact mask below takes
 * seven. */
__attribute__((target("avx2"))) static inline __m256i special_avx2(__m256i x)
{
    __m256i ctl_or_quote =
        _mm256_subs_epu8(_mm256_set1_epi8(0x21), _mm256_xor_si256(x, _mm256_set1_epi8(2)));
    return _mm256_or_si256(ctl_or_quote, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\')));
}

/* Bit i set when p[i] needs attention, for the 64 bytes at p. */
__attribute__((target("avx2"))) static inline uint64_t special_mask64_avx2(const char *p)
{
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i bslash = _mm256_set1_epi8('\\');
    const __m256i ctl = _mm256_set1_epi8(0x1f);
    __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    __m256i ha = _mm256_or_si256(_mm256_cmpeq_epi8(a, quote), _mm256_cmpeq_epi8(a, bslash));
    ha = _mm256_or_si256(ha, _mm256_cmpeq_epi8(_mm256_max_epu8(a, ctl), ctl));
    __m256i hb = _mm256_or_si256(_mm256_cmpeq_epi8(b, quote), _mm256_cmpeq_epi8(b, bslash));
    hb = _mm256_or_si256(hb, _mm256_cmpeq_epi8(_mm256_max_epu8(b, ctl), ctl));
    return (uint32_t)_mm256_movemask_epi8(ha) |
           ((uint64_t)(uint32_t)_mm256_movemask_epi8(hb) << 32);
}

/* The same with AVX2, for CPUs that have it (chosen once at run time). Prompts are long strings,
 * so this is most of what validating a body costs.
 *   - A 64-byte block is turned into a bitmask of the bytes that need attention, and every one of
 *     them is handled from the mask, so text dense with escapes (code, JSON inside a prompt) is
 *     not re-scanned after each escape.
 *   - After a block with nothing in it, 128-byte blocks are only tested for "anything here?"
 *     (special_avx2, one vptest per block) until one has something.
 *   - An escape is checked by escape_fast (two table lookups) before the general attend.
 * bench/json_scan_bench.sh, 220 KB: plain text in 3.0 us (4.0 us with the exact mask alone and a
 * rescan after each escape), C source as a prompt (an escape every 25 bytes) in 22.6 us (59.5). */
__attribute__((target("avx2"))) static const char *string_end_avx2(struct scan *s, const char *p)
{
    const char *end = s->end;
    while (end - p >= 64) {
        uint64_t m = special_mask64_avx2(p);
        if (!m) {
            /* Aligned from here: a load split across two cache lines costs about 20% on 220 KB.
             * Stepping back to the 32-byte boundary re-reads only bytes just found plain. */
            p = (const char *)((uintptr_t)(p + 64) & ~(uintptr_t)31);
            while (end - p >= 128) {
                const __m256i *v = (const __m256i *)(const void *)p;
                __m256i any =
                    _mm256_or_si256(_mm256_or_si256(special_avx2(_mm256_load_si256(v)),
                                                    special_avx2(_mm256_load_si256(v + 1))),
                                    _mm256_or_si256(special_avx2(_mm256_load_si256(v + 2)),
                                                    special_avx2(_mm256_load_si256(v + 3))));
                if (!_mm256_testz_si256(any, any))
                    break;
                p += 128;
            }
            continue;
        }
        const char *base = p;
        p += 64;
        while (m) {
            const char *q = base + __builtin_ctzll(m);
            const char *next = *q == '\\' && end - q >= 6 ? escape_fast(q) : NULL;
            if (!next) {
                bool closed = false;
                next = attend(s, q, &closed);
                if (!next || closed)
                    return next;
            }
            if (next - base >= 64) { /* an escape ran into the next block */
                p = next;
                break;
            }
            m &= ~0ULL << (next - base); /* bits before next are handled */
        }
    }
    return string_end_sse2(s, p);
}

static const char *(*string_end_impl)(struct scan *, const char *) = string_end_sse2;

static const char *string_end(struct scan *s, const char *p)
{
    return string_end_impl(s, p);
}

bool sy_json_scan_portable(bool on)
{
    string_end_impl = on || !__builtin_cpu_supports("avx2") ? string_end_sse2 : string_end_avx2;
    return string_end_impl == string_end_sse2;
}

__attribute__((constructor)) static void string_end_pick(void)
{
    __builtin_cpu_init();
    sy_json_scan_portable(false);
}
#else
#define string_end string_end_sse2

bool sy_json_scan_portable(bool on)
{
    (void)on;
    return true;
}
#endif

/* At '"'; leaves the cursor after the closing quote. */
static bool scan_string(struct scan *s)
{
    const char *e = string_end(s, s->p + 1);
    if (!e)
        return false;
    s->p = e;
    return true;
}

static bool scan_number(struct scan *s)
{
    const char *p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end)
        return fail(s, "bad number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(s, "bad number");
    }
    if (p < s->end && *p == '.') {
        p++;
        if (p >= s->end || !(*p >= '0' && *p <= '9'))
            return fail(s, "bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || !(*p >= '0' && *p <= '9'))
            return fail(s, "bad number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return true;
}

static bool scan_lit(struct scan *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return fail(s, "unexpected token");
    s->p += n;
    return true;
}

static bool scan_value(struct scan *s, int depth, enum sy_json_type *type);

/* The container steps the validating scan and the walker share. open_container consumes the
 * '{' or '[' at s->p and any white space; true when the container is empty (its close consumed). */
static bool open_container(struct scan *s, char close)
{
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    return false;
}

/* A member name and its ':'; *key is the raw (still escaped) name. */
static bool scan_member_key(struct scan *s, struct sy_str *key)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"')
        return fail(s, "expected a member name");
    const char *k0 = s->p + 1;
    if (!scan_string(s))
        return false;
    *key = (struct sy_str){k0, (size_t)(s->p - 1 - k0)};
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return fail(s, "expected ':'");
    s->p++;
    return true;
}

enum sep { SEP_FAIL, SEP_MORE, SEP_CLOSED };

/* After a member or element: ',' (another follows) or the close of the container. */
static enum sep scan_separator(struct scan *s, char close)
{
    bool obj = close == '}';
    skip_ws(s);
    if (s->p >= s->end) {
        fail(s, obj ? "unterminated object" : "unterminated array");
        return SEP_FAIL;
    }
    if (*s->p == ',') {
        s->p++;
        return SEP_MORE;
    }
    if (*s->p == close) {
        s->p++;
        return SEP_CLOSED;
    }
    fail(s, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    return SEP_FAIL;
}

static bool scan_object_body(struct scan *s, int depth, sy_json_member_fn *cb, void *ud)
{
    if (open_container(s, '}'))
        return true;
    for (;;) {
        struct sy_str key;
        if (!scan_member_key(s, &key))
            return false;
        skip_ws(s);
        const char *v0 = s->p;
        enum sy_json_type t;
        if (!scan_value(s, depth + 1, &t))
            return false;
        if (cb)
            cb(ud, key, t, (struct sy_str){v0, (size_t)(s->p - v0)});
        enum sep sep = scan_separator(s, '}');
        if (sep != SEP_MORE)
            return sep == SEP_CLOSED;
    }
}

static bool scan_array_body(struct scan *s, int depth)
{
    if (open_container(s, ']'))
        return true;
    for (;;) {
        skip_ws(s);
        enum sy_json_type t;
        if (!scan_value(s, depth + 1, &t))
            return false;
        enum sep sep = scan_separator(s, ']');
        if (sep != SEP_MORE)
            return sep == SEP_CLOSED;
    }
}

static bool scan_value(struct scan *s, int depth, enum sy_json_type *type)
{
    if (depth > SY_JSON_MAX_DEPTH)
        return fail(s, "nesting too deep");
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of input");
    switch (*s->p) {
    case '"': *type = SY_JSON_STRING; return scan_string(s);
    case '{': *type = SY_JSON_OBJECT; return scan_object_body(s, depth, NULL, NULL);
    case '[': *type = SY_JSON_ARRAY; return scan_array_body(s, depth);
    case 't': *type = SY_JSON_TRUE; return scan_lit(s, "true");
    case 'f': *type = SY_JSON_FALSE; return scan_lit(s, "false");
    case 'n': *type = SY_JSON_NULL; return scan_lit(s, "null");
    default: *type = SY_JSON_NUMBER; return scan_number(s);
    }
}

/* ---- walker: one pass that reports the values the caller descends into ---- */

struct walk {
    struct scan s;
    const struct sy_json_walk_ops *ops;
    void *ud;
};

static bool walk_value(struct walk *w, int depth, struct sy_str key, size_t index);

static bool walk_members(struct walk *w, int depth)
{
    struct scan *s = &w->s;
    if (open_container(s, '}'))
        return true;
    for (;;) {
        struct sy_str key;
        if (!scan_member_key(s, &key) || !walk_value(w, depth, key, 0))
            return false;
        enum sep sep = scan_separator(s, '}');
        if (sep != SEP_MORE)
            return sep == SEP_CLOSED;
    }
}

static bool walk_elements(struct walk *w, int depth)
{
    struct scan *s = &w->s;
    if (open_container(s, ']'))
        return true;
    for (size_t i = 0;; i++) {
        if (!walk_value(w, depth, (struct sy_str){NULL, 0}, i))
            return false;
        enum sep sep = scan_separator(s, ']');
        if (sep != SEP_MORE)
            return sep == SEP_CLOSED;
    }
}

static bool walk_value(struct walk *w, int depth, struct sy_str key, size_t index)
{
    struct scan *s = &w->s;
    if (depth > SY_JSON_MAX_DEPTH)
        return fail(s, "nesting too deep");
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of input");
    enum sy_json_type t;
    switch (*s->p) {
    case '"': t = SY_JSON_STRING; break;
    case '{': t = SY_JSON_OBJECT; break;
    case '[': t = SY_JSON_ARRAY; break;
    case 't': t = SY_JSON_TRUE; break;
    case 'f': t = SY_JSON_FALSE; break;
    case 'n': t = SY_JSON_NULL; break;
    default: t = SY_JSON_NUMBER; break;
    }
    const char *v0 = s->p;
    bool descend = w->ops->enter && w->ops->enter(w->ud, depth, key, index, t);
    bool ok;
    if (descend && t == SY_JSON_OBJECT)
        ok = walk_members(w, depth + 1);
    else if (descend && t == SY_JSON_ARRAY)
        ok = walk_elements(w, depth + 1);
    else
        ok = scan_value(s, depth + 1, &t);
    if (ok && w->ops->leave)
        w->ops->leave(w->ud, depth, key, index, t, (struct sy_str){v0, (size_t)(s->p - v0)});
    return ok;
}

int sy_json_walk(const char *text, size_t len, const struct sy_json_walk_ops *ops, void *ud,
                 size_t *err_off, char *err, size_t errcap)
{
    struct walk w = {{text, text + len, text, NULL}, ops, ud};
    skip_ws(&w.s);
    char first = w.s.p < w.s.end ? *w.s.p : 0;
    bool ok = walk_value(&w, 0, (struct sy_str){NULL, 0}, 0);
    if (ok) {
        skip_ws(&w.s);
        if (w.s.p != w.s.end)
            ok = fail(&w.s, first == '{'   ? "trailing characters after the JSON object"
                            : first == '[' ? "trailing characters after the JSON array"
                                           : "trailing characters after the JSON value");
    }
    if (ok)
        return 0;
    if (err_off)
        *err_off = (size_t)(w.s.p - text);
    if (err && errcap)
        snprintf(err, errcap, "%s", w.s.why ? w.s.why : "malformed JSON");
    return SY_EPARSE;
}

int sy_json_scan_array(const char *text, size_t len, sy_json_element_fn *cb, void *ud, char *err,
                       size_t errcap)
{
    struct scan s = {text, text + len, text, NULL};
    skip_ws(&s);
    bool ok = true;
    if (s.p >= s.end || *s.p != '[') {
        ok = fail(&s, "expected a JSON array");
        goto out;
    }
    if (open_container(&s, ']'))
        goto tail;
    for (size_t i = 0;; i++) {
        skip_ws(&s);
        const char *v0 = s.p;
        enum sy_json_type t;
        if (!(ok = scan_value(&s, 2, &t)))
            goto out;
        if (cb && !cb(ud, i, t, (struct sy_str){v0, (size_t)(s.p - v0)}))
            return 0; /* the caller stopped the walk */
        enum sep sep = scan_separator(&s, ']');
        if (sep == SEP_CLOSED)
            break;
        if (sep == SEP_FAIL) {
            ok = false;
            goto out;
        }
    }
tail:
    skip_ws(&s);
    if (s.p != s.end)
        ok = fail(&s, "trailing characters after the JSON array");
out:
    if (ok)
        return 0;
    if (err && errcap)
        snprintf(err, errcap, "%s", s.why ? s.why : "malformed JSON");
    return SY_EPARSE;
}

int sy_json_scan_object(const char *text, size_t len, sy_json_member_fn *cb, void *ud,
                        size_t *err_off, char *err, size_t errcap)
{
    struct scan s = {text, text + len, text, NULL};
    skip_ws(&s);
    bool ok;
    if (s.p >= s.end || *s.p != '{') {
        ok = fail(&s, len ? "expected a JSON object" : "empty body");
    } else {
        ok = scan_object_body(&s, 1, cb, ud);
        if (ok) {
            skip_ws(&s);
            if (s.p != s.end)
                ok = fail(&s, "trailing characters after the JSON object");
        }
    }
    if (ok)
        return 0;
    if (err_off)
        *err_off = (size_t)(s.p - text);
    if (err && errcap)
        snprintf(err, errcap, "%s", s.why ? s.why : "malformed JSON");
    return SY_EPARSE;
}

static bool hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Appends the UTF-8 encoding of cp; false when out is full (decoding stops there). */
static bool put_utf8(char *out, size_t cap, size_t *n, uint32_t cp)
{
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (cap - *n < k)
        return false;
    memcpy(out + *n, b, k);
    *n += k;
    return true;
}

size_t sy_json_decode_string(struct sy_str s, char *out, size_t cap, bool *truncated)
{
    if (truncated)
        *truncated = false;
    const char *p = s.p, *end = s.p + s.len;
    size_t n = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c < 0x20)
            return SIZE_MAX; /* unescaped quote or control character */
        if (c != '\\') {
            if (n == cap) {
                if (truncated)
                    *truncated = true;
                return n; /* full: the rest is not examined */
            }
            out[n++] = (char)c;
            p++;
            continue;
        }
        if (end - p < 2)
            return SIZE_MAX;
        char e = p[1];
        p += 2;
        uint32_t cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (!hex4(p, end, &cp))
                return SIZE_MAX;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                uint32_t lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, end, &lo) &&
                    lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            break;
        default: return SIZE_MAX;
        }
        if (!put_utf8(out, cap, &n, cp)) {
            if (truncated)
                *truncated = true;
            return n;
        }
    }
    return n;
}

long sy_json_unescape(struct sy_str raw, char *out, size_t cap)
{
    if (raw.len >= 2 && raw.p[0] == '"' && raw.p[raw.len - 1] == '"')
        raw = (struct sy_str){raw.p + 1, raw.len - 2};
    if (cap == 0)
        return -1;
    bool truncated;
    size_t n = sy_json_decode_string(raw, out, cap - 1, &truncated);
    if (n == SIZE_MAX || truncated)
        return -1;
    out[n] = '\0';
    return (long)n;
}
