/* fuzz_flow_config.c - libFuzzer target for the flow-control configuration (src/flow/
 * flow_config.c): inferenceObjectives, featureGates, flowControl and the flow-control plugin
 * parameters, plus the quantity and duration parsers on the raw bytes.
 *
 * The input is YAML; its root is used both as the gateway file (inferenceObjectives) and as the
 * EndpointPickerConfig. Any input must yield a config or a "FILE:LINE: ..." error, never a crash,
 * a leak or a hang; a loaded config honours its invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/yaml.h"
#include "flow/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    uint64_t v;
    (void)sy_flow_parse_quantity(s, &v);
    (void)sy_flow_parse_duration(s, &v);

    char err[512] = "";
    struct sy_yaml_node *root =
        sy_yaml_load_string((const char *)data, size, "fuzz.yaml", err, sizeof err);
    if (!root)
        return 0;
    err[0] = '\0';
    struct sy_flow_config *c = sy_flow_config_new(sy_yaml_get(root, "inferenceObjectives"),
                                                  "fuzz.yaml", root, "fuzz.yaml", err, sizeof err);
    if (c) {
        if (c->nbands > SY_FLOW_MAX_BANDS || c->nobjectives > SY_FLOW_MAX_OBJECTIVES ||
            c->ttl_ns == 0 || c->no_endpoint_ttl_ns == 0 || c->band_default.max_requests == 0)
            abort();
        for (size_t i = 1; i < c->nobjectives; i++)
            if (strcmp(c->objectives[i - 1].name, c->objectives[i].name) >= 0)
                abort(); /* sorted, unique: lookups are binary searches */
        sy_flow_config_free(c);
    } else if (strncmp(err, "fuzz.yaml:", 10) != 0) {
        abort(); /* every failure explains itself, with its place */
    }
    sy_yaml_free(root);
    return 0;
}
