/* editor.c - see editor.h. Character and word boundaries, widths and the
 * wrapped layout come from textwrap.h. */
#include "tui/app/editor.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

void ed_init(Editor *e) {
    memset(e, 0, sizeof *e);
    e->cap = 64;
    e->buf = xcalloc(e->cap, 1);
}

void ed_free(Editor *e) {
    free(e->buf);
    for (int i = 0; i < e->n_hist; i++) free(e->hist[i]);
    free(e->hist);
    free(e->draft);
    memset(e, 0, sizeof *e);
}

void ed_clear(Editor *e) {
    e->len = e->cur = 0;
    e->buf[0] = 0;
    e->hist_at = e->n_hist;
}

static void reserve(Editor *e, size_t extra) {
    if (e->len + extra + 1 <= e->cap) return;
    while (e->len + extra + 1 > e->cap) e->cap *= 2;
    e->buf = xrealloc(e->buf, e->cap);
}

static void replace(Editor *e, const char *text) {
    ed_clear(e);
    ed_insert(e, text, strlen(text));
}

void ed_set(Editor *e, const char *text) {
    replace(e, text);
    e->hist_at = e->n_hist;
}

/* The length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!k || k > n) return 0;
    unsigned cp = k == 1 ? c : k == 2 ? c & 31 : k == 3 ? c & 15 : c & 7;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 63);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return k;
}

void ed_insert(Editor *e, const char *text, size_t n) {
    reserve(e, n * 3); /* an invalid byte becomes 3 */
    char *tmp = xmalloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *s = (const unsigned char *)text + i;
        size_t l = utf8_len(s, n - i);
        if (!l) { /* U+FFFD */
            memcpy(tmp + k, "\xef\xbf\xbd", 3);
            k += 3, i++;
        } else {
            if (l == 1 && s[0] < 32 && s[0] != '\n' && s[0] != '\t') {
                i++;
                continue;
            }
            memcpy(tmp + k, s, l);
            k += l, i += l;
        }
    }
    memmove(e->buf + e->cur + k, e->buf + e->cur, e->len - e->cur + 1);
    memcpy(e->buf + e->cur, tmp, k);
    e->len += k, e->cur += k;
    free(tmp);
}

static void cut(Editor *e, size_t from, size_t to) {
    if (to <= from) return;
    memmove(e->buf + from, e->buf + to, e->len - to + 1);
    e->len -= to - from;
    e->cur = from;
}

void ed_backspace(Editor *e) {
    if (e->cur) cut(e, tw_prev_char(e->buf, e->len, e->cur), e->cur);
}

void ed_delete(Editor *e) {
    if (e->cur < e->len) {
        size_t c = e->cur;
        cut(e, c, tw_next_char(e->buf, e->len, c));
    }
}

void ed_left(Editor *e) { e->cur = tw_prev_char(e->buf, e->len, e->cur); }
void ed_right(Editor *e) { e->cur = tw_next_char(e->buf, e->len, e->cur); }
void ed_word_left(Editor *e) { e->cur = tw_prev_word(e->buf, e->len, e->cur); }
void ed_word_right(Editor *e) { e->cur = tw_next_word(e->buf, e->len, e->cur); }

void ed_delete_word_left(Editor *e) { cut(e, tw_prev_word(e->buf, e->len, e->cur), e->cur); }

static size_t line_start(const Editor *e) {
    size_t i = e->cur;
    while (i > 0 && e->buf[i - 1] != '\n') i--;
    return i;
}

static size_t line_end(const Editor *e) {
    size_t i = e->cur;
    while (i < e->len && e->buf[i] != '\n') i++;
    return i;
}

void ed_home(Editor *e) { e->cur = line_start(e); }
void ed_end(Editor *e) { e->cur = line_end(e); }

void ed_kill_line(Editor *e) {
    size_t end = line_end(e);
    if (end == e->cur && end < e->len) end++; /* at the end: join the next line */
    size_t c = e->cur;
    cut(e, c, end);
}

void ed_kill_to_start(Editor *e) { cut(e, line_start(e), e->cur); }

void ed_layout(const Editor *e, int cols, TwLayout *lay, int *cur_row, int *cur_col) {
    int c = cols > 1 ? cols - 1 : 1;
    tw_layout(lay, e->buf, e->len, c);
    tw_layout_pos(lay, e->buf, e->len, e->cur, cur_row, cur_col);
}

/* History: Up at the first row goes back, Down at the last goes forward. */
static void hist_go(Editor *e, int dir) {
    int to = e->hist_at + dir;
    if (to < 0 || to > e->n_hist) return;
    if (e->hist_at == e->n_hist) { /* leaving the draft */
        free(e->draft);
        e->draft = xstrdup(e->buf);
    }
    replace(e, to == e->n_hist ? (e->draft ? e->draft : "") : e->hist[to]);
    e->hist_at = to; /* after replace, which resets it */
}

static void vertical(Editor *e, int cols, int dir) {
    TwLayout lay = {0};
    int row, col;
    ed_layout(e, cols, &lay, &row, &col);
    if ((dir < 0 && row == 0) || (dir > 0 && row >= lay.n - 1)) {
        tw_layout_free(&lay);
        hist_go(e, dir);
        return;
    }
    e->cur = tw_layout_offset(&lay, e->buf, e->len, row + dir, col);
    tw_layout_free(&lay);
}

void ed_up(Editor *e, int cols) { vertical(e, cols, -1); }
void ed_down(Editor *e, int cols) { vertical(e, cols, 1); }

void ed_remember(Editor *e, const char *text) {
    if (!*text || (e->n_hist && !strcmp(e->hist[e->n_hist - 1], text))) {
        e->hist_at = e->n_hist;
        return;
    }
    if (e->n_hist == 500) { /* the oldest goes */
        free(e->hist[0]);
        memmove(e->hist, e->hist + 1, sizeof *e->hist * 499);
        e->n_hist--;
    }
    e->hist = xrealloc(e->hist, sizeof *e->hist * (size_t)(e->n_hist + 1));
    e->hist[e->n_hist++] = xstrdup(text);
    e->hist_at = e->n_hist;
    free(e->draft);
    e->draft = NULL;
}
