/* slo.h - per-request latency objectives from headers (llm-d: x-slo-ttft-ms, x-slo-tpot-ms and the
 * router's x-llm-d-slo-ttft-ms / x-llm-d-slo-tpot-ms twins). */
#ifndef SY_LATENCY_SLO_H
#define SY_LATENCY_SLO_H

#include <stddef.h>
#include <stdint.h>

#include "api/request.h"

#define SY_SLO_MAX_MS 3600000.0 /* larger objectives are clamped to one hour and counted */

/* Reads the SLO headers of req into req->slo_ttft_ms / req->slo_tpot_ms (0 = none). A header
 * that is not a finite non-negative decimal number is an error: returns SY_EINVAL with a message
 * in err (the gateway answers 400). Values above SY_SLO_MAX_MS are clamped and counted. When both
 * twins are present, x-llm-d-slo-* wins (as in flow control's classification). */
int sy_slo_parse(struct sy_request *req, char *err, size_t errcap);

/* Objectives clamped since start (process-wide). */
uint64_t sy_slo_clamped_total(void);

#endif
