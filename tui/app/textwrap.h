/* textwrap.h - display width, wrapping and cursor movement over UTF-8 text.
 *
 * Pure functions, no terminal: the chat pane and the input editor build on
 * them, and the unit tests check them headless.
 *
 * Width: a code point takes utf8proc_charwidth columns (wide CJK and emoji 2,
 * combining marks 0), control characters take 0, and a byte that does not
 * start a valid UTF-8 sequence takes 1 (the UI draws it as U+FFFD). A tab
 * advances to the next multiple of 4 columns, counted from the start of the
 * text being measured (each wrapped row is measured from its own start).
 *
 * Characters: the unit of cursor movement and of wrapping is a base code
 * point plus the combining marks, variation selectors and emoji modifiers
 * that follow it, and, after a zero-width joiner, the next code point
 * (so a ZWJ emoji sequence moves and wraps as one). Its width is the sum of
 * its code points' widths, as wcwidth-based terminals count it. Control
 * characters and invalid bytes are characters of their own. No function here
 * ever splits a character. */
#ifndef UNUM_TEXTWRAP_H
#define UNUM_TEXTWRAP_H

#include <stddef.h>

/* ------------------------------------------------------------ width */

/* Display columns of s[0..n). */
int tw_width(const char *s, size_t n);
/* How many bytes of s[0..n) fit in cols columns without splitting a
 * character; *used (may be NULL) gets their width. */
size_t tw_fit(const char *s, size_t n, int cols, int *used);

/* ------------------------------------------------------------ characters */

/* The byte offset of the next character boundary after i (n when i >= n). */
size_t tw_next_char(const char *s, size_t n, size_t i);
/* The character boundary before i (0 when i == 0). */
size_t tw_prev_char(const char *s, size_t n, size_t i);
/* Readline's Alt-f: skips non-word characters, then word characters, and
 * returns the offset after the word. A word is a run of characters whose
 * base is a letter or a digit (utf8proc category L* or N*). */
size_t tw_next_word(const char *s, size_t n, size_t i);
/* Readline's Alt-b: skips non-word characters backwards, then word
 * characters, and returns the offset of the word's start. */
size_t tw_prev_word(const char *s, size_t n, size_t i);

/* ------------------------------------------------------------ wrapping */

/* One display line of a wrapped paragraph: bytes [start, end) of it, to be
 * drawn after indent columns of blank. */
typedef struct {
    size_t start, end;
    int indent;
} TwLine;

/* Word-wraps the paragraph s[0..n) (no newlines expected; a '\n' is a
 * control character) to cols columns: breaks at spaces, which are dropped
 * at the break, and between wide (CJK) characters; a word longer than the
 * line is broken at character boundaries. Continuation lines get indent
 * columns of hanging indent (clamped so that at least one column is left).
 * The first line keeps the paragraph's leading spaces. Every line is at most
 * cols columns wide (indent included) unless a single character is wider
 * than the room left, which then takes a line of its own. An empty paragraph
 * is one empty line. Returns the number of lines; *out is a new array. */
int tw_wrap(const char *s, size_t n, int cols, int indent, TwLine **out);

/* ------------------------------------------------------------ editor layout */

/* One screen row of the input editor: bytes [start, end) of the buffer;
 * end never includes the '\n' that ends a logical line. */
typedef struct {
    size_t start, end;
} TwRow;

typedef struct {
    TwRow *row;
    int n, cap;
} TwLayout;

/* Lays out a multi-line buffer (lines end at '\n') for an editor cols
 * columns wide (cols >= 1). Rows are word-wrapped like tw_wrap, but every
 * byte stays on a row so that each offset has a place: the space at which a
 * row breaks stays at its end and may sit in column cols, one past the text;
 * give the editor one column fewer than its window so that this column, and
 * the cursor at the end of a full row, have a cell. Every logical line has
 * at least one row; the layout is zeroed or previously laid out. */
void tw_layout(TwLayout *lay, const char *s, size_t n, int cols);
void tw_layout_free(TwLayout *lay);
/* The (row, col) of byte offset off (clamped to n). An offset at a row's
 * end belongs to the next row when the row was broken by wrapping, and to
 * the row itself when a '\n' or the buffer's end follows; col <= cols. */
void tw_layout_pos(const TwLayout *lay, const char *s, size_t n, size_t off, int *row, int *col);
/* The offset for (row, col), for Up/Down: the last character boundary of
 * that row (clamped to the layout) whose column is <= col. Round-trips with
 * tw_layout_pos for every boundary of text without zero-width characters. */
size_t tw_layout_offset(const TwLayout *lay, const char *s, size_t n, int row, int col);

#endif
