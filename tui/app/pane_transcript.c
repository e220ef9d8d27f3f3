/* pane_transcript.c - the transcript pane: the recording's segments,
 * newest at the bottom. See pane.h. */
#include "tui/app/pane.h"

#include "tui/app/textwrap.h"

#include <stdlib.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

static void transcript_draw(App *a, PaneId p, Rect r, int focused) {
    (void)p;
    ui_box(r.y, r.x, r.h, r.w,
           focused && a->commands ? "Transcript: r records"
           : a->cap               ? "Transcript (recording)"
                                  : "Transcript",
           focused);
    int iw = r.w - 4, ih = r.h - 2;
    if (iw < 1 || ih < 1) return;
    if (a->n_segs == 0) {
        attrset(theme_attr(THEME_DIM));
        const char *h = a->cap ? "listening..." : "F5 starts recording; segments appear here.";
        ui_put(r.y + 1, r.x + 2, h, strlen(h), iw);
        attrset(A_NORMAL);
        return;
    }
    /* newest at the bottom; each segment one line per wrapped row. The view
     * is a->seg_scroll rows back from the newest, never past the oldest. */
    int wrap = iw - 6 > 1 ? iw - 6 : 1, total = 0;
    for (int i = 0; i < a->n_segs; i++) {
        TwLine *tl = NULL;
        total += tw_wrap(a->segs[i].text, strlen(a->segs[i].text), wrap, 0, &tl);
        free(tl);
    }
    int max_scroll = total > ih ? total - ih : 0;
    if (a->seg_scroll > max_scroll) a->seg_scroll = max_scroll;
    int row = ih, skip = a->seg_scroll;
    for (int i = a->n_segs - 1; i >= 0 && row > 0; i--) {
        char stamp[32];
        int s0 = (int)a->segs[i].t0;
        snprintf(stamp, sizeof stamp, "%02d:%02d ", s0 / 60, s0 % 60);
        const char *text = a->segs[i].text;
        TwLine *tl = NULL;
        int n = tw_wrap(text, strlen(text), wrap, 0, &tl);
        for (int k = n - 1; k >= 0 && row > 0; k--) {
            if (skip > 0) {
                skip--;
                continue;
            }
            int y = r.y + row--;
            if (k == 0) {
                attrset(theme_attr(THEME_TIME));
                ui_put(y, r.x + 2, stamp, strlen(stamp), iw);
            }
            attrset(A_NORMAL);
            ui_put(y, r.x + 8, text + tl[k].start, tl[k].end - tl[k].start, iw - 6);
        }
        free(tl);
    }
}

static const ActionFn transcript_actions[KEYS_N_ACTIONS] = {0};

static int transcript_key(App *a, int key) {
    if (key != 'r') return R_NONE;
    app_record_toggle(a);
    return R_DONE;
}

const PaneOps pane_transcript = {"Transcript", KEYS_CTX_GLOBAL, transcript_draw, transcript_actions,
                                 transcript_key, NULL};
