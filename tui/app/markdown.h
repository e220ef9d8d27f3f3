/* markdown.h - light markdown to styled display lines.
 *
 * The chat pane shows model replies as they stream: after every token it
 * lays out the whole reply again with md_render, which is linear in the
 * text and never fails, whatever the text (half-streamed or hostile).
 *
 * Lines: each source line is a paragraph of its own (chat text keeps its
 * line breaks) and is word-wrapped to the width; inline markers pair within
 * one source line. A line's text is valid UTF-8 with no control characters:
 * invalid bytes become U+FFFD, tabs become spaces (stops every 4 columns),
 * other control characters are dropped, and a character wider than the room
 * on a line (a wide character or a joined sequence at width 1) becomes one
 * U+FFFD, repeatedly, until none is (a U+FFFD after a zero-width joiner joins
 * the character before it). So a pane one column wide shows one column per
 * character, and every line is at most cols display columns wide (tw_width),
 * which is the property fuzz_markdown checks.
 *
 * Supported:
 *   # .. ###### headings      markers hidden; block MD_HEADING, spans MD_HEADING
 *   **bold** __bold__          MD_BOLD; markers hidden
 *   *italic* _italic_          MD_ITALIC; `_` not inside words; an unclosed
 *                              marker stays literal text
 *   `code`                     MD_CODE; any run of backticks closed by an
 *                              equal run; contents taken literally
 *   \*                         a backslash escapes ASCII punctuation
 *   ``` or ~~~ fences          a code block (optional language after the
 *                              fence; fences may be indented, and that
 *                              indent is stripped from the block's lines).
 *                              Every line of it has block MD_CODEBLOCK and
 *                              code_block k: first a header line holding the
 *                              language (maybe empty), then the code lines,
 *                              not reflowed but cut at the width, then an
 *                              empty footer line for the closing fence. An
 *                              unclosed fence runs to the end of the text.
 *   - * + lists, 1. 2) lists   the marker shown as "• " (or the number kept)
 *                              with span MD_BULLET, continuation lines
 *                              indented under the text; two leading spaces
 *                              nest one level deeper
 *   > quotes                   "│ " per level, span MD_QUOTE; block MD_QUOTE
 *   --- *** ___ rules          a line of U+2500 of the full width, span MD_RULE
 *   blank lines                kept, runs of them collapsed to one
 * A prefix (bullet, quote bars) that leaves no room at a tiny width is cut so
 * that at least one column of text remains. */
#ifndef UNUM_MARKDOWN_H
#define UNUM_MARKDOWN_H

#include <stddef.h>

enum {
    MD_BOLD = 1,
    MD_ITALIC = 2,
    MD_CODE = 4,
    MD_HEADING = 8,
    MD_CODEBLOCK = 16,
    MD_BULLET = 32,
    MD_QUOTE = 64,
    MD_RULE = 128,
};

/* A styled stretch of a line: bytes [start, start + len) of its text. Spans
 * are sorted, disjoint, and never empty; bytes outside any span are plain. */
typedef struct {
    int start, len;
    unsigned style;
} MdSpan;

typedef struct {
    char *text; /* NUL-terminated display text */
    int len;    /* bytes of text */
    MdSpan *spans;
    int n_spans;
    unsigned block; /* MD_CODEBLOCK, MD_HEADING, MD_QUOTE or 0 */
    int code_block; /* index of the fenced block this line belongs to, -1 otherwise */
} MdLine;

typedef struct {
    MdLine *line;
    int n, cap;
    int n_code_blocks;
} MdDoc;

/* Lays out markdown text for a width of cols columns (values below 1 count
 * as 1), replacing what doc held; doc is zeroed or previously rendered. */
void md_render(MdDoc *doc, const char *text, size_t len, int cols);
/* Frees the lines; doc is left zeroed. */
void md_free(MdDoc *doc);
/* The raw text of fenced code block k (0-based, numbered as md_render does)
 * without its fences and with the fence's indent stripped, each line ending
 * in '\n': a new string, or NULL when there is no block k. */
char *md_code_block(const char *text, size_t len, int k);

#endif
