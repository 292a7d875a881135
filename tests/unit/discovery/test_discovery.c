/* Unit tests for src/discovery: merging static and discovered endpoints, config checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "discovery/discovery.h"

static struct sy_config *load(const char *text, char *err)
{
    return sy_config_load_string(text, strlen(text), "t.yaml", err, 512);
}

static void test_merge_keeps_static_and_drops_duplicates(void **state)
{
    (void)state;
    char err[512];
    struct sy_config *cfg = load("listen: 127.0.0.1:1\npool:\n  endpoints:\n"
                                 "    - address: 10.0.0.1:8000\n"
                                 "      labels: {llm-d.ai/role: prefill}\n",
                                 err);
    assert_non_null(cfg);
    struct sy_label l = {"llm-d.ai/role", "decode"};
    struct sy_endpoint_config disc[2] = {
        {.address = "10.0.0.1:8000", .host = "10.0.0.1", .port = 8000, .labels = &l, .nlabels = 1},
        {.address = "10.0.0.2:8000", .host = "10.0.0.2", .port = 8000, .labels = &l, .nlabels = 1},
    };
    size_t n;
    struct sy_endpoint_config *all = sy_discovery_merge(cfg, disc, 2, &n);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].address, "10.0.0.1:8000");
    assert_string_equal(all[0].labels[0].value, "prefill"); /* the static entry wins */
    assert_string_equal(all[1].address, "10.0.0.2:8000");
    assert_string_equal(all[1].labels[0].value, "decode");
    assert_ptr_not_equal(all[1].labels, disc[1].labels); /* deep copies */
    sy_discovery_free_eps(all, n);
    sy_config_unref(cfg);
}

static void test_discovery_without_static_endpoints_loads(void **state)
{
    (void)state;
    char err[512];
    struct sy_config *cfg = load("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns:\n"
                                 "      name: vllm.test\n      port: 8000\n",
                                 err);
    assert_non_null(cfg);
    assert_int_equal(cfg->nendpoints, 0);
    assert_true(sy_discovery_configured(cfg));
    assert_int_equal(sy_discovery_check(cfg, err, sizeof err), 0);
    sy_config_unref(cfg);
    /* without discovery an empty pool is still an error */
    cfg = load("listen: 127.0.0.1:1\npool:\n  engine: vllm\n", err);
    assert_null(cfg);
    assert_non_null(strstr(err, "at least one endpoint is required"));
    /* both kinds at once */
    cfg = load("listen: 127.0.0.1:1\npool:\n  discovery:\n    dns: {name: a, port: 1}\n"
               "    kubernetes: {selector: {a: b}, targetPorts: [1]}\n",
               err);
    assert_non_null(cfg);
    assert_int_not_equal(sy_discovery_check(cfg, err, sizeof err), 0);
    assert_non_null(strstr(err, "set dns or kubernetes, not both"));
    sy_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_keeps_static_and_drops_duplicates),
        cmocka_unit_test(test_discovery_without_static_endpoints_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
