/* Unit tests for src/sched/priority_reservation_filter.c: reserved endpoints (by label selector)
 * are dropped for requests below minPriority (no fail-open), kept and preferred (score 1) for
 * requests at or above it; parameter errors; and, through a whole scheduler, that a high-priority
 * request lands on a reserved endpoint while it has room and overflows to a shared one when the
 * concurrency-detector filter drops the reserved ones, while a low-priority one never lands on a
 * reserved endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "unit/sched/sched_helpers.h"

static const char params10[] = "minPriority: 10\n"
                               "reserved:\n"
                               "  matchLabels: {serves: interactive}\n";

/* e0 reserved, e1 shared, e2 reserved, e3 shared (no labels) */
static struct sy_pool *mixed(void)
{
    struct sy_endpoint *eps[] = {
        fx_ep("e0:1", "serves=interactive", 0, 0, 0), fx_ep("e1:1", "serves=all", 0, 0, 0),
        fx_ep("e2:1", "serves=interactive,zone=a", 0, 0, 0), fx_ep("e3:1", NULL, 0, 0, 0)};
    return fx_pool(eps, 4);
}

/* Filter survivors for a request of priority prio (digits of pool indices). */
static const char *survivors(struct sy_pool *p, const char *params, int32_t prio, char *out)
{
    struct sy_sched_candidate c[8];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "m", 10);
    r.priority = prio;
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[400];
    if (fx_plugin_new(&fp, "priority-reservation-filter", params, err, sizeof err))
        fail_msg("%s", err);
    size_t m = fp.ops->filter(fp.state, &cy, c, p->n);
    for (size_t i = 0; i < m; i++)
        out[i] = (char)('0' + c[i].pool_index);
    out[m] = '\0';
    fx_plugin_free(&fp);
    return out;
}

static void test_filter(void **state)
{
    (void)state;
    char o[9];
    struct sy_pool *p = mixed();
    assert_string_equal(survivors(p, params10, 0, o), "13");    /* standard: shared only */
    assert_string_equal(survivors(p, params10, -1, o), "13");   /* sheddable */
    assert_string_equal(survivors(p, params10, 9, o), "13");    /* just below */
    assert_string_equal(survivors(p, params10, 10, o), "0123"); /* at minPriority: all */
    assert_string_equal(survivors(p, params10, 100, o), "0123");
    /* default minPriority 1: every positive priority may use the reserved endpoints */
    assert_string_equal(survivors(p, "reserved: {matchLabels: {serves: interactive}}\n", 1, o),
                        "0123");
    assert_string_equal(survivors(p, "reserved: {matchLabels: {serves: interactive}}\n", 0, o),
                        "13");
    /* matchExpressions: reserve every endpoint with a zone label */
    assert_string_equal(
        survivors(p, "reserved:\n  matchExpressions:\n  - {key: zone, operator: Exists}\n", 0, o),
        "013");
    sy_pool_unref(p);
    /* only reserved endpoints: a low-priority request gets none (no fail-open) */
    struct sy_endpoint *eps[] = {fx_ep("r0:1", "serves=interactive", 0, 0, 0),
                                 fx_ep("r1:1", "serves=interactive", 0, 0, 0)};
    p = fx_pool(eps, 2);
    assert_string_equal(survivors(p, params10, 0, o), "");
    assert_string_equal(survivors(p, params10, 10, o), "01");
    sy_pool_unref(p);
}

static void test_scores(void **state)
{
    (void)state;
    struct sy_pool *p = mixed();
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct fx_plugin fp;
    char err[400];
    assert_int_equal(fx_plugin_new(&fp, "priority-reservation-filter", params10, err, sizeof err),
                     0);
    struct sy_request r;
    fx_req(&r, "m", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    double s[4];
    r.priority = 10;
    fp.ops->score(fp.state, &cy, c, 4, s);
    static const double want_high[4] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], want_high[i], FX_EPS);
    r.priority = 0;
    fp.ops->score(fp.state, &cy, c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0, FX_EPS);
    cy.req = NULL; /* no request: priority 0 */
    fp.ops->score(fp.state, &cy, c, 4, s);
    for (int i = 0; i < 4; i++)
        assert_float_equal(s[i], 0, FX_EPS);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

static void expect_error(const char *params, const char *want)
{
    struct fx_plugin fp;
    char err[400];
    int rc = fx_plugin_new(&fp, "priority-reservation-filter", params, err, sizeof err);
    if (rc == 0) {
        fx_plugin_free(&fp);
        fail_msg("accepted: %s", params ? params : "(none)");
    }
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(NULL, "requires parameters");
    expect_error("minPriority: 10\n", "plugins[0].parameters.reserved: is required");
    expect_error("reserved: {}\n", "empty selector would reserve every endpoint");
    expect_error("reserved: [a]\n", "reserved: must be a mapping");
    expect_error("reserved: {labels: {a: b}}\n", "unknown key 'labels'");
    expect_error("reserved: {matchLabels: {a: b}}\nmaxPriority: 3\n",
                 "maxPriority: unknown parameter");
    expect_error("minPriority: high\nreserved: {matchLabels: {a: b}}\n", "minPriority");
    expect_error("minPriority: 3000000000\nreserved: {matchLabels: {a: b}}\n", "minPriority");
    expect_error("reserved:\n  matchExpressions:\n  - {key: a, operator: Equals, values: [b]}\n",
                 "plugins[0].parameters.reserved.matchExpressions[0]: operator 'Equals' is not "
                 "In, NotIn, Exists or DoesNotExist");
    expect_error("reserved: {matchLabels: [a]}\n", "reserved.matchLabels: must be a mapping");
}

/* A whole scheduler: reservation first, the concurrency-detector filter (2 per endpoint), the
 * reservation's preference weighted above queue-scorer. */
static const char sched_yaml[] =
    "apiVersion: llm-d.ai/v1alpha1\n"
    "kind: EndpointPickerConfig\n"
    "plugins:\n"
    "- type: priority-reservation-filter\n"
    "  name: reserve\n"
    "  parameters: {minPriority: 10, reserved: {matchLabels: {serves: interactive}}}\n"
    "- {type: concurrency-detector, name: cd, parameters: {maxConcurrency: 2}}\n"
    "- type: queue-scorer\n"
    "- type: max-score-picker\n"
    "schedulingProfiles:\n"
    "- name: default\n"
    "  plugins:\n"
    "  - {pluginRef: reserve, weight: 10}\n"
    "  - pluginRef: cd\n"
    "  - pluginRef: queue-scorer\n"
    "  - pluginRef: max-score-picker\n";

static const char *pick(struct sy_scheduler *s, struct sy_pool *p, int32_t prio, int *rc)
{
    struct sy_request r;
    fx_req(&r, "m", 10);
    r.priority = prio;
    struct sy_sched_result res;
    *rc = sy_sched_pick(s, p, &r, NULL, 0, &res);
    if (*rc)
        return "";
    const char *a = res.ep->address;
    sy_sched_done(s, &res, true);
    return a;
}

static void test_scheduler(void **state)
{
    (void)state;
    char err[512];
    struct sy_scheduler *s = fx_sched(sched_yaml, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    /* r: reserved with a longer queue than the shared s (queue-scorer prefers s) */
    struct sy_endpoint *eps[] = {fx_ep("s:1", NULL, 0, 0, 0),
                                 fx_ep("r:1", "serves=interactive", 3, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 2);
    int rc;
    assert_string_equal(pick(s, p, 10, &rc), "r:1"); /* preference beats the queue score */
    assert_int_equal(rc, 0);
    assert_string_equal(pick(s, p, 0, &rc), "s:1");
    assert_string_equal(pick(s, p, -1, &rc), "s:1");
    /* the reserved endpoint at its limit: interactive overflows to the shared one */
    atomic_store(&eps[1]->inflight_requests, 2);
    assert_string_equal(pick(s, p, 10, &rc), "s:1");
    assert_int_equal(rc, 0);
    /* the shared one at its limit too: fail-open of the concurrency filter keeps the survivors of
     * the reservation: low priority still never gets the reserved endpoint */
    atomic_store(&eps[0]->inflight_requests, 2);
    assert_string_equal(pick(s, p, 0, &rc), "s:1");
    assert_string_equal(pick(s, p, 10, &rc), "r:1");
    /* the shared endpoint not ready: low priority has no endpoint; high priority still served */
    atomic_store(&eps[0]->inflight_requests, 0);
    sy_endpoint_set_failed(eps[0], 5);
    assert_string_equal(pick(s, p, 0, &rc), "");
    assert_int_not_equal(rc, 0);
    assert_string_equal(pick(s, p, 10, &rc), "r:1");
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_scheduler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
