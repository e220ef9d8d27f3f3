/* recording.h - recordings' rows in the store and their transcript
 * segments. SQL only: the files themselves are audio/wav.c's (creation,
 * header repair) and tui/core/recordings.c's (finishing, the crash repair,
 * import), which call these.
 *
 * Audio never goes into the database: a row points to a WAV file under
 * $XDG_DATA_HOME/unum/recordings (absolute, so that the repair finds it from
 * any folder). A row is added in status 'recording' once its file exists;
 * a crash leaves it so, and the repair (recordings_repair, run whenever a
 * program opens the store through recordings_open) marks it 'complete'
 * with what the fixed file holds, or 'damaged'. Rows are never deleted by
 * the repair.
 *
 * The invariant the repair relies on: whoever writes a recording's file
 * holds LOCK_EX (flock) on it for as long as its row is in status
 * 'recording' (audio/wav.c's writer does). */
#ifndef UNUM_RECORDING_H
#define UNUM_RECORDING_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id, session_id; /* session_id 0: none */
    char *path, *status, *sha256, *created;
    double duration_s;
    int sample_rate, channels;
} StoreRecording;

/* Adds a row in status 'recording' for the WAV at path. */
int store_recording_begin(Store *st, const char *path, int sample_rate, int channels,
                          int64_t session_id, int64_t *id);
/* Marks the recording complete with what its finished file holds. */
int store_recording_complete(Store *st, int64_t id, double duration_s, int sample_rate,
                             int channels, const char *sha256);
/* Marks it damaged (its file is missing or holds no usable audio). */
int store_recording_damaged(Store *st, int64_t id);
/* Its file's path (new string), or NULL with the error set. */
char *store_recording_path(Store *st, int64_t id);
/* The rows still in status 'recording', oldest first: ids and paths in new
 * arrays (the paths new strings), *n of them. */
int store_recordings_unfinished(Store *st, int64_t **ids, char ***paths, size_t *n);
int store_recording_get(Store *st, int64_t id, StoreRecording *out);
void store_recording_free(StoreRecording *r);

int store_segment_add(Store *st, int64_t recording_id, double start_s, double end_s,
                      const char *speaker, const char *text, int64_t *id);

#endif
