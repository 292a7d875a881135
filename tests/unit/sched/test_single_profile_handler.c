/* Unit tests for src/sched/single_profile_handler.c: a profile handler with no parameters that
 * runs exactly one profile (loader-enforced), injected when a config has one profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static void test_ops_and_loader(void **state)
{
    const struct sy_plugin_ops *o = sy_sched__registry_find("single-profile-handler");
    assert_non_null(o);
    assert_true(o->profile_handler);
    assert_null(o->filter);
    assert_null(o->score);
    assert_null(o->pick);
    char err[512];
    struct sy_scheduler *s = fx_sched("plugins:\n- type: single-profile-handler\n"
                                      "  parameters: {profile: x}\n",
                                      err, sizeof err);
    assert_null(s);
    assert_string_equal(err, "epp.yaml:3: plugins[0].parameters: plugin type "
                             "single-profile-handler takes no parameters (plugin "
                             "'single-profile-handler')");
    s = fx_sched("plugins:\n- name: h\n  type: single-profile-handler\n- type: queue-scorer\n", err,
                 sizeof err);
    assert_non_null(s);
    assert_string_equal(s->handler->name, "h");
    assert_false(s->handler->injected);
    /* it runs the (only) profile: a pick works */
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 1);
    struct sy_request r;
    fx_req(&r, "m", 1);
    struct sy_sched_result res;
    assert_int_equal(sy_sched_pick(s, p, &r, NULL, 0, &res), 0);
    sy_sched_done(s, &res, true);
    sy_sched_free(s);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ops_and_loader)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
