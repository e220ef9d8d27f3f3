/* mel.h - Whisper's log-mel spectrogram.
 *
 * Computes exactly what openai/whisper's audio.log_mel_spectrogram computes
 * (and transformers' WhisperFeatureExtractor, up to its numpy padding):
 *
 *   stft = STFT(x, n_fft 400, hop 160, periodic Hann(400), center=True with
 *               reflect padding of 200 samples on both sides)
 *   power = |stft|^2 with the last frame dropped (stft[..., :-1])
 *   mel = filters @ power        filters: librosa.filters.mel(sr=16000,
 *                                n_fft=400, n_mels) - Slaney mel scale and
 *                                Slaney area normalisation, built here
 *   L = log10(max(mel, 1e-10)); L = max(L, max(L) - 8); out = (L + 4) / 4
 *
 * Input is 16 kHz mono. n samples give n / 160 frames; the max(L) - 8 clamp
 * is taken over the whole output. Output is [n_mels x frames], row-major
 * (frames contiguous), as Whisper's encoder reads it.
 *
 * FFTW plans are made in mel_create under a lock (planning is not
 * thread-safe); one mel_ctx must not be used by two threads at once. */
#ifndef UNUM_MEL_H
#define UNUM_MEL_H

#include <stddef.h>

#define MEL_SAMPLE_RATE 16000
#define MEL_N_FFT 400
#define MEL_HOP 160
#define MEL_N_FREQ (MEL_N_FFT / 2 + 1) /* 201 */
#define MEL_CHUNK_SAMPLES 480000       /* 30 s */
#define MEL_CHUNK_FRAMES 3000

typedef struct mel_ctx mel_ctx;

/* n_mels: 80 or 128 for published Whisper models (1..512 accepted). */
mel_ctx *mel_create(int n_mels);
void mel_free(mel_ctx *m);
int mel_n_mels(const mel_ctx *m);
/* The filterbank, [n_mels x MEL_N_FREQ] row-major. */
const float *mel_filters(const mel_ctx *m);

/* Frames produced from n samples (n / 160). */
size_t mel_frames(size_t n);
/* Log-mel of n samples (n >= 201: reflect padding needs more samples than the
 * pad width) into out[n_mels * mel_frames(n)]. */
int mel_compute(mel_ctx *m, const float *x, size_t n, float *out);
/* Whisper's pad_or_trim then log-mel: the first 30 s of x, zero-padded when
 * shorter, into out[n_mels * 3000]. Any n, including 0. */
int mel_compute_30s(mel_ctx *m, const float *x, size_t n, float *out);

#endif
