/* search.c - see search.h. */
#include "store/search.h"

#include "engine/base/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

static const char search_sql[] =
    "SELECT 'message', m.id, m.session_id, "
    "  snippet(messages_fts, 0, '[', ']', '...', 12), bm25(messages_fts) AS score "
    "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
    "WHERE messages_fts MATCH ?1 "
    "UNION ALL "
    "SELECT 'segment', g.id, g.recording_id, "
    "  snippet(segments_fts, 0, '[', ']', '...', 12), bm25(segments_fts) AS score "
    "FROM segments_fts JOIN segments g ON g.id = segments_fts.rowid "
    "WHERE segments_fts MATCH ?1 "
    "ORDER BY score, 2 LIMIT ?2";

/* Each run of non-space characters as a quoted FTS5 string ("" doubled). */
static char *quote_words(const char *q) {
    size_t n = strlen(q);
    char *out = xmalloc(3 * n + 3), *o = out;
    const char *p = q;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        if (o != out) *o++ = ' ';
        *o++ = '"';
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '"') *o++ = '"';
            *o++ = *p++;
        }
        *o++ = '"';
    }
    *o = 0;
    return out;
}

/* Whether q names a column outside double quotes: "content:", "text:" or a
 * "{...}:" group. The two tables have one column each under different names,
 * so a filter would silently match one side only. */
static int is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int has_column_filter(const char *q) {
    int quoted = 0;
    for (const char *p = q; *p;) {
        if (*p == '"' || quoted) {
            quoted ^= *p++ == '"';
            continue;
        }
        const char *end = NULL; /* just past a column name or a {...} group */
        if (*p == '{') {
            end = strchr(p, '}');
            if (end) end++;
            p++;
        } else if (is_word(*p)) {
            const char *w = p;
            while (is_word(*p)) p++;
            size_t n = (size_t)(p - w);
            if ((n == 7 && !strncasecmp(w, "content", 7)) || (n == 4 && !strncasecmp(w, "text", 4)))
                end = p;
        } else {
            p++;
        }
        if (end) {
            while (*end == ' ') end++;
            if (*end == ':') return 1;
        }
    }
    return 0;
}

static int run(Store *st, const char *match, int limit, StoreHit **out, size_t *n, int *syntax) {
    *syntax = 0;
    sqlite3_stmt *s = store_prepare(st, search_sql);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        StoreHit *h = &(*out)[(*n)++];
        h->kind =
            !strcmp((const char *)sqlite3_column_text(s, 0), "message") ? "message" : "segment";
        h->id = sqlite3_column_int64(s, 1);
        h->owner = sqlite3_column_int64(s, 2);
        h->snippet = store_col_text(s, 3);
        for (char *c = h->snippet; *c; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    /* a query FTS5 cannot take (bad syntax, or nested past its parser's
     * stack or its expression depth) is a plain SQLITE_ERROR with one of
     * these messages; corruption and I/O errors have codes of their own */
    const char *msg = sqlite3_errmsg(store_db(st));
    *syntax =
        (sqlite3_errcode(store_db(st)) & 0xff) == SQLITE_ERROR &&
        (strstr(msg, "fts5:") || strstr(msg, "syntax error") || strstr(msg, "no such column") ||
         strstr(msg, "unterminated") || strstr(msg, "unknown special query"));
    return store_fail(st, "search");
}

int store_search(Store *st, const char *query, int limit, StoreHit **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!query || !query[strspn(query, " \t\n")])
        return unum_error_set("search: the query is empty");
    if (limit <= 0) limit = 100;
    if (has_column_filter(query))
        return unum_error_set("search: column filters (content:, text:, {...}:) are not "
                              "supported; search for the words alone");
    int syntax;
    if (run(st, query, limit, out, n, &syntax) == 0) return 0;
    store_hits_free(*out, *n);
    *out = NULL;
    *n = 0;
    if (!syntax) return -1;
    char *q = quote_words(query);
    int rc = run(st, q, limit, out, n, &syntax);
    free(q);
    if (rc) {
        store_hits_free(*out, *n);
        *out = NULL;
        *n = 0;
        return unum_error_wrap("query '%s'", query);
    }
    return 0;
}

void store_hits_free(StoreHit *hits, size_t n) {
    for (size_t i = 0; i < n; i++) free(hits[i].snippet);
    free(hits);
}
