/* session.c - see session.h. */
#include "store/session.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_COLS "s.id, s.title, s.model, s.persona, s.created, s.updated"

static void read_session(sqlite3_stmt *s, StoreSession *out) {
    out->id = sqlite3_column_int64(s, 0);
    out->title = store_col_text(s, 1);
    out->model = store_col_text(s, 2);
    out->persona = store_col_text(s, 3);
    out->created = store_col_text(s, 4);
    out->updated = store_col_text(s, 5);
}

/* ---- the tree --------------------------------------------------------------
 *
 * Three queries carry the tree: the most recent leaf under a message (the
 * subtree walked down through parent_id), the most recent leaf of a whole
 * session, and the branch from a leaf up to its first message. All walk
 * messages_by_parent or the primary key, one row per step. */

static const char *const status_names[] = {"complete", "partial", "cancelled"};

static StoreMessageStatus status_of(const char *s) {
    if (!s) return STORE_MSG_COMPLETE;
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, status_names[i])) return (StoreMessageStatus)i;
    return STORE_MSG_COMPLETE;
}

/* One integer from sql with ?1 = a and ?2 = b: *out (0 for NULL or no row). */
static int query_id(Store *st, const char *sql, int64_t a, int64_t b, int64_t *out,
                    const char *what) {
    *out = 0;
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_fail(st, what);
    return 0;
}

/* The leaf of the branch in view of session sid (0: no messages). */
static int view_leaf(Store *st, int64_t sid, int64_t *leaf) {
    int64_t view;
    if (query_id(st,
                 "SELECT v.id FROM sessions s JOIN messages v ON v.id = s.view_id "
                 "AND v.session_id = s.id WHERE s.id = ?1",
                 sid, 0, &view, "reading the message in view") != 0)
        return -1;
    if (view)
        return query_id(st,
                        "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL "
                        "SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id) "
                        "SELECT max(id) FROM sub WHERE NOT EXISTS "
                        "(SELECT 1 FROM messages c WHERE c.parent_id = sub.id)",
                        view, 0, leaf, "finding the branch in view");
    return query_id(st,
                    "SELECT max(id) FROM messages m WHERE m.session_id = ?1 AND NOT EXISTS "
                    "(SELECT 1 FROM messages c WHERE c.parent_id = m.id)",
                    sid, 0, leaf, "finding the most recent branch");
}

/* The number of messages of the branch that ends at leaf. */
static int branch_length(Store *st, int64_t leaf, int64_t *n) {
    return query_id(st,
                    "WITH RECURSIVE chain(id) AS (SELECT id FROM messages WHERE id = ?1 "
                    "UNION ALL SELECT m.parent_id FROM messages m JOIN chain ON m.id = chain.id "
                    "WHERE m.parent_id IS NOT NULL) SELECT count(*) FROM chain",
                    leaf, 0, n, "counting the branch in view");
}

static int count_view(Store *st, StoreSession *s) {
    int64_t leaf;
    if (view_leaf(st, s->id, &leaf) != 0) return -1;
    return branch_length(st, leaf, &s->n_messages);
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
    if (count_view(st, out) != 0) {
        store_session_free(out);
        return -1;
    }
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
    if (rc != SQLITE_DONE) store_fail(st, "listing sessions");
    for (size_t k = 0; rc == SQLITE_DONE && k < *n; k++)
        if (count_view(st, &(*out)[k]) != 0) rc = SQLITE_ERROR;
    if (rc != SQLITE_DONE) {
        store_sessions_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
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

/* Points the session's view at message id (in the caller's transaction). */
static int set_view(Store *st, int64_t sid, int64_t id) {
    sqlite3_stmt *s = store_prepare(st, "UPDATE sessions SET view_id = ?2 WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, sid);
    if (id) sqlite3_bind_int64(s, 2, id);
    else sqlite3_bind_null(s, 2);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "recording the message in view");
}

static int insert_message(Store *st, int64_t sid, int64_t parent, const char *role,
                          const char *content, int tokens, double elapsed_ms,
                          StoreMessageStatus status, int64_t *id) {
    if ((unsigned)status > STORE_MSG_CANCELLED)
        return unum_error_set("message status %d is not complete, partial or cancelled",
                              (int)status);
    if (parent) {
        int64_t owner;
        if (query_id(st, "SELECT session_id FROM messages WHERE id = ?1", parent, 0, &owner,
                     "reading a message") != 0)
            return -1;
        if (owner != sid)
            return unum_error_set("message %lld is not in session %lld", (long long)parent,
                                  (long long)sid);
    }
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO messages(session_id, role, content, tokens, "
                                        "elapsed_ms, parent_id, status) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, sid);
    sqlite3_bind_text(s, 2, role ? role : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, content ? content : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, tokens);
    sqlite3_bind_double(s, 5, elapsed_ms);
    if (parent) sqlite3_bind_int64(s, 6, parent);
    else sqlite3_bind_null(s, 6);
    sqlite3_bind_text(s, 7, status_names[status], -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("session %lld not found", (long long)sid);
    if (rc == SQLITE_CONSTRAINT_CHECK)
        return unum_error_set("message role '%s' is not system, user, assistant or tool",
                              role ? role : "");
    if (rc != SQLITE_DONE) return store_fail(st, "adding a message");
    int64_t new_id = sqlite3_last_insert_rowid(store_db(st));
    if (set_view(st, sid, new_id) != 0) return -1;
    if (id) *id = new_id;
    return 0;
}

/* Runs one insert in a transaction of its own, or in the caller's. */
static int add_in_transaction(Store *st, int64_t sid, int64_t parent, int after_view,
                              const char *role, const char *content, int tokens,
                              double elapsed_ms, StoreMessageStatus status, int64_t *id) {
    int own = sqlite3_get_autocommit(store_db(st));
    if (own && store_begin(st) != 0) return -1;
    int rc = after_view ? view_leaf(st, sid, &parent) : 0;
    if (rc == 0)
        rc = insert_message(st, sid, parent, role, content, tokens, elapsed_ms, status, id);
    if (own) {
        if (rc == 0 && store_commit(st) == 0) return 0;
        store_rollback(st);
        return -1;
    }
    return rc;
}

int store_message_add(Store *st, int64_t session_id, const char *role, const char *content,
                      int tokens, double elapsed_ms, int64_t *id) {
    return add_in_transaction(st, session_id, 0, 1, role, content, tokens, elapsed_ms,
                              STORE_MSG_COMPLETE, id);
}

int store_message_add_after(Store *st, int64_t session_id, int64_t parent_id, const char *role,
                            const char *content, int tokens, double elapsed_ms,
                            StoreMessageStatus status, int64_t *id) {
    return add_in_transaction(st, session_id, parent_id, 0, role, content, tokens, elapsed_ms,
                              status, id);
}

int store_message_update(Store *st, int64_t id, const char *content, int tokens,
                         double elapsed_ms, StoreMessageStatus status) {
    if ((unsigned)status > STORE_MSG_CANCELLED)
        return unum_error_set("message status %d is not complete, partial or cancelled",
                              (int)status);
    sqlite3_stmt *s = store_prepare(st, "UPDATE messages SET content = ?2, tokens = ?3, "
                                        "elapsed_ms = ?4, status = ?5 WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, content ? content : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, tokens);
    sqlite3_bind_double(s, 4, elapsed_ms);
    sqlite3_bind_text(s, 5, status_names[status], -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, "updating a message");
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("message %lld not found", (long long)id);
    return 0;
}

int store_message_delete(Store *st, int64_t id, int *n_removed) {
    if (n_removed) *n_removed = 0;
    if (store_begin(st) != 0) return -1;
    int64_t sid = 0, parent = 0;
    int rc = query_id(st, "SELECT session_id FROM messages WHERE id = ?1", id, 0, &sid,
                      "reading a message");
    if (rc == 0 && !sid) rc = unum_error_set("message %lld not found", (long long)id);
    if (rc == 0)
        rc = query_id(st, "SELECT parent_id FROM messages WHERE id = ?1", id, 0, &parent,
                      "reading a message");
    /* one statement: the parent key is checked at its end, when the whole
     * subtree is gone */
    sqlite3_stmt *s = rc == 0 ? store_prepare(st, "DELETE FROM messages WHERE id IN ("
                                                  "WITH RECURSIVE sub(id) AS (SELECT ?1 "
                                                  "UNION ALL SELECT m.id FROM messages m "
                                                  "JOIN sub ON m.parent_id = sub.id) "
                                                  "SELECT id FROM sub)")
                              : NULL;
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        if (sqlite3_step(s) != SQLITE_DONE) rc = store_fail(st, "removing a message");
        else if (n_removed) *n_removed = sqlite3_changes(store_db(st));
        sqlite3_finalize(s);
    } else {
        rc = -1;
    }
    if (rc == 0) rc = set_view(st, sid, parent);
    if (rc == 0 && store_commit(st) == 0) return 0;
    store_rollback(st);
    return -1;
}

int store_message_sibling(Store *st, int64_t id, int delta, int64_t *out) {
    *out = 0;
    int64_t sid;
    if (query_id(st, "SELECT session_id FROM messages WHERE id = ?1", id, 0, &sid,
                 "reading a message") != 0)
        return -1;
    if (!sid) return unum_error_set("message %lld not found", (long long)id);
    const char *sql = delta < 0 ? "SELECT s.id FROM messages m JOIN messages s "
                                  "ON s.session_id = m.session_id AND s.parent_id IS m.parent_id "
                                  "AND s.id < m.id WHERE m.id = ?1 ORDER BY s.id DESC LIMIT 1 "
                                  "OFFSET ?2"
                                : "SELECT s.id FROM messages m JOIN messages s "
                                  "ON s.session_id = m.session_id AND s.parent_id IS m.parent_id "
                                  "AND s.id > m.id WHERE m.id = ?1 ORDER BY s.id LIMIT 1 "
                                  "OFFSET ?2";
    int64_t steps = delta < 0 ? -(int64_t)delta : delta;
    if (steps == 0) return *out = id, 0;
    if (query_id(st, sql, id, steps - 1, out, "reading a message's siblings") != 0) return -1;
    if (!*out)
        return unum_error_set("message %lld has no %s sibling", (long long)id,
                              delta < 0 ? "previous" : "next");
    return 0;
}

int store_message_place(Store *st, int64_t id, int *sibling, int *n_siblings) {
    int64_t k, n;
    if (query_id(st,
                 "SELECT count(*) FROM messages m JOIN messages s ON s.session_id = m.session_id "
                 "AND s.parent_id IS m.parent_id AND s.id <= m.id WHERE m.id = ?1",
                 id, 0, &k, "reading a message's siblings") != 0 ||
        query_id(st,
                 "SELECT count(*) FROM messages m JOIN messages s ON s.session_id = m.session_id "
                 "AND s.parent_id IS m.parent_id WHERE m.id = ?1",
                 id, 0, &n, "reading a message's siblings") != 0)
        return -1;
    if (!n) return unum_error_set("message %lld not found", (long long)id);
    *sibling = (int)k;
    *n_siblings = (int)n;
    return 0;
}

int store_session_view(Store *st, int64_t session_id, int64_t message_id) {
    if (message_id) {
        int64_t owner;
        if (query_id(st, "SELECT session_id FROM messages WHERE id = ?1", message_id, 0, &owner,
                     "reading a message") != 0)
            return -1;
        if (owner != session_id)
            return unum_error_set("message %lld is not in session %lld", (long long)message_id,
                                  (long long)session_id);
    }
    if (set_view(st, session_id, message_id) != 0) return -1;
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("session %lld not found", (long long)session_id);
    return 0;
}

int store_message_list(Store *st, int64_t session_id, StoreMessage **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int64_t leaf;
    if (view_leaf(st, session_id, &leaf) != 0) return -1;
    sqlite3_stmt *s = store_prepare(
        st, "WITH RECURSIVE chain(id, depth) AS (SELECT ?1, 0 UNION ALL "
            "SELECT m.parent_id, chain.depth + 1 FROM messages m JOIN chain ON m.id = chain.id "
            "WHERE m.parent_id IS NOT NULL) "
            "SELECT m.id, m.session_id, m.role, m.content, m.created, m.tokens, m.elapsed_ms, "
            "m.model, coalesce(m.parent_id, 0), m.status, "
            "(SELECT count(*) FROM messages s WHERE s.session_id = m.session_id "
            "AND s.parent_id IS m.parent_id AND s.id <= m.id), "
            "(SELECT count(*) FROM messages s WHERE s.session_id = m.session_id "
            "AND s.parent_id IS m.parent_id) "
            "FROM chain JOIN messages m ON m.id = chain.id ORDER BY chain.depth DESC");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, leaf);
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
        m->parent_id = sqlite3_column_int64(s, 8);
        m->status = status_of((const char *)sqlite3_column_text(s, 9));
        m->sibling = sqlite3_column_int(s, 10);
        m->n_siblings = sqlite3_column_int(s, 11);
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
