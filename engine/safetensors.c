/* safetensors.c - see safetensors.h. */
#include "engine/safetensors.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *dtype_name(DType t) {
    switch (t) {
    case DT_F32:
        return "F32";
    case DT_F16:
        return "F16";
    case DT_BF16:
        return "BF16";
    case DT_I32:
        return "I32";
    }
    return "?";
}

static int dtype_parse(const char *s, DType *out) {
    if (!strcmp(s, "F32")) *out = DT_F32;
    else if (!strcmp(s, "F16")) *out = DT_F16;
    else if (!strcmp(s, "BF16")) *out = DT_BF16;
    else if (!strcmp(s, "I32")) *out = DT_I32;
    else return -1;
    return 0;
}

/* ---------------------------------------------------------------- header */

typedef struct {
    uint64_t begin, end;
    int idx;
} Span;

static int span_cmp(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int name_cmp(const void *a, const void *b, void *model) {
    const STModel *m = model;
    return strcmp(m->tensors[*(const int *)a].name, m->tensors[*(const int *)b].name);
}

/* Names are unique across the whole model (all shards): sort an index by
 * name and compare neighbours, so a hostile header with many entries costs
 * n log n. The sorted index then serves st_find's binary search. */
static int check_unique(STModel *m, const char *path) {
    m->by_name = xrealloc(m->by_name, sizeof(int) * ((size_t)m->n_tensors + 1));
    for (int i = 0; i < m->n_tensors; i++) m->by_name[i] = i;
    qsort_r(m->by_name, (size_t)m->n_tensors, sizeof(int), name_cmp, m);
    m->n_sorted = m->n_tensors;
    for (int i = 1; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[m->by_name[i]].name, m->tensors[m->by_name[i - 1]].name))
            return unum_error_set("%s: tensor '%s' appears twice", path,
                                  m->tensors[m->by_name[i]].name);
    return 0;
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_one(STensor *t, const cJSON *e, size_t data_len, const char *path) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return unum_error_set("%s: tensor '%s': entry is not an object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd)) return unum_error_set("%s: tensor '%s': missing dtype", path, name);
    if (dtype_parse(jd->valuestring, &t->dtype))
        return unum_error_set("%s: tensor '%s': unsupported dtype %s (need F32, F16, BF16 or I32)", path,
                              name, jd->valuestring);
    if (!cJSON_IsArray(js)) return unum_error_set("%s: tensor '%s': missing shape", path, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > ST_MAX_DIMS)
        return unum_error_set("%s: tensor '%s': %d dimensions, at most %d supported", path, name,
                              nd, ST_MAX_DIMS);
    uint64_t numel = 1;
    t->ndim = nd;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (json_u64(cJSON_GetArrayItem(js, i), &d) || d > INT64_MAX)
            return unum_error_set("%s: tensor '%s': shape[%d] is not a valid size", path, name, i);
        if (unum_mul_ok(numel, d, &numel))
            return unum_error_set("%s: tensor '%s': shape product overflows", path, name);
        t->shape[i] = (int64_t)d;
    }
    uint64_t nbytes, b, en;
    if (unum_mul_ok(numel, dtype_size(t->dtype), &nbytes))
        return unum_error_set("%s: tensor '%s': byte size overflows", path, name);
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
        json_u64(cJSON_GetArrayItem(jo, 0), &b) || json_u64(cJSON_GetArrayItem(jo, 1), &en))
        return unum_error_set("%s: tensor '%s': data_offsets must be [begin, end]", path, name);
    if (b > en || en > data_len)
        return unum_error_set("%s: tensor '%s': data_offsets [%llu, %llu] outside the %zu "
                              "bytes of data",
                              path, name, (unsigned long long)b, (unsigned long long)en, data_len);
    if (en - b != nbytes)
        return unum_error_set("%s: tensor '%s': shape and dtype need %llu bytes but "
                              "data_offsets span %llu",
                              path, name, (unsigned long long)nbytes, (unsigned long long)(en - b));
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    t->data = (const void *)(uintptr_t)b; /* rebased by the caller */
    return 0;
}

int st_parse_header(STModel *m, const char *json, size_t json_len, const void *data,
                    size_t data_len, const char *path) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, json_len, &end, 0);
    if (!root) return unum_error_set("%s: header is not valid JSON", path);
    /* the header is the whole slice: only space padding may follow */
    for (const char *p = end; p < json + json_len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return unum_error_set("%s: header is not valid JSON (trailing bytes at offset %zu)",
                                  path, (size_t)(p - json));
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return unum_error_set("%s: header is not a JSON object", path);
    }
    int cap = 0;
    for (const cJSON *e = root->child; e; e = e->next) cap++;
    if (cap > ST_MAX_TENSORS || m->n_tensors + cap > ST_MAX_TENSORS) {
        cJSON_Delete(root);
        return unum_error_set("%s: %d tensors, more than the %d allowed", path, cap,
                              ST_MAX_TENSORS);
    }
    Span *spans = xcalloc((size_t)cap + 1, sizeof *spans);
    int first = m->n_tensors, n = 0, rc = 0;
    m->tensors = xrealloc(m->tensors, sizeof(STensor) * (size_t)(m->n_tensors + cap + 1));
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                rc = unum_error_set("%s: __metadata__ is not an object", path);
                break;
            }
            continue;
        }
        STensor *t = &m->tensors[first + n];
        memset(t, 0, sizeof *t);
        if (parse_one(t, e, data_len, path)) {
            rc = -1;
            break;
        }
        uint64_t b = (uint64_t)(uintptr_t)t->data;
        spans[n] = (Span){b, b + t->nbytes, first + n};
        t->data = (const char *)data + b;
        t->name = xstrdup(e->string);
        t->file = path;
        n++;
        m->n_tensors++;
    }
    if (rc == 0) {
        /* sorted by start, a span overlaps an earlier one exactly when it
         * starts before the furthest end seen so far (empty spans never do) */
        qsort(spans, (size_t)n, sizeof *spans, span_cmp);
        int far = -1;
        for (int i = 0; i < n && rc == 0; i++) {
            if (spans[i].begin == spans[i].end) continue;
            if (far >= 0 && spans[i].begin < spans[far].end)
                rc = unum_error_set("%s: tensors '%s' and '%s' overlap in the data", path,
                                    m->tensors[spans[far].idx].name, m->tensors[spans[i].idx].name);
            if (far < 0 || spans[i].end > spans[far].end) far = i;
        }
    }
    if (rc == 0) rc = check_unique(m, path);
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- files */

int st_open_file(STModel *m, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return unum_error_set("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return unum_error_set("%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return unum_error_set("%s: truncated (%zu bytes, no header length)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return unum_error_set("%s: mmap: %s", path, strerror(errno));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | ((const unsigned char *)map)[i];
    if (hlen > ST_MAX_HEADER || hlen > size - 8) {
        munmap(map, size);
        return unum_error_set("%s: header length %llu exceeds the file (%zu bytes) or the "
                              "%u-byte cap; file truncated or not safetensors",
                              path, (unsigned long long)hlen, size, ST_MAX_HEADER);
    }
    m->files = xrealloc(m->files, sizeof(STFile) * (size_t)(m->n_files + 1));
    STFile *f = &m->files[m->n_files++];
    f->path = xstrdup(path);
    f->map = map;
    f->size = size;
    const char *json = (const char *)map + 8;
    if (st_parse_header(m, json, (size_t)hlen, json + hlen, size - 8 - (size_t)hlen, f->path))
        return -1;
    madvise(map, size, MADV_WILLNEED);
    return 0;
}

static int open_sharded(STModel *m, const char *dir, const char *index_path) {
    size_t len;
    char *txt = unum_read_file(index_path, 64u << 20, &len);
    if (!txt) return -1;
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!root) return unum_error_set("%s: not valid JSON", index_path);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(wm)) {
        rc = unum_error_set("%s: missing weight_map object", index_path);
        goto done;
    }
    /* open each distinct shard once, in order of first mention */
    for (const cJSON *e = wm->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !e->valuestring[0]) {
            rc = unum_error_set("%s: weight_map['%s'] is not a file name in the directory",
                                index_path, e->string);
            break;
        }
        char *p = unum_path_join(dir, e->valuestring);
        int seen = 0;
        for (int i = 0; i < m->n_files; i++) seen |= !strcmp(m->files[i].path, p);
        if (!seen) rc = st_open_file(m, p);
        free(p);
    }
    /* every mapped tensor must live in the shard the index names */
    for (const cJSON *e = wm->child; e && rc == 0; e = e->next) {
        const STensor *t = st_find(m, e->string);
        if (!t) {
            rc = unum_error_set("%s: tensor '%s' is listed but not in %s", index_path, e->string,
                                e->valuestring);
            break;
        }
        const char *base = strrchr(t->file, '/');
        base = base ? base + 1 : t->file;
        if (strcmp(base, e->valuestring))
            rc = unum_error_set("%s: tensor '%s' is listed in %s but found in %s", index_path,
                                e->string, e->valuestring, base);
    }
done:
    cJSON_Delete(root);
    return rc;
}

int st_open_dir(STModel *m, const char *dir) {
    memset(m, 0, sizeof *m);
    char *index = unum_path_join(dir, "model.safetensors.index.json");
    int rc;
    if (unum_file_exists(index)) {
        rc = open_sharded(m, dir, index);
    } else {
        char *single = unum_path_join(dir, "model.safetensors");
        rc = st_open_file(m, single);
        free(single);
    }
    free(index);
    if (rc) st_close(m);
    return rc;
}

void st_close(STModel *m) {
    for (int i = 0; i < m->n_tensors; i++) free(m->tensors[i].name);
    for (int i = 0; i < m->n_files; i++) {
        munmap(m->files[i].map, m->files[i].size);
        free(m->files[i].path);
    }
    free(m->tensors);
    free(m->by_name);
    free(m->files);
    memset(m, 0, sizeof *m);
}

const STensor *st_find(const STModel *m, const char *name) {
    int lo = 0, hi = m->n_sorted;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[m->by_name[mid]].name, name);
        if (!c) return &m->tensors[m->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const STensor *st_get(const STModel *m, const char *name, int ndim, const int64_t *shape) {
    const STensor *t = st_find(m, name);
    if (!t) {
        unum_error_set("tensor '%s' is missing from the checkpoint", name);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || t->shape[i] == shape[i];
    if (!ok) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "",
                     (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        unum_error_set("%s: tensor '%s' has shape [%s], config.json implies [%s]", t->file, name,
                       got, want);
        return NULL;
    }
    return t;
}
