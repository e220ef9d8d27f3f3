/* overlay_meetings.c - the meetings library (F12): every recording with its
 * title, date (local time), duration and state; its reports read as the
 * chat shows markdown; another report with a chosen template and persona
 * (overlay.c's report offer); export through meeting.h's meeting_export
 * (what `unum meeting export` prints); rename; delete (asked, y/n: the
 * row, its transcript and reports, and its file); and transcription of a
 * recording whose transcript is not whole (one made without a speech
 * model, or recovered after a crash); its speakers named (overlay_speakers.c);
 * its transcript shown in the transcript pane. See pane.h.
 *
 * The library's state is this file's: the list as read when it opened (and
 * after each change), the selection, and the report being read. */
#include "tui/app/pane.h"

#include "engine/base/paths.h"
#include "engine/base/util.h"
#include "store/meeting_store.h"
#include "tui/app/textwrap.h"
#include "tui/core/meeting.h"
#include "tui/core/recordings.h"
#include "store/recording.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

static StoreMeeting *list;
static size_t n_list;
static int sel;

/* the report reader */
static StoreReport *reports;
static size_t n_reports;
static int cur, top_line;
static MdDoc doc;
static int doc_cols = -1;

static const char *const formats[] = {"md", "json", "vtt", "srt"};
static int format_sel;

static const StoreMeeting *selected(void) { return sel < (int)n_list ? &list[sel] : NULL; }

/* Reads the list again, keeping the selection on the same row (or near). */
static int reload(App *a) {
    int64_t keep = selected() ? selected()->id : 0;
    store_meetings_free(list, n_list);
    list = NULL, n_list = 0;
    if (!a->st) return app_note(a, 1, "no database"), -1;
    if (store_meeting_list(a->st, &list, &n_list)) return app_note(a, 1, "%s", unum_error()), -1;
    if (sel >= (int)n_list) sel = n_list ? (int)n_list - 1 : 0;
    for (size_t i = 0; keep && i < n_list; i++)
        if (list[i].id == keep) sel = (int)i;
    return 0;
}

void meetings_open(App *a) {
    if (reload(a)) return;
    a->ov = OV_MEETINGS;
}

void meetings_on_transcribed(App *a, int64_t rec) {
    app_note(a, 0, "recording %lld transcribed; r in the library (F12) writes its report",
             (long long)rec);
    if (a->ov == OV_MEETINGS) reload(a);
}

/* "2026-12-03T12:38:58.123Z" (UTC, as the store writes it) in local time. */
static void local_date(const char *utc, char *out, size_t cap) {
    struct tm tm = {0};
    if (sscanf(utc, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6) {
        snprintf(out, cap, "%s", utc);
        return;
    }
    tm.tm_year -= 1900, tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    struct tm loc;
    localtime_r(&t, &loc);
    strftime(out, cap, "%Y-%m-%d %H:%M", &loc);
}

/* The name the library shows: the title, else the file's name. */
static const char *display_name(const StoreMeeting *m) {
    if (m->title && m->title[0]) return m->title;
    const char *p = m->source[0] ? m->source : m->path, *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

static const char *state_text(const StoreMeeting *m) {
    if (!strcmp(m->status, "recording")) return "recording";
    if (!strcmp(m->status, "damaged")) return "damaged";
    return m->transcribed ? "" : "not transcribed (t)";
}

/* ------------------------------------------------------------ the list */

void meetings_draw(App *a, Rect b) {
    (void)a;
    if (!n_list) {
        const char *s = "(no recordings yet: F5 records one)";
        ui_put(b.y, b.x, s, strlen(s), b.w);
        return;
    }
    char head[256];
    snprintf(head, sizeof head, "%-28s %-16s %8s %7s  %s", "title", "date", "length", "reports",
             "state");
    attrset(theme_attr(THEME_DIM));
    ui_put(b.y, b.x, head, strlen(head), b.w);
    int rows = b.h - 1, top = sel >= rows ? sel - rows + 1 : 0;
    for (int i = 0; i < rows && top + i < (int)n_list; i++) {
        const StoreMeeting *m = &list[top + i];
        char date[64], line[1024];
        local_date(m->created, date, sizeof date);
        int s = (int)(m->duration_s + 0.5);
        snprintf(line, sizeof line, "%-28.28s %-16s %5d:%02d %7lld  %s", display_name(m), date,
                 s / 60, s % 60, (long long)m->reports, state_text(m));
        attrset(top + i == sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + 1 + i, b.x - 1, b.w + 2);
        ui_put(b.y + 1 + i, b.x, line, strlen(line), b.w);
    }
    attrset(A_NORMAL);
}

void meetings_key(App *a, int key) {
    if (key == K(KEY_UP) && sel > 0) sel--;
    else if (key == K(KEY_DOWN) && sel + 1 < (int)n_list) sel++;
    else if (key == 27) a->ov = OV_NONE;
}

static int act_open(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    store_reports_free(reports, n_reports);
    reports = NULL, n_reports = 0;
    if (store_report_list(a->st, m->id, &reports, &n_reports))
        return app_note(a, 1, "%s", unum_error()), R_DONE;
    if (!n_reports)
        return app_note(a, 1, "recording %lld has no report yet: r writes one", (long long)m->id),
               R_DONE;
    cur = 0, top_line = 0, doc_cols = -1;
    a->ov = OV_MEETING_VIEW;
    return R_DONE;
}

static int act_report(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    if (!m->transcribed)
        return app_note(a, 1, "recording %lld is not transcribed yet: t transcribes it",
                        (long long)m->id),
               R_DONE;
    overlay_report_offer(a, m->id);
    return R_DONE;
}

static int act_export(App *a) {
    if (selected()) a->ov = OV_MEETING_EXPORT;
    return R_DONE;
}

static int act_rename(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    ed_set(&a->ov_ed, display_name(m));
    a->ov = OV_MEETING_RENAME;
    return R_DONE;
}

static int act_delete(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    if (a->cap && m->id == a->rec_id)
        return app_note(a, 1, "recording %lld is still recording", (long long)m->id), R_DONE;
    a->ov = OV_MEETING_CONFIRM;
    return R_DONE;
}

static int act_transcribe(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    if (m->transcribed)
        return app_note(a, 0, "recording %lld is transcribed already", (long long)m->id), R_DONE;
    if (strcmp(m->status, "complete"))
        return app_note(a, 1, "recording %lld is %s", (long long)m->id, m->status), R_DONE;
    if (a->cap) return app_note(a, 1, "not while recording (F5 stops it)"), R_DONE;
    if (!a->whisper_ready)
        return app_note(a, 1, "no speech model: set whisper = DIR in %s or pass --whisper",
                        a->cfg_path),
               R_DONE;
    worker_transcribe(a->wk, a->args.db, m->id);
    app_note(a, 0, "transcribing recording %lld ...", (long long)m->id);
    a->ov = OV_NONE;
    return R_DONE;
}

static int act_speakers(App *a) {
    const StoreMeeting *m = selected();
    if (m) speakers_open(a, m->id, OV_MEETINGS);
    return R_DONE;
}

static int act_view(App *a) {
    const StoreMeeting *m = selected();
    if (!m) return R_HANDLED;
    transcript_show(a, m->id);
    if (a->seg_rec == m->id) a->ov = OV_NONE;
    return R_DONE;
}

const ActionFn meetings_actions[KEYS_N_ACTIONS] = {
    [KEYS_MEETING_OPEN] = act_open,         [KEYS_MEETING_REPORT] = act_report,
    [KEYS_MEETING_EXPORT] = act_export,     [KEYS_MEETING_RENAME] = act_rename,
    [KEYS_MEETING_DELETE] = act_delete,     [KEYS_MEETING_TRANSCRIBE] = act_transcribe,
    [KEYS_MEETING_SPEAKERS] = act_speakers, [KEYS_MEETING_VIEW] = act_view,
};

/* ------------------------------------------------------------ the reader */

void meetings_view_draw(App *a, Rect b) {
    if (cur >= (int)n_reports) return;
    const StoreReport *r = &reports[cur];
    char head[512], date[64];
    local_date(r->created, date, sizeof date);
    snprintf(head, sizeof head, "report %d of %zu: %s%s%s, %s", cur + 1, n_reports,
             r->template_name, r->persona[0] ? " as " : "", r->persona, date);
    attrset(theme_attr(THEME_DIM));
    ui_put(b.y, b.x, head, strlen(head), b.w);
    attrset(A_NORMAL);
    if (doc_cols != b.w) {
        md_free(&doc);
        md_render(&doc, r->markdown, strlen(r->markdown), b.w);
        doc_cols = b.w;
    }
    int rows = b.h - 1;
    if (top_line > doc.n - rows) top_line = doc.n - rows;
    if (top_line < 0) top_line = 0;
    for (int i = 0; i < rows && top_line + i < doc.n; i++)
        draw_md_line(a, b.y + 1 + i, b.x, b.w, &doc.line[top_line + i]);
}

void meetings_view_key(App *a, int key) {
    int page = a->H - 8 > 1 ? a->H - 8 : 1;
    if (key == K(KEY_DOWN)) top_line++;
    else if (key == K(KEY_UP)) top_line--;
    else if (key == K(KEY_NPAGE) || key == ' ') top_line += page;
    else if (key == K(KEY_PPAGE)) top_line -= page;
    else if (key == K(KEY_HOME)) top_line = 0;
    else if (key == K(KEY_END)) top_line = doc.n;
    else if ((key == K(KEY_RIGHT) || key == 'n') && cur + 1 < (int)n_reports) {
        cur++;
        top_line = 0, doc_cols = -1;
    } else if ((key == K(KEY_LEFT) || key == 'p') && cur > 0) {
        cur--;
        top_line = 0, doc_cols = -1;
    } else if (key == 27 || key == 'q') a->ov = OV_MEETINGS;
    if (top_line < 0) top_line = 0;
}

/* ------------------------------------------------------------ export, rename, delete */

void meetings_export_draw(App *a, Rect b) {
    (void)a;
    const char *s = "Export as (Enter writes it to the exports folder, Esc goes back):";
    ui_put(b.y, b.x, s, strlen(s), b.w);
    static const char *const what[] = {"the newest report (else the transcript) as markdown",
                                       "the recording, its segments and its newest report",
                                       "WebVTT subtitles", "SubRip subtitles"};
    for (int i = 0; i < 4; i++) {
        char l[256];
        snprintf(l, sizeof l, "%-5s %s", formats[i], what[i]);
        attrset(i == format_sel ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(b.y + 2 + i, b.x - 1, b.w + 2);
        ui_put(b.y + 2 + i, b.x, l, strlen(l), b.w);
    }
    attrset(A_NORMAL);
}

/* Writes the selected recording in format f to the exports folder. */
static void export_write(App *a, const char *f) {
    const StoreMeeting *m = selected();
    if (!m) return;
    char *text = meeting_export(a->st, m->id, f);
    char *dir = text ? unum_xdg_path(UNUM_XDG_DATA, "exports") : NULL;
    if (!text || !dir || unum_mkdir_p(dir, 0700)) {
        app_note(a, 1, "export: %s", unum_error());
    } else {
        char path[1200];
        snprintf(path, sizeof path, "%s/recording-%lld.%s", dir, (long long)m->id, f);
        if (unum_write_file_atomic(path, text, strlen(text))) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "exported to %s", path);
    }
    free(dir);
    free(text);
}

void meetings_export_key(App *a, int key) {
    if (key == K(KEY_UP) && format_sel > 0) format_sel--;
    else if (key == K(KEY_DOWN) && format_sel < 3) format_sel++;
    else if (key == '\r') export_write(a, formats[format_sel]), a->ov = OV_MEETINGS;
    else if (key == 27) a->ov = OV_MEETINGS;
}

void meetings_rename_key(App *a, int key) {
    const StoreMeeting *m = selected();
    if (key == 27 || !m) {
        a->ov = OV_MEETINGS;
    } else if (key == '\r') {
        if (store_recording_rename(a->st, m->id, a->ov_ed.buf)) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "recording %lld renamed", (long long)m->id);
        reload(a);
        a->ov = OV_MEETINGS;
    } else {
        overlay_field_key(a, key);
    }
}

void meetings_confirm_draw(App *a, Rect b) {
    const StoreMeeting *m = selected();
    if (!m) return;
    char l[3][1024];
    snprintf(l[0], sizeof l[0], "Delete recording %lld (%s), its transcript and its %lld reports?",
             (long long)m->id, display_name(m), (long long)m->reports);
    snprintf(l[1], sizeof l[1], "Its file is removed too: %s", m->path);
    snprintf(l[2], sizeof l[2], "y: delete   n: keep it");
    for (int i = 0; i < 3; i++) ui_put(b.y + 2 * i, b.x, l[i], strlen(l[i]), b.w);
    (void)a;
}

void meetings_confirm_key(App *a, int key) {
    const StoreMeeting *m = selected();
    a->ov = OV_MEETINGS;
    if (!m || (key != 'y' && key != 'Y')) return app_note(a, 0, "nothing was deleted");
    int64_t id = m->id;
    char *path = xstrdup(m->path);
    if (store_recording_delete(a->st, id)) {
        app_note(a, 1, "%s", unum_error());
    } else if (unlink(path) && access(path, F_OK) == 0) {
        app_note(a, 1, "recording %lld deleted, but its file %s could not be removed",
                 (long long)id, path);
    } else {
        app_note(a, 0, "recording %lld and its file %s deleted", (long long)id, path);
        if (a->last_rec == id) a->last_rec = 0;
        if (a->seg_rec == id) transcript_clear(a);
    }
    free(path);
    reload(a);
}

/* ------------------------------------------------------------ recovery */

static int64_t *lost; /* the interrupted recordings' rows */
static char **lost_path;
static size_t n_lost;

static void lost_free(void) {
    for (size_t i = 0; i < n_lost; i++) free(lost_path[i]);
    free(lost_path);
    free(lost);
    lost = NULL, lost_path = NULL, n_lost = 0;
}

void meetings_recovery_offer(App *a) {
    lost_free();
    if (!a->st) return;
    int64_t *ids;
    char **paths;
    size_t n;
    if (store_recordings_unfinished(a->st, &ids, &paths, &n))
        return app_note(a, 1, "%s", unum_error());
    for (size_t i = 0; i < n; i++) { /* the ones whose file is there */
        if (access(paths[i], F_OK) == 0) {
            lost = xrealloc(lost, sizeof *lost * (n_lost + 1));
            lost_path = xrealloc(lost_path, sizeof *lost_path * (n_lost + 1));
            lost[n_lost] = ids[i];
            lost_path[n_lost++] = paths[i];
        } else {
            free(paths[i]);
        }
    }
    free(ids);
    free(paths);
    if (n_lost) a->ov = OV_RECOVER;
}

void meetings_recover_draw(App *a, Rect b) {
    (void)a;
    char l[1200];
    snprintf(l, sizeof l,
             "%zu recording%s ended without being finished (the program was stopped "
             "while recording):",
             n_lost, n_lost == 1 ? "" : "s");
    ui_put(b.y, b.x, l, strlen(l), b.w);
    int i = 0;
    for (; i < (int)n_lost && i < b.h - 5; i++) {
        snprintf(l, sizeof l, "  recording %lld  %s", (long long)lost[i], lost_path[i]);
        ui_put(b.y + 2 + i, b.x, l, strlen(l), b.w);
    }
    const char *q = "y: recover them (their audio is kept and can be transcribed: F12, t)   "
                    "n: not now";
    ui_put(b.y + 3 + i, b.x, q, strlen(q), b.w);
}

void meetings_recover_key(App *a, int key) {
    a->ov = OV_NONE;
    if (key != 'y' && key != 'Y') {
        app_note(a, 0, "the interrupted recordings are offered again at the next start");
        return lost_free();
    }
    int repaired = 0, damaged = 0;
    if (recordings_repair(a->st, &repaired, &damaged)) app_note(a, 1, "%s", unum_error());
    else if (damaged)
        app_note(a, 1, "%d recording%s recovered; %d held no usable audio (marked damaged)",
                 repaired, repaired == 1 ? "" : "s", damaged);
    else
        app_note(a, 0, "%d recording%s recovered: F12 lists them, t transcribes", repaired,
                 repaired == 1 ? "" : "s");
    lost_free();
    if (!reload(a)) a->ov = OV_MEETINGS;
}
