/* sse_lines.h - a server-sent-events stream cut into its events, bounded (api/sse_lines.c).
 *
 * The proxy and the ext_proc EPP see an upstream's SSE body in pieces split anywhere; both feed
 * them here and get each complete event's data, once, in order, whatever the split. */
#ifndef SY_API_SSE_LINES_H
#define SY_API_SSE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SY_SSE_LINE_CAP 65536 /* longest line, and longest event data, kept; longer is dropped */

/* One event's data: its `data:` lines' values joined with '\n' (data[0..len), borrowed: valid
 * during the call only, not NUL-terminated). */
typedef void sy_sse_event_fn(void *ud, const char *data, size_t len);

struct sy_sse_lines {
    struct sy_buf line; /* the start of a line an earlier piece cut (<= SY_SSE_LINE_CAP) */
    struct sy_buf data; /* the event in progress's data, once it must outlive a piece */
    const char *view;   /* or its one data line's value, still in the current piece */
    size_t view_len;    /* bytes at view */
    uint32_t ndata;     /* data lines in the event in progress */
    bool bad;           /* the event in progress lost a line: dropped at its end */
    bool skip;          /* inside an over-long line, dropped up to its end */
    bool cr;            /* the last piece ended with CR: an LF first in the next is its end */
    bool done;          /* an event's data was "[DONE]" */
    uint64_t events;    /* events handed to on_event */
    uint64_t dropped;   /* events dropped: a line or the data over SY_SSE_LINE_CAP */
    sy_sse_event_fn *on_event; /* called per complete event that has data */
    void *ud;                  /* on_event's argument */
};

/* Embeds a splitter (allocates nothing until a piece cuts a line or an event). */
void sy_sse_lines_init(struct sy_sse_lines *s, sy_sse_event_fn *on_event, void *ud);
void sy_sse_lines_fini(struct sy_sse_lines *s);

/* Feeds the next piece p[0..n) (borrowed) of the stream; calls on_event for every event it
 * completes. Lines end with CRLF, LF or CR (a CRLF may be split between pieces); a blank line
 * ends an event; `data:` lines, with or without one space after the colon, add to the event's
 * data; comments (`:`) and other fields (event, id, retry) are skipped. A line or an event's data
 * longer than SY_SSE_LINE_CAP drops its event (counted in dropped), never more memory. */
void sy_sse_lines_feed(struct sy_sse_lines *s, const char *p, size_t n);

/* The stream ended: an event whose data lines are complete but whose blank line never came is
 * handed over; an unfinished last line is discarded. The splitter is then ready for a new
 * stream. */
void sy_sse_lines_finish(struct sy_sse_lines *s);

#endif
