/* pick_helpers.h - drives a picker over fixed totals many times and counts the winners. */
#ifndef SY_TEST_PICK_HELPERS_H
#define SY_TEST_PICK_HELPERS_H

#include "unit/sched/sched_helpers.h"

/* Runs `rounds` picks of type over n candidates with totals; counts[i] = times i won. */
static inline void fx_pick_counts(const char *type, const double *totals, size_t n, int rounds,
                                  int *counts)
{
    struct sy_endpoint *eps[16];
    for (size_t i = 0; i < n; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "e%zu:1", i);
        eps[i] = fx_ep(addr, NULL, 0, 0, 0);
    }
    struct sy_pool *p = fx_pool(eps, n);
    struct sy_sched_candidate c[16];
    fx_cands(p, c);
    struct fx_plugin fp;
    char err[256];
    assert_int_equal(fx_plugin_new(&fp, type, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    for (int r = 0; r < rounds; r++) {
        struct sy_sched_cycle cy;
        fx_cycle(&cy, NULL, p, 0x1234567ULL * (uint64_t)(r + 1) + 99);
        size_t k = fp.ops->pick(fp.state, &cy, c, n, totals);
        assert_true(k < n);
        counts[k]++;
    }
    fx_plugin_free(&fp);
    sy_pool_unref(p);
}

#endif
