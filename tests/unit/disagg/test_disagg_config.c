/* Unit tests for src/disagg/disagg_config.c: pool.disaggregation defaults, values and the
 * FILE:LINE errors `--check` prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/yaml.h"
#include "core/err.h"
#include "disagg/disagg_config.h"

static int parse(const char *yaml, struct sy_disagg_config *c, char *err, size_t cap)
{
    struct sy_yaml_node *root = sy_yaml_load_string(yaml, strlen(yaml), "gw.yaml", err, cap);
    assert_non_null(root);
    int rc = sy_disagg_config_parse(sy_yaml_get(root, "d"), c, err, cap);
    sy_yaml_free(root);
    return rc;
}

static void test_defaults_and_values(void **state)
{
    struct sy_disagg_config c;
    char err[256];
    assert_int_equal(parse("d:\n", &c, err, sizeof err), 0);
    assert_int_equal(c.connector, SY_DISAGG_NIXLV2);
    assert_int_equal(c.prefill_max_attempts, 2);
    assert_int_equal(c.fallback, SY_DISAGG_FALLBACK_NONE);
    assert_true(c.prefill_timeout_ns == 60ULL * 1000000000);
    assert_int_equal(c.bootstrap_port, 8998);
    assert_string_equal(c.bootstrap_port_label, "switchyard.io/bootstrap-port");
    assert_int_equal(parse("d:\n  connector: sglang\n  prefillTimeout: 250ms\n"
                           "  prefillMaxAttempts: 5\n  fallback: decode-only\n"
                           "  bootstrapPort: 7000\n  bootstrapPortLabel: x/y\n",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(c.connector, SY_DISAGG_SGLANG);
    assert_true(c.prefill_timeout_ns == 250ULL * 1000000);
    assert_int_equal(c.prefill_max_attempts, 5);
    assert_int_equal(c.fallback, SY_DISAGG_FALLBACK_DECODE_ONLY);
    assert_int_equal(c.bootstrap_port, 7000);
    assert_string_equal(c.bootstrap_port_label, "x/y");
    assert_string_equal(sy_disagg_connector_name(SY_DISAGG_SIDECAR), "sidecar");
}

static void test_errors(void **state)
{
    struct sy_disagg_config c;
    char err[256];
    assert_int_equal(parse("d:\n  connector: mooncake\n", &c, err, sizeof err), SY_ECONFIG);
    assert_string_equal(err, "gw.yaml:2: pool.disaggregation.connector: expected nixlv2, sglang "
                             "or sidecar, got \"mooncake\"");
    assert_int_equal(parse("d:\n  prefillMaxAttempts: 0\n", &c, err, sizeof err), SY_ECONFIG);
    assert_string_equal(err, "gw.yaml:2: pool.disaggregation.prefillMaxAttempts: expected an "
                             "integer from 1 to 16, got \"0\"");
    assert_int_equal(parse("d:\n  prefillTimeout: soon\n", &c, err, sizeof err), SY_ECONFIG);
    assert_int_equal(parse("d:\n  fallback: yes\n", &c, err, sizeof err), SY_ECONFIG);
    assert_int_equal(parse("d:\n  bootstrapPort: 70000\n", &c, err, sizeof err), SY_ECONFIG);
    assert_int_equal(parse("d:\n\n  typo: 1\n", &c, err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "gw.yaml:3: pool.disaggregation.typo: unknown key"));
    assert_int_equal(parse("d: [1]\n", &c, err, sizeof err), SY_ECONFIG);
    assert_string_equal(err, "gw.yaml:1: pool.disaggregation: expected a mapping, got a sequence");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
