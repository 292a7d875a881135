/* pb.c - protobuf wire reader and writer (see pb.h). */
#include "extproc/pb.h"

#include <string.h>

static int get_varint(struct sy_pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

int sy_pb_next(struct sy_pb_reader *r, struct sy_pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (get_varint(r, &key) != 0)
        return -1;
    uint64_t num = key >> 3;
    if (num == 0 || num > 536870911u)
        return -1;
    f->num = (uint32_t)num;
    f->wire = (int)(key & 7);
    f->u = 0;
    f->ptr = NULL;
    f->len = 0;
    switch (f->wire) {
    case SY_PB_VARINT: return get_varint(r, &f->u) == 0 ? 1 : -1;
    case SY_PB_I64:
        if (r->end - r->p < 8)
            return -1;
        for (int i = 7; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 8;
        return 1;
    case SY_PB_I32:
        if (r->end - r->p < 4)
            return -1;
        for (int i = 3; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 4;
        return 1;
    case SY_PB_LEN: {
        uint64_t n;
        if (get_varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        f->ptr = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default: return -1; /* groups (3, 4) and reserved types */
    }
}

void sy_pb_put_varint(struct sy_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    sy_buf_append(b, tmp, n);
}

void sy_pb_put_tag(struct sy_buf *b, uint32_t num, int wire)
{
    sy_pb_put_varint(b, ((uint64_t)num << 3) | (uint64_t)wire);
}

void sy_pb_put_uint(struct sy_buf *b, uint32_t num, uint64_t v)
{
    sy_pb_put_tag(b, num, SY_PB_VARINT);
    sy_pb_put_varint(b, v);
}

void sy_pb_put_bytes(struct sy_buf *b, uint32_t num, const void *p, size_t n)
{
    sy_pb_put_tag(b, num, SY_PB_LEN);
    sy_pb_put_varint(b, n);
    if (n)
        sy_buf_append(b, p, n);
}

void sy_pb_put_str(struct sy_buf *b, uint32_t num, const char *s)
{
    sy_pb_put_bytes(b, num, s, strlen(s));
}

void sy_pb_put_double(struct sy_buf *b, uint32_t num, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t o[8];
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(u >> (8 * i));
    sy_pb_put_tag(b, num, SY_PB_I64);
    sy_buf_append(b, o, 8);
}

size_t sy_pb_begin(struct sy_buf *b, uint32_t num)
{
    sy_pb_put_tag(b, num, SY_PB_LEN);
    sy_buf_append(b, "", 1); /* one length byte, fixed up by sy_pb_end */
    return b->len;
}

void sy_pb_end(struct sy_buf *b, size_t mark)
{
    size_t n = b->len - mark;
    uint8_t tmp[10];
    size_t k = 0;
    uint64_t v = n;
    do {
        tmp[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    if (k > 1) {
        sy_buf_reserve(b, k - 1);
        memmove(b->data + mark + k - 1, b->data + mark, n);
        b->len += k - 1;
        b->data[b->len] = '\0';
    }
    memcpy(b->data + mark - 1, tmp, k);
}
