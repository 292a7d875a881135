/* Unit tests for src/sched/params.c's fallback readers: sy_param_int_or_default and
 * sy_param_double_or_default take a value below its useful range as the default, with the one
 * shared warning naming the key and the plugin instance, and still refuse what sy_param_int and
 * sy_param_double refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "sched/params.h"
#include "unit/sched/sched_helpers.h"

static const struct sy_plugin_env env = {
    .file = "epp.yaml", .line = 4, .name = "lru", .path = "plugins[2]"};

/* Reads key from params (YAML text, NULL: none) with sy_param_int_or_default(min -100, max 100,
 * least 1, default 7), *out starting at 99; what it logged goes to log. */
static int read_int(const char *params, int64_t *out, char *log, size_t logcap, char *err,
                    size_t errcap)
{
    struct sy_yaml_node *root = NULL;
    if (params) {
        root = sy_yaml_load_string(params, strlen(params), "epp.yaml", err, errcap);
        assert_non_null(root);
    }
    *out = 99;
    struct fx_capture c;
    fx_capture_begin(&c);
    int rc = sy_param_int_or_default(root, "n", &env, -100, 100, 1, 7, out, err, errcap);
    fx_capture_text(&c, log, logcap);
    sy_yaml_free(root);
    return rc;
}

static void test_int_or_default(void **state)
{
    (void)state;
    int64_t v;
    char log[512], err[256];
    /* absent (or null): untouched, nothing logged */
    assert_int_equal(read_int(NULL, &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 99);
    assert_string_equal(log, "");
    assert_int_equal(read_int("n: null\n", &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 99);
    assert_string_equal(log, "");
    /* at or above least: the value, nothing logged */
    assert_int_equal(read_int("n: 1\n", &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 1);
    assert_string_equal(log, "");
    assert_int_equal(read_int("x: 1\nn: 100\n", &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 100);
    /* below least but in range: the default, one warning at the value's line */
    assert_int_equal(read_int("x: 1\nn: 0\n", &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_non_null(strstr(log, "epp.yaml:2: plugins[2].parameters.n: 0 should be at least 1, "
                                "using the default 7 (plugin 'lru')\n"));
    assert_null(strchr(strchr(log, '\n') + 1, '\n'));
    assert_int_equal(read_int("n: -100\n", &v, log, sizeof log, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_non_null(strstr(log, "-100 should be at least 1"));
    /* out of [min, max] or not an integer: refused as sy_param_int refuses it, nothing logged */
    assert_int_equal(read_int("n: -101\n", &v, log, sizeof log, err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "plugins[2].parameters.n: -101 is out of range [-100, 100]"));
    assert_int_equal(v, 99);
    assert_string_equal(log, "");
    assert_int_equal(read_int("n: 101\n", &v, log, sizeof log, err, sizeof err), SY_ECONFIG);
    assert_int_equal(read_int("n: 1.5\n", &v, log, sizeof log, err, sizeof err), SY_ECONFIG);
    assert_non_null(strstr(err, "expected an integer"));
    assert_int_equal(v, 99);
}

static void test_double_or_default(void **state)
{
    (void)state;
    char err[256];
    const char *const texts[] = {"s: 0.25\n", "s: 0\n",   "s: 1\n",   "s: 1.5\n",
                                 "s: -0.5\n", "s: nan\n", "s: many\n"};
    const double want[] = {0.25, 0, 1, 0.5, 0.5, 0, 0};
    const char *const warned[] = {NULL,
                                  NULL,
                                  NULL,
                                  "epp.yaml:1: plugins[2].parameters.s: 1.5 should be in [0, 1], "
                                  "using the default 0.5 (plugin 'lru')",
                                  "-0.5 should be in [0, 1], using the default 0.5",
                                  NULL,
                                  NULL};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct sy_yaml_node *root =
            sy_yaml_load_string(texts[i], strlen(texts[i]), "epp.yaml", err, sizeof err);
        assert_non_null(root);
        double v = -1;
        char log[512];
        struct fx_capture c;
        fx_capture_begin(&c);
        int rc = sy_param_double_or_default(root, "s", &env, 0, 1, 0.5, &v, err, sizeof err);
        fx_capture_text(&c, log, sizeof log);
        sy_yaml_free(root);
        if (i >= 5) { /* not a finite number: refused, untouched */
            assert_int_equal(rc, SY_ECONFIG);
            assert_non_null(strstr(err, "expected a number"));
            assert_float_equal(v, -1, FX_EPS);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_float_equal(v, want[i], FX_EPS);
        if (warned[i])
            assert_non_null(strstr(log, warned[i]));
        else
            assert_string_equal(log, "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_or_default),
        cmocka_unit_test(test_double_or_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
