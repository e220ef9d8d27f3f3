/* qwen2.h - the Qwen2 decoder-only transformer (Qwen2ForCausalLM).
 *
 * Weights come from a Hugging Face directory, used in place from the mmap
 * (or uploaded once to the backend). A Qwen2 keeps one KV cache of ctx
 * positions; qwen2_forward appends T tokens at position n_past and returns
 * logits. */
#ifndef UNUM_QWEN2_H
#define UNUM_QWEN2_H

#include "engine/config.h"
#include "engine/ops.h"
#include "engine/safetensors.h"

typedef struct {
    Weight attn_norm;         /* [1 x D] input_layernorm */
    Weight wq, wk, wv;        /* [Hq*hd x D], [Hkv*hd x D], [Hkv*hd x D] */
    Weight bq, bk, bv;        /* [1 x Hq*hd], [1 x Hkv*hd], [1 x Hkv*hd] */
    Weight wo;                /* [D x Hq*hd] */
    Weight mlp_norm;          /* [1 x D] post_attention_layernorm */
    Weight gate, up;          /* [F x D] */
    Weight down;              /* [D x F] */
    float *k_cache, *v_cache; /* [ctx x Hkv*hd] each, backend memory */
} Qwen2Layer;

typedef struct {
    Qwen2Config c;
    STModel st;
    Backend *be;
    Weight embed;      /* [V x D] model.embed_tokens */
    Weight final_norm; /* [1 x D] model.norm */
    Weight lm_head;    /* [V x D] lm_head, or embed when tied */
    Qwen2Layer *layers;
    int ctx;       /* KV cache capacity in positions */
    int n_past;    /* positions already in the cache */
    int max_batch; /* tokens per forward chunk */
    /* activations for up to max_batch tokens, backend memory */
    float *x, *xn, *q, *att, *g, *u, *logits;
    int logits_rows; /* rows the logits buffer holds */
} Qwen2;

/* Loads the model in dir onto be with a KV cache of ctx positions (0: the
 * smaller of max_position_embeddings and 4096). Checks every tensor name and
 * shape against config.json. NULL with the error set on failure. */
Qwen2 *qwen2_load(const char *dir, Backend *be, int ctx);
/* The same, reporting progress (0..1) after each layer; on the CPU the
 * layer's pages are read in then, so the report follows the disk. */
typedef void (*qwen2_progress_fn)(void *user, double done);
Qwen2 *qwen2_load_progress(const char *dir, Backend *be, int ctx, qwen2_progress_fn fn,
                           void *user);
void qwen2_free(Qwen2 *m);

/* Runs T tokens through the model at positions n_past .. n_past+T-1 and
 * advances n_past. Writes to logits (host memory) the logits of the last
 * token [V], or of every token [T x V] when all_logits; with logits NULL
 * (and all_logits 0) the last token's logits stay in backend memory, in
 * m->logits [V], for the backend's sampler. ids must be in
 * [0, V) and n_past + T <= ctx (checked: -1 with the error set). */
int qwen2_forward(Qwen2 *m, const int32_t *ids, int T, float *logits, int all_logits);
/* The same for T positions given as input embeddings instead of token ids:
 * host float32 [T x hidden] (a speech LLM's projected audio frames). */
int qwen2_forward_embeds(Qwen2 *m, const float *embeds, int T, float *logits, int all_logits);
/* Weight bytes one decoded token reads: every layer's weights, the final
 * norm, lm_head and one embedding row (quantized matrices as stored). */
size_t qwen2_bytes_per_token(const Qwen2 *m);
/* The quantization of the loaded checkpoint for display ("gptq-int4 g128"),
 * or "" for float weights; written to buf (size n) and returned. */
const char *qwen2_quant_name(const Qwen2 *m, char *buf, size_t n);

/* Forgets the cache from position n on (n <= n_past). */
void qwen2_rewind(Qwen2 *m, int n);

#endif
