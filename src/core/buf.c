/* buf.c - growable byte buffer (see buf.h). Grows by doubling, so appends are amortised O(1). */
#include "core/buf.h"
#include "core/alloc.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sy_buf_init(struct sy_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sy_buf_fini(struct sy_buf *b)
{
    free(b->data);
    sy_buf_init(b);
}

void sy_buf_reset(struct sy_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Reallocates to cap bytes (plus the terminator), keeping the content. */
static void grow_to(struct sy_buf *b, size_t cap)
{
    b->data = sy_xrealloc(b->data, cap + 1);
    b->cap = cap;
    b->data[b->len] = '\0';
}

void sy_buf_reserve(struct sy_buf *b, size_t extra)
{
    if (b->data && b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    grow_to(b, cap);
}

void sy_buf_reserve_exact(struct sy_buf *b, size_t extra)
{
    if (b->data && b->len + extra <= b->cap)
        return;
    grow_to(b, b->len + extra);
}

void sy_buf_append(struct sy_buf *b, const void *p, size_t n)
{
    sy_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sy_buf_puts(struct sy_buf *b, const char *s)
{
    sy_buf_append(b, s, strlen(s));
}

void sy_buf_put_u64(struct sy_buf *b, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sy_buf_append(b, tmp + sizeof tmp - n, n);
}

void sy_buf_put_i64(struct sy_buf *b, long long v)
{
    if (v < 0) {
        sy_buf_append(b, "-", 1);
        sy_buf_put_u64(b, 0ULL - (unsigned long long)v);
    } else {
        sy_buf_put_u64(b, (unsigned long long)v);
    }
}

size_t sy_fmt_hex(char out[16], unsigned long long v)
{
    size_t n = 0;
    for (unsigned long long t = v; t; t >>= 4)
        n++;
    if (n == 0)
        n = 1;
    for (size_t i = n; i-- > 0; v >>= 4)
        out[i] = "0123456789abcdef"[v & 15];
    return n;
}

void sy_buf_put_hex(struct sy_buf *b, unsigned long long v)
{
    char tmp[16];
    sy_buf_append(b, tmp, sy_fmt_hex(tmp, v));
}

void sy_buf_vprintf(struct sy_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sy_buf_append(b, tmp, (size_t)n);
    } else {
        sy_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void sy_buf_printf(struct sy_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sy_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sy_buf_json_str(struct sy_buf *b, const char *s, size_t n)
{
    sy_buf_reserve(b, n + 2);
    sy_buf_append(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* JSON text is UTF-8: a byte that does not start a well-formed sequence becomes
             * U+FFFD, so the output is always valid JSON whatever the input bytes were. */
            size_t k = sy_utf8_seq_len(s + i, n - i);
            if (k) {
                i += k - 1;
                continue;
            }
            sy_buf_append(b, s + start, i - start);
            start = i + 1;
            sy_buf_append(b, "\\ufffd", 6);
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sy_buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': sy_buf_append(b, "\\\"", 2); break;
        case '\\': sy_buf_append(b, "\\\\", 2); break;
        case '\n': sy_buf_append(b, "\\n", 2); break;
        case '\r': sy_buf_append(b, "\\r", 2); break;
        case '\t': sy_buf_append(b, "\\t", 2); break;
        default: sy_buf_printf(b, "\\u%04x", c); break;
        }
    }
    sy_buf_append(b, s + start, n - start);
    sy_buf_append(b, "\"", 1);
}

void sy_buf_consume(struct sy_buf *b, size_t n)
{
    if (n >= b->len) {
        sy_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *sy_buf_steal(struct sy_buf *b, size_t *len)
{
    if (!b->data)
        sy_buf_reserve(b, 0);
    char *p = b->data;
    if (len)
        *len = b->len;
    sy_buf_init(b);
    return p;
}
