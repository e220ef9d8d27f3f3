/* family.h - the model families unum runs, one table entry each.
 *
 * Every family in the table is a Llama-style decoder that qwen2.c runs:
 * the same tensor names and shapes (model.embed_tokens, model.layers.N.
 * self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, the two RMSNorms,
 * model.norm, lm_head), SwiGLU, grouped-query attention. Where families
 * differ, the difference is data that the entry's reader writes into the
 * config (config.h), and the forward reads it:
 *
 *   qkv_bias        q_proj, k_proj, v_proj carry biases (Qwen2) or not
 *   embed_scale     x = embed_tokens[ids] * embed_scale
 *   residual_scale  x = x + residual_scale * block(x), both blocks
 *   logit_scale     logits = lm_head(h * logit_scale)
 *   rope            plain RoPE or LongRoPE (ops.h Rope)
 *   tied            lm_head is embed_tokens
 *
 * Every family's chat is ChatML (chat.h), as MiniCPM4 and 4.1 publish it
 * in tokenizer_config.json's chat_template. Nothing outside engine/ names a
 * family: front ends ask the engine (modeldir_find, family_list). docs/families.md says where each
 * entry's numbers come from and what a third family costs. */
#ifndef UNUM_FAMILY_H
#define UNUM_FAMILY_H

#include "engine/config.h"

struct cJSON;

typedef struct ModelFamily {
    const char *model_type; /* config.json's model_type */
    const char *name;       /* for messages and the model list */
    int speech;             /* a speech LLM's backbone (LLaMA-Omni2's layout) */
    int max_pos_default;    /* max_position_embeddings when absent */
    int tied_default;       /* tie_word_embeddings when absent */
    /* Reads what the family adds to the shared fields (config.c reads
     * those first: sizes, heads, head_dim, eps, theta, tied) into c. 0, or
     * -1 with the error set, naming path and the field. */
    int (*read)(Qwen2Config *c, const struct cJSON *root, const char *path);
    /* A model that carries the decoder inside a larger checkpoint: the
     * config.json object holding the decoder's fields (NULL: the top
     * level), the decoder's tensor prefix in place of "model." (NULL:
     * "model."), and the prefixes of the tensors that belong to the rest of
     * the model (the decoder's loader leaves them to their own reader). */
    const char *lm_config;
    const char *prefix;
    const char *const *others;
} ModelFamily;

/* The entry for model_type, or NULL. */
const ModelFamily *family_find(const char *model_type);
/* The model_types unum runs, comma-separated, for messages. */
const char *family_list(void);

/* Plain RoPE: inv_freq[i] = theta^(-2i/head_dim) in float32, scale 1. */
void rope_plain(Rope *r, double theta, int head_dim);

#endif
