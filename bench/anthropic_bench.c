/* anthropic_bench.c - what reading an Anthropic Messages body costs the gateway, side by side in
 * one run with the same conversation sent as an OpenAI chat body:
 *
 *   messages  sy_request_parse(SY_API_MESSAGES): the validating scan, then the Messages shape
 *             check (one more allocation-free walk over `messages` and `system`, api/anthropic.c)
 *   scan      sy_json_scan_object of the Messages body alone: validation without the shape check
 *   chat      sy_request_parse(SY_API_CHAT_COMPLETIONS) of the equivalent chat body
 *   cJSON     cJSON_Parse + cJSON_Delete of the Messages body (a tree-building parser)
 *   convert   sy_anthropic_to_chat: the chat request a `backend: local` token producer renders
 *             (only paid with precise routing on a real tokenizer)
 *
 * An agentic conversation: a system prompt of about a third of the body given as a text block,
 * then user/assistant turns with text, tool_use and tool_result blocks, to about 2, 32 and 220 KB.
 * Median per call. bash bench/anthropic_bench.sh [ITERS]. Not a test: prints numbers.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic.h"
#include "api/json_scan.h"
#include "api/request.h"
#include "core/buf.h"

#include "bench_median.h"

static void text(struct sy_buf *b, size_t n, unsigned seed)
{
    static const char words[] = "The agent reads the file, edits the function and runs the tests. ";
    for (size_t i = 0; i < n; i++)
        sy_buf_append(b, &words[(i + seed) % (sizeof words - 1)], 1);
}

/* The same conversation as a Messages body (anthropic) or a chat body. */
static void make_body(struct sy_buf *b, size_t size, int anthropic)
{
    sy_buf_reset(b);
    size_t sys = size / 3;
    if (anthropic) {
        sy_buf_puts(b, "{\"model\":\"m1\",\"max_tokens\":256,\"stream\":true,\"system\":[{\"type\":"
                       "\"text\",\"text\":\"");
        text(b, sys, 0);
        sy_buf_puts(b, "\"}],\"messages\":[");
    } else {
        sy_buf_puts(b,
                    "{\"model\":\"m1\",\"max_tokens\":256,\"stream\":true,\"messages\":[{\"role\":"
                    "\"system\",\"content\":\"");
        text(b, sys, 0);
        sy_buf_puts(b, "\"}");
    }
    for (unsigned turn = 0; b->len + 600 < size; turn++) {
        if (anthropic) {
            sy_buf_printf(b,
                          "%s{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                          "\"tool_use_id\":\"t%u\",\"content\":\"",
                          turn ? "," : "", turn);
            text(b, 300, turn);
            sy_buf_printf(b,
                          "\"},{\"type\":\"text\",\"text\":\"continue\"}]},{\"role\":\"assistant\","
                          "\"content\":[{\"type\":\"text\",\"text\":\"");
            text(b, 120, turn + 7);
            sy_buf_printf(b,
                          "\"},{\"type\":\"tool_use\",\"id\":\"t%u\",\"name\":\"run\",\"input\":"
                          "{\"cmd\":\"make test\",\"n\":%u}}]}",
                          turn + 1, turn);
        } else {
            sy_buf_printf(b, ",{\"role\":\"tool\",\"tool_call_id\":\"t%u\",\"content\":\"", turn);
            text(b, 300, turn);
            sy_buf_printf(b, "\"},{\"role\":\"user\",\"content\":\"continue\"},{\"role\":"
                             "\"assistant\",\"content\":\"");
            text(b, 120, turn + 7);
            sy_buf_printf(b,
                          "\",\"tool_calls\":[{\"id\":\"t%u\",\"type\":\"function\",\"function\":"
                          "{\"name\":\"run\",\"arguments\":\"{\\\"cmd\\\": \\\"make test\\\", "
                          "\\\"n\\\": %u}\"}}]}",
                          turn + 1, turn);
        }
    }
    sy_buf_puts(b, ",{\"role\":\"user\",\"content\":\"go on\"}]}"); /* the same in both */
}

static int run_messages(const char *body, size_t len)
{
    struct sy_request r;
    char err[256];
    return sy_request_parse(SY_API_MESSAGES, body, len, &r, err, sizeof err) == 0;
}

static int run_scan(const char *body, size_t len)
{
    size_t off;
    char err[64];
    return sy_json_scan_object(body, len, NULL, NULL, &off, err, sizeof err) == 0;
}

static int run_chat(const char *body, size_t len)
{
    struct sy_request r;
    char err[256];
    return sy_request_parse(SY_API_CHAT_COMPLETIONS, body, len, &r, err, sizeof err) == 0;
}

static int run_cjson(const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    int ok = j != NULL;
    cJSON_Delete(j);
    return ok;
}

static int run_convert(const char *body, size_t len)
{
    char *out = NULL, err[256];
    size_t olen;
    int ok = sy_anthropic_to_chat(body, len, &out, &olen, err, sizeof err) == 0;
    free(out);
    return ok;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 1000;
    if (iters < 1)
        iters = 1;
    static const size_t sizes[] = {2048, 32 * 1024, 220 * 1024};
    struct sy_buf a, c;
    sy_buf_init(&a);
    sy_buf_init(&c);
    printf("%-8s %9s %9s %12s %12s %12s %12s %12s %9s\n", "body", "messages", "chat", "messages us",
           "scan us", "chat us", "cJSON us", "convert us", "msg/chat");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        make_body(&a, sizes[k], 1);
        make_body(&c, sizes[k], 0);
        double m = median_ns(run_messages, a.data, a.len, iters);
        double sc = median_ns(run_scan, a.data, a.len, iters);
        double ch = median_ns(run_chat, c.data, c.len, iters);
        double cj = median_ns(run_cjson, a.data, a.len, iters);
        double cv = median_ns(run_convert, a.data, a.len, iters / 4 ? iters / 4 : 1);
        printf("%-8zu %8zuB %8zuB %12.2f %12.2f %12.2f %12.1f %12.1f %9.2f\n", sizes[k], a.len,
               c.len, m / 1e3, sc / 1e3, ch / 1e3, cj / 1e3, cv / 1e3, m / ch);
    }
    sy_buf_fini(&a);
    sy_buf_fini(&c);
    return 0;
}
