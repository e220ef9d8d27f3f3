/* pane_transcript.c - the transcript pane: the recording's segments,
 * newest at the bottom. See pane.h. */
#include "tui/app/pane.h"

#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

static void transcript_draw(App *a, PaneId p, Rect r, int focused) {
    (void)p;
    ui_box(r.y, r.x, r.h, r.w, a->cap ? "Transcript (recording)" : "Transcript", focused);
    int iw = r.w - 4, ih = r.h - 2;
    if (iw < 1 || ih < 1) return;
    if (a->n_segs == 0) {
        attrset(theme_attr(THEME_DIM));
        const char *h = a->cap ? "listening..." : "F5 starts recording; segments appear here.";
        ui_put(r.y + 1, r.x + 2, h, strlen(h), iw);
        attrset(A_NORMAL);
        return;
    }
    /* newest at the bottom; each segment one line per wrapped row */
    int row = ih;
    for (int i = a->n_segs - 1 - a->seg_scroll; i >= 0 && row > 0; i--) {
        char stamp[32];
        int s0 = (int)a->segs[i].t0;
        snprintf(stamp, sizeof stamp, "%02d:%02d ", s0 / 60, s0 % 60);
        MdDoc d = {0};
        md_render(&d, a->segs[i].text, strlen(a->segs[i].text), iw - 6 > 1 ? iw - 6 : 1);
        int n = d.n ? d.n : 1;
        for (int k = n - 1; k >= 0 && row > 0; k--) {
            int y = r.y + row--;
            if (k == 0) {
                attrset(theme_attr(THEME_TIME));
                ui_put(y, r.x + 2, stamp, strlen(stamp), iw);
            }
            attrset(A_NORMAL);
            if (k < d.n) ui_put(y, r.x + 8, d.line[k].text, strlen(d.line[k].text), iw - 6);
        }
        md_free(&d);
    }
}

static const ActionFn transcript_actions[KEYS_N_ACTIONS] = {0};

static int transcript_key(App *a, int key) {
    if (key != 'r') return R_NONE;
    app_record_toggle(a);
    return R_DONE;
}

const PaneOps pane_transcript = {"Transcript", KEYS_CTX_GLOBAL, transcript_draw, transcript_actions,
                                 transcript_key};
