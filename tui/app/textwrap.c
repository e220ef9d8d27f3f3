/* textwrap.c - display width, wrapping and cursor movement; see textwrap.h.
 *
 * Everything is built on two steps: tw_decode reads one code point (or one
 * invalid byte), and tw_cluster reads one character (a base and what
 * attaches to it) with its width at a given column. Wrapping, fitting and
 * cursor movement all move by tw_cluster, which is why none of them can
 * split a character. */
#include "tui/app/textwrap.h"

#include "engine/base/util.h"

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ code points */

#define TW_ZWJ 0x200D
#define TW_TAB 4 /* tab stops every TW_TAB columns */

/* Decodes the code point at s[i] (i < n) into *cp; an invalid byte gives -1.
 * Returns its length in bytes (1 for an invalid byte). */
static size_t tw_decode(const char *s, size_t n, size_t i, int32_t *cp) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)k;
}

static int tw_is_control(int32_t cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

/* Code points that attach to the character before them. */
static int tw_is_extender(int32_t cp) {
    if (cp == TW_ZWJ || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0x1F3FB && cp <= 0x1F3FF))
        return 1;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

/* Columns of one code point (not a tab): invalid 1, control 0. */
static int tw_cp_width(int32_t cp) {
    if (cp < 0) return 1;
    if (tw_is_control(cp)) return 0;
    int w = utf8proc_charwidth(cp);
    return w < 0 ? 0 : w;
}

/* The start of the code point that ends at i (i > 0): the nearest earlier
 * position from which a valid sequence decodes to exactly i, else i - 1 (an
 * invalid byte). Forward decoding has a boundary there too: a valid sequence
 * starts at a lead byte, and no valid sequence spans a lead byte. */
static size_t tw_cp_before(const char *s, size_t n, size_t i) {
    for (size_t k = 1; k <= 4 && k <= i; k++) {
        int32_t cp;
        if (tw_decode(s, n, i - k, &cp) == k && cp >= 0) return i - k;
    }
    return i - 1;
}

/* ------------------------------------------------------------ characters */

/* Reads the character at s[i] (i < n) placed at column col: *w gets its
 * width there (a tab reaches the next stop). Returns the offset after it. */
static size_t tw_cluster(const char *s, size_t n, size_t i, int col, int *w) {
    int32_t cp;
    size_t j = i + tw_decode(s, n, i, &cp);
    if (cp == '\t') {
        *w = TW_TAB - col % TW_TAB;
        return j;
    }
    *w = tw_cp_width(cp);
    if (cp < 0 || tw_is_control(cp)) return j;
    int join = cp == TW_ZWJ;
    while (j < n) {
        int32_t c;
        size_t k = tw_decode(s, n, j, &c);
        if (c < 0 || tw_is_control(c)) break;
        /* after a joiner only non-ASCII joins, so a space always stays free */
        if (!(join && c >= 0x80) && !tw_is_extender(c)) break;
        join = c == TW_ZWJ;
        *w += tw_cp_width(c);
        j += k;
    }
    return j;
}

size_t tw_next_char(const char *s, size_t n, size_t i) {
    if (i >= n) return n;
    int w;
    return tw_cluster(s, n, i, 0, &w);
}

size_t tw_prev_char(const char *s, size_t n, size_t i) {
    if (i > n) i = n;
    if (i == 0) return 0;
    /* back to a code point that surely starts a character (not an extender,
     * not after a joiner), then forward to the last boundary before i */
    size_t a = tw_cp_before(s, n, i);
    while (a > 0) {
        int32_t cp, pc;
        tw_decode(s, n, a, &cp);
        size_t b = tw_cp_before(s, n, a);
        tw_decode(s, n, b, &pc);
        if ((cp >= 0 && tw_is_extender(cp)) || pc == TW_ZWJ) a = b;
        else break;
    }
    for (;;) {
        size_t q = tw_next_char(s, n, a);
        if (q >= i) return a;
        a = q;
    }
}

/* The character at i is a word character: its base is a letter or digit. */
static int tw_is_word_at(const char *s, size_t n, size_t i) {
    int32_t cp;
    tw_decode(s, n, i, &cp);
    if (cp < 0) return 0;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

size_t tw_next_word(const char *s, size_t n, size_t i) {
    while (i < n && !tw_is_word_at(s, n, i)) i = tw_next_char(s, n, i);
    while (i < n && tw_is_word_at(s, n, i)) i = tw_next_char(s, n, i);
    return i < n ? i : n;
}

size_t tw_prev_word(const char *s, size_t n, size_t i) {
    if (i > n) i = n;
    while (i > 0) {
        size_t p = tw_prev_char(s, n, i);
        if (tw_is_word_at(s, n, p)) break;
        i = p;
    }
    while (i > 0) {
        size_t p = tw_prev_char(s, n, i);
        if (!tw_is_word_at(s, n, p)) break;
        i = p;
    }
    return i;
}

/* ------------------------------------------------------------ width */

int tw_width(const char *s, size_t n) {
    int col = 0, w;
    for (size_t i = 0; i < n; col += w) i = tw_cluster(s, n, i, col, &w);
    return col;
}

size_t tw_fit(const char *s, size_t n, int cols, int *used) {
    int col = 0, w;
    size_t i = 0;
    while (i < n) {
        size_t j = tw_cluster(s, n, i, col, &w);
        if (col + w > cols) break;
        col += w;
        i = j;
    }
    if (used) *used = col;
    return i;
}

/* ------------------------------------------------------------ wrapping */

/* A space or tab standing alone (not the base of a combining sequence). */
static int tw_space_at(const char *s, size_t n, size_t i) {
    return (s[i] == ' ' || s[i] == '\t') && tw_next_char(s, n, i) == i + 1;
}

/* Where a row of s[start..n) (start < n) breaks for cols columns; returns
 * the next row's start, always > start. Every byte before it belongs to the
 * row: the caller trims trailing spaces for display. The break falls after
 * the last run of spaces that follows text, or between wide characters; a
 * space that meets the edge right after text stays on the row, one column
 * past the text (the editor's cursor column); with no break in reach the
 * row is cut at a character boundary, and a character wider than the row
 * takes it alone. */
static size_t tw_break(const char *s, size_t n, size_t start, int cols) {
    int col = 0, w, seen_text = 0, prev_space = 0, prev_wide = 0;
    size_t i = start, brk = start;
    while (i < n) {
        size_t j = tw_cluster(s, n, i, col, &w);
        int sp = j == i + 1 && (s[i] == ' ' || s[i] == '\t'), wide = !sp && w >= 2;
        if (seen_text && !sp && !prev_space && (wide || prev_wide)) brk = i;
        if (col + w <= cols) {
            col += w;
            i = j;
            if (sp) brk = seen_text ? i : brk;
            else seen_text = 1;
            prev_space = sp;
            prev_wide = wide;
            continue;
        }
        if (i == start) return j;
        if (sp) return s[i] == ' ' && !prev_space ? j : i;
        return brk > start ? brk : i;
    }
    return n;
}

int tw_wrap(const char *s, size_t n, int cols, int indent, TwLine **out) {
    if (cols < 1) cols = 1;
    if (indent > cols - 1) indent = cols - 1;
    if (indent < 0) indent = 0;
    int count = 0, cap = 4;
    TwLine *line = xmalloc(cap * sizeof *line);
    size_t start = 0;
    do {
        int ind = count ? indent : 0;
        size_t next = start < n ? tw_break(s, n, start, cols - ind) : n;
        size_t end = next;
        while (end > start && tw_space_at(s, n, end - 1)) end--;
        if (count == cap) line = xrealloc(line, (cap *= 2) * sizeof *line);
        line[count++] = (TwLine){start, end, ind};
        start = next;
        while (start < n && tw_space_at(s, n, start)) start++;
    } while (start < n);
    *out = line;
    return count;
}

/* ------------------------------------------------------------ editor layout */

static void tw_row_push(TwLayout *lay, size_t start, size_t end) {
    if (lay->n == lay->cap) {
        lay->cap = lay->cap ? 2 * lay->cap : 16;
        lay->row = xrealloc(lay->row, lay->cap * sizeof *lay->row);
    }
    lay->row[lay->n++] = (TwRow){start, end};
}

void tw_layout(TwLayout *lay, const char *s, size_t n, int cols) {
    if (cols < 1) cols = 1;
    lay->n = 0;
    size_t a = 0;
    for (;;) {
        const char *nl = a < n ? memchr(s + a, '\n', n - a) : NULL;
        size_t e = nl ? (size_t)(nl - s) : n, start = a;
        do {
            size_t next = start < e ? tw_break(s, e, start, cols) : e;
            tw_row_push(lay, start, next);
            start = next;
        } while (start < e);
        /* a space hung past the edge at the line's end: the cursor after it
         * needs a row of its own */
        TwRow *last = &lay->row[lay->n - 1];
        if (tw_width(s + last->start, last->end - last->start) > cols) tw_row_push(lay, e, e);
        if (!nl) break;
        a = e + 1;
    }
}

void tw_layout_free(TwLayout *lay) {
    free(lay->row);
    memset(lay, 0, sizeof *lay);
}

void tw_layout_pos(const TwLayout *lay, const char *s, size_t n, size_t off, int *row, int *col) {
    if (off > n) off = n;
    /* the last row starting at or before off (starts strictly increase) */
    int lo = 0, hi = lay->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (lay->row[mid].start <= off) lo = mid;
        else hi = mid - 1;
    }
    const TwRow *r = &lay->row[lo];
    size_t end = off < r->end ? off : r->end;
    *row = lo;
    *col = tw_width(s + r->start, end - r->start);
}

size_t tw_layout_offset(const TwLayout *lay, const char *s, size_t n, int row, int col) {
    if (lay->n == 0) return 0;
    if (row < 0) row = 0;
    if (row >= lay->n) row = lay->n - 1;
    const TwRow *r = &lay->row[row];
    /* a row broken by wrapping hands its end offset to the next row */
    int open_end = row + 1 < lay->n && lay->row[row + 1].start == r->end;
    size_t i = r->start, best = r->start;
    int c = 0, w;
    while (i < r->end) {
        size_t j = tw_cluster(s, n, i, c, &w);
        if (c + w > col || (j >= r->end && open_end)) break;
        c += w;
        i = best = j;
    }
    return best;
}
