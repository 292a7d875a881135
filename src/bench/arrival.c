/* arrival.c - when each benchmark request is sent, and the seeded PRNG the bench module shares.
 *
 * An arrival process is a generator of send times (seconds since the run's start):
 *
 *   BURST        0, 0, 0, ...                       (SGLang's default --request-rate inf)
 *   POISSON      t += Exp(rate)                     (vLLM / SGLang --request-rate, burstiness 1)
 *   CONSTANT     t += 1/rate                        (inference-perf type: constant)
 *   STAGES       per stage [start, start+duration): Poisson (or constant) at the stage's rate;
 *                a gap that crosses the stage's end is redrawn from the next stage's start
 *                (exponential gaps are memoryless, so this is exact), -1 after the last stage
 *                (inference-perf `stages: [{rate, duration}]`)
 *   CONCURRENCY  0 always: the runner keeps N requests in flight (closed loop)
 *
 * The PRNG is splitmix64 (Vigna): 64-bit state, passes BigCrush, trivially seedable, and the same
 * sequence on every platform, so a seed reproduces a run's schedule and texts exactly.
 * Exponential variates use inversion: -ln(1-u)/rate with u in [0,1), never log(0).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/err.h"

void sy_rng_seed(struct sy_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t sy_rng_next(struct sy_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double sy_rng_uniform(struct sy_rng *r)
{
    return (double)(sy_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); /* 53 bits */
}

uint64_t sy_rng_below(struct sy_rng *r, uint64_t n)
{
    /* rejection sampling keeps it unbiased */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = sy_rng_next(r);
    } while (x >= lim);
    return x % n;
}

double sy_rng_exp(struct sy_rng *r, double rate)
{
    return -log1p(-sy_rng_uniform(r)) / rate;
}

/* Duration for a stage: bare number = seconds, else a unit (ms, s, m, h). */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v <= 0)
        return SY_EINVAL;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1;
    else if (strcmp(end, "ms") == 0)
        mult = 1e-3;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (strcmp(end, "h") == 0)
        mult = 3600;
    else
        return SY_EINVAL;
    *out = v * mult;
    return 0;
}

int sy_stages_parse(const char *s, struct sy_stage *out, size_t cap, size_t *n, char *err,
                    size_t errcap)
{
    *n = 0;
    if (!s || !*s) {
        snprintf(err, errcap, "--stages: empty (expected RATE:DURATION[,RATE:DURATION...])");
        return SY_EINVAL;
    }
    char *copy = strdup(s);
    if (!copy)
        return SY_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *colon = strchr(tok, ':');
        if (!colon) {
            snprintf(err, errcap, "--stages: '%s': expected RATE:DURATION (e.g. 10:30s)", tok);
            rc = SY_EINVAL;
            goto out;
        }
        *colon = '\0';
        char *end;
        double rate = strtod(tok, &end);
        if (end == tok || *end != '\0' || !isfinite(rate) || rate <= 0 || rate > 1e6) {
            snprintf(err, errcap, "--stages: '%s': rate must be a number in (0, 1e6]", tok);
            rc = SY_EINVAL;
            goto out;
        }
        double dur;
        if (parse_seconds(colon + 1, &dur) != 0 || dur > 86400 * 7) {
            snprintf(err, errcap, "--stages: '%s': duration must be like 30s, 2m or 500ms",
                     colon + 1);
            rc = SY_EINVAL;
            goto out;
        }
        if (*n == cap) {
            snprintf(err, errcap, "--stages: more than %zu stages", cap);
            rc = SY_EINVAL;
            goto out;
        }
        out[*n].rate = rate;
        out[*n].duration_s = dur;
        (*n)++;
    }
    if (*n == 0) {
        snprintf(err, errcap, "--stages: no stage in '%s'", s);
        rc = SY_EINVAL;
    }
out:
    free(copy);
    return rc;
}

static void arrival_zero(struct sy_arrival *a, enum sy_arr_mode m)
{
    memset(a, 0, sizeof *a);
    a->mode = m;
}

void sy_arrival_init_burst(struct sy_arrival *a)
{
    arrival_zero(a, SY_ARR_BURST);
}

void sy_arrival_init_rate(struct sy_arrival *a, double rate, bool poisson, uint64_t seed)
{
    arrival_zero(a, poisson ? SY_ARR_POISSON : SY_ARR_CONSTANT);
    a->rate = rate;
    sy_rng_seed(&a->rng, seed);
}

void sy_arrival_init_stages(struct sy_arrival *a, const struct sy_stage *st, size_t n, bool poisson,
                            uint64_t seed)
{
    arrival_zero(a, SY_ARR_STAGES);
    if (n > SY_ARR_MAX_STAGES)
        n = SY_ARR_MAX_STAGES;
    memcpy(a->stages, st, n * sizeof *st);
    a->nstages = n;
    a->constant = !poisson;
    sy_rng_seed(&a->rng, seed);
}

void sy_arrival_init_concurrency(struct sy_arrival *a, unsigned n)
{
    arrival_zero(a, SY_ARR_CONCURRENCY);
    a->concurrency = n ? n : 1;
}

static double stage_start(const struct sy_arrival *a, size_t i)
{
    double t = 0;
    for (size_t k = 0; k < i; k++)
        t += a->stages[k].duration_s;
    return t;
}

double sy_arrival_next(struct sy_arrival *a)
{
    switch (a->mode) {
    case SY_ARR_BURST:
    case SY_ARR_CONCURRENCY: return 0;
    case SY_ARR_POISSON: a->t += sy_rng_exp(&a->rng, a->rate); return a->t;
    case SY_ARR_CONSTANT: a->t += 1.0 / a->rate; return a->t;
    case SY_ARR_STAGES:
        while (a->stage < a->nstages) {
            const struct sy_stage *s = &a->stages[a->stage];
            double end = stage_start(a, a->stage) + s->duration_s;
            double gap = a->constant ? 1.0 / s->rate : sy_rng_exp(&a->rng, s->rate);
            if (a->t + gap < end) {
                a->t += gap;
                return a->t;
            }
            a->t = end; /* memoryless: redraw from the next stage's start */
            a->stage++;
        }
        return -1;
    }
    return -1;
}

double sy_arrival_stage_start_s(const struct sy_arrival *a, size_t i)
{
    return a->mode == SY_ARR_STAGES ? stage_start(a, i < a->nstages ? i : a->nstages) : 0;
}

double sy_arrival_span_s(const struct sy_arrival *a)
{
    return a->mode == SY_ARR_STAGES ? stage_start(a, a->nstages) : 0;
}

void sy_arrival_describe(const struct sy_arrival *a, struct sy_buf *out)
{
    switch (a->mode) {
    case SY_ARR_BURST: sy_buf_puts(out, "all at once (rate inf)"); break;
    case SY_ARR_POISSON: sy_buf_printf(out, "poisson %g req/s", a->rate); break;
    case SY_ARR_CONSTANT: sy_buf_printf(out, "constant %g req/s", a->rate); break;
    case SY_ARR_CONCURRENCY: sy_buf_printf(out, "concurrency %u", a->concurrency); break;
    case SY_ARR_STAGES:
        sy_buf_printf(out, "%s stages ", a->constant ? "constant" : "poisson");
        for (size_t i = 0; i < a->nstages; i++)
            sy_buf_printf(out, "%s%g req/s x %gs", i ? ", " : "", a->stages[i].rate,
                          a->stages[i].duration_s);
        break;
    }
}
