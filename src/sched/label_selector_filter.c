/* label_selector_filter.c - llm-d's `label-selector-filter` (legacy alias `by-label-selector`).
 *
 * Parameters are a Kubernetes label selector:
 *   matchLabels:      {key: value, ...}                 every pair must match
 *   matchExpressions: [{key, operator, values}]         operator In | NotIn | Exists | DoesNotExist
 * with Kubernetes semantics: NotIn also matches endpoints without the label, In/NotIn need a
 * non-empty values list, Exists/DoesNotExist take none, and an empty selector matches everything.
 * All requirements are ANDed. State is immutable after create (shared by workers freely).
 * The selector itself (parse, match, free) is also used by other plugins that select endpoints by
 * label (priority-reservation-filter): sched/label_selector.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "pool/pool.h"
#include "sched/filter_keep.h"
#include "sched/label_selector.h"
#include "sched/params.h"
#include "sched/plugins.h"

enum op { OP_IN, OP_NOT_IN, OP_EXISTS, OP_NOT_EXISTS };

struct req {
    char *key;     /* owned */
    enum op op;    /* operator */
    char **values; /* owned strings; In/NotIn */
    size_t nvalues;
};

struct sy_label_selector {
    struct req *reqs; /* owned; matchLabels become OP_IN with one value */
    size_t n;
};

void sy_label_selector_free(struct sy_label_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->reqs[i].key);
        for (size_t j = 0; j < s->reqs[i].nvalues; j++)
            free(s->reqs[i].values[j]);
        free(s->reqs[i].values);
    }
    free(s->reqs);
    free(s);
}

static struct req *add_req(struct sy_label_selector *s, const char *key, enum op op)
{
    s->reqs = sy_xrealloc(s->reqs, (s->n + 1) * sizeof *s->reqs);
    struct req *r = &s->reqs[s->n++];
    memset(r, 0, sizeof *r);
    r->key = sy_xstrdup(key);
    r->op = op;
    return r;
}

static void add_value(struct req *r, const char *v)
{
    r->values = sy_xrealloc(r->values, (r->nvalues + 1) * sizeof *r->values);
    r->values[r->nvalues++] = sy_xstrdup(v);
}

static int parse_expr(struct sy_label_selector *s, const struct sy_yaml_node *e, const char *prefix,
                      size_t i, const struct sy_plugin_env *env, char *err, size_t errcap)
{
    char key[192];
    snprintf(key, sizeof key, "%smatchExpressions[%zu]", prefix, i);
    if (e->type != SY_YAML_MAPPING)
        return sy_param_errorf(env, e, key, err, errcap, "must be {key, operator, values}");
    const char *k = NULL, *opname = NULL;
    const struct sy_yaml_node *vals = NULL;
    for (size_t j = 0; j < e->n; j++) {
        const char *kk = sy_yaml_str(e->keys[j]);
        if (kk && !strcmp(kk, "key"))
            k = sy_yaml_str(e->items[j]);
        else if (kk && !strcmp(kk, "operator"))
            opname = sy_yaml_str(e->items[j]);
        else if (kk && !strcmp(kk, "values"))
            vals = e->items[j];
        else {
            snprintf(key, sizeof key, "%smatchExpressions[%zu].%s", prefix, i, kk ? kk : "?");
            return sy_param_errorf(env, e->keys[j], key, err, errcap, "unknown key");
        }
    }
    if (!k || !*k)
        return sy_param_errorf(env, e, key, err, errcap, "'key' is required");
    enum op op;
    if (!opname)
        return sy_param_errorf(env, e, key, err, errcap, "'operator' is required");
    if (!strcmp(opname, "In"))
        op = OP_IN;
    else if (!strcmp(opname, "NotIn"))
        op = OP_NOT_IN;
    else if (!strcmp(opname, "Exists"))
        op = OP_EXISTS;
    else if (!strcmp(opname, "DoesNotExist"))
        op = OP_NOT_EXISTS;
    else
        return sy_param_errorf(env, e, key, err, errcap,
                               "operator '%s' is not In, NotIn, Exists or DoesNotExist", opname);
    bool has_values = vals && !sy_param_absent(vals);
    if (has_values && vals->type != SY_YAML_SEQUENCE)
        return sy_param_errorf(env, vals, key, err, errcap, "'values' must be a list");
    size_t nv = has_values ? vals->n : 0;
    if ((op == OP_IN || op == OP_NOT_IN) && nv == 0)
        return sy_param_errorf(env, e, key, err, errcap, "operator %s needs non-empty 'values'",
                               opname);
    if ((op == OP_EXISTS || op == OP_NOT_EXISTS) && nv != 0)
        return sy_param_errorf(env, vals, key, err, errcap, "operator %s takes no 'values'",
                               opname);
    struct req *r = add_req(s, k, op);
    for (size_t j = 0; j < nv; j++) {
        const char *v = sy_yaml_str(vals->items[j]);
        if (!v)
            return sy_param_errorf(env, vals->items[j], key, err, errcap, "values must be strings");
        add_value(r, v);
    }
    return 0;
}

int sy_label_selector_parse(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                            const char *prefix, struct sy_label_selector **out, char *err,
                            size_t errcap)
{
    char key[160];
    int rc = 0;
    struct sy_label_selector *s = SY_NEW(struct sy_label_selector);
    const struct sy_yaml_node *ml =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "matchLabels");
    if (ml && !sy_param_absent(ml)) {
        snprintf(key, sizeof key, "%smatchLabels", prefix);
        if (ml->type != SY_YAML_MAPPING) {
            rc = sy_param_errorf(env, ml, key, err, errcap, "must be a mapping");
            goto fail;
        }
        for (size_t i = 0; i < ml->n; i++) {
            const char *k = sy_yaml_str(ml->keys[i]), *v = sy_yaml_str(ml->items[i]);
            if (!k || !v) {
                rc = sy_param_errorf(env, ml->items[i], key, err, errcap,
                                     "keys and values must be strings");
                goto fail;
            }
            add_value(add_req(s, k, OP_IN), v);
        }
    }
    const struct sy_yaml_node *me =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "matchExpressions");
    if (me && !sy_param_absent(me)) {
        snprintf(key, sizeof key, "%smatchExpressions", prefix);
        if (me->type != SY_YAML_SEQUENCE) {
            rc = sy_param_errorf(env, me, key, err, errcap, "must be a list");
            goto fail;
        }
        for (size_t i = 0; i < me->n; i++)
            if ((rc = parse_expr(s, me->items[i], prefix, i, env, err, errcap)) != 0)
                goto fail;
    }
    *out = s;
    return 0;
fail:
    sy_label_selector_free(s);
    return rc;
}

size_t sy_label_selector_size(const struct sy_label_selector *s)
{
    return s ? s->n : 0;
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"matchLabels", "matchExpressions", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    struct sy_label_selector *s = NULL;
    rc = sy_label_selector_parse(params, env, "", &s, err, errcap);
    if (!rc)
        *state = s;
    return rc;
}

static void destroy(void *state)
{
    sy_label_selector_free(state);
}

bool sy_label_selector_match(const struct sy_label_selector *s, const struct sy_endpoint *ep)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct req *r = &s->reqs[i];
        const char *v = sy_endpoint_label(ep, r->key);
        bool in = false;
        for (size_t j = 0; v && j < r->nvalues && !in; j++)
            in = !strcmp(v, r->values[j]);
        bool ok = r->op == OP_IN       ? in
                  : r->op == OP_NOT_IN ? !in
                  : r->op == OP_EXISTS ? v != NULL
                                       : v == NULL;
        if (!ok)
            return false;
    }
    return true;
}

static bool keeps(const void *state, struct sy_sched_cycle *cy, const struct sy_endpoint *ep)
{
    return sy_label_selector_match(state, ep);
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    return sy_sched_keep_if(c, n, keeps, state, cy);
}

const struct sy_plugin_ops sy_plugin_label_selector_filter = {
    .type = "label-selector-filter",
    .create = create,
    .destroy = destroy,
    .filter = filter,
    .keeps = keeps,
};
