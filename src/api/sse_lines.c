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
 *                                              event "[DONE]"
 *
 *   - lines end with CRLF, LF or CR; a blank line ends (dispatches) an event
 *   - `data:value` and `data: value` (one space dropped) add value to the event's data; several
 *     data lines are joined with '\n'; a line `data` adds an empty value
 *   - `:` comments and the other fields (event, id, retry, unknown names) are skipped
 *   - an event without data lines (comments only, a stray blank line) is not dispatched
 *
 * Memory, the bound: what outlives a piece is the unfinished line (line) and the data of an event
 * still open (data), each at most the splitter's cap (cap: SY_SSE_LINE_CAP, 64 KiB, unless the
 * owner sets another before the first piece, sy_sse_lines_set_cap: at least SY_SSE_LINE_CAP_MIN,
 * 6, the least that lets every line passing the cap show its first 7 bytes), so a stream holds at
 * most 2 x cap here (128 KiB at the default) whatever the upstream sends. The proxy and the EPP
 * keep the default; the bench client sets 16 MiB (bench/sse.c: it measures servers that send a long
 * output as one event). Over the cap, decided by a line's first bytes:
 *   - a comment, `event:`, `id:` or other field line is skipped to its end (the spec ignores
 *     those lines anyway); its event is unharmed
 *   - a data line, or data lines together, past the cap truncate the event: from then on only
 *     the last cap / 4 (SY_SSE_TAIL, 16 KiB, at the default cap) bytes of its data are kept, and at
 * its end it is handed over marked truncated (counted in truncated). A Responses
 * `response.completed` event carries the whole response with usage at its end, so the tail still
 * has the usage; callers read usage from a truncated event but count no token from it. The cap
 * applies to every line, also to one that arrives whole in one piece, so the events never depend on
 * where the stream was split (tests/unit/api/test_sse_lines.c feeds streams cut at every position).
 * Token events of vLLM, SGLang and the others are a few hundred bytes.
 *
 * Cost: lines that arrive whole are read where they lie, and an event whose one data line and
 * blank line arrive in the same piece goes to the callback as a view into the piece (no copy,
 * the common case: one event per upstream write). Only what a piece cuts is copied. Per piece
 * one memchr pass for LF and one for CR. A truncated event's tail may run to 2 x cap / 4
 * before its last cap / 4 bytes are moved to the front, so keeping it moves at most one byte
 * per byte fed (counted in moved; tests/unit/api/test_sse_lines.c test_tail_cost_linear), where
 * moving the 16 KiB tail for every short data line made an endless event of short lines cost
 * O(lines x 16 KiB). `bash bench/sse_lines_bench.sh` (8 MB in 4 KiB pieces, median of 9, 2 shared
 * cores): a vLLM-like stream 0.23 ns/byte; an endless event of "data: N" lines 6.2 ns/byte and
 * 2.1 MB moved.
 *
 * Departures from the spec, on purpose: a leading byte-order mark is not stripped (a model server
 * sends none, and a BOM only makes the first line an unknown field); at the end of the stream an
 * event whose data lines are complete but whose blank line never came is still dispatched
 * (sy_sse_lines_finish), as the line-by-line scanners this replaced counted such a last line;
 * a data line whose value starts with '{' or '[' (a JSON value, [DONE]) while the event already
 * holds data dispatches the held data as its own event first, so a server that separates events
 * with a single line end (stand-ins for vLLM may) is still read event by event instead of as one
 * event that grows to the cap. Multi-line data whose continuation lines start otherwise still
 * joins, as the spec says; JSON split over data lines with a continuation starting '{' or '['
 * would be cut (no model server sends that).
 *
 * Rejected: per-line callbacks (each caller would rebuild events spanning lines and pieces, which
 * is the part both copies got subtly different); dropping CR before splitting (the bench client's
 * parser did) makes a CR-only stream one endless line and copies every byte. The bench client
 * (src/bench/sse.c) reads its streams through this splitter too; the P/D response rewrite
 * (disagg/rewrite.c) does not: it passes every byte on and edits one line in place, so it cuts
 * lines itself, at the same CRLF, LF and CR.
 *
 * Threading: none; a splitter belongs to one stream on one thread.
 */
#include "api/sse_lines.h"

#include <string.h>

_Static_assert(SY_SSE_LINE_CAP >= SY_SSE_LINE_CAP_MIN, "long_line reads 7 bytes of a long line");

void sy_sse_lines_init(struct sy_sse_lines *s, sy_sse_event_fn *on_event, void *ud)
{
    memset(s, 0, sizeof *s);
    sy_buf_init(&s->line);
    sy_buf_init(&s->data);
    s->cap = SY_SSE_LINE_CAP;
    s->on_event = on_event;
    s->ud = ud;
}

void sy_sse_lines_set_cap(struct sy_sse_lines *s, size_t cap)
{
    s->cap = cap < SY_SSE_LINE_CAP_MIN ? SY_SSE_LINE_CAP_MIN : cap;
}

/* Of an event's data over the cap, the last bytes kept (SY_SSE_TAIL at the default cap). */
static size_t tail(const struct sy_sse_lines *s)
{
    return s->cap / 4;
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
    s->trunc = false;
}

/* A blank line: hands the event over (if it has data), marked truncated if it passed the cap. */
static void dispatch(struct sy_sse_lines *s)
{
    if (s->ndata) {
        const char *d = s->view ? s->view : s->data.data ? s->data.data : "";
        size_t len = s->view ? s->view_len : s->data.len;
        if (s->trunc && len > tail(s)) { /* (tail_add keeps up to 2 x tail) */
            d += len - tail(s);
            len = tail(s);
        }
        if (s->trunc)
            s->truncated++;
        s->events++;
        s->on_event(s->ud, d, len, s->trunc);
    }
    event_reset(s);
}

/* Copies the data view into data: the piece it points into is about to go. */
static void keep_view(struct sy_sse_lines *s)
{
    if (!s->view)
        return;
    sy_buf_append(&s->data, s->view, s->view_len); /* view_len <= cap, data empty */
    s->view = NULL;
    s->view_len = 0;
}

/* A truncated event's data: keeps at least the last tail(s) bytes of data with p[0..n)
 * appended (dispatch hands over only the last tail(s)). data may run to 2 x tail(s) before its
 * tail is moved to the front, so each move of at most tail(s) bytes follows at least tail(s)
 * appended ones: at most one byte moved per byte fed (counted in moved). */
static void tail_add(struct sy_sse_lines *s, const char *p, size_t n)
{
    size_t t = tail(s);
    if (n >= t) {
        sy_buf_reset(&s->data);
        sy_buf_append(&s->data, p + n - t, t);
        return;
    }
    if (s->data.len + n > 2 * t) {
        size_t drop = s->data.len + n - t; /* (data.len > t here) */
        s->moved += s->data.len - drop;
        sy_buf_consume(&s->data, drop);
    }
    sy_buf_append(&s->data, p, n);
}

/* A data line whose value begins v[0..vl) (vl >= 1 unless the value is empty): a JSON value or
 * [DONE] while the event already holds data starts a new event (a server that ends events with
 * one line end, not a blank line): the held data is dispatched first. */
static void data_begins(struct sy_sse_lines *s, const char *v, size_t vl)
{
    if (s->ndata && vl && (*v == '{' || *v == '['))
        dispatch(s);
}

/* A data line too long for the event's data begins: from now on the event keeps only the tail
 * of its data; the caller adds the line's value (tail_add). */
static void trunc_begin(struct sy_sse_lines *s)
{
    keep_view(s);
    if (s->ndata)
        tail_add(s, "\n", 1);
    s->trunc = true;
    s->ndata++;
}

/* A line over the cap whose bytes so far are a[0..an) then b[0..bn) (more than the cap
 * in all, so at least 7 bytes: cap >= SY_SSE_LINE_CAP_MIN). Decided by its first bytes: a data line
 * truncates its event and its value so far goes to the tail (true: the rest of the line, if any,
 * goes there too); any other line is skipped (false). */
static bool long_line(struct sy_sse_lines *s, const char *a, size_t an, const char *b, size_t bn)
{
    char h[7];
    size_t hn = 0;
    for (size_t i = 0; i < an && hn < sizeof h; i++)
        h[hn++] = a[i];
    for (size_t i = 0; i < bn && hn < sizeof h; i++)
        h[hn++] = b[i];
    if (hn < 6 || memcmp(h, "data:", 5) != 0)
        return false; /* a comment, another field: ignored, as the spec ignores them */
    size_t off = h[5] == ' ' ? 6 : 5; /* the value's start */
    data_begins(s, h + off, hn - off);
    trunc_begin(s);
    size_t skip_a = off < an ? off : an;
    if (an > skip_a) /* (a is NULL for a line that lies whole in the piece) */
        tail_add(s, a + skip_a, an - skip_a);
    off -= skip_a;
    tail_add(s, b + off, bn - off);
    return true;
}

/* One complete line l[0..n) without its end. in_piece: l lies in the current piece (else in
 * s->line, reset after this call). */
static void on_line(struct sy_sse_lines *s, const char *l, size_t n, bool in_piece)
{
    if (n == 0) {
        dispatch(s);
        return;
    }
    if (n > s->cap) {
        long_line(s, NULL, 0, l, n);
        return;
    }
    if (l[0] == ':' || n < 4 || memcmp(l, "data", 4) != 0 || (n > 4 && l[4] != ':'))
        return; /* a comment, another field */
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
    data_begins(s, v, vl);
    if (s->trunc) { /* a later line of a truncated event */
        tail_add(s, "\n", 1);
        tail_add(s, v, vl);
        s->ndata++;
        return;
    }
    if (s->ndata == 0 && in_piece) { /* the common case: a view, no copy */
        s->view = v;
        s->view_len = vl;
        s->ndata = 1;
        return;
    }
    keep_view(s);
    size_t add = vl + (s->ndata ? 1 : 0);
    if (s->data.len + add > s->cap) {
        trunc_begin(s);
        tail_add(s, v, vl);
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
        if (s->skip) { /* the end of an over-long line */
            if (s->skip_data)
                tail_add(s, q, len);
            s->skip = false;
        } else if (s->line.len) { /* the line began in an earlier piece */
            if (s->line.len + len > s->cap) {
                long_line(s, s->line.data, s->line.len, q, len);
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
    if (q < end) { /* an unfinished line: kept, unless over the cap */
        size_t len = (size_t)(end - q);
        if (s->skip) {
            if (s->skip_data)
                tail_add(s, q, len);
        } else if (s->line.len + len > s->cap) {
            s->skip = true;
            s->skip_data = long_line(s, s->line.data, s->line.len, q, len);
            sy_buf_reset(&s->line);
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
    s->skip_data = false;
    s->cr = false;
    dispatch(s); /* (nothing without data lines) */
}
