/* test_speakers.c - speakers' names (store/speakers.c) and where they show:
 * every transcript format of tui/core/meeting.c with hostile names
 * escaped, the report's material, header and {{speakers}}, and
 * `unum meeting speakers`. Segments with speaker labels are stored
 * directly, as a speaker-aware speech model's pipeline stores them: no
 * model is needed. */
#include "tests/test.h"
#include "tests/openai_stub.h"

#include "engine/base/util.h"
#include "engine/remote.h"
#include "store/meeting_store.h"
#include "store/recording.h"
#include "store/speakers.h"
#include "store/store.h"
#include "store/template.h"
#include "tui/core/meeting.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the tests store: start, end, label, text. */
typedef struct {
    double a, z;
    const char *label, *text;
} Said;

static const Said said[] = {
    {0.0, 2.5, "S0", "Good morning."},          {2.5, 4.0, "S1", "Morning, shall we start?"},
    {4.0, 9.5, "S0", "Yes: the budget first."}, {9.5, 10.0, "", "(noise)"},
    {10.0, 12.0, "S10", "I have a question."},  {12.0, 15.25, "S2", "Go ahead & ask."},
};
#define N_SAID (sizeof said / sizeof said[0])

typedef struct {
    char *dir, *db;
    Store *st;
    int64_t rec;
} Fix;

static int fix_open(Fix *f) {
    memset(f, 0, sizeof *f);
    f->dir = test_tmpdir();
    if (!f->dir) return -1;
    f->db = unum_path_join(f->dir, "u.db");
    int rc = store_open(f->db, &f->st) ||
             store_recording_begin(f->st, "/nonexistent/standup.wav", 16000, 1, 0, &f->rec);
    for (size_t i = 0; !rc && i < N_SAID; i++)
        rc = store_segment_add(f->st, f->rec, said[i].a, said[i].z, said[i].label, said[i].text,
                               NULL);
    if (rc) test_fail(__FILE__, __LINE__, "%s", unum_error());
    return rc ? -1 : 0;
}

static void fix_close(Fix *f) {
    store_close(f->st);
    free(f->db);
    test_tmp_remove(f->dir);
}

static long long q_int(Store *st, const char *sql) {
    sqlite3_stmt *s = store_prepare(st, sql);
    long long v = s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* ------------------------------------------------------------ the store */

/* Labels listed S0, S1, S2, S10 with counts and seconds added up here from
 * what was stored; names set, resolved, replaced, cleared; the refusals. */
TEST(speakers_store_set_list_resolve_clear) {
    Fix f;
    if (fix_open(&f)) return;
    StoreSpeaker *sp;
    size_t n;
    REQUIRE(store_speaker_list(f.st, f.rec, &sp, &n) == 0);
    static const char *order[] = {"S0", "S1", "S2", "S10"};
    CHECK_EQ_INT(n, 4);
    for (size_t i = 0; i < n && i < 4; i++) {
        CHECK_STR(sp[i].label, order[i]);
        CHECK_STR(sp[i].name, "");
        long long count = 0;
        double secs = 0;
        for (size_t k = 0; k < N_SAID; k++)
            if (!strcmp(said[k].label, order[i])) count++, secs += said[k].z - said[k].a;
        CHECK_EQ_INT(sp[i].segments, count);
        CHECK_NEAR(sp[i].seconds, secs, 1e-9);
    }
    store_speakers_free(sp, n);
    /* named (spaces around trimmed), resolved, renamed, cleared */
    char *r = store_speaker_resolve(f.st, f.rec, "S1");
    CHECK_STR(r, "S1");
    free(r);
    CHECK(store_speaker_set(f.st, f.rec, "S1", "  Priya ") == 0);
    CHECK(store_speaker_set(f.st, f.rec, "S0", "Ana B") == 0);
    r = store_speaker_resolve(f.st, f.rec, "S1");
    CHECK_STR(r, "Priya");
    free(r);
    CHECK(store_speaker_set(f.st, f.rec, "S0", "Ana Böhm") == 0);
    REQUIRE(store_speaker_list(f.st, f.rec, &sp, &n) == 0);
    REQUIRE(n == 4);
    CHECK_STR(sp[0].name, "Ana Böhm");
    CHECK_STR(sp[1].name, "Priya");
    CHECK_STR(sp[2].name, "");
    store_speakers_free(sp, n);
    /* the segments carry the name beside their label */
    StoreSegment *g;
    REQUIRE(store_segment_list(f.st, f.rec, &g, &n) == 0);
    REQUIRE(n == N_SAID);
    CHECK_STR(g[1].speaker, "S1");
    CHECK_STR(g[1].name, "Priya");
    CHECK_STR(g[3].name, "");
    CHECK_STR(g[4].name, "");
    store_segments_free(g, n);
    CHECK(store_speaker_clear(f.st, f.rec, "S1") == 0);
    r = store_speaker_resolve(f.st, f.rec, "S1");
    CHECK_STR(r, "S1");
    free(r);
    CHECK(store_speaker_set(f.st, f.rec, "S0", "   ") == 0); /* spaces only: cleared */
    CHECK_EQ_INT(q_int(f.st, "SELECT count(*) FROM speaker_names"), 0);
    /* refused: a label no segment carries, the '' of unlabelled segments,
     * a recording that does not exist */
    CHECK(store_speaker_set(f.st, f.rec, "S7", "Zoe") != 0);
    CHECK_ERR("has no speaker 'S7'");
    CHECK(store_speaker_set(f.st, f.rec, "", "Zoe") != 0);
    CHECK(store_speaker_set(f.st, 999, "S0", "Zoe") != 0);
    CHECK_ERR("recording 999 not found");
    CHECK(store_speaker_list(f.st, 999, &sp, &n) != 0);
    CHECK_ERR("recording 999 not found");
    CHECK_EQ_INT(q_int(f.st, "SELECT count(*) FROM speaker_names"), 0);
    CHECK(store_check(f.st) == 0);
    fix_close(&f);
}

/* Names that would break a line-based format or drive a terminal are
 * refused with the reason; the longest allowed name is kept whole. */
TEST(speakers_store_refuses_hostile_names) {
    Fix f;
    if (fix_open(&f)) return;
    static const struct {
        const char *name, *why;
    } bad[] = {
        {"Pri\nya", "control character 0x0a"},
        {"\033]52;c;aGk=\007", "control character 0x1b"},
        {"Ana\rB", "control character 0x0d"},
        {"tab\tname", "control character 0x09"},
        {"del\x7f", "control character 0x7f"},
        {"csi \xc2\x9b[2J", "U+009B"},
        {"bad \xff byte", "invalid UTF-8"},
        {"overlong \xc0\xaf", "invalid UTF-8"},
        {"surrogate \xed\xa0\x80", "invalid UTF-8"},
        {"cut \xe2\x82", "invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(store_speaker_set(f.st, f.rec, "S0", bad[i].name) != 0);
        CHECK_ERR(bad[i].why);
    }
    char longest[STORE_SPEAKER_NAME_MAX + 2];
    memset(longest, 'x', sizeof longest);
    longest[STORE_SPEAKER_NAME_MAX + 1] = 0;
    CHECK(store_speaker_set(f.st, f.rec, "S0", longest) != 0);
    CHECK_ERR("longer than");
    CHECK_EQ_INT(q_int(f.st, "SELECT count(*) FROM speaker_names"), 0);
    longest[STORE_SPEAKER_NAME_MAX] = 0;
    CHECK(store_speaker_set(f.st, f.rec, "S0", longest) == 0);
    char *r = store_speaker_resolve(f.st, f.rec, "S0");
    CHECK_STR(r, longest);
    free(r);
    fix_close(&f);
}

/* A name goes with its recording. */
TEST(speakers_deleted_with_the_recording) {
    Fix f;
    if (fix_open(&f)) return;
    int64_t other;
    REQUIRE(store_recording_begin(f.st, "/nonexistent/other.wav", 16000, 1, 0, &other) == 0);
    REQUIRE(store_segment_add(f.st, other, 0, 1, "S0", "hi", NULL) == 0);
    REQUIRE(store_speaker_set(f.st, f.rec, "S0", "Ana") == 0);
    REQUIRE(store_speaker_set(f.st, other, "S0", "Bo") == 0);
    /* the same label in another recording is another speaker */
    char *r = store_speaker_resolve(f.st, other, "S0");
    CHECK_STR(r, "Bo");
    free(r);
    REQUIRE(store_recording_delete(f.st, f.rec) == 0);
    CHECK_EQ_INT(q_int(f.st, "SELECT count(*) FROM speaker_names"), 1);
    CHECK_EQ_INT(q_int(f.st, "SELECT count(*) FROM speaker_names WHERE name = 'Bo'"), 1);
    CHECK(store_check(f.st) == 0);
    fix_close(&f);
}

/* A database at version 8 (segments with labels, no names) upgrades; its
 * labels are listed and named. */
TEST(speakers_upgrade_from_version_8) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *db = unum_path_join(dir, "old.db");
    Store *st;
    REQUIRE(store_open_version(db, 8, &st) == 0);
    REQUIRE(store_exec(st, "INSERT INTO recordings(id, path, status, sample_rate) VALUES "
                           "(1, '/nonexistent/old.wav', 'complete', 16000);"
                           "INSERT INTO segments(recording_id, start_s, end_s, speaker, text) "
                           "VALUES (1, 0, 2, 'S0', 'hello'), (1, 2, 3, 'S1', 'hi');") == 0);
    store_close(st);
    REQUIRE(store_open(db, &st) == 0);
    CHECK_EQ_INT(store_version(st), 9);
    CHECK(store_speaker_set(st, 1, "S1", "Priya") == 0);
    StoreSpeaker *sp;
    size_t n;
    REQUIRE(store_speaker_list(st, 1, &sp, &n) == 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) CHECK_STR(sp[1].name, "Priya");
    store_speakers_free(sp, n);
    store_close(st);
    free(db);
    test_tmp_remove(dir);
}

/* ------------------------------------------------------------ the formats */

/* A name with every character special to WebVTT or markdown. */
#define HOSTILE "<b>Ann & *Co*</b> [x](y) _z_ `c` \\ #"

/* Every format, written out here from the stored rows: the name when set,
 * else the label, nothing for unlabelled segments; the hostile name
 * escaped for WebVTT and markdown, kept as is in SRT, plain text and JSON. */
TEST(speakers_every_export_format_uses_names) {
    Fix f;
    if (fix_open(&f)) return;
    REQUIRE(store_speaker_set(f.st, f.rec, "S0", HOSTILE) == 0);
    REQUIRE(store_speaker_set(f.st, f.rec, "S1", "Priya") == 0);
    /* plain: what `unum meeting show` prints */
    char *t = meeting_export(f.st, f.rec, NULL);
    CHECK_STR(t, "[00:00.00 -> 00:02.50] " HOSTILE ": Good morning.\n"
                 "[00:02.50 -> 00:04.00] Priya: Morning, shall we start?\n"
                 "[00:04.00 -> 00:09.50] " HOSTILE ": Yes: the budget first.\n"
                 "[00:09.50 -> 00:10.00] (noise)\n"
                 "[00:10.00 -> 00:12.00] S10: I have a question.\n"
                 "[00:12.00 -> 00:15.25] S2: Go ahead & ask.\n");
    free(t);
    t = meeting_export(f.st, f.rec, "srt");
    CHECK_STR(t, "1\n00:00:00,000 --> 00:00:02,500\n" HOSTILE ": Good morning.\n\n"
                 "2\n00:00:02,500 --> 00:00:04,000\nPriya: Morning, shall we start?\n\n"
                 "3\n00:00:04,000 --> 00:00:09,500\n" HOSTILE ": Yes: the budget first.\n\n"
                 "4\n00:00:09,500 --> 00:00:10,000\n(noise)\n\n"
                 "5\n00:00:10,000 --> 00:00:12,000\nS10: I have a question.\n\n"
                 "6\n00:00:12,000 --> 00:00:15,250\nS2: Go ahead & ask.\n\n");
    free(t);
    /* WebVTT: a voice span per cue; '&', '<' and '>' as character
     * references in the annotation and the text */
#define VTT_NAME "&lt;b&gt;Ann &amp; *Co*&lt;/b&gt; [x](y) _z_ `c` \\ #"
    t = meeting_export(f.st, f.rec, "vtt");
    CHECK_STR(t, "WEBVTT\n\n"
                 "00:00:00.000 --> 00:00:02.500\n<v " VTT_NAME ">Good morning.\n\n"
                 "00:00:02.500 --> 00:00:04.000\n<v Priya>Morning, shall we start?\n\n"
                 "00:00:04.000 --> 00:00:09.500\n<v " VTT_NAME ">Yes: the budget first.\n\n"
                 "00:00:09.500 --> 00:00:10.000\n(noise)\n\n"
                 "00:00:10.000 --> 00:00:12.000\n<v S10>I have a question.\n\n"
                 "00:00:12.000 --> 00:00:15.250\n<v S2>Go ahead &amp; ask.\n\n");
    /* and no cue holds a '<' but its voice tag's, or a '>' but its end */
    for (const char *c = strstr(t, "\n\n"); c && *c; c++) {
        if (*c != '<') continue;
        CHECK(!strncmp(c, "<v ", 3));
        const char *end = strchr(c, '>'), *nl = strchr(c, '\n');
        CHECK(end && nl && end < nl && !memchr(c + 1, '<', (size_t)(nl - c - 1)));
    }
    free(t);
    /* markdown (no report yet: the transcript under a heading); the name
     * bold, every punctuation character of it escaped */
#define MD_NAME "\\<b\\>Ann \\& \\*Co\\*\\<\\/b\\> \\[x\\]\\(y\\) \\_z\\_ \\`c\\` \\\\ \\#"
    t = meeting_export(f.st, f.rec, "md");
    char want[2048];
    snprintf(want, sizeof want,
             "# Transcript of recording %lld\n\n"
             "[00:00.00 -> 00:02.50] **" MD_NAME ":** Good morning.  \n"
             "[00:02.50 -> 00:04.00] **Priya:** Morning, shall we start?  \n"
             "[00:04.00 -> 00:09.50] **" MD_NAME ":** Yes: the budget first.  \n"
             "[00:09.50 -> 00:10.00] (noise)  \n"
             "[00:10.00 -> 00:12.00] **S10:** I have a question.  \n"
             "[00:12.00 -> 00:15.25] **S2:** Go ahead & ask.  \n",
             (long long)f.rec);
    CHECK_STR(t, want);
    free(t);
    /* JSON: the label stays "speaker"; "speaker_name" the name or null */
    t = meeting_export(f.st, f.rec, "json");
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    REQUIRE(j);
    cJSON *segs = cJSON_GetObjectItem(j, "segments");
    CHECK_EQ_INT(cJSON_GetArraySize(segs), N_SAID);
    static const char *names[N_SAID] = {HOSTILE, "Priya", HOSTILE, NULL, NULL, NULL};
    for (int i = 0; i < cJSON_GetArraySize(segs) && i < (int)N_SAID; i++) {
        cJSON *o = cJSON_GetArrayItem(segs, i);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "speaker")), said[i].label);
        cJSON *nm = cJSON_GetObjectItem(o, "speaker_name");
        REQUIRE(nm);
        if (names[i]) CHECK_STR(cJSON_GetStringValue(nm), names[i]);
        else CHECK(cJSON_IsNull(nm));
    }
    cJSON_Delete(j);
    free(t);
    fix_close(&f);
}

/* A name that reached the database some other way (an older build, a file
 * someone shared) with escape sequences: `unum meeting show` on a terminal
 * shows them in caret form, never sends them. */
TEST(speakers_names_never_drive_the_terminal) {
    Fix f;
    if (fix_open(&f)) return;
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO speaker_names VALUES (%lld, 'S0', 'Ana' || char(27) || ']0;pwned' || "
             "char(7) || char(27) || '[2J')",
             (long long)f.rec);
    REQUIRE(store_exec(f.st, sql) == 0);
    store_close(f.st);
    f.st = NULL;
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "$U --db %s meeting show 1; $U --db %s meeting speakers 1", f.db,
             f.db);
    char prelude[1024];
    snprintf(prelude, sizeof prelude, "U='%s'", test_bin());
    CHECK_EQ_INT(test_pty(prelude, cmd, &out, NULL), 0);
    CHECK(out && !strchr(out, '\033') && !strchr(out, '\007'));
    CHECK_CONTAINS(out, "Ana^[]0;pwned^G^[[2J: Good morning.");
    CHECK_CONTAINS(out, "S0\tAna^[]0;pwned^G^[[2J\t2 segments");
    free(out);
    REQUIRE(store_open(f.db, &f.st) == 0);
    fix_close(&f);
}

/* ------------------------------------------------------------ the report */

/* The report written by the echoing stand-in server: the material it was
 * sent names the speakers, the header lists them as attendees, and a
 * section's {{speakers}} is the list. */
TEST(speakers_report_prompt_uses_names) {
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    Fix f;
    if (fix_open(&f)) {
        openai_stub_stop(&s);
        return;
    }
    REQUIRE(store_recording_set_transcribed(f.st, f.rec) == 0);
    REQUIRE(store_speaker_set(f.st, f.rec, "S0", "Ana B") == 0);
    REQUIRE(store_speaker_set(f.st, f.rec, "S1", "Priya") == 0);
    const char *js = "{\"name\": \"people\", \"sections\": [{\"title\": \"Who\", \"instruction\": "
                     "\"Say what each of {{speakers}} wants.\", \"format\": \"list\"}]}";
    Template tp;
    REQUIRE(template_parse_json(js, strlen(js), "people.json", &tp) == 0);
    REQUIRE(store_template_add(f.st, &tp) == 0);
    template_free(&tp);
    MeetingParams p;
    meeting_defaults(&p);
    p.remote = remote_open(s.url, "echo");
    REQUIRE(p.remote);
    char *md = NULL;
    int64_t report = 0;
    REQUIRE(meeting_report(f.st, NULL, f.rec, "people", NULL, &p, &md, &report) == 0);
    CHECK_CONTAINS(md, "- Attendees: Ana B, Priya, S10, S2\n");
    /* the echo of the prompt: the material by name, the variable filled */
    CHECK_CONTAINS(md, "[00:00.00] Ana B: Good morning.\n[00:02.50] Priya: Morning, shall we");
    CHECK_CONTAINS(md, "[00:09.50] (noise)\n[00:10.00] S10: I have a question.");
    CHECK_CONTAINS(md, "Say what each of Ana B, Priya, S10, S2 wants.");
    CHECK(!strstr(md, "{{speakers}}"));
    CHECK(!strstr(md, "] S0: ") && !strstr(md, "] S1: "));
    /* the server saw the same */
    char *log = unum_read_file(s.log, 1 << 20, NULL);
    CHECK_CONTAINS(log, "Priya: Morning, shall we start?");
    CHECK_CONTAINS(log, "Say what each of Ana B, Priya, S10, S2 wants.");
    free(log);
    free(md);
    remote_free(p.remote);
    fix_close(&f);
    openai_stub_stop(&s);
}

/* ------------------------------------------------------------ the command */

TEST(cli_meeting_speakers_lists_names_and_refuses) {
    Fix f;
    if (fix_open(&f)) return;
    store_close(f.st);
    f.st = NULL;
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(test_sh(&out, &err, "$U --db %s meeting speakers 1", f.db), 0);
    CHECK_STR(out, "S0\t(no name)\t2 segments\t0:08\n"
                   "S1\t(no name)\t1 segment\t0:02\n"
                   "S2\t(no name)\t1 segment\t0:03\n"
                   "S10\t(no name)\t1 segment\t0:02\n");
    free(out), free(err);
    CHECK_EQ_INT(test_sh(&out, &err, "$U --db %s meeting speakers 1 S1=Priya 'S0=Ana B'", f.db), 0);
    CHECK_STR(out, "");
    CHECK_CONTAINS(err, "recording 1: S1 is Priya");
    free(out), free(err);
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --db %s meeting speakers 1", f.db), 0);
    CHECK_CONTAINS(out, "S0\tAna B\t2 segments\t0:08\nS1\tPriya\t1 segment\t0:02\n");
    free(out);
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --db %s meeting show 1", f.db), 0);
    CHECK_CONTAINS(out, "] Priya: Morning, shall we start?\n");
    free(out);
    /* one refused change leaves every name as it was (one transaction) */
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 1 S1= S9=Zoe", f.db), 1);
    CHECK_CONTAINS(err, "recording 1 has no speaker 'S9'");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 1 S2=$(printf 'a\\033b')", f.db),
                 1);
    CHECK_CONTAINS(err, "control character 0x1b");
    free(err);
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --db %s meeting speakers 1", f.db), 0);
    CHECK_CONTAINS(out, "S1\tPriya\t");
    CHECK_CONTAINS(out, "S2\t(no name)\t");
    free(out);
    /* S1= takes the name away */
    CHECK_EQ_INT(test_sh(NULL, NULL, "$U --db %s meeting speakers 1 S1=", f.db), 0);
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --db %s meeting speakers 1", f.db), 0);
    CHECK_CONTAINS(out, "S1\t(no name)\t1 segment");
    free(out);
    /* usage errors: 2; a recording that is not there: 1 */
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers", f.db), 2);
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers x1", f.db), 2);
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 1 Priya", f.db), 2);
    CHECK_CONTAINS(err, "'Priya': give LABEL=NAME");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 1 =Priya", f.db), 2);
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 7", f.db), 1);
    CHECK_CONTAINS(err, "recording 7 not found");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --db %s meeting speakers 7 S0=Ana", f.db), 1);
    CHECK_CONTAINS(err, "recording 7 not found");
    free(err);
    CHECK_EQ_INT(test_sh(&out, NULL, "$U meeting speakers --help"), 0);
    CHECK_CONTAINS(out, "meeting speakers ID [LABEL=NAME | LABEL=]...");
    free(out);
    REQUIRE(store_open(f.db, &f.st) == 0);
    fix_close(&f);
}
