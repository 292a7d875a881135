/* fuzz_config.c - libFuzzer target for the config loader (src/config/config.c and yaml.c).
 *
 * Feeds arbitrary bytes to sy_config_load_string: libyaml parsing, the tree checks (depth, alias
 * expansion, duplicate keys) and every validator. Any input must yield a config or an error
 * message of the documented shape, never a crash, a leak or a hang. The name has no directory, so
 * a schedulerFile in the input resolves against the working directory; reads are bounded (regular
 * files only, at most SY_YAML_MAX_BYTES). pool.discovery is validated too (sy_discovery_check, what
 * --check runs); nothing is started, so no lookup leaves the process.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"
#include "discovery/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    struct sy_config *c =
        sy_config_load_string((const char *)data, size, "fuzz.yaml", err, sizeof err);
    if (c) {
        /* a loaded config honours its invariants; no static endpoint is valid only when
         * pool.discovery supplies them (then its own check runs, as --check runs it) */
        if ((c->nendpoints == 0 && !sy_discovery_configured(c)) ||
            c->nendpoints > SY_CONFIG_MAX_ENDPOINTS || !c->root || c->max_retries < 1 ||
            c->scrape_interval_ns >= c->staleness_ns)
            abort();
        err[0] = '\0';
        if (sy_discovery_check(c, err, sizeof err) != 0 && err[0] == '\0')
            abort(); /* a refused discovery section explains itself too */
        sy_config_unref(sy_config_ref(c));
        sy_config_unref(c);
    } else if (err[0] == '\0') {
        abort(); /* every failure explains itself */
    }
    return 0;
}
