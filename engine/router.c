/* router.c - see router.h. */
#include "engine/router.h"

#include "engine/base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct Router {
    RouterEntry *entries;
    int n;
    float threshold;
    char *model; /* the model folder the embeddings below are of, or NULL */
    float *emb;  /* [n x hidden], each normalized to unit length */
    int hidden;
};

Router *router_new(const RouterEntry *entries, int n, float threshold) {
    Router *r = xcalloc(1, sizeof *r);
    r->entries = xcalloc((size_t)n + 1, sizeof *r->entries);
    for (int i = 0; i < n; i++) {
        r->entries[i].spec.dir = xstrdup(entries[i].spec.dir);
        r->entries[i].spec.scale = entries[i].spec.scale;
        r->entries[i].description = xstrdup(entries[i].description);
    }
    r->n = n;
    r->threshold = threshold;
    return r;
}

void router_entries_free(RouterEntry *entries, int n) {
    for (int i = 0; i < n; i++) {
        free(entries[i].spec.dir);
        free(entries[i].description);
    }
    free(entries);
}

void router_free(Router *r) {
    if (!r) return;
    router_entries_free(r->entries, r->n);
    free(r->model);
    free(r->emb);
    free(r);
}

int router_size(const Router *r) { return r->n; }
const RouterEntry *router_entry(const Router *r, int i) { return &r->entries[i]; }

/* Scales v [n] to unit length (a zero vector stays zero). */
static void normalize(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float k = (float)(1.0 / sqrt(s));
    for (int i = 0; i < n; i++) v[i] *= k;
}

/* The descriptions' embeddings for e's model, computed when missing. */
static int describe(Router *r, Engine *e) {
    if (r->model && !strcmp(r->model, engine_dir(e))) return 0;
    free(r->model), free(r->emb);
    r->model = NULL;
    r->hidden = engine_hidden_size(e);
    r->emb = xmalloc(sizeof(float) * (size_t)r->hidden * ((size_t)r->n + 1));
    for (int i = 0; i < r->n; i++) {
        float *v = r->emb + (size_t)i * r->hidden;
        if (engine_embed(e, r->entries[i].description, v))
            return unum_error_wrap("the description of adapter %s", r->entries[i].spec.dir);
        normalize(v, r->hidden);
    }
    r->model = xstrdup(engine_dir(e));
    return 0;
}

int router_pick(Router *r, Engine *e, const char *request, float *scores, int *pick) {
    *pick = -1;
    if (engine_set_adapters(e, NULL, 0) || describe(r, e)) return -1;
    float *q = xmalloc(sizeof(float) * (size_t)r->hidden);
    if (engine_embed(e, request, q)) {
        free(q);
        return unum_error_wrap("the request to route");
    }
    normalize(q, r->hidden);
    float best = -INFINITY;
    for (int i = 0; i < r->n; i++) {
        const float *v = r->emb + (size_t)i * r->hidden;
        double dot = 0;
        for (int d = 0; d < r->hidden; d++) dot += (double)q[d] * v[d];
        if (scores) scores[i] = (float)dot;
        if (dot >= r->threshold && dot > best) best = (float)dot, *pick = i;
    }
    free(q);
    return 0;
}
