/* Unit tests for src/sched/lora_affinity_scorer.c: 1.0 active, 0.8 capacity, 0.6 waiting, 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

static struct sy_endpoint *lora_ep(const char *addr, const char *running, const char *waiting,
                                   int64_t max)
{
    struct sy_endpoint *e = fx_ep(addr, NULL, 0, 0, 0);
    struct sy_engine_metrics m = e->m;
    snprintf(m.running_loras, sizeof m.running_loras, "%s", running);
    snprintf(m.waiting_loras, sizeof m.waiting_loras, "%s", waiting);
    m.max_lora = max;
    sy_endpoint_set_metrics(e, &m, 2);
    return e;
}

static void test_tiers(void **state)
{
    struct sy_endpoint *eps[] = {lora_ep("a:1", "adapterB, adapterA", "", 4),
                                 lora_ep("b:1", "x", "", 4),
                                 lora_ep("c:1", "x,y", "adapterA", 2),
                                 lora_ep("d:1", "x,y", "", 2),
                                 lora_ep("e:1", "", "", -1),
                                 lora_ep("f:1", "adapterAA", "", 1)};
    struct sy_pool *p = fx_pool(eps, 6);
    struct sy_sched_candidate c[6];
    fx_cands(p, c);
    struct sy_request r;
    fx_req(&r, "adapterA", 10);
    struct sy_sched_cycle cy;
    fx_cycle(&cy, &r, p, 1);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "lora-affinity-scorer", NULL, err, sizeof err), 0);
    double s[6];
    fp.ops->score(fp.state, &cy, c, 6, s);
    assert_float_equal(s[0], 1.0, FX_EPS);
    assert_float_equal(s[1], 0.8, FX_EPS);
    assert_float_equal(s[2], 0.6, FX_EPS);
    assert_float_equal(s[3], 0.0, FX_EPS);
    assert_float_equal(s[4], 0.0, FX_EPS); /* capacity unknown */
    assert_float_equal(s[5], 0.0, FX_EPS); /* a different adapter with a common prefix, full */
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
