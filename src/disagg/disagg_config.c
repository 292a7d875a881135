/* disagg_config.c - parses `pool.disaggregation` (see disagg_config.h and docs/config.md).
 *
 * Strict like the rest of the config: unknown keys, bad values and out-of-range numbers are
 * errors naming the file, line and dotted key. A null value (`key:`) keeps the default.
 */
#include "disagg/disagg_config.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"

#define PATH "pool.disaggregation"

void sy_disagg_config_defaults(struct sy_disagg_config *c)
{
    memset(c, 0, sizeof *c);
    c->connector = SY_DISAGG_NIXLV2;
    c->prefill_timeout_ns = 60ULL * 1000000000;
    c->prefill_max_attempts = 2;
    c->fallback = SY_DISAGG_FALLBACK_NONE;
    snprintf(c->bootstrap_port_label, sizeof c->bootstrap_port_label,
             "switchyard.io/bootstrap-port");
    c->bootstrap_port = 8998;
}

const char *sy_disagg_connector_name(enum sy_disagg_connector_kind k)
{
    switch (k) {
    case SY_DISAGG_SGLANG: return "sglang";
    case SY_DISAGG_SIDECAR: return "sidecar";
    default: return "nixlv2";
    }
}

static int bad(char *err, size_t errcap, const struct sy_yaml_node *v, const char *key,
               const char *what)
{
    char d[96];
    return sy_yaml_errf(err, errcap, v, "%s.%s: expected %s, got %s", PATH, key, what,
                        sy_yaml_describe(v, d, sizeof d));
}

int sy_disagg_config_parse(const struct sy_yaml_node *n, struct sy_disagg_config *c, char *err,
                           size_t errcap)
{
    sy_disagg_config_defaults(c);
    if (!n || sy_yaml_is_null(n))
        return 0;
    if (n->type != SY_YAML_MAPPING) {
        char d[96];
        return sy_yaml_errf(err, errcap, n, "%s: expected a mapping, got %s", PATH,
                            sy_yaml_describe(n, d, sizeof d));
    }
    for (size_t i = 0; i < n->n; i++) {
        const char *k = sy_yaml_str(n->keys[i]);
        const struct sy_yaml_node *v = n->items[i];
        if (!k)
            return sy_yaml_errf(err, errcap, n->keys[i], "%s: keys must be strings", PATH);
        if (sy_yaml_is_null(v))
            continue;
        const char *s = sy_yaml_str(v);
        if (!strcmp(k, "connector")) {
            if (s && !strcmp(s, "nixlv2"))
                c->connector = SY_DISAGG_NIXLV2;
            else if (s && !strcmp(s, "sglang"))
                c->connector = SY_DISAGG_SGLANG;
            else if (s && !strcmp(s, "sidecar"))
                c->connector = SY_DISAGG_SIDECAR;
            else
                return bad(err, errcap, v, k, "nixlv2, sglang or sidecar");
        } else if (!strcmp(k, "prefillTimeout")) {
            uint64_t ns;
            if (!s || sy_parse_duration_ns(s, &ns) != 0 || ns < 1000000)
                return bad(err, errcap, v, k, "a duration of at least 1ms, such as 500ms or 30s");
            c->prefill_timeout_ns = ns;
        } else if (!strcmp(k, "prefillMaxAttempts")) {
            uint64_t x;
            if (!s || sy_parse_u64(s, 1, SY_DISAGG_MAX_ATTEMPTS, &x) != 0)
                return bad(err, errcap, v, k, "an integer from 1 to 16");
            c->prefill_max_attempts = (int)x;
        } else if (!strcmp(k, "fallback")) {
            if (s && !strcmp(s, "none"))
                c->fallback = SY_DISAGG_FALLBACK_NONE;
            else if (s && !strcmp(s, "decode-only"))
                c->fallback = SY_DISAGG_FALLBACK_DECODE_ONLY;
            else
                return bad(err, errcap, v, k, "none or decode-only");
        } else if (!strcmp(k, "bootstrapPortLabel")) {
            if (!s || !*s || strlen(s) >= sizeof c->bootstrap_port_label)
                return bad(err, errcap, v, k, "a label name (1 to 127 characters)");
            snprintf(c->bootstrap_port_label, sizeof c->bootstrap_port_label, "%s", s);
        } else if (!strcmp(k, "bootstrapPort")) {
            uint64_t x;
            if (!s || sy_parse_u64(s, 1, 65535, &x) != 0)
                return bad(err, errcap, v, k, "a port from 1 to 65535");
            c->bootstrap_port = (uint16_t)x;
        } else {
            return sy_yaml_errf(err, errcap, n->keys[i],
                                "%s.%s: unknown key (connector, prefillTimeout, "
                                "prefillMaxAttempts, fallback, bootstrapPortLabel, bootstrapPort)",
                                PATH, k);
        }
    }
    return 0;
}
