/* Loads every real llm-d EndpointPickerConfig in ../shared/fixtures/llm-d-configs/ (relative to the
 * repo root, where tests run) and asserts the exact outcome for each: it loads with the expected
 * pipeline, or it is refused with one message naming the file, line and unsupported plugin.
 * A fixture added without an expectation here fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "unit/sched/sched_helpers.h"

#define FIXDIR "../shared/fixtures/llm-d-configs"

struct expect {
    const char *file;     /* fixture name */
    const char *err;      /* expected message after "FIXDIR/file:", NULL = loads */
    const char *needs[4]; /* when it loads: plugin types the built scheduler must contain */
};

static const struct expect expects[] = {
    {"inference-scheduler-v0.8_dp-epp-config.yaml",
     NULL,
     {"data-parallel-profile-handler", "decode-filter", "prefix-cache-scorer", "max-score-picker"}},
    {"inference-scheduler-v0.8_epp-config.yaml",
     NULL,
     {"precise-prefix-cache-scorer", "decode-filter", "max-score-picker"}},
    {"inference-scheduler-v0.8_epp-kvcache-load-config.yaml",
     NULL,
     {"precise-prefix-cache-scorer", "load-aware-scorer", "decode-filter", "max-score-picker"}},
    {"inference-scheduler-v0.8_epp-precise-prefix-cache-config.yaml",
     NULL,
     {"token-producer", "precise-prefix-cache-scorer", "kv-cache-utilization-scorer",
      "queue-scorer"}},
    {"inference-scheduler-v0.8_pd-epp-config.yaml",
     NULL,
     {"disagg-profile-handler", "prefix-based-pd-decider", "prefill-filter", "decode-filter"}},
    {"inference-scheduler-v0.8_session-affinity-config.yaml", NULL, {NULL}},
    {"router-v0.9_epp-config.yaml",
     NULL,
     {"models-responder", "prefix-cache-scorer", "decode-filter", "max-score-picker"}},
    {"router-v0.9_epp-precise-prefix-cache-config.yaml",
     NULL,
     {"token-producer", "precise-prefix-cache-producer", "prefix-cache-scorer",
      "kv-cache-utilization-scorer"}},
    {"router-v0.9_pd-epp-config.yaml",
     NULL,
     {"disagg-profile-handler", "prefix-based-pd-decider", "approx-prefix-cache-producer",
      "prefill-filter"}},
    {"router-v0.9_sim-epp-no-hit-lru.yaml",
     NULL,
     {"precise-prefix-cache-producer", "prefix-cache-scorer", "no-hit-lru-scorer",
      "decode-filter"}},
};

/* The session-affinity sample: decode-filter, session affinity 100, prefix cache 50. */
static void check_session_affinity(struct sy_scheduler *s)
{
    assert_int_equal(s->nprofiles, 1);
    const struct sy_sched_profile *p = &s->profiles[0];
    assert_string_equal(p->name, "default");
    assert_int_equal(p->nfilters, 1);
    assert_string_equal(p->filters[0]->ops->type, "decode-filter");
    assert_int_equal(p->nscorers, 2);
    assert_string_equal(p->scorers[0].p->ops->type, "session-affinity-scorer");
    assert_float_equal(p->scorers[0].weight, 100, 0);
    assert_string_equal(p->scorers[1].p->ops->type, "prefix-cache-scorer");
    assert_float_equal(p->scorers[1].weight, 50, 0);
    assert_string_equal(p->picker->ops->type, "max-score-picker");
    assert_false(p->picker->injected);
    assert_string_equal(s->handler->ops->type, "single-profile-handler");
    assert_int_equal(s->nproducers, 1); /* approx-prefix-cache-producer, auto-created */
    assert_string_equal(s->producers[0]->ops->type, "approx-prefix-cache-producer");
}

/* The P/D fixtures run: a new long prompt is prefill-decode (decode on a decode endpoint,
 * prefill on a prefill endpoint); the same prompt again is decode-only (nonCachedTokens 16). */
static void check_pd_runs(struct sy_scheduler *s)
{
    struct sy_endpoint *eps[] = {
        fx_ep("p1:1", "llm-d.ai/role=prefill", 0, 0, 0),
        fx_ep("d1:1", "llm-d.ai/role=decode", 0, 0, 0),
        fx_ep("d2:1", "llm-d.ai/role=decode", 3, 0, 0),
    };
    struct sy_pool *pool = fx_pool(eps, 3);
    static char body[2100];
    int n = snprintf(body, sizeof body, "{\"prompt\":\"");
    for (int i = 0; i < 2000; i++)
        body[n + i] = (char)('a' + (i * 7) % 26);
    memcpy(body + n + 2000, "\"}", 3);
    struct sy_request r;
    fx_req(&r, "m", 500);
    r.body = body;
    r.body_len = strlen(body);
    r.prompt = (struct sy_str){body + n - 1, 2002};
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "d1:1");
    assert_non_null(res.prefill_ep);
    assert_string_equal(res.prefill_ep->address, "p1:1");
    sy_sched_done(s, &res, true);
    assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
    assert_string_equal(res.ep->address, "d1:1");
    assert_null(res.prefill_ep);
    sy_sched_done(s, &res, true);
    sy_pool_unref(pool);
}

/* The dp fixture runs (data-parallel-profile-handler): endpoints are the ranks of one pod (one
 * host, consecutive ports); the pick is a rank's own host:port (no rewrite to primaryPort), and the
 * same prompt again goes to the same rank (prefix-cache-scorer, weight 2; the first pick is a tie).
 */
static void check_dp_runs(struct sy_scheduler *s)
{
    assert_string_equal(s->handler->ops->type, "data-parallel-profile-handler");
    struct sy_endpoint *eps[] = {
        fx_ep("10.0.0.1:8000", "", 0, 0, 0),
        fx_ep("10.0.0.1:8001", "", 0, 0, 0),
        fx_ep("10.0.0.1:8002", "", 0, 0, 0),
    };
    struct sy_pool *pool = fx_pool(eps, 3);
    static char body[1100];
    int n = snprintf(body, sizeof body, "{\"prompt\":\"");
    for (int i = 0; i < 1000; i++)
        body[n + i] = (char)('a' + (i * 11) % 26);
    memcpy(body + n + 1000, "\"}", 3);
    struct sy_request r;
    fx_req(&r, "m", 500);
    r.body = body;
    r.body_len = strlen(body);
    r.prompt = (struct sy_str){body + n - 1, 1002};
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
    char first[64];
    snprintf(first, sizeof first, "%s", res.ep->address);
    assert_true(!strncmp(first, "10.0.0.1:800", 12) && strlen(first) == 13); /* a rank's port */
    assert_null(res.prefill_ep);
    sy_sched_done(s, &res, true);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sy_sched_pick(s, pool, &r, NULL, 0, &res), 0);
        assert_string_equal(res.ep->address, first);
        sy_sched_done(s, &res, true);
    }
    sy_pool_unref(pool);
}

static void test_every_fixture(void **state)
{
    DIR *d = opendir(FIXDIR);
    if (!d)
        fail_msg("cannot open %s (run from the repo root with shared/ beside it)", FIXDIR);
    size_t seen = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml"))
            continue;
        const struct expect *e = NULL;
        for (size_t i = 0; i < sizeof expects / sizeof expects[0]; i++)
            if (!strcmp(expects[i].file, de->d_name))
                e = &expects[i];
        if (!e)
            fail_msg("fixture %s has no expected outcome in test_fixtures.c", de->d_name);
        seen++;
        char path[512], err[512], want[768];
        snprintf(path, sizeof path, "%s/%s", FIXDIR, de->d_name);
        struct sy_yaml_node *root = sy_yaml_load_file(path, err, sizeof err);
        if (!root)
            fail_msg("%s: YAML: %s", de->d_name, err);
        struct sy_scheduler *s = sy_sched_new(root, path, err, sizeof err);
        sy_yaml_free(root);
        if (!e->err) {
            if (!s)
                fail_msg("%s should load: %s", de->d_name, err);
            if (strstr(de->d_name, "session-affinity"))
                check_session_affinity(s);
            if (strstr(de->d_name, "pd-epp"))
                check_pd_runs(s);
            if (strstr(de->d_name, "dp-epp"))
                check_dp_runs(s);
            for (size_t k = 0; k < 4 && e->needs[k]; k++)
                if (!sy_sched_has_plugin(s, e->needs[k]))
                    fail_msg("%s: built without %s", de->d_name, e->needs[k]);
            sy_sched_free(s);
            continue;
        }
        if (s) {
            sy_sched_free(s);
            fail_msg("%s loaded; expected: %s", de->d_name, e->err);
        }
        snprintf(want, sizeof want, "%s:%s", path, e->err);
        assert_string_equal(err, want);
        assert_null(strchr(err, '\n')); /* one line */
    }
    closedir(d);
    assert_int_equal(seen, sizeof expects / sizeof expects[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_fixture)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
