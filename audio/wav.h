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
 * Reading streams: wav_read_file and wav_reader_* read the file a block at a
 * time (never the whole file at once); wav_read_buffer parses an image in
 * memory. Both walk the header the same way.
 *
 * Writing produces 16-bit PCM or float32 WAV, always into a new file: the
 * writer creates it exclusively (O_EXCL, mode 0600; an existing file is
 * never truncated), holds an exclusive flock on it until it closes, and
 * writes the header with placeholder sizes, durable before the call
 * returns; data is appended, and wav_writer_finalize() patches the sizes so
 * that the file is valid at that point (call it periodically while
 * recording so a crash leaves a playable file). wav_fix_header is the one
 * repair for a file whose writer died: it makes the sizes agree with the
 * data on disk. */
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
/* Reads the file at path, streaming it (memory: the samples plus 64 KiB). */
int wav_read_file(const char *path, int flags, wav_audio *out);
void wav_audio_free(wav_audio *a);

/* What a WAV file holds, from its header. */
typedef struct {
    int sample_rate, channels, bits;
    wav_encoding encoding;
    int extensible, truncated;
    uint64_t frames; /* whole frames of data present */
} wav_info;

/* A WAV file read a block at a time as mono float32 (the channels averaged,
 * as wav_read_file does). */
typedef struct wav_reader wav_reader;
/* Opens path and reads its header (flags as for wav_read_file); *info may
 * be NULL. NULL with the error naming the file. */
wav_reader *wav_reader_open(const char *path, int flags, wav_info *info);
/* The next frame to read becomes frame (at most info.frames). */
int wav_reader_seek(wav_reader *r, uint64_t frame);
/* Reads up to max frames into mono: the count (at most 64 KiB of the file's
 * bytes at a time), 0 at the end, -1 with the error set. */
long wav_reader_read(wav_reader *r, float *mono, size_t max);
void wav_reader_close(wav_reader *r);

/* Writer: interleaved float input; PCM16 clips to [-1, 1] and rounds. */
typedef struct wav_writer wav_writer;
/* Creates path, which must not exist (see the top of this file). NULL with
 * the error set (errno EEXIST when the name is taken). */
wav_writer *wav_writer_open(const char *path, int sample_rate, int channels, wav_encoding enc);
/* The same under a name that cannot collide: DIR/STEM.wav, else
 * DIR/STEM-2.wav, -3, ... the first that does not exist when created
 * (exclusively, so two writers started at once get two files). */
wav_writer *wav_writer_create_unique(const char *dir, const char *stem, int sample_rate,
                                     int channels, wav_encoding enc);
/* The file's path (owned by the writer). */
const char *wav_writer_path(const wav_writer *w);
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

/* Repair of a file whose writer stopped without finalizing (a crash): the
 * RIFF and data sizes are set from the data on disk (a partial last frame
 * dropped, the pad byte added). With WAV_FIX_SKIP_LOCKED a file whose
 * writer still holds its lock is left alone (WAV_FIX_LOCKED); with
 * WAV_FIX_SHA256 the fixed file's digest is filled in. Returns 0,
 * WAV_FIX_LOCKED, WAV_FIX_DAMAGED (missing, or no usable header: the error
 * says which), or -1 when it could not be read or written now. */
enum { WAV_FIX_SKIP_LOCKED = 1, WAV_FIX_SHA256 = 2 };
enum { WAV_FIX_LOCKED = 1, WAV_FIX_DAMAGED = -2 };
typedef struct {
    int sample_rate, channels;
    uint64_t frames;
    char sha256[65]; /* with WAV_FIX_SHA256 */
} wav_fixed;
int wav_fix_header(const char *path, int flags, wav_fixed *out);

#endif
