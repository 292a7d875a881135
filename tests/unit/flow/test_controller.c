/* Unit tests for src/flow/controller.c: admission, strict priority, fairness between flows,
 * ordering within a flow, capacity and TTL refusals, no-endpoint wait, cancel, shutdown, legacy
 * admission and reload, driven through the public API with a hand-built pool and one port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "flow/flow.h"
#include "unit/sched/sched_helpers.h"

struct rec {
    char order[32][16]; /* names of dispatched items, in order */
    int n;
    enum sy_flow_verdict last[32];
    int nv;
    int notified;
};

struct req {
    struct sy_flow_item it;
    const char *name;
    struct rec *r;
};

static void on_verdict(void *ud, enum sy_flow_verdict v)
{
    struct req *q = ud;
    if (v == SY_FLOW_DISPATCH)
        snprintf(q->r->order[q->r->n++], 16, "%s", q->name);
    q->r->last[q->r->nv++] = v;
}

static void notify(void *ud)
{
    ((struct rec *)ud)->notified++;
}

static struct sy_flow_config *cfg(const char *epp)
{
    char err[512] = "";
    struct sy_yaml_node *o = NULL, *e = NULL;
    static const char objectives[] = "inferenceObjectives:\n- {name: hi, priority: 10}\n"
                                     "- {name: lo, priority: -1}\n";
    o = sy_yaml_load_string(objectives, sizeof objectives - 1, "gw.yaml", err, sizeof err);
    e = sy_yaml_load_string(epp, strlen(epp), "epp.yaml", err, sizeof err);
    assert_non_null(e);
    struct sy_flow_config *c = sy_flow_config_new(sy_yaml_get(o, "inferenceObjectives"), "gw.yaml",
                                                  e, "epp.yaml", err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    sy_yaml_free(o);
    sy_yaml_free(e);
    return c;
}

#define GATE                                                                                       \
    "featureGates: [flowControl]\nplugins:\n- type: concurrency-detector\n  name: cd\n"            \
    "  parameters: {maxConcurrency: 1}\n"
#define FC "flowControl:\n  saturationDetector: {pluginRef: cd}\n"

struct fx {
    struct sy_flow *f;
    struct sy_flow_port *port;
    struct sy_pool *pool;
    struct rec r;
};

static void fx_init(struct fx *x, const char *epp, bool ready)
{
    memset(x, 0, sizeof *x);
    struct sy_endpoint *eps[1] = {fx_ep("a:1", NULL, 0, 0, 0)};
    if (!ready)
        sy_endpoint_set_failed(eps[0], 5);
    x->pool = fx_pool(eps, 1);
    x->f = sy_flow_new(NULL);
    sy_flow_configure(x->f, cfg(epp), x->pool);
    x->port = sy_flow_port_new(x->f, notify, &x->r);
}

static void fx_fini(struct fx *x)
{
    sy_flow_port_free(x->port);
    sy_flow_free(x->f);
    sy_pool_unref(x->pool);
}

/* Classifies by headers and admits. */
static enum sy_flow_verdict admit(struct fx *x, struct req *q, const char *name,
                                  const char *objective, const char *flow, uint64_t bytes)
{
    memset(q, 0, sizeof *q);
    q->name = name;
    q->r = &x->r;
    struct sy_str names[2], values[2];
    size_t n = 0;
    if (objective) {
        names[n] = sy_str_c("x-gateway-inference-objective");
        values[n++] = sy_str_c(objective);
    }
    if (flow) {
        names[n] = sy_str_c("x-llm-d-inference-fairness-id");
        values[n++] = sy_str_c(flow);
    }
    sy_flow_classify(x->f, &q->it, names, values, n);
    q->it.bytes = bytes;
    q->it.tokens = 1;
    q->it.port = x->port;
    q->it.cb = on_verdict;
    q->it.ud = q;
    return sy_flow_admit(x->f, &q->it);
}

/* Finishes the active request a and delivers what that dispatched. */
static void finish(struct fx *x, struct req *a)
{
    sy_flow_release(x->f, &a->it);
    sy_flow_port_run(x->port);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_priority_and_fcfs(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC, true);
    struct req h, q[5];
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 10), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &q[0], "lo1", "lo", NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[1], "std1", NULL, NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[2], "hi1", "hi", NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[3], "std2", "unknown", NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[4], "hi2", "hi", NULL, 10), SY_FLOW_QUEUED);
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 5);
    assert_int_equal(st.queued_bytes, 50);
    assert_int_equal(st.outstanding, 1);
    finish(&x, &h);
    for (int i = 0; i < 4; i++) { /* each finishes in the order it was dispatched */
        struct req *next = NULL;
        for (int j = 0; j < 5; j++)
            if (!strcmp(q[j].name, x.r.order[x.r.n - 1]))
                next = &q[j];
        finish(&x, next);
    }
    const char *want[] = {"hi1", "hi2", "std1", "std2", "lo1"};
    assert_int_equal(x.r.n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(x.r.order[i], want[i]);
    sy_flow_release(x.f, &q[0].it);
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.outstanding, 0);
    fx_fini(&x);
}

static void run_fairness(const char *policy, const char *const *want)
{
    char epp[512];
    snprintf(epp, sizeof epp,
             GATE "- type: %s\n  name: fair\n" FC
                  "  defaultPriorityBand: {fairnessPolicyRef: fair}\n",
             policy);
    struct fx x;
    fx_init(&x, epp, true);
    struct req h, q[6];
    const char *names[] = {"a1", "a2", "a3", "b1", "b2", "c1"};
    const char *flows[] = {"a", "a", "a", "b", "b", "c"};
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    for (int i = 0; i < 6; i++)
        assert_int_equal(admit(&x, &q[i], names[i], NULL, flows[i], 1), SY_FLOW_QUEUED);
    finish(&x, &h);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++)
            if (!strcmp(q[j].name, x.r.order[x.r.n - 1])) {
                finish(&x, &q[j]);
                break;
            }
    assert_int_equal(x.r.n, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(x.r.order[i], want[i]);
    for (int i = 0; i < 6; i++)
        sy_flow_release(x.f, &q[i].it);
    fx_fini(&x);
}

static void test_fairness(void **state)
{
    const char *rr[] = {"a1", "b1", "c1", "a2", "b2", "a3"};
    run_fairness("round-robin-fairness-policy", rr);
    const char *gs[] = {"a1", "a2", "a3", "b1", "b2", "c1"};
    run_fairness("global-strict-fairness-policy", gs);
}

static void test_slo_deadline_ordering(void **state)
{
    struct fx x;
    fx_init(&x,
            GATE "- type: slo-deadline-ordering-policy\n  name: slo\n" FC
                 "  defaultPriorityBand: {orderingPolicyRef: slo}\n",
            true);
    struct req h, q[3];
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    admit(&x, &q[0], "none", NULL, NULL, 1); /* no SLO: last */
    memset(&q[1], 0, sizeof q[1]);
    struct sy_str n1[1] = {sy_str_c("x-slo-ttft-ms")}, v1[1] = {sy_str_c("5000")};
    struct sy_str v2[1] = {sy_str_c("100")};
    struct req *qs[2] = {&q[1], &q[2]};
    struct sy_str *vs[2] = {v1, v2};
    const char *nm[2] = {"slow", "fast"};
    for (int i = 0; i < 2; i++) {
        memset(qs[i], 0, sizeof *qs[i]);
        qs[i]->name = nm[i];
        qs[i]->r = &x.r;
        sy_flow_classify(x.f, &qs[i]->it, n1, vs[i], 1);
        qs[i]->it.port = x.port;
        qs[i]->it.cb = on_verdict;
        qs[i]->it.ud = qs[i];
        assert_int_equal(sy_flow_admit(x.f, &qs[i]->it), SY_FLOW_QUEUED);
    }
    finish(&x, &h);
    assert_string_equal(x.r.order[0], "fast");
    finish(&x, &q[2]);
    assert_string_equal(x.r.order[1], "slow");
    finish(&x, &q[1]);
    assert_string_equal(x.r.order[2], "none");
    finish(&x, &q[0]);
    fx_fini(&x);
}

/* The deadline header as llm-d's slo-deadline-ordering-policy reads it
 * (llm-d-router pkg/epp/framework/plugins/flowcontrol/ordering/slodeadline/slo_deadline_test.go,
 * TestCalculateSLODeadline): valid value, old alias, the canonical header winning, missing and
 * unrelated headers, an invalid value, a TTFT that overflows time.Duration (MaxInt64 ms): no
 * deadline. Also "0": ParseInt accepts it and ms < 0 is the only lower bound, so it is a deadline
 * due on arrival, not "no deadline"; and TrimSpace on the value. */
static void test_slo_deadline_header(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC, true);
    static const struct {
        const char *name, *value, *name2, *value2;
        uint64_t want_ns;
    } cases[] = {
        {"x-llm-d-slo-ttft-ms", "200", NULL, NULL, 200000000ull},
        {"x-slo-ttft-ms", "150", NULL, NULL, 150000000ull},
        {"x-llm-d-slo-ttft-ms", "200", "x-slo-ttft-ms", "50", 200000000ull},
        {"x-slo-ttft-ms", "50", "x-llm-d-slo-ttft-ms", "200", 200000000ull},
        {NULL, NULL, NULL, NULL, SY_FLOW_NO_SLO},
        {"x-some-header", "200", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "x", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "9223372036854775807", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "9223372036855", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "9223372036854", NULL, NULL, 9223372036854ull * 1000000ull},
        {"x-llm-d-slo-ttft-ms", "-5", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", "12.5", NULL, NULL, SY_FLOW_NO_SLO},
        {"x-llm-d-slo-ttft-ms", " 75 ", NULL, NULL, 75000000ull},
        {"x-llm-d-slo-ttft-ms", "0", NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sy_str names[2], values[2];
        size_t n = 0;
        if (cases[i].name) {
            names[n] = sy_str_c(cases[i].name);
            values[n++] = sy_str_c(cases[i].value);
        }
        if (cases[i].name2) {
            names[n] = sy_str_c(cases[i].name2);
            values[n++] = sy_str_c(cases[i].value2);
        }
        struct sy_flow_item it;
        memset(&it, 0, sizeof it);
        sy_flow_classify(x.f, &it, names, values, n);
        if (it.slo_ns != cases[i].want_ns)
            fail_msg("case %zu (%s: '%s'): slo_ns %llu, want %llu", i,
                     cases[i].name ? cases[i].name : "-", cases[i].value ? cases[i].value : "",
                     (unsigned long long)it.slo_ns, (unsigned long long)cases[i].want_ns);
    }
    fx_fini(&x);
}

/* Ordering by deadline (slo_deadline_test.go TestSLODeadline_Less): the earlier deadline first
 * (50 before 100), SLO-bound before no header, SLO-bound before an overflowing TTFT; and a
 * "0" deadline (due on arrival) before all of them, where it used to sort with no deadline. */
static void test_slo_deadline_zero_first(void **state)
{
    struct fx x;
    fx_init(&x,
            GATE "- type: slo-deadline-ordering-policy\n  name: slo\n" FC
                 "  defaultPriorityBand: {orderingPolicyRef: slo}\n",
            true);
    struct req h, q[5];
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    static const char *const nm[5] = {"none", "over", "a100", "b50", "zero"};
    static const char *const val[5] = {NULL, "9223372036854775807", "100", "50", "0"};
    for (int i = 0; i < 5; i++) {
        memset(&q[i], 0, sizeof q[i]);
        q[i].name = nm[i];
        q[i].r = &x.r;
        struct sy_str n1[1] = {sy_str_c("x-llm-d-slo-ttft-ms")};
        struct sy_str v1[1] = {sy_str_c(val[i] ? val[i] : "")};
        sy_flow_classify(x.f, &q[i].it, n1, v1, val[i] ? 1 : 0);
        q[i].it.port = x.port;
        q[i].it.cb = on_verdict;
        q[i].it.ud = &q[i];
        assert_int_equal(sy_flow_admit(x.f, &q[i].it), SY_FLOW_QUEUED);
    }
    finish(&x, &h);
    /* dispatch order: zero, b50, a100, then the two without a deadline in arrival order */
    static const int want[5] = {4, 3, 2, 0, 1};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(x.r.n, k + 1);
        assert_string_equal(x.r.order[k], nm[want[k]]);
        finish(&x, &q[want[k]]);
    }
    fx_fini(&x);
}

static void test_capacity(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC "  maxBytes: 100\n  priorityBands:\n  - {priority: 0, maxRequests: 2}\n",
            true);
    struct req h, q[4];
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 10), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &q[0], "q0", NULL, NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[1], "q1", NULL, NULL, 10), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &q[2], "q2", NULL, NULL, 10), SY_FLOW_REJECT_SATURATED);
    /* global maxBytes 100: 20 queued, 81 more does not fit */
    assert_int_equal(admit(&x, &q[3], "big", "hi", NULL, 81), SY_FLOW_REJECT_SATURATED);
    assert_int_equal(admit(&x, &q[3], "fits", "hi", NULL, 80), SY_FLOW_QUEUED);
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_REJECT_SATURATED), 429);
    assert_string_equal(sy_flow_verdict_reason(SY_FLOW_REJECT_SATURATED), "rejected-saturated");
    /* an admission plugin's denial: llm-d's 500 with no dropped reason */
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_REJECT_ADMISSION), 500);
    assert_string_equal(sy_flow_verdict_reason(SY_FLOW_REJECT_ADMISSION), "");
    assert_string_equal(sy_flow_verdict_code(SY_FLOW_REJECT_ADMISSION), "request_not_admitted");
    assert_string_equal(sy_flow_verdict_code(SY_FLOW_REJECT_SATURATED), "rejected-saturated");
    /* cancel gives everything back */
    sy_flow_release(x.f, &q[0].it);
    sy_flow_release(x.f, &q[1].it);
    sy_flow_release(x.f, &q[3].it);
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.queued_bytes, 0);
    sy_flow_release(x.f, &h.it);
    sy_flow_release(x.f, &h.it); /* idempotent */
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.outstanding, 0);
    fx_fini(&x);
}

static void test_ttl(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC "  defaultRequestTTL: 10ms\n", true);
    struct req h, q;
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &q, "late", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_tick(x.f);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 0);
    sleep_ms(30);
    sy_flow_tick(x.f);
    assert_true(x.r.notified > 0);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 1);
    assert_int_equal(x.r.last[0], SY_FLOW_REJECT_TTL);
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_REJECT_TTL), 429);
    sy_flow_release(x.f, &q.it);
    sy_flow_release(x.f, &h.it);
    fx_fini(&x);
}

static void test_no_endpoints(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC "  noEndpointRequestTTL: 10ms\n  defaultRequestTTL: 1h\n", false);
    struct req q;
    assert_int_equal(admit(&x, &q, "wait", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_tick(x.f);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 0);
    sleep_ms(30);
    sy_flow_tick(x.f);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 1);
    assert_int_equal(x.r.last[0], SY_FLOW_REJECT_NO_ENDPOINTS);
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_REJECT_NO_ENDPOINTS), 503);
    sy_flow_release(x.f, &q.it);
    /* an endpoint coming up dispatches the waiting request */
    struct req w;
    assert_int_equal(admit(&x, &w, "scale-up", NULL, NULL, 1), SY_FLOW_QUEUED);
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    m.block_size = m.num_blocks = m.max_lora = -1;
    sy_endpoint_set_metrics(x.pool->eps[0], &m, 10);
    sy_flow_tick(x.f);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.n, 1);
    assert_string_equal(x.r.order[0], "scale-up");
    sy_flow_release(x.f, &w.it);
    fx_fini(&x);
}

static void test_shutdown(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC, true);
    struct req h, q, n;
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &q, "queued", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_shutdown(x.f, 0); /* deadline passed */
    assert_int_equal(admit(&x, &n, "new", NULL, NULL, 1), SY_FLOW_REJECT_SHUTDOWN);
    sy_flow_tick(x.f);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 1);
    assert_int_equal(x.r.last[0], SY_FLOW_REJECT_SHUTDOWN);
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_REJECT_SHUTDOWN), 503);
    assert_string_equal(sy_flow_verdict_reason(SY_FLOW_REJECT_SHUTDOWN), "rejected-shutting-down");
    sy_flow_release(x.f, &q.it);
    sy_flow_release(x.f, &h.it);
    fx_fini(&x);
}

static void test_legacy(void **state)
{
    struct fx x;
    /* gate off: concurrency detector still measures; maxConcurrency 1 */
    fx_init(&x,
            "plugins:\n- type: concurrency-detector\n  name: cd\n  parameters: {maxConcurrency: "
            "1}\n" FC,
            true);
    struct req a, b, c;
    assert_int_equal(admit(&x, &a, "lo-idle", "lo", NULL, 1), SY_FLOW_DISPATCH);
    /* saturated now (1/1): sheddable refused, the rest passes (no queue without the gate) */
    assert_int_equal(admit(&x, &b, "lo-busy", "lo", NULL, 1), SY_FLOW_REJECT_SATURATED);
    assert_int_equal(admit(&x, &c, "std-busy", NULL, NULL, 1), SY_FLOW_DISPATCH);
    sy_flow_release(x.f, &a.it);
    sy_flow_release(x.f, &c.it);
    fx_fini(&x);
}

static void test_reload_keeps_queue(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC, true);
    struct req h, q[3];
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(&x, &q[i], "q", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_configure(x.f,
                      cfg("featureGates: [flowControl]\nplugins:\n- type: concurrency-detector\n"
                          "  name: cd\n  parameters: {maxConcurrency: 3}\n" FC),
                      x.pool);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.n, 2); /* capacity 3: two more dispatched, one still queued */
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 1);
    for (int i = 0; i < 3; i++)
        sy_flow_release(x.f, &q[i].it);
    sy_flow_release(x.f, &h.it);
    fx_fini(&x);
}

/* sy_flow_tick says when it needs the fast tick: while the gate is on, and while requests stay
 * queued after a reload turned it off; not once the gate is off and the queue empty. */
static void test_tick_pace(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC, true);
    assert_true(sy_flow_tick(x.f)); /* gate on, nothing queued: the saturation gauge */
    struct req h, q;
    assert_int_equal(admit(&x, &h, "hold", NULL, NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &q, "q", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_configure(x.f,
                      cfg("plugins:\n- type: concurrency-detector\n  name: cd\n"
                          "  parameters: {maxConcurrency: 1}\n" FC),
                      x.pool);
    assert_true(sy_flow_tick(x.f)); /* gate off, one request still queued (its TTL runs) */
    sy_flow_release(x.f, &q.it);
    assert_false(sy_flow_tick(x.f)); /* gate off, queue empty: slow ticks do */
    sy_flow_release(x.f, &h.it);
    assert_false(sy_flow_tick(x.f));
    sy_flow_configure(x.f, cfg(GATE FC), x.pool);
    assert_true(sy_flow_tick(x.f));
    fx_fini(&x);
}

static void test_eviction(void **state)
{
    struct fx x;
    fx_init(&x, GATE FC "  enableEviction: true\n", true);
    struct req lo, hi, hi2;
    assert_int_equal(admit(&x, &lo, "lo", "lo", NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &hi, "hi", "hi", NULL, 1), SY_FLOW_QUEUED);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 1);
    assert_int_equal(x.r.last[0], SY_FLOW_EVICTED);
    assert_int_equal(sy_flow_verdict_status(SY_FLOW_EVICTED), 429);
    assert_string_equal(sy_flow_verdict_reason(SY_FLOW_EVICTED), "evicted");
    finish(&x, &lo); /* the evicted request ends: hi gets its capacity */
    assert_int_equal(x.r.n, 1);
    assert_string_equal(x.r.order[0], "hi");
    /* a non-sheddable request in flight is never evicted */
    assert_int_equal(admit(&x, &hi2, "hi2", "hi", NULL, 1), SY_FLOW_QUEUED);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.nv, 2);
    finish(&x, &hi);
    assert_string_equal(x.r.order[1], "hi2");
    sy_flow_release(x.f, &hi2.it);
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.outstanding, 0);
    fx_fini(&x);
}

static void test_holdback_reserves_headroom(void **state)
{
    /* priority-holdback (rank): bands 10 and 0 -> ceilings 1.0 and 0.5; maxConcurrency 4: band 0
     * stops at 2 in flight even while band 10 is empty, so an interactive request finds room */
    struct fx x;
    fx_init(&x,
            "featureGates: [flowControl]\nplugins:\n- type: concurrency-detector\n  name: cd\n"
            "  parameters: {maxConcurrency: 4}\n- type: priority-holdback-policy\n  name: h\n"
            "  parameters: {minCeiling: 0.5}\n" FC "  usageLimitPolicyPluginRef: h\n"
            "  priorityBands:\n  - {priority: 10}\n  - {priority: 0}\n",
            true);
    struct req s[4], hi;
    assert_int_equal(admit(&x, &s[0], "s0", NULL, NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &s[1], "s1", NULL, NULL, 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &s[2], "s2", NULL, NULL, 1), SY_FLOW_QUEUED); /* 2/4 >= 0.5 */
    assert_int_equal(admit(&x, &s[3], "s3", NULL, NULL, 1), SY_FLOW_QUEUED);
    assert_int_equal(admit(&x, &hi, "hi", "hi", NULL, 1), SY_FLOW_DISPATCH); /* headroom */
    finish(&x, &s[0]);
    assert_int_equal(x.r.n, 0); /* 2/4 in flight again: still at band 0's ceiling */
    finish(&x, &hi);
    assert_int_equal(x.r.n, 1);
    for (int i = 1; i < 4; i++)
        sy_flow_release(x.f, &s[i].it);
    fx_fini(&x);
}

/* program-aware-fairness through the controller: a completion charges its flow 1 x prompt +
 * 2 x completion tokens, so the next pick prefers the other flow even though its request
 * arrived later; with equal service (neither served yet) the older head wins. */
static void test_program_aware(void **state)
{
    struct fx x;
    fx_init(&x,
            GATE "- type: program-aware-fairness\n  name: las\n" FC
                 "  defaultPriorityBand: {fairnessPolicyRef: las}\n",
            true);
    struct req h, a1, a2, b1, c1, c2;
    assert_int_equal(admit(&x, &h, "hold", NULL, "c", 1), SY_FLOW_DISPATCH);
    assert_int_equal(admit(&x, &a1, "a1", NULL, "a", 1), SY_FLOW_QUEUED);
    sleep_ms(3);
    assert_int_equal(admit(&x, &b1, "b1", NULL, "b", 1), SY_FLOW_QUEUED);
    h.it.usage_prompt = 10;
    h.it.usage_completion = 5;
    finish(&x, &h); /* a and b unserved (0.5 each on service): a's head is older */
    assert_int_equal(x.r.n, 1);
    assert_string_equal(x.r.order[0], "a1");
    a1.it.usage_prompt = 1000; /* a is charged 1000 + 2 x 100 */
    a1.it.usage_completion = 100;
    assert_int_equal(admit(&x, &a2, "a2", NULL, "a", 1), SY_FLOW_QUEUED);
    sleep_ms(3);
    assert_int_equal(admit(&x, &c1, "c1", NULL, "c", 1), SY_FLOW_QUEUED);
    finish(&x, &a1); /* b (0) < c (20) < a (1200): b first although a2 waits longest */
    assert_string_equal(x.r.order[1], "b1");
    b1.it.usage_prompt = 3000;
    b1.it.usage_completion = 0;
    finish(&x, &b1); /* c (20) < a (1200) < b (3000) */
    assert_string_equal(x.r.order[2], "c1");
    assert_int_equal(admit(&x, &c2, "c2", NULL, "c", 1), SY_FLOW_QUEUED);
    c1.it.usage_prompt = 5000;
    c1.it.usage_completion = 0;
    finish(&x, &c1); /* a (1200) < c (5020) */
    assert_string_equal(x.r.order[3], "a2");
    finish(&x, &a2);
    assert_string_equal(x.r.order[4], "c2");
    sy_flow_release(x.f, &c2.it);
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.outstanding, 0);
    fx_fini(&x);
}

/* priority-reservation-filter: the lower bands are also gated on the shared endpoints' saturation
 * (the gateway's in-flight requests there), the higher ones on the pool's. Pool: r reserved, s
 * shared; maxConcurrency 1 each. */
static void test_reservation_gates_lower_bands(void **state)
{
    (void)state;
    struct fx x;
    memset(&x, 0, sizeof x);
    struct sy_endpoint *eps[2] = {fx_ep("r:1", "pool=fast", 0, 0, 0), fx_ep("s:1", NULL, 0, 0, 0)};
    x.pool = fx_pool(eps, 2);
    x.f = sy_flow_new(NULL);
    sy_flow_configure(x.f,
                      cfg(GATE "- type: priority-reservation-filter\n"
                               "  parameters: {minPriority: 10, reserved: {matchLabels: "
                               "{pool: fast}}}\n" FC),
                      x.pool);
    x.port = sy_flow_port_new(x.f, notify, &x.r);
    struct req a, b, c, h;
    assert_int_equal(admit(&x, &a, "std1", NULL, NULL, 1), SY_FLOW_DISPATCH);
    /* released but not picked yet: counts against the shared endpoints already */
    assert_int_equal(admit(&x, &b, "std2", NULL, NULL, 1), SY_FLOW_QUEUED);
    sy_flow_picked(x.f, &a.it);
    sy_endpoint_inflight_add(eps[1], 1); /* the scheduler put std1 on s */
    /* the pool has room (1 of 2) but s is full: std2 waits; the interactive request goes */
    struct sy_flow_stats st;
    sy_flow_tick(x.f);
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.queued, 1);
    assert_int_equal(admit(&x, &h, "hi1", "hi", NULL, 1), SY_FLOW_DISPATCH);
    sy_flow_picked(x.f, &h.it);
    sy_endpoint_inflight_add(eps[0], 1);
    /* std1 finishes: s is free, std2 is dispatched */
    sy_endpoint_inflight_sub(eps[1], 1);
    finish(&x, &a);
    assert_int_equal(x.r.n, 1);
    assert_string_equal(x.r.order[0], "std2");
    sy_flow_picked(x.f, &b.it);
    sy_endpoint_inflight_add(eps[1], 1);
    /* the pool is full now (2 of 2): everything waits */
    assert_int_equal(admit(&x, &c, "hi2", "hi", NULL, 1), SY_FLOW_QUEUED);
    sy_endpoint_inflight_sub(eps[0], 1);
    finish(&x, &h); /* r frees: hi2 goes (it may use r) */
    assert_int_equal(x.r.n, 2);
    assert_string_equal(x.r.order[1], "hi2");
    sy_flow_release(x.f, &b.it);
    sy_flow_release(x.f, &c.it);
    sy_flow_port_free(x.port);
    sy_flow_free(x.f);
    sy_pool_unref(x.pool);
}

static void test_reservation_legacy(void **state)
{
    (void)state;
    struct fx x;
    memset(&x, 0, sizeof x);
    struct sy_endpoint *eps[2] = {fx_ep("r:1", "pool=fast", 0, 0, 0), fx_ep("s:1", NULL, 0, 0, 0)};
    x.pool = fx_pool(eps, 2);
    x.f = sy_flow_new(NULL);
    sy_flow_configure(x.f,
                      cfg("plugins:\n- type: concurrency-detector\n  name: cd\n"
                          "  parameters: {maxConcurrency: 1}\n"
                          "- type: priority-reservation-filter\n"
                          "  parameters: {minPriority: 10, reserved: {matchLabels: "
                          "{pool: fast}}}\n" FC),
                      x.pool);
    x.port = sy_flow_port_new(x.f, notify, &x.r);
    struct req a, b, c;
    assert_int_equal(admit(&x, &a, "std", NULL, NULL, 1), SY_FLOW_DISPATCH);
    sy_flow_picked(x.f, &a.it);
    sy_endpoint_inflight_add(eps[1], 1);
    /* pool 1 of 2, but the shared endpoint is full: the sheddable request is refused */
    assert_int_equal(admit(&x, &b, "lo", "lo", NULL, 1), SY_FLOW_REJECT_SATURATED);
    assert_int_equal(admit(&x, &c, "hi", "hi", NULL, 1), SY_FLOW_DISPATCH);
    sy_flow_release(x.f, &a.it);
    sy_flow_release(x.f, &c.it);
    sy_flow_port_free(x.port);
    sy_flow_free(x.f);
    sy_pool_unref(x.pool);
}

/* A finished request's release hands its slot to a queued request inside the call (the port is
 * notified on the releasing thread, as another worker would be woken): whatever the finished
 * request still holds on its endpoint then is what the woken worker's scheduling sees, which is
 * why sy_flow_release comes after the discharge (the EPP released in the wrong order once). */
struct probe {
    struct sy_endpoint *ep;
    int notified;
    int64_t inflight_seen; /* the endpoint's in-flight requests when the port was notified */
};

static void probe_notify(void *ud)
{
    struct probe *pr = ud;
    pr->notified++;
    pr->inflight_seen = atomic_load(&pr->ep->inflight_requests);
}

static void test_release_dispatches_inside_the_call(void **state)
{
    (void)state;
    struct fx x;
    fx_init(&x, GATE FC, true);
    struct probe pr = {.ep = x.pool->eps[0], .inflight_seen = -1};
    sy_flow_port_free(x.port);
    x.port = sy_flow_port_new(x.f, probe_notify, &pr);
    struct req a, b, c;
    struct sy_charge ca = {0}, cb = {0};
    /* the right order: discharged first, the woken request sees the endpoint free */
    assert_int_equal(admit(&x, &a, "a", NULL, NULL, 10), SY_FLOW_DISPATCH);
    sy_pool_charge(&ca, x.pool->eps[0], 5, 8, 1); /* a's pick */
    sy_flow_picked(x.f, &a.it);
    assert_int_equal(admit(&x, &b, "b", NULL, NULL, 10), SY_FLOW_QUEUED);
    sy_pool_discharge(&ca, 3);
    sy_flow_release(x.f, &a.it);
    assert_int_equal(pr.notified, 1);      /* b was dispatched by a's release, in the call */
    assert_int_equal(pr.inflight_seen, 0); /* ... with a no longer counted */
    sy_flow_release(x.f, &a.it);           /* idempotent: nothing more dispatched */
    assert_int_equal(pr.notified, 1);
    sy_flow_port_run(x.port);
    assert_int_equal(x.r.n, 1);
    assert_string_equal(x.r.order[0], "b");
    /* the wrong order: b's charge still held when its admission ends, so the request its
     * release wakes sees b in flight */
    sy_pool_charge(&cb, x.pool->eps[0], 5, 8, 1);
    sy_flow_picked(x.f, &b.it);
    assert_int_equal(admit(&x, &c, "c", NULL, NULL, 10), SY_FLOW_QUEUED);
    sy_flow_release(x.f, &b.it);
    assert_int_equal(pr.notified, 2);
    assert_int_equal(pr.inflight_seen, 1);
    sy_pool_discharge(&cb, -1);
    sy_flow_port_run(x.port);
    sy_flow_release(x.f, &c.it);
    struct sy_flow_stats st;
    sy_flow_stats(x.f, &st);
    assert_int_equal(st.outstanding, 0);
    assert_int_equal(atomic_load(&x.pool->eps[0]->inflight_requests), 0);
    fx_fini(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_and_fcfs),
        cmocka_unit_test(test_fairness),
        cmocka_unit_test(test_slo_deadline_ordering),
        cmocka_unit_test(test_slo_deadline_header),
        cmocka_unit_test(test_slo_deadline_zero_first),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_no_endpoints),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_reload_keeps_queue),
        cmocka_unit_test(test_tick_pace),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_holdback_reserves_headroom),
        cmocka_unit_test(test_program_aware),
        cmocka_unit_test(test_reservation_gates_lower_bands),
        cmocka_unit_test(test_reservation_legacy),
        cmocka_unit_test(test_release_dispatches_inside_the_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
