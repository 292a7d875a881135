/* by_label_filter.c - llm-d's deprecated `by-label` filter.
 *
 * Parameters: label (required), validValues (list of strings), allowsNoLabel (default false).
 * Keeps endpoints whose label value is one of validValues, plus unlabeled endpoints when
 * allowsNoLabel. Like llm-d's Factory, empty or missing validValues with allowsNoLabel false is a
 * contradiction (nothing could ever pass) and is refused. Prefer label-selector-filter; this exists
 * so older configs load unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "pool/pool.h"
#include "sched/filter_keep.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct by_label {
    char *label;   /* owned */
    char **values; /* owned */
    size_t nvalues;
    bool allows_no_label; /* keep endpoints without the label */
};

static void destroy(void *state)
{
    struct by_label *b = state;
    if (!b)
        return;
    free(b->label);
    for (size_t i = 0; i < b->nvalues; i++)
        free(b->values[i]);
    free(b->values);
    free(b);
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"label", "validValues", "allowsNoLabel", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const char *label = NULL;
    bool anl = false;
    if ((rc = sy_param_string(params, "label", env, &label, err, errcap)) ||
        (rc = sy_param_bool(params, "allowsNoLabel", env, &anl, err, errcap)))
        return rc;
    if (!label || !*label)
        return sy_param_errorf(env, NULL, "label", err, errcap, "is required");
    struct by_label *b = SY_NEW(struct by_label);
    b->label = sy_xstrdup(label);
    b->allows_no_label = anl;
    const struct sy_yaml_node *vv = sy_yaml_get(params, "validValues");
    if (vv && !sy_param_absent(vv)) {
        if (vv->type != SY_YAML_SEQUENCE) {
            destroy(b);
            return sy_param_errorf(env, vv, "validValues", err, errcap, "must be a list");
        }
        b->values = sy_xcalloc(vv->n ? vv->n : 1, sizeof *b->values);
        for (size_t i = 0; i < vv->n; i++) {
            const char *v = sy_yaml_str(vv->items[i]);
            if (!v) {
                destroy(b);
                return sy_param_errorf(env, vv->items[i], "validValues", err, errcap,
                                       "values must be strings");
            }
            b->values[b->nvalues++] = sy_xstrdup(v);
        }
    }
    if (b->nvalues == 0 && !anl) {
        destroy(b);
        return sy_param_errorf(env, vv, "validValues", err, errcap,
                               "either 'validValues' must be non-empty or 'allowsNoLabel' must "
                               "be true");
    }
    sy_warn("%s:%d: plugin type by-label is deprecated, use label-selector-filter", env->file,
            env->line);
    *state = b;
    return 0;
}

static bool keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    const struct by_label *b = state;
    const char *v = sy_endpoint_label(ep, b->label);
    bool keep = !v && b->allows_no_label;
    for (size_t j = 0; v && j < b->nvalues && !keep; j++)
        keep = !strcmp(v, b->values[j]);
    return keep;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    return sy_sched_keep_if(c, n, keeps, state, cy);
}

const struct sy_plugin_ops sy_plugin_by_label = {
    .type = "by-label",
    .create = create,
    .destroy = destroy,
    .filter = filter,
    .keeps = keeps,
};
