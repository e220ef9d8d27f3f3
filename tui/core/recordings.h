/* recordings.h - recordings as files and rows together: the part of the
 * recorder that is neither capture (audio/capture.h) nor SQL
 * (store/recording.h, store/meeting_store.h).
 *
 * A recording's file is created by audio/wav.c's writer (exclusively, mode
 * 0600, locked while it is written), its row added in status 'recording';
 * recording_finish fixes the file's header and marks the row complete. A
 * crash leaves the row in 'recording': recordings_repair, which
 * recordings_open runs at every open, fixes each such file that no live
 * writer holds and marks its row complete, or damaged when the file is
 * missing or holds no usable audio. */
#ifndef UNUM_RECORDINGS_H
#define UNUM_RECORDINGS_H

#include "store/store.h"

#include <stdint.h>

/* store_open, then recordings_repair: how every program (the app, the
 * command line) opens the store. */
int recordings_open(const char *db, Store **out);

/* Fixes the header of recording id's file, measures its duration and
 * sha256, and marks it complete. 0, or -1 with the error set. */
int recording_finish(Store *st, int64_t id);

/* The crash repair described above; counts may be NULL. A file that cannot
 * be read or written now (permissions, I/O) stays in 'recording' for the
 * next open, with a line on stderr. */
int recordings_repair(Store *st, int *repaired, int *damaged);

/* Imports the WAV at path: checks its header, copies it into the store's
 * recordings folder a block at a time (never whole in memory), and adds a
 * complete recording (duration, format, sha256, source = path). A file
 * whose sha256 is already in the store gives that recording (*existing = 1)
 * and is not copied again. */
int recording_import(Store *st, const char *path, int64_t *id, int *existing);

#endif
