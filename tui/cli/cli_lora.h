/* cli_lora.h - adapters on the command line: the --lora DIR[:SCALE] option
 * of run, logits and bench, and `unum lora extract`. */
#ifndef UNUM_CLI_LORA_H
#define UNUM_CLI_LORA_H

#include "engine/lora.h"
#include "tui/core/args.h"

/* Reads the value of a --lora flag just matched by args_flag and appends it
 * to *specs (grown; free with lora_specs_free). A bad value is a usage
 * error (a->bad set, message printed). */
void cli_lora_option(Args *a, LoraSpec **specs, int *n);

/* unum lora extract --base DIR --tuned DIR --rank R [--targets M,...]
 * -o ADAPTER_DIR: a PEFT adapter from the difference of two checkpoints by
 * truncated SVD (engine/extract.h). */
int cli_lora(int argc, char **argv);

#endif
