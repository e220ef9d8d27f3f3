/* adapterset.c - see adapterset.h. */
#include "tui/core/adapterset.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void adapterset_append(const AdapterList *l, LoraSpec **specs, int *n) {
    if (!l->n) return;
    *specs = xrealloc(*specs, sizeof **specs * ((size_t)*n + l->n));
    for (size_t i = 0; i < l->n; i++) {
        (*specs)[*n].dir = xstrdup(l->v[i].path);
        (*specs)[(*n)++].scale = (float)l->v[i].scale;
    }
}

LoraSpec *adapterset_copy(const LoraSpec *specs, int n) {
    if (n <= 0) return NULL;
    LoraSpec *c = xmalloc(sizeof *c * (size_t)n);
    for (int i = 0; i < n; i++) c[i] = (LoraSpec){xstrdup(specs[i].dir), specs[i].scale};
    return c;
}

char *adapterset_label(const LoraSpec *specs, int n) {
    size_t cap = 1;
    for (int i = 0; i < n; i++) cap += strlen(specs[i].dir) + 24;
    char *out = xmalloc(cap);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *d = specs[i].dir;
        size_t end = strlen(d);
        while (end > 1 && d[end - 1] == '/') end--; /* "dir/" names dir */
        size_t start = end;
        while (start > 0 && d[start - 1] != '/') start--;
        len += (size_t)snprintf(out + len, cap - len, "%s%.*s", i ? "+" : "", (int)(end - start),
                                d + start);
        if (specs[i].scale != 1.0f)
            len += (size_t)snprintf(out + len, cap - len, ":%g", (double)specs[i].scale);
    }
    return out;
}
