/* epp_main.c - `switchyard epp` flag parsing; the lifecycle is the gateway's (sy_gateway_run_epp).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/daemon_args.h"
#include "core/log.h"
#include "discovery/discovery.h"
#include "core/str.h"
#include "extproc/epp.h"
#include "extproc/h2.h"
#include "gen/gen.h"
#include "gateway/gateway.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: switchyard epp --config FILE [options]\n"
           "\n"
           "The endpoint picker behind a Gateway API implementation (Envoy ext_proc, llm-d's\n"
           "Endpoint Picker Protocol): for each HTTP request Envoy streams to it, picks the model\n"
           "server with the same scheduler as `switchyard gateway` and answers with\n"
           "x-gateway-destination-endpoint. grpc.health.v1 on extProc.listen and healthListen.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE     configuration (YAML; the gateway's keys plus extProc, see\n"
           "                        docs/config.md and docs/kubernetes.md)\n"
           "  -t, --check           validate the configuration (scheduler and extProc, TLS\n"
           "                        files included) and exit: 0 when valid, 1 otherwise\n"
           "  -w, --workers N       worker threads (overrides `workers`; default one per core)\n"
           "  -l, --log-level LVL   debug | info | warn | error (overrides `logLevel`)\n"
           "  -h, --help            this text\n"
           "\n"
           "signals: SIGTERM/SIGINT drain (health turns NOT_SERVING, open streams finish);\n"
           "SIGHUP reloads the pool and scheduler (extProc changes need a restart).\n");
}

static int check_config(const char *path)
{
    char err[1024];
    struct sy_config *cfg = sy_discovery_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sy_epp_config ec;
    if (sy_epp_config_parse(cfg, &ec, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        sy_config_unref(cfg);
        return 1;
    }
    if (ec.secure) {
        SSL_CTX *ctx = sy_h2_tls_ctx(ec.cert_file, ec.key_file, err, sizeof err);
        if (!ctx) {
            fprintf(stderr, "%s: extProc: %s\n", path, err);
            sy_epp_config_fini(&ec);
            sy_config_unref(cfg);
            return 1;
        }
        sy_h2_tls_ctx_free(ctx);
    }
    struct sy_gen *g = sy_gen_build(cfg, NULL, NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        sy_epp_config_fini(&ec);
        return 1;
    }
    printf("%s: configuration OK (%zu endpoints, ext_proc %s:%u %s, health %s:%u)\n", path,
           g->pool->n, ec.host, ec.port, ec.secure ? "tls" : "h2c", ec.health_host, ec.health_port);
    sy_epp_config_fini(&ec);
    sy_gen_unref(g);
    return 0;
}

int sy_epp_main(int argc, char **argv)
{
    struct sy_daemon_args a;
    int rc = sy_daemon_args_parse("epp", argc, argv, usage, &a);
    if (rc >= 0)
        return rc;
    if (a.check)
        return check_config(a.config);
    return sy_gateway_run_epp(a.config, a.workers);
}
