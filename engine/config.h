/* config.h - model hyperparameters from a Hugging Face config.json and
 * defaults from generation_config.json. */
#ifndef UNUM_CONFIG_H
#define UNUM_CONFIG_H

#include "engine/ops.h"
#include "engine/quant.h"

#include <stdint.h>

#define CONFIG_MAX_EOS 8

typedef struct {
    int hidden;        /* hidden_size, D */
    int intermediate;  /* intermediate_size, F */
    int n_layers;      /* num_hidden_layers, L */
    int n_heads;       /* num_attention_heads, Hq */
    int n_kv_heads;    /* num_key_value_heads, Hkv (divides Hq) */
    int head_dim;      /* head_dim, or D / Hq */
    int vocab;         /* vocab_size, V */
    int max_pos;       /* max_position_embeddings */
    int tied;          /* tie_word_embeddings */
    int speech;        /* a speech LLM's backbone (its speech tensors are not the Qwen2's) */
    double rope_theta; /* rope_theta */
    double rms_eps;    /* rms_norm_eps */
    QuantConfig quant; /* quantization_config (method QUANT_NONE when absent) */
    /* What the model family (family.h) makes of the config: */
    const struct ModelFamily *family; /* model_type's entry */
    int qkv_bias;         /* q_proj, k_proj, v_proj carry biases */
    float embed_scale;    /* x = embed_tokens[ids] * embed_scale */
    float residual_scale; /* x = x + residual_scale * block(x) */
    float logit_scale;    /* logits = lm_head(h * logit_scale) */
    int longrope;         /* rope is LongRoPE, exact up to max_pos positions */
    Rope rope;            /* the rotary embedding of head_dim / 2 pairs */
} Qwen2Config;

/* Sampling defaults and stop ids (generation_config.json, optional). */
typedef struct {
    float temperature, top_p, min_p, repeat_penalty;
    int top_k;
    int do_sample;
    int32_t eos[CONFIG_MAX_EOS];
    int n_eos;
} GenConfig;

/* Reads dir/config.json: the fields every family shares, then the
 * family's own (family.h). Fails (naming the file and the field) on a
 * model_type no family has, a missing or out-of-range field, inconsistent
 * head counts, or a feature the family's reader refuses. */
int qwen2_config_load(Qwen2Config *c, const char *dir);
/* Parses a config.json text; path is used in messages. */
int qwen2_config_parse(Qwen2Config *c, const char *json, const char *path);

/* Reads dir/generation_config.json when present; what it does not say
 * takes Hugging Face's GenerationConfig defaults (do_sample false, i.e.
 * greedy; temperature 1, top_p 1, top_k 50, no repetition penalty), and eos
 * falls back to config.json's eos_token_id. */
int gen_config_load(GenConfig *g, const char *dir);

/* Reads an integer field of a JSON object in [lo, hi] into *out; when absent,
 * optional leaves *out alone, otherwise it is an error naming path and key.
 * Shared by the model configs (Qwen2, Whisper). */
struct cJSON;
/* dir/name read and parsed as a JSON object (cJSON_Delete it); *path gets
 * the file's path (free it) for messages. NULL with the error set. */
struct cJSON *config_read_object(const char *dir, const char *name, char **path);

int config_get_int(const struct cJSON *root, const char *key, int lo, int hi, int optional,
                   int *out, const char *path);

#endif
