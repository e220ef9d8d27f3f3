/* theme.h - colour themes: the screen elements, the theme file parser, the
 * theme search path and the mapping onto ncurses colour pairs.
 *
 * Every element the app draws is declared once, in THEME_ELEMENTS below,
 * with its default look; the built-in "dark" theme is exactly those
 * defaults and the built-in "mono" theme is their attribute column, so the
 * app looks right even when no theme file is installed. Theme files
 * (themes/README.md) override elements one line each.
 *
 * The parser, the search path and the colour arithmetic are pure and need
 * no terminal; only theme_apply() and theme_attr() touch ncurses. */
#ifndef UNUM_THEME_H
#define UNUM_THEME_H

#include <curses.h>
#include <stddef.h>

/* Attributes, as bits of ThemeStyle.attrs (independent of ncurses' A_*). */
#define THEME_A_BOLD 0x01u
#define THEME_A_UNDERLINE 0x02u
#define THEME_A_REVERSE 0x04u
#define THEME_A_DIM 0x08u
#define THEME_A_ITALIC 0x10u

/* Colours are -1 (THEME_DEFAULT: the terminal's own) or 0..255: 0..7 the
 * basic eight, 8..15 their bright forms, 16..255 the xterm 256-colour
 * palette. */
#define THEME_DEFAULT (-1)

/* X(ID, name, description, dark fg, dark bg, dark attrs, mono attrs) */
#define THEME_ELEMENTS(X)                                                                          \
    X(NORMAL, "normal", "ordinary text and pane backgrounds", -1, -1, 0, 0)                        \
    X(STATUS, "status", "the status bar", 15, 236, 0, THEME_A_REVERSE)                             \
    X(STATUS_ACCENT, "status_accent", "highlighted fields of the status bar", 81, 236,             \
      THEME_A_BOLD, THEME_A_REVERSE | THEME_A_BOLD)                                                \
    X(BORDER, "border", "pane borders", 240, -1, 0, THEME_A_DIM)                                   \
    X(BORDER_FOCUS, "border_focus", "the border of the focused pane", 75, -1, THEME_A_BOLD,        \
      THEME_A_BOLD)                                                                                \
    X(TITLE, "title", "pane titles", 250, -1, 0, 0)                                                \
    X(TITLE_FOCUS, "title_focus", "the title of the focused pane", 81, -1, THEME_A_BOLD,           \
      THEME_A_BOLD | THEME_A_UNDERLINE)                                                            \
    X(USER, "user", "text of the user's messages", 255, -1, 0, 0)                                  \
    X(USER_LABEL, "user_label", "the label above the user's messages", 114, -1, THEME_A_BOLD,      \
      THEME_A_BOLD)                                                                                \
    X(ASSISTANT, "assistant", "text of the assistant's replies", 252, -1, 0, 0)                    \
    X(ASSISTANT_LABEL, "assistant_label", "the label above the assistant's replies", 75, -1,       \
      THEME_A_BOLD, THEME_A_BOLD | THEME_A_UNDERLINE)                                              \
    X(SYSTEM_NOTE, "system_note", "notes such as [cancelled]", 244, -1, THEME_A_ITALIC,            \
      THEME_A_DIM | THEME_A_ITALIC)                                                                \
    X(HEADING, "heading", "Markdown headings", 221, -1, THEME_A_BOLD,                              \
      THEME_A_BOLD | THEME_A_UNDERLINE)                                                            \
    X(BOLD, "bold", "Markdown strong text", -1, -1, THEME_A_BOLD, THEME_A_BOLD)                    \
    X(CODE, "code", "inline code", 180, 236, 0, THEME_A_UNDERLINE)                                 \
    X(CODEBLOCK, "codeblock", "fenced code blocks", 187, 235, 0, 0)                                \
    X(QUOTE, "quote", "block quotes", 246, -1, THEME_A_ITALIC, THEME_A_DIM | THEME_A_ITALIC)       \
    X(BULLET, "bullet", "list bullets and numbers", 221, -1, 0, THEME_A_BOLD)                      \
    X(INPUT, "input", "the message editor", -1, -1, 0, 0)                                          \
    X(CURSOR_LINE, "cursor_line", "the selected line of a list", 255, 24, 0, THEME_A_REVERSE)      \
    X(SELECTION, "selection", "selected text", 16, 153, 0, THEME_A_REVERSE)                        \
    X(TIME, "time", "transcript timestamps", 242, -1, 0, THEME_A_DIM)                              \
    X(METER_LOW, "meter_low", "a meter in its low range", 114, -1, 0, 0)                           \
    X(METER_MID, "meter_mid", "a meter in its middle range", 221, -1, 0, THEME_A_BOLD)             \
    X(METER_HIGH, "meter_high", "a meter in its high range", 203, -1, THEME_A_BOLD,                \
      THEME_A_REVERSE)                                                                             \
    X(RECORDING, "recording", "the REC indicator", 15, 160, THEME_A_BOLD,                          \
      THEME_A_REVERSE | THEME_A_BOLD)                                                              \
    X(ERROR, "error", "error messages", 203, -1, THEME_A_BOLD, THEME_A_BOLD | THEME_A_REVERSE)     \
    X(HELP_KEY, "help_key", "key names in the help overlay", 221, -1, THEME_A_BOLD, THEME_A_BOLD)  \
    X(HELP_TEXT, "help_text", "descriptions in the help overlay", 252, -1, 0, 0)                   \
    X(DIM, "dim", "secondary text", 243, -1, 0, THEME_A_DIM)                                       \
    X(SPEAKER_1, "speaker_1", "the first speaker's name in a transcript", 114, -1, THEME_A_BOLD,   \
      THEME_A_BOLD)                                                                                \
    X(SPEAKER_2, "speaker_2", "the second speaker's name", 81, -1, THEME_A_BOLD,                   \
      THEME_A_BOLD | THEME_A_UNDERLINE)                                                            \
    X(SPEAKER_3, "speaker_3", "the third speaker's name", 221, -1, THEME_A_BOLD,                   \
      THEME_A_BOLD | THEME_A_ITALIC)                                                               \
    X(SPEAKER_4, "speaker_4", "the fourth speaker's name (the fifth takes the first's again)",     \
      213, -1, THEME_A_BOLD, THEME_A_UNDERLINE)

typedef enum {
#define X(id, name, desc, fg, bg, attrs, mono) THEME_##id,
    THEME_ELEMENTS(X)
#undef X
        THEME_N
} ThemeElement;

typedef struct {
    short fg, bg;   /* THEME_DEFAULT or 0..255 */
    unsigned attrs; /* THEME_A_BOLD | ... */
} ThemeStyle;

#define THEME_NAME_MAX 64
#define THEME_DESC_MAX 256

typedef struct {
    char name[THEME_NAME_MAX];        /* from `name =`, else the file's base name */
    char description[THEME_DESC_MAX]; /* from `description =`, may be empty */
    ThemeStyle style[THEME_N];
    int line[THEME_N]; /* line that set each element; 0 = built-in default */
} Theme;

/* ------------------------------------------------------------ elements */

/* "status_accent" for THEME_STATUS_ACCENT; NULL out of range. */
const char *theme_element_name(ThemeElement e);
const char *theme_element_description(ThemeElement e);
/* The element with that name (ASCII case ignored), or -1. */
int theme_element_find(const char *name);

/* ------------------------------------------------------------- parsing */

/* Fills t with the built-in theme called name ("dark" or "mono"); -1 with the
 * error set for any other name. */
int theme_builtin(Theme *t, const char *name);
/* Parses a theme file image text[0..len) (need not be NUL-terminated);
 * origin names it in messages, and its base name without ".theme" is the
 * theme's name unless the file sets one. Elements the file leaves out keep
 * the built-in dark look. 0 on success; -1 with the error
 * "ORIGIN:LINE: problem" set, and t holding the dark defaults, on any
 * problem: unknown element or colour or attribute, an element or key given
 * twice, a malformed line, or the limits of conffile.h. */
int theme_parse(Theme *t, const char *text, size_t len, const char *origin);
/* A colour name ("default", "red", "bright-red", "0".."255"; ASCII case
 * ignored) as THEME_DEFAULT or 0..255; -2 when it is none of these. */
int theme_color_parse(const char *s);
/* The canonical name of a colour (static string; "?" out of range). */
const char *theme_color_name(int color);

/* ------------------------------------------------------- colour policy */

/* 1 when the app should start in the mono theme: NO_COLOR is set to a
 * non-empty value (no-color.org), or the terminal has no colours. */
int theme_want_mono(const char *no_color_env, int has_colors);
/* The theme to start with: "mono" when theme_want_mono(), else "dark". */
const char *theme_default_name(const char *no_color_env, int has_colors);
/* Maps a colour onto a terminal with ncolors colours. 256 or more: as is.
 * 16..255: 0..15 as is, 16..255 to the nearest of the sixteen. 8..15: the
 * nearest of the basic eight (bright forms included, by their RGB). Fewer
 * than 8: THEME_DEFAULT. THEME_DEFAULT always stays THEME_DEFAULT.
 * "Nearest" is the least squared RGB distance to the xterm palette values
 * listed in themes/README.md; ties go to the lower number. */
int theme_color_degrade(int color, int ncolors);

/* --------------------------------------------------------- search path */

/* The directories searched for NAME.theme, in order, as new strings:
 * $XDG_CONFIG_HOME/unum/themes (or ~/.config/unum/themes), the source tree's
 * themes/ found from the executable (BIN/../themes, BIN/../../themes) and
 * $XDG_DATA_HOME/unum/themes (or ~/.local/share/unum/themes). Directories
 * that cannot be named are left out. Returns the count (at most 4). */
int theme_search_dirs(char *dirs[4]);
/* The path of the first NAME.theme on the search path, as a new string;
 * NULL with the error set when the name is invalid (only letters, digits,
 * '.', '_', '-') or no file is found. */
char *theme_find(const char *name);
/* Loads theme name: the file theme_find() gives, else the built-in theme of
 * that name. -1 with the error set when neither exists or the file fails to
 * read or parse (t then holds the dark defaults). */
int theme_load(Theme *t, const char *name);
/* The names of all themes on the search path and the built-in ones, sorted
 * and without duplicates, as a new array of new strings (*n of them). */
void theme_list(char ***names, int *n);
void theme_list_free(char **names, int n);

/* ------------------------------------------------------------- ncurses */

/* Makes t the current theme: starts colours on the first call (with the
 * terminal's default colours when it supports them), maps t's colours onto
 * the terminal's, shares one colour pair between elements of the same
 * colours and computes every element's attributes. On a terminal without
 * colours the built-in mono theme is applied instead. Call after initscr();
 * calling again switches themes at run time (cells already drawn take the
 * new colours at the next refresh). 0, or -1 with the error set when the
 * terminal has too few colour pairs (the attributes are still applied). */
int theme_apply(const Theme *t);
/* The attributes (colour pair and A_* bits) for e, for wattr_set/wattron;
 * A_NORMAL before the first theme_apply(). */
attr_t theme_attr(ThemeElement e);
/* The colour pair number of e (0 when it has the default colours). */
short theme_pair(ThemeElement e);

#endif
