/* header_label_affinity_scorer.c - llm-d's `header-label-affinity-scorer`.
 *
 * Soft affinity: an endpoint whose label `labelKey` equals the value of the request header
 * `headerName` scores 1, every other endpoint 0 (and stays eligible); a request without the
 * header (or with it empty) scores 0 everywhere. Both parameters are required; one instance per
 * header-to-label mapping, each with its own profile weight. Writes no response header.
 * Header names compare case-insensitively, the label value exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "pool/pool.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct hla {
    char *header; /* headerName; owned */
    char *label;  /* labelKey; owned */
};

static void destroy(void *state)
{
    struct hla *h = state;
    if (!h)
        return;
    free(h->header);
    free(h->label);
    free(h);
}

static int create(const struct sy_yaml_node *params, const struct sy_plugin_env *env, void **state,
                  char *err, size_t errcap)
{
    static const char *const allowed[] = {"headerName", "labelKey", NULL};
    if (sy_param_absent(params))
        return sy_param_errorf(env, NULL, NULL, err, errcap,
                               "header-label-affinity-scorer requires parameters");
    const char *hn = NULL, *lk = NULL;
    int rc = sy_param_check(params, env, allowed, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "headerName", env, &hn, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "labelKey", env, &lk, err, errcap);
    if (rc)
        return rc;
    if (!hn || !*hn)
        return sy_param_errorf(env, NULL, "headerName", err, errcap,
                               "header-label-affinity-scorer headerName is required");
    if (!lk || !*lk)
        return sy_param_errorf(env, NULL, "labelKey", err, errcap,
                               "header-label-affinity-scorer labelKey is required");
    struct hla *h = SY_NEW(struct hla);
    h->header = sy_xstrdup(hn);
    h->label = sy_xstrdup(lk);
    *state = h;
    return 0;
}

static void score(void *state, struct sy_sched_cycle *cy, const struct sy_sched_candidate *c,
                  size_t n, double *scores)
{
    const struct hla *h = state;
    struct sy_str want = {NULL, 0};
    if (cy->req)
        sy_request_header(cy->req, h->header, &want);
    for (size_t i = 0; i < n; i++) {
        const char *v = want.len ? sy_endpoint_label(c[i].ep, h->label) : NULL;
        scores[i] = v && sy_str_eq_c(want, v) ? 1.0 : 0.0;
    }
}

const struct sy_plugin_ops sy_plugin_header_label_affinity_scorer = {
    .type = "header-label-affinity-scorer",
    .create = create,
    .destroy = destroy,
    .score = score,
};
