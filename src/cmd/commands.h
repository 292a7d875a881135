/* commands.h - entry points of the subcommands, called by cmd/switchyard.c.
 *
 * Each takes argv with argv[0] = the subcommand name and returns the process exit status.
 */
#ifndef SY_CMD_COMMANDS_H
#define SY_CMD_COMMANDS_H

#define SY_VERSION "0.1.0" /* release version */

typedef int sy_command_fn(int argc, char **argv);

sy_command_fn sy_gateway_main; /* src/gateway/gateway_main.c */
sy_command_fn sy_epp_main;     /* src/extproc/epp_main.c */
sy_command_fn sy_sim_main;     /* src/sim/sim_main.c */
sy_command_fn sy_bench_main;   /* src/bench/bench_main.c */
sy_command_fn sy_demo_main;    /* src/bench/demo.c */

sy_command_fn sy_tokenize_main; /* src/tokenize/tokenize_main.c */

#endif
