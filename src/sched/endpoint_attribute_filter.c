/* endpoint_attribute_filter.c - llm-d's `endpoint-attribute-filter`.
 *
 * Keeps the candidates whose numeric attribute satisfies `value <operator> threshold.value`.
 *
 *   attribute        required; the metric read from /metrics (endpoint_attribute.h)
 *   producer         optional; llm-d's attribute producer (see endpoint_attribute.h)
 *   onMissing        Pass (default: keep endpoints without the attribute) | Fail (drop them)
 *   fallbackOnEmpty  false; true returns every candidate when none passed
 *   algorithm        {type: threshold, threshold: {operator, value}}; operator one of LessThan,
 *                    LessThanOrEqual, GreaterThan, GreaterThanOrEqual, Equal, NotEqual
 *
 * Also endpoint_attribute.h's shared key resolution, used by endpoint-attribute-scorer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "pool/attrs.h"
#include "sched/endpoint_attribute.h"
#include "sched/filter_keep.h"
#include "sched/params.h"
#include "sched/plugins.h"

enum op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE };

static const char *const op_names[] = {"LessThan",           "LessThanOrEqual", "GreaterThan",
                                       "GreaterThanOrEqual", "Equal",           "NotEqual"};

struct attr_filter {
    int slot;             /* attribute slot (pool/attrs.h) */
    bool pass_on_missing; /* onMissing: Pass */
    bool fallback;        /* fallbackOnEmpty */
    enum op op;           /* threshold.operator */
    double value;         /* threshold.value */
};

int sy_endpoint_attribute_slot(const struct sy_yaml_node *params, const char *key,
                               const struct sy_plugin_env *env, const char *what, char *err,
                               size_t errcap)
{
    const char *attr = NULL, *producer = NULL;
    int rc = sy_param_string(params, key, env, &attr, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "producer", env, &producer, err, errcap);
    if (rc)
        return rc;
    if (!attr || !*attr)
        return sy_param_errorf(env, NULL, key, err, errcap, "%s requires a non-empty %s", what,
                               key);
    const char *slash = strrchr(attr, '/');
    if (slash && !producer)
        return sy_param_errorf(env, sy_yaml_get(params, key), key, err, errcap,
                               "%s: attribute \"%s\" contains \"/\" but no producer is set; split "
                               "it into %s: \"%.*s\" and producer: \"%s\"",
                               what, attr, key, (int)(slash - attr), attr, slash + 1);
    if (producer && *producer && strcmp(producer, "core-metrics-extractor"))
        return sy_param_errorf(env, sy_yaml_get(params, "producer"), "producer", err, errcap,
                               "attributes of '%s' are not available in Switchyard: endpoint "
                               "attributes come from each endpoint's /metrics",
                               producer);
    char why[200];
    int slot = sy_attr_register(attr, why, sizeof why);
    if (slot < 0)
        return sy_param_errorf(env, sy_yaml_get(params, key), key, err, errcap, "%s", why);
    return slot;
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"attribute",       "producer",  "onMissing",
                                          "fallbackOnEmpty", "algorithm", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const char *on_missing = NULL, *type = NULL, *opname = NULL;
    bool fallback = false;
    double value = 0;
    if ((rc = sy_param_string(params, "onMissing", env, &on_missing, err, errcap)) ||
        (rc = sy_param_bool(params, "fallbackOnEmpty", env, &fallback, err, errcap)))
        return rc;
    if (on_missing && *on_missing && strcmp(on_missing, "Pass") && strcmp(on_missing, "Fail"))
        return sy_param_errorf(env, sy_yaml_get(params, "onMissing"), "onMissing", err, errcap,
                               "endpoint attribute filter onMissing must be \"Pass\" or \"Fail\", "
                               "got \"%s\"",
                               on_missing);
    const struct sy_yaml_node *alg =
        sy_param_absent(params) ? NULL : sy_yaml_get(params, "algorithm");
    const struct sy_yaml_node *th = NULL;
    if (alg && !sy_param_absent(alg)) {
        static const char *const aallowed[] = {"type", "threshold", NULL};
        if ((rc = sy_param_check(alg, env, aallowed, err, errcap)) ||
            (rc = sy_param_string(alg, "type", env, &type, err, errcap)))
            return rc;
        th = sy_yaml_get(alg, "threshold");
    }
    if (!type || strcmp(type, "threshold"))
        return sy_param_errorf(env, alg, "algorithm.type", err, errcap,
                               "endpoint attribute filter algorithm.type must be \"threshold\", "
                               "got \"%s\"",
                               type ? type : "");
    if (!th || sy_param_absent(th))
        return sy_param_errorf(env, alg, "algorithm.threshold", err, errcap,
                               "endpoint attribute filter requires algorithm.threshold when "
                               "algorithm.type is \"threshold\"");
    static const char *const tallowed[] = {"operator", "value", NULL};
    if ((rc = sy_param_check(th, env, tallowed, err, errcap)) ||
        (rc = sy_param_string(th, "operator", env, &opname, err, errcap)) ||
        (rc = sy_param_double(th, "value", env, -1e300, 1e300, &value, err, errcap)))
        return rc;
    int op = -1;
    for (int i = 0; opname && i < 6; i++)
        if (!strcmp(opname, op_names[i]))
            op = i;
    if (op < 0)
        return sy_param_errorf(env, th, "algorithm.threshold.operator", err, errcap,
                               "endpoint attribute filter threshold.operator must be one of "
                               "LessThan, LessThanOrEqual, GreaterThan, GreaterThanOrEqual, Equal, "
                               "NotEqual, got \"%s\"",
                               opname ? opname : "");
    int slot = sy_endpoint_attribute_slot(params, "attribute", env, "endpoint attribute filter",
                                          err, errcap);
    if (slot < 0)
        return slot;
    struct attr_filter *f = SY_NEW(struct attr_filter);
    f->slot = slot;
    f->pass_on_missing = !on_missing || !*on_missing || !strcmp(on_missing, "Pass");
    f->fallback = fallback;
    f->op = (enum op)op;
    f->value = value;
    *state = f;
    return 0;
}

static bool matches(const struct attr_filter *f, double v)
{
    switch (f->op) {
    case OP_LT: return v < f->value;
    case OP_LE: return v <= f->value;
    case OP_GT: return v > f->value;
    case OP_GE: return v >= f->value;
    case OP_EQ: return v == f->value;
    case OP_NE: return v != f->value;
    }
    return false;
}

static size_t filter(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    const struct attr_filter *f = state;
    (void)cy;
    bool keep[SY_SCHED_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        double v;
        keep[i] = sy_endpoint_attr(c[i].ep, f->slot, &v) ? matches(f, v) : f->pass_on_missing;
    }
    return sy_sched_keep(c, n, keep, f->fallback);
}

const struct sy_plugin_ops sy_plugin_endpoint_attribute_filter = {
    .type = "endpoint-attribute-filter",
    .create = create,
    .destroy = free,
    .filter = filter,
};
