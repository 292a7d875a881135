/* stats.c - the records of one benchmark run and their summary.
 *
 * A run keeps one small record per request (send time, end time, TTFT, tokens, endpoint, error
 * kind) plus every inter-token gap, and computes everything else at the end: the reports need the
 * raw records anyway (latency distributions, load per endpoint over time), and sorting a few
 * hundred thousand doubles once is cheaper than maintaining streaming quantile sketches with
 * their approximation error.
 *
 * Definitions (those of vLLM's and SGLang's bench_serving):
 *   TTFT  first SSE data event carrying content - send time
 *   ITL   time between consecutive content events (every gap of every successful request)
 *   TPOT  (E2E - TTFT) / (output_tokens - 1), per request with at least 2 output tokens
 *   E2E   completion - send time
 *   req/s and output tok/s count successful requests over the run's duration (first send to
 *   last completion). Failed requests count in errors by kind, never silently.
 * Percentiles interpolate linearly between closest ranks (numpy's default).
 *
 * Per stage (--stages), like inference-perf's per-stage report: the requests scheduled in the
 * stage, their TTFT and E2E summaries, the mean of all their inter-token gaps, and req/s and
 * output tok/s over their own span (first send to last completion of the stage's successful
 * requests; a saturated target keeps completing a stage's requests after the stage ends).
 *
 * Time scale: against a target whose clock runs x simulated seconds per wall-clock second (the
 * simulator with --time-scale x; x < 1 is a GPU slower than real time, which lets a small machine
 * carry a fleet's token stream), the runner measures wall time and sy_bench_run_to_simulated
 * converts the records once, before the summary: every time is multiplied by x, so latencies
 * (TTFT, ITL, TPOT, E2E and their percentiles) come out in simulated seconds and rates (req/s,
 * tok/s), which divide by the converted duration, in per simulated second. Counts, token sums and
 * ratios do not change. Everything downstream (table, JSON, HTML charts) reads the converted
 * records and is therefore in the simulated GPU's units.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double sy_stats_percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    if (p <= 0)
        return v[0];
    if (p >= 100)
        return v[n - 1];
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = rank - (double)lo;
    return v[lo] + (v[hi] - v[lo]) * frac;
}

void sy_stats_summarize(double *v, size_t n, struct sy_summary *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    out->n = n;
    out->mean = sum / (double)n;
    out->p50 = sy_stats_percentile(v, n, 50);
    out->p90 = sy_stats_percentile(v, n, 90);
    out->p99 = sy_stats_percentile(v, n, 99);
    out->min = v[0];
    out->max = v[n - 1];
}

static const char *const err_names[SY_BE_COUNT_] = {
    [SY_BE_CONNECT] = "connect",   [SY_BE_TIMEOUT] = "timeout",
    [SY_BE_CLOSED] = "closed",     [SY_BE_IO] = "io",
    [SY_BE_HTTP_429] = "http_429", [SY_BE_HTTP_4XX] = "http_4xx",
    [SY_BE_HTTP_5XX] = "http_5xx", [SY_BE_HTTP_OTHER] = "http_other",
    [SY_BE_STREAM] = "stream",     [SY_BE_EMPTY] = "empty",
};

const char *sy_bench_err_name(enum sy_bench_err k)
{
    return (unsigned)k < SY_BE_COUNT_ ? err_names[k] : "?";
}

void sy_bench_run_init(struct sy_bench_run *r, const char *name, const char *target)
{
    memset(r, 0, sizeof *r);
    r->name = sy_xstrdup(name ? name : "");
    r->target = sy_xstrdup(target ? target : "");
    r->cache_queries = -1;
    r->cache_hits = -1;
    r->cache_hit_rate = -1;
    r->cached_ratio = -1;
    r->time_scale = 1;
    r->stage_interval_s = -1;
}

void sy_bench_run_fini(struct sy_bench_run *r)
{
    free(r->name);
    free(r->target);
    free(r->recs);
    free(r->itl);
    for (size_t i = 0; i < r->nendpoints; i++)
        free(r->endpoints[i]);
    for (size_t k = 0; k < SY_BE_COUNT_; k++)
        free(r->first_error[k]);
    memset(r, 0, sizeof *r);
}

void sy_bench_run_add(struct sy_bench_run *r, const struct sy_req_rec *rec)
{
    if (r->nrecs == r->recs_cap) {
        r->recs_cap = r->recs_cap ? r->recs_cap * 2 : 256;
        r->recs = sy_xrealloc(r->recs, r->recs_cap * sizeof *r->recs);
    }
    r->recs[r->nrecs++] = *rec;
}

void sy_bench_run_add_itl(struct sy_bench_run *r, double gap)
{
    if (r->nitl == r->itl_cap) {
        r->itl_cap = r->itl_cap ? r->itl_cap * 2 : 1024;
        r->itl = sy_xrealloc(r->itl, r->itl_cap * sizeof *r->itl);
    }
    r->itl[r->nitl++] = gap;
}

int sy_bench_run_endpoint(struct sy_bench_run *r, const char *p, size_t n)
{
    for (size_t i = 0; i < r->nendpoints; i++)
        if (strlen(r->endpoints[i]) == n && memcmp(r->endpoints[i], p, n) == 0)
            return (int)i;
    if (r->nendpoints == SY_BENCH_MAX_ENDPOINTS)
        return -1;
    r->endpoints[r->nendpoints] = sy_xstrndup(p, n);
    return (int)r->nendpoints++;
}

void sy_bench_run_error(struct sy_bench_run *r, enum sy_bench_err k, const char *msg)
{
    if ((unsigned)k >= SY_BE_COUNT_)
        return;
    r->errors[k]++;
    if (!r->first_error[k] && msg)
        r->first_error[k] = sy_xstrdup(msg);
}

size_t sy_bench_run_endpoint_count(const struct sy_bench_run *r, int e)
{
    size_t c = 0;
    for (size_t i = 0; i < r->nrecs; i++)
        c += r->recs[i].endpoint == e;
    return c;
}

void sy_bench_run_to_simulated(struct sy_bench_run *r, double x)
{
    if (!(x > 0) || x == 1)
        return;
    for (size_t i = 0; i < r->nrecs; i++) {
        struct sy_req_rec *q = &r->recs[i];
        if (q->sched_s >= 0)
            q->sched_s *= x;
        q->start_s *= x;
        q->end_s *= x;
        if (q->ttft_s >= 0)
            q->ttft_s *= x;
        q->itl_sum_s *= x;
        q->itl_p99_s *= x;
    }
    for (size_t i = 0; i < r->nitl; i++)
        r->itl[i] *= x;
    r->duration_s *= x;
    r->time_scale *= x;
}

double sy_bench_wall_s(double sim_s, double x)
{
    return x > 0 ? sim_s / x : sim_s;
}

/* Per-stage numbers; ttft, e2e, ntpot and tpot are scratch arrays of nrecs, gaps one of nitl
 * (the stage's inter-token gaps, copied because summarizing sorts them). */
/* Send - scheduled time of a record, -1 when it has no schedule (closed loop). */
static double sched_delay(const struct sy_req_rec *q)
{
    if (q->sched_s < 0)
        return -1;
    double d = q->start_s - q->sched_s;
    return d > 0 ? d : 0; /* a timer never fires early, but keep rounding out of the numbers */
}

static void compute_stage(struct sy_bench_run *r, size_t k, double *ttft, double *e2e,
                          double *ntpot, double *tpot, double *gaps_buf, double *delays)
{
    struct sy_stage_sum *g = &r->stage_sum[k];
    memset(g, 0, sizeof *g);
    size_t nt = 0, ne = 0, nn = 0, ng = 0, np = 0, nd = 0;
    double first = INFINITY, last = -INFINITY, gaps = 0, ngaps = 0;
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct sy_req_rec *q = &r->recs[i];
        if (q->stage != (int)k)
            continue;
        g->requests++;
        if (sched_delay(q) >= 0)
            delays[nd++] = sched_delay(q);
        if (q->err >= 0) {
            g->errors++;
            continue;
        }
        g->completed++;
        e2e[ne++] = q->end_s - q->start_s;
        if (q->out_tokens > 0)
            ntpot[nn++] = (q->end_s - q->start_s) / (double)q->out_tokens;
        if (q->ttft_s >= 0) {
            ttft[nt++] = q->ttft_s;
            if (q->out_tokens > 1)
                tpot[np++] = (q->end_s - q->start_s - q->ttft_s) / (double)(q->out_tokens - 1);
        }
        if (q->itl_n && q->itl_first <= r->nitl && q->itl_n <= r->nitl - q->itl_first) {
            memcpy(gaps_buf + ng, r->itl + q->itl_first, q->itl_n * sizeof *gaps_buf);
            ng += q->itl_n;
        }
        if (q->events > 1) {
            gaps += q->itl_sum_s;
            ngaps += q->events - 1;
        }
        g->output_tokens += q->out_tokens;
        first = q->start_s < first ? q->start_s : first;
        last = q->end_s > last ? q->end_s : last;
    }
    sy_stats_summarize(ttft, nt, &g->ttft);
    sy_stats_summarize(e2e, ne, &g->e2e);
    sy_stats_summarize(ntpot, nn, &g->ntpot);
    sy_stats_summarize(tpot, np, &g->tpot);
    sy_stats_summarize(gaps_buf, ng, &g->itl);
    sy_stats_summarize(delays, nd, &g->sched_delay);
    g->itl_mean_s = ngaps > 0 ? gaps / ngaps : NAN;
    g->span_s = g->completed ? last - first : 0;
    g->req_per_s = g->span_s > 0 ? (double)g->completed / g->span_s : 0;
    g->output_tok_per_s = g->span_s > 0 ? (double)g->output_tokens / g->span_s : 0;
}

void sy_bench_run_compute(struct sy_bench_run *r)
{
    double *ttft = sy_xmalloc((r->nrecs + 1) * sizeof *ttft);
    double *tpot = sy_xmalloc((r->nrecs + 1) * sizeof *tpot);
    double *e2e = sy_xmalloc((r->nrecs + 1) * sizeof *e2e);
    double *delays = sy_xmalloc((r->nrecs + 1) * sizeof *delays);
    size_t nt = 0, np = 0, ne = 0, nd = 0;
    r->completed = 0;
    r->output_tokens = r->prompt_tokens = r->cached_tokens = 0;
    uint64_t usage_prompt = 0;
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct sy_req_rec *q = &r->recs[i];
        if (sched_delay(q) >= 0)
            delays[nd++] = sched_delay(q);
        if (q->err >= 0)
            continue;
        r->completed++;
        double e = q->end_s - q->start_s;
        e2e[ne++] = e;
        if (q->ttft_s >= 0) {
            ttft[nt++] = q->ttft_s;
            if (q->out_tokens > 1)
                tpot[np++] = (e - q->ttft_s) / (double)(q->out_tokens - 1);
        }
        r->output_tokens += q->out_tokens;
        r->prompt_tokens += q->prompt_tokens;
        r->cached_tokens += q->cached_tokens;
        if (q->usage)
            usage_prompt += q->prompt_tokens;
    }
    sy_stats_summarize(ttft, nt, &r->ttft);
    sy_stats_summarize(tpot, np, &r->tpot);
    sy_stats_summarize(e2e, ne, &r->e2e);
    sy_stats_summarize(delays, nd, &r->sched_delay);
    if (r->nstages) {
        double *ntpot = sy_xmalloc((r->nrecs + 1) * sizeof *ntpot);
        double *stage_tpot = sy_xmalloc((r->nrecs + 1) * sizeof *stage_tpot);
        double *gaps = sy_xmalloc((r->nitl + 1) * sizeof *gaps);
        for (size_t k = 0; k < r->nstages && k < SY_ARR_MAX_STAGES; k++)
            compute_stage(r, k, ttft, e2e, ntpot, stage_tpot, gaps, delays);
        free(ntpot);
        free(stage_tpot);
        free(gaps);
    }
    /* summarize sorts in place: on a copy, so run->itl keeps each request's gaps in arrival
     * order (--json-requests writes them per request: when a gap happened, on which replica) */
    double *itl_sorted = sy_xmalloc((r->nitl + 1) * sizeof *itl_sorted);
    if (r->nitl)
        memcpy(itl_sorted, r->itl, r->nitl * sizeof *itl_sorted);
    sy_stats_summarize(itl_sorted, r->nitl, &r->itl_sum);
    free(itl_sorted);
    free(ttft);
    free(tpot);
    free(e2e);
    free(delays);
    r->total_errors = 0;
    for (size_t k = 0; k < SY_BE_COUNT_; k++)
        r->total_errors += r->errors[k];
    double d = r->duration_s > 0 ? r->duration_s : 0;
    r->req_per_s = d > 0 ? (double)r->completed / d : 0;
    r->output_tok_per_s = d > 0 ? (double)r->output_tokens / d : 0;
    r->input_tok_per_s = d > 0 ? (double)r->prompt_tokens / d : 0;
    r->cached_ratio = usage_prompt > 0 ? (double)r->cached_tokens / (double)usage_prompt : -1;
    r->cache_hit_rate =
        (r->cache_queries > 0 && r->cache_hits >= 0) ? r->cache_hits / r->cache_queries : -1;
    r->good = 0;
    r->goodput_per_s = NAN;
    if (r->slo_ttft_s > 0 || r->slo_itl_p99_s > 0) {
        for (size_t i = 0; i < r->nrecs; i++) {
            const struct sy_req_rec *q = &r->recs[i];
            if (q->err >= 0 || q->ttft_s < 0)
                continue;
            if (r->slo_ttft_s > 0 && q->ttft_s > r->slo_ttft_s)
                continue;
            if (r->slo_itl_p99_s > 0 && q->itl_p99_s > r->slo_itl_p99_s)
                continue;
            r->good++;
        }
        r->goodput_per_s = d > 0 ? (double)r->good / d : 0;
    }
}
