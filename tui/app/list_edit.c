/* list_edit.c - personas and templates edited from their panes: the JSON
 * in $EDITOR, saved back when it parses; a rename through the "name" field
 * (asked); and a delete (asked). See pane.h.
 *
 * A failed edit never loses the user's text: the editor opens again on
 * what they wrote, with the error as a "// unum: " comment line above the
 * line at fault (JSON has no comments: those lines are taken out again
 * before parsing, and only those). Leaving the editor without a change
 * ends it, with the error on the message line. */
#include "tui/app/pane.h"

#include "engine/base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

#define NOTE_MARK "// unum: "

/* Runs $VISUAL, $EDITOR or vi on a temporary file holding text; the
 * edited text comes back (new string), or NULL when unchanged or on
 * failure (a note says which). */
static char *edit_in_editor(App *a, const char *text, const char *what) {
    char path[] = "/tmp/unum-edit-XXXXXX.json";
    int fd = mkstemps(path, 5);
    if (fd < 0) return app_note(a, 1, "cannot create a temporary file: %s", strerror(errno)), NULL;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    char *out = NULL;
    if (ok) {
        const char *ed = getenv("VISUAL");
        if (!ed || !*ed) ed = getenv("EDITOR");
        if (!ed || !*ed) ed = "vi";
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s '%s'", ed, path);
        def_prog_mode();
        endwin();
        int rc = system(cmd);
        reset_prog_mode();
        refresh();
        if (rc != 0) app_note(a, 1, "%s: the editor exited with status %d", what, rc);
        else if ((out = unum_read_file(path, 1 << 20, NULL)) && !strcmp(out, text)) {
            free(out);
            out = NULL;
            app_note(a, 0, "%s: unchanged", what);
        }
    } else {
        app_note(a, 1, "%s: cannot write %s: %s", what, path, strerror(errno));
    }
    unlink(path);
    a->dirty = 1;
    clearok(curscr, TRUE);
    return out;
}

/* text without the lines a failed edit added (new string). */
static char *notes_removed(const char *text) {
    size_t n = strlen(text), k = 0;
    char *out = xmalloc(n + 1);
    for (const char *l = text; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) + 1 : strlen(l);
        if (strncmp(l, NOTE_MARK, strlen(NOTE_MARK))) memcpy(out + k, l, len), k += len;
        l += len;
    }
    out[k] = 0;
    return out;
}

/* The 0-based line the error err points at in text: "near byte N" (a JSON
 * syntax error), else the first line naming a field the message quotes
 * ('field'), else 0. */
static int error_line(const char *text, const char *err) {
    const char *near = strstr(err, "near byte ");
    size_t at = 0;
    if (near && sscanf(near, "near byte %zu", &at) == 1) {
        int line = 0;
        for (size_t i = 0; i < at && text[i]; i++) line += text[i] == '\n';
        return line;
    }
    for (const char *q = strchr(err, '\''); q; q = strchr(q + 1, '\'')) {
        const char *z = strchr(q + 1, '\'');
        if (!z) break;
        char key[96];
        snprintf(key, sizeof key, "\"%.*s\"", (int)(z - q - 1) < 90 ? (int)(z - q - 1) : 90, q + 1);
        const char *hit = strstr(text, key);
        if (hit) {
            int line = 0;
            for (const char *c = text; c < hit; c++) line += *c == '\n';
            return line;
        }
        q = z;
    }
    return 0;
}

/* text with err as a comment line above line (new string). */
static char *with_note(const char *text, const char *err, int line) {
    size_t n = strlen(text), e = strlen(err);
    char *out = xmalloc(n + e + strlen(NOTE_MARK) + 4);
    const char *at = text;
    for (int i = 0; i < line && strchr(at, '\n'); i++) at = strchr(at, '\n') + 1;
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    int k = sprintf(out + head, NOTE_MARK "%s\n", err);
    for (char *c = out + head + strlen(NOTE_MARK); c < out + head + k - 1; c++)
        if (*c == '\n') *c = ' ';
    memcpy(out + head + k, at, n - head + 1);
    return out;
}

/* ------------------------------------------------------------ saving */

/* The edit waiting for the rename question: its text, whose "name" differs
 * from the record it was opened on. */
static struct {
    int persona;
    char *from, *text;
} pending;

static int parse(int persona, const char *text, Persona *p, Template *t, const char **name) {
    int rc = persona ? persona_parse_json(text, strlen(text), "the edited persona", p)
                     : template_parse_json(text, strlen(text), "the edited template", t);
    if (!rc) *name = persona ? p->name : t->name;
    return rc;
}

/* Saves text as the record from (NULL: a new one), renamed when its name
 * differs and rename is set, else as a new record (a copy). 0 or -1. */
static int save(App *a, int persona, const char *text, const char *from, int rename, char *name,
                size_t cap) {
    Persona p;
    Template t;
    const char *nm;
    if (parse(persona, text, &p, &t, &nm)) return -1;
    snprintf(name, cap, "%s", nm);
    const char *kind = persona ? "persona" : "template";
    int rc = 0, exists = 0;
    for (size_t i = 0; persona && i < a->n_personas; i++)
        exists |= !strcmp(a->personas[i].name, nm);
    for (size_t i = 0; !persona && i < a->n_templates; i++)
        exists |= !strcmp(a->templates[i].name, nm);
    if (from && rename && strcmp(from, nm)) { /* the rename, then the rest, at once */
        rc = store_begin(a->st);
        if (!rc)
            rc = persona ? store_persona_rename(a->st, from, nm)
                         : store_template_rename(a->st, from, nm);
        if (!rc) rc = persona ? store_persona_update(a->st, &p) : store_template_update(a->st, &t);
        if (!rc) rc = store_commit(a->st);
        if (rc) store_rollback(a->st);
        if (!rc && persona && a->persona && !strcmp(a->persona, from)) {
            free(a->persona);
            a->persona = xstrdup(nm);
            if (app_config_set(a->cfg_path, "persona", nm)) app_note(a, 1, "%s", unum_error());
        }
        if (!rc && !persona && a->template_name && !strcmp(a->template_name, from)) {
            free(a->template_name);
            a->template_name = xstrdup(nm);
        }
    } else if (exists && (!from || strcmp(from, nm))) {
        rc = unum_error_set("%s '%s' exists already", kind, nm);
    } else if (exists) {
        rc = persona ? store_persona_update(a->st, &p) : store_template_update(a->st, &t);
    } else {
        rc = persona ? store_persona_add(a->st, &p) : store_template_add(a->st, &t);
    }
    if (persona) persona_free(&p);
    else template_free(&t);
    return rc;
}

static void pending_clear(void) {
    free(pending.from);
    free(pending.text);
    memset(&pending, 0, sizeof pending);
}

/* e and n in the persona and template panes. */
void app_list_edit(App *a, int persona, int create) {
    if (!a->st) return;
    const char *what = persona ? "persona" : "template";
    char *json, *from = NULL;
    if (create)
        json = xstrdup(
            persona ? "{\n  \"name\": \"new-persona\",\n  \"description\": \"\",\n"
                      "  \"system_prompt\": \"You are ...\",\n"
                      "  \"style\": {\"tone\": \"\", \"length\": \"\", \"language\": \"\"}\n}\n"
                    : "{\n  \"name\": \"new-template\",\n  \"description\": \"\",\n"
                      "  \"sections\": [\n    {\"title\": \"Summary\", \"instruction\": "
                      "\"Summarize the meeting.\", \"format\": \"paragraph\"}\n  ]\n}\n");
    else if (persona && a->n_personas) {
        json = persona_to_json(&a->personas[a->persona_sel]);
        from = xstrdup(a->personas[a->persona_sel].name);
    } else if (!persona && a->n_templates) {
        json = template_to_json(&a->templates[a->template_sel]);
        from = xstrdup(a->templates[a->template_sel].name);
    } else {
        return;
    }
    /* until it parses, or the user leaves the editor without a change */
    char *shown = json, *text, err[512] = "";
    int done = 0; /* saved, or waiting for the rename question */
    while ((text = edit_in_editor(a, shown, what))) {
        char *clean = notes_removed(text);
        Persona p;
        Template t;
        const char *nm;
        if (parse(persona, clean, &p, &t, &nm)) {
            snprintf(err, sizeof err, "%s", unum_error());
            free(shown);
            shown = with_note(clean, err, error_line(clean, err));
            free(clean);
            free(text);
            app_note(a, 1, "%s", err);
            continue;
        }
        int renamed = from && strcmp(from, nm);
        if (persona) persona_free(&p);
        else template_free(&t);
        free(text);
        if (renamed) { /* ask: rename, save as a copy, or drop */
            pending_clear();
            pending.persona = persona, pending.from = from, pending.text = clean;
            from = NULL;
            a->ov = OV_LIST_RENAME;
            done = 1;
            break;
        }
        char name[128];
        if (save(a, persona, clean, from, 0, name, sizeof name)) app_note(a, 1, "%s", unum_error());
        else app_note(a, 0, "%s '%s' saved", what, name);
        free(clean);
        app_lists_reload(a);
        done = 1;
        break;
    }
    /* left unchanged after a failed edit: nothing was saved, say why */
    if (!done && err[0]) app_note(a, 1, "%s not saved: %s", what, err);
    free(shown);
    free(from);
}

void list_rename_draw(App *a, Rect b) {
    (void)a;
    const char *kind = pending.persona ? "persona" : "template";
    Persona p;
    Template t;
    const char *nm = "?";
    int ok = pending.text && !parse(pending.persona, pending.text, &p, &t, &nm);
    char l[3][512];
    snprintf(l[0], sizeof l[0], "The edit changes the %s's name from '%s' to '%s'.", kind,
             pending.from ? pending.from : "", nm);
    snprintf(l[1], sizeof l[1], "y: rename it   c: keep '%s' and save the edit as a new %s",
             pending.from ? pending.from : "", kind);
    snprintf(l[2], sizeof l[2], "n: drop the edit");
    for (int i = 0; i < 3; i++) ui_put(b.y + 2 * i, b.x, l[i], strlen(l[i]), b.w);
    if (ok && pending.persona) persona_free(&p);
    else if (ok) template_free(&t);
}

void list_rename_key(App *a, int key) {
    a->ov = OV_NONE;
    const char *kind = pending.persona ? "persona" : "template";
    char name[128];
    if (key == 'y' || key == 'Y' || key == 'c' || key == 'C') {
        int rename = key == 'y' || key == 'Y';
        if (save(a, pending.persona, pending.text, rename ? pending.from : NULL, rename, name,
                 sizeof name))
            app_note(a, 1, "%s", unum_error());
        else if (rename) app_note(a, 0, "%s '%s' renamed to '%s'", kind, pending.from, name);
        else app_note(a, 0, "%s '%s' saved as a new %s", kind, name, kind);
        app_lists_reload(a);
    } else {
        app_note(a, 0, "the edit of %s '%s' was dropped", kind, pending.from);
    }
    pending_clear();
}

/* ------------------------------------------------------------ delete */

static int deleting_persona;

void app_list_delete(App *a, int persona) {
    if (!a->st || !(persona ? a->n_personas : a->n_templates)) return;
    deleting_persona = persona;
    a->ov = OV_LIST_DELETE;
}

static const char *deleting_name(App *a) {
    return deleting_persona ? a->personas[a->persona_sel].name : a->templates[a->template_sel].name;
}

void list_delete_draw(App *a, Rect b) {
    char l[2][512];
    snprintf(l[0], sizeof l[0], "Delete %s '%s'? Sessions and reports that used it keep its name.",
             deleting_persona ? "persona" : "template", deleting_name(a));
    snprintf(l[1], sizeof l[1], "y: delete it   n: keep it");
    for (int i = 0; i < 2; i++) ui_put(b.y + 2 * i, b.x, l[i], strlen(l[i]), b.w);
}

void list_delete_key(App *a, int key) {
    a->ov = OV_NONE;
    const char *kind = deleting_persona ? "persona" : "template";
    if ((deleting_persona ? !a->n_personas : !a->n_templates) || (key != 'y' && key != 'Y'))
        return app_note(a, 0, "nothing was deleted");
    char *name = xstrdup(deleting_name(a));
    int rc =
        deleting_persona ? store_persona_delete(a->st, name) : store_template_delete(a->st, name);
    if (rc) {
        app_note(a, 1, "%s", unum_error());
    } else {
        app_note(a, 0, "%s '%s' deleted", kind, name);
        char **chosen = deleting_persona ? &a->persona : &a->template_name;
        if (*chosen && !strcmp(*chosen, name)) {
            free(*chosen); /* the config file's persona = is ignored while none has it */
            *chosen = NULL;
        }
    }
    free(name);
    app_lists_reload(a);
}
