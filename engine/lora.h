/* lora.h - PEFT LoRA adapters for a Qwen2, read as Hugging Face's peft
 * library saves them.
 *
 * An adapter directory holds adapter_config.json (peft_type "LORA", r,
 * lora_alpha, target_modules, use_rslora, rank_pattern, alpha_pattern, ...)
 * and adapter_model.safetensors with, for each adapted linear layer,
 *   base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight  [r x in]
 *   base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight  [out x r]
 * in f32, f16 or bf16. The layer W [out x in] then computes
 *   y = W x + b + s * B (A x),   s = lora_alpha / r  (lora_alpha / sqrt(r)
 * with use_rslora), where rank_pattern and alpha_pattern override r and
 * lora_alpha for the modules whose name matches a key (peft's rule: the key
 * is a regular expression that must match the end of the module's name,
 * "model.layers.N.mlp.down_proj", at a dot; the first matching key wins).
 *
 * What unum cannot apply is refused by name, with the file: another
 * peft_type, use_dora, modules_to_save, fan_in_fan_out, bias other than
 * "none", lora_bias, targets outside the seven projections, tensors the
 * config does not account for, missing tensors, and shapes that differ from
 * the base model's config.json. */
#ifndef UNUM_LORA_H
#define UNUM_LORA_H

#include "engine/config.h"

#include <stddef.h>

/* The seven linear layers of a Qwen2 block that an adapter may target. */
typedef enum {
    LORA_Q,
    LORA_K,
    LORA_V,
    LORA_O,
    LORA_GATE,
    LORA_UP,
    LORA_DOWN,
    LORA_N_MODULES
} LoraModule;

/* "q_proj" .. "down_proj" */
const char *lora_module_name(LoraModule m);
/* The module's name inside a block: "self_attn.q_proj" .. "mlp.down_proj". */
const char *lora_module_path(LoraModule m);
/* The shape [out x in] of module m's weight in a model of config c. */
void lora_module_shape(const Qwen2Config *c, LoraModule m, int *out, int *in);

/* One adapted linear layer: delta W = scale * B A. */
typedef struct {
    int rank;    /* 0: this adapter leaves the layer alone */
    float scale; /* lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora */
    float *A;    /* [rank x in], float32, owned */
    float *B;    /* [out x rank] */
} LoraPair;

typedef struct {
    char *dir;       /* the directory it was read from */
    Qwen2Config c;   /* the base shapes it was checked against */
    LoraPair *pairs; /* [c.n_layers x LORA_N_MODULES], layer-major */
} LoraAdapter;

/* Reads the adapter in dir (a folder, or a repo id ORG/NAME that unum pull
 * fetched into unum's models folder) and checks it against a base of
 * config c. NULL with the error (naming the file and the problem) on
 * failure. */
LoraAdapter *lora_load(const char *dir, const Qwen2Config *c);
void lora_free(LoraAdapter *a);

static inline LoraPair *lora_pair(const LoraAdapter *a, int layer, LoraModule m) {
    return &a->pairs[(size_t)layer * LORA_N_MODULES + m];
}

/* Reads adapter_config.json's text (path names it in messages) and sets
 * rank and scale of pairs[layer * LORA_N_MODULES + module] for each of c's
 * layers: what the tensors must then be (rank 0: not adapted). 0, or -1
 * with the error. lora_load's first step; exposed for the fuzzer. */
int lora_config_plan(const char *json, const char *path, const Qwen2Config *c, LoraPair *pairs);

/* Whether adapter a was checked against the same shapes as config c. */
int lora_fits(const LoraAdapter *a, const Qwen2Config *c);

/* W [out x in] += user_scale * p->scale * B A, in float32. */
void lora_pair_merge(const LoraPair *p, float user_scale, float *W, int out, int in);

/* An adapter named on the command line: "DIR" or "DIR:SCALE". */
typedef struct {
    char *dir; /* owned */
    float scale;
} LoraSpec;

/* Parses "DIR[:SCALE]" (the scale is the text after the last ':' when it
 * is a number; default 1). 0, or -1 with the error naming the argument. */
int lora_spec_parse(const char *arg, LoraSpec *out);
void lora_specs_free(LoraSpec *specs, int n);

#endif
