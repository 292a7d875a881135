/* disagg_config.h - `pool.disaggregation`: how the gateway runs the P/D exchange for a pool.
 *
 *   pool:
 *     disaggregation:
 *       connector: nixlv2          # nixlv2 (default) | sglang | sidecar
 *       prefillTimeout: 60s        # response deadline of one prefill leg
 *       prefillMaxAttempts: 2      # prefill endpoints tried per exchange (1..16)
 *       fallback: none             # none (default) | decode-only
 *       bootstrapPortLabel: switchyard.io/bootstrap-port   # sglang: label on prefill endpoints
 *       bootstrapPort: 8998        # sglang: port when the label is absent
 *
 * Plain data with defaults; config.c calls sy_disagg_config_parse from its pool section, so
 * `--check` reports mistakes as "FILE:LINE: pool.disaggregation.KEY: reason".
 */
#ifndef SY_DISAGG_DISAGG_CONFIG_H
#define SY_DISAGG_DISAGG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config/yaml.h"

enum sy_disagg_connector_kind {
    SY_DISAGG_NIXLV2,  /* vLLM NixlConnector: prefill leg, then decode with kv_transfer_params */
    SY_DISAGG_SGLANG,  /* SGLang bootstrap: the same body to prefill and decode at once */
    SY_DISAGG_SIDECAR, /* llm-d routing sidecar: decode only, x-prefiller-host-port */
};

enum sy_disagg_fallback {
    SY_DISAGG_FALLBACK_NONE,       /* a broken prefill leg is an error for the client */
    SY_DISAGG_FALLBACK_DECODE_ONLY /* send the original request to the decode endpoint */
};

struct sy_disagg_config {
    enum sy_disagg_connector_kind connector; /* connector */
    uint64_t prefill_timeout_ns;             /* prefillTimeout, default 60s */
    int prefill_max_attempts;                /* prefillMaxAttempts, default 2 */
    enum sy_disagg_fallback fallback;        /* fallback, default none */
    char bootstrap_port_label[128];          /* bootstrapPortLabel */
    uint16_t bootstrap_port;                 /* bootstrapPort, default 8998 */
};

#define SY_DISAGG_MAX_ATTEMPTS 16 /* largest prefillMaxAttempts */

void sy_disagg_config_defaults(struct sy_disagg_config *c);
/* Parses the pool.disaggregation mapping n into c (defaults first). Returns 0 or SY_ECONFIG with
 * "FILE:LINE: pool.disaggregation.KEY: reason" in err. */
int sy_disagg_config_parse(const struct sy_yaml_node *n, struct sy_disagg_config *c, char *err,
                           size_t errcap);
/* "nixlv2", "sglang", "sidecar" (static). */
const char *sy_disagg_connector_name(enum sy_disagg_connector_kind k);

#endif
