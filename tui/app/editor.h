/* editor.h - the app's input editor: a multi-line UTF-8 buffer with a
 * cursor, history and the usual movement keys. No terminal code here: the
 * app maps keys to these calls and draws ed_layout's lines.
 *
 * Movement is by character (a base with its combining marks), by word
 * (letters and digits, readline's Alt-b / Alt-f), by line and to the ends.
 * History keeps sent texts (newest last); Up on the first line and Down on
 * the last walk it, and the text being written is kept while walking. */
#ifndef UNUM_EDITOR_H
#define UNUM_EDITOR_H

#include "tui/app/textwrap.h"

#include <stddef.h>

typedef struct {
    char *buf;     /* NUL-terminated UTF-8 */
    size_t len, cap;
    size_t cur;    /* cursor, a byte offset on a character boundary */
    char **hist;   /* sent texts, oldest first */
    int n_hist, hist_at; /* hist_at == n_hist: not walking */
    char *draft;   /* the text being written, kept while walking history */
} Editor;

void ed_init(Editor *e);
void ed_free(Editor *e);
void ed_clear(Editor *e);
void ed_set(Editor *e, const char *text); /* cursor at the end */
/* Inserts UTF-8 text at the cursor (invalid bytes become U+FFFD; other
 * control characters than newline and tab are dropped). */
void ed_insert(Editor *e, const char *text, size_t n);
void ed_backspace(Editor *e);
void ed_delete(Editor *e);
void ed_left(Editor *e);
void ed_right(Editor *e);
void ed_word_left(Editor *e);
void ed_word_right(Editor *e);
void ed_delete_word_left(Editor *e); /* Ctrl-W */
void ed_home(Editor *e);             /* start of the line */
void ed_end(Editor *e);              /* end of the line */
void ed_kill_line(Editor *e);        /* Ctrl-K: to the end of the line */
void ed_kill_to_start(Editor *e);    /* Ctrl-U: to the start of the line */
/* Up/Down within the wrapped layout at width cols; at the first/last row
 * they walk the history instead. */
void ed_up(Editor *e, int cols);
void ed_down(Editor *e, int cols);
/* Pushes the text to the history (not when empty or the same as the last). */
void ed_remember(Editor *e, const char *text);

/* The buffer laid out for a window cols columns wide (textwrap.h's
 * tw_layout at cols - 1, so that the cursor after a full row has a cell),
 * and the cursor's row and column. lay is zeroed or laid out before. */
void ed_layout(const Editor *e, int cols, TwLayout *lay, int *cur_row, int *cur_col);

#endif
