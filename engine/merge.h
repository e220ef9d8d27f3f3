/* merge.h - merging checkpoints of one architecture, as mergekit computes
 * them, and baking LoRA adapters into a base.
 *
 * With base tensor b, model tensors x_i, weights w_i, densities d_i and
 * task vectors delta_i = x_i - b (every tensor of the checkpoint, each on
 * its own):
 *   linear           sum w_i x_i / sum w_i                (no base)
 *   task_arithmetic  b + sum w_i delta_i
 *   ties             delta_i keeps its int(d_i * n) largest magnitudes;
 *                    the sign of sum w_i delta_i is elected per entry (+ on
 *                    a tie); b + sum over agreeing i of w_i delta_i divided
 *                    by the sum of those w_i (by 1 when there are none)
 *   dare_ties        delta_i keeps each entry with probability d_i and is
 *                    divided by d_i; then the sign election of ties, not
 *                    divided by the weights
 *   dare_linear      the same drop and rescale; b + sum w_i delta_i
 *   slerp            two models, base first, at t in [0, 1]: on the
 *                    flattened tensors, with cos = <b/|b|, x/|x|>, the
 *                    linear (1-t) b + t x when |cos| > 0.9995, else
 *                    (sin((1-t)a) b + sin(t a) x) / sin(a), a = acos(cos)
 * A density of 1 keeps everything. DARE's drops come from a generator
 * keyed by the seed, the tensor's name and the model's index (docs/
 * adapters.md gives it, so other tools can reproduce a merge).
 *
 * The output is a Hugging Face directory (config.json and tokenizer files
 * from the base, or the first model, and safetensors shards) written tensor
 * by tensor in slices, so memory stays near the largest tensor whatever the
 * model's size. */
#ifndef UNUM_MERGE_H
#define UNUM_MERGE_H

#include "engine/lora.h"
#include "engine/safetensors.h"

#include <stdint.h>

typedef enum {
    MERGE_LINEAR,
    MERGE_TASK_ARITHMETIC,
    MERGE_TIES,
    MERGE_DARE_TIES,
    MERGE_DARE_LINEAR,
    MERGE_SLERP,
    MERGE_BAKE, /* base + adapters */
} MergeMethod;

/* "linear" .. "slerp"; -1 when unknown. */
int merge_method_parse(const char *name);

typedef struct {
    const char *dir;
    float weight;  /* default 1 */
    float density; /* default 1 */
} MergeInput;

typedef struct {
    MergeMethod method;
    const char *base; /* the base model (required except for linear) */
    const MergeInput *models;
    int n_models;
    const LoraSpec *lora; /* MERGE_BAKE: adapters baked into base, in order */
    int n_lora;
    double t;             /* slerp */
    uint64_t seed;        /* dare_* */
    int out_dtype;        /* a DType, or -1 for the base's (first model's) dtype */
    uint64_t shard_bytes; /* 0: the default (2 GiB) */
    /* called before each tensor: index, count, name (may be NULL) */
    void (*progress)(void *user, int i, int n, const char *name);
    void *user;
} MergeOptions;

/* Merges into out_dir (created when absent; one that holds a checkpoint
 * already is refused). Refuses inputs whose
 * config.json describe other architectures or shapes, whose tensors differ
 * in names or shapes, or whose tokenizer.json differ. 0, or -1 with the
 * error set. */
int merge_run(const MergeOptions *o, const char *out_dir);

#endif
