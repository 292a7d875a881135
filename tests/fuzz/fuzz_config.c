/* fuzz_config.c - libFuzzer target for the config loader (src/config/config.c and yaml.c).
 *
 * Feeds arbitrary bytes to sy_config_load_string: libyaml parsing, the tree checks (depth, alias
 * expansion, duplicate keys) and every validator. Any input must yield a config or an error
 * message of the documented shape, never a crash, a leak or a hang. The name has no directory, so
 * a schedulerFile in the input resolves against the working directory; reads are bounded (regular
 * files only, at most SY_YAML_MAX_BYTES).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    struct sy_config *c =
        sy_config_load_string((const char *)data, size, "fuzz.yaml", err, sizeof err);
    if (c) {
        /* a loaded config honours its invariants */
        if (c->nendpoints == 0 || c->nendpoints > SY_CONFIG_MAX_ENDPOINTS || !c->root ||
            c->max_retries < 1 || c->scrape_interval_ns >= c->staleness_ns)
            abort();
        sy_config_unref(sy_config_ref(c));
        sy_config_unref(c);
    } else if (err[0] == '\0') {
        abort(); /* every failure explains itself */
    }
    return 0;
}
