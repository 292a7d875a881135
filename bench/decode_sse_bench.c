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

#include "api/usage.h"
#include "core/buf.h"
#include "pool/decode.h"
#include "pool/pool.h"

#include "bench_median.h"

static bool has(const char *s, size_t n, const char *pat)
{
    return memmem(s, n, pat, strlen(pat)) != NULL;
}

/* The line loop of both baselines: fn(line, its length, events counted so far, ctx) on each
 * "data:" line of text, summed (inlined with fn constant). */
typedef size_t line_fn(const char *line, size_t n, size_t counted, const void *ctx);

static inline size_t data_lines(const char *text, size_t len, line_fn *fn, const void *ctx)
{
    size_t count = 0;
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - line);
        if (n > 5 && memcmp(line, "data:", 5) == 0)
            count += fn(line, n, count, ctx);
        line = le + 1;
    }
    return count;
}

static size_t before_line(const char *line, size_t n, size_t counted, const void *ctx)
{
    return !has(line, n, "[DONE]") && !has(line, n, "\"choices\":[]") &&
           !(has(line, n, "\"role\"") && has(line, n, "\"content\":\"\"}"));
}

/* The merged counter (b0e7376), the baseline. */
static size_t before(const char *text, size_t len)
{
    return data_lines(text, len, before_line, NULL);
}

static volatile size_t sink;

enum which { USAGE, BEFORE, NOW };

static double run(enum which w, const char *ev, enum sy_decode_format f)
{
    size_t len = strlen(ev);
    bool u = memmem(ev, len, "\"usage\"", 7) != NULL;
    const char *data = strstr(ev, "data: ") + 6; /* what api/sse_lines.c hands over */
    size_t dlen = len - (size_t)(data - ev) - 2;
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
                /* the "usage" result is reused (timed in the usage column); role_left 0: past
                 * the first event */
                acc += sy_decode_sse_token(data, dlen, f, u, 0);
            }
            __asm__ volatile("" : : "r"(ev) : "memory");
        }
        sink = acc;
        t[r] = (bench_now_ns() - t0) / CALLS;
    }
    qsort(t, RUNS, sizeof t[0], bench_cmp_double);
    return t[RUNS / 2];
}

/* ---- the per-read path: the replaced line scanner against sy_usage_sse ---- */

/* The line scanner's state (proxy.c struct proxy: scan, the usage figures, the decode share). */
struct lines {
    struct sy_buf scan;
    int64_t prompt, completion, cached;
    struct sy_decode *dec;
    enum sy_api_kind kind;
};

struct classify {
    enum sy_decode_format fmt;
    bool has_usage;
    int64_t role_left;
};

static size_t now_line(const char *line, size_t n, size_t counted, const void *ctx)
{
    const struct classify *c = ctx;
    return sy_decode_sse_token(line + 5, n - 5, c->fmt, c->has_usage,
                               c->role_left - (int64_t)counted);
}

/* sy_decode_sse_tokens as of 3735788: its line loop, each data line's value classified as now. */
static size_t lines_tokens(const char *text, size_t len, enum sy_decode_format fmt, bool has_usage,
                           int64_t role_left)
{
    struct classify c = {fmt, has_usage, role_left};
    return data_lines(text, len, now_line, &c);
}

/* sy_usage_scan as of 3735788: a byte loop to the last "usage", then its counts (read from
 * there by today's sy_usage_scan, which finds that match at once). */
static void lines_usage_scan(enum sy_api_kind kind, const char *text, size_t len, int64_t *prompt,
                             int64_t *completion, int64_t *cached)
{
    if (kind == SY_API_MESSAGES) {
        sy_usage_scan(kind, text, len, prompt, completion, cached);
        return;
    }
    const char *u = NULL;
    for (size_t i = 0; i + 7 <= len; i++) {
        if (text[i] == '"' && memcmp(text + i, "\"usage\"", 7) == 0)
            u = text + i;
    }
    if (u)
        sy_usage_scan(kind, u, len - (size_t)(u - text), prompt, completion, cached);
}

/* proxy.c scan_sse as of 3735788 (with sy_decode_sse's body of then). */
static void lines_feed(struct lines *p, const char *data, size_t n)
{
    const char *nl = memrchr(data, '\n', n);
    if (!nl) {
        sy_buf_append(&p->scan, data, n);
        if (p->scan.len > 65536)
            sy_buf_reset(&p->scan);
        return;
    }
    size_t upto = (size_t)(nl - data) + 1;
    const char *text = data;
    size_t len = upto;
    if (p->scan.len) {
        sy_buf_append(&p->scan, data, upto);
        text = p->scan.data;
        len = p->scan.len;
    }
    bool usage = memmem(text, len, "\"usage\"", 7) != NULL;
    if (usage)
        lines_usage_scan(p->kind, text, len, &p->prompt, &p->completion, &p->cached);
    if (p->dec->ep) {
        int64_t g =
            p->dec->generated + (int64_t)lines_tokens(text, len, sy_usage_stream_format(p->kind),
                                                      usage, p->dec->choices - p->dec->generated);
        sy_decode_progress(p->dec, p->completion > g ? p->completion : g);
    }
    sy_buf_reset(&p->scan);
    if (upto < n)
        sy_buf_append(&p->scan, data + upto, n - upto);
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One timed run of the lines scanner or sy_usage_sse over `calls` reads; ns of thread CPU time
 * per event. */
static double path_once(bool events, const struct sy_buf *read, size_t half, int per, int calls,
                        enum sy_api_kind kind)
{
    struct sy_endpoint e;
    memset(&e, 0, sizeof e);
    struct sy_decode d;
    sy_decode_begin(&d, &e, SY_DECODE_MAX, 1);
    int64_t prompt = -1, completion = -1, cached = -1;
    struct sy_usage_sse u;
    sy_usage_sse_init(&u, &d, &prompt, &completion, &cached);
    struct lines l = {.prompt = -1, .completion = -1, .cached = -1, .dec = &d, .kind = kind};
    sy_buf_init(&l.scan);
    double t0 = cpu_ns();
    for (int i = 0; i < calls; i++) {
        if (!events) {
            lines_feed(&l, read->data, half);
            if (half < read->len)
                lines_feed(&l, read->data + half, read->len - half);
        } else {
            sy_usage_sse_feed(&u, kind, read->data, half);
            if (half < read->len)
                sy_usage_sse_feed(&u, kind, read->data + half, read->len - half);
        }
        __asm__ volatile("" : : "r"(read->data) : "memory");
    }
    double ns = (cpu_ns() - t0) / ((double)calls * per);
    if (d.generated < (int64_t)calls * per - 1) { /* both must count every event */
        fprintf(stderr, "decode_sse_bench: %s counted %lld of %lld events\n",
                events ? "events" : "lines", (long long)d.generated, (long long)calls * per);
        exit(1);
    }
    sy_decode_end(&d, -1);
    sy_usage_sse_fini(&u);
    sy_buf_fini(&l.scan);
    return ns;
}

/* Medians of ns per event for reads of `per` events each (cut: each read arrives in two pieces,
 * cut in the middle), lines and events runs interleaved so both see the same machine. */
static void run_path(const char *ev, enum sy_api_kind kind, int per, bool cut, double *lines_ns,
                     double *events_ns)
{
    struct sy_buf read;
    sy_buf_init(&read);
    for (int i = 0; i < per; i++)
        sy_buf_append(&read, ev, strlen(ev));
    size_t half = cut ? read.len / 2 : read.len;
    enum { CALLS = 200000, RUNS = 9 };
    double tl[RUNS], te[RUNS];
    for (int r = 0; r < RUNS; r++) {
        tl[r] = path_once(false, &read, half, per, CALLS / per, kind);
        te[r] = path_once(true, &read, half, per, CALLS / per, kind);
    }
    qsort(tl, RUNS, sizeof tl[0], bench_cmp_double);
    qsort(te, RUNS, sizeof te[0], bench_cmp_double);
    *lines_ns = tl[RUNS / 2];
    *events_ns = te[RUNS / 2];
    sy_buf_fini(&read);
}

int main(void)
{
    static const struct {
        const char *name, *ev;
        enum sy_decode_format f;
        enum sy_api_kind kind;
    } evs[] = {
        {"chat",
         "data: {\"id\":\"chatcmpl-8c1f0a2b9d4e4f6a8b7c6d5e4f3a2b1c\",\"object\":"
         "\"chat.completion.chunk\",\"created\":1733500000,\"model\":\"Qwen/Qwen3-8B\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},\"logprobs\":null,"
         "\"finish_reason\":null}]}\n\n",
         SY_DECODE_OPENAI, SY_API_CHAT_COMPLETIONS},
        {"completions",
         "data: {\"id\":\"cmpl-8c1f0a2b9d4e4f6a8b7c6d5e4f3a2b1c\",\"object\":"
         "\"text_completion\",\"created\":1733500000,\"model\":\"Qwen/Qwen3-8B\","
         "\"choices\":[{\"index\":0,\"text\":\" the\",\"logprobs\":null,"
         "\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n",
         SY_DECODE_TEXT, SY_API_COMPLETIONS},
        {"responses",
         "event: response.output_text.delta\ndata: {\"content_index\":0,\"delta\":"
         "\" the\",\"item_id\":\"msg_8c1f0a2b9d4e4f6a\",\"logprobs\":[],"
         "\"output_index\":0,\"sequence_number\":12,\"type\":"
         "\"response.output_text.delta\"}\n\n",
         SY_DECODE_RESPONSES, SY_API_RESPONSES},
    };
    size_t nev = sizeof evs / sizeof evs[0];
    printf("%-12s %6s %9s %9s %9s %12s\n", "event", "bytes", "usage_ns", "before_ns", "now_ns",
           "before/now");
    for (size_t i = 0; i < nev; i++) {
        double u = run(USAGE, evs[i].ev, evs[i].f);
        double b = run(BEFORE, evs[i].ev, evs[i].f);
        double n = run(NOW, evs[i].ev, evs[i].f);
        printf("%-12s %6zu %9.1f %9.1f %9.1f %11.2fx\n", evs[i].name, strlen(evs[i].ev), u, b, n,
               b / n);
    }
    static const struct {
        const char *name;
        int per;
        bool cut;
    } shapes[] = {{"1/read", 1, false}, {"8/read", 8, false}, {"1 cut in 2", 1, true}};
    printf("\n%-12s %-11s %9s %9s %12s\n", "event", "reads", "lines_ns", "events_ns",
           "lines/events");
    for (size_t i = 0; i < nev; i++) {
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            double l, e;
            run_path(evs[i].ev, evs[i].kind, shapes[k].per, shapes[k].cut, &l, &e);
            printf("%-12s %-11s %9.1f %9.1f %11.2fx\n", evs[i].name, shapes[k].name, l, e, l / e);
        }
    }
    return 0;
}
