/* st_write.c - see st_write.h. */
#include "engine/st_write.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void stw_init(StWriter *w, const char *dir, const char *prefix, uint64_t shard_bytes) {
    memset(w, 0, sizeof *w);
    w->dir = xstrdup(dir);
    w->prefix = xstrdup(prefix);
    w->shard_bytes = shard_bytes;
}

void stw_add(StWriter *w, const char *name, DType dt, int ndim, const int64_t *shape) {
    if (w->n == w->cap) w->t = xrealloc(w->t, sizeof *w->t * (size_t)(w->cap = w->cap * 2 + 16));
    StwTensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dt;
    t->ndim = ndim;
    t->nbytes = dtype_size(dt);
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], t->nbytes *= (uint64_t)shape[d];
}

static char *shard_name(const StWriter *w, int s) {
    char name[256];
    if (w->n_shards == 1) snprintf(name, sizeof name, "%s.safetensors", w->prefix);
    else snprintf(name, sizeof name, "%s-%05d-of-%05d.safetensors", w->prefix, s + 1, w->n_shards);
    return xstrdup(name);
}

static void plan(StWriter *w) {
    uint64_t used = 0;
    int s = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->shard_bytes && used && used + w->t[i].nbytes > w->shard_bytes) s++, used = 0;
        w->t[i].shard = s;
        used += w->t[i].nbytes;
    }
    w->n_shards = s + 1;
}

static int open_shard(StWriter *w, int s) {
    char *name = shard_name(w, s);
    free(w->path);
    w->path = unum_path_join(w->dir, name);
    free(name);
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const StwTensor *t = &w->t[i];
        if (t->shard != s) continue;
        cJSON *o = cJSON_AddObjectToObject(h, t->name);
        cJSON_AddStringToObject(o, "dtype",
                                t->dtype == DT_F32   ? "F32"
                                : t->dtype == DT_F16 ? "F16"
                                                     : "BF16");
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t len = strlen(json), pad = (8 - len % 8) % 8;
    uint64_t hl = len + pad;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    w->f = fopen(w->path, "wb");
    int ok = w->f && fwrite(le, 1, 8, w->f) == 8 && fwrite(json, 1, len, w->f) == len &&
             fwrite("        ", 1, pad, w->f) == pad;
    cJSON_free(json);
    if (!ok) return unum_error_set("%s: cannot write", w->path);
    return 0;
}

static int close_shard(StWriter *w) {
    if (!w->f) return 0;
    int bad = ferror(w->f) | fclose(w->f);
    w->f = NULL;
    return bad ? unum_error_set("%s: write failed", w->path) : 0;
}

int stw_put(StWriter *w, const float *x, size_t n) {
    while (n) {
        if (w->next >= w->n) return unum_error_set("%s: more data than declared", w->dir);
        if (!w->n_shards) plan(w);
        StwTensor *t = &w->t[w->next];
        if (!w->f || (w->next > 0 && w->written == 0 && w->t[w->next - 1].shard != t->shard)) {
            if (close_shard(w) || open_shard(w, t->shard)) return -1;
        }
        size_t esz = dtype_size(t->dtype);
        size_t left = (size_t)((t->nbytes - w->written) / esz), k = n < left ? n : left;
        unsigned char buf[4096];
        for (size_t i = 0; i < k;) {
            size_t m = 0;
            for (; i < k && (m + 1) * esz <= sizeof buf; i++, m++) {
                if (t->dtype == DT_F32) memcpy(buf + 4 * m, &x[i], 4);
                else {
                    uint16_t h =
                        t->dtype == DT_BF16 ? unum_f32_to_bf16(x[i]) : unum_f32_to_f16(x[i]);
                    memcpy(buf + 2 * m, &h, 2);
                }
            }
            if (fwrite(buf, esz, m, w->f) != m) return unum_error_set("%s: write failed", w->path);
        }
        x += k, n -= k;
        w->written += k * esz;
        if (w->written == t->nbytes) w->next++, w->written = 0;
    }
    return 0;
}

static int write_index(StWriter *w) {
    cJSON *root = cJSON_CreateObject();
    uint64_t total = 0;
    for (int i = 0; i < w->n; i++) total += w->t[i].nbytes;
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    cJSON *map = cJSON_AddObjectToObject(root, "weight_map");
    for (int i = 0; i < w->n; i++) {
        char *name = shard_name(w, w->t[i].shard);
        cJSON_AddStringToObject(map, w->t[i].name, name);
        free(name);
    }
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    char fname[256];
    snprintf(fname, sizeof fname, "%s.safetensors.index.json", w->prefix);
    char *path = unum_path_join(w->dir, fname);
    int rc = unum_write_file_atomic(path, json, strlen(json));
    free(path);
    cJSON_free(json);
    return rc;
}

void stw_abort(StWriter *w) {
    if (w->f) fclose(w->f);
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    free(w->path);
    free(w->dir);
    free(w->prefix);
    memset(w, 0, sizeof *w);
}

int stw_finish(StWriter *w) {
    int rc = 0;
    /* empty tensors (none in practice) still need their shard's header */
    while (!rc && w->next < w->n && w->t[w->next].nbytes == 0) rc = stw_put(w, NULL, 0), w->next++;
    if (!rc && w->next < w->n)
        rc = unum_error_set("%s: tensor '%s' was not written", w->dir, w->t[w->next].name);
    if (!rc) rc = close_shard(w);
    if (!rc && w->n_shards > 1) rc = write_index(w);
    stw_abort(w);
    return rc;
}
