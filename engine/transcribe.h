/* transcribe.h - from audio to timed text with a Whisper model, or with
 * speakers through a VibeVoice-ASR model (vibevoice.h: one pass over the
 * whole audio, which the functions below hand it to).
 *
 * Whisper's decoding is the published one (openai/whisper decoding.py and
 * transcribe.py), on unum's Whisper forward pass:
 *
 *   prompt   [<|startofprev|> previous text] <|startoftranscript|>
 *            [<|lang|> <|task|>] [<|notimestamps|>]  (language and task only
 *            for multilingual models)
 *   filters  at each step, in order: blank suppression at the first step
 *            (" " and end of text), the model's suppressed tokens and the
 *            task/control specials, and the timestamp rules: timestamps come
 *            in pairs (except just before the end), never decrease, the
 *            first token is a timestamp no later than 1 s, and when the
 *            timestamps together are likelier than any text token a
 *            timestamp is forced
 *   search   greedy at temperature 0, beam search (patience 1, candidates
 *            ranked by sum log-prob / length) when beam > 1, and at
 *            temperature > 0 best_of samples ranked the same way
 *   fallback a window is decoded again at the next temperature (0, 0.2, ..
 *            1.0) while its text compresses too well (gzip ratio > 2.4, a
 *            loop) or its average log-prob is below -1, unless the
 *            no-speech probability says it is silence
 *   windows  30 s windows of the whole-audio log-mel: the next window starts
 *            at the last complete timestamp pair, or after the window when
 *            it ended on a single timestamp or had none; a window judged
 *            silent (no-speech probability > 0.6 and average log-prob
 *            < -1) is skipped; the text so far (since the last fallback
 *            above temperature 0.5) is the next window's prompt
 *
 * One deliberate difference: a window that would not move the position
 * (a zero-length timestamp pair at its start) moves on by the whole window
 * instead of decoding the same audio again forever.
 *
 * The streaming form feeds live audio through the voice activity detector
 * (audio/vad.h) and transcribes each utterance as it ends. */
#ifndef UNUM_TRANSCRIBE_H
#define UNUM_TRANSCRIBE_H

#include "engine/base/cancel.h"
#include "engine/tokenizer.h"
#include "engine/whisper.h"

#include <stddef.h>
#include <stdint.h>

/* The special tokens of a Whisper vocabulary, found in tokenizer.json by
 * their text, and the decoding settings of generation_config.json. */
typedef struct {
    int32_t eot, sot, translate, transcribe, sot_lm, sot_prev, no_speech, no_timestamps;
    int32_t ts_begin;            /* <|0.00|>; timestamps are ts_begin + k (0.02 s each) */
    int32_t lang_first, n_langs; /* <|en|> .. : language tokens are consecutive */
    int multilingual;
    int max_initial_ts;          /* max_initial_timestamp_index (50: 1 s) */
    int32_t *suppress;           /* suppressed at every step */
    int n_suppress;
    int32_t *begin_suppress;     /* suppressed at the first step */
    int n_begin_suppress;
} WhisperVocab;

/* Finds the special tokens in tok (tokenizer.json, named tok_name in
 * errors) for a model with V ids, and reads generation_config.json's text
 * (gen_json, gen_len; NULL when the model has none). 0, or -1 with the
 * error set. */
int whisper_vocab_load(WhisperVocab *v, const Tokenizer *tok, int V, const char *gen_json,
                       size_t gen_len, const char *gen_name, const char *tok_name);
void whisper_vocab_free(WhisperVocab *v);

typedef struct TSegment TSegment;

typedef struct {
    const char *language;   /* ISO code ("en", "de", ..); NULL: detect (multilingual) */
    int translate;          /* the translate task (multilingual models) */
    int timestamps;         /* 1: predict timestamps; 0: one segment per window */
    int beam;               /* > 1: beam search of this width at temperature 0 */
    int best_of;            /* samples per window at temperature > 0 (5) */
    float temperature;      /* first temperature (0) */
    float temperature_inc;  /* fallback step (0.2); 0: no fallback */
    float compression_ratio_threshold; /* 2.4 */
    float logprob_threshold;           /* -1 */
    float no_speech_threshold;         /* 0.6 */
    int condition_on_previous;         /* 1 */
    uint64_t seed;
    int max_tokens;                    /* a speaker-aware model's output cap (0: its context) */
    /* Called with each segment as soon as its window is decoded; a nonzero
     * return stops the transcription. */
    int (*on_segment)(void *ud, const TSegment *s);
    /* Called after each window with the audio seconds done and in all. */
    void (*on_progress)(void *ud, double done_s, double total_s);
    /* Called with a warning for the user (a speaker-aware model's cut
     * repetition loop, output kept as text); NULL: printed on stderr. */
    void (*on_warning)(void *ud, const char *msg);
    void *ud;
    UnumCancel *cancel; /* may be NULL; set (from anywhere) to stop */
} TranscribeParams;

struct TSegment {
    double start, end;     /* seconds from the start of the audio */
    char *text;            /* as decoded (Whisper puts a space before words) */
    char *speaker;         /* the speaker's label ("S1"), or NULL (Whisper has none) */
    int32_t *tokens;       /* text and timestamp tokens */
    int n_tokens;
    float avg_logprob, compression_ratio, no_speech_prob, temperature;
};

typedef struct {
    char language[16];
    TSegment *seg;
    int n, cap;
} Transcript;

typedef struct Transcriber Transcriber;

/* Sets p to the published defaults. */
void transcribe_defaults(TranscribeParams *p);

/* A transcriber for the Whisper model w loaded from dir (whose
 * tokenizer.json and generation_config.json it reads). NULL with the error
 * set, naming the file at fault. */
Transcriber *transcriber_new(Whisper *w, const char *dir);
/* The one way a program loads a speech model: model (a directory or repo
 * id, modeldir.h) resolved, a backend of its own opened (backend "auto",
 * "cpu", "cuda" or NULL; threads 0: all cores), the model loaded and its
 * transcriber made. The transcriber owns the model and the backend, and
 * transcriber_free releases them. NULL with the error set. */
Transcriber *transcriber_load(const char *model, const char *backend, int threads);
/* transcriber_load's resolved model folder (NULL for transcriber_new's) and
 * the backend's name. */
const char *transcriber_dir(const Transcriber *t);
const char *transcriber_backend(const Transcriber *t);
/* The sample rate the model hears (16000 for Whisper, 24000 for
 * VibeVoice), and whether its segments name speakers. */
int transcriber_rate(const Transcriber *t);
int transcriber_speakers(const Transcriber *t);
/* Frees t, with the model and backend when it owns them. */
void transcriber_free(Transcriber *t);
const WhisperVocab *transcriber_vocab(const Transcriber *t);
const Tokenizer *transcriber_tokenizer(const Transcriber *t);

/* Transcribes n samples of 16 kHz mono audio. Segments are appended to out
 * (and passed to on_segment); segment times are offset by t0 seconds.
 * Returns 0, UNUM_CANCELLED (1) when *p->cancel was set or on_segment
 * stopped it (out holds what was done), or -1 with the error set. */
int transcribe(Transcriber *t, const float *pcm, size_t n, double t0, const TranscribeParams *p,
               Transcript *out);

/* The same for n samples at rate Hz (resampled to the model's rate
 * unless they are at it). */
int transcribe_at(Transcriber *t, const float *pcm, size_t n, int rate, double t0,
                  const TranscribeParams *p, Transcript *out);

/* Detects the spoken language of the first window: the language token most
 * likely after <|startoftranscript|>. Writes the ISO code (and its
 * probability when prob is not NULL). English-only models answer "en". */
int transcribe_detect_language(Transcriber *t, const float *pcm, size_t n, char code[16],
                               float *prob);

void transcript_free(Transcript *tr);

/* gzip-style compression ratio of text: bytes / zlib-compressed bytes. */
double transcribe_compression_ratio(const char *text);

/* ------------------------------------------------------------ streaming */

/* Live transcription: audio is fed as it arrives; the voice activity
 * detector cuts it into utterances, and each finished utterance is
 * transcribed (in the caller's thread, inside tstream_feed) with the text
 * so far as its prompt. Segments go to p->on_segment and to out, timed from
 * the start of the stream. */
typedef struct TStream TStream;
TStream *tstream_new(Transcriber *t, const TranscribeParams *p, Transcript *out);
/* 0, 1 when stopped, or -1 with the error set. */
int tstream_feed(TStream *s, const float *pcm, size_t n);
/* Ends the stream: the utterance in progress is transcribed. */
int tstream_finish(TStream *s);
void tstream_free(TStream *s);

#endif
