/* daemon_args.c - flag parsing shared by `switchyard gateway` and `switchyard epp`.
 *
 * Both daemons take the same four flags and differ only in their usage text, their --check
 * and what they run; each keeps those and calls sy_daemon_args_parse for the rest.
 */
#include "cmd/daemon_args.h"

#include <getopt.h>
#include <stdint.h>

#include "config/config.h"
#include "core/log.h"
#include "core/str.h"

int sy_daemon_args_parse(const char *name, int argc, char **argv, void (*usage)(FILE *f),
                         struct sy_daemon_args *out)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 't'},
        {"workers", required_argument, NULL, 'w'}, {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    out->config = NULL;
    out->check = false;
    out->workers = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:tw:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': out->config = optarg; break;
        case 't': out->check = true; break;
        case 'w': {
            uint64_t v;
            /* the config's `workers` bound (0 there means one per core, the flag's absence) */
            if (sy_parse_u64(optarg, 1, SY_CONFIG_MAX_WORKERS, &v) != 0) {
                fprintf(stderr, "switchyard %s: --workers: expected 1..%d, got '%s'\n", name,
                        SY_CONFIG_MAX_WORKERS, optarg);
                return 2;
            }
            out->workers = (int)v;
            break;
        }
        case 'l': {
            enum sy_log_level lvl;
            if (sy_log_parse_level(optarg, &lvl) != 0) {
                fprintf(stderr, "switchyard %s: --log-level: expected debug|info|warn|error\n",
                        name);
                return 2;
            }
            sy_log_pin_level(lvl); /* outranks the configuration's logLevel */
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "switchyard %s: unexpected argument '%s'\n", name, argv[optind]);
        return 2;
    }
    if (!out->config) {
        fprintf(stderr, "switchyard %s: --config FILE is required\n\n", name);
        usage(stderr);
        return 2;
    }
    return -1;
}
