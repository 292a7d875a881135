/* daemon_args.h - the flags `switchyard gateway` and `switchyard epp` share.
 */
#ifndef SY_CMD_DAEMON_ARGS_H
#define SY_CMD_DAEMON_ARGS_H

#include <stdbool.h>
#include <stdio.h>

struct sy_daemon_args {
    const char *config; /* borrowed from argv */
    bool check;         /* --check: validate the configuration and exit */
    int workers;        /* --workers, 0 = the configuration's */
};

/* Parses --config, --check, --workers and --log-level (applied at once) for the subcommand
 * `name` ("gateway" or "epp"), printing errors as "switchyard NAME: ..." and calling usage for
 * --help and bad flags. Returns -1 when the caller should go on with *out, else the exit
 * status (0 after --help, 2 on a usage error). */
int sy_daemon_args_parse(const char *name, int argc, char **argv, void (*usage)(FILE *f),
                         struct sy_daemon_args *out);

#endif
