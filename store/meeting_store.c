/* meeting_store.c - see meeting_store.h. */
#include "store/meeting_store.h"

#include "store/session.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ import */

int store_recording_by_sha(Store *st, const char *sha256, int64_t *id) {
    *id = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT id FROM recordings WHERE sha256 = ?1 "
                                        "AND status = 'complete' ORDER BY id LIMIT 1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(st, "finding a recording");
}

int store_recording_add_imported(Store *st, const char *path, double duration_s,
                                 int sample_rate, int channels, const char *sha256,
                                 const char *source, int64_t *id) {
    sqlite3_stmt *s =
        store_prepare(st, "INSERT INTO recordings(path, status, duration_s, sample_rate, "
                          "channels, sha256, source) VALUES (?1, 'complete', ?2, ?3, ?4, ?5, ?6)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, duration_s);
    sqlite3_bind_int(s, 3, sample_rate);
    sqlite3_bind_int(s, 4, channels);
    sqlite3_bind_text(s, 5, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, source, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) return store_fail(st, "importing a recording");
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

/* ------------------------------------------------------------ listing */

#define MEETING_COLS                                                                               \
    "SELECT r.id, r.path, r.source, r.status, r.created, r.duration_s, r.transcribed, "            \
    "(SELECT count(*) FROM segments g WHERE g.recording_id = r.id), "                              \
    "(SELECT count(*) FROM reports p WHERE p.recording_id = r.id), r.title FROM recordings r "

static void meeting_row(sqlite3_stmt *s, StoreMeeting *m) {
    m->id = sqlite3_column_int64(s, 0);
    m->path = store_col_text(s, 1);
    m->source = store_col_text(s, 2);
    m->status = store_col_text(s, 3);
    m->created = store_col_text(s, 4);
    m->duration_s = sqlite3_column_double(s, 5);
    m->transcribed = sqlite3_column_int(s, 6);
    m->segments = sqlite3_column_int64(s, 7);
    m->reports = sqlite3_column_int64(s, 8);
    m->title = store_col_text(s, 9);
}

int store_meeting_list(Store *st, StoreMeeting **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, MEETING_COLS "ORDER BY r.id DESC");
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *out = xrealloc(*out, sizeof **out * (*n + 1));
        meeting_row(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "listing recordings");
}

int store_meeting_get(Store *st, int64_t id, StoreMeeting *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, MEETING_COLS "WHERE r.id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) meeting_row(s, out);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return unum_error_set("recording %lld not found", (long long)id);
    return rc == SQLITE_ROW ? 0 : store_fail(st, "reading a recording");
}

void store_meeting_free(StoreMeeting *m) {
    free(m->path);
    free(m->source);
    free(m->status);
    free(m->created);
    free(m->title);
    memset(m, 0, sizeof *m);
}

void store_meetings_free(StoreMeeting *list, size_t n) {
    for (size_t i = 0; i < n; i++) store_meeting_free(&list[i]);
    free(list);
}

int store_segment_list(Store *st, int64_t recording_id, StoreSegment **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(
        st, "SELECT g.id, g.start_s, g.end_s, g.speaker, g.text, coalesce(n.name, '') "
            "FROM segments g LEFT JOIN speaker_names n ON n.recording_id = g.recording_id "
            "AND n.label = g.speaker WHERE g.recording_id = ?1 ORDER BY g.start_s, g.id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, recording_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *out = xrealloc(*out, sizeof **out * (*n + 1));
        StoreSegment *g = &(*out)[(*n)++];
        g->id = sqlite3_column_int64(s, 0);
        g->start_s = sqlite3_column_double(s, 1);
        g->end_s = sqlite3_column_double(s, 2);
        g->speaker = store_col_text(s, 3);
        g->text = store_col_text(s, 4);
        g->name = store_col_text(s, 5);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "reading segments");
}

void store_segments_free(StoreSegment *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(list[i].speaker);
        free(list[i].text);
        free(list[i].name);
    }
    free(list);
}

int store_recording_set_transcribed(Store *st, int64_t id) {
    sqlite3_stmt *s = store_prepare(st, "UPDATE recordings SET transcribed = 1 WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "marking a transcript whole");
}

/* ------------------------------------------------------------ reports */

int store_report_add_model(Store *st, int64_t recording_id, const char *template_name,
                           const char *persona, const char *model, const char *markdown,
                           int64_t *id) {
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO reports(recording_id, template, persona, "
                                        "model, markdown) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, recording_id);
    sqlite3_bind_text(s, 2, template_name ? template_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, persona ? persona : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, model ? model : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, markdown ? markdown : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("report: recording %lld not found", (long long)recording_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a report");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

char *store_report_latest(Store *st, int64_t recording_id) {
    sqlite3_stmt *s = store_prepare(st, "SELECT markdown FROM reports WHERE recording_id = ?1 "
                                        "ORDER BY id DESC LIMIT 1");
    if (!s) return NULL;
    sqlite3_bind_int64(s, 1, recording_id);
    char *md = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) md = store_col_text(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) unum_error_set("recording %lld has no report", (long long)recording_id);
    else if (rc != SQLITE_ROW) store_fail(st, "reading a report");
    return md;
}

int store_report_list(Store *st, int64_t recording_id, StoreReport **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT id, template, persona, created, markdown "
                                        "FROM reports WHERE recording_id = ?1 ORDER BY id DESC");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, recording_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *out = xrealloc(*out, sizeof **out * (*n + 1));
        StoreReport *r = &(*out)[(*n)++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(s, 0);
        r->recording_id = recording_id;
        r->template_name = store_col_text(s, 1);
        r->persona = store_col_text(s, 2);
        r->created = store_col_text(s, 3);
        r->markdown = store_col_text(s, 4);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "listing reports");
}

void store_reports_free(StoreReport *list, size_t n) {
    for (size_t i = 0; i < n; i++) store_report_free(&list[i]);
    free(list);
}

/* ------------------------------------------------------------ rename, delete */

/* One statement on recording id that must change exactly one row. */
static int recording_change(Store *st, int64_t id, const char *sql, const char *text,
                            const char *what) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    if (text) sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, what);
    if (sqlite3_changes(store_db(st)) != 1)
        return unum_error_set("recording %lld not found", (long long)id);
    return 0;
}

int store_recording_rename(Store *st, int64_t id, const char *title) {
    return recording_change(st, id, "UPDATE recordings SET title = ?2 WHERE id = ?1", title,
                            "renaming a recording");
}

int store_recording_delete(Store *st, int64_t id) {
    return recording_change(st, id, "DELETE FROM recordings WHERE id = ?1", NULL,
                            "deleting a recording");
}
