/* editor_keys.c - the editor's keys (keys_editor_reserved and text) mapped to
 * editor.h's calls, for the message editor and the one-line fields (search,
 * rename, the model path) alike. See pane.h. */
#include "tui/app/pane.h"

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

int editor_key(Editor *e, int key, int cols, int multiline) {
    switch (key) {
    case K(KEY_LEFT):
    case 2:
        ed_left(e);
        break;
    case K(KEY_RIGHT):
    case 6:
        ed_right(e);
        break;
    case K(KEY_HOME):
    case 1:
        ed_home(e);
        break;
    case K(KEY_END):
    case 5:
        ed_end(e);
        break;
    case K(KEY_BACKSPACE):
        ed_backspace(e);
        break;
    case K(KEY_DC):
    case 4:
        ed_delete(e);
        break;
    case 11:
        ed_kill_line(e);
        break;
    case 21:
        ed_kill_to_start(e);
        break;
    case 23:
        ed_delete_word_left(e);
        break;
    case KEYS_ALT | 'b':
    case K(KEYS_X_C_LEFT):
        ed_word_left(e);
        break;
    case KEYS_ALT | 'f':
    case K(KEYS_X_C_RIGHT):
        ed_word_right(e);
        break;
    case K(KEY_UP):
        if (!multiline) return 0;
        ed_up(e, cols);
        break;
    case K(KEY_DOWN):
        if (!multiline) return 0;
        ed_down(e, cols);
        break;
    case '\t':
        if (!multiline) return 0;
        ed_insert(e, "\t", 1);
        break;
    default:
        if (!keys_is_text(key)) return 0;
        char u[4];
        ed_insert(e, u, (size_t)ui_utf8_put((unsigned)key, u));
    }
    return 1;
}
