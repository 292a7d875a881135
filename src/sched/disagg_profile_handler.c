/* disagg_profile_handler.c - llm-d's `disagg-profile-handler` (P/D) and its deprecated
 * predecessor `pd-profile-handler`, one implementation (llm-d-router
 * pkg/epp/framework/plugins/scheduling/profilehandler/disagg).
 *
 *   decode-first (default)                    prefill-first
 *   1. run the decode profile                 1. run the prefill profile (when configured)
 *   2. decode found nothing -> done (fails)   2. run the decode profile
 *   3. prefill profile configured and the     3. done
 *      prefill decider approves, judged on
 *      the decode pick -> run prefill
 *   4. done
 *
 * result: the decode run is primary (no decode pick -> SY_ENOENDPOINT). A prefill run that found
 * an endpoint becomes the P/D prefill pick; a prefill run that was chosen and found nothing is
 * SY_ENOPREFILL: the pick carries prefill_missing and the gateway fails the request, or falls
 * back to decode-only only when configured, marked and counted (llm-d PR #2521: no silent
 * decode-only). A decider that declines is decode-only.
 * Each result counts once in llm_d_inference_scheduler_disagg_decision_total (sched.c).
 *
 * Parameters (disagg-profile-handler): profiles.{decode,prefill,encode} (defaults decode /
 * prefill / encode), deciders.prefill (a decider plugin name; unset = P/D off), stageOrder
 * (decode-first | prefill-first, parsed as llm-d does: case, '-' and '_' ignored, "decode" and
 * "prefill" accepted). prefill-first with deciders.prefill is refused, as llm-d refuses it.
 * deciders.encode and profiles.fallback are refused (E/P/D and aggregated fallback are not in
 * Switchyard yet). llm-d's deprecated flat parameters (decodeProfile, prefillProfile,
 * encodeProfile, prefillDeciderPluginName, deciderPluginName (lower priority),
 * encodeDeciderPluginName (refused like deciders.encode)) map onto the nested ones, with a
 * warning; beside profiles or deciders they are an error, as in llm-d (one schema or the
 * other).
 *
 * Parameters (pd-profile-handler, deprecated): decodeProfile, prefillProfile, deciderPluginName
 * (default prefix-based-pd-decider; it must be configured), prefixPluginType / prefixPluginName /
 * prefixMatchInfoProducerName (accepted and ignored: llm-d never used the first two, and
 * Switchyard has one prefix data key), primaryPort (0 only: data-parallel port rewriting is not
 * supported). It maps to decode-first disagg-profile-handler with deciders.prefill =
 * deciderPluginName. The v0.3 parameters threshold / hashBlockSize are refused with a pointer to
 * prefix-based-pd-decider's nonCachedTokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct handler {
    char *decode;       /* decode profile name; owned */
    char *prefill;      /* prefill profile name; owned */
    char *decider;      /* prefill decider plugin name, NULL = P/D off; owned */
    bool prefill_first; /* stageOrder */
    /* bound by bind(): */
    size_t decode_idx;                    /* profile index */
    size_t prefill_idx;                   /* profile index or SY_SCHED_NONE */
    const struct sy_plugin_ops *dec_ops;  /* decider */
    void *dec_state;                      /* decider instance state (borrowed) */
    struct sy_plugin_env env;             /* for bind's messages (strings owned below) */
    char *env_file, *env_name, *env_path; /* owned copies */
};

static void handler_free(void *state)
{
    struct handler *h = state;
    if (!h)
        return;
    free(h->decode);
    free(h->prefill);
    free(h->decider);
    free(h->env_file);
    free(h->env_name);
    free(h->env_path);
    free(h);
}

static struct handler *handler_new(const struct sy_plugin_env *env)
{
    struct handler *h = SY_NEW(struct handler);
    h->decode = sy_xstrdup("decode");
    h->prefill = sy_xstrdup("prefill");
    h->prefill_idx = SY_SCHED_NONE;
    h->env_file = sy_xstrdup(env->file ? env->file : "<config>");
    h->env_name = sy_xstrdup(env->name ? env->name : "?");
    h->env_path = sy_xstrdup(env->path ? env->path : "plugin");
    h->env = (struct sy_plugin_env){
        .file = h->env_file, .line = env->line, .name = h->env_name, .path = h->env_path};
    return h;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? sy_xstrdup(v) : NULL;
}

/* Reads a nested mapping {key: string} under params[outer], checking its keys against allowed. */
static int nested(const struct sy_yaml_node *params, const char *outer,
                  const struct sy_plugin_env *env, const char *const *allowed, const char **vals,
                  char *err, size_t errcap)
{
    const struct sy_yaml_node *m = sy_yaml_get(params, outer);
    if (sy_param_absent(m))
        return 0;
    if (m->type != SY_YAML_MAPPING)
        return sy_param_errorf(env, m, outer, err, errcap, "must be a mapping");
    for (size_t i = 0; i < m->n; i++) {
        const char *k = sy_yaml_str(m->keys[i]);
        char key[96];
        snprintf(key, sizeof key, "%s.%s", outer, k ? k : "?");
        size_t j = 0;
        while (allowed[j] && (!k || strcmp(k, allowed[j])))
            j++;
        if (!allowed[j])
            return sy_param_errorf(env, m->keys[i], key, err, errcap, "unknown parameter");
        const char *v = sy_yaml_str(m->items[i]);
        if (sy_param_absent(m->items[i]))
            continue;
        if (!v || m->items[i]->type != SY_YAML_SCALAR)
            return sy_param_errorf(env, m->items[i], key, err, errcap, "must be a string");
        vals[j] = v;
    }
    return 0;
}

/* llm-d's ParseStageOrder: case-insensitive, '-' and '_' ignored. */
static int parse_stage_order(const char *s, bool *prefill_first)
{
    char norm[32];
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof norm; p++)
        if (*p != '-' && *p != '_')
            norm[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    norm[n] = '\0';
    if (!*norm || !strcmp(norm, "decodefirst") || !strcmp(norm, "decode"))
        *prefill_first = false;
    else if (!strcmp(norm, "prefillfirst") || !strcmp(norm, "prefill"))
        *prefill_first = true;
    else
        return -1;
    return 0;
}

static int disagg_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                         void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {"profiles", "deciders", "stageOrder",
                                          /* llm-d's deprecated flat parameters (the wide-EP
                                           * guide still writes deciderPluginName) */
                                          "decodeProfile", "prefillProfile", "encodeProfile",
                                          "deciderPluginName", "prefillDeciderPluginName",
                                          "encodeDeciderPluginName", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    static const char *const prof_keys[] = {"decode", "prefill", "encode", "fallback", NULL};
    static const char *const dec_keys[] = {"prefill", "encode", NULL};
    const char *pv[4] = {NULL}, *dv[2] = {NULL}, *order = NULL;
    if ((rc = nested(params, "profiles", env, prof_keys, pv, err, errcap)) ||
        (rc = nested(params, "deciders", env, dec_keys, dv, err, errcap)) ||
        (rc = sy_param_string(params, "stageOrder", env, &order, err, errcap)))
        return rc;
    /* llm-d maps each legacy flat key onto the nested one it replaced, with a deprecation
     * notice. The parameters are one schema or the other: a flat key beside profiles or
     * deciders is refused, as llm-d's strict decoding of either schema fails. */
    static const struct {
        const char *key, *instead;
        int slot; /* 0/1/2: pv[0]/pv[1]/pv[2], 3/4: dv[0]/dv[1] */
    } legacy[] = {{"decodeProfile", "profiles.decode", 0},
                  {"prefillProfile", "profiles.prefill", 1},
                  {"encodeProfile", "profiles.encode", 2},
                  {"prefillDeciderPluginName", "deciders.prefill", 3},
                  {"deciderPluginName", "deciders.prefill", 3},
                  {"encodeDeciderPluginName", "deciders.encode", 4}};
    const char *enc_key = "deciders.encode";
    const struct sy_yaml_node *enc_at = sy_yaml_get(sy_yaml_get(params, "deciders"), "encode");
    bool has_nested = sy_yaml_get(params, "profiles") || sy_yaml_get(params, "deciders");
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        const char *v = NULL;
        if (has_nested && sy_yaml_get(params, legacy[i].key))
            return sy_param_errorf(env, sy_yaml_get(params, legacy[i].key), legacy[i].key, err,
                                   errcap,
                                   "deprecated flat parameter mixed with profiles/deciders; use "
                                   "one format exclusively (here '%s')",
                                   legacy[i].instead);
        if ((rc = sy_param_string(params, legacy[i].key, env, &v, err, errcap)))
            return rc;
        if (!v || !*v)
            continue;
        sy_warn("%s:%d: %s: parameter '%s' is deprecated, use '%s'",
                env->file ? env->file : "<config>", env->line, env->path ? env->path : "plugin",
                legacy[i].key, legacy[i].instead);
        const char **slot = legacy[i].slot >= 3 ? &dv[legacy[i].slot - 3] : &pv[legacy[i].slot];
        if (!*slot)
            *slot = v;
        if (legacy[i].slot == 4) {
            enc_key = legacy[i].key;
            enc_at = sy_yaml_get(params, legacy[i].key);
        }
    }
    if (dv[1])
        return sy_param_errorf(env, enc_at, enc_key, err, errcap,
                               "encode disaggregation (E/P/D) is not supported by Switchyard yet");
    if (pv[3])
        return sy_param_errorf(env, sy_yaml_get(sy_yaml_get(params, "profiles"), "fallback"),
                               "profiles.fallback", err, errcap,
                               "the aggregated fallback profile is not supported by Switchyard "
                               "yet (pool.disaggregation.fallback: decode-only covers a broken "
                               "prefill pool)");
    bool pf = false;
    if (order && parse_stage_order(order, &pf) != 0)
        return sy_param_errorf(env, sy_yaml_get(params, "stageOrder"), "stageOrder", err, errcap,
                               "invalid stage order '%s', must be decode-first or prefill-first",
                               order);
    if (pf && dv[0])
        return sy_param_errorf(env, sy_yaml_get(params, "stageOrder"), "stageOrder", err, errcap,
                               "a prefill decider is not supported in prefill-first stage order "
                               "(prefill always runs first)");
    struct handler *h = handler_new(env);
    if (pv[0])
        set_str(&h->decode, pv[0]);
    if (pv[1])
        set_str(&h->prefill, pv[1]);
    set_str(&h->decider, dv[0]);
    h->prefill_first = pf;
    if (!dv[0] && !pf)
        sy_info("%s:%d: %s: no deciders.prefill configured, P/D disaggregation disabled",
                h->env.file, h->env.line, h->env.name);
    *state = h;
    return 0;
}

static int pd_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                     void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {"decodeProfile",
                                          "prefillProfile",
                                          "prefixPluginType",
                                          "prefixPluginName",
                                          "primaryPort",
                                          "deciderPluginName",
                                          "prefixMatchInfoProducerName",
                                          "threshold",
                                          "hashBlockSize",
                                          NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (rc)
        return rc;
    const char *dp = NULL, *pp = NULL, *dn = "prefix-based-pd-decider", *ign = NULL;
    int64_t port = 0;
    if ((rc = sy_param_string(params, "decodeProfile", env, &dp, err, errcap)) ||
        (rc = sy_param_string(params, "prefillProfile", env, &pp, err, errcap)) ||
        (rc = sy_param_string(params, "deciderPluginName", env, &dn, err, errcap)) ||
        (rc = sy_param_string(params, "prefixPluginType", env, &ign, err, errcap)) ||
        (rc = sy_param_string(params, "prefixPluginName", env, &ign, err, errcap)) ||
        (rc = sy_param_string(params, "prefixMatchInfoProducerName", env, &ign, err, errcap)) ||
        (rc = sy_param_int(params, "primaryPort", env, 0, 65535, &port, err, errcap)))
        return rc;
    for (const char *const *k = (const char *const[]){"threshold", "hashBlockSize", NULL}; *k; k++)
        if (sy_yaml_get(params, *k))
            return sy_param_errorf(env, sy_yaml_get(params, *k), *k, err, errcap,
                                   "v0.3 parameter not supported; configure "
                                   "prefix-based-pd-decider with nonCachedTokens instead");
    if (port != 0)
        return sy_param_errorf(env, sy_yaml_get(params, "primaryPort"), "primaryPort", err, errcap,
                               "data-parallel port rewriting is not supported by Switchyard "
                               "(llm-d deprecated it too); remove primaryPort");
    if (!dn || !*dn)
        return sy_param_errorf(env, sy_yaml_get(params, "deciderPluginName"), "deciderPluginName",
                               err, errcap, "decider plugin name is not defined");
    sy_warn("%s:%d: %s: plugin type 'pd-profile-handler' is deprecated, use "
            "'disagg-profile-handler' (deciders: {prefill: %s})",
            env->file ? env->file : "<config>", env->line, env->path ? env->path : "plugin", dn);
    struct handler *h = handler_new(env);
    if (dp && *dp)
        set_str(&h->decode, dp);
    if (pp && *pp)
        set_str(&h->prefill, pp);
    set_str(&h->decider, dn);
    *state = h;
    return 0;
}

static size_t find_profile(const struct sy_sched_binder *b, const char *name)
{
    for (size_t i = 0; i < b->nprofiles; i++)
        if (!strcmp(b->profiles[i], name))
            return i;
    return SY_SCHED_NONE;
}

static int handler_bind(void *state, const struct sy_sched_binder *b, char *err, size_t errcap)
{
    struct handler *h = state;
    h->decode_idx = find_profile(b, h->decode);
    if (h->decode_idx == SY_SCHED_NONE)
        return sy_param_errorf(&h->env, NULL, NULL, err, errcap,
                               "no scheduling profile named '%s' (the decode profile)", h->decode);
    h->prefill_idx = find_profile(b, h->prefill);
    if (h->prefill_idx == h->decode_idx)
        return sy_param_errorf(&h->env, NULL, NULL, err, errcap,
                               "the decode and prefill profiles must differ ('%s')", h->decode);
    if (h->decider) {
        const struct sy_plugin_ops *ops = NULL;
        void *st = NULL;
        if (!b->find(b, h->decider, &ops, &st))
            return sy_param_errorf(&h->env, NULL, NULL, err, errcap,
                                   "prefill decider plugin not found: '%s' (configure it under "
                                   "plugins)",
                                   h->decider);
        if (!ops->disaggregate)
            return sy_param_errorf(&h->env, NULL, NULL, err, errcap,
                                   "plugin '%s' (%s) is not a P/D decider", h->decider, ops->type);
        h->dec_ops = ops;
        h->dec_state = st;
    }
    if (h->prefill_idx == SY_SCHED_NONE && (h->decider || h->prefill_first))
        sy_warn("%s:%d: %s: no scheduling profile named '%s': requests are decode-only",
                h->env.file, h->env.line, h->env.name, h->prefill);
    return 0;
}

static const struct sy_sched_run *find_run(const struct sy_sched_run *runs, size_t nruns,
                                           size_t profile, size_t *at)
{
    for (size_t i = 0; i < nruns; i++)
        if (runs[i].profile == profile) {
            if (at)
                *at = i;
            return &runs[i];
        }
    return NULL;
}

/* The APIs the gateway runs the P/D exchange for: vLLM takes kv_transfer_params on completions,
 * chat completions and responses. Its Anthropic Messages endpoint drops unknown members (no
 * kv_transfer_params), and embeddings have no decode: those requests are decode-only, and are
 * counted as such, instead of a prefill-decode decision the exchange would silently not run. */
static bool pd_capable(const struct sy_request *req)
{
    return !req || req->kind == SY_API_COMPLETIONS || req->kind == SY_API_CHAT_COMPLETIONS ||
           req->kind == SY_API_RESPONSES;
}

static int handler_next(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                        size_t nruns, size_t *next)
{
    struct handler *h = state;
    const struct sy_sched_run *dr = find_run(runs, nruns, h->decode_idx, NULL);
    bool have_prefill = h->prefill_idx != SY_SCHED_NONE && pd_capable(cy->req);
    const struct sy_sched_run *pr =
        have_prefill ? find_run(runs, nruns, h->prefill_idx, NULL) : NULL;
    *next = SY_SCHED_NONE;
    if (h->prefill_first) {
        if (have_prefill && !pr)
            *next = h->prefill_idx;
        else if (!dr)
            *next = h->decode_idx;
        return 0;
    }
    if (!dr) {
        *next = h->decode_idx;
        return 0;
    }
    if (!dr->chosen || !have_prefill || pr || !h->dec_ops)
        return 0;
    if (h->dec_ops->disaggregate(h->dec_state, cy, dr->chosen))
        *next = h->prefill_idx;
    return 0;
}

static int handler_result(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                          size_t nruns, size_t *primary, size_t *prefill)
{
    struct handler *h = state;
    (void)cy;
    *prefill = SY_SCHED_NONE;
    const struct sy_sched_run *dr = find_run(runs, nruns, h->decode_idx, primary);
    if (!dr || !dr->chosen)
        return SY_ENOENDPOINT;
    size_t at;
    const struct sy_sched_run *pr =
        h->prefill_idx != SY_SCHED_NONE ? find_run(runs, nruns, h->prefill_idx, &at) : NULL;
    if (pr && !pr->chosen)
        return SY_ENOPREFILL; /* prefill was required and found no endpoint */
    if (pr)
        *prefill = at;
    return 0;
}

const struct sy_plugin_ops sy_plugin_disagg_profile_handler = {
    .type = "disagg-profile-handler",
    .profile_handler = true,
    .counts_decisions = true,
    .create = disagg_create,
    .destroy = handler_free,
    .bind = handler_bind,
    .next_profile = handler_next,
    .result = handler_result,
};

const struct sy_plugin_ops sy_plugin_pd_profile_handler = {
    .type = "pd-profile-handler",
    .profile_handler = true,
    .counts_decisions = true,
    .create = pd_create,
    .destroy = handler_free,
    .bind = handler_bind,
    .next_profile = handler_next,
    .result = handler_result,
};
