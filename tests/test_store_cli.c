/* test_store_cli.c - the store commands as a user drives them: persona,
 * template, sessions and search, every form, with --db and with the default
 * location; exit codes (0 ok, 1 runtime error, 2 usage error), messages that
 * name the value at fault, and export/import round trips that are exact. */
#include "audio/wav.h"
#include "store/persona.h"
#include "store/recording.h"
#include "store/session.h"
#include "store/store.h"
#include "tests/test.h"
#include "engine/base/util.h"
#include "tui/core/recordings.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs a shell command line with $U for the binary and $D for a database in
 * the case's folder ($T); captures stdout and stderr. Returns the exit
 * status. */
static const char *cur_dir;
static int sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char **out, char **err, const char *fmt, ...) {
    char cmd[4096], prelude[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(prelude, sizeof prelude, "U='%s'; T='%s'; D='--db %s/u.db'", test_bin(), cur_dir,
             cur_dir);
    return test_shell(prelude, cmd, out, err);
}

/* Exit status of a command, stdout and stderr dropped. */
#define RC(...) sh(NULL, NULL, __VA_ARGS__)
/* Checks status and that stderr names what. */
#define CHECK_FAILS(code, what, ...)                                                               \
    do {                                                                                           \
        char *e_ = NULL;                                                                           \
        CHECK_EQ_INT(sh(NULL, &e_, __VA_ARGS__), code);                                            \
        CHECK_CONTAINS(e_, what);                                                                  \
        free(e_);                                                                                  \
    } while (0)

TEST(cli_persona_commands) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    char *out = NULL;
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona list"), 0);
    CHECK(out && !strncmp(out, "analyst\t", 8));
    CHECK_CONTAINS(out, "\nassistant\t");
    CHECK_CONTAINS(out, "\ncoach\t");
    CHECK_CONTAINS(out, "\nengineer\t");
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona show engineer"), 0);
    CHECK_CONTAINS(out, "name: engineer");
    CHECK_CONTAINS(out, "senior software engineer");
    free(out);
    /* a description with a line break and a tab still lists on one line */
    CHECK_EQ_INT(RC("printf '{\"name\":\"multi\",\"description\":\"one\\\\ntwo\\\\tthree\",'"
                    "'\"system_prompt\":\"x\"}' > $T/multi.json && $U $D persona import $T/multi.json"),
                 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona list | grep '^multi'"), 0);
    CHECK_STR(out, "multi\tone\\ntwo\\tthree\n");
    free(out);
    CHECK_EQ_INT(RC("$U $D persona rm multi"), 0);
    /* add --prompt, then export/rm/import round trip, exact bytes. */
    CHECK_EQ_INT(RC("$U $D persona add reviewer --prompt 'Review code strictly.'"), 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona export reviewer"), 0);
    CHECK_CONTAINS(out, "\"system_prompt\":\t\"Review code strictly.\"");
    free(out);
    CHECK_EQ_INT(RC("$U $D persona export coach > $T/coach.json && $U $D persona rm coach && "
                    "$U $D persona import $T/coach.json && $U $D persona export coach > "
                    "$T/coach2.json && cmp $T/coach.json $T/coach2.json"),
                 0);
    /* Into a fresh database too, and through stdin. */
    CHECK_EQ_INT(
        RC("$U $D persona export analyst | $U --db $T/other.db persona import - 2>/dev/null"),
        1); /* analyst is built into the other database as well */
    CHECK_EQ_INT(RC("$U --db $T/other.db persona rm analyst && $U $D persona export analyst | "
                    "$U --db $T/other.db persona import - && $U --db $T/other.db persona export "
                    "analyst > $T/a2.json && $U $D persona export analyst | cmp - $T/a2.json"),
                 0);
    /* add --file and edit --file. */
    CHECK_EQ_INT(RC("printf '%%s' '{\"name\": \"bard\", \"system_prompt\": \"Rhyme.\", "
                    "\"style\": {\"tone\": \"lyrical\"}}' > $T/bard.json && "
                    "$U $D persona add bard --file $T/bard.json"),
                 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona show bard"), 0);
    CHECK_CONTAINS(out, "tone=lyrical");
    free(out);
    CHECK_EQ_INT(RC("sed 's/Rhyme./Rhyme twice./' $T/bard.json > $T/bard2.json && "
                    "$U $D persona edit bard --file $T/bard2.json"),
                 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona show bard"), 0);
    CHECK_CONTAINS(out, "Rhyme twice.");
    free(out);
    CHECK_EQ_INT(RC("$U $D persona rm bard"), 0);
    CHECK_FAILS(1, "persona 'bard' not found", "$U $D persona show bard");
    CHECK_FAILS(1, "persona 'bard' not found", "$U $D persona rm bard");
    CHECK_FAILS(1, "persona 'bard' not found", "$U $D persona export bard");
    CHECK_FAILS(1, "persona 'bard' not found", "$U $D persona edit bard --file $T/bard.json");
    CHECK_FAILS(1, "already exists", "$U $D persona add coach --prompt hi");
    CHECK_FAILS(1, "already exists", "$U $D persona import $T/coach.json");
    CHECK_FAILS(1, "'bard' but the command names 'poet'",
                "$U $D persona add poet --file $T/bard.json");
    CHECK_FAILS(1, "/nonexistent.json", "$U $D persona import /nonexistent.json");
    CHECK_FAILS(1, "field 'system_prompt' is missing",
                "echo '{\"name\": \"x\"}' > $T/bad.json; $U $D persona import $T/bad.json");
    CHECK_FAILS(1, "bad.json",
                "echo '{\"name\": ' > $T/bad.json; $U $D persona import $T/bad.json");
    CHECK_FAILS(1, "field 'style.tone' must be a string",
                "echo '{\"name\": \"x\", \"system_prompt\": \"y\", \"style\": {\"tone\": 2}}' > "
                "$T/bad.json; $U $D persona add x --file $T/bad.json");
    /* Usage errors. */
    CHECK_FAILS(2, "usage", "$U $D persona");
    CHECK_FAILS(2, "frob", "$U $D persona frob");
    CHECK_FAILS(2, "exactly one of --prompt", "$U $D persona add x");
    CHECK_FAILS(2, "exactly one of --prompt", "$U $D persona add x --prompt a --file b");
    CHECK_FAILS(2, "--prompt needs a value", "$U $D persona add x --prompt");
    CHECK_FAILS(2, "needs --file", "$U $D persona edit x");
    CHECK_FAILS(2, "--prompt", "$U $D persona edit x --prompt y");
    CHECK_FAILS(2, "needs a NAME", "$U $D persona show");
    CHECK_FAILS(2, "needs a file", "$U $D persona import");
    CHECK_FAILS(2, "'extra'", "$U $D persona show coach extra");
    CHECK_FAILS(2, "'no way'", "$U $D persona show 'no way'");
    CHECK_EQ_INT(RC("$U $D persona --help | grep -q 'persona list'"), 0);
    test_tmp_remove(dir);
}

/* Adapters named in persona and template files: shown, exported and
 * imported byte for byte, and a bad entry refused with the field named. */
TEST(cli_persona_and_template_adapters) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    char *out = NULL;
    CHECK_EQ_INT(RC("printf '%%s' '{\"name\": \"sql\", \"system_prompt\": \"SQL only.\", "
                    "\"adapters\": [{\"path\": \"/m/sql-lora\", \"scale\": 0.5}]}' > $T/p.json && "
                    "$U $D persona import $T/p.json"),
                 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D persona show sql"), 0);
    CHECK_CONTAINS(out, "adapters: /m/sql-lora (scale 0.5)");
    free(out);
    CHECK_EQ_INT(RC("$U $D persona export sql > $T/e.json && $U $D persona rm sql && "
                    "$U $D persona import $T/e.json && $U $D persona export sql | cmp - $T/e.json"),
                 0);
    CHECK_EQ_INT(RC("$U $D template export standup | sed 's/\"sections\"/\"adapters\": "
                    "[{\"path\": \"\\/m\\/minutes\"}], \"sections\"/; s/standup/minutes/' > "
                    "$T/t.json && $U $D template import $T/t.json"),
                 0);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D template show minutes"), 0);
    CHECK_CONTAINS(out, "adapters: /m/minutes (scale 1)");
    free(out);
    CHECK_EQ_INT(RC("$U $D template export minutes > $T/t2.json && $U $D template rm minutes && "
                    "$U $D template import $T/t2.json && $U $D template export minutes | "
                    "cmp - $T/t2.json"),
                 0);
    CHECK_FAILS(1, "field 'adapters[0].scale' must be a number",
                "echo '{\"name\": \"x\", \"system_prompt\": \"y\", \"adapters\": "
                "[{\"path\": \"/a\", \"scale\": \"big\"}]}' > $T/bad.json; "
                "$U $D persona import $T/bad.json");
    CHECK_FAILS(1, "bad.json", "$U $D persona import $T/bad.json");
    test_tmp_remove(dir);
}

TEST(cli_template_commands) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    char *out = NULL;
    CHECK_EQ_INT(sh(&out, NULL, "$U $D template list | cut -f1 | tr '\\n' ' '"), 0);
    CHECK_STR(out, "customer-call lecture-notes one-on-one project-sync retrospective standup ");
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D template show retrospective"), 0);
    CHECK_CONTAINS(out, "1. Went well (list)");
    free(out);
    CHECK_EQ_INT(RC("$U $D template export one-on-one > $T/t.json && $U $D template rm one-on-one "
                    "&& $U $D template import $T/t.json && $U $D template export one-on-one | "
                    "cmp - $T/t.json"),
                 0);
    CHECK_EQ_INT(RC("sed 's/one-on-one/weekly/' $T/t.json > $T/w.json && "
                    "$U $D template add weekly --file $T/w.json && "
                    "$U $D template export weekly | sed 's/weekly/one-on-one/' | cmp - $T/t.json"),
                 0);
    CHECK_EQ_INT(RC("sed 's/\"table\"/\"paragraph\"/' $T/w.json > $T/w2.json && "
                    "$U $D template edit weekly --file $T/w2.json && "
                    "$U $D template show weekly | grep -q 'Action items (paragraph)'"),
                 0);
    CHECK_EQ_INT(RC("$U $D template rm weekly"), 0);
    CHECK_FAILS(1, "template 'weekly' not found", "$U $D template show weekly");
    CHECK_FAILS(1, "template 'weekly' not found", "$U $D template rm weekly");
    CHECK_FAILS(1, "template 'weekly' not found", "$U $D template edit weekly --file $T/w.json");
    CHECK_FAILS(1, "already exists", "$U $D template import $T/t.json");
    CHECK_FAILS(1, "field 'sections[0].format' is 'poem'",
                "sed '0,/\"paragraph\"/s//\"poem\"/' $T/t.json > $T/bad.json; "
                "$U $D template import $T/bad.json");
    CHECK_FAILS(1, "bad.json", "$U $D template import $T/bad.json");
    CHECK_FAILS(1, "field 'sections' is missing",
                "echo '{\"name\": \"x\"}' > $T/bad.json; $U $D template add x --file $T/bad.json");
    CHECK_FAILS(2, "usage", "$U $D template");
    CHECK_FAILS(2, "frob", "$U $D template frob");
    CHECK_FAILS(2, "needs --file", "$U $D template add x");
    CHECK_FAILS(2, "--prompt", "$U $D template add x --prompt y");
    CHECK_FAILS(2, "needs a NAME", "$U $D template export");
    test_tmp_remove(dir);
}

/* A database with two sessions, written through the API as the TUI will. */
static void seed_sessions(const char *dir, int64_t *a, int64_t *b) {
    char *path = unum_path_join(dir, "u.db");
    Store *st;
    if (store_open(path, &st) != 0) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
        free(path);
        return;
    }
    store_session_create(st, "Quarterly planning", "Qwen/Qwen2.5-0.5B-Instruct", "analyst", a);
    store_message_add(st, *a, "user", "Summarize the \"budget\" risks\nplease", 7, 0, NULL);
    store_message_add(st, *a, "assistant", "The budget risk is vendor lock-in.", 8, 120.5, NULL);
    store_session_create(st, "Other", "m", "coach", b);
    store_message_add(st, *b, "user", "How do I give feedback?", 6, 0, NULL);
    int64_t rid;
    char *wav = unum_path_join(dir, "r.wav");
    wav_writer *w = wav_writer_open(wav, 16000, 1, WAV_PCM);
    store_recording_begin(st, wav, 16000, 1, 0, &rid);
    store_segment_add(st, rid, 0, 2, "B", "the budget is approved", NULL);
    wav_writer_close(w);
    recording_finish(st, rid);
    free(wav);
    store_close(st);
    free(path);
}

/* show, export and list read the branch in view: a regenerated reply and an
 * edited question leave their older versions out, marked "version K of N";
 * a reply cut short and a cancelled one say so in every form. */
TEST(cli_sessions_show_the_branch_in_view) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    char *path = unum_path_join(dir, "u.db");
    Store *st;
    REQUIRE(store_open(path, &st) == 0);
    int64_t s, u1, r1, r2, u2;
    REQUIRE(store_session_create(st, "branches", "m", "", &s) == 0);
    REQUIRE(store_message_add(st, s, "user", "ABANDONED question", 1, 0, &u1) == 0);
    REQUIRE(store_message_add_after(st, s, u1, "assistant", "OLD cancelled reply", 1, 0,
                                    STORE_MSG_CANCELLED, &r1) == 0);
    REQUIRE(store_message_add_after(st, s, u1, "assistant", "OLD second reply", 1, 0,
                                    STORE_MSG_COMPLETE, &r2) == 0);
    REQUIRE(store_message_add_after(st, s, 0, "user", "EDITED question", 1, 0,
                                    STORE_MSG_COMPLETE, &u2) == 0);
    REQUIRE(store_message_add_after(st, s, u2, "assistant", "NEW reply cut short", 1, 0,
                                    STORE_MSG_PARTIAL, NULL) == 0);
    store_close(st);
    char *out = NULL;
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions show %lld", (long long)s), 0);
    CHECK_CONTAINS(out, "EDITED question");
    CHECK_CONTAINS(out, "version 2 of 2");
    CHECK_CONTAINS(out, "[incomplete]\nNEW reply cut short");
    CHECK(out && !strstr(out, "ABANDONED") && !strstr(out, "OLD"));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions export %lld --format md", (long long)s), 0);
    CHECK_CONTAINS(out, "version 2 of 2");
    CHECK_CONTAINS(out, "NEW reply cut short\n\n*[incomplete]*");
    CHECK(out && !strstr(out, "ABANDONED") && !strstr(out, "OLD"));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions export %lld --format json", (long long)s), 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    REQUIRE(j);
    cJSON *ms = cJSON_GetObjectItem(j, "messages");
    CHECK_EQ_INT(cJSON_GetArraySize(ms), 2);
    cJSON *m1 = cJSON_GetArrayItem(ms, 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m1, "status")), "partial");
    cJSON *m0 = cJSON_GetArrayItem(ms, 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(m0, "version")->valuedouble, 2);
    CHECK_EQ_INT(cJSON_GetObjectItem(m0, "versions")->valuedouble, 2);
    cJSON_Delete(j);
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions list"), 0);
    CHECK_CONTAINS(out, "\t2 messages");
    free(out);
    /* the first branch in view: its cancelled reply is marked */
    REQUIRE(store_open(path, &st) == 0);
    REQUIRE(store_session_view(st, s, r1) == 0);
    store_close(st);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions show %lld", (long long)s), 0);
    CHECK_CONTAINS(out, "ABANDONED question");
    CHECK_CONTAINS(out, "version 1 of 2 [cancelled]\nOLD cancelled reply");
    CHECK(out && !strstr(out, "EDITED") && !strstr(out, "OLD second"));
    free(out);
    free(path);
    test_tmp_remove(dir);
}

TEST(cli_sessions_commands) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    int64_t a = 0, b = 0;
    seed_sessions(dir, &a, &b);
    char *out = NULL;
    char want[64];
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions list"), 0);
    snprintf(want, sizeof want, "%lld\t", (long long)b);
    CHECK(out && !strncmp(out, want, strlen(want))); /* newest first */
    CHECK_CONTAINS(out, "Quarterly planning");
    CHECK_CONTAINS(out, "2 messages");
    CHECK_CONTAINS(out, "\t1 message\t"); /* one message: singular */
    CHECK(!strstr(out, "1 messages"));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions show %lld", (long long)a), 0);
    CHECK_CONTAINS(out, "Quarterly planning");
    CHECK_CONTAINS(out, "[assistant]");
    CHECK_CONTAINS(out, "vendor lock-in");
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions export %lld --format json", (long long)a), 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    REQUIRE(j);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "id")->valuedouble, a);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "title")), "Quarterly planning");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "Qwen/Qwen2.5-0.5B-Instruct");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "persona")), "analyst");
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(j, "created")) != NULL);
    cJSON *ms = cJSON_GetObjectItem(j, "messages");
    REQUIRE(cJSON_GetArraySize(ms) == 2);
    cJSON *m0 = cJSON_GetArrayItem(ms, 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "role")), "user");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "content")),
              "Summarize the \"budget\" risks\nplease");
    CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "created")) != NULL);
    cJSON_Delete(j);
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions export %lld --format json", (long long)b), 0);
    CHECK_CONTAINS(out, "\"messages\"");
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions export %lld --format md", (long long)a), 0);
    CHECK(out && !strncmp(out, "# Quarterly planning\n", 21));
    CHECK_CONTAINS(out, "## assistant");
    CHECK_CONTAINS(out, "vendor lock-in");
    free(out);
    CHECK_EQ_INT(RC("$U $D sessions rm %lld", (long long)b), 0);
    CHECK_FAILS(1, "not found", "$U $D sessions rm %lld", (long long)b);
    CHECK_FAILS(1, "not found", "$U $D sessions show %lld", (long long)b);
    CHECK_FAILS(1, "session 999 not found", "$U $D sessions export 999 --format md");
    CHECK_EQ_INT(sh(&out, NULL, "$U $D sessions list | wc -l"), 0);
    CHECK_STR(out, "1\n");
    free(out);
    CHECK_FAILS(2, "usage", "$U $D sessions");
    CHECK_FAILS(2, "'abc' is not a session id", "$U $D sessions show abc");
    CHECK_FAILS(2, "'-3' is not a session id", "$U $D sessions rm -3");
    CHECK_FAILS(2, "'pdf' is not md or json", "$U $D sessions export 1 --format pdf");
    CHECK_FAILS(2, "--format needs a value", "$U $D sessions export 1 --format");
    CHECK_FAILS(2, "needs an ID", "$U $D sessions export");
    CHECK_FAILS(2, "needs --format md|json", "$U $D sessions export 1");
    CHECK_FAILS(2, "--format", "$U $D sessions show 1 --format md");
    CHECK_FAILS(2, "frob", "$U $D sessions frob");
    CHECK_FAILS(2, "'x'", "$U $D sessions list x");
    test_tmp_remove(dir);
}

TEST(cli_search_command) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    int64_t a = 0, b = 0;
    seed_sessions(dir, &a, &b);
    char *out = NULL;
    CHECK_EQ_INT(sh(&out, NULL, "$U $D search budget"), 0);
    CHECK_CONTAINS(out, "message\t");
    CHECK_CONTAINS(out, "segment\t");
    CHECK_CONTAINS(out, "[budget]");
    /* One line per hit: two messages and one segment. */
    int lines = 0;
    for (char *p = out; p && *p; p++) lines += *p == '\n';
    CHECK_EQ_INT(lines, 3);
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D search vendor lock"), 0);
    CHECK(out && !strncmp(out, "message\t", 8));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D search '\"budget is approved\"'"), 0);
    CHECK(out && !strncmp(out, "segment\t", 8));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D search 'feedback?'"), 0);
    CHECK(out && !strncmp(out, "message\t", 8));
    free(out);
    CHECK_EQ_INT(sh(&out, NULL, "$U $D search zebra"), 0);
    CHECK_STR(out, "");
    free(out);
    CHECK_FAILS(2, "usage", "$U $D search");
    CHECK_FAILS(1, "empty", "$U $D search ' '");
    test_tmp_remove(dir);
}

TEST(cli_store_database_location_and_refusals) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    /* Default location: $XDG_DATA_HOME/unum/unum.db in a private folder. */
    CHECK_EQ_INT(RC("XDG_DATA_HOME=$T/xdg $U persona list >/dev/null && "
                    "test \"$(stat -c %%a $T/xdg/unum)\" = 700 && test -f $T/xdg/unum/unum.db"),
                 0);
    CHECK_EQ_INT(RC("HOME=$T/home XDG_DATA_HOME= $U template list >/dev/null && "
                    "test -f $T/home/.local/share/unum/unum.db"),
                 0);
    CHECK_EQ_INT(RC("$U --db=$T/eq.db persona list >/dev/null && test -f $T/eq.db"), 0);
    CHECK_FAILS(2, "--db needs a value", "$U --db");
    /* Not a database: refused, not touched. */
    CHECK_FAILS(1, "not a unum database",
                "head -c 3000 /dev/urandom > $T/junk; cp $T/junk $T/junk.orig; "
                "$U --db $T/junk persona list");
    CHECK_EQ_INT(RC("cmp $T/junk $T/junk.orig"), 0);
    CHECK_FAILS(1, "junk", "$U --db $T/junk search x");
    /* Newer schema: refused with the version named. */
    CHECK_EQ_INT(RC("$U $D persona list"), 0);
    char *path = unum_path_join(dir, "u.db");
    sqlite3 *db;
    if (sqlite3_open(path, &db) == SQLITE_OK) sqlite3_exec(db, "PRAGMA user_version=99", 0, 0, 0);
    sqlite3_close(db);
    free(path);
    CHECK_FAILS(1, "version 99", "$U $D sessions list");
    /* A location nobody can write. */
    CHECK_FAILS(1, "/proc/unum.db", "$U --db /proc/unum.db persona list");
    CHECK_FAILS(1, "/nonexistent/dir/u.db", "$U --db /nonexistent/dir/u.db sessions list");
    char *out = NULL;
    CHECK_EQ_INT(sh(&out, NULL, "$U --help"), 0);
    CHECK_CONTAINS(out, "persona list");
    CHECK_CONTAINS(out, "sessions list");
    CHECK_CONTAINS(out, "search QUERY");
    CHECK_CONTAINS(out, "--db PATH");
    free(out);
    test_tmp_remove(dir);
}

/* The prompt token count that `run -v` reports on stderr, or -1. */
static int prompt_tokens(const char *err) {
    const char *p = err ? strstr(err, " prompt tokens") : NULL;
    if (!p) return -1;
    while (p > err && p[-1] >= '0' && p[-1] <= '9') p--;
    return atoi(p);
}

TEST(cli_run_with_a_persona) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    cur_dir = dir;
    /* the persona's prompt and style, composed */
    Persona p = {"x", "", "Be brief.", "warm", "", "English", 0, {0}};
    char *prompt = persona_system_prompt(&p);
    CHECK_STR(prompt, "Be brief.\n\nTone: warm. Language: English.");
    free(prompt);
    /* run --persona puts it in the system turn: the prompt grows */
    char *err = NULL;
    CHECK_EQ_INT(sh(NULL, &err, "$U $D run -m %s/tiny-bf16 -p hi --persona coach -n 2 -v",
                    test_fixtures()),
                 0);
    int with = prompt_tokens(err);
    free(err);
    CHECK_EQ_INT(sh(NULL, &err, "$U $D run -m %s/tiny-bf16 -p hi -n 2 -v", test_fixtures()), 0);
    int without = prompt_tokens(err);
    free(err);
    CHECK(without > 0 && with > without);
    CHECK_EQ_INT(sh(NULL, &err, "$U $D run -m %s/tiny-bf16 -p hi --persona nobody -n 2",
                    test_fixtures()),
                 1);
    CHECK_CONTAINS(err, "nobody");
    free(err);
    CHECK_EQ_INT(sh(NULL, &err, "$U $D run -m %s/tiny-bf16 -p hi --persona coach --system x",
                    test_fixtures()),
                 2);
    free(err);
    test_tmp_remove(dir);
}
