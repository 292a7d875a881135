/* Unit tests for multi-port pool entries (src/config/config.c: host + targetPorts + supervisorPort,
 * docs/wide-ep.md): expansion into one endpoint per port with shared labels, per-rank KV-event
 * ports, and every refusal with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static struct sy_config *load(const char *text, char *err, size_t errcap)
{
    return sy_config_load_string(text, strlen(text), "gw.yaml", err, errcap);
}

#define HEAD "listen: 127.0.0.1:8080\npool:\n  endpoints:\n" /* entries start on line 4 */

static void test_expands_ranks(void **state)
{
    const char *text = HEAD "    - address: 10.0.0.9:9000\n"
                            "    - host: 10.0.0.1\n"
                            "      targetPorts: [8000, 8001, 8002, 8003]\n"
                            "      supervisorPort: 8008\n"
                            "      kvEvents: tcp://10.0.0.1:5557\n"
                            "      labels: { llm-d.ai/role: decode }\n"
                            "    - host: \"fd00::2\"\n"
                            "      targetPorts: [8200, 8201]\n";
    char err[512] = "";
    struct sy_config *c = load(text, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->nendpoints, 7);
    assert_string_equal(c->endpoints[0].address, "10.0.0.9:9000");
    assert_int_equal(c->endpoints[0].rank, -1);
    assert_int_equal(c->endpoints[0].supervisor_port, 0);
    for (int r = 0; r < 4; r++) {
        const struct sy_endpoint_config *e = &c->endpoints[1 + r];
        char want[64];
        snprintf(want, sizeof want, "10.0.0.1:%d", 8000 + r);
        assert_string_equal(e->address, want);
        assert_string_equal(e->host, "10.0.0.1");
        assert_int_equal(e->port, 8000 + r);
        assert_int_equal(e->rank, r);
        assert_int_equal(e->supervisor_port, 8008);
        snprintf(want, sizeof want, "tcp://10.0.0.1:%d", 5557 + r);
        assert_string_equal(e->kv_events, want);
        assert_int_equal(e->nlabels, 1);
        assert_string_equal(e->labels[0].key, "llm-d.ai/role");
        assert_string_equal(e->labels[0].value, "decode");
        assert_int_equal(e->line, 5);
    }
    assert_string_equal(c->endpoints[5].address, "[fd00::2]:8200");
    assert_string_equal(c->endpoints[6].address, "[fd00::2]:8201");
    assert_int_equal(c->endpoints[6].rank, 1);
    assert_null(c->endpoints[6].kv_events);
    sy_config_unref(c);
}

static const struct {
    const char *text, *err;
} errors[] = {
    {HEAD "    - host: 10.0.0.1\n",
     "gw.yaml:4: pool.endpoints[0].targetPorts: missing required key (a multi-port entry needs "
     "host and targetPorts)"},
    {HEAD "    - targetPorts: [1, 2]\n",
     "gw.yaml:4: pool.endpoints[0].host: missing required key (a multi-port entry needs host "
     "and targetPorts)"},
    {HEAD "    - host: 10.0.0.1:80\n      targetPorts: [1]\n",
     "gw.yaml:4: pool.endpoints[0].host: give the host alone; its ports go in targetPorts"},
    {HEAD "    - host: h\n      targetPorts: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
     "gw.yaml:5: pool.endpoints[0].targetPorts: too many ports (9; an InferencePool allows 8)"},
    {HEAD "    - host: h\n      targetPorts: [8000, 8000]\n",
     "gw.yaml:5: pool.endpoints[0].targetPorts[1]: port 8000 is listed twice"},
    {HEAD "    - host: h\n      targetPorts: [0]\n",
     "gw.yaml:5: pool.endpoints[0].targetPorts[0]: expected an integer from 1 to 65535, got \"0\""},
    {HEAD "    - host: h\n      targetPorts: []\n",
     "gw.yaml:5: pool.endpoints[0].targetPorts: expected a list of 1 to 8 ports, got a sequence"},
    {HEAD "    - host: h\n      targetPorts: [8000, 8001]\n      supervisorPort: 8001\n",
     "gw.yaml:6: pool.endpoints[0].supervisorPort: 8001 is also a target port (vLLM refuses "
     "that too)"},
    {HEAD "    - address: h:1\n      supervisorPort: 8008\n",
     "gw.yaml:4: pool.endpoints[0].address: give either address, or host with targetPorts (a "
     "multi-port entry)"},
    {HEAD "    - supervisorPort: 8008\n",
     "gw.yaml:4: pool.endpoints[0].supervisorPort: belongs to a multi-port entry (host with "
     "targetPorts)"},
    {HEAD "    - address: h:1\n      host: h\n",
     "gw.yaml:4: pool.endpoints[0].address: give either address, or host with targetPorts (a "
     "multi-port entry)"},
    {HEAD "    - address: h:8001\n    - host: h\n      targetPorts: [8000, 8001]\n",
     "gw.yaml:6: pool.endpoints[1].address: duplicate endpoint h:8001 (also at line 4)"},
    {HEAD "    - host: h\n      targetPorts: [1, 2]\n      kvEvents: tcp://h:65535\n",
     "gw.yaml:6: pool.endpoints[0].kvEvents: port 65535 + 1 ranks is past 65535"},
};

static void test_errors(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        char err[512] = "";
        struct sy_config *c = load(errors[i].text, err, sizeof err);
        if (c)
            fail_msg("case %zu loaded; expected %s", i, errors[i].err);
        if (strcmp(err, errors[i].err))
            print_error("case %zu:\n  got  %s\n  want %s\n", i, err, errors[i].err), bad++;
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_expands_ranks),
                                       cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
