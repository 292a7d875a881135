/* epp_config.c - builds a scheduler from an llm-d EndpointPickerConfig (YAML tree).
 *
 *   apiVersion: llm-d.ai/v1alpha1 | llm-d.ai/v1 | inference.networking.x-k8s.io/v1alpha1 (legacy)
 *   kind: EndpointPickerConfig
 *   plugins: [{name?, type, parameters?}]            -> struct sy_sched_plugin, config order
 *   schedulingProfiles: [{name, plugins: [{pluginRef, weight?}]}] -> struct sy_sched_profile
 *
 * llm-d's loader defaults, applied in this order:
 *   1. a plugin that consumes a data key nobody produces gets the default producer (prefix-cache-
 *      scorer -> approx-prefix-cache-producer);
 *   2. no profiles -> one profile "default" with every configured filter, scorer (weight 1) and
 *      picker, in config order;
 *   3. a profile without a picker gets the first picker declared under plugins (llm-d's
 *      ensureSchedulingLayer reuses a configured picker; Go's map order makes "which one" random
 *      when there are several, Switchyard takes the first in config order), else one shared
 *      max-score-picker;
 *   4. one profile and no handler -> single-profile-handler.
 * Screeners (models-responder) then filter first in every profile, in config order.
 * Producers run tokenizers first, then in config order, predicted-latency-producer last (it reads
 * the prefix match the others produce; llm-d orders data producers by their dependencies).
 * A NULL config is Switchyard's default (`switchyard-default`: cache-load-scorer, max-score-picker,
 * issue 19); a scalar names a built-in: `switchyard-default` or `llm-d-default`, llm-d's built-in
 * default (loader/defaults.go: queue-scorer 2, kv-cache-utilization-scorer 2, prefix-cache-scorer
 * 3, max-score-picker, single profile), which was Switchyard's default before.
 *
 * Other top-level keys, decided one by one (docs/scheduler.md keeps the table):
 *   featureGates        [] accepted; haPopulateNonLeaderDatastore ignored with a warning (no
 *                       routing effect: Switchyard has no leader election); flowControl turns
 *                       on flow control (src/flow)
 *   flowControl         left to src/flow (flow_config.c validates it), as are the flow-control
 *                       plugin types under plugins: (detectors, fairness/ordering/usage policies)
 *   dataLayer           accepted with a warning when it only wires the data-layer plugins that
 *                       Switchyard's pool scraper replaces; discovery/injectDefaults:false refused
 *   parser, requestHandler
 *                       the request parsers (parsers.c); without them llm-d's defaults
 *   flowControl         validated by src/flow/flow_config.c
 *   saturationDetector (top level, pre-router) refused: use flowControl.saturationDetector
 * Everything else is an error. Every error is one line "FILE:LINE: key.path: reason".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "flow/flow.h"
#include "prefix/prefix_sched.h"
#include "latency/latency.h"
#include "sched/internal.h"
#include "sched/latency_info.h"
#include "sched/params.h"
#include "sched/plugins.h"
#include "sched/session_affinity.h"

#define BUILTIN_NAME "<built-in default>" /* file name used in messages for the default */

/* Switchyard's default (docs/scheduler.md, "The default"): one scorer that weighs what a prefix
 * hit saves against the load it adds, counted from the gateway's own in-flight requests and
 * tokens (cache_load_scorer.c). approx-prefix-cache-producer is auto-created for it. */
static const char switchyard_yaml[] = "apiVersion: llm-d.ai/v1alpha1\n"
                                      "kind: EndpointPickerConfig\n"
                                      "plugins:\n"
                                      "- type: cache-load-scorer\n"
                                      "- type: max-score-picker\n"
                                      "- type: single-profile-handler\n"
                                      "schedulingProfiles:\n"
                                      "- name: default\n"
                                      "  plugins:\n"
                                      "  - pluginRef: cache-load-scorer\n"
                                      "  - pluginRef: max-score-picker\n";

/* llm-d's built-in default (loader/defaults.go), Switchyard's default before issue 19. */
static const char llmd_yaml[] = "apiVersion: llm-d.ai/v1alpha1\n"
                                "kind: EndpointPickerConfig\n"
                                "plugins:\n"
                                "- type: queue-scorer\n"
                                "- type: kv-cache-utilization-scorer\n"
                                "- type: prefix-cache-scorer\n"
                                "- type: max-score-picker\n"
                                "- type: single-profile-handler\n"
                                "schedulingProfiles:\n"
                                "- name: default\n"
                                "  plugins:\n"
                                "  - pluginRef: queue-scorer\n"
                                "    weight: 2\n"
                                "  - pluginRef: kv-cache-utilization-scorer\n"
                                "    weight: 2\n"
                                "  - pluginRef: prefix-cache-scorer\n"
                                "    weight: 3\n"
                                "  - pluginRef: max-score-picker\n";

/* Built-in schedulers a config names instead of writing one (`scheduler: llm-d-default`). The
 * first is the default used when the config has no scheduler section. */
static const struct {
    const char *name;
    const char *yaml;
    size_t len;
} builtins[] = {
    {SY_SCHED_SWITCHYARD_DEFAULT, switchyard_yaml, sizeof switchyard_yaml - 1},
    {SY_SCHED_LLMD_DEFAULT, llmd_yaml, sizeof llmd_yaml - 1},
};

struct loader {
    struct sy_scheduler *s; /* being built */
    const char *file;       /* for messages */
    const char *api;        /* the config's apiVersion (plugins' llm-d generation) */
    char *err;              /* caller's buffer */
    size_t errcap;
};

__attribute__((format(printf, 4, 5))) static int lerr(struct loader *L, int line, const char *key,
                                                      const char *fmt, ...)
{
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (L->err && L->errcap)
        snprintf(L->err, L->errcap, "%s:%d: %s: %s", L->file, line, key, reason);
    return SY_ECONFIG;
}

static struct sy_sched_plugin *find_instance(struct sy_scheduler *s, const char *name)
{
    for (size_t i = 0; i < s->nplugins; i++)
        if (!strcmp(s->plugins[i]->name, name))
            return s->plugins[i];
    return NULL;
}

static void add_instance(struct sy_scheduler *s, struct sy_sched_plugin *p)
{
    s->plugins = sy_xrealloc(s->plugins, (s->nplugins + 1) * sizeof *s->plugins);
    s->plugins[s->nplugins++] = p;
}

/* Creates an instance of ops. params may be NULL. */
static int instantiate(struct loader *L, const struct sy_plugin_ops *ops, const char *name,
                       const struct sy_yaml_node *params, int line, const char *path, bool injected)
{
    unsigned same = 0; /* instances of this type already created by this configuration */
    for (size_t i = 0; i < L->s->nplugins; i++)
        same += L->s->plugins[i]->ops == ops;
    struct sy_plugin_env env = {.file = L->file,
                                .line = line,
                                .name = name,
                                .path = path,
                                .api_version = L->api,
                                .type_index = same};
    void *state = NULL;
    if (ops->create) {
        int rc = ops->create(params, &env, &state, L->err, L->errcap);
        if (rc != 0)
            return rc < 0 ? rc : SY_ECONFIG;
    } else if (!sy_param_absent(params)) {
        return sy_param_errorf(&env, params, NULL, L->err, L->errcap,
                               "plugin type %s takes no parameters", ops->type);
    }
    struct sy_sched_plugin *p = SY_NEW(struct sy_sched_plugin);
    p->ops = ops;
    p->state = state;
    p->name = sy_xstrdup(name);
    p->line = line;
    p->injected = injected;
    add_instance(L->s, p);
    return 0;
}

/* Resolves a type name through the registry, the alias table and the unsupported list. */
static int resolve_type(struct loader *L, const struct sy_yaml_node *tn, const char *path,
                        const struct sy_plugin_ops **out)
{
    char key[64];
    snprintf(key, sizeof key, "%s.type", path);
    const char *type = sy_yaml_str(tn);
    if (!type || !*type)
        return lerr(L, tn->line, key, "must be a non-empty string");
    const struct sy_plugin_ops *ops = sy_sched__registry_find(type);
    if (ops) {
        *out = ops;
        return 0;
    }
    const char *canon = sy_sched__registry_alias(type);
    if (canon) {
        ops = sy_sched__registry_find(canon);
        if (!ops)
            return lerr(L, tn->line, key,
                        "plugin type '%s' (legacy name of '%s') is not supported by Switchyard "
                        "yet",
                        type, canon);
        sy_warn("%s:%d: %s: plugin type '%s' is deprecated, use '%s'", L->file, tn->line, key, type,
                canon);
        *out = ops;
        return 0;
    }
    const char *why = sy_sched__registry_reason(type);
    if (why)
        return lerr(L, tn->line, key, "plugin type '%s' is not supported by Switchyard: %s", type,
                    why);
    if (sy_sched__registry_unsupported(type))
        return lerr(L, tn->line, key, "plugin type '%s' is not supported by Switchyard yet", type);
    return lerr(L, tn->line, key, "unknown plugin type '%s'", type);
}

static int load_plugins(struct loader *L, const struct sy_yaml_node *seq)
{
    if (seq->type != SY_YAML_SEQUENCE)
        return lerr(L, seq->line, "plugins", "must be a list of {name, type, parameters}");
    for (size_t i = 0; i < seq->n; i++) {
        const struct sy_yaml_node *it = seq->items[i];
        char path[32];
        snprintf(path, sizeof path, "plugins[%zu]", i);
        if (it->type != SY_YAML_MAPPING)
            return lerr(L, it->line, path, "must be a mapping with 'type'");
        const struct sy_yaml_node *tn = NULL, *nn = NULL, *pn = NULL;
        for (size_t k = 0; k < it->n; k++) {
            const char *kk = sy_yaml_str(it->keys[k]);
            if (kk && !strcmp(kk, "type"))
                tn = it->items[k];
            else if (kk && !strcmp(kk, "name"))
                nn = it->items[k];
            else if (kk && !strcmp(kk, "parameters"))
                pn = it->items[k];
            else {
                char key[96];
                snprintf(key, sizeof key, "%s.%s", path, kk ? kk : "?");
                return lerr(L, it->keys[k]->line, key,
                            "unknown key (a plugin has name, type, parameters)");
            }
        }
        if (!tn) {
            char key[64];
            snprintf(key, sizeof key, "%s.type", path);
            return lerr(L, it->line, key, "missing");
        }
        if (sy_flow_is_plugin_type(sy_yaml_str(tn)) && !sy_sched__registry_find(sy_yaml_str(tn)))
            continue; /* a flow-control plugin: src/flow/flow_config.c builds it (a detector with
                         a filter role, concurrency-detector, is also built here as a filter) */
        const struct sy_plugin_ops *ops = NULL;
        int rc = resolve_type(L, tn, path, &ops);
        if (rc)
            return rc;
        const char *name = tn->scalar;
        if (nn) {
            name = sy_yaml_str(nn);
            char key[64];
            snprintf(key, sizeof key, "%s.name", path);
            if (!name || !*name)
                return lerr(L, nn->line, key, "must be a non-empty string");
        }
        if (find_instance(L->s, name)) {
            char key[64];
            snprintf(key, sizeof key, "%s.name", path);
            return lerr(L, nn ? nn->line : it->line, key, "duplicate plugin name '%s'", name);
        }
        rc = instantiate(L, ops, name, pn, it->line, path, false);
        if (rc)
            return rc;
    }
    return 0;
}

/* Step 1: default producers for consumed data keys. */
static int add_default_producers(struct loader *L)
{
    /* over the growing list: an auto-created producer may consume a key too (slo-class-scorer ->
     * predicted-latency-producer -> approx-prefix-cache-producer) */
    for (size_t i = 0; i < L->s->nplugins; i++) {
        struct sy_sched_plugin *p = L->s->plugins[i];
        const char *key = p->ops->consumes;
        if (!key)
            continue;
        bool have = false;
        for (size_t j = 0; j < L->s->nplugins && !have; j++)
            have = L->s->plugins[j]->ops->produces && !strcmp(L->s->plugins[j]->ops->produces, key);
        if (have)
            continue;
        const struct sy_plugin_ops *prod = sy_sched__registry_producer(key);
        if (!prod)
            return lerr(L, p->line, p->name,
                        "plugin type %s needs data '%s' and no producer of it is available in "
                        "Switchyard yet",
                        p->ops->type, key);
        char name[128];
        snprintf(name, sizeof name, "%s", prod->type);
        if (find_instance(L->s, name))
            snprintf(name, sizeof name, "%s#auto", prod->type);
        /* Legacy inline producer parameters on a prefix-cache-scorer configure the producer,
         * whichever consumer of the key comes first in the list (llm-d's Helm pipeline lists
         * predicted-latency-producer before the scorer) */
        void *pst = NULL;
        const struct sy_sched_plugin *legacy = NULL;
        if (!strcmp(prod->type, "approx-prefix-cache-producer"))
            for (size_t k = 0; k < L->s->nplugins && !legacy; k++)
                if (!strcmp(L->s->plugins[k]->ops->type, "prefix-cache-scorer") &&
                    sy_prefix_cache_scorer_make_producer(L->s->plugins[k]->state, &pst) == 1)
                    legacy = L->s->plugins[k];
        if (legacy) {
            struct sy_sched_plugin *np = SY_NEW(struct sy_sched_plugin);
            np->ops = prod;
            np->state = pst;
            np->name = sy_xstrdup(name);
            np->line = legacy->line;
            np->injected = true;
            add_instance(L->s, np);
        } else {
            int rc = instantiate(L, prod, name, NULL, p->line, "(auto-created producer)", true);
            if (rc)
                return rc;
        }
        sy_info("%s: scheduler: created %s for %s (llm-d default producer)", L->file, prod->type,
                p->name);
    }
    return 0;
}

static int profile_add(struct loader *L, struct sy_sched_profile *pr, struct sy_sched_plugin *p,
                       double weight, int line, const char *key)
{
    const struct sy_plugin_ops *o = p->ops;
    if (o->profile_handler)
        return lerr(L, line, key,
                    "'%s' is a profile handler (%s); list it under plugins, not in a profile",
                    p->name, o->type);
    if (o->admission) {
        /* llm-d lists admission plugins under plugins only; an older Switchyard config listed
         * latency-slo-admitter first in a profile: accepted, it runs as the admission check */
        sy_warn("%s:%d: %s: '%s' (%s) is an admission plugin: it runs once per request before the "
                "profiles, whatever profile lists it",
                L->file, line, key, p->name, o->type);
        return 0;
    }
    if (o->screener)
        return lerr(L, line, key,
                    "'%s' (%s) screens every request before the profiles run; list it under "
                    "plugins, not in a profile",
                    p->name, o->type);
    if (!o->filter && !o->score && !o->pick && !o->produce)
        return lerr(L, line, key, "plugin '%s' (%s) cannot be used in a scheduling profile",
                    p->name, o->type);
    if (o->filter) {
        pr->filters = sy_xrealloc(pr->filters, (pr->nfilters + 1) * sizeof *pr->filters);
        pr->filters[pr->nfilters++] = p;
    }
    if (o->score) {
        if (pr->nscorers == SY_SCHED_MAX_SCORERS)
            return lerr(L, line, key, "more than %d scorers in profile '%s'", SY_SCHED_MAX_SCORERS,
                        pr->name);
        pr->scorers[pr->nscorers].p = p;
        pr->scorers[pr->nscorers].weight = weight;
        pr->nscorers++;
    }
    if (o->pick) {
        if (pr->picker)
            return lerr(L, line, key, "profile '%s' has two pickers ('%s' and '%s')", pr->name,
                        pr->picker->name, p->name);
        pr->picker = p;
    }
    return 0;
}

static struct sy_sched_profile *new_profile(struct sy_scheduler *s, const char *name)
{
    s->profiles = sy_xrealloc(s->profiles, (s->nprofiles + 1) * sizeof *s->profiles);
    struct sy_sched_profile *pr = &s->profiles[s->nprofiles++];
    memset(pr, 0, sizeof *pr);
    pr->name = sy_xstrdup(name);
    return pr;
}

static int load_profiles(struct loader *L, const struct sy_yaml_node *seq)
{
    if (seq->type != SY_YAML_SEQUENCE)
        return lerr(L, seq->line, "schedulingProfiles", "must be a list of {name, plugins}");
    for (size_t i = 0; i < seq->n; i++) {
        const struct sy_yaml_node *it = seq->items[i];
        char path[48], key[128];
        snprintf(path, sizeof path, "schedulingProfiles[%zu]", i);
        if (it->type != SY_YAML_MAPPING)
            return lerr(L, it->line, path, "must be a mapping with name and plugins");
        const struct sy_yaml_node *nn = NULL, *pl = NULL;
        for (size_t k = 0; k < it->n; k++) {
            const char *kk = sy_yaml_str(it->keys[k]);
            if (kk && !strcmp(kk, "name"))
                nn = it->items[k];
            else if (kk && !strcmp(kk, "plugins"))
                pl = it->items[k];
            else {
                snprintf(key, sizeof key, "%s.%s", path, kk ? kk : "?");
                return lerr(L, it->keys[k]->line, key, "unknown key (a profile has name, plugins)");
            }
        }
        snprintf(key, sizeof key, "%s.name", path);
        const char *name = nn ? sy_yaml_str(nn) : NULL;
        if (!name || !*name)
            return lerr(L, nn ? nn->line : it->line, key, "missing or not a string");
        for (size_t j = 0; j < L->s->nprofiles; j++)
            if (!strcmp(L->s->profiles[j].name, name))
                return lerr(L, nn->line, key, "duplicate profile name '%s'", name);
        struct sy_sched_profile *pr = new_profile(L->s, name);
        if (!pl || sy_param_absent(pl))
            continue;
        if (pl->type != SY_YAML_SEQUENCE) {
            snprintf(key, sizeof key, "%s.plugins", path);
            return lerr(L, pl->line, key, "must be a list of {pluginRef, weight}");
        }
        for (size_t j = 0; j < pl->n; j++) {
            const struct sy_yaml_node *ref = pl->items[j];
            char rpath[96];
            snprintf(rpath, sizeof rpath, "%s.plugins[%zu]", path, j);
            if (ref->type != SY_YAML_MAPPING)
                return lerr(L, ref->line, rpath, "must be a mapping with pluginRef");
            const struct sy_yaml_node *rn = NULL, *wn = NULL;
            for (size_t k = 0; k < ref->n; k++) {
                const char *kk = sy_yaml_str(ref->keys[k]);
                if (kk && !strcmp(kk, "pluginRef"))
                    rn = ref->items[k];
                else if (kk && !strcmp(kk, "weight"))
                    wn = ref->items[k];
                else {
                    snprintf(key, sizeof key, "%s.%s", rpath, kk ? kk : "?");
                    return lerr(L, ref->keys[k]->line, key,
                                "unknown key (a profile entry has pluginRef, weight)");
                }
            }
            snprintf(key, sizeof key, "%s.pluginRef", rpath);
            const char *rname = rn ? sy_yaml_str(rn) : NULL;
            if (!rname || !*rname)
                return lerr(L, rn ? rn->line : ref->line, key, "missing or not a string");
            struct sy_sched_plugin *p = find_instance(L->s, rname);
            if (!p)
                return lerr(L, rn->line, key, "no plugin named '%s' in plugins", rname);
            for (size_t q = 0; q < j; q++) {
                const struct sy_yaml_node *prev = sy_yaml_get(pl->items[q], "pluginRef");
                if (prev && sy_yaml_str(prev) && !strcmp(sy_yaml_str(prev), rname))
                    return lerr(L, rn->line, key, "plugin '%s' is listed twice in profile '%s'",
                                rname, name);
            }
            double w = 1.0;
            if (wn) {
                snprintf(key, sizeof key, "%s.weight", rpath);
                const char *ws = sy_yaml_str(wn);
                if (!ws || sy_parse_double(ws, &w) != 0 || !isfinite(w) || w < 0)
                    return lerr(L, wn->line, key, "must be a number >= 0, got '%s'",
                                ws ? ws : "(not a scalar)");
            }
            int rc = profile_add(L, pr, p, w, ref->line, rpath);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Step 2: no profiles -> "default" with every filter, scorer and picker. */
static int default_profile(struct loader *L)
{
    struct sy_sched_profile *pr = new_profile(L->s, "default");
    for (size_t i = 0; i < L->s->nplugins; i++) {
        struct sy_sched_plugin *p = L->s->plugins[i];
        if (p->injected || p->ops->profile_handler || p->ops->screener || p->ops->admission)
            continue;
        if (!p->ops->filter && !p->ops->score && !p->ops->pick)
            continue;
        char key[32];
        snprintf(key, sizeof key, "plugins");
        int rc = profile_add(L, pr, p, 1.0, p->line, key);
        if (rc)
            return rc;
    }
    return 0;
}

/* Step 3: pickers. */
static int default_pickers(struct loader *L)
{
    struct sy_sched_plugin *msp = NULL;
    for (size_t i = 0; i < L->s->nplugins && !msp; i++)
        if (L->s->plugins[i]->ops->pick && !L->s->plugins[i]->injected)
            msp = L->s->plugins[i];
    for (size_t i = 0; i < L->s->nprofiles; i++) {
        struct sy_sched_profile *pr = &L->s->profiles[i];
        if (pr->picker)
            continue;
        if (!msp) {
            const struct sy_plugin_ops *ops = sy_sched__registry_find("max-score-picker");
            const char *name = find_instance(L->s, "max-score-picker") ? "max-score-picker#auto"
                                                                       : "max-score-picker";
            int rc = instantiate(L, ops, name, NULL, 0, "(default picker)", true);
            if (rc)
                return rc;
            msp = L->s->plugins[L->s->nplugins - 1];
        }
        pr->picker = msp;
    }
    return 0;
}

/* Screeners (llm-d requestcontrol.Screener): their filter runs before every profile's own. */
static void add_screeners(struct loader *L)
{
    struct sy_scheduler *s = L->s;
    for (size_t i = s->nplugins; i-- > 0;) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (!p->ops->screener || !p->ops->filter)
            continue;
        for (size_t j = 0; j < s->nprofiles; j++) {
            struct sy_sched_profile *pr = &s->profiles[j];
            pr->filters = sy_xrealloc(pr->filters, (pr->nfilters + 1) * sizeof *pr->filters);
            memmove(pr->filters + 1, pr->filters, pr->nfilters * sizeof *pr->filters);
            pr->filters[0] = p;
            pr->nfilters++;
        }
    }
}

static bool bind_find(const struct sy_sched_binder *b, const char *name,
                      const struct sy_plugin_ops **ops, void **state)
{
    struct sy_sched_plugin *p = find_instance(b->ctx, name);
    if (!p)
        return false;
    *ops = p->ops;
    *state = p->state;
    return true;
}

/* Step 4: the profile handler. */
static int profile_handler(struct loader *L, int profiles_line)
{
    struct sy_scheduler *s = L->s;
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (!p->ops->profile_handler)
            continue;
        if (s->handler)
            return lerr(L, p->line, p->name, "a second profile handler ('%s' is the first)",
                        s->handler->name);
        s->handler = p;
    }
    if (!s->handler) {
        if (s->nprofiles != 1)
            return lerr(L, profiles_line, "schedulingProfiles",
                        "%zu profiles need a profile handler (disagg-profile-handler or "
                        "header-profile-handler)",
                        s->nprofiles);
        int rc = instantiate(L, sy_sched__registry_find("single-profile-handler"),
                             "single-profile-handler", NULL, 0, "(default handler)", true);
        if (rc)
            return rc;
        s->handler = s->plugins[s->nplugins - 1];
        return 0;
    }
    if (!s->handler->ops->next_profile && s->nprofiles != 1)
        return lerr(L, s->handler->line, s->handler->name,
                    "%s runs exactly one scheduling profile; the config has %zu",
                    s->handler->ops->type, s->nprofiles);
    if (s->handler->ops->bind) {
        const char **names = sy_xcalloc(s->nprofiles ? s->nprofiles : 1, sizeof *names);
        for (size_t i = 0; i < s->nprofiles; i++)
            names[i] = s->profiles[i].name;
        struct sy_sched_binder b = {
            .profiles = names, .nprofiles = s->nprofiles, .find = bind_find, .ctx = s};
        int rc = s->handler->ops->bind(s->handler->state, &b, L->err, L->errcap);
        free(names);
        if (rc)
            return rc < 0 ? rc : SY_ECONFIG;
    }
    return 0;
}

static int load_feature_gates(struct loader *L, const struct sy_yaml_node *n)
{
    if (sy_param_absent(n))
        return 0;
    if (n->type != SY_YAML_SEQUENCE)
        return lerr(L, n->line, "featureGates", "must be a list of gate names");
    for (size_t i = 0; i < n->n; i++) {
        const char *g = sy_yaml_str(n->items[i]);
        char key[48];
        snprintf(key, sizeof key, "featureGates[%zu]", i);
        if (!g)
            return lerr(L, n->items[i]->line, key, "must be a string");
        if (!strcmp(g, "haPopulateNonLeaderDatastore")) {
            sy_warn("%s:%d: %s: '%s' ignored: Switchyard has no leader election", L->file,
                    n->items[i]->line, key, g);
            continue;
        }
        if (!strcmp(g, "flowControl"))
            continue; /* src/flow reads the gate */
        return lerr(L, n->items[i]->line, key, "unknown feature gate '%s'", g);
    }
    return 0;
}

/* dataLayer: only wiring of the data-layer plugins Switchyard's pool replaces. */
static int check_ref(struct loader *L, const struct sy_yaml_node *m, const char *path)
{
    char key[128];
    if (m->type != SY_YAML_MAPPING)
        return lerr(L, m->line, path, "must be a mapping with pluginRef");
    const struct sy_yaml_node *r = sy_yaml_get(m, "pluginRef");
    snprintf(key, sizeof key, "%s.pluginRef", path);
    if (!r || !sy_yaml_str(r))
        return lerr(L, m->line, key, "missing or not a string");
    if (!find_instance(L->s, r->scalar))
        return lerr(L, r->line, key, "no plugin named '%s' in plugins", r->scalar);
    return 0;
}

static int load_data_layer(struct loader *L, const struct sy_yaml_node *n)
{
    if (sy_param_absent(n))
        return 0;
    if (n->type != SY_YAML_MAPPING)
        return lerr(L, n->line, "dataLayer", "must be a mapping");
    for (size_t i = 0; i < n->n; i++) {
        const char *k = sy_yaml_str(n->keys[i]);
        const struct sy_yaml_node *v = n->items[i];
        char key[128];
        snprintf(key, sizeof key, "dataLayer.%s", k ? k : "?");
        if (k && !strcmp(k, "sources")) {
            if (v->type != SY_YAML_SEQUENCE)
                return lerr(L, v->line, key, "must be a list");
            for (size_t j = 0; j < v->n; j++) {
                const struct sy_yaml_node *src = v->items[j];
                char path[96];
                snprintf(path, sizeof path, "dataLayer.sources[%zu]", j);
                int rc = check_ref(L, src, path);
                if (rc)
                    return rc;
                for (size_t q = 0; q < src->n; q++) {
                    const char *sk = sy_yaml_str(src->keys[q]);
                    if (sk && !strcmp(sk, "pluginRef"))
                        continue;
                    snprintf(key, sizeof key, "%s.%s", path, sk ? sk : "?");
                    if (!sk || strcmp(sk, "extractors"))
                        return lerr(L, src->keys[q]->line, key, "unknown key");
                    const struct sy_yaml_node *ex = src->items[q];
                    if (ex->type != SY_YAML_SEQUENCE)
                        return lerr(L, ex->line, key, "must be a list");
                    for (size_t e = 0; e < ex->n; e++) {
                        char epath[192];
                        snprintf(epath, sizeof epath, "%s.extractors[%zu]", path, e);
                        rc = check_ref(L, ex->items[e], epath);
                        if (rc)
                            return rc;
                    }
                }
            }
        } else if (k && !strcmp(k, "injectDefaults")) {
            bool b;
            if (!sy_yaml_str(v) || sy_parse_bool(v->scalar, &b) != 0)
                return lerr(L, v->line, key, "must be true or false");
            if (!b)
                return lerr(L, v->line, key,
                            "false is not supported: Switchyard always scrapes the pool's "
                            "metrics");
        } else {
            return lerr(L, n->keys[i]->line, key,
                        "not supported by Switchyard yet (endpoints come from the pool "
                        "section)");
        }
    }
    sy_warn("%s:%d: dataLayer: accepted and ignored: Switchyard's pool scraper collects endpoint "
            "metrics (configure it in the pool section)",
            L->file, n->line);
    return 0;
}

static void warn_unreferenced(struct loader *L)
{
    struct sy_scheduler *s = L->s;
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (p->injected || p->ops->screener || p->ops->admission ||
            (!p->ops->filter && !p->ops->score && !p->ops->pick))
            continue;
        bool used = false;
        for (size_t j = 0; j < s->nprofiles && !used; j++) {
            const struct sy_sched_profile *pr = &s->profiles[j];
            used = pr->picker == p;
            for (size_t k = 0; k < pr->nfilters && !used; k++)
                used = pr->filters[k] == p;
            for (size_t k = 0; k < pr->nscorers && !used; k++)
                used = pr->scorers[k].p == p;
        }
        if (!used)
            sy_warn("%s:%d: plugin '%s' (%s) is not referenced by any scheduling profile", L->file,
                    p->line, p->name, p->ops->type);
    }
}

/* session-affinity-scorer/-filter profileName names a scheduling profile whose pick the instance
 * binds and writes back; a name no profile has would silently disable the instance (nothing
 * binds, no header), so the loader warns, naming the plugin and the profile (llm-d does not
 * check it either, hence not an error). */
static void warn_session_profiles(struct loader *L)
{
    const struct sy_scheduler *s = L->s;
    for (size_t i = 0; i < s->nplugins; i++) {
        const struct sy_sched_plugin *p = s->plugins[i];
        if (p->ops != &sy_plugin_session_affinity_scorer &&
            p->ops != &sy_plugin_session_affinity_filter)
            continue;
        const char *want = ((const struct sy_session *)p->state)->profile;
        bool found = !want;
        for (size_t j = 0; j < s->nprofiles && !found; j++)
            found = !strcmp(s->profiles[j].name, want);
        if (!found)
            sy_warn("%s:%d: plugin '%s' (%s): profileName '%s' is not a scheduling profile: the "
                    "plugin will bind nothing and write no header",
                    L->file, p->line, p->name, p->ops->type, want);
    }
}

/* predicted-latency-producer reads the other producers' data (the prefix match for its
 * prefix_cache_score and uncached-input features); llm-d's data layer runs it after them, as a
 * consumer of PrefixCacheMatchInfo. Config order alone would run it first in llm-d's Helm
 * pipeline (the producer is listed first, the approx-prefix producer is auto-created after the
 * affinity filters), so every prediction and training sample saw a prefix score of 0: moved to
 * the end, stable among themselves. */
static void order_latency_producers_last(struct sy_scheduler *s)
{
    size_t n = s->nproducers, k = 0;
    if (n < 2)
        return;
    struct sy_sched_plugin **tmp = sy_xmalloc(n * sizeof *tmp);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const char *key = s->producers[i]->ops->produces;
            bool lat = key && !strcmp(key, SY_LATENCY_KEY);
            if (lat == (pass == 1))
                tmp[k++] = s->producers[i];
        }
    memcpy(s->producers, tmp, n * sizeof *tmp);
    free(tmp);
}

/* predicted-latency-producer instances share one process-wide model, so its tpotQuantile is one
 * value: instances that disagree (absent = the model's 0.9) would override each other at every
 * cycle. Refused, naming both. */
static int check_tpot_quantiles(struct loader *L)
{
    const struct sy_sched_plugin *first = NULL;
    double q0 = 0;
    for (size_t i = 0; i < L->s->nplugins; i++) {
        const struct sy_sched_plugin *p = L->s->plugins[i];
        if (p->ops != &sy_plugin_predicted_latency_producer)
            continue;
        double q = sy_predicted_latency_tpot_quantile(p->state);
        if (!first) {
            first = p;
            q0 = q;
        } else if (q != q0) {
            return lerr(L, p->line, "plugins",
                        "predicted-latency-producer instances '%s' (line %d, tpotQuantile %g) and "
                        "'%s' (tpotQuantile %g) disagree: they share one process-wide latency "
                        "model, give every instance the same tpotQuantile (absent = %g)",
                        first->name, first->line, q0, p->name, q,
                        sy_latency_tpot_quantile_configured(sy_sched_latency_model()));
        }
    }
    return 0;
}

/* The config selects llm-d router semantics (llm-d.ai/...), not v0.8's; the same test plugins
 * make through sy_plugin_env_router. */
static bool router_api(const struct loader *L)
{
    struct sy_plugin_env env = {.api_version = L->api};
    return sy_plugin_env_router(&env);
}

static int load_tree(struct loader *L, const struct sy_yaml_node *cfg)
{
    if (cfg->type != SY_YAML_MAPPING)
        return lerr(L, cfg->line, "scheduler", "must be a mapping (an EndpointPickerConfig)");
    const struct sy_yaml_node *plugins = NULL, *profiles = NULL, *gates = NULL, *data = NULL;
    const struct sy_yaml_node *parser = NULL, *handler = NULL; /* request parsers (parsers.c) */
    int profiles_line = cfg->line;
    for (size_t i = 0; i < cfg->n; i++) {
        const char *k = sy_yaml_str(cfg->keys[i]);
        const struct sy_yaml_node *v = cfg->items[i];
        int line = cfg->keys[i]->line;
        if (!k)
            return lerr(L, line, "?", "keys must be strings");
        if (!strcmp(k, "apiVersion")) {
            const char *a = sy_yaml_str(v);
            if (a && (!strcmp(a, "llm-d.ai/v1alpha1") || !strcmp(a, "llm-d.ai/v1"))) {
                L->api = a;
                continue;
            }
            if (a && !strcmp(a, "inference.networking.x-k8s.io/v1alpha1")) {
                L->api = a;
                sy_warn("%s:%d: apiVersion: '%s' is deprecated, use llm-d.ai/v1alpha1", L->file,
                        v->line, a);
                continue;
            }
            return lerr(L, v->line, k,
                        "unsupported apiVersion '%s' (expected llm-d.ai/v1alpha1, llm-d.ai/v1 or "
                        "inference.networking.x-k8s.io/v1alpha1)",
                        a ? a : "(not a string)");
        } else if (!strcmp(k, "kind")) {
            const char *kd = sy_yaml_str(v);
            if (!kd || strcmp(kd, "EndpointPickerConfig"))
                return lerr(L, v->line, k, "must be EndpointPickerConfig, got '%s'",
                            kd ? kd : "(not a string)");
        } else if (!strcmp(k, "plugins")) {
            plugins = v;
        } else if (!strcmp(k, "schedulingProfiles")) {
            profiles = v;
            profiles_line = line;
        } else if (!strcmp(k, "featureGates")) {
            gates = v;
        } else if (!strcmp(k, "dataLayer")) {
            data = v;
        } else if (!strcmp(k, "parser")) {
            parser = v;
        } else if (!strcmp(k, "requestHandler")) {
            handler = v;
        } else if (!strcmp(k, "flowControl")) {
            continue; /* validated by src/flow/flow_config.c */
        } else if (!strcmp(k, "saturationDetector")) {
            return lerr(L, line, k,
                        "top-level saturationDetector is the pre-router form; declare the detector "
                        "under plugins and name it in flowControl.saturationDetector.pluginRef");
        } else {
            return lerr(L, line, k, "unknown key in EndpointPickerConfig");
        }
    }
    int rc = 0;
    if (plugins && !sy_param_absent(plugins))
        rc = load_plugins(L, plugins);
    if (!rc)
        rc = add_default_producers(L);
    if (!rc)
        rc = check_tpot_quantiles(L);
    if (!rc && profiles && !sy_param_absent(profiles))
        rc = load_profiles(L, profiles);
    if (!rc && L->s->nprofiles == 0)
        rc = default_profile(L);
    if (!rc)
        rc = default_pickers(L);
    if (!rc)
        add_screeners(L);
    if (!rc)
        rc = profile_handler(L, profiles_line);
    if (!rc)
        rc = load_feature_gates(L, gates);
    if (!rc)
        rc = load_data_layer(L, data);
    if (!rc)
        rc = sy_sched__load_parsers(L->s, L->file, parser, handler, !router_api(L), L->err,
                                    L->errcap);
    if (rc)
        return rc;
    warn_unreferenced(L);
    warn_session_profiles(L);
    struct sy_scheduler *s = L->s;
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (p->ops->admission && p->ops->filter) {
            s->admitters = sy_xrealloc(s->admitters, (s->nadmitters + 1) * sizeof *s->admitters);
            s->admitters[s->nadmitters++] = p;
        }
        if (!p->ops->produce)
            continue;
        s->producers = sy_xrealloc(s->producers, (s->nproducers + 1) * sizeof *s->producers);
        s->producers[s->nproducers++] = p;
        if (p->ops->produces && !strcmp(p->ops->produces, SY_PREFIX_KEY))
            s->wants_prefix = true;
    }
    /* Token producers run first, the others in config order: llm-d orders data producers by
     * their dependencies, and the prefix producers consume the tokenized prompt. */
    for (size_t i = 1, k = 0; i < s->nproducers; i++) {
        struct sy_sched_plugin *p = s->producers[i];
        if (!p->ops->produces || strcmp(p->ops->produces, "tokenized-prompt"))
            continue;
        while (k < i && s->producers[k]->ops->produces &&
               !strcmp(s->producers[k]->ops->produces, "tokenized-prompt"))
            k++;
        memmove(&s->producers[k + 1], &s->producers[k], (i - k) * sizeof *s->producers);
        s->producers[k++] = p;
    }
    order_latency_producers_last(s);
    return 0;
}

/* Loads the built-in scheduler builtins[i]; file names it in messages. */
static int load_builtin(struct loader *L, size_t i)
{
    L->file = i == 0 ? BUILTIN_NAME : builtins[i].name;
    struct sy_yaml_node *root =
        sy_yaml_load_string(builtins[i].yaml, builtins[i].len, L->file, L->err, L->errcap);
    if (!root)
        return SY_ECONFIG;
    int rc = load_tree(L, root);
    sy_yaml_free(root);
    return rc;
}

int sy_sched__load(struct sy_scheduler *s, const struct sy_yaml_node *cfg, const char *file,
                   char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    struct loader L = {.s = s, .api = "llm-d.ai/v1alpha1", .err = err, .errcap = errcap};
    if (!cfg)
        return load_builtin(&L, 0);
    L.file = file ? file : cfg->file ? cfg->file : "<config>";
    if (cfg->type == SY_YAML_SCALAR) { /* a built-in scheduler by name */
        const char *name = sy_yaml_str(cfg);
        for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
            if (!strcmp(name, builtins[i].name))
                return load_builtin(&L, i);
        return lerr(&L, cfg->line, "scheduler",
                    "unknown built-in scheduler '%s' (expected %s or %s, or an "
                    "EndpointPickerConfig mapping)",
                    name ? name : "", SY_SCHED_SWITCHYARD_DEFAULT, SY_SCHED_LLMD_DEFAULT);
    }
    return load_tree(&L, cfg);
}

void sy_sched__unload(struct sy_scheduler *s)
{
    for (size_t i = 0; i < s->nplugins; i++) {
        struct sy_sched_plugin *p = s->plugins[i];
        if (p->ops->destroy)
            p->ops->destroy(p->state);
        free(p->name);
        free(p);
    }
    free(s->plugins);
    for (size_t i = 0; i < s->nprofiles; i++) {
        free(s->profiles[i].name);
        free(s->profiles[i].filters);
    }
    free(s->profiles);
    free(s->producers);
    free(s->admitters);
    s->plugins = NULL;
    s->profiles = NULL;
    s->producers = NULL;
    s->admitters = NULL;
    s->nplugins = s->nprofiles = s->nproducers = s->nadmitters = 0;
}
