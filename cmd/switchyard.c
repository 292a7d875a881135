/* switchyard.c - the one binary's entry point: dispatches to a subcommand.
 *
 * Each subcommand lives in the library as sy_<component>_main(argc, argv); this file only knows the
 * table below, so `ls cmd/` stays one file and every component is linkable by tests and benches.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"

static const struct {
    const char *name;    /* subcommand */
    sy_command_fn *fn;   /* entry point, called with argv[0] = name */
    const char *summary; /* one line for --help */
} commands[] = {
    {"gateway", sy_gateway_main, "run the OpenAI-compatible gateway and scheduler"},
    {"epp", sy_epp_main, "run the endpoint picker behind Envoy (ext_proc, llm-d's EPP protocol)"},
    {"sim", sy_sim_main, "run simulated vLLM-compatible model servers"},
    {"bench", sy_bench_main, "drive load against OpenAI-compatible targets and compare them"},
    {"demo", sy_demo_main, "simulated fleet + round-robin vs Switchyard, side by side"},
    {"tokenize", sy_tokenize_main,
     "print token ids of text or chat messages (Hugging Face tokenizer.json)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: switchyard <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`switchyard <command> --help` documents each command's flags; "
               "`switchyard --version` prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("switchyard %s\n", SY_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "switchyard: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
