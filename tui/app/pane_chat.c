/* pane_chat.c - the chat pane: the session's messages, newest at the
 * bottom, replies laid out as Markdown; its keys edit the message. See pane.h. */
#include "tui/app/pane.h"

#include "tui/app/textwrap.h"

#include <stdlib.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

void draw_md_line(App *a, int y, int x, int w, const MdLine *l) {
    unsigned block = l->block;
    attr_t base = theme_attr(block & MD_CODEBLOCK ? THEME_CODEBLOCK
                                        : block & MD_HEADING ? THEME_HEADING
                                        : block & MD_QUOTE   ? THEME_QUOTE
                                                             : THEME_ASSISTANT);
    attrset(base);
    if (block & MD_CODEBLOCK) ui_fill(y, x, w);
    int col = 0, at = 0, len = (int)strlen(l->text);
    for (int s = 0; s <= l->n_spans && col < w; s++) {
        int start = s < l->n_spans ? l->spans[s].start : len;
        if (start > at) { /* plain text before the span */
            attrset(base);
            col += ui_put(y, x + col, l->text + at, (size_t)(start - at), w - col);
            at = start;
        }
        if (s == l->n_spans) break;
        const MdSpan *sp = &l->spans[s];
        unsigned st = sp->style;
        attr_t at_ = st & MD_CODE     ? theme_attr(THEME_CODE)
                     : st & MD_BULLET ? theme_attr(THEME_BULLET)
                     : st & MD_RULE   ? theme_attr(THEME_DIM)
                                      : base;
        if (st & MD_BOLD) at_ |= A_BOLD;
        if (st & MD_ITALIC) at_ |= A_ITALIC;
        attrset(at_);
        col += ui_put(y, x + col, l->text + sp->start, (size_t)sp->len, w - col);
        at = sp->start + sp->len;
    }
    attrset(A_NORMAL);
}

/* text word-wrapped at (y, x) in cols columns and at most rows rows;
 * the rows used. */
static int wrapped(int y, int x, int cols, int rows, const char *text) {
    TwLine *l = NULL;
    int n = tw_wrap(text, strlen(text), cols, 0, &l);
    for (int i = 0; i < n && i < rows; i++)
        ui_put(y + i, x + l[i].indent, text + l[i].start, l[i].end - l[i].start, cols);
    free(l);
    return n < rows ? n : rows;
}

static void chat_draw(App *a, PaneId p, Rect r, int focused) {
    (void)p;
    char title[160];
    snprintf(title, sizeof title, "%s%s%s%s", "Chat", a->session_title ? ": " : "",
             a->session_title ? a->session_title : "", a->st ? "" : " (not saved)");
    ui_box(r.y, r.x, r.h, r.w, title, focused);
    int iw = r.w - 4, ih = r.h - 2;
    if (iw < 1 || ih < 1) return;
    /* lay out what changed */
    for (int i = 0; i < a->n_msgs; i++) {
        Msg *m = &a->msgs[i];
        int len = (int)strlen(m->text);
        if (m->doc_cols != iw || m->doc_len != len) {
            md_free(&m->doc);
            md_render(&m->doc, m->text, (size_t)len, iw);
            m->doc_cols = iw, m->doc_len = len;
        }
    }
    int total = 0, sel_top = 0, sel_end = 0;
    for (int i = 0; i < a->n_msgs; i++) {
        if (a->selecting && i == a->sel) sel_top = total;
        total += 1 + a->msgs[i].doc.n + 1;
        if (a->selecting && i == a->sel) sel_end = total;
    }
    /* scrolled back, the view holds still while the reply grows below it */
    if (a->scroll > 0 && total > a->chat_total) a->scroll += total - a->chat_total;
    a->chat_total = total;
    if (a->selecting) { /* the selected message's label in view, and as much of it as fits */
        int bottom = total - a->scroll; /* one past the last line shown */
        if (sel_end > bottom) a->scroll = total - sel_end;
        if (sel_top < total - a->scroll - ih) a->scroll = total - sel_top - ih;
        if (a->scroll < 0) a->scroll = 0;
    }
    int max_scroll = total > ih ? total - ih : 0;
    if (a->scroll > max_scroll) a->scroll = max_scroll;
    int first = total - ih - a->scroll; /* the line at the top */
    if (first < 0) first = 0;
    int row = 0, idx = 0;
    for (int i = 0; i < a->n_msgs && row < ih; i++) {
        Msg *m = &a->msgs[i];
        int user = !strcmp(m->role, "user");
        int n = 1 + m->doc.n + 1;
        for (int k = 0; k < n && row < ih; k++, idx++) {
            if (idx < first) continue;
            int y = r.y + 1 + row++;
            if (k == 0) {
                int sel = a->selecting && i == a->sel;
                if (sel) { /* the selected message: its label line highlighted */
                    attrset(theme_attr(THEME_SELECTION));
                    ui_fill(y, r.x + 1, iw + 2);
                    mvaddstr(y, r.x + 1, "\xe2\x96\xb6"); /* ▶ */
                } else {
                    attrset(theme_attr(user ? THEME_USER_LABEL : THEME_ASSISTANT_LABEL));
                }
                const char *label = user ? "You" : "unum";
                int u = ui_put(y, r.x + 2, label, strlen(label), iw);
                if (m->n_siblings > 1) { /* versions: M-, and M-. step between them */
                    char v[32];
                    int k2 = snprintf(v, sizeof v, " <%d/%d>", m->sibling, m->n_siblings);
                    if (!sel) attrset(theme_attr(THEME_DIM));
                    u += ui_put(y, r.x + 2 + u, v, (size_t)k2, iw - u);
                }
                if (!user && i == a->n_msgs - 1 && a->replying) {
                    if (!sel) attrset(theme_attr(THEME_DIM));
                    ui_put(y, r.x + 2 + u, " (writing; Esc cancels)", 23, iw - u);
                } else if (m->cancelled || m->partial) {
                    if (!sel) attrset(theme_attr(THEME_SYSTEM_NOTE));
                    ui_put(y, r.x + 2 + u, m->cancelled ? " [cancelled]" : " [incomplete]",
                           m->cancelled ? 12 : 13, iw - u);
                }
                attrset(A_NORMAL);
            } else if (k <= m->doc.n) {
                if (user) {
                    attrset(theme_attr(THEME_USER));
                    const MdLine *l = &m->doc.line[k - 1];
                    ui_put(y, r.x + 2, l->text, strlen(l->text), iw);
                    attrset(A_NORMAL);
                } else {
                    draw_md_line(a, y, r.x + 2, iw, &m->doc.line[k - 1]);
                }
            } else if (m->cancelled || m->partial) {
                /* also where the reply stopped: the view follows the end of
                 * a long reply, so its label line may be scrolled away */
                if (!(a->replying && i == a->n_msgs - 1)) {
                    attrset(theme_attr(THEME_SYSTEM_NOTE));
                    ui_put(y, r.x + 2, m->cancelled ? "[cancelled]" : "[incomplete]",
                           m->cancelled ? 11 : 12, iw);
                    attrset(A_NORMAL);
                }
            }
        }
    }
    if (a->n_msgs == 0) {
        char hint[1024] = "Type a message and press Enter. F1 shows the keys.";
        if (!a->loaded && a->loading) snprintf(hint, sizeof hint, "The model is loading ...");
        else if (!a->loaded) app_no_model_hint(a, hint, sizeof hint);
        int y = r.y + 1;
        if (!a->st) { /* said where it is read, not only on the bottom line */
            char nosave[160], kn[KEYS_NAME_MAX];
            snprintf(nosave, sizeof nosave,
                     "The database could not be opened: nothing in this session will be saved%s%s%s.",
                     app_key_of(a, KEYS_MESSAGES, kn)[0] ? " (" : "", kn, kn[0] ? " shows why)" : "");
            attrset(theme_attr(THEME_ERROR));
            y += wrapped(y, r.x + 2, iw, r.y + r.h - 1 - y, nosave) + 1;
        }
        attrset(theme_attr(THEME_DIM));
        wrapped(y, r.x + 2, iw, r.y + r.h - 1 - y, hint);
        attrset(A_NORMAL);
    }
}

static int act_send(App *a) { return app_send_input(a), R_DONE; }
static int act_newline(App *a) { return ed_insert(&a->ed, "\n", 1), R_DONE; }

static const ActionFn chat_actions[KEYS_N_ACTIONS] = {
    [KEYS_SEND] = act_send,
    [KEYS_NEWLINE] = act_newline,
};

/* The editor's own keys (keys_editor_reserved) and text. */
static int chat_key(App *a, int key) {
    int cols = a->W - 2 > 1 ? a->W - 2 : 1;
    return editor_key(&a->ed, key, cols, 1) ? R_DONE : R_NONE;
}

/* The pane table's click hook (input.c, which has focused the chat): the
 * message under the row is selected. */
static int chat_click(App *a, int row) {
    Rect r = a->rect[P_CHAT];
    return pane_chat_click(a, r, r.y + 1 + row);
}

const PaneOps pane_chat = {"Chat", KEYS_CTX_INPUT, chat_draw, chat_actions, chat_key, chat_click};

/* ------------------------------------------------------------ a message selected
 *
 * C-p (select) enters this mode at the last message; its keys (the
 * "messages" context) move the selection and act on the message; Esc
 * leaves it. Text typed meanwhile does not reach the editor. */

int pane_chat_click(App *a, Rect r, int y) {
    int ih = r.h - 2, row = y - r.y - 1;
    if (row < 0 || row >= ih) return R_NONE;
    int total = 0;
    for (int i = 0; i < a->n_msgs; i++) total += 1 + a->msgs[i].doc.n + 1;
    int first = total - ih - a->scroll; /* as chat_draw placed them */
    if (first < 0) first = 0;
    int line = first + row;
    for (int i = 0, at = 0; i < a->n_msgs; i++) {
        at += 1 + a->msgs[i].doc.n + 1;
        if (line < at) {
            a->selecting = 1, a->sel = i;
            return R_DONE;
        }
    }
    return R_NONE;
}

static int sel_move(App *a, int d) {
    int s = a->sel + d;
    if (s >= 0 && s < a->n_msgs) a->sel = s;
    return R_DONE;
}
static int act_up(App *a) { return sel_move(a, -1); }
static int act_down(App *a) { return sel_move(a, 1); }
static int act_copy(App *a) { return app_copy_message(a), R_DONE; }
static int act_edit(App *a) { return history_edit(a, a->sel), R_DONE; }
static int act_regenerate(App *a) { return history_regenerate(a, a->sel), R_DONE; }
static int act_delete(App *a) { return history_delete(a, a->sel), R_DONE; }
static int act_prev(App *a) { return history_step(a, a->sel, -1), R_DONE; }
static int act_next(App *a) { return history_step(a, a->sel, 1), R_DONE; }
static int act_leave(App *a) { return a->selecting = 0, R_DONE; }

static const ActionFn message_actions[KEYS_N_ACTIONS] = {
    [KEYS_MESSAGE_UP] = act_up,
    [KEYS_MESSAGE_DOWN] = act_down,
    [KEYS_MESSAGE_COPY] = act_copy,
    [KEYS_MESSAGE_EDIT] = act_edit,
    [KEYS_MESSAGE_REGENERATE] = act_regenerate,
    [KEYS_MESSAGE_DELETE] = act_delete,
    [KEYS_MESSAGE_PREV] = act_prev,
    [KEYS_MESSAGE_NEXT] = act_next,
    [KEYS_MESSAGE_LEAVE] = act_leave,
};

static int message_key(App *a, int key) {
    (void)a, (void)key;
    return R_HANDLED; /* nothing else: typed text does not land in the editor unseen */
}

const PaneOps pane_messages = {"Chat",          KEYS_CTX_MESSAGES, chat_draw,
                               message_actions, message_key,       chat_click};
