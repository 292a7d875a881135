/* headers.c - header field accumulator for llhttp callbacks (see headers.h). */
#include "http/headers.h"

void sy_hdr_init(struct sy_hdr_acc *a)
{
    sy_buf_init(&a->buf);
    sy_hdr_reset(a);
}

void sy_hdr_fini(struct sy_hdr_acc *a)
{
    sy_buf_fini(&a->buf);
}

void sy_hdr_reset(struct sy_hdr_acc *a)
{
    sy_buf_reset(&a->buf);
    a->n = 0;
    a->cur_off = 0;
    a->in_value = false;
    a->started = false;
    a->overflow = false;
}

static bool fits(const struct sy_hdr_acc *a, size_t len, size_t max_bytes)
{
    return a->buf.len + len <= max_bytes;
}

bool sy_hdr_name_piece(struct sy_hdr_acc *a, const char *at, size_t len, size_t max_bytes)
{
    if (!fits(a, len, max_bytes))
        return false;
    if (a->in_value || !a->started) {
        /* first piece of a new name */
        a->in_value = false;
        a->started = true;
        a->cur_off = a->buf.len;
    }
    sy_buf_append(&a->buf, at, len);
    return true;
}

bool sy_hdr_value_piece(struct sy_hdr_acc *a, const char *at, size_t len, size_t max_bytes)
{
    if (!fits(a, len, max_bytes))
        return false;
    sy_buf_append(&a->buf, at, len);
    return true;
}

void sy_hdr_name_done(struct sy_hdr_acc *a)
{
    if (a->n >= SY_HDR_MAX) {
        a->overflow = true;
    } else {
        a->name_off[a->n] = a->cur_off;
        a->name_len[a->n] = a->buf.len - a->cur_off;
    }
    a->cur_off = a->buf.len;
    a->in_value = true;
}

void sy_hdr_value_done(struct sy_hdr_acc *a)
{
    if (a->n < SY_HDR_MAX) {
        a->val_off[a->n] = a->cur_off;
        a->val_len[a->n] = a->buf.len - a->cur_off;
        a->n++;
    }
    a->cur_off = a->buf.len;
    a->in_value = true;
}

struct sy_str sy_hdr_name(const struct sy_hdr_acc *a, size_t i)
{
    return (struct sy_str){a->buf.data + a->name_off[i], a->name_len[i]};
}

struct sy_str sy_hdr_value(const struct sy_hdr_acc *a, size_t i)
{
    return (struct sy_str){a->buf.data + a->val_off[i], a->val_len[i]};
}
