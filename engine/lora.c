/* lora.c - see lora.h. */
#include "engine/lora.h"

#include "engine/modeldir.h"
#include "engine/safetensors.h"
#include "engine/base/util.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ADAPTER_CONFIG_MAX (4u << 20)
#define PREFIX "base_model.model."

static const char *const names[LORA_N_MODULES] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};
static const char *const paths[LORA_N_MODULES] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

const char *lora_module_name(LoraModule m) { return names[m]; }
const char *lora_module_path(LoraModule m) { return paths[m]; }

void lora_module_shape(const Qwen2Config *c, LoraModule m, int *out, int *in) {
    int D = c->hidden, F = c->intermediate;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const int outs[LORA_N_MODULES] = {qd, kvd, kvd, D, F, F, D};
    const int ins[LORA_N_MODULES] = {D, D, D, qd, D, D, F};
    *out = outs[m], *in = ins[m];
}

int lora_fits(const LoraAdapter *a, const Qwen2Config *c) {
    if (a->c.n_layers != c->n_layers) return 0;
    for (int m = 0; m < LORA_N_MODULES; m++) {
        int o1, i1, o2, i2;
        lora_module_shape(&a->c, m, &o1, &i1);
        lora_module_shape(c, m, &o2, &i2);
        if (o1 != o2 || i1 != i2) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ config */

/* The parts of adapter_config.json that decide which layers are adapted
 * and how much. */
typedef struct {
    const char *path;
    int r;
    double alpha;
    int rslora;
    const cJSON *targets, *exclude, *rank_pattern, *alpha_pattern, *layers;
} Config;

/* peft's suffix rule: name is key, or ends with "." + key. */
static int ends_at_dot(const char *name, const char *key) {
    size_t n = strlen(name), k = strlen(key);
    return n == k ? !strcmp(name, key)
                  : n > k && name[n - k - 1] == '.' && !strcmp(name + n - k, key);
}

/* Whether re (a regular expression in Python's syntax, which PCRE2 reads:
 * \d, \w, \s, groups, alternation) matches name; anchored as given. The
 * pattern comes from the adapter's file, so it is bounded: at most
 * RX_MAX_PATTERN bytes, and a match that needs more than RX_MATCH_LIMIT
 * steps or RX_HEAP_KIB of backtracking memory counts as an error, not a
 * hang. -1 with the error when the pattern does not compile or runs away. */
enum { RX_MAX_PATTERN = 4096, RX_MATCH_LIMIT = 1000000, RX_HEAP_KIB = 4096 };

static int rx_match(const char *re, const char *name, const char *path, const char *field) {
    if (strlen(re) > RX_MAX_PATTERN)
        return unum_error_set("%s: %s: a pattern of %zu bytes is longer than unum reads (%d)",
                              path, field, strlen(re), RX_MAX_PATTERN);
    int err;
    PCRE2_SIZE off;
    pcre2_code *rx = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
    if (!rx) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return unum_error_set("%s: %s: '%s' is not a regular expression unum can read (at "
                              "offset %zu: %s)",
                              path, field, re, (size_t)off, (char *)msg);
    }
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(rx, NULL);
    if (!mc || !md) {
        pcre2_match_context_free(mc);
        pcre2_match_data_free(md);
        pcre2_code_free(rx);
        return unum_error_set("%s: %s: out of memory", path, field);
    }
    pcre2_set_match_limit(mc, RX_MATCH_LIMIT);
    pcre2_set_heap_limit(mc, RX_HEAP_KIB);
    int rc = pcre2_match(rx, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, mc);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_code_free(rx);
    if (rc >= 0) return 1;
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return unum_error_set("%s: %s: '%s' could not be matched against '%s' (%s)", path, field, re,
                          name, (char *)msg);
}

/* target_modules or exclude_modules: a list of names (suffix at a dot),
 * a string (a regular expression the whole name must match), or
 * "all-linear". 1, 0, or -1 with the error. */
static int names_match(const cJSON *spec, const char *name, const char *path, const char *field) {
    if (!spec || cJSON_IsNull(spec)) return 0;
    if (cJSON_IsString(spec)) {
        if (!strcmp(spec->valuestring, "all-linear")) return 1;
        char *re = xmalloc(strlen(spec->valuestring) + 8);
        sprintf(re, "^(%s)$", spec->valuestring);
        int hit = rx_match(re, name, path, field);
        free(re);
        return hit;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e,
                       spec) if (cJSON_IsString(e) && ends_at_dot(name, e->valuestring)) return 1;
    return 0;
}

/* rank_pattern / alpha_pattern: the value of the first key that matches the
 * end of name at a dot, or dflt. -1 with the error on a bad pattern. */
static int pattern_value(const cJSON *pat, const char *name, double dflt, double *out,
                         const char *path, const char *field) {
    *out = dflt;
    const cJSON *e;
    cJSON_ArrayForEach(e, pat) {
        char *re = xmalloc(strlen(e->string) + 16);
        sprintf(re, "^(.*\\.)?(%s)$", e->string);
        int hit = rx_match(re, name, path, field);
        free(re);
        if (hit < 0) return -1;
        if (hit) {
            *out = e->valuedouble;
            return 0;
        }
    }
    return 0;
}

/* Fields peft writes whose meaning unum does not implement: refused when
 * set to anything but their neutral value. */
static int refuse_unsupported(const cJSON *root, const char *path) {
    const cJSON *j;
    j = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    if (!cJSON_IsString(j) || strcmp(j->valuestring, "LORA"))
        return unum_error_set("%s: peft_type is %s%s%s; unum applies LORA adapters only", path,
                              cJSON_IsString(j) ? "'" : "",
                              cJSON_IsString(j) ? j->valuestring : "missing",
                              cJSON_IsString(j) ? "'" : "");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "use_dora")))
        return unum_error_set("%s: use_dora is true: DoRA adapters are not supported", path);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "fan_in_fan_out")))
        return unum_error_set("%s: fan_in_fan_out is true, which Qwen2's nn.Linear layers never "
                              "need: the adapter was made for another architecture",
                              path);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "lora_bias")))
        return unum_error_set("%s: lora_bias is true: adapters with a bias are not supported",
                              path);
    j = cJSON_GetObjectItemCaseSensitive(root, "bias");
    if (j && !cJSON_IsNull(j) && (!cJSON_IsString(j) || strcmp(j->valuestring, "none")))
        return unum_error_set("%s: bias is '%s': adapters that train the base's biases are not "
                              "supported (only \"none\")",
                              path, cJSON_IsString(j) ? j->valuestring : "?");
    const char *lists[] = {"modules_to_save", "layer_replication", "trainable_token_indices",
                           "target_parameters"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        j = cJSON_GetObjectItemCaseSensitive(root, lists[i]);
        if (j && !cJSON_IsNull(j) && !(cJSON_IsArray(j) && !cJSON_GetArraySize(j)) &&
            !(cJSON_IsObject(j) && !cJSON_GetArraySize(j)))
            return unum_error_set("%s: %s is set: adapters with %s are not supported", path,
                                  lists[i], lists[i]);
    }
    return 0;
}

/* rank_pattern (positive integers up to 65536) or alpha_pattern (positive
 * numbers up to 1e6): an object of numbers, or null. */
static int check_pattern(const cJSON *pat, const char *field, int ints, const char *path) {
    if (!pat || cJSON_IsNull(pat)) return 0;
    if (!cJSON_IsObject(pat)) return unum_error_set("%s: %s must be an object", path, field);
    const cJSON *e;
    cJSON_ArrayForEach(e, pat) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v > 0) || v > (ints ? 65536 : 1e6) || (ints && v != floor(v)))
            return unum_error_set("%s: %s['%s'] must be a positive %s", path, field, e->string,
                                  ints ? "integer up to 65536" : "number up to 1e6");
    }
    return 0;
}

static int config_read(Config *cf, const cJSON *root, const char *path) {
    memset(cf, 0, sizeof *cf);
    cf->path = path;
    if (!cJSON_IsObject(root)) return unum_error_set("%s: not a JSON object", path);
    if (refuse_unsupported(root, path)) return -1;
    if (config_get_int(root, "r", 1, 1 << 16, 0, &cf->r, path)) return -1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    cf->alpha = 8; /* peft's default */
    if (a && (!cJSON_IsNumber(a) || !(fabs(a->valuedouble) <= 1e6)))
        return unum_error_set("%s: lora_alpha must be a number in [-1e6, 1e6]", path);
    if (a) cf->alpha = a->valuedouble;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "use_rslora");
    if (rs && !cJSON_IsBool(rs) && !cJSON_IsNull(rs))
        return unum_error_set("%s: use_rslora must be true or false", path);
    cf->rslora = cJSON_IsTrue(rs);
    cf->targets = cJSON_GetObjectItemCaseSensitive(root, "target_modules");
    if (!cJSON_IsArray(cf->targets) && !cJSON_IsString(cf->targets))
        return unum_error_set("%s: target_modules must be a list of names or a string", path);
    cf->exclude = cJSON_GetObjectItemCaseSensitive(root, "exclude_modules");
    cf->rank_pattern = cJSON_GetObjectItemCaseSensitive(root, "rank_pattern");
    cf->alpha_pattern = cJSON_GetObjectItemCaseSensitive(root, "alpha_pattern");
    if (check_pattern(cf->rank_pattern, "rank_pattern", 1, path) ||
        check_pattern(cf->alpha_pattern, "alpha_pattern", 0, path))
        return -1;
    cf->layers = cJSON_GetObjectItemCaseSensitive(root, "layers_to_transform");
    if (cf->layers && !cJSON_IsNull(cf->layers) && !cJSON_IsNumber(cf->layers) &&
        !cJSON_IsArray(cf->layers))
        return unum_error_set("%s: layers_to_transform must be a number or a list", path);
    /* a list of names that matches none of the seven projections (an
     * adapter for another architecture, or for embeddings or lm_head) */
    if (cJSON_IsArray(cf->targets)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cf->targets) {
            if (!cJSON_IsString(e))
                return unum_error_set("%s: target_modules must hold strings", path);
            int known = 0;
            for (int m = 0; m < LORA_N_MODULES; m++)
                known |= ends_at_dot(paths[m], e->valuestring) ||
                         ends_at_dot(e->valuestring, paths[m]) ||
                         ends_at_dot(e->valuestring, names[m]);
            if (!known)
                return unum_error_set("%s: target module '%s' is not one of Qwen2's q_proj, "
                                      "k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj",
                                      path, e->valuestring);
        }
    }
    return 0;
}

static int layer_selected(const Config *cf, int layer) {
    if (!cf->layers || cJSON_IsNull(cf->layers)) return 1;
    if (cJSON_IsNumber(cf->layers)) return cf->layers->valueint == layer;
    const cJSON *e;
    cJSON_ArrayForEach(e, cf->layers) if (cJSON_IsNumber(e) && e->valueint == layer) return 1;
    return 0;
}

/* Rank and scale of module m of layer i, or rank 0 when not targeted. */
static int module_plan(const Config *cf, int i, LoraModule m, int *rank, float *scale) {
    char key[128];
    snprintf(key, sizeof key, "model.layers.%d.%s", i, paths[m]);
    *rank = 0;
    int hit = names_match(cf->targets, key, cf->path, "target_modules");
    if (hit <= 0 || !layer_selected(cf, i)) return hit < 0 ? -1 : 0;
    int ex = names_match(cf->exclude, key, cf->path, "exclude_modules");
    if (ex) return ex < 0 ? -1 : 0;
    double r, alpha;
    if (pattern_value(cf->rank_pattern, key, cf->r, &r, cf->path, "rank_pattern") ||
        pattern_value(cf->alpha_pattern, key, cf->alpha, &alpha, cf->path, "alpha_pattern"))
        return -1;
    *rank = (int)r;
    *scale = (float)(cf->rslora ? alpha / sqrt(r) : alpha / r);
    return 0;
}

/* ------------------------------------------------------------ tensors */

static void to_f32(const STensor *t, float *dst) {
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == DT_F32) memcpy(&dst[i], p + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == DT_BF16 ? unum_bf16_to_f32(h) : unum_f16_to_f32(h);
        }
    }
}

/* Fetches name as [rows x cols] into a new float32 array. */
static float *fetch(const STModel *st, unsigned char *took, const char *name, int rows, int cols) {
    int64_t shape[2] = {rows, cols};
    const STensor *t = st_get(st, name, 2, shape);
    if (!t) return NULL;
    took[t - st->tensors] = 1;
    float *v = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!v) {
        unum_error_set("out of memory for '%s'", name);
        return NULL;
    }
    to_f32(t, v);
    return v;
}

/* Every tensor of the file must belong to an adapted module. */
static int check_unused(const STModel *st, const unsigned char *took, const Qwen2Config *c) {
    for (int i = 0; i < st->n_tensors; i++) {
        if (took[i]) continue;
        const char *name = st->tensors[i].name;
        int layer;
        if (strstr(name, "lora_magnitude_vector"))
            return unum_error_set("%s: tensor '%s' is a DoRA magnitude: DoRA adapters are not "
                                  "supported",
                                  st->tensors[i].file, name);
        if (sscanf(name, PREFIX "model.layers.%d.", &layer) == 1 && layer >= c->n_layers)
            return unum_error_set("%s: tensor '%s' is for layer %d but the base has %d layers",
                                  st->tensors[i].file, name, layer, c->n_layers);
        return unum_error_set("%s: tensor '%s' is not a LoRA weight of a module that "
                              "adapter_config.json targets",
                              st->tensors[i].file, name);
    }
    return 0;
}

int lora_config_plan(const char *json, const char *path, const Qwen2Config *c, LoraPair *pairs) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return unum_error_set("%s: not valid JSON", path);
    Config cf;
    int rc = config_read(&cf, root, path);
    for (int i = 0; !rc && i < c->n_layers; i++)
        for (int m = 0; !rc && m < LORA_N_MODULES; m++) {
            LoraPair *p = &pairs[(size_t)i * LORA_N_MODULES + m];
            rc = module_plan(&cf, i, m, &p->rank, &p->scale);
        }
    cJSON_Delete(root);
    return rc;
}

static int load_pairs(LoraAdapter *a, const STModel *st, unsigned char *took) {
    const Qwen2Config *c = &a->c;
    for (int i = 0; i < c->n_layers; i++)
        for (int m = 0; m < LORA_N_MODULES; m++) {
            LoraPair *p = lora_pair(a, i, m);
            if (!p->rank) continue;
            int out, in;
            lora_module_shape(c, m, &out, &in);
            char na[160], nb[160];
            snprintf(na, sizeof na, PREFIX "model.layers.%d.%s.lora_A.weight", i, paths[m]);
            snprintf(nb, sizeof nb, PREFIX "model.layers.%d.%s.lora_B.weight", i, paths[m]);
            if (!(p->A = fetch(st, took, na, p->rank, in)) ||
                !(p->B = fetch(st, took, nb, out, p->rank)))
                return -1;
        }
    return 0;
}

/* dir itself, or for a repo id ORG/NAME that is no folder here, the folder
 * unum pull fetches it into. A new string. */
static char *resolve(const char *dir) {
    struct stat sb;
    const char *slash = strchr(dir, '/');
    if (stat(dir, &sb) == 0 || !slash || slash == dir || strchr(slash + 1, '/') || dir[0] == '.')
        return xstrdup(dir);
    char *models = modeldir_models_dir(), *d = unum_path_join(models, dir);
    char *cfg = unum_path_join(d, "adapter_config.json");
    int found = unum_file_exists(cfg);
    free(models);
    free(cfg);
    if (found) return d;
    free(d);
    return xstrdup(dir);
}

LoraAdapter *lora_load(const char *dir_arg, const Qwen2Config *c) {
    LoraAdapter *a = xcalloc(1, sizeof *a);
    a->dir = resolve(dir_arg);
    const char *dir = a->dir;
    a->c = *c;
    a->pairs = xcalloc((size_t)c->n_layers * LORA_N_MODULES, sizeof *a->pairs);
    char *cpath = unum_path_join(dir, "adapter_config.json");
    char *wpath = unum_path_join(dir, "adapter_model.safetensors");
    char *json = NULL;
    STModel st = {0};
    unsigned char *took = NULL;
    int rc = -1;
    if (!(json = unum_read_file(cpath, ADAPTER_CONFIG_MAX, NULL)) ||
        lora_config_plan(json, cpath, c, a->pairs))
        goto done;
    if (!unum_file_exists(wpath)) {
        char *bin = unum_path_join(dir, "adapter_model.bin");
        int has_bin = unum_file_exists(bin);
        free(bin);
        unum_error_set("%s: missing%s", wpath,
                       has_bin ? " (adapter_model.bin is a pickle, which unum does not read; "
                                 "save the adapter with safe_serialization)"
                               : "");
        goto done;
    }
    if (st_open_file(&st, wpath)) goto done;
    took = xcalloc((size_t)st.n_tensors + 1, 1);
    if (load_pairs(a, &st, took)) {
        if (!strstr(unum_error(), wpath)) unum_error_wrap("%s", wpath);
        goto done;
    }
    if (check_unused(&st, took, c)) goto done;
    rc = 0;
done:
    if (rc) unum_error_wrap("adapter %s", dir);
    free(took);
    st_close(&st);
    free(json);
    free(cpath);
    free(wpath);
    if (rc) {
        lora_free(a);
        return NULL;
    }
    return a;
}

void lora_free(LoraAdapter *a) {
    if (!a) return;
    for (int i = 0; a->pairs && i < a->c.n_layers * LORA_N_MODULES; i++) {
        free(a->pairs[i].A);
        free(a->pairs[i].B);
    }
    free(a->pairs);
    free(a->dir);
    free(a);
}

void lora_pair_merge(const LoraPair *p, float user_scale, float *W, int out, int in) {
    if (!p->rank) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, p->rank, user_scale * p->scale,
                p->B, p->rank, p->A, in, 1.0f, W, in);
}

/* ------------------------------------------------------------ specs */

int lora_spec_parse(const char *arg, LoraSpec *out) {
    out->scale = 1.0f;
    const char *colon = strrchr(arg, ':');
    if (colon && colon[1]) {
        char *end;
        double s = strtod(colon + 1, &end);
        if (!*end) {
            if (!isfinite(s) || fabs(s) > 1e4)
                return unum_error_set("--lora %s: scale %s is out of range", arg, colon + 1);
            out->dir = xmalloc((size_t)(colon - arg) + 1);
            memcpy(out->dir, arg, (size_t)(colon - arg));
            out->dir[colon - arg] = 0;
            out->scale = (float)s;
            if (!out->dir[0]) {
                free(out->dir);
                return unum_error_set("--lora %s: no directory before the scale", arg);
            }
            return 0;
        }
    }
    if (!arg[0]) return unum_error_set("--lora: empty directory");
    out->dir = xstrdup(arg);
    return 0;
}

void lora_specs_free(LoraSpec *specs, int n) {
    for (int i = 0; i < n; i++) free(specs[i].dir);
    free(specs);
}
