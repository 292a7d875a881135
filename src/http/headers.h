/* headers.h - collects header fields from llhttp's split callbacks, for the server (requests)
 * and the upstream client (responses).
 *
 * llhttp may deliver a name or a value in several pieces (one per read). The accumulator appends
 * every piece to one buffer and records each complete field as offsets into it (offsets, since
 * the buffer may move while it grows). A caller may put other bytes first (the server keeps the
 * request URL there). Views are built once, when the headers are complete.
 *
 *   on_header_field      -> sy_hdr_name_piece     on_header_field_complete -> sy_hdr_name_done
 *   on_header_value      -> sy_hdr_value_piece    on_header_value_complete -> sy_hdr_value_done
 */
#ifndef SY_HTTP_HEADERS_H
#define SY_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/str.h"

#define SY_HDR_MAX 64 /* fields kept; more sets `overflow` */

struct sy_hdr_acc {
    struct sy_buf buf; /* caller's prefix, then names and values back to back */
    size_t n;          /* complete fields recorded */
    size_t name_off[SY_HDR_MAX], name_len[SY_HDR_MAX];
    size_t val_off[SY_HDR_MAX], val_len[SY_HDR_MAX];
    size_t cur_off; /* start of the piece being collected */
    bool in_value;  /* last callback was (part of) a value */
    bool started;   /* a name piece has arrived since the reset */
    bool overflow;  /* more than SY_HDR_MAX fields */
};

void sy_hdr_init(struct sy_hdr_acc *a);
void sy_hdr_fini(struct sy_hdr_acc *a);
/* Forgets every field and the buffer's contents (keeps its memory). */
void sy_hdr_reset(struct sy_hdr_acc *a);
/* Append a piece; false (nothing appended) when the buffer would pass max_bytes. */
bool sy_hdr_name_piece(struct sy_hdr_acc *a, const char *at, size_t len, size_t max_bytes);
bool sy_hdr_value_piece(struct sy_hdr_acc *a, const char *at, size_t len, size_t max_bytes);
void sy_hdr_name_done(struct sy_hdr_acc *a);
void sy_hdr_value_done(struct sy_hdr_acc *a);
/* Field i (< a->n) as views into a->buf, valid until the next append or reset. */
struct sy_str sy_hdr_name(const struct sy_hdr_acc *a, size_t i);
struct sy_str sy_hdr_value(const struct sy_hdr_acc *a, size_t i);

#endif
