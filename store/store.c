/* store.c - see store.h. The schema lives here and only here. */
#include "store/store.h"

#include "store/builtin.h"
#include "store/persona.h" /* store_name_check */
#include "engine/base/paths.h"
#include "engine/base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct Store {
    sqlite3 *db;
    char *path;
    int busy; /* the last failure was SQLITE_BUSY (kept past a rollback) */
    char *notice; /* the file could be read by others when opened, or NULL */
};

static void note_failure(Store *st) {
    st->busy = (sqlite3_errcode(st->db) & 0xff) == SQLITE_BUSY;
}

/* ---- schema --------------------------------------------------------------
 *
 * Migration N takes a database at version N-1 to version N. Each runs in its
 * own transaction together with the user_version bump, so a crash leaves the
 * database at N-1 or N and never between. Never edit a published migration;
 * add a new one. Names of personas and templates used by sessions and reports
 * are stored as text, not as foreign keys, so that removing a persona or
 * template keeps those rows readable. */

#define NOW_SQL "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))"

static const char migration_1[] =
    "CREATE TABLE personas ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  system_prompt TEXT NOT NULL,"
    "  tone TEXT NOT NULL DEFAULT '',"
    "  length TEXT NOT NULL DEFAULT '',"
    "  language TEXT NOT NULL DEFAULT '',"
    "  builtin INTEGER NOT NULL DEFAULT 0,"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ","
    "  updated TEXT NOT NULL DEFAULT " NOW_SQL ");"
    "CREATE TABLE templates ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  builtin INTEGER NOT NULL DEFAULT 0,"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ","
    "  updated TEXT NOT NULL DEFAULT " NOW_SQL ");"
    "CREATE TABLE template_sections ("
    "  template_id INTEGER NOT NULL REFERENCES templates(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL,"
    "  title TEXT NOT NULL,"
    "  instruction TEXT NOT NULL,"
    "  format TEXT NOT NULL CHECK (format IN ('paragraph','list','table')),"
    "  PRIMARY KEY (template_id, position));"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  title TEXT NOT NULL,"
    "  model TEXT NOT NULL DEFAULT '',"
    "  persona TEXT NOT NULL DEFAULT '',"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ","
    "  updated TEXT NOT NULL DEFAULT " NOW_SQL ");"
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY,"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('system','user','assistant','tool')),"
    "  content TEXT NOT NULL,"
    "  tokens INTEGER NOT NULL DEFAULT 0,"
    "  elapsed_ms REAL NOT NULL DEFAULT 0,"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ");"
    "CREATE INDEX messages_by_session ON messages(session_id, id);"
    "CREATE TRIGGER messages_touch_session AFTER INSERT ON messages BEGIN"
    "  UPDATE sessions SET updated = new.created WHERE id = new.session_id;"
    "END;"
    "CREATE TABLE recordings ("
    "  id INTEGER PRIMARY KEY,"
    "  session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,"
    "  path TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL CHECK (status IN ('recording','complete','damaged')),"
    "  duration_s REAL NOT NULL DEFAULT 0,"
    "  sample_rate INTEGER NOT NULL,"
    "  channels INTEGER NOT NULL DEFAULT 1,"
    "  sha256 TEXT NOT NULL DEFAULT '',"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ");"
    "CREATE TABLE segments ("
    "  id INTEGER PRIMARY KEY,"
    "  recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,"
    "  start_s REAL NOT NULL,"
    "  end_s REAL NOT NULL,"
    "  speaker TEXT NOT NULL DEFAULT '',"
    "  text TEXT NOT NULL,"
    "  CHECK (end_s >= start_s));"
    "CREATE INDEX segments_by_recording ON segments(recording_id, start_s);";

/* Version 2: full-text search. External-content FTS5 tables index the text
 * where it lives; triggers keep them in step inside the writing transaction,
 * so the index is exactly as durable as the rows. 'rebuild' indexes the rows
 * that a version-1 database already holds. */
static const char migration_2[] =
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "  content, content='messages', content_rowid='id');"
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN"
    "  INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);"
    "END;"
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    "  INSERT INTO messages_fts(messages_fts, rowid, content)"
    "    VALUES ('delete', old.id, old.content);"
    "END;"
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN"
    "  INSERT INTO messages_fts(messages_fts, rowid, content)"
    "    VALUES ('delete', old.id, old.content);"
    "  INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);"
    "END;"
    "CREATE VIRTUAL TABLE segments_fts USING fts5("
    "  text, content='segments', content_rowid='id');"
    "CREATE TRIGGER segments_fts_ai AFTER INSERT ON segments BEGIN"
    "  INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);"
    "END;"
    "CREATE TRIGGER segments_fts_ad AFTER DELETE ON segments BEGIN"
    "  INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "END;"
    "CREATE TRIGGER segments_fts_au AFTER UPDATE OF text ON segments BEGIN"
    "  INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "  INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);"
    "END;"
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');"
    "INSERT INTO segments_fts(segments_fts) VALUES ('rebuild');";

/* Version 3: reports, written from a recording or a session with a template
 * in a persona's voice; and the listing index for sessions. */
static const char migration_3[] =
    "CREATE TABLE reports ("
    "  id INTEGER PRIMARY KEY,"
    "  recording_id INTEGER REFERENCES recordings(id) ON DELETE CASCADE,"
    "  session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,"
    "  template TEXT NOT NULL,"
    "  persona TEXT NOT NULL,"
    "  markdown TEXT NOT NULL,"
    "  created TEXT NOT NULL DEFAULT " NOW_SQL ","
    "  CHECK (recording_id IS NOT NULL OR session_id IS NOT NULL));"
    "CREATE INDEX reports_by_recording ON reports(recording_id);"
    "CREATE INDEX reports_by_session ON reports(session_id);"
    "CREATE INDEX sessions_by_updated ON sessions(updated);";

/* Version 4: meetings. A recording remembers whether its transcript is
 * whole (transcription resumes where the segments stop otherwise) and the
 * file it was imported from; a report, the model that wrote it. */
static const char migration_4[] =
    "ALTER TABLE recordings ADD COLUMN transcribed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE recordings ADD COLUMN source TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE reports ADD COLUMN model TEXT NOT NULL DEFAULT '';";

/* Version 5: the model of every message, not only the session's, since a
 * cascade's second stage (or a model changed mid-session) may write a
 * reply. Assistant messages written before take their session's model. */
static const char migration_5[] =
    "ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';"
    "UPDATE messages SET model = (SELECT model FROM sessions WHERE sessions.id = "
    "messages.session_id) WHERE role = 'assistant';";

/* Version 6: the LoRA adapters a persona's replies and a template's reports
 * use, as the JSON array of store/adapterlist.h ('' for none). */
static const char migration_6[] =
    "ALTER TABLE personas ADD COLUMN adapters TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE templates ADD COLUMN adapters TEXT NOT NULL DEFAULT '';";

/* Version 7: a recording's title, given in the app's meetings library
 * ('' shows its file's name). */
static const char migration_7[] =
    "ALTER TABLE recordings ADD COLUMN title TEXT NOT NULL DEFAULT '';";

/* Version 8: a session is a tree. Regenerating a reply or editing a message
 * adds a sibling (a message with the same parent) instead of leaving the
 * abandoned turns in one line; each message names its parent (NULL: a first
 * message), and the session remembers the message in view (its branch is the
 * most recent one through it). Existing sessions become one chain, each
 * message the reply to the one before it. A message's status says whether
 * its text is whole: 'partial' while a reply is written (it is stored as it
 * streams, so a crash keeps what was on screen), 'cancelled' when the user
 * stopped it; the "[cancelled]" that earlier versions appended to the text
 * becomes that status. The parent key has no ON DELETE action: a cascade
 * down a long chain would nest one trigger level per message; the store
 * deletes a message with its replies in one statement instead. */
static const char migration_8[] =
    "ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id);"
    "ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'complete'"
    "  CHECK (status IN ('complete','partial','cancelled'));"
    "ALTER TABLE sessions ADD COLUMN view_id INTEGER;"
    "UPDATE messages SET parent_id = (SELECT max(p.id) FROM messages p"
    "  WHERE p.session_id = messages.session_id AND p.id < messages.id);"
    "UPDATE messages SET status = 'cancelled', content = substr(content, 1, length(content) - 13)"
    "  WHERE role = 'assistant' AND substr(content, -13) = char(10, 10) || '[cancelled]';"
    "CREATE INDEX messages_by_parent ON messages(parent_id, id);";

/* Version 9: the names a user gives the speakers of a recording. A speech
 * model that tells speakers apart labels each segment ("S0", "S1": the
 * segments' speaker column since version 1); a name belongs to one label
 * of one recording and goes with the recording. Segments keep their label,
 * so renaming never rewrites a transcript. */
static const char migration_9[] =
    "CREATE TABLE speaker_names ("
    "  recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,"
    "  label TEXT NOT NULL CHECK (label <> ''),"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  PRIMARY KEY (recording_id, label)) WITHOUT ROWID;";

typedef struct {
    const char *sql;
    int (*after)(Store *st); /* runs in the same transaction, after sql */
} Migration;

/* Published migrations never change. One caveat: migration 1 seeds the
 * built-ins through store_persona_add / store_template_add, whose INSERTs name
 * only columns that exist at version 1. A later migration that renames or
 * drops a column of personas, templates or template_sections, or adds one
 * without a default, must first give migration 1 its own frozen INSERTs. */
static const Migration migrations[STORE_SCHEMA_VERSION] = {
    {migration_1, builtin_seed},
    {migration_2, NULL},
    {migration_3, NULL},
    {migration_4, NULL},
    {migration_5, NULL},
    {migration_6, NULL},
    {migration_7, NULL},
    {migration_8, NULL},
    {migration_9, NULL},
};

/* ---- helpers -------------------------------------------------------------- */

int store_fail(Store *st, const char *what) {
    return unum_error_set("%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

sqlite3 *store_db(Store *st) { return st->db; }
const char *store_path(const Store *st) { return st->path; }

int store_exec(Store *st, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        note_failure(st);
        unum_error_set("%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_begin(Store *st) { return store_exec(st, "BEGIN IMMEDIATE"); }
int store_commit(Store *st) { return store_exec(st, "COMMIT"); }
void store_rollback(Store *st) {
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *store_prepare(Store *st, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        note_failure(st);
        store_fail(st, "prepare");
        return NULL;
    }
    return s;
}

char *store_col_text(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

static int pragma_int(Store *st, const char *sql, int *out) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(s, 0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) note_failure(st);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_fail(st, sql);
    return 0;
}

int store_version(Store *st) {
    int v = -1;
    pragma_int(st, "PRAGMA user_version", &v);
    return v;
}

/* ---- locations ------------------------------------------------------------ */

static char *data_dir(void) {
    char *dir = unum_xdg_path(UNUM_XDG_DATA, NULL);
    if (!dir) {
        unum_error_wrap("unum's data folder (use --db PATH)");
        return NULL;
    }
    /* The parents are ordinary folders; unum's own folder is private. */
    if (unum_mkdir_p(dir, 0700) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

char *store_default_path(void) {
    char *dir = data_dir();
    if (!dir) return NULL;
    char *p = unum_path_join(dir, "unum.db");
    free(dir);
    return p;
}

char *store_recordings_dir(void) {
    char *dir = data_dir();
    if (!dir) return NULL;
    char *p = unum_path_join(dir, "recordings");
    free(dir);
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        unum_error_set("%s: cannot create folder: %s", p, strerror(errno));
        free(p);
        return NULL;
    }
    return p;
}

/* ---- open ----------------------------------------------------------------- */

/* Settings per connection. synchronous=FULL in WAL mode syncs the log at
 * every commit: an acknowledged write survives a crash of unum and a power
 * loss. busy_timeout lets the TUI and a command-line call share the file. */
static int configure(Store *st) {
    int rc = sqlite3_exec(st->db, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL);
    /* The first read of the header: a non-database file fails here, before
     * anything has been written to it. The three values are read in one
     * transaction, so another process's first migration is seen whole or not
     * at all (never tables without the application_id). */
    int appid = 0, version = 0, objects = 0;
    if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK && pragma_int(st, "PRAGMA application_id", &appid) != 0) rc = SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        int code = sqlite3_errcode(st->db) & 0xff;
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        if (code == SQLITE_NOTADB)
            return unum_error_set("%s: not a unum database (refusing to touch it)", st->path);
        if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN)
            return unum_error_set("%s: database is read-only, or its folder is not writable "
                                  "(unum writes the database and its -wal and -shm files)",
                                  st->path);
        return -1;
    }
    if (pragma_int(st, "PRAGMA user_version", &version) != 0 ||
        pragma_int(st, "SELECT count(*) FROM sqlite_schema", &objects) != 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (appid != 0 && appid != STORE_APPLICATION_ID)
        return unum_error_set("%s: not a unum database (application_id %d; refusing to touch it)",
                              st->path, appid);
    if (appid == 0 && (version != 0 || objects != 0))
        return unum_error_set("%s: not a unum database (it holds other tables; refusing to "
                              "touch it)",
                              st->path);
    if (version > STORE_SCHEMA_VERSION)
        return unum_error_set("%s: database schema version %d is newer than this unum "
                              "understands (version %d); use a newer unum",
                              st->path, version, STORE_SCHEMA_VERSION);
    if (sqlite3_db_readonly(st->db, "main") == 1)
        return unum_error_set("%s: database is read-only (unum needs to write it)", st->path);
    if (store_exec(st, "PRAGMA journal_mode = WAL") != 0) return -1;
    char mode[16] = "";
    sqlite3_stmt *s = store_prepare(st, "PRAGMA journal_mode");
    if (!s) return -1;
    if (sqlite3_step(s) == SQLITE_ROW) snprintf(mode, sizeof mode, "%s", sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (strcmp(mode, "wal") != 0)
        return unum_error_set("%s: cannot switch to WAL mode (journal mode is '%s'); is the "
                              "folder writable?",
                              st->path, mode);
    return store_exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
}

/* The version is read again inside each write transaction, so two processes
 * opening a new database at once do not both run the same migration. */
static int migrate(Store *st, int target) {
    for (;;) {
        if (store_version(st) >= target) return 0;
        if (store_begin(st) != 0) return -1;
        int v = store_version(st);
        if (v < 0) {
            store_rollback(st);
            return -1;
        }
        if (v >= target) {
            store_rollback(st);
            return 0;
        }
        const Migration *m = &migrations[v];
        char bump[96];
        if (v == 0) /* the first migration also marks the file as unum's */
            snprintf(bump, sizeof bump, "PRAGMA application_id = %d; PRAGMA user_version = 1",
                     STORE_APPLICATION_ID);
        else snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (store_exec(st, m->sql) != 0 || (m->after && m->after(st) != 0) ||
            store_exec(st, bump) != 0) {
            unum_error_wrap("migrating to schema version %d", v + 1);
            store_rollback(st);
            return -1;
        }
        if (store_commit(st) != 0) {
            store_rollback(st);
            return -1;
        }
    }
}

static int open_at(const char *path, int version, Store **out) {
    *out = NULL;
    char *own = NULL;
    if (!path) {
        own = store_default_path();
        if (!own) return -1;
        path = own;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        unum_error_set("%s: not a regular file", path);
        free(own);
        return -1;
    }
    Store *st = xcalloc(1, sizeof *st);
    st->path = own ? own : xstrdup(path);
    /* A new database is made here, 0600 whatever the umask, so that SQLite
     * opens an empty file and gives its -wal and -shm the same mode; an
     * existing one keeps its mode, with a notice when others can read it. */
    struct stat lb;
    if (lstat(st->path, &lb) != 0 && errno == ENOENT) {
        int fd = unum_create_private(st->path);
        if (fd >= 0) close(fd);
        else if (errno != EEXIST) { /* EEXIST: another process made it first */ store_close(st);
            return -1;
        }
    } else {
        st->notice = unum_private_notice(st->path);
    }
    int rc = sqlite3_open_v2(
        st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db)
            unum_error_set("%s: cannot open database: %s (%s)", st->path, sqlite3_errmsg(st->db),
                           strerror(sqlite3_system_errno(st->db)));
        else unum_error_set("%s: cannot open database", st->path);
        store_close(st);
        return -1;
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* Several processes creating the file at once can meet a lock that the
     * busy timeout does not cover (the switch to WAL, a read upgrading to a
     * write): opening is idempotent, so such a step is simply tried again. */
    for (int attempt = 0;; attempt++) {
        st->busy = 0;
        if (configure(st) == 0 && migrate(st, version) == 0) break;
        if (!st->busy || attempt == 50) {
            store_close(st);
            return -1;
        }
        store_rollback(st);
        usleep(20000);
    }
    *out = st;
    return 0;
}

int store_open(const char *path, Store **out) {
    return open_at(path, STORE_SCHEMA_VERSION, out);
}

const char *store_notice(const Store *st) { return st->notice; }

int store_open_version(const char *path, int version, Store **out) {
    if (version < 1 || version > STORE_SCHEMA_VERSION)
        return unum_error_set("schema version %d: no such version (1..%d)", version,
                              STORE_SCHEMA_VERSION);
    return open_at(path, version, out);
}

void store_close(Store *st) {
    if (!st) return;
    if (st->db) sqlite3_close_v2(st->db);
    free(st->notice);
    free(st->path);
    free(st);
}

/* ---- checks --------------------------------------------------------------- */

int store_check(Store *st) {
    sqlite3_stmt *s = store_prepare(st, "PRAGMA integrity_check");
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
        unum_error_set("%s: integrity_check: %s", st->path,
                       rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0)
                                        : sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    s = store_prepare(st, "PRAGMA foreign_key_check");
    if (!s) return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        unum_error_set("%s: foreign_key_check: row %lld of %s points to a missing %s", st->path,
                       (long long)sqlite3_column_int64(s, 1), sqlite3_column_text(s, 0),
                       sqlite3_column_text(s, 2));
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    if (store_version(st) >= 2) {
        /* rank 1: compare the index with the content tables, row by row. */
        if (store_exec(st, "INSERT INTO messages_fts(messages_fts, rank) "
                           "VALUES ('integrity-check', 1)") != 0 ||
            store_exec(st, "INSERT INTO segments_fts(segments_fts, rank) "
                           "VALUES ('integrity-check', 1)") != 0)
            return unum_error_wrap("full-text index");
    }
    return 0;
}

int store_rename_named(Store *st, const char *table, const char *kind, const char *from,
                       const char *to) {
    char what[64];
    snprintf(what, sizeof what, "%s name", kind);
    if (store_name_check(to, what)) return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE %s SET name = ?2 WHERE name = ?1", table);
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return unum_error_set("%s '%s' exists already", kind, to);
    if (rc != SQLITE_DONE) {
        snprintf(what, sizeof what, "renaming a %s", kind);
        return store_fail(st, what);
    }
    if (sqlite3_changes(st->db) == 0) return unum_error_set("%s '%s' not found", kind, from);
    return 0;
}

int store_delete_named(Store *st, const char *table, const char *kind, const char *name) {
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ?1", table);
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        char what[64];
        snprintf(what, sizeof what, "removing a %s", kind);
        return store_fail(st, what);
    }
    if (sqlite3_changes(st->db) == 0) return unum_error_set("%s '%s' not found", kind, name);
    return 0;
}
