/* slo.c - parsing of the SLO headers (slo.h).
 *
 * llm-d's predicted-latency producer reads x-slo-ttft-ms and x-slo-tpot-ms (the router also the
 * x-llm-d-slo-* spellings) and treats an unparsable value as no objective. Switchyard is stricter
 * on purpose: a client that sends an objective wants it honoured, so a malformed or negative one
 * is a 400 rather than silently ignored. An absurd one (above an hour) is clamped to an hour and
 * counted, since it can only mean "no objective" and rejecting it would break clients that send a
 * large sentinel.
 */
#include "latency/slo.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static _Atomic uint64_t clamped;

uint64_t sy_slo_clamped_total(void)
{
    return atomic_load_explicit(&clamped, memory_order_relaxed);
}

/* Parses one header; *out untouched when absent. */
static int one(const struct sy_request *req, const char *name, double *out, char *err,
               size_t errcap)
{
    struct sy_str v;
    if (!sy_request_header(req, name, &v))
        return 0;
    char buf[64];
    size_t n = v.len;
    while (n > 0 && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
        n--;
    size_t s = 0;
    while (s < n && (v.p[s] == ' ' || v.p[s] == '\t'))
        s++;
    bool ok = n - s > 0 && n - s < sizeof buf;
    double d = 0;
    if (ok) {
        memcpy(buf, v.p + s, n - s);
        buf[n - s] = '\0';
        for (size_t i = 0; buf[i]; i++) /* digits, one dot, exponent: no hex, inf or nan */
            if (!strchr("0123456789.eE+-", buf[i]))
                ok = false;
        char *end;
        errno = 0;
        d = ok ? strtod(buf, &end) : 0;
        ok = ok && *end == '\0' && !isnan(d);
    }
    if (!ok || d < 0) {
        snprintf(err, errcap, "%s: must be a non-negative number of milliseconds", name);
        return SY_EINVAL;
    }
    if (d > SY_SLO_MAX_MS || isinf(d)) {
        d = SY_SLO_MAX_MS;
        atomic_fetch_add_explicit(&clamped, 1, memory_order_relaxed);
    }
    *out = d;
    return 0;
}

int sy_slo_parse(struct sy_request *req, char *err, size_t errcap)
{
    double ttft = 0, tpot = 0;
    /* the router's canonical x-llm-d-* spelling is read last and wins, as in flow control */
    int rc = one(req, "x-slo-ttft-ms", &ttft, err, errcap);
    if (!rc)
        rc = one(req, "x-llm-d-slo-ttft-ms", &ttft, err, errcap);
    if (!rc)
        rc = one(req, "x-slo-tpot-ms", &tpot, err, errcap);
    if (!rc)
        rc = one(req, "x-llm-d-slo-tpot-ms", &tpot, err, errcap);
    if (rc)
        return rc;
    req->slo_ttft_ms = ttft;
    req->slo_tpot_ms = tpot;
    return 0;
}
