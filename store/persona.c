/* persona.c - see persona.h. */
#include "store/persona.h"

#include "store/jsonval.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_name_check(const char *name, const char *what) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0) return unum_error_set("%s must not be empty", what);
    if (n > 64) return unum_error_set("%s '%.64s...' is longer than 64 characters", what, name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return unum_error_set("%s '%s' may hold only letters, digits, '.', '_' and '-'", what,
                                  name);
    }
    return 0;
}

void persona_free(Persona *p) {
    if (!p) return;
    free(p->name);
    free(p->description);
    free(p->system_prompt);
    free(p->tone);
    free(p->length);
    free(p->language);
    adapterlist_free(&p->adapters);
    memset(p, 0, sizeof *p);
}

int persona_parse_json(const char *text, size_t len, const char *origin, Persona *out) {
    static const char *const top[] = {"name",  "description", "system_prompt",
                                      "style", "adapters",    NULL};
    static const char *const style[] = {"tone", "length", "language", NULL};
    memset(out, 0, sizeof *out);
    cJSON *j = jsonval_parse_object(text, len, origin);
    if (!j) return -1;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "style");
    int rc = -1;
    if (jsonval_known(j, top, origin, "") != 0 ||
        jsonval_string(j, "name", 1, origin, "", &out->name) != 0 ||
        jsonval_string(j, "description", 0, origin, "", &out->description) != 0 ||
        jsonval_string(j, "system_prompt", 1, origin, "", &out->system_prompt) != 0)
        goto done;
    if (s && !cJSON_IsObject(s)) {
        unum_error_set("%s: field 'style' must be an object", origin);
        goto done;
    }
    if (s) {
        if (jsonval_known(s, style, origin, "style.") != 0 ||
            jsonval_string(s, "tone", 0, origin, "style.", &out->tone) != 0 ||
            jsonval_string(s, "length", 0, origin, "style.", &out->length) != 0 ||
            jsonval_string(s, "language", 0, origin, "style.", &out->language) != 0)
            goto done;
    } else {
        out->tone = xstrdup("");
        out->length = xstrdup("");
        out->language = xstrdup("");
    }
    if (adapterlist_parse(j, origin, &out->adapters) != 0) goto done;
    if (store_name_check(out->name, "field 'name':") != 0) {
        unum_error_wrap("%s", origin);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(j);
    if (rc) persona_free(out);
    return rc;
}

char *persona_to_json(const Persona *p) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", p->name);
    cJSON_AddStringToObject(j, "description", p->description);
    cJSON_AddStringToObject(j, "system_prompt", p->system_prompt);
    cJSON *s = cJSON_AddObjectToObject(j, "style");
    cJSON_AddStringToObject(s, "tone", p->tone);
    cJSON_AddStringToObject(s, "length", p->length);
    cJSON_AddStringToObject(s, "language", p->language);
    adapterlist_add_json(&p->adapters, j);
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

static void bind_persona(sqlite3_stmt *s, const Persona *p) {
    sqlite3_bind_text(s, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, p->description ? p->description : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, p->system_prompt, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, p->tone ? p->tone : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, p->length ? p->length : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, p->language ? p->language : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, p->builtin);
}

static int persona_valid(const Persona *p) {
    if (store_name_check(p->name, "persona name") != 0) return -1;
    if (!p->system_prompt || !p->system_prompt[0])
        return unum_error_set("persona '%s': system_prompt must not be empty", p->name);
    return 0;
}

int store_persona_add(Store *st, const Persona *p) {
    if (persona_valid(p) != 0) return -1;
    /* Without adapters the INSERT names only version-1 columns: migration 1
     * seeds the built-ins through here (store.c) */
    sqlite3_stmt *s =
        store_prepare(st, p->adapters.n ? "INSERT INTO personas(name, description, system_prompt, "
                                          "tone, length, language, builtin, adapters) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                                        : "INSERT INTO personas(name, description, system_prompt, "
                                          "tone, length, language, builtin) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s) return -1;
    bind_persona(s, p);
    char *ad = adapterlist_to_column(&p->adapters);
    if (p->adapters.n) sqlite3_bind_text(s, 8, ad, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(ad);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return unum_error_set("persona '%s' already exists (use edit to change it)", p->name);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a persona");
    return 0;
}

int store_persona_update(Store *st, const Persona *p) {
    if (persona_valid(p) != 0) return -1;
    sqlite3_stmt *s = store_prepare(
        st, "UPDATE personas SET description = ?2, system_prompt = ?3, tone = ?4, length = ?5, "
            "language = ?6, adapters = ?8, updated = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE name = ?1");
    if (!s) return -1;
    bind_persona(s, p);
    sqlite3_bind_null(s, 7);
    char *ad = adapterlist_to_column(&p->adapters);
    sqlite3_bind_text(s, 8, ad, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(ad);
    if (rc != SQLITE_DONE) return store_fail(st, "updating a persona");
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("persona '%s' not found", p->name);
    return 0;
}

#define PERSONA_COLS                                                                      \
    "name, description, system_prompt, tone, length, language, builtin, adapters"

/* 0, or -1 when the adapters column does not read back (then *p is freed) */
static int read_persona(sqlite3_stmt *s, Persona *p) {
    p->name = store_col_text(s, 0);
    p->description = store_col_text(s, 1);
    p->system_prompt = store_col_text(s, 2);
    p->tone = store_col_text(s, 3);
    p->length = store_col_text(s, 4);
    p->language = store_col_text(s, 5);
    p->builtin = sqlite3_column_int(s, 6);
    const unsigned char *ad = sqlite3_column_text(s, 7);
    char what[96];
    snprintf(what, sizeof what, "persona '%s': adapters", p->name);
    if (adapterlist_from_column((const char *)ad, what, &p->adapters) == 0) return 0;
    persona_free(p);
    return -1;
}

int store_persona_get(Store *st, const char *name, Persona *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, "SELECT " PERSONA_COLS " FROM personas WHERE name = ?1");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), bad = rc == SQLITE_ROW && read_persona(s, out) != 0;
    sqlite3_finalize(s);
    if (bad) return -1;
    if (rc == SQLITE_DONE) return unum_error_set("persona '%s' not found", name);
    if (rc != SQLITE_ROW) return store_fail(st, "reading a persona");
    return 0;
}

int store_persona_delete(Store *st, const char *name) {
    return store_delete_named(st, "personas", "persona", name);
}

int store_persona_list(Store *st, Persona **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT " PERSONA_COLS " FROM personas ORDER BY name");
    if (!s) return -1;
    size_t cap = 0;
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        bad = read_persona(s, &(*out)[*n]) != 0;
        *n += !bad;
    }
    sqlite3_finalize(s);
    if (bad || rc != SQLITE_DONE) {
        store_personas_free(*out, *n);
        *out = NULL;
        *n = 0;
        return bad ? -1 : store_fail(st, "listing personas");
    }
    return 0;
}

void store_personas_free(Persona *list, size_t n) {
    for (size_t i = 0; i < n; i++) persona_free(&list[i]);
    free(list);
}

char *persona_system_prompt(const Persona *p) {
    const char *labels[3] = {"Tone", "Length", "Language"};
    const char *vals[3] = {p->tone, p->length, p->language};
    size_t cap = strlen(p->system_prompt) + 64;
    for (int i = 0; i < 3; i++) cap += vals[i] ? strlen(vals[i]) : 0;
    char *out = xmalloc(cap);
    size_t n = (size_t)snprintf(out, cap, "%s", p->system_prompt);
    const char *sep = "\n\n";
    for (int i = 0; i < 3; i++)
        if (vals[i] && vals[i][0]) {
            n += (size_t)snprintf(out + n, cap - n, "%s%s: %s.", sep, labels[i], vals[i]);
            sep = " ";
        }
    return out;
}

int store_persona_rename(Store *st, const char *from, const char *to) {
    return store_rename_named(st, "personas", "persona", from, to);
}
