/* Unit tests for src/config/config.c: a full config, defaults, every error message (exact text
 * and line), schedulerFile resolution, refcounting and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/err.h"

#define MS 1000000ULL    /* ns per ms */
#define S  1000000000ULL /* ns per s */

static struct sy_config *load(const char *text, char *err, size_t errcap)
{
    return sy_config_load_string(text, strlen(text), "gw.yaml", err, errcap);
}

/* A minimal valid config (4 lines): text appended to it starts on line 5. */
#define BASE                                                                                       \
    "listen: 127.0.0.1:8080\n"                                                                     \
    "pool:\n"                                                                                      \
    "  endpoints:\n"                                                                               \
    "    - address: 127.0.0.1:8001\n"

static void test_full_config(void **state)
{
    const char *text = "listen: 0.0.0.0:8080\n"                                 /* 1 */
                       "admin: 127.0.0.1:9090\n"                                /* 2 */
                       "workers: 4\n"                                           /* 3 */
                       "logLevel: debug\n"                                      /* 4 */
                       "pool:\n"                                                /* 5 */
                       "  engine: sglang\n"                                     /* 6 */
                       "  scrapeInterval: 100ms\n"                              /* 7 */
                       "  metricsStalenessThreshold: 5s\n"                      /* 8 */
                       "  endpoints:\n"                                         /* 9 */
                       "    - address: 10.0.0.1:8000\n"                         /* 10 */
                       "      labels: { llm-d.ai/role: decode, zone: \"a\" }\n" /* 11 */
                       "      kvEvents: tcp://10.0.0.1:5557\n"                  /* 12 */
                       "    - address: \"[::1]:8001\"\n"                        /* 13 */
                       "limits:\n"                                              /* 14 */
                       "  maxBodyBytes: 1MiB\n"                                 /* 15 */
                       "timeouts: { connect: 500ms, request: 10s, idle: 5s, drain: 0s }\n"
                       "retry: { maxAttempts: 5 }\n"                    /* 17 */
                       "scheduler:\n"                                   /* 18 */
                       "  apiVersion: llm-d.ai/v1alpha1\n"              /* 19 */
                       "  kind: EndpointPickerConfig\n"                 /* 20 */
                       "  plugins:\n"                                   /* 21 */
                       "    - type: max-score-picker\n"                 /* 22 */
                       "      anyField: is the scheduler's business\n"; /* 23 */
    char err[512] = "";
    struct sy_config *c = sy_config_load_string(text, strlen(text), "full.yaml", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(err, "");
    assert_int_equal(atomic_load(&c->refs), 1);
    assert_string_equal(c->file, "full.yaml");
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 8080);
    assert_string_equal(c->admin_host, "127.0.0.1");
    assert_int_equal(c->admin_port, 9090);
    assert_false(c->admin_shared);
    assert_int_equal(c->workers, 4);
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->engine, SY_ENGINE_SGLANG);
    assert_int_equal(c->scrape_interval_ns, 100 * MS);
    assert_int_equal(c->staleness_ns, 5 * S);
    assert_int_equal(c->nendpoints, 2);

    const struct sy_endpoint_config *e0 = &c->endpoints[0], *e1 = &c->endpoints[1];
    assert_string_equal(e0->address, "10.0.0.1:8000");
    assert_string_equal(e0->host, "10.0.0.1");
    assert_int_equal(e0->port, 8000);
    assert_int_equal(e0->line, 10);
    assert_int_equal(e0->nlabels, 2);
    assert_string_equal(e0->labels[0].key, "llm-d.ai/role");
    assert_string_equal(e0->labels[0].value, "decode");
    assert_string_equal(e0->labels[1].key, "zone");
    assert_string_equal(e0->labels[1].value, "a");
    assert_string_equal(e0->kv_events, "tcp://10.0.0.1:5557");
    assert_string_equal(e1->address, "[::1]:8001");
    assert_string_equal(e1->host, "::1");
    assert_int_equal(e1->port, 8001);
    assert_int_equal(e1->line, 13);
    assert_int_equal(e1->nlabels, 0);
    assert_null(e1->kv_events);

    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->connect_timeout_ns, 500 * MS);
    assert_int_equal(c->request_timeout_ns, 10 * S);
    assert_int_equal(c->idle_timeout_ns, 5 * S);
    assert_int_equal(c->drain_timeout_ns, 0);
    assert_int_equal(c->max_retries, 5);

    assert_non_null(c->root);
    assert_non_null(c->scheduler);
    assert_ptr_equal(c->scheduler, sy_yaml_get(c->root, "scheduler"));
    assert_int_equal(c->scheduler->line, 19);
    assert_string_equal(sy_yaml_str(sy_yaml_get(c->scheduler, "kind")), "EndpointPickerConfig");
    assert_null(c->scheduler_root);
    assert_string_equal(c->scheduler_file, "full.yaml");
    sy_config_unref(c);
}

static void test_defaults(void **state)
{
    char err[256] = "";
    struct sy_config *c = load(BASE, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_string_equal(c->admin_host, "127.0.0.1");
    assert_int_equal(c->admin_port, 8080);
    assert_true(c->admin_shared);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->busy_poll_ns, 0); /* off */
    assert_null(c->log_level);
    assert_int_equal(c->engine, SY_ENGINE_VLLM);
    assert_int_equal(c->scrape_interval_ns, 50 * MS);
    assert_int_equal(c->staleness_ns, 2 * S);
    assert_int_equal(c->nendpoints, 1);
    assert_int_equal(c->endpoints[0].port, 8001);
    assert_int_equal(c->endpoints[0].line, 4);
    assert_int_equal(c->endpoints[0].nlabels, 0);
    assert_int_equal(c->max_body_bytes, 32ULL << 20);
    assert_int_equal(c->connect_timeout_ns, 2 * S);
    assert_int_equal(c->request_timeout_ns, 300 * S);
    assert_int_equal(c->idle_timeout_ns, 60 * S);
    assert_int_equal(c->drain_timeout_ns, 30 * S);
    assert_int_equal(c->max_retries, 3);
    assert_null(c->scheduler);
    assert_null(c->scheduler_root);
    assert_string_equal(c->scheduler_file, "gw.yaml");
    sy_config_unref(c);
}

static void test_admin_and_nulls(void **state)
{
    char err[256];
    struct sy_config *c = load(BASE "admin: 127.0.0.1:8080\n", err, sizeof err);
    assert_non_null(c);
    assert_true(c->admin_shared);
    sy_config_unref(c);
    /* a built-in scheduler by name: a scalar, validated by the scheduler's loader */
    c = load(BASE "scheduler: llm-d-default\n", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(sy_yaml_str(c->scheduler), "llm-d-default");
    sy_config_unref(c);

    c = load(BASE "admin: 127.0.0.1:8081\n", err, sizeof err);
    assert_non_null(c);
    assert_false(c->admin_shared);
    assert_int_equal(c->admin_port, 8081);
    sy_config_unref(c);

    c = load(BASE "busyPoll: 200us\n", err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->busy_poll_ns, 200000);
    sy_config_unref(c);
    c = load(BASE "busyPoll: 10ms\n", err, sizeof err); /* the largest */
    assert_non_null(c);
    assert_int_equal(c->busy_poll_ns, 10 * MS);
    sy_config_unref(c);

    /* null values count as absent: defaults apply, nothing is required of them */
    c = load(BASE
             "admin: ~\nworkers:\nbusyPoll:\nscheduler: null\nlimits:\ntimeouts: {connect: ~}\n",
             err, sizeof err);
    assert_non_null(c);
    assert_true(c->admin_shared);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->busy_poll_ns, 0);
    assert_null(c->scheduler);
    assert_int_equal(c->connect_timeout_ns, 2 * S);
    sy_config_unref(c);

    /* quoted numbers are fine; a label with no value is the empty string */
    c = load("listen: \"127.0.0.1:0\"\nworkers: \"2\"\npool:\n  endpoints:\n"
             "    - {address: h:1, labels: {a: , b: \"\"}}\n",
             err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->listen_port, 0);
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->endpoints[0].nlabels, 2);
    assert_string_equal(c->endpoints[0].labels[0].value, "");
    assert_string_equal(c->endpoints[0].labels[1].value, "");
    sy_config_unref(c);

    /* anchors work across the file */
    c = load("listen: h:1\npool:\n  endpoints:\n    - {address: a:1, labels: &l {role: decode}}\n"
             "    - {address: b:1, labels: *l}\n",
             err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->endpoints[1].labels[0].value, "decode");
    sy_config_unref(c);
}

struct bad_case {
    const char *yaml; /* input (named gw.yaml) */
    const char *msg;  /* exact message */
};

static const struct bad_case bad_cases[] = {
    /* required */
    {"", "gw.yaml:1: listen: missing required key"},
    {"pool:\n  endpoints:\n    - address: a:1\n", "gw.yaml:1: listen: missing required key"},
    {"listen:\npool: {endpoints: [{address: a:1}]}\n", "gw.yaml:1: listen: missing required key"},
    {"listen: 127.0.0.1:8080\n", "gw.yaml:1: pool.endpoints: at least one endpoint is required"},
    {"listen: 127.0.0.1:8080\npool:\n  engine: vllm\n",
     "gw.yaml:3: pool.endpoints: at least one endpoint is required"},
    {"listen: 127.0.0.1:8080\npool: {endpoints: []}\n",
     "gw.yaml:2: pool.endpoints: at least one endpoint is required"},
    /* top-level values */
    {"listen: abc\n", "gw.yaml:1: listen: expected host:port, got \"abc\""},
    {"listen: [1]\n", "gw.yaml:1: listen: expected host:port, got a sequence"},
    {"listen: 127.0.0.1:65536\n", "gw.yaml:1: listen: expected host:port, got \"127.0.0.1:65536\""},
    {BASE "admin: 1.2.3.4\n", "gw.yaml:5: admin: expected host:port, got \"1.2.3.4\""},
    {BASE "workers: -1\n", "gw.yaml:5: workers: expected an integer from 0 to 1024, got \"-1\""},
    {BASE "workers: 1025\n",
     "gw.yaml:5: workers: expected an integer from 0 to 1024, got \"1025\""},
    {BASE "workers: 2.5\n", "gw.yaml:5: workers: expected an integer from 0 to 1024, got \"2.5\""},
    {BASE "busyPoll: 11ms\n", "gw.yaml:5: busyPoll: must be at most 10ms, got \"11ms\""},
    {BASE "busyPoll: fast\n",
     "gw.yaml:5: busyPoll: expected a duration such as 500ms, 2s or 1m, got \"fast\""},
    {BASE "busyPoll: -5us\n",
     "gw.yaml:5: busyPoll: expected a duration such as 500ms, 2s or 1m, got \"-5us\""},
    {BASE "logLevel: verbose\n",
     "gw.yaml:5: logLevel: expected debug, info, warn or error, got \"verbose\""},
    {"- a\n", "gw.yaml:1: expected a mapping at the top level, got a sequence"},
    {"just text\n", "gw.yaml:1: expected a mapping at the top level, got \"just text\""},
    /* unknown keys, with their dotted path */
    {BASE "bogus: 1\n", "gw.yaml:5: bogus: unknown key"},
    {BASE "Listen: x\n", "gw.yaml:5: Listen: unknown key"},
    {"listen: 127.0.0.1:8080\n"
     "pool:\n"
     "  endpoints:\n"
     "    - address: 127.0.0.1:8001\n"
     "    - address: 127.0.0.1:8002\n"
     "    - adress: 127.0.0.1:8003\n",
     "gw.yaml:6: pool.endpoints[2].adress: unknown key"},
    {"listen: 127.0.0.1:8080\npool:\n  endpoint: []\n", "gw.yaml:3: pool.endpoint: unknown key"},
    {BASE "limits: {maxBodyBytes: 32MiB, maxHeaderBytes: 8KiB}\n",
     "gw.yaml:5: limits.maxHeaderBytes: unknown key"},
    {BASE "timeouts:\n  connect: 2s\n  read: 5s\n", "gw.yaml:7: timeouts.read: unknown key"},
    {BASE "retry: {attempts: 2}\n", "gw.yaml:5: retry.attempts: unknown key"},
    {BASE "\"a\\tb\": 1\n", "gw.yaml:5: a\\x09b: unknown key"},
    /* the first error in document order wins */
    {"bogus: 1\nlisten: abc\n", "gw.yaml:1: bogus: unknown key"},
    /* pool */
    {"listen: 127.0.0.1:8080\npool: []\n", "gw.yaml:2: pool: expected a mapping, got a sequence"},
    {"listen: 127.0.0.1:8080\npool:\n  engine: tgi\n  endpoints: [{address: a:1}]\n",
     "gw.yaml:3: pool.engine: expected vllm, sglang, trtllm or llamacpp, got \"tgi\""},
    {"listen: 127.0.0.1:8080\npool:\n  engine: VLLM\n",
     "gw.yaml:3: pool.engine: expected vllm, sglang, trtllm or llamacpp, got \"VLLM\""},
    {"listen: 127.0.0.1:8080\npool:\n  scrapeInterval: 5ms\n",
     "gw.yaml:3: pool.scrapeInterval: must be at least 10ms, got \"5ms\""},
    {"listen: 127.0.0.1:8080\npool:\n  scrapeInterval: fast\n",
     "gw.yaml:3: pool.scrapeInterval: expected a duration such as 500ms, 2s or 1m, got \"fast\""},
    {"listen: 127.0.0.1:8080\npool:\n  scrapeInterval: 5s\n  endpoints: [{address: a:1}]\n",
     "gw.yaml:3: pool.scrapeInterval: must be shorter than pool.metricsStalenessThreshold (2s)"},
    {"listen: 127.0.0.1:8080\npool:\n  scrapeInterval: 200ms\n  metricsStalenessThreshold: "
     "100ms\n  endpoints: [{address: a:1}]\n",
     "gw.yaml:4: pool.metricsStalenessThreshold: must be longer than pool.scrapeInterval "
     "(200ms)"},
    {"listen: 127.0.0.1:8080\npool:\n  metricsStalenessThreshold: 0s\n",
     "gw.yaml:3: pool.metricsStalenessThreshold: must be at least 1ns, got \"0s\""},
    /* endpoints */
    {"listen: 127.0.0.1:8080\npool:\n  endpoints: {address: a:1}\n",
     "gw.yaml:3: pool.endpoints: expected a list of endpoints, got a mapping"},
    {"listen: 127.0.0.1:8080\npool:\n  endpoints:\n    - 127.0.0.1:8001\n",
     "gw.yaml:4: pool.endpoints[0]: expected a mapping with an address, got \"127.0.0.1:8001\""},
    {"listen: 127.0.0.1:8080\npool:\n  endpoints:\n    - address: a:1\n    - labels: {x: y}\n",
     "gw.yaml:5: pool.endpoints[1].address: missing required key"},
    {"listen: 127.0.0.1:8080\npool:\n  endpoints:\n    - address: a\n",
     "gw.yaml:4: pool.endpoints[0].address: expected host:port, got \"a\""},
    {"listen: 127.0.0.1:8080\npool:\n  endpoints:\n    - address: a:0\n",
     "gw.yaml:4: pool.endpoints[0].address: port 0 is not a valid endpoint port"},
    {"listen: 127.0.0.1:8080\n"
     "pool:\n"
     "  endpoints:\n"
     "    - address: 127.0.0.1:8001\n"
     "    - address: 127.0.0.1:8002\n"
     "    - address: 127.0.0.1:8001\n",
     "gw.yaml:6: pool.endpoints[2].address: duplicate endpoint 127.0.0.1:8001 (also at line 4)"},
    {"listen: 127.0.0.1:8080\npool:\n  endpoints:\n    - address: Host:1\n    - address: hOST:1\n",
     "gw.yaml:5: pool.endpoints[1].address: duplicate endpoint hOST:1 (also at line 4)"},
    {BASE "      labels: [a]\n", "gw.yaml:5: pool.endpoints[0].labels: expected a mapping of label "
                                 "names to values, got a sequence"},
    {BASE "      labels: {role: {x: 1}}\n",
     "gw.yaml:5: pool.endpoints[0].labels.role: expected a label value (a string), got a mapping"},
    {BASE "      labels: {\"\": x}\n", "gw.yaml:5: pool.endpoints[0].labels: empty label name"},
    {BASE "      kvEvents: 127.0.0.1:5557\n",
     "gw.yaml:5: pool.endpoints[0].kvEvents: expected tcp://host:port, got \"127.0.0.1:5557\""},
    {BASE "      kvEvents: tcp://127.0.0.1:0\n",
     "gw.yaml:5: pool.endpoints[0].kvEvents: expected tcp://host:port, got "
     "\"tcp://127.0.0.1:0\""},
    {BASE "      kvEvents: tcp://*:5557\n",
     "gw.yaml:5: pool.endpoints[0].kvEvents: tcp://*:PORT is where the model server binds; give "
     "its host, as in tcp://10.0.0.1:5557"},
    /* limits, timeouts, retry */
    {BASE "limits: 5\n", "gw.yaml:5: limits: expected a mapping, got \"5\""},
    {BASE "limits:\n  maxBodyBytes: 0\n",
     "gw.yaml:6: limits.maxBodyBytes: must be between 1 byte and 4GiB, got \"0\""},
    {BASE "limits:\n  maxBodyBytes: 5GiB\n",
     "gw.yaml:6: limits.maxBodyBytes: must be between 1 byte and 4GiB, got \"5GiB\""},
    {BASE "limits:\n  maxBodyBytes: lots\n",
     "gw.yaml:6: limits.maxBodyBytes: expected a size such as 32MiB, 512KiB or 4096, got "
     "\"lots\""},
    {BASE "timeouts: {connect: 0}\n",
     "gw.yaml:5: timeouts.connect: must be at least 1ms, got \"0\""},
    {BASE "timeouts: {request: never}\n",
     "gw.yaml:5: timeouts.request: expected a duration such as 500ms, 2s or 1m, got \"never\""},
    {BASE "timeouts: {idle: -1s}\n",
     "gw.yaml:5: timeouts.idle: expected a duration such as 500ms, 2s or 1m, got \"-1s\""},
    {BASE "timeouts: []\n", "gw.yaml:5: timeouts: expected a mapping, got a sequence"},
    {BASE "retry: {maxAttempts: 0}\n",
     "gw.yaml:5: retry.maxAttempts: expected an integer from 1 to 16, got \"0\""},
    {BASE "retry: {maxAttempts: 17}\n",
     "gw.yaml:5: retry.maxAttempts: expected an integer from 1 to 16, got \"17\""},
    /* scheduler */
    {BASE "scheduler: [a]\n",
     "gw.yaml:5: scheduler: expected a mapping (an llm-d EndpointPickerConfig) or a built-in "
     "scheduler's name (switchyard-default, llm-d-default), got a sequence"},
    {BASE "scheduler:\n  kind: EndpointPickerConfig\nschedulerFile: epp.yaml\n",
     "gw.yaml:7: schedulerFile: cannot be combined with scheduler (line 5); use one"},
    {BASE "schedulerFile: {a: 1}\n", "gw.yaml:5: schedulerFile: expected a file path, got a "
                                     "mapping"},
    {BASE "schedulerFile: \"\"\n", "gw.yaml:5: schedulerFile: expected a file path, got \"\""},
    /* YAML-level errors come through unchanged */
    {"listen: [\n",
     "gw.yaml:1: did not find expected node content (while parsing a flow node at line 1)"},
    {BASE "listen: 1.2.3.4:1\n", "gw.yaml:5: listen: duplicate key"},
    {BASE "      address: 127.0.0.1:9\n", "gw.yaml:5: address: duplicate key"},
};

static void test_errors(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char err[512] = "";
        struct sy_config *c = load(bad_cases[i].yaml, err, sizeof err);
        if (c) {
            sy_config_unref(c);
            fail_msg("case %zu loaded; expected: %s", i, bad_cases[i].msg);
        }
        if (strcmp(err, bad_cases[i].msg) != 0)
            fail_msg("case %zu:\n  got:  %s\n  want: %s", i, err, bad_cases[i].msg);
    }
    /* no message buffer at all is allowed */
    assert_null(load("listen: abc\n", NULL, 0));
    assert_null(sy_config_load_string(NULL, 0, NULL, NULL, 0));
    char err[128];
    assert_null(sy_config_load_string(NULL, 0, NULL, err, sizeof err));
    assert_string_equal(err, "<string>:1: listen: missing required key");
}

static void test_limits_on_counts(void **state)
{
    /* 1025 endpoints are over the limit; 1024 are fine */
    for (int n = SY_CONFIG_MAX_ENDPOINTS; n <= SY_CONFIG_MAX_ENDPOINTS + 1; n++) {
        size_t cap = 64 + (size_t)n * 40, o = 0;
        char *text = malloc(cap);
        o += (size_t)snprintf(text + o, cap - o, "listen: h:1\npool:\n  endpoints:\n");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(text + o, cap - o, "    - address: 10.0.%d.%d:80\n", i / 256,
                                  i % 256);
        char err[256] = "";
        struct sy_config *c = load(text, err, sizeof err);
        if (n == SY_CONFIG_MAX_ENDPOINTS) {
            assert_non_null(c);
            assert_int_equal(c->nendpoints, SY_CONFIG_MAX_ENDPOINTS);
            assert_string_equal(c->endpoints[1023].address, "10.0.3.255:80");
            sy_config_unref(c);
        } else {
            assert_null(c);
            assert_string_equal(err,
                                "gw.yaml:4: pool.endpoints: too many endpoints (1025; the limit "
                                "is 1024)");
        }
        free(text);
    }

    char labels[2048];
    size_t o = 0;
    o += (size_t)snprintf(labels + o, sizeof labels - o, BASE "      labels: {");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(labels + o, sizeof labels - o, "%sl%d: v", i ? ", " : "", i);
    snprintf(labels + o, sizeof labels - o, "}\n");
    char err[256];
    assert_null(load(labels, err, sizeof err));
    assert_string_equal(err, "gw.yaml:5: pool.endpoints[0].labels: too many labels (65; the "
                             "limit is 64)");
}

static void test_hostile(void **state)
{
    char err[256];
    /* billion laughs inside the scheduler section: rejected by the YAML layer at once */
    const char *bomb = BASE "scheduler:\n"
                            "  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                            "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                            "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                            "  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                            "  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                            "  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                            "  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                            "  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                            "  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    assert_null(load(bomb, err, sizeof err));
    /* sizes: a 11, b 111, c 1111, d 11111, e 111111, f 1111111 > 10^6 on line 11 */
    assert_string_equal(err, "gw.yaml:11: document too large: over 1000000 nodes with aliases "
                             "expanded");

    /* deep nesting inside the scheduler section */
    size_t depth = 10000, cap = 2 * depth + 128; /* deep enough; libyaml is superlinear here */
    char *deep = malloc(cap);
    int o = snprintf(deep, cap, BASE "scheduler: {x: ");
    memset(deep + o, '[', depth);
    memset(deep + o + depth, ']', depth);
    snprintf(deep + o + 2 * depth, cap - (size_t)o - 2 * depth, "}\n");
    assert_null(load(deep, err, sizeof err));
    assert_string_equal(err, "gw.yaml:5: nesting deeper than 64 levels");
    free(deep);

    /* recursive alias as an endpoint list */
    assert_null(load("listen: h:1\npool:\n  endpoints: &e [*e]\n", err, sizeof err));
    assert_string_equal(err, "gw.yaml:3: recursive alias (a node contains itself)");

    /* an endpoint repeated through an alias is a duplicate, not a crash */
    assert_null(
        load("listen: h:1\npool:\n  endpoints: [&e {address: a:1}, *e]\n", err, sizeof err));
    assert_string_equal(err, "gw.yaml:3: pool.endpoints[1].address: duplicate endpoint a:1 (also "
                             "at line 3)");

    /* binary garbage */
    const char junk[] = "listen: \x01\x02\x03\n";
    assert_null(sy_config_load_string(junk, sizeof junk - 1, "gw.yaml", err, sizeof err));
    assert_string_equal(err, "gw.yaml:1: control characters are not allowed");
}

/* Writes text to dir/name; returns the full path (caller frees). */
static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Makes the temporary directory dir (a mkdtemp template) and dir/sub into sub. */
static void make_dirs(char *dir, char *sub, size_t subcap)
{
    assert_non_null(mkdtemp(dir));
    snprintf(sub, subcap, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
}

static void test_scheduler_file(void **state)
{
    char dir[] = "/tmp/sy_test_config_XXXXXX";
    char sub[64];
    make_dirs(dir, sub, sizeof sub);
    char *epp = write_file(dir, "epp.yaml",
                           "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
                           "plugins:\n  - type: max-score-picker\n");
    char *epp2 = write_file(sub, "epp2.yaml", "kind: EndpointPickerConfig\n");
    char *bad = write_file(dir, "bad.yaml", "kind: x\nplugins: [\n");
    char *list = write_file(dir, "list.yaml", "- a\n");
    char *gw = write_file(dir, "gw.yaml", BASE "schedulerFile: epp.yaml\n");
    char err[512] = "", want[512];

    /* relative to the config file's directory, not the working directory */
    struct sy_config *c = sy_config_load(gw, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->file, gw);
    assert_string_equal(c->scheduler_file, epp);
    assert_non_null(c->scheduler_root);
    assert_ptr_equal(c->scheduler, c->scheduler_root);
    assert_string_equal(sy_yaml_str(sy_yaml_get(c->scheduler, "kind")), "EndpointPickerConfig");
    assert_string_equal(c->scheduler->file, epp);
    assert_int_equal(sy_yaml_get(c->scheduler, "plugins")->line, 4);
    sy_config_unref(c);

    /* a subdirectory, and load_string resolving against its name */
    char name[128];
    snprintf(name, sizeof name, "%s/inline.yaml", dir);
    const char *text = BASE "schedulerFile: sub/epp2.yaml\n";
    c = sy_config_load_string(text, strlen(text), name, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->scheduler_file, epp2);
    sy_config_unref(c);

    /* an absolute path is used as is */
    char abs_text[256];
    snprintf(abs_text, sizeof abs_text, BASE "schedulerFile: %s\n", epp);
    c = sy_config_load_string(abs_text, strlen(abs_text), "elsewhere/gw.yaml", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->scheduler_file, epp);
    sy_config_unref(c);

    /* missing: the message names the config line and the file */
    char *gw2 = write_file(dir, "gw2.yaml", BASE "schedulerFile: missing.yaml\n");
    assert_null(sy_config_load(gw2, err, sizeof err));
    snprintf(want, sizeof want,
             "%s:5: schedulerFile: %s/missing.yaml: cannot read: No such file or directory", gw2,
             dir);
    assert_string_equal(err, want);

    /* a directory is not a file */
    char *gw3 = write_file(dir, "gw3.yaml", BASE "schedulerFile: sub\n");
    assert_null(sy_config_load(gw3, err, sizeof err));
    snprintf(want, sizeof want, "%s:5: schedulerFile: %s: cannot read: not a regular file", gw3,
             sub);
    assert_string_equal(err, want);

    /* a syntax error inside it is reported at its own file and line */
    char *gw4 = write_file(dir, "gw4.yaml", BASE "schedulerFile: bad.yaml\n");
    assert_null(sy_config_load(gw4, err, sizeof err));
    snprintf(want, sizeof want,
             "%s:2: did not find expected node content (while parsing a flow node at line 2)", bad);
    assert_string_equal(err, want);

    /* its top level must be a mapping */
    char *gw5 = write_file(dir, "gw5.yaml", BASE "schedulerFile: list.yaml\n");
    assert_null(sy_config_load(gw5, err, sizeof err));
    snprintf(want, sizeof want,
             "%s:1: expected a mapping (an llm-d EndpointPickerConfig), got a sequence", list);
    assert_string_equal(err, want);

    /* the config file itself missing */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope.yaml", dir);
    assert_null(sy_config_load(missing, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", missing);
    assert_string_equal(err, want);

    char *files[] = {epp, bad, list, gw, gw2, gw3, gw4, gw5, epp2};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(sub);
    rmdir(dir);
}

/* auth.apiKeysFile is read at every load; a file that yields no key must not turn auth off. */
static void test_auth_keys(void **state)
{
    char dir[] = "/tmp/sy_test_auth_XXXXXX";
    char sub[64];
    make_dirs(dir, sub, sizeof sub);
    char *keys = write_file(dir, "keys", "# rotated\nsk-file-key-aaaa\n\n  sk-file-key-bbbb \n");
    char *empty = write_file(dir, "empty", "# no keys yet\n\n");
    char *gw = write_file(dir, "gw.yaml", BASE "auth:\n  apiKeysFile: keys\n");
    char *gw_empty = write_file(dir, "gw_empty.yaml", BASE "auth:\n  apiKeysFile: empty\n");
    char *gw_dir = write_file(dir, "gw_dir.yaml", BASE "auth:\n  apiKeysFile: sub\n");
    char err[512] = "", want[512];

    struct sy_config *c = sy_config_load(gw, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->napi_keys, 2);
    sy_config_unref(c);

    assert_null(sy_config_load(gw_empty, err, sizeof err));
    snprintf(want, sizeof want,
             "%s:6: auth: holds no key: give at least one in apiKeys or apiKeysFile (leave auth "
             "out to run without keys)",
             gw_empty);
    assert_string_equal(err, want);

    /* a directory opens; it must not pass for an empty file */
    assert_null(sy_config_load(gw_dir, err, sizeof err));
    snprintf(want, sizeof want, "%s:6: auth.apiKeysFile: cannot read %s: not a regular file",
             gw_dir, sub);
    assert_string_equal(err, want);

    /* the PEM paths open their file the same way; a FIFO is refused without blocking */
    char fifo[96];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char tls[512];
    snprintf(tls, sizeof tls, BASE "tls:\n  certFile: %s\n  keyFile: %s\n", sub, keys);
    assert_null(load(tls, err, sizeof err));
    snprintf(want, sizeof want, "gw.yaml:6: tls.certFile: cannot read %s: not a regular file", sub);
    assert_string_equal(err, want);
    snprintf(tls, sizeof tls, BASE "tls:\n  certFile: %s\n  keyFile: %s\n", keys, fifo);
    assert_null(load(tls, err, sizeof err));
    snprintf(want, sizeof want, "gw.yaml:7: tls.keyFile: cannot read %s: not a regular file", fifo);
    assert_string_equal(err, want);
    unlink(fifo);

    assert_null(load(BASE "auth:\n  apiKeys: []\n", err, sizeof err));
    assert_string_equal(err, "gw.yaml:6: auth: holds no key: give at least one in apiKeys or "
                             "apiKeysFile (leave auth out to run without keys)");
    assert_null(load(BASE "auth:\n  protectAdmin: true\n", err, sizeof err));
    assert_string_equal(err, "gw.yaml:6: auth: holds no key: give at least one in apiKeys or "
                             "apiKeysFile (leave auth out to run without keys)");

    char *files[] = {keys, empty, gw, gw_empty, gw_dir};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(sub);
    rmdir(dir);
}

static void test_refcount_and_engines(void **state)
{
    char err[256];
    struct sy_config *c = load(BASE, err, sizeof err);
    assert_non_null(c);
    assert_ptr_equal(sy_config_ref(c), c);
    assert_int_equal(atomic_load(&c->refs), 2);
    sy_config_unref(c);
    assert_int_equal(atomic_load(&c->refs), 1);
    sy_config_unref(c); /* frees; ASan would report a leak or double free */
    sy_config_unref(NULL);
    assert_null(sy_config_ref(NULL));

    assert_string_equal(sy_engine_name(SY_ENGINE_VLLM), "vllm");
    assert_string_equal(sy_engine_name(SY_ENGINE_SGLANG), "sglang");
    assert_string_equal(sy_engine_name(SY_ENGINE_TRTLLM), "trtllm");
    assert_string_equal(sy_engine_name(SY_ENGINE_LLAMACPP), "llamacpp");
    assert_string_equal(sy_engine_name((enum sy_engine)42), "unknown");
    const char *names[] = {"vllm", "sglang", "trtllm", "llamacpp"};
    for (int i = 0; i < 4; i++) {
        enum sy_engine e;
        assert_int_equal(sy_engine_parse(names[i], &e), 0);
        assert_int_equal(e, i);
        char text[256];
        snprintf(text, sizeof text, BASE "  engine: %s\n", names[i]);
        c = load(text, err, sizeof err);
        assert_non_null(c);
        assert_int_equal(c->engine, i);
        sy_config_unref(c);
    }
    enum sy_engine e = SY_ENGINE_SGLANG;
    assert_int_equal(sy_engine_parse("tgi", &e), SY_EINVAL);
    assert_int_equal(sy_engine_parse(NULL, &e), SY_EINVAL);
    assert_int_equal(e, SY_ENGINE_SGLANG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),      cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_admin_and_nulls),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits_on_counts), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_scheduler_file),   cmocka_unit_test(test_refcount_and_engines),
        cmocka_unit_test(test_auth_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
