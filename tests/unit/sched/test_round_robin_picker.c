/* Unit tests for src/sched/round_robin_picker.c: strict cycling, thread-safe cursor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "unit/sched/pick_helpers.h"

static void test_cycles(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 3);
    struct sy_sched_candidate c[3];
    fx_cands(p, c);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "round-robin-picker", NULL, err, sizeof err), 0);
    double t[] = {0, 9, 0};
    struct sy_sched_cycle cy;
    fx_cycle(&cy, NULL, p, 1);
    size_t want[] = {0, 1, 2, 0, 1, 2, 0};
    for (int i = 0; i < 7; i++)
        assert_int_equal(fp.ops->pick(fp.state, &cy, c, 3, t), want[i]);
    fx_plugin_free(&fp);
    sy_pool_unref(p);
    assert_int_not_equal(fx_plugin_new(&fp, "round-robin-picker", "start: 1\n", err, sizeof err),
                         0);
}

struct thr {
    struct fx_plugin *fp;
    struct sy_sched_candidate *c;
    int counts[4];
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    double tot[4] = {0};
    struct sy_sched_cycle cy;
    memset(&cy, 0, sizeof cy);
    for (int i = 0; i < 10000; i++)
        t->counts[t->fp->ops->pick(t->fp->state, &cy, t->c, 4, tot)]++;
    return NULL;
}

static void test_threads_share_cursor(void **state)
{
    struct sy_endpoint *eps[] = {fx_ep("a:1", NULL, 0, 0, 0), fx_ep("b:1", NULL, 0, 0, 0),
                                 fx_ep("c:1", NULL, 0, 0, 0), fx_ep("d:1", NULL, 0, 0, 0)};
    struct sy_pool *p = fx_pool(eps, 4);
    struct sy_sched_candidate c[4];
    fx_cands(p, c);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, "round-robin-picker", NULL, err, sizeof err), 0);
    pthread_t th[4];
    struct thr ts[4];
    memset(ts, 0, sizeof ts);
    for (int i = 0; i < 4; i++) {
        ts[i].fp = &fp;
        ts[i].c = c;
        pthread_create(&th[i], NULL, worker, &ts[i]);
    }
    int total[4] = {0};
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < 4; k++)
            total[k] += ts[i].counts[k];
    }
    for (int k = 0; k < 4; k++)
        assert_int_equal(total[k], 10000); /* 40000 picks, exactly a quarter each */
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_threads_share_cursor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
