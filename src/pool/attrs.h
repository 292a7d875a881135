/* attrs.h - numeric endpoint attributes read from each endpoint's /metrics scrape (llm-d's
 * ScalarMetricValue endpoint attributes, read by endpoint-attribute-filter and -scorer).
 *
 * An attribute is named by a Prometheus selector, `metric_name` or `metric_name{label=value,...}`
 * (values quoted or not, as llm-d's metricSpec). Plugins register the selectors they read when
 * they are created; the scraper then records, for every endpoint and every registered selector,
 * the sum of the matching samples of its last successful scrape (absent when none matched).
 * The registry is process-wide and append-only (a reloaded config re-registers the same names),
 * bounded by SY_ATTR_MAX.
 */
#ifndef SY_POOL_ATTRS_H
#define SY_POOL_ATTRS_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/pool.h"

/* Registers selector (copied) and returns its slot, or -1 with a reason in err (malformed, or
 * the registry is full). Registering the same text again returns the same slot. Thread-safe. */
int sy_attr_register(const char *selector, char *err, size_t errcap);
/* Records every registered attribute of e from one /metrics body. Called by the scraper after a
 * successful scrape. */
void sy_attr_scrape(struct sy_endpoint *e, const char *text, size_t len);
/* The attribute in slot of e: true and *v when the last scrape had it. Lock-free. */
bool sy_endpoint_attr(const struct sy_endpoint *e, int slot, double *v);
/* Sets or clears one attribute of e (tests and the scraper). */
void sy_endpoint_set_attr(struct sy_endpoint *e, int slot, double v, bool present);

#endif
