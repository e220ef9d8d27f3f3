/* wav.h - WAV files in and out, read as hostile input.
 *
 * Reading accepts RIFF/WAVE with PCM 8/16/24/32-bit integer samples, IEEE
 * float32, and WAVE_FORMAT_EXTENSIBLE whose subformat is PCM or float; any
 * channel count (downmixed to mono by averaging) and any sample rate from 1 Hz
 * to WAV_MAX_RATE. Chunks are walked with bounds checks: unknown chunks (LIST,
 * fact, cue, ...) are skipped, odd-sized chunks honour their pad byte, a data
 * chunk that claims more bytes than the file holds (a truncated file, or a
 * header never finalized after a crash) is an error unless WAV_ALLOW_TRUNCATED
 * is given, in which case the whole frames present are read and `truncated` is
 * set. Every error names the file and the field at fault. Samples come back as
 * float32 mono in [-1, 1) (float samples are passed through unchanged, except
 * NaN and infinities, which become 0).
 *
 * Writing produces 16-bit PCM or float32 WAV: the header is written first with
 * placeholder sizes, data is appended, and wav_writer_finalize() patches the
 * sizes so that the file is valid at that point (call it periodically while
 * recording so a crash leaves a playable file). */
#ifndef UNUM_WAV_H
#define UNUM_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WAV_MAX_RATE 4000000 /* Hz; anything above is treated as a corrupt field */

enum { WAV_ALLOW_TRUNCATED = 1 };

/* Sample encodings (the values are the WAVE format tags). */
typedef enum { WAV_PCM = 1, WAV_FLOAT = 3 } wav_encoding;

typedef struct {
    float *samples;  /* [n] mono float32, owned; NULL when n == 0 */
    size_t n;        /* sample frames */
    int sample_rate; /* Hz, as stored in the file */
    int channels;    /* channels in the file (before the downmix) */
    int bits;        /* bits per stored sample: 8, 16, 24, 32 */
    wav_encoding encoding;
    int extensible; /* the fmt chunk was WAVE_FORMAT_EXTENSIBLE */
    int truncated;  /* data chunk was cut short (only with WAV_ALLOW_TRUNCATED) */
} wav_audio;

/* Parses a whole WAV image of len bytes; name is used in error messages.
 * Returns 0 and fills *out (free with wav_audio_free), or -1 with the error
 * set and *out zeroed. */
int wav_read_buffer(const void *buf, size_t len, const char *name, int flags, wav_audio *out);
/* Reads the file at path (at most 4 GiB + 8 bytes, the RIFF limit). */
int wav_read_file(const char *path, int flags, wav_audio *out);
void wav_audio_free(wav_audio *a);

/* Writer: interleaved float input; PCM16 clips to [-1, 1] and rounds. */
typedef struct wav_writer wav_writer;
wav_writer *wav_writer_open(const char *path, int sample_rate, int channels, wav_encoding enc);
/* Appends frames (frames * channels floats). */
int wav_writer_write(wav_writer *w, const float *interleaved, size_t frames);
/* Patches the RIFF and data sizes for everything written so far and flushes;
 * the file is a valid WAV afterwards. May be called any number of times. */
int wav_writer_finalize(wav_writer *w);
/* Frames written so far. */
uint64_t wav_writer_frames(const wav_writer *w);
/* Finalizes, closes and frees (w may be NULL). Returns -1 if the final
 * patch or close failed. */
int wav_writer_close(wav_writer *w);

/* One-shot: writes n frames of interleaved samples to path. */
int wav_write_file(const char *path, const float *interleaved, size_t frames, int sample_rate,
                   int channels, wav_encoding enc);

#endif
