/* bench_median.h - the timing loop the body benchmarks share (anthropic_bench.c,
 * json_scan_bench.c): the median wall time of one call of fn on a body, after three warm calls
 * that must accept it. Header-only: each benchmark is one translation unit linked against the
 * library (Makefile: $(BUILD)/%_bench).
 */
#ifndef SY_BENCH_MEDIAN_H
#define SY_BENCH_MEDIAN_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int body_fn(const char *body, size_t len); /* nonzero when the body was accepted */

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exits with "body refused" when a warm call refuses the body; aborts if a timed one does. */
static inline double median_ns(body_fn *fn, const char *body, size_t len, int iters)
{
    double *t = malloc(sizeof *t * (size_t)iters);
    if (!t)
        abort();
    for (int i = 0; i < 3; i++) /* warm */
        if (!fn(body, len)) {
            fprintf(stderr, "body refused\n");
            exit(1);
        }
    for (int i = 0; i < iters; i++) {
        double t0 = bench_now_ns();
        if (!fn(body, len))
            abort();
        t[i] = bench_now_ns() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, bench_cmp_double);
    double m = t[iters / 2];
    free(t);
    return m;
}

#endif
