/* sse_lines.c - one bounded splitter of a server-sent-events stream into events (sse_lines.h).
 *
 * The proxy (gateway/proxy.c, per upstream read) and the ext_proc EPP (extproc/epp.c, per Envoy
 * response_body message) count a streamed response's token events and read its usage as it
 * passes (api/usage.c). Both get the body in pieces split anywhere: inside `data:`, inside the
 * JSON, between CR and LF. This module turns the pieces into events as the SSE spec (WHATWG HTML,
 * "event stream interpretation") reads them:
 *
 *   piece: "data: {a}\n\ndata: {b"          -> event "{a}"; "data: {b" kept in line
 *   piece: "}\r"                            -> line "data: {b}" ends (CR); cr set
 *   piece: "\n\r\ndata:[DONE]\n\n"          -> the LF ends that CR; blank line: event "{b}";
 *                                              event "[DONE]" (done set)
 *
 *   - lines end with CRLF, LF or CR; a blank line ends (dispatches) an event
 *   - `data:value` and `data: value` (one space dropped) add value to the event's data; several
 *     data lines are joined with '\n'; a line `data` adds an empty value
 *   - `:` comments and the other fields (event, id, retry, unknown names) are skipped
 *   - an event without data lines (comments only, a stray blank line) is not dispatched
 *
 * Memory, the bound: what outlives a piece is the unfinished line (line) and the data of an event
 * still open (data), each at most SY_SSE_LINE_CAP (64 KiB) bytes, so a stream holds at most
 * 128 KiB here whatever the upstream sends. A line longer than the cap, or an event whose data
 * would pass it, drops that whole event (counted in dropped; the caller logs): the rest of such
 * a line is skipped to its end without being kept, and the event's later lines up to its blank
 * line are ignored. The cap applies to every line, also to one that arrives whole in one piece, so
 * the events never depend on where the stream was split (tests/unit/api/test_sse_lines.c feeds
 * streams cut at every position). Token events of vLLM, SGLang and the others are a few hundred
 * bytes; nothing the gateway counts is near the cap.
 *
 * Cost: lines that arrive whole are read where they lie, and an event whose one data line and
 * blank line arrive in the same piece goes to the callback as a view into the piece (no copy,
 * the common case: one event per upstream write). Only what a piece cuts is copied. Per piece
 * one memchr pass for LF and one for CR.
 *
 * Departures from the spec, on purpose: a leading byte-order mark is not stripped (a model server
 * sends none, and a BOM only makes the first line an unknown field); at the end of the stream an
 * event whose data lines are complete but whose blank line never came is still dispatched
 * (sy_sse_lines_finish), as the line-by-line scanners this replaced counted such a last line.
 *
 * Rejected: per-line callbacks (each caller would rebuild events spanning lines and pieces, which
 * is the part both copies got subtly different); dropping CR before splitting (the bench client's
 * parser does, src/bench/sse.c) makes a CR-only stream one endless line and copies every byte.
 *
 * Threading: none; a splitter belongs to one stream on one thread.
 */
#include "api/sse_lines.h"

#include <string.h>

void sy_sse_lines_init(struct sy_sse_lines *s, sy_sse_event_fn *on_event, void *ud)
{
    memset(s, 0, sizeof *s);
    sy_buf_init(&s->line);
    sy_buf_init(&s->data);
    s->on_event = on_event;
    s->ud = ud;
}

void sy_sse_lines_fini(struct sy_sse_lines *s)
{
    sy_buf_fini(&s->line);
    sy_buf_fini(&s->data);
    s->view = NULL;
}

static void event_reset(struct sy_sse_lines *s)
{
    sy_buf_reset(&s->data);
    s->view = NULL;
    s->view_len = 0;
    s->ndata = 0;
    s->bad = false;
}

/* The event in progress lost a line: it is dropped at its end; nothing of it is kept. */
static void event_drop(struct sy_sse_lines *s)
{
    event_reset(s);
    s->bad = true;
}

/* A blank line: hands the event over (if it has data), or counts it dropped. */
static void dispatch(struct sy_sse_lines *s)
{
    if (s->bad) {
        s->dropped++;
    } else if (s->ndata) {
        const char *d = s->view ? s->view : s->data.data ? s->data.data : "";
        size_t len = s->view ? s->view_len : s->data.len;
        if (len == 6 && memcmp(d, "[DONE]", 6) == 0)
            s->done = true;
        s->events++;
        s->on_event(s->ud, d, len);
    }
    event_reset(s);
}

/* Copies the data view into data: the piece it points into is about to go. */
static void keep_view(struct sy_sse_lines *s)
{
    if (!s->view)
        return;
    sy_buf_append(&s->data, s->view, s->view_len); /* view_len <= SY_SSE_LINE_CAP, data empty */
    s->view = NULL;
    s->view_len = 0;
}

/* One complete line l[0..n) without its end. in_piece: l lies in the current piece (else in
 * s->line, reset after this call). */
static void on_line(struct sy_sse_lines *s, const char *l, size_t n, bool in_piece)
{
    if (n == 0) {
        dispatch(s);
        return;
    }
    if (n > SY_SSE_LINE_CAP) {
        event_drop(s);
        return;
    }
    if (s->bad || l[0] == ':' || n < 4 || memcmp(l, "data", 4) != 0 || (n > 4 && l[4] != ':'))
        return; /* a dropped event's line, a comment, another field */
    const char *v = l + n;
    size_t vl = 0;
    if (n > 4) {
        v = l + 5;
        vl = n - 5;
        if (vl && *v == ' ') {
            v++;
            vl--;
        }
    }
    if (s->ndata == 0 && in_piece) { /* the common case: a view, no copy */
        s->view = v;
        s->view_len = vl;
        s->ndata = 1;
        return;
    }
    keep_view(s);
    size_t add = vl + (s->ndata ? 1 : 0);
    if (s->data.len + add > SY_SSE_LINE_CAP) {
        event_drop(s);
        return;
    }
    if (s->ndata)
        sy_buf_append(&s->data, "\n", 1);
    sy_buf_append(&s->data, v, vl);
    s->ndata++;
}

static const char *find(const char *p, const char *end, char c)
{
    const char *f = memchr(p, c, (size_t)(end - p));
    return f ? f : end;
}

void sy_sse_lines_feed(struct sy_sse_lines *s, const char *p, size_t n)
{
    if (n == 0) /* (p may be NULL then) */
        return;
    const char *q = p, *end = p + n;
    if (s->cr) { /* the CR that ended the last piece and this LF are one line end */
        s->cr = false;
        if (*q == '\n')
            q++;
    }
    const char *lf = find(q, end, '\n'), *cr = find(q, end, '\r');
    while (q < end) {
        if (lf < q)
            lf = find(q, end, '\n');
        if (cr < q)
            cr = find(q, end, '\r');
        const char *e = lf < cr ? lf : cr;
        if (e == end)
            break;
        size_t len = (size_t)(e - q);
        if (s->skip) { /* the end of an over-long line: its event is already dropped */
            s->skip = false;
        } else if (s->line.len) { /* the line began in an earlier piece */
            if (s->line.len + len > SY_SSE_LINE_CAP) {
                event_drop(s);
            } else {
                sy_buf_append(&s->line, q, len);
                on_line(s, s->line.data, s->line.len, false);
            }
            sy_buf_reset(&s->line);
        } else {
            on_line(s, q, len, true);
        }
        q = e + 1;
        if (*e == '\r') {
            if (q < end && *q == '\n')
                q++;
            else if (q == end)
                s->cr = true;
        }
    }
    if (q < end && !s->skip) { /* an unfinished line: kept, unless already over the cap */
        size_t len = (size_t)(end - q);
        if (s->line.len + len > SY_SSE_LINE_CAP) {
            sy_buf_reset(&s->line);
            s->skip = true;
            event_drop(s);
        } else {
            sy_buf_append(&s->line, q, len);
        }
    }
    keep_view(s);
}

void sy_sse_lines_finish(struct sy_sse_lines *s)
{
    sy_buf_reset(&s->line);
    s->skip = false;
    s->cr = false;
    if (s->ndata || s->bad)
        dispatch(s);
    event_reset(s);
}
