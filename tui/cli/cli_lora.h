/* cli_lora.h - adapters on the command line: the --lora DIR[:SCALE] option
 * of run, logits and bench, and `unum lora extract`. */
#ifndef UNUM_CLI_LORA_H
#define UNUM_CLI_LORA_H

#include "engine/engine.h"
#include "engine/lora.h"
#include "tui/core/args.h"

/* Reads the value of a --lora flag just matched by args_flag and appends it
 * to *specs (grown; free with lora_specs_free). A bad value is a usage
 * error (a->bad set, message printed). */
void cli_lora_option(Args *a, LoraSpec **specs, int *n);

/* --lora auto: the router (engine/router.h) picks among the adapters of
 * the settings file (adapter = DIR[:SCALE] | DESCRIPTION) the one for text
 * and sets it on e (or none). threshold < 0: the file's lora_threshold,
 * else ROUTER_THRESHOLD_DEFAULT. verbose: the choice and every score on
 * stderr. 0, or -1 with the error set (no adapter listed is an error). */
int cli_lora_route(Engine *e, const char *text, float threshold, int verbose);

/* unum lora extract --base DIR --tuned DIR --rank R [--targets M,...]
 * -o ADAPTER_DIR: a PEFT adapter from the difference of two checkpoints by
 * truncated SVD (engine/extract.h). */
int cli_lora(int argc, char **argv);

#endif
