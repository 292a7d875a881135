/* report.c - what a benchmark run shows: terminal table, JSON file, HTML report.
 *
 * Terminal: one column per target, one row per metric, and for every target after the first a
 * ratio column "target/first" (lower is better for latencies, higher for throughput); then the
 * share of requests per endpoint and every error kind with its first message.
 *
 * JSON: {"meta": {"title","workload","load"}, "runs": [{"name","target","ttft_mean_s",
 * "ttft_p90_s","itl_mean_s","e2e_mean_s","req_per_s","output_tok_per_s","errors", ...}]}; the
 * full field list is in docs/bench.md. Unknown quantities (no metrics URL) are null, never 0.
 *
 * HTML: one self-contained page (inline CSS and SVG, no script, no external resource) so it can
 * be mailed or attached to a CI run: the table, bar charts of TTFT and throughput per target, CDFs
 * of TTFT and E2E per target (latency distributions), and per target the load on each endpoint
 * over time (average requests in flight per time bucket, computed from the request records).
 * Every string from the outside (target names, endpoint names, error messages) is escaped.
 *
 * Per stage (--stages): after the table, one line per stage with, per target, the TTFT mean,
 * E2E mean, ITL mean, req/s and schedule delay p90 of the requests scheduled in that stage;
 * "stages" in the JSON and a table in the HTML carry the same (stats.c defines them).
 *
 * Time scale: runs measured against a time-scaled target (struct sy_bench_run.time_scale != 1)
 * hold simulated seconds (stats.c); the table, the JSON ("time_scale" in meta and in every run)
 * and the HTML say so, since their numbers are the simulated GPU's, not the wall clock's.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"
#include "core/err.h"

/* ---- terminal ---------------------------------------------------------------------------- */

enum better { LOWER, HIGHER, NONE };

struct row {
    const char *label; /* row title */
    double scale;      /* multiply the value for display */
    const char *fmt;   /* printf format of the value */
    enum better b;     /* which direction is good (ratio shown unless NONE) */
    double (*get)(const struct sy_bench_run *r); /* value; NAN = unknown */
};

#define GETTER(fname, expr)                                                                        \
    static double fname(const struct sy_bench_run *r)                                              \
    {                                                                                              \
        return (expr);                                                                             \
    }
GETTER(g_ok, (double)r->completed)
GETTER(g_err, (double)r->total_errors)
GETTER(g_ttft_mean, r->ttft.n ? r->ttft.mean : NAN)
GETTER(g_ttft_p50, r->ttft.n ? r->ttft.p50 : NAN)
GETTER(g_ttft_p90, r->ttft.n ? r->ttft.p90 : NAN)
GETTER(g_ttft_p99, r->ttft.n ? r->ttft.p99 : NAN)
GETTER(g_itl_mean, r->itl_sum.n ? r->itl_sum.mean : NAN)
GETTER(g_itl_p90, r->itl_sum.n ? r->itl_sum.p90 : NAN)
GETTER(g_itl_p99, r->itl_sum.n ? r->itl_sum.p99 : NAN)
GETTER(g_good, r->goodput_per_s)
GETTER(g_tpot_mean, r->tpot.n ? r->tpot.mean : NAN)
GETTER(g_e2e_mean, r->e2e.n ? r->e2e.mean : NAN)
GETTER(g_e2e_p90, r->e2e.n ? r->e2e.p90 : NAN)
GETTER(g_rps, r->req_per_s)
GETTER(g_otps, r->output_tok_per_s)
GETTER(g_hit, r->cache_hit_rate >= 0 ? r->cache_hit_rate : NAN)
GETTER(g_cached, r->cached_ratio >= 0 ? r->cached_ratio : NAN)
GETTER(g_dur, r->duration_s)
GETTER(g_cap, r->max_concurrency ? (double)r->max_concurrency : NAN)
GETTER(g_sd_p50, r->sched_delay.n ? r->sched_delay.p50 : NAN)
GETTER(g_sd_p90, r->sched_delay.n ? r->sched_delay.p90 : NAN)
GETTER(g_sd_max, r->sched_delay.n ? r->sched_delay.max : NAN)

static const struct row rows[] = {
    {"requests ok", 1, "%.0f", NONE, g_ok},
    {"errors", 1, "%.0f", NONE, g_err},
    {"TTFT mean (s)", 1, "%.3f", LOWER, g_ttft_mean},
    {"TTFT p50 (s)", 1, "%.3f", LOWER, g_ttft_p50},
    {"TTFT p90 (s)", 1, "%.3f", LOWER, g_ttft_p90},
    {"TTFT p99 (s)", 1, "%.3f", LOWER, g_ttft_p99},
    {"ITL mean (ms)", 1000, "%.2f", LOWER, g_itl_mean},
    {"ITL p90 (ms)", 1000, "%.2f", LOWER, g_itl_p90},
    {"ITL p99 (ms)", 1000, "%.2f", LOWER, g_itl_p99},
    {"TPOT mean (ms)", 1000, "%.2f", LOWER, g_tpot_mean},
    {"E2E mean (s)", 1, "%.3f", LOWER, g_e2e_mean},
    {"E2E p90 (s)", 1, "%.3f", LOWER, g_e2e_p90},
    {"req/s", 1, "%.2f", HIGHER, g_rps},
    {"output tok/s", 1, "%.1f", HIGHER, g_otps},
    {"goodput (req/s in SLO)", 1, "%.2f", HIGHER, g_good},
    {"prefix-cache hit rate", 100, "%.1f%%", HIGHER, g_hit},
    {"cached prompt tokens", 100, "%.1f%%", HIGHER, g_cached},
    {"duration (s)", 1, "%.1f", NONE, g_dur},
    {"in-flight cap", 1, "%.0f", NONE, g_cap},
    {"sched. delay p50 (s)", 1, "%.3f", LOWER, g_sd_p50},
    {"sched. delay p90 (s)", 1, "%.3f", LOWER, g_sd_p90},
    {"sched. delay max (s)", 1, "%.3f", LOWER, g_sd_max},
};
#define NROWS (sizeof rows / sizeof rows[0])

static void fmt_value(char *out, size_t cap, const struct row *rw, double v)
{
    if (isnan(v))
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, rw->fmt, v * rw->scale);
}

static void fmt_ratio(char *out, size_t cap, double v, double base)
{
    if (isnan(v) || isnan(base) || base == 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2fx", v / base);
}

/* The runs' common time scale: 1 (wall clock) unless some run was converted, then the first such
 * run's (the CLI and the demo give all runs the same one). */
static double runs_scale(struct sy_bench_run *const *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (runs[i]->time_scale > 0 && runs[i]->time_scale != 1)
            return runs[i]->time_scale;
    return 1;
}

/* "simulated time: ..." sentence for a time scale x != 1. */
static void scale_note(char *out, size_t cap, double x)
{
    snprintf(out, cap,
             "times and rates in simulated seconds: the target ran at time scale %g (%g simulated "
             "s per wall-clock s); latencies = wall x %g, rates = wall / %g",
             x, x, x, x);
}

void sy_bench_print_table(FILE *f, struct sy_bench_run *const *runs, size_t n)
{
    if (n == 0)
        return;
    double x = runs_scale(runs, n);
    if (x != 1) {
        char note[256];
        scale_note(note, sizeof note, x);
        fprintf(f, "%s\n", note);
    }
    int w0 = 22, wc = 12;
    for (size_t i = 0; i < n; i++) {
        int l = (int)strlen(runs[i]->name);
        if (l > wc && l < 40)
            wc = l;
    }
    char hdr[128];
    fprintf(f, "%-*s", w0, "");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %*s", wc, runs[i]->name);
    for (size_t i = 1; i < n; i++) {
        snprintf(hdr, sizeof hdr, "%s/%s", runs[i]->name, runs[0]->name);
        fprintf(f, "  %*s", wc, hdr);
    }
    fprintf(f, "\n");
    for (size_t k = 0; k < NROWS; k++) {
        const struct row *rw = &rows[k];
        char cell[64];
        fprintf(f, "%-*s", w0, rw->label);
        for (size_t i = 0; i < n; i++) {
            fmt_value(cell, sizeof cell, rw, rw->get(runs[i]));
            fprintf(f, "  %*s", wc, cell);
        }
        for (size_t i = 1; i < n; i++) {
            if (rw->b == NONE)
                snprintf(cell, sizeof cell, "%s", "");
            else
                fmt_ratio(cell, sizeof cell, rw->get(runs[i]), rw->get(runs[0]));
            fprintf(f, "  %*s", wc, cell);
        }
        fprintf(f, "\n");
    }
    size_t ns = runs[0]->nstages;
    if (ns) {
        fprintf(f,
                "\nper stage (requests scheduled in the stage; req/s over their first send .. "
                "last completion; delay = p90 of send - scheduled time)\n%-16s",
                "stage");
        for (size_t i = 0; i < n; i++)
            fprintf(f, " | %-12.12s %8s %8s %7s %6s %8s", runs[i]->name, "TTFT(s)", "E2E(s)",
                    "ITL(ms)", "req/s", "delay(s)");
        fprintf(f, "\n");
        for (size_t k = 0; k < ns; k++) {
            char st[48];
            snprintf(st, sizeof st, "%g/s x %gs", runs[0]->stages[k].rate,
                     runs[0]->stages[k].duration_s);
            fprintf(f, "%-16s", st);
            for (size_t i = 0; i < n; i++) {
                const struct sy_stage_sum *g = k < runs[i]->nstages ? &runs[i]->stage_sum[k] : NULL;
                char d[16];
                snprintf(d, sizeof d, g && g->sched_delay.n ? "%.3f" : "-",
                         g ? g->sched_delay.p90 : 0.0);
                if (!g || !g->completed) {
                    fprintf(f, " | %4zu sent %-3s %8s %8s %7s %6s %8s", g ? g->requests : 0, "",
                            "-", "-", "-", "-", d);
                    continue;
                }
                char t[16], e[16], l[16];
                snprintf(t, sizeof t, g->ttft.n ? "%.3f" : "-", g->ttft.mean);
                snprintf(e, sizeof e, "%.2f", g->e2e.mean);
                snprintf(l, sizeof l, isnan(g->itl_mean_s) ? "-" : "%.1f", g->itl_mean_s * 1000);
                fprintf(f, " | %4zu sent %-3s %8s %8s %7s %6.2f %8s", g->requests, "", t, e, l,
                        g->req_per_s, d);
            }
            fprintf(f, "\n");
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct sy_bench_run *r = runs[i];
        fprintf(f, "\n%s (%s)%s\n", r->name, r->target,
                r->interrupted ? "  [interrupted: partial results]" : "");
        if (r->nendpoints) {
            fprintf(f, "  requests per endpoint:");
            for (size_t e = 0; e < r->nendpoints; e++) {
                size_t c = sy_bench_run_endpoint_count(r, (int)e);
                fprintf(f, " %s %.1f%%", r->endpoints[e],
                        r->nrecs ? 100.0 * (double)c / (double)r->nrecs : 0.0);
            }
            fprintf(f, "\n");
        }
        for (size_t k = 0; k < SY_BE_COUNT_; k++) {
            if (r->errors[k])
                fprintf(f, "  errors %s: %zu (first: %s)\n", sy_bench_err_name(k), r->errors[k],
                        r->first_error[k] ? r->first_error[k] : "");
        }
        if (r->cancelled)
            fprintf(f, "  cancelled in flight: %zu\n", r->cancelled);
        if (r->stage_interval_s >= 0)
            fprintf(f,
                    "  stage barrier: each stage started once the earlier stages' requests had "
                    "finished, + %gs\n",
                    r->stage_interval_s);
        if (r->unsent)
            fprintf(f, "  never sent (waiting for an in-flight slot when the run stopped): %zu\n",
                    r->unsent);
    }
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static void add_summary(cJSON *o, const char *prefix, const struct sy_summary *s)
{
    static const char *const names[] = {"mean", "p50", "p90", "p99", "min", "max"};
    double v[] = {s->mean, s->p50, s->p90, s->p99, s->min, s->max};
    char key[64];
    for (size_t i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "%s_%s_s", prefix, names[i]);
        add_num(o, key, s->n ? v[i] : NAN);
    }
}

/* --json-requests: one object per request in completion order, times in the run's units
 * (simulated seconds with a time scale); to see where each session's turns went and when. */
static void add_request_log(cJSON *o, const struct sy_bench_run *r)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "request_log");
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct sy_req_rec *q = &r->recs[i];
        cJSON *x = cJSON_CreateObject();
        add_num(x, "item", q->item >= 0 ? (double)q->item : NAN);
        add_num(x, "group", (double)q->group);
        add_num(x, "turn", (double)q->turn);
        if (r->nstages)
            add_num(x, "stage", (double)q->stage);
        if (q->endpoint >= 0 && (size_t)q->endpoint < r->nendpoints)
            cJSON_AddStringToObject(x, "endpoint", r->endpoints[q->endpoint]);
        else
            cJSON_AddNullToObject(x, "endpoint");
        add_num(x, "start_s", q->start_s);
        add_num(x, "end_s", q->end_s);
        add_num(x, "ttft_s", q->ttft_s >= 0 ? q->ttft_s : NAN);
        add_num(x, "prompt_tokens", (double)q->prompt_tokens);
        add_num(x, "cached_tokens", (double)q->cached_tokens);
        add_num(x, "output_tokens", (double)q->out_tokens);
        /* its inter-token gaps in order: token k+1 arrived at start_s + ttft_s + the first k */
        if (q->itl_n && q->itl_first <= r->nitl && q->itl_n <= r->nitl - q->itl_first)
            cJSON_AddItemToObject(x, "itl_gaps_s",
                                  cJSON_CreateDoubleArray(r->itl + q->itl_first, (int)q->itl_n));
        else
            cJSON_AddItemToObject(x, "itl_gaps_s", cJSON_CreateArray());
        if (q->err >= 0)
            cJSON_AddStringToObject(x, "error", sy_bench_err_name((enum sy_bench_err)q->err));
        else
            cJSON_AddNullToObject(x, "error");
        cJSON_AddItemToArray(arr, x);
    }
}

static cJSON *run_json(const struct sy_bench_run *r, bool request_log)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "target", r->target);
    add_num(o, "requests", (double)(r->nrecs + r->cancelled));
    add_num(o, "completed", (double)r->completed);
    add_num(o, "errors", (double)r->total_errors);
    cJSON *ek = cJSON_AddObjectToObject(o, "errors_by_kind");
    for (size_t k = 0; k < SY_BE_COUNT_; k++)
        add_num(ek, sy_bench_err_name(k), (double)r->errors[k]);
    cJSON *em = cJSON_AddObjectToObject(o, "first_error");
    for (size_t k = 0; k < SY_BE_COUNT_; k++)
        if (r->first_error[k])
            cJSON_AddStringToObject(em, sy_bench_err_name(k), r->first_error[k]);
    add_num(o, "cancelled", (double)r->cancelled);
    add_num(o, "unsent", (double)r->unsent);
    add_num(o, "max_concurrency", r->max_concurrency ? (double)r->max_concurrency : NAN);
    cJSON_AddBoolToObject(o, "session_wait", r->session_wait);
    add_num(o, "session_held", (double)r->session_held);
    add_num(o, "stage_interval_s", r->stage_interval_s >= 0 ? r->stage_interval_s : NAN);
    cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
    add_num(o, "duration_s", r->duration_s);
    add_num(o, "t0_monotonic_s", r->t0_monotonic_s);
    add_num(o, "time_scale", r->time_scale > 0 ? r->time_scale : 1);
    add_summary(o, "ttft", &r->ttft);
    add_summary(o, "itl", &r->itl_sum);
    add_summary(o, "tpot", &r->tpot);
    add_summary(o, "e2e", &r->e2e);
    add_summary(o, "schedule_delay", &r->sched_delay);
    add_num(o, "req_per_s", r->req_per_s);
    add_num(o, "output_tok_per_s", r->output_tok_per_s);
    add_num(o, "slo_ttft_s", r->slo_ttft_s);
    add_num(o, "slo_itl_p99_s", r->slo_itl_p99_s);
    add_num(o, "goodput_requests", (double)r->good);
    add_num(o, "goodput_req_per_s", r->goodput_per_s);
    add_num(o, "input_tok_per_s", r->input_tok_per_s);
    add_num(o, "output_tokens", (double)r->output_tokens);
    add_num(o, "prompt_tokens", (double)r->prompt_tokens);
    add_num(o, "cached_tokens", (double)r->cached_tokens);
    add_num(o, "cached_token_ratio", r->cached_ratio >= 0 ? r->cached_ratio : NAN);
    add_num(o, "prefix_cache_hit_rate", r->cache_hit_rate >= 0 ? r->cache_hit_rate : NAN);
    add_num(o, "prefix_cache_queries", r->cache_queries >= 0 ? r->cache_queries : NAN);
    add_num(o, "prefix_cache_hits", r->cache_hits >= 0 ? r->cache_hits : NAN);
    cJSON *eps = cJSON_AddArrayToObject(o, "endpoints");
    for (size_t e = 0; e < r->nendpoints; e++) {
        cJSON *x = cJSON_CreateObject();
        size_t c = sy_bench_run_endpoint_count(r, (int)e);
        cJSON_AddStringToObject(x, "endpoint", r->endpoints[e]);
        add_num(x, "requests", (double)c);
        add_num(x, "share", r->nrecs ? (double)c / (double)r->nrecs : 0);
        cJSON_AddItemToArray(eps, x);
    }
    add_num(o, "requests_without_endpoint", (double)sy_bench_run_endpoint_count(r, -1));
    if (r->nstages) {
        cJSON *st = cJSON_AddArrayToObject(o, "stages");
        for (size_t k = 0; k < r->nstages; k++) {
            const struct sy_stage_sum *g = &r->stage_sum[k];
            cJSON *x = cJSON_CreateObject();
            add_num(x, "rate", r->stages[k].rate);
            add_num(x, "duration_s", r->stages[k].duration_s);
            add_num(x, "requests", (double)g->requests);
            add_num(x, "completed", (double)g->completed);
            add_num(x, "errors", (double)g->errors);
            add_summary(x, "ttft", &g->ttft);
            add_summary(x, "e2e", &g->e2e);
            add_num(x, "itl_mean_s", g->itl_mean_s);
            add_num(x, "itl_p50_s", g->itl.n ? g->itl.p50 : NAN);
            add_num(x, "itl_p90_s", g->itl.n ? g->itl.p90 : NAN);
            add_num(x, "itl_p99_s", g->itl.n ? g->itl.p99 : NAN);
            add_summary(x, "ntpot", &g->ntpot);
            add_summary(x, "tpot", &g->tpot);
            add_summary(x, "schedule_delay", &g->sched_delay);
            add_num(x, "output_tokens", (double)g->output_tokens);
            add_num(x, "span_s", g->span_s);
            add_num(x, "req_per_s", g->req_per_s);
            add_num(x, "output_tok_per_s", g->output_tok_per_s);
            cJSON_AddItemToArray(st, x);
        }
    }
    if (request_log)
        add_request_log(o, r);
    return o;
}

int sy_bench_write_json(const char *path, const struct sy_bench_meta *m,
                        struct sy_bench_run *const *runs, size_t n, char *err, size_t errcap)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "meta");
    cJSON_AddStringToObject(meta, "title", m && m->title ? m->title : "switchyard bench");
    cJSON_AddStringToObject(meta, "workload", m && m->workload ? m->workload : "");
    cJSON_AddStringToObject(meta, "load", m && m->load ? m->load : "");
    add_num(meta, "time_scale", m && m->time_scale > 0 ? m->time_scale : runs_scale(runs, n));
    cJSON *arr = cJSON_AddArrayToObject(root, "runs");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, run_json(runs[i], m && m->request_log));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    int rc = 0;
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF) {
        snprintf(err, errcap, "%s: cannot write: %m", path);
        rc = SY_EIO;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, errcap, "%s: cannot write: %m", path);
        rc = SY_EIO;
    }
    free(text);
    return rc;
}

/* ---- HTML -------------------------------------------------------------------------------- */

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};
#define COLOR(i) palette[(i) % (sizeof palette / sizeof palette[0])]

static void esc(struct sy_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sy_buf_puts(b, "&lt;"); break;
        case '>': sy_buf_puts(b, "&gt;"); break;
        case '&': sy_buf_puts(b, "&amp;"); break;
        case '"': sy_buf_puts(b, "&quot;"); break;
        case '\'': sy_buf_puts(b, "&#39;"); break;
        default: sy_buf_append(b, s, 1);
        }
    }
}

/* A "nice" axis maximum >= v (1, 2, 2.5, 5 x 10^k). */
static double nice_max(double v)
{
    if (!(v > 0))
        return 1;
    double e = pow(10, floor(log10(v)));
    const double steps[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < 5; i++)
        if (v <= steps[i] * e)
            return steps[i] * e;
    return 10 * e;
}

#define CW 560 /* chart width (px) */
#define CH 260 /* chart height */
#define ML 60  /* left margin */
#define MB 40  /* bottom margin */
#define MT 30  /* top margin */
#define MR 20  /* right margin */

static void chart_open(struct sy_buf *b, const char *title)
{
    sy_buf_printf(b,
                  "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>",
                  CW, CH, CW, CH);
    esc(b, title);
    sy_buf_printf(b, "</title><text x=\"%d\" y=\"18\" class=\"t\">", ML);
    esc(b, title);
    sy_buf_puts(b, "</text>");
}

/* Short number for chart labels: 2445, 38.2, 0.0829 (no exponent for everyday magnitudes). */
static const char *num(char *out, size_t cap, double v)
{
    double a = fabs(v);
    if (a >= 1e7 || (a > 0 && a < 1e-3))
        snprintf(out, cap, "%.3g", v);
    else if (a >= 100)
        snprintf(out, cap, "%.0f", v);
    else
        snprintf(out, cap, "%.3g", v);
    return out;
}

static void y_axis(struct sy_buf *b, double ymax, const char *unit)
{
    char t[32];
    int h = CH - MT - MB;
    for (int i = 0; i <= 4; i++) {
        double y = MT + h - h * i / 4.0;
        sy_buf_printf(b,
                      "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"g\"/>"
                      "<text x=\"%d\" y=\"%.1f\" class=\"a\" text-anchor=\"end\">%s%s</text>",
                      ML, CW - MR, y, y, ML - 4, y + 4, num(t, sizeof t, ymax * i / 4.0), unit);
    }
}

/* Grouped bars: ngroups groups (targets) x nser series. v[s*ngroups+g]; NAN = no bar. */
static void bar_chart(struct sy_buf *b, const char *title, const char *unit,
                      const char *const *groups, size_t ngroups, const char *const *series,
                      size_t nser, const double *v)
{
    double mx = 0;
    for (size_t i = 0; i < ngroups * nser; i++)
        if (!isnan(v[i]) && v[i] > mx)
            mx = v[i];
    mx = nice_max(mx);
    chart_open(b, title);
    y_axis(b, mx, unit);
    int w = CW - ML - MR, h = CH - MT - MB;
    double gw = (double)w / (double)(ngroups ? ngroups : 1);
    double bw = gw * 0.7 / (double)(nser ? nser : 1);
    char t[32];
    for (size_t g = 0; g < ngroups; g++) {
        double gx = ML + gw * (double)g + gw * 0.15;
        for (size_t s = 0; s < nser; s++) {
            double val = v[s * ngroups + g];
            if (isnan(val))
                continue;
            double bh = h * val / mx;
            sy_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                          "fill=\"%s\"><title>%.4g%s</title></rect>"
                          "<text x=\"%.1f\" y=\"%.1f\" class=\"v\" text-anchor=\"middle\">%s"
                          "</text>",
                          gx + bw * (double)s, MT + h - bh, bw * 0.92, bh, COLOR(s), val, unit,
                          gx + bw * (double)s + bw * 0.46, MT + h - bh - 3, num(t, sizeof t, val));
        }
        sy_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"a\" text-anchor=\"middle\">",
                      ML + gw * (double)g + gw / 2, CH - MB + 16);
        esc(b, groups[g]);
        sy_buf_puts(b, "</text>");
    }
    for (size_t s = 0; s < nser && nser > 1; s++) {
        sy_buf_printf(b,
                      "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                      "<text x=\"%d\" y=\"%d\" class=\"a\">",
                      CW - MR - 150, MT + 14 * (int)s - 8, COLOR(s), CW - MR - 136,
                      MT + 14 * (int)s);
        esc(b, series[s]);
        sy_buf_puts(b, "</text>");
    }
    sy_buf_puts(b, "</svg>\n");
}

struct line {
    const char *name;    /* legend */
    const double *x, *y; /* points */
    size_t n;            /* count */
};

static void line_chart(struct sy_buf *b, const char *title, const char *xunit, const char *yunit,
                       const struct line *ls, size_t nl, double ymax_fixed)
{
    double xmax = 0, ymax = 0;
    for (size_t l = 0; l < nl; l++) {
        for (size_t i = 0; i < ls[l].n; i++) {
            if (ls[l].x[i] > xmax)
                xmax = ls[l].x[i];
            if (ls[l].y[i] > ymax)
                ymax = ls[l].y[i];
        }
    }
    xmax = nice_max(xmax);
    ymax = ymax_fixed > 0 ? ymax_fixed : nice_max(ymax);
    chart_open(b, title);
    y_axis(b, ymax, yunit);
    int w = CW - ML - MR, h = CH - MT - MB;
    char t[32];
    for (int i = 0; i <= 4; i++)
        sy_buf_printf(b,
                      "<text x=\"%.1f\" y=\"%d\" class=\"a\" text-anchor=\"middle\">%s%s"
                      "</text>",
                      ML + w * i / 4.0, CH - MB + 16, num(t, sizeof t, xmax * i / 4.0), xunit);
    for (size_t l = 0; l < nl; l++) {
        if (ls[l].n == 0)
            continue;
        sy_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                      COLOR(l));
        for (size_t i = 0; i < ls[l].n; i++)
            sy_buf_printf(b, "%.1f,%.1f ", ML + w * ls[l].x[i] / xmax,
                          MT + h - h * ls[l].y[i] / ymax);
        sy_buf_puts(b, "\"/>");
        sy_buf_printf(b,
                      "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                      "<text x=\"%d\" y=\"%d\" class=\"a\">",
                      CW - MR - 170, MT + 14 * (int)l - 8, COLOR(l), CW - MR - 156,
                      MT + 14 * (int)l);
        esc(b, ls[l].name);
        sy_buf_puts(b, "</text>");
    }
    sy_buf_puts(b, "</svg>\n");
}

/* CDF points of run's TTFT (which = 0) or E2E (1), at most 200 points. Caller frees x, y. */
static size_t cdf(const struct sy_bench_run *r, int which, double **x, double **y)
{
    size_t n = 0;
    double *v = sy_xmalloc((r->nrecs + 1) * sizeof *v);
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct sy_req_rec *q = &r->recs[i];
        if (q->err >= 0)
            continue;
        double d = which == 0 ? q->ttft_s : q->end_s - q->start_s;
        if (d >= 0)
            v[n++] = d;
    }
    struct sy_summary s;
    sy_stats_summarize(v, n, &s); /* sorts */
    size_t np = n < 200 ? n : 200;
    *x = sy_xmalloc((np + 1) * sizeof **x);
    *y = sy_xmalloc((np + 1) * sizeof **y);
    for (size_t i = 0; i < np; i++) {
        double frac = np > 1 ? (double)i / (double)(np - 1) : 1;
        (*x)[i] = sy_stats_percentile(v, n, frac * 100);
        (*y)[i] = frac * 100;
    }
    free(v);
    return np;
}

#define NBUCKETS 60 /* time buckets of the load-over-time chart */

/* Average in-flight requests per endpoint per bucket. */
static void load_chart(struct sy_buf *b, const struct sy_bench_run *r)
{
    size_t ne = r->nendpoints ? r->nendpoints : 0;
    double span = r->duration_s > 0 ? r->duration_s : 1;
    double bw = span / NBUCKETS;
    size_t nl = ne + 1; /* + requests without the header */
    double *load = sy_xcalloc(nl * NBUCKETS, sizeof *load);
    double *xs = sy_xmalloc(NBUCKETS * sizeof *xs);
    for (size_t k = 0; k < NBUCKETS; k++)
        xs[k] = bw * ((double)k + 0.5);
    bool none = false;
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct sy_req_rec *q = &r->recs[i];
        size_t e = q->endpoint >= 0 ? (size_t)q->endpoint : ne;
        none |= q->endpoint < 0;
        for (size_t k = 0; k < NBUCKETS; k++) {
            double a = bw * (double)k, z = a + bw;
            double lo = q->start_s > a ? q->start_s : a, hi = q->end_s < z ? q->end_s : z;
            if (hi > lo)
                load[e * NBUCKETS + k] += (hi - lo) / bw;
        }
    }
    struct line *ls = sy_xcalloc(nl, sizeof *ls);
    size_t used = 0;
    for (size_t e = 0; e < nl; e++) {
        if (e == ne && !none)
            continue;
        ls[used].name = e < ne ? r->endpoints[e] : "(no endpoint header)";
        ls[used].x = xs;
        ls[used].y = &load[e * NBUCKETS];
        ls[used].n = NBUCKETS;
        used++;
    }
    struct sy_buf t;
    sy_buf_init(&t);
    sy_buf_printf(&t, "%s: requests in flight per endpoint over time", r->name);
    line_chart(b, t.data, "s", "", ls, used, 0);
    sy_buf_fini(&t);
    free(ls);
    free(load);
    free(xs);
}

static void html_table(struct sy_buf *b, struct sy_bench_run *const *runs, size_t n)
{
    sy_buf_puts(b, "<table><tr><th></th>");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(b, "<th>");
        esc(b, runs[i]->name);
        sy_buf_puts(b, "</th>");
    }
    for (size_t i = 1; i < n; i++) {
        sy_buf_puts(b, "<th>");
        esc(b, runs[i]->name);
        sy_buf_puts(b, " / ");
        esc(b, runs[0]->name);
        sy_buf_puts(b, "</th>");
    }
    sy_buf_puts(b, "</tr>\n");
    for (size_t k = 0; k < NROWS; k++) {
        char cell[64];
        sy_buf_printf(b, "<tr><td>%s</td>", rows[k].label);
        for (size_t i = 0; i < n; i++) {
            fmt_value(cell, sizeof cell, &rows[k], rows[k].get(runs[i]));
            sy_buf_printf(b, "<td>%s</td>", cell);
        }
        for (size_t i = 1; i < n; i++) {
            if (rows[k].b == NONE)
                cell[0] = '\0';
            else
                fmt_ratio(cell, sizeof cell, rows[k].get(runs[i]), rows[k].get(runs[0]));
            sy_buf_printf(b, "<td>%s</td>", cell);
        }
        sy_buf_puts(b, "</tr>\n");
    }
    sy_buf_puts(b, "</table>\n");
}

/* Per-stage table: one row per stage, per target TTFT mean, E2E mean, ITL mean, req/s. */
static void html_stages(struct sy_buf *b, struct sy_bench_run *const *runs, size_t n)
{
    sy_buf_puts(b,
                "<h2>Per stage</h2>\n<p class=\"meta\">Requests scheduled in each stage; "
                "req/s over their first send .. last completion.</p>\n<table><tr><th>stage</th>");
    for (size_t i = 0; i < n; i++) {
        sy_buf_puts(b, "<th colspan=\"5\">");
        esc(b, runs[i]->name);
        sy_buf_puts(b, "</th>");
    }
    sy_buf_puts(b, "</tr>\n<tr><th></th>");
    for (size_t i = 0; i < n; i++)
        sy_buf_puts(b, "<th>sent</th><th>TTFT mean (s)</th><th>E2E mean (s)</th>"
                       "<th>ITL mean (ms)</th><th>req/s</th>");
    sy_buf_puts(b, "</tr>\n");
    for (size_t k = 0; k < runs[0]->nstages; k++) {
        sy_buf_printf(b, "<tr><td>%g req/s x %g s</td>", runs[0]->stages[k].rate,
                      runs[0]->stages[k].duration_s);
        for (size_t i = 0; i < n; i++) {
            const struct sy_stage_sum *g = k < runs[i]->nstages ? &runs[i]->stage_sum[k] : NULL;
            if (!g || !g->completed) {
                sy_buf_printf(b, "<td>%zu</td><td>-</td><td>-</td><td>-</td><td>-</td>",
                              g ? g->requests : 0);
                continue;
            }
            char itl[32];
            if (isnan(g->itl_mean_s))
                snprintf(itl, sizeof itl, "-");
            else
                snprintf(itl, sizeof itl, "%.1f", g->itl_mean_s * 1000);
            sy_buf_printf(b, "<td>%zu</td><td>%.3f</td><td>%.2f</td><td>%s</td><td>%.2f</td>",
                          g->requests, g->ttft.n ? g->ttft.mean : 0.0, g->e2e.mean, itl,
                          g->req_per_s);
        }
        sy_buf_puts(b, "</tr>\n");
    }
    sy_buf_puts(b, "</table>\n");
}

void sy_bench_render_html(struct sy_buf *b, const struct sy_bench_meta *m,
                          struct sy_bench_run *const *runs, size_t n)
{
    const char *title = m && m->title ? m->title : "switchyard bench";
    sy_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(b, title);
    sy_buf_puts(b, "</title><style>"
                   "body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
                   "table{border-collapse:collapse;margin:12px 0}"
                   "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
                   "td:first-child{text-align:left}th{background:#f2f2f2}"
                   ".chart{border:1px solid #ddd;margin:8px 8px 8px 0;background:#fff}"
                   ".t{font-size:14px;font-weight:600}.a{font-size:11px;fill:#444}"
                   ".v{font-size:10px;fill:#222}.g{stroke:#e5e5e5}"
                   ".meta{color:#555}.err{color:#a00}"
                   "</style></head><body>\n<h1>");
    esc(b, title);
    sy_buf_puts(b, "</h1>\n<p class=\"meta\">Workload: ");
    esc(b, m && m->workload ? m->workload : "");
    sy_buf_puts(b, "<br>Load: ");
    esc(b, m && m->load ? m->load : "");
    double scale = m && m->time_scale > 0 ? m->time_scale : runs_scale(runs, n);
    if (scale != 1) {
        char note[256];
        scale_note(note, sizeof note, scale);
        sy_buf_puts(b, "<br>Time: ");
        esc(b, note);
        sy_buf_puts(b, " (charts too)");
    }
    sy_buf_puts(b, "</p>\n<h2>Summary</h2>\n");
    html_table(b, runs, n);
    if (n && runs[0]->nstages)
        html_stages(b, runs, n);
    for (size_t i = 0; i < n; i++) {
        const struct sy_bench_run *r = runs[i];
        sy_buf_puts(b, "<p><b>");
        esc(b, r->name);
        sy_buf_puts(b, "</b> ");
        esc(b, r->target);
        if (r->interrupted)
            sy_buf_puts(b, " <span class=\"err\">(interrupted: partial results)</span>");
        for (size_t k = 0; k < SY_BE_COUNT_; k++) {
            if (!r->errors[k])
                continue;
            sy_buf_printf(b,
                          "<br><span class=\"err\">errors %s: %zu (first: ", sy_bench_err_name(k),
                          r->errors[k]);
            esc(b, r->first_error[k]);
            sy_buf_puts(b, ")</span>");
        }
        sy_buf_puts(b, "</p>\n");
    }

    const char **names = sy_xcalloc(n + 1, sizeof *names);
    double *v = sy_xcalloc(2 * (n + 1), sizeof *v);
    for (size_t i = 0; i < n; i++) {
        names[i] = runs[i]->name;
        v[i] = runs[i]->ttft.n ? runs[i]->ttft.mean : NAN;
        v[n + i] = runs[i]->ttft.n ? runs[i]->ttft.p90 : NAN;
    }
    sy_buf_puts(b, "<h2>Time to first token and throughput per target</h2>\n");
    const char *ttft_series[] = {"mean", "p90"};
    bar_chart(b, "TTFT (s): mean and p90", "s", names, n, ttft_series, 2, v);
    for (size_t i = 0; i < n; i++) {
        v[i] = runs[i]->req_per_s;
        v[n + i] = runs[i]->output_tok_per_s;
    }
    const char *rps[] = {"req/s"};
    bar_chart(b, "Requests per second", "", names, n, rps, 1, v);
    const char *tps[] = {"output tok/s"};
    bar_chart(b, "Output tokens per second", "", names, n, tps, 1, v + n);
    free(v);
    free(names);

    sy_buf_puts(b, "<h2>Latency distributions</h2>\n");
    for (int which = 0; which < 2; which++) {
        struct line *ls = sy_xcalloc(n + 1, sizeof *ls);
        for (size_t i = 0; i < n; i++) {
            double *x, *y;
            ls[i].n = cdf(runs[i], which, &x, &y);
            ls[i].x = x;
            ls[i].y = y;
            ls[i].name = runs[i]->name;
        }
        line_chart(b, which == 0 ? "TTFT CDF (% of requests below)" : "E2E latency CDF", "s", "%",
                   ls, n, 100);
        for (size_t i = 0; i < n; i++) {
            free((void *)ls[i].x);
            free((void *)ls[i].y);
        }
        free(ls);
    }
    sy_buf_puts(b, "<h2>Load per endpoint over time</h2>\n");
    for (size_t i = 0; i < n; i++)
        load_chart(b, runs[i]);
    sy_buf_puts(b, "<h2>Requests per endpoint</h2>\n");
    for (size_t i = 0; i < n; i++) {
        const struct sy_bench_run *r = runs[i];
        sy_buf_puts(b, "<p><b>");
        esc(b, r->name);
        sy_buf_puts(b, "</b>:");
        for (size_t e = 0; e < r->nendpoints; e++) {
            size_t c = sy_bench_run_endpoint_count(r, (int)e);
            sy_buf_puts(b, " ");
            esc(b, r->endpoints[e]);
            sy_buf_printf(b, " %.1f%%%s", r->nrecs ? 100.0 * (double)c / (double)r->nrecs : 0.0,
                          e + 1 < r->nendpoints ? "," : "");
        }
        if (!r->nendpoints)
            sy_buf_puts(b, " (no x-gateway-destination-endpoint header)");
        sy_buf_puts(b, "</p>\n");
    }
    sy_buf_puts(b, "<p class=\"meta\">Generated by switchyard bench.</p>\n</body></html>\n");
}

int sy_bench_write_html(const char *path, const struct sy_bench_meta *m,
                        struct sy_bench_run *const *runs, size_t n, char *err, size_t errcap)
{
    struct sy_buf b;
    sy_buf_init(&b);
    sy_bench_render_html(&b, m, runs, n);
    int rc = 0;
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b.data, 1, b.len, f) != b.len) {
        snprintf(err, errcap, "%s: cannot write: %m", path);
        rc = SY_EIO;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, errcap, "%s: cannot write: %m", path);
        rc = SY_EIO;
    }
    sy_buf_fini(&b);
    return rc;
}
