/* test_store.c - the store API: opening and its settings, every migration,
 * personas, templates, sessions, messages, reports, recordings and their
 * crash repair, segments, search, and the inputs it must refuse. */
#include "audio/wav.h"
#include "store/meeting_store.h"
#include "store/persona.h"
#include "store/recording.h"
#include "store/search.h"
#include "store/session.h"
#include "engine/base/sha256.h"
#include "store/store.h"
#include "store/template.h"
#include "tests/test.h"
#include "engine/base/util.h"
#include "tui/core/recordings.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A new database in a new folder; *dir_out to remove afterwards. */
static Store *fresh(char **dir_out, char **path_out) {
    char *dir = test_tmpdir();
    *dir_out = dir;
    if (!dir) return NULL;
    char *path = unum_path_join(dir, "t.db");
    Store *st = NULL;
    if (store_open(path, &st) != 0) test_fail(__FILE__, __LINE__, "open: %s", unum_error());
    if (path_out) *path_out = path;
    else free(path);
    return st;
}

static long long q_int(Store *st, const char *sql) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -999;
    long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -999;
    sqlite3_finalize(s);
    return v;
}

static char *q_text(Store *st, const char *sql) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return NULL;
    char *v = sqlite3_step(s) == SQLITE_ROW ? store_col_text(s, 0) : NULL;
    sqlite3_finalize(s);
    return v;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* ---- open, settings, seeding ---------------------------------------------- */

TEST(store_open_settings_and_seed) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    CHECK_EQ_INT(store_version(st), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(q_int(st, "PRAGMA application_id"), STORE_APPLICATION_ID);
    char *mode = q_text(st, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    CHECK_EQ_INT(q_int(st, "PRAGMA foreign_keys"), 1);
    CHECK_EQ_INT(q_int(st, "PRAGMA synchronous"), 2); /* FULL */
    CHECK_EQ_INT(q_int(st, "PRAGMA busy_timeout"), 5000);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM personas WHERE builtin"), 4);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM templates WHERE builtin"), 6);
    static const char *personas[] = {"assistant", "analyst", "engineer", "coach"};
    static const char *templates[] = {"standup",       "one-on-one",    "project-sync",
                                      "retrospective", "customer-call", "lecture-notes"};
    for (int i = 0; i < 4; i++) {
        Persona p;
        CHECK(store_persona_get(st, personas[i], &p) == 0);
        CHECK(p.system_prompt && strlen(p.system_prompt) > 20);
        persona_free(&p);
    }
    for (int i = 0; i < 6; i++) {
        Template t;
        CHECK(store_template_get(st, templates[i], &t) == 0);
        CHECK(t.n_sections >= 3);
        template_free(&t);
    }
    CHECK(store_check(st) == 0);
    /* Built-ins are seeded once: a removed one stays removed. */
    CHECK(store_persona_delete(st, "coach") == 0);
    CHECK(store_template_delete(st, "standup") == 0);
    char *path = xstrdup(store_path(st));
    store_close(st);
    REQUIRE(store_open(path, &st) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM personas"), 3);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM templates"), 5);
    store_close(st);
    free(path);
    test_tmp_remove(dir);
}

TEST(store_default_location_is_private) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *old = getenv("XDG_DATA_HOME") ? xstrdup(getenv("XDG_DATA_HOME")) : NULL;
    char *xdg = unum_path_join(dir, "xdg/data");
    setenv("XDG_DATA_HOME", xdg, 1);
    Store *st;
    CHECK(store_open(NULL, &st) == 0);
    char *want = unum_path_join(xdg, "unum/unum.db");
    if (st) CHECK_STR(store_path(st), want);
    store_close(st);
    struct stat sb;
    char *udir = unum_path_join(xdg, "unum");
    CHECK(stat(udir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    CHECK(unum_file_exists(want));
    char *rec = store_recordings_dir();
    CHECK(rec && stat(rec, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    free(rec);
    if (old) setenv("XDG_DATA_HOME", old, 1);
    else unsetenv("XDG_DATA_HOME");
    free(old);
    free(udir);
    free(want);
    free(xdg);
    test_tmp_remove(dir);
}

/* The database with its -wal and -shm, the settings file and an export
 * are created 0600 whatever the umask; an existing file keeps its mode and
 * the database's is noticed when others can read it; a link at the
 * temporary name is replaced, never followed. */
TEST(store_files_are_private_whatever_the_umask) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    mode_t old_mask = umask(0);
    char *db = unum_path_join(dir, "u.db");
    Store *st;
    CHECK(store_open(db, &st) == 0);
    if (st) {
        CHECK(store_notice(st) == NULL);
        CHECK(store_exec(st, "INSERT INTO personas(name, system_prompt) VALUES ('m', 'p')") == 0);
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s%s", db, sfx[i]);
            struct stat sb;
            if (stat(path, &sb) != 0 || (sb.st_mode & 0777) != 0600)
                test_fail(__FILE__, __LINE__, "%s: mode %04o, not 0600", path,
                          (unsigned)(sb.st_mode & 0777));
        }
    }
    store_close(st);
    /* an existing database keeps its mode, with a notice */
    CHECK(chmod(db, 0644) == 0);
    CHECK(store_open(db, &st) == 0);
    if (st) CHECK(store_notice(st) && strstr(store_notice(st), "0644"));
    store_close(st);
    struct stat sb;
    CHECK(stat(db, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    /* the atomic writer: settings, exports, reports */
    char *conf = unum_path_join(dir, "config");
    char *part = unum_path_join(dir, "config.part");
    char *target = unum_path_join(dir, "target");
    CHECK(symlink(target, part) == 0);
    CHECK(unum_write_file_atomic(conf, "a = 1\n", 6) == 0);
    CHECK(stat(conf, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(!unum_file_exists(target));
    CHECK(chmod(conf, 0640) == 0);
    CHECK(unum_write_file_atomic(conf, "a = 2\n", 6) == 0);
    CHECK(stat(conf, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    umask(old_mask);
    free(target);
    free(part);
    free(conf);
    free(db);
    test_tmp_remove(dir);
}

/* ---- migrations ----------------------------------------------------------- */

/* Rows that a database at version v can hold, written with plain SQL. */
static void fill_version(Store *st, int v) {
    CHECK(store_exec(st,
                     "INSERT INTO sessions(id, title, model, persona) VALUES "
                     "(1, 'old chat', 'm', 'analyst'), (2, 'second', 'm', 'coach');"
                     "INSERT INTO messages(session_id, role, content, tokens) VALUES "
                     "(1, 'user', 'the quarterly numbers look odd', 6),"
                     "(1, 'assistant', 'which numbers exactly', 4),"
                     "(2, 'user', 'coaching question', 2);"
                     "INSERT INTO recordings(id, path, status, sample_rate) VALUES "
                     "(1, '/nonexistent/old.wav', 'complete', 16000);"
                     "INSERT INTO segments(recording_id, start_s, end_s, text) VALUES "
                     "(1, 0, 1.5, 'welcome to the budget review');"
                     "INSERT INTO personas(name, system_prompt) VALUES ('mine', 'be mine');") == 0);
    CHECK_EQ_INT(store_version(st), v);
}

TEST(store_upgrade_from_every_earlier_version) {
    for (int v = 1; v < STORE_SCHEMA_VERSION; v++) {
        char *dir = test_tmpdir();
        REQUIRE(dir);
        char *path = unum_path_join(dir, "old.db");
        Store *st;
        REQUIRE(store_open_version(path, v, &st) == 0);
        fill_version(st, v);
        long long before[4] = {
            q_int(st, "SELECT count(*) FROM sessions"), q_int(st, "SELECT count(*) FROM messages"),
            q_int(st, "SELECT count(*) FROM segments"), q_int(st, "SELECT count(*) FROM personas")};
        store_close(st);
        REQUIRE(store_open(path, &st) == 0);
        CHECK_EQ_INT(store_version(st), STORE_SCHEMA_VERSION);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM sessions"), before[0]);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages"), before[1]);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM segments"), before[2]);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM personas"), before[3]);
        CHECK(store_check(st) == 0);
        /* Rows written before search existed are found by it. */
        StoreHit *h;
        size_t n;
        CHECK(store_search(st, "quarterly", 0, &h, &n) == 0);
        CHECK_EQ_INT(n, 1);
        store_hits_free(h, n);
        CHECK(store_search(st, "budget", 0, &h, &n) == 0);
        CHECK_EQ_INT(n, 1);
        if (n) CHECK_STR(h[0].kind, "segment");
        store_hits_free(h, n);
        /* Assistant messages take their session's model (version 5; rows
         * written at version 5 itself keep the model they were given). */
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages WHERE role = 'assistant' AND "
                               "model = 'm'"),
                     v < 5);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages WHERE model = ''"), v < 5 ? 2 : 3);
        /* Personas and templates made before adapters existed have none
         * (version 6), and take some now. */
        Persona mine;
        CHECK(store_persona_get(st, "mine", &mine) == 0);
        CHECK_EQ_INT(mine.adapters.n, 0);
        mine.adapters.v = xcalloc(1, sizeof *mine.adapters.v);
        mine.adapters.v[0].path = xstrdup("/adapters/terse");
        mine.adapters.v[0].scale = 0.5;
        mine.adapters.n = 1;
        CHECK(store_persona_update(st, &mine) == 0);
        persona_free(&mine);
        CHECK(store_persona_get(st, "mine", &mine) == 0);
        CHECK_EQ_INT(mine.adapters.n, 1);
        if (mine.adapters.n) CHECK_STR(mine.adapters.v[0].path, "/adapters/terse");
        persona_free(&mine);
        /* Recordings have a title from version 7 on, '' for the old ones. */
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM recordings WHERE title = ''"), 1);
        /* Each session's messages became one chain (version 8; rows
         * written at version 8 or later by plain SQL name no parent). */
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages WHERE parent_id IS NULL"),
                     v < 8 ? 2 : 3);
        if (v < 8) {
            StoreMessage *ms;
            size_t nm;
            REQUIRE(store_message_list(st, 1, &ms, &nm) == 0);
            CHECK_EQ_INT(nm, 2);
            if (nm == 2) CHECK_EQ_INT(ms[1].parent_id, ms[0].id);
            store_messages_free(ms, nm);
        }
        /* Speakers can be named (version 9) on segments of any version. */
        CHECK(store_exec(st, "UPDATE segments SET speaker = 'S0'") == 0);
        CHECK(store_exec(st, "INSERT INTO speaker_names VALUES (1, 'S0', 'Ana')") == 0);
        CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM speaker_names"), 1);
        /* And the newest tables work on the upgraded file. */
        CHECK(store_report_add(st, 0, 1, "standup", "analyst", "# r", NULL) == 0);
        store_close(st);
        free(path);
        test_tmp_remove(dir);
    }
}

TEST(store_failed_migration_keeps_previous_version) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "old.db");
    Store *st;
    /* Migration 6 (a column on personas, then one on templates): a column
     * in the way makes it fail half-way, after its first statement ran. */
    REQUIRE(store_open_version(path, 5, &st) == 0);
    fill_version(st, 5);
    CHECK(store_exec(st, "ALTER TABLE templates ADD COLUMN adapters TEXT") == 0);
    store_close(st);
    CHECK(store_open(path, &st) != 0);
    char want[64];
    snprintf(want, sizeof want, "schema version %d", 6);
    CHECK_ERR(want);
    CHECK_ERR(path);
    REQUIRE(store_open_version(path, 5, &st) == 0);
    CHECK_EQ_INT(store_version(st), 5);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages"), 3);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM pragma_table_info('personas') "
                           "WHERE name = 'adapters'"),
                 0);
    store_close(st);
    CHECK(store_open_version(path, 0, &st) != 0);
    CHECK(store_open_version(path, STORE_SCHEMA_VERSION + 1, &st) != 0);
    free(path);
    test_tmp_remove(dir);
}

/* ---- personas ------------------------------------------------------------- */

static const char persona_json[] =
    "{\"name\": \"pirate\", \"description\": \"Arr\", \"system_prompt\": \"Talk like a "
    "pirate.\\nAlways.\", \"style\": {\"tone\": \"salty\", \"length\": \"short\", "
    "\"language\": \"en\"}}";

TEST(store_persona_crud_and_round_trip) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    Persona p, q;
    REQUIRE(persona_parse_json(persona_json, strlen(persona_json), "p.json", &p) == 0);
    CHECK_STR(p.tone, "salty");
    CHECK(store_persona_add(st, &p) == 0);
    CHECK(store_persona_add(st, &p) != 0);
    CHECK_ERR("already exists");
    REQUIRE(store_persona_get(st, "pirate", &q) == 0);
    char *a = persona_to_json(&p), *b = persona_to_json(&q);
    CHECK_STR(a, b);
    Persona r;
    CHECK(persona_parse_json(a, strlen(a), "export", &r) == 0);
    char *c = persona_to_json(&r);
    CHECK_STR(a, c);
    free(a), free(b), free(c);
    persona_free(&r);
    persona_free(&q);
    free(p.system_prompt);
    p.system_prompt = xstrdup("Talk like a parrot.");
    CHECK(store_persona_update(st, &p) == 0);
    REQUIRE(store_persona_get(st, "pirate", &q) == 0);
    CHECK_STR(q.system_prompt, "Talk like a parrot.");
    persona_free(&q);
    Persona *list;
    size_t n;
    REQUIRE(store_persona_list(st, &list, &n) == 0);
    CHECK_EQ_INT(n, 5);
    for (size_t i = 1; i < n; i++) CHECK(strcmp(list[i - 1].name, list[i].name) < 0);
    store_personas_free(list, n);
    CHECK(store_persona_delete(st, "pirate") == 0);
    CHECK(store_persona_delete(st, "pirate") != 0);
    CHECK_ERR("persona 'pirate' not found");
    CHECK(store_persona_get(st, "pirate", &q) != 0);
    CHECK_ERR("pirate");
    CHECK(store_persona_update(st, &p) != 0);
    CHECK_ERR("not found");
    free(p.name);
    p.name = xstrdup("bad name!");
    CHECK(store_persona_add(st, &p) != 0);
    CHECK_ERR("bad name!");
    persona_free(&p);
    store_close(st);
    test_tmp_remove(dir);
}

TEST(store_persona_json_errors_name_the_field) {
    static const struct {
        const char *json, *err;
    } bad[] = {
        {"{", "f.json: not valid JSON"},
        {"[1]", "f.json: expected a JSON object"},
        {"{\"system_prompt\": \"x\"}", "field 'name' is missing"},
        {"{\"name\": 7, \"system_prompt\": \"x\"}", "field 'name' must be a string"},
        {"{\"name\": \"a b\", \"system_prompt\": \"x\"}", "field 'name'"},
        {"{\"name\": \"a\"}", "field 'system_prompt' is missing"},
        {"{\"name\": \"a\", \"system_prompt\": \"\"}", "field 'system_prompt' must not be empty"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"style\": 3}",
         "field 'style' must be an object"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"style\": {\"tone\": 1}}",
         "field 'style.tone' must be a string"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"style\": {\"mood\": \"x\"}}",
         "field 'style.mood' is not known"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"colour\": \"red\"}",
         "field 'colour' is not known"},
        {"{\"name\": \"a\", \"description\": null, \"system_prompt\": \"x\"}",
         "field 'description' must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Persona p;
        CHECK(persona_parse_json(bad[i].json, strlen(bad[i].json), "f.json", &p) != 0);
        CHECK_ERR(bad[i].err);
        CHECK_ERR("f.json");
    }
    Persona p;
    REQUIRE(persona_parse_json("{\"name\": \"min\", \"system_prompt\": \"x\"}", 37, "f", &p) == 0);
    CHECK_STR(p.description, "");
    CHECK_STR(p.tone, "");
    persona_free(&p);
}

/* A persona's and a template's adapters: parsed strictly (the field at
 * fault named), stored, read back and exported byte for byte. */
TEST(store_adapters_of_personas_and_templates) {
    static const struct {
        const char *adapters, *err;
    } bad[] = {
        {"7", "field 'adapters' must be an array"},
        {"{\"path\": \"a\"}", "field 'adapters' must be an array"},
        {"[\"/a\"]", "field 'adapters[0]' must be an object"},
        {"[{\"scale\": 1}]", "field 'adapters[0].path' is missing"},
        {"[{\"path\": \"/a\"}, {\"path\": 3}]", "field 'adapters[1].path' must be a string"},
        {"[{\"path\": \"\"}]", "field 'adapters[0].path' must not be empty"},
        {"[{\"path\": \"/a\", \"scale\": \"0.5\"}]", "field 'adapters[0].scale' must be a number"},
        {"[{\"path\": \"/a\", \"scale\": null}]", "field 'adapters[0].scale' must be a number"},
        {"[{\"path\": \"/a\", \"scale\": 1e9}]", "field 'adapters[0].scale' is 1e+09"},
        {"[{\"path\": \"/a\", \"weight\": 1}]", "field 'adapters[0].weight' is not known"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char js[512];
        snprintf(js, sizeof js, "{\"name\": \"a\", \"system_prompt\": \"x\", \"adapters\": %s}",
                 bad[i].adapters);
        Persona p;
        CHECK(persona_parse_json(js, strlen(js), "p.json", &p) != 0);
        CHECK_ERR(bad[i].err);
        CHECK_ERR("p.json");
        snprintf(js, sizeof js,
                 "{\"name\": \"t\", \"sections\": [{\"title\": \"a\", \"instruction\": \"b\", "
                 "\"format\": \"list\"}], \"adapters\": %s}",
                 bad[i].adapters);
        Template t;
        CHECK(template_parse_json(js, strlen(js), "t.json", &t) != 0);
        CHECK_ERR(bad[i].err);
        CHECK_ERR("t.json");
    }
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    static const char pj[] = "{\"name\": \"sql\", \"system_prompt\": \"Answer in SQL.\", "
                             "\"adapters\": [{\"path\": \"/models/sql-lora\", \"scale\": 0.75}, "
                             "{\"path\": \"org/terse\"}]}";
    Persona p, q;
    REQUIRE(persona_parse_json(pj, strlen(pj), "p.json", &p) == 0);
    REQUIRE(p.adapters.n == 2);
    CHECK_STR(p.adapters.v[0].path, "/models/sql-lora");
    CHECK(p.adapters.v[0].scale == 0.75);
    CHECK(p.adapters.v[1].scale == 1.0); /* the default */
    CHECK(store_persona_add(st, &p) == 0);
    REQUIRE(store_persona_get(st, "sql", &q) == 0);
    REQUIRE(q.adapters.n == 2);
    CHECK_STR(q.adapters.v[1].path, "org/terse");
    char *a = persona_to_json(&p), *b = persona_to_json(&q);
    CHECK_STR(a, b);
    CHECK_CONTAINS(a, "\"adapters\"");
    Persona r;
    CHECK(persona_parse_json(a, strlen(a), "export", &r) == 0);
    char *c = persona_to_json(&r);
    CHECK_STR(a, c);
    free(a), free(b), free(c);
    persona_free(&r);
    /* an edit that drops them drops them, and the export has no field then */
    adapterlist_free(&q.adapters);
    CHECK(store_persona_update(st, &q) == 0);
    persona_free(&q);
    REQUIRE(store_persona_get(st, "sql", &q) == 0);
    CHECK_EQ_INT(q.adapters.n, 0);
    a = persona_to_json(&q);
    CHECK(!strstr(a, "adapters"));
    free(a);
    persona_free(&q);
    persona_free(&p);
    /* a template's */
    static const char tj[] = "{\"name\": \"minutes\", \"sections\": [{\"title\": \"Notes\", "
                             "\"instruction\": \"Notes.\", \"format\": \"list\"}], "
                             "\"adapters\": [{\"path\": \"/models/minutes-lora\", \"scale\": 2}]}";
    Template t, u;
    REQUIRE(template_parse_json(tj, strlen(tj), "t.json", &t) == 0);
    CHECK(store_template_add(st, &t) == 0);
    REQUIRE(store_template_get(st, "minutes", &u) == 0);
    REQUIRE(u.adapters.n == 1);
    CHECK_STR(u.adapters.v[0].path, "/models/minutes-lora");
    CHECK(u.adapters.v[0].scale == 2.0);
    a = template_to_json(&t), b = template_to_json(&u);
    CHECK_STR(a, b);
    free(a), free(b);
    template_free(&u);
    u = (Template){0};
    t.adapters.v[0].scale = 0.5;
    CHECK(store_template_update(st, &t) == 0);
    REQUIRE(store_template_get(st, "minutes", &u) == 0);
    CHECK(u.adapters.n == 1 && u.adapters.v[0].scale == 0.5);
    template_free(&u);
    template_free(&t);
    /* a column that does not read back is an error naming the row */
    CHECK(store_exec(st, "UPDATE personas SET adapters = '[{\"path\": 1}]' WHERE name = 'sql'") == 0);
    CHECK(store_persona_get(st, "sql", &q) != 0);
    CHECK_ERR("persona 'sql': adapters");
    CHECK_ERR("adapters[0].path");
    store_close(st);
    test_tmp_remove(dir);
}

/* ---- templates ------------------------------------------------------------ */

static const char template_json[] =
    "{\"name\": \"design-review\", \"description\": \"Reviewing a design\", \"sections\": ["
    "{\"title\": \"Proposal\", \"instruction\": \"What is proposed.\", \"format\": \"paragraph\"},"
    "{\"title\": \"Concerns\", \"instruction\": \"Raised concerns.\", \"format\": \"list\"},"
    "{\"title\": \"Owners\", \"instruction\": \"Who does what.\", \"format\": \"table\"}]}";

TEST(store_template_crud_and_round_trip) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    Template t, u;
    REQUIRE(template_parse_json(template_json, strlen(template_json), "t.json", &t) == 0);
    CHECK_EQ_INT(t.n_sections, 3);
    CHECK(store_template_add(st, &t) == 0);
    CHECK(store_template_add(st, &t) != 0);
    CHECK_ERR("already exists");
    REQUIRE(store_template_get(st, "design-review", &u) == 0);
    char *a = template_to_json(&t), *b = template_to_json(&u);
    CHECK_STR(a, b);
    CHECK_STR(u.sections[2].title, "Owners");
    CHECK_STR(u.sections[1].format, "list");
    free(a), free(b);
    template_free(&u);
    /* Editing replaces the sections, order kept. */
    t.n_sections = 2;
    TemplateSection keep = t.sections[2];
    TemplateSection tmp = t.sections[0];
    t.sections[0] = t.sections[1];
    t.sections[1] = tmp;
    CHECK(store_template_update(st, &t) == 0);
    REQUIRE(store_template_get(st, "design-review", &u) == 0);
    CHECK_EQ_INT(u.n_sections, 2);
    CHECK_STR(u.sections[0].title, "Concerns");
    CHECK_STR(u.sections[1].title, "Proposal");
    template_free(&u);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM template_sections ts JOIN templates t ON "
                           "t.id = ts.template_id WHERE t.name = 'design-review'"),
                 2);
    t.n_sections = 3;
    t.sections[2] = keep;
    Template *list;
    size_t n;
    REQUIRE(store_template_list(st, &list, &n) == 0);
    CHECK_EQ_INT(n, 7);
    store_templates_free(list, n);
    CHECK(store_template_delete(st, "design-review") == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM template_sections WHERE template_id NOT IN "
                           "(SELECT id FROM templates)"),
                 0);
    CHECK(store_template_delete(st, "design-review") != 0);
    CHECK_ERR("template 'design-review' not found");
    CHECK(store_template_update(st, &t) != 0);
    CHECK_ERR("not found");
    CHECK(store_template_get(st, "nope", &u) != 0);
    CHECK_ERR("nope");
    free(t.sections[0].format);
    t.sections[0].format = xstrdup("poem");
    CHECK(store_template_add(st, &t) != 0);
    CHECK_ERR("poem");
    template_free(&t);
    store_close(st);
    test_tmp_remove(dir);
}

TEST(store_template_json_errors_name_the_field) {
    static const struct {
        const char *json, *err;
    } bad[] = {
        {"nope", "t.json: not valid JSON"},
        {"{\"sections\": []}", "field 'name' is missing"},
        {"{\"name\": \"x\"}", "field 'sections' is missing"},
        {"{\"name\": \"x\", \"sections\": []}", "field 'sections' must be a non-empty array"},
        {"{\"name\": \"x\", \"sections\": {}}", "field 'sections' must be a non-empty array"},
        {"{\"name\": \"x\", \"sections\": [1]}", "field 'sections[0]' must be an object"},
        {"{\"name\": \"x\", \"sections\": [{\"title\": \"a\", \"instruction\": \"b\", "
         "\"format\": \"list\"}, {\"instruction\": \"b\", \"format\": \"list\"}]}",
         "field 'sections[1].title' is missing"},
        {"{\"name\": \"x\", \"sections\": [{\"title\": \"a\", \"instruction\": \"b\", "
         "\"format\": \"poem\"}]}",
         "field 'sections[0].format' is 'poem'"},
        {"{\"name\": \"x\", \"sections\": [{\"title\": \"a\", \"instruction\": 5, "
         "\"format\": \"list\"}]}",
         "field 'sections[0].instruction' must be a string"},
        {"{\"name\": \"x\", \"sections\": [{\"title\": \"a\", \"instruction\": \"b\", "
         "\"format\": \"list\", \"extra\": 1}]}",
         "field 'sections[0].extra' is not known"},
        {"{\"name\": \"x\", \"owner\": \"me\", \"sections\": []}", "field 'owner' is not known"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Template t;
        CHECK(template_parse_json(bad[i].json, strlen(bad[i].json), "t.json", &t) != 0);
        CHECK_ERR(bad[i].err);
    }
}

/* ---- sessions, messages, reports ------------------------------------------ */

/* Renaming in place: the row keeps its id (a template its sections); a
 * taken name, a missing one and an invalid one are refused by name. */
TEST(store_persona_and_template_rename) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    long long id = q_int(st, "SELECT id FROM personas WHERE name = 'analyst'");
    CHECK(store_persona_rename(st, "analyst", "critic") == 0);
    CHECK_EQ_INT(q_int(st, "SELECT id FROM personas WHERE name = 'critic'"), id);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM personas WHERE name = 'analyst'"), 0);
    CHECK(store_persona_rename(st, "critic", "coach") == -1);
    CHECK_ERR("persona 'coach' exists already");
    CHECK(store_persona_rename(st, "nobody", "somebody") == -1);
    CHECK_ERR("persona 'nobody' not found");
    CHECK(store_persona_rename(st, "critic", "has space") == -1);
    CHECK_ERR("persona name");
    long long sections = q_int(st, "SELECT count(*) FROM template_sections s JOIN templates t ON "
                                   "s.template_id = t.id WHERE t.name = 'standup'");
    CHECK(sections > 0);
    CHECK(store_template_rename(st, "standup", "daily") == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM template_sections s JOIN templates t ON "
                           "s.template_id = t.id WHERE t.name = 'daily'"),
                 sections);
    store_close(st);
    test_tmp_remove(dir);
}

/* A recording's title; its reports newest first; deleting it removes its
 * segments and reports with it (the file is the caller's). */
TEST(store_recording_title_reports_and_delete) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t rec = 0, r1 = 0, r2 = 0;
    REQUIRE(store_recording_begin(st, "/nonexistent/a.wav", 16000, 1, 0, &rec) == 0);
    REQUIRE(store_segment_add(st, rec, 0, 1, NULL, "hello", NULL) == 0);
    REQUIRE(store_report_add_model(st, rec, "standup", "analyst", "m", "# one", &r1) == 0);
    REQUIRE(store_report_add_model(st, rec, "retro", "", "m", "# two", &r2) == 0);
    CHECK(store_recording_rename(st, rec, "Budget review") == 0);
    StoreMeeting m;
    REQUIRE(store_meeting_get(st, rec, &m) == 0);
    CHECK_STR(m.title, "Budget review");
    store_meeting_free(&m);
    StoreReport *r;
    size_t n;
    REQUIRE(store_report_list(st, rec, &r, &n) == 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(r[0].id, r2);
        CHECK_STR(r[0].markdown, "# two");
        CHECK_STR(r[1].template_name, "standup");
        CHECK_STR(r[1].persona, "analyst");
    }
    store_reports_free(r, n);
    CHECK(store_recording_delete(st, rec) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM recordings"), 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM segments"), 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM reports"), 0);
    CHECK(store_recording_delete(st, rec) == -1);
    CHECK_ERR("not found");
    CHECK(store_recording_rename(st, rec, "x") == -1);
    store_close(st);
    test_tmp_remove(dir);
}

TEST(store_sessions_and_messages) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t a, b, m;
    REQUIRE(store_session_create(st, "first", "Qwen/Qwen2.5-0.5B-Instruct", "analyst", &a) == 0);
    REQUIRE(store_session_create(st, "second", "m", "coach", &b) == 0);
    CHECK(store_message_add(st, a, "user", "hello there", 2, 0, &m) == 0);
    CHECK(store_message_add(st, a, "assistant", "general kenobi", 3, 41.5, NULL) == 0);
    CHECK(store_message_add(st, a, "wizard", "x", 0, 0, NULL) != 0);
    CHECK_ERR("wizard");
    CHECK(store_message_add(st, 999, "user", "x", 0, 0, NULL) != 0);
    CHECK_ERR("session 999 not found");
    StoreSession s;
    REQUIRE(store_session_get(st, a, &s) == 0);
    CHECK_STR(s.title, "first");
    CHECK_STR(s.model, "Qwen/Qwen2.5-0.5B-Instruct");
    CHECK_STR(s.persona, "analyst");
    CHECK_EQ_INT(s.n_messages, 2);
    CHECK(strlen(s.created) == 24 && s.created[10] == 'T' && s.created[23] == 'Z');
    CHECK(strcmp(s.updated, s.created) >= 0);
    store_session_free(&s);
    StoreMessage *ms;
    size_t n;
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_INT(ms[0].id, m);
    CHECK_STR(ms[0].role, "user");
    CHECK_STR(ms[1].content, "general kenobi");
    CHECK_EQ_INT(ms[1].tokens, 3);
    CHECK_NEAR(ms[1].elapsed_ms, 41.5, 1e-9);
    store_messages_free(ms, n);
    /* The session with the newest message comes first. */
    usleep(2000);
    CHECK(store_message_add(st, b, "user", "later", 1, 0, NULL) == 0);
    StoreSession *list;
    REQUIRE(store_session_list(st, &list, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_INT(list[0].id, b);
    store_sessions_free(list, n);
    CHECK(store_session_rename(st, a, "renamed") == 0);
    REQUIRE(store_session_get(st, a, &s) == 0);
    CHECK_STR(s.title, "renamed");
    store_session_free(&s);
    CHECK(store_session_rename(st, 12345, "x") != 0);
    CHECK_ERR("session 12345 not found");
    /* Deleting a session takes its messages and their index entries. */
    CHECK(store_session_delete(st, a) == 0);
    CHECK(store_session_delete(st, a) != 0);
    CHECK(store_session_get(st, a, &s) != 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages"), 1);
    StoreHit *h;
    CHECK(store_search(st, "kenobi", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    CHECK(store_check(st) == 0);
    store_close(st);
    test_tmp_remove(dir);
}

TEST(store_removed_persona_and_template_keep_rows_readable) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t sid, rid;
    REQUIRE(store_session_create(st, "talk", "m", "coach", &sid) == 0);
    REQUIRE(store_report_add(st, 0, sid, "retrospective", "coach", "# Retro\n- ok\n", &rid) == 0);
    CHECK(store_persona_delete(st, "coach") == 0);
    CHECK(store_template_delete(st, "retrospective") == 0);
    StoreSession s;
    REQUIRE(store_session_get(st, sid, &s) == 0);
    CHECK_STR(s.persona, "coach");
    store_session_free(&s);
    StoreReport r;
    REQUIRE(store_report_get(st, rid, &r) == 0);
    CHECK_STR(r.template_name, "retrospective");
    CHECK_STR(r.persona, "coach");
    CHECK_STR(r.markdown, "# Retro\n- ok\n");
    CHECK_EQ_INT(r.session_id, sid);
    CHECK_EQ_INT(r.recording_id, 0);
    store_report_free(&r);
    CHECK(store_report_add(st, 0, 0, "x", "y", "z", NULL) != 0);
    CHECK_ERR("needs a recording or a session");
    CHECK(store_report_add(st, 0, 777, "x", "y", "z", NULL) != 0);
    CHECK_ERR("777");
    CHECK(store_report_get(st, 4242, &r) != 0);
    CHECK_ERR("report 4242 not found");
    /* A report goes with its session. */
    CHECK(store_session_delete(st, sid) == 0);
    CHECK(store_report_get(st, rid, &r) != 0);
    CHECK(store_check(st) == 0);
    store_close(st);
    test_tmp_remove(dir);
}

/* ---- recordings ----------------------------------------------------------- */

TEST(store_sha256_vectors) {
    Sha256 c;
    char hex[65];
    sha256_init(&c);
    sha256_update(&c, "abc", 3);
    sha256_final_hex(&c, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_init(&c);
    sha256_final_hex(&c, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_init(&c);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t i = 0; i < strlen(m); i++) sha256_update(&c, m + i, 1);
    sha256_final_hex(&c, hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void append(int fd, size_t bytes) {
    char buf[1000];
    memset(buf, 7, sizeof buf);
    while (bytes) {
        size_t k = bytes < sizeof buf ? bytes : sizeof buf;
        if (write(fd, buf, k) != (ssize_t)k) return;
        bytes -= k;
    }
}

/* frames of a quiet ramp through the one WAV writer. */
static void write_frames(wav_writer *w, size_t frames, int channels) {
    float *x = xcalloc(frames * (size_t)channels, sizeof *x);
    for (size_t i = 0; i < frames * (size_t)channels; i++) x[i] = (float)(i % 100) / 200.0f;
    wav_writer_write(w, x, frames);
    free(x);
}

/* A WAV as a crash leaves it: written by the writer, then its header sizes
 * back to zero and extra bytes (a partial frame) after the data. */
static void crashed_wav(const char *path, int rate, int channels, size_t frames, size_t extra) {
    wav_writer *w = wav_writer_open(path, rate, channels, WAV_PCM);
    if (!w) return;
    write_frames(w, frames, channels);
    wav_writer_close(w);
    int fd = open(path, O_WRONLY);
    if (fd < 0) return;
    uint8_t zero[4] = {0};
    if (pwrite(fd, zero, 4, 4) != 4 || pwrite(fd, zero, 4, 40) != 4 || lseek(fd, 0, SEEK_END) < 0)
        test_fail(__FILE__, __LINE__, "cannot age %s", path);
    append(fd, extra);
    close(fd);
}

TEST(store_recording_finish_and_segments) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    char *wav = unum_path_join(dir, "a.wav");
    wav_writer *w = wav_writer_open(wav, 16000, 1, WAV_PCM);
    REQUIRE(w);
    CHECK(wav_writer_open(wav, 16000, 1, WAV_PCM) == NULL);
    CHECK_ERR(wav);
    int64_t sid, rid, g;
    REQUIRE(store_session_create(st, "meeting", "m", "assistant", &sid) == 0);
    REQUIRE(store_recording_begin(st, wav, 16000, 1, sid, &rid) == 0);
    CHECK(store_recording_begin(st, wav, 16000, 1, sid, NULL) != 0);
    CHECK_ERR("already has a recording row");
    write_frames(w, 16000, 1); /* one second */
    CHECK(store_segment_add(st, rid, 0.0, 1.0, "A", "we agreed on the roadmap", &g) == 0);
    CHECK(store_segment_add(st, rid, 2.0, 1.0, "A", "backwards", NULL) != 0);
    CHECK_ERR("end before start");
    CHECK(store_segment_add(st, 999, 0, 1, "A", "x", NULL) != 0);
    CHECK_ERR("recording 999 not found");
    REQUIRE(wav_writer_finalize(w) == 0);
    REQUIRE(recording_finish(st, rid) == 0);
    wav_writer_close(w);
    StoreRecording r;
    REQUIRE(store_recording_get(st, rid, &r) == 0);
    CHECK_STR(r.status, "complete");
    CHECK_NEAR(r.duration_s, 1.0, 1e-9);
    CHECK_EQ_INT(r.sample_rate, 16000);
    CHECK_EQ_INT(r.session_id, sid);
    /* The stored checksum is the file's. */
    size_t len;
    char *bytes = unum_read_file(wav, 1 << 20, &len);
    REQUIRE(bytes);
    CHECK_EQ_INT(len, 44 + 32000);
    Sha256 c;
    char hex[65];
    sha256_init(&c);
    sha256_update(&c, bytes, len);
    sha256_final_hex(&c, hex);
    CHECK_STR(r.sha256, hex);
    CHECK(memcmp(bytes + 40, "\x00\x7d\x00\x00", 4) == 0); /* data size 32000 */
    free(bytes);
    store_recording_free(&r);
    /* Segment text is searchable and follows edits. */
    StoreHit *h;
    size_t n;
    CHECK(store_search(st, "roadmap", 0, &h, &n) == 0);
    REQUIRE(n == 1);
    CHECK_STR(h[0].kind, "segment");
    CHECK_EQ_INT(h[0].id, g);
    CHECK_EQ_INT(h[0].owner, rid);
    store_hits_free(h, n);
    CHECK(store_exec(st, "UPDATE segments SET text = 'we dropped the plan'") == 0);
    CHECK(store_search(st, "roadmap", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    CHECK(store_search(st, "dropped", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    /* Removing the session keeps the recording. */
    CHECK(store_session_delete(st, sid) == 0);
    REQUIRE(store_recording_get(st, rid, &r) == 0);
    CHECK_EQ_INT(r.session_id, 0);
    store_recording_free(&r);
    CHECK(store_recording_get(st, 31337, &r) != 0);
    CHECK_ERR("recording 31337 not found");
    CHECK(store_check(st) == 0);
    store_close(st);
    free(wav);
    test_tmp_remove(dir);
}

TEST(store_recording_repair_at_open) {
    char *dir, *path;
    Store *st = fresh(&dir, &path);
    REQUIRE(st);
    char *ok = unum_path_join(dir, "crashed.wav"), *gone = unum_path_join(dir, "gone.wav"),
         *junk = unum_path_join(dir, "junk.wav"), *live = unum_path_join(dir, "live.wav");
    crashed_wav(ok, 8000, 2, 16000, 3); /* two seconds and a partial frame */
    write_file(junk, "this is not audio at all, not even close", 40);
    wav_writer *lw = wav_writer_open(live, 16000, 1, WAV_PCM);
    REQUIRE(lw);
    write_frames(lw, 1600, 1);
    int64_t r_ok, r_gone, r_junk, r_live;
    CHECK(store_recording_begin(st, ok, 8000, 2, 0, &r_ok) == 0);
    CHECK(store_recording_begin(st, gone, 16000, 1, 0, &r_gone) == 0);
    CHECK(store_recording_begin(st, junk, 16000, 1, 0, &r_junk) == 0);
    CHECK(store_recording_begin(st, live, 16000, 1, 0, &r_live) == 0);
    store_close(st);
    /* Reopening repairs what a crash left, but not a file still being
     * written (the writer holds its lock). */
    REQUIRE(recordings_open(path, &st) == 0);
    StoreRecording r;
    REQUIRE(store_recording_get(st, r_ok, &r) == 0);
    CHECK_STR(r.status, "complete");
    CHECK_NEAR(r.duration_s, 2.0, 1e-9);
    CHECK_EQ_INT(r.channels, 2);
    CHECK_EQ_INT(strlen(r.sha256), 64);
    store_recording_free(&r);
    struct stat sb;
    CHECK(stat(ok, &sb) == 0 && sb.st_size == 44 + 32000 * 2);
    wav_fixed fx;
    CHECK(wav_fix_header(ok, 0, &fx) == 0);
    CHECK_EQ_INT(fx.frames, 16000);
    CHECK_EQ_INT(fx.sample_rate, 8000);
    REQUIRE(store_recording_get(st, r_gone, &r) == 0);
    CHECK_STR(r.status, "damaged");
    store_recording_free(&r);
    REQUIRE(store_recording_get(st, r_junk, &r) == 0);
    CHECK_STR(r.status, "damaged");
    store_recording_free(&r);
    CHECK(unum_file_exists(junk)); /* never deleted */
    REQUIRE(store_recording_get(st, r_live, &r) == 0);
    CHECK_STR(r.status, "recording");
    store_recording_free(&r);
    wav_writer_close(lw);
    int rep = -1, dmg = -1;
    CHECK(recordings_repair(st, &rep, &dmg) == 0);
    CHECK_EQ_INT(rep, 1);
    CHECK_EQ_INT(dmg, 0);
    CHECK(wav_fix_header(junk, 0, &fx) == WAV_FIX_DAMAGED);
    CHECK_ERR(junk);
    char *other = unum_path_join(dir, "other.wav");
    CHECK(wav_writer_open(other, 0, 1, WAV_PCM) == NULL);
    CHECK(wav_writer_open(other, 10000000, 1, WAV_PCM) == NULL);
    free(other);
    /* repair runs from any folder: a relative path is refused up front */
    CHECK(store_recording_begin(st, "relative.wav", 16000, 1, 0, NULL) != 0);
    CHECK_ERR("must be absolute");
    /* 24-bit mono with an odd number of frames: RIFF wants the data padded
     * to an even size, and the RIFF size counts the pad byte */
    char *odd = unum_path_join(dir, "odd.wav");
    uint8_t h[44 + 15] = {0};
    memcpy(h, "RIFF", 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    h[16] = 16, h[20] = 1, h[22] = 1;                 /* PCM, mono */
    h[24] = 0x80, h[25] = 0x3e;                       /* 16000 Hz */
    h[28] = 0x80, h[29] = 0xbb;                       /* byte rate 48000 */
    h[32] = 3, h[34] = 24;                            /* align 3, 24 bits */
    memcpy(h + 36, "data", 4);                        /* size 0: left by a crash */
    write_file(odd, h, sizeof h);                     /* five frames of 3 bytes */
    CHECK(wav_fix_header(odd, 0, &fx) == 0);
    CHECK_EQ_INT(fx.frames, 5);
    uint8_t back[64];
    FILE *f = fopen(odd, "rb");
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    CHECK_EQ_INT(got, 44 + 16);                              /* pad byte added */
    CHECK_EQ_INT(back[40] | back[41] << 8, 15);              /* data size */
    CHECK_EQ_INT(back[4] | back[5] << 8, 44 + 16 - 8);       /* RIFF size, even */
    free(odd);
    store_close(st);
    free(ok), free(gone), free(junk), free(live), free(path);
    test_tmp_remove(dir);
}

/* ---- search --------------------------------------------------------------- */

TEST(store_search_queries) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t s, m1, m2, m3;
    REQUIRE(store_session_create(st, "s", "m", "p", &s) == 0);
    CHECK(store_message_add(st, s, "user", "The deployment failed on Tuesday night", 0, 0, &m1) ==
          0);
    CHECK(store_message_add(st, s, "assistant", "Roll back the deployment\nthen retry", 0, 0,
                            &m2) == 0);
    CHECK(store_message_add(st, s, "user", "unrelated: lunch plans", 0, 0, &m3) == 0);
    StoreHit *h;
    size_t n;
    REQUIRE(store_search(st, "deployment", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_STR(h[i].kind, "message");
        CHECK_EQ_INT(h[i].owner, s);
        CHECK(strstr(h[i].snippet, "[deployment]") != NULL);
        CHECK(strchr(h[i].snippet, '\n') == NULL);
    }
    store_hits_free(h, n);
    REQUIRE(store_search(st, "\"roll back\"", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    if (n) CHECK_EQ_INT(h[0].id, m2);
    store_hits_free(h, n);
    REQUIRE(store_search(st, "deploy*", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 2);
    store_hits_free(h, n);
    REQUIRE(store_search(st, "deployment NOT tuesday", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    REQUIRE(store_search(st, "deployment", 1, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    /* Not FTS5 syntax: searched as plain words. */
    REQUIRE(store_search(st, "lunch\" (plans", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    if (n) CHECK_EQ_INT(h[0].id, m3);
    store_hits_free(h, n);
    REQUIRE(store_search(st, "unrelated:", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    REQUIRE(store_search(st, "AND", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    CHECK(store_search(st, "  ", 0, &h, &n) != 0);
    CHECK_ERR("empty");
    /* Edits and deletes reach the index. */
    CHECK(store_exec(st, "UPDATE messages SET content = 'nothing to see' WHERE content LIKE "
                         "'The deployment%'") == 0);
    REQUIRE(store_search(st, "deployment", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    CHECK(store_message_delete(st, m2, NULL) == 0); /* with the message after it */
    REQUIRE(store_search(st, "deployment", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    CHECK(store_check(st) == 0);
    store_close(st);
    test_tmp_remove(dir);
}

/* ---- what the store refuses ----------------------------------------------- */

TEST(store_check_finds_a_broken_index) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    CHECK(store_check(st) == 0);
    /* An index entry with no row behind it. */
    CHECK(store_exec(st, "INSERT INTO messages_fts(rowid, content) VALUES (999, 'ghost')") == 0);
    CHECK(store_check(st) != 0);
    CHECK_ERR("full-text index");
    store_close(st);
    test_tmp_remove(dir);
}

TEST(store_refuses_a_file_that_is_not_a_database) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "notes.txt");
    char text[4096];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('a' + i % 26);
    write_file(path, text, sizeof text);
    Store *st;
    CHECK(store_open(path, &st) != 0);
    CHECK_ERR(path);
    CHECK_ERR("not a unum database");
    size_t len;
    char *after = unum_read_file(path, 1 << 20, &len);
    CHECK(after && len == sizeof text && !memcmp(after, text, len));
    free(after);
    char *wal = unum_path_join(dir, "notes.txt-wal");
    CHECK(!unum_file_exists(wal));
    free(wal);
    /* Another program's SQLite database is not ours either. */
    char *other = unum_path_join(dir, "other.db");
    sqlite3 *db;
    REQUIRE(sqlite3_open(other, &db) == SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE sessions(x); INSERT INTO sessions VALUES (1)", 0, 0, 0);
    sqlite3_close(db);
    CHECK(store_open(other, &st) != 0);
    CHECK_ERR("not a unum database");
    CHECK(store_open(dir, &st) != 0);
    CHECK_ERR("not a regular file");
    free(other);
    free(path);
    test_tmp_remove(dir);
}

TEST(store_refuses_a_newer_schema) {
    char *dir, *path;
    Store *st = fresh(&dir, &path);
    REQUIRE(st);
    CHECK(store_exec(st, "PRAGMA user_version = 42") == 0);
    store_close(st);
    CHECK(store_open(path, &st) != 0);
    CHECK_ERR("version 42");
    CHECK_ERR(path);
    /* Left as it was. */
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 42);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(path);
    test_tmp_remove(dir);
}

TEST(store_read_only_location) {
    Store *st;
    /* A folder nobody can create files in (even root: /proc). */
    CHECK(store_open("/proc/unum-test.db", &st) != 0);
    CHECK_ERR("/proc/unum-test.db");
    CHECK(store_open("/nonexistent-dir/unum.db", &st) != 0);
    CHECK_ERR("/nonexistent-dir/unum.db");
    char *dir, *path;
    st = fresh(&dir, &path);
    REQUIRE(st);
    store_close(st);
    chmod(path, 0444);
    chmod(dir, 0555);
    if (geteuid() != 0) {
        CHECK(store_open(path, &st) != 0);
        CHECK_ERR(path);
    } else {
        /* root ignores file modes: open as an unprivileged user in a child,
         * which reports the error text through a pipe */
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
            Store *c;
            int rc = store_open(path, &c);
            const char *msg = rc ? unum_error() : "opened";
            if (write(fds[1], msg, strlen(msg)) < 0) _exit(4);
            _exit(rc ? 1 : 0);
        }
        close(fds[1]);
        char msg[512] = "";
        ssize_t n = read(fds[0], msg, sizeof msg - 1);
        msg[n > 0 ? n : 0] = 0;
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
            test_skip("cannot drop root privileges here");
        } else {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
            if (!strstr(msg, path) || !strstr(msg, "read-only"))
                test_fail(__FILE__, __LINE__, "read-only open said \"%s\"", msg);
        }
    }
    chmod(dir, 0755);
    free(path);
    test_tmp_remove(dir);
}

TEST(store_disk_full_is_an_error_and_corrupts_nothing) {
    char *dir, *path;
    Store *st = fresh(&dir, &path);
    REQUIRE(st);
    int64_t s;
    REQUIRE(store_session_create(st, "big", "m", "p", &s) == 0);
    CHECK(store_message_add(st, s, "user", "kept before the disk filled", 1, 0, NULL) == 0);
    long long pages = q_int(st, "PRAGMA page_count");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", pages + 8);
    CHECK(store_exec(st, sql) == 0);
    char *big = xmalloc(5001);
    memset(big, 'x', 5000);
    big[5000] = 0;
    int rc = 0, added = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        big[i % 5000] = 'y'; /* distinct contents */
        rc = store_message_add(st, s, "user", big, 1, 0, NULL);
        added += rc == 0;
    }
    CHECK(rc != 0);
    CHECK_ERR("full");
    CHECK_ERR(path);
    /* A failed transaction leaves nothing half-done. */
    CHECK(store_begin(st) == 0);
    rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) rc = store_message_add(st, s, "user", big, 1, 0, NULL);
    CHECK(rc != 0);
    store_rollback(st);
    CHECK(store_check(st) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages"), 1 + added);
    store_close(st);
    REQUIRE(store_open(path, &st) == 0);
    CHECK(store_check(st) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages"), 1 + added);
    CHECK(store_message_add(st, s, "user", big, 1, 0, NULL) ==
          0); /* the limit was per connection */
    store_close(st);
    free(big);
    free(path);
    test_tmp_remove(dir);
}

TEST(store_concurrent_first_open) {
    /* Several processes creating the same new database at once: one runs
     * the migrations, the others wait and find them done. */
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "race.db");
    pid_t kids[6];
    for (int i = 0; i < 6; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            Store *st;
            int rc = store_open(path, &st);
            if (rc != 0) fprintf(stderr, "child: %s\n", unum_error());
            store_close(st);
            _exit(rc ? 1 : 0);
        }
    }
    for (int i = 0; i < 6; i++) {
        int status = -1;
        if (kids[i] > 0) waitpid(kids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    Store *st;
    REQUIRE(store_open(path, &st) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM personas"), 4);
    CHECK(store_check(st) == 0);
    store_close(st);
    free(path);
    test_tmp_remove(dir);
}

/* Version 5: each message keeps the model that wrote it. */
TEST(store_message_model) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t a, u, r;
    REQUIRE(store_session_create(st, "c", "small", "", &a) == 0);
    REQUIRE(store_message_add(st, a, "user", "q", 1, 0, &u) == 0);
    REQUIRE(store_message_add(st, a, "assistant", "answer", 1, 0, &r) == 0);
    CHECK(store_message_set_model(st, r, "big (stage 2)") == 0);
    CHECK(store_message_set_model(st, 9999, "x") != 0);
    CHECK_ERR("message 9999 not found");
    StoreMessage *ms;
    size_t n;
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 2);
    CHECK_STR(ms[0].model, "");
    CHECK_STR(ms[1].model, "big (stage 2)");
    store_messages_free(ms, n);
    store_close(st);
    test_tmp_remove(dir);
}

/* A session is a tree: a regenerated reply and an edited message are
 * siblings of what they replace; the branch in view is listed, counted and
 * switched; a reply is stored partial and finished in place; a message goes
 * with what follows it. */
TEST(store_session_tree) {
    char *dir;
    Store *st = fresh(&dir, NULL);
    REQUIRE(st);
    int64_t a, b, u1, r1, r2, u2, e1, p, x, other;
    REQUIRE(store_session_create(st, "tree", "m", "", &a) == 0);
    REQUIRE(store_session_create(st, "other", "m", "", &b) == 0);
    REQUIRE(store_message_add(st, a, "user", "first question", 2, 0, &u1) == 0);
    REQUIRE(store_message_add(st, a, "assistant", "first answer", 2, 0, &r1) == 0);
    /* regenerate: a second reply to u1 */
    REQUIRE(store_message_add_after(st, a, u1, "assistant", "second answer", 2, 0,
                                    STORE_MSG_COMPLETE, &r2) == 0);
    REQUIRE(store_message_add(st, a, "user", "follow-up", 1, 0, &u2) == 0);
    StoreMessage *ms;
    size_t n;
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 3);
    CHECK_EQ_INT(ms[0].id, u1);
    CHECK_EQ_INT(ms[1].id, r2);
    CHECK_EQ_INT(ms[2].id, u2);
    CHECK_EQ_INT(ms[1].parent_id, u1);
    CHECK_EQ_INT(ms[0].parent_id, 0);
    CHECK_EQ_INT(ms[1].sibling, 2);
    CHECK_EQ_INT(ms[1].n_siblings, 2);
    CHECK_EQ_INT(ms[0].n_siblings, 1);
    store_messages_free(ms, n);
    StoreSession s;
    REQUIRE(store_session_get(st, a, &s) == 0);
    CHECK_EQ_INT(s.n_messages, 3); /* the branch in view, not the 4 rows */
    store_session_free(&s);
    /* stepping to the first reply shows its branch */
    CHECK(store_message_sibling(st, r2, -1, &x) == 0);
    CHECK_EQ_INT(x, r1);
    CHECK(store_message_sibling(st, r1, -1, &x) != 0);
    CHECK_ERR("no previous sibling");
    CHECK(store_message_sibling(st, r2, 1, &x) != 0);
    CHECK_ERR("no next sibling");
    REQUIRE(store_session_view(st, a, r1) == 0);
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_INT(ms[1].id, r1);
    CHECK_STR(ms[1].content, "first answer");
    CHECK_EQ_INT(ms[1].sibling, 1);
    store_messages_free(ms, n);
    StoreSession *list;
    size_t nl;
    REQUIRE(store_session_list(st, &list, &nl) == 0);
    for (size_t i = 0; i < nl; i++)
        if (list[i].id == a) CHECK_EQ_INT(list[i].n_messages, 2);
    store_sessions_free(list, nl);
    /* back to r2: the view goes down to its most recent leaf */
    REQUIRE(store_session_view(st, a, r2) == 0);
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    CHECK_EQ_INT(n, 3);
    store_messages_free(ms, n);
    /* edit the first message: a second first message */
    REQUIRE(store_message_add_after(st, a, 0, "user", "first question, edited", 3, 0,
                                    STORE_MSG_COMPLETE, &e1) == 0);
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 1);
    CHECK_EQ_INT(ms[0].id, e1);
    CHECK_EQ_INT(ms[0].sibling, 2);
    CHECK_EQ_INT(ms[0].n_siblings, 2);
    store_messages_free(ms, n);
    int k, nk;
    CHECK(store_message_place(st, u1, &k, &nk) == 0);
    CHECK(k == 1 && nk == 2);
    /* a parent from another session, a view there: refused */
    REQUIRE(store_message_add(st, b, "user", "elsewhere", 1, 0, &other) == 0);
    CHECK(store_message_add_after(st, a, other, "assistant", "x", 0, 0, STORE_MSG_COMPLETE,
                                  NULL) != 0);
    CHECK_ERR("is not in session");
    CHECK(store_session_view(st, a, other) != 0);
    CHECK_ERR("is not in session");
    /* a reply stored as it streams, then finished in place */
    REQUIRE(store_message_add_after(st, a, e1, "assistant", "par", 1, 0, STORE_MSG_PARTIAL,
                                    &p) == 0);
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_INT(ms[1].status, STORE_MSG_PARTIAL);
    store_messages_free(ms, n);
    CHECK(store_message_update(st, p, "partial text, whole now", 5, 12.5, STORE_MSG_COMPLETE) ==
          0);
    CHECK(store_message_update(st, 9999, "x", 0, 0, STORE_MSG_COMPLETE) != 0);
    CHECK_ERR("message 9999 not found");
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_INT(ms[1].status, STORE_MSG_COMPLETE);
    CHECK_STR(ms[1].content, "partial text, whole now");
    CHECK_EQ_INT(ms[1].tokens, 5);
    store_messages_free(ms, n);
    StoreHit *h;
    CHECK(store_search(st, "whole", 0, &h, &n) == 0); /* the index follows the update */
    CHECK_EQ_INT(n, 1);
    store_hits_free(h, n);
    /* deleting u1 takes both its replies and the follow-up; the view stays */
    int removed = 0;
    CHECK(store_message_delete(st, u1, &removed) == 0);
    CHECK_EQ_INT(removed, 4);
    CHECK(store_message_delete(st, u1, NULL) != 0);
    CHECK_ERR("not found");
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) CHECK_EQ_INT(ms[0].n_siblings, 1);
    store_messages_free(ms, n);
    CHECK(store_search(st, "answer", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    /* deleting the last reply: the view moves to its parent */
    CHECK(store_message_delete(st, p, NULL) == 0);
    REQUIRE(store_message_list(st, a, &ms, &n) == 0);
    CHECK_EQ_INT(n, 1);
    store_messages_free(ms, n);
    CHECK(store_check(st) == 0);
    /* a chain longer than SQLite's trigger depth goes with its session */
    REQUIRE(store_begin(st) == 0);
    for (int i = 0; i < 1500; i++)
        REQUIRE(store_message_add(st, b, i % 2 ? "assistant" : "user", "long chain", 1, 0, NULL) ==
                0);
    REQUIRE(store_commit(st) == 0);
    REQUIRE(store_session_get(st, b, &s) == 0);
    CHECK_EQ_INT(s.n_messages, 1501);
    store_session_free(&s);
    CHECK(store_session_delete(st, b) == 0);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM messages WHERE session_id = 2"), 0);
    CHECK(store_check(st) == 0);
    store_close(st);
    test_tmp_remove(dir);
}

/* A database written by version 7 (a regenerated reply left in line, a
 * reply cancelled with the marker in its text): a migration stopped half-way
 * leaves it at version 7; after the migration each
 * session is one chain, the marker is a status, and search still finds
 * the rows. */
TEST(store_tree_migration_from_version_7) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "v7.db");
    Store *st;
    REQUIRE(store_open_version(path, 7, &st) == 0);
    CHECK(store_exec(st, "INSERT INTO sessions(id, title, model) VALUES (1, 'old', 'm'), "
                         "(2, 'other', 'm');"
                         "INSERT INTO messages(id, session_id, role, content) VALUES "
                         "(1, 1, 'user', 'tell me about otters'),"
                         "(2, 2, 'user', 'unrelated'),"
                         "(3, 1, 'assistant', 'Otters are' || char(10, 10) || '[cancelled]'),"
                         "(4, 1, 'assistant', 'Otters are playful mammals'),"
                         "(5, 1, 'user', 'and beavers?');") == 0);
    /* a trigger in the way: the migration fails half-way and leaves
     * version 7 whole */
    CHECK(store_exec(st, "CREATE TRIGGER in_the_way BEFORE UPDATE ON messages BEGIN "
                         "SELECT RAISE(ABORT, 'in the way'); END") == 0);
    store_close(st);
    CHECK(store_open(path, &st) != 0);
    CHECK_ERR("schema version 8");
    REQUIRE(store_open_version(path, 7, &st) == 0);
    CHECK_EQ_INT(store_version(st), 7);
    CHECK_EQ_INT(q_int(st, "SELECT count(*) FROM pragma_table_info('messages') "
                           "WHERE name = 'parent_id'"),
                 0);
    CHECK(store_exec(st, "DROP TRIGGER in_the_way") == 0);
    store_close(st);
    REQUIRE(store_open(path, &st) == 0);
    CHECK_EQ_INT(store_version(st), STORE_SCHEMA_VERSION);
    StoreMessage *ms;
    size_t n;
    REQUIRE(store_message_list(st, 1, &ms, &n) == 0);
    REQUIRE(n == 4);
    CHECK_EQ_INT(ms[0].parent_id, 0);
    CHECK_EQ_INT(ms[1].parent_id, 1); /* not 2: that is the other session's */
    CHECK_EQ_INT(ms[2].parent_id, 3);
    CHECK_EQ_INT(ms[3].parent_id, 4);
    CHECK_STR(ms[1].content, "Otters are");
    CHECK_EQ_INT(ms[1].status, STORE_MSG_CANCELLED);
    CHECK_EQ_INT(ms[2].status, STORE_MSG_COMPLETE);
    store_messages_free(ms, n);
    StoreSession s;
    REQUIRE(store_session_get(st, 1, &s) == 0);
    CHECK_EQ_INT(s.n_messages, 4);
    store_session_free(&s);
    StoreHit *h;
    CHECK(store_search(st, "cancelled", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 0);
    store_hits_free(h, n);
    CHECK(store_search(st, "otters", 0, &h, &n) == 0);
    CHECK_EQ_INT(n, 3);
    store_hits_free(h, n);
    CHECK(store_check(st) == 0);
    store_close(st);
    free(path);
    test_tmp_remove(dir);
}

/* What cJSON alone accepts or cuts short is refused, naming the file and
 * the problem: a NUL byte, a \u0000 escape, bytes after the closing brace,
 * a key twice (persona and template files alike). */
TEST(store_json_refuses_nul_trailing_bytes_and_duplicate_keys) {
    static const struct {
        const char *json;
        size_t len;
        const char *err;
    } bad[] = {
        {"{\"name\": \"a\", \"system_prompt\": \"x\"}\0{\"name\": \"b\"}", 49,
         "NUL byte at byte 35"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\0y\"}", 37, "NUL byte at byte 33"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\\u0000y\"}", 42, "(\\u0000) in a string"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\"} trailing", 44,
         "bytes after the closing brace"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\"}{}", 37, "bytes after the closing brace"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"name\": \"b\"}", 48,
         "'name' appears twice"},
        {"{\"name\": \"a\", \"system_prompt\": \"x\", \"style\": {\"tone\": \"a\", \"tone\": "
         "\"b\"}}",
         72, "'tone' appears twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Persona p;
        CHECK(persona_parse_json(bad[i].json, bad[i].len, "p.json", &p) != 0);
        CHECK_ERR(bad[i].err);
        CHECK_ERR("p.json");
    }
    /* an escaped backslash before u0000 is text, not a NUL */
    Persona p;
    static const char ok[] = "{\"name\": \"a\", \"system_prompt\": \"x\\\\u0000\"}\n";
    REQUIRE(persona_parse_json(ok, sizeof ok - 1, "p.json", &p) == 0);
    CHECK_STR(p.system_prompt, "x\\u0000");
    persona_free(&p);
    static const char dup[] =
        "{\"name\": \"t\", \"sections\": [{\"title\": \"a\", \"title\": \"b\", "
        "\"instruction\": \"i\", \"format\": \"list\"}]}";
    Template t;
    CHECK(template_parse_json(dup, sizeof dup - 1, "t.json", &t) != 0);
    CHECK_ERR("t.json: field 'title' appears twice");
}

/* A query FTS5's parser cannot take (nested past its stack, or its
 * expression depth) is searched as plain words like any other syntax error;
 * a column filter is refused with a message saying so. */
TEST(store_search_deep_queries_fall_back_and_column_filters_are_refused) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "s.db");
    Store *st;
    REQUIRE(store_open(path, &st) == 0);
    int64_t sid;
    CHECK(store_session_create(st, "t", "m", "p", &sid) == 0);
    CHECK(store_message_add(st, sid, "user", "the budget review", 3, 0, NULL) == 0);
    size_t big = 3000 * 12 + 16;
    char *q = xmalloc(big);
    const char *forms[] = {"(", "NOT x ", "budget AND "};
    for (int f = 0; f < 3; f++) {
        size_t o = 0;
        for (int i = 0; i < 3000; i++) o += (size_t)snprintf(q + o, big - o, "%s", forms[f]);
        snprintf(q + o, big - o, "budget");
        StoreHit *hits = NULL;
        size_t n = 0;
        if (store_search(st, q, 10, &hits, &n) != 0)
            test_fail(__FILE__, __LINE__, "form %d: %s", f, unum_error());
        else CHECK(n == 1 || f == 1); /* "NOT x" as words has no hit */
        store_hits_free(hits, n);
    }
    free(q);
    const char *filters[] = {"content:budget", "text : budget", "{content text}: budget",
                             "a -CONTENT:budget"};
    for (int i = 0; i < 4; i++) {
        StoreHit *hits = NULL;
        size_t n = 0;
        CHECK(store_search(st, filters[i], 10, &hits, &n) != 0);
        CHECK_ERR("column filters");
        store_hits_free(hits, n);
    }
    StoreHit *hits = NULL;
    size_t n = 0;
    CHECK(store_search(st, "\"content: budget\" OR budget", 10, &hits, &n) == 0);
    CHECK_EQ_INT((int)n, 1);
    store_hits_free(hits, n);
    CHECK(store_search(st, "context:budget", 10, &hits, &n) == 0); /* not a column: words */
    store_hits_free(hits, n);
    store_close(st);
    free(path);
    test_tmp_remove(dir);
}
