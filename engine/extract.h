/* extract.h - a LoRA adapter from the difference of two checkpoints.
 *
 * For each targeted projection W of every layer, the difference
 * D = W_tuned - W_base [out x in] is factored by a truncated SVD
 * (LAPACK's sgesdd): D ~ U_R S_R V_R^T, the best rank-R approximation.
 * The adapter stores lora_B = U_R S_R [out x R] and lora_A = V_R^T [R x in]
 * in float32, with r = lora_alpha = R (so PEFT's scale is 1), as PEFT saves
 * an adapter (adapter_config.json, adapter_model.safetensors). When every
 * difference has rank at most R the adapter reproduces the tuned model up
 * to float32 rounding. */
#ifndef UNUM_EXTRACT_H
#define UNUM_EXTRACT_H

#include "engine/lora.h"

typedef struct {
    const char *base, *tuned;
    int rank;
    unsigned targets; /* a bit per LoraModule (1u << LORA_Q ...); 0: all seven */
    void (*progress)(void *user, int done, int total);
    void *user;
} ExtractOptions;

/* Writes the adapter into out_dir (created when absent). The base and the
 * tuned model must share config shapes and tensor names. *untouched gets
 * the name of the first tensor outside the targets that differs between the
 * two (which the adapter cannot carry), or NULL (free it). 0, or -1 with
 * the error set. */
int lora_extract(const ExtractOptions *o, const char *out_dir, char **untouched);

#endif
