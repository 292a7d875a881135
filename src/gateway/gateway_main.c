/* gateway_main.c - `switchyard gateway` flag parsing; everything else is sy_gateway_run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/daemon_args.h"
#include "config/config.h"
#include "core/log.h"
#include "discovery/discovery.h"
#include "core/str.h"
#include "gateway/gateway.h"
#include "pool/pool.h"
#include "sched/sched.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard gateway --config FILE [options]\n"
            "\n"
            "The OpenAI-compatible gateway: routes each request to the best model server of the\n"
            "pool with llm-d's scheduling plugins, streaming responses back.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE     gateway configuration (YAML; see docs/config.md)\n"
            "  -t, --check           validate the configuration (including the scheduler\n"
            "                        section) and exit: 0 when valid, 1 with FILE:LINE: key:\n"
            "                        reason otherwise\n"
            "  -w, --workers N       worker threads (overrides `workers`; default one per core)\n"
            "  -l, --log-level LVL   debug | info | warn | error (overrides `logLevel`)\n"
            "  -h, --help            this text\n"
            "\n"
            "signals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads the\n"
            "configuration (a bad new configuration is refused and the running one kept).\n");
}

/* --check: the same loading path as the real start, without binding anything. */
static int check_config(const char *path)
{
    char err[1024];
    struct sy_config *cfg = sy_discovery_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (!cfg->listen_host[0]) {
        fprintf(stderr,
                "%s: listen: missing required key (a config with only extProc runs with "
                "`switchyard epp`)\n",
                path);
        sy_config_unref(cfg);
        return 1;
    }
    struct sy_gw_gen *g = sy_gw_gen_build(cfg, NULL, NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s: configuration OK (%zu endpoints, engine %s)\n", path, g->pool->n,
           sy_engine_name(g->cfg->engine));
    printf("SIGHUP applies: pool, scheduler, schedulerFile, busyPoll, logLevel%s, retry, auth (the "
           "key file is read again), tls.certFile/keyFile (read again; new connections), "
           "limits.maxBodyBytes, timeouts.connect, timeouts.request, "
           "timeouts.streamIdle, timeouts.idle, timeouts.header, timeouts.body, timeouts.send, "
           "timeouts.drain (to requests that start afterwards)\n"
           "restart needed: listen, admin, workers, limits.maxConnectionsPerWorker, turning tls "
           "on or off, tls.admin\n",
           sy_log_level_pinned() ? " (pinned by --log-level)" : "");
    sy_gw_gen_unref(g);
    return 0;
}

int sy_gateway_main(int argc, char **argv)
{
    struct sy_daemon_args a;
    int rc = sy_daemon_args_parse("gateway", argc, argv, usage, &a);
    if (rc >= 0)
        return rc;
    if (a.check)
        return check_config(a.config);
    return sy_gateway_run(a.config, a.workers);
}
