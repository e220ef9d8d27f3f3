/* pane_transcript.c - the transcript pane: the recording's segments,
 * newest at the bottom, each after its speaker's name (else label) in the
 * speaker's colour when the speech model tells speakers apart. See pane.h.
 *
 * The names are read from the store when the pane starts showing a
 * recording, when a label it has not read comes, and after the speakers
 * dialog changes one (transcript_names_reload); drawing reads none. */
#include "tui/app/pane.h"

#include "engine/base/util.h"
#include "store/meeting_store.h"
#include "tui/app/textwrap.h"

#include <stdlib.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

/* ------------------------------------------------------------ segments, names */

void transcript_clear(App *a) {
    for (int i = 0; i < a->n_segs; i++) {
        free(a->segs[i].text);
        free(a->segs[i].speaker);
    }
    a->n_segs = 0;
    a->seg_scroll = 0;
    a->seg_rec = 0;
    store_speakers_free(a->spk, a->n_spk);
    a->spk = NULL, a->n_spk = 0;
}

void transcript_names_reload(App *a) {
    store_speakers_free(a->spk, a->n_spk);
    a->spk = NULL, a->n_spk = 0;
    if (a->st && a->seg_rec && store_speaker_list(a->st, a->seg_rec, &a->spk, &a->n_spk))
        app_note(a, 1, "%s", unum_error());
}

/* The index of label among the names read, or -1. */
static int speaker_index(const App *a, const char *label) {
    for (size_t i = 0; i < a->n_spk; i++)
        if (!strcmp(a->spk[i].label, label)) return (int)i;
    return -1;
}

void transcript_add(App *a, double t0, double t1, const char *speaker, const char *text) {
    if (a->n_segs == a->cap_segs) {
        a->cap_segs = a->cap_segs ? 2 * a->cap_segs : 32;
        a->segs = xrealloc(a->segs, sizeof *a->segs * (size_t)a->cap_segs);
    }
    int labelled = speaker && speaker[0];
    a->segs[a->n_segs++] = (Seg){t0, t1, xstrdup(text), labelled ? xstrdup(speaker) : NULL};
    /* a new voice: its name (none yet, usually) and its place in turn */
    if (labelled && speaker_index(a, speaker) < 0) transcript_names_reload(a);
}

void transcript_show(App *a, int64_t rec) {
    if (a->cap) return app_note(a, 1, "not while recording (F5 stops it)");
    StoreSegment *g;
    size_t n;
    if (!a->st || store_segment_list(a->st, rec, &g, &n))
        return app_note(a, 1, "%s", a->st ? unum_error() : "no database");
    transcript_clear(a);
    a->seg_rec = rec;
    for (size_t i = 0; i < n; i++) {
        const char *t = g[i].text;
        while (*t == ' ') t++;
        transcript_add(a, g[i].start_s, g[i].end_s, g[i].speaker, t);
    }
    store_segments_free(g, n);
    transcript_names_reload(a);
    app_note(a, 0, "the transcript pane shows recording %lld (%zu segments)", (long long)rec, n);
}

const char *transcript_speaker(App *a, const char *label, int *colour) {
    int i = speaker_index(a, label);
    *colour = THEME_SPEAKER_1 + (i < 0 ? 0 : i % 4);
    return i >= 0 && a->spk[i].name[0] ? a->spk[i].name : label;
}

/* ------------------------------------------------------------ drawing */

/* Row text[start, end) of a segment at (y, x), in w columns: the bytes
 * before `who` ends (the speaker's "Name: ") in its colour. */
static void put_row(int y, int x, int w, const char *text, size_t start, size_t end, size_t who,
                    int colour) {
    int used = 0;
    if (start < who) {
        size_t to = end < who ? end : who;
        attrset(theme_attr((ThemeElement)colour));
        used = ui_put(y, x, text + start, to - start, w);
        start = to;
    }
    attrset(A_NORMAL);
    if (start < end) ui_put(y, x + used, text + start, end - start, w - used);
}

/* What a segment's rows show: "Name: text" (new string); *who the bytes of
 * "Name: ", *colour its theme element. */
static char *seg_line(App *a, const Seg *g, size_t *who, int *colour) {
    *who = 0, *colour = THEME_NORMAL;
    if (!g->speaker) return xstrdup(g->text);
    const char *name = transcript_speaker(a, g->speaker, colour);
    size_t n = strlen(name), m = strlen(g->text);
    char *s = xmalloc(n + m + 3);
    memcpy(s, name, n);
    memcpy(s + n, ": ", 2);
    memcpy(s + n + 2, g->text, m + 1);
    *who = n + 2;
    return s;
}

static void transcript_draw(App *a, PaneId p, Rect r, int focused) {
    (void)p;
    ui_box(r.y, r.x, r.h, r.w,
           focused && a->commands ? "Transcript: r records, s names speakers"
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
        size_t who;
        int colour;
        char *line = seg_line(a, &a->segs[i], &who, &colour);
        total += tw_wrap(line, strlen(line), wrap, 0, &tl);
        free(tl);
        free(line);
    }
    int max_scroll = total > ih ? total - ih : 0;
    if (a->seg_scroll > max_scroll) a->seg_scroll = max_scroll;
    int row = ih, skip = a->seg_scroll;
    for (int i = a->n_segs - 1; i >= 0 && row > 0; i--) {
        char stamp[32];
        int s0 = (int)a->segs[i].t0;
        snprintf(stamp, sizeof stamp, "%02d:%02d ", s0 / 60, s0 % 60);
        size_t who;
        int colour;
        char *text = seg_line(a, &a->segs[i], &who, &colour);
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
            put_row(y, r.x + 8, iw - 6, text, tl[k].start, tl[k].end, who, colour);
        }
        free(tl);
        free(text);
    }
}

static const ActionFn transcript_actions[KEYS_N_ACTIONS] = {0};

static int transcript_key(App *a, int key) {
    if (key == 's') { /* the speakers of the recording shown */
        if (!a->seg_rec) app_note(a, 1, "the transcript pane shows no stored recording");
        else speakers_open(a, a->seg_rec, OV_NONE);
        return R_DONE;
    }
    if (key != 'r') return R_NONE;
    app_record_toggle(a);
    return R_DONE;
}

const PaneOps pane_transcript = {"Transcript", KEYS_CTX_GLOBAL, transcript_draw, transcript_actions,
                                 transcript_key, NULL};
