/* merge.c - see merge.h. */
#include "engine/merge.h"

#include "engine/config.h"
#include "engine/st_write.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 18)           /* elements per slice */
#define DEFAULT_SHARD (2ull << 30) /* bytes of data per output shard */
#define SLERP_DOT_THRESHOLD 0.9995 /* mergekit's: nearly parallel, so lerp */
#define SLERP_EPS 1e-8

static const char *const method_names[] = {"linear",    "task_arithmetic", "ties",
                                           "dare_ties", "dare_linear",     "slerp"};

int merge_method_parse(const char *name) {
    for (int i = 0; i < (int)(sizeof method_names / sizeof method_names[0]); i++)
        if (!strcmp(name, method_names[i])) return i;
    return -1;
}

/* ------------------------------------------------------------ inputs */

typedef struct {
    const char *dir;
    Qwen2Config c;
    STModel st;
    float weight, density;
} Input;

static int input_open(Input *in, const char *dir) {
    in->dir = dir;
    if (qwen2_config_load(&in->c, dir) || st_open_dir(&in->st, dir))
        return unum_error_wrap("%s", dir);
    return 0;
}

/* The same architecture and shapes as the first input, field by field. */
static int same_config(const Input *a, const Input *b) {
    struct {
        const char *name;
        int x, y;
    } f[] = {{"hidden_size", a->c.hidden, b->c.hidden},
             {"intermediate_size", a->c.intermediate, b->c.intermediate},
             {"num_hidden_layers", a->c.n_layers, b->c.n_layers},
             {"num_attention_heads", a->c.n_heads, b->c.n_heads},
             {"num_key_value_heads", a->c.n_kv_heads, b->c.n_kv_heads},
             {"head_dim", a->c.head_dim, b->c.head_dim},
             {"vocab_size", a->c.vocab, b->c.vocab},
             {"tie_word_embeddings", a->c.tied, b->c.tied},
             {"speech model", a->c.speech, b->c.speech}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].x != f[i].y)
            return unum_error_set("%s/config.json: %s is %d but %s has %d: the models are not of "
                                  "one architecture",
                                  b->dir, f[i].name, f[i].y, a->dir, f[i].x);
    return 0;
}

static int same_tokenizer(const Input *a, const Input *b) {
    char *pa = unum_path_join(a->dir, "tokenizer.json"),
         *pb = unum_path_join(b->dir, "tokenizer.json");
    size_t na = 0, nb = 0;
    char *ta = unum_file_exists(pa) ? unum_read_file(pa, 1u << 30, &na) : NULL;
    char *tb = unum_file_exists(pb) ? unum_read_file(pb, 1u << 30, &nb) : NULL;
    int rc = 0;
    if ((ta == NULL) != (tb == NULL) || (ta && (na != nb || memcmp(ta, tb, na))))
        rc = unum_error_set("%s differs from %s: the models do not share a tokenizer", pb, pa);
    free(ta);
    free(tb);
    free(pa);
    free(pb);
    return rc;
}

/* Every tensor of the reference in b with the same shape, and no more. */
static int same_tensors(const Input *ref, const Input *b) {
    if (b->st.n_tensors != ref->st.n_tensors) {
        for (int i = 0; i < b->st.n_tensors; i++)
            if (!st_find(&ref->st, b->st.tensors[i].name))
                return unum_error_set("%s: tensor '%s' is not in %s", b->st.tensors[i].file,
                                      b->st.tensors[i].name, ref->dir);
    }
    for (int i = 0; i < ref->st.n_tensors; i++) {
        const STensor *t = &ref->st.tensors[i], *u = st_find(&b->st, t->name);
        if (!u)
            return unum_error_set("%s: tensor '%s' is missing (it is in %s)", b->dir, t->name,
                                  ref->dir);
        int same = u->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = u->shape[d] == t->shape[d];
        if (!same)
            return unum_error_set("%s: tensor '%s' has another shape than in %s", u->file, t->name,
                                  ref->dir);
    }
    return 0;
}

/* Elements [j0, j0+n) of t as float32. */
static void slice_f32(const STensor *t, size_t j0, size_t n, float *dst) {
    const unsigned char *p = t->data;
    for (size_t i = 0; i < n; i++) {
        size_t j = j0 + i;
        if (t->dtype == DT_F32) memcpy(&dst[i], p + 4 * j, 4);
        else {
            uint16_t h;
            memcpy(&h, p + 2 * j, 2);
            dst[i] = t->dtype == DT_BF16 ? unum_bf16_to_f32(h) : unum_f16_to_f32(h);
        }
    }
}

/* ------------------------------------------------------------ output folder */

static const char *const copied[] = {
    "generation_config.json",  "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.json",     "merges.txt",
    "added_tokens.json"};

static int copy_files(const char *from, const char *to, int out_dtype) {
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        char *src = unum_path_join(from, copied[i]);
        if (unum_file_exists(src)) {
            size_t n;
            char *data = unum_read_file(src, 1u << 30, &n);
            char *dst = unum_path_join(to, copied[i]);
            int rc = !data || unum_write_file_atomic(dst, data, n);
            free(data);
            free(dst);
            if (rc) {
                free(src);
                return -1;
            }
        }
        free(src);
    }
    /* config.json, with torch_dtype saying what the shards hold */
    char *path;
    cJSON *cfg = config_read_object(from, "config.json", &path);
    free(path);
    if (!cfg) return -1;
    if (out_dtype >= 0) {
        static const char *const torch[] = {"float32", "float16", "bfloat16"};
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "torch_dtype");
        cJSON_AddStringToObject(cfg, "torch_dtype", torch[out_dtype]);
    }
    char *txt = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    char *dst = unum_path_join(to, "config.json");
    int rc = unum_write_file_atomic(dst, txt, strlen(txt));
    free(dst);
    cJSON_free(txt);
    return rc;
}

/* ------------------------------------------------------------ methods */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The state of one tensor's merge across its slices. */
typedef struct {
    const MergeOptions *o;
    Input *base;   /* NULL for linear */
    Input *models; /* the n inputs merged with it */
    int n;
    const char *name;
    size_t numel;
    float *thr;     /* ties: per model, the smallest magnitude kept */
    size_t *at_thr; /* ties: how many entries equal to thr are still kept
                       (the first ones, in order, so exactly int(d n) stay) */
    uint64_t *rng;  /* dare: per model, the generator */
    double s0, s1;  /* slerp: the two coefficients */
} Job;

/* ties: the int(d * numel)-th largest |x_i - b| of each model. */
static int ties_thresholds(Job *j, float *buf, float *bb) {
    for (int i = 0; i < j->n; i++) {
        j->thr[i] = 0;
        if (j->models[i].density >= 1) continue;
        size_t k = (size_t)(j->models[i].density * (double)j->numel);
        if (!k)
            return unum_error_set("%s: density %g keeps nothing of tensor '%s'", j->models[i].dir,
                                  j->models[i].density, j->name);
        float *mag = malloc(sizeof(float) * j->numel);
        if (!mag) return unum_error_set("out of memory for tensor '%s'", j->name);
        const STensor *x = st_find(&j->models[i].st, j->name), *b = st_find(&j->base->st, j->name);
        for (size_t p = 0; p < j->numel; p += CHUNK) {
            size_t m = j->numel - p < CHUNK ? j->numel - p : CHUNK;
            slice_f32(x, p, m, buf);
            slice_f32(b, p, m, bb);
            for (size_t e = 0; e < m; e++) mag[p + e] = fabsf(buf[e] - bb[e]);
        }
        qsort(mag, j->numel, sizeof *mag, cmp_desc);
        j->thr[i] = mag[k - 1];
        size_t above = k - 1;
        while (above > 0 && mag[above - 1] == j->thr[i]) above--;
        j->at_thr[i] = k - above;
        free(mag);
    }
    return 0;
}

/* slerp: the coefficients of base and model from the whole tensors. */
static void slerp_coefficients(Job *j, float *xb, float *bb) {
    const STensor *x = st_find(&j->models[0].st, j->name), *b = st_find(&j->base->st, j->name);
    double nb = 0, nx = 0, dot = 0, t = j->o->t;
    for (size_t p = 0; p < j->numel; p += CHUNK) {
        size_t m = j->numel - p < CHUNK ? j->numel - p : CHUNK;
        slice_f32(x, p, m, xb);
        slice_f32(b, p, m, bb);
        for (size_t e = 0; e < m; e++)
            nb += (double)bb[e] * bb[e], nx += (double)xb[e] * xb[e], dot += (double)bb[e] * xb[e];
    }
    nb = sqrt(nb), nx = sqrt(nx);
    double c = dot / (nb > SLERP_EPS ? nb : 1) / (nx > SLERP_EPS ? nx : 1);
    if (fabs(c) > SLERP_DOT_THRESHOLD) {
        j->s0 = 1 - t, j->s1 = t;
        return;
    }
    double a = acos(c), s = sin(a);
    j->s0 = sin(a - a * t) / s, j->s1 = sin(a * t) / s;
}

/* out[0..m) from the base slice b and model slices x[i]. */
static void merge_slice(Job *j, float *out, const float *b, float *const *x, size_t m) {
    MergeMethod me = j->o->method;
    for (size_t e = 0; e < m; e++) {
        if (me == MERGE_LINEAR) {
            double s = 0, w = 0;
            for (int i = 0; i < j->n; i++)
                s += (double)j->models[i].weight * x[i][e], w += j->models[i].weight;
            out[e] = (float)(s / w);
            continue;
        }
        if (me == MERGE_SLERP) {
            out[e] = (float)(j->s0 * b[e] + j->s1 * x[0][e]);
            continue;
        }
        double sum = 0, agree = 0, wsum = 0;
        float wd[64];
        for (int i = 0; i < j->n; i++) {
            const Input *in = &j->models[i];
            float d = x[i][e] - b[e];
            if (me == MERGE_TIES && in->density < 1 && fabsf(d) <= j->thr[i]) {
                if (fabsf(d) < j->thr[i] || !j->at_thr[i]) d = 0;
                else j->at_thr[i]--;
            }
            if ((me == MERGE_DARE_TIES || me == MERGE_DARE_LINEAR) && in->density < 1) {
                double u = (double)(splitmix(&j->rng[i]) >> 11) * (1.0 / 9007199254740992.0);
                d = u < in->density ? d / in->density : 0;
            }
            wd[i] = in->weight * d;
            sum += wd[i];
        }
        if (me == MERGE_TASK_ARITHMETIC || me == MERGE_DARE_LINEAR) {
            out[e] = (float)(b[e] + sum);
            continue;
        }
        /* ties and dare_ties: the elected sign, + on a tie */
        int sign = sum >= 0 ? 1 : -1;
        for (int i = 0; i < j->n; i++)
            if ((wd[i] > 0 && sign > 0) || (wd[i] < 0 && sign < 0))
                agree += wd[i], wsum += j->models[i].weight;
        if (me == MERGE_TIES) agree /= wsum != 0 ? wsum : 1;
        out[e] = (float)(b[e] + agree);
    }
}

/* Streams one merged tensor into w. */
static int merge_tensor(Job *j, StWriter *w, float **bufs) {
    float *out = bufs[0], *bb = bufs[1], **x = bufs + 2;
    MergeMethod me = j->o->method;
    if (me == MERGE_TIES && ties_thresholds(j, x[0], bb)) return -1;
    if (me == MERGE_SLERP) slerp_coefficients(j, x[0], bb);
    for (int i = 0; i < j->n; i++)
        j->rng[i] = j->o->seed ^ fnv1a(j->name) ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull);
    const STensor *bt = j->base ? st_find(&j->base->st, j->name) : NULL;
    for (size_t p = 0; p < j->numel; p += CHUNK) {
        size_t m = j->numel - p < CHUNK ? j->numel - p : CHUNK;
        if (bt) slice_f32(bt, p, m, bb);
        for (int i = 0; i < j->n; i++) slice_f32(st_find(&j->models[i].st, j->name), p, m, x[i]);
        merge_slice(j, out, bb, x, m);
        if (stw_put(w, out, m)) return -1;
    }
    return 0;
}

/* bake: the tensor, with every adapter's B A added when it is one of the
 * adapted projections. */
static int bake_tensor(const MergeOptions *o, LoraAdapter **ads, const STensor *t, StWriter *w,
                       float *buf) {
    int layer = -1, mod = -1, off = 0;
    if (sscanf(t->name, "model.layers.%d.%n", &layer, &off) == 1 && off && layer >= 0 &&
        layer < ads[0]->c.n_layers && t->ndim == 2)
        for (int m = 0; m < LORA_N_MODULES; m++) {
            char want[64];
            snprintf(want, sizeof want, "%s.weight", lora_module_path(m));
            if (!strcmp(t->name + off, want)) mod = m;
        }
    int adapted = 0;
    for (int k = 0; mod >= 0 && k < o->n_lora; k++)
        adapted |= lora_pair(ads[k], layer, mod)->rank > 0;
    if (!adapted) {
        for (size_t p = 0; p < (size_t)t->numel; p += CHUNK) {
            size_t m = (size_t)t->numel - p < CHUNK ? (size_t)t->numel - p : CHUNK;
            slice_f32(t, p, m, buf);
            if (stw_put(w, buf, m)) return -1;
        }
        return 0;
    }
    float *W = malloc(sizeof(float) * (size_t)t->numel);
    if (!W) return unum_error_set("out of memory for tensor '%s'", t->name);
    slice_f32(t, 0, (size_t)t->numel, W);
    for (int k = 0; k < o->n_lora; k++)
        lora_pair_merge(lora_pair(ads[k], layer, mod), o->lora[k].scale, W, (int)t->shape[0],
                        (int)t->shape[1]);
    int rc = stw_put(w, W, (size_t)t->numel);
    free(W);
    return rc;
}

/* ------------------------------------------------------------ driver */

static int check_options(const MergeOptions *o) {
    MergeMethod me = o->method;
    if (me == MERGE_BAKE) {
        if (!o->base || !o->n_lora)
            return unum_error_set("baking adapters needs --base and --lora");
        return 0;
    }
    if (me != MERGE_LINEAR && !o->base) return unum_error_set("%s needs --base", method_names[me]);
    if (me == MERGE_LINEAR && o->base)
        return unum_error_set("linear averages the models given; it takes no --base");
    if (me == MERGE_SLERP && o->n_models != 1)
        return unum_error_set("slerp interpolates --base and one model (%d given)", o->n_models);
    if (me == MERGE_SLERP && !(o->t >= 0 && o->t <= 1))
        return unum_error_set("slerp needs --t in [0, 1]");
    if (o->n_models < 1 || o->n_models > 64)
        return unum_error_set("give 1 to 64 models to merge (%d given)", o->n_models);
    double w = 0;
    for (int i = 0; i < o->n_models; i++) {
        w += o->models[i].weight;
        if (!(o->models[i].density > 0 && o->models[i].density <= 1))
            return unum_error_set("%s: density %g is outside (0, 1]", o->models[i].dir,
                                  o->models[i].density);
    }
    if (me == MERGE_LINEAR && fabs(w) < 1e-8) return unum_error_set("linear: the weights sum to 0");
    return 0;
}

/* The output folder must not hold a checkpoint already: its files could be
 * an input's (mapped while they are rewritten), and stale shards or an
 * index would outvote the new files. */
static int check_out_dir(const char *out_dir) {
    DIR *d = opendir(out_dir);
    if (!d) return 0; /* made below */
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, "model", 5) &&
            ((n > 12 && !strcmp(e->d_name + n - 12, ".safetensors")) ||
             !strcmp(e->d_name, "model.safetensors.index.json")))
            rc = unum_error_set("%s already holds a checkpoint (%s); give a new folder", out_dir,
                                e->d_name);
    }
    closedir(d);
    return rc;
}

int merge_run(const MergeOptions *o, const char *out_dir) {
    if (check_options(o) || check_out_dir(out_dir)) return -1;
    int n_in = o->n_models + (o->base ? 1 : 0);
    Input *in = xcalloc((size_t)n_in, sizeof *in);
    Input *base = o->base ? &in[0] : NULL, *models = o->base ? in + 1 : in;
    LoraAdapter **ads = xcalloc((size_t)o->n_lora + 1, sizeof *ads);
    float **bufs = NULL;
    StWriter w = {0};
    int rc = -1;
    for (int i = 0; i < n_in; i++) {
        const char *dir = base && i == 0 ? o->base : o->models[i - (base ? 1 : 0)].dir;
        if (input_open(&in[i], dir)) goto done;
        if (i && (same_config(&in[0], &in[i]) || same_tokenizer(&in[0], &in[i]) ||
                  same_tensors(&in[0], &in[i])))
            goto done;
    }
    for (int i = 0; i < o->n_models; i++)
        models[i].weight = o->models[i].weight, models[i].density = o->models[i].density;
    for (int k = 0; k < o->n_lora; k++)
        if (!(ads[k] = lora_load(o->lora[k].dir, &in[0].c))) goto done;
    if (unum_mkdir_p(out_dir, 0755) || copy_files(in[0].dir, out_dir, o->out_dtype)) goto done;
    const STModel *ref = &in[0].st;
    stw_init(&w, out_dir, "model", o->shard_bytes ? o->shard_bytes : DEFAULT_SHARD);
    for (int i = 0; i < ref->n_tensors; i++) {
        const STensor *t = &ref->tensors[i];
        stw_add(&w, t->name, o->out_dtype >= 0 ? (DType)o->out_dtype : t->dtype, t->ndim, t->shape);
    }
    int nb = o->n_models + 2;
    bufs = xcalloc((size_t)nb, sizeof *bufs);
    for (int i = 0; i < nb; i++)
        if (!(bufs[i] = malloc(sizeof(float) * CHUNK))) {
            unum_error_set("out of memory");
            goto done;
        }
    Job j = {o,
             base,
             models,
             o->n_models,
             NULL,
             0,
             xcalloc((size_t)nb, sizeof(float)),
             xcalloc((size_t)nb, sizeof(size_t)),
             xcalloc((size_t)nb, sizeof(uint64_t)),
             0,
             0};
    rc = 0;
    for (int i = 0; i < ref->n_tensors && !rc; i++) {
        const STensor *t = &ref->tensors[i];
        if (o->progress) o->progress(o->user, i, ref->n_tensors, t->name);
        j.name = t->name;
        j.numel = (size_t)t->numel;
        rc = o->method == MERGE_BAKE ? bake_tensor(o, ads, t, &w, bufs[0])
                                     : merge_tensor(&j, &w, bufs);
    }
    free(j.thr);
    free(j.at_thr);
    free(j.rng);
    if (o->progress && !rc) o->progress(o->user, ref->n_tensors, ref->n_tensors, NULL);
    if (!rc) rc = stw_finish(&w);
done:
    if (rc) stw_abort(&w);
    for (int i = 0; bufs && i < o->n_models + 2; i++) free(bufs[i]);
    free(bufs);
    for (int k = 0; k < o->n_lora; k++) lora_free(ads[k]);
    free(ads);
    for (int i = 0; i < n_in; i++) st_close(&in[i].st); /* a zeroed one is a no-op */
    free(in);
    return rc;
}
