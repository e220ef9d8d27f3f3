/* engine.h - the engine API: a loaded language model with its tokenizer,
 * generation with a streaming callback, cancellation.
 *
 * The command line calls it directly; the engine thread (for the TUI) wraps
 * the same calls. engine_cancel may be called from any thread or a signal
 * handler; the running generate, prefill or logits call returns at the next
 * token or chunk with UNUM_CANCELLED (engine/base/cancel.h) and the model
 * state consistent. Every call that takes the flag clears it on return, so a
 * cancel that arrives between calls is used up by the next one rather than
 * lost or carried further. */
#ifndef UNUM_ENGINE_H
#define UNUM_ENGINE_H

#include "engine/base/cancel.h"
#include "engine/chat.h"
#include "engine/config.h"
#include "engine/lora.h"
#include "engine/ops.h"
#include "engine/qwen2.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

typedef struct {
    const char *backend; /* "auto", "cpu", "cuda" (NULL: auto) */
    int threads;         /* 0: all cores */
    int ctx;             /* KV positions (0: model default) */
    void (*progress)(void *user, double done); /* loading, 0..1 (may be NULL) */
    void *progress_user;
    const LoraSpec *lora; /* adapters to apply from the start (engine_set_adapters) */
    int n_lora;
} EngineOptions;

typedef struct {
    char *dir; /* resolved model directory */
    Backend *be;
    Qwen2 *model;
    Tokenizer *tok;
    GenConfig gen;        /* generation_config.json defaults */
    char *default_system; /* from the chat template, or NULL */
    IdVec cached;         /* ids whose keys and values are in the cache */
    float *logits;        /* [V] host buffer (page-locked when logits_pinned) */
    int logits_pinned;
    UnumCancel cancel;
    double load_s;
    char *adapters_key; /* the active adapter set ("dir\tscale\n" each), or NULL */
} Engine;

typedef enum { STOP_LENGTH, STOP_EOS, STOP_CALLBACK, STOP_CANCELLED, STOP_CONTEXT } StopReason;

typedef struct {
    SamplerParams sampling;
    int max_tokens; /* generate at most this many */
    int ignore_eos;
} GenerateParams;

typedef struct {
    int prompt_tokens, reused_tokens, generated;
    double prefill_s, decode_s;
    StopReason stop;
} GenerateStats;

/* Called for each generated id with the text it completes (possibly empty:
 * a multi-byte character split across tokens appears with its last piece).
 * An end-of-sequence id is reported with empty text just before generation
 * stops; after the last id, remaining held-back bytes come with id -1.
 * Return nonzero to stop. */
typedef int (*engine_token_fn)(void *user, int32_t id, const char *text, size_t len);

/* Resolves model (directory or repo id) and loads it. NULL with the error. */
Engine *engine_load(const char *model, const EngineOptions *opt);
void engine_free(Engine *e);

/* Fills sampling defaults from generation_config.json. */
GenerateParams engine_default_params(const Engine *e);

/* Feeds prompt (reusing the longest cached prefix) and generates. Returns 0
 * (see stats->stop for why it stopped), UNUM_CANCELLED when engine_cancel
 * stopped it (stats->stop is STOP_CANCELLED; the ids already passed to fn
 * stand), or -1 with the error set. */
int engine_generate(Engine *e, const int32_t *prompt, size_t n, const GenerateParams *p,
                    engine_token_fn fn, void *user, GenerateStats *stats);

/* Teacher-forced logits of every position of ids: out [n x V], fresh cache.
 * 0, UNUM_CANCELLED ("cancelled" set as the error; out partly written), or
 * -1 with the error set. */
int engine_logits(Engine *e, const int32_t *ids, size_t n, float *out);

/* The same two with input embeddings among the ids: a negative id is a
 * position whose input is the next row of embeds (host [rows x hidden], in
 * order), not a token. The negative values themselves only identify the
 * positions for the cache's prefix reuse (speech.h makes them unique to a
 * clip). */
int engine_generate_embeds(Engine *e, const int32_t *prompt, size_t n, const float *embeds,
                           const GenerateParams *p, engine_token_fn fn, void *user,
                           GenerateStats *stats);
int engine_logits_embeds(Engine *e, const int32_t *ids, size_t n, const float *embeds,
                         float *out);

/* Makes specs[0..n) the active LoRA adapters (n = 0: none), each with its
 * scale, for the calls that follow. The base model stays loaded; only the
 * adapters are read. The same set as before costs nothing; another set
 * empties the prefix cache, so keys and values computed under one set of
 * adapters are never reused under another. 0, or -1 with the error set
 * (then no adapter is active). */
int engine_set_adapters(Engine *e, const LoraSpec *specs, int n);

/* The mean over ids[0..n) of the model's final-norm hidden state, [hidden]
 * floats into out: a sentence embedding from the model's own states (the
 * router's, engine/router.h), under the active adapters. The ids run from
 * position 0, so the prefix cache is emptied. 0, or -1 with the error. */
int engine_embed_ids(Engine *e, const int32_t *ids, size_t n, float *out);
/* The same for text, tokenized as is (no chat template, special-token
 * strings as plain text). */
int engine_embed(Engine *e, const char *text, float *out);
int engine_hidden_size(const Engine *e);

/* Asks the running call to stop; safe from any thread or a signal handler. */
void engine_cancel(Engine *e);
/* Drops a cancel that arrived after the call it was meant for had returned
 * (the caller knows which request a cancel belonged to; the engine does
 * not). */
void engine_cancel_clear(Engine *e);

int engine_n_vocab(const Engine *e);

/* What front ends may know of a loaded engine (they read no Engine field). */
const char *engine_dir(const Engine *e);            /* the resolved model folder */
const Tokenizer *engine_tokenizer(const Engine *e); /* the model's tokenizer */
const char *engine_default_system(const Engine *e); /* the template's, or NULL */
const char *engine_backend_name(const Engine *e);   /* "cpu", "cuda" */
int engine_ctx(const Engine *e);                    /* positions the cache holds */
/* The weights' quantization ("gptq-int4 g128"), "" for float weights;
 * written into buf of n bytes, which it returns. */
const char *engine_quant_name(const Engine *e, char *buf, size_t n);
int engine_ctx_used(const Engine *e);               /* positions in it now */
double engine_load_seconds(const Engine *e);

/* chat_prompt's fitting for this engine: its default system turn, its
 * context, room left for the reply (system: the system turn when the
 * conversation has none; NULL: the model's default). */
ChatFit engine_chat_fit(const Engine *e, const char *system, int room);

/* Whether generation samples on the backend (it has a sampler, and the
 * environment does not say UNUM_DEVICE_SAMPLING=0); then e->logits is not
 * filled during generation. */
int engine_device_sampling(const Engine *e);

#endif
