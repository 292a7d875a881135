/* metrics.h - a Prometheus metrics registry: counters, gauges and histograms with labels, rendered
 * in the text exposition format (0.0.4) for GET /metrics.
 *
 * A family has a name, help text, type and label names; children (one per label-value tuple) are
 * created on first use and never freed until the registry is. Updates are lock-free atomics on
 * the child; creating a child takes the family's mutex. Callers on hot paths look a child up once
 * and keep the pointer. Collectors are callbacks that append whole families at render time (for
 * values computed from other state, like pool averages).
 *
 * Bounds: a family keeps at most 4096 label tuples; beyond that, new tuples share one series whose
 * label values all read "other" (label values may come from clients). Counters ignore negative
 * and NaN increments; histograms ignore NaN observations. Misuse found at registration (bad name,
 * same name with another type or labels, unsorted buckets) aborts: it is a programming error.
 * Families render in registration order, their series in creation order, collectors last.
 */
#ifndef SY_METRICS_METRICS_H
#define SY_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct sy_buf;
struct sy_metrics;
struct sy_metric_family;
struct sy_metric; /* one child: a counter, gauge or histogram series */

enum sy_metric_type {
    SY_METRIC_COUNTER,  /* monotonically increasing */
    SY_METRIC_GAUGE,    /* goes up and down */
    SY_METRIC_HISTOGRAM /* cumulative buckets + sum + count */
};

#define SY_METRICS_MAX_LABELS  8  /* labels per family */
#define SY_METRICS_MAX_BUCKETS 40 /* histogram buckets (excluding +Inf); llm-d latency has 35 */

struct sy_metrics *sy_metrics_new(void);
void sy_metrics_free(struct sy_metrics *m);

/* Registers a family. label_names is NULL-terminated (or NULL for none); buckets (ascending upper
 * bounds, histograms only) has nbuckets entries. Names are copied. Returns a registry-owned
 * family; registering the same name twice returns the existing family. */
struct sy_metric_family *sy_metrics_family(struct sy_metrics *m, const char *name, const char *help,
                                           enum sy_metric_type type, const char *const *label_names,
                                           const double *buckets, size_t nbuckets);
/* The child for these label values (count must match the family's label names). Registry-owned,
 * stable pointer. Values are copied. */
struct sy_metric *sy_metric_get(struct sy_metric_family *f, const char *const *label_values);

void sy_metric_inc(struct sy_metric *c);               /* counter/gauge += 1 */
void sy_metric_add(struct sy_metric *c, double v);     /* counter/gauge += v (counters: v >= 0) */
void sy_metric_set(struct sy_metric *c, double v);     /* gauge = v */
void sy_metric_observe(struct sy_metric *h, double v); /* histogram sample */

/* A collector appends complete families (with # HELP and # TYPE lines) to out at render time. */
typedef void sy_metrics_collect_fn(void *ud, struct sy_buf *out);
void sy_metrics_add_collector(struct sy_metrics *m, sy_metrics_collect_fn *fn, void *ud);

/* Renders every family and collector in the text exposition format. */
void sy_metrics_render(struct sy_metrics *m, struct sy_buf *out);

/* Standard bucket layouts. */
extern const double sy_buckets_latency[]; /* seconds: 0.005 .. 3600, llm-d's request buckets */
extern const size_t sy_buckets_latency_n;
extern const double sy_buckets_fast[]; /* seconds: 1e-5 .. 1, for scheduler/plugin timing */
extern const size_t sy_buckets_fast_n;
extern const double sy_buckets_tokens[]; /* token counts: 1 .. 131072 (powers of two) */
extern const size_t sy_buckets_tokens_n;

#endif
