/* fuzz_sse_lines.c - libFuzzer target for the gateway's SSE event splitter (src/api/sse_lines.c,
 * used by the proxy and the ext_proc EPP to count streamed tokens): arbitrary bytes, fed at once
 * and in input-determined pieces, never crash, never read out of bounds, never keep more than
 * the cap per buffer, and give the same events (data, order, truncated count) however they are
 * split; at two caps: SY_SSE_LINE_CAP (32 here) and the least allowed, SY_SSE_LINE_CAP_MIN (6,
 * where a line passing the cap shows just enough of itself to be read). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A small cap so that short inputs reach the cap paths (truncated events, skipped long lines):
 * the splitter is compiled into this target with it (its definitions come first, so the
 * library's sse_lines.o, built with the 64 KiB cap, is not linked). */
#define SY_SSE_LINE_CAP 32
#include "api/sse_lines.c" /* NOLINT(bugprone-suspicious-include) */
#include "core/buf.h"

static void record(void *ud, const char *data, size_t len, bool truncated)
{
    struct sy_buf *b = ud;
    sy_buf_append(b, truncated ? "~" : "|", 1);
    char n[sizeof(size_t)];
    memcpy(n, &len, sizeof n); /* length-prefixed: data may hold any byte */
    sy_buf_append(b, n, sizeof n);
    sy_buf_append(b, data, len);
}

static void run(const char *p, size_t n, size_t cap, size_t step, struct sy_buf *out,
                uint64_t *truncated)
{
    struct sy_sse_lines s;
    sy_sse_lines_init(&s, record, out);
    sy_sse_lines_set_cap(&s, cap);
    for (size_t off = 0; off < n; off += step) {
        sy_sse_lines_feed(&s, p + off, n - off < step ? n - off : step);
        if (s.line.len > cap || s.data.len > cap)
            abort();
    }
    sy_sse_lines_finish(&s);
    *truncated = s.truncated;
    sy_sse_lines_fini(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    static const size_t caps[] = {SY_SSE_LINE_CAP, SY_SSE_LINE_CAP_MIN};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        struct sy_buf a, b;
        sy_buf_init(&a);
        sy_buf_init(&b);
        uint64_t da, db;
        run(p, n, caps[c], n ? n : 1, &a, &da);
        run(p, n, caps[c], step, &b, &db);
        if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0) || da != db)
            abort(); /* splitting must not change the events */
        sy_buf_fini(&a);
        sy_buf_fini(&b);
    }
    return 0;
}
