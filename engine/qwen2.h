/* qwen2.h - the Qwen2 decoder-only transformer (Qwen2ForCausalLM).
 *
 * Weights come from a Hugging Face directory, used in place from the mmap
 * (or uploaded once to the backend). A Qwen2 keeps one KV cache of ctx
 * positions; qwen2_forward appends T tokens at position n_past and returns
 * logits. */
#ifndef UNUM_QWEN2_H
#define UNUM_QWEN2_H

#include "engine/config.h"
#include "engine/lora.h"
#include "engine/ops.h"
#include "engine/safetensors.h"

/* The adapters on one linear layer [out x in], applied after its base
 * projection as y += B (A x): every active adapter's A stacked by rows and
 * its B, times its scales, side by side, so that any number of adapters
 * costs one pair of thin products. B is kept transposed, [rank x out], for
 * the backend's addmm. rank 0: none. */
typedef struct {
    int rank;               /* sum of the active adapters' ranks here */
    Weight A, Bt;           /* [rank x in], [rank x out], float32 */
    float *host_A, *host_Bt; /* what A and Bt were uploaded from (owned; the
                                CPU backend reads them in place) */
} LoraSite;

typedef struct {
    Weight attn_norm;         /* [1 x D] input_layernorm */
    Weight wq, wk, wv;        /* [Hq*hd x D], [Hkv*hd x D], [Hkv*hd x D] */
    Weight bq, bk, bv;        /* [1 x Hq*hd], [1 x Hkv*hd], [1 x Hkv*hd] */
    Weight wo;                /* [D x Hq*hd] */
    Weight mlp_norm;          /* [1 x D] post_attention_layernorm */
    Weight gate, up;          /* [F x D] */
    Weight down;              /* [D x F] */
    float *k_cache, *v_cache; /* [ctx x Hkv*hd] each, backend memory */
    LoraSite lora[LORA_N_MODULES]; /* adapters, by LoraModule */
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
    int n_adapters;  /* adapters active (qwen2_set_adapters) */
    float *lora_a; /* [max_batch x max rank], sized when the adapters are set */
} Qwen2;

/* Loads the model in dir onto be with a KV cache of ctx positions (0: the
 * smaller of max_position_embeddings and 4096). Checks every tensor name and
 * shape against config.json. NULL with the error set on failure. */
Qwen2 *qwen2_load(const char *dir, Backend *be, int ctx);
/* The prefix of the decoder's tensor names: "model." or the family's
 * (family.h), e.g. "model.language_model." in a VibeVoice checkpoint. */
const char *qwen2_prefix(const Qwen2Config *c);
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
/* Runs T tokens like qwen2_forward (positions n_past .., advancing it) but
 * without the head: adds to sum (host, [hidden]) each token's final hidden
 * state after the final norm, the vector lm_head reads (the router's
 * embedding, engine_embed). 0, or -1 with the error set. */
int qwen2_hidden_sum(Qwen2 *m, const int32_t *ids, int T, float *sum);
/* Makes adapters ads[0..n) with user scales[i] the active set, replacing
 * the previous one (n = 0: none): each projection then adds
 * scales[i] * s_i * B_i (A_i x) to its output. The base weights are not
 * touched and nothing is reloaded; the adapters are copied, so the caller
 * may free them. Keys and values already in the cache were computed under
 * the previous set: the caller rewinds (engine.c does). 0, or -1 with the
 * error set (an adapter made for other shapes, memory); on failure no
 * adapter is active. */
int qwen2_set_adapters(Qwen2 *m, LoraAdapter *const *ads, const float *scales, int n);
/* Weight bytes one decoded token reads: every layer's weights and active
 * adapters, the final norm, lm_head and one embedding row (quantized
 * matrices as stored). */
size_t qwen2_bytes_per_token(const Qwen2 *m);
/* The quantization of the loaded checkpoint for display ("gptq-int4 g128"),
 * or "" for float weights; written to buf (size n) and returned. */
const char *qwen2_quant_name(const Qwen2 *m, char *buf, size_t n);

/* Forgets the cache from position n on (n <= n_past). */
void qwen2_rewind(Qwen2 *m, int n);

#endif
