/* jsonval.c - see jsonval.h. */
#include "store/jsonval.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

/* The offset of the first \u0000 escape inside a JSON string of text, or
 * -1: cJSON decodes it to a NUL that would cut the string short. */
static long escaped_nul(const char *text, size_t len) {
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = 0;
        } else if (text[i] == '\\') {
            if (i + 5 < len && text[i + 1] == 'u' && !memcmp(text + i + 2, "0000", 4))
                return (long)i;
            i++; /* the escaped character */
        }
    }
    return -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice in one object of j (depth first), or NULL. */
static const char *duplicate_key(const cJSON *j) {
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return NULL;
    int n = 0;
    for (const cJSON *c = j->child; c; c = c->next) n++;
    const char *dup = NULL;
    if (cJSON_IsObject(j) && n > 1) {
        const char **names = xmalloc((size_t)n * sizeof *names);
        int k = 0;
        for (const cJSON *c = j->child; c; c = c->next) names[k++] = c->string ? c->string : "";
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        for (int i = 1; i < n && !dup; i++)
            if (!strcmp(names[i - 1], names[i])) dup = names[i];
        free(names);
    }
    for (const cJSON *c = j->child; c && !dup; c = c->next) dup = duplicate_key(c);
    return dup;
}

cJSON *jsonval_parse_object(const char *text, size_t len, const char *origin) {
    const char *nul = memchr(text, 0, len);
    if (nul) {
        unum_error_set("%s: a NUL byte at byte %ld (JSON text has none)", origin,
                       (long)(nul - text));
        return NULL;
    }
    long esc = escaped_nul(text, len);
    if (esc >= 0) {
        unum_error_set("%s: a NUL character (\\u0000) in a string at byte %ld", origin, esc);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        long off = end ? (long)(end - text) : 0;
        unum_error_set("%s: not valid JSON (near byte %ld)", origin, off);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        unum_error_set("%s: expected a JSON object at the top", origin);
        return NULL;
    }
    size_t at = end ? (size_t)(end - text) : len;
    while (at < len && strchr(" \t\r\n", text[at])) at++;
    if (at < len) {
        cJSON_Delete(j);
        unum_error_set("%s: bytes after the closing brace, at byte %zu", origin, at);
        return NULL;
    }
    const char *dup = duplicate_key(j);
    if (dup) {
        unum_error_set("%s: field '%s' appears twice in one object", origin, dup);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int jsonval_string(const cJSON *obj, const char *field, int required, const char *origin,
                   const char *prefix, char **out) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v) {
        if (required) return unum_error_set("%s: field '%s%s' is missing", origin, prefix, field);
        *out = xstrdup("");
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return unum_error_set("%s: field '%s%s' must be a string", origin, prefix, field);
    if (required && !v->valuestring[0])
        return unum_error_set("%s: field '%s%s' must not be empty", origin, prefix, field);
    *out = xstrdup(v->valuestring);
    return 0;
}

int jsonval_known(const cJSON *obj, const char *const *known, const char *origin,
                  const char *prefix) {
    for (const cJSON *c = obj->child; c; c = c->next) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = c->string && !strcmp(c->string, *k);
        if (!ok)
            return unum_error_set("%s: field '%s%s' is not known", origin, prefix,
                                  c->string ? c->string : "?");
    }
    return 0;
}
