/* speech.h - a speech LLM in LLaMA-Omni2's layout (docs/speech-llm.md): a
 * Whisper encoder, a projector, and a Qwen2 backbone that reads the
 * projected audio frames in place of a placeholder token.
 *
 *   audio  16 kHz, pad or trim to 30 s, 128-bin log-mel  [128 x 3000]
 *   enc    the Whisper encoder                            [1500 x d]
 *   cat    the last (1500 % k) frames dropped, k = speech_encoder_ds_rate
 *          consecutive frames side by side               [1500/k x k*d]
 *   proj   linear2(relu(linear1(cat)))                    [300 x hidden]
 *
 * The encoder's tensors are in the checkpoint under model.speech_encoder.
 * with openai-whisper's names, or, when config.json's speech_encoder names
 * a directory inside the model directory, in that Hugging Face Whisper
 * directory. The backbone is the Engine (engine.h) of the same directory. */
#ifndef UNUM_SPEECH_H
#define UNUM_SPEECH_H

#include "engine/chat.h"
#include "engine/engine.h"
#include "engine/whisper.h"

#include <stddef.h>

/* The placeholder id in a prompt: where a clip's frames go (chat.h's). */
#define SPEECH_PLACEHOLDER CHAT_CLIP_ID

typedef struct {
    Engine *e;          /* the backbone, tokenizer, sampling defaults */
    Whisper *enc;       /* the encoder alone */
    Weight l1, l1b, l2, l2b; /* model.speech_projector.linear{1,2} */
    int k;              /* frames concatenated (speech_encoder_ds_rate) */
    int frames;         /* projected frames per clip: n_audio / k */
    float *h, *out;     /* backend buffers [frames x l1.rows], [frames x hidden] */
    STModel st;         /* the checkpoint, for the projector */
} SpeechLLM;

/* Whether dir's config.json is a speech LLM's (0 also when unreadable). */
int speech_is_model(const char *dir);

/* Loads a speech LLM (a directory or repo id). NULL with the error set. */
SpeechLLM *speech_load(const char *model, const EngineOptions *opt);
void speech_free(SpeechLLM *s);

/* The projected frames of one clip of n samples of 16 kHz mono audio:
 * host float32 [s->frames x hidden] into out. Audio past 30 s is cut off
 * (as the published model does). 0, or -1 with the error set. */
int speech_embed(SpeechLLM *s, const float *pcm, size_t n, float *out);

/* Expands a prompt with SPEECH_PLACEHOLDER ids into the sequence the
 * backbone reads: each placeholder becomes s->frames positions, marked in
 * *ids by negative ids unique to the clip (so the engine's cache reuse
 * tells clips apart), whose embeddings are the clip's rows of *embeds
 * (new arrays; clips are used in order). 0, or -1 with the error set (more
 * placeholders than clips, or the other way round). */
int speech_expand(SpeechLLM *s, const int32_t *prompt, size_t n, const float *const *clips,
                  int n_clips, int32_t **ids, size_t *n_ids, float **embeds);

/* Longer audio: one clip per 30 s, in order (new arrays; at least one). */
int speech_embed_all(SpeechLLM *s, const float *pcm, size_t n, float ***clips, int *n_clips);

/* The chat prompt of one spoken turn (chat_prompt's, into out, cleared):
 * the system turn (system, else the model's default), a user turn holding
 * n_clips SPEECH_PLACEHOLDERs where the clips go and then text (may be
 * NULL), and the assistant's header; an error when its expansion does not
 * fit the context. */
int speech_chat_prompt(SpeechLLM *s, const char *system, const char *text, int n_clips,
                       IdVec *out);

#endif
