/* store.h - the SQLite store: opening, the schema and its migrations.
 *
 * Everything a user makes in unum lives in one SQLite database: sessions and
 * their messages, personas, report templates, recordings (rows pointing to WAV
 * files), transcript segments and reports. The schema lives in store.c, in
 * one table of numbered migrations; PRAGMA user_version says how many ran.
 *
 * Durability: every connection runs in WAL mode with synchronous=FULL, so a
 * call that returned 0 has its transaction in the write-ahead log and synced
 * to disk. Such a write survives a crash or SIGKILL of unum and, as far as the
 * disk honours fsync, a power loss too. A transaction that had not returned
 * is rolled back as a whole at the next open; the database is never left
 * half-written.
 *
 * Errors follow engine/base/util.h: -1 (or NULL) with unum_error() naming the
 * database path and the value at fault. A Store is used by one thread at a
 * time. */
#ifndef UNUM_STORE_H
#define UNUM_STORE_H

#include <sqlite3.h>
#include <stdint.h>

/* The newest schema version this build writes. */
#define STORE_SCHEMA_VERSION 9
/* PRAGMA application_id of a unum database ("unum"). */
#define STORE_APPLICATION_ID 0x756e756d

typedef struct Store Store;

/* $XDG_DATA_HOME/unum/unum.db (else ~/.local/share/unum/unum.db), creating
 * the unum folder with mode 0700. Returns a new string, or NULL on error. */
char *store_default_path(void);

/* Opens (creating if absent) the database at path, or at the default path when
 * path is NULL; applies the per-connection settings, migrates the schema to
 * STORE_SCHEMA_VERSION (seeding the built-in personas and templates on first
 * run). Recordings a crash left in status 'recording' are repaired by the
 * caller's recordings_open (tui/core/recordings.h): the store touches no
 * file but its database. Refuses, without writing to it, a file that is not a unum database or one
 * whose schema is newer than this build. */
int store_open(const char *path, Store **out);
/* As store_open, but migrates only up to version (1..STORE_SCHEMA_VERSION);
 * for the upgrade tests. */
int store_open_version(const char *path, int version, Store **out);
void store_close(Store *st);
/* A database file is created with mode 0600 whatever the umask (its -wal
 * and -shm take the same mode from SQLite); an existing one keeps its mode.
 * When the database existed and others than its owner could read it, a
 * notice saying so (for the front end to show once), else NULL. */
const char *store_notice(const Store *st);

sqlite3 *store_db(Store *st);
const char *store_path(const Store *st);
/* The schema version of the open database. */
int store_version(Store *st);
/* Folder for recordings: $XDG_DATA_HOME/unum/recordings, created 0700
 * (new string, or NULL on error). */
char *store_recordings_dir(void);

/* Runs SQL with no results; errors name the database. */
int store_exec(Store *st, const char *sql);
int store_begin(Store *st);
int store_commit(Store *st);
void store_rollback(Store *st);

/* Sets the error from the connection's last failure:
 * "PATH: what: sqlite message"; returns -1. */
int store_fail(Store *st, const char *what);

/* Full check: integrity_check "ok", foreign_key_check empty, both FTS
 * indexes consistent with their tables. 0 when all hold, else -1 with the
 * first problem in the error. */
int store_check(Store *st);

/* Helpers shared by the store's .c files. */
/* A copy of column i as a new string ("" for NULL). */
char *store_col_text(sqlite3_stmt *s, int i);
/* Prepares sql or sets the error (naming what). */
sqlite3_stmt *store_prepare(Store *st, const char *sql);
/* Deletes the row of table whose name is name; "KIND 'NAME' not found" when
 * there is none. table is one of the store's own, never user text. */
int store_delete_named(Store *st, const char *table, const char *kind, const char *name);
/* Renames that row from to to (a valid name, store_name_check); "KIND 'TO'
 * exists already" or "KIND 'FROM' not found" otherwise. */
int store_rename_named(Store *st, const char *table, const char *kind, const char *from,
                       const char *to);

#endif
