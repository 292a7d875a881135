/* epp_main.c - `switchyard epp` flag parsing; the lifecycle is the gateway's (sy_gateway_run_epp).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
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
    struct sy_config *cfg = sy_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (sy_discovery_check(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        sy_config_unref(cfg);
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
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 't'},
        {"workers", required_argument, NULL, 'w'}, {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    bool check = false;
    int workers = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:tw:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 't': check = true; break;
        case 'w': {
            uint64_t v;
            if (sy_parse_u64(optarg, 1, 64, &v) != 0) {
                fprintf(stderr, "switchyard epp: --workers: expected 1..64, got '%s'\n", optarg);
                return 2;
            }
            workers = (int)v;
            break;
        }
        case 'l': {
            enum sy_log_level lvl;
            if (sy_log_parse_level(optarg, &lvl) != 0) {
                fprintf(stderr, "switchyard epp: --log-level: expected debug|info|warn|error\n");
                return 2;
            }
            sy_log_set_level(lvl);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "switchyard epp: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!config) {
        fprintf(stderr, "switchyard epp: --config FILE is required\n\n");
        usage(stderr);
        return 2;
    }
    if (check)
        return check_config(config);
    return sy_gateway_run_epp(config, workers);
}
