/* input.c - what reaches the app besides the key table: text typed while a
 * side pane has the focus, the mouse (click to focus, wheel to scroll) and
 * scrolling by pages of the pane's own height. See pane.h. */
#include "tui/app/pane.h"

#include <limits.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

/* Printable keys are the message's text wherever the focus is: a side
 * pane's one-letter commands act only while it takes commands (M-c), so
 * typing "e" in the persona pane writes an "e" instead of opening an
 * editor. The focus goes to the chat, where Enter then sends. */
int input_side_key(App *a, int key) {
    if (!keys_is_text(key)) return R_NONE;
    a->focus = P_CHAT;
    a->commands = 0;
    return pane_chat.key(a, key) | R_REDRAW;
}

const char *app_key_of(const App *a, KeyAction act, char kn[KEYS_NAME_MAX]) {
    kn[0] = 0;
    return a->keys.n[act] ? keys_name(a->keys.key[act][0], kn) : kn;
}

int app_page_rows(App *a, PaneId p) {
    int h = a->rect[p].h - 2;
    if (h < 1) h = a->H - 8; /* never drawn yet */
    return h < 1 ? 1 : h;
}

/* Scroll offsets count rows back from the newest (the chat's and the
 * transcript's) and are clamped to the content when drawn; a list moves
 * its selection. */
void app_scroll(App *a, PaneId p, int rows) {
    if (p == P_PERSONA || p == P_TEMPLATE) {
        int n = p == P_PERSONA ? (int)a->n_personas : (int)a->n_templates;
        int *sel = p == P_PERSONA ? &a->persona_sel : &a->template_sel;
        int v = *sel - rows;
        *sel = v >= n ? n - 1 : v;
        if (*sel < 0) *sel = 0;
        a->dirty = 1;
        return;
    }
    int *s = p == P_TRANSCRIPT ? &a->seg_scroll : &a->scroll;
    long v = (long)*s + rows;
    *s = v < 0 ? 0 : v > INT_MAX / 2 ? INT_MAX / 2 : (int)v;
    a->dirty = 1;
}

void input_mouse_start(App *a) {
    if (!a->cfg.mouse) return;
    mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0); /* a press is reported at once, not held for a click */
}

/* The pane drawn at (y, x), or -1; the input box counts as the chat's. */
static int pane_at(App *a, int y, int x) {
    for (int p = 0; p < P_COUNT; p++) {
        Rect r = a->rect[p];
        if (a->shown[p] && y >= r.y && y < r.y + r.h && x >= r.x && x < r.x + r.w) return p;
    }
    return y >= 1 && y < a->H - 1 ? P_CHAT : -1;
}

void input_mouse(App *a) {
    MEVENT ev;
    if (getmouse(&ev) != OK || a->ov != OV_NONE) return;
    int p = pane_at(a, ev.y, ev.x);
    if (p < 0) return;
    a->note_hold = 0, a->note_more = 0;
    if (ev.bstate & BUTTON4_PRESSED) { /* the wheel, away from the user: back */
        app_scroll(a, (PaneId)p, p == P_PERSONA || p == P_TEMPLATE ? 1 : 3);
    } else if (ev.bstate & BUTTON5_PRESSED) {
        app_scroll(a, (PaneId)p, p == P_PERSONA || p == P_TEMPLATE ? -1 : -3);
    } else if (ev.bstate & BUTTON1_PRESSED) {
        static const PaneOps *const ops[P_COUNT] = {&pane_chat, &pane_transcript, &pane_persona,
                                                    &pane_template};
        if (a->focus != (PaneId)p) a->commands = 0;
        a->focus = (PaneId)p;
        int row = ev.y - a->rect[p].y - 1;
        if (ops[p]->click && row >= 0 && row < a->rect[p].h - 2) ops[p]->click(a, row);
    }
    a->dirty = 1;
}
