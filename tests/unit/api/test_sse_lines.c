/* Unit tests for src/api/sse_lines.c: a stream's events (data lines joined, comments and other
 * fields skipped, CRLF / LF / CR line ends, [DONE]) are the same whatever the pieces: every
 * single cut position, every pair of cut positions and byte by byte give the unsplit stream's
 * events; the 64 KiB bound on an event's data (truncated to its tail, counted, memory stays
 * bounded, the stream goes on after it), over-long other lines skipped, single-line-end events; the
 * end of the stream; a cap set below SY_SSE_LINE_CAP_MIN raised to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse_lines.h"
#include "core/buf.h"

/* Every event as "<data>|" ("~<data>|" when truncated) appended to a buffer, so two runs
 * compare with one strcmp. */
static void record(void *ud, const char *data, size_t len, bool truncated)
{
    struct sy_buf *b = ud;
    if (truncated)
        sy_buf_append(b, "~", 1);
    sy_buf_append(b, data, len);
    sy_buf_append(b, "|", 1);
}

struct run {
    struct sy_buf got;
    uint64_t events, truncated;
};

/* Feeds text cut at the positions cuts[0..ncuts) (ascending) to a splitter whose cap was set to
 * cap (sy_sse_lines_set_cap), then ends the stream. */
static void feed_cut_cap(struct run *r, size_t cap, const char *text, size_t len,
                         const size_t *cuts, size_t ncuts)
{
    struct sy_sse_lines s;
    sy_buf_init(&r->got);
    sy_sse_lines_init(&s, record, &r->got);
    sy_sse_lines_set_cap(&s, cap);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        sy_sse_lines_feed(&s, text + from, to - from);
        assert_true(s.line.len <= s.cap && s.data.len <= s.cap);
        from = to;
    }
    sy_sse_lines_finish(&s);
    r->events = s.events;
    r->truncated = s.truncated;
    sy_sse_lines_fini(&s);
}

/* feed_cut_cap at the default cap. */
static void feed_cut(struct run *r, const char *text, size_t len, const size_t *cuts, size_t ncuts)
{
    feed_cut_cap(r, SY_SSE_LINE_CAP, text, len, cuts, ncuts);
}

static void same(const struct run *a, const struct run *b)
{
    assert_string_equal(a->got.data ? a->got.data : "", b->got.data ? b->got.data : "");
    assert_int_equal(a->events, b->events);
    assert_int_equal(a->truncated, b->truncated);
}

/* text's events, unsplit, by a splitter whose cap was set to cap, are want; every split gives
 * the same. */
static void check_all_splits_cap(size_t cap, const char *text, const char *want)
{
    size_t len = strlen(text);
    struct run whole;
    feed_cut_cap(&whole, cap, text, len, NULL, 0);
    assert_string_equal(whole.got.data ? whole.got.data : "", want);
    for (size_t i = 0; i <= len; i++) { /* one cut, at every position (0 and len: empty pieces) */
        struct run r;
        feed_cut_cap(&r, cap, text, len, &i, 1);
        same(&whole, &r);
        sy_buf_fini(&r.got);
    }
    for (size_t i = 1; i < len; i++) { /* two cuts, every pair */
        for (size_t j = i; j < len; j++) {
            size_t cuts[2] = {i, j};
            struct run r;
            feed_cut_cap(&r, cap, text, len, cuts, 2);
            same(&whole, &r);
            sy_buf_fini(&r.got);
        }
    }
    size_t *every = malloc(len * sizeof *every); /* byte by byte */
    for (size_t i = 0; i < len; i++)
        every[i] = i;
    struct run r;
    feed_cut_cap(&r, cap, text, len, every, len);
    same(&whole, &r);
    sy_buf_fini(&r.got);
    free(every);
    sy_buf_fini(&whole.got);
}

static void check_all_splits(const char *text, const char *want)
{
    check_all_splits_cap(SY_SSE_LINE_CAP, text, want);
}

static void test_vllm_chat_lf(void **state)
{
    (void)state;
    check_all_splits("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                     "\"content\":\"\"}}]}\n\n"
                     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                     "data: {\"choices\":[],\"usage\":{\"completion_tokens\":1}}\n\n"
                     "data: [DONE]\n\n",
                     "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                     "\"content\":\"\"}}]}|"
                     "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}|"
                     "{\"choices\":[],\"usage\":{\"completion_tokens\":1}}|[DONE]|");
}

static void test_crlf_comments_fields(void **state)
{
    (void)state;
    /* CRLF, a comment, event/id/retry fields, data without the space, an event of two data
     * lines, a field named like data, a line "data" without a colon (an empty value) */
    check_all_splits(": keep-alive\r\n\r\n"
                     "event: content_block_delta\r\nid: 7\r\nretry: 100\r\n"
                     "data:{\"a\":1}\r\n\r\n"
                     "data: first\r\ndata:  second\r\ndatabase: no\r\n\r\n"
                     "data\r\ndata: x\r\n\r\n"
                     "data: [DONE]\r\n\r\n",
                     "{\"a\":1}|first\n second|\nx|[DONE]|");
}

static void test_cr_only_and_mixed(void **state)
{
    (void)state;
    check_all_splits("data: a\r\rdata: b\r\r:c\r\rdata: [DONE]\r\r", "a|b|[DONE]|");
    /* every line end at once: CR LF is one end, LF CR is two (a line end and a blank line) */
    check_all_splits("data: a\r\n\ndata: b\n\rdata: c\r\r\n", "a|b|c|");
}

/* Events without data are not dispatched; the last event without its blank line is; an
 * unfinished last line is not. */
static void test_end_of_stream(void **state)
{
    (void)state;
    check_all_splits("\n\n: only a comment\n\nevent: ping\n\ndata: last\n", "last|");
    check_all_splits("data: a\n\ndata: unfinis", "a|");
}

/* The departure for servers that end events with one line end: a data line starting a JSON
 * value or [DONE] while the event holds data is a new event; other continuation lines join. */
static void test_single_line_end(void **state)
{
    (void)state;
    check_all_splits("data: {\"a\":1}\ndata: {\"b\":2}\ndata:[3]\ndata: [DONE]\n",
                     "{\"a\":1}|{\"b\":2}|[3]|[DONE]|");
    check_all_splits("data: {\"a\":\ndata: 1}\ndata: {}\r\n\r\n", "{\"a\":\n1}|{}|");
    /* 7 token events separated by one LF: 7 events (and [DONE]) */
    struct sy_buf t;
    sy_buf_init(&t);
    for (int i = 0; i < 7; i++)
        sy_buf_puts(&t, "data: {\"choices\":[{\"text\":\"a\"}]}\n");
    sy_buf_puts(&t, "data: [DONE]\n");
    struct run r;
    feed_cut(&r, t.data, t.len, NULL, 0);
    assert_int_equal(r.events, 8);
    sy_buf_fini(&r.got);
    /* a long such stream in 4 KiB pieces never grows one event to the cap */
    for (int i = 0; i < 20000; i++)
        sy_buf_puts(&t, "data: {\"choices\":[{\"text\":\"a\"}]}\n");
    size_t cuts[512], nc = 0;
    for (size_t i = 4096; i < t.len && nc < 512; i += 4096)
        cuts[nc++] = i;
    feed_cut(&r, t.data, t.len, cuts, nc);
    assert_int_equal(r.events, 8 + 20000);
    assert_int_equal(r.truncated, 0);
    sy_buf_fini(&r.got);
    sy_buf_fini(&t);
}

/* A stream of `before`, a line of n bytes ("data: xxx..."), a blank line and `after`. */
static char *long_stream(size_t n, const char *before, const char *after, size_t *len)
{
    size_t b = strlen(before), a = strlen(after);
    char *t = malloc(b + n + 2 + a + 1);
    memcpy(t, before, b);
    memcpy(t + b, "data: ", 6);
    memset(t + b + 6, 'x', n - 6);
    memcpy(t + b + n, "\n\n", 2);
    memcpy(t + b + n + 2, after, a + 1);
    *len = b + n + 2 + a;
    return t;
}

/* Cuts at a few positions around every boundary that matters, and every 997 bytes. */
static void check_long_splits(const char *t, size_t len, const struct run *whole)
{
    for (size_t i = 1; i < len; i += (i % 997 == 0 || i < 20 || len - i < 20) ? 1 : 997 - i % 997) {
        struct run r;
        feed_cut(&r, t, len, &i, 1);
        same(whole, &r);
        sy_buf_fini(&r.got);
    }
    static const size_t near[] = {SY_SSE_LINE_CAP - 1, SY_SSE_LINE_CAP, SY_SSE_LINE_CAP + 1,
                                  SY_SSE_LINE_CAP + 6, SY_SSE_LINE_CAP + 7};
    for (size_t k = 0; k < sizeof near / sizeof near[0]; k++) {
        if (near[k] >= len)
            continue;
        struct run r;
        feed_cut(&r, t, len, &near[k], 1);
        same(whole, &r);
        sy_buf_fini(&r.got);
    }
    size_t *pieces = malloc((len / 4096 + 1) * sizeof *pieces); /* 4 KiB reads */
    size_t np = 0;
    for (size_t i = 4096; i < len; i += 4096)
        pieces[np++] = i;
    struct run r;
    feed_cut(&r, t, len, pieces, np);
    same(whole, &r);
    sy_buf_fini(&r.got);
    free(pieces);
}

/* got is "a|~" SY_SSE_TAIL bytes of x "|b|": the truncated event between two whole ones. */
static void assert_truncated_between(const struct sy_buf *got, char x)
{
    assert_int_equal(got->len, 3 + SY_SSE_TAIL + 3);
    assert_memory_equal(got->data, "a|~", 3);
    for (size_t i = 3; i < 3 + SY_SSE_TAIL; i++)
        assert_int_equal(got->data[i], x);
    assert_memory_equal(got->data + 3 + SY_SSE_TAIL, "|b|", 3);
}

/* long_stream(n, before, after) gives `events` events, `truncated` of them truncated, whatever
 * the cuts. */
static void check_long(size_t n, const char *before, const char *after, uint64_t events,
                       uint64_t truncated)
{
    size_t len;
    char *t = long_stream(n, before, after, &len);
    struct run whole;
    feed_cut(&whole, t, len, NULL, 0);
    assert_int_equal(whole.events, events);
    assert_int_equal(whole.truncated, truncated);
    if (truncated) /* the events around the truncated one are whole */
        assert_truncated_between(&whole.got, 'x');
    check_long_splits(t, len, &whole);
    sy_buf_fini(&whole.got);
    free(t);
}

static void test_cap(void **state)
{
    (void)state;
    /* a line of exactly the cap is kept (an event of cap - 6 bytes of data) */
    check_long(SY_SSE_LINE_CAP, "data: a\n\n", "data: b\n\n", 3, 0);
    /* one byte more: that event is handed over truncated to its tail, the ones around whole */
    check_long(SY_SSE_LINE_CAP + 1, "data: a\n\n", "data: b\n\n", 3, 1);
    /* an over-long line joins the data lines before it; only the tail is kept */
    check_long(SY_SSE_LINE_CAP + 100, "data: a\n\ndata: gone\n", "data: b\n\n", 3, 1);
}

/* A Responses response.completed of 70 KB carries usage at its end: the truncated event's tail
 * has it, whatever the cuts. */
static void test_cap_keeps_usage_tail(void **state)
{
    (void)state;
    struct sy_buf t;
    sy_buf_init(&t);
    sy_buf_puts(&t, "event: response.completed\ndata: {\"response\":{\"text\":\"");
    for (int i = 0; i < 70000; i++)
        sy_buf_append(&t, "x", 1);
    static const char end[] = "\"},\"usage\":{\"output_tokens\":50}}";
    sy_buf_puts(&t, end);
    sy_buf_puts(&t, "\n\n");
    struct run whole;
    feed_cut(&whole, t.data, t.len, NULL, 0);
    assert_int_equal(whole.events, 1);
    assert_int_equal(whole.truncated, 1);
    assert_int_equal(whole.got.len, 1 + SY_SSE_TAIL + 1);
    assert_memory_equal(whole.got.data + whole.got.len - 1 - strlen(end), end, strlen(end));
    check_long_splits(t.data, t.len, &whole);
    sy_buf_fini(&whole.got);
    sy_buf_fini(&t);
}

/* An over-long comment, event: or id: line is skipped; the event it sits in is whole. */
static void test_long_other_lines(void **state)
{
    (void)state;
    static const char *const heads[] = {": ", "event: ", "id: ", "retry: "};
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        struct sy_buf t;
        sy_buf_init(&t);
        sy_buf_puts(&t, "data: a\n\ndata: {\"usage\":40}\n");
        sy_buf_puts(&t, heads[k]);
        for (int i = 0; i < 70000; i++)
            sy_buf_append(&t, "p", 1);
        sy_buf_puts(&t, "\n\ndata: b\n\n");
        struct run whole;
        feed_cut(&whole, t.data, t.len, NULL, 0);
        assert_string_equal(whole.got.data, "a|{\"usage\":40}|b|");
        assert_int_equal(whole.truncated, 0);
        check_long_splits(t.data, t.len, &whole);
        sy_buf_fini(&whole.got);
        sy_buf_fini(&t);
    }
}

/* An event whose data lines together pass the cap is truncated; memory stays bounded. */
static void test_cap_on_event_data(void **state)
{
    (void)state;
    struct sy_buf t;
    sy_buf_init(&t);
    sy_buf_puts(&t, "data: a\n\n");
    char line[1024 + 8];
    memcpy(line, "data: ", 6);
    memset(line + 6, 'y', 1024);
    line[1030] = '\n';
    for (int i = 0; i < 70; i++) /* 70 x 1 KiB of data in one event */
        sy_buf_append(&t, line, 1031);
    sy_buf_puts(&t, "\ndata: b\n\n");
    struct run whole;
    feed_cut(&whole, t.data, t.len, NULL, 0);
    assert_int_equal(whole.truncated, 1);
    assert_int_equal(whole.got.len, 3 + SY_SSE_TAIL + 3);
    assert_int_equal(whole.got.data[3 + SY_SSE_TAIL - 1025], '\n'); /* the lines' joins kept */
    assert_memory_equal(whole.got.data + 3 + SY_SSE_TAIL - 1, "y|b|", 4);
    check_long_splits(t.data, t.len, &whole);
    sy_buf_fini(&whole.got);
    sy_buf_fini(&t);
}

/* A splitter whose owner set another cap (the bench's 16 MiB): an event past the default cap but
 * within its own is whole; past its own, it is truncated to cap / 4, and nothing grows past it. */
static void test_own_cap(void **state)
{
    (void)state;
    size_t cap = 4 * SY_SSE_LINE_CAP;
    struct sy_buf got;
    sy_buf_init(&got);
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, record, &got);
    assert_int_equal(s.cap, SY_SSE_LINE_CAP);
    sy_sse_lines_set_cap(&s, cap);
    assert_int_equal(s.cap, cap);
    char piece[4096];
    memset(piece, 'w', sizeof piece);
    size_t whole = SY_SSE_LINE_CAP + 10 * sizeof piece; /* past the default, within cap */
    sy_sse_lines_feed(&s, "data: ", 6);
    for (size_t i = 0; i < whole / sizeof piece; i++)
        sy_sse_lines_feed(&s, piece, sizeof piece);
    sy_sse_lines_feed(&s, "\n\n", 2);
    assert_int_equal(got.len, whole + 1);
    assert_int_equal(s.truncated, 0);
    sy_buf_reset(&got);
    sy_sse_lines_feed(&s, "data: ", 6);
    for (size_t i = 0; i < 2 * cap / sizeof piece; i++) {
        sy_sse_lines_feed(&s, piece, sizeof piece);
        assert_true(s.line.cap <= cap && s.data.cap <= cap);
    }
    sy_sse_lines_feed(&s, "\n\n", 2);
    assert_int_equal(s.truncated, 1);
    assert_int_equal(got.len, 1 + cap / 4 + 1); /* "~" tail "|" */
    assert_int_equal(s.events, 2);
    sy_sse_lines_fini(&s);
    sy_buf_fini(&got);
}

/* A cap below SY_SSE_LINE_CAP_MIN is raised to it. At 5 the events would depend on the cuts: a
 * line "data: {b" passes the cap at "data: " when cut after the space, read then as a continuation
 * of the held event (one event "~b"), where uncut "data: {" starts a new one (events "", "~b"). */
static void test_least_cap(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= SY_SSE_LINE_CAP_MIN + 1; cap++) {
        struct sy_sse_lines s;
        sy_sse_lines_init(&s, record, NULL);
        sy_sse_lines_set_cap(&s, cap);
        assert_int_equal(s.cap, cap < SY_SSE_LINE_CAP_MIN ? SY_SSE_LINE_CAP_MIN : cap);
        sy_sse_lines_fini(&s);
    }
    check_all_splits_cap(5, "data\ndata: {b\n\n", "|~b|");
    check_all_splits_cap(0, "data\ndata: {b\n\n", "|~b|");
    /* at the least cap every line of 7 bytes or more is long, its tail 1 byte: a truncated event,
     * an empty one, and two truncated events a JSON value and [DONE] start */
    check_all_splits_cap(SY_SSE_LINE_CAP_MIN, "data: a\n\ndata\ndata: {bc\ndata:[DONE]\n\n",
                         "~a||~c|~]|");
}

/* A line of 8 MiB in 16 KiB pieces: nothing grows past the cap, the stream goes on after it. */
static void test_memory_bounded(void **state)
{
    (void)state;
    struct sy_buf got;
    sy_buf_init(&got);
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, record, &got);
    char piece[16384];
    memset(piece, 'z', sizeof piece);
    sy_sse_lines_feed(&s, "data: a\n\ndata: ", 15);
    for (int i = 0; i < 512; i++) {
        sy_sse_lines_feed(&s, piece, sizeof piece);
        assert_true(s.line.cap <= SY_SSE_LINE_CAP && s.data.cap <= SY_SSE_LINE_CAP);
    }
    sy_sse_lines_feed(&s, NULL, 0); /* an empty message (Envoy's end of stream) */
    sy_sse_lines_feed(&s, "\n\ndata: b\n\n", 11);
    assert_truncated_between(&got, 'z');
    assert_int_equal(s.truncated, 1);
    assert_int_equal(s.events, 3);
    /* an unfinished over-long last data line: its tail is handed over truncated at the end */
    for (int i = 0; i < 8; i++)
        sy_sse_lines_feed(&s, "data: ", 6), sy_sse_lines_feed(&s, piece, sizeof piece);
    sy_sse_lines_finish(&s);
    assert_int_equal(s.truncated, 2);
    assert_int_equal(s.events, 4);
    /* ready for a new stream */
    sy_buf_reset(&got);
    sy_sse_lines_feed(&s, "data: c\n\n", 9);
    assert_string_equal(got.data, "c|");
    sy_sse_lines_fini(&s);
    sy_buf_fini(&got);
}

/* An endless truncated event of short data lines: the bytes moved to keep its tail grow with
 * the bytes fed, not with lines x SY_SSE_TAIL (each short line moved the whole 16 KiB tail once).
 */
static uint64_t moved_for(size_t lines, size_t piece, uint64_t *fed)
{
    struct sy_buf got, text;
    sy_buf_init(&got);
    sy_buf_init(&text);
    sy_buf_puts(&text, "data: ");
    for (size_t i = 0; i < SY_SSE_LINE_CAP + 100; i++)
        sy_buf_append(&text, "y", 1);
    sy_buf_puts(&text, "\n");
    for (size_t i = 0; i < lines; i++)
        sy_buf_printf(&text, "data: %zu\n", i % 10);
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, record, &got);
    for (size_t off = 0; off < text.len; off += piece)
        sy_sse_lines_feed(&s, text.data + off, text.len - off < piece ? text.len - off : piece);
    assert_true(s.data.len <= 2 * SY_SSE_TAIL);
    sy_sse_lines_feed(&s, "\n", 1);
    assert_int_equal(s.truncated, 1);
    /* the tail handed over: the last SY_SSE_TAIL bytes of "...\n8\n9" */
    assert_int_equal(got.len, 1 + SY_SSE_TAIL + 1);
    assert_memory_equal(got.data + got.len - 4, "8\n9|", 4);
    *fed = text.len;
    uint64_t moved = s.moved;
    sy_sse_lines_fini(&s);
    sy_buf_fini(&got);
    sy_buf_fini(&text);
    return moved;
}

static void test_tail_cost_linear(void **state)
{
    (void)state;
    size_t pieces[] = {1 << 20, 4096, 7};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        uint64_t fed1, fed10;
        uint64_t m1 = moved_for(10000, pieces[k], &fed1);
        uint64_t m10 = moved_for(100000, pieces[k], &fed10);
        /* at most one byte moved per byte fed (the quadratic copy moved ~16 KiB per line:
         * 160 MB for 10000 lines, 1.6 GB for 100000) */
        assert_true(m1 <= fed1);
        assert_true(m10 <= fed10);
        assert_true(m10 > 0);
        assert_true(m10 <= 11 * m1 + SY_SSE_TAIL); /* 10x the lines, about 10x the moves */
    }
}

/* An event that arrives whole goes out as a view into the piece (no copy). */
static const char *seen_at;
static void at(void *ud, const char *data, size_t len, bool truncated)
{
    (void)ud;
    (void)len;
    (void)truncated;
    seen_at = data;
}

static void test_whole_event_not_copied(void **state)
{
    (void)state;
    static const char piece[] = "data: {\"x\":1}\n\n";
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, at, NULL);
    sy_sse_lines_feed(&s, piece, strlen(piece));
    assert_ptr_equal(seen_at, piece + 6);
    assert_null(s.data.data);
    assert_null(s.line.data);
    sy_sse_lines_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vllm_chat_lf),
        cmocka_unit_test(test_crlf_comments_fields),
        cmocka_unit_test(test_cr_only_and_mixed),
        cmocka_unit_test(test_end_of_stream),
        cmocka_unit_test(test_single_line_end),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_cap_keeps_usage_tail),
        cmocka_unit_test(test_long_other_lines),
        cmocka_unit_test(test_cap_on_event_data),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_whole_event_not_copied),
        cmocka_unit_test(test_tail_cost_linear),
        cmocka_unit_test(test_own_cap),
        cmocka_unit_test(test_least_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
