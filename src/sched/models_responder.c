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
 * llm-d's responder also screens inference requests by these lists; Switchyard's pool already
 * keeps endpoints that list the model plus those that never reported (sy_endpoint_serves), which
 * is llm-d's rule for base models.
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
    qsort(ents, nents, sizeof *ents, cmp_entry);
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

const struct sy_plugin_ops sy_plugin_models_responder = {
    .type = "models-responder",
    .create = create,
};
