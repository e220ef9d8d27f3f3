/* models.h - several models in one engine, each by its role, under one
 * memory budget.
 *
 * A role (chat, second stage, draft, report writer, speech recognizer,
 * speech LLM) names where its model comes from; the model is loaded on
 * first use, each with its own KV cache. Most roles hold a language model
 * (an Engine); ROLE_WHISPER holds a Whisper model with its transcriber
 * (engine/transcribe.h, models_acquire_transcriber) and ROLE_SPEECH a
 * speech LLM (engine/speech.h, models_speech), whose backbone is the
 * Engine that models_acquire hands out. Every model, whatever its kind,
 * counts against the same budget and may be unloaded for another.
 * Loading a model that does not fit the budget next to those loaded first
 * unloads the least recently used one that is not in use; a model that
 * cannot fit even alone, or not beside the models in use, is an error that
 * names the sizes. A model's size is an estimate made before loading it:
 * its weight files, its KV cache (ctx x layers x 2 x kv width x 4 bytes)
 * and its activations and logits buffers. A Whisper model's is its weights,
 * its decoder's self- and cross-attention caches (layers x 2 x (text +
 * audio positions) x width x 4 bytes) and its encoder's activations; a
 * speech LLM's is its backbone's plus its encoder's weights when they are
 * a directory of their own.
 *
 * Each role may be placed on its own backend (EngineOptions.backend), so a
 * GPU too small for two models keeps stage 1 there and stage 2 on the CPU.
 *
 * Threading: a Models belongs to one thread (the engine thread); the
 * engines it hands out are used on that thread. */
#ifndef UNUM_MODELS_H
#define UNUM_MODELS_H

#include "engine/engine.h"

#include <stddef.h>

#include "engine/speech.h"
#include "engine/transcribe.h"

typedef enum {
    ROLE_CHAT,
    ROLE_STAGE2,
    ROLE_DRAFT,
    ROLE_REPORT,
    ROLE_WHISPER, /* a Transcriber */
    ROLE_SPEECH,  /* a SpeechLLM */
    ROLE_COUNT
} ModelRole;

/* "chat", "stage 2", "draft", "report", "whisper", "speech LLM". */
const char *models_role_name(ModelRole role);

typedef struct Models Models;

/* A set of roles under budget bytes (0: the default for the backend of
 * the first model counted, models_default_budget_for). */
Models *models_new(size_t budget);
/* Frees every model it loaded (never one adopted unowned). */
void models_free(Models *m);
size_t models_budget(const Models *m);
/* A new budget (0: the default, as for models_new) for the loads that
 * follow; what is loaded stays until a load needs its room. */
void models_set_budget(Models *m, size_t budget);

/* Where role's model comes from (a directory or repo id; NULL: none) and
 * how to load it (ROLE_WHISPER reads opt's backend and threads alone);
 * unloads the one it had. The strings in opt must outlive the Models (the
 * backend is best one of the static "auto", "cpu", "cuda"); the model is
 * copied. 0, or -1 with the error set (the role is in use). */
int models_set(Models *m, ModelRole role, const char *model, const EngineOptions *opt);
/* The model set for role, or NULL. */
const char *models_model(const Models *m, ModelRole role);
/* An engine loaded elsewhere for role, counted against the budget but
 * never unloaded (its owner frees it after models_free). */
int models_adopt(Models *m, ModelRole role, Engine *e);

/* role's engine, loaded if need be (unloading least recently used models
 * not in use to make room), and marked in use until models_release (each
 * acquire wants its release). For ROLE_SPEECH the speech LLM's backbone;
 * ROLE_WHISPER has no engine: an error. NULL with the error set (naming
 * the model and the sizes when it cannot fit). */
Engine *models_acquire(Models *m, ModelRole role);
/* The same for ROLE_WHISPER: its transcriber, in use until
 * models_release(m, ROLE_WHISPER). */
Transcriber *models_acquire_transcriber(Models *m);
/* ROLE_SPEECH's speech LLM while it is loaded, else NULL. */
SpeechLLM *models_speech(const Models *m);
void models_release(Models *m, ModelRole role);
/* Whether role's model is loaded now (for the status bar and the tests). */
int models_loaded(const Models *m, ModelRole role);
/* Whether role's model is in use (acquired and not yet released). */
int models_in_use(const Models *m, ModelRole role);
/* The name of the backend role's loaded model runs on ("cpu", "cuda"), or
 * NULL when it is not loaded. */
const char *models_backend(const Models *m, ModelRole role);
/* Where the loaded models other than the chat model (ROLE_CHAT,
 * ROLE_SPEECH) live, into out (n bytes, always terminated), in role
 * order, "" when none: "stage 2: NAME on cpu, whisper: NAME on cuda", or
 * with brief "stage 2 cpu, whisper cuda" (NAME: the folder's last part). */
void models_where(const Models *m, int brief, char *out, size_t n);
/* Bytes counted for the loaded models. */
size_t models_used(const Models *m);

/* The estimate above for model with a cache of ctx positions (0: the
 * default); 0, or -1 with the error set. */
int models_estimate(const char *model, int ctx, size_t *bytes);
/* What the machine has minus a margin: physical memory less a tenth (at
 * least 1 GiB). */
size_t models_default_budget(void);
/* The default budget for models on backend (as EngineOptions.backend
 * names it): the GPU's memory less the same margin when backend runs on
 * one (backend_device_memory), else models_default_budget(). */
size_t models_default_budget_for(const char *backend);
/* "8G", "512M", "1.5GiB", "300000000": bytes (K, M, G, T are powers of
 * 1024). 0, or -1 with the error naming text. */
int models_parse_size(const char *text, size_t *bytes);

#endif
