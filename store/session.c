/* session.c - see session.h. */
#include "store/session.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_COLS                                                                               \
    "s.id, s.title, s.model, s.persona, s.created, s.updated, "                                    \
    "(SELECT count(*) FROM messages m WHERE m.session_id = s.id)"

static void read_session(sqlite3_stmt *s, StoreSession *out) {
    out->id = sqlite3_column_int64(s, 0);
    out->title = store_col_text(s, 1);
    out->model = store_col_text(s, 2);
    out->persona = store_col_text(s, 3);
    out->created = store_col_text(s, 4);
    out->updated = store_col_text(s, 5);
    out->n_messages = sqlite3_column_int64(s, 6);
}

int store_session_create(Store *st, const char *title, const char *model, const char *persona,
                         int64_t *id) {
    sqlite3_stmt *s =
        store_prepare(st, "INSERT INTO sessions(title, model, persona) VALUES (?1, ?2, ?3)");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, title ? title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, model ? model : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, persona ? persona : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, "creating a session");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int store_session_get(Store *st, int64_t id, StoreSession *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, "SELECT " SESSION_COLS " FROM sessions s WHERE s.id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) read_session(s, out);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return unum_error_set("session %lld not found", (long long)id);
    if (rc != SQLITE_ROW) return store_fail(st, "reading a session");
    return 0;
}

int store_session_list(Store *st, StoreSession **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT " SESSION_COLS
                                        " FROM sessions s ORDER BY s.updated DESC, s.id DESC");
    if (!s) return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        read_session(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        store_sessions_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_fail(st, "listing sessions");
    }
    return 0;
}

static int change_one(Store *st, sqlite3_stmt *s, int64_t id, const char *what) {
    if (!s) return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, what);
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("session %lld not found", (long long)id);
    return 0;
}

int store_session_rename(Store *st, int64_t id, const char *title) {
    sqlite3_stmt *s = store_prepare(st, "UPDATE sessions SET title = ?2, "
                                        "updated = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                                        "WHERE id = ?1");
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, title ? title : "", -1, SQLITE_STATIC);
    }
    return change_one(st, s, id, "renaming a session");
}

int store_session_delete(Store *st, int64_t id) {
    sqlite3_stmt *s = store_prepare(st, "DELETE FROM sessions WHERE id = ?1");
    if (s) sqlite3_bind_int64(s, 1, id);
    return change_one(st, s, id, "removing a session");
}

void store_session_free(StoreSession *s) {
    if (!s) return;
    free(s->title);
    free(s->model);
    free(s->persona);
    free(s->created);
    free(s->updated);
    memset(s, 0, sizeof *s);
}

void store_sessions_free(StoreSession *list, size_t n) {
    for (size_t i = 0; i < n; i++) store_session_free(&list[i]);
    free(list);
}

int store_message_add(Store *st, int64_t session_id, const char *role, const char *content,
                      int tokens, double elapsed_ms, int64_t *id) {
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO messages(session_id, role, content, tokens, "
                                        "elapsed_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_text(s, 2, role ? role : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, content ? content : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, tokens);
    sqlite3_bind_double(s, 5, elapsed_ms);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("session %lld not found", (long long)session_id);
    if (rc == SQLITE_CONSTRAINT_CHECK)
        return unum_error_set("message role '%s' is not system, user, assistant or tool",
                              role ? role : "");
    if (rc != SQLITE_DONE) return store_fail(st, "adding a message");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int store_message_list(Store *st, int64_t session_id, StoreMessage **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s =
        store_prepare(st, "SELECT id, session_id, role, content, created, tokens, "
                          "elapsed_ms, model FROM messages WHERE session_id = ?1 ORDER BY id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, session_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        StoreMessage *m = &(*out)[(*n)++];
        m->id = sqlite3_column_int64(s, 0);
        m->session_id = sqlite3_column_int64(s, 1);
        m->role = store_col_text(s, 2);
        m->content = store_col_text(s, 3);
        m->created = store_col_text(s, 4);
        m->tokens = sqlite3_column_int(s, 5);
        m->elapsed_ms = sqlite3_column_double(s, 6);
        m->model = store_col_text(s, 7);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        store_messages_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_fail(st, "reading messages");
    }
    return 0;
}

void store_messages_free(StoreMessage *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(list[i].role);
        free(list[i].content);
        free(list[i].created);
        free(list[i].model);
    }
    free(list);
}

int store_message_set_model(Store *st, int64_t id, const char *model) {
    sqlite3_stmt *s = store_prepare(st, "UPDATE messages SET model = ?2 WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, model ? model : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, "recording a message's model");
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("message %lld not found", (long long)id);
    return 0;
}

int store_report_add(Store *st, int64_t recording_id, int64_t session_id, const char *template_name,
                     const char *persona, const char *markdown, int64_t *id) {
    if (!recording_id && !session_id)
        return unum_error_set("a report needs a recording or a session");
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO reports(recording_id, session_id, template, "
                                        "persona, markdown) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    if (recording_id) sqlite3_bind_int64(s, 1, recording_id);
    if (session_id) sqlite3_bind_int64(s, 2, session_id);
    sqlite3_bind_text(s, 3, template_name ? template_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, persona ? persona : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, markdown ? markdown : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("report: recording %lld or session %lld not found",
                              (long long)recording_id, (long long)session_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a report");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int store_report_get(Store *st, int64_t id, StoreReport *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, "SELECT id, coalesce(recording_id, 0), "
                                        "coalesce(session_id, 0), template, persona, markdown, "
                                        "created FROM reports WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->recording_id = sqlite3_column_int64(s, 1);
        out->session_id = sqlite3_column_int64(s, 2);
        out->template_name = store_col_text(s, 3);
        out->persona = store_col_text(s, 4);
        out->markdown = store_col_text(s, 5);
        out->created = store_col_text(s, 6);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return unum_error_set("report %lld not found", (long long)id);
    if (rc != SQLITE_ROW) return store_fail(st, "reading a report");
    return 0;
}

void store_report_free(StoreReport *r) {
    if (!r) return;
    free(r->template_name);
    free(r->persona);
    free(r->markdown);
    free(r->created);
    memset(r, 0, sizeof *r);
}
