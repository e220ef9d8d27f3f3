/* whisper.h - the Whisper speech model (WhisperForConditionalGeneration):
 * a convolutional front end and transformer encoder over a log-mel
 * spectrogram, and a transformer decoder over text tokens that attends to
 * the encoder's output.
 *
 * Weights come from a Hugging Face directory (config.json,
 * model.safetensors), used in place on the CPU. whisper_encode runs the
 * encoder once per 30 s window and precomputes each decoder layer's
 * cross-attention keys and values; whisper_decode then appends tokens to the
 * decoder's KV cache and returns logits, like qwen2_forward. */
#ifndef UNUM_WHISPER_H
#define UNUM_WHISPER_H

#include "engine/ops.h"
#include "engine/safetensors.h"

typedef struct {
    int d;            /* d_model */
    int enc_layers, dec_layers;
    int enc_heads, dec_heads;
    int enc_ffn, dec_ffn;
    int n_mels;       /* num_mel_bins */
    int n_audio;      /* max_source_positions: encoder positions (frames / 2) */
    int n_text;       /* max_target_positions */
    int vocab;
    int decoder_start; /* decoder_start_token_id */
    int eot;           /* eos_token_id */
    int tied;          /* tie_word_embeddings (default true): proj_out is embed_tokens */
} WhisperConfig;

typedef struct {
    Weight wq, bq, wk, wv, bv, wo, bo; /* [d x d] and [1 x d]; k has no bias */
} WhisperAttn;

typedef struct {
    Weight ln1_w, ln1_b; /* self_attn_layer_norm */
    WhisperAttn self;
    Weight ln2_w, ln2_b; /* encoder_attn_layer_norm (decoder only) */
    WhisperAttn cross;   /* decoder only */
    Weight ln3_w, ln3_b; /* final_layer_norm */
    Weight fc1, fc1_b, fc2, fc2_b;
    float *k_cache, *v_cache;   /* decoder self-attention [n_text x d] */
    float *cross_k, *cross_v;   /* decoder cross-attention [n_audio x d] */
} WhisperLayer;

typedef struct {
    WhisperConfig c;
    STModel st;
    Backend *be;
    Weight conv1, conv1_b, conv2, conv2_b, enc_pos, enc_ln_w, enc_ln_b;
    Weight tok, dec_pos, dec_ln_w, dec_ln_b;
    Weight proj;   /* [V x d] proj_out, or tok when tied */
    WhisperLayer *enc, *dec;
    int n_past;    /* decoder positions in the cache (of the selected slot) */
    /* decoder cache slots (beam search): slot s of layer i is
     * slot_k/slot_v[s * dec_layers + i]; slot 0 is the layers' own cache */
    int n_slots, slot;
    float **slot_k, **slot_v;
    int *slot_past;
    int encoded;   /* whisper_encode has run */
    /* activations, backend memory */
    float *col, *x, *h, *q, *k, *v, *att, *ff, *enc_out, *logits;
} Whisper;

/* dir's config.json as a Whisper's (what whisper_load reads first). 0, or
 * -1 with the error naming the file and the field. */
int whisper_config_load(WhisperConfig *c, const char *dir);

/* Loads a Whisper directory onto be. NULL with the error set (the file, the
 * tensor or the config field at fault). */
Whisper *whisper_load(const char *dir, Backend *be);
void whisper_free(Whisper *w);
/* Only the encoder: from a Hugging Face Whisper directory (prefix NULL; its
 * decoder is not read), or from the checkpoint in dir whose tensors carry
 * openai-whisper's names under prefix (e.g. a speech LLM's
 * "model.speech_encoder."), the shapes giving the config (head_dim 64).
 * whisper_encode works; whisper_decode does not. */
Whisper *whisper_load_encoder(const char *dir, const char *prefix, Backend *be);

/* Encodes a log-mel spectrogram, host float32 [n_mels x n_frames]
 * channel-major as the feature extractor produces it; n_frames must be
 * 2 * n_audio. Resets the decoder. */
int whisper_encode(Whisper *w, const float *mel, int n_frames);
/* Copies the encoder output [n_audio x d] to host memory. */
void whisper_encoder_output(Whisper *w, float *out);
/* Runs T decoder tokens at positions n_past.. and writes the logits of the
 * last (or, with all_logits, every) position to host memory. */
int whisper_decode(Whisper *w, const int32_t *ids, int T, float *logits, int all_logits);
/* Forgets decoded positions from n on. */
void whisper_rewind(Whisper *w, int n);

/* Decoder cache slots, one per beam: whisper_slots makes n (1..16) slots,
 * each with its own self-attention cache and position count (the encoder
 * output and cross K/V are shared); 0, or -1 with the error set when device
 * memory is short. whisper_slot_select makes slot s the one whisper_decode
 * uses. whisper_slot_copy makes dst a copy of src from cache row `from` on
 * (rows before it are taken to be equal already, e.g. a shared prompt). */
int whisper_slots(Whisper *w, int n);
void whisper_slot_select(Whisper *w, int s);
void whisper_slot_copy(Whisper *w, int dst, int src, int from);

#endif
