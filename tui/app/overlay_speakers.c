/* overlay_speakers.c - the speakers dialog: the labels a speaker-aware
 * speech model gave a recording's segments (S0, S1, ...), each with its
 * name, segments and time spoken; Enter edits the selected one's name
 * (store/speakers.h: stored at once; an empty name shows the label again).
 * Opened from the meetings library (s) and from the transcript pane (s,
 * for the recording it shows), which shows the new name at once. See
 * pane.h.
 *
 * The dialog's state is this file's: the recording, the list as read when
 * it opened (and after each change), the selection, where Esc goes. */
#include "tui/app/pane.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

static int64_t rec;
static Overlay back;
static StoreSpeaker *list;
static size_t n_list;
static int sel;

static int reload(App *a) {
    store_speakers_free(list, n_list);
    list = NULL, n_list = 0;
    if (!a->st) return app_note(a, 1, "no database"), -1;
    if (store_speaker_list(a->st, rec, &list, &n_list))
        return app_note(a, 1, "%s", unum_error()), -1;
    if (sel >= (int)n_list) sel = n_list ? (int)n_list - 1 : 0;
    return 0;
}

void speakers_open(App *a, int64_t r, Overlay b) {
    if (r != rec) sel = 0;
    rec = r, back = b;
    if (reload(a)) return;
    if (!n_list)
        return app_note(a, 1,
                        "recording %lld has no speaker labels (its speech model does not "
                        "tell speakers apart)",
                        (long long)rec);
    a->ov = OV_SPEAKERS;
}

void speakers_draw(App *a, Rect b) {
    (void)a;
    char head[256];
    snprintf(head, sizeof head, "recording %lld   %-8s %-32s %9s %7s", (long long)rec, "label",
             "name", "segments", "time");
    attrset(theme_attr(THEME_DIM));
    ui_put(b.y, b.x, head, strlen(head), b.w);
    int rows = b.h - 1, top = sel >= rows ? sel - rows + 1 : 0;
    int lead = (int)strlen(head) - (int)strlen(strstr(head, "label"));
    for (int i = 0; i < rows && top + i < (int)n_list; i++) {
        const StoreSpeaker *s = &list[top + i];
        int secs = (int)(s->seconds + 0.5);
        char line[512];
        snprintf(line, sizeof line, "%*s%-8s %-32s %9lld %4d:%02d", lead, "", s->label,
                 s->name[0] ? s->name : "(no name)", (long long)s->segments, secs / 60, secs % 60);
        attrset(top + i == sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + 1 + i, b.x - 1, b.w + 2);
        ui_put(b.y + 1 + i, b.x, line, strlen(line), b.w);
    }
    attrset(A_NORMAL);
}

void speakers_key(App *a, int key) {
    if (key == K(KEY_UP) && sel > 0) sel--;
    else if (key == K(KEY_DOWN) && sel + 1 < (int)n_list) sel++;
    else if (key == 27 || key == 'q') a->ov = back;
    else if (key == '\r' && sel < (int)n_list) {
        ed_set(&a->ov_ed, list[sel].name);
        a->ov = OV_SPEAKER_NAME;
    }
}

void speakers_name_draw(App *a, Rect b) {
    if (sel < (int)n_list) {
        char l[256];
        snprintf(l, sizeof l, "The name of %s in recording %lld (at most %d bytes; Esc keeps it).",
                 list[sel].label, (long long)rec, STORE_SPEAKER_NAME_MAX);
        attrset(theme_attr(THEME_DIM));
        ui_put(b.y + 2, b.x, l, strlen(l), b.w);
        attrset(A_NORMAL);
    }
    overlay_field_draw(a, b); /* last: the cursor stays in the field */
}

void speakers_name_key(App *a, int key) {
    if (key == 27 || sel >= (int)n_list) {
        a->ov = OV_SPEAKERS;
    } else if (key == '\r') {
        char *label = xstrdup(list[sel].label);
        if (store_speaker_set(a->st, rec, label, a->ov_ed.buf)) {
            app_note(a, 1, "%s", unum_error());
        } else {
            char *name = store_speaker_resolve(a->st, rec, label);
            if (name && strcmp(name, label)) app_note(a, 0, "%s is %s", label, name);
            else app_note(a, 0, "%s has no name", label);
            free(name);
        }
        free(label);
        if (a->seg_rec == rec) transcript_names_reload(a);
        reload(a);
        a->ov = OV_SPEAKERS;
    } else {
        overlay_field_key(a, key);
    }
}
