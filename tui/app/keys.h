/* keys.h - key codes, key names and the key-binding table.
 *
 * Every action the app binds is declared once, in KEYS_ACTIONS below, with
 * its context, default keys and help text; the help overlay, the defaults and
 * the key file parser all read that table.
 *
 * Key codes. A key is one int:
 *   - a character: its Unicode code point (Enter is 13, Tab 9, Esc 27,
 *     Space 32, C-a..C-z are 1..26, so C-i is Tab, C-m is Enter, C-j is 10);
 *   - a special key: KEYS_FN | the ncurses KEY_* code (KEY_F(1), KEY_PPAGE,
 *     KEY_BTAB, ...), and KEYS_FN | KEYS_X_* for keys ncurses has no fixed
 *     code for (C-Left, C-Right, C-Up, C-Down). The flag keeps KEY_* codes
 *     (0401..0777) apart from the characters U+0101..U+01FF they equal;
 *   - either of these | KEYS_ALT when Alt was held: the app reads with
 *     wget_wch, and an Esc followed within ESCDELAY by another key is that key
 *     with KEYS_ALT (keys_from_curses + keys_alt).
 * The app must call nonl() so that Enter reads as 13 and C-j as 10;
 * keys_from_curses() turns KEY_ENTER into 13 and DEL (127) into Backspace.
 *
 * Contexts. An action belongs to one context: "global" acts everywhere,
 * the others only while their pane has the focus. A pane's own binding of a
 * key hides a global binding of it. In the input context printable keys
 * (characters from Space up, without Alt) are always text, so a global '?'
 * is help everywhere but in the message editor. Global and input bindings
 * may not take the editor's own keys (keys_editor_reserved). */
#ifndef UNUM_KEYS_H
#define UNUM_KEYS_H

#include <stddef.h>

#define KEYS_FN (1 << 22)
#define KEYS_ALT (1 << 23)
#define KEYS_X_C_LEFT 01000 /* past ncurses' KEY_MAX (0777) */
#define KEYS_X_C_RIGHT 01001
#define KEYS_X_C_UP 01002
#define KEYS_X_C_DOWN 01003

#define KEYS_PER_ACTION 4 /* keys one action may have */
#define KEYS_NAME_MAX 24  /* bytes for any key name and its NUL */

/* X(ID, name, context) */
#define KEYS_CONTEXTS(X)                                                                           \
    X(GLOBAL, "global", "Everywhere")                                                              \
    X(INPUT, "input", "Message editor")                                                            \
    X(SESSIONS, "sessions", "Sessions pane")                                                       \
    X(PERSONAS, "personas", "Personas pane")                                                       \
    X(TEMPLATES, "templates", "Templates pane")                                                    \
    X(MEETINGS, "meetings", "Meetings library")                                                    \
    X(MESSAGES, "messages", "Selected message (chat)")

typedef enum {
#define X(id, name, title) KEYS_CTX_##id,
    KEYS_CONTEXTS(X)
#undef X
        KEYS_N_CONTEXTS
} KeyContext;

/* X(ID, name, context, default keys, description) */
#define KEYS_ACTIONS(X)                                                                            \
    X(QUIT, "quit", GLOBAL, "C-q", "quit unum")                                                    \
    X(SEND, "send", INPUT, "Enter", "send the message")                                            \
    X(NEWLINE, "newline", INPUT, "M-Enter C-j", "start a new line in the message")                 \
    X(FOCUS_NEXT, "focus_next", GLOBAL, "Tab", "focus the next pane")                              \
    X(FOCUS_PREV, "focus_prev", GLOBAL, "S-Tab", "focus the previous pane")                        \
    X(ZOOM, "zoom", GLOBAL, "F11 M-z", "zoom the focused pane to the whole screen and back")       \
    X(CANCEL, "cancel", GLOBAL, "Esc",                                                            \
      "stop the reply, close the overlay, leave a pane's commands or the pane shown alone")       \
    X(INTERRUPT, "interrupt", GLOBAL, "C-c",                                                      \
      "stop the reply; pressed twice in a row while idle, quit")                                  \
    X(SUSPEND, "suspend", GLOBAL, "C-z", "suspend unum to the shell (fg resumes it)")              \
    X(COMMANDS, "commands", GLOBAL, "M-c",                                                        \
      "in a side pane, let letters run its commands (e edit, n new...) until Esc")                \
    X(MESSAGES, "messages", GLOBAL, "F9", "show the message log: every note and error so far")    \
    X(OPEN_MODEL, "open_model", GLOBAL, "C-o", "load a language model from a folder you type")    \
    X(HELP, "help", GLOBAL, "F1 ?", "show this help")                                              \
    X(REGENERATE, "regenerate", GLOBAL, "C-r", "generate the last reply again")                    \
    X(EDIT_LAST, "edit_last", GLOBAL, "M-e", "edit the last message and send it again")            \
    X(COPY_MESSAGE, "copy_message", GLOBAL, "C-y", "copy the selected or last reply")              \
    X(COPY_CODE, "copy_code", GLOBAL, "M-y", "copy the last code block")                           \
    X(EXPORT, "export", GLOBAL, "C-x", "export the session as Markdown")                           \
    X(SESSIONS, "sessions", GLOBAL, "F2", "show the saved sessions")                               \
    X(NEW_SESSION, "new_session", GLOBAL, "C-n", "start a new session")                            \
    X(SEARCH, "search", GLOBAL, "F3", "search messages and transcripts")                           \
    X(THEME_NEXT, "theme_next", GLOBAL, "F4", "switch to the next colour theme")                   \
    X(RECORD, "record", GLOBAL, "F5", "start or stop recording from the microphone")               \
    X(PERSONAS, "personas", GLOBAL, "F6", "show the personas")                                     \
    X(TEMPLATES, "templates", GLOBAL, "F7", "show the report templates")                           \
    X(VOICE, "voice", GLOBAL, "F8",                                                               \
      "record a voice message for a speech model; F8 again sends it")                             \
    X(SCROLL_UP, "scroll_up", GLOBAL, "PgUp", "scroll the chat or transcript up a page")           \
    X(SCROLL_DOWN, "scroll_down", GLOBAL, "PgDn", "scroll the chat or transcript down a page")       \
    X(PAGE_TOP, "page_top", GLOBAL, "M-<", "go to the start of the chat or transcript")            \
    X(PAGE_BOTTOM, "page_bottom", GLOBAL, "M->", "go to the end of the chat or transcript")        \
    X(SESSION_OPEN, "session_open", SESSIONS, "Enter", "open the selected session")                \
    X(SESSION_DELETE, "session_delete", SESSIONS, "d Delete", "delete the selected session")       \
    X(PERSONA_PICK, "persona_pick", PERSONAS, "Enter", "use the selected persona")                 \
    X(PERSONA_EDIT, "persona_edit", PERSONAS, "e", "edit the selected persona")                    \
    X(PERSONA_NEW, "persona_new", PERSONAS, "n", "create a persona")                               \
    X(TEMPLATE_PICK, "template_pick", TEMPLATES, "Enter", "use the selected template")             \
    X(TEMPLATE_EDIT, "template_edit", TEMPLATES, "e", "edit the selected template")                \
    X(TEMPLATE_NEW, "template_new", TEMPLATES, "n", "create a template")                           \
    X(TEMPLATE_REPORT, "template_report", TEMPLATES, "r",                                         \
      "write a report of the last recording with the selected template")                         \
    X(MEETINGS, "meetings", GLOBAL, "F12 M-m", "open the meetings library: recordings, reports")   \
    X(RECORD_PAUSE, "record_pause", GLOBAL, "M-p", "pause or resume the recording")                \
    X(MEETING_OPEN, "meeting_open", MEETINGS, "Enter", "read the recording's reports")             \
    X(MEETING_REPORT, "meeting_report", MEETINGS, "r", "write a report: template and persona")     \
    X(MEETING_EXPORT, "meeting_export", MEETINGS, "x", "export it as md, json, vtt or srt")        \
    X(MEETING_RENAME, "meeting_rename", MEETINGS, "R", "rename the recording")                     \
    X(MEETING_DELETE, "meeting_delete", MEETINGS, "d Delete",                                      \
      "delete it, its reports and its file")                                                       \
    X(MEETING_TRANSCRIBE, "meeting_transcribe", MEETINGS, "t",                                     \
      "transcribe what is not transcribed")                                                        \
    X(MEETING_SPEAKERS, "meeting_speakers", MEETINGS, "s",                                         \
      "name the recording's speakers (S0, S1, ... from the speech model)")                         \
    X(MEETING_VIEW, "meeting_view", MEETINGS, "v", "show its transcript in the transcript pane")   \
    X(PERSONA_DELETE, "persona_delete", PERSONAS, "d Delete", "delete the selected persona")       \
    X(TEMPLATE_DELETE, "template_delete", TEMPLATES, "d Delete", "delete the selected template")   \
    X(SIBLING_PREV, "sibling_prev", GLOBAL, "M-,",                                                 \
      "show the previous version of the selected or last message")                                 \
    X(SIBLING_NEXT, "sibling_next", GLOBAL, "M-.",                                                 \
      "show the next version of the selected or last message")                                     \
    X(SELECT, "select", GLOBAL, "C-p", "select a message in the chat (the last one first)")        \
    X(MESSAGE_UP, "message_up", MESSAGES, "Up k C-p", "select the message above")                  \
    X(MESSAGE_DOWN, "message_down", MESSAGES, "Down j C-n", "select the message below")            \
    X(MESSAGE_COPY, "message_copy", MESSAGES, "c y", "copy the selected message")                  \
    X(MESSAGE_EDIT, "message_edit", MESSAGES, "e",                                                 \
      "edit the selected message; Enter sends it as a new version")                                \
    X(MESSAGE_REGENERATE, "message_regenerate", MESSAGES, "r",                                     \
      "write the selected reply (or the reply to it) again, as a new version")                     \
    X(MESSAGE_DELETE, "message_delete", MESSAGES, "d Delete",                                      \
      "delete the selected message and what follows it (asks)")                                    \
    X(MESSAGE_PREV, "message_prev", MESSAGES, "Left h",                                            \
      "show the selected message's previous version")                                              \
    X(MESSAGE_NEXT, "message_next", MESSAGES, "Right l",                                           \
      "show the selected message's next version")                                                  \
    X(MESSAGE_LEAVE, "message_leave", MESSAGES, "Esc q", "leave the selection")

typedef enum {
    KEYS_NONE = -1,
#define X(id, name, ctx, keys, desc) KEYS_##id,
    KEYS_ACTIONS(X)
#undef X
        KEYS_N_ACTIONS
} KeyAction;

typedef struct {
    int key[KEYS_N_ACTIONS][KEYS_PER_ACTION];
    int n[KEYS_N_ACTIONS];    /* keys bound to each action */
    int line[KEYS_N_ACTIONS]; /* key file line that bound them; 0 = default */
} Keymap;

/* ---------------------------------------------------------- key names */

/* The canonical name of code into out ("C-q", "M-Enter", "F5", "é") and
 * returns out; "?" for a code that is no key. */
char *keys_name(int code, char out[KEYS_NAME_MAX]);
/* The code of a key name, or -1. Canonical names are those keys_name()
 * writes; also accepted: any case for named keys ("enter", "PGUP"),
 * "C-A" for "C-a", C-i/C-m for Tab/Enter and Return, Escape, Del, Ins,
 * PageUp, PageDown, BTab. A single character is itself; Space is "Space". */
int keys_parse_name(const char *name);
/* The code for what wget_wch gave: is_key_code when it returned
 * KEY_CODE_YES. -1 for nothing bindable. */
int keys_from_curses(int is_key_code, unsigned ch);
/* code with Alt held (an Esc came first); -1 when code already has Alt. */
int keys_alt(int code);
/* 1 when code is typed text in the message editor. */
int keys_is_text(int code);
/* 1 when the message editor handles code itself (C-a, Home, M-f, ...). */
int keys_editor_reserved(int code);

/* ------------------------------------------------------------ actions */

const char *keys_action_name(KeyAction a);
const char *keys_action_description(KeyAction a);
KeyContext keys_action_context(KeyAction a);
const char *keys_context_name(KeyContext c);
/* The action with that name, or KEYS_NONE. */
KeyAction keys_action_find(const char *name);

/* ------------------------------------------------------------ keymaps */

/* The default bindings. */
void keys_defaults(Keymap *m);
/* Parses a key file image text[0..len) over the defaults:
 *   ACTION = KEY [KEY...]   the action's keys, replacing its defaults (none
 *                           after '=' unbinds it; at most KEYS_PER_ACTION)
 *   unbind KEY              removes KEY from every action bound so far
 *   # comment
 * origin names the file in messages. 0, or -1 with the error of the first
 * bad line, "ORIGIN:LINE: problem" (and how many more there were), for an
 * unknown action or key, too many keys, an action given twice, an editor key
 * or a printable key bound where the editor owns it, one key bound to two
 * actions of one context (the message names both), or the limits of
 * conffile.h. A bad line is passed over whole and every other line applies;
 * of two actions given one key, the one bound later keeps its defaults. A
 * file over the size limit leaves the defaults. */
int keys_parse(Keymap *m, const char *text, size_t len, const char *origin);
/* The key file's path ($XDG_CONFIG_HOME/unum/keys, or ~/.config/unum/keys)
 * as a new string; NULL when neither variable names a directory. */
char *keys_config_path(void);
/* keys_parse() of the key file when there is one, else the defaults. */
int keys_load(Keymap *m);
/* The action code triggers in context ctx: the context's own binding, else a
 * global one (never for text keys in the input context); KEYS_NONE. code
 * passes through keys_from_curses() first when it came from the terminal. */
KeyAction keys_lookup(const Keymap *m, int code, KeyContext ctx);
/* The help overlay: one heading line per context, then one line per action
 * of it, "  KEYS  NAME  DESCRIPTION" in aligned columns. New array of new
 * strings; free with keys_help_free. */
void keys_help(const Keymap *m, char ***lines, int *n);
void keys_help_free(char **lines, int n);

/* ------------------------------------------------------------- ncurses */

/* Learns the codes this terminal gives C-Left, C-Right, C-Up and C-Down
 * (terminfo kLFT5, kRIT5, kUP5, kDN5) so keys_from_curses() can report them.
 * Call after initscr(). */
void keys_curses_init(void);

#endif
