/* sched_helpers.h - fixtures shared by the scheduler unit tests: hand-built endpoints and pools,
 * plugins created from inline YAML through the registry, and a request view.
 * Header-only (static functions) so each test binary stays one translation unit.
 */
#ifndef SY_TEST_SCHED_HELPERS_H
#define SY_TEST_SCHED_HELPERS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/request.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/str.h"
#include "metrics/metrics.h"
#include "pool/pool.h"
#include "sched/internal.h"
#include "sched/plugin.h"
#include "sched/sched.h"

/* An endpoint with labels "k=v,k=v" (or NULL), scraped metrics, ready. */
static inline struct sy_endpoint *fx_ep(const char *addr, const char *labels, double waiting,
                                        double running, double kv)
{
    struct sy_endpoint *e = SY_NEW(struct sy_endpoint);
    atomic_init(&e->refs, 1);
    e->address = sy_xstrdup(addr);
    pthread_mutex_init(&e->mu, NULL);
    if (labels && *labels) {
        char *dup = sy_xstrdup(labels), *save = NULL;
        for (char *kv_ = strtok_r(dup, ",", &save); kv_; kv_ = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv_, '=');
            e->labels = sy_xrealloc(e->labels, (e->nlabels + 1) * sizeof *e->labels);
            e->labels[e->nlabels].key = eq ? sy_xstrndup(kv_, (size_t)(eq - kv_)) : sy_xstrdup(kv_);
            e->labels[e->nlabels].value = sy_xstrdup(eq ? eq + 1 : "");
            e->nlabels++;
        }
        free(dup);
    }
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.waiting = waiting;
    m.running = running;
    m.kv_usage = kv;
    m.block_size = -1;
    m.num_blocks = -1;
    m.max_lora = -1;
    sy_endpoint_set_metrics(e, &m, 1);
    return e;
}

/* A pool owning n endpoints (takes the references). Free with sy_pool_unref. */
static inline struct sy_pool *fx_pool(struct sy_endpoint **eps, size_t n)
{
    struct sy_pool *p = SY_NEW(struct sy_pool);
    atomic_init(&p->refs, 1);
    p->eps = sy_xcalloc(n ? n : 1, sizeof *p->eps);
    memcpy(p->eps, eps, n * sizeof *eps);
    p->n = n;
    return p;
}

/* Candidates for all of pool's endpoints, snapshotted, in pool order (no LoRA lists). */
static inline void fx_cands(struct sy_pool *p, struct sy_sched_candidate *c)
{
    for (size_t i = 0; i < p->n; i++) {
        c[i].ep = p->eps[i];
        c[i].pool_index = i;
        c[i].loras = NULL;
        sy_endpoint_snapshot(p->eps[i], &c[i].st);
    }
}

static inline void fx_req(struct sy_request *r, const char *model, uint32_t prompt_tokens)
{
    memset(r, 0, sizeof *r);
    r->kind = SY_API_COMPLETIONS;
    snprintf(r->model, sizeof r->model, "%s", model ? model : "");
    r->max_tokens = -1;
    r->choices = 1;
    r->prompt_tokens_est = prompt_tokens;
}

/* A request (fx_req, model "m", 10 tokens) carrying one header name: value (none when name is
 * NULL) and request id rid; names and vals are the caller's one-entry arrays the view points at. */
static inline void fx_req_header(struct sy_request *r, struct sy_str *names, struct sy_str *vals,
                                 const char *name, const char *value, const char *rid)
{
    fx_req(r, "m", 10);
    names[0] = sy_str_c(name);
    vals[0] = sy_str_c(value);
    r->header_names = names;
    r->header_values = vals;
    r->nheaders = name ? 1 : 0;
    r->request_id = sy_str_c(rid);
}

static inline void fx_cycle(struct sy_sched_cycle *cy, const struct sy_request *req,
                            struct sy_pool *p, uint64_t seed)
{
    memset(cy, 0, sizeof *cy);
    cy->req = req;
    cy->pool = p;
    cy->rng = seed;
    cy->prompt_tokens = req ? req->prompt_tokens_est : 0;
}

/* A plugin instance from a type name and a YAML parameters text (NULL = none). */
struct fx_plugin {
    const struct sy_plugin_ops *ops; /* registry entry */
    void *state;                     /* created state */
};

static inline int fx_plugin_new(struct fx_plugin *fp, const char *type, const char *params_yaml,
                                char *err, size_t errcap)
{
    fp->ops = sy_sched__registry_find(type);
    fp->state = NULL;
    if (!fp->ops) {
        snprintf(err, errcap, "no such type %s", type);
        return -1;
    }
    struct sy_yaml_node *root = NULL;
    if (params_yaml) {
        root = sy_yaml_load_string(params_yaml, strlen(params_yaml), "params.yaml", err, errcap);
        if (!root)
            return -1;
    }
    struct sy_plugin_env env = {.file = "t.yaml", .line = 7, .name = type, .path = "plugins[0]"};
    int rc = 0;
    if (fp->ops->create)
        rc = fp->ops->create(root, &env, &fp->state, err, errcap);
    sy_yaml_free(root);
    return rc;
}

static inline void fx_plugin_free(struct fx_plugin *fp)
{
    if (fp->ops && fp->ops->destroy)
        fp->ops->destroy(fp->state);
    fp->state = NULL;
}

/* Runs the filter plugin `type` (params YAML, NULL = none) once over every endpoint of p, in pool
 * order, and writes the survivors' pool indices as digits into out (e.g. "02"; "" when none
 * survive; out holds p->n + 1 bytes). Fails the test when the plugin is refused. Drops the
 * caller's reference to p. (cmocka.h is included before this header by every test.) */
static inline const char *fx_survivors(struct sy_pool *p, const char *type, const char *params,
                                       char *out)
{
    struct sy_sched_candidate c[16];
    if (p->n > 16)
        fail_msg("fx_survivors: %zu endpoints, at most 16", p->n);
    fx_cands(p, c);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    struct fx_plugin fp;
    char err[400];
    if (fx_plugin_new(&fp, type, params, err, sizeof err))
        fail_msg("%s", err);
    size_t m = fp.ops->filter(fp.state, &cy, c, p->n);
    for (size_t i = 0; i < m; i++)
        out[i] = (char)('0' + c[i].pool_index);
    out[m] = '\0';
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    return out;
}

/* A scheduler from YAML text; NULL on error (err filled). */
static inline struct sy_scheduler *fx_sched(const char *yaml, char *err, size_t errcap)
{
    struct sy_yaml_node *root = sy_yaml_load_string(yaml, strlen(yaml), "epp.yaml", err, errcap);
    if (!root)
        return NULL;
    struct sy_scheduler *s = sy_sched_new(root, "epp.yaml", err, errcap);
    sy_yaml_free(root);
    return s;
}

/* A P/D scheduler (always disaggregated: disagg-profile-handler with always-disagg-pd-decider)
 * whose prefill profile holds a concurrency-detector with params (YAML flow text); the decode
 * profile has none; both rank by queue-scorer. extra: more plugin entries ("- {type: ...}\n"
 * lines, e.g. a producer; "" for none). Fails the test when it does not load. */
static inline struct sy_scheduler *fx_pd_sched_with(const char *params, const char *extra)
{
    static const char fmt[] =
        "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
        "plugins:\n"
        "- {type: concurrency-detector, name: cd, parameters: %s}\n%s"
        "- {type: prefill-filter}\n- {type: decode-filter}\n- {type: queue-scorer}\n"
        "- {type: max-score-picker}\n- {type: always-disagg-pd-decider}\n"
        "- {type: disagg-profile-handler, parameters: {deciders: {prefill: "
        "always-disagg-pd-decider}}}\n"
        "schedulingProfiles:\n"
        "- {name: prefill, plugins: [{pluginRef: prefill-filter}, {pluginRef: cd}, "
        "{pluginRef: queue-scorer}, {pluginRef: max-score-picker}]}\n"
        "- {name: decode, plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}, "
        "{pluginRef: max-score-picker}]}\n";
    char yaml[1024], err[512];
    snprintf(yaml, sizeof yaml, fmt, params, extra);
    struct sy_scheduler *s = fx_sched(yaml, err, sizeof err);
    if (!s)
        fail_msg("scheduler: %s", err);
    return s;
}

static inline struct sy_scheduler *fx_pd_sched(const char *params)
{
    return fx_pd_sched_with(params, "");
}

/* True when m's exposition text holds line (e.g. "name{l=\"v\"} 1\n"). */
static inline bool fx_metrics_has(struct sy_metrics *m, const char *line)
{
    struct sy_buf b;
    sy_buf_init(&b);
    sy_metrics_render(m, &b);
    bool found = b.data && strstr(b.data, line) != NULL;
    sy_buf_fini(&b);
    return found;
}

/* Captures what the process writes to stderr (the log) between fx_capture_begin and
 * fx_capture_end, which returns it as a file rewound to its start (caller fcloses). */
struct fx_capture {
    FILE *tmp; /* where fd 2 points meanwhile */
    int saved; /* the original fd 2 */
};

static inline void fx_capture_begin(struct fx_capture *c)
{
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    dup2(fileno(c->tmp), 2);
}

static inline FILE *fx_capture_end(struct fx_capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    rewind(c->tmp);
    return c->tmp;
}

/* fx_capture_end, with what was captured copied into out (at most cap - 1 bytes, NUL-terminated)
 * and the file closed. */
static inline void fx_capture_text(struct fx_capture *c, char *out, size_t cap)
{
    FILE *f = fx_capture_end(c);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Creates plugin type from params (as fx_plugin_new) and frees it, with what it logged meanwhile
 * in out (fx_capture_text). Returns create's code (err: its message). */
static inline int fx_plugin_log(const char *type, const char *params, char *out, size_t cap,
                                char *err, size_t errcap)
{
    struct fx_plugin fp;
    struct fx_capture c;
    fx_capture_begin(&c);
    int rc = fx_plugin_new(&fp, type, params, err, errcap);
    fx_capture_text(&c, out, cap);
    if (!rc)
        fx_plugin_free(&fp);
    return rc;
}

#define FX_EPS 1e-9 /* float comparison tolerance for hand-computed scores */

#endif
