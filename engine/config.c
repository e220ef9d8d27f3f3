/* config.c - see config.h. */
#include "engine/config.h"

#include "engine/base/util.h"
#include "engine/family.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (4u << 20)

/* Reads an integer field in [lo, hi]; absent: -1 with an error unless
 * optional (then *out keeps its value). */
int config_get_int(const cJSON *root, const char *key, int lo, int hi, int optional, int *out,
                   const char *path) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        if (optional) return 0;
        return unum_error_set("%s: missing field %s", path, key);
    }
    double d = j->valuedouble;
    if (!cJSON_IsNumber(j) || d != floor(d) || d < lo || d > hi)
        return unum_error_set("%s: %s must be an integer in [%d, %d]", path, key, lo, hi);
    *out = (int)d;
    return 0;
}

static int get_num(const cJSON *root, const char *key, double lo, double hi, int optional,
                   double *out, const char *path) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        if (optional) return 0;
        return unum_error_set("%s: missing field %s", path, key);
    }
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi))
        return unum_error_set("%s: %s must be a number in [%g, %g]", path, key, lo, hi);
    *out = j->valuedouble;
    return 0;
}

int qwen2_config_parse(Qwen2Config *c, const char *json, const char *path) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_Parse(json);
    if (!root) return unum_error_set("%s: not valid JSON", path);
    cJSON *const top = root; /* root becomes the decoder's object (family.h lm_config) */
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        unum_error_set("%s: not a JSON object", path);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) {
        unum_error_set("%s: missing model_type", path);
        goto done;
    }
    const ModelFamily *f = family_find(mt->valuestring);
    if (!f) {
        unum_error_set("%s: model_type '%s' is not supported (unum runs %s)", path, mt->valuestring,
                       family_list());
        goto done;
    }
    c->family = f;
    c->speech = f->speech;
    char sub_path[1024];
    if (f->lm_config) { /* the decoder's fields are an object of their own */
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, f->lm_config);
        if (!cJSON_IsObject(lm)) {
            unum_error_set("%s: missing object %s (the language model's config)", path,
                           f->lm_config);
            goto done;
        }
        const cJSON *lt = cJSON_GetObjectItemCaseSensitive(lm, "model_type");
        if (lt && (!cJSON_IsString(lt) || strcmp(lt->valuestring, "qwen2"))) {
            unum_error_set("%s: %s.model_type must be \"qwen2\"", path, f->lm_config);
            goto done;
        }
        snprintf(sub_path, sizeof sub_path, "%s (%s)", path, f->lm_config);
        path = sub_path;
        root = (cJSON *)lm; /* read only from here on */
    }
    const int big = 1 << 20;
    c->max_pos = f->max_pos_default;
    c->rope_theta = 10000.0;
    c->rms_eps = 1e-6;
    c->embed_scale = c->residual_scale = c->logit_scale = 1.0f;
    if (config_get_int(root, "hidden_size", 1, big, 0, &c->hidden, path) ||
        config_get_int(root, "intermediate_size", 1, big, 0, &c->intermediate, path) ||
        config_get_int(root, "num_hidden_layers", 1, 4096, 0, &c->n_layers, path) ||
        config_get_int(root, "num_attention_heads", 1, 4096, 0, &c->n_heads, path) ||
        config_get_int(root, "vocab_size", 1, 1 << 24, 0, &c->vocab, path) ||
        config_get_int(root, "max_position_embeddings", 1, 1 << 24, 1, &c->max_pos, path) ||
        get_num(root, "rope_theta", 1e-3, 1e12, 1, &c->rope_theta, path) ||
        get_num(root, "rms_norm_eps", 0, 1, 1, &c->rms_eps, path))
        goto done;
    c->n_kv_heads = c->n_heads;
    if (config_get_int(root, "num_key_value_heads", 1, 4096, 1, &c->n_kv_heads, path)) goto done;
    if (c->n_heads % c->n_kv_heads) {
        unum_error_set("%s: num_attention_heads (%d) is not a multiple of "
                       "num_key_value_heads (%d)",
                       path, c->n_heads, c->n_kv_heads);
        goto done;
    }
    c->head_dim = 0;
    if (config_get_int(root, "head_dim", 2, 4096, 1, &c->head_dim, path)) goto done;
    if (!c->head_dim) {
        if (c->hidden % c->n_heads) {
            unum_error_set("%s: hidden_size (%d) is not a multiple of num_attention_heads "
                           "(%d) and no head_dim is given",
                           path, c->hidden, c->n_heads);
            goto done;
        }
        c->head_dim = c->hidden / c->n_heads;
    }
    if (c->head_dim % 2) {
        unum_error_set("%s: head_dim (%d) must be even for rotary embeddings", path, c->head_dim);
        goto done;
    }
    if (c->head_dim > 2 * ROPE_MAX_HALF) {
        unum_error_set("%s: head_dim (%d) above %d is not supported", path, c->head_dim,
                       2 * ROPE_MAX_HALF);
        goto done;
    }
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie)) {
        unum_error_set("%s: tie_word_embeddings must be true or false", path);
        goto done;
    }
    c->tied = tie ? cJSON_IsTrue(tie) : f->tied_default;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu"))) {
        unum_error_set("%s: hidden_act must be \"silu\"", path);
        goto done;
    }
    rope_plain(&c->rope, c->rope_theta, c->head_dim);
    if (f->read(c, root, path)) goto done;
    if (quant_config_parse(&c->quant, top, path)) goto done;
    rc = 0;
done:
    cJSON_Delete(top);
    return rc;
}

int qwen2_config_load(Qwen2Config *c, const char *dir) {
    char *path = unum_path_join(dir, "config.json");
    char *txt = unum_read_file(path, CONFIG_MAX_BYTES, NULL);
    int rc = txt ? qwen2_config_parse(c, txt, path) : -1;
    free(txt);
    free(path);
    return rc;
}

static int is_token_id(const cJSON *j) {
    return cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < (1 << 24) &&
           j->valuedouble == floor(j->valuedouble);
}

/* eos_token_id: an integer or a list of integers (at most CONFIG_MAX_EOS
 * are kept; more would be an odd model, and a clear error beats a silent
 * cut). */
static int read_eos(GenConfig *g, const cJSON *j, const char *path) {
    if (!j || cJSON_IsNull(j)) return 0;
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;
    if (n > CONFIG_MAX_EOS)
        return unum_error_set("%s: eos_token_id lists %d ids, at most %d are supported", path, n,
                              CONFIG_MAX_EOS);
    for (int i = 0; i < n; i++) {
        const cJSON *one = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, i) : j;
        if (!is_token_id(one))
            return unum_error_set("%s: eos_token_id holds a value that is not a token id", path);
        g->eos[i] = (int32_t)one->valuedouble;
    }
    g->n_eos = n;
    return 0;
}

static int gen_parse(GenConfig *g, const char *txt, const char *path) {
    cJSON *root = cJSON_Parse(txt);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return unum_error_set("%s: not a JSON object", path);
    }
    double t = g->temperature, p = g->top_p, mp = g->min_p, rp = g->repeat_penalty;
    int k = g->top_k;
    int rc = get_num(root, "temperature", 0, 100, 1, &t, path) ||
                     get_num(root, "top_p", 0, 1, 1, &p, path) ||
                     get_num(root, "min_p", 0, 1, 1, &mp, path) ||
                     get_num(root, "repetition_penalty", 0.01, 100, 1, &rp, path) ||
                     config_get_int(root, "top_k", 0, 1 << 24, 1, &k, path) ||
                     read_eos(g, cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"), path)
                 ? -1
                 : 0;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (cJSON_IsBool(ds)) g->do_sample = cJSON_IsTrue(ds);
    g->temperature = (float)t;
    g->top_p = (float)p;
    g->min_p = (float)mp;
    g->repeat_penalty = (float)rp;
    g->top_k = k;
    cJSON_Delete(root);
    return rc;
}

int gen_config_load(GenConfig *g, const char *dir) {
    /* Hugging Face GenerationConfig's defaults: what a missing file or key
     * means to transformers means the same here */
    memset(g, 0, sizeof *g);
    g->temperature = 1.0f;
    g->top_p = 1.0f;
    g->top_k = 50;
    g->repeat_penalty = 1.0f;
    g->do_sample = 0;
    /* config.json's eos first; generation_config.json overrides it */
    const char *files[2] = {"config.json", "generation_config.json"};
    for (int i = 0; i < 2; i++) {
        char *path = unum_path_join(dir, files[i]);
        int rc = 0;
        if (unum_file_exists(path)) {
            char *txt = unum_read_file(path, CONFIG_MAX_BYTES, NULL);
            if (!txt) {
                rc = -1;
            } else if (i == 0) {
                cJSON *root = cJSON_Parse(txt);
                rc = read_eos(g, cJSON_GetObjectItemCaseSensitive(root, "eos_token_id"), path);
                cJSON_Delete(root);
            } else {
                rc = gen_parse(g, txt, path);
            }
            free(txt);
        }
        free(path);
        if (rc) return -1;
    }
    return 0;
}

cJSON *config_read_object(const char *dir, const char *name, char **path) {
    *path = unum_path_join(dir, name);
    char *txt = unum_read_file(*path, 4u << 20, NULL);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    int read = txt != NULL;
    free(txt);
    if (read && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        unum_error_set("%s: not a JSON object", *path);
        return NULL;
    }
    return root;
}
