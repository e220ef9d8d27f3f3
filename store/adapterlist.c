/* adapterlist.c - see adapterlist.h. */
#include "store/adapterlist.h"

#include "store/jsonval.h"
#include "engine/base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void adapterlist_free(AdapterList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Parses the array a (the value of "adapters"). */
static int parse_array(const cJSON *a, const char *origin, AdapterList *out) {
    static const char *const known[] = {"path", "scale", NULL};
    if (!cJSON_IsArray(a))
        return unum_error_set("%s: field 'adapters' must be an array of {\"path\", \"scale\"}",
                              origin);
    size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
    out->v = xcalloc(n + 1, sizeof *out->v);
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "adapters[%zu].", i);
        AdapterRef *r = &out->v[i];
        if (!cJSON_IsObject(e))
            return unum_error_set("%s: field 'adapters[%zu]' must be an object", origin, i);
        if (jsonval_known(e, known, origin, prefix) != 0 ||
            jsonval_string(e, "path", 1, origin, prefix, &r->path) != 0)
            return -1;
        out->n = i + 1; /* r->path is owned from here */
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "scale");
        r->scale = 1.0;
        if (s && !cJSON_IsNumber(s))
            return unum_error_set("%s: field '%sscale' must be a number", origin, prefix);
        if (s && (!isfinite(s->valuedouble) || fabs(s->valuedouble) > 1e4))
            return unum_error_set("%s: field '%sscale' is %g; expected a number in [-1e4, 1e4]",
                                  origin, prefix, s->valuedouble);
        if (s) r->scale = s->valuedouble;
    }
    return 0;
}

int adapterlist_parse(const cJSON *obj, const char *origin, AdapterList *out) {
    memset(out, 0, sizeof *out);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "adapters");
    if (!a) return 0;
    if (parse_array(a, origin, out) == 0) return 0;
    adapterlist_free(out);
    return -1;
}

static cJSON *to_array(const AdapterList *l) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < l->n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", l->v[i].path);
        cJSON_AddNumberToObject(e, "scale", l->v[i].scale);
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

void adapterlist_add_json(const AdapterList *l, cJSON *obj) {
    if (l->n) cJSON_AddItemToObject(obj, "adapters", to_array(l));
}

char *adapterlist_to_column(const AdapterList *l) {
    if (!l->n) return xstrdup("");
    cJSON *a = to_array(l);
    char *txt = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    char *out = xstrdup(txt);
    cJSON_free(txt);
    return out;
}

int adapterlist_from_column(const char *text, const char *what, AdapterList *out) {
    memset(out, 0, sizeof *out);
    if (!text || !text[0]) return 0;
    /* wrapped as an object, so the one validation reads it */
    size_t n = strlen(text);
    char *obj = xmalloc(n + 16);
    snprintf(obj, n + 16, "{\"adapters\":%s}", text);
    cJSON *j = jsonval_parse_object(obj, strlen(obj), what);
    free(obj);
    if (!j) return -1;
    int rc = adapterlist_parse(j, what, out);
    cJSON_Delete(j);
    return rc;
}
