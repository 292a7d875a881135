/* epp_config.c - the extProc section (`switchyard epp`), read from the loaded config's tree.
 *
 *   extProc:
 *     listen: 0.0.0.0:9002        ext_proc (and grpc.health.v1) on every worker loop
 *     healthListen: 0.0.0.0:9003  grpc.health.v1 only, on the control loop, always plaintext
 *     secureServing: true         TLS with ALPN h2 (false = h2c)
 *     certFile / keyFile          PEM pair; both or neither (neither = self-signed)
 *     emitEndpointScores: false   envoy.lb/x-gateway-destination-endpoint-scores metadata
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "extproc/epp.h"

static int hostport(const struct sy_yaml_node *v, const char *key, char *host, size_t cap,
                    uint16_t *port, char *err, size_t errcap)
{
    const char *s = sy_yaml_str(v);
    char d[96];
    if (!s || sy_parse_hostport(s, host, cap, port) != 0)
        return sy_yaml_errf(err, errcap, v, "extProc.%s: expected host:port, got %s", key,
                            sy_yaml_describe(v, d, sizeof d));
    return 0;
}

int sy_epp_config_parse(const struct sy_config *cfg, struct sy_epp_config *out, char *err,
                        size_t errcap)
{
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "0.0.0.0");
    out->port = 9002;
    snprintf(out->health_host, sizeof out->health_host, "0.0.0.0");
    out->health_port = 9003;
    out->secure = true;
    const struct sy_yaml_node *xp = sy_yaml_get(cfg->root, "extProc");
    if (!xp || sy_yaml_is_null(xp))
        return 0;
    const struct sy_yaml_node *cert = NULL, *key = NULL;
    for (size_t i = 0; i < xp->n; i++) {
        const char *k = xp->keys[i]->scalar;
        const struct sy_yaml_node *v = xp->items[i];
        if (sy_yaml_is_null(v))
            continue;
        int rc = 0;
        char d[96];
        if (strcmp(k, "listen") == 0) {
            rc = hostport(v, k, out->host, sizeof out->host, &out->port, err, errcap);
        } else if (strcmp(k, "healthListen") == 0) {
            rc = hostport(v, k, out->health_host, sizeof out->health_host, &out->health_port, err,
                          errcap);
        } else if (strcmp(k, "secureServing") == 0 || strcmp(k, "emitEndpointScores") == 0) {
            const char *s = sy_yaml_str(v);
            if (!s || sy_parse_bool(s, k[0] == 's' ? &out->secure : &out->emit_scores) != 0)
                rc = sy_yaml_errf(err, errcap, v, "extProc.%s: expected true or false, got %s", k,
                                  sy_yaml_describe(v, d, sizeof d));
        } else if (strcmp(k, "certFile") == 0 || strcmp(k, "keyFile") == 0) {
            if (!sy_yaml_str(v) || !sy_yaml_str(v)[0])
                rc = sy_yaml_errf(err, errcap, v, "extProc.%s: expected a file path, got %s", k,
                                  sy_yaml_describe(v, d, sizeof d));
            else if (k[0] == 'c')
                cert = v;
            else
                key = v;
        } else {
            rc = sy_yaml_errf(err, errcap, xp->keys[i], "extProc.%s: unknown key", k);
        }
        if (rc != 0) {
            sy_epp_config_fini(out);
            return SY_ECONFIG;
        }
    }
    if (!cert != !key) {
        sy_yaml_errf(err, errcap, cert ? cert : key, "extProc.%s: needs %s as well",
                     cert ? "certFile" : "keyFile", cert ? "keyFile" : "certFile");
        return SY_ECONFIG;
    }
    if (cert) {
        out->cert_file = sy_xstrdup(cert->scalar);
        out->key_file = sy_xstrdup(key->scalar);
    }
    return 0;
}

void sy_epp_config_fini(struct sy_epp_config *c)
{
    free(c->cert_file);
    free(c->key_file);
    c->cert_file = c->key_file = NULL;
}
