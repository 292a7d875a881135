/* Unit tests for src/core/log.c: the configuration's logLevel across reloads, and a level pinned
 * by --log-level outranking it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"

static void test_config_level_and_pin(void **state)
{
    assert_false(sy_log_level_pinned());
    assert_int_equal(sy_log_get_level(), SY_LOG_INFO);
    sy_log_config_level("debug");
    assert_int_equal(sy_log_get_level(), SY_LOG_DEBUG);
    /* a reloaded config without logLevel goes back to the default */
    sy_log_config_level(NULL);
    assert_int_equal(sy_log_get_level(), SY_LOG_INFO);
    sy_log_config_level("error");
    assert_int_equal(sy_log_get_level(), SY_LOG_ERROR);
    /* an unknown name (the loader refuses it first) changes nothing */
    sy_log_config_level("loud");
    assert_int_equal(sy_log_get_level(), SY_LOG_ERROR);

    /* pinned: neither a level nor its absence changes it */
    sy_log_pin_level(SY_LOG_WARN);
    assert_true(sy_log_level_pinned());
    sy_log_config_level("debug");
    assert_int_equal(sy_log_get_level(), SY_LOG_WARN);
    sy_log_config_level(NULL);
    assert_int_equal(sy_log_get_level(), SY_LOG_WARN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_level_and_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
