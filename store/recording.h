/* recording.h - recordings (WAV files on disk, rows in the store) and their
 * transcript segments.
 *
 * Audio never goes into the database: a row points to a WAV file under
 * $XDG_DATA_HOME/unum/recordings. While recording, the writer keeps the file
 * open from store_wav_create, which writes a header with zero sizes and holds
 * an exclusive flock on it; the data is appended after. A crash leaves the
 * row in status 'recording' and the header sizes stale. At every open,
 * store_recording_repair takes each such row whose file nobody holds locked,
 * fixes the header from the data length (dropping at most a partial frame at
 * the end) and marks it complete with its duration and sha256; a file that is
 * missing or has no readable header is marked 'damaged'. Rows are never
 * deleted by repair.
 *
 * The invariant repair relies on: whoever writes a recording's file holds
 * LOCK_EX (flock) on it for as long as its row is in status 'recording'.
 * store_wav_create and audio/wav.c's wav_writer_open both take that lock. */
#ifndef UNUM_RECORDING_H
#define UNUM_RECORDING_H

#include "store/store.h"

#include <stdint.h>

typedef struct {
    int64_t id, session_id; /* session_id 0: none */
    char *path, *status, *sha256, *created;
    double duration_s;
    int sample_rate, channels;
} StoreRecording;

/* Creates path (refusing an existing file) with a 16-bit PCM WAV header of
 * zero sizes, locks it, and returns the open descriptor (positioned after the
 * header) or -1. Close it after store_recording_finish. */
int store_wav_create(const char *path, int sample_rate, int channels);
/* Fixes the RIFF and data sizes of the WAV at path from its length. Outputs
 * may be NULL. */
int store_wav_fix(const char *path, int *sample_rate, int *channels, uint64_t *frames);

/* Adds a row in status 'recording' for the WAV at path. */
int store_recording_begin(Store *st, const char *path, int sample_rate, int channels,
                          int64_t session_id, int64_t *id);
/* Fixes the header, measures the duration and the sha256, and marks the
 * recording complete. */
int store_recording_finish(Store *st, int64_t id);
int store_recording_get(Store *st, int64_t id, StoreRecording *out);
void store_recording_free(StoreRecording *r);
/* The crash repair described above; counts may be NULL. */
int store_recording_repair(Store *st, int *repaired, int *damaged);

int store_segment_add(Store *st, int64_t recording_id, double start_s, double end_s,
                      const char *speaker, const char *text, int64_t *id);

#endif
