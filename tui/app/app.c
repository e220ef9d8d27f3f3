/* app.c - see app.h.
 *
 * Layout (columns W, rows H):
 *
 *   row 0        status bar: model, backend, tok/s, context, REC + level
 *   rows 1..     panes: chat on the left; transcript, persona and template
 *                stacked on the right (from 100 columns on; narrower, the
 *                focused pane takes the whole area); a zoomed pane takes it
 *                at any width
 *   last rows    the input editor (1 to 6 text rows, grows with its text)
 *   last row     key hints, or the latest message
 *
 * The main loop redraws only after something changed, then sleeps in
 * poll() on the keyboard and the worker's event pipe (100 ms while
 * recording, for the level meter). */
#include "tui/app/app.h"
#include "tui/app/pane.h"

#include "tui/core/appconfig.h"
#include "tui/core/adapterset.h"
#include "tui/core/args.h"
#include "tui/core/recordings.h"
#include "audio/capture.h"
#include "tui/app/editor.h"
#include "tui/app/keys.h"
#include "tui/app/markdown.h"
#include "engine/modeldir.h"
#include "engine/remote.h"
#include "store/persona.h"
#include "engine/pull.h"
#include "store/meeting_store.h"
#include "store/recording.h"
#include "store/search.h"
#include "store/session.h"
#include "store/store.h"
#include "store/template.h"
#include "tui/app/textwrap.h"
#include "tui/app/theme.h"
#include "engine/base/paths.h"
#include "engine/base/util.h"
#include "tui/core/worker.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

/* The first-run download of the default models runs in the engine thread
 * (worker_pull); its progress events fill Download. */

static App *g_app; /* for the signal handlers */

/* ------------------------------------------------------------ messages */

/* Every note goes to the log (F9). An error stays on the bottom line until
 * the next key: notes that come meanwhile are only logged, and errors are
 * counted ("N more"), so that "model loaded" cannot hide a start-up error. */
void app_note(App *a, int err, const char *fmt, ...) {
    char msg[sizeof a->note];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\t') *c = ' ';
    msglog_add(a, err, msg);
    a->dirty = 1;
    if (a->note_sticky) return; /* an alert is waiting for Esc */
    if (a->note_hold) {
        a->note_more += err;
        return;
    }
    memcpy(a->note, msg, sizeof msg);
    a->note_err = err;
    a->note_hold = err;
    a->note_more = 0;
}

/* An error that stopped something the user started (a recording, a voice
 * message): shown until Esc acknowledges it, whatever notes come after. */
static void alert(App *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void alert(App *a, const char *fmt, ...) {
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->note_sticky = 0;
    a->note_hold = 0;
    app_note(a, 1, "[Esc] %s", msg);
    a->note_sticky = 1;
}

/* ------------------------------------------------------------ terminal */

static volatile sig_atomic_t curses_on;

static void term_restore(void) {
    if (curses_on) {
        fputs("\033[?2004l", stdout); /* bracketed paste off */
        fflush(stdout);
        endwin();
        curses_on = 0;
    }
}

/* A crash or a signal restores the terminal before the process ends. */
static void on_fatal(int sig) {
    term_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void term_start(App *a) {
    initscr();
    curses_on = 1;
    raw();
    noecho();
    nonl(); /* Enter is \r, Ctrl-J is \n: two keys */
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(1);
    nodelay(stdscr, TRUE);
    fputs("\033[?2004h", stdout); /* bracketed paste on */
    fflush(stdout);
    int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on_fatal);
    signal(SIGINT, SIG_IGN); /* Ctrl-C is a key here, not a signal (raw mode) */
    getmaxyx(stdscr, a->H, a->W);
}

/* stderr goes to a log file so that nothing a library prints lands on the
 * screen: $XDG_STATE_HOME/unum/unum.log (else ~/.local/state/unum). */
static void stderr_to_log(void) {
    char *dir = unum_xdg_path(UNUM_XDG_STATE, NULL), *log = NULL;
    if (dir && !unum_mkdir_p(dir, 0700)) log = unum_path_join(dir, "unum.log");
    int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    free(log);
    free(dir);
    if (fd < 0) fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
}

/* ------------------------------------------------------------ keys and text */

/* A key code of keys.h for an ncurses KEY_* code. */

/* The UTF-8 form of code point c into u (4 bytes at most); its length. */
int ui_utf8_put(unsigned c, char *u) {
    if (c < 0x80) return u[0] = (char)c, 1;
    if (c < 0x800) return u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 63)), 2;
    if (c < 0x10000)
        return u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | (c >> 6 & 63)),
               u[2] = (char)(0x80 | (c & 63)), 3;
    return u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | (c >> 12 & 63)),
           u[2] = (char)(0x80 | (c >> 6 & 63)), u[3] = (char)(0x80 | (c & 63)), 4;
}

/* ------------------------------------------------------------ drawing helpers */

/* Writes at most cols display columns of s at (y, x); returns columns used. */
int ui_put(int y, int x, const char *s, size_t n, int cols) {
    if (cols <= 0) return 0;
    int used = 0;
    size_t k = tw_fit(s, n, cols, &used);
    mvaddnstr(y, x, s, (int)k);
    return used;
}

void ui_fill(int y, int x, int cols) {
    for (int i = 0; i < cols; i++) mvaddch(y, x + i, ' ');
}

static void hline_at(int y, int x, int cols) {
    for (int i = 0; i < cols; i++) mvaddstr(y, x + i, "\xe2\x94\x80"); /* ─ */
}

void ui_box(int y, int x, int h, int w, const char *title, int focused) {
    if (h < 2 || w < 2) return;
    attr_t b = theme_attr(focused ? THEME_BORDER_FOCUS : THEME_BORDER);
    attrset(b);
    mvaddstr(y, x, "\xe2\x94\x8c"); /* ┌ */
    hline_at(y, x + 1, w - 2);
    mvaddstr(y, x + w - 1, "\xe2\x94\x90"); /* ┐ */
    for (int r = 1; r < h - 1; r++) {
        mvaddstr(y + r, x, "\xe2\x94\x82"); /* │ */
        mvaddstr(y + r, x + w - 1, "\xe2\x94\x82");
    }
    mvaddstr(y + h - 1, x, "\xe2\x94\x94"); /* └ */
    hline_at(y + h - 1, x + 1, w - 2);
    mvaddstr(y + h - 1, x + w - 1, "\xe2\x94\x98"); /* ┘ */
    if (title && w > 6) {
        /* the focused pane's title is marked as well as coloured, so that
         * the focus shows in any theme, mono included */
        attrset(theme_attr(focused ? THEME_TITLE_FOCUS : THEME_TITLE) | (focused ? A_BOLD : 0));
        mvaddstr(y, x + 2, " ");
        int u = focused ? ui_put(y, x + 3, "\xe2\x96\xb8 ", 4, w - 6) : 0; /* ▸ */
        u += ui_put(y, x + 3 + u, title, strlen(title), w - 6 - u);
        mvaddstr(y, x + 3 + u, " ");
    }
    attrset(A_NORMAL);
}

/* ------------------------------------------------------------ store and lists */

static void msg_free(Msg *m) {
    free(m->audio);
    free(m->role);
    free(m->text);
    md_free(&m->doc);
    memset(m, 0, sizeof *m);
}
void app_msg_free(Msg *m) { msg_free(m); }

static Msg *msg_push(App *a, const char *role, const char *text) {
    if (a->n_msgs == a->cap_msgs) {
        a->cap_msgs = a->cap_msgs ? 2 * a->cap_msgs : 16;
        a->msgs = xrealloc(a->msgs, sizeof *a->msgs * (size_t)a->cap_msgs);
    }
    Msg *m = &a->msgs[a->n_msgs++];
    memset(m, 0, sizeof *m);
    m->role = xstrdup(role);
    m->text = xstrdup(text);
    m->doc_cols = -1;
    return m;
}

static void chat_clear(App *a) {
    for (int i = 0; i < a->n_msgs; i++) msg_free(&a->msgs[i]);
    a->n_msgs = 0;
    a->scroll = 0;
    a->selecting = 0, a->sel = 0;
}

void app_lists_reload(App *a) {
    store_personas_free(a->personas, a->n_personas);
    store_templates_free(a->templates, a->n_templates);
    a->personas = NULL, a->templates = NULL, a->n_personas = a->n_templates = 0;
    if (!a->st) return;
    if (store_persona_list(a->st, &a->personas, &a->n_personas))
        app_note(a, 1, "%s", unum_error());
    if (store_template_list(a->st, &a->templates, &a->n_templates))
        app_note(a, 1, "%s", unum_error());
    if (a->persona_sel >= (int)a->n_personas) a->persona_sel = (int)a->n_personas - 1;
    if (a->template_sel >= (int)a->n_templates) a->template_sel = (int)a->n_templates - 1;
    if (a->persona_sel < 0) a->persona_sel = 0;
    if (a->template_sel < 0) a->template_sel = 0;
}

void app_session_load(App *a, int64_t id) {
    chat_clear(a);
    StoreSession s;
    if (store_session_get(a->st, id, &s)) {
        app_note(a, 1, "%s", unum_error());
        return;
    }
    a->session = id;
    free(a->session_title);
    a->session_title = xstrdup(s.title);
    if (s.persona[0]) {
        free(a->persona);
        a->persona = xstrdup(s.persona);
    }
    store_session_free(&s);
    StoreMessage *m = NULL;
    size_t n = 0;
    if (store_message_list(a->st, id, &m, &n)) {
        app_note(a, 1, "%s", unum_error());
        return;
    }
    for (size_t i = 0; i < n; i++) { /* the branch in view (store/session.h) */
        const char *text = m[i].content;
        Msg *g = msg_push(a, m[i].role, text);
        g->cancelled = m[i].status == STORE_MSG_CANCELLED;
        g->partial = m[i].status == STORE_MSG_PARTIAL;
        g->id = m[i].id;
        g->sibling = m[i].sibling, g->n_siblings = m[i].n_siblings;
        /* a voice message: its clip is the recording it names */
        double secs;
        long long rec;
        StoreRecording r;
        if (sscanf(text, "[voice message, %lf s, recording %lld]", &secs, &rec) == 2 &&
            !store_recording_get(a->st, rec, &r)) {
            g->audio = xstrdup(r.path);
            store_recording_free(&r);
        }
    }
    store_messages_free(m, n);
    a->dirty = 1;
}

/* The session the next message goes to: created on the first message. */
static int session_ensure(App *a, const char *first_text) {
    if (a->session || !a->st) return 0;
    char title[64];
    size_t k = tw_fit(first_text, strlen(first_text), 40, NULL);
    snprintf(title, sizeof title, "%.*s", (int)k, first_text);
    for (char *c = title; *c; c++)
        if (*c == '\n') *c = ' ';
    const char *slash = a->model_dir ? strrchr(a->model_dir, '/') : NULL;
    const char *model = slash ? slash + 1 : a->model_dir ? a->model_dir : "";
    if (store_session_create(a->st, title, model, a->persona ? a->persona : "", &a->session))
        return app_note(a, 1, "%s", unum_error()), -1;
    free(a->session_title);
    a->session_title = xstrdup(title);
    return 0;
}

static void store_msg(App *a, Msg *m, int tokens, double ms) {
    if (!a->st || session_ensure(a, m->text)) return;
    history_store(a, m, tokens, ms);
}

/* ------------------------------------------------------------ chat */

static char *system_prompt(App *a) {
    if (!a->persona || !a->st) return NULL;
    Persona p;
    if (store_persona_get(a->st, a->persona, &p)) return NULL;
    char *s = persona_system_prompt(&p);
    persona_free(&p);
    return s;
}

/* The chosen persona's adapters answer the next reply (none without one). */
static void chat_adapters(App *a) {
    LoraSpec *s = NULL;
    int n = 0;
    Persona p;
    if (a->persona && a->st && !store_persona_get(a->st, a->persona, &p)) {
        adapterset_append(&p.adapters, &s, &n);
        persona_free(&p);
    }
    worker_chat_adapters(a->wk, s, n);
    lora_specs_free(s, n);
}

/* Sends the conversation so far to the worker and opens the reply. */
void app_ask(App *a) {
    if (!a->loaded) {
        app_note(a, 1, a->loading ? "the model is still loading" : "no language model is loaded");
        return;
    }
    char *sys = system_prompt(a);
    ChatMsg *cm = xcalloc((size_t)a->n_msgs + 2, sizeof *cm);
    const char **audio = xcalloc((size_t)a->n_msgs + 2, sizeof *audio);
    int k = 0, voice = 0;
    if (sys) cm[k++] = (ChatMsg){"system", sys, 0};
    for (int i = 0; i < a->n_msgs; i++)
        if (strcmp(a->msgs[i].role, "system")) {
            audio[k] = a->msgs[i].audio;
            voice |= a->msgs[i].audio != NULL;
            cm[k++] = (ChatMsg){a->msgs[i].role, a->msgs[i].text, 0};
        }
    chat_adapters(a);
    worker_chat(a->wk, cm, voice ? audio : NULL, k, &a->gp);
    free(audio);
    free(cm);
    free(sys);
    msg_push(a, "assistant", "");
    a->replying = 1;
    a->reply_tokens = 0;
    a->scroll = 0;
    a->dirty = 1;
}

void app_send_input(App *a) {
    if (a->replying) {
        app_note(a, 1, "a reply is being written (Esc cancels it)");
        return;
    }
    const char *t = a->ed.buf;
    while (*t == ' ' || *t == '\n' || *t == '\t') t++;
    if (!*t) return;
    if (!a->loaded) {
        char hint[512];
        if (!a->loading) app_no_model_hint(a, hint, sizeof hint);
        app_note(a, 1, "%s", a->loading ? "the model is still loading; your text stays in the editor"
                                        : hint);
        return;
    }
    Msg *m = msg_push(a, "user", a->ed.buf);
    store_msg(a, m, 0, 0);
    ed_remember(&a->ed, a->ed.buf);
    ed_clear(&a->ed);
    app_ask(a);
}

/* The last reply written again, the last message edited: each a new
 * version beside the old one (history.c). */
static void regenerate(App *a) {
    if (a->n_msgs) history_regenerate(a, a->n_msgs - 1);
}
static void edit_last(App *a) {
    if (a->n_msgs) history_edit(a, a->n_msgs - 1);
}

static void on_token(App *a, const char *text) {
    if (!a->replying || a->n_msgs == 0) return;
    Msg *m = &a->msgs[a->n_msgs - 1];
    size_t n = strlen(m->text), k = strlen(text);
    m->text = xrealloc(m->text, n + k + 1);
    memcpy(m->text + n, text, k + 1);
    history_reply_token(a);
    a->dirty = 1;
}

static void on_reply_done(App *a, const Event *e) {
    if (!a->replying || a->n_msgs == 0) return;
    Msg *m = &a->msgs[a->n_msgs - 1];
    a->replying = 0;
    free(m->text);
    m->text = xstrdup(e->reply.text);
    m->doc_cols = -1;
    m->cancelled = e->reply.stop == STOP_CANCELLED;
    m->partial = 0;
    a->tok_s = e->reply.tok_s;
    a->ctx_used = e->reply.ctx_used;
    free(a->adapters);
    a->adapters = e->reply.adapters && e->reply.adapters[0] ? xstrdup(e->reply.adapters) : NULL;
    store_msg(a, m, e->reply.tokens,
              e->reply.tok_s > 0 ? e->reply.tokens / e->reply.tok_s * 1000 : 0);
    if (a->st && m->id && e->reply.model && store_message_set_model(a->st, m->id, e->reply.model))
        app_note(a, 1, "%s", unum_error());
    if (m->cancelled) app_note(a, 0, "reply cancelled; what was written is kept");
    else if (e->reply.confidence >= 0) /* which stage of the cascade answered */
        app_note(a, 0, "stage %d answered (%s; stage 1 confidence %.2f)", e->reply.stage,
                 e->reply.model, e->reply.confidence);
    else if (e->reply.draft_accept >= 0) /* speculative decoding */
        app_note(a, 0, "%d tokens at %.1f tok/s, drafted (%.0f%% of drafts kept)",
                 e->reply.tokens, e->reply.tok_s, 100 * e->reply.draft_accept);
    a->dirty = 1;
}

static const Msg *last_assistant(const App *a) {
    if (a->selecting && a->sel < a->n_msgs) return &a->msgs[a->sel];
    for (int i = a->n_msgs - 1; i >= 0; i--)
        if (!strcmp(a->msgs[i].role, "assistant") && a->msgs[i].text[0]) return &a->msgs[i];
    return NULL;
}

void app_copy_message(App *a) {
    const Msg *m = last_assistant(a);
    if (!m) return app_note(a, 1, "no reply to copy");
    char where[128];
    clipboard_copy(m->text, where, sizeof where);
    app_note(a, 0, "copied the %s (%zu bytes) to %s", a->selecting ? "selected message" : "last reply",
             strlen(m->text), where);
}

static void copy_code(App *a) {
    const Msg *m = last_assistant(a);
    MdDoc d = {0};
    if (m) md_render(&d, m->text, strlen(m->text), 80);
    int k = d.n_code_blocks;
    md_free(&d);
    if (!m || k == 0) return app_note(a, 1, "the last reply has no code block");
    char *code = md_code_block(m->text, strlen(m->text), k - 1);
    char where[128];
    clipboard_copy(code, where, sizeof where);
    app_note(a, 0, "copied the last code block (%zu bytes) to %s", strlen(code), where);
    free(code);
}

static void export_session(App *a) {
    if (!a->n_msgs) return app_note(a, 1, "nothing to export yet");
    char *dir = unum_xdg_path(UNUM_XDG_DATA, "exports"), path[1200];
    if (!dir || unum_mkdir_p(dir, 0700)) {
        free(dir);
        return app_note(a, 1, "%s", unum_error());
    }
    snprintf(path, sizeof path, "%s/session-%lld.md", dir, (long long)a->session);
    free(dir);
    size_t cap = 4096, n = 0;
    char *out = xmalloc(cap);
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int need = snprintf(out + n, cap - n, __VA_ARGS__);                                        \
        if ((size_t)need >= cap - n) {                                                             \
            cap = (n + (size_t)need) * 2;                                                          \
            out = xrealloc(out, cap);                                                              \
            snprintf(out + n, cap - n, __VA_ARGS__);                                               \
        }                                                                                          \
        n += (size_t)need;                                                                         \
    } while (0)
    OUT("# %s\n\n", a->session_title ? a->session_title : "Chat");
    if (a->model_dir) OUT("- model: %s\n", a->model_dir);
    if (a->persona) OUT("- persona: %s\n", a->persona);
    for (int i = 0; i < a->n_msgs; i++)
        OUT("\n## %s\n\n%s%s\n", !strcmp(a->msgs[i].role, "user") ? "You" : "Assistant",
            a->msgs[i].text, a->msgs[i].cancelled ? "\n\n*[cancelled]*"
                             : a->msgs[i].partial ? "\n\n*[incomplete]*"
                                                  : "");
#undef OUT
    if (unum_write_file_atomic(path, out, n)) app_note(a, 1, "%s", unum_error());
    else app_note(a, 0, "exported to %s", path);
    free(out);
}

/* ------------------------------------------------------------ personas and templates */

void app_persona_choose(App *a) {
    if (!a->n_personas) return;
    free(a->persona);
    a->persona = xstrdup(a->personas[a->persona_sel].name);
    /* remembered for the next start, as the theme is */
    if (app_config_set(a->cfg_path, "persona", a->persona)) app_note(a, 1, "%s", unum_error());
    else app_note(a, 0, "persona '%s' conditions the replies from now on (remembered)", a->persona);
}

void app_template_choose(App *a) {
    if (!a->n_templates) return;
    free(a->template_name);
    a->template_name = xstrdup(a->templates[a->template_sel].name);
    app_note(a, 0, "template '%s' chosen for reports", a->template_name);
}

/* ------------------------------------------------------------ reports */

/* The template and persona a report uses: the chosen ones, else the
 * selected template and no persona. */
const char *app_report_template(App *a) {
    if (a->template_name) return a->template_name;
    return a->n_templates ? a->templates[a->template_sel].name : NULL;
}

void app_report_start(App *a, int64_t rec, const char *tmpl, const char *persona) {
    if (!rec) return app_note(a, 1, "no recording yet: F5 records one");
    if (!a->loaded) return app_note(a, 1, "no language model is loaded");
    if (a->replying) return app_note(a, 1, "a reply is being written (Esc cancels it)");
    if (!tmpl) return app_note(a, 1, "no report template");
    if (a->cap && rec == a->rec_id)
        return app_note(a, 1, "recording %lld is still recording", (long long)rec);
    worker_report(a->wk, a->args.db, rec, tmpl, persona,
                  a->gp.max_tokens < 384 ? a->gp.max_tokens : 384);
    char head[256];
    snprintf(head, sizeof head, "Report of recording %lld with template %s%s%s",
             (long long)rec, tmpl, persona ? " as " : "", persona ? persona : "");
    Msg *m = msg_push(a, "user", head);
    store_msg(a, m, 0, 0);
    msg_push(a, "assistant", "");
    a->replying = 1;
    a->scroll = 0;
    a->focus = P_CHAT;
    app_note(a, 0, "writing the report ...");
}

/* ------------------------------------------------------------ voice messages */

/* A capture whose row could not be added (the error is current): stopped,
 * its file removed (nothing points to it), and the error kept on screen. */
static void recording_abandon(App *a, capture **c, char **path) {
    char why[400];
    snprintf(why, sizeof why, "%s", unum_error());
    capture_close(*c, NULL);
    *c = NULL;
    unlink(*path);
    free(*path), *path = NULL;
    alert(a, "recording stopped: %s", why);
}

/* F8: records a voice message; F8 again sends it to the speech model as the
 * user's turn (the model hears it; no transcript in between). The clip is
 * a recording in the store, linked to the session, and the message names
 * it. */
static void voice_toggle(App *a) {
    if (a->voice) {
        capture_stats st;
        int rc = capture_close(a->voice, &st);
        a->voice = NULL;
        if (a->st && a->voice_rec && recording_finish(a->st, a->voice_rec) && !rc) rc = -1;
        if (rc || st.frames == 0) {
            if (rc) alert(a, "voice message not sent: %s", unum_error());
            else app_note(a, 1, "voice message: nothing was recorded");
            free(a->voice_path), a->voice_path = NULL;
            return;
        }
        char text[128];
        snprintf(text, sizeof text, "[voice message, %.1f s, recording %lld]",
                 (double)st.frames / CAPTURE_RATE, (long long)a->voice_rec);
        Msg *m = msg_push(a, "user", text);
        m->audio = a->voice_path;
        a->voice_path = NULL;
        store_msg(a, m, 0, 0);
        app_ask(a);
        return;
    }
    if (!a->loaded || !a->speech_model)
        return app_note(a, 1, "the loaded model does not hear audio (a speech LLM does); F5 records "
                          "for the transcript");
    if (a->replying || a->cap) return app_note(a, 1, "busy: a reply or a recording is in progress");
    char *dir = store_recordings_dir(), stem[64];
    if (!dir) return alert(a, "voice message: %s", unum_error());
    snprintf(stem, sizeof stem, "voice-%lld", (long long)time(NULL));
    if (session_ensure(a, "voice conversation")) return free(dir);
    capture_config cfg = {.dir = dir, .stem = stem, .encoding = WAV_PCM};
    a->voice = capture_start(&cfg);
    free(dir);
    if (!a->voice) return alert(a, "voice message: %s", unum_error());
    a->voice_path = xstrdup(capture_path(a->voice));
    a->voice_rec = 0;
    if (a->st && store_recording_begin(a->st, a->voice_path, CAPTURE_RATE, 1, a->session,
                                       &a->voice_rec)) {
        recording_abandon(a, &a->voice, &a->voice_path);
        return;
    }
    a->voice_t0 = unum_now();
    app_note(a, 0, "recording a voice message: F8 sends it");
}

/* ------------------------------------------------------------ recording */

static void on_audio(void *user, const float *x, size_t n) { worker_audio(user, x, n); }

void app_record_pause(App *a) {
    if (!a->cap) return app_note(a, 1, "not recording (F5 records)");
    a->rec_paused = !a->rec_paused;
    capture_pause(a->cap, a->rec_paused);
    app_note(a, 0, a->rec_paused ? "recording paused: M-p resumes (the pause is not recorded)"
                                 : "recording resumed");
}

void app_record_toggle(App *a) {
    if (a->cap) {
        capture_stats st;
        int rc = capture_close(a->cap, &st);
        a->cap = NULL;
        a->rec_paused = 0;
        if (a->rec_live) worker_audio_end(a->wk);
        if (a->st && a->rec_id && recording_finish(a->st, a->rec_id))
            alert(a, "recording: %s", unum_error());
        else if (rc) alert(a, "recording: %s", unum_error());
        else app_note(a, 0, "recording stopped: %.1f s", (double)st.frames / CAPTURE_RATE);
        a->last_rec = a->rec_id;
        /* the report is offered once the last utterance is transcribed
         * (EV_RECORDING_DONE) */
        return;
    }
    /* without a speech model (or before it is loaded) the recording is
     * kept for the library to transcribe later */
    a->rec_live = a->whisper_ready;
    char *dir = store_recordings_dir();
    if (!dir) return alert(a, "recording: %s", unum_error());
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stem[40];
    strftime(stem, sizeof stem, "rec-%Y%m%d-%H%M%S", &tm);
    /* a name that cannot collide: a second recording in the same second
     * gets rec-...-2.wav, never the first one's file */
    capture_config cfg = {.dir = dir, .stem = stem, .encoding = WAV_PCM,
                          .listener = a->rec_live ? on_audio : NULL, .listener_user = a->wk};
    a->cap = capture_start(&cfg);
    free(dir);
    if (!a->cap) return alert(a, "recording did not start: %s", unum_error());
    const char *path = capture_path(a->cap);
    a->rec_id = 0;
    if (a->st && store_recording_begin(a->st, path, CAPTURE_RATE, 1, a->session, &a->rec_id)) {
        char *p = xstrdup(path);
        if (a->rec_live) worker_audio_end(a->wk);
        recording_abandon(a, &a->cap, &p);
        return;
    }
    if (a->rec_live) a->rec_of[a->n_recs++ % 16] = a->rec_id; /* worker.h's numbering */
    a->rec_t0 = unum_now();
    transcript_clear(a);
    a->seg_rec = a->rec_live ? a->rec_id : 0;
    if (a->rec_live) app_note(a, 0, "recording to %s", path);
    else
        app_note(a, 0, "recording to %s without a speech model: %s", path,
                 a->whisper_loading ? "the transcript waits for it (F12, t)"
                                    : "transcribe it later from the library (F12, t)");
}

static void on_segment(App *a, const Event *e) {
    const char *t = e->segment.text;
    int k = e->segment.rec;
    while (*t == ' ') t++;
    int64_t rec = k >= a->n_recs - 16 && k < a->n_recs ? a->rec_of[k % 16] : 0;
    if (a->st && rec &&
        store_segment_add(a->st, rec, e->segment.t0, e->segment.t1, e->segment.speaker, t, NULL))
        app_note(a, 1, "%s", unum_error());
    /* an earlier recording's tail, or one while the pane shows another
     * recording: stored, not shown */
    if (k != a->n_recs - 1 || rec != a->seg_rec) return;
    transcript_add(a, e->segment.t0, e->segment.t1, e->segment.speaker, t);
    a->dirty = 1;
}

/* ------------------------------------------------------------ first run */

static void load_model(App *a);

void app_download_start(App *a) {
    static const char *const repos[] = {DEFAULT_MODEL, DEFAULT_WHISPER};
    if (a->dl.running) return;
    a->dl = (Download){.running = 1};
    worker_pull(a->wk, repos, 2);
    app_note(a, 0, "downloading the default models; the app stays usable meanwhile");
}

static void on_pull_progress(App *a, const Event *e) {
    snprintf(a->dl.repo, sizeof a->dl.repo, "%s", e->pull_progress.repo);
    a->dl.done = e->pull_progress.done;
    a->dl.total = e->pull_progress.total;
}

/* The download ended: the models are used. */
static void on_pull_done(App *a, const Event *e) {
    a->dl.running = 0;
    if (e->pull.status == PULL_OK) {
        if (app_config_set(a->cfg_path, "model", DEFAULT_MODEL) ||
            app_config_set(a->cfg_path, "whisper", DEFAULT_WHISPER))
            app_note(a, 1, "%s", unum_error());
        free(a->cfg.model);
        a->cfg.model = xstrdup(DEFAULT_MODEL);
        load_model(a);
        worker_load_whisper(a->wk, DEFAULT_WHISPER, a->cfg.backend, a->cfg.threads);
        a->whisper_loading = 1;
    } else if (e->pull.status == PULL_CANCELLED) {
        app_note(a, 0, "download stopped; F1 for keys. Starting unum again offers to resume it");
    } else {
        app_note(a, 1, "download failed: %s", e->pull.why ? e->pull.why : "");
    }
}

/* No model given or configured: one found on this machine is used; else
 * the download is offered. */
static void first_run(App *a) {
    char **lm = NULL;
    int n = modeldir_find(NULL, &lm);
    if (n > 0) {
        int pick = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(lm[i], DEFAULT_MODEL)) pick = i;
        free(a->cfg.model);
        a->cfg.model = xstrdup(lm[pick]);
        app_note(a, 0, "using %s found on this machine (set model = in %s to choose another)",
             lm[pick], a->cfg_path);
    }
    for (int i = 0; i < n; i++) free(lm[i]);
    free(lm);
    if (!a->args.whisper && !a->cfg.whisper) {
        char **wh = NULL;
        int k = modeldir_find("whisper", &wh);
        if (k > 0) a->cfg.whisper = xstrdup(wh[0]);
        for (int i = 0; i < k; i++) free(wh[i]);
        free(wh);
    }
    if (n == 0) {
        /* the dialog names the settings file: its folder is there to open */
        if (a->cfg_path && app_config_mkdir(a->cfg_path)) app_note(a, 1, "%s", unum_error());
        a->ov = OV_PULL;
    }
}

/* ------------------------------------------------------------ events */

static void handle_events(App *a) {
    Event *ev = worker_events(a->wk);
    for (Event *e = ev; e; e = e->next) {
        switch (e->kind) {
        case EV_LOAD_PROGRESS: a->load_frac = e->progress; break;
        case EV_LOADED:
            a->loading = 0, a->loaded = 1;
            free(a->model_dir);
            free(a->backend);
            a->model_dir = xstrdup(e->loaded.dir);
            a->backend = xstrdup(e->loaded.backend ? e->loaded.backend : "");
            a->ctx = e->loaded.ctx;
            a->speech_model = e->loaded.speech;
            app_note(a, 0, "model loaded in %.1f s: %s%s", e->loaded.seconds, e->loaded.dir,
                 e->loaded.speech ? " (a speech model: F8 records a voice message)" : "");
            if (a->model_offer && a->ov == OV_NONE) a->ov = OV_MODEL_SAVE;
            break;
        case EV_LOAD_FAILED:
            a->loading = 0;
            free(a->model_offer), a->model_offer = NULL;
            app_note(a, 1, "cannot load the language model: %s", e->failed.why);
            break;
        case EV_TOKEN: on_token(a, e->token); break;
        case EV_REPLY_DONE: on_reply_done(a, e); break;
        case EV_REPLY_RESTART: /* stage 2 rewrites the reply */
            if (a->replying && a->n_msgs) {
                a->msgs[a->n_msgs - 1].text[0] = 0;
                a->msgs[a->n_msgs - 1].doc_cols = -1;
            }
            app_note(a, 0, "stage 1 unsure (confidence %.2f): stage 2 answers",
                     e->restart.confidence);
            a->dirty = 1;
            break;
        case EV_REPLY_FAILED:
            history_reply_drop(a);
            if (a->replying && a->n_msgs) msg_free(&a->msgs[--a->n_msgs]);
            a->replying = 0;
            app_note(a, 1, "reply failed: %s", e->failed.why);
            break;
        case EV_MODELS: /* the status bar says where they live */
            free(a->where), free(a->where_brief);
            a->where = xstrdup(e->models.where), a->where_brief = xstrdup(e->models.brief);
            break;
        case EV_WHISPER_LOADED:
            a->whisper_loading = 0, a->whisper_ready = 1;
            app_note(a, 0, "speech model ready (F5 records): %s", e->whisper.model);
            break;
        case EV_WHISPER_FAILED:
            a->whisper_loading = 0;
            app_note(a, 1, "cannot load the speech model: %s", e->failed.why);
            break;
        case EV_SEGMENT: on_segment(a, e); break;
        case EV_RECORDING_DONE: {
            /* every segment of it came before and is stored: its transcript
             * is whole (meeting.h's rule for reports); offer the report */
            int k = e->recording.rec;
            int64_t rec = k >= a->n_recs - 16 && k < a->n_recs ? a->rec_of[k % 16] : 0;
            if (a->st && rec && e->recording.whole && store_recording_set_transcribed(a->st, rec))
                app_note(a, 1, "%s", unum_error());
            if (k == a->n_recs - 1 && !a->cap && a->last_rec && a->loaded && e->recording.whole &&
                app_report_template(a) && a->ov == OV_NONE)
                overlay_report_offer(a, a->last_rec);
            break;
        }
        case EV_TRANSCRIBE_FAILED: app_note(a, 1, "transcription: %s", e->failed.why); break;
        case EV_WARNING: app_note(a, 1, "speech model: %s", e->failed.why); break;
        case EV_REPORT_PROGRESS:
            app_note(a, 0, "report: %s %d of %d", e->report_progress.stage,
                 e->report_progress.done + 1, e->report_progress.total);
            break;
        case EV_REPORT_DONE:
            if (a->replying && a->n_msgs) {
                Msg *m = &a->msgs[a->n_msgs - 1];
                free(m->text);
                m->text = xstrdup(e->report.markdown);
                m->doc_cols = -1;
                a->replying = 0;
                store_msg(a, m, 0, 0);
            }
            app_note(a, 0, "report %d stored; r in the template pane writes another", e->report.row);
            break;
        case EV_REPORT_FAILED:
            if (a->replying && a->n_msgs) msg_free(&a->msgs[--a->n_msgs]);
            a->replying = 0;
            if (e->failed.why[0]) app_note(a, 1, "report: %s", e->failed.why);
            else app_note(a, 0, "report cancelled; nothing was stored");
            break;
        case EV_PULL_PROGRESS: on_pull_progress(a, e); break;
        case EV_PULL_DONE: on_pull_done(a, e); break;
        case EV_TRANSCRIBED: meetings_on_transcribed(a, e->transcribed.rec); break;
        }
        a->dirty = 1;
    }
    event_free(ev);
}

/* ------------------------------------------------------------ layout and drawing */

typedef struct {
    Rect pane[P_COUNT];
    int shown[P_COUNT];
    Rect input;
    int input_rows;
} Layout;

static const PaneOps *const panes[P_COUNT]; /* below, with the panes */

static Layout layout(App *a) {
    Layout L;
    memset(&L, 0, sizeof L);
    int cols = a->W - 2 > 1 ? a->W - 2 : 1, cr, cc;
    TwLayout lay = {0};
    ed_layout(&a->ed, cols, &lay, &cr, &cc);
    int rows = lay.n;
    tw_layout_free(&lay);
    L.input_rows = rows < 1 ? 1 : rows > 6 ? 6 : rows;
    L.input = (Rect){a->H - 2 - (L.input_rows + 2) + 1, 0, L.input_rows + 2, a->W};
    int top = 1, bottom = L.input.y; /* panes between */
    int h = bottom - top;
    if (h < 3) h = 3;
    if (a->zoom || a->W < 100) {
        PaneId p = a->zoom || a->W < 100 ? a->focus : P_CHAT;
        L.pane[p] = (Rect){top, 0, h, a->W};
        L.shown[p] = 1;
        return L;
    }
    int left = a->W * 62 / 100, right = a->W - left;
    L.pane[P_CHAT] = (Rect){top, 0, h, left};
    int h1 = h * 45 / 100, h2 = (h - h1) / 2, h3 = h - h1 - h2;
    L.pane[P_TRANSCRIPT] = (Rect){top, left, h1, right};
    L.pane[P_PERSONA] = (Rect){top + h1, left, h2, right};
    L.pane[P_TEMPLATE] = (Rect){top + h1 + h2, left, h3, right};
    for (int i = 0; i < P_COUNT; i++) L.shown[i] = 1;
    return L;
}

static void draw_status(App *a) {
    attrset(theme_attr(THEME_STATUS));
    ui_fill(0, 0, a->W);
    char s[512];
    const char *slash = a->model_dir ? strrchr(a->model_dir, '/') : NULL;
    const char *model = slash ? slash + 1 : a->model_dir;
    const Download *d = &a->dl;
    double frac = d->total ? (double)d->done / d->total : 0;
    if (d->running) {
        int bar = 20, done = (int)(frac * bar + 0.5);
        char b[64];
        for (int i = 0; i < bar; i++) b[i] = i < done ? '#' : '.';
        b[bar] = 0;
        snprintf(s, sizeof s, " unum | downloading %s [%s] %3.0f%% (Esc stops)", d->repo, b,
                 frac * 100);
    } else if (a->loading) {
        int bar = 20, done = (int)(a->load_frac * bar + 0.5);
        char b[64];
        for (int i = 0; i < bar; i++) b[i] = i < done ? '#' : '.';
        b[bar] = 0;
        snprintf(s, sizeof s, " unum | loading model [%s] %3.0f%%", b, a->load_frac * 100);
    } else if (a->loaded) {
        /* where the other loaded models live: named when the line has room
         * (beside the REC or VOICE mark on the right), else by role and
         * backend alone, else left out */
        const char *where[3] = {a->where, a->where_brief, ""};
        int room = a->W - (a->cap || a->voice ? 30 : 0);
        for (int i = 0; i < 3; i++) {
            const char *wh = where[i] ? where[i] : "";
            int k = snprintf(s, sizeof s, " unum | %s | %s%s%s | %.1f tok/s | ctx %d/%d%s%s%s%s",
                             model, a->backend ? a->backend : "?", *wh ? " | " : "", wh, a->tok_s,
                             a->ctx_used, a->ctx, a->persona ? " | " : "",
                             a->persona ? a->persona : "", a->adapters ? " | lora " : "",
                             a->adapters ? a->adapters : "");
            if (k <= room) break;
        }
    } else {
        snprintf(s, sizeof s, " unum | no model");
    }
    int used = ui_put(0, 0, s, strlen(s), a->W);
    if (a->voice) {
        char m[64];
        int k = snprintf(m, sizeof m, " VOICE %4.0fs (F8 sends) ", unum_now() - a->voice_t0);
        if (a->W - k > used) {
            attrset(theme_attr(THEME_RECORDING));
            ui_put(0, a->W - k, m, (size_t)k, k);
        }
    }
    if (a->cap) {
        capture_stats st;
        capture_wait(a->cap, 0, &st);
        int meter = 10, lv = (int)(st.level * meter + 0.5);
        char m[128];
        int k = snprintf(m, sizeof m, a->rec_paused ? " REC paused %4.0fs " : " REC %4.0fs ",
                         (double)st.frames / CAPTURE_RATE); /* recorded: pauses left out */
        int x = a->W - k - meter - 2;
        if (x > used) {
            attrset(theme_attr(THEME_RECORDING));
            ui_put(0, x, m, (size_t)k, k);
            for (int i = 0; i < meter; i++) {
                attrset(theme_attr(i < 6 ? THEME_METER_LOW : i < 8 ? THEME_METER_MID : THEME_METER_HIGH));
                mvaddstr(0, x + k + i, i < lv ? "\xe2\x96\x88" : "\xc2\xb7"); /* █ · */
            }
        }
        if (st.state != CAPTURE_RUNNING) { /* the device went away or the disk failed */
            attrset(A_NORMAL);
            app_record_toggle(a);
            alert(a, "recording ended: %s", st.error);
        }
    }
    attrset(A_NORMAL);
}

static void draw_input(App *a, Rect r, int rows, int focused) {
    ui_box(r.y, r.x, r.h, r.w, a->replying ? "Message (reply in progress)" : "Message",
           focused);
    int cols = a->W - 2 > 1 ? a->W - 2 : 1, cr = 0, cc = 0;
    TwLayout lay = {0};
    ed_layout(&a->ed, cols, &lay, &cr, &cc);
    int first = cr >= rows ? cr - rows + 1 : 0;
    attrset(theme_attr(THEME_INPUT));
    for (int i = 0; i < rows; i++) {
        int row = first + i;
        ui_fill(r.y + 1 + i, 1, cols);
        if (row >= lay.n) continue;
        size_t b = lay.row[row].start, e = lay.row[row].end;
        ui_put(r.y + 1 + i, 1, a->ed.buf + b, e - b, cols);
    }
    attrset(A_NORMAL);
    tw_layout_free(&lay);
    if (focused && a->ov == OV_NONE) move(r.y + 1 + cr - first, 1 + cc);
}

static void draw_bottom(App *a) {
    int y = a->H - 1;
    if (a->note[0]) {
        attrset(theme_attr(a->note_err ? THEME_ERROR : THEME_NORMAL));
        ui_fill(y, 0, a->W);
        char more[96] = "", kn[KEYS_NAME_MAX];
        if (a->note_more && app_key_of(a, KEYS_MESSAGES, kn)[0])
            snprintf(more, sizeof more, " (%d more: %s shows them)", a->note_more, kn);
        int mw = tw_width(more, strlen(more));
        int u = ui_put(y, 0, a->note, strlen(a->note), a->W - mw);
        ui_put(y, u, more, strlen(more), a->W - u);
    } else {
        attrset(theme_attr(THEME_DIM));
        ui_fill(y, 0, a->W);
        const char *h = " Enter send  M-Enter newline  Tab pane  Esc cancel  F1 help  F2 sessions  "
                        "F3 search  F4 theme  F5 record  C-q quit";
        ui_put(y, 0, h, strlen(h), a->W);
    }
    attrset(A_NORMAL);
}

static void draw(App *a) {
    assert(a->focus >= 0 && a->focus < P_COUNT && panes[a->focus]);
    assert(a->ov >= OV_NONE && a->ov < OV_COUNT);
    assert(a->n_msgs <= a->cap_msgs && a->n_segs <= a->cap_segs);
    assert(!a->replying || a->n_msgs > 0); /* the reply being written is the last message */
    erase();
    if (a->W < 20 || a->H < 8) {
        mvaddstr(0, 0, "unum: the terminal is too small");
        refresh();
        return;
    }
    Layout L = layout(a);
    for (int p = 0; p < P_COUNT; p++) a->rect[p] = L.pane[p], a->shown[p] = L.shown[p];
    draw_status(a);
    for (int p = 0; p < P_COUNT; p++) {
        if (!L.shown[p]) continue;
        panes[p]->draw(a, (PaneId)p, L.pane[p], (int)a->focus == p);
    }
    draw_bottom(a);
    draw_input(a, L.input, L.input_rows, a->focus == P_CHAT);
    if (a->ov != OV_NONE) overlay_draw(a);
    curs_set(a->focus == P_CHAT || a->ov == OV_SEARCH || a->ov == OV_RENAME || a->ov == OV_MODEL ? 1
                                                                                            : 0);
    refresh();
}

void app_session_new(App *a) {
    if (a->replying) return app_note(a, 1, "a reply is being written (Esc cancels it)");
    chat_clear(a);
    a->session = 0;
    free(a->session_title);
    a->session_title = NULL;
    app_note(a, 0, "new session: it is saved with its first message");
}

/* ------------------------------------------------------------ actions
 *
 * Every key goes through the keymap (keys.h) to an action first. An action
 * handler returns redraw flags (R_*); the focused pane's (or the open
 * overlay's) own table of handlers is asked first, then the global one. A
 * key that is no action goes to the pane's key handler: the editor's text
 * and motion keys, the lists' arrows. Every action of a pane's context has a
 * handler (app_action_handled, which the tests call for every bound key). */


static void theme_next(App *a) {
    char **names = NULL;
    int n = 0;
    theme_list(&names, &n);
    if (n <= 0) return app_note(a, 1, "no themes found");
    int at = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], a->theme.name)) at = (i + 1) % n;
    Theme t;
    if (theme_load(&t, names[at])) {
        app_note(a, 1, "%s", unum_error());
    } else {
        a->theme = t;
        theme_apply(&a->theme);
        if (app_config_set(a->cfg_path, "theme", a->theme.name)) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "theme %s (remembered in %s)", a->theme.name, a->cfg_path);
    }
    theme_list_free(names, n);
}

static void open_help(App *a) {
    keys_help_free(a->help, a->n_help);
    keys_help(&a->keys, &a->help, &a->n_help);
    a->help_scroll = 0;
    a->ov = OV_HELP;
}

/* Global actions: they act in every pane (keys.h's "global" context). */
static int act_quit(App *a) { return history_quit(a), R_DONE; }
static int act_focus_next(App *a) {
    a->focus = (PaneId)((a->focus + 1) % P_COUNT);
    a->commands = 0;
    return R_DONE;
}
static int act_focus_prev(App *a) {
    a->focus = (PaneId)((a->focus + P_COUNT - 1) % P_COUNT);
    a->commands = 0;
    return R_DONE;
}
static int act_zoom(App *a) { return a->zoom = !a->zoom, R_DONE; }
static int act_help(App *a) { return open_help(a), R_DONE; }
static int act_sessions(App *a) { return overlay_sessions_open(a), R_DONE; }
static int act_new_session(App *a) { return app_session_new(a), R_DONE; }
static int act_search(App *a) {
    ed_clear(&a->ov_ed);
    store_hits_free(a->hits, a->n_hits);
    a->hits = NULL, a->n_hits = 0;
    a->ov = OV_SEARCH;
    return R_DONE;
}
static int act_theme_next(App *a) { return theme_next(a), R_DONE; }
static int act_record(App *a) { return app_record_toggle(a), R_DONE; }
static int act_voice(App *a) { return voice_toggle(a), R_DONE; }
static int act_personas(App *a) { return a->focus = P_PERSONA, a->commands = 0, R_DONE; }
static int act_templates(App *a) { return a->focus = P_TEMPLATE, a->commands = 0, R_DONE; }
/* Esc undoes the innermost thing: a reply or download, an alert, a pane's
 * commands, a pane shown alone (zoomed, or focused below 100 columns). */
static int act_cancel(App *a) {
    if (a->replying || a->dl.running) worker_cancel(a->wk);
    else if (a->note_sticky) a->note[0] = 0, a->note_sticky = 0;
    else if (a->commands) a->commands = 0;
    else if (a->zoom || (a->W < 100 && a->focus != P_CHAT)) a->zoom = 0, a->focus = P_CHAT;
    else a->note[0] = 0;
    return R_DONE;
}
/* Ctrl-C: as in a shell, it stops what runs; with nothing running, a
 * second press in a row quits (the first says so). */
static int act_interrupt(App *a) {
    if (a->replying || a->dl.running) return worker_cancel(a->wk), R_DONE;
    if (a->interrupt_armed) return a->quit = 1, R_HANDLED;
    a->interrupt_armed = 2; /* handle_key counts it down: the next key only */
    char kn[KEYS_NAME_MAX];
    if (app_key_of(a, KEYS_QUIT, kn)[0])
        app_note(a, 0, "nothing to stop: Ctrl-C again quits (as does %s)", kn);
    else
        app_note(a, 0, "nothing to stop: Ctrl-C again quits");
    return R_DONE;
}
/* Ctrl-Z: the terminal back to the shell and the process stopped, as
 * every terminal program does; on fg, the screen is drawn again. */
static int act_suspend(App *a) {
    fputs("\033[?2004l", stdout); /* bracketed paste off */
    fflush(stdout);
    def_prog_mode();
    endwin();
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP); /* stops here until SIGCONT */
    reset_prog_mode();
    fputs("\033[?2004h", stdout);
    fflush(stdout);
    clearok(curscr, TRUE);
    refresh();
    input_mouse_start(a); /* the terminal may have forgotten it meanwhile */
    getmaxyx(stdscr, a->H, a->W);
    return R_DONE;
}
static int act_commands(App *a) {
    if (a->focus == P_CHAT)
        return app_note(a, 0, "the message editor takes every key; Tab to a side pane first"), R_DONE;
    a->commands = !a->commands;
    return R_DONE;
}
static int act_messages(App *a) {
    a->log_scroll = INT_MAX / 2; /* the newest; clamped when drawn */
    a->ov = OV_LOG;
    return R_DONE;
}
static int act_open_model(App *a) {
    ed_set(&a->ov_ed, a->model_dir ? a->model_dir : "");
    a->ov = OV_MODEL;
    return R_DONE;
}
static int act_regenerate(App *a) { return regenerate(a), R_DONE; }
static int act_edit_last(App *a) { return edit_last(a), R_DONE; }
static int act_copy_message(App *a) { return app_copy_message(a), R_DONE; }
static int act_copy_code(App *a) { return copy_code(a), R_DONE; }
static int act_export(App *a) { return export_session(a), R_DONE; }
static int act_meetings(App *a) { return meetings_open(a), R_DONE; }
static int act_record_pause(App *a) { return app_record_pause(a), R_DONE; }
/* The selected message's other versions, else the last message's. */
static int act_sibling_prev(App *a) {
    return history_step(a, a->selecting ? a->sel : a->n_msgs - 1, -1), R_DONE;
}
static int act_sibling_next(App *a) {
    return history_step(a, a->selecting ? a->sel : a->n_msgs - 1, 1), R_DONE;
}
static int act_select(App *a) {
    if (!a->n_msgs) return app_note(a, 1, "no message to select"), R_DONE;
    a->focus = P_CHAT;
    a->selecting = 1, a->sel = a->n_msgs - 1;
    return R_DONE;
}

/* The chat and the transcript scroll by rows, a page at a time (the pane's
 * height less one row of overlap); the panes clamp what is past the end when
 * they draw. A list moves its selection. */
static int act_scroll_up(App *a) {
    int page = app_page_rows(a, a->focus);
    return app_scroll(a, a->focus, page > 1 ? page - 1 : 1), R_DONE;
}
static int act_scroll_down(App *a) {
    int page = app_page_rows(a, a->focus);
    return app_scroll(a, a->focus, -(page > 1 ? page - 1 : 1)), R_DONE;
}
static int act_page_top(App *a) { return app_scroll(a, a->focus, INT_MAX / 2), R_DONE; }
static int act_page_bottom(App *a) { return app_scroll(a, a->focus, -(INT_MAX / 2)), R_DONE; }

static const ActionFn global_actions[KEYS_N_ACTIONS] = {
    [KEYS_QUIT] = act_quit,
    [KEYS_FOCUS_NEXT] = act_focus_next,
    [KEYS_FOCUS_PREV] = act_focus_prev,
    [KEYS_ZOOM] = act_zoom,
    [KEYS_CANCEL] = act_cancel,
    [KEYS_INTERRUPT] = act_interrupt,
    [KEYS_SUSPEND] = act_suspend,
    [KEYS_COMMANDS] = act_commands,
    [KEYS_MESSAGES] = act_messages,
    [KEYS_OPEN_MODEL] = act_open_model,
    [KEYS_HELP] = act_help,
    [KEYS_REGENERATE] = act_regenerate,
    [KEYS_EDIT_LAST] = act_edit_last,
    [KEYS_COPY_MESSAGE] = act_copy_message,
    [KEYS_COPY_CODE] = act_copy_code,
    [KEYS_EXPORT] = act_export,
    [KEYS_SESSIONS] = act_sessions,
    [KEYS_NEW_SESSION] = act_new_session,
    [KEYS_SEARCH] = act_search,
    [KEYS_THEME_NEXT] = act_theme_next,
    [KEYS_RECORD] = act_record,
    [KEYS_PERSONAS] = act_personas,
    [KEYS_TEMPLATES] = act_templates,
    [KEYS_VOICE] = act_voice,
    [KEYS_SCROLL_UP] = act_scroll_up,
    [KEYS_SCROLL_DOWN] = act_scroll_down,
    [KEYS_PAGE_TOP] = act_page_top,
    [KEYS_PAGE_BOTTOM] = act_page_bottom,
    [KEYS_MEETINGS] = act_meetings,
    [KEYS_RECORD_PAUSE] = act_record_pause,
    [KEYS_SIBLING_PREV] = act_sibling_prev,
    [KEYS_SIBLING_NEXT] = act_sibling_next,
    [KEYS_SELECT] = act_select,
};

/* ------------------------------------------------------------ the pane table */

static const PaneOps *const panes[P_COUNT] = {
    [P_CHAT] = &pane_chat,
    [P_TRANSCRIPT] = &pane_transcript,
    [P_PERSONA] = &pane_persona,
    [P_TEMPLATE] = &pane_template,
};

/* ------------------------------------------------------------ overlay keys */

/* The handler of act for a pane or overlay with action table own: its own,
 * else the global one; an overlay (modal) takes no global action but quit. */
static ActionFn handler_for(const ActionFn *own, int modal, KeyAction act) {
    if (act <= KEYS_NONE || act >= KEYS_N_ACTIONS) return NULL;
    if (own && own[act]) return own[act];
    if (modal && act != KEYS_QUIT) return NULL;
    return global_actions[act];
}

/* The pane in effect at p: the chat has a mode with a message selected. */
static const PaneOps *pane_at(const App *a, PaneId p) {
    return p == P_CHAT && a->selecting ? &pane_messages : panes[p];
}

int app_action_handled(KeyContext ctx, KeyAction act) {
    for (int p = 0; p < P_COUNT; p++)
        if (panes[p]->ctx == ctx && handler_for(panes[p]->actions, 0, act)) return 1;
    if (pane_messages.ctx == ctx && handler_for(pane_messages.actions, 0, act)) return 1;
    for (int o = 0; o < OV_COUNT; o++)
        if (o != OV_NONE && app_overlays[o].ctx == ctx && handler_for(app_overlays[o].actions, 1, act))
            return 1;
    return 0;
}

static void handle_key(App *a, int key) {
    int r = R_NONE;
    a->note_hold = 0, a->note_more = 0; /* the error shown has been seen */
    if (a->interrupt_armed) a->interrupt_armed--; /* armed for the next key only */
    if (a->ov != OV_NONE) {
        assert(a->ov > OV_NONE && a->ov < OV_COUNT);
        ActionFn fn = handler_for(app_overlays[a->ov].actions, 1,
                                  keys_lookup(&a->keys, key, app_overlays[a->ov].ctx));
        if (fn) r = fn(a);
        else app_overlays[a->ov].key(a, key), r = R_DONE;
    } else {
        assert(a->focus >= 0 && a->focus < P_COUNT);
        const PaneOps *p = pane_at(a, a->focus);
        if (a->focus != P_CHAT && !a->commands && keys_is_text(key)) {
            r = input_side_key(a, key); /* typing, whichever pane has the focus */
        } else {
            ActionFn fn = handler_for(p->actions, 0, keys_lookup(&a->keys, key, p->ctx));
            if (fn) r = fn(a);
            if (!(r & R_HANDLED)) r = p->key(a, key);
        }
    }
    if (r & R_REDRAW) a->dirty = 1;
}

/* A mouse event: a click in the chat selects the message under it. */
/* A bracketed paste (after ESC [200~) into the editor as text, newlines
 * included, up to ESC [201~. */
static void read_paste(App *a) {
    char buf[4096];
    size_t bn = 0;
    for (int idle = 0; idle < 50;) {
        wint_t c;
        if (get_wch(&c) != OK) {
            idle++;
            napms(2);
            continue;
        }
        idle = 0;
        if (c == 27) { /* the end marker [201~ */
            wint_t d;
            for (int i = 0; i < 5 && get_wch(&d) == OK && d != '~'; i++) {}
            break;
        }
        if (bn + 4 >= sizeof buf) {
            ed_insert(&a->ed, buf, bn);
            bn = 0;
        }
        bn += (size_t)ui_utf8_put(c == '\r' ? '\n' : (unsigned)c, buf + bn);
    }
    if (bn) ed_insert(&a->ed, buf, bn);
    a->dirty = 1;
}

/* Reads the keys waiting. Alt is ESC then the key; ESC [ starts a
 * terminal sequence ncurses did not know: a paste, or nothing. */
static void read_keys(App *a) {
    while (!a->quit) {
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR) return;
        if (r == KEY_CODE_YES && ch == KEY_MOUSE) {
            input_mouse(a);
            continue;
        }
        if (r == KEY_CODE_YES && ch == KEY_RESIZE) {
            getmaxyx(stdscr, a->H, a->W);
            a->dirty = 1;
            continue;
        }
        if (r == OK && ch == 27) {
            wint_t c2;
            int r2 = get_wch(&c2);
            if (r2 == ERR) {
                handle_key(a, 27);
                continue;
            }
            if (r2 == OK && c2 == '[') {
                char seq[8];
                int n = 0;
                wint_t c3;
                while (n < 6 && get_wch(&c3) == OK) {
                    seq[n++] = (char)c3;
                    if (c3 == '~' || (c3 >= 'A' && c3 <= 'Z')) break;
                }
                seq[n] = 0;
                if (!strcmp(seq, "200~")) read_paste(a);
                continue;
            }
            int code = keys_from_curses(r2 == KEY_CODE_YES, (unsigned)c2);
            if (code >= 0 && keys_alt(code) >= 0) handle_key(a, keys_alt(code));
            continue;
        }
        int code = keys_from_curses(r == KEY_CODE_YES, (unsigned)ch);
        if (code >= 0) handle_key(a, code);
    }
}

/* ------------------------------------------------------------ start */

void app_no_model_hint(App *a, char *out, size_t cap) {
    char kn[KEYS_NAME_MAX], log[KEYS_NAME_MAX], why[64] = "";
    app_key_of(a, KEYS_OPEN_MODEL, kn);
    if (app_key_of(a, KEYS_MESSAGES, log)[0]) snprintf(why, sizeof why, " (%s shows why)", log);
    /* the settings file as the user would type it: ~ for the home folder */
    const char *home = getenv("HOME"), *cfg = a->cfg_path ? a->cfg_path : "the settings file";
    size_t hl = home ? strlen(home) : 0;
    int tilde = hl > 1 && !strncmp(cfg, home, hl) && cfg[hl] == '/';
    snprintf(out, cap,
             "%s%s. %s%s%sOr start unum with -m DIR (or set model = DIR in %s%s), or download "
             "one with `unum pull %s`.",
             a->args.model || a->cfg.model ? "The language model did not load" : "No language model",
             a->args.model || a->cfg.model ? why : "",
             kn[0] ? "Press " : "", kn, kn[0] ? " to open a model folder now. " : "",
             tilde ? "~" : "", tilde ? cfg + hl : cfg, DEFAULT_MODEL);
}

static void load_model(App *a) {
    const char *model = a->args.model ? a->args.model : a->cfg.model;
    if (!model) {
        char hint[512];
        app_no_model_hint(a, hint, sizeof hint);
        app_note(a, 1, "%s", hint);
        return;
    }
    EngineOptions eo = {.backend = a->cfg.backend ? a->cfg.backend : "auto",
                        .threads = a->cfg.threads,
                        .ctx = a->cfg.ctx};
    if (remote_is_url(model)) worker_load_remote(a->wk, model, a->cfg.remote_model);
    else worker_load(a->wk, model, &eo);
    if (a->cfg.lora_auto && !a->cfg.n_adapters)
        app_note(a, 1, "lora = auto but %s lists no adapter = DIR | DESCRIPTION", a->cfg_path);
    if (a->cfg.lora_auto) /* the router picks a reply's adapter (engine/router.h) */
        worker_chat_router(a->wk, a->cfg.adapters, a->cfg.n_adapters,
                           a->cfg.lora_threshold >= 0 ? a->cfg.lora_threshold
                                                      : ROUTER_THRESHOLD_DEFAULT);
    if (a->cfg.stage2) { /* the cascade (engine/cascade.h) */
        EngineOptions eo2 = eo;
        if (a->cfg.stage2_backend) eo2.backend = a->cfg.stage2_backend;
        worker_set_stage2(a->wk, a->cfg.stage2,
                          a->cfg.escalate_below >= 0 ? a->cfg.escalate_below : 0.3, &eo2);
    }
    if (a->cfg.draft) /* speculative decoding (engine/speculative.h) */
        worker_set_draft(a->wk, a->cfg.draft, a->cfg.draft_n, &eo);
    if (a->cfg.report_model) /* reports' writer, by its role (engine/models.h) */
        worker_set_report_model(a->wk, a->cfg.report_model, &eo);
    a->loading = 1;
    a->load_frac = 0;
    app_note(a, 0, "loading %s ...", model);
}

/* The model prompt (C-o): path is loaded in place of the model; once it
 * has loaded, remembering it in the settings file is offered. */
void app_model_open(App *a, const char *path) {
    if (a->replying) return app_note(a, 1, "a reply is being written (Esc cancels it)");
    free(a->cfg.model);
    a->cfg.model = xstrdup(path);
    a->args.model = NULL; /* -m names the model no more */
    free(a->model_offer);
    a->model_offer = xstrdup(path);
    a->loaded = 0;
    load_model(a);
}

static void sampling_from_config(App *a) {
    /* the model's defaults are applied by the engine when these are absent */
    memset(&a->gp, 0, sizeof a->gp);
    a->gp.sampling.temperature = a->cfg.temperature >= 0 ? a->cfg.temperature : 0.7f;
    a->gp.sampling.top_p = a->cfg.top_p >= 0 ? a->cfg.top_p : 0.8f;
    a->gp.sampling.top_k = a->cfg.have_top_k ? a->cfg.top_k : 20;
    a->gp.sampling.repeat_penalty = 1.05f;
    a->gp.sampling.seed = (uint64_t)time(NULL);
    a->gp.max_tokens = a->cfg.max_tokens;
}

int app_parse_args(int argc, char **argv, AppArgs *out) {
    Args g = {argc, 1, argv, 0};
    while (g.i < g.argc && !g.bad) {
        if (args_flag(&g, "-m", "--model")) out->model = args_value(&g);
        else if (args_flag(&g, "--whisper", "--speech-model")) out->whisper = args_value(&g);
        else if (args_flag(&g, "--theme", NULL)) out->theme = args_value(&g);
        else args_unknown(&g, "the app");
    }
    return g.bad ? EXIT_USAGE : 0;
}

int app_main(const AppArgs *args) {
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "unum: the app needs a terminal (use a command instead; see unum --help)\n");
        return EXIT_USAGE;
    }
    setlocale(LC_ALL, "");
    App app, *a = &app;
    memset(a, 0, sizeof app);
    g_app = a;
    a->args = *args;
    app_config_defaults(&a->cfg);
    a->cfg_path = app_config_path("config");
    ed_init(&a->ed);
    ed_init(&a->ov_ed);
    /* problems found before the screen opens are shown on it: the first
     * until a key is pressed, all of them in the log (F9) */
    if (app_config_load(&a->cfg, a->cfg_path)) app_note(a, 1, "%s", unum_error());
    if (keys_load(&a->keys)) app_note(a, 1, "%s", unum_error());
    const char *theme = args->theme ? args->theme : a->cfg.theme ? a->cfg.theme : "dark";
    if (theme_want_mono(getenv("NO_COLOR"), 1)) theme = "mono";
    if (theme_load(&a->theme, theme)) {
        app_note(a, 1, "%s", unum_error());
        theme_load(&a->theme, "mono");
    }
    /* store_open, not recordings_open: recordings a crash interrupted are
     * offered for recovery (meetings_recovery_offer) rather than repaired
     * unasked */
    if (store_open(args->db, &a->st)) {
        app_note(a, 1, "database: %s (nothing will be saved)", unum_error());
        a->st = NULL;
    } else if (store_notice(a->st)) {
        app_note(a, 0, "note: %s", store_notice(a->st));
    }
    a->wk = worker_start();
    if (!a->wk) {
        fprintf(stderr, "unum: %s\n", unum_error());
        return 1;
    }
    if (a->cfg.mem_budget) worker_set_mem_budget(a->wk, a->cfg.mem_budget); /* every model's */
    stderr_to_log();
    term_start(a);
    keys_curses_init();
    input_mouse_start(a);
    theme_apply(&a->theme);
    app_lists_reload(a);
    const char *persona = a->cfg.persona; /* remembered, while it exists */
    for (size_t i = 0; persona && i < a->n_personas; i++)
        if (!strcmp(a->personas[i].name, persona)) {
            a->persona = xstrdup(persona);
            a->persona_sel = (int)i;
        }
    sampling_from_config(a);
    if (!args->model && !a->cfg.model) first_run(a);
    if (a->ov != OV_PULL) load_model(a);
    const char *wh = args->whisper ? args->whisper : a->cfg.whisper;
    if (wh) {
        worker_load_whisper(a->wk, wh, a->cfg.backend, a->cfg.threads);
        a->whisper_loading = 1;
    }
    if (a->ov == OV_NONE) meetings_recovery_offer(a);
    a->dirty = 1;
    while (!a->quit) {
        if (a->dirty) {
            draw(a);
            a->dirty = 0;
        }
        struct pollfd fds[2] = {{0, POLLIN, 0}, {worker_fd(a->wk), POLLIN, 0}};
        int timeout = a->cap || a->voice ? 100 : a->loading || a->dl.running ? 200 : -1;
        int r = poll(fds, 2, timeout);
        if (r < 0 && errno != EINTR) break;
        if (fds[1].revents & POLLIN) handle_events(a);
        read_keys(a); /* also picks up KEY_RESIZE after SIGWINCH */
        if (a->cap || a->voice || a->loading || a->dl.running) a->dirty = 1;
    }
    if (a->cap) { /* quitting mid-recording: its last utterance is still transcribed and stored */
        app_record_toggle(a);
        a->ov = OV_NONE;
        app_note(a, 0, "finishing the transcript of the recording ...");
        draw(a);
        int want = a->n_recs - 1, done = 0;
        for (double t0 = unum_now(); !done && unum_now() - t0 < 60;) {
            struct pollfd fd = {worker_fd(a->wk), POLLIN, 0};
            if (poll(&fd, 1, 200) <= 0) continue;
            Event *ev = worker_events(a->wk);
            for (Event *e = ev; e; e = e->next) {
                if (e->kind == EV_SEGMENT) on_segment(a, e);
                if ((e->kind == EV_RECORDING_DONE && e->recording.rec == want) ||
                    e->kind == EV_TRANSCRIBE_FAILED)
                    done = 1;
            }
            event_free(ev);
        }
    }
    if (a->voice) { /* kept as a recording, not sent */
        capture_close(a->voice, NULL);
        if (a->st && a->voice_rec) recording_finish(a->st, a->voice_rec);
    }
    free(a->voice_path);
    term_restore();
    worker_stop(a->wk);
    chat_clear(a);
    free(a->msgs);
    transcript_clear(a);
    free(a->segs);
    keys_help_free(a->help, a->n_help);
    msglog_free(a);
    free(a->model_offer);
    store_personas_free(a->personas, a->n_personas);
    store_templates_free(a->templates, a->n_templates);
    store_sessions_free(a->sessions, a->n_sessions);
    store_hits_free(a->hits, a->n_hits);
    store_close(a->st);
    ed_free(&a->ed);
    ed_free(&a->ov_ed);
    app_config_free(&a->cfg);
    free(a->cfg_path);
    free(a->model_dir);
    free(a->backend);
    free(a->where), free(a->where_brief);
    free(a->persona);
    free(a->adapters);
    free(a->template_name);
    free(a->session_title);
    return 0;
}
