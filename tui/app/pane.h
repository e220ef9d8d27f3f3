/* pane.h - the app's state and its panes, shared by the screen manager
 * (app.c) and the pane kinds (pane_*.c).
 *
 * A pane is a PaneOps: its title, the key context its bindings live in
 * (keys.h), how it draws into its rectangle and how it acts, as htop's Panel
 * and tig's view_ops. Keys reach a pane as actions first: app.c looks the
 * key up in the pane's context and calls the pane's handler for the action
 * (actions[act]), else the global one; a key that is no action goes to the
 * pane's key handler. Handlers return redraw flags (R_*); the main loop
 * redraws only when one asks.
 *
 * Invariants: a->focus is a PaneId; the list pane's selection is within its
 * list (0 when empty); a->ov is an Overlay. */
#ifndef UNUM_PANE_H
#define UNUM_PANE_H

#include "tui/app/app.h"
#include "tui/app/editor.h"
#include "tui/app/keys.h"
#include "tui/app/markdown.h"
#include "tui/app/theme.h"
#include "tui/core/appconfig.h"
#include "tui/core/worker.h"
#include "audio/capture.h"
#include "store/persona.h"
#include "store/search.h"
#include "store/session.h"
#include "store/speakers.h"
#include "store/store.h"
#include "store/template.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ state */

typedef enum { P_CHAT, P_TRANSCRIPT, P_PERSONA, P_TEMPLATE, P_COUNT } PaneId;

typedef enum {
    OV_NONE,
    OV_HELP,
    OV_SESSIONS,
    OV_SEARCH,
    OV_RENAME,
    OV_CONFIRM,
    OV_PULL,
    OV_REPORT,
    OV_LOG,        /* the message log */
    OV_MODEL,      /* the path prompt for a model folder */
    OV_MODEL_SAVE, /* remember the folder just loaded in the settings? */
    OV_MEETINGS,        /* the meetings library (overlay_meetings.c) */
    OV_MEETING_VIEW,    /* a recording's reports */
    OV_MEETING_EXPORT,  /* the export format */
    OV_MEETING_RENAME,  /* its title */
    OV_MEETING_CONFIRM, /* delete? y / n */
    OV_RECOVER,         /* recordings a crash interrupted, recovered */
    OV_LIST_RENAME,     /* an edit renames a persona or template (list_edit.c) */
    OV_LIST_DELETE,     /* delete a persona or template? y / n */
    OV_ASK,
    OV_SPEAKERS,        /* a recording's speakers and their names (overlay_speakers.c) */
    OV_SPEAKER_NAME,    /* the name of one */
    OV_COUNT
} Overlay;

typedef struct {
    int y, x, h, w;
} Rect;

/* The first-run download (worker_pull): its progress from the events. */

typedef struct {
    int running;
    char repo[128];
    uint64_t done, total;
} Download;

typedef struct {
    char *role;    /* "user", "assistant", "system" */
    char *text;
    int cancelled; /* a reply stopped by the user */
    int partial;   /* a reply being written, or cut short by a crash */
    int64_t id;    /* row in the store (0: not stored yet) */
    int sibling, n_siblings; /* its version among the replies to its parent (history.c) */
    char *audio;   /* a voice message's WAV file (NULL for text) */
    MdDoc doc;     /* laid out for doc_cols */
    int doc_cols, doc_len;
} Msg;

typedef struct {
    double t0, t1;
    char *text;
    char *speaker; /* the speech model's label, NULL when none */
} Seg;

typedef struct App {
    AppArgs args;
    AppConfig cfg;
    char *cfg_path;
    Store *st;
    Worker *wk;
    Theme theme;
    Keymap keys;
    int W, H;
    int dirty;
    int quit;

    /* language model */
    int loading, loaded;
    double load_frac;
    char *model_dir, *backend;
    char *where, *where_brief; /* the other loaded models and their backends (EV_MODELS) */
    int ctx, ctx_used;
    double tok_s;
    GenerateParams gp;

    /* message line */
    char note[512];
    int note_err;
    int note_sticky; /* an alert: stays until Esc acknowledges it */
    int note_hold;   /* an error shown: later notes wait for a key (log only) */
    int note_more;   /* errors that came while one was held */
    char **log;      /* every note and error, oldest first (msglog.c) */
    int n_log, log_scroll;
    int interrupt_armed; /* Ctrl-C pressed once while idle: again quits */

    /* chat */
    int64_t session;
    char *session_title;
    Msg *msgs;
    int n_msgs, cap_msgs;
    int replying;   /* the last message is a reply being written */
    int scroll;     /* chat lines scrolled back from the bottom */
    Editor ed;

    /* personas and templates */
    Persona *personas;
    size_t n_personas;
    int persona_sel;
    char *persona; /* chosen; NULL: the model's default system prompt */
    char *adapters; /* the LoRA adapters of the last reply (status bar), or NULL */
    Template *templates;
    size_t n_templates;
    int template_sel;
    char *template_name;

    /* transcript */
    Seg *segs;
    int n_segs, cap_segs;
    int whisper_ready, whisper_loading;
    capture *cap;
    capture *voice;     /* a voice message being recorded */
    char *voice_path;
    int64_t voice_rec;
    double voice_t0;
    int speech_model;   /* the loaded model hears voice messages */
    int64_t rec_id, last_rec; /* the recording in progress; the last one made */
    /* recordings in the order the engine thread numbers them (worker.h):
     * the row of recording k is rec_of[k % 16] */
    int n_recs;
    int64_t rec_of[16];
    double rec_t0;
    int rec_live;   /* the recording in progress goes to the live transcriber */
    int rec_paused; /* ... and is paused (capture_pause) */
    int seg_scroll;
    /* the recording whose segments the pane shows (0: none stored), and
     * its speakers' names as last read (pane_transcript.c) */
    int64_t seg_rec;
    StoreSpeaker *spk;
    size_t n_spk;

    /* panes and overlays */
    PaneId focus;
    int zoom;
    int commands;          /* the focused side pane takes letters as commands */
    Rect rect[P_COUNT];    /* where each pane was last drawn */
    int shown[P_COUNT];    /* and whether it was */
    int chat_total;        /* chat lines at the last draw (the view holds still) */
    char *model_offer;     /* a folder chosen in the app, to be remembered */
    Overlay ov;
    int ov_sel;
    StoreSession *sessions;
    size_t n_sessions;
    StoreHit *hits;
    size_t n_hits;
    Editor ov_ed; /* the search or rename field */
    char **help;
    int n_help, help_scroll;
    Download dl;

    /* history.c: the message selected in the chat (selecting: sel indexes
     * msgs), the streamed reply's last save, and the open y/n question */
    int selecting, sel;
    int reply_tokens;
    double reply_saved_t;
    char ask_text[256];
    void (*ask_yes)(struct App *a);
    int64_t ask_id; /* the message the question is about */
} App;

/* Redraw flags an action or key handler returns. */
enum { R_NONE = 0, R_HANDLED = 1, R_REDRAW = 2 };
#define R_DONE (R_HANDLED | R_REDRAW)

/* A pane: its title, the key context its bindings live in, how it draws
 * and how it acts (as htop's Panel and tig's view_ops). An ActionFn returns
 * redraw flags (R_*, below). */
typedef int (*ActionFn)(App *a);

typedef struct {
    const char *title;
    KeyContext ctx;                 /* where its bindings live (keys.h) */
    void (*draw)(App *a, PaneId p, Rect r, int focused);
    const ActionFn *actions;        /* indexed by KeyAction; NULL: none */
    int (*key)(App *a, int key);    /* a key that is no action; R_* */
    /* A mouse click at row (0: the first row inside the border) of the
     * focused pane; R_*. NULL: a click only focuses. */
    int (*click)(App *a, int row);
} PaneOps;
/* An overlay: its title, key context, own action handlers (NULL: none),
 * how it draws its body and the keys that are no action. An open overlay
 * takes every key but quit. */
typedef struct {
    const char *title;
    KeyContext ctx;
    const ActionFn *actions;
    void (*draw)(App *a, Rect body);
    void (*key)(App *a, int key);
} OverlayOps;

/* overlay.c: the overlays, indexed by Overlay (OV_NONE has none); the open
 * one drawn over the panes; the sessions list (re)opened; the search run. */
extern const OverlayOps app_overlays[OV_COUNT];
void overlay_draw(App *a);
void overlay_sessions_open(App *a);
void overlay_search_run(App *a);
/* Asks which template the report of recording rec uses (the chosen one
 * first), and writes it on Enter. */
void overlay_report_offer(App *a, int64_t rec);

/* overlay.c: an editing key for the one-line field (a->ov_ed); 1 when it
 * was one. */
int overlay_field_key(App *a, int key);
/* The one-line field at the top of b, the cursor in it. */
void overlay_field_draw(App *a, Rect b);

/* overlay_meetings.c: the meetings library, its overlays' parts (the table
 * is overlay.c's) and what the app tells it. */
void meetings_open(App *a);
void meetings_on_transcribed(App *a, int64_t rec);
/* At start: recordings left in status 'recording' whose file is there (a
 * crash or kill ended the app that made them) are offered for recovery;
 * y repairs them (recordings_repair: the WAV header fixed, the row
 * complete) and opens the library, where t transcribes them. */
void meetings_recovery_offer(App *a);
void meetings_recover_draw(App *a, Rect b);
void meetings_recover_key(App *a, int key);
extern const ActionFn meetings_actions[KEYS_N_ACTIONS];
void meetings_draw(App *a, Rect b);
void meetings_key(App *a, int key);
void meetings_view_draw(App *a, Rect b);
void meetings_view_key(App *a, int key);
void meetings_export_draw(App *a, Rect b);
void meetings_export_key(App *a, int key);
void meetings_rename_key(App *a, int key);
void meetings_confirm_draw(App *a, Rect b);
void meetings_confirm_key(App *a, int key);

/* pane_transcript.c: the segments the pane shows. Clears them (and
 * forgets their recording); adds one (text and label copied; speaker NULL
 * or '' for none); shows the stored transcript of recording rec instead
 * (refused, with a note, while recording); reads the names of a->seg_rec's
 * speakers again. */
void transcript_clear(App *a);
void transcript_add(App *a, double t0, double t1, const char *speaker, const char *text);
void transcript_show(App *a, int64_t rec);
void transcript_names_reload(App *a);
/* What the pane shows for label: its name, else the label; *colour the
 * theme element of its colour (THEME_SPEAKER_1.., one per speaker in turn). */
const char *transcript_speaker(App *a, const char *label, int *colour);

/* overlay_speakers.c: the speakers dialog. Lists recording rec's labels
 * with their names, segments and time; Enter edits the selected one's
 * name (an empty name takes it away); Esc goes back to back (OV_NONE or
 * the library). */
void speakers_open(App *a, int64_t rec, Overlay back);
void speakers_draw(App *a, Rect b);
void speakers_key(App *a, int key);
void speakers_name_draw(App *a, Rect b);
void speakers_name_key(App *a, int key);

/* pane_chat.c: one laid-out markdown line at (y, x) in w columns, styled
 * as the chat shows replies. */
void draw_md_line(App *a, int y, int x, int w, const MdLine *l);

/* The pane kinds: pane_chat.c, pane_transcript.c and pane_list.c, whose
 * kind personas and templates share. pane_messages is the chat pane while a
 * message is selected (a->selecting): same drawing, the "messages" keys. */
extern const PaneOps pane_chat, pane_transcript, pane_persona, pane_template, pane_messages;
/* A click at screen row y of the chat pane drawn in r: the message there
 * selected (R_DONE), or R_NONE when the row shows none. */
int pane_chat_click(App *a, Rect r, int y);

/* ------------------------------------------------- history.c: the session tree
 *
 * The chat shows one branch of the session's tree (store/session.h): each
 * message is stored after the one above it, so regenerating a reply or
 * editing a message (which drops the messages below it from the screen)
 * stores a sibling, never overwriting. A reply is stored while it streams,
 * marked partial, at most every HISTORY_SAVE_MS and at its end. */
#define HISTORY_SAVE_MS 250
/* Stores m (its parent: the message above it) or updates its row; its
 * status from m->partial and m->cancelled. Needs a->session. */
void history_store(App *a, Msg *m, int tokens, double ms);
/* A token was added to the reply being written: stored when due. */
void history_reply_token(App *a);
/* The reply being written failed: its row, if any, goes. */
void history_reply_drop(App *a);
/* Message i's previous (delta -1) or next (1) version: that branch shown. */
void history_step(App *a, int i, int delta);
/* Message i written again (a reply) or its reply written again (a user
 * message): the new reply is a sibling. */
void history_regenerate(App *a, int i);
/* The user message at or above i back in the editor; it and what follows
 * leave the screen (sending stores a sibling). */
void history_edit(App *a, int i);
/* Asks before removing message i and what follows it. */
void history_delete(App *a, int i);
/* Opens the y/n question text; y runs yes. */
void history_ask(App *a, const char *text, void (*yes)(App *a));
/* Ctrl-Q: asks first while a reply is written or a recording runs. */
void history_quit(App *a);
void history_ask_draw(App *a, Rect body);
void history_ask_key(App *a, int key);

/* A special key's code (keys.h). */
#define K(x) (KEYS_FN | (x))

/* editor_keys.c: key, one of the editor's own keys or text, applied to e
 * (cols: its width; multiline: Up, Down and Tab are the editor's too); 1
 * when it was one, 0 otherwise. */
int editor_key(Editor *e, int key, int cols, int multiline);

/* msglog.c: the message log. Adds a note or error (err) to the log, oldest
 * dropped past a limit; frees it. */
void msglog_add(App *a, int err, const char *text);
void msglog_free(App *a);

/* input.c: keys and the mouse beyond the key table. A key that no action
 * took in a side pane: a printable one goes to the message editor (focus to
 * the chat) unless the pane takes commands (a->commands); R_*. */
int input_side_key(App *a, int key);
/* A KEY_MOUSE from ncurses: a click focuses the pane under it (and calls
 * its click hook), the wheel scrolls it. */
void input_mouse(App *a);
/* Turns mouse reporting on (unless the settings say mouse = off). */
void input_mouse_start(App *a);
/* The first key bound to act, its name into kn ("" when none); kn. */
const char *app_key_of(const App *a, KeyAction act, char kn[KEYS_NAME_MAX]);
/* Scrolls pane p back by rows (forward when negative), clamped at draw. */
void app_scroll(App *a, PaneId p, int rows);
/* The rows of pane p's inside at the last draw (a page), at least 1. */
int app_page_rows(App *a, PaneId p);

/* The one instruction for having no model, into out. */
void app_no_model_hint(App *a, char *out, size_t cap);
/* Loads the model folder or repo id path (the model prompt, C-o). */
void app_model_open(App *a, const char *path);

/* clipboard.c: copies text where it will be found: wl-copy under Wayland,
 * xclip under X, tmux's paste buffer inside tmux, else the terminal (OSC
 * 52). The place it went into where (for the note); -1 when no way worked. */
int clipboard_copy(const char *text, char *where, size_t cap);

/* ------------------------------------------------- app.c, for the panes */

/* The first run's default models. */
#define DEFAULT_MODEL "Qwen/Qwen2.5-0.5B-Instruct"
#define DEFAULT_WHISPER "openai/whisper-base"

/* Opens session id in the chat; starts a new one (saved with its first
 * message). */
void app_session_load(App *a, int64_t id);
void app_session_new(App *a);
/* Starts the first run's download (worker_pull). */
void app_download_start(App *a);
/* The template a report uses: the chosen one, else the selected; NULL. */
const char *app_report_template(App *a);

/* The bottom line's message (err: shown as an error). */
void app_note(App *a, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The chosen persona or template: the selected one. */
void app_persona_choose(App *a);
void app_template_choose(App *a);
/* list_edit.c: the selected persona or template (or a new one, create)
 * in $EDITOR, saved when it parses (a failed edit reopens the user's text
 * with the error as a comment at its line); an edit that changes the name
 * asks (OV_LIST_RENAME): rename, save as a copy, or drop. */
void app_list_edit(App *a, int persona, int create);
/* Asks (OV_LIST_DELETE), then deletes the selected persona or template. */
void app_list_delete(App *a, int persona);
void list_rename_draw(App *a, Rect b);
void list_rename_key(App *a, int key);
void list_delete_draw(App *a, Rect b);
void list_delete_key(App *a, int key);
/* Reads the personas and templates again (selections kept in range). */
void app_lists_reload(App *a);
/* Frees message m's strings and layout. */
void app_msg_free(Msg *m);
/* Sends the message editor's text. */
void app_send_input(App *a);
/* Sends the conversation on screen and opens the reply. */
void app_ask(App *a);
/* Copies the selected message, else the last reply, to the clipboard. */
void app_copy_message(App *a);
/* Starts or stops recording from the microphone. */
void app_record_toggle(App *a);
/* Pauses or resumes the recording in progress. */
void app_record_pause(App *a);
/* Writes the report of recording rec with template tmpl as persona (NULL:
 * none) into the chat; refused (a note) while rec is still recording. */
void app_report_start(App *a, int64_t rec, const char *tmpl, const char *persona);

/* Drawing: s[0..n) at (y, x) in at most cols columns (returns the columns
 * used); cols blanks; a box with a title. */
int ui_put(int y, int x, const char *s, size_t n, int cols);
void ui_fill(int y, int x, int cols);
void ui_box(int y, int x, int h, int w, const char *title, int focused);
/* Code point c as UTF-8 into u; its length. */
int ui_utf8_put(unsigned c, char *u);

#endif
