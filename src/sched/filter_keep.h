/* filter_keep.h - the last step the threshold filters share (endpoint-attribute-filter,
 * utilization-filter): keep the candidates marked in keep[], in pool order, compacted to the front;
 * when none is marked and the filter falls back (llm-d's fallback / "pass all on empty"), keep all.
 * And the whole filter hook of a filter with a keeps hook (sy_sched_keep_if over it), so the
 * filter and its keeps hook cannot disagree.
 */
#ifndef SY_SCHED_FILTER_KEEP_H
#define SY_SCHED_FILTER_KEEP_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/plugin.h"

/* Returns the new count; keep has n entries. */
static inline size_t sy_sched_keep(struct sy_sched_candidate *c, size_t n, const bool *keep,
                                   bool fallback)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += keep[i];
    if (m == 0 && fallback)
        return n;
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            c[m++] = c[i];
    return m;
}

/* Keeps the candidates keeps(state, cy, ep) keeps, in order: the filter hook of a filter with a
 * keeps hook (ops->keeps). Returns the new count. */
static inline size_t sy_sched_keep_if(struct sy_sched_candidate *c, size_t n,
                                      bool (*keeps)(const void *state, struct sy_sched_cycle *cy,
                                                    const struct sy_endpoint *ep),
                                      const void *state, struct sy_sched_cycle *cy)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keeps(state, cy, c[i].ep))
            c[m++] = c[i];
    return m;
}

#endif
