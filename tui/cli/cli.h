/* cli.h - the command-line subcommands (run, tokenize, detokenize, logits,
 * bench). Each returns the process exit status: 0 success, 1 runtime error,
 * 2 usage error. */
#ifndef UNUM_CLI_H
#define UNUM_CLI_H

int cli_run(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_detokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
