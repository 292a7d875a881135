/* role.h - llm-d's `llm-d.ai/role` label semantics shared by the decode/prefill/encode filters. */
#ifndef SY_SCHED_ROLE_H
#define SY_SCHED_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "pool/pool.h"
#include "sched/plugin.h"

#define SY_ROLE_LABEL "llm-d.ai/role" /* the label all role filters read */

/* True when ep's role is in accepted (NULL-terminated), or it has none and accept_unlabeled. */
static inline bool sy_role_keeps(const struct sy_endpoint *ep, const char *const *accepted,
                                 bool accept_unlabeled)
{
    const char *role = sy_endpoint_label(ep, SY_ROLE_LABEL);
    bool keep = !role ? accept_unlabeled : false;
    for (size_t j = 0; role && accepted[j] && !keep; j++)
        keep = !strcmp(role, accepted[j]);
    return keep;
}

/* Keeps candidates sy_role_keeps keeps. Order is preserved. Returns the new count. */
static inline size_t sy_role_filter(struct sy_sched_candidate *c, size_t n,
                                    const char *const *accepted, bool accept_unlabeled)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (sy_role_keeps(c[i].ep, accepted, accept_unlabeled))
            c[m++] = c[i];
    return m;
}

#endif
