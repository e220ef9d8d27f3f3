/* vad.h - energy + zero-crossing voice activity detection for 16 kHz audio.
 *
 * The stream is cut into frames of frame_ms (30 ms = 480 samples). For each
 * frame: energy E = 10 log10(mean(x^2) + 1e-12) dBFS and the zero-crossing
 * rate Z (sign changes / samples). A frame is speech when
 *
 *     E > floor + threshold_db  and  E > min_energy_db  and
 *     (Z < zcr_max  or  E > floor + threshold_db + zcr_override_db)
 *
 * i.e. loud enough over the background, and not a quiet hiss (broadband noise
 * crosses zero about every other sample; voiced speech far less often). The
 * noise floor starts at the first frame's energy (no lower than
 * floor_min_db; no higher than min_energy_db when that frame is voiced, Z
 * under zcr_max, so that speech from the very first frame is heard), and
 * then follows the background: it falls fast towards
 * quieter frames (coefficient 0.3), rises slowly on non-speech frames (0.05)
 * and very slowly on speech frames (0.002, so a steady noise that was taken
 * for speech is eventually absorbed).
 *
 * Utterances: an utterance starts at the first of min_speech_ms of
 * consecutive speech frames. It ends once min_silence_ms of consecutive
 * non-speech frames follow; its end is the end of the last speech frame plus
 * hangover_ms (never beyond where the silence was confirmed). An utterance
 * reaching max_utterance_ms is cut there and, if speech goes on, a new one
 * starts at the cut. Boundaries are sample offsets from the start of the
 * stream (16 kHz), end exclusive, and fall on frame edges. */
#ifndef UNUM_VAD_H
#define UNUM_VAD_H

#include <stddef.h>
#include <stdint.h>

#define VAD_SAMPLE_RATE 16000

typedef struct {
    int frame_ms;          /* 30 */
    float threshold_db;    /* 10: speech is this far above the noise floor */
    float min_energy_db;   /* -55 dBFS: nothing quieter is speech */
    float floor_min_db;    /* -70 dBFS: the floor never goes below */
    float zcr_max;         /* 0.35 crossings per sample */
    float zcr_override_db; /* 15: this much above the threshold, Z is ignored */
    int min_speech_ms;     /* 90 */
    int min_silence_ms;    /* 300 */
    int hangover_ms;       /* 90 */
    int max_utterance_ms;  /* 30000 (one Whisper window) */
} vad_config;

typedef struct {
    uint64_t start, end; /* samples at 16 kHz, end exclusive */
} vad_segment;

typedef struct vad vad;

void vad_config_default(vad_config *c);
/* cfg NULL: defaults. Returns NULL with the error set on a bad config. */
vad *vad_create(const vad_config *cfg);
void vad_free(vad *v);
/* Feeds n samples of 16 kHz mono audio; finished utterances are queued. */
void vad_feed(vad *v, const float *x, size_t n);
/* Ends the stream: closes an open utterance at the last speech frame
 * (plus hangover) and discards the partial frame. */
void vad_flush(vad *v);
/* Pops the oldest finished utterance into *seg; returns 1, or 0 if none. */
int vad_next(vad *v, vad_segment *seg);
/* 1 while inside an utterance (its start in *start if not NULL). */
int vad_in_speech(const vad *v, uint64_t *start);
/* The current noise floor in dBFS (for a level meter). */
float vad_noise_floor_db(const vad *v);

#endif
