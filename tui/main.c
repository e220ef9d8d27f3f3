/* main.c - program entry: dispatches the subcommands. */
#include "cli.h"

#include "args.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: unum COMMAND [options]\n"
    "\n"
    "  run -m MODEL [-p TEXT | -f FILE | --prompt-ids FILE] [--system TEXT] [--raw]\n"
    "      [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
    "      [--seed S] [--ignore-eos] [--ids] [--backend auto|cpu|cuda] [--threads N]\n"
    "      [--ctx N] [-v]\n"
    "                                  generate a reply (chat template unless --raw)\n"
    "  tokenize -m MODEL [--special]   stdin text -> token ids on one line\n"
    "  detokenize -m MODEL             stdin token ids -> text\n"
    "  logits -m MODEL --ids FILE -o OUT.f32 [--backend B]\n"
    "                                  float32 logits [T x vocab] of every position\n"
    "  bench -m MODEL [--backend B] [--threads N] [--prompt-len N] [--gen N] [--reps N] "
    "[--json]\n"
    "\n"
    "MODEL is a Hugging Face model directory or a repo id ORG/NAME found in\n"
    "$XDG_DATA_HOME/unum/models or the Hugging Face cache.\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("unum: the terminal app is not part of this build yet; use a command:\n\n", stderr);
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cli_run},
                {"tokenize", cli_tokenize},
                {"detokenize", cli_detokenize},
                {"logits", cli_logits},
                {"bench", cli_bench}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "unum: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}
