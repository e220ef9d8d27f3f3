/* load.h - a WAV file as the speech models hear it: 16 kHz mono float32.
 *
 * The one way unum reads audio files (transcribe, mel, meeting transcripts,
 * voice messages, run --audio). Bounded work whatever the file claims:
 *  - sample rates below AUDIO_MIN_RATE or above AUDIO_MAX_RATE are refused
 *    with a message naming the file (a 63 Hz file would otherwise turn a few
 *    hundred kilobytes into gigabytes of 16 kHz samples);
 *  - only the span asked for is decoded and resampled;
 *  - the file is read as a stream, a block at a time.
 * Memory: the 16 kHz output, 64,000 bytes per second of audio returned
 * (230.4 MB per hour), plus under 1 MiB of buffers, whatever the file's
 * rate, width or channel count (docs/architecture.md; tests/test_audio.c
 * keeps to it). The conversion is audio/resample.h's (libsamplerate's best sinc);
 * 16 kHz files are copied exactly. */
#ifndef UNUM_AUDIO_LOAD_H
#define UNUM_AUDIO_LOAD_H

#include <stddef.h>

#define AUDIO_MIN_RATE 8000
#define AUDIO_MAX_RATE 384000

/* Reads [start_s, start_s + dur_s) of the WAV at path (dur_s <= 0: to the
 * end; a start past the end gives no samples) into *out (new array, NULL
 * when *n is 0), *n samples at 16 kHz. *file_s, when not NULL, gets the
 * whole file's duration in seconds. 0, or -1 with the error naming path. */
int audio_read_16k(const char *path, double start_s, double dur_s, float **out, size_t *n,
                   double *file_s);
/* The same at another rate (a model that hears 24 kHz); target in
 * [AUDIO_MIN_RATE, AUDIO_MAX_RATE], a file at that rate copied exactly. */
int audio_read_rate(const char *path, double start_s, double dur_s, int target, float **out,
                    size_t *n, double *file_s);

#endif
