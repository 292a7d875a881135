/* prom.h - Prometheus text exposition format parser (version 0.0.4), and the per-engine mapping of
 * metric names onto an endpoint's scheduling state.
 *
 * The parser walks a buffer and calls back once per sample with views into the buffer: it
 * allocates nothing and never reads past len. Comments (# HELP / # TYPE) are skipped; label values
 * are returned raw (escapes \\ \" \n left in place; sy_prom_unescape decodes them). Malformed lines
 * are errors: the parser stops and reports the 1-based line.
 */
#ifndef SY_POOL_PROM_H
#define SY_POOL_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/str.h"

#define SY_PROM_MAX_LABELS 32 /* labels per sample; more is a parse error */

struct sy_prom_sample {
    struct sy_str name;                             /* metric name */
    size_t nlabels;                                 /* label count */
    struct sy_str label_names[SY_PROM_MAX_LABELS];  /* views */
    struct sy_str label_values[SY_PROM_MAX_LABELS]; /* views, still escaped */
    double value;                                   /* sample value (NaN/+Inf/-Inf allowed) */
    bool has_timestamp;                             /* a timestamp followed the value */
    int64_t timestamp_ms;                           /* that timestamp */
};

typedef int sy_prom_sample_fn(void *ud, const struct sy_prom_sample *s); /* nonzero stops */

/* Parses text; returns 0, SY_EPARSE (err_line set to the bad line), or the callback's nonzero.
 * err_line (may be NULL) is 0 unless SY_EPARSE; cb may be NULL (validate only). Accepts CRLF,
 * blank lines, NaN/+Inf/-Inf, optional timestamps, OpenMetrics exemplars, and stops at "# EOF". */
int sy_prom_parse(const char *text, size_t len, sy_prom_sample_fn *cb, void *ud, int *err_line);
/* Looks up a label's raw value by name; false when absent. */
bool sy_prom_label(const struct sy_prom_sample *s, const char *name, struct sy_str *value);
/* Decodes a raw label value into out (NUL-terminated, truncated to cap). Returns length. */
size_t sy_prom_unescape(struct sy_str raw, char *out, size_t cap);

/* What the scheduler needs from one scrape. Fields not reported by the engine stay at -1. */
struct sy_engine_metrics {
    double waiting;          /* queued requests */
    double running;          /* running requests */
    double kv_usage;         /* KV-cache usage in [0,1] */
    int64_t block_size;      /* tokens per KV block (vllm:cache_config_info block_size) */
    int64_t num_blocks;      /* KV blocks (num_gpu_blocks) */
    char running_loras[256]; /* vllm:lora_requests_info running_lora_adapters (comma list) */
    char waiting_loras[256]; /* waiting_lora_adapters */
    int64_t max_lora;        /* max_lora, -1 if unknown */
};

/* Parses one scrape body and fills m for the given engine. Returns 0, or SY_EPARSE with err_line,
 * or SY_ENOTFOUND when none of the engine's core metrics (queue, running, KV usage) is present.
 * Only the given engine's names are read; several series of one metric are summed (queue,
 * running) or max'd (KV usage, clamped to 1); NaN, infinite and negative values are ignored. */
int sy_engine_metrics_parse(enum sy_engine engine, const char *text, size_t len,
                            struct sy_engine_metrics *m, int *err_line);

#endif
