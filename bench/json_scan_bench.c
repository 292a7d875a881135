/* json_scan_bench.c - what validating a request body costs, side by side in one run:
 *
 *   switchyard  sy_request_parse: the validating scan (src/api/json_scan.c) plus field extraction,
 *               which is all the gateway does to a body it forwards unchanged
 *   floor       memchr for a byte that never occurs: one read of the body with libc's best
 *               vector loop, a lower bound for any pass that looks at every byte
 *   cJSON       cJSON_Parse + cJSON_Delete (libcjson): a conventional tree-building parser
 *
 * for chat bodies of 2 KB, 32 KB and 220 KB: plain English; text dense with escapes and non-ASCII
 * (every 16th byte a \n, \" or UTF-8 sequence); and code (this repository's C sources, given as
 * the second argument, JSON-escaped: about one escape per 25 bytes, as a coding assistant's
 * prompt has). Per body: median time per parse, GB/s, and the ratios to switchyard.
 *
 *   bash bench/json_scan_bench.sh [ITERS]    (BUILD=dir selects the build directory)
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/buf.h"

#include "bench_median.h"

/* A chat body of about size bytes whose user message is text; dense puts an escape or a UTF-8
 * sequence every 16 bytes. */
static void make_body(struct sy_buf *b, size_t size, int dense)
{
    static const char words[] = "The quick brown fox jumps over the lazy dog. ";
    static const char *const specials[] = {"\\n", "\\\"", "\xc3\xa9", "\xe2\x82\xac", "\\u00e9"};
    sy_buf_reset(b);
    sy_buf_puts(b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
                   "helpful assistant.\"},{\"role\":\"user\",\"content\":\"");
    size_t i = 0;
    while (b->len + 40 < size) {
        if (dense && i % 16 == 15)
            sy_buf_puts(b, specials[(i / 16) % 5]);
        else
            sy_buf_append(b, &words[i % (sizeof words - 1)], 1);
        i++;
    }
    sy_buf_puts(b, "\"}],\"max_tokens\":16,\"stream\":true}");
}

/* A chat body of about size bytes whose user message is the text of src, JSON-escaped. */
static void make_code_body(struct sy_buf *b, size_t size, const struct sy_buf *src)
{
    sy_buf_reset(b);
    sy_buf_puts(b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; b->len + 40 < size && src->len; i = (i + 1) % src->len) {
        unsigned char c = (unsigned char)src->data[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sy_buf_append(b, e, 2);
        } else if (c == '\n') {
            sy_buf_puts(b, "\\n");
        } else if (c == '\t') {
            sy_buf_puts(b, "\\t");
        } else if (c < 0x20) {
            sy_buf_printf(b, "\\u%04x", c);
        } else {
            sy_buf_append(b, &src->data[i], 1);
        }
    }
    sy_buf_puts(b, "\"}],\"max_tokens\":16,\"stream\":true}");
}

static int run_switchyard(const char *body, size_t len)
{
    struct sy_request r;
    char err[256];
    return sy_request_parse(SY_API_CHAT_COMPLETIONS, body, len, &r, err, sizeof err) == 0;
}

static int run_floor(const char *body, size_t len)
{
    return memchr(body, 0x01, len) == NULL;
}

static int run_cjson(const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    int ok = j != NULL;
    cJSON_Delete(j);
    return ok;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    if (iters < 1)
        iters = 1;
    static const size_t sizes[] = {2048, 32 * 1024, 220 * 1024};
    static const char *const kinds[] = {"plain", "dense", "code"};
    struct sy_buf b, code;
    sy_buf_init(&b);
    sy_buf_init(&code);
    if (argc > 2) {
        FILE *f = fopen(argv[2], "rb");
        char chunk[65536];
        size_t n;
        while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
            sy_buf_append(&code, chunk, n);
        if (f)
            fclose(f);
    }
    printf("%-22s %12s %9s %12s %9s %12s %9s %10s %10s\n", "body", "switchyard", "GB/s", "floor",
           "GB/s", "cJSON", "GB/s", "sy/floor", "cJSON/sy");
    for (int kind = 0; kind <= (code.len ? 2 : 1); kind++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            if (kind == 2)
                make_code_body(&b, sizes[k], &code);
            else
                make_body(&b, sizes[k], kind);
            double sy = median_ns(run_switchyard, b.data, b.len, iters);
            double fl = median_ns(run_floor, b.data, b.len, iters);
            double cj = median_ns(run_cjson, b.data, b.len, iters / 10 + 1);
            char name[64];
            snprintf(name, sizeof name, "%zu B %s", b.len, kinds[kind]);
            printf("%-22s %9.2f us %9.1f %9.2f us %9.1f %9.2f us %9.1f %9.2fx %9.1fx\n", name,
                   sy / 1e3, (double)b.len / sy, fl / 1e3, (double)b.len / fl, cj / 1e3,
                   (double)b.len / cj, sy / fl, cj / sy);
        }
    }
    sy_buf_fini(&b);
    sy_buf_fini(&code);
    return 0;
}
