/* cli_merge.h - unum merge: checkpoints of one architecture merged as
 * mergekit merges them, or LoRA adapters baked into a base (engine/merge.h). */
#ifndef UNUM_CLI_MERGE_H
#define UNUM_CLI_MERGE_H

/* unum merge --method linear|task_arithmetic|ties|dare_ties|dare_linear|slerp
 *            [--base DIR] [--t T] [--seed S] [--out-dtype f32|bf16|f16]
 *            [--shard-size BYTES] -o OUT_DIR MODEL[:WEIGHT[:DENSITY]]...
 * unum merge --base DIR --lora ADAPTER[:SCALE]... [--out-dtype D] -o OUT_DIR
 * Progress on stderr; the output folder on stdout. */
int cli_merge(int argc, char **argv);

#endif
