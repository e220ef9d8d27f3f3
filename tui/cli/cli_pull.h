/* cli_pull.h - unum pull: a model from the Hugging Face hub into unum's
 * models folder. */
#ifndef UNUM_CLI_PULL_H
#define UNUM_CLI_PULL_H

/* unum pull REPO [--revision REV]: downloads ORG/NAME (see engine/pull.h)
 * into $XDG_DATA_HOME/unum/models/ORG/NAME and prints that folder on stdout.
 * Progress goes to stderr: one updating line on a terminal, else a line per
 * file and one every few seconds. Ctrl-C stops and keeps the partial file
 * for a resume (exit 1). */
int cli_pull(int argc, char **argv);

#endif
