/* lora_affinity_scorer.c - llm-d's `lora-affinity-scorer`.
 *
 * For the requested model (adapter) name, from vllm:lora_requests_info:
 *   running on the endpoint                          -> 1.0
 *   not running, running + waiting adapters < max_lora -> 0.8  (room to load it)
 *   waiting on the endpoint                          -> 0.6
 *   otherwise                                        -> 0.0
 * An endpoint that does not report max_lora (-1) has no known capacity. No parameters.
 * Capacity counts running AND waiting adapters, as llm-d does (len(ActiveModels) +
 * len(WaitingModels) < MaxActiveModels): an adapter queued to load takes a slot.
 *
 * The adapter lists come from c->loras (needs_loras: the pipeline copies them in the same
 * snapshot as max_lora); a candidate without them counts as running and waiting nothing.
 */
#include <string.h>

#include "core/str.h"
#include "sched/plugins.h"

/* Is name in the comma-separated list? Counts the list's entries into *count. */
static bool in_list(const char *list, struct sy_str name, int64_t *count)
{
    bool found = false;
    int64_t cnt = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            cnt++;
            if (len == name.len && !memcmp(p, name.p, len))
                found = true;
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (count)
        *count = cnt;
    return found;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    struct sy_str name = cy->req->lora.len ? cy->req->lora : sy_str_c(cy->req->model);
    for (size_t i = 0; i < n; i++) {
        const char *running = c[i].loras ? c[i].loras->running : "";
        const char *queued = c[i].loras ? c[i].loras->waiting : "";
        int64_t max_lora = c[i].st.m.max_lora;
        int64_t nactive = 0, nwaiting = 0;
        bool active = in_list(running, name, &nactive) && name.len;
        bool waiting = in_list(queued, name, &nwaiting) && name.len;
        bool capacity = max_lora >= 0 && nactive + nwaiting < max_lora;
        scores[i] = active ? 1.0 : capacity ? 0.8 : waiting ? 0.6 : 0.0;
    }
}

const struct sy_plugin_ops sy_plugin_lora_affinity_scorer = {
    .type = "lora-affinity-scorer",
    .needs_loras = true,
    .score = score,
};
