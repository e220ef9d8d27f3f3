/* meeting_store.h - the store's side of meetings: recordings imported from WAV
 * files, their transcript segments in order, whether a transcript is whole,
 * and the reports written from them.
 *
 * An imported WAV is copied into the recordings folder (the store keeps
 * what it points to) and found again by its sha256, so importing the same
 * file twice gives the same recording, and its transcript resumes; the
 * copying is tui/core/recordings.c's, the rows are here. */
#ifndef UNUM_MEETING_STORE_H
#define UNUM_MEETING_STORE_H

#include "store/session.h" /* StoreReport */
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;
    char *path, *source, *status, *created;
    double duration_s;
    int transcribed;  /* the transcript is whole */
    int64_t segments; /* segments stored */
    int64_t reports;  /* reports written from it */
    char *title;      /* given by the user ('' when none) */
} StoreMeeting;


typedef struct {
    int64_t id;
    double start_s, end_s;
    char *speaker, *text;
    char *name; /* the speaker's name (store/speakers.h), '' when none */
} StoreSegment;

/* The complete recording whose file has this sha256 (*id 0: none). */
int store_recording_by_sha(Store *st, const char *sha256, int64_t *id);
/* Adds a complete recording for an imported copy at path (source: the file
 * it was copied from). recording_import (tui/core/recordings.h) makes the
 * copy and calls this. */
int store_recording_add_imported(Store *st, const char *path, double duration_s,
                                 int sample_rate, int channels, const char *sha256,
                                 const char *source, int64_t *id);

/* Every recording, newest first, with its counts. */
int store_meeting_list(Store *st, StoreMeeting **out, size_t *n);
int store_meeting_get(Store *st, int64_t id, StoreMeeting *out);
void store_meeting_free(StoreMeeting *m);
void store_meetings_free(StoreMeeting *list, size_t n);

/* The recording's segments in time order, each with its speaker's name. */
int store_segment_list(Store *st, int64_t recording_id, StoreSegment **out, size_t *n);
void store_segments_free(StoreSegment *list, size_t n);

/* Marks the recording's transcript whole. */
int store_recording_set_transcribed(Store *st, int64_t id);

/* store_report_add with the model that wrote it. */
int store_report_add_model(Store *st, int64_t recording_id, const char *template_name,
                           const char *persona, const char *model, const char *markdown,
                           int64_t *id);
/* The newest report of a recording (markdown, new string); NULL with the
 * error set when it has none. */
char *store_report_latest(Store *st, int64_t recording_id);
/* Every report of a recording, newest first (session.h's StoreReport). */
int store_report_list(Store *st, int64_t recording_id, StoreReport **out, size_t *n);
void store_reports_free(StoreReport *list, size_t n);

/* Gives the recording a title ('' takes it away). */
int store_recording_rename(Store *st, int64_t id, const char *title);
/* Deletes the recording's row, and with it (foreign keys) its segments and
 * reports. Its file is the caller's to remove (SQL only here). */
int store_recording_delete(Store *st, int64_t id);

#endif
