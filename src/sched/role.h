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

#endif
