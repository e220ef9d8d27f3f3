/* recording.c - see recording.h. */
#include "store/recording.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- rows ----------------------------------------------------------------- */

int store_recording_begin(Store *st, const char *path, int sample_rate, int channels,
                          int64_t session_id, int64_t *id) {
    /* repair runs at every open, from whatever folder: the path must not
     * depend on the current one */
    if (path[0] != '/') return unum_error_set("%s: a recording path must be absolute", path);
    sqlite3_stmt *s =
        store_prepare(st, "INSERT INTO recordings(session_id, path, status, "
                          "sample_rate, channels) VALUES (?1, ?2, 'recording', ?3, ?4)");
    if (!s) return -1;
    if (session_id) sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, sample_rate);
    sqlite3_bind_int(s, 4, channels);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return unum_error_set("%s: already has a recording row", path);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("session %lld not found", (long long)session_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a recording");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

static int set_status(Store *st, int64_t id, const char *status, double dur, int rate, int ch,
                      const char *sha) {
    sqlite3_stmt *s = store_prepare(
        st, "UPDATE recordings SET status = ?2, duration_s = coalesce(?3, duration_s), "
            "sample_rate = coalesce(?4, sample_rate), channels = coalesce(?5, channels), "
            "sha256 = coalesce(?6, sha256) WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    if (sha) {
        sqlite3_bind_double(s, 3, dur);
        sqlite3_bind_int(s, 4, rate);
        sqlite3_bind_int(s, 5, ch);
        sqlite3_bind_text(s, 6, sha, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, "updating a recording");
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("recording %lld not found", (long long)id);
    return 0;
}

int store_recording_complete(Store *st, int64_t id, double duration_s, int sample_rate,
                             int channels, const char *sha256) {
    return set_status(st, id, "complete", duration_s, sample_rate, channels, sha256);
}

int store_recording_damaged(Store *st, int64_t id) {
    return set_status(st, id, "damaged", 0, 0, 0, NULL);
}

char *store_recording_path(Store *st, int64_t id) {
    sqlite3_stmt *s = store_prepare(st, "SELECT path FROM recordings WHERE id = ?1");
    if (!s) return NULL;
    sqlite3_bind_int64(s, 1, id);
    char *p = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) p = store_col_text(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) unum_error_set("recording %lld not found", (long long)id);
    else if (rc != SQLITE_ROW) store_fail(st, "reading a recording");
    return p;
}

int store_recordings_unfinished(Store *st, int64_t **ids, char ***paths, size_t *n) {
    *ids = NULL, *paths = NULL, *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT id, path FROM recordings WHERE status = "
                                        "'recording' ORDER BY id");
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *ids = xrealloc(*ids, (*n + 1) * sizeof **ids);
        *paths = xrealloc(*paths, (*n + 1) * sizeof **paths);
        (*ids)[*n] = sqlite3_column_int64(s, 0);
        (*paths)[(*n)++] = store_col_text(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "reading recordings");
}

int store_recording_get(Store *st, int64_t id, StoreRecording *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, "SELECT id, coalesce(session_id, 0), path, status, "
                                        "sha256, created, duration_s, sample_rate, channels "
                                        "FROM recordings WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->session_id = sqlite3_column_int64(s, 1);
        out->path = store_col_text(s, 2);
        out->status = store_col_text(s, 3);
        out->sha256 = store_col_text(s, 4);
        out->created = store_col_text(s, 5);
        out->duration_s = sqlite3_column_double(s, 6);
        out->sample_rate = sqlite3_column_int(s, 7);
        out->channels = sqlite3_column_int(s, 8);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return unum_error_set("recording %lld not found", (long long)id);
    if (rc != SQLITE_ROW) return store_fail(st, "reading a recording");
    return 0;
}

void store_recording_free(StoreRecording *r) {
    if (!r) return;
    free(r->path);
    free(r->status);
    free(r->sha256);
    free(r->created);
    memset(r, 0, sizeof *r);
}

int store_segment_add(Store *st, int64_t recording_id, double start_s, double end_s,
                      const char *speaker, const char *text, int64_t *id) {
    if (!(end_s >= start_s) || start_s < 0)
        return unum_error_set("segment %.3f..%.3f s: end before start", start_s, end_s);
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO segments(recording_id, start_s, end_s, "
                                        "speaker, text) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, recording_id);
    sqlite3_bind_double(s, 2, start_s);
    sqlite3_bind_double(s, 3, end_s);
    sqlite3_bind_text(s, 4, speaker ? speaker : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, text ? text : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("recording %lld not found", (long long)recording_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a segment");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}
