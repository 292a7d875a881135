/* models_responder.c - llm-d's `models-responder`: the gateway answers GET /v1/models itself.
 *
 * A model server only knows its own models (and the LoRA adapters loaded on it), so forwarding
 * /v1/models to one endpoint omits adapters loaded elsewhere. With this plugin configured the
 * gateway answers from the lists the pool scraper collects from every endpoint (its periodic
 * GET /v1/models, the work llm-d's auto-created models-data-source + models-data-extractor do):
 *
 *   endpoints sorted by address (llm-d: by endpoint ID) -> the first copy of a duplicated model
 *   id wins -> entries sorted by id -> {"object":"list","data":[{id, object, created, owned_by,
 *   shutdown_date}, ...]} with the values the model server reported (fields it left empty or
 *   zero are omitted, as Go's omitempty does).
 *
 * Endpoints whose list was never fetched are skipped; when none has one the answer is 503 (so a
 * client retries rather than caching an empty list), as llm-d does. `/v1/models/` matches too.
 * No parameters. Without the plugin the gateway keeps its own /v1/models answer
 * (docs/scheduler.md).
 *
 * It also screens inference requests by these lists before every profile (llm-d's Screen; the
 * loader puts its filter first in each profile). The pool's model check has already dropped the
 * endpoints whose list lacks the model, so the candidates are the endpoints listing it plus those
 * that never reported; llm-d keeps exactly those for a base model, and only the listing ones when
 * an endpoint lists the model as a LoRA adapter (its entry has a parent): an endpoint that has not
 * reported is unlikely to have the adapter loaded. (When every endpoint has reported and none
 * lists the model, llm-d routes to any endpoint; Switchyard answers 404 model_not_found before
 * scheduling, as without the plugin.)
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pool/pool.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct model_entry {
    char *id;   /* owned */
    char *json; /* owned: the entry's public fields, or NULL (id only) */
};

static int cmp_ep(const void *a, const void *b)
{
    const struct sy_endpoint *x = *(struct sy_endpoint *const *)a;
    const struct sy_endpoint *y = *(struct sy_endpoint *const *)b;
    return strcmp(x->address, y->address);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct model_entry *)a)->id, ((const struct model_entry *)b)->id);
}

int sy_sched_models_list(const struct sy_pool *pool, struct sy_buf *out)
{
    size_t n = pool ? pool->n : 0;
    struct sy_endpoint **eps = sy_xcalloc(n ? n : 1, sizeof *eps);
    if (n)
        memcpy(eps, pool->eps, n * sizeof *eps);
    qsort(eps, n, sizeof *eps, cmp_ep);
    struct model_entry *ents = NULL;
    size_t nents = 0, collected = 0;
    for (size_t i = 0; i < n; i++) {
        struct sy_endpoint *e = eps[i];
        pthread_mutex_lock(&e->mu);
        if (e->nmodels)
            collected++;
        for (size_t k = 0; k < e->nmodels; k++) {
            if (!e->models[k][0])
                continue;
            bool dup = false;
            for (size_t j = 0; j < nents && !dup; j++)
                dup = !strcmp(ents[j].id, e->models[k]);
            if (dup)
                continue;
            ents = sy_xrealloc(ents, (nents + 1) * sizeof *ents);
            ents[nents].id = sy_xstrdup(e->models[k]);
            ents[nents].json = e->models_json[k] ? sy_xstrdup(e->models_json[k]) : NULL;
            nents++;
        }
        pthread_mutex_unlock(&e->mu);
    }
    free(eps);
    if (nents)
        qsort(ents, nents, sizeof *ents, cmp_entry); /* ents may be NULL when empty */
    if (collected) {
        sy_buf_puts(out, "{\"object\":\"list\",\"data\":[");
        for (size_t j = 0; j < nents; j++) {
            if (j)
                sy_buf_puts(out, ",");
            if (ents[j].json) {
                sy_buf_puts(out, ents[j].json);
            } else {
                sy_buf_puts(out, "{\"id\":");
                sy_buf_json_str(out, ents[j].id, strlen(ents[j].id));
                sy_buf_puts(out, "}");
            }
        }
        sy_buf_puts(out, "]}");
    }
    for (size_t j = 0; j < nents; j++) {
        free(ents[j].id);
        free(ents[j].json);
    }
    free(ents);
    return collected ? 200 : 503;
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {NULL};
    *state = NULL;
    return sy_param_check(params, env, allowed, err, errcap);
}

/* 1: e lists model as a LoRA adapter, 0: lists it as a base model, -1: does not list it. */
static int listing(struct sy_endpoint *e, struct sy_str model)
{
    int r = -1;
    pthread_mutex_lock(&e->mu);
    for (size_t k = 0; k < e->nmodels && r < 0; k++)
        if (sy_str_eq_c(model, e->models[k]))
            r = (e->models_adapter >> k) & 1u;
    pthread_mutex_unlock(&e->mu);
    return r;
}

static size_t screen(void *state, struct sy_sched_cycle *cy, struct sy_sched_candidate *c, size_t n)
{
    (void)state;
    struct sy_str model = cy->req ? sy_str_c(cy->req->model) : (struct sy_str){NULL, 0};
    if (!model.len)
        return n;
    signed char lists[SY_SCHED_MAX_CANDIDATES];
    bool adapter = false;
    for (size_t i = 0; i < n; i++) {
        lists[i] = (signed char)listing(c[i].ep, model);
        adapter |= lists[i] == 1;
    }
    if (!adapter)
        return n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (lists[i] >= 0)
            c[m++] = c[i];
    return m;
}

const struct sy_plugin_ops sy_plugin_models_responder = {
    .type = "models-responder",
    .screener = true,
    .create = create,
    .filter = screen,
};
