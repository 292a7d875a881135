/* program.c - program-aware-fairness (llm-d's programaware plugin, strategy las): Least Attained
 * Service between the flows ("programs", by fairness id) of a band.
 *
 *   completion:  service[id] = decay(service[id]) + 1 x prompt + 2 x completion tokens
 *   pick:        over the band's non-empty flows
 *                score = wS (1 - norm(service)) + wW norm(headWaitMs)    (highest wins)
 *                norm(v) = (v - min) / (max - min) over those flows, 0.5 when all equal
 *   decay:       service x 2^(-elapsed / lasHalfLifeSeconds), folded in lazily whenever the
 *                value is read or added to, so an idle program ages out in wall-clock time
 *   eviction:    every evictionSweepSeconds, programs with nothing in flight and no completion
 *                for evictionTtlSeconds are forgotten (bounded memory under churning ids)
 *
 * The table is a sorted array of pointers (binary search by id), like the controller's flows;
 * a band holds at most a few thousand flows and the pick already walks them all. Ties go to the
 * first flow in id order (llm-d iterates a Go map, so its tie order is random; a fixed order
 * makes the behaviour testable). The cost uses the response's usage; when the model server sent
 * none (a stream without include_usage), the gateway's prompt estimate stands in (the caller
 * sets it), so a program's heavy prompts still count.
 *
 * Pure arithmetic (sy_flow_las_*) is exported for the unit tests; the table is module-internal
 * and guarded by the controller's mutex.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "flow/flow_internal.h"

double sy_flow_las_cost(int64_t prompt_tokens, int64_t completion_tokens)
{
    double c = 0;
    if (prompt_tokens > 0)
        c += (double)prompt_tokens;
    if (completion_tokens > 0)
        c += 2.0 * (double)completion_tokens;
    return c;
}

double sy_flow_las_decay(double service, double elapsed_s, double half_life_s)
{
    if (half_life_s <= 0 || elapsed_s <= 0)
        return service;
    return service * exp2(-elapsed_s / half_life_s);
}

static double range_norm(double v, double lo, double hi)
{
    return hi == lo ? 0.5 : (v - lo) / (hi - lo);
}

size_t sy_flow_las_pick(const struct sy_flow_las_params *p, const double *service,
                        const double *wait_ms, size_t n)
{
    double smin = service[0], smax = service[0], wmin = wait_ms[0], wmax = wait_ms[0];
    for (size_t i = 1; i < n; i++) {
        smin = fmin(smin, service[i]);
        smax = fmax(smax, service[i]);
        wmin = fmin(wmin, wait_ms[i]);
        wmax = fmax(wmax, wait_ms[i]);
    }
    size_t best = 0;
    double best_score = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double score = p->w_service * (1.0 - range_norm(service[i], smin, smax)) +
                       p->w_wait * range_norm(wait_ms[i], wmin, wmax);
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

/* Index of the first entry with id >= id. */
static size_t lower(const struct sy_flow_progs *t, const char *id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(t->v[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct sy_flow_prog *sy_flow__prog_get(struct sy_flow_progs *t, const char *id, bool create,
                                       uint64_t now)
{
    size_t i = lower(t, id);
    if (i < t->n && !strcmp(t->v[i]->id, id))
        return t->v[i];
    if (!create)
        return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->v = sy_xrealloc(t->v, t->cap * sizeof *t->v);
    }
    struct sy_flow_prog *p = SY_NEW(struct sy_flow_prog);
    snprintf(p->id, sizeof p->id, "%s", id);
    p->anchor_ns = now;
    p->last_done_ns = now;
    memmove(t->v + i + 1, t->v + i, (t->n - i) * sizeof *t->v);
    t->v[i] = p;
    t->n++;
    return p;
}

double sy_flow__prog_service(struct sy_flow_prog *p, uint64_t now, double half_life_s)
{
    if (now > p->anchor_ns) {
        p->service = sy_flow_las_decay(p->service, (double)(now - p->anchor_ns) / 1e9, half_life_s);
        p->anchor_ns = now;
    }
    return p->service;
}

void sy_flow__prog_add(struct sy_flow_prog *p, double cost, uint64_t now, double half_life_s)
{
    sy_flow__prog_service(p, now, half_life_s);
    p->service += cost;
}

size_t sy_flow__prog_sweep(struct sy_flow_progs *t, uint64_t now, uint64_t ttl_ns)
{
    if (ttl_ns == 0)
        return 0;
    size_t w = 0, removed = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct sy_flow_prog *p = t->v[i];
        if (p->inflight <= 0 && now - p->last_done_ns >= ttl_ns) {
            free(p);
            removed++;
        } else {
            t->v[w++] = p;
        }
    }
    t->n = w;
    return removed;
}

void sy_flow__progs_fini(struct sy_flow_progs *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}
