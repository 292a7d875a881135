/* decode_sse_bench.c - what counting a streamed response's tokens (pool/decode.c,
 * sy_decode_sse_tokens) costs the proxy per SSE event, side by side in one run with:
 *
 *   usage    the memmem for "usage" the proxy already runs on every event (scan_sse)
 *   before   the counter as merged for issue 19 (b0e7376): up to four memmem passes per data line
 *            ([DONE], "choices":[], "role", "content":"") plus a strlen per pattern; reproduced
 *            here as the baseline
 *   now      sy_decode_sse_tokens: [DONE] by the character after "data:", the usage-only chunk
 *            only when "usage" matched, the role check only before the first token, one memmem
 *            for "delta" (chat only)
 *
 * Events: a 211-byte vLLM chat chunk, a vLLM completions chunk and a vLLM /v1/responses
 * output_text.delta event (one event per call, as one read carries one event in a stream).
 * Median of 9 runs of 200000 calls, ns per event. bash bench/decode_sse_bench.sh. Not a test.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/decode.h"

#include "bench_median.h"

static bool has(const char *s, size_t n, const char *pat)
{
    return memmem(s, n, pat, strlen(pat)) != NULL;
}

/* The merged counter (b0e7376), the baseline. */
static size_t before(const char *text, size_t len)
{
    size_t count = 0;
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - line);
        if (n > 5 && memcmp(line, "data:", 5) == 0) {
            if (!has(line, n, "[DONE]") && !has(line, n, "\"choices\":[]") &&
                !(has(line, n, "\"role\"") && has(line, n, "\"content\":\"\"}")))
                count++;
        }
        line = le + 1;
    }
    return count;
}

static volatile size_t sink;

enum which { USAGE, BEFORE, NOW };

static double run(enum which w, const char *ev, enum sy_decode_format f)
{
    size_t len = strlen(ev);
    bool u = memmem(ev, len, "\"usage\"", 7) != NULL;
    enum { CALLS = 200000, RUNS = 9 };
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_ns();
        size_t acc = 0;
        for (int i = 0; i < CALLS; i++) {
            if (w == USAGE) {
                acc += memmem(ev, len, "\"usage\"", 7) != NULL;
            } else if (w == BEFORE) {
                acc += before(ev, len);
            } else {
                /* the proxy's "usage" result is reused (timed in the usage column); role_left 0:
                 * past the first event */
                acc += sy_decode_sse_tokens(ev, len, f, u, 0);
            }
            __asm__ volatile("" : : "r"(ev) : "memory");
        }
        sink = acc;
        t[r] = (bench_now_ns() - t0) / CALLS;
    }
    qsort(t, RUNS, sizeof t[0], bench_cmp_double);
    return t[RUNS / 2];
}

int main(void)
{
    static const struct {
        const char *name, *ev;
        enum sy_decode_format f;
    } evs[] = {
        {"chat",
         "data: {\"id\":\"chatcmpl-8c1f0a2b9d4e4f6a8b7c6d5e4f3a2b1c\",\"object\":"
         "\"chat.completion.chunk\",\"created\":1733500000,\"model\":\"Qwen/Qwen3-8B\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},\"logprobs\":null,"
         "\"finish_reason\":null}]}\n\n",
         SY_DECODE_OPENAI},
        {"completions",
         "data: {\"id\":\"cmpl-8c1f0a2b9d4e4f6a8b7c6d5e4f3a2b1c\",\"object\":"
         "\"text_completion\",\"created\":1733500000,\"model\":\"Qwen/Qwen3-8B\","
         "\"choices\":[{\"index\":0,\"text\":\" the\",\"logprobs\":null,"
         "\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n",
         SY_DECODE_TEXT},
        {"responses",
         "event: response.output_text.delta\ndata: {\"content_index\":0,\"delta\":"
         "\" the\",\"item_id\":\"msg_8c1f0a2b9d4e4f6a\",\"logprobs\":[],"
         "\"output_index\":0,\"sequence_number\":12,\"type\":"
         "\"response.output_text.delta\"}\n\n",
         SY_DECODE_RESPONSES},
    };
    printf("%-12s %6s %9s %9s %9s %12s\n", "event", "bytes", "usage_ns", "before_ns", "now_ns",
           "before/now");
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        double u = run(USAGE, evs[i].ev, evs[i].f);
        double b = run(BEFORE, evs[i].ev, evs[i].f);
        double n = run(NOW, evs[i].ev, evs[i].f);
        printf("%-12s %6zu %9.1f %9.1f %9.1f %11.2fx\n", evs[i].name, strlen(evs[i].ev), u, b, n,
               b / n);
    }
    return 0;
}
