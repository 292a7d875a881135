/* pb.h - the protobuf wire format, by hand: a bounded reader and a writer into a sy_buf.
 *
 * The ext_proc and health messages use only varints (int, enum, bool), length-delimited fields
 * (string, bytes, nested messages, map entries) and, in Struct values, a 64-bit double; so this
 * is the whole codec. Field numbers come from the messages' field table (docs/kubernetes.md).
 *
 * Reader: sy_pb_next walks a message field by field without allocating; views point into the
 * input. Anything malformed (truncated varint or length, length past the end, wire types 3/4
 * groups, field number 0) is an error, never a read past the end.
 * Writer: nested messages are written in place: sy_pb_begin reserves one length byte, sy_pb_end
 * fills it in (moving the content when the length needs more bytes), so encoding never builds
 * temporary buffers.
 */
#ifndef SY_EXTPROC_PB_H
#define SY_EXTPROC_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum { SY_PB_VARINT = 0, SY_PB_I64 = 1, SY_PB_LEN = 2, SY_PB_I32 = 5 };

struct sy_pb_reader {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
};

struct sy_pb_field {
    uint32_t num;       /* field number (>= 1) */
    int wire;           /* SY_PB_* */
    uint64_t u;         /* VARINT, I64, I32: the value */
    const uint8_t *ptr; /* LEN: the bytes (a view into the input) */
    size_t len;         /* LEN: their count */
};

/* p may be NULL when n is 0 (an empty buffer or an empty LEN field): no arithmetic on it then. */
static inline void sy_pb_reader_init(struct sy_pb_reader *r, const void *p, size_t n)
{
    r->p = p;
    r->end = n ? r->p + n : r->p;
}

/* Reads the next field into f. Returns 1 when a field was read, 0 at the end of the message,
 * -1 when the input is malformed. */
int sy_pb_next(struct sy_pb_reader *r, struct sy_pb_field *f);

void sy_pb_put_varint(struct sy_buf *b, uint64_t v);
void sy_pb_put_tag(struct sy_buf *b, uint32_t num, int wire);
void sy_pb_put_uint(struct sy_buf *b, uint32_t num, uint64_t v);
void sy_pb_put_bytes(struct sy_buf *b, uint32_t num, const void *p, size_t n);
void sy_pb_put_str(struct sy_buf *b, uint32_t num, const char *s);
void sy_pb_put_double(struct sy_buf *b, uint32_t num, double v);
/* Starts a nested message field; returns the mark to pass to sy_pb_end. */
size_t sy_pb_begin(struct sy_buf *b, uint32_t num);
void sy_pb_end(struct sy_buf *b, size_t mark);

#endif
