/* buf.h - a growable byte buffer.
 *
 * Invariant: data[len] == '\0' whenever data != NULL, so a buffer holding text can be passed to
 * C string functions. The buffer owns data; sy_buf_fini frees it.
 */
#ifndef SY_CORE_BUF_H
#define SY_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct sy_buf {
    char *data; /* owned; NUL-terminated at len; NULL until first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated (excluding the terminator) */
};

void sy_buf_init(struct sy_buf *b);
void sy_buf_fini(struct sy_buf *b);
void sy_buf_reset(struct sy_buf *b);                 /* len = 0, keeps memory */
void sy_buf_reserve(struct sy_buf *b, size_t extra); /* room for extra more bytes */
/* Room for extra more bytes, growing to exactly that (sy_buf_reserve doubles, which suits
 * appends of unknown total size but can nearly double a buffer whose final size is known). */
void sy_buf_reserve_exact(struct sy_buf *b, size_t extra);
void sy_buf_append(struct sy_buf *b, const void *p, size_t n);
void sy_buf_puts(struct sy_buf *b, const char *s);
void sy_buf_printf(struct sy_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sy_buf_vprintf(struct sy_buf *b, const char *fmt, va_list ap);
/* Appends v in decimal (sy_buf_put_u64, sy_buf_put_i64) or lower-case hex (sy_buf_put_hex): the
 * hot path's replacement for sy_buf_printf("%llu"), which costs a vfprintf per call. */
void sy_buf_put_u64(struct sy_buf *b, unsigned long long v);
void sy_buf_put_i64(struct sy_buf *b, long long v);
void sy_buf_put_hex(struct sy_buf *b, unsigned long long v);
/* Writes v in lower-case hex to out (at most 16 bytes, no terminator); returns the length. */
size_t sy_fmt_hex(char out[16], unsigned long long v);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires. */
void sy_buf_json_str(struct sy_buf *b, const char *s, size_t n);
/* Removes the first n bytes. */
void sy_buf_consume(struct sy_buf *b, size_t n);
/* Hands the memory to the caller (who frees it with free()) and resets b. */
char *sy_buf_steal(struct sy_buf *b, size_t *len);

#endif
