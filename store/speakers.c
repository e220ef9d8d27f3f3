/* speakers.c - see speakers.h. */
#include "store/speakers.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

int store_speaker_name_check(const char *name) {
    size_t n = strlen(name);
    if (n == 0) return unum_error_set("a speaker's name must not be empty");
    if (n > STORE_SPEAKER_NAME_MAX)
        return unum_error_set("speaker name '%.20s...' is longer than %d bytes", name,
                              STORE_SPEAKER_NAME_MAX);
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7f)
            return unum_error_set("speaker name: control character 0x%02x at byte %zu", c, i);
        if (c < 0x80) {
            i++;
            continue;
        }
        /* one UTF-8 sequence: its length, its code point, no overlong
         * form, no surrogate, nothing past U+10FFFF, no C1 control */
        size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
        if (c >= 0xf5) len = 0;
        unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; len && k < len; k++) {
            if (i + k >= n || (s[i + k] & 0xc0) != 0x80) len = 0;
            else cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (!len || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return unum_error_set("speaker name: invalid UTF-8 at byte %zu", i);
        if (cp >= 0x80 && cp <= 0x9f)
            return unum_error_set("speaker name: control character U+%04X at byte %zu", cp, i);
        i += len;
    }
    return 0;
}

/* 0 when recording rec exists and some segment of it carries label, else -1
 * with the error naming what is missing. */
static int label_known(Store *st, int64_t rec, const char *label) {
    sqlite3_stmt *s = store_prepare(
        st, "SELECT (SELECT count(*) FROM recordings WHERE id = ?1), (SELECT count(*) FROM "
            "segments WHERE recording_id = ?1 AND speaker = ?2 AND speaker <> '')");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, rec);
    sqlite3_bind_text(s, 2, label, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t recs = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    int64_t segs = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return store_fail(st, "finding a speaker");
    if (!recs) return unum_error_set("recording %lld not found", (long long)rec);
    if (!segs)
        return unum_error_set("recording %lld has no speaker '%s' (`unum meeting speakers %lld` "
                              "lists them)",
                              (long long)rec, label, (long long)rec);
    return 0;
}

/* name without the spaces around it (new string). */
static char *trim(const char *name) {
    while (*name == ' ' || *name == '\t') name++;
    char *c = xstrdup(name);
    size_t n = strlen(c);
    while (n && (c[n - 1] == ' ' || c[n - 1] == '\t')) c[--n] = 0;
    return c;
}

int store_speaker_set(Store *st, int64_t rec, const char *label, const char *name) {
    if (!label) label = "";
    char *nm = trim(name ? name : "");
    int clear = !nm[0];
    if ((!clear && store_speaker_name_check(nm)) || label_known(st, rec, label)) {
        free(nm);
        return -1;
    }
    sqlite3_stmt *s = store_prepare(
        st, clear ? "DELETE FROM speaker_names WHERE recording_id = ?1 AND label = ?2"
                  : "INSERT INTO speaker_names(recording_id, label, name) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT(recording_id, label) DO UPDATE SET name = excluded.name");
    if (!s) {
        free(nm);
        return -1;
    }
    sqlite3_bind_int64(s, 1, rec);
    sqlite3_bind_text(s, 2, label, -1, SQLITE_STATIC);
    if (!clear) sqlite3_bind_text(s, 3, nm, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(nm);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "naming a speaker");
}

int store_speaker_clear(Store *st, int64_t rec, const char *label) {
    return store_speaker_set(st, rec, label, NULL);
}

int store_speaker_list(Store *st, int64_t rec, StoreSpeaker **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT count(*) FROM recordings WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, rec);
    int rc = sqlite3_step(s);
    int64_t recs = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return store_fail(st, "finding a recording");
    if (!recs) return unum_error_set("recording %lld not found", (long long)rec);
    s = store_prepare(st, "SELECT g.speaker, coalesce(n.name, ''), count(*), "
                          "total(g.end_s - g.start_s) FROM segments g LEFT JOIN speaker_names n "
                          "ON n.recording_id = g.recording_id AND n.label = g.speaker "
                          "WHERE g.recording_id = ?1 AND g.speaker <> '' GROUP BY g.speaker "
                          "ORDER BY length(g.speaker), g.speaker");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, rec);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *out = xrealloc(*out, sizeof **out * (*n + 1));
        StoreSpeaker *p = &(*out)[(*n)++];
        p->label = store_col_text(s, 0);
        p->name = store_col_text(s, 1);
        p->segments = sqlite3_column_int64(s, 2);
        p->seconds = sqlite3_column_double(s, 3);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "listing speakers");
}

void store_speakers_free(StoreSpeaker *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(list[i].label);
        free(list[i].name);
    }
    free(list);
}

char *store_speaker_resolve(Store *st, int64_t rec, const char *label) {
    sqlite3_stmt *s =
        store_prepare(st, "SELECT name FROM speaker_names WHERE recording_id = ?1 AND label = ?2");
    if (!s) return NULL;
    sqlite3_bind_int64(s, 1, rec);
    sqlite3_bind_text(s, 2, label ? label : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    char *name = rc == SQLITE_ROW ? store_col_text(s, 0) : NULL;
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return xstrdup(label ? label : "");
    if (rc != SQLITE_ROW) store_fail(st, "finding a speaker's name");
    return name;
}
