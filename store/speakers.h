/* speakers.h - the names of a recording's speakers.
 *
 * A speech model that tells speakers apart labels each transcript segment
 * with a speaker ("S0", "S1", ...; '' when the model does not, as Whisper).
 * The user may give a label a name ("Priya"): one name per label per
 * recording, kept beside the segments (which keep their label) and deleted
 * with the recording. Transcripts, exports and reports show the name when
 * there is one, else the label.
 *
 * A name is user text that ends up in subtitles, markdown, JSON and on the
 * terminal. The store keeps it plain: surrounding spaces trimmed, 1 to
 * STORE_SPEAKER_NAME_MAX bytes of valid UTF-8 without control characters
 * (C0, DEL, C1), so that it is always one line. Each output format escapes
 * what is special to it (tui/core/meeting.c). */
#ifndef UNUM_SPEAKERS_H
#define UNUM_SPEAKERS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_SPEAKER_NAME_MAX 64

typedef struct {
    char *label;      /* as the speech model wrote it */
    char *name;       /* given by the user; '' when none */
    int64_t segments; /* segments with this label */
    double seconds;   /* their lengths added up */
} StoreSpeaker;

/* 0 when name (already trimmed) may name a speaker, else -1 with the error
 * saying why. */
int store_speaker_name_check(const char *name);
/* Names the speaker label of recording rec (name trimmed first); NULL or
 * a name of spaces only clears it, as store_speaker_clear. Refused: a
 * recording that does not exist, a label none of its segments carries, a
 * name store_speaker_name_check refuses. */
int store_speaker_set(Store *st, int64_t rec, const char *label, const char *name);
/* Takes the name away (the label shows again); the same refusals. */
int store_speaker_clear(Store *st, int64_t rec, const char *label);
/* The labels the recording's segments carry ('' left out), in the order
 * S0, S1, .., S10 (shorter labels first, then by text), with their names,
 * segment counts and seconds spoken. A recording that does not exist is an
 * error; one without labels gives *n = 0. */
int store_speaker_list(Store *st, int64_t rec, StoreSpeaker **out, size_t *n);
void store_speakers_free(StoreSpeaker *list, size_t n);
/* What shows for label in recording rec: its name, else the label itself
 * (new string; NULL with the error set on a database failure). */
char *store_speaker_resolve(Store *st, int64_t rec, const char *label);

#endif
