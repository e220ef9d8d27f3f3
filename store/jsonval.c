/* jsonval.c - see jsonval.h. */
#include "store/jsonval.h"

#include "engine/base/util.h"

#include <string.h>

cJSON *jsonval_parse_object(const char *text, const char *origin) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
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
