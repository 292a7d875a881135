/* tokenize_bench.c - in-process tokenizer speed: tokens/s per core and the time of one
 * 32k-token prompt, for English prose, source code, Chinese and a mixed chat-like prompt, on
 * every tokenizer directory given; plus chat-template rendering time for a 40-message
 * conversation.
 *
 * Each cell encodes the same prompt repeatedly on one thread and reports the median wall time of
 * one encode (clock_gettime around sy_tokenizer_encode) and tokens/s = tokens / median. Prompts
 * are generated deterministically and cut to about 32k tokens of the first tokenizer.
 *
 *   bash bench/tokenize_bench.sh          (ITERS=N overrides the encodes per cell)
 *   tokenize_bench ITERS OUTDIR DIR...    (OUTDIR receives the prompts, for the JS comparison)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "tokenize/tokenizer.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *const words[] = {"the",
                                    "request",
                                    "router",
                                    "engine",
                                    "cache",
                                    "prefix",
                                    "tokens",
                                    "latency",
                                    "throughput",
                                    "replica",
                                    "scheduler",
                                    "gateway",
                                    "model",
                                    "prompt",
                                    "response",
                                    "quickly",
                                    "because",
                                    "although",
                                    "internationalization",
                                    "configuration",
                                    "is",
                                    "a",
                                    "of",
                                    "and",
                                    "to",
                                    "in"};

static void gen_prose(struct sy_buf *b, size_t bytes)
{
    while (b->len < bytes) {
        size_t n = 8 + next_rand() % 14;
        for (size_t i = 0; i < n; i++) {
            const char *w = words[next_rand() % (sizeof(words) / sizeof(words[0]))];
            if (i)
                sy_buf_printf(b, " %s", w);
            else
                sy_buf_printf(b, "%c%s", w[0] & ~0x20, w + 1);
        }
        sy_buf_puts(b, next_rand() % 5 ? ". " : ".\n\n");
    }
}

static void gen_code(struct sy_buf *b, size_t bytes)
{
    while (b->len < bytes) {
        unsigned k = (unsigned)(next_rand() % 1000);
        sy_buf_printf(b,
                      "static int handle_%u(struct ctx *c, const char *buf, size_t len)\n{\n"
                      "    if (len > %u) {\n        return -EINVAL;\n    }\n"
                      "    for (size_t i = 0; i < len; i++)\n        c->sum += buf[i] * %u;\n"
                      "    return 0;\n}\n\n",
                      k, k * 7, k % 13);
    }
}

static void gen_cjk(struct sy_buf *b, size_t bytes)
{
    static const char *const phrases[] = {
        "我们的系统", "正在处理请求", "缓存命中率很高", "模型推理", "调度器选择副本",
        "，",         "。",           "然后",           "数据中心", "延迟降低了"};
    while (b->len < bytes)
        sy_buf_puts(b, phrases[next_rand() % (sizeof(phrases) / sizeof(phrases[0]))]);
}

static void gen_mixed(struct sy_buf *b, size_t bytes)
{
    while (b->len < bytes) {
        switch (next_rand() % 4) {
        case 0: gen_prose(b, b->len + 400); break;
        case 1: gen_code(b, b->len + 300); break;
        case 2: gen_cjk(b, b->len + 200); break;
        default:
            sy_buf_puts(
                b, "<|im_start|>user\nNaïve café — 😀👍🏽 ½ ３４５\n<|im_end|>\n");
        }
    }
}

struct prompt {
    const char *name; /* workload */
    struct sy_buf text;
};

/* Cuts p to about target tokens of tok (at a UTF-8 boundary). */
static void cut_to_tokens(const struct sy_tokenizer *tok, struct sy_buf *p, size_t target)
{
    for (int round = 0; round < 8; round++) {
        uint32_t *ids;
        size_t n;
        if (sy_tokenizer_encode(tok, p->data, p->len, &ids, &n))
            return;
        free(ids);
        if (n <= target + target / 50)
            return;
        size_t len = (size_t)((double)p->len * (double)target / (double)n);
        while (len > 0 && ((unsigned char)p->data[len] & 0xC0) == 0x80)
            len--;
        p->len = len;
        p->data[len] = '\0';
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: tokenize_bench ITERS OUTDIR TOKENIZER_DIR...\n");
        return 2;
    }
    int iters = atoi(argv[1]);
    if (iters < 3)
        iters = 3;
    struct sy_tokenizer *toks[8];
    int ntok = 0;
    for (int i = 3; i < argc && ntok < 8; i++) {
        char err[512];
        toks[ntok] = sy_tokenizer_load(argv[i], err, sizeof(err));
        if (!toks[ntok]) {
            fprintf(stderr, "tokenize_bench: %s\n", err);
            return 1;
        }
        ntok++;
    }
    struct prompt prompts[] = {{"prose", {0}}, {"code", {0}}, {"chinese", {0}}, {"mixed", {0}}};
    size_t np = sizeof(prompts) / sizeof(prompts[0]);
    void (*gens[])(struct sy_buf *, size_t) = {gen_prose, gen_code, gen_cjk, gen_mixed};
    for (size_t i = 0; i < np; i++) {
        sy_buf_init(&prompts[i].text);
        gens[i](&prompts[i].text, 200000);
        cut_to_tokens(toks[0], &prompts[i].text, 32768);
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.txt", argv[2], prompts[i].name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(prompts[i].text.data, 1, prompts[i].text.len, f);
            fclose(f);
        }
    }
    printf("%-10s %-9s %9s %8s %10s %10s %12s\n", "tokenizer", "prompt", "bytes", "tokens",
           "p50 ms", "p99 ms", "Mtokens/s");
    double *t = malloc((size_t)iters * sizeof(double));
    char names[8][32]; /* short labels: "qwen3" for .../tokenizer-qwen3/models */
    for (int k = 0; k < ntok; k++) {
        const char *dir = argv[3 + k];
        const char *p = strstr(dir, "tokenizer-");
        const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        snprintf(names[k], sizeof(names[k]), "%s", p ? p + 10 : base);
        names[k][strcspn(names[k], "/")] = '\0';
    }
    for (int k = 0; k < ntok; k++) {
        const char *name = names[k];
        for (size_t i = 0; i < np; i++) {
            size_t ntokens = 0;
            for (int r = 0; r < iters; r++) {
                uint32_t *ids;
                size_t n;
                double t0 = now_s();
                int rc = sy_tokenizer_encode(toks[k], prompts[i].text.data, prompts[i].text.len,
                                             &ids, &n);
                t[r] = now_s() - t0;
                if (rc)
                    return 1;
                free(ids);
                ntokens = n;
            }
            qsort(t, (size_t)iters, sizeof(double), cmp_d);
            double p50 = t[iters / 2], p99 = t[(size_t)((double)iters * 0.99)];
            printf("%-10.10s %-9s %9zu %8zu %10.3f %10.3f %12.2f\n", name, prompts[i].name,
                   prompts[i].text.len, ntokens, p50 * 1e3, p99 * 1e3, (double)ntokens / p50 / 1e6);
        }
    }
    /* chat template: 40 messages of ~100 words each */
    struct sy_buf msgs;
    sy_buf_init(&msgs);
    sy_buf_puts(&msgs, "[");
    for (int m = 0; m < 40; m++) {
        struct sy_buf content;
        sy_buf_init(&content);
        gen_prose(&content, 600);
        sy_buf_printf(&msgs, "%s{\"role\":\"%s\",\"content\":", m ? "," : "",
                      m == 0  ? "system"
                      : m % 2 ? "user"
                              : "assistant");
        sy_buf_json_str(&msgs, content.data, content.len);
        sy_buf_puts(&msgs, "}");
        sy_buf_fini(&content);
    }
    sy_buf_puts(&msgs, "]");
    printf("\n%-10s %-28s %10s\n", "tokenizer", "chat template (40 messages)", "p50 us");
    for (int k = 0; k < ntok; k++) {
        for (int r = 0; r < iters; r++) {
            char *out;
            size_t outlen;
            double t0 = now_s();
            int rc =
                sy_tokenizer_apply_chat_template(toks[k], msgs.data, msgs.len, true, &out, &outlen);
            t[r] = now_s() - t0;
            if (rc) {
                t[r] = 0;
                continue;
            }
            free(out);
        }
        qsort(t, (size_t)iters, sizeof(double), cmp_d);
        printf("%-10s %-28s %10.1f\n", names[k], "render", t[iters / 2] * 1e6);
    }
    free(t);
    sy_buf_fini(&msgs);
    for (size_t i = 0; i < np; i++)
        sy_buf_fini(&prompts[i].text);
    for (int k = 0; k < ntok; k++)
        sy_tokenizer_free(toks[k]);
    return 0;
}
