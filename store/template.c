/* template.c - see template.h. A template is one row in templates and its
 * sections, numbered from 0, in template_sections; both change in one
 * transaction. */
#include "store/template.h"

#include "store/jsonval.h"
#include "store/persona.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void template_free(Template *t) {
    if (!t) return;
    free(t->name);
    free(t->description);
    for (size_t i = 0; i < t->n_sections; i++) {
        free(t->sections[i].title);
        free(t->sections[i].instruction);
        free(t->sections[i].format);
    }
    free(t->sections);
    adapterlist_free(&t->adapters);
    memset(t, 0, sizeof *t);
}

static int format_ok(const char *f) {
    return f && (!strcmp(f, "paragraph") || !strcmp(f, "list") || !strcmp(f, "table"));
}

int template_parse_json(const char *text, size_t len, const char *origin, Template *out) {
    static const char *const top[] = {"name", "description", "sections", "adapters", NULL};
    static const char *const sec[] = {"title", "instruction", "format", NULL};
    memset(out, 0, sizeof *out);
    cJSON *j = jsonval_parse_object(text, len, origin);
    if (!j) return -1;
    int rc = -1;
    if (jsonval_known(j, top, origin, "") != 0 ||
        jsonval_string(j, "name", 1, origin, "", &out->name) != 0 ||
        jsonval_string(j, "description", 0, origin, "", &out->description) != 0)
        goto done;
    if (store_name_check(out->name, "field 'name':") != 0) {
        unum_error_wrap("%s", origin);
        goto done;
    }
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(j, "sections");
    if (!secs) {
        unum_error_set("%s: field 'sections' is missing", origin);
        goto done;
    }
    if (!cJSON_IsArray(secs) || cJSON_GetArraySize(secs) == 0) {
        unum_error_set("%s: field 'sections' must be a non-empty array", origin);
        goto done;
    }
    size_t n = (size_t)cJSON_GetArraySize(secs);
    out->sections = xcalloc(n, sizeof *out->sections);
    out->n_sections = n;
    size_t i = 0;
    for (const cJSON *e = secs->child; e; e = e->next, i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "sections[%zu].", i);
        TemplateSection *ts = &out->sections[i];
        if (!cJSON_IsObject(e)) {
            unum_error_set("%s: field 'sections[%zu]' must be an object", origin, i);
            goto done;
        }
        if (jsonval_known(e, sec, origin, prefix) != 0 ||
            jsonval_string(e, "title", 1, origin, prefix, &ts->title) != 0 ||
            jsonval_string(e, "instruction", 1, origin, prefix, &ts->instruction) != 0 ||
            jsonval_string(e, "format", 1, origin, prefix, &ts->format) != 0)
            goto done;
        if (!format_ok(ts->format)) {
            unum_error_set("%s: field '%sformat' is '%s'; expected paragraph, list or table",
                           origin, prefix, ts->format);
            goto done;
        }
    }
    if (adapterlist_parse(j, origin, &out->adapters) != 0) goto done;
    rc = 0;
done:
    cJSON_Delete(j);
    if (rc) template_free(out);
    return rc;
}

char *template_to_json(const Template *t) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", t->name);
    cJSON_AddStringToObject(j, "description", t->description);
    cJSON *a = cJSON_AddArrayToObject(j, "sections");
    for (size_t i = 0; i < t->n_sections; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "title", t->sections[i].title);
        cJSON_AddStringToObject(s, "instruction", t->sections[i].instruction);
        cJSON_AddStringToObject(s, "format", t->sections[i].format);
        cJSON_AddItemToArray(a, s);
    }
    adapterlist_add_json(&t->adapters, j);
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    size_t n = strlen(txt);
    char *out = xmalloc(n + 2);
    memcpy(out, txt, n);
    out[n] = '\n';
    out[n + 1] = 0;
    cJSON_free(txt);
    return out;
}

/* ---- queries -------------------------------------------------------------- */

static int template_valid(const Template *t) {
    if (store_name_check(t->name, "template name") != 0) return -1;
    if (t->n_sections == 0) return unum_error_set("template '%s': no sections", t->name);
    for (size_t i = 0; i < t->n_sections; i++) {
        const TemplateSection *s = &t->sections[i];
        if (!s->title || !s->title[0] || !s->instruction || !s->instruction[0])
            return unum_error_set("template '%s': sections[%zu] needs a title and an instruction",
                                  t->name, i);
        if (!format_ok(s->format))
            return unum_error_set("template '%s': sections[%zu].format '%s' is not paragraph, "
                                  "list or table",
                                  t->name, i, s->format ? s->format : "");
    }
    return 0;
}

/* Writes the sections of template id (after removing the old ones). */
static int write_sections(Store *st, sqlite3_int64 id, const Template *t) {
    sqlite3_stmt *d = store_prepare(st, "DELETE FROM template_sections WHERE template_id = ?1");
    if (!d) return -1;
    sqlite3_bind_int64(d, 1, id);
    int rc = sqlite3_step(d);
    sqlite3_finalize(d);
    if (rc != SQLITE_DONE) return store_fail(st, "writing template sections");
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO template_sections(template_id, position, "
                                        "title, instruction, format) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    for (size_t i = 0; i < t->n_sections; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_text(s, 3, t->sections[i].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, t->sections[i].instruction, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, t->sections[i].format, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite3_finalize(s);
            return store_fail(st, "writing template sections");
        }
    }
    sqlite3_finalize(s);
    return 0;
}

/* Runs inside a transaction of its own unless the caller already has one
 * (the first migration seeds templates inside its transaction). */
static int tx_begin(Store *st, int *own) {
    *own = sqlite3_get_autocommit(store_db(st));
    return *own ? store_begin(st) : 0;
}

static int tx_end(Store *st, int own, int ok) {
    if (!own) return ok ? 0 : -1;
    if (ok && store_commit(st) == 0) return 0;
    store_rollback(st);
    return -1;
}

int store_template_add(Store *st, const Template *t) {
    if (template_valid(t) != 0) return -1;
    int own;
    if (tx_begin(st, &own) != 0) return -1;
    /* Without adapters the INSERT names only version-1 columns: migration 1
     * seeds the built-ins through here (store.c) */
    sqlite3_stmt *s = store_prepare(
        st, t->adapters.n
                ? "INSERT INTO templates(name, description, builtin, adapters) VALUES (?1, ?2, ?3, ?4)"
                : "INSERT INTO templates(name, description, builtin) VALUES (?1, ?2, ?3)");
    int ok = 0;
    char *ad = adapterlist_to_column(&t->adapters);
    if (s) {
        sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, t->description ? t->description : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, t->builtin);
        if (t->adapters.n) sqlite3_bind_text(s, 4, ad, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            unum_error_set("template '%s' already exists (use edit to change it)", t->name);
        else if (rc != SQLITE_DONE) store_fail(st, "adding a template");
        else ok = write_sections(st, sqlite3_last_insert_rowid(store_db(st)), t) == 0;
    }
    free(ad);
    return tx_end(st, own, ok);
}

int store_template_update(Store *st, const Template *t) {
    if (template_valid(t) != 0) return -1;
    int own;
    if (tx_begin(st, &own) != 0) return -1;
    sqlite3_stmt *s = store_prepare(
        st, "UPDATE templates SET description = ?2, adapters = ?3, "
            "updated = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE name = ?1 RETURNING id");
    int ok = 0;
    char *ad = adapterlist_to_column(&t->adapters);
    if (s) {
        sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, t->description ? t->description : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, ad, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        if (rc == SQLITE_ROW) rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) store_fail(st, "updating a template");
        else if (!id) unum_error_set("template '%s' not found", t->name);
        else ok = write_sections(st, id, t) == 0;
    }
    free(ad);
    return tx_end(st, own, ok);
}

static int read_sections(Store *st, sqlite3_int64 id, Template *t) {
    sqlite3_stmt *s =
        store_prepare(st, "SELECT title, instruction, format FROM "
                          "template_sections WHERE template_id = ?1 ORDER BY position");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (t->n_sections == cap) {
            cap = cap ? 2 * cap : 4;
            t->sections = xrealloc(t->sections, cap * sizeof *t->sections);
        }
        TemplateSection *ts = &t->sections[t->n_sections++];
        ts->title = store_col_text(s, 0);
        ts->instruction = store_col_text(s, 1);
        ts->format = store_col_text(s, 2);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "reading template sections");
}

static int read_templates(Store *st, const char *name, Template **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT id, name, description, builtin, adapters FROM templates "
                                        "WHERE ?1 IS NULL OR name = ?1 ORDER BY name");
    if (!s) return -1;
    if (name) sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        Template *t = &(*out)[(*n)++];
        memset(t, 0, sizeof *t);
        t->name = store_col_text(s, 1);
        t->description = store_col_text(s, 2);
        t->builtin = sqlite3_column_int(s, 3);
        char what[96];
        snprintf(what, sizeof what, "template '%s': adapters", t->name);
        bad = adapterlist_from_column((const char *)sqlite3_column_text(s, 4), what,
                                      &t->adapters) != 0 ||
              read_sections(st, sqlite3_column_int64(s, 0), t) != 0;
    }
    if (!bad && rc != SQLITE_DONE) bad = store_fail(st, "listing templates") != 0;
    sqlite3_finalize(s);
    if (bad) {
        store_templates_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int store_template_get(Store *st, const char *name, Template *out) {
    memset(out, 0, sizeof *out);
    Template *list;
    size_t n;
    if (read_templates(st, name, &list, &n) != 0) return -1;
    if (n == 0) {
        free(list);
        return unum_error_set("template '%s' not found", name);
    }
    *out = list[0];
    free(list);
    return 0;
}

int store_template_delete(Store *st, const char *name) {
    return store_delete_named(st, "templates", "template", name);
}

int store_template_list(Store *st, Template **out, size_t *n) {
    return read_templates(st, NULL, out, n);
}

void store_templates_free(Template *list, size_t n) {
    for (size_t i = 0; i < n; i++) template_free(&list[i]);
    free(list);
}

int store_template_rename(Store *st, const char *from, const char *to) {
    return store_rename_named(st, "templates", "template", from, to);
}
