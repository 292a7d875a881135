/* prom.c - Prometheus text exposition (0.0.4) parser and the per-engine metric mapping.
 *
 * Parser. The input is walked line by line; each line is one of
 *
 *   <blank>                                     skipped (spaces/tabs only; a trailing \r is
 *                                               dropped from every line, so CRLF bodies parse)
 *   # HELP name text / # TYPE name type         checked for a valid name (and type), skipped
 *   # EOF                                       OpenMetrics end marker: parsing stops
 *   # anything else                             a comment, skipped
 *   name[{l="v",...}] value [timestamp] [# exemplar]
 *
 * Every sample becomes one struct sy_prom_sample whose name and labels are views into the input,
 * handed to the callback and then forgotten: the parser allocates nothing, keeps no state between
 * lines and never reads past len (the input need not be NUL-terminated). Values go through
 * strtod on a small stack copy of the token (so "NaN", "+Inf", "-Inf", exponents all work; the
 * process runs in the C locale). Timestamps are integers in milliseconds (0.0.4); a timestamp with
 * a fraction or exponent is read as OpenMetrics seconds and converted. An OpenMetrics exemplar
 * ("# {...} v") after the value is skipped. Anything else that does not match the grammar is a
 * parse error with the 1-based line, never a guess: a scrape we cannot read is a failed scrape.
 *
 * Engine mapping. One table row per engine names the metrics that carry the waiting queue, the
 * running batch, the KV usage and the cache geometry. Several series of one metric (vLLM's
 * model_name / engine labels, data-parallel ranks) are summed for counts and max'd for KV usage;
 * non-finite or negative values are ignored rather than poisoning a sum. Only the configured
 * engine's names are read, so a server exporting two engines' names cannot confuse us.
 *
 * Alternatives rejected: building a map of metric families first (what the Go parser does)
 * allocates per scrape and per series; the scheduler needs five numbers, so a streaming callback
 * is both simpler and cheaper (every endpoint is scraped every 50 ms).
 */
#include "pool/prom.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- character classes ---- */

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_label_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_label_char(char c)
{
    return is_label_start(c) || (c >= '0' && c <= '9');
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A cursor over one line [p, end). */
struct cur {
    const char *p;
    const char *end;
};

static void skip_blank(struct cur *c)
{
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
}

static bool at_end(const struct cur *c)
{
    return c->p >= c->end;
}

/* Reads a metric name; returns false when none starts here. */
static bool read_name(struct cur *c, struct sy_str *out)
{
    const char *s = c->p;
    if (at_end(c) || !is_name_start(*c->p))
        return false;
    while (c->p < c->end && is_name_char(*c->p))
        c->p++;
    out->p = s;
    out->len = (size_t)(c->p - s);
    return true;
}

/* Reads a blank-delimited token. */
static struct sy_str read_token(struct cur *c)
{
    const char *s = c->p;
    while (c->p < c->end && !is_blank(*c->p))
        c->p++;
    return (struct sy_str){s, (size_t)(c->p - s)};
}

/* Parses a whole token as a double (strtod grammar: NaN, Inf, +Inf, exponents). */
static bool parse_double_tok(struct sy_str t, double *out)
{
    char tmp[128];
    if (t.len == 0 || t.len >= sizeof tmp || isspace((unsigned char)t.p[0]))
        return false;
    /* strtod would skip leading white space (refused above: "a \r1" is not a sample) and accepts
     * "0x" hex floats and "nan(chars)", harmless extensions. */
    memcpy(tmp, t.p, t.len);
    tmp[t.len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + t.len)
        return false;
    *out = v;
    return true;
}

/* Timestamp: integer milliseconds (0.0.4) or fractional seconds (OpenMetrics). */
static bool parse_timestamp_tok(struct sy_str t, int64_t *out)
{
    char tmp[64];
    if (t.len == 0 || t.len >= sizeof tmp)
        return false;
    memcpy(tmp, t.p, t.len);
    tmp[t.len] = '\0';
    bool frac = memchr(tmp, '.', t.len) || memchr(tmp, 'e', t.len) || memchr(tmp, 'E', t.len);
    char *end;
    if (!frac) {
        size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0;
        if (tmp[i] < '0' || tmp[i] > '9')
            return false;
        errno = 0;
        long long v = strtoll(tmp, &end, 10);
        if (*end != '\0' || errno == ERANGE)
            return false;
        *out = v;
        return true;
    }
    double s = strtod(tmp, &end);
    if (*end != '\0' || !isfinite(s) || fabs(s) > 9.2e15)
        return false;
    *out = (int64_t)llround(s * 1000.0);
    return true;
}

/* Reads {name="value",...} (the '{' already consumed). Trailing comma allowed, as in the Go
 * parser. Values are left escaped; only \\ \" \n are valid escapes. */
static bool read_labels(struct cur *c, struct sy_prom_sample *s)
{
    for (;;) {
        skip_blank(c);
        if (at_end(c))
            return false;
        if (*c->p == '}') {
            c->p++;
            return true;
        }
        if (!is_label_start(*c->p))
            return false;
        const char *ns = c->p;
        while (c->p < c->end && is_label_char(*c->p))
            c->p++;
        struct sy_str lname = {ns, (size_t)(c->p - ns)};
        skip_blank(c);
        if (at_end(c) || *c->p != '=')
            return false;
        c->p++;
        skip_blank(c);
        if (at_end(c) || *c->p != '"')
            return false;
        c->p++;
        const char *vs = c->p;
        for (;;) {
            if (at_end(c))
                return false; /* unterminated value */
            char ch = *c->p;
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (c->p + 1 >= c->end)
                    return false;
                char e = c->p[1];
                if (e != '\\' && e != '"' && e != 'n')
                    return false;
                c->p += 2;
                continue;
            }
            c->p++;
        }
        struct sy_str lval = {vs, (size_t)(c->p - vs)};
        c->p++; /* closing quote */
        if (s->nlabels >= SY_PROM_MAX_LABELS)
            return false;
        for (size_t i = 0; i < s->nlabels; i++)
            if (sy_str_eq(s->label_names[i], lname))
                return false; /* duplicate label */
        s->label_names[s->nlabels] = lname;
        s->label_values[s->nlabels] = lval;
        s->nlabels++;
        skip_blank(c);
        if (at_end(c))
            return false;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == '}') {
            c->p++;
            return true;
        }
        return false;
    }
}

static bool valid_type(struct sy_str t)
{
    static const char *types[] = {"counter", "gauge",          "histogram", "summary", "untyped",
                                  "unknown", "gaugehistogram", "info",      "stateset"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (sy_str_eq_c(t, types[i]))
            return true;
    return false;
}

enum line_kind {
    LINE_SKIP,   /* blank or comment */
    LINE_SAMPLE, /* sample filled */
    LINE_EOF,    /* "# EOF" */
    LINE_BAD     /* malformed */
};

static enum line_kind parse_comment(struct cur *c)
{
    c->p++; /* '#' */
    skip_blank(c);
    struct sy_str kw = read_token(c);
    bool help = sy_str_eq_c(kw, "HELP");
    bool type = sy_str_eq_c(kw, "TYPE");
    if (sy_str_eq_c(kw, "EOF")) {
        skip_blank(c);
        return at_end(c) ? LINE_EOF : LINE_SKIP;
    }
    if (!help && !type)
        return LINE_SKIP;
    skip_blank(c);
    struct sy_str name;
    if (!read_name(c, &name))
        return LINE_BAD;
    if (!at_end(c) && !is_blank(*c->p))
        return LINE_BAD;
    if (type) {
        skip_blank(c);
        struct sy_str t = read_token(c);
        skip_blank(c);
        if (!valid_type(t) || !at_end(c))
            return LINE_BAD;
    }
    return LINE_SKIP;
}

static enum line_kind parse_line(struct cur *c, struct sy_prom_sample *s)
{
    skip_blank(c);
    if (at_end(c))
        return LINE_SKIP;
    if (*c->p == '#')
        return parse_comment(c);
    memset(s, 0, offsetof(struct sy_prom_sample, label_names));
    s->has_timestamp = false;
    s->timestamp_ms = 0;
    if (!read_name(c, &s->name))
        return LINE_BAD;
    const char *after_name = c->p;
    skip_blank(c);
    if (!at_end(c) && *c->p == '{') {
        c->p++;
        if (!read_labels(c, s))
            return LINE_BAD;
        after_name = c->p;
        skip_blank(c);
    }
    if (c->p == after_name || at_end(c))
        return LINE_BAD; /* the value must follow, blank-separated */
    if (!parse_double_tok(read_token(c), &s->value))
        return LINE_BAD;
    skip_blank(c);
    if (!at_end(c) && *c->p != '#') {
        if (!parse_timestamp_tok(read_token(c), &s->timestamp_ms))
            return LINE_BAD;
        s->has_timestamp = true;
        skip_blank(c);
    }
    if (!at_end(c)) {
        /* Only an OpenMetrics exemplar may follow: "# {labels} value [ts]". */
        if (*c->p != '#')
            return LINE_BAD;
        c->p++;
        skip_blank(c);
        if (at_end(c) || *c->p != '{')
            return LINE_BAD;
        struct sy_prom_sample ex;
        ex.nlabels = 0;
        c->p++;
        if (!read_labels(c, &ex))
            return LINE_BAD;
        skip_blank(c);
        double ev;
        if (!parse_double_tok(read_token(c), &ev))
            return LINE_BAD;
        skip_blank(c);
        if (!at_end(c)) {
            double ets;
            if (!parse_double_tok(read_token(c), &ets))
                return LINE_BAD;
            skip_blank(c);
            if (!at_end(c))
                return LINE_BAD;
        }
    }
    return LINE_SAMPLE;
}

int sy_prom_parse(const char *text, size_t len, sy_prom_sample_fn *cb, void *ud, int *err_line)
{
    struct sy_prom_sample s;
    const char *p = text;
    const char *end = text + len;
    int line = 0;
    if (err_line)
        *err_line = 0;
    if (len == 0)
        return 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        struct cur c = {p, le};
        if (c.end > c.p && c.end[-1] == '\r')
            c.end--;
        p = nl ? nl + 1 : end;
        switch (parse_line(&c, &s)) {
        case LINE_SKIP: break;
        case LINE_EOF: return 0;
        case LINE_BAD:
            if (err_line)
                *err_line = line;
            return SY_EPARSE;
        case LINE_SAMPLE: {
            int rc = cb ? cb(ud, &s) : 0;
            if (rc != 0)
                return rc;
            break;
        }
        }
    }
    return 0;
}

bool sy_prom_label(const struct sy_prom_sample *s, const char *name, struct sy_str *value)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (sy_str_eq_c(s->label_names[i], name)) {
            if (value)
                *value = s->label_values[i];
            return true;
        }
    }
    return false;
}

size_t sy_prom_unescape(struct sy_str raw, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < raw.len && n + 1 < cap; i++) {
        char ch = raw.p[i];
        if (ch == '\\' && i + 1 < raw.len) {
            char e = raw.p[i + 1];
            if (e == '\\' || e == '"') {
                ch = e;
                i++;
            } else if (e == 'n') {
                ch = '\n';
                i++;
            }
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return n;
}

/* ---- engine mapping ---- */

/* Where one engine reports each field. NULL = not reported. */
struct engine_names {
    const char *waiting;      /* gauge, summed over series */
    const char *running;      /* gauge, summed over series */
    const char *kv;           /* gauge in [0,1], max over series */
    const char *kv_fallback;  /* older name, used only when kv is absent */
    const char *cache_info;   /* info gauge carrying geometry in labels */
    const char *block_label;  /* label of cache_info: tokens per block */
    const char *nblock_label; /* label of cache_info: number of blocks */
    const char *block_gauge;  /* gauge: tokens per block */
    const char *nblock_gauge; /* gauge: number of blocks */
    const char *lora_info;    /* vLLM lora_requests_info */
};

static const struct engine_names g_engines[] = {
    [SY_ENGINE_VLLM] =
        {
            .waiting = "vllm:num_requests_waiting",
            .running = "vllm:num_requests_running",
            .kv = "vllm:kv_cache_usage_perc",
            .kv_fallback = "vllm:gpu_cache_usage_perc",
            .cache_info = "vllm:cache_config_info",
            .block_label = "block_size",
            .nblock_label = "num_gpu_blocks",
            .lora_info = "vllm:lora_requests_info",
        },
    [SY_ENGINE_SGLANG] =
        {
            .waiting = "sglang:num_queue_reqs",
            .running = "sglang:num_running_reqs",
            .kv = "sglang:token_usage",
            .cache_info = "sglang:cache_config_info",
            .block_label = "page_size",
            .nblock_label = "num_pages",
        },
    [SY_ENGINE_TRTLLM] =
        {
            .waiting = "trtllm_num_requests_waiting",
            .running = "trtllm_num_requests_running",
            .kv = "trtllm_kv_cache_utilization",
            .block_gauge = "trtllm_kv_cache_tokens_per_block",
            .nblock_gauge = "trtllm_kv_cache_max_blocks",
        },
    /* llama.cpp: kv_cache_usage_ratio was removed upstream (PR #13660, 2025); older servers
     * still export it, newer ones report only the queue and busy slots. */
    [SY_ENGINE_LLAMACPP] =
        {
            .waiting = "llamacpp:requests_deferred",
            .running = "llamacpp:requests_processing",
            .kv = "llamacpp:kv_cache_usage_ratio",
        },
};

struct engine_acc {
    const struct engine_names *n;
    struct sy_engine_metrics *m;
    double kv_fb;     /* fallback KV usage, -1 = absent */
    double lora_best; /* value of the chosen lora_requests_info series */
    bool have_lora;   /* a lora series was chosen */
};

static bool usable(double v)
{
    return isfinite(v) && v >= 0;
}

static void acc_sum(double *field, double v)
{
    if (!usable(v))
        return;
    *field = *field < 0 ? v : *field + v;
}

static void acc_max(double *field, double v)
{
    if (!usable(v))
        return;
    if (v > 1.0)
        v = 1.0;
    if (v > *field)
        *field = v;
}

/* Parses a label value as a non-negative integer; false for "None", "", junk. */
static bool label_int(const struct sy_prom_sample *s, const char *name, int64_t *out)
{
    struct sy_str v;
    if (!name || !sy_prom_label(s, name, &v) || v.len == 0 || v.len > 18)
        return false;
    int64_t r = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        r = r * 10 + (v.p[i] - '0');
    }
    *out = r;
    return true;
}

static void gauge_int(double v, int64_t *field)
{
    if (usable(v) && v < 9.0e18 && *field < 0)
        *field = (int64_t)v;
}

static int engine_cb(void *ud, const struct sy_prom_sample *s)
{
    struct engine_acc *a = ud;
    const struct engine_names *n = a->n;
    struct sy_engine_metrics *m = a->m;
    if (n->waiting && sy_str_eq_c(s->name, n->waiting)) {
        acc_sum(&m->waiting, s->value);
    } else if (n->running && sy_str_eq_c(s->name, n->running)) {
        acc_sum(&m->running, s->value);
    } else if (n->kv && sy_str_eq_c(s->name, n->kv)) {
        acc_max(&m->kv_usage, s->value);
    } else if (n->kv_fallback && sy_str_eq_c(s->name, n->kv_fallback)) {
        acc_max(&a->kv_fb, s->value);
    } else if (n->cache_info && sy_str_eq_c(s->name, n->cache_info)) {
        /* The first series with a valid value wins for each field. */
        int64_t v;
        if (m->block_size < 0 && label_int(s, n->block_label, &v))
            m->block_size = v;
        if (m->num_blocks < 0 && label_int(s, n->nblock_label, &v))
            m->num_blocks = v;
    } else if (n->block_gauge && sy_str_eq_c(s->name, n->block_gauge)) {
        gauge_int(s->value, &m->block_size);
    } else if (n->nblock_gauge && sy_str_eq_c(s->name, n->nblock_gauge)) {
        gauge_int(s->value, &m->num_blocks);
    } else if (n->lora_info && sy_str_eq_c(s->name, n->lora_info)) {
        /* The value is a timestamp: the largest is the latest report (llm-d loraspec.go). */
        if (isnan(s->value) || (a->have_lora && !(s->value > a->lora_best)))
            return 0;
        a->have_lora = true;
        a->lora_best = s->value;
        struct sy_str v;
        m->running_loras[0] = m->waiting_loras[0] = '\0';
        if (sy_prom_label(s, "running_lora_adapters", &v))
            sy_prom_unescape(v, m->running_loras, sizeof m->running_loras);
        if (sy_prom_label(s, "waiting_lora_adapters", &v))
            sy_prom_unescape(v, m->waiting_loras, sizeof m->waiting_loras);
        int64_t ml;
        m->max_lora = label_int(s, "max_lora", &ml) ? ml : -1;
    }
    return 0;
}

int sy_engine_metrics_parse(enum sy_engine engine, const char *text, size_t len,
                            struct sy_engine_metrics *m, int *err_line)
{
    memset(m, 0, sizeof *m);
    m->waiting = m->running = m->kv_usage = -1;
    m->block_size = m->num_blocks = m->max_lora = -1;
    if (err_line)
        *err_line = 0;
    if ((unsigned)engine >= sizeof g_engines / sizeof g_engines[0])
        return SY_EINVAL;
    struct engine_acc a = {.n = &g_engines[engine], .m = m, .kv_fb = -1};
    int rc = sy_prom_parse(text, len, engine_cb, &a, err_line);
    if (rc != 0)
        return rc;
    if (m->kv_usage < 0)
        m->kv_usage = a.kv_fb;
    if (m->waiting < 0 && m->running < 0 && m->kv_usage < 0)
        return SY_ENOTFOUND;
    return 0;
}
