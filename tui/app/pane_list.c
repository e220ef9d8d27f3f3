/* pane_list.c - the list pane: personas and report templates, one kind.
 * See pane.h. */
#include "tui/app/pane.h"

#include "engine/base/util.h"

#include <assert.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

/* * One pane kind for the personas and the report templates: a List says
 * which records it shows, which is selected and which is chosen. */

typedef struct {
    int persona;      /* 1: personas, 0: templates */
    int n, *sel;
    const char *chosen;
    const char *title;
} List;

/* The invariant pane.h states: the selection is within the list (0 when
 * it is empty); lists_reload and list_key keep it. */
static List list_of(App *a, PaneId p) {
    assert(p == P_PERSONA || p == P_TEMPLATE);
    assert(a->persona_sel >= 0 && (a->persona_sel < (int)a->n_personas || a->persona_sel == 0));
    assert(a->template_sel >= 0 && (a->template_sel < (int)a->n_templates || a->template_sel == 0));
    if (p == P_PERSONA)
        return (List){1, (int)a->n_personas, &a->persona_sel, a->persona, "Persona"};
    return (List){0, (int)a->n_templates, &a->template_sel, a->template_name, "Template"};
}

/* The title says which keys act: letters only while the pane takes
 * commands (M-c); otherwise typing goes to the message. */
static void list_title(App *a, const List *l, int focused, char *out, size_t cap) {
    char pick[KEYS_NAME_MAX], edit[KEYS_NAME_MAX], add[KEYS_NAME_MAX], cmd[KEYS_NAME_MAX];
    app_key_of(a, l->persona ? KEYS_PERSONA_PICK : KEYS_TEMPLATE_PICK, pick);
    app_key_of(a, l->persona ? KEYS_PERSONA_EDIT : KEYS_TEMPLATE_EDIT, edit);
    app_key_of(a, l->persona ? KEYS_PERSONA_NEW : KEYS_TEMPLATE_NEW, add);
    app_key_of(a, KEYS_COMMANDS, cmd);
    if (focused && a->commands) {
        /* the most used first: a narrow pane cuts the end (F1 lists all) */
        char rep[KEYS_NAME_MAX], del[KEYS_NAME_MAX], extra[96] = "";
        if (app_key_of(a, l->persona ? KEYS_PERSONA_DELETE : KEYS_TEMPLATE_DELETE, del)[0])
            snprintf(extra, sizeof extra, ", %s delete", del);
        if (!l->persona && app_key_of(a, KEYS_TEMPLATE_REPORT, rep)[0])
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %s report", rep);
        snprintf(out, cap, "%s: %s edit, %s new%s", l->title, edit, add, extra);
    } else {
        snprintf(out, cap, "%s (%s use, %s keys)", l->title, pick, cmd);
    }
}

static const char *list_name(App *a, const List *l, int i) {
    return l->persona ? a->personas[i].name : a->templates[i].name;
}

static const char *list_desc(App *a, const List *l, int i) {
    return l->persona ? a->personas[i].description : a->templates[i].description;
}

static int act_list_pick(App *a) {
    if (list_of(a, a->focus).persona) app_persona_choose(a);
    else app_template_choose(a);
    return R_DONE;
}
static int act_list_edit(App *a) { return app_list_edit(a, list_of(a, a->focus).persona, 0), R_DONE; }
static int act_list_new(App *a) { return app_list_edit(a, list_of(a, a->focus).persona, 1), R_DONE; }
static int act_list_delete(App *a) {
    return app_list_delete(a, list_of(a, a->focus).persona), R_DONE;
}
static int act_template_report(App *a) {
    if (a->n_templates)
        app_report_start(a, a->last_rec, a->templates[a->template_sel].name, a->persona);
    return R_DONE;
}

/* One table for both lists: a context's keys only ever look up that
 * context's actions, so the persona pane never sees TEMPLATE_*. */
static const ActionFn list_actions[KEYS_N_ACTIONS] = {
    [KEYS_PERSONA_PICK] = act_list_pick,
    [KEYS_PERSONA_EDIT] = act_list_edit,
    [KEYS_PERSONA_NEW] = act_list_new,
    [KEYS_TEMPLATE_PICK] = act_list_pick,
    [KEYS_TEMPLATE_EDIT] = act_list_edit,
    [KEYS_TEMPLATE_NEW] = act_list_new,
    [KEYS_TEMPLATE_REPORT] = act_template_report,
    [KEYS_PERSONA_DELETE] = act_list_delete,
    [KEYS_TEMPLATE_DELETE] = act_list_delete,
};

static int list_key(App *a, int key) {
    List l = list_of(a, a->focus);
    if (key == K(KEY_UP) || key == K(KEY_DOWN) || key == K(KEY_HOME) || key == K(KEY_END))
        app_scroll(a, a->focus,
                   key == K(KEY_UP)     ? 1
                   : key == K(KEY_DOWN) ? -1
                   : key == K(KEY_HOME) ? l.n
                                        : -l.n);
    else return R_NONE;
    return R_DONE;
}

/* The first row shown: the selection stays in view. */
static int list_top(int sel, int rows) { return sel >= rows ? sel - rows + 1 : 0; }

/* A click selects the row under it. */
static int list_click(App *a, int row) {
    List l = list_of(a, a->focus);
    int k = list_top(*l.sel, a->rect[a->focus].h - 2) + row;
    if (k < l.n) *l.sel = k;
    return R_DONE;
}

static void list_draw(App *a, PaneId p, Rect r, int focused) {
    List l = list_of(a, p);
    char title[256];
    list_title(a, &l, focused, title, sizeof title);
    ui_box(r.y, r.x, r.h, r.w, title, focused);
    int iw = r.w - 4, ih = r.h - 2;
    if (iw < 1 || ih < 1) return;
    int sel = *l.sel, top = list_top(sel, ih);
    for (int i = top; i < l.n && i - top < ih; i++) {
        int y = r.y + 1 + i - top;
        const char *nm = list_name(a, &l, i);
        int is_chosen = l.chosen && !strcmp(l.chosen, nm);
        attrset(i == sel && focused ? theme_attr(THEME_SELECTION) : A_NORMAL);
        ui_fill(y, r.x + 1, r.w - 2);
        char line[512];
        snprintf(line, sizeof line, "%s %s", is_chosen ? "\xe2\x97\x8f" : " ", nm); /* ● */
        int u = ui_put(y, r.x + 2, line, strlen(line), iw);
        const char *d = list_desc(a, &l, i);
        if (d && *d && u + 3 < iw) {
            attrset((i == sel && focused ? theme_attr(THEME_SELECTION) : 0) |
                    theme_attr(THEME_DIM));
            ui_put(y, r.x + 2 + u, "  ", 2, iw - u);
            ui_put(y, r.x + 4 + u, d, strlen(d), iw - u - 2);
        }
        attrset(A_NORMAL);
    }
    if (l.n == 0) ui_put(r.y + 1, r.x + 2, "(none)", 6, iw);
}

const PaneOps pane_persona = {"Persona", KEYS_CTX_PERSONAS, list_draw, list_actions, list_key,
                              list_click};
const PaneOps pane_template = {"Template", KEYS_CTX_TEMPLATES, list_draw, list_actions, list_key,
                               list_click};
