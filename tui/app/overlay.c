/* overlay.c - the overlays over the panes: help, the sessions list and its
 * delete confirmation, search, rename, the first run's download offer and
 * the report offer. See pane.h. */
#include "tui/app/pane.h"

#include "engine/base/util.h"
#include "engine/modeldir.h"
#include "engine/pull.h"
#include "tui/app/textwrap.h"
#include "tui/core/when.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

void overlay_sessions_open(App *a) {
    store_sessions_free(a->sessions, a->n_sessions);
    a->sessions = NULL, a->n_sessions = 0;
    if (!a->st) return app_note(a, 1, "no database");
    if (store_session_list(a->st, &a->sessions, &a->n_sessions)) return app_note(a, 1, "%s", unum_error());
    a->ov = OV_SESSIONS;
    a->ov_sel = 0;
    for (size_t i = 0; i < a->n_sessions; i++)
        if (a->sessions[i].id == a->session) a->ov_sel = (int)i;
}

void overlay_search_run(App *a) {
    store_hits_free(a->hits, a->n_hits);
    a->hits = NULL, a->n_hits = 0;
    if (!a->ov_ed.len || !a->st) return;
    if (store_search(a->st, a->ov_ed.buf, 50, &a->hits, &a->n_hits))
        app_note(a, 1, "%s", unum_error());
    a->ov_sel = 0;
}

/* Up, Down, Home and End in a list of n rows; 1 when key was one of them. */
static int overlay_move(App *a, int key, int n) {
    if (key == K(KEY_HOME) || key == K(KEY_END)) {
        a->ov_sel = key == K(KEY_HOME) || n == 0 ? 0 : n - 1;
        return 1;
    }
    if (key == K(KEY_UP)) {
        if (a->ov_sel > 0) a->ov_sel--;
        return 1;
    }
    if (key == K(KEY_DOWN)) {
        if (a->ov_sel + 1 < n) a->ov_sel++;
        return 1;
    }
    return 0;
}

/* Paragraphs word-wrapped to the body's width from row y; rows past the
 * body are dropped. The next free row. */
static int paras_draw(Rect b, int y, const char *const *p, int n) {
    for (int i = 0; i < n; i++) {
        TwLine *l = NULL;
        int k = tw_wrap(p[i], strlen(p[i]), b.w, 2, &l);
        for (int j = 0; j < k; j++, y++)
            if (y < b.y + b.h)
                ui_put(y, b.x + l[j].indent, p[i] + l[j].start, l[j].end - l[j].start,
                       b.w - l[j].indent);
        free(l);
    }
    return y;
}

/* Rows paragraphs take at width cols. */
static int paras_rows(int cols, const char *const *p, int n) {
    int rows = 0;
    for (int i = 0; i < n; i++) {
        TwLine *l = NULL;
        rows += tw_wrap(p[i], strlen(p[i]), cols, 2, &l);
        free(l);
    }
    return rows;
}

/* A question: its text wrapped at the top and its choices wrapped at the
 * bottom, so that the choices stay in sight when the text does not fit;
 * the short text (when given) stands in for a text that does not. */
static void question_draw(Rect b, const char *const *text, int nt, const char *const *brief,
                          int nb, const char *const *choice, int nc) {
    int rc = paras_rows(b.w, choice, nc);
    int room = b.h - rc - 1;
    if (brief && paras_rows(b.w, text, nt) > room) text = brief, nt = nb;
    Rect top = {b.y, b.x, room > 0 ? room : 0, b.w};
    paras_draw(top, b.y, text, nt);
    paras_draw(b, b.y + b.h - rc > b.y ? b.y + b.h - rc : b.y, choice, nc);
}

/* help: each line word-wrapped to the overlay, continuation rows indented
 * under the line's last column (its description), so that no line is cut
 * at any width; help_scroll counts display rows */
static int help_indent(const char *l) {
    const char *gap = NULL;
    for (const char *p = strstr(l, "  "); p; p = strstr(p + 1, "  ")) gap = p;
    if (!gap) return 0;
    while (*gap == ' ') gap++;
    return tw_width(l, (size_t)(gap - l));
}
static void help_draw(App *a, Rect b) {
    int row = 0, total = 0;
    for (int pass = 0; pass < 2; pass++) {
        row = 0;
        for (int i = 0; i < a->n_help; i++) {
            const char *l = a->help[i];
            TwLine *w = NULL;
            int indent = help_indent(l);
            int n = tw_wrap(l, strlen(l), b.w, indent <= b.w - 16 ? indent : 4, &w);
            for (int k = 0; k < n; k++, row++) {
                int y = row - a->help_scroll;
                if (pass == 0 || y < 0 || y >= b.h) continue;
                ui_fill(b.y + y, b.x, b.w);
                ui_put(b.y + y, b.x + w[k].indent, l + w[k].start, w[k].end - w[k].start,
                       b.w - w[k].indent);
            }
            free(w);
        }
        total = row; /* the first pass only counts, to clamp the scroll */
        if (pass == 0 && a->help_scroll > total - b.h) a->help_scroll = total - b.h;
        if (a->help_scroll < 0) a->help_scroll = 0;
    }
}
static void help_key(App *a, int key) {
    if (key == K(KEY_DOWN) || key == K(KEY_NPAGE)) a->help_scroll += key == K(KEY_DOWN) ? 1 : 10;
    else if (key == K(KEY_UP) || key == K(KEY_PPAGE)) a->help_scroll -= key == K(KEY_UP) ? 1 : 10;
    else a->ov = OV_NONE;
    if (a->help_scroll < 0) a->help_scroll = 0; /* the end is clamped when drawn */
}

/* the first run's offer to download the default models */
static void pull_draw(App *a, Rect b) {
    char *dest = pull_default_dest(DEFAULT_MODEL);
    char what[1024], other[1024];
    snprintf(what, sizeof what,
             "Download %s (about 1 GB) and %s (about 300 MB) from %s into %s? The download "
             "resumes where it stopped; Esc stops it.",
             DEFAULT_MODEL, DEFAULT_WHISPER, pull_endpoint(), dest ? dest : "the models folder");
    snprintf(other, sizeof other,
             "Or open a model folder you have, or set model = DIR in %s, or start with -m DIR.",
             a->cfg_path ? a->cfg_path : "the settings file");
    const char *text[] = {"No language model is set up and none was found on this machine.", "",
                          what, "", other};
    const char *brief[] = {"No model found. Download " DEFAULT_MODEL " (1 GB) and " DEFAULT_WHISPER
                           " (300 MB)?"};
    const char *choice[] = {"y: download now", "o: open a model folder", "n: not now"};
    question_draw(b, text, 5, brief, 1, choice, 3);
    free(dest);
}
static void pull_key(App *a, int key) {
    a->ov = OV_NONE;
    if (key == 'y' || key == 'Y') {
        app_download_start(a);
    } else if (key == 'o' || key == 'O') {
        ed_clear(&a->ov_ed);
        a->ov = OV_MODEL;
    } else {
        char hint[512];
        app_no_model_hint(a, hint, sizeof hint);
        app_note(a, 0, "%s", hint);
    }
}

/* the message log, newest at the bottom */
static void log_draw(App *a, Rect b) {
    int max = a->n_log > b.h ? a->n_log - b.h : 0;
    if (a->log_scroll > max) a->log_scroll = max;
    if (a->log_scroll < 0) a->log_scroll = 0;
    for (int i = 0; i < b.h && a->log_scroll + i < a->n_log; i++) {
        const char *l = a->log[a->log_scroll + i];
        attrset(strstr(l, " error: ") == l + 8 ? theme_attr(THEME_ERROR) : A_NORMAL);
        ui_put(b.y + i, b.x, l, strlen(l), b.w);
    }
    if (!a->n_log) ui_put(b.y, b.x, "(no messages yet)", 17, b.w);
    attrset(A_NORMAL);
}
static void log_key(App *a, int key) {
    int page = a->H - 8 > 1 ? a->H - 8 : 1;
    if (key == K(KEY_UP)) a->log_scroll--;
    else if (key == K(KEY_DOWN)) a->log_scroll++;
    else if (key == K(KEY_PPAGE)) a->log_scroll -= page;
    else if (key == K(KEY_NPAGE)) a->log_scroll += page;
    else if (key == K(KEY_HOME)) a->log_scroll = 0;
    else if (key == K(KEY_END)) a->log_scroll = INT_MAX / 2;
    else a->ov = OV_NONE;
    if (a->log_scroll < 0) a->log_scroll = 0;
}

/* The report of a recording: which template (the chosen one selected
 * first), as the chosen persona. Opened when a recording's transcript is
 * whole, and from the meetings library. */
static int64_t report_rec;   /* the recording the open offer is for */
static int report_persona;   /* 0: none, k: a->personas[k - 1] */

static const char *offer_persona(App *a) {
    return report_persona > 0 && report_persona <= (int)a->n_personas
               ? a->personas[report_persona - 1].name
               : NULL;
}

void overlay_report_offer(App *a, int64_t rec) {
    if (!a->n_templates)
        return app_note(a, 1, "no report template: n in the template pane adds one");
    report_rec = rec;
    a->ov = OV_REPORT;
    a->ov_sel = 0;
    const char *t = app_report_template(a);
    for (size_t i = 0; t && i < a->n_templates; i++)
        if (!strcmp(a->templates[i].name, t)) a->ov_sel = (int)i;
    report_persona = 0; /* the chosen persona first */
    for (size_t i = 0; a->persona && i < a->n_personas; i++)
        if (!strcmp(a->personas[i].name, a->persona)) report_persona = (int)i + 1;
}

static void report_draw(App *a, Rect b) {
    char l[1024];
    const char *p = offer_persona(a);
    snprintf(l, sizeof l, "Recording %lld: write its report with which template, as %s%s?",
             (long long)report_rec, p ? "persona " : "", p ? p : "no persona");
    ui_put(b.y, b.x, l, strlen(l), b.w);
    int rows = b.h - 4, top = a->ov_sel >= rows ? a->ov_sel - rows + 1 : 0;
    for (int i = 0; i < rows && top + i < (int)a->n_templates; i++) {
        const Template *t = &a->templates[top + i];
        snprintf(l, sizeof l, "%-20s %s", t->name, t->description);
        attrset(top + i == a->ov_sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + 2 + i, b.x - 1, b.w + 2);
        ui_put(b.y + 2 + i, b.x, l, strlen(l), b.w);
    }
    attrset(A_NORMAL);
    const char *hint = "Enter: write it now   Tab: another persona   Esc: later (F12: library)";
    ui_put(b.y + b.h - 1, b.x, hint, strlen(hint), b.w);
}
static void report_key(App *a, int key) {
    if (overlay_move(a, key, (int)a->n_templates)) return;
    if (key == '\t') {
        report_persona = (report_persona + 1) % ((int)a->n_personas + 1);
        return;
    }
    if (key != '\r' && key != 'y' && key != 'Y') {
        a->ov = OV_NONE;
        return;
    }
    a->ov = OV_NONE;
    if (a->ov_sel < (int)a->n_templates)
        app_report_start(a, report_rec, a->templates[a->ov_sel].name, offer_persona(a));
}

/* the sessions list, and its delete confirmation */
static void sessions_draw(App *a, Rect b) {
    for (int i = 0; i < (int)a->n_sessions && i < b.h; i++) {
        int top = a->ov_sel >= b.h ? a->ov_sel - b.h + 1 : 0, k = top + i;
        if (k >= (int)a->n_sessions) break;
        const StoreSession *s = &a->sessions[k];
        /* the title takes the room the other columns leave, cut to it, so
         * that a long one never pushes them off the edge */
        char head[32], tail[96], when[64];
        snprintf(head, sizeof head, "%s %4lld  ", s->id == a->session ? "\xe2\x97\x8f" : " ",
                 (long long)s->id);
        snprintf(tail, sizeof tail, "  %4lld message%s  %s", (long long)s->n_messages,
                 s->n_messages == 1 ? " " : "s", when_local(s->updated, when, sizeof when));
        const char *title = s->title[0] ? s->title : "(untitled)";
        int hw = tw_width(head, strlen(head)), tl = tw_width(tail, strlen(tail));
        int room = b.w - hw - tl, used = 0;
        if (room < 8) room = 8;
        attrset(k == a->ov_sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + i, b.x - 1, b.w + 2);
        ui_put(b.y + i, b.x, head, strlen(head), b.w);
        size_t fit = tw_fit(title, strlen(title), room, &used);
        ui_put(b.y + i, b.x + hw, title, fit, room);
        if (fit < strlen(title) && room > 1) /* cut: say so */
            ui_put(b.y + i, b.x + hw + (used < room ? used : room - 1), "\xe2\x80\xa6", 3, 1);
        ui_put(b.y + i, b.x + hw + room, tail, strlen(tail), b.w - hw - room);
    }
    if (!a->n_sessions) ui_put(b.y, b.x, "(no sessions yet)", 17, b.w);
    attrset(A_NORMAL);
}
static void sessions_key(App *a, int key) {
    int n = (int)a->n_sessions;
    if (key == 27) a->ov = OV_NONE;
    else if (overlay_move(a, key, n)) return;
    else if (key == 'n') app_session_new(a), a->ov = OV_NONE;
    else if (key == 'r' && n) ed_set(&a->ov_ed, a->sessions[a->ov_sel].title), a->ov = OV_RENAME;
    /* Enter and d are actions (sessions_actions) */
}
static void confirm_key(App *a, int key) {
    if (overlay_move(a, key, (int)a->n_sessions)) return;
    if ((key == 'y' || key == 'Y') && a->ov_sel < (int)a->n_sessions) {
        int64_t id = a->sessions[a->ov_sel].id;
        if (store_session_delete(a->st, id)) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "session %lld deleted", (long long)id);
        if (id == a->session) app_session_new(a);
        overlay_sessions_open(a);
    } else {
        a->ov = OV_SESSIONS;
    }
}

/* the search and rename fields: one text line at the top */
static void field_draw(App *a, Rect b) {
    attrset(theme_attr(THEME_INPUT));
    ui_fill(b.y, b.x - 1, b.w + 2);
    ui_put(b.y, b.x, a->ov_ed.buf, a->ov_ed.len, b.w);
    attrset(A_NORMAL);
}
static void field_cursor(App *a, Rect b) {
    int u = tw_width(a->ov_ed.buf, a->ov_ed.cur);
    move(b.y, b.x + (u < b.w ? u : b.w));
}
int overlay_field_key(App *a, int key) { return editor_key(&a->ov_ed, key, a->W, 0); }
void overlay_field_draw(App *a, Rect b) {
    field_draw(a, b);
    field_cursor(a, b);
}

static void search_draw(App *a, Rect b) {
    field_draw(a, b);
    for (int i = 0; i < (int)a->n_hits && i < b.h - 2; i++) {
        const StoreHit *hit = &a->hits[i];
        char line[1024];
        snprintf(line, sizeof line, "%s %lld: %s", hit->kind, (long long)hit->owner, hit->snippet);
        attrset(i == a->ov_sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + 2 + i, b.x - 1, b.w + 2);
        ui_put(b.y + 2 + i, b.x, line, strlen(line), b.w);
    }
    attrset(A_NORMAL);
    field_cursor(a, b);
}
static void search_key(App *a, int key) {
    if (key == 27) {
        a->ov = OV_NONE;
    } else if (overlay_move(a, key, (int)a->n_hits)) {
    } else if (key == '\r') {
        if (a->ov_sel >= (int)a->n_hits) return;
        const StoreHit *h = &a->hits[a->ov_sel];
        if (a->replying) return app_note(a, 1, "a reply is being written (Esc cancels it)");
        if (!strcmp(h->kind, "message")) {
            app_session_load(a, h->owner);
            a->ov = OV_NONE;
        } else {
            app_note(a, 0, "that hit is in recording %lld's transcript", (long long)h->owner);
        }
    } else if (overlay_field_key(a, key)) {
        overlay_search_run(a);
    }
}

static void rename_draw(App *a, Rect b) {
    field_draw(a, b);
    field_cursor(a, b);
}
static void rename_key(App *a, int key) {
    if (key == 27) {
        a->ov = OV_SESSIONS;
    } else if (key == '\r') {
        int64_t id = a->sessions[a->ov_sel].id;
        if (store_session_rename(a->st, id, a->ov_ed.buf)) app_note(a, 1, "%s", unum_error());
        else if (id == a->session) free(a->session_title), a->session_title = xstrdup(a->ov_ed.buf);
        overlay_sessions_open(a);
    } else {
        overlay_field_key(a, key);
    }
}

/* the model prompt: a folder or repo id, loaded on Enter */
static void model_draw(App *a, Rect b) {
    field_draw(a, b);
    const char *help[] = {"A model folder (config.json, model.safetensors, tokenizer.json) or a "
                          "repo id already downloaded (ORG/NAME). Enter loads it; Esc cancels."};
    paras_draw((Rect){b.y + 2, b.x, b.h - 2, b.w}, b.y + 2, help, 1);
    field_cursor(a, b);
}
static void model_key(App *a, int key) {
    if (key == 27) {
        a->ov = OV_NONE;
    } else if (key == '\r') {
        const char *t = a->ov_ed.buf;
        while (*t == ' ') t++;
        if (!*t) return;
        char *dir = modeldir_resolve(t);
        if (!dir) return app_note(a, 1, "%s", unum_error()); /* the prompt stays open */
        free(dir);
        a->ov = OV_NONE;
        app_model_open(a, t);
    } else {
        overlay_field_key(a, key);
    }
}

/* the offer to remember the folder just loaded */
static void model_save_draw(App *a, Rect b) {
    char q[1200];
    snprintf(q, sizeof q, "Remember %s as the model in %s, so that unum starts with it?",
             a->model_offer ? a->model_offer : "", a->cfg_path ? a->cfg_path : "the settings file");
    const char *text[] = {q};
    const char *choice[] = {"y: remember it   n: only this time"};
    question_draw(b, text, 1, NULL, 0, choice, 1);
}
static void model_save_key(App *a, int key) {
    a->ov = OV_NONE;
    if ((key == 'y' || key == 'Y') && a->model_offer) {
        if (app_config_set(a->cfg_path, "model", a->model_offer)) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "model = %s saved in %s", a->model_offer, a->cfg_path);
    }
    free(a->model_offer), a->model_offer = NULL;
}

static int act_session_open(App *a) {
    if (a->ov_sel >= (int)a->n_sessions) return R_HANDLED;
    if (a->replying) return app_note(a, 1, "a reply is being written (Esc cancels it)"), R_DONE;
    app_session_load(a, a->sessions[a->ov_sel].id);
    a->ov = OV_NONE;
    return R_DONE;
}
static int act_session_delete(App *a) {
    if (a->n_sessions) a->ov = OV_CONFIRM;
    return R_DONE;
}

static const ActionFn sessions_actions[KEYS_N_ACTIONS] = {
    [KEYS_SESSION_OPEN] = act_session_open,
    [KEYS_SESSION_DELETE] = act_session_delete,
};

const OverlayOps app_overlays[OV_COUNT] = {
    [OV_NONE] = {NULL, KEYS_CTX_GLOBAL, NULL, NULL, NULL},
    [OV_HELP] = {"Keys (Esc closes)", KEYS_CTX_GLOBAL, NULL, help_draw, help_key},
    [OV_SESSIONS] = {"Sessions: Enter open, n new, r rename, d delete", KEYS_CTX_SESSIONS,
                     sessions_actions, sessions_draw, sessions_key},
    [OV_SEARCH] = {"Search all sessions (Enter opens the hit)", KEYS_CTX_GLOBAL, NULL, search_draw,
                   search_key},
    [OV_RENAME] = {"Rename session (Enter saves)", KEYS_CTX_GLOBAL, NULL, rename_draw, rename_key},
    [OV_CONFIRM] = {"Delete this session? y / n", KEYS_CTX_GLOBAL, NULL, sessions_draw,
                    confirm_key},
    [OV_PULL] = {"First run", KEYS_CTX_GLOBAL, NULL, pull_draw, pull_key},
    [OV_REPORT] = {"Report: choose a template", KEYS_CTX_GLOBAL, NULL, report_draw, report_key},
    [OV_LOG] = {"Messages, newest last (Esc closes)", KEYS_CTX_GLOBAL, NULL, log_draw, log_key},
    [OV_MODEL] = {"Open a model folder", KEYS_CTX_GLOBAL, NULL, model_draw, model_key},
    [OV_MODEL_SAVE] = {"Model loaded", KEYS_CTX_GLOBAL, NULL, model_save_draw, model_save_key},
    [OV_MEETINGS] = {"Meetings: Enter read, r report, x export, R rename, d delete, t transcribe, "
                     "s speakers, v view",
                     KEYS_CTX_MEETINGS, meetings_actions, meetings_draw, meetings_key},
    [OV_MEETING_VIEW] = {"Report (Up/Down/PgUp/PgDn scroll, Left/Right other reports, Esc back)",
                         KEYS_CTX_GLOBAL, NULL, meetings_view_draw, meetings_view_key},
    [OV_MEETING_EXPORT] = {"Export the recording", KEYS_CTX_GLOBAL, NULL, meetings_export_draw,
                           meetings_export_key},
    [OV_MEETING_RENAME] = {"Rename recording (Enter saves)", KEYS_CTX_GLOBAL, NULL, rename_draw,
                           meetings_rename_key},
    [OV_MEETING_CONFIRM] = {"Delete this recording? y / n", KEYS_CTX_GLOBAL, NULL,
                            meetings_confirm_draw, meetings_confirm_key},
    [OV_RECOVER] = {"Interrupted recordings", KEYS_CTX_GLOBAL, NULL, meetings_recover_draw,
                    meetings_recover_key},
    [OV_LIST_RENAME] = {"Rename?", KEYS_CTX_GLOBAL, NULL, list_rename_draw, list_rename_key},
    [OV_LIST_DELETE] = {"Delete? y / n", KEYS_CTX_GLOBAL, NULL, list_delete_draw, list_delete_key},
    [OV_ASK] = {"Please confirm", KEYS_CTX_GLOBAL, NULL, history_ask_draw, history_ask_key},
    [OV_SPEAKERS] = {"Speakers (Enter names the selected one, Esc back)", KEYS_CTX_GLOBAL, NULL,
                     speakers_draw, speakers_key},
    [OV_SPEAKER_NAME] = {"Speaker's name (Enter saves; empty shows the label)", KEYS_CTX_GLOBAL,
                         NULL, speakers_name_draw, speakers_name_key},
};

void overlay_draw(App *a) {
    assert(a->ov > OV_NONE && a->ov < OV_COUNT && app_overlays[a->ov].draw);
    /* small terminals give the overlay nearly all of the screen */
    int w = a->W < 60 ? a->W - 2 : a->W - 8 < 90 ? a->W - 8 : 90;
    int h = a->H < 20 ? a->H - 2 : a->H - 4, y = a->H < 20 ? 1 : 2;
    if (w < 16 || h < 5) return;
    int x = (a->W - w) / 2;
    for (int i = 0; i < h; i++) ui_fill(y + i, x, w);
    ui_box(y, x, h, w, app_overlays[a->ov].title, 1);
    app_overlays[a->ov].draw(a, (Rect){y + 1, x + 2, h - 2, w - 4});
    attrset(A_NORMAL);
}

