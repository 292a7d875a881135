/* flow_config.c - the flow-control configuration: inferenceObjectives, featureGates,
 * flowControl and the flow-control plugin instances of an EndpointPickerConfig.
 *
 *   gateway file                       scheduler section (EndpointPickerConfig)
 *   inferenceObjectives:               featureGates: [flowControl]
 *   - {name: chat, priority: 10}       plugins: [{type: concurrency-detector, name: cd, ...}]
 *                                      flowControl:
 *                                        maxBytes: 1Gi           (Kubernetes quantity)
 *                                        defaultRequestTTL: 30s  (Go duration)
 *                                        priorityBands: [{priority, maxBytes, maxRequests,
 *                                                         fairnessPolicyRef, orderingPolicyRef}]
 *                                        saturationDetector: {pluginRef: cd}
 *
 * Defaults are the router's (llm-d-2026-updates.md 1.1): TTLs 60s, band maxBytes 1 GB and
 * maxRequests 5000, global limits unlimited, global-strict fairness, fcfs ordering, static
 * usage limit 1.0, utilization-detector, eviction off. A *PolicyRef / pluginRef names an
 * instance under plugins: or, as llm-d allows for its injected defaults, a plugin type.
 *
 * The scheduler loader (src/sched/epp_config.c) skips flow-control plugin types; this file
 * validates them, so a typo in a parameter is an error at load time, never a silent default.
 * Every error is one line "FILE:LINE: key.path: reason".
 *
 * A priority-reservation-filter entry (a scheduler plugin) is also read here: the gate measures
 * the saturation of the endpoints it leaves to the lower bands (controller.c).
 *
 * program-aware-fairness takes llm-d's las parameters (lasDecayFactor was removed upstream,
 * #2120, and is refused with that reason). Not supported (refused with a reason):
 * priority-holdback domain explicit.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "flow/flow.h"
#include "sched/label_selector.h"
#include "sched/plugin.h"

#define BAND_MAX_BYTES_DEFAULT    1000000000ull  /* 1 GB per band (registry/config.go) */
#define BAND_MAX_REQUESTS_DEFAULT 5000ull        /* router #2123 */
#define TTL_DEFAULT_NS            60000000000ull /* defaultRequestTTL and noEndpointRequestTTL */

/* ---- quantities and durations ---- */

int sy_flow_parse_quantity(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return SY_ECONFIG;
    const char *p = s;
    if (*p == '+')
        p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return SY_ECONFIG;
    /* mantissa as an exact decimal: integer digits and fraction digits */
    long double v = 0;
    int frac_digits = 0;
    bool dot = false;
    for (; *p && (isdigit((unsigned char)*p) || (*p == '.' && !dot)); p++) {
        if (*p == '.') {
            dot = true;
            continue;
        }
        v = v * 10 + (*p - '0');
        if (dot)
            frac_digits++;
        if (v > 1e30L)
            return SY_ECONFIG;
    }
    long double mult = 1;
    if (!*p) {
        mult = 1;
    } else if ((p[0] == 'e' || p[0] == 'E') && (isdigit((unsigned char)p[1]) || p[1] == '+')) {
        char *end;
        errno = 0;
        long e = strtol(p + 1, &end, 10);
        if (*end || errno || e > 30)
            return SY_ECONFIG;
        mult = powl(10, (long double)e);
    } else {
        static const struct {
            const char *sfx;
            long double m;
        } sfx[] = {{"Ki", 1024.0L},
                   {"Mi", 1048576.0L},
                   {"Gi", 1073741824.0L},
                   {"Ti", 1099511627776.0L},
                   {"Pi", 1125899906842624.0L},
                   {"Ei", 1152921504606846976.0L},
                   {"m", 1e-3L},
                   {"k", 1e3L},
                   {"M", 1e6L},
                   {"G", 1e9L},
                   {"T", 1e12L},
                   {"P", 1e15L},
                   {"E", 1e18L}};
        size_t i;
        for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
            if (!strcmp(p, sfx[i].sfx))
                break;
        if (i == sizeof sfx / sizeof sfx[0])
            return SY_ECONFIG;
        mult = sfx[i].m;
    }
    long double r = v / powl(10, frac_digits) * mult;
    long double c = ceill(r - 1e-9L); /* k8s rounds a fractional value up (Value()) */
    if (c < 0)
        c = 0;
    if (c >= 18446744073709551615.0L)
        return SY_ECONFIG;
    *out = (uint64_t)c;
    return 0;
}

int sy_flow_parse_duration(const char *s, uint64_t *out_ns)
{
    if (!s || !*s)
        return SY_ECONFIG;
    const char *p = s;
    if (*p == '+')
        p++;
    if (*p == '-')
        return SY_ECONFIG;
    if (!strcmp(p, "0")) {
        *out_ns = 0;
        return 0;
    }
    long double total = 0;
    if (!*p)
        return SY_ECONFIG;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return SY_ECONFIG;
        char *end;
        errno = 0;
        long double v = strtold(p, &end);
        if (end == p || errno)
            return SY_ECONFIG;
        for (const char *q = p; q < end; q++) /* digits and one dot only: no exponent, no hex */
            if (!isdigit((unsigned char)*q) && *q != '.')
                return SY_ECONFIG;
        p = end;
        long double unit;
        if (!strncmp(p, "ns", 2)) {
            unit = 1, p += 2;
        } else if (!strncmp(p, "us", 2) || !strncmp(p, "\xc2\xb5s", 3) ||
                   !strncmp(p, "\xce\xbcs", 3)) {
            unit = 1e3L, p += (*p == 'u') ? 2 : 3;
        } else if (!strncmp(p, "ms", 2)) {
            unit = 1e6L, p += 2;
        } else if (*p == 's') {
            unit = 1e9L, p += 1;
        } else if (*p == 'm') {
            unit = 60e9L, p += 1;
        } else if (*p == 'h') {
            unit = 3600e9L, p += 1;
        } else {
            return SY_ECONFIG; /* missing unit: Go refuses "30" */
        }
        total += v * unit;
        if (total > 9.2e18L)
            return SY_ECONFIG;
    }
    *out_ns = (uint64_t)(total + 0.5L);
    return 0;
}

/* ---- plugin instances ---- */

static const char *const plugin_types[] = {
    "utilization-detector",
    "concurrency-detector",
    "global-strict-fairness-policy",
    "round-robin-fairness-policy",
    "program-aware-fairness",
    "fcfs-ordering-policy",
    "edf-ordering-policy",
    "slo-deadline-ordering-policy",
    "static-usage-limit-policy",
    "priority-holdback-policy",
    "soft-reflective-ceiling-policy",
};

bool sy_flow_is_plugin_type(const char *type)
{
    for (size_t i = 0; i < sizeof plugin_types / sizeof plugin_types[0]; i++)
        if (type && !strcmp(type, plugin_types[i]))
            return true;
    return false;
}

struct inst {
    const char *name;                   /* instance name (borrowed from the tree) */
    const char *type;                   /* llm-d type */
    enum sy_flow_kind kind;             /* what it is */
    const struct sy_yaml_node *node;    /* the plugins[] entry, for messages */
    struct sy_flow_detector_params det; /* DETECTOR */
    enum sy_flow_fairness fair;         /* FAIRNESS */
    struct sy_flow_las_params las;      /* FAIRNESS program-aware-fairness */
    enum sy_flow_ordering ord;          /* ORDERING */
    struct sy_flow_usage_params usage;  /* USAGE */
};

struct loader {
    char *err;
    size_t errcap;
    struct inst *insts; /* flow plugin instances, owned array */
    size_t ninsts;
};

static void default_detector(struct sy_flow_detector_params *d, int kind)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->queue_depth = 5;
    d->kv_util = 0.8;
    d->staleness_ns = 200000000ull;
    d->headroom = 0;
    d->mode = 0;
    d->max_concurrency = 100;
    d->max_token_concurrency = 1000000;
}

static bool get_double(const struct sy_yaml_node *v, double *out)
{
    const char *s = sy_yaml_str(v);
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool get_i64(const struct sy_yaml_node *v, int64_t *out)
{
    const char *s = sy_yaml_str(v);
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long d = strtoll(s, &end, 10);
    if (*end || errno)
        return false;
    *out = d;
    return true;
}

#define PERR(n, ...) sy_yaml_errf(L->err, L->errcap, (n), __VA_ARGS__)

void sy_flow__las_defaults(struct sy_flow_las_params *p)
{
    p->w_service = 0.8;
    p->w_wait = 0.2;
    p->half_life_s = 60;
    p->evict_ttl_s = 3600;
    p->evict_sweep_s = 300;
}

/* program-aware-fairness: strategy las (the only one upstream), weights >= 0, half-life >= 0,
 * eviction TTL >= 0, sweep > 0 (llm-d's Config.validate). */
static int program_aware_params(struct loader *L, struct inst *in,
                                const struct sy_yaml_node *params, const char *path)
{
    in->kind = SY_FLOW_KIND_FAIRNESS;
    in->fair = SY_FLOW_FAIR_PROGRAM_AWARE;
    sy_flow__las_defaults(&in->las);
    size_t np = params ? params->n : 0;
    for (size_t i = 0; i < np; i++) {
        const char *k = sy_yaml_str(params->keys[i]);
        const struct sy_yaml_node *v = params->items[i];
        double d;
        double *dst = NULL;
        bool positive = false;
        if (k && !strcmp(k, "strategy")) {
            const char *s = sy_yaml_str(v);
            if (!s || (strcmp(s, "las") && *s))
                return PERR(v,
                            "%s.parameters.strategy: unknown scoring strategy '%s': only las "
                            "is supported",
                            path, s ? s : "?");
            continue;
        } else if (k && !strcmp(k, "lasDecayFactor")) {
            return PERR(params->keys[i],
                        "%s.parameters.lasDecayFactor: removed upstream (llm-d #2120); use "
                        "lasHalfLifeSeconds",
                        path);
        } else if (k && !strcmp(k, "lasWeightService")) {
            dst = &in->las.w_service;
        } else if (k && !strcmp(k, "lasWeightHeadWait")) {
            dst = &in->las.w_wait;
        } else if (k && !strcmp(k, "lasHalfLifeSeconds")) {
            dst = &in->las.half_life_s;
        } else if (k && !strcmp(k, "evictionTtlSeconds")) {
            dst = &in->las.evict_ttl_s;
        } else if (k && !strcmp(k, "evictionSweepSeconds")) {
            dst = &in->las.evict_sweep_s;
            positive = true;
        } else {
            return PERR(params->keys[i], "%s.parameters.%s: unknown parameter of %s", path,
                        k ? k : "?", in->type);
        }
        if (!get_double(v, &d) || d < 0 || (positive && d <= 0))
            return PERR(v, "%s.parameters.%s: must be a number %s 0", path, k,
                        positive ? ">" : ">=");
        *dst = d;
    }
    return 0;
}

/* Parameters of one flow-control plugin instance. */
static int inst_params(struct loader *L, struct inst *in, const struct sy_yaml_node *params,
                       const char *path)
{
    const char *t = in->type;
    bool has = params && !sy_yaml_is_null(params);
    if (has && params->type != SY_YAML_MAPPING)
        return PERR(params, "%s.parameters: must be a mapping", path);
    size_t np = has ? params->n : 0;
    if (!strcmp(t, "utilization-detector") || !strcmp(t, "concurrency-detector")) {
        bool util = t[0] == 'u';
        in->kind = SY_FLOW_KIND_DETECTOR;
        default_detector(&in->det, util ? 0 : 1);
        for (size_t i = 0; i < np; i++) {
            const char *k = sy_yaml_str(params->keys[i]);
            const struct sy_yaml_node *v = params->items[i];
            double d;
            int64_t n;
            if (util && !strcmp(k, "queueDepthThreshold")) {
                if (!get_i64(v, &n) || n <= 0)
                    return PERR(v, "%s.parameters.%s: must be an integer > 0", path, k);
                in->det.queue_depth = (double)n;
            } else if (util && !strcmp(k, "kvCacheUtilThreshold")) {
                if (!get_double(v, &d) || d <= 0 || d > 1)
                    return PERR(v, "%s.parameters.%s: must be a number in (0, 1]", path, k);
                in->det.kv_util = d;
            } else if (util && !strcmp(k, "metricsStalenessThreshold")) {
                uint64_t ns;
                if (sy_flow_parse_duration(sy_yaml_str(v), &ns) || ns == 0)
                    return PERR(v, "%s.parameters.%s: must be a duration > 0 (e.g. 200ms)", path,
                                k);
                in->det.staleness_ns = ns;
            } else if (!strcmp(k, "headroom")) {
                if (!get_double(v, &d) || d < 0)
                    return PERR(v, "%s.parameters.%s: must be a number >= 0", path, k);
                in->det.headroom = d;
            } else if (!util && !strcmp(k, "concurrencyMode")) {
                const char *m = sy_yaml_str(v);
                if (m && !strcmp(m, "requests"))
                    in->det.mode = 0;
                else if (m && !strcmp(m, "tokens"))
                    in->det.mode = 1;
                else if (m && !strcmp(m, "hybrid"))
                    in->det.mode = 2;
                else
                    return PERR(v, "%s.parameters.%s: must be requests, tokens or hybrid", path, k);
            } else if (!util && !strcmp(k, "maxConcurrency")) {
                if (!get_i64(v, &n) || n <= 0)
                    return PERR(v, "%s.parameters.%s: must be an integer > 0", path, k);
                in->det.max_concurrency = n;
            } else if (!util && !strcmp(k, "maxTokenConcurrency")) {
                if (!get_i64(v, &n) || n <= 0)
                    return PERR(v, "%s.parameters.%s: must be an integer > 0", path, k);
                in->det.max_token_concurrency = n;
            } else {
                return PERR(params->keys[i], "%s.parameters.%s: unknown parameter of %s", path,
                            k ? k : "?", t);
            }
        }
        return 0;
    }
    if (!strcmp(t, "program-aware-fairness"))
        return program_aware_params(L, in, has ? params : NULL, path);
    if (!strcmp(t, "global-strict-fairness-policy") || !strcmp(t, "round-robin-fairness-policy") ||
        !strcmp(t, "fcfs-ordering-policy") || !strcmp(t, "edf-ordering-policy") ||
        !strcmp(t, "slo-deadline-ordering-policy") ||
        !strcmp(t, "soft-reflective-ceiling-policy")) {
        if (np)
            return PERR(params, "%s.parameters: plugin type %s takes no parameters", path, t);
        if (t[0] == 'g' || t[0] == 'r') {
            in->kind = SY_FLOW_KIND_FAIRNESS;
            in->fair = t[0] == 'g' ? SY_FLOW_FAIR_GLOBAL_STRICT : SY_FLOW_FAIR_ROUND_ROBIN;
        } else if (t[0] == 's' && t[1] == 'o') {
            in->kind = SY_FLOW_KIND_USAGE;
            in->usage.kind = SY_FLOW_USAGE_SOFT;
        } else {
            in->kind = SY_FLOW_KIND_ORDERING;
            in->ord = t[0] == 'f'   ? SY_FLOW_ORDER_FCFS
                      : t[0] == 'e' ? SY_FLOW_ORDER_EDF
                                    : SY_FLOW_ORDER_SLO_DEADLINE;
        }
        return 0;
    }
    in->kind = SY_FLOW_KIND_USAGE;
    if (!strcmp(t, "static-usage-limit-policy")) {
        in->usage.kind = SY_FLOW_USAGE_STATIC;
        in->usage.threshold = 1.0;
        for (size_t i = 0; i < np; i++) {
            const char *k = sy_yaml_str(params->keys[i]);
            double d;
            if (k && !strcmp(k, "threshold")) {
                if (!get_double(params->items[i], &d) || d <= 0 || d > 1)
                    return PERR(params->items[i], "%s.parameters.threshold: must be in (0, 1]",
                                path);
                in->usage.threshold = d;
            } else {
                return PERR(params->keys[i], "%s.parameters.%s: unknown parameter of %s", path,
                            k ? k : "?", t);
            }
        }
        return 0;
    }
    /* priority-holdback-policy */
    in->usage.kind = SY_FLOW_USAGE_HOLDBACK;
    in->usage.max_ceiling = 1.0;
    in->usage.min_ceiling = -1;
    for (size_t i = 0; i < np; i++) {
        const char *k = sy_yaml_str(params->keys[i]);
        const struct sy_yaml_node *v = params->items[i];
        double d;
        if (k && !strcmp(k, "minCeiling")) {
            if (!get_double(v, &d) || d < 0 || d >= 1)
                return PERR(v, "%s.parameters.minCeiling: must be in [0, 1)", path);
            in->usage.min_ceiling = d;
        } else if (k && !strcmp(k, "maxCeiling")) {
            if (!get_double(v, &d) || d <= 0 || d > 1)
                return PERR(v, "%s.parameters.maxCeiling: must be in (0, 1]", path);
            in->usage.max_ceiling = d;
        } else if (k && !strcmp(k, "shape")) {
            const char *s = sy_yaml_str(v);
            if (!s || strcmp(s, "linear"))
                return PERR(v, "%s.parameters.shape: only linear is supported", path);
        } else if (k && !strcmp(k, "domain")) {
            const char *s = sy_yaml_str(v);
            if (s && !strcmp(s, "rank"))
                in->usage.by_value = false;
            else if (s && !strcmp(s, "value"))
                in->usage.by_value = true;
            else if (s && !strcmp(s, "explicit"))
                return PERR(v,
                            "%s.parameters.domain: explicit is not supported by Switchyard "
                            "yet; use rank or value",
                            path);
            else
                return PERR(v, "%s.parameters.domain: must be rank or value", path);
        } else {
            return PERR(params->keys[i], "%s.parameters.%s: unknown parameter of %s", path,
                        k ? k : "?", t);
        }
    }
    if (in->usage.min_ceiling < 0)
        return PERR(in->node, "%s.parameters.minCeiling: required by priority-holdback-policy",
                    path);
    if (in->usage.min_ceiling >= in->usage.max_ceiling) /* llm-d: strictly less */
        return PERR(in->node, "%s.parameters: minCeiling must be less than maxCeiling", path);
    return 0;
}

static int load_instances(struct loader *L, const struct sy_yaml_node *plugins)
{
    if (!plugins || sy_yaml_is_null(plugins) || plugins->type != SY_YAML_SEQUENCE)
        return 0; /* the scheduler loader reports the shape */
    for (size_t i = 0; i < plugins->n; i++) {
        const struct sy_yaml_node *it = plugins->items[i];
        const char *type = sy_yaml_str(sy_yaml_get(it, "type"));
        if (!sy_flow_is_plugin_type(type))
            continue;
        const char *name = sy_yaml_str(sy_yaml_get(it, "name"));
        char path[32];
        snprintf(path, sizeof path, "plugins[%zu]", i);
        L->insts = sy_xrealloc(L->insts, (L->ninsts + 1) * sizeof *L->insts);
        struct inst *in = &L->insts[L->ninsts];
        memset(in, 0, sizeof *in);
        in->name = name && *name ? name : type;
        in->type = type;
        in->node = it;
        int rc = inst_params(L, in, sy_yaml_get(it, "parameters"), path);
        if (rc)
            return rc;
        L->ninsts++;
    }
    return 0;
}

/* priority-reservation-filter (a scheduler plugin, validated by its own create): the gate needs
 * its selector and minPriority to measure the lower bands' saturation over the endpoints they may
 * use. One per configuration: with two, which endpoints a band may use would depend on the
 * profile, which the gate does not know. Malformed entries are left to the scheduler loader. */
static int load_reservation(struct loader *L, struct sy_flow_config *c,
                            const struct sy_yaml_node *plugins)
{
    if (!plugins || sy_yaml_is_null(plugins) || plugins->type != SY_YAML_SEQUENCE)
        return 0;
    for (size_t i = 0; i < plugins->n; i++) {
        const struct sy_yaml_node *it = plugins->items[i];
        const char *type = sy_yaml_str(sy_yaml_get(it, "type"));
        if (!type || strcmp(type, "priority-reservation-filter"))
            continue;
        char path[32];
        snprintf(path, sizeof path, "plugins[%zu]", i);
        if (c->reserve_sel)
            return PERR(
                it,
                "%s: a second priority-reservation-filter; flow control supports one (its "
                "gate measures the lower bands' saturation over the endpoints they may use)",
                path);
        const struct sy_yaml_node *params = sy_yaml_get(it, "parameters");
        if (!params || params->type != SY_YAML_MAPPING)
            continue;
        int64_t minp = 1;
        const struct sy_yaml_node *mp = sy_yaml_get(params, "minPriority");
        if (mp && !sy_yaml_is_null(mp) &&
            (!get_i64(mp, &minp) || minp < INT32_MIN || minp > INT32_MAX))
            continue;
        const struct sy_yaml_node *sel = sy_yaml_get(params, "reserved");
        if (!sel || sel->type != SY_YAML_MAPPING)
            continue;
        const char *name = sy_yaml_str(sy_yaml_get(it, "name"));
        struct sy_plugin_env env = {.file = it->file ? it->file : "<config>",
                                    .line = it->line,
                                    .name = name && *name ? name : type,
                                    .path = path};
        struct sy_label_selector *ls = NULL;
        int rc = sy_label_selector_parse(sel, &env, "reserved.", &ls, L->err, L->errcap);
        if (rc)
            return rc;
        if (sy_label_selector_size(ls) == 0) {
            sy_label_selector_free(ls); /* refused by the plugin itself */
            continue;
        }
        c->reserve_sel = ls;
        c->reserve_min_priority = (int32_t)minp;
    }
    return 0;
}

/* A reference to a flow plugin of kind: an instance name, else a type name (llm-d injects its
 * defaults by type). */
static int resolve_ref(struct loader *L, const struct sy_yaml_node *v, const char *key,
                       enum sy_flow_kind kind, struct inst *out)
{
    static const char *const kind_names[] = {"saturation detector", "fairness policy",
                                             "ordering policy", "usage-limit policy"};
    const char *ref = sy_yaml_str(v);
    if (!ref || !*ref)
        return PERR(v, "%s: must be a plugin name", key);
    for (size_t i = 0; i < L->ninsts; i++) {
        if (strcmp(L->insts[i].name, ref))
            continue;
        if (L->insts[i].kind != kind)
            return PERR(v, "%s: plugin '%s' (%s) is not a %s", key, ref, L->insts[i].type,
                        kind_names[kind]);
        *out = L->insts[i];
        return 0;
    }
    if (sy_flow_is_plugin_type(ref)) {
        struct inst tmp = {.name = ref, .type = ref, .node = v};
        int rc = inst_params(L, &tmp, NULL, key);
        if (rc)
            return rc;
        if (tmp.kind != kind)
            return PERR(v, "%s: plugin type '%s' is not a %s", key, ref, kind_names[kind]);
        *out = tmp;
        return 0;
    }
    return PERR(v, "%s: no %s named '%s' in plugins", key, kind_names[kind], ref);
}

static int quantity(struct loader *L, const struct sy_yaml_node *v, const char *key, uint64_t *out)
{
    if (sy_flow_parse_quantity(sy_yaml_str(v), out))
        return PERR(v, "%s: must be a non-negative Kubernetes quantity (e.g. 5000, 1Gi, 500Mi)",
                    key);
    return 0;
}

static int duration(struct loader *L, const struct sy_yaml_node *v, const char *key, uint64_t *out)
{
    if (sy_flow_parse_duration(sy_yaml_str(v), out))
        return PERR(v, "%s: must be a duration with a unit (e.g. 500ms, 30s, 1m)", key);
    return 0;
}

/* A band mapping (priorityBands[i], defaultPriorityBand, defaultNegativePriorityBand). */
static int load_band(struct loader *L, const struct sy_yaml_node *m, const char *path,
                     bool need_priority, struct sy_flow_band_config *b)
{
    if (m->type != SY_YAML_MAPPING)
        return PERR(m, "%s: must be a mapping", path);
    bool have_prio = false;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = sy_yaml_str(m->keys[i]);
        const struct sy_yaml_node *v = m->items[i];
        char key[160];
        snprintf(key, sizeof key, "%s.%s", path, k ? k : "?");
        if (sy_yaml_is_null(v))
            continue;
        int rc = 0;
        struct inst in;
        if (k && !strcmp(k, "priority")) {
            int64_t p;
            if (!get_i64(v, &p) || p < INT32_MIN || p > INT32_MAX)
                return PERR(v, "%s: must be an int32", key);
            b->priority = (int32_t)p;
            have_prio = true;
        } else if (k && !strcmp(k, "maxBytes")) {
            rc = quantity(L, v, key, &b->max_bytes);
            if (!rc && b->max_bytes == 0)
                b->max_bytes = BAND_MAX_BYTES_DEFAULT; /* 0 = llm-d's default */
        } else if (k && !strcmp(k, "maxRequests")) {
            rc = quantity(L, v, key, &b->max_requests);
            if (!rc && b->max_requests == 0)
                b->max_requests = BAND_MAX_REQUESTS_DEFAULT;
        } else if (k && !strcmp(k, "fairnessPolicyRef")) {
            rc = resolve_ref(L, v, key, SY_FLOW_KIND_FAIRNESS, &in);
            if (!rc) {
                b->fairness = in.fair;
                b->las = in.las;
            }
        } else if (k && !strcmp(k, "orderingPolicyRef")) {
            rc = resolve_ref(L, v, key, SY_FLOW_KIND_ORDERING, &in);
            if (!rc)
                b->ordering = in.ord;
        } else {
            return PERR(m->keys[i],
                        "%s: unknown key (a band has priority, maxBytes, maxRequests, "
                        "fairnessPolicyRef, orderingPolicyRef)",
                        key);
        }
        if (rc)
            return rc;
    }
    if (need_priority && !have_prio)
        return PERR(m, "%s.priority: required", path);
    return 0;
}

static void band_defaults(struct sy_flow_band_config *b)
{
    b->priority = 0;
    b->max_bytes = BAND_MAX_BYTES_DEFAULT;
    b->max_requests = BAND_MAX_REQUESTS_DEFAULT;
    b->fairness = SY_FLOW_FAIR_GLOBAL_STRICT;
    b->ordering = SY_FLOW_ORDER_FCFS;
    sy_flow__las_defaults(&b->las);
}

static int load_flow_control(struct loader *L, struct sy_flow_config *c,
                             const struct sy_yaml_node *fc)
{
    if (fc->type != SY_YAML_MAPPING)
        return PERR(fc, "flowControl: must be a mapping");
    const struct sy_yaml_node *bands = NULL;
    for (size_t i = 0; i < fc->n; i++) {
        const char *k = sy_yaml_str(fc->keys[i]);
        const struct sy_yaml_node *v = fc->items[i];
        char key[96];
        snprintf(key, sizeof key, "flowControl.%s", k ? k : "?");
        if (sy_yaml_is_null(v))
            continue;
        int rc = 0;
        struct inst in;
        if (!k) {
            return PERR(fc->keys[i], "flowControl: keys must be strings");
        } else if (!strcmp(k, "maxBytes")) {
            rc = quantity(L, v, key, &c->max_bytes);
            if (!rc && c->max_bytes == 0)
                c->max_bytes = SY_FLOW_UNLIMITED;
        } else if (!strcmp(k, "maxRequests")) {
            rc = quantity(L, v, key, &c->max_requests);
            if (!rc && c->max_requests == 0)
                c->max_requests = SY_FLOW_UNLIMITED;
        } else if (!strcmp(k, "defaultRequestTTL")) {
            rc = duration(L, v, key, &c->ttl_ns);
            if (!rc && c->ttl_ns == 0)
                c->ttl_ns = TTL_DEFAULT_NS;
        } else if (!strcmp(k, "noEndpointRequestTTL")) {
            rc = duration(L, v, key, &c->no_endpoint_ttl_ns);
            if (!rc && c->no_endpoint_ttl_ns == 0)
                c->no_endpoint_ttl_ns = TTL_DEFAULT_NS;
        } else if (!strcmp(k, "defaultPriorityBand")) {
            rc = load_band(L, v, key, false, &c->band_default);
        } else if (!strcmp(k, "defaultNegativePriorityBand")) {
            rc = load_band(L, v, key, false, &c->band_negative);
        } else if (!strcmp(k, "priorityBands")) {
            bands = v;
        } else if (!strcmp(k, "usageLimitPolicyPluginRef")) {
            rc = resolve_ref(L, v, key, SY_FLOW_KIND_USAGE, &in);
            if (!rc)
                c->usage = in.usage;
        } else if (!strcmp(k, "saturationDetector")) {
            if (v->type != SY_YAML_MAPPING)
                return PERR(v, "%s: must be a mapping with pluginRef", key);
            for (size_t j = 0; j < v->n; j++) {
                const char *sk = sy_yaml_str(v->keys[j]);
                if (!sk || strcmp(sk, "pluginRef"))
                    return PERR(v->keys[j], "%s.%s: unknown key (saturationDetector has pluginRef)",
                                key, sk ? sk : "?");
                char rk[128];
                snprintf(rk, sizeof rk, "%s.pluginRef", key);
                rc = resolve_ref(L, v->items[j], rk, SY_FLOW_KIND_DETECTOR, &in);
                if (rc)
                    return rc;
                c->detector = in.det;
            }
        } else if (!strcmp(k, "enableEviction")) {
            const char *s = sy_yaml_str(v);
            if (!s || sy_parse_bool(s, &c->eviction) != 0)
                return PERR(v, "%s: must be true or false", key);
        } else {
            return PERR(fc->keys[i], "%s: unknown key in flowControl", key);
        }
        if (rc)
            return rc;
    }
    if (bands) {
        if (bands->type != SY_YAML_SEQUENCE)
            return PERR(bands, "flowControl.priorityBands: must be a list");
        if (bands->n > SY_FLOW_MAX_BANDS)
            return PERR(bands, "flowControl.priorityBands: at most %d bands", SY_FLOW_MAX_BANDS);
        c->bands = sy_xcalloc(bands->n ? bands->n : 1, sizeof *c->bands);
        for (size_t i = 0; i < bands->n; i++) {
            char path[64];
            snprintf(path, sizeof path, "flowControl.priorityBands[%zu]", i);
            struct sy_flow_band_config *b = &c->bands[i];
            *b = c->band_default; /* the template fills what the band leaves out */
            int rc = load_band(L, bands->items[i], path, true, b);
            if (rc)
                return rc;
            for (size_t j = 0; j < i; j++)
                if (c->bands[j].priority == b->priority)
                    return PERR(bands->items[i], "%s.priority: %d is already used by band %zu",
                                path, b->priority, j);
            c->nbands++;
        }
    }
    return 0;
}

static int cmp_objective(const void *a, const void *b)
{
    return strcmp(((const struct sy_flow_objective *)a)->name,
                  ((const struct sy_flow_objective *)b)->name);
}

static int load_objectives(struct loader *L, struct sy_flow_config *c, const struct sy_yaml_node *n)
{
    if (!n || sy_yaml_is_null(n))
        return 0;
    if (n->type != SY_YAML_SEQUENCE)
        return PERR(n, "inferenceObjectives: must be a list of {name, priority}");
    if (n->n > SY_FLOW_MAX_OBJECTIVES)
        return PERR(n, "inferenceObjectives: at most %d entries", SY_FLOW_MAX_OBJECTIVES);
    c->objectives = sy_xcalloc(n->n ? n->n : 1, sizeof *c->objectives);
    for (size_t i = 0; i < n->n; i++) {
        const struct sy_yaml_node *it = n->items[i];
        if (it->type != SY_YAML_MAPPING)
            return PERR(it, "inferenceObjectives[%zu]: must be a mapping {name, priority}", i);
        struct sy_flow_objective *o = &c->objectives[c->nobjectives];
        o->priority = 0;
        const char *name = NULL;
        for (size_t j = 0; j < it->n; j++) {
            const char *k = sy_yaml_str(it->keys[j]);
            const struct sy_yaml_node *v = it->items[j];
            if (k && !strcmp(k, "name")) {
                name = sy_yaml_str(v);
                if (!name || !*name || v->type != SY_YAML_SCALAR)
                    return PERR(v, "inferenceObjectives[%zu].name: must be a non-empty string", i);
            } else if (k && !strcmp(k, "priority")) {
                int64_t p;
                if (sy_yaml_is_null(v))
                    continue;
                if (!get_i64(v, &p) || p < INT32_MIN || p > INT32_MAX)
                    return PERR(v, "inferenceObjectives[%zu].priority: must be an int32", i);
                o->priority = (int32_t)p;
            } else {
                return PERR(it->keys[j],
                            "inferenceObjectives[%zu].%s: unknown key (an objective has name, "
                            "priority)",
                            i, k ? k : "?");
            }
        }
        if (!name)
            return PERR(it, "inferenceObjectives[%zu].name: required", i);
        for (size_t j = 0; j < c->nobjectives; j++)
            if (!strcmp(c->objectives[j].name, name))
                return PERR(it, "inferenceObjectives[%zu].name: '%s' is defined twice", i, name);
        o->name = sy_xstrdup(name);
        c->nobjectives++;
    }
    qsort(c->objectives, c->nobjectives, sizeof *c->objectives, cmp_objective);
    return 0;
}

struct sy_flow_config *sy_flow_config_new(const struct sy_yaml_node *objectives,
                                          const char *objectives_file,
                                          const struct sy_yaml_node *epp, const char *epp_file,
                                          char *err, size_t errcap)
{
    (void)objectives_file;
    (void)epp_file; /* nodes carry their file */
    struct sy_flow_config *c = SY_NEW(struct sy_flow_config);
    c->max_bytes = SY_FLOW_UNLIMITED;
    c->max_requests = SY_FLOW_UNLIMITED;
    c->ttl_ns = TTL_DEFAULT_NS;
    c->no_endpoint_ttl_ns = TTL_DEFAULT_NS;
    band_defaults(&c->band_default);
    band_defaults(&c->band_negative);
    c->usage.kind = SY_FLOW_USAGE_STATIC;
    c->usage.threshold = 1.0;
    default_detector(&c->detector, 0);
    struct loader L = {.err = err, .errcap = errcap};
    int rc = load_objectives(&L, c, objectives);
    if (!rc && epp && epp->type == SY_YAML_MAPPING) {
        rc = load_instances(&L, sy_yaml_get(epp, "plugins"));
        if (!rc)
            rc = load_reservation(&L, c, sy_yaml_get(epp, "plugins"));
        const struct sy_yaml_node *gates = sy_yaml_get(epp, "featureGates");
        if (!rc && gates && gates->type == SY_YAML_SEQUENCE)
            for (size_t i = 0; i < gates->n; i++)
                if (sy_yaml_str(gates->items[i]) && !strcmp(gates->items[i]->scalar, "flowControl"))
                    c->enabled = true;
        const struct sy_yaml_node *fc = sy_yaml_get(epp, "flowControl");
        if (!rc && fc && !sy_yaml_is_null(fc))
            rc = load_flow_control(&L, c, fc);
        if (!rc && fc && !sy_yaml_is_null(fc) && !c->enabled)
            sy_warn("%s:%d: flowControl: configured but the flowControl feature gate is off; "
                    "only legacy admission applies",
                    fc->file ? fc->file : "<config>", fc->line);
    }
    free(L.insts);
    if (rc) {
        sy_flow_config_free(c);
        return NULL;
    }
    return c;
}

void sy_flow_config_free(struct sy_flow_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nobjectives; i++)
        free(c->objectives[i].name);
    free(c->objectives);
    free(c->bands);
    sy_label_selector_free(c->reserve_sel);
    free(c);
}

const struct sy_flow_band_config *sy_flow_band_for(const struct sy_flow_config *c, int32_t p)
{
    for (size_t i = 0; i < c->nbands; i++)
        if (c->bands[i].priority == p)
            return &c->bands[i];
    return p < 0 ? &c->band_negative : &c->band_default;
}

bool sy_flow_objective_priority(const struct sy_flow_config *c, struct sy_str name, int32_t *out)
{
    size_t lo = 0, hi = c->nobjectives;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = c->objectives[mid].name;
        size_t sl = strlen(s);
        int r = memcmp(s, name.p, sl < name.len ? sl : name.len);
        if (r == 0)
            r = sl < name.len ? -1 : sl > name.len ? 1 : 0;
        if (r == 0) {
            *out = c->objectives[mid].priority;
            return true;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}
