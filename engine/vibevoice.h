/* vibevoice.h - VibeVoice-ASR: who said what, in one pass over the audio
 * (docs/vibevoice.md has every fact below with its source).
 *
 *   audio   24 kHz mono, normalized to -25 dBFS RMS, then peak-limited to 1
 *   enc     two causal convolutional encoders (acoustic, semantic) of the
 *           same shape: a stem convolution, then stages each opened by a
 *           strided convolution (hop: the strides' product, 3200) and made
 *           of blocks  x += gamma * dwconv(rmsnorm(x))
 *                      x += ffn_gamma * fc2(gelu(fc1(rmsnorm(x))))
 *           and a head convolution to vae_dim channels; ceil(samples / hop)
 *           frames. The acoustic output is a Gaussian's mean: the published
 *           Transformers path adds noise of fix_std to it on every call,
 *           unum uses the mean, so the result is deterministic.
 *   conn    per encoder fc2(rmsnorm(fc1(mean))) into the decoder's width;
 *           the two are summed, one row per frame
 *   prompt  the published processor's: a system turn, a user turn holding
 *           <|object_ref_start|>, one <|box_start|> per frame,
 *           <|object_ref_end|> and a sentence giving the duration, and no
 *           assistant header (the model writes it)
 *   decoder a Qwen2 (engine.h), the frames' rows in place of the pads
 *   output  JSON segments [{"Start", "End", "Speaker", "Content"}]
 *
 * Audio is encoded in segments of whole frames with a cache per
 * convolution (the published streaming form), which equals encoding it at
 * once; the segment length only trades memory for speed. */
#ifndef UNUM_VIBEVOICE_H
#define UNUM_VIBEVOICE_H

#include "engine/base/cancel.h"
#include "engine/engine.h"
#include "engine/transcribe.h"

#include <stddef.h>
#include <stdint.h>

#define VV_MAX_STAGES 12

typedef struct VVEncoder VVEncoder;
typedef struct VVWork VVWork;

typedef struct {
    Engine *e;                    /* the decoder, tokenizer and sampling defaults */
    VVEncoder *acoustic, *semantic;
    VVWork *work;                 /* the encoders' shared work buffers */
    Weight fc1[2], fc1b[2], norm[2], fc2[2], fc2b[2]; /* connectors: [0] acoustic, [1] semantic */
    int hop;                      /* samples per frame (3200) */
    int rate;                     /* sample rate the encoders hear (24000) */
    int32_t speech_start, speech_end, speech_pad; /* token ids */
    int32_t im_end, endoftext;    /* where a transcript ends */
    STModel st;                   /* the checkpoint, for the encoders */
} VibeVoice;

/* Checks a config.json text's speech encoders (path names it in errors):
 * 0 with the frame hop, or -1 with the error set. */
int vibevoice_config_check(const char *json, size_t len, const char *path, int *hop);

/* Whether dir's config.json is VibeVoice's (0 also when unreadable). */
int vibevoice_is_model(const char *dir);

/* Loads a VibeVoice-ASR model (a directory or repo id). NULL with the
 * error set, naming the file and field at fault. */
VibeVoice *vibevoice_load(const char *model, const EngineOptions *opt);
void vibevoice_free(VibeVoice *v);

/* The published input normalization, in place: -25 dBFS RMS, then divided
 * by the peak when it passes 1. */
void vibevoice_normalize(float *pcm, size_t n);

/* Frames for n samples: ceil(n / hop). */
size_t vibevoice_frames(const VibeVoice *v, size_t n);

/* Progress of encoding: samples done of total. */
typedef void (*vibevoice_progress_fn)(void *user, size_t done, size_t total);

/* Encodes n samples of normalized audio at v->rate. Each output may be
 * NULL; host float32, frames x width: acoustic and semantic means
 * [F x vae_dim], and the summed connector rows [F x hidden]. segment: the
 * frames per encoded segment (0: 60 s on a GPU, 10 s on the CPU). 0, UNUM_CANCELLED, or -1 with the
 * error set. */
int vibevoice_encode(VibeVoice *v, const float *pcm, size_t n, int segment, float *acoustic,
                     float *semantic, float *embeds, vibevoice_progress_fn fn, void *user,
                     UnumCancel *cancel);
/* One connector (semantic 0: acoustic, 1: semantic) on F rows of its
 * encoder's means (host [F x vae_dim]), its rows added into out (host
 * [F x hidden]). 0, or -1 with the error set. */
int vibevoice_connector(VibeVoice *v, int semantic, const float *mean, size_t F, float *out);
/* The two encoders' output widths. */
int vibevoice_vae_dim(const VibeVoice *v, int semantic);

/* The processor's prompt for n samples (into out, cleared); context: the
 * processor's optional extra information (names, terms), or NULL. */
int vibevoice_prompt(VibeVoice *v, size_t n, const char *context, IdVec *out);

/* What the decoder reads for n samples at v->rate (not yet normalized;
 * pcm is not changed): the frames' connector rows (*embeds, a new host
 * array [F x hidden]) and ids with the frames marked
 * (vibevoice_mark_frames). When ids is empty the processor's prompt is made
 * (with context); otherwise its speech pads must number F. 0,
 * UNUM_CANCELLED or -1 with the error set. */
int vibevoice_inputs(VibeVoice *v, const float *pcm, size_t n, const char *context, int segment,
                     IdVec *ids, float **embeds, vibevoice_progress_fn fn, void *user,
                     UnumCancel *cancel);

/* Replaces the speech-pad ids of ids (they must number exactly frames)
 * by negative ids unique to this audio (tag, e.g. a hash of it), in
 * order, for engine_*_embeds. 0, or -1 with the error set. */
int vibevoice_mark_frames(const VibeVoice *v, int32_t *ids, size_t n, size_t frames,
                          uint32_t tag);

/* ------------------------------------------------------------ transcripts */

typedef struct {
    int max_tokens;    /* 0: as many as the context allows */
    int segment;       /* encoder segment in frames (0: the default, vibevoice_encode) */
    /* as TranscribeParams': each segment as soon as it is complete; progress
     * of encoding then of decoding (seconds of audio covered) */
    int (*on_segment)(void *ud, const TSegment *s);
    void (*on_progress)(void *ud, double done_s, double total_s);
    /* a warning for the user (a repetition loop cut, output that is not
     * JSON kept as text) */
    void (*on_warning)(void *ud, const char *msg);
    void *ud;
    UnumCancel *cancel;
    uint64_t seed;
} VibeVoiceParams;

/* Transcribes n samples at v->rate (not yet normalized; pcm is not
 * changed): segments with start, end, speaker and text are appended to out,
 * times offset by t0. Greedy; a repetition loop is cut at the last
 * complete segment and the rest decoded again at temperature 0.3 (twice
 * at most). Output that is not valid JSON is kept as a segment without a
 * speaker. 0, UNUM_CANCELLED, or -1 with the error set. */
int vibevoice_transcribe(VibeVoice *v, const float *pcm, size_t n, double t0,
                         const VibeVoiceParams *p, Transcript *out);

/* The same with gen in place of the engine's generation
 * (engine_generate_embeds' arguments; gen_ctx passed through): for tests of
 * the decoding loop with scripted output. */
typedef int (*vibevoice_gen_fn)(void *gen_ctx, Engine *e, const int32_t *ids, size_t n,
                                const float *embeds, const GenerateParams *p, engine_token_fn fn,
                                void *user);
int vibevoice_transcribe_with(VibeVoice *v, const float *pcm, size_t n, double t0,
                              const VibeVoiceParams *p, Transcript *out, vibevoice_gen_fn gen,
                              void *gen_ctx);

/* Parses the model's output text into segments appended to out (times
 * offset by t0, clamped to [0, dur]); what is not JSON, or not a segment,
 * becomes a segment of its text without a speaker, and *warned is set.
 * Exposed for tests. */
int vibevoice_parse(const char *text, double t0, double dur, Transcript *out, int *warned);

/* Where text (the output so far) loops: the length of the prefix to keep
 * (ending after the last complete segment before the loop), or -1 when it
 * does not loop. A loop is a span of at least 3 repeats of the same
 * pattern of 1 to 256 tokens at the end of ids, covering 48 tokens or more. */
long vibevoice_loop_cut(const int32_t *ids, size_t n);

#endif
