/* sse_lines.h - a server-sent-events stream cut into its events, bounded (api/sse_lines.c).
 *
 * The proxy, the ext_proc EPP and the bench client see an upstream's SSE body in pieces split
 * anywhere; all feed them here and get each complete event's data, once, in order, whatever the
 * split. */
#ifndef SY_API_SSE_LINES_H
#define SY_API_SSE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#ifndef SY_SSE_LINE_CAP       /* (the fuzz target builds with a small cap to reach the cap paths) */
#define SY_SSE_LINE_CAP 65536 /* default cap: longest line and event data kept whole */
#endif
/* the smallest cap: a line is read as data or not, and as starting a new event or not, from its
 * first 7 bytes ("data: {") when it passes the cap; below 6 a line may pass it with fewer, and
 * the events then depend on where the stream was split (a cap of 5 reads "data: " + "{..." cut
 * after the space as a continuation, uncut as a new event) */
#define SY_SSE_LINE_CAP_MIN 6
/* of an event's data over the default cap, the last bytes kept (cap / 4) */
#define SY_SSE_TAIL (SY_SSE_LINE_CAP / 4)

/* One event's data: its `data:` lines' values joined with '\n' (data[0..len), borrowed: valid
 * during the call only, not NUL-terminated). truncated: the data passed the splitter's cap and
 * data is only its last cap / 4 bytes (where a Responses `response.completed` has usage). */
typedef void sy_sse_event_fn(void *ud, const char *data, size_t len, bool truncated);

struct sy_sse_lines {
    size_t cap;         /* longest line and event data kept whole (init, set_cap) */
    struct sy_buf line; /* the start of a line an earlier piece cut (<= cap) */
    struct sy_buf data; /* the event in progress's data, once it must outlive a piece */
    const char *view;   /* or its one data line's value, still in the current piece */
    size_t view_len;    /* bytes at view */
    uint32_t ndata;     /* data lines in the event in progress */
    bool trunc;         /* the event's data passed the cap: data ends with its tail */
    bool skip;          /* inside an over-long line, not kept up to its end */
    bool skip_data;     /* that line is a data line: its bytes go to the truncated data's tail */
    bool cr;            /* the last piece ended with CR: an LF first in the next is its end */
    uint64_t events;    /* events handed to on_event, all streams fed */
    uint64_t truncated; /* of those, handed over truncated, all streams fed */
    uint64_t moved;     /* bytes moved within data to keep a truncated tail, all streams fed */
    sy_sse_event_fn *on_event; /* called per complete event that has data */
    void *ud;                  /* on_event's argument */
};

/* Embeds a splitter (allocates nothing until a piece cuts a line or an event), cap
 * SY_SSE_LINE_CAP. */
void sy_sse_lines_init(struct sy_sse_lines *s, sy_sse_event_fn *on_event, void *ud);

/* Another cap for s, after init and before the first piece (the bench client's 16 MiB). A cap
 * below SY_SSE_LINE_CAP_MIN is raised to it (s->cap says the cap in force). */
void sy_sse_lines_set_cap(struct sy_sse_lines *s, size_t cap);

void sy_sse_lines_fini(struct sy_sse_lines *s);

/* Feeds the next piece p[0..n) (borrowed) of the stream; calls on_event for every event it
 * completes. Lines end with CRLF, LF or CR (a CRLF may be split between pieces); a blank line
 * ends an event; `data:` lines, with or without one space after the colon, add to the event's
 * data; comments (`:`) and other fields (event, id, retry) are skipped, however long. A data
 * line whose value starts with '{' or '[' while the event holds data starts a new event (servers
 * that end events with one line end). An event's data longer than cap is handed over
 * truncated to its last cap / 4 bytes (counted in truncated), never more memory. */
void sy_sse_lines_feed(struct sy_sse_lines *s, const char *p, size_t n);

/* The stream ended: an event whose data lines are complete but whose blank line never came is
 * handed over; an unfinished last line is discarded (the tail of an over-long data line is
 * already in its truncated event). The splitter is then ready for a new stream; the counters
 * (events, truncated) go on counting. */
void sy_sse_lines_finish(struct sy_sse_lines *s);

#endif
