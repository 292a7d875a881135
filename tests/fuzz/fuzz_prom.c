/* libFuzzer target for src/pool/prom.c: the Prometheus text parser and every engine mapping.
 *
 * Beyond "no crash, no sanitizer report", it checks the parser's contract on every input: sample
 * views lie inside the input, names are non-empty, parse errors name a line that exists, and the
 * engine mapping only produces -1 or sane values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pool/prom.h"

struct ctx {
    const char *base; /* input start */
    size_t len;       /* input length */
    size_t samples;   /* samples seen */
};

static void check_view(const struct ctx *c, struct sy_str v)
{
    if (v.len && (v.p < c->base || v.p + v.len > c->base + c->len))
        abort();
}

static int on_sample(void *ud, const struct sy_prom_sample *s)
{
    struct ctx *c = ud;
    char buf[64];
    if (s->name.len == 0 || s->nlabels > SY_PROM_MAX_LABELS)
        abort();
    check_view(c, s->name);
    for (size_t i = 0; i < s->nlabels; i++) {
        check_view(c, s->label_names[i]);
        check_view(c, s->label_values[i]);
        size_t n = sy_prom_unescape(s->label_values[i], buf, sizeof buf);
        if (n >= sizeof buf || buf[n] != '\0' || n > s->label_values[i].len)
            abort();
    }
    c->samples++;
    return 0;
}

static void check_metrics(int rc, const struct sy_engine_metrics *m)
{
    if (rc != 0 && rc != SY_EPARSE && rc != SY_ENOTFOUND)
        abort();
    if (!(m->waiting == -1 || m->waiting >= 0) || !(m->running == -1 || m->running >= 0))
        abort();
    if (!(m->kv_usage == -1 || (m->kv_usage >= 0 && m->kv_usage <= 1)))
        abort();
    if (m->block_size < -1 || m->num_blocks < -1 || m->max_lora < -1)
        abort();
    if (strnlen(m->running_loras, sizeof m->running_loras) >= sizeof m->running_loras ||
        strnlen(m->waiting_loras, sizeof m->waiting_loras) >= sizeof m->waiting_loras)
        abort();
    if (rc == 0 && m->waiting < 0 && m->running < 0 && m->kv_usage < 0)
        abort(); /* success means at least one core metric */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    struct ctx c = {text, size, 0};
    int line = -1;
    int rc = sy_prom_parse(text, size, on_sample, &c, &line);
    if (rc == SY_EPARSE ? (line < 1 || (size_t)line > lines) : (rc != 0 || line != 0))
        abort();
    static const enum sy_engine engines[] = {SY_ENGINE_VLLM, SY_ENGINE_SGLANG, SY_ENGINE_TRTLLM,
                                             SY_ENGINE_LLAMACPP};
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++) {
        struct sy_engine_metrics m;
        int eline = -1;
        int erc = sy_engine_metrics_parse(engines[i], text, size, &m, &eline);
        check_metrics(erc, &m);
        if ((erc == SY_EPARSE) != (rc == SY_EPARSE) || (erc == SY_EPARSE && eline != line))
            abort(); /* the mapping sees exactly the parser's verdict */
    }
    return 0;
}
