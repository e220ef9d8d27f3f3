/* test_termsafe.c - stored and received text never drives the terminal:
 * engine/base/termsafe.c's escaping and stripping, and the commands that
 * print stored text, run under a pseudo-terminal (escaped) and into a pipe
 * (byte for byte). */
#include "audio/wav.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"
#include "store/persona.h"
#include "store/recording.h"
#include "store/session.h"
#include "store/store.h"
#include "store/template.h"
#include "tests/test.h"
#include "tui/core/recordings.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OSC 52 (clipboard write), a CSI colour, a C1 CSI and an invalid byte. */
#define HOSTILE                                                                                    \
    "A\x1b]52;c;aGk=\x07"                                                                          \
    "B\x1b[31mC\xc2\x9b"                                                                           \
    "2JD\x9b"                                                                                      \
    "E\r\tF"

TEST(termsafe_escape) {
    char *e = term_escape(HOSTILE, strlen(HOSTILE));
    CHECK_STR(e, "A^[]52;c;aGk=^GB^[[31mC\\u009b2JD\\x9bE^M\tF");
    free(e);
    e = term_escape("caf\xc3\xa9 \xe4\xbd\xa0\n\x7f", 11);
    CHECK_STR(e, "caf\xc3\xa9 \xe4\xbd\xa0\n^?");
    free(e);
}

/* What term_strip_write leaves of the chunks (a sequence may span them). */
static char *strip_chunks(const char *const *chunks, int n) {
    FILE *f = tmpfile();
    TermStrip st = {0};
    for (int i = 0; i < n; i++) term_strip_write(&st, f, chunks[i], strlen(chunks[i]));
    long len = ftell(f);
    char *out = xmalloc((size_t)len + 1);
    rewind(f);
    out[fread(out, 1, (size_t)len, f)] = 0;
    fclose(f);
    return out;
}

TEST(termsafe_strip) {
    const char *one[] = {HOSTILE};
    char *s = strip_chunks(one, 1);
    CHECK_STR(s, "ABCD\x9b"
                 "E\tF"); /* C2 9B is a CSI: "2J" goes with it */
    free(s);
    /* split between tokens: the OSC's terminator (ST) and a CSI */
    const char *split[] = {"x\x1b]0;ti", "tle\x1b", "\\y\x1b[", "1;3", "1mz\n"};
    s = strip_chunks(split, 5);
    CHECK_STR(s, "xyz\n");
    free(s);
    /* two-byte escapes, a charset designation, UTF-8 kept, C1 ST */
    const char *misc[] = {"a\x1b"
                          "7b\x1b(Bc \xc3\xa9\xc2\x9dhidden\xc2\x9c!"};
    s = strip_chunks(misc, 1);
    CHECK_STR(s, "abc \xc3\xa9!");
    free(s);
}

TEST(termsafe_write_passes_files_through) {
    FILE *f = tmpfile();
    REQUIRE(f);
    CHECK_EQ_INT(term_write(f, HOSTILE, strlen(HOSTILE)), 0);
    CHECK_EQ_INT(term_printf(f, "[%s]", "\x1b[2J"), 6);
    rewind(f);
    char buf[128] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK_EQ_INT((int)n, (int)strlen(HOSTILE) + 6);
    CHECK(!memcmp(buf, HOSTILE "[\x1b[2J]", n));
}

/* A database whose persona, template, session, message and transcript all
 * carry HOSTILE. */
static char *seed_hostile(const char *dir, int64_t *sid, int64_t *rid) {
    char *path = unum_path_join(dir, "u.db");
    Store *st;
    if (store_open(path, &st) != 0) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
        return path;
    }
    Persona p = {0};
    p.name = "evil", p.description = HOSTILE, p.system_prompt = HOSTILE;
    p.tone = "", p.length = "", p.language = "";
    if (store_persona_add(st, &p) != 0) test_fail(__FILE__, __LINE__, "%s", unum_error());
    Template t = {0};
    TemplateSection sec = {HOSTILE, HOSTILE, "list"};
    t.name = "evil", t.description = HOSTILE, t.sections = &sec, t.n_sections = 1;
    if (store_template_add(st, &t) != 0) test_fail(__FILE__, __LINE__, "%s", unum_error());
    store_session_create(st, "T" HOSTILE, "m", "evil", sid);
    store_message_add(st, *sid, "assistant", "hostile " HOSTILE, 3, 0, NULL);
    char *wav = unum_path_join(dir, "r" HOSTILE ".wav"); /* a hostile file name too */
    wav_writer *w = wav_writer_open(wav, 16000, 1, WAV_PCM);
    store_recording_begin(st, wav, 16000, 1, 0, rid);
    store_segment_add(st, *rid, 0, 2, "", "hostile " HOSTILE, NULL);
    wav_writer_close(w);
    recording_finish(st, *rid);
    free(wav);
    store_close(st);
    return path;
}

TEST(cli_stored_text_escaped_on_a_terminal) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    int64_t sid = 0, rid = 0;
    char *db = seed_hostile(dir, &sid, &rid);
    char prelude[1024];
    snprintf(prelude, sizeof prelude, "U='%s --db %s'", test_bin(), db);
    char cmds[16][96];
    int n = 0;
    snprintf(cmds[n++], 96, "$U persona list");
    snprintf(cmds[n++], 96, "$U persona show evil");
    snprintf(cmds[n++], 96, "$U template list");
    snprintf(cmds[n++], 96, "$U template show evil");
    snprintf(cmds[n++], 96, "$U sessions list");
    snprintf(cmds[n++], 96, "$U sessions show %lld", (long long)sid);
    snprintf(cmds[n++], 96, "$U sessions export %lld --format md", (long long)sid);
    snprintf(cmds[n++], 96, "$U search hostile");
    snprintf(cmds[n++], 96, "$U meeting list");
    snprintf(cmds[n++], 96, "$U meeting show %lld", (long long)rid);
    snprintf(cmds[n++], 96, "$U meeting export %lld --format srt", (long long)rid);
    snprintf(cmds[n++], 96, "$U persona add '%s' --prompt x", "bad\x1b]0;t\x07name");
    for (int i = 0; i < n; i++) {
        char *out = NULL;
        size_t len = 0;
        test_pty(prelude, cmds[i], &out, &len);
        if (!out || memchr(out, 0x1b, len) || memchr(out, '\a', len) || memchr(out, '\r', len) ||
            strstr(out, "\xc2\x9b"))
            test_fail(__FILE__, __LINE__, "'%s' wrote controls to the terminal", cmds[i]);
        if (i < n - 1 && (!out || !strstr(out, "^[]52;c;aGk=^G")))
            test_fail(__FILE__, __LINE__, "'%s' hides the escaped text: %s", cmds[i],
                      out ? out : "");
        free(out);
    }
    /* into a pipe, exports stay byte for byte */
    char *out = NULL;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s --db %s sessions export %lld --format md | cat", test_bin(), db,
             (long long)sid);
    CHECK_EQ_INT(test_shell("true", cmd, &out, NULL), 0);
    CHECK(out && strstr(out, HOSTILE));
    free(out);
    free(db);
    test_tmp_remove(dir);
}

/* A copy of the tiny-bf16 fixture whose unused ids 355..383 are added tokens
 * that decode to OSC 52 and a CSI colour around "T<id>". */
static char *hostile_model(const char *dir) {
    char *rel = unum_path_join(test_fixtures(), "tiny-bf16");
    char *src = realpath(rel, NULL);
    free(rel);
    if (!src) {
        test_fail(__FILE__, __LINE__, "no fixture tiny-bf16");
        return xstrdup(dir);
    }
    char *dst = unum_path_join(dir, "model");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/*.json %s/ && ln -s %s/model.safetensors %s/",
             dst, src, dst, src, dst);
    if (system(cmd) != 0) test_fail(__FILE__, __LINE__, "cannot copy %s", src);
    char *tok = unum_path_join(dst, "tokenizer.json");
    char *text = unum_read_file(tok, 64u << 20, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    for (int id = 355; added && id < 384; id++) {
        char content[64];
        snprintf(content, sizeof content, "\x1b]52;c;aGk=\x07\x1b[31mT%d\x1b[0m", id);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", id);
        cJSON_AddStringToObject(a, "content", content);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 0);
        cJSON_AddItemToArray(added, a);
    }
    char *out = j ? cJSON_PrintUnformatted(j) : NULL;
    if (!out || unum_write_file_atomic(tok, out, strlen(out)) != 0)
        test_fail(__FILE__, __LINE__, "cannot write %s", tok);
    free(out);
    cJSON_Delete(j);
    free(text);
    free(tok);
    free(src);
    return dst;
}

TEST(cli_run_strips_control_sequences_on_a_terminal) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *model = hostile_model(dir);
    char prelude[1024];
    snprintf(prelude, sizeof prelude, "U='%s'; M='%s'", test_bin(), model);
    const char *run = "$U run -m $M --raw -p hi -n 4 --temp 0";
    char cmd[256], *out = NULL;
    size_t len = 0;
    /* the fixture's greedy reply holds ids past 354, so it holds the sequences */
    snprintf(cmd, sizeof cmd, "%s | od -An -c | tr -d ' \\n'", run);
    CHECK_EQ_INT(test_shell(prelude, cmd, &out, NULL), 0);
    CHECK_CONTAINS(out, "033]52;c;aGk=\\a033[31mT");
    free(out);
    CHECK_EQ_INT(test_pty(prelude, run, &out, &len), 0);
    CHECK(out && !memchr(out, 0x1b, len) && !memchr(out, '\a', len));
    CHECK_CONTAINS(out, "T3");
    free(out);
    snprintf(cmd, sizeof cmd, "%s --keep-escapes", run);
    CHECK_EQ_INT(test_pty(prelude, cmd, &out, &len), 0);
    CHECK_CONTAINS(out, "\x1b]52;c;aGk=\x07");
    free(out);
    CHECK_EQ_INT(test_shell(prelude, "$U run --help", &out, NULL), 0);
    CHECK_CONTAINS(out, "--keep-escapes");
    free(out);
    free(model);
    test_tmp_remove(dir);
}
