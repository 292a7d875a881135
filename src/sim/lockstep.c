/* lockstep.c - a data-parallel group of engines stepping together (see lockstep.h).
 *
 *   advance(now):  loop
 *     group in step, ends at T <= now:  advance every member to T (each completes its step and
 *                                        starts its next one with its own duration), then
 *                                        start_group(T)
 *     group idle:                        advance every member to now, start_group(now)
 *   start_group(t): members in a step -> group step = sy_sim_lockstep_step_ns(own durations,
 *                   tokens); every member's step end moves to t + that (a rank waits)
 */
#include "sim/lockstep.h"

#include <string.h>

void sy_sim_lockstep_init(struct sy_sim_lockstep *g, struct sy_sim_engine *const *engines,
                          uint32_t n, const struct sy_sim_profile *p)
{
    memset(g, 0, sizeof *g);
    if (n > SY_SIM_LOCKSTEP_MAX)
        n = SY_SIM_LOCKSTEP_MAX;
    for (uint32_t i = 0; i < n; i++)
        g->eng[i] = engines[i];
    g->n = n;
    g->p = *p;
}

uint64_t sy_sim_lockstep_step_ns(const struct sy_sim_profile *p, const uint64_t *own_ns,
                                 const uint64_t *tokens, uint32_t n)
{
    uint64_t maxown = 0, maxtok = 0, sum = 0;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        if (!tokens[i] && !own_ns[i])
            continue;
        any = true;
        if (own_ns[i] > maxown)
            maxown = own_ns[i];
        if (tokens[i] > maxtok)
            maxtok = tokens[i];
        sum += tokens[i];
    }
    if (!any || n == 0)
        return 0;
    double us = p->moe_us_per_token * (double)sum / (double)n + p->a2a_base_us +
                p->a2a_us_per_token * (double)maxtok;
    return maxown + (uint64_t)(us * 1000.0);
}

static bool start_group(struct sy_sim_lockstep *g, uint64_t t)
{
    uint64_t own[SY_SIM_LOCKSTEP_MAX], tok[SY_SIM_LOCKSTEP_MAX], maxtok = 0, sum = 0;
    bool any = false;
    for (uint32_t i = 0; i < g->n; i++) {
        uint64_t end = sy_sim_engine_step_end(g->eng[i]);
        own[i] = end == UINT64_MAX ? 0 : end - t;
        tok[i] = sy_sim_engine_step_tokens(g->eng[i]);
        any |= end != UINT64_MAX;
        if (tok[i] > maxtok)
            maxtok = tok[i];
        sum += tok[i];
    }
    if (!any)
        return false;
    uint64_t dur = sy_sim_lockstep_step_ns(&g->p, own, tok, g->n);
    g->in_step = true;
    g->end = t + dur;
    g->steps++;
    g->busy_ns += dur;
    g->rank_tokens += maxtok;
    g->total_tokens += sum;
    for (uint32_t i = 0; i < g->n; i++) {
        if (sy_sim_engine_step_end(g->eng[i]) == UINT64_MAX)
            continue;
        g->own_ns += own[i];
        g->wait_ns += dur - own[i];
        sy_sim_engine_set_step_end(g->eng[i], g->end);
    }
    return true;
}

void sy_sim_lockstep_advance(struct sy_sim_lockstep *g, uint64_t now_ns)
{
    for (;;) {
        if (g->in_step) {
            if (g->end > now_ns)
                return;
            uint64_t t = g->end;
            g->in_step = false;
            for (uint32_t i = 0; i < g->n; i++)
                sy_sim_engine_advance(g->eng[i], t);
            if (!start_group(g, t)) {
                for (uint32_t i = 0; i < g->n; i++) /* events between t and now (pulls, leases) */
                    sy_sim_engine_advance(g->eng[i], now_ns);
                if (!start_group(g, now_ns))
                    return;
            }
        } else {
            for (uint32_t i = 0; i < g->n; i++)
                sy_sim_engine_advance(g->eng[i], now_ns);
            if (!start_group(g, now_ns))
                return;
        }
    }
}

uint64_t sy_sim_lockstep_next_ns(const struct sy_sim_lockstep *g)
{
    if (g->in_step)
        return g->end;
    uint64_t t = UINT64_MAX;
    for (uint32_t i = 0; i < g->n; i++) {
        uint64_t x = sy_sim_engine_next_ns(g->eng[i]);
        if (x < t)
            t = x;
    }
    return t;
}
