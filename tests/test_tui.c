/* test_tui.c - the terminal app, driven through tmux: keys go in with
 * send-keys, the screen comes back with capture-pane, and the database is
 * read afterwards to check that it holds what the screen showed.
 *
 * Each case runs `unum` in a detached tmux server of its own (-L socket)
 * with XDG folders, a config file and a database in a fresh temporary
 * directory, and the generated checkpoints (tiny-qwen-vocab: the real Qwen
 * tokenizer, random weights; whisper-en-f32 for the transcript). Waits poll
 * the screen with a deadline, so slow machines only make the tests slower. */
#include "tests/openai_stub.h"
#include "engine/models.h"
#include "tests/test.h"

#include "store/meeting_store.h"
#include "store/recording.h"
#include "tui/app/keys.h"
#include "tui/app/textwrap.h"
#include "tui/core/recordings.h"
#include "store/session.h"
#include "store/store.h"
#include "tui/core/when.h"
#include "engine/base/util.h"
#include "audio/wav.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *dir;      /* temporary home of this run */
    char sock[64];  /* tmux -L name */
    char *root;     /* the source tree, absolute */
    char bin[1024]; /* the unum binary, absolute */
} Tui;

static int have_tmux(void) { return test_shell(":", "command -v tmux", NULL, NULL) == 0; }

static char *fixture(const char *preset) {
    char *rel = unum_path_join(test_fixtures(), preset);
    char *abs = realpath(rel, NULL);
    free(rel);
    return abs;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = test_shell(":", cmd, NULL, NULL);
    if (rc && getenv("UNUM_SHOW")) printf("DEBUG rc=%d: %.300s\n", rc, cmd);
    return rc;
}

static char *screen(Tui *t) {
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t u", t->sock);
    test_shell(":", cmd, &out, NULL);
    return out ? out : xstrdup("");
}

/* Waits until the screen shows needle (up to ms); 1 when it did. */
static int wait_for(Tui *t, const char *needle, int ms) {
    for (int waited = 0; waited <= ms; waited += 100) {
        char *s = screen(t);
        int ok = strstr(s, needle) != NULL;
        free(s);
        if (ok) return 1;
        usleep(100 * 1000);
    }
    char *s = screen(t);
    printf("  screen without \"%s\":\n%s\n", needle, s);
    free(s);
    return 0;
}

static int wait_gone(Tui *t, const char *needle, int ms) {
    for (int waited = 0; waited <= ms; waited += 100) {
        char *s = screen(t);
        int gone = strstr(s, needle) == NULL;
        free(s);
        if (gone) return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static void keys(Tui *t, const char *k) {
    sh("tmux -L %s send-keys -t u %s", t->sock, k);
    usleep(150 * 1000); /* keys apart, so Esc is not read as Alt */
}

static void text(Tui *t, const char *s) { sh("tmux -L %s send-keys -t u -l '%s'", t->sock, s); }

/* Writes the config file (lines joined with \n). */
static void config(Tui *t, const char *lines) {
    sh("mkdir -p %s/cfg/unum && printf '%%s\\n' '%s' > %s/cfg/unum/config", t->dir, lines, t->dir);
}

/* Starts the app in a w x h window with extra environment and args; the
 * window shows "EXIT=N" at the start of a line when it ends (the terminal
 * is reset first: an app killed mid-screen leaves it raw, where a newline
 * does not return the cursor and "EXIT=N" would wrap). */
static int start_at(Tui *t, int w, int h, const char *env, const char *args) {
    sh("tmux -L %s kill-server 2>/dev/null; sleep 0.2", t->sock); /* a previous run */
    return sh("cd %s && tmux -L %s new-session -d -s u -x %d -y %d "
              "\"env HOME=%s HF_HOME=%s/hf XDG_CONFIG_HOME=%s/cfg XDG_DATA_HOME=%s/data "
              "XDG_STATE_HOME=%s/state NO_COLOR= %s %s --db %s/u.db %s; r=\\$?; "
              "stty sane 2>/dev/null; echo; echo EXIT=\\$r; sleep 60\"",
              t->root, t->sock, w, h, t->dir, t->dir, t->dir, t->dir, t->dir, env ? env : "",
              t->bin, t->dir, args ? args : "");
}

/* start_at in a 110 x 32 window. */
static int start(Tui *t, const char *env, const char *args) {
    return start_at(t, 110, 32, env, args);
}

static int tui_open(Tui *t) {
    memset(t, 0, sizeof *t);
    if (!have_tmux()) {
        test_skip("tmux is not installed (tools/deps.sh test installs it)");
        return -1;
    }
    t->dir = test_tmpdir();
    if (!t->dir) return -1;
    snprintf(t->sock, sizeof t->sock, "unum-test-%d", (int)getpid());
    t->root = realpath(test_root(), NULL);
    char *b = realpath(test_bin(), NULL);
    snprintf(t->bin, sizeof t->bin, "%s", b ? b : test_bin());
    free(b);
    return 0;
}

static void tui_close(Tui *t) {
    sh("tmux -L %s kill-server 2>/dev/null", t->sock);
    free(t->root);
    test_tmp_remove(t->dir);
}

/* unum's CLI on this run's database; stdout in a new string. */
static char *cli(Tui *t, const char *args) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "XDG_DATA_HOME=%s/data %s --db %s/u.db %s", t->dir, t->bin, t->dir,
             args);
    test_shell(":", cmd, &out, NULL);
    return out ? out : xstrdup("");
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ------------------------------------------------------------ chat */

/* The chat model's folder, or NULL after closing t and skipping the case. */
static char *chat_fixture(Tui *t) {
    char *model = fixture("tiny-qwen-vocab");
    if (!model) {
        tui_close(t);
        test_skip("no tiny-qwen-vocab fixture (needs npm)");
    }
    return model;
}

/* A streamed reply, resized mid-way, cancelled with Esc: the partial reply
 * stays on screen marked, and the database holds both messages, the reply
 * marked cancelled. A second reply runs to its end. Ctrl-Q exits 0. */
TEST(tui_chat_streams_cancels_and_stores) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 4000\ntemperature = 0", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "hello from the test");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "(writing; Esc cancels)", 10000));
    sh("tmux -L %s resize-window -t u -x 80 -y 26", t.sock); /* narrow: one pane */
    /* Cancel only once the reply has outgrown the pane, its label line
     * scrolled away: the marker must show where the reply stopped, which is
     * what the view follows. (How much was written before Esc used to vary
     * with the machine's speed, and the marker on the label line alone was
     * then sometimes off screen.) */
    CHECK(wait_gone(&t, "(writing; Esc cancels)", 20000));
    keys(&t, "Escape");
    CHECK(wait_for(&t, "[cancelled]", 10000));
    CHECK(wait_for(&t, "reply cancelled", 5000));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "[user]");
    CHECK_CONTAINS(s, "hello from the test");
    CHECK_CONTAINS(s, "[assistant]");
    CHECK_CONTAINS(s, "[cancelled]");
    free(s);
    /* a short reply to its end */
    sh("tmux -L %s kill-server", t.sock);
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 6\ntemperature = 0", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    keys(&t, "F2");
    CHECK(wait_for(&t, "hello from the test", 5000));
    keys(&t, "Enter"); /* open session 1 */
    text(&t, "second question");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "second question", 5000));
    CHECK(wait_gone(&t, "(writing", 10000));
    s = cli(&t, "sessions show 1");
    CHECK_EQ_INT(count(s, "[assistant]"), 2);
    CHECK_EQ_INT(count(s, "[cancelled]"), 1);
    CHECK_CONTAINS(s, "second question");
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* A MiniCPM directory (the second model family, with its SentencePiece-
 * style tokenizer) as the app's chat model: it loads, answers, and the
 * store records it as the model of the reply. */
TEST(tui_chats_with_a_minicpm_model) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = fixture("tiny-minicpm-spm");
    char *tok = model ? unum_path_join(model, "tokenizer.json") : NULL;
    if (!model || !unum_file_exists(tok)) {
        free(model), free(tok);
        tui_close(&t);
        test_skip("no tiny-minicpm-spm fixture");
        return;
    }
    free(tok);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 6\ntemperature = 0", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    CHECK(wait_for(&t, "tiny-minicpm-spm", 5000)); /* the status bar names it */
    text(&t, "hello there");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "hello there", 5000));
    CHECK(wait_gone(&t, "(writing", 20000));
    char *sh_out = cli(&t, "sessions show 1");
    CHECK_CONTAINS(sh_out, "[assistant]");
    CHECK(!strstr(sh_out, "[incomplete]") && !strstr(sh_out, "[cancelled]"));
    free(sh_out);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    char *db = unum_path_join(t.dir, "u.db");
    Store *st = NULL;
    if (store_open(db, &st) == 0) {
        StoreMessage *ms = NULL;
        size_t n = 0;
        CHECK(store_message_list(st, 1, &ms, &n) == 0);
        CHECK_EQ_INT(n, 2);
        if (n == 2) {
            CHECK_STR(ms[1].model, "tiny-minicpm-spm");
            CHECK(ms[1].content && ms[1].content[0]);
        }
        store_messages_free(ms, n);
        store_close(st);
    } else {
        CHECK(0);
    }
    free(db);
    free(model);
    tui_close(&t);
}

/* ------------------------------------------------------------ history */

/* Starts the chat fixture with max_tokens and env; 0 when the model loaded. */
static int chat_start(Tui *t, const char *model, int max_tokens, const char *env) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = %d\ntemperature = 0", model, max_tokens);
    config(t, cfg);
    if (start(t, env, NULL) != 0) return -1;
    return wait_for(t, "model loaded", 20000) ? 0 : -1;
}

/* Waits until `unum sessions show 1` prints needle (up to ms); 1 when so. */
static int wait_db(Tui *t, const char *needle, int ms) {
    for (int waited = 0; waited <= ms; waited += 200) {
        char *s = cli(t, "sessions show 1");
        int ok = strstr(s, needle) != NULL;
        free(s);
        if (ok) return 1;
        usleep(200 * 1000);
    }
    char *s = cli(t, "sessions show 1");
    printf("  database without \"%s\":\n%s\n", needle, s);
    free(s);
    return 0;
}

/* The text of the last message that `sessions show 1` prints. */
static char *last_message(Tui *t) {
    char *s = cli(t, "sessions show 1");
    char *p = strrchr(s, '[');
    char *nl = p ? strchr(p, '\n') : NULL;
    char *out = xstrdup(nl ? nl + 1 : "");
    free(s);
    return out;
}

/* A reply is stored while it streams: SIGKILL of the app mid-reply leaves
 * the text so far in the database, marked incomplete, and reopening the
 * session shows it marked. (Tokens come every 60 ms here, so the reply is
 * still being written when the kill comes, on any machine.) */
TEST(tui_reply_survives_kill_mid_stream) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    REQUIRE(chat_start(&t, model, 4000, "UNUM_TEST_TOKEN_DELAY_MS=60") == 0);
    text(&t, "tell me a long story");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "(writing; Esc cancels)", 10000));
    CHECK(wait_db(&t, "[incomplete]", 10000));
    /* wait for two saves, so that the text is under way, then kill */
    char *first = last_message(&t);
    for (int i = 0; i < 50; i++) {
        char *now = last_message(&t);
        int grew = strlen(now) > strlen(first) + 1;
        free(now);
        if (grew) break;
        usleep(100 * 1000);
    }
    CHECK(wait_for(&t, "(writing; Esc cancels)", 1000)); /* still writing */
    sh("kill -9 $(pgrep -P $(tmux -L %s list-panes -t u -F '#{pane_pid}'))", t.sock);
    CHECK(wait_for(&t, "EXIT=137", 5000));
    char *kept = last_message(&t);
    CHECK(strlen(kept) > strlen(first));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "tell me a long story");
    CHECK_CONTAINS(s, "[assistant]");
    CHECK_CONTAINS(s, "[incomplete]");
    free(s);
    /* reopened: the reply is there, marked */
    sh("tmux -L %s kill-server", t.sock);
    REQUIRE(chat_start(&t, model, 4, NULL) == 0);
    keys(&t, "F2");
    CHECK(wait_for(&t, "tell me a long story", 5000));
    keys(&t, "Enter");
    CHECK(wait_for(&t, "[incomplete]", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(kept);
    free(first);
    free(model);
    tui_close(&t);
}

/* Ctrl-Q while a reply is written asks first: n goes on writing, y quits
 * and keeps what was written, marked cancelled. */
TEST(tui_quit_mid_reply_asks) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    REQUIRE(chat_start(&t, model, 4000, "UNUM_TEST_TOKEN_DELAY_MS=60") == 0);
    text(&t, "keep talking");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "(writing; Esc cancels)", 10000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "Quit anyway", 5000));
    keys(&t, "n");
    CHECK(wait_for(&t, "nothing done", 5000));
    CHECK(wait_for(&t, "(writing; Esc cancels)", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "Quit anyway", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "[cancelled]");
    free(s);
    char *kept = last_message(&t);
    CHECK(strlen(kept) > 1);
    free(kept);
    free(model);
    tui_close(&t);
}

/* Regenerate and edit-and-resend make versions: the chat shows "<2/2>",
 * M-, and M-. step between them, and the session (reopened with F2, listed,
 * shown) holds the branch in view, not the abandoned turns. */
TEST(tui_versions_branch_and_step) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    REQUIRE(chat_start(&t, model, 3, NULL) == 0);
    text(&t, "hello tree");
    keys(&t, "Enter");
    CHECK(wait_db(&t, "[assistant]", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    keys(&t, "C-r");
    CHECK(wait_for(&t, "unum <2/2>", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    char *s = cli(&t, "sessions list");
    CHECK_CONTAINS(s, "2 messages");
    free(s);
    keys(&t, "M-,");
    CHECK(wait_for(&t, "unum <1/2>", 5000));
    CHECK(wait_db(&t, "version 1 of 2", 5000));
    keys(&t, "M-.");
    CHECK(wait_for(&t, "unum <2/2>", 5000));
    /* edit the question: a second version of it, with a reply of its own */
    keys(&t, "M-e");
    CHECK(wait_for(&t, "editing the message", 5000));
    keys(&t, "C-u");
    text(&t, "edited tree");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "You <2/2>", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "edited tree");
    CHECK_EQ_INT(count(s, "hello tree"), 1); /* the title; not the first version */
    CHECK_EQ_INT(count(s, "[assistant]"), 1);
    free(s);
    s = cli(&t, "sessions list");
    CHECK_CONTAINS(s, "2 messages");
    free(s);
    /* reopened: the branch in view, the version marks */
    keys(&t, "C-n");
    keys(&t, "F2");
    CHECK(wait_for(&t, "hello tree", 5000)); /* the session's title */
    keys(&t, "Enter");
    CHECK(wait_for(&t, "You <2/2>", 5000));
    char *scr = screen(&t);
    CHECK_CONTAINS(scr, "\xe2\x94\x82 edited tree");
    CHECK(!strstr(scr, "\xe2\x94\x82 hello tree"));
    free(scr);
    keys(&t, "M-,"); /* the last message, a reply, has one version */
    CHECK(wait_for(&t, "no other version", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* Any message can be selected (C-p, then k/j): an earlier reply written
 * again branches there; a message deleted (asks) takes what follows it and
 * the view returns to the branch left; c copies the selected message. */
TEST(tui_select_any_message) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    REQUIRE(chat_start(&t, model, 3, NULL) == 0);
    text(&t, "first question");
    keys(&t, "Enter");
    CHECK(wait_db(&t, "[assistant]", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    text(&t, "second question");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "second question", 5000));
    CHECK(wait_gone(&t, "(writing", 10000));
    keys(&t, "C-p"); /* the last reply */
    CHECK(wait_for(&t, "\xe2\x96\xb6unum", 5000));
    keys(&t, "k");
    CHECK(wait_for(&t, "\xe2\x96\xb6You", 5000));
    keys(&t, "c");
    CHECK(wait_for(&t, "copied the selected message", 5000));
    keys(&t, "k"); /* the first reply */
    keys(&t, "r");
    CHECK(wait_for(&t, "unum <2/2>", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    char *scr = screen(&t);
    CHECK(!strstr(scr, "second question"));
    free(scr);
    char *s = cli(&t, "sessions show 1");
    CHECK(!strstr(s, "second question"));
    CHECK_CONTAINS(s, "version 2 of 2");
    free(s);
    /* delete the new reply: asked first, then the earlier branch is back */
    keys(&t, "C-p");
    CHECK(wait_for(&t, "\xe2\x96\xb6unum <2/2>", 5000));
    keys(&t, "d");
    CHECK(wait_for(&t, "Delete this message?", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "1 message deleted", 5000));
    CHECK(wait_for(&t, "second question", 5000));
    s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "second question");
    CHECK_EQ_INT(count(s, "[assistant]"), 2);
    free(s);
    /* a message with replies: the question names how many go with it */
    keys(&t, "k");
    keys(&t, "k");
    keys(&t, "k"); /* the first question */
    keys(&t, "d");
    CHECK(wait_for(&t, "and the 3 after it", 5000));
    keys(&t, "n");
    CHECK(wait_for(&t, "nothing done", 5000));
    keys(&t, "Escape");
    CHECK(wait_gone(&t, "\xe2\x96\xb6", 5000));
    /* a click (xterm's mouse report: press and release of button 1 at
     * column 5, row 3) on the first question selects it */
    sh("tmux -L %s send-keys -t u -l \"$(printf '\\033[M %%%%#\\033[M#%%%%#')\"", t.sock);
    CHECK(wait_for(&t, "\xe2\x96\xb6You", 5000));
    keys(&t, "d");
    CHECK(wait_for(&t, "and the 3 after it", 5000));
    keys(&t, "n");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* ------------------------------------------------------------ panes */

/* A persona edited in $EDITOR (a script that rewrites its prompt) is saved,
 * chosen with Enter, shown in the status bar and recorded with the session
 * its next message starts. */
TEST(tui_persona_edit_and_use) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 4\ntemperature = 0", model);
    config(&t, cfg);
    /* the "editor": rewrites the system_prompt line of the JSON it is given */
    char ed[1024];
    snprintf(ed, sizeof ed, "%s/ed.sh", t.dir);
    FILE *f = fopen(ed, "w");
    REQUIRE(f);
    fputs("#!/bin/sh\nsed -i 's/.*\"system_prompt\".*/\"system_prompt\": \"You are TESTBOT.\",/' "
          "\"$1\"\n",
          f);
    fclose(f);
    sh("chmod +x %s", ed);
    char env[512];
    snprintf(env, sizeof env, "EDITOR=%s/ed.sh", t.dir);
    REQUIRE(start(&t, env, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    keys(&t, "Tab");
    keys(&t, "Tab"); /* the persona pane */
    keys(&t, "M-c"); /* its commands: letters act */
    keys(&t, "e");   /* the first persona, in the editor */
    CHECK(wait_for(&t, "saved", 5000));
    keys(&t, "Enter");
    CHECK(wait_for(&t, "conditions the replies", 5000));
    char *s = screen(&t);
    char name[64] = "";
    const char *q = strstr(s, "persona '");
    if (q) sscanf(q + 9, "%63[^']", name);
    free(s);
    REQUIRE(name[0]);
    char arg[128];
    snprintf(arg, sizeof arg, "persona show %s", name);
    s = cli(&t, arg);
    CHECK_CONTAINS(s, "You are TESTBOT.");
    free(s);
    keys(&t, "Tab");
    keys(&t, "Tab"); /* back to the chat */
    text(&t, "who are you");
    keys(&t, "Enter");
    CHECK(wait_gone(&t, "(writing", 10000));
    s = cli(&t, "sessions show 1");
    char want[128];
    snprintf(want, sizeof want, "persona: %s", name);
    CHECK_CONTAINS(s, want);
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    /* the chosen persona is remembered, as the theme is: the next start
     * shows it in the status bar (the screen's first row) */
    REQUIRE(start(&t, env, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    s = screen(&t);
    char *row0_end = strchr(s, '\n');
    if (row0_end) *row0_end = 0;
    CHECK_CONTAINS(s, name);
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* Two sessions: the session list switches between them, search finds a
 * word in either and opens its session. */
TEST(tui_sessions_and_search) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 3\ntemperature = 0", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "first zebra topic");
    keys(&t, "Enter");
    CHECK(wait_gone(&t, "(writing", 10000));
    keys(&t, "C-n");
    CHECK(wait_for(&t, "new session", 5000));
    text(&t, "second giraffe topic");
    keys(&t, "Enter");
    CHECK(wait_gone(&t, "(writing", 10000));
    keys(&t, "F2");
    CHECK(wait_for(&t, "first zebra topic", 5000));
    CHECK(wait_for(&t, "second giraffe topic", 5000));
    keys(&t, "Down"); /* the older session */
    keys(&t, "Enter");
    CHECK(wait_for(&t, "Chat: first zebra topic", 5000));
    keys(&t, "F3");
    text(&t, "giraffe");
    CHECK(wait_for(&t, "[giraffe]", 5000));
    keys(&t, "Enter");
    CHECK(wait_for(&t, "Chat: second giraffe topic", 5000));
    char *s = cli(&t, "sessions list");
    CHECK_EQ_INT(count(s, "\n"), 2);
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* Keys rebound in the key file act through the action table: the persona
 * pane's pick and the sessions list's delete on keys of their own. */
TEST(tui_rebound_keys_act) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 3\ntemperature = 0", model);
    config(&t, cfg);
    sh("printf 'persona_pick = o\\nsession_delete = x\\n' > %s/cfg/unum/keys", t.dir);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "okapi topic");
    keys(&t, "Enter");
    CHECK(wait_gone(&t, "(writing", 10000));
    keys(&t, "Tab");
    keys(&t, "Tab"); /* the persona pane */
    keys(&t, "M-c");
    keys(&t, "o");
    CHECK(wait_for(&t, "conditions the replies", 5000));
    keys(&t, "F2");
    CHECK(wait_for(&t, "okapi topic", 5000));
    keys(&t, "x");
    CHECK(wait_for(&t, "Delete this session?", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "(no sessions yet)", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    char *s = cli(&t, "sessions list");
    CHECK(!strstr(s, "okapi"));
    free(s);
    free(model);
    tui_close(&t);
}

/* F4 switches the theme and remembers it in the config file; the help
 * overlay lists the actions; zoom shows one pane. */
TEST(tui_theme_help_zoom) {
    Tui t;
    if (tui_open(&t)) return;
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    CHECK(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "F4");
    CHECK(wait_for(&t, "(remembered in", 5000));
    char path[1024];
    snprintf(path, sizeof path, "%s/cfg/unum/config", t.dir);
    char *c = unum_read_file(path, 1 << 16, NULL);
    CHECK(c && strstr(c, "theme = "));
    free(c);
    keys(&t, "F1");
    CHECK(wait_for(&t, "quit unum", 5000));
    CHECK(wait_for(&t, "export the session as Markdown", 5000));
    keys(&t, "Escape");
    CHECK(wait_gone(&t, "quit unum", 5000));
    keys(&t, "M-z");
    CHECK(wait_gone(&t, "Transcript", 5000));
    keys(&t, "M-z");
    CHECK(wait_for(&t, "Transcript", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* ------------------------------------------------------------ bad starts */

/* No model configured, an unreadable database: each is a message on the
 * screen, and the app stays usable (help opens, Ctrl-Q exits 0). */
TEST(tui_no_model_and_bad_database) {
    Tui t;
    if (tui_open(&t)) return;
    REQUIRE(sh("cd %s && tmux -L %s new-session -d -s u -x 110 -y 32 "
               "\"env XDG_CONFIG_HOME=%s/cfg XDG_DATA_HOME=%s/data XDG_STATE_HOME=%s/state "
               "HOME=%s %s --db /proc/unum-no-such/u.db; echo EXIT=\\$?; sleep 60\"",
               t.root, t.sock, t.dir, t.dir, t.dir, t.dir, t.bin) == 0);
    CHECK(wait_for(&t, "database:", 10000));
    CHECK(wait_for(&t, "First run", 5000)); /* nothing on this machine: the offer */
    keys(&t, "n");
    CHECK(wait_for(&t, "No language model. Press C-o", 5000));
    keys(&t, "F1");
    CHECK(wait_for(&t, "quit unum", 5000));
    keys(&t, "Escape");
    text(&t, "hi");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "No language model. Press C-o", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    sh("tmux -L %s kill-server", t.sock);
    /* no model, the offer declined: the message says how to get one */
    REQUIRE(start(&t, NULL, NULL) == 0);
    CHECK(wait_for(&t, "First run", 10000));
    keys(&t, "n");
    CHECK(wait_for(&t, "start unum with -m DIR (or set model = DIR in", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* ------------------------------------------------------------ recording */

/* The disk driver's microphone: the first speech_s seconds of the meeting
 * clip and silence_s of silence as raw floats in t's folder, played a few
 * times faster than real time; env gets the variables that say so. */
static int disk_mic(Tui *t, double speech_s, double silence_s, char *env, size_t cap) {
    char *wav = unum_path_join(t->root, "tests/golden/transcribe/meeting16k.wav");
    wav_audio a;
    int rc = wav_read_file(wav, 0, &a);
    free(wav);
    if (rc) return -1;
    size_t n = (size_t)(16000 * speech_s);
    if (n > a.n) n = a.n;
    char raw[1024];
    snprintf(raw, sizeof raw, "%s/mic.raw", t->dir);
    FILE *f = fopen(raw, "wb");
    if (f) {
        fwrite(a.samples, sizeof(float), n, f);
        float zero = 0;
        for (size_t i = 0; i < (size_t)(16000 * silence_s); i++) fwrite(&zero, sizeof zero, 1, f);
        rc = fclose(f);
    }
    wav_audio_free(&a);
    snprintf(env, cap, "SDL_AUDIODRIVER=disk SDL_DISKAUDIOFILEIN=%s SDL_DISKAUDIODELAY=8", raw);
    return f && !rc ? 0 : -1;
}


/* The Whisper model's folder (with its tokenizer), or NULL after closing t
 * and skipping the case. */
static char *whisper_fixture(Tui *t) {
    char *wh = fixture("whisper-en-f32");
    char *tok = wh ? unum_path_join(wh, "tokenizer.json") : NULL;
    int ok = wh && unum_file_exists(tok);
    free(tok);
    if (!ok) {
        free(wh);
        tui_close(t);
        test_skip("no whisper-en-f32 fixture with a tokenizer (needs npm)");
        return NULL;
    }
    return wh;
}

/* Recording in the app with SDL's disk driver playing espeak-ng speech as
 * the microphone: the transcript pane fills as utterances end; stopping
 * offers a report, which is written into the chat; the recording, its
 * segments and the report (with its model) are in the database. */
TEST(tui_records_and_transcribes) {
    Tui t;
    if (tui_open(&t)) return;
    char *wh = whisper_fixture(&t);
    if (!wh) return;
    /* the first utterance of the meeting clip (17 s) and a second of silence */
    char env[2048], args[1024];
    REQUIRE(disk_mic(&t, 18, 1, env, sizeof env) == 0);
    char *lm = fixture("tiny-qwen-vocab");
    REQUIRE(lm);
    snprintf(args, sizeof args, "-m %s --whisper %s", lm, wh);
    free(lm);
    config(&t, "max_tokens = 6\ntemperature = 0");
    REQUIRE(start(&t, env, args) == 0);
    REQUIRE(wait_for(&t, "speech model ready", 20000));
    /* the third template chosen in its pane: the offer starts on it */
    keys(&t, "F7");
    keys(&t, "Down");
    keys(&t, "Down");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "chosen for reports", 5000));
    keys(&t, "F5");
    CHECK(wait_for(&t, "recording to", 10000));
    CHECK(wait_for(&t, "REC", 3000));
    /* segments appear as utterances end (the clip plays at about 6x) */
    CHECK(wait_gone(&t, "listening...", 60000));
    keys(&t, "F5");
    /* stopping asks which template, once the transcript is whole, the
     * chosen one selected; Up takes the second built-in and Tab the first
     * persona, and the report is written into the chat and stored */
    CHECK(wait_for(&t, "write its report with which template", 60000));
    CHECK(wait_for(&t, "as no persona?", 2000));
    keys(&t, "Up");
    keys(&t, "Tab");
    CHECK(wait_for(&t, "as persona ", 2000));
    keys(&t, "Enter");
    CHECK(wait_for(&t, "stored; r in the template pane", 60000));
    /* the transcript's start: its first segment on the pane's first row
     * (not alone at the bottom of an empty pane), and paging back from there
     * moves nothing: the view never goes past the content */
    keys(&t, "Tab");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Transcript", 5000));
    keys(&t, "'M-<'");
    usleep(300 * 1000);
    char *before = screen(&t);
    const char *row2 = before;
    for (int i = 0; i < 2 && row2; i++) row2 = strchr(row2, '\n'), row2 = row2 ? row2 + 1 : NULL;
    CHECK(row2 && strstr(row2, "00:00") && strstr(row2, "00:00") < strchr(row2, '\n'));
    keys(&t, "PPage");
    keys(&t, "PPage");
    usleep(300 * 1000);
    char *after = screen(&t);
    CHECK_STR(after, before);
    free(before);
    free(after);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    /* the rows: one recording, complete, with the segments shown */
    char db[1024];
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    Store *st = NULL;
    REQUIRE(store_open(db, &st) == 0);
    sqlite3_stmt *q = store_prepare(st, "SELECT count(*), max(status) FROM recordings");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 1);
    CHECK_STR((const char *)sqlite3_column_text(q, 1), "complete");
    sqlite3_finalize(q);
    q = store_prepare(st, "SELECT count(*) FROM segments");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK(sqlite3_column_int(q, 0) >= 1);
    sqlite3_finalize(q);
    /* whole once the last utterance came, so the report could be written */
    q = store_prepare(st, "SELECT transcribed FROM recordings");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    q = store_prepare(st, "SELECT count(*) FROM reports r JOIN recordings c ON "
                          "r.recording_id = c.id WHERE r.model = 'tiny-qwen-vocab' AND "
                          "r.template = (SELECT name FROM templates ORDER BY name "
                          "LIMIT 1 OFFSET 1) AND r.persona = (SELECT name FROM personas "
                          "ORDER BY name LIMIT 1)");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    store_close(st);
    free(wh);
    tui_close(&t);
}

/* ------------------------------------------------------------ first run */

/* A new user with nothing set up: the app offers the default models, 'y'
 * downloads them from the hub (here tests/hf_server.py on 127.0.0.1 serving
 * the generated checkpoints under the default names), then loads the model,
 * remembers it in the config file, and a message gets a reply. */
TEST(tui_first_run_downloads_and_chats) {
    Tui t;
    if (tui_open(&t)) return;
    char *lm = fixture("tiny-qwen-vocab"), *wh = fixture("whisper-en-f32");
    if (!lm || !wh || test_shell(":", "command -v python3", NULL, NULL)) {
        free(lm);
        free(wh);
        tui_close(&t);
        test_skip("needs the tiny-qwen-vocab and whisper-en-f32 fixtures and python3");
        return;
    }
    REQUIRE(sh("mkdir -p %s/hub/Qwen/Qwen2.5-0.5B-Instruct %s/hub/openai/whisper-base && "
               "cp %s/* %s/hub/Qwen/Qwen2.5-0.5B-Instruct/ && cp %s/* %s/hub/openai/whisper-base/",
               t.dir, t.dir, lm, t.dir, wh, t.dir) == 0);
    REQUIRE(sh("cd %s && (python3 tests/hf_server.py %s/hub --port-file %s/port --lifetime 120 "
               ">/dev/null 2>&1 &) && for i in $(seq 50); do [ -s %s/port ] && break; sleep 0.1; "
               "done; [ -s %s/port ]",
               t.root, t.dir, t.dir, t.dir, t.dir) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/port", t.dir);
    char *port = unum_read_file(path, 64, NULL);
    REQUIRE(port);
    port[strcspn(port, "\r\n")] = 0;
    char env[512];
    snprintf(env, sizeof env, "HF_ENDPOINT=http://127.0.0.1:%s", port);
    free(port);
    config(&t, "max_tokens = 4\ntemperature = 0");
    REQUIRE(start(&t, env, NULL) == 0);
    CHECK(wait_for(&t, "First run", 10000));
    keys(&t, "y");
    CHECK(wait_for(&t, "| Qwen2.5-0.5B-Instruct |", 60000)); /* the status bar */
    CHECK(wait_for(&t, "speech model ready", 30000));
    snprintf(path, sizeof path, "%s/cfg/unum/config", t.dir);
    char *c = unum_read_file(path, 1 << 16, NULL);
    CHECK(c && strstr(c, "model = Qwen/Qwen2.5-0.5B-Instruct"));
    CHECK(c && strstr(c, "whisper = openai/whisper-base"));
    free(c);
    text(&t, "are you there");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "are you there", 5000));
    CHECK(wait_gone(&t, "(writing", 10000));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "[assistant]");
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(lm);
    free(wh);
    tui_close(&t);
}

/* No audio device: F5 says so on the screen and the app goes on. The
 * error that stopped the recording stays on the message line, whatever
 * notes come after (F4's theme note here), until Esc acknowledges it. */
TEST(tui_no_audio_device) {
    Tui t;
    if (tui_open(&t)) return;
    char *wh = whisper_fixture(&t);
    if (!wh) return;
    char args[1024];
    snprintf(args, sizeof args, "-m /nonexistent/model --whisper %s", wh);
    REQUIRE(start(&t, "SDL_AUDIODRIVER=disk SDL_DISKAUDIOFILEIN=/nonexistent/mic.raw", args) == 0);
    /* the model's load error holds the bottom line: the log has the rest */
    REQUIRE(wait_for(&t, "cannot load the language model", 20000));
    keys(&t, "F9");
    REQUIRE(wait_for(&t, "speech model ready", 20000));
    keys(&t, "Escape");
    keys(&t, "F5");
    CHECK(wait_for(&t, "cannot open for capture", 5000));
    keys(&t, "F4");
    CHECK(wait_for(&t, "[Esc]", 2000));
    char *s = screen(&t);
    CHECK_CONTAINS(s, "cannot open for capture");
    CHECK(!strstr(s, "remembered in"));
    free(s);
    keys(&t, "Escape");
    CHECK(wait_gone(&t, "cannot open for capture", 5000));
    keys(&t, "F1");
    CHECK(wait_for(&t, "quit unum", 5000));
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(wh);
    tui_close(&t);
}

/* The first screen, whose content is all deterministic (built-in personas
 * and templates, a fixed model path), against a committed dump. */
TEST(tui_screen_dump_matches) {
    Tui t;
    if (tui_open(&t)) return;
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    usleep(300 * 1000);
    char *s = screen(&t);
    char *path = unum_path_join(t.root, "tests/golden/tui/start-110x32.txt");
    if (getenv("UNUM_UPDATE_GOLDENS")) unum_write_file_atomic(path, s, strlen(s));
    char *want = unum_read_file(path, 1 << 20, NULL);
    REQUIRE(want);
    if (strcmp(s, want)) test_fail(__FILE__, __LINE__, "the screen differs from %s:\n%s", path, s);
    free(want);
    free(path);
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* A voice message to a speech LLM: F8 records from the (disk driver)
 * microphone, F8 again sends the clip itself to the model, which answers;
 * the message, the reply and the clip's recording are in the database. */
TEST(tui_voice_message_to_a_speech_model) {
    Tui t;
    if (tui_open(&t)) return;
    char *lm = fixture("omni-tiny");
    char *tok = lm ? unum_path_join(lm, "tokenizer.json") : NULL;
    if (!lm || !unum_file_exists(tok)) {
        free(lm);
        free(tok);
        tui_close(&t);
        test_skip("no omni-tiny fixture (needs npm)");
        return;
    }
    free(tok);
    char env[2048], args[1024];
    REQUIRE(disk_mic(&t, 4, 0, env, sizeof env) == 0);
    snprintf(args, sizeof args, "-m %s", lm);
    config(&t, "max_tokens = 4\ntemperature = 0");
    REQUIRE(start(&t, env, args) == 0);
    REQUIRE(wait_for(&t, "a speech model: F8", 20000));
    keys(&t, "F8");
    CHECK(wait_for(&t, "VOICE", 5000));
    sleep(1);
    keys(&t, "F8");
    CHECK(wait_for(&t, "[voice message", 5000));
    CHECK(wait_gone(&t, "(writing", 30000));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "[voice message");
    CHECK_CONTAINS(s, "[assistant]");
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    char db[1024];
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    Store *st = NULL;
    REQUIRE(store_open(db, &st) == 0);
    sqlite3_stmt *q = store_prepare(st, "SELECT count(*) FROM recordings WHERE session_id = 1 "
                                        "AND status = 'complete'");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    store_close(st);
    free(lm);
    tui_close(&t);
}

/* Quitting while recording asks first; then the recording is closed, its
 * last utterance is still transcribed, and its segments are stored before
 * the app exits. */
TEST(tui_quit_while_recording_keeps_the_transcript) {
    Tui t;
    if (tui_open(&t)) return;
    char *wh = whisper_fixture(&t);
    if (!wh) return;
    /* a second of quiet (the detector learns the floor), then 10 s of a
     * voiced buzz (150 Hz and harmonics, syllable-rate modulation) with no
     * pause, at real time: the utterance is still open when the app quits */
    char raw[1024];
    snprintf(raw, sizeof raw, "%s/mic.raw", t.dir);
    FILE *f = fopen(raw, "wb");
    REQUIRE(f);
    uint32_t lcg = 1;
    for (int i = 0; i < 16000; i++) {
        lcg = lcg * 1664525u + 1013904223u;
        float v = (float)((lcg >> 8) / 16777216.0 - 0.5) * 0.002f;
        fwrite(&v, sizeof v, 1, f);
    }
    for (int i = 0; i < 16000 * 10; i++) {
        double u = i / 16000.0, env = 0.6 + 0.4 * sin(2 * M_PI * 3 * u);
        float v = (float)(env * (0.3 * sin(2 * M_PI * 150 * u) + 0.15 * sin(2 * M_PI * 300 * u) +
                                 0.1 * sin(2 * M_PI * 450 * u)));
        fwrite(&v, sizeof v, 1, f);
    }
    fclose(f);
    char env[2048], args[1024];
    snprintf(env, sizeof env, "SDL_AUDIODRIVER=disk SDL_DISKAUDIOFILEIN=%s", raw);
    snprintf(args, sizeof args, "-m /nonexistent/model --whisper %s", wh);
    REQUIRE(start(&t, env, args) == 0);
    /* the model's load error holds the bottom line: the log has the rest */
    REQUIRE(wait_for(&t, "cannot load the language model", 20000));
    keys(&t, "F9");
    REQUIRE(wait_for(&t, "speech model ready", 20000));
    keys(&t, "Escape");
    keys(&t, "F5");
    CHECK(wait_for(&t, "REC", 5000));
    sleep(3);
    keys(&t, "C-q"); /* asks first */
    CHECK(wait_for(&t, "A recording is running. Stop it and quit?", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "EXIT=0", 60000));
    char db[1024];
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    Store *st = NULL;
    REQUIRE(store_open(db, &st) == 0);
    sqlite3_stmt *q = store_prepare(st, "SELECT count(*) FROM segments");
    REQUIRE(q && sqlite3_step(q) == SQLITE_ROW);
    CHECK(sqlite3_column_int(q, 0) >= 1);
    sqlite3_finalize(q);
    store_close(st);
    free(wh);
    tui_close(&t);
}

/* ------------------------------------------------------------ remote */

/* model = URL in the settings file: the app chats with the stand-in
 * server (tests/openai_server.py), the reply streamed and stored. */
TEST(tui_chat_with_a_remote_model) {
    Tui t;
    if (tui_open(&t)) return;
    OpenAIStub srv;
    if (openai_stub_start(&srv)) {
        tui_close(&t);
        return;
    }
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nremote_model = echo\nmax_tokens = 50", srv.url);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    CHECK(wait_for(&t, "model loaded", 20000));
    text(&t, "hello server");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "You said: hello server", 10000));
    CHECK(wait_gone(&t, "(writing", 10000));
    char *s = cli(&t, "sessions show 1");
    CHECK_CONTAINS(s, "You said: hello server");
    free(s);
    char *log = unum_read_file(srv.log, 1 << 20, NULL);
    CHECK_CONTAINS(log, "\"max_tokens\": 50");
    free(log);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    openai_stub_stop(&srv);
    tui_close(&t);
}

/* The screen's first row (the status bar), in a new string. */
static char *status_row(Tui *t) {
    char *s = screen(t), *nl = strchr(s, '\n');
    if (nl) *nl = 0;
    return s;
}

/* mem_budget = SIZE in the settings file: a bad size is named with its
 * FILE:LINE; a budget with room for the chat model and Whisper, or the
 * chat model and stage 2, but not the three: the status bar shows where
 * Whisper lives, and once a reply escalates, stage 2 in its place (Whisper,
 * not in use between recordings, was unloaded for it). At 80 columns the
 * status bar names stage 2 by role and backend alone and still fits. */
TEST(tui_mem_budget_and_where_models_live) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char *wh = whisper_fixture(&t);
    if (!wh) {
        free(model);
        return;
    }
    char cfg[2048], args[1024];
    /* nothing loads after it (no model: the download is offered), so no
     * later note replaces the error */
    config(&t, "theme = dark\nmem_budget = lots");
    REQUIRE(start(&t, NULL, NULL) == 0);
    CHECK(wait_for(&t, "cfg/unum/config:2: mem_budget: 'lots' is not a size", 20000));
    sh("tmux -L %s kill-server 2>/dev/null", t.sock);
    size_t s = 0, w = 0;
    REQUIRE(!models_estimate(model, 256, &s) && !models_estimate(wh, 0, &w));
    snprintf(cfg, sizeof cfg,
             "model = %s\nstage2 = %s\nescalate_below = 1.01\nstage2_backend = cpu\n"
             "backend = cpu\nctx = 256\nmax_tokens = 6\ntemperature = 0\nmem_budget = %zu",
             model, model, 2 * s + w - 1);
    config(&t, cfg);
    snprintf(args, sizeof args, "--whisper %s", wh);
    REQUIRE(start(&t, NULL, args) == 0);
    REQUIRE(wait_for(&t, "| whisper: whisper-en-f32 on cpu |", 20000)); /* both loaded */
    text(&t, "a question");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "stage 2 answered (tiny-qwen-vocab; stage 1 confidence", 20000));
    CHECK(wait_for(&t, "| stage 2: tiny-qwen-vocab on cpu |", 5000));
    char *row = status_row(&t);
    CHECK(!strstr(row, "whisper"));
    free(row);
    sh("tmux -L %s resize-window -t u -x 80 -y 24", t.sock);
    CHECK(wait_for(&t, "| stage 2 cpu |", 5000));
    row = status_row(&t);
    CHECK(strstr(row, "ctx ") != NULL); /* the line still fits */
    free(row);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    free(wh);
    tui_close(&t);
}

/* stage2 = ... with escalate_below = 1.01 in the settings file: every
 * reply is rewritten by the second stage; the bottom line says so and the
 * store records the model that answered. */
TEST(tui_cascade_shows_the_answering_stage) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "model = %s\nstage2 = %s\nescalate_below = 1.01\nstage2_backend = cpu\n"
             "max_tokens = 6\ntemperature = 0", model, model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "a question");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "stage 2 answered (tiny-qwen-vocab; stage 1 confidence", 20000));
    CHECK(wait_for(&t, "stage 2: tiny-qwen-vocab on cpu", 5000)); /* the status bar, once loaded */
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    char *db = unum_path_join(t.dir, "u.db");
    Store *st = NULL;
    if (store_open(db, &st) == 0) {
        StoreMessage *ms = NULL;
        size_t n = 0;
        CHECK(store_message_list(st, 1, &ms, &n) == 0);
        CHECK_EQ_INT(n, 2);
        if (n == 2) CHECK_STR(ms[1].model, "tiny-qwen-vocab");
        store_messages_free(ms, n);
        store_close(st);
    } else {
        CHECK(0);
    }
    free(db);
    free(model);
    tui_close(&t);
}

/* draft = ... in the settings file: replies are drafted (here by the chat
 * model itself, so every draft is kept) and the bottom line says so. */
TEST(tui_draft_shows_the_share_kept) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "model = %s\ndraft = %s\ndraft_n = 3\nmax_tokens = 6\ntemperature = 0", model,
             model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "a question");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "drafted (100% of drafts kept)", 20000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* ------------------------------------------------------------ meetings */

/* t's database with the meeting clip imported as a recording (into t's
 * recordings folder), its transcript whole when transcribed, and a report
 * when report is not NULL; the recording's row. */
static int64_t library_fixture(Tui *t, int transcribed, const char *report) {
    char db[1024], data[1024];
    snprintf(db, sizeof db, "%s/u.db", t->dir);
    snprintf(data, sizeof data, "%s/data", t->dir);
    char *old = getenv("XDG_DATA_HOME") ? xstrdup(getenv("XDG_DATA_HOME")) : NULL;
    setenv("XDG_DATA_HOME", data, 1);
    Store *st = NULL;
    int64_t rec = 0;
    int existing = 0;
    char *wav = unum_path_join(t->root, "tests/golden/transcribe/meeting16k.wav");
    if (store_open(db, &st) || recording_import(st, wav, &rec, &existing) ||
        store_segment_add(st, rec, 0, 4.5, NULL, "welcome to the budget review", NULL) ||
        (transcribed && store_recording_set_transcribed(st, rec)) ||
        (report && store_report_add_model(st, rec, "standup", "analyst", "m", report, NULL))) {
        printf("  %s\n", unum_error());
        rec = 0;
    }
    store_close(st);
    free(wav);
    if (old) setenv("XDG_DATA_HOME", old, 1);
    else unsetenv("XDG_DATA_HOME");
    free(old);
    return rec;
}

static long long db_int(Tui *t, const char *sql) {
    char db[1024];
    snprintf(db, sizeof db, "%s/u.db", t->dir);
    Store *st = NULL;
    if (store_open(db, &st)) return -1;
    sqlite3_stmt *q = store_prepare(st, sql);
    long long v = q && sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    store_close(st);
    return v;
}

/* The library (F12): the recording listed with its name, length and report
 * count; its report read rendered (markdown markers hidden) and scrolled;
 * renamed (stored); exported as WebVTT through meeting_export; deleted
 * after y, its row, transcript, reports and file gone. */
TEST(tui_meetings_library) {
    Tui t;
    if (tui_open(&t)) return;
    char md[4096];
    int n = snprintf(md, sizeof md, "# Budget report\n\n**Decisions** were taken.\n\n");
    for (int i = 1; i <= 40; i++) n += snprintf(md + n, sizeof md - (size_t)n, "- item %d\n", i);
    int64_t rec = library_fixture(&t, 1, md);
    REQUIRE(rec > 0);
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "F12");
    CHECK(wait_for(&t, "meeting16k", 5000)); /* the copy keeps the file's name */
    CHECK(wait_for(&t, "0:39", 2000));        /* the clip's length */
    keys(&t, "Enter");
    CHECK(wait_for(&t, "report 1 of 1: standup as analyst", 5000));
    char *s = screen(&t);
    CHECK_CONTAINS(s, "Budget report");
    CHECK(!strstr(s, "# Budget") && !strstr(s, "**Decisions"));
    CHECK(!strstr(s, "item 40"));
    free(s);
    keys(&t, "End");
    CHECK(wait_for(&t, "item 40", 3000));
    keys(&t, "Escape");
    CHECK(wait_for(&t, "Meetings:", 3000));
    keys(&t, "R");
    CHECK(wait_for(&t, "Rename recording", 3000));
    for (int i = 0; i < 20; i++) keys(&t, "BSpace");
    text(&t, "Budget review");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "Budget review", 3000));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM recordings WHERE title = 'Budget review'");
    CHECK_EQ_INT(db_int(&t, sql), 1);
    keys(&t, "x");
    CHECK(wait_for(&t, "WebVTT", 3000));
    keys(&t, "Down");
    keys(&t, "Down");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "exported to", 3000));
    char vtt[1024];
    snprintf(vtt, sizeof vtt, "%s/data/unum/exports/recording-%lld.vtt", t.dir, (long long)rec);
    char *body = unum_read_file(vtt, 1 << 20, NULL);
    CHECK(body && !strncmp(body, "WEBVTT", 6));
    CHECK(body && strstr(body, "welcome to the budget review"));
    free(body);
    char *path = NULL;
    char db[1024];
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    Store *st = NULL;
    REQUIRE(store_open(db, &st) == 0);
    path = store_recording_path(st, rec);
    store_close(st);
    REQUIRE(path && unum_file_exists(path));
    keys(&t, "d");
    CHECK(wait_for(&t, "Its file is removed too", 3000));
    keys(&t, "n");
    CHECK(wait_for(&t, "nothing was deleted", 3000));
    CHECK(unum_file_exists(path));
    keys(&t, "d");
    CHECK(wait_for(&t, "Its file is removed too", 3000));
    keys(&t, "y");
    CHECK(wait_for(&t, "and its file", 3000));
    CHECK(wait_for(&t, "no recordings yet", 3000));
    CHECK(!unum_file_exists(path));
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM recordings"), 0);
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM reports"), 0);
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM segments"), 0);
    free(path);
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* The screen with its colours (tmux capture-pane -e). */
static char *screen_sgr(Tui *t) {
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -e -p -t u", t->sock);
    test_shell(":", cmd, &out, NULL);
    return out ? out : xstrdup("");
}

/* The escape sequences (SGR) right before the first needle on the screen
 * s, as a new string ("" when none, NULL when needle is not there). */
static char *sgr_before(const char *s, const char *needle) {
    const char *at = strstr(s, needle);
    if (!at) return NULL;
    const char *from = at;
    while (from > s) { /* back over "\033[...m" runs */
        const char *m = from - 1;
        if (*m != 'm') break;
        const char *e = m;
        while (e > s && *e != '\033') e--;
        if (*e != '\033') break;
        from = e;
    }
    char *r = xmalloc((size_t)(at - from) + 1);
    memcpy(r, from, (size_t)(at - from));
    r[at - from] = 0;
    return r;
}

/* Speakers (segments labelled as a speaker-aware model labels them): the
 * library's v shows the transcript in the pane by label, each speaker in
 * its own colour; s lists the labels, Enter names one, and the pane shows
 * the name at once; the name is stored; Esc goes back to the library. */
TEST(tui_names_a_speaker_and_the_pane_shows_it) {
    Tui t;
    if (tui_open(&t)) return;
    char db[1024], data[1024];
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    snprintf(data, sizeof data, "%s/data", t.dir);
    setenv("XDG_DATA_HOME", data, 1);
    Store *st = NULL;
    int64_t rec = 0;
    int existing = 0;
    char *wav = unum_path_join(t.root, "tests/golden/transcribe/meeting16k.wav");
    int rc = store_open(db, &st) || recording_import(st, wav, &rec, &existing) ||
             store_segment_add(st, rec, 0, 4.5, "S0", "welcome to the budget review", NULL) ||
             store_segment_add(st, rec, 4.5, 9, "S1", "the numbers", NULL) ||
             store_segment_add(st, rec, 9, 12, "S0", "all fine", NULL) ||
             store_recording_set_transcribed(st, rec);
    store_close(st);
    unsetenv("XDG_DATA_HOME");
    free(wav);
    REQUIRE(rc == 0);
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "F12");
    REQUIRE(wait_for(&t, "meeting16k", 5000));
    keys(&t, "v");
    CHECK(wait_for(&t, "S1: the numbers", 5000));
    CHECK(wait_for(&t, "S0: welcome to the budget review", 1000));
    /* two speakers, two colours */
    char *sg = screen_sgr(&t);
    char *c0 = sgr_before(sg, "S0: "), *c1 = sgr_before(sg, "S1: ");
    CHECK(c0 && c1 && c0[0] && c1[0] && strcmp(c0, c1) != 0);
    free(c0), free(c1), free(sg);
    keys(&t, "F12");
    REQUIRE(wait_for(&t, "meeting16k", 5000));
    keys(&t, "s");
    CHECK(wait_for(&t, "Speakers (Enter names", 3000));
    CHECK(wait_for(&t, "(no name)", 1000));
    keys(&t, "Down");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "The name of S1 in recording", 3000));
    text(&t, "Priya");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "S1 is Priya", 3000));
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM speaker_names WHERE recording_id = %lld AND label = 'S1' AND "
             "name = 'Priya'",
             (long long)rec);
    CHECK_EQ_INT(db_int(&t, sql), 1);
    keys(&t, "Escape");
    CHECK(wait_for(&t, "Meetings:", 3000));
    keys(&t, "Escape");
    CHECK(wait_for(&t, "Priya: the numbers", 3000));
    char *s = screen(&t);
    CHECK(!strstr(s, "S1: the num"));
    CHECK_CONTAINS(s, "S0: all fine");
    free(s);
    /* and an empty name shows the label again */
    keys(&t, "F12");
    REQUIRE(wait_for(&t, "meeting16k", 5000));
    keys(&t, "s");
    CHECK(wait_for(&t, "Priya", 3000));
    keys(&t, "Down");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "The name of S1", 3000));
    for (int i = 0; i < 6; i++) keys(&t, "BSpace");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "S1 has no name", 3000));
    keys(&t, "Escape");
    keys(&t, "Escape");
    CHECK(wait_for(&t, "S1: the numbers", 3000));
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM speaker_names"), 0);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* Recording with no speech model: it records (no live transcript), M-p
 * pauses ("paused" in the status bar, no frames while paused) and resumes;
 * the recording is complete and not transcribed. Started again with a
 * speech model, the library's t transcribes it, and the report offer asks
 * for the template and persona. */
TEST(tui_records_without_a_speech_model_pauses_and_transcribes_later) {
    Tui t;
    if (tui_open(&t)) return;
    char *wh = whisper_fixture(&t);
    if (!wh) return;
    char env[2048], args[1024];
    REQUIRE(disk_mic(&t, 18, 1, env, sizeof env) == 0);
    REQUIRE(start(&t, env, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "F5");
    CHECK(wait_for(&t, "without a speech model", 5000));
    CHECK(wait_for(&t, "REC", 5000));
    keys(&t, "M-p");
    CHECK(wait_for(&t, "REC paused", 5000));
    keys(&t, "M-p");
    CHECK(wait_for(&t, "recording resumed", 5000));
    CHECK(wait_gone(&t, "REC paused", 5000));
    sleep(1);
    keys(&t, "F5");
    CHECK(wait_for(&t, "recording stopped", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM recordings WHERE status = 'complete' AND "
                            "transcribed = 0 AND duration_s > 0"),
                 1);
    /* later, with a speech model: t in the library */
    snprintf(args, sizeof args, "-m /nonexistent/model --whisper %s", wh);
    REQUIRE(start(&t, NULL, args) == 0);
    /* the model's load error holds the bottom line: the log has the rest */
    REQUIRE(wait_for(&t, "cannot load the language model", 20000));
    keys(&t, "F9");
    REQUIRE(wait_for(&t, "speech model ready", 20000));
    keys(&t, "Escape");
    keys(&t, "F12");
    CHECK(wait_for(&t, "not transcribed (t)", 5000));
    keys(&t, "t");
    CHECK(wait_for(&t, "transcribed; r in the library", 60000));
    CHECK_EQ_INT(db_int(&t, "SELECT transcribed FROM recordings"), 1);
    CHECK(db_int(&t, "SELECT count(*) FROM segments") >= 1);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    free(wh);
    tui_close(&t);
}

/* A VibeVoice model as the app's speech model: a stored recording
 * transcribed in one pass (t in the library); the random decoder writes no
 * JSON, so its text is kept without a speaker and the message log says
 * why. */
TEST(tui_transcribes_a_recording_with_vibevoice) {
    Tui t;
    if (tui_open(&t)) return;
    char *vv = fixture("vibevoice-tiny");
    REQUIRE(vv);
    char env[2048], args[2048], dir[1200];
    /* the fixture with a short context, so the random output ends soon */
    snprintf(dir, sizeof dir, "%s/vv", t.dir);
    REQUIRE(test_sh(NULL, NULL,
                    "mkdir %s && for f in model.safetensors tokenizer.json tokenizer_config.json "
                    "generation_config.json preprocessor_config.json; do ln -s $(realpath %s)/$f "
                    "%s/$f; done && sed 's/\"max_position_embeddings\":32768/"
                    "\"max_position_embeddings\":400/' %s/config.json > %s/config.json",
                    dir, vv, dir, vv, dir) == 0);
    REQUIRE(disk_mic(&t, 18, 1, env, sizeof env) == 0);
    REQUIRE(start(&t, env, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "F5");
    CHECK(wait_for(&t, "REC", 5000));
    sleep(2);
    keys(&t, "F5");
    CHECK(wait_for(&t, "recording stopped", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    snprintf(args, sizeof args, "-m /nonexistent/model --whisper %s", dir);
    REQUIRE(start(&t, NULL, args) == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 20000));
    keys(&t, "F9");
    REQUIRE(wait_for(&t, "speech model ready", 20000));
    keys(&t, "Escape");
    keys(&t, "F12");
    CHECK(wait_for(&t, "not transcribed (t)", 5000));
    keys(&t, "t");
    /* the warning on the bottom line, then the transcript whole */
    CHECK(wait_for(&t, "speech model: part of the output was not JSON", 60000));
    for (int i = 0; i < 300 && db_int(&t, "SELECT transcribed FROM recordings") != 1; i++)
        usleep(100000);
    CHECK_EQ_INT(db_int(&t, "SELECT transcribed FROM recordings"), 1);
    CHECK(db_int(&t, "SELECT count(*) FROM segments") >= 1);
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM segments WHERE speaker <> ''"), 0);
    keys(&t, "Escape");
    keys(&t, "F9");
    CHECK(wait_for(&t, "transcribed; r in the library", 5000));
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 10000));
    free(vv);
    tui_close(&t);
}

/* A recording whose app was killed: its row still 'recording', its WAV
 * header never patched (sizes 0). The next start offers it; y fixes the
 * header with the audio on disk, completes the row and opens the library. */
TEST(tui_offers_to_recover_an_interrupted_recording) {
    Tui t;
    if (tui_open(&t)) return;
    char dir[1024], path[1200], db[1024];
    snprintf(dir, sizeof dir, "%s/data/unum/recordings", t.dir);
    snprintf(path, sizeof path, "%s/rec-crashed.wav", dir);
    snprintf(db, sizeof db, "%s/u.db", t.dir);
    REQUIRE(sh("mkdir -p %s && cp %s/tests/golden/transcribe/meeting16k.wav %s && "
               "printf '\\000\\000\\000\\000' | dd of=%s bs=1 seek=4 conv=notrunc 2>/dev/null && "
               "printf '\\000\\000\\000\\000' | dd of=%s bs=1 seek=40 conv=notrunc 2>/dev/null",
               dir, t.root, path, path, path) == 0);
    Store *st = NULL;
    int64_t rec = 0;
    REQUIRE(store_open(db, &st) == 0);
    REQUIRE(store_recording_begin(st, path, 16000, 1, 0, &rec) == 0);
    store_close(st);
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    CHECK(wait_for(&t, "ended without being finished", 10000));
    CHECK(wait_for(&t, "rec-crashed.wav", 2000));
    keys(&t, "y");
    CHECK(wait_for(&t, "1 recording recovered", 5000));
    CHECK(wait_for(&t, "not transcribed (t)", 5000));
    CHECK_EQ_INT(db_int(&t, "SELECT count(*) FROM recordings WHERE status = 'complete' AND "
                            "duration_s > 39"),
                 1);
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* ------------------------------------------------------------ persona edits */

/* An edit that breaks the JSON reopens the editor on the user's own text
 * (not the stored persona) with the error as a comment above the line at
 * fault; fixed, with a new "name", the app asks and y renames (no copy);
 * d asks and y deletes. The "editor" is a script that does one step per
 * call and keeps a copy of what it was given. */
TEST(tui_persona_edit_fails_renames_and_deletes) {
    Tui t;
    if (tui_open(&t)) return;
    char ed[1024];
    snprintf(ed, sizeof ed, "%s/ed.sh", t.dir);
    FILE *f = fopen(ed, "w");
    REQUIRE(f);
    fprintf(f,
            "#!/bin/sh\n"
            "n=$(cat %s/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s/count\n"
            "cp \"$1\" %s/seen$n.json\n"
            "case $n in\n"
            "1) sed -i 's/\"system_prompt\":[[:space:]]*\"[^\"]*\"/"
            "\"system_prompt\": \"MINE\" XX/' \"$1\" ;;\n"
            "2) sed -i 's/ XX//; s/\"name\":[[:space:]]*\"[^\"]*\"/"
            "\"name\": \"renamed-one\"/' \"$1\" ;;\n"
            "esac\n",
            t.dir, t.dir, t.dir);
    fclose(f);
    sh("chmod +x %s", ed);
    char env[1200];
    snprintf(env, sizeof env, "EDITOR=%s", ed);
    REQUIRE(start(&t, env, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    char *before = cli(&t, "persona list");
    int n_before = count(before, "\n");
    char first[64] = "";
    sscanf(before, "%63s", first);
    free(before);
    REQUIRE(first[0]);
    keys(&t, "F6");  /* the persona pane, its first persona */
    keys(&t, "M-c"); /* its commands: letters act */
    keys(&t, "e");
    CHECK(wait_for(&t, "Rename?", 10000));
    /* the second opening: the user's text with the error above its line */
    char seen[1200];
    snprintf(seen, sizeof seen, "%s/seen2.json", t.dir);
    char *s2 = unum_read_file(seen, 1 << 20, NULL);
    REQUIRE(s2);
    CHECK_CONTAINS(s2, "\"MINE\" XX");
    const char *note = strstr(s2, "// unum: "), *bad = strstr(s2, "\"MINE\" XX");
    const char *nl = note ? strchr(note, '\n') : NULL;
    CHECK(nl && bad && nl < bad); /* the note, then the line at fault next */
    CHECK(nl && bad && !memchr(nl + 1, '\n', (size_t)(bad > nl ? bad - nl - 1 : 0)));
    CHECK(note && strstr(note, "not valid JSON"));
    free(s2);
    CHECK(wait_for(&t, "to 'renamed-one'", 3000));
    keys(&t, "y");
    CHECK(wait_for(&t, "renamed to 'renamed-one'", 5000));
    char *after = cli(&t, "persona list");
    CHECK_EQ_INT(count(after, "\n"), n_before);
    CHECK_CONTAINS(after, "renamed-one");
    char was[80];
    snprintf(was, sizeof was, "%s\t", first);
    CHECK(!strstr(after, was));
    free(after);
    char *shown = cli(&t, "persona show renamed-one");
    CHECK_CONTAINS(shown, "MINE");
    free(shown);
    /* delete: n keeps it, y deletes it */
    keys(&t, "F6");
    for (int i = 0; i < 8; i++) keys(&t, "Down"); /* renamed-one sorts last */
    keys(&t, "M-c");
    keys(&t, "d");
    CHECK(wait_for(&t, "Delete persona 'renamed-one'?", 5000));
    keys(&t, "n");
    CHECK(wait_for(&t, "nothing was deleted", 3000));
    keys(&t, "d");
    CHECK(wait_for(&t, "Delete persona 'renamed-one'?", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "persona 'renamed-one' deleted", 5000));
    after = cli(&t, "persona list");
    CHECK_EQ_INT(count(after, "\n"), n_before - 1);
    CHECK(!strstr(after, "renamed-one"));
    free(after);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* ------------------------------------------------------------ help */

/* The rows of screen s from column x, w columns each, with the text's
 * runs of spaces made one (new string, rows joined by spaces). */
static char *screen_columns(const char *s, int x, int w) {
    size_t cap = strlen(s) + 2, n = 0;
    char *out = xmalloc(cap);
    for (const char *l = s; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        size_t skip = tw_fit(l, len, x, NULL), take = tw_fit(l + skip, len - skip, w, NULL);
        for (size_t i = skip; i < skip + take; i++) {
            char c = l[i];
            if (c == ' ' && n && out[n - 1] == ' ') continue;
            out[n++] = c;
        }
        if (n && out[n - 1] != ' ') out[n++] = ' ';
        l += len + (end != NULL);
    }
    out[n] = 0;
    return out;
}

/* F1 at 80x24: every action's and every editor key's help is on some page
 * whole (wrapped inside the overlay, never cut at its edge); the editor's
 * fixed keys are listed. */
TEST(tui_help_fits_80x24) {
    Tui t;
    if (tui_open(&t)) return;
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    sh("tmux -L %s resize-window -t u -x 80 -y 24", t.sock);
    usleep(300 * 1000);
    keys(&t, "F1");
    REQUIRE(wait_for(&t, "quit unum", 5000));
    /* the overlay is 72 columns at 80: its body starts at column 6, 68 wide */
    char *pages[12];
    int n_pages = 0;
    for (; n_pages < 12; n_pages++) {
        char *s = screen(&t);
        pages[n_pages] = screen_columns(s, 6, 68);
        int last = n_pages && !strcmp(pages[n_pages], pages[n_pages - 1]);
        free(s);
        if (last) {
            free(pages[n_pages]);
            break;
        }
        keys(&t, "NPage");
        usleep(200 * 1000);
    }
    CHECK(n_pages > 1);
    const char *editor_keys[] = {"Message editor (fixed keys)", "delete the word before the cursor",
                                 "go to the start or the end of the line"};
    for (int a = 0; a < KEYS_N_ACTIONS + 3; a++) {
        const char *want = a < KEYS_N_ACTIONS ? keys_action_description((KeyAction)a)
                                              : editor_keys[a - KEYS_N_ACTIONS];
        int found = 0;
        for (int p = 0; p < n_pages && !found; p++) found = strstr(pages[p], want) != NULL;
        if (!found)
            test_fail(__FILE__, __LINE__, "the help at 80x24 does not show \"%s\" whole", want);
    }
    for (int p = 0; p < n_pages; p++) free(pages[p]);
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* ------------------------------------------------------------ errors, keys, mouse */

/* Errors at start (a bad settings line, a missing theme, a database that
 * cannot be opened) used to be replaced within a second by "model loaded":
 * the first stays on the bottom line until a key, the count of the others
 * with it, the chat says that nothing will be saved, and F9 lists them all
 * with the notes that came after. */
TEST(tui_errors_stay_on_screen_and_in_the_log) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nbogus = 1", model);
    config(&t, cfg);
    sh("mkdir -p %s/u.db", t.dir); /* a folder where the database should be */
    REQUIRE(start(&t, NULL, "--theme nosuch") == 0);
    REQUIRE(wait_for(&t, "| tiny-qwen-vocab |", 20000)); /* loaded: the status bar says so */
    usleep(300 * 1000);
    char *s = screen(&t);
    CHECK_CONTAINS(s, "unknown setting \"bogus\"");
    CHECK_CONTAINS(s, "(2 more: F9 shows them)");
    CHECK(!strstr(s, "model loaded"));
    CHECK_CONTAINS(s, "Chat (not saved)");
    CHECK_CONTAINS(s, "The database could not be opened: nothing in this session will");
    free(s);
    keys(&t, "F9");
    CHECK(wait_for(&t, "Messages, newest last", 5000));
    s = screen(&t);
    CHECK_CONTAINS(s, "error: ");
    CHECK_CONTAINS(s, "config:2: unknown setting");
    CHECK_CONTAINS(s, "nosuch");
    CHECK_CONTAINS(s, "database:");
    CHECK_CONTAINS(s, "model loaded");
    free(s);
    keys(&t, "Escape");
    CHECK(wait_gone(&t, "Messages, newest last", 5000));
    keys(&t, "F4"); /* after a key, notes show again */
    CHECK(wait_for(&t, "(remembered in", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* The README's settings example, a comment after the value, loads the
 * model it names; a key file with a bad line says which line and applies
 * the others (F10 quits here). */
TEST(tui_settings_comment_and_bad_key_line) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s    # directory or repo id (see below)\ntheme = mono  # m", model);
    config(&t, cfg);
    sh("printf 'help = NoSuchKey\\nquit = F10 C-q\\n' > %s/cfg/unum/keys", t.dir);
    REQUIRE(start(&t, NULL, NULL) == 0);
    CHECK(wait_for(&t, "keys:1: unknown key 'NoSuchKey'", 10000));
    CHECK(wait_for(&t, "| tiny-qwen-vocab |", 20000));
    keys(&t, "F10");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* The first-run dialog at 40x12, 80x24, 120x40 and 200x60: its text is
 * wrapped, never cut, its three choices are all in sight, and the settings
 * folder it names exists. */
TEST(tui_first_run_dialog_fits_every_size) {
    Tui t;
    if (tui_open(&t)) return;
    static const int size[][2] = {{40, 12}, {80, 24}, {120, 40}, {200, 60}};
    for (int i = 0; i < 4; i++) {
        sh("rm -rf %s/cfg", t.dir);
        REQUIRE(start_at(&t, size[i][0], size[i][1], NULL, NULL) == 0);
        if (!wait_for(&t, "First run", 10000)) break;
        usleep(300 * 1000);
        char *s = screen(&t);
        printf("  %dx%d\n", size[i][0], size[i][1]);
        if (getenv("UNUM_SHOW")) printf("%s\n", s);
        CHECK_CONTAINS(s, "y: download now");
        CHECK_CONTAINS(s, "o: open a model folder");
        CHECK_CONTAINS(s, "n: not now");
        CHECK_CONTAINS(s, "MB)"); /* the question above them, to its end */
        if (size[i][0] >= 80) { /* room for the whole text too */
            CHECK_CONTAINS(s, "Esc stops it.");
            CHECK_CONTAINS(s, "or start with -m DIR."); /* the end of the text */
            CHECK_CONTAINS(s, "none was found on this machine.");
            CHECK_CONTAINS(s, "openai/whisper-base");
            CHECK_CONTAINS(s, "huggingface.co");
            CHECK_CONTAINS(s, "Qwen2.5-0.5B-Instruct?"); /* the end of the question */
        }
        free(s);
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/cfg/unum", t.dir);
        struct stat sb;
        CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
        keys(&t, "n");
        keys(&t, "C-q");
        CHECK(wait_for(&t, "EXIT=0", 5000));
    }
    tui_close(&t);
}

/* No model: the chat gives one instruction with both ways out, and a model
 * folder typed into the app's prompt (with the editor's keys) is loaded and,
 * when the user says so, remembered in the settings file. */
TEST(tui_no_model_opens_a_folder_and_remembers_it) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "First run", 10000));
    keys(&t, "n");
    CHECK(wait_for(&t, "No language model. Press C-o to open a model folder now.", 5000));
    CHECK(wait_for(&t, "`unum pull", 5000));
    CHECK(wait_for(&t, "Qwen2.5-0.5B-Instruct`.", 5000));
    keys(&t, "C-o");
    CHECK(wait_for(&t, "Open a model folder", 5000));
    text(&t, "/nonexistent/model");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "/nonexistent/model", 5000));
    CHECK(wait_for(&t, "Open a model folder", 2000)); /* still open, the error below */
    keys(&t, "C-u"); /* the editor's keys: clear, then type */
    char path[1100];
    snprintf(path, sizeof path, "%s", model);
    size_t n = strlen(path);
    text(&t, path + 1); /* all but the leading '/', typed after Home */
    keys(&t, "Home");
    text(&t, "/");
    (void)n;
    keys(&t, "Enter");
    CHECK(wait_for(&t, "Remember", 20000));
    CHECK(wait_for(&t, "| tiny-qwen-vocab |", 5000));
    keys(&t, "y");
    CHECK(wait_for(&t, "saved in", 5000));
    snprintf(path, sizeof path, "%s/cfg/unum/config", t.dir);
    char *c = unum_read_file(path, 1 << 16, NULL), want[1200];
    snprintf(want, sizeof want, "model = %s\n", model);
    CHECK(c && strstr(c, want));
    free(c);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* Typing with a side pane focused writes the message ("e" used to open an
 * editor); the pane's letters act only in its command mode, whose title
 * says so; at 80 columns Esc leaves a side pane shown alone. */
TEST(tui_typing_goes_to_the_message_in_any_pane) {
    Tui t;
    if (tui_open(&t)) return;
    char env[256];
    snprintf(env, sizeof env, "EDITOR=/bin/false");
    REQUIRE(start(&t, env, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    CHECK(wait_for(&t, "\xe2\x96\xb8 Chat", 2000)); /* the focus is marked */
    keys(&t, "Tab");
    keys(&t, "Tab"); /* the persona pane */
    CHECK(wait_for(&t, "\xe2\x96\xb8 Persona (Enter use, M-c keys)", 5000));
    text(&t, "en");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Chat", 5000));
    char *s = screen(&t);
    CHECK(!strstr(s, "editor exited"));
    CHECK_CONTAINS(s, "\xe2\x94\x82" "en "); /* the message box holds the text */
    free(s);
    keys(&t, "Tab");
    keys(&t, "Tab");
    keys(&t, "M-c");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Persona: e edit, n new", 5000));
    keys(&t, "e"); /* now a command: the editor runs (and fails) */
    CHECK(wait_for(&t, "the editor exited with status", 5000));
    keys(&t, "Escape");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Persona (Enter use", 5000));
    /* 80 columns: one pane at a time; Esc goes back to the chat */
    sh("tmux -L %s resize-window -t u -x 80 -y 24", t.sock);
    CHECK(wait_gone(&t, "Transcript", 5000));
    keys(&t, "Escape");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Chat", 5000));
    keys(&t, "M-z"); /* zoom is M-z (or F11) now */
    keys(&t, "Escape");
    CHECK(wait_for(&t, "\xe2\x96\xb8 Chat", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* Ctrl-Z stops the process as in any terminal program (here under an
 * interactive shell, whose job control says "Stopped") and fg brings the
 * screen back; Ctrl-C with nothing running says that a second one quits,
 * and the second one does. */
TEST(tui_ctrl_z_suspends_and_ctrl_c_twice_quits) {
    Tui t;
    if (tui_open(&t)) return;
    if (test_shell(":", "command -v bash", NULL, NULL)) {
        tui_close(&t);
        test_skip("needs bash for job control");
        return;
    }
    REQUIRE(sh("tmux -L %s new-session -d -s u -x 110 -y 32 'env PS1=$ bash --norc --noprofile -i'",
               t.sock) == 0);
    char line[2048];
    snprintf(line, sizeof line,
             "env HOME=%s XDG_CONFIG_HOME=%s/cfg XDG_DATA_HOME=%s/data XDG_STATE_HOME=%s/state "
             "%s --db %s/u.db -m /nonexistent/model; echo EXIT=$?",
             t.dir, t.dir, t.dir, t.dir, t.bin, t.dir);
    text(&t, line);
    keys(&t, "Enter");
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    keys(&t, "C-z");
    CHECK(wait_for(&t, "Stopped", 5000)); /* the shell's job control has it */
    CHECK(wait_gone(&t, "unum |", 5000)); /* the terminal is the shell's again */
    text(&t, "fg");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "unum |", 5000)); /* drawn again */
    keys(&t, "C-c");
    CHECK(wait_for(&t, "Ctrl-C again quits", 5000));
    keys(&t, "F4"); /* another key in between: the next Ctrl-C only warns */
    keys(&t, "C-c");
    CHECK(wait_for(&t, "Ctrl-C again quits", 5000));
    keys(&t, "C-c");
    CHECK(wait_gone(&t, "unum |", 5000));
    text(&t, "echo FG=$?"); /* fg's status is the app's */
    keys(&t, "Enter");
    CHECK(wait_for(&t, "FG=0", 5000));
    tui_close(&t);
}

/* Row row of screen scr: the text inside the chat pane's borders. */
static char *chat_row(const char *scr, int row) {
    const char *l = scr;
    for (int i = 0; i < row && l; i++) l = strchr(l, '\n'), l = l ? l + 1 : NULL;
    if (!l) return xstrdup("");
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    /* the chat pane: the text between its left border and the next one */
    const char *b = strstr(l, "\xe2\x94\x82");
    const char *from = b && b < l + n ? b + 3 : l;
    const char *c = strstr(from, "\xe2\x94\x82");
    if (!c || c > l + n) c = l + n;
    char *out = xmalloc((size_t)(c - from) + 1);
    memcpy(out, from, (size_t)(c - from));
    out[c - from] = 0;
    return out;
}

/* Paging the chat: the view holds still while a reply grows below it,
 * Ctrl-C stops the reply, PgDn moves by the pane's height (one row shared),
 * M-< and M-> go to the ends. Copy says where the text went (tmux's buffer
 * here); the rename field takes the editor's keys, and a long title does
 * not push the count and the local time off the row. */
TEST(tui_pages_hold_still_copy_and_rename) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 2500\ntemperature = 0", model);
    config(&t, cfg);
    REQUIRE(start(&t, "DISPLAY= WAYLAND_DISPLAY= TZ=NPT-5:45", NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    char msg[4000];
    size_t n = 0;
    for (int i = 1; i <= 400; i++) n += (size_t)snprintf(msg + n, sizeof msg - n, "w%03d ", i);
    msg[n - 1] = 0;
    text(&t, msg);
    keys(&t, "Enter");
    CHECK(wait_for(&t, "(writing; Esc cancels)", 10000));
    keys(&t, "PPage");
    usleep(300 * 1000);
    char *a1 = screen(&t);
    usleep(1000 * 1000); /* the reply grows meanwhile (a few seconds' worth of tokens left) */
    char *a2 = screen(&t);
    CHECK_CONTAINS(a2, "reply in progress"); /* it grew all along */
    for (int r = 2; r < 24; r++) {
        char *x = chat_row(a1, r), *y = chat_row(a2, r);
        CHECK_STR(y, x);
        free(x), free(y);
    }
    free(a1), free(a2);
    keys(&t, "C-c"); /* Ctrl-C stops the reply, as Esc does */
    CHECK(wait_for(&t, "reply cancelled", 10000));
    keys(&t, "'M-<'");
    CHECK(wait_for(&t, "\xe2\x94\x82 w001 w002", 5000)); /* the first row, not the title */
    char *top = screen(&t);
    keys(&t, "NPage");
    usleep(300 * 1000);
    char *next = screen(&t);
    CHECK(!strstr(next, "\xe2\x94\x82 w001 w002"));
    /* the last row of one page is the first of the next */
    int last = 0;
    for (int r = 2; r < 32; r++) {
        char *x = chat_row(top, r);
        if (strstr(x, "\xe2\x94\x80")) { /* the bottom border */
            free(x);
            break;
        }
        last = r;
        free(x);
    }
    char *x = chat_row(top, last), *y = chat_row(next, 2);
    CHECK_STR(y, x);
    free(x), free(y), free(top), free(next);
    keys(&t, "'M-<'");
    CHECK(wait_for(&t, "\xe2\x94\x82 w001 w002", 5000));
    keys(&t, "'M->'");
    CHECK(wait_gone(&t, "\xe2\x94\x82 w001 w002", 5000));
    CHECK(wait_for(&t, "[cancelled]", 5000));
    /* copy: tmux's paste buffer, and the note says so */
    keys(&t, "C-y");
    CHECK(wait_for(&t, "to tmux's paste buffer", 5000));
    char cmd[256], *buf = NULL;
    snprintf(cmd, sizeof cmd, "tmux -L %s show-buffer", t.sock);
    test_shell(":", cmd, &buf, NULL);
    CHECK(buf && buf[0]);
    free(buf);
    /* rename with the editor's keys, to a title longer than the row */
    keys(&t, "F2");
    CHECK(wait_for(&t, "w001 w002", 5000));
    keys(&t, "r");
    keys(&t, "C-u");
    text(&t, "tail");
    keys(&t, "C-a");
    char lng[200];
    snprintf(lng, sizeof lng, "%s", "a very long title ");
    for (int i = 0; i < 6; i++) strcat(lng, "that goes on ");
    text(&t, lng);
    keys(&t, "Enter");
    CHECK(wait_for(&t, "a very long title that goes on", 5000));
    char *s = screen(&t);
    CHECK_CONTAINS(s, "2 messages");
    CHECK(!strstr(s, "msgs"));
    char *list = cli(&t, "sessions list"), upd[64] = "", when[64];
    sscanf(list, "%*s %63s", upd);
    setenv("TZ", "NPT-5:45", 1);
    tzset();
    when_local(upd, when, sizeof when);
    unsetenv("TZ");
    tzset();
    CHECK_CONTAINS(s, when); /* the time in the app's time zone */
    free(list);
    free(s);
    char *shown = cli(&t, "sessions list");
    CHECK_CONTAINS(shown, "a very long title");
    CHECK_CONTAINS(shown, "that goes on tail");
    free(shown);
    keys(&t, "Escape");
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(model);
    tui_close(&t);
}

/* Writes the bytes of an X10 mouse report (what tmux-256color's kmous
 * announces) for button b at column x, row y (0-based). */
static void mouse(Tui *t, int b, int x, int y) {
    sh("tmux -L %s send-keys -t u -H 1b 5b 4d %02x %02x %02x", t->sock, 32 + b, 33 + x, 33 + y);
    usleep(200 * 1000);
}

/* A click focuses the pane under it, the wheel moves a list's selection,
 * Home and End go to its ends; mouse = off leaves the mouse to the
 * terminal. */
TEST(tui_mouse_focuses_and_scrolls) {
    Tui t;
    if (tui_open(&t)) return;
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "tmux -L %s display -p -t u '#{mouse_any_flag}#{mouse_standard_flag}'",
             t.sock);
    test_shell(":", cmd, &out, NULL);
    CHECK(out && strchr(out, '1')); /* the app asked for the mouse */
    free(out);
    /* 110 x 32: the persona pane is rows 13-19 of the right column; row 14
     * is its first persona */
    mouse(&t, 0, 80, 14);
    mouse(&t, 3, 80, 14); /* the release */
    CHECK(wait_for(&t, "\xe2\x96\xb8 Persona", 5000));
    keys(&t, "Enter");
    CHECK(wait_for(&t, "conditions the replies", 5000));
    char *s = screen(&t), first[64] = "";
    const char *q = strstr(s, "persona '");
    if (q) sscanf(q + 9, "%63[^']", first);
    free(s);
    mouse(&t, 65, 80, 16); /* the wheel, towards the user: the next one */
    keys(&t, "Enter");
    usleep(300 * 1000);
    s = screen(&t);
    char second[64] = "";
    q = strstr(s, "persona '");
    if (q) sscanf(q + 9, "%63[^']", second);
    free(s);
    CHECK(first[0] && second[0] && strcmp(first, second));
    /* Home and End in the list: its first and last rows */
    keys(&t, "End");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "persona 'engineer'", 5000)); /* the built-ins, sorted */
    keys(&t, "Home");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "persona 'analyst'", 5000));
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    config(&t, "mouse = off");
    REQUIRE(start(&t, NULL, "-m /nonexistent/model") == 0);
    REQUIRE(wait_for(&t, "cannot load the language model", 10000));
    test_shell(":", cmd, &out, NULL);
    CHECK(out && !strchr(out, '1'));
    free(out);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    tui_close(&t);
}

/* The configured persona's adapters write its replies: the status bar then
 * names them; a persona whose adapter folder is gone gets no reply, and the
 * bottom line names the folder. */
TEST(tui_persona_adapters_answer_and_show) {
    Tui t;
    if (tui_open(&t)) return;
    char *model = chat_fixture(&t);
    if (!model) return;
    char *ad = fixture("lora-qv-a");
    if (!ad) {
        free(model);
        tui_close(&t);
        test_skip("no lora-qv-a fixture (needs npm)");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "printf '%%s' '{\"name\": \"tuned\", \"system_prompt\": \"Be brief.\", \"adapters\": "
             "[{\"path\": \"%s\", \"scale\": 0.5}]}' > %s/p.json && "
             "printf '%%s' '{\"name\": \"gone\", \"system_prompt\": \"Be brief.\", \"adapters\": "
             "[{\"path\": \"/nonexistent/lora-gone\"}]}' > %s/g.json",
             ad, t.dir, t.dir);
    REQUIRE(test_shell(":", cmd, NULL, NULL) == 0);
    snprintf(cmd, sizeof cmd, "persona import %s/p.json", t.dir);
    free(cli(&t, cmd));
    snprintf(cmd, sizeof cmd, "persona import %s/g.json", t.dir);
    free(cli(&t, cmd));
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 6\ntemperature = 0\npersona = tuned", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "hello");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "| tuned | lora lora-qv-a:0.5", 20000));
    sh("tmux -L %s kill-server", t.sock);
    snprintf(cfg, sizeof cfg, "model = %s\nmax_tokens = 6\ntemperature = 0\npersona = gone", model);
    config(&t, cfg);
    REQUIRE(start(&t, NULL, NULL) == 0);
    REQUIRE(wait_for(&t, "model loaded", 20000));
    text(&t, "hello again");
    keys(&t, "Enter");
    CHECK(wait_for(&t, "reply failed", 20000));
    CHECK(wait_for(&t, "lora-gone", 2000));
    char *s = cli(&t, "sessions show 2");
    CHECK_CONTAINS(s, "hello again");
    CHECK(!strstr(s, "[assistant]")); /* nothing was written in its place */
    free(s);
    keys(&t, "C-q");
    CHECK(wait_for(&t, "EXIT=0", 5000));
    free(ad);
    free(model);
    tui_close(&t);
}
