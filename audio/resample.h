/* resample.h - band-limited sample-rate conversion of mono float audio.
 *
 * Uses libsamplerate with SRC_SINC_BEST_QUALITY: for offline files the cost is
 * small next to Whisper itself and it keeps aliasing far below 16-bit noise
 * (libsamplerate documents ~97 dB SNR and a 97% bandwidth for this converter).
 * Converting to the same rate is an exact copy. */
#ifndef UNUM_RESAMPLE_H
#define UNUM_RESAMPLE_H

#include <stddef.h>

#define RESAMPLE_WHISPER_RATE 16000

/* Converts n samples at rate_in Hz to rate_out Hz into a new buffer
 * (*out, *n_out; *out is NULL when *n_out is 0). Output length is about
 * n * rate_out / rate_in. Returns 0, or -1 with the error set. */
int resample(const float *in, size_t n, int rate_in, int rate_out, float **out, size_t *n_out);
/* resample(..., rate_in, 16000, ...). */
int resample_to_16k(const float *in, size_t n, int rate_in, float **out, size_t *n_out);

#endif
