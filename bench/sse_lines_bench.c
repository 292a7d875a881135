/* sse_lines_bench.c - what splitting a streamed response into events costs (api/sse_lines.c),
 * per byte fed, for two streams fed in 4 KiB pieces (a socket read each):
 *
 *   vllm     vLLM-like chat chunks of about 200 bytes, one event each (the common case)
 *   hostile  one event that never ends: a data line over SY_SSE_LINE_CAP, then short data
 *            lines "data: N" (the truncated-tail path; it moved the 16 KiB tail once per line
 *            before the tail was allowed to run to 2 x SY_SSE_TAIL)
 *
 * Median of 9 runs over about 8 MB each, ns per byte and the bytes moved to keep the tail.
 * bash bench/sse_lines_bench.sh. Not a test: prints numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse_lines.h"
#include "core/buf.h"

#include "bench_median.h"

static void count(void *ud, const char *data, size_t len, bool truncated)
{
    (void)data;
    (void)len;
    (void)truncated;
    (*(size_t *)ud)++;
}

static void run(const char *name, const struct sy_buf *text)
{
    double t[9];
    uint64_t moved = 0;
    size_t events = 0;
    for (int r = 0; r < 9; r++) {
        struct sy_sse_lines s;
        sy_sse_lines_init(&s, count, &events);
        double t0 = bench_now_ns();
        for (size_t off = 0; off < text->len; off += 4096)
            sy_sse_lines_feed(&s, text->data + off,
                              text->len - off < 4096 ? text->len - off : 4096);
        sy_sse_lines_finish(&s);
        t[r] = (bench_now_ns() - t0) / (double)text->len;
        moved = s.moved;
        sy_sse_lines_fini(&s);
    }
    qsort(t, 9, sizeof t[0], bench_cmp_double);
    printf("%-8s %9zu bytes  %6.3f ns/byte  %10llu bytes moved\n", name, text->len, t[4],
           (unsigned long long)moved);
}

int main(void)
{
    struct sy_buf text;
    sy_buf_init(&text);
    while (text.len < (8u << 20))
        sy_buf_puts(&text, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
                           "{\"content\":\" word\"},\"logprobs\":null,\"finish_reason\":null}]}"
                           "\n\n");
    run("vllm", &text);
    sy_buf_reset(&text);
    sy_buf_puts(&text, "data: ");
    for (size_t i = 0; i < SY_SSE_LINE_CAP + 100; i++)
        sy_buf_append(&text, "y", 1);
    sy_buf_puts(&text, "\n");
    for (size_t i = 0; text.len < (8u << 20); i++)
        sy_buf_printf(&text, "data: %zu\n", i % 10);
    run("hostile", &text);
    sy_buf_fini(&text);
    return 0;
}
