/* header_profile_handler.c - llm-d's `header-profile-handler` (llm-d-router
 * pkg/epp/framework/plugins/scheduling/profilehandler/headerprofile): runs exactly one profile per
 * request, named by a request header. This is what llm-d's P/D coordinator drives, one gateway
 * call per phase with `EPP-Profile: prefill|decode`.
 *
 *   one configured profile        -> run it, whatever the header says
 *   header absent or blank        -> defaultProfile
 *   header names a profile        -> that profile
 *   header names no profile       -> SY_EREJECTED (llm-d answers a generic 429)
 *
 * Parameters: headerName (default EPP-Profile; trimmed, matched case-insensitively as HTTP header
 * names are), defaultProfile (default decode; trimmed, case-sensitive: it names a profile). The
 * header value is trimmed before the lookup. The result has no prefill pick: the caller drives the
 * phases itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "sched/params.h"
#include "sched/plugins.h"

struct hph {
    char header[128]; /* header name */
    char deflt[128];  /* default profile name */
};

static void trim(const char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
        (*len)--;
}

static int hph_create(const struct sy_yaml_node *params, const struct sy_plugin_env *env,
                      void **state, char *err, size_t errcap)
{
    static const char *const allowed[] = {"headerName", "defaultProfile", NULL};
    int rc = sy_param_check(params, env, allowed, err, errcap);
    const char *hn = NULL, *dp = NULL;
    if (!rc)
        rc = sy_param_string(params, "headerName", env, &hn, err, errcap);
    if (!rc)
        rc = sy_param_string(params, "defaultProfile", env, &dp, err, errcap);
    if (rc)
        return rc;
    struct hph *h = SY_NEW(struct hph);
    const char *defs[2] = {"EPP-Profile", "decode"};
    const char *vals[2] = {hn, dp};
    char *dst[2] = {h->header, h->deflt};
    for (int i = 0; i < 2; i++) {
        const char *v = vals[i] ? vals[i] : "";
        size_t len = strlen(v);
        trim(&v, &len);
        if (!len) {
            v = defs[i];
            len = strlen(v);
        }
        if (len >= sizeof h->header) {
            free(h);
            return sy_param_errorf(env, sy_yaml_get(params, i ? "defaultProfile" : "headerName"),
                                   i ? "defaultProfile" : "headerName", err, errcap,
                                   "longer than %zu characters", sizeof h->header - 1);
        }
        memcpy(dst[i], v, len);
        dst[i][len] = '\0';
    }
    *state = h;
    return 0;
}

static int hph_bind(void *state, const struct sy_sched_binder *b, char *err, size_t errcap)
{
    struct hph *h = state;
    (void)err;
    (void)errcap;
    bool found = false;
    for (size_t i = 0; i < b->nprofiles; i++)
        found |= !strcmp(b->profiles[i], h->deflt);
    if (!found && b->nprofiles > 1)
        sy_warn("header-profile-handler: defaultProfile '%s' is not a configured scheduling "
                "profile: requests without the %s header are rejected",
                h->deflt, h->header);
    return 0;
}

static int hph_next(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                    size_t nruns, size_t *next)
{
    struct hph *h = state;
    (void)runs;
    *next = SY_SCHED_NONE;
    if (nruns > 0)
        return 0;
    size_t np = sy_sched_profile_count(cy);
    if (np == 1) {
        *next = 0;
        return 0;
    }
    struct sy_str v = {0};
    const char *name = h->deflt;
    size_t nlen = strlen(name);
    if (sy_request_header(cy->req, h->header, &v)) {
        const char *p = v.p;
        size_t len = v.len;
        trim(&p, &len);
        if (len) {
            name = p;
            nlen = len;
        }
    }
    for (size_t i = 0; i < np; i++) {
        const char *pn = sy_sched_profile_name(cy, i);
        if (strlen(pn) == nlen && !memcmp(pn, name, nlen)) {
            *next = i;
            return 0;
        }
    }
    sy_info("header-profile-handler: no scheduling profile for %s '%.*s' (request %.*s)", h->header,
            (int)nlen, name, (int)cy->req->request_id.len,
            cy->req->request_id.p ? cy->req->request_id.p : "");
    return SY_EREJECTED;
}

static int hph_result(void *state, struct sy_sched_cycle *cy, const struct sy_sched_run *runs,
                      size_t nruns, size_t *primary, size_t *prefill)
{
    (void)state;
    (void)cy;
    *prefill = SY_SCHED_NONE;
    if (nruns != 1 || !runs[0].chosen)
        return SY_ENOENDPOINT;
    *primary = 0;
    return 0;
}

const struct sy_plugin_ops sy_plugin_header_profile_handler = {
    .type = "header-profile-handler",
    .profile_handler = true,
    .create = hph_create,
    .destroy = free,
    .bind = hph_bind,
    .next_profile = hph_next,
    .result = hph_result,
};
